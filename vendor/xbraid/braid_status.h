/*
 * braid_status.h -- the status objects handed to user callbacks.
 *
 * Every status handle is the core itself, seen through a narrower type, so
 * creating one costs nothing.  Included by braid.h.
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

braid_Int braid_StatusGetT(braid_Status s, braid_Real *t_ptr);
braid_Int braid_StatusGetTIndex(braid_Status s, braid_Int *idx_ptr);
braid_Int braid_StatusGetIter(braid_Status s, braid_Int *iter_ptr);
braid_Int braid_StatusGetLevel(braid_Status s, braid_Int *level_ptr);
braid_Int braid_StatusGetNLevels(braid_Status s, braid_Int *nlevels_ptr);
braid_Int braid_StatusGetNRefine(braid_Status s, braid_Int *nrefine_ptr);
braid_Int braid_StatusGetNTPoints(braid_Status s, braid_Int *ntpoints_ptr);
braid_Int braid_StatusGetResidual(braid_Status s, braid_Real *rnorm_ptr);
braid_Int braid_StatusGetDone(braid_Status s, braid_Int *done_ptr);
braid_Int braid_StatusGetCFactor(braid_Status s, braid_Int *cfactor_ptr, braid_Int level);
braid_Int braid_StatusGetTIUL(braid_Status s, braid_Int *iu_ptr, braid_Int *il_ptr,
                              braid_Int level);
braid_Int braid_StatusGetTimeValues(braid_Status s, braid_Real **tvalues_ptr, braid_Int i_upper,
                                    braid_Int i_lower, braid_Int level);
braid_Int braid_StatusGetTILD(braid_Status s, braid_Real *t_ptr, braid_Int *iter_ptr,
                              braid_Int *level_ptr, braid_Int *done_ptr);
braid_Int braid_StatusGetWrapperTest(braid_Status s, braid_Int *wtest_ptr);
braid_Int braid_StatusGetCallingFunction(braid_Status s, braid_Int *cfunction_ptr);
braid_Int braid_StatusGetTstop(braid_Status s, braid_Real *tstop_ptr);
braid_Int braid_StatusGetTstartTstop(braid_Status s, braid_Real *tstart_ptr,
                                     braid_Real *tstop_ptr);
braid_Int braid_StatusGetTol(braid_Status s, braid_Real *tol_ptr);
braid_Int braid_StatusGetRNorms(braid_Status s, braid_Int *nrequest_ptr, braid_Real *rnorms);
braid_Int braid_StatusGetProc(braid_Status s, braid_Int *proc_ptr, braid_Int level,
                              braid_Int index);
braid_Int braid_StatusGetOldFineTolx(braid_Status s, braid_Real *old_fine_tolx_ptr);
braid_Int braid_StatusGetMessageType(braid_Status s, braid_Int *messagetype_ptr);
braid_Int braid_StatusGetTComm(braid_Status s, MPI_Comm *comm_ptr);
braid_Int braid_StatusSetOldFineTolx(braid_Status s, braid_Real old_fine_tolx);
braid_Int braid_StatusSetTightFineTolx(braid_Status s, braid_Real tight_fine_tolx);
braid_Int braid_StatusSetRFactor(braid_Status s, braid_Real rfactor);
braid_Int braid_StatusSetRSpace(braid_Status s, braid_Real r_space);
braid_Int braid_StatusSetSize(braid_Status s, braid_Real size);

/* Features that are off in this library [upstream/off]: the error estimates
   answer -1 (not available) or none, the Delta-correction rank is 0 and there
   are no basis vectors or Lyapunov exponents; the setters store nothing. */
