/*
 * braid.h -- public interface of the project's MGRIT library.
 *
 * The names, signatures and defaults follow XBraid v3.1's public header, so code
 * written against upstream XBraid builds against this library and vice versa.
 * The implementation is our own (see README.md in this directory).
 *
 * Every declaration below is marked as one of
 *   [upstream]      upstream's function, implemented with upstream's semantics;
 *   [upstream/off]  upstream's function for a feature this library does not
 *                   implement: it accepts the value that keeps the feature off and
 *                   otherwise returns braid_ERROR_ARG with a message naming it;
 *   [ours]          this library's extension (none of the interface is missing
 *                   from upstream, but the behaviour noted is ours).
 *
 * One deliberate difference: every user callback's return code is checked.  A
 * non-zero code stops the solve, releases what the solve allocated, and is
 * returned by braid_Drive.  Compiled with BRAID_STANDIN_UPSTREAM the library
 * behaves like upstream instead (README.md, "The stand-in for upstream").
 */
#ifndef braid_HEADER
#define braid_HEADER

#include "braid_defs.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- constants */

/* Fortran interface switches of upstream's header (no Fortran interface here). */
#define braid_FMANGLE                1
#define braid_Fortran_SpatialCoarsen 0
#define braid_Fortran_Residual       1
#define braid_Fortran_TimeGrid       1
#define braid_Fortran_Sync           1

#define braid_INVALID_RNORM -1
#define braid_ERROR_GENERIC 1
#define braid_ERROR_MEMORY  2
#define braid_ERROR_ARG     4
#define braid_RAND_MAX      32768

/* Caller codes reported by braid_*StatusGetCallingFunction */
#define braid_ASCaller_FInterp              0
#define braid_ASCaller_FRestrict            1
#define braid_ASCaller_FRefine              2
#define braid_ASCaller_FAccess              3
#define braid_ASCaller_FRefine_AfterInitHier 4
#define braid_ASCaller_Drive_TopCycle       5
#define braid_ASCaller_FCRelax              6
#define braid_ASCaller_Drive_AfterInit      7
#define braid_ASCaller_BaseStep_diff        8
#define braid_ASCaller_ComputeFullRNorm     9
#define braid_ASCaller_FASResidual          10
#define braid_ASCaller_Residual             11
#define braid_ASCaller_InitGuess            12
#define braid_ASCaller_Warmup               13

/* Opaque user types: the user defines these structs. */
typedef struct _braid_App_struct    *braid_App;
typedef struct _braid_Vector_struct *braid_Vector;

/* Opaque library types. */
typedef struct _braid_Core_struct *braid_Core;

#include "braid_status.h"

/* ---------------------------------------------------- user callbacks [upstream] */

typedef braid_Int (*braid_PtFcnStep)(braid_App app, braid_Vector ustop, braid_Vector fstop,
                                     braid_Vector u, braid_StepStatus status);
typedef braid_Int (*braid_PtFcnInit)(braid_App app, braid_Real t, braid_Vector *u_ptr);
typedef braid_Int (*braid_PtFcnClone)(braid_App app, braid_Vector u, braid_Vector *v_ptr);
typedef braid_Int (*braid_PtFcnFree)(braid_App app, braid_Vector u);
typedef braid_Int (*braid_PtFcnSum)(braid_App app, braid_Real alpha, braid_Vector x,
                                    braid_Real beta, braid_Vector y);
typedef braid_Int (*braid_PtFcnSpatialNorm)(braid_App app, braid_Vector u, braid_Real *norm_ptr);
typedef braid_Int (*braid_PtFcnAccess)(braid_App app, braid_Vector u, braid_AccessStatus status);
typedef braid_Int (*braid_PtFcnSync)(braid_App app, braid_SyncStatus status);
typedef braid_Int (*braid_PtFcnBufSize)(braid_App app, braid_Int *size_ptr,
                                        braid_BufferStatus status);
