/*
 * status.c -- what a callback can ask about the solve.  A status handle is
 * the core itself; the typed functions below are thin views of the base
 * getters, so each status kind exports exactly the XBraid v3.1 set.
 */
#include <math.h>
#include <stddef.h>
#include "_braid.h"

#define _braid_Core_(s) ((braid_Core) (s))

braid_Int
braid_StatusGetT(braid_Status s, braid_Real *t_ptr)
{
   *t_ptr = _braid_Core_(s)->t;
   return 0;
}

braid_Int
braid_StatusGetTIndex(braid_Status s, braid_Int *idx_ptr)
{
   *idx_ptr = _braid_Core_(s)->idx;
   return 0;
}

braid_Int
braid_StatusGetIter(braid_Status s, braid_Int *iter_ptr)
{
   *iter_ptr = _braid_Core_(s)->iter;
   return 0;
}

braid_Int
braid_StatusGetLevel(braid_Status s, braid_Int *level_ptr)
{
   *level_ptr = _braid_Core_(s)->level;
   return 0;
}

braid_Int
braid_StatusGetNLevels(braid_Status s, braid_Int *nlevels_ptr)
{
   *nlevels_ptr = _braid_Core_(s)->nlevels;
   return 0;
}

/* temporal refinement is not implemented: the grid is never refined */
braid_Int
braid_StatusGetNRefine(braid_Status s, braid_Int *nrefine_ptr)
{
   (void) s;
   *nrefine_ptr = 0;
   return 0;
}

braid_Int
braid_StatusGetNTPoints(braid_Status s, braid_Int *ntpoints_ptr)
{
   *ntpoints_ptr = _braid_Core_(s)->gupper;
   return 0;
}

braid_Int
braid_StatusGetResidual(braid_Status s, braid_Real *rnorm_ptr)
{
   *rnorm_ptr = _braid_Core_(s)->rnorm;
   return 0;
}

braid_Int
braid_StatusGetDone(braid_Status s, braid_Int *done_ptr)
{
   *done_ptr = _braid_Core_(s)->done;
   return 0;
}

/* -1 for levels that have no coarser level below them */
braid_Int
braid_StatusGetCFactor(braid_Status s, braid_Int *cfactor_ptr, braid_Int level)
{
   braid_Core core = _braid_Core_(s);

   if (level < 0 || level >= core->nlevels - 1)
   {
      *cfactor_ptr = -1;
   }
   else
   {
      *cfactor_ptr = core->grids[level].cfactor;
   }
   return 0;
}

braid_Int
braid_StatusGetTIUL(braid_Status s, braid_Int *iu_ptr, braid_Int *il_ptr, braid_Int level)
{
   braid_Core core = _braid_Core_(s);

   if (level < 0 || level >= core->nlevels)
   {
      return braid_ERROR_ARG;
   }
   *iu_ptr = core->grids[level].iupper;
   *il_ptr = core->grids[level].ilower;
   return 0;
}

/* Points into the library's own time values of `level` for i_lower..i_upper. */
braid_Int
braid_StatusGetTimeValues(braid_Status s, braid_Real **tvalues_ptr, braid_Int i_upper,
                          braid_Int i_lower, braid_Int level)
{
   braid_Core   core = _braid_Core_(s);
   _braid_Grid *g;

   if (level < 0 || level >= core->nlevels)
   {
      return braid_ERROR_ARG;
   }
   g = &core->grids[level];
   if (i_lower < g->ilower - 1 || i_upper > g->iupper)
   {
      return braid_ERROR_ARG;
   }
   *tvalues_ptr = &g->ta[i_lower - g->ilower];
   return 0;
}

braid_Int
braid_StatusGetTILD(braid_Status s, braid_Real *t_ptr, braid_Int *iter_ptr,
                    braid_Int *level_ptr, braid_Int *done_ptr)
{
   braid_Core core = _braid_Core_(s);

   *t_ptr     = core->t;
   *iter_ptr  = core->iter;
   *level_ptr = core->level;
   *done_ptr  = core->done;
   return 0;
}