braid_Int braid_StatusGetSingleErrorEstStep(braid_Status s, braid_Real *estimate);
braid_Int braid_StatusGetSingleErrorEstAccess(braid_Status s, braid_Real *estimate);
braid_Int braid_StatusGetNumErrorEst(braid_Status s, braid_Int *npoints);
braid_Int braid_StatusGetAllErrorEst(braid_Status s, braid_Real *error_est);
braid_Int braid_StatusGetDeltaRank(braid_Status s, braid_Int *rank_ptr);
braid_Int braid_StatusGetBasisVec(braid_Status s, braid_Vector *v_ptr, braid_Int index);
braid_Int braid_StatusGetLocalLyapExponents(braid_Status s, braid_Real *exp_ptr,
                                            braid_Int *num_returned);
braid_Int braid_StatusSetRefinementDtValues(braid_Status s, braid_Real rfactor,
                                            braid_Real *dtarray);
braid_Int braid_StatusSetBasisSize(braid_Status s, braid_Real size);
braid_Int braid_StatusGetCTprior(braid_Status s, braid_Real *ctprior_ptr);
braid_Int braid_StatusGetCTstop(braid_Status s, braid_Real *ctstop_ptr);
braid_Int braid_StatusGetFTprior(braid_Status s, braid_Real *ftprior_ptr);
braid_Int braid_StatusGetFTstop(braid_Status s, braid_Real *ftstop_ptr);
braid_Int braid_StatusGetTpriorTstop(braid_Status s, braid_Real *t_ptr, braid_Real *ftprior_ptr,
                                     braid_Real *ftstop_ptr, braid_Real *ctprior_ptr,
                                     braid_Real *ctstop_ptr);

/* ----------------------------------------------------- step status */

braid_Int braid_StepStatusGetTIUL(braid_StepStatus s, braid_Int *iu_ptr, braid_Int *il_ptr,
                                  braid_Int level);
braid_Int braid_StepStatusGetT(braid_StepStatus s, braid_Real *t_ptr);
braid_Int braid_StepStatusGetTIndex(braid_StepStatus s, braid_Int *idx_ptr);
braid_Int braid_StepStatusGetIter(braid_StepStatus s, braid_Int *iter_ptr);
braid_Int braid_StepStatusGetLevel(braid_StepStatus s, braid_Int *level_ptr);
braid_Int braid_StepStatusGetNLevels(braid_StepStatus s, braid_Int *nlevels_ptr);
braid_Int braid_StepStatusGetNRefine(braid_StepStatus s, braid_Int *nrefine_ptr);
braid_Int braid_StepStatusGetNTPoints(braid_StepStatus s, braid_Int *ntpoints_ptr);
braid_Int braid_StepStatusGetTstop(braid_StepStatus s, braid_Real *tstop_ptr);
braid_Int braid_StepStatusGetTstartTstop(braid_StepStatus s, braid_Real *tstart_ptr,
                                         braid_Real *tstop_ptr);
braid_Int braid_StepStatusGetTol(braid_StepStatus s, braid_Real *tol_ptr);
braid_Int braid_StepStatusGetRNorms(braid_StepStatus s, braid_Int *nrequest_ptr,
                                    braid_Real *rnorms);
braid_Int braid_StepStatusGetOldFineTolx(braid_StepStatus s, braid_Real *old_fine_tolx_ptr);
braid_Int braid_StepStatusSetOldFineTolx(braid_StepStatus s, braid_Real old_fine_tolx);
braid_Int braid_StepStatusSetTightFineTolx(braid_StepStatus s, braid_Real tight_fine_tolx);
braid_Int braid_StepStatusSetRFactor(braid_StepStatus s, braid_Real rfactor);
braid_Int braid_StepStatusSetRSpace(braid_StepStatus s, braid_Real r_space);
braid_Int braid_StepStatusGetDone(braid_StepStatus s, braid_Int *done_ptr);
braid_Int braid_StepStatusGetCallingFunction(braid_StepStatus s, braid_Int *cfunction_ptr);
braid_Int braid_StepStatusGetCFactor(braid_StepStatus s, braid_Int *cfactor_ptr,
                                     braid_Int level);
