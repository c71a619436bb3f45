/*
 * braid_status.h -- the status objects handed to user callbacks.
 *
 * Every status handle is the core itself, seen through a narrower type, so
 * creating one costs nothing.  Included by braid.h.
 *
 * A status is valid only during the callback it is passed to.  Each kind
 * (step, access, sync, buffer) has typed getters, braid_<Kind>StatusGetX,
 * which are the base braid_StatusGetX on that kind: the comments on the base
 * functions say what each value is, those on the typed ones what it is for
 * that callback.  Getters write their result through the pointer and return
 * 0 unless a comment says otherwise.  Level 0 is the finest; an index is a
 * time point's place on its level.
 */
#ifndef braid_status_HEADER
#define braid_status_HEADER

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _braid_Status_struct          *braid_Status;
typedef struct _braid_StepStatus_struct      *braid_StepStatus;
typedef struct _braid_AccessStatus_struct    *braid_AccessStatus;
typedef struct _braid_SyncStatus_struct      *braid_SyncStatus;
typedef struct _braid_BufferStatus_struct    *braid_BufferStatus;
/* the statuses of spatial coarsening and of the adjoint's objective: declared so
   that upstream code compiles; this library never hands them to a callback */
typedef struct _braid_CoarsenRefStatus_struct *braid_CoarsenRefStatus;
typedef struct _braid_ObjectiveStatus_struct  *braid_ObjectiveStatus;

/* ----------------------------------------------------- base status */

/* The time of the point (for a step: the time it starts from). */
braid_Int braid_StatusGetT(braid_Status s, braid_Real *t_ptr);
/* The index of that point on its level (for a step: of its start). */
braid_Int braid_StatusGetTIndex(braid_Status s, braid_Int *idx_ptr);
/* The current iteration, from 0 (iteration 0 is the skipped one when skip is
   on). */
braid_Int braid_StatusGetIter(braid_Status s, braid_Int *iter_ptr);
/* The level being worked on. */
braid_Int braid_StatusGetLevel(braid_Status s, braid_Int *level_ptr);
/* The number of levels of the hierarchy. */
braid_Int braid_StatusGetNLevels(braid_Status s, braid_Int *nlevels_ptr);
/* Temporal refinements done so far: always 0 here (no refinement). */
braid_Int braid_StatusGetNRefine(braid_Status s, braid_Int *nrefine_ptr);
/* Time steps on the finest level: ntime (ntime-1 on a periodic grid, whose
   index ntime is index 0). */
braid_Int braid_StatusGetNTPoints(braid_Status s, braid_Int *ntpoints_ptr);
/* The residual norm of the current iteration, braid_INVALID_RNORM when not
   computed (yet). */
braid_Int braid_StatusGetResidual(braid_Status s, braid_Real *rnorm_ptr);
/* 1 once the solve has stopped iterating (converged, or max_iter reached): in
   the final sweep; 0 before. */
braid_Int braid_StatusGetDone(braid_Status s, braid_Int *done_ptr);
/* The coarsening factor between `level` and the next coarser level; -1 for
   the coarsest level and for a level out of range. */
braid_Int braid_StatusGetCFactor(braid_Status s, braid_Int *cfactor_ptr, braid_Int level);
/* This rank's index range on `level`: *iu_ptr the upper, *il_ptr the lower
   end (upper first); *il_ptr > *iu_ptr when it holds no point there.
   braid_ERROR_ARG if level is out of range. */
braid_Int braid_StatusGetTIUL(braid_Status s, braid_Int *iu_ptr, braid_Int *il_ptr,
                              braid_Int level);
/* *tvalues_ptr points at the library's time values of `level` so that
   (*tvalues_ptr)[0] is the time of index i_lower; valid for indices i_lower..
   i_upper of this rank's range, which may start one below it.  The memory is
   the library's: read it, during this callback only.  braid_ERROR_ARG for a
   level or indices out of range. */
braid_Int braid_StatusGetTimeValues(braid_Status s, braid_Real **tvalues_ptr, braid_Int i_upper,
                                    braid_Int i_lower, braid_Int level);
/* Time, iteration, level and done at once. */
braid_Int braid_StatusGetTILD(braid_Status s, braid_Real *t_ptr, braid_Int *iter_ptr,
                              braid_Int *level_ptr, braid_Int *done_ptr);
/* 1 when the callback runs inside a wrapper test (braid_test.h), 0 in a
   solve. */
