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

/* --------------------------------------------------- buffer status */

braid_Int braid_BufferStatusGetMessageType(braid_BufferStatus s, braid_Int *messagetype_ptr);
braid_Int braid_BufferStatusGetTIndex(braid_BufferStatus s, braid_Int *idx_ptr);
braid_Int braid_BufferStatusGetLevel(braid_BufferStatus s, braid_Int *level_ptr);
braid_Int braid_BufferStatusSetSize(braid_BufferStatus s, braid_Real size);

#ifdef __cplusplus
}
#endif

#endif