braid_Int braid_StepStatusGetSingleErrorEstStep(braid_StepStatus s, braid_Real *estimate);
braid_Int braid_StepStatusGetDeltaRank(braid_StepStatus s, braid_Int *rank_ptr);
braid_Int braid_StepStatusGetBasisVec(braid_StepStatus s, braid_Vector *v_ptr, braid_Int index);

/* --------------------------------------------------- access status */

braid_Int braid_AccessStatusGetT(braid_AccessStatus s, braid_Real *t_ptr);
braid_Int braid_AccessStatusGetTIndex(braid_AccessStatus s, braid_Int *idx_ptr);
braid_Int braid_AccessStatusGetIter(braid_AccessStatus s, braid_Int *iter_ptr);
braid_Int braid_AccessStatusGetLevel(braid_AccessStatus s, braid_Int *level_ptr);
braid_Int braid_AccessStatusGetNLevels(braid_AccessStatus s, braid_Int *nlevels_ptr);
braid_Int braid_AccessStatusGetNRefine(braid_AccessStatus s, braid_Int *nrefine_ptr);
braid_Int braid_AccessStatusGetNTPoints(braid_AccessStatus s, braid_Int *ntpoints_ptr);
braid_Int braid_AccessStatusGetResidual(braid_AccessStatus s, braid_Real *rnorm_ptr);
braid_Int braid_AccessStatusGetDone(braid_AccessStatus s, braid_Int *done_ptr);
braid_Int braid_AccessStatusGetTILD(braid_AccessStatus s, braid_Real *t_ptr,
                                    braid_Int *iter_ptr, braid_Int *level_ptr,
                                    braid_Int *done_ptr);
braid_Int braid_AccessStatusGetWrapperTest(braid_AccessStatus s, braid_Int *wtest_ptr);
braid_Int braid_AccessStatusGetCallingFunction(braid_AccessStatus s, braid_Int *cfunction_ptr);
braid_Int braid_AccessStatusGetCFactor(braid_AccessStatus s, braid_Int *cfactor_ptr,
                                       braid_Int level);
braid_Int braid_AccessStatusGetSingleErrorEstAccess(braid_AccessStatus s, braid_Real *estimate);
braid_Int braid_AccessStatusGetDeltaRank(braid_AccessStatus s, braid_Int *rank_ptr);
braid_Int braid_AccessStatusGetBasisVec(braid_AccessStatus s, braid_Vector *v_ptr,
                                        braid_Int index);
braid_Int braid_AccessStatusGetLocalLyapExponents(braid_AccessStatus s, braid_Real *exp_ptr,
                                                  braid_Int *num_returned);

/* ----------------------------------------------------- sync status */

braid_Int braid_SyncStatusGetTIUL(braid_SyncStatus s, braid_Int *iu_ptr, braid_Int *il_ptr,
                                  braid_Int level);
braid_Int braid_SyncStatusGetTimeValues(braid_SyncStatus s, braid_Real **tvalues_ptr,
                                        braid_Int i_upper, braid_Int i_lower, braid_Int level);
braid_Int braid_SyncStatusGetProc(braid_SyncStatus s, braid_Int *proc_ptr, braid_Int level,
                                  braid_Int index);
braid_Int braid_SyncStatusGetIter(braid_SyncStatus s, braid_Int *iter_ptr);
braid_Int braid_SyncStatusGetLevel(braid_SyncStatus s, braid_Int *level_ptr);
braid_Int braid_SyncStatusGetNLevels(braid_SyncStatus s, braid_Int *nlevels_ptr);
braid_Int braid_SyncStatusGetNRefine(braid_SyncStatus s, braid_Int *nrefine_ptr);
braid_Int braid_SyncStatusGetNTPoints(braid_SyncStatus s, braid_Int *ntpoints_ptr);
braid_Int braid_SyncStatusGetDone(braid_SyncStatus s, braid_Int *done_ptr);
braid_Int braid_SyncStatusGetCallingFunction(braid_SyncStatus s, braid_Int *cfunction_ptr);
braid_Int braid_SyncStatusGetTComm(braid_SyncStatus s, MPI_Comm *comm_ptr);
braid_Int braid_SyncStatusGetNumErrorEst(braid_SyncStatus s, braid_Int *npoints);
braid_Int braid_SyncStatusGetAllErrorEst(braid_SyncStatus s, braid_Real *error_est);