braid_Int braid_StatusGetWrapperTest(braid_Status s, braid_Int *wtest_ptr);
/* The braid_ASCaller_* code of the part of the algorithm that called. */
braid_Int braid_StatusGetCallingFunction(braid_Status s, braid_Int *cfunction_ptr);
/* The time a step ends at. */
braid_Int braid_StatusGetTstop(braid_Status s, braid_Real *tstop_ptr);
/* The times a step starts from and ends at. */
braid_Int braid_StatusGetTstartTstop(braid_Status s, braid_Real *tstart_ptr,
                                     braid_Real *tstop_ptr);
/* The stopping tolerance as set (a relative one is not multiplied by the
   first residual norm). */
braid_Int braid_StatusGetTol(braid_Status s, braid_Real *tol_ptr);
/* The residual history up to the current iteration, as braid_GetRNorms gives
   that of a finished solve: *nrequest_ptr > 0 the first n, < 0 the last |n|;
   on return the number copied (rnorms holds at least max(|n|, 1) values). */
braid_Int braid_StatusGetRNorms(braid_Status s, braid_Int *nrequest_ptr, braid_Real *rnorms);
/* The rank (in the time communicator) that owns `index` on `level`; -1 for a
   level or index out of range. */
braid_Int braid_StatusGetProc(braid_Status s, braid_Int *proc_ptr, braid_Int level,
                              braid_Int index);
/* The last fine-level spatial tolerance stored (braid_GetSpatialAccuracy
   stores it), 0 before any. */
braid_Int braid_StatusGetOldFineTolx(braid_Status s, braid_Real *old_fine_tolx_ptr);
/* For the buffer callbacks: 0 a message of the cycle, 1 one of load balancing
   (never sent here). */
braid_Int braid_StatusGetMessageType(braid_Status s, braid_Int *messagetype_ptr);
/* The time communicator. */
braid_Int braid_StatusGetTComm(braid_Status s, MPI_Comm *comm_ptr);
/* Store the fine-level spatial tolerance used (braid_GetSpatialAccuracy reads it). */
braid_Int braid_StatusSetOldFineTolx(braid_Status s, braid_Real old_fine_tolx);
/* Store whether the spatial tolerance has reached its tight value (1) or not
   (0); braid_GetSpatialAccuracy sets it. */
braid_Int braid_StatusSetTightFineTolx(braid_Status s, braid_Real tight_fine_tolx);
/* A step's request to refine its interval rfactor times: stored, without
   effect here (no temporal refinement). */
braid_Int braid_StatusSetRFactor(braid_Status s, braid_Real rfactor);
/* A request for spatial refinement: stored, without effect here. */
braid_Int braid_StatusSetRSpace(braid_Status s, braid_Real r_space);
/* In bufpack: the bytes actually written (a double, as upstream); only that
   many are sent when fewer than bufsize gave. */
braid_Int braid_StatusSetSize(braid_Status s, braid_Real size);

/* Features that are off in this library [upstream/off]: the error estimates
   answer -1 (not available) or none, the Delta-correction rank is 0 and there
   are no basis vectors or Lyapunov exponents; the setters store nothing. */
/* Richardson error estimate of this step: -1 (none here). */
braid_Int braid_StatusGetSingleErrorEstStep(braid_Status s, braid_Real *estimate);
/* Richardson error estimate at this point: -1 (none here). */
braid_Int braid_StatusGetSingleErrorEstAccess(braid_Status s, braid_Real *estimate);
/* How many error estimates this rank holds: 0 here. */
braid_Int braid_StatusGetNumErrorEst(braid_Status s, braid_Int *npoints);
/* Copy this rank's error estimates into error_est: none here, nothing written. */
braid_Int braid_StatusGetAllErrorEst(braid_Status s, braid_Real *error_est);
/* Rank of the Delta correction's basis: 0 here. */
braid_Int braid_StatusGetDeltaRank(braid_Status s, braid_Int *rank_ptr);
/* Basis vector `index` of the Delta correction: *v_ptr = NULL and
   braid_ERROR_ARG here (there is none). */
braid_Int braid_StatusGetBasisVec(braid_Status s, braid_Vector *v_ptr, braid_Int index);
/* Local Lyapunov exponents: none here (*num_returned = 0). */
braid_Int braid_StatusGetLocalLyapExponents(braid_Status s, braid_Real *exp_ptr,
                                            braid_Int *num_returned);