/* the library never calls access from a wrapper test */
braid_Int
braid_StatusGetWrapperTest(braid_Status s, braid_Int *wtest_ptr)
{
   *wtest_ptr = _braid_Core_(s)->wrapper_test;
   return 0;
}

braid_Int
braid_StatusGetCallingFunction(braid_Status s, braid_Int *cfunction_ptr)
{
   *cfunction_ptr = _braid_Core_(s)->calling_function;
   return 0;
}

braid_Int
braid_StatusGetTstop(braid_Status s, braid_Real *tstop_ptr)
{
   *tstop_ptr = _braid_Core_(s)->tnext;
   return 0;
}

braid_Int
braid_StatusGetTstartTstop(braid_Status s, braid_Real *tstart_ptr, braid_Real *tstop_ptr)
{
   *tstart_ptr = _braid_Core_(s)->t;
   *tstop_ptr  = _braid_Core_(s)->tnext;
   return 0;
}

braid_Int
braid_StatusGetTol(braid_Status s, braid_Real *tol_ptr)
{
   *tol_ptr = _braid_Core_(s)->tol;
   return 0;
}

/* during a solve the history runs up to the current iteration */
braid_Int
braid_StatusGetRNorms(braid_Status s, braid_Int *nrequest_ptr, braid_Real *rnorms)
{
   braid_Core core = _braid_Core_(s);

   return _braid_CopyRNorms(core, core->iter + 1, nrequest_ptr, rnorms);
}

braid_Int
braid_StatusGetProc(braid_Status s, braid_Int *proc_ptr, braid_Int level, braid_Int index)
{
   braid_Core core = _braid_Core_(s);

   if (level < 0 || level >= core->nlevels || index < 0 || index > core->grids[level].gupper)
   {
      *proc_ptr = -1;
      return 0;
   }
   *proc_ptr = _braid_Owner(core, level, index);
   return 0;
}

braid_Int
braid_StatusGetOldFineTolx(braid_Status s, braid_Real *old_fine_tolx_ptr)
{
   *old_fine_tolx_ptr = _braid_Core_(s)->old_fine_tolx;
   return 0;
}

braid_Int
braid_StatusGetMessageType(braid_Status s, braid_Int *messagetype_ptr)
{
   *messagetype_ptr = _braid_Core_(s)->messagetype;
   return 0;
}

braid_Int
braid_StatusGetTComm(braid_Status s, MPI_Comm *comm_ptr)
{
   *comm_ptr = _braid_Core_(s)->comm;
   return 0;
}

braid_Int
braid_StatusSetOldFineTolx(braid_Status s, braid_Real old_fine_tolx)
{
   _braid_Core_(s)->old_fine_tolx = old_fine_tolx;
   return 0;
}

braid_Int
braid_StatusSetTightFineTolx(braid_Status s, braid_Real tight_fine_tolx)
{
   _braid_Core_(s)->tight_fine_tolx = tight_fine_tolx;
   return 0;
}

/* kept for the interface; without temporal refinement it has no effect */
braid_Int
braid_StatusSetRFactor(braid_Status s, braid_Real rfactor)
{
   _braid_Core_(s)->rfactor = rfactor;
   return 0;
}

braid_Int
braid_StatusSetRSpace(braid_Status s, braid_Real r_space)
{
   _braid_Core_(s)->r_space = r_space;
   return 0;
}

braid_Int
braid_StatusSetSize(braid_Status s, braid_Real size)
{
   _braid_Core_(s)->size_buffer = size;
   return 0;
}

/* ------------------------------------- features that are off [upstream/off] */

/* the Richardson error estimate is never available */
braid_Int
braid_StatusGetSingleErrorEstStep(braid_Status s, braid_Real *estimate)
{
   (void) s;
   *estimate = -1.0;
   return 0;
}