typedef braid_Int (*braid_PtFcnBufPack)(braid_App app, braid_Vector u, void *buffer,
                                        braid_BufferStatus status);
typedef braid_Int (*braid_PtFcnBufUnpack)(braid_App app, void *buffer, braid_Vector *u_ptr,
                                          braid_BufferStatus status);
typedef braid_Int (*braid_PtFcnBufAlloc)(braid_App app, void **buffer, braid_Int nbytes,
                                         braid_BufferStatus status);
typedef braid_Int (*braid_PtFcnBufFree)(braid_App app, void **buffer);
typedef braid_Int (*braid_PtFcnResidual)(braid_App app, braid_Vector ustop, braid_Vector r,
                                         braid_StepStatus status);
typedef braid_Int (*braid_PtFcnTimeGrid)(braid_App app, braid_Real *ta, braid_Int *ilower,
                                         braid_Int *iupper);
/* shell vectors: a vector's metadata without its data */
typedef braid_Int (*braid_PtFcnSInit)(braid_App app, braid_Real t, braid_Vector *u_ptr);
typedef braid_Int (*braid_PtFcnSClone)(braid_App app, braid_Vector u, braid_Vector *v_ptr);
typedef braid_Int (*braid_PtFcnSFree)(braid_App app, braid_Vector u);

/* callbacks of features accepted only switched off [upstream/off] */
typedef braid_Int (*braid_PtFcnSCoarsen)(braid_App app, braid_Vector fu, braid_Vector *cu_ptr,
                                         braid_CoarsenRefStatus status);
typedef braid_Int (*braid_PtFcnSRefine)(braid_App app, braid_Vector cu, braid_Vector *fu_ptr,
                                        braid_CoarsenRefStatus status);
typedef braid_Int (*braid_PtFcnInitBasis)(braid_App app, braid_Real t, braid_Int index,
                                          braid_Vector *u_ptr);
typedef braid_Int (*braid_PtFcnInnerProd)(braid_App app, braid_Vector u, braid_Vector v,
                                          braid_Real *prod_ptr);
typedef braid_Int (*braid_PtFcnObjectiveT)(braid_App app, braid_Vector u,
                                           braid_ObjectiveStatus ostatus,
                                           braid_Real *objectiveT_ptr);
typedef braid_Int (*braid_PtFcnObjectiveTDiff)(braid_App app, braid_Vector u, braid_Vector u_bar,
                                               braid_Real F_bar, braid_ObjectiveStatus ostatus);
typedef braid_Int (*braid_PtFcnPostprocessObjective)(braid_App app, braid_Real sum_obj,
                                                     braid_Real *postprocess_ptr);
typedef braid_Int (*braid_PtFcnPostprocessObjective_diff)(braid_App app, braid_Real sum_obj,
                                                          braid_Real *F_bar_ptr);
typedef braid_Int (*braid_PtFcnStepDiff)(braid_App app, braid_Vector ustop, braid_Vector u,
                                         braid_Vector ustop_bar, braid_Vector u_bar,
                                         braid_StepStatus status);
typedef braid_Int (*braid_PtFcnResetGradient)(braid_App app);

/* ------------------------------------------------------ core routines [upstream] */

/* [upstream]; ours returns braid_ERROR_ARG for ntime < 1 or ntime > braid_Int_Max-2 */
braid_Int braid_Init(MPI_Comm comm_world, MPI_Comm comm, braid_Real tstart, braid_Real tstop,
                     braid_Int ntime, braid_App app, braid_PtFcnStep step, braid_PtFcnInit init,
                     braid_PtFcnClone clone, braid_PtFcnFree free, braid_PtFcnSum sum,
                     braid_PtFcnSpatialNorm spatialnorm, braid_PtFcnAccess access,
                     braid_PtFcnBufSize bufsize, braid_PtFcnBufPack bufpack,
                     braid_PtFcnBufUnpack bufunpack, braid_Core *core_ptr);