/* Time steps of a refined interval: stored nowhere here. */
braid_Int braid_StatusSetRefinementDtValues(braid_Status s, braid_Real rfactor,
                                            braid_Real *dtarray);
/* Bytes packed of the basis vectors: ignored here. */
braid_Int braid_StatusSetBasisSize(braid_Status s, braid_Real size);
/* Coarse-level time before the point, for spatial coarsening: here, with no
   spatial coarsening, the step's start time. */
braid_Int braid_StatusGetCTprior(braid_Status s, braid_Real *ctprior_ptr);
/* Coarse-level time after it: here the step's end time. */
braid_Int braid_StatusGetCTstop(braid_Status s, braid_Real *ctstop_ptr);
/* Fine-level time before it: here the step's start time. */
braid_Int braid_StatusGetFTprior(braid_Status s, braid_Real *ftprior_ptr);
/* Fine-level time after it: here the step's end time. */
braid_Int braid_StatusGetFTstop(braid_Status s, braid_Real *ftstop_ptr);
/* The time and the four neighbour times above, at once. */
braid_Int braid_StatusGetTpriorTstop(braid_Status s, braid_Real *t_ptr, braid_Real *ftprior_ptr,
                                     braid_Real *ftstop_ptr, braid_Real *ctprior_ptr,
                                     braid_Real *ctstop_ptr);

/* ----------------------------------------------------- step status */

/* This rank's index range on a level (upper first; see braid_StatusGetTIUL). */
braid_Int braid_StepStatusGetTIUL(braid_StepStatus s, braid_Int *iu_ptr, braid_Int *il_ptr,
                                  braid_Int level);
/* The time the step starts from. */
braid_Int braid_StepStatusGetT(braid_StepStatus s, braid_Real *t_ptr);
/* The index of the step's start on its level. */
braid_Int braid_StepStatusGetTIndex(braid_StepStatus s, braid_Int *idx_ptr);
/* The iteration the step belongs to. */
braid_Int braid_StepStatusGetIter(braid_StepStatus s, braid_Int *iter_ptr);
/* The level of the step. */
braid_Int braid_StepStatusGetLevel(braid_StepStatus s, braid_Int *level_ptr);
/* The number of levels. */
braid_Int braid_StepStatusGetNLevels(braid_StepStatus s, braid_Int *nlevels_ptr);
/* Temporal refinements: 0. */
braid_Int braid_StepStatusGetNRefine(braid_StepStatus s, braid_Int *nrefine_ptr);
/* Time steps on the finest level. */
braid_Int braid_StepStatusGetNTPoints(braid_StepStatus s, braid_Int *ntpoints_ptr);
/* The time the step ends at. */
braid_Int braid_StepStatusGetTstop(braid_StepStatus s, braid_Real *tstop_ptr);
/* The times the step starts from and ends at. */
braid_Int braid_StepStatusGetTstartTstop(braid_StepStatus s, braid_Real *tstart_ptr,
                                         braid_Real *tstop_ptr);
/* The stopping tolerance as set. */
braid_Int braid_StepStatusGetTol(braid_StepStatus s, braid_Real *tol_ptr);
/* The residual history so far (see braid_StatusGetRNorms). */
braid_Int braid_StepStatusGetRNorms(braid_StepStatus s, braid_Int *nrequest_ptr,
                                    braid_Real *rnorms);
/* The last fine-level spatial tolerance stored. */
braid_Int braid_StepStatusGetOldFineTolx(braid_StepStatus s, braid_Real *old_fine_tolx_ptr);
/* Store the fine-level spatial tolerance. */
braid_Int braid_StepStatusSetOldFineTolx(braid_StepStatus s, braid_Real old_fine_tolx);
/* Store whether the tight spatial tolerance is reached. */
braid_Int braid_StepStatusSetTightFineTolx(braid_StepStatus s, braid_Real tight_fine_tolx);
/* Ask to refine this interval: stored, no effect here. */
braid_Int braid_StepStatusSetRFactor(braid_StepStatus s, braid_Real rfactor);
/* Ask for spatial refinement: stored, no effect here. */
braid_Int braid_StepStatusSetRSpace(braid_StepStatus s, braid_Real r_space);
/* 1 in the final sweep of a solve, else 0. */
braid_Int braid_StepStatusGetDone(braid_StepStatus s, braid_Int *done_ptr);
/* The braid_ASCaller_* code of the caller. */
braid_Int braid_StepStatusGetCallingFunction(braid_StepStatus s, braid_Int *cfunction_ptr);
/* The coarsening factor of a level (-1 for the coarsest). */
braid_Int braid_StepStatusGetCFactor(braid_StepStatus s, braid_Int *cfactor_ptr,
                                     braid_Int level);