braid_Int
braid_StatusGetSingleErrorEstAccess(braid_Status s, braid_Real *estimate)
{
   (void) s;
   *estimate = -1.0;
   return 0;
}

braid_Int
braid_StatusGetNumErrorEst(braid_Status s, braid_Int *npoints)
{
   (void) s;
   *npoints = 0;
   return 0;
}

/* no estimates: nothing is written */
braid_Int
braid_StatusGetAllErrorEst(braid_Status s, braid_Real *error_est)
{
   (void) s;
   (void) error_est;
   return 0;
}

/* without Delta correction the rank is 0 and there are no basis vectors */
braid_Int
braid_StatusGetDeltaRank(braid_Status s, braid_Int *rank_ptr)
{
   (void) s;
   *rank_ptr = 0;
   return 0;
}

braid_Int
braid_StatusGetBasisVec(braid_Status s, braid_Vector *v_ptr, braid_Int index)
{
   (void) s;
   (void) index;
   *v_ptr = NULL;
   return braid_ERROR_ARG;
}

braid_Int
braid_StatusGetLocalLyapExponents(braid_Status s, braid_Real *exp_ptr, braid_Int *num_returned)
{
   (void) s;
   (void) exp_ptr;
   *num_returned = 0;
   return 0;
}

/* refinement and the Delta basis are off: nothing to store */
braid_Int
braid_StatusSetRefinementDtValues(braid_Status s, braid_Real rfactor, braid_Real *dtarray)
{
   (void) s;
   (void) rfactor;
   (void) dtarray;
   return 0;
}

braid_Int
braid_StatusSetBasisSize(braid_Status s, braid_Real size)
{
   (void) s;
   (void) size;
   return 0;
}

/* Coarse and fine neighbours in time of a spatial coarsening: the library never
   coarsens in space, so these report the current step's times. */
braid_Int
braid_StatusGetCTprior(braid_Status s, braid_Real *ctprior_ptr)
{
   *ctprior_ptr = _braid_Core_(s)->t;
   return 0;
}

braid_Int
braid_StatusGetCTstop(braid_Status s, braid_Real *ctstop_ptr)
{
   *ctstop_ptr = _braid_Core_(s)->tnext;
   return 0;
}

braid_Int
braid_StatusGetFTprior(braid_Status s, braid_Real *ftprior_ptr)
{
   *ftprior_ptr = _braid_Core_(s)->t;
   return 0;
}

braid_Int
braid_StatusGetFTstop(braid_Status s, braid_Real *ftstop_ptr)
{
   *ftstop_ptr = _braid_Core_(s)->tnext;
   return 0;
}

braid_Int
braid_StatusGetTpriorTstop(braid_Status s, braid_Real *t_ptr, braid_Real *ftprior_ptr,
                           braid_Real *ftstop_ptr, braid_Real *ctprior_ptr,
                           braid_Real *ctstop_ptr)
{
   *t_ptr = _braid_Core_(s)->t;
   braid_StatusGetFTprior(s, ftprior_ptr);
   braid_StatusGetFTstop(s, ftstop_ptr);
   braid_StatusGetCTprior(s, ctprior_ptr);
   return braid_StatusGetCTstop(s, ctstop_ptr);
}

/*
 * A spatial solver tolerance for the step: loose_tol on coarse levels and
 * before a residual history exists; on the fine level it moves from loose_tol
 * to tight_tol as log10 of the relative residual approaches log10 of the
 * relative stopping tolerance (tight from 7/8 of the way on), and it never
 * grows again.  The fine-level value is remembered in the status, and
 * reaching tight_tol is reported (a solve only stops once it is reached).
 */