/* --------------------------------------------------- buffer status */

braid_Int braid_BufferStatusGetMessageType(braid_BufferStatus s, braid_Int *messagetype_ptr);
braid_Int braid_BufferStatusGetTIndex(braid_BufferStatus s, braid_Int *idx_ptr);
braid_Int braid_BufferStatusGetLevel(braid_BufferStatus s, braid_Int *level_ptr);
braid_Int braid_BufferStatusSetSize(braid_BufferStatus s, braid_Real size);
braid_Int braid_BufferStatusSetBasisSize(braid_BufferStatus s, braid_Real size);

/* ---------------------------------- coarsen/refine status [upstream/off] */

braid_Int braid_CoarsenRefStatusGetT(braid_CoarsenRefStatus s, braid_Real *t_ptr);
braid_Int braid_CoarsenRefStatusGetTIndex(braid_CoarsenRefStatus s, braid_Int *idx_ptr);
braid_Int braid_CoarsenRefStatusGetIter(braid_CoarsenRefStatus s, braid_Int *iter_ptr);
braid_Int braid_CoarsenRefStatusGetLevel(braid_CoarsenRefStatus s, braid_Int *level_ptr);
braid_Int braid_CoarsenRefStatusGetNLevels(braid_CoarsenRefStatus s, braid_Int *nlevels_ptr);
braid_Int braid_CoarsenRefStatusGetNRefine(braid_CoarsenRefStatus s, braid_Int *nrefine_ptr);
braid_Int braid_CoarsenRefStatusGetNTPoints(braid_CoarsenRefStatus s, braid_Int *ntpoints_ptr);
braid_Int braid_CoarsenRefStatusGetCTprior(braid_CoarsenRefStatus s, braid_Real *ctprior_ptr);
braid_Int braid_CoarsenRefStatusGetCTstop(braid_CoarsenRefStatus s, braid_Real *ctstop_ptr);
braid_Int braid_CoarsenRefStatusGetFTprior(braid_CoarsenRefStatus s, braid_Real *ftprior_ptr);
braid_Int braid_CoarsenRefStatusGetFTstop(braid_CoarsenRefStatus s, braid_Real *ftstop_ptr);
braid_Int braid_CoarsenRefStatusGetTpriorTstop(braid_CoarsenRefStatus s, braid_Real *t_ptr,
                                               braid_Real *ftprior_ptr, braid_Real *ftstop_ptr,
                                               braid_Real *ctprior_ptr, braid_Real *ctstop_ptr);

/* --------------------------------------- objective status [upstream/off] */

braid_Int braid_ObjectiveStatusGetT(braid_ObjectiveStatus s, braid_Real *t_ptr);
braid_Int braid_ObjectiveStatusGetTIndex(braid_ObjectiveStatus s, braid_Int *idx_ptr);
braid_Int braid_ObjectiveStatusGetIter(braid_ObjectiveStatus s, braid_Int *iter_ptr);
braid_Int braid_ObjectiveStatusGetLevel(braid_ObjectiveStatus s, braid_Int *level_ptr);
braid_Int braid_ObjectiveStatusGetNLevels(braid_ObjectiveStatus s, braid_Int *nlevels_ptr);
braid_Int braid_ObjectiveStatusGetNRefine(braid_ObjectiveStatus s, braid_Int *nrefine_ptr);
braid_Int braid_ObjectiveStatusGetNTPoints(braid_ObjectiveStatus s, braid_Int *ntpoints_ptr);
braid_Int braid_ObjectiveStatusGetTol(braid_ObjectiveStatus s, braid_Real *tol_ptr);

#ifdef __cplusplus
}
#endif

#endif