/* Error estimate of this step: -1 here. */
braid_Int braid_StepStatusGetSingleErrorEstStep(braid_StepStatus s, braid_Real *estimate);
/* Delta correction rank: 0 here. */
braid_Int braid_StepStatusGetDeltaRank(braid_StepStatus s, braid_Int *rank_ptr);
/* Delta correction basis vector: braid_ERROR_ARG here. */
braid_Int braid_StepStatusGetBasisVec(braid_StepStatus s, braid_Vector *v_ptr, braid_Int index);

/* --------------------------------------------------- access status */

/* The time of the vector shown. */
braid_Int braid_AccessStatusGetT(braid_AccessStatus s, braid_Real *t_ptr);
/* Its index on its level. */
braid_Int braid_AccessStatusGetTIndex(braid_AccessStatus s, braid_Int *idx_ptr);
/* The iteration. */
braid_Int braid_AccessStatusGetIter(braid_AccessStatus s, braid_Int *iter_ptr);
/* The level of the vector. */
braid_Int braid_AccessStatusGetLevel(braid_AccessStatus s, braid_Int *level_ptr);
/* The number of levels. */
braid_Int braid_AccessStatusGetNLevels(braid_AccessStatus s, braid_Int *nlevels_ptr);
/* Temporal refinements: 0. */
braid_Int braid_AccessStatusGetNRefine(braid_AccessStatus s, braid_Int *nrefine_ptr);
/* Time steps on the finest level. */
braid_Int braid_AccessStatusGetNTPoints(braid_AccessStatus s, braid_Int *ntpoints_ptr);
/* The residual norm of the current iteration (braid_INVALID_RNORM if none). */
braid_Int braid_AccessStatusGetResidual(braid_AccessStatus s, braid_Real *rnorm_ptr);
/* 1 when the vector is part of the final solution, else 0. */
braid_Int braid_AccessStatusGetDone(braid_AccessStatus s, braid_Int *done_ptr);
/* Time, iteration, level and done at once. */
braid_Int braid_AccessStatusGetTILD(braid_AccessStatus s, braid_Real *t_ptr,
                                    braid_Int *iter_ptr, braid_Int *level_ptr,
                                    braid_Int *done_ptr);
/* 1 inside a wrapper test, 0 in a solve. */
braid_Int braid_AccessStatusGetWrapperTest(braid_AccessStatus s, braid_Int *wtest_ptr);
/* The braid_ASCaller_* code of the caller. */
braid_Int braid_AccessStatusGetCallingFunction(braid_AccessStatus s, braid_Int *cfunction_ptr);
/* The coarsening factor of a level (-1 for the coarsest). */
braid_Int braid_AccessStatusGetCFactor(braid_AccessStatus s, braid_Int *cfactor_ptr,
                                       braid_Int level);
/* Error estimate at this point: -1 here. */
braid_Int braid_AccessStatusGetSingleErrorEstAccess(braid_AccessStatus s, braid_Real *estimate);
/* Delta correction rank: 0 here. */
braid_Int braid_AccessStatusGetDeltaRank(braid_AccessStatus s, braid_Int *rank_ptr);
/* Delta correction basis vector: braid_ERROR_ARG here. */
braid_Int braid_AccessStatusGetBasisVec(braid_AccessStatus s, braid_Vector *v_ptr,
                                        braid_Int index);
/* Lyapunov exponents: none here. */
braid_Int braid_AccessStatusGetLocalLyapExponents(braid_AccessStatus s, braid_Real *exp_ptr,
                                                  braid_Int *num_returned);

/* ----------------------------------------------------- sync status */

/* This rank's index range on a level (upper first; see braid_StatusGetTIUL). */
braid_Int braid_SyncStatusGetTIUL(braid_SyncStatus s, braid_Int *iu_ptr, braid_Int *il_ptr,
                                  braid_Int level);