braid_Int
braid_GetSpatialAccuracy(braid_StepStatus status, braid_Real loose_tol, braid_Real tight_tol,
                         braid_Real *tol_ptr)
{
   braid_Int  level, n;
   braid_Real tol, old, first[2] = {-1.0, -1.0}, last[2] = {-1.0, -1.0}, rnorm0, rnorm;
   braid_Real l_rnorm, l_tol, l_loose, l_tight, stol;

   braid_StepStatusGetTol(status, &tol);
   braid_StepStatusGetLevel(status, &level);
   braid_StepStatusGetOldFineTolx(status, &old);
   n = 2;
   braid_StepStatusGetRNorms(status, &n, first);
   rnorm0 = (first[0] == -1.0 && first[1] != -1.0) ? first[1] : first[0];
   n = -2;
   braid_StepStatusGetRNorms(status, &n, last);
   rnorm = (last[1] == -1.0 && last[0] != -1.0) ? last[0] : last[1];

   if (level > 0 || n == 0 || rnorm0 == -1.0)
   {
      *tol_ptr = loose_tol;
   }
   else
   {
      l_rnorm = -log10(rnorm / rnorm0);
      l_tol   = -log10(tol / rnorm0);
      l_loose = -log10(loose_tol);
      l_tight = -log10(tight_tol);
      if (l_rnorm >= (7.0 / 8.0) * l_tol)
      {
         *tol_ptr = tight_tol;
      }
      else
      {
         stol     = (l_rnorm / l_tol) * (l_tight - l_loose) + l_loose;
         *tol_ptr = pow(10, -stol);
         if (*tol_ptr > old && old > 0)
         {
            *tol_ptr = old;
         }
      }
   }
   if (level == 0)
   {
      braid_StepStatusSetOldFineTolx(status, *tol_ptr);
      braid_StepStatusSetTightFineTolx(status, *tol_ptr == tight_tol ? 1 : 0);
   }
   return 0;
}

/* --------------------------------------------- the typed status views */

#define _braid_View1(K, Name, T)                                              \
   braid_Int braid_##K##StatusGet##Name(braid_##K##Status s, T *p)           \
   {                                                                          \
      return braid_StatusGet##Name((braid_Status) s, p);                      \
   }
#define _braid_ViewSet(K, Name)                                               \
   braid_Int braid_##K##StatusSet##Name(braid_##K##Status s, braid_Real v)   \
   {                                                                          \
      return braid_StatusSet##Name((braid_Status) s, v);                      \
   }
#define _braid_ViewCFactor(K)                                                 \
   braid_Int braid_##K##StatusGetCFactor(braid_##K##Status s, braid_Int *p,  \
                                         braid_Int level)                     \
   {                                                                          \
      return braid_StatusGetCFactor((braid_Status) s, p, level);              \
   }
#define _braid_ViewTIUL(K)                                                    \
   braid_Int braid_##K##StatusGetTIUL(braid_##K##Status s, braid_Int *iu,    \
                                      braid_Int *il, braid_Int level)         \
   {                                                                          \
      return braid_StatusGetTIUL((braid_Status) s, iu, il, level);            \
   }

/* step status */
_braid_ViewTIUL(Step)
_braid_View1(Step, T, braid_Real)
_braid_View1(Step, TIndex, braid_Int)
_braid_View1(Step, Iter, braid_Int)
_braid_View1(Step, Level, braid_Int)
_braid_View1(Step, NLevels, braid_Int)
_braid_View1(Step, NRefine, braid_Int)
_braid_View1(Step, NTPoints, braid_Int)
_braid_View1(Step, Tstop, braid_Real)
_braid_View1(Step, Tol, braid_Real)
_braid_View1(Step, OldFineTolx, braid_Real)
_braid_View1(Step, Done, braid_Int)
_braid_View1(Step, CallingFunction, braid_Int)
_braid_ViewSet(Step, OldFineTolx)
_braid_ViewSet(Step, TightFineTolx)
_braid_ViewSet(Step, RFactor)
_braid_ViewSet(Step, RSpace)
_braid_ViewCFactor(Step)
_braid_View1(Step, SingleErrorEstStep, braid_Real)
_braid_View1(Step, DeltaRank, braid_Int)