/* [upstream] Solve.  A second call is a warm restart from the current solution
   ([ours]: without repeating the skipped first down-cycle). */
braid_Int braid_Drive(braid_Core core);
braid_Int braid_Destroy(braid_Core core);                                    /* [upstream] */
braid_Int braid_PrintStats(braid_Core core);                                 /* [upstream] */
braid_Int braid_WriteConvHistory(braid_Core core, const char *filename);     /* [upstream] */
braid_Int braid_SplitCommworld(const MPI_Comm *comm_world, braid_Int px, MPI_Comm *comm_x,
                               MPI_Comm *comm_t);                            /* [upstream] */
braid_Int braid_Rand(void);                                                  /* [upstream] */

/* timers [upstream] */
braid_Int braid_SetTimings(braid_Core core, braid_Int timing_level);
braid_Int braid_SetTimerFile(braid_Core core, braid_Int length, const char *filestem);
braid_Int braid_PrintTimers(braid_Core core);
braid_Int braid_ResetTimer(braid_Core core);

/* ------------------------------------------------------------ setters [upstream] */

braid_Int braid_SetMaxLevels(braid_Core core, braid_Int max_levels);
braid_Int braid_SetMinCoarse(braid_Core core, braid_Int min_coarse);
braid_Int braid_SetRelaxOnlyCG(braid_Core core, braid_Int relax_only_cg);
braid_Int braid_SetAbsTol(braid_Core core, braid_Real atol);
braid_Int braid_SetRelTol(braid_Core core, braid_Real rtol);
braid_Int braid_SetNRelax(braid_Core core, braid_Int level, braid_Int nrelax);
braid_Int braid_SetCRelaxWt(braid_Core core, braid_Int level, braid_Real Cwt);
braid_Int braid_SetCFactor(braid_Core core, braid_Int level, braid_Int cfactor);
braid_Int braid_SetMaxIter(braid_Core core, braid_Int max_iter);
braid_Int braid_SetFMG(braid_Core core);
braid_Int braid_SetNFMG(braid_Core core, braid_Int k);
braid_Int braid_SetNFMGVcyc(braid_Core core, braid_Int nfmg_Vcyc);
braid_Int braid_SetSkip(braid_Core core, braid_Int skip);
braid_Int braid_SetStorage(braid_Core core, braid_Int storage);
braid_Int braid_SetTemporalNorm(braid_Core core, braid_Int tnorm);
braid_Int braid_SetResidual(braid_Core core, braid_PtFcnResidual residual);
braid_Int braid_SetResidualComputation(braid_Core core, braid_Int resid_compute);
braid_Int braid_SetTimeGrid(braid_Core core, braid_PtFcnTimeGrid tgrid);
braid_Int braid_SetPeriodic(braid_Core core, braid_Int periodic);
braid_Int braid_SetSync(braid_Core core, braid_PtFcnSync sync);
braid_Int braid_SetSeqSoln(braid_Core core, braid_Int seq_soln);
braid_Int braid_SetPrintLevel(braid_Core core, braid_Int print_level);
braid_Int braid_SetFileIOLevel(braid_Core core, braid_Int io_level);
braid_Int braid_SetPrintFile(braid_Core core, const char *printfile_name);
braid_Int braid_SetDefaultPrintFile(braid_Core core);
braid_Int braid_SetAccessLevel(braid_Core core, braid_Int access_level);
braid_Int braid_SetFinalFCRelax(braid_Core core);
braid_Int braid_SetBufAllocFree(braid_Core core, braid_PtFcnBufAlloc bufalloc,
                                braid_PtFcnBufFree buffree);
braid_Int braid_SetShell(braid_Core core, braid_PtFcnSInit sinit, braid_PtFcnSClone sclone,
                         braid_PtFcnSFree sfree);

/* ------------------------------------------- setters accepted only off [upstream/off] */