/* The time values of this rank's range on a level (see braid_StatusGetTimeValues). */
braid_Int braid_SyncStatusGetTimeValues(braid_SyncStatus s, braid_Real **tvalues_ptr,
                                        braid_Int i_upper, braid_Int i_lower, braid_Int level);
/* The rank that owns an index on a level (-1 if out of range). */
braid_Int braid_SyncStatusGetProc(braid_SyncStatus s, braid_Int *proc_ptr, braid_Int level,
                                  braid_Int index);
/* The iteration. */
braid_Int braid_SyncStatusGetIter(braid_SyncStatus s, braid_Int *iter_ptr);
/* The level. */
braid_Int braid_SyncStatusGetLevel(braid_SyncStatus s, braid_Int *level_ptr);
/* The number of levels. */
braid_Int braid_SyncStatusGetNLevels(braid_SyncStatus s, braid_Int *nlevels_ptr);
/* Temporal refinements: 0. */
braid_Int braid_SyncStatusGetNRefine(braid_SyncStatus s, braid_Int *nrefine_ptr);
/* Time steps on the finest level. */
braid_Int braid_SyncStatusGetNTPoints(braid_SyncStatus s, braid_Int *ntpoints_ptr);
/* Whether the solve has stopped iterating (see braid_StatusGetDone). */
braid_Int braid_SyncStatusGetDone(braid_SyncStatus s, braid_Int *done_ptr);
/* Where sync is called: braid_ASCaller_Drive_AfterInit or _Drive_TopCycle. */
braid_Int braid_SyncStatusGetCallingFunction(braid_SyncStatus s, braid_Int *cfunction_ptr);
/* The time communicator. */
braid_Int braid_SyncStatusGetTComm(braid_SyncStatus s, MPI_Comm *comm_ptr);
/* Error estimates held: 0 here. */
braid_Int braid_SyncStatusGetNumErrorEst(braid_SyncStatus s, braid_Int *npoints);
/* Copy the error estimates: none here. */
braid_Int braid_SyncStatusGetAllErrorEst(braid_SyncStatus s, braid_Real *error_est);

/* --------------------------------------------------- buffer status */

/* 0: a message of the cycle (load balancing, 1, is never sent here). */
braid_Int braid_BufferStatusGetMessageType(braid_BufferStatus s, braid_Int *messagetype_ptr);
/* The index of the point whose vector is packed or unpacked. */
braid_Int braid_BufferStatusGetTIndex(braid_BufferStatus s, braid_Int *idx_ptr);
/* Its level. */
braid_Int braid_BufferStatusGetLevel(braid_BufferStatus s, braid_Int *level_ptr);
/* In bufpack: the bytes actually written; fewer than bufsize gave are sent. */
braid_Int braid_BufferStatusSetSize(braid_BufferStatus s, braid_Real size);
/* Bytes of the Delta basis packed: ignored here. */
braid_Int braid_BufferStatusSetBasisSize(braid_BufferStatus s, braid_Real size);

/* ---------------------------------- coarsen/refine status [upstream/off] */

/* The time of the point coarsened or refined. */
braid_Int braid_CoarsenRefStatusGetT(braid_CoarsenRefStatus s, braid_Real *t_ptr);
/* Its index on its level. */
braid_Int braid_CoarsenRefStatusGetTIndex(braid_CoarsenRefStatus s, braid_Int *idx_ptr);
/* The iteration. */
braid_Int braid_CoarsenRefStatusGetIter(braid_CoarsenRefStatus s, braid_Int *iter_ptr);
/* The level. */
braid_Int braid_CoarsenRefStatusGetLevel(braid_CoarsenRefStatus s, braid_Int *level_ptr);
/* The number of levels. */
braid_Int braid_CoarsenRefStatusGetNLevels(braid_CoarsenRefStatus s, braid_Int *nlevels_ptr);
/* Temporal refinements: 0. */
braid_Int braid_CoarsenRefStatusGetNRefine(braid_CoarsenRefStatus s, braid_Int *nrefine_ptr);
/* Time steps on the finest level. */
braid_Int braid_CoarsenRefStatusGetNTPoints(braid_CoarsenRefStatus s, braid_Int *ntpoints_ptr);
/* Coarse-level time before the point. */
braid_Int braid_CoarsenRefStatusGetCTprior(braid_CoarsenRefStatus s, braid_Real *ctprior_ptr);
/* Coarse-level time after it. */
braid_Int braid_CoarsenRefStatusGetCTstop(braid_CoarsenRefStatus s, braid_Real *ctstop_ptr);
/* Fine-level time before it. */
braid_Int braid_CoarsenRefStatusGetFTprior(braid_CoarsenRefStatus s, braid_Real *ftprior_ptr);
/* Fine-level time after it. */
braid_Int braid_CoarsenRefStatusGetFTstop(braid_CoarsenRefStatus s, braid_Real *ftstop_ptr);
/* The time and the four neighbour times at once. */
braid_Int braid_CoarsenRefStatusGetTpriorTstop(braid_CoarsenRefStatus s, braid_Real *t_ptr,
                                               braid_Real *ftprior_ptr, braid_Real *ftstop_ptr,
                                               braid_Real *ctprior_ptr, braid_Real *ctstop_ptr);

