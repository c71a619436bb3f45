/*
 * unsupported.c -- upstream XBraid's setters for features this library does
 * not implement (spatial coarsening, temporal refinement, Richardson
 * estimation, Delta correction, Lyapunov estimation, the full residual norm,
 * XBraid_Adjoint).  Each accepts the value that keeps its feature off, so that
 * code written for upstream compiles and runs with those features off; any
 * other value is refused with a message naming the feature (output.c).
 */
#include "_braid.h"

braid_Int
braid_SetSpatialCoarsen(braid_Core core, braid_PtFcnSCoarsen scoarsen)
{
   return scoarsen == NULL ? 0
                           : _braid_Unsupported(core, "spatial coarsening",
                                                "braid_SetSpatialCoarsen");
}

braid_Int
braid_SetSpatialRefine(braid_Core core, braid_PtFcnSRefine srefine)
{
   return srefine == NULL ? 0
                          : _braid_Unsupported(core, "spatial refinement",
                                               "braid_SetSpatialRefine");
}

braid_Int
braid_SetRefine(braid_Core core, braid_Int refine)
{
   return refine == 0 ? 0 : _braid_Unsupported(core, "temporal refinement", "braid_SetRefine");
}

/* turns on growing the hierarchy after a temporal refinement: there is no off value */
braid_Int
braid_SetIncrMaxLevels(braid_Core core)
{
   return _braid_Unsupported(core, "temporal refinement", "braid_SetIncrMaxLevels");
}

/* Limits of temporal refinement: without refinement no value changes anything. */
braid_Int
braid_SetMaxRefinements(braid_Core core, braid_Int max_refinements)
{
   return max_refinements >= 0 ? 0
                               : _braid_Unsupported(core, "temporal refinement",
                                                    "braid_SetMaxRefinements");
}

braid_Int
braid_SetTPointsCutoff(braid_Core core, braid_Int tpoints_cutoff)
{
   return tpoints_cutoff >= 0 ? 0
                              : _braid_Unsupported(core, "temporal refinement",
                                                   "braid_SetTPointsCutoff");
}

braid_Int
braid_SetFullRNormRes(braid_Core core, braid_PtFcnResidual residual)
{
   return residual == NULL ? 0
                           : _braid_Unsupported(core, "the full residual norm",
                                                "braid_SetFullRNormRes");
}

braid_Int
braid_SetRichardsonEstimation(braid_Core core, braid_Int est_error, braid_Int richardson,
                              braid_Int local_order)
{
   (void) local_order;
   return (est_error == 0 && richardson == 0)
             ? 0
             : _braid_Unsupported(core, "Richardson error estimation and extrapolation",
                                  "braid_SetRichardsonEstimation");
}

braid_Int
braid_SetDeltaCorrection(braid_Core core, braid_Int rank, braid_PtFcnInitBasis basis_init,
                         braid_PtFcnInnerProd inner_prod)
{
   (void) basis_init;
   (void) inner_prod;
   return rank <= 0 ? 0
                    : _braid_Unsupported(core, "Delta correction", "braid_SetDeltaCorrection");
}

/* when to start the Delta correction: without it no value changes anything */
braid_Int
braid_SetDeferDelta(braid_Core core, braid_Int level, braid_Int iter)
{
   (void) core;
   (void) level;
   (void) iter;
   return 0;
}

braid_Int
braid_SetLyapunovEstimation(braid_Core core, braid_Int relax, braid_Int cglv, braid_Int exponents)
{
   return (relax == 0 && cglv == 0 && exponents == 0)
             ? 0
             : _braid_Unsupported(core, "Lyapunov estimation", "braid_SetLyapunovEstimation");
}

braid_Int
braid_SetInnerProd(braid_Core core, braid_PtFcnInnerProd inner_prod)
{
   return inner_prod == NULL ? 0
                             : _braid_Unsupported(core, "Delta correction", "braid_SetInnerProd");
}

braid_Int
braid_SetRevertedRanks(braid_Core core, braid_Int reverted_ranks)
{
   return reverted_ranks == 0 ? 0
                              : _braid_Unsupported(core, "XBraid_Adjoint (reverted ranks)",
                                                   "braid_SetRevertedRanks");
}

/* ----------------------------------------------------------- XBraid_Adjoint */

braid_Int
braid_InitAdjoint(braid_PtFcnObjectiveT objectiveT, braid_PtFcnObjectiveTDiff objectiveT_diff,
                  braid_PtFcnStepDiff step_diff, braid_PtFcnResetGradient reset_gradient,
                  braid_Core *core_ptr)
{
   if (objectiveT == NULL && objectiveT_diff == NULL && step_diff == NULL &&
       reset_gradient == NULL)
   {
      return 0;
   }
   return _braid_Unsupported(core_ptr ? *core_ptr : NULL, "XBraid_Adjoint", "braid_InitAdjoint");
}

/* Upstream ignores the adjoint's options while the adjoint is off; so do we. */
braid_Int
braid_SetTStartObjective(braid_Core core, braid_Real tstart_obj)
{
   (void) core;
   (void) tstart_obj;
   return 0;
}

braid_Int
braid_SetTStopObjective(braid_Core core, braid_Real tstop_obj)
{
   (void) core;
   (void) tstop_obj;
   return 0;
}

braid_Int
braid_SetPostprocessObjective(braid_Core core, braid_PtFcnPostprocessObjective post_fcn)
{
   (void) core;
   (void) post_fcn;
   return 0;
}

braid_Int
braid_SetPostprocessObjective_diff(braid_Core core,
                                   braid_PtFcnPostprocessObjective_diff post_fcn_diff)
{
   (void) core;
   (void) post_fcn_diff;
   return 0;
}

braid_Int
braid_SetAbsTolAdjoint(braid_Core core, braid_Real tol_adj)
{
   (void) core;
   (void) tol_adj;
   return 0;
}

braid_Int
braid_SetRelTolAdjoint(braid_Core core, braid_Real rtol_adj)
{
   (void) core;
   (void) rtol_adj;
   return 0;
}

braid_Int
braid_SetObjectiveOnly(braid_Core core, braid_Int boolean)
{
   (void) core;
   (void) boolean;
   return 0;
}

/* without the adjoint upstream reports an objective of 0 */
braid_Int
braid_GetObjective(braid_Core core, braid_Real *objective_ptr)
{
   (void) core;
   *objective_ptr = 0.0;
   return 0;
}

braid_Int
braid_GetRNormAdjoint(braid_Core core, braid_Real *rnorm_adj)
{
   (void) core;
   *rnorm_adj = braid_INVALID_RNORM;
   return 0;
}