braid_Int
braid_StepStatusGetBasisVec(braid_StepStatus s, braid_Vector *v_ptr, braid_Int index)
{
   return braid_StatusGetBasisVec((braid_Status) s, v_ptr, index);
}

braid_Int
braid_StepStatusGetTstartTstop(braid_StepStatus s, braid_Real *tstart_ptr,
                               braid_Real *tstop_ptr)
{
   return braid_StatusGetTstartTstop((braid_Status) s, tstart_ptr, tstop_ptr);
}

braid_Int
braid_StepStatusGetRNorms(braid_StepStatus s, braid_Int *nrequest_ptr, braid_Real *rnorms)
{
   return braid_StatusGetRNorms((braid_Status) s, nrequest_ptr, rnorms);
}

/* access status */
_braid_View1(Access, T, braid_Real)
_braid_View1(Access, TIndex, braid_Int)
_braid_View1(Access, Iter, braid_Int)
_braid_View1(Access, Level, braid_Int)
_braid_View1(Access, NLevels, braid_Int)
_braid_View1(Access, NRefine, braid_Int)
_braid_View1(Access, NTPoints, braid_Int)
_braid_View1(Access, Residual, braid_Real)
_braid_View1(Access, Done, braid_Int)
_braid_View1(Access, WrapperTest, braid_Int)
_braid_View1(Access, CallingFunction, braid_Int)
_braid_ViewCFactor(Access)
_braid_View1(Access, SingleErrorEstAccess, braid_Real)
_braid_View1(Access, DeltaRank, braid_Int)

braid_Int
braid_AccessStatusGetBasisVec(braid_AccessStatus s, braid_Vector *v_ptr, braid_Int index)
{
   return braid_StatusGetBasisVec((braid_Status) s, v_ptr, index);
}

braid_Int
braid_AccessStatusGetLocalLyapExponents(braid_AccessStatus s, braid_Real *exp_ptr,
                                        braid_Int *num_returned)
{
   return braid_StatusGetLocalLyapExponents((braid_Status) s, exp_ptr, num_returned);
}

braid_Int
braid_AccessStatusGetTILD(braid_AccessStatus s, braid_Real *t_ptr, braid_Int *iter_ptr,
                          braid_Int *level_ptr, braid_Int *done_ptr)
{
   return braid_StatusGetTILD((braid_Status) s, t_ptr, iter_ptr, level_ptr, done_ptr);
}

/* sync status */
_braid_ViewTIUL(Sync)
_braid_View1(Sync, Iter, braid_Int)
_braid_View1(Sync, Level, braid_Int)
_braid_View1(Sync, NLevels, braid_Int)
_braid_View1(Sync, NRefine, braid_Int)
_braid_View1(Sync, NTPoints, braid_Int)
_braid_View1(Sync, Done, braid_Int)
_braid_View1(Sync, CallingFunction, braid_Int)
_braid_View1(Sync, TComm, MPI_Comm)
_braid_View1(Sync, NumErrorEst, braid_Int)

braid_Int
braid_SyncStatusGetAllErrorEst(braid_SyncStatus s, braid_Real *error_est)
{
   return braid_StatusGetAllErrorEst((braid_Status) s, error_est);
}

braid_Int
braid_SyncStatusGetTimeValues(braid_SyncStatus s, braid_Real **tvalues_ptr, braid_Int i_upper,
                              braid_Int i_lower, braid_Int level)
{
   return braid_StatusGetTimeValues((braid_Status) s, tvalues_ptr, i_upper, i_lower, level);
}

braid_Int
braid_SyncStatusGetProc(braid_SyncStatus s, braid_Int *proc_ptr, braid_Int level,
                        braid_Int index)
{
   return braid_StatusGetProc((braid_Status) s, proc_ptr, level, index);
}

/* buffer status */
_braid_View1(Buffer, MessageType, braid_Int)
_braid_View1(Buffer, TIndex, braid_Int)
_braid_View1(Buffer, Level, braid_Int)
_braid_ViewSet(Buffer, Size)
_braid_ViewSet(Buffer, BasisSize)