braid_Int braid_SetSpatialCoarsen(braid_Core core, braid_PtFcnSCoarsen scoarsen); /* NULL */
braid_Int braid_SetSpatialRefine(braid_Core core, braid_PtFcnSRefine srefine);    /* NULL */
braid_Int braid_SetRefine(braid_Core core, braid_Int refine);                     /* 0 */
braid_Int braid_SetIncrMaxLevels(braid_Core core);                                /* never */
braid_Int braid_SetMaxRefinements(braid_Core core, braid_Int max_refinements);    /* >= 0 */
braid_Int braid_SetTPointsCutoff(braid_Core core, braid_Int tpoints_cutoff);      /* >= 0 */
braid_Int braid_SetFullRNormRes(braid_Core core, braid_PtFcnResidual residual);   /* NULL */
braid_Int braid_SetRichardsonEstimation(braid_Core core, braid_Int est_error,
                                        braid_Int richardson, braid_Int local_order);
                                                                  /* est_error = richardson = 0 */
braid_Int braid_SetDeltaCorrection(braid_Core core, braid_Int rank, braid_PtFcnInitBasis basis_init,
                                   braid_PtFcnInnerProd inner_prod);              /* rank <= 0 */
braid_Int braid_SetDeferDelta(braid_Core core, braid_Int level, braid_Int iter);  /* any */
braid_Int braid_SetLyapunovEstimation(braid_Core core, braid_Int relax, braid_Int cglv,
                                      braid_Int exponents);                       /* all 0 */
braid_Int braid_SetInnerProd(braid_Core core, braid_PtFcnInnerProd inner_prod);   /* NULL */
braid_Int braid_SetRevertedRanks(braid_Core core, braid_Int reverted_ranks);      /* 0 */

/* XBraid_Adjoint: braid_InitAdjoint accepts only four NULL callbacks; the adjoint
   options are ignored while the adjoint is off, as upstream ignores them. */
braid_Int braid_InitAdjoint(braid_PtFcnObjectiveT objectiveT,
                            braid_PtFcnObjectiveTDiff objectiveT_diff,
                            braid_PtFcnStepDiff step_diff,
                            braid_PtFcnResetGradient reset_gradient, braid_Core *core_ptr);
braid_Int braid_SetTStartObjective(braid_Core core, braid_Real tstart_obj);
braid_Int braid_SetTStopObjective(braid_Core core, braid_Real tstop_obj);
braid_Int braid_SetPostprocessObjective(braid_Core core, braid_PtFcnPostprocessObjective post_fcn);
braid_Int braid_SetPostprocessObjective_diff(braid_Core core,
                                             braid_PtFcnPostprocessObjective_diff post_fcn_diff);
braid_Int braid_SetAbsTolAdjoint(braid_Core core, braid_Real tol_adj);
braid_Int braid_SetRelTolAdjoint(braid_Core core, braid_Real rtol_adj);
braid_Int braid_SetObjectiveOnly(braid_Core core, braid_Int boolean);
braid_Int braid_GetObjective(braid_Core core, braid_Real *objective_ptr);
braid_Int braid_GetRNormAdjoint(braid_Core core, braid_Real *rnorm_adj);

/* ------------------------------------------------------------ getters [upstream] */

braid_Int braid_GetNumIter(braid_Core core, braid_Int *niter_ptr);
braid_Int braid_GetRNorms(braid_Core core, braid_Int *nrequest_ptr, braid_Real *rnorms);
braid_Int braid_GetNLevels(braid_Core core, braid_Int *nlevels_ptr);
braid_Int braid_GetMyID(braid_Core core, braid_Int *myid_ptr);
braid_Int braid_GetSpatialAccuracy(braid_StepStatus status, braid_Real loose_tol,
                                   braid_Real tight_tol, braid_Real *tol_ptr);

#ifdef __cplusplus
}
#endif

#endif