/* --------------------------------------- objective status [upstream/off] */

/* The time of the objective's term. */
braid_Int braid_ObjectiveStatusGetT(braid_ObjectiveStatus s, braid_Real *t_ptr);
/* Its index. */
braid_Int braid_ObjectiveStatusGetTIndex(braid_ObjectiveStatus s, braid_Int *idx_ptr);
/* The iteration. */
braid_Int braid_ObjectiveStatusGetIter(braid_ObjectiveStatus s, braid_Int *iter_ptr);
/* The level. */
braid_Int braid_ObjectiveStatusGetLevel(braid_ObjectiveStatus s, braid_Int *level_ptr);
/* The number of levels. */
braid_Int braid_ObjectiveStatusGetNLevels(braid_ObjectiveStatus s, braid_Int *nlevels_ptr);
/* Temporal refinements: 0. */
braid_Int braid_ObjectiveStatusGetNRefine(braid_ObjectiveStatus s, braid_Int *nrefine_ptr);
/* Time steps on the finest level. */
braid_Int braid_ObjectiveStatusGetNTPoints(braid_ObjectiveStatus s, braid_Int *ntpoints_ptr);
/* The stopping tolerance as set. */
braid_Int braid_ObjectiveStatusGetTol(braid_ObjectiveStatus s, braid_Real *tol_ptr);

/* ----------------------------------------------- batched steps [ours] */

/* [ours] What a batched step (braid_SetStepBatch) is told: n steps on one
   level, for one calling function, step i from tstart[i] to tstop[i] at
   tindex[i] (the index of tstart[i]).  Valid only during the call. */
typedef struct _braid_StepBatch_struct *braid_StepBatchStatus;

/* [ours] The number of steps in the batch. */
braid_Int braid_StepBatchStatusGetSize(braid_StepBatchStatus s, braid_Int *n_ptr);
/* [ours] The times step i starts from and ends at; braid_ERROR_ARG unless
   0 <= i < n. */
braid_Int braid_StepBatchStatusGetTstartTstop(braid_StepBatchStatus s, braid_Int i,
                                              braid_Real *tstart_ptr, braid_Real *tstop_ptr);
/* [ours] The index of step i's tstart on its level; braid_ERROR_ARG unless
   0 <= i < n. */
braid_Int braid_StepBatchStatusGetTIndex(braid_StepBatchStatus s, braid_Int i,
                                         braid_Int *tindex_ptr);
/* [ours] The level of the batch's steps (0 = finest). */
braid_Int braid_StepBatchStatusGetLevel(braid_StepBatchStatus s, braid_Int *level_ptr);
/* [ours] The sweep the batch belongs to (braid_ASCaller_*). */
braid_Int braid_StepBatchStatusGetCallingFunction(braid_StepBatchStatus s,
                                                  braid_Int *caller_ptr);
/* [ours] Iterations done so far. */
braid_Int braid_StepBatchStatusGetIter(braid_StepBatchStatus s, braid_Int *iter_ptr);
/* [ours] The coarsening factor of `level`, as braid_StatusGetCFactor gives it
   (-1 for the coarsest level). */
braid_Int braid_StepBatchStatusGetCFactor(braid_StepBatchStatus s, braid_Int *cfactor_ptr,
                                          braid_Int level);
/* [ours] The residual history so far, as braid_StatusGetRNorms gives it. */
braid_Int braid_StepBatchStatusGetRNorms(braid_StepBatchStatus s, braid_Int *nrequest_ptr,
                                         braid_Real *rnorms);

#ifdef __cplusplus
}
#endif

#endif