/* coarsen/refine status */
_braid_View1(CoarsenRef, T, braid_Real)
_braid_View1(CoarsenRef, TIndex, braid_Int)
_braid_View1(CoarsenRef, Iter, braid_Int)
_braid_View1(CoarsenRef, Level, braid_Int)
_braid_View1(CoarsenRef, NLevels, braid_Int)
_braid_View1(CoarsenRef, NRefine, braid_Int)
_braid_View1(CoarsenRef, NTPoints, braid_Int)
_braid_View1(CoarsenRef, CTprior, braid_Real)
_braid_View1(CoarsenRef, CTstop, braid_Real)
_braid_View1(CoarsenRef, FTprior, braid_Real)
_braid_View1(CoarsenRef, FTstop, braid_Real)

braid_Int
braid_CoarsenRefStatusGetTpriorTstop(braid_CoarsenRefStatus s, braid_Real *t_ptr,
                                     braid_Real *ftprior_ptr, braid_Real *ftstop_ptr,
                                     braid_Real *ctprior_ptr, braid_Real *ctstop_ptr)
{
   return braid_StatusGetTpriorTstop((braid_Status) s, t_ptr, ftprior_ptr, ftstop_ptr,
                                     ctprior_ptr, ctstop_ptr);
}

/* objective status */
_braid_View1(Objective, T, braid_Real)
_braid_View1(Objective, TIndex, braid_Int)
_braid_View1(Objective, Iter, braid_Int)
_braid_View1(Objective, Level, braid_Int)
_braid_View1(Objective, NLevels, braid_Int)
_braid_View1(Objective, NRefine, braid_Int)
_braid_View1(Objective, NTPoints, braid_Int)
_braid_View1(Objective, Tol, braid_Real)

/* ----------------------------------------------- batched steps [ours] */

braid_Int
braid_StepBatchStatusGetSize(braid_StepBatchStatus s, braid_Int *n_ptr)
{
   *n_ptr = s->n;
   return 0;
}

braid_Int
braid_StepBatchStatusGetTstartTstop(braid_StepBatchStatus s, braid_Int i,
                                    braid_Real *tstart_ptr, braid_Real *tstop_ptr)
{
   if (i < 0 || i >= s->n)
   {
      return braid_ERROR_ARG;
   }
   *tstart_ptr = s->tstart[i];
   *tstop_ptr  = s->tstop[i];
   return 0;
}

braid_Int
braid_StepBatchStatusGetTIndex(braid_StepBatchStatus s, braid_Int i, braid_Int *tindex_ptr)
{
   if (i < 0 || i >= s->n)
   {
      return braid_ERROR_ARG;
   }
   *tindex_ptr = s->tindex[i];
   return 0;
}

braid_Int
braid_StepBatchStatusGetLevel(braid_StepBatchStatus s, braid_Int *level_ptr)
{
   *level_ptr = s->level;
   return 0;
}

braid_Int
braid_StepBatchStatusGetCallingFunction(braid_StepBatchStatus s, braid_Int *caller_ptr)
{
   *caller_ptr = s->caller;
   return 0;
}

braid_Int
braid_StepBatchStatusGetIter(braid_StepBatchStatus s, braid_Int *iter_ptr)
{
   *iter_ptr = s->core->iter;
   return 0;
}

braid_Int
braid_StepBatchStatusGetRNorms(braid_StepBatchStatus s, braid_Int *nrequest_ptr,
                               braid_Real *rnorms)
{
   return _braid_CopyRNorms(s->core, s->core->iter + 1, nrequest_ptr, rnorms);
}

braid_Int
braid_StepBatchStatusGetCFactor(braid_StepBatchStatus s, braid_Int *cfactor_ptr,
                                braid_Int level)
{
   return braid_StatusGetCFactor((braid_Status) s->core, cfactor_ptr, level);
}
