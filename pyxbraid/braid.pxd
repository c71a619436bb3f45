# Declarations of the braid C interface (vendor/xbraid/braid.h, or upstream
# XBraid's braid.h when built with XBRAID_DIR).  Public interface only.

from libc.stdio cimport FILE
from mpi4py.libmpi cimport MPI_Comm

cdef extern from "braid.h" nogil:
    ctypedef int braid_Int
    ctypedef double braid_Real

    enum: braid_ERROR_GENERIC
    enum: braid_ERROR_MEMORY

    enum: braid_ASCaller_FInterp
    enum: braid_ASCaller_FRestrict
    enum: braid_ASCaller_FRefine
    enum: braid_ASCaller_FAccess
    enum: braid_ASCaller_FRefine_AfterInitHier
    enum: braid_ASCaller_Drive_TopCycle
    enum: braid_ASCaller_FCRelax
    enum: braid_ASCaller_Drive_AfterInit
    enum: braid_ASCaller_BaseStep_diff
    enum: braid_ASCaller_ComputeFullRNorm
    enum: braid_ASCaller_FASResidual
    enum: braid_ASCaller_Residual
    enum: braid_ASCaller_InitGuess
    enum: braid_ASCaller_Warmup

    cdef struct _braid_App_struct
    cdef struct _braid_Vector_struct
    cdef struct _braid_Core_struct
    cdef struct _braid_Status_struct
    cdef struct _braid_StepStatus_struct
    cdef struct _braid_AccessStatus_struct
    cdef struct _braid_SyncStatus_struct
    cdef struct _braid_BufferStatus_struct
    ctypedef _braid_App_struct *braid_App
    ctypedef _braid_Vector_struct *braid_Vector
    ctypedef _braid_Core_struct *braid_Core
    ctypedef _braid_Status_struct *braid_Status
    ctypedef _braid_StepStatus_struct *braid_StepStatus
    ctypedef _braid_AccessStatus_struct *braid_AccessStatus
    ctypedef _braid_SyncStatus_struct *braid_SyncStatus
    ctypedef _braid_BufferStatus_struct *braid_BufferStatus


# Callback types: no nogil, the trampolines run Python code.
cdef extern from "braid.h":
    ctypedef braid_Int (*braid_PtFcnStep)(braid_App, braid_Vector, braid_Vector, braid_Vector,
                                          braid_StepStatus) noexcept
    ctypedef braid_Int (*braid_PtFcnInit)(braid_App, braid_Real, braid_Vector *) noexcept
    ctypedef braid_Int (*braid_PtFcnClone)(braid_App, braid_Vector, braid_Vector *) noexcept
    ctypedef braid_Int (*braid_PtFcnFree)(braid_App, braid_Vector) noexcept
    ctypedef braid_Int (*braid_PtFcnSum)(braid_App, braid_Real, braid_Vector, braid_Real,
                                         braid_Vector) noexcept
    ctypedef braid_Int (*braid_PtFcnSpatialNorm)(braid_App, braid_Vector, braid_Real *) noexcept
    ctypedef braid_Int (*braid_PtFcnAccess)(braid_App, braid_Vector, braid_AccessStatus) noexcept
    ctypedef braid_Int (*braid_PtFcnSync)(braid_App, braid_SyncStatus) noexcept
    ctypedef braid_Int (*braid_PtFcnBufSize)(braid_App, braid_Int *, braid_BufferStatus) noexcept
    ctypedef braid_Int (*braid_PtFcnBufPack)(braid_App, braid_Vector, void *,
                                             braid_BufferStatus) noexcept
    ctypedef braid_Int (*braid_PtFcnBufUnpack)(braid_App, void *, braid_Vector *,
                                               braid_BufferStatus) noexcept
    ctypedef braid_Int (*braid_PtFcnResidual)(braid_App, braid_Vector, braid_Vector,
                                              braid_StepStatus) noexcept
    ctypedef braid_Int (*braid_PtFcnTimeGrid)(braid_App, braid_Real *, braid_Int *,
                                              braid_Int *) noexcept


cdef extern from "braid.h" nogil:
    braid_Int braid_Init(MPI_Comm comm_world, MPI_Comm comm, braid_Real tstart,
                         braid_Real tstop, braid_Int ntime, braid_App app,
                         braid_PtFcnStep step, braid_PtFcnInit init, braid_PtFcnClone clone,
                         braid_PtFcnFree free, braid_PtFcnSum sum,
                         braid_PtFcnSpatialNorm spatialnorm, braid_PtFcnAccess access,
                         braid_PtFcnBufSize bufsize, braid_PtFcnBufPack bufpack,
                         braid_PtFcnBufUnpack bufunpack, braid_Core *core_ptr)
    braid_Int braid_Drive(braid_Core core)
    braid_Int braid_Destroy(braid_Core core)
    braid_Int braid_PrintStats(braid_Core core)
    braid_Int braid_SplitCommworld(const MPI_Comm *comm_world, braid_Int px, MPI_Comm *comm_x,
                                   MPI_Comm *comm_t)

    braid_Int braid_SetMaxLevels(braid_Core core, braid_Int max_levels)
    braid_Int braid_SetMinCoarse(braid_Core core, braid_Int min_coarse)
    braid_Int braid_SetRelaxOnlyCG(braid_Core core, braid_Int relax_only_cg)
    braid_Int braid_SetAbsTol(braid_Core core, braid_Real atol)
    braid_Int braid_SetRelTol(braid_Core core, braid_Real rtol)
    braid_Int braid_SetNRelax(braid_Core core, braid_Int level, braid_Int nrelax)
    braid_Int braid_SetCRelaxWt(braid_Core core, braid_Int level, braid_Real Cwt)
    braid_Int braid_SetCFactor(braid_Core core, braid_Int level, braid_Int cfactor)
    braid_Int braid_SetMaxIter(braid_Core core, braid_Int max_iter)
    braid_Int braid_SetFMG(braid_Core core)
    braid_Int braid_SetNFMG(braid_Core core, braid_Int k)
    braid_Int braid_SetNFMGVcyc(braid_Core core, braid_Int nfmg_Vcyc)
    braid_Int braid_SetSkip(braid_Core core, braid_Int skip)
    braid_Int braid_SetStorage(braid_Core core, braid_Int storage)
    braid_Int braid_SetTemporalNorm(braid_Core core, braid_Int tnorm)
    braid_Int braid_SetResidual(braid_Core core, braid_PtFcnResidual residual)
    braid_Int braid_SetResidualComputation(braid_Core core, braid_Int resid_compute)
    braid_Int braid_SetTimeGrid(braid_Core core, braid_PtFcnTimeGrid tgrid)
    braid_Int braid_SetSync(braid_Core core, braid_PtFcnSync sync)
    braid_Int braid_SetSeqSoln(braid_Core core, braid_Int seq_soln)
    braid_Int braid_SetPrintLevel(braid_Core core, braid_Int print_level)
    braid_Int braid_SetFileIOLevel(braid_Core core, braid_Int io_level)
    braid_Int braid_SetAccessLevel(braid_Core core, braid_Int access_level)
    braid_Int braid_SetFinalFCRelax(braid_Core core)

    braid_Int braid_GetNumIter(braid_Core core, braid_Int *niter_ptr)
    braid_Int braid_GetRNorms(braid_Core core, braid_Int *nrequest_ptr, braid_Real *rnorms)
    braid_Int braid_GetNLevels(braid_Core core, braid_Int *nlevels_ptr)

    # The base status getters (braid_status.h).  Every status kind is a view
    # of braid_Status; XBraid's typed getters (braid_StepStatusGetT, ...) are
    # these, cast.  Each returns 0, or an error code.
    braid_Int braid_StatusGetT(braid_Status s, braid_Real *t_ptr)
    braid_Int braid_StatusGetTstop(braid_Status s, braid_Real *tstop_ptr)
    braid_Int braid_StatusGetTIndex(braid_Status s, braid_Int *idx_ptr)
    braid_Int braid_StatusGetIter(braid_Status s, braid_Int *iter_ptr)
    braid_Int braid_StatusGetLevel(braid_Status s, braid_Int *level_ptr)
    braid_Int braid_StatusGetNLevels(braid_Status s, braid_Int *nlevels_ptr)
    braid_Int braid_StatusGetNTPoints(braid_Status s, braid_Int *ntpoints_ptr)
    braid_Int braid_StatusGetResidual(braid_Status s, braid_Real *rnorm_ptr)
    braid_Int braid_StatusGetDone(braid_Status s, braid_Int *done_ptr)
    braid_Int braid_StatusGetTol(braid_Status s, braid_Real *tol_ptr)
    braid_Int braid_StatusGetCallingFunction(braid_Status s, braid_Int *cfunction_ptr)
    braid_Int braid_StatusGetMessageType(braid_Status s, braid_Int *messagetype_ptr)
    # (iupper, ilower): upper first
    braid_Int braid_StatusGetTIUL(braid_Status s, braid_Int *iu_ptr, braid_Int *il_ptr,
                                  braid_Int level)
    braid_Int braid_StatusGetCFactor(braid_Status s, braid_Int *cfactor_ptr, braid_Int level)
    braid_Int braid_StatusGetProc(braid_Status s, braid_Int *proc_ptr, braid_Int level,
                                  braid_Int index)
    # at most *nrequest_ptr norms; *nrequest_ptr becomes how many were written
    braid_Int braid_StatusGetRNorms(braid_Status s, braid_Int *nrequest_ptr, braid_Real *rnorms)
    braid_Int braid_StatusSetSize(braid_Status s, braid_Real size)

    braid_Int braid_BufferStatusSetSize(braid_BufferStatus s, braid_Real size)


# The wrapper tests (upstream's braid_test.h; vendor/xbraid/braid_test.h):
# each returns 1 when every check passed (ours; upstream grades only some).
cdef extern from "braid_test.h":
    ctypedef void *braid_PtFcnSCoarsen
    ctypedef void *braid_PtFcnSRefine

    braid_Int braid_TestInitAccess(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                                   braid_PtFcnInit init, braid_PtFcnAccess access,
                                   braid_PtFcnFree free)
    braid_Int braid_TestClone(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                              braid_PtFcnInit init, braid_PtFcnAccess access,
                              braid_PtFcnFree free, braid_PtFcnClone clone)
    braid_Int braid_TestSum(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                            braid_PtFcnInit init, braid_PtFcnAccess access, braid_PtFcnFree free,
                            braid_PtFcnClone clone, braid_PtFcnSum sum)
    braid_Int braid_TestSpatialNorm(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                                    braid_PtFcnInit init, braid_PtFcnFree free,
                                    braid_PtFcnClone clone, braid_PtFcnSum sum,
                                    braid_PtFcnSpatialNorm spatialnorm)
    braid_Int braid_TestBuf(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                            braid_PtFcnInit init, braid_PtFcnFree free, braid_PtFcnSum sum,
                            braid_PtFcnSpatialNorm spatialnorm, braid_PtFcnBufSize bufsize,
                            braid_PtFcnBufPack bufpack, braid_PtFcnBufUnpack bufunpack)
    braid_Int braid_TestResidual(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                                 braid_Real dt, braid_PtFcnInit init, braid_PtFcnAccess access,
                                 braid_PtFcnFree free, braid_PtFcnClone clone,
                                 braid_PtFcnSum sum, braid_PtFcnSpatialNorm spatialnorm,
                                 braid_PtFcnResidual residual, braid_PtFcnStep step)
    braid_Int braid_TestAll(braid_App app, MPI_Comm comm_x, FILE *fp, braid_Real t,
                            braid_Real fdt, braid_Real cdt, braid_PtFcnInit init,
                            braid_PtFcnFree free, braid_PtFcnClone clone, braid_PtFcnSum sum,
                            braid_PtFcnSpatialNorm spatialnorm, braid_PtFcnBufSize bufsize,
                            braid_PtFcnBufPack bufpack, braid_PtFcnBufUnpack bufunpack,
                            braid_PtFcnSCoarsen coarsen, braid_PtFcnSRefine refine,
                            braid_PtFcnResidual residual, braid_PtFcnStep step)


# The batched step, vendor/xbraid's extension of the interface [ours], under
# names that also compile against upstream XBraid (step_batch.h), where
# PYXBRAID_STEP_BATCH is 0 and pyxbraid_SetStepBatch refuses.
cdef extern from "step_batch.h" nogil:
    int PYXBRAID_STEP_BATCH
    cdef struct _pyxbraid_BatchStatus_struct
    ctypedef _pyxbraid_BatchStatus_struct *pyxbraid_BatchStatus
    braid_Int pyxbraid_BatchGetSize(pyxbraid_BatchStatus s, braid_Int *n_ptr)
    braid_Int pyxbraid_BatchGetTstartTstop(pyxbraid_BatchStatus s, braid_Int i,
                                           braid_Real *tstart_ptr, braid_Real *tstop_ptr)
    braid_Int pyxbraid_BatchGetTIndex(pyxbraid_BatchStatus s, braid_Int i, braid_Int *tindex_ptr)
    braid_Int pyxbraid_BatchGetLevel(pyxbraid_BatchStatus s, braid_Int *level_ptr)
    braid_Int pyxbraid_BatchGetCallingFunction(pyxbraid_BatchStatus s, braid_Int *caller_ptr)
    braid_Int pyxbraid_BatchGetIter(pyxbraid_BatchStatus s, braid_Int *iter_ptr)
    braid_Int pyxbraid_BatchGetCFactor(pyxbraid_BatchStatus s, braid_Int *cfactor_ptr,
                                       braid_Int level)
    braid_Int pyxbraid_BatchGetRNorms(pyxbraid_BatchStatus s, braid_Int *nrequest_ptr,
                                      braid_Real *rnorms)

cdef extern from "step_batch.h":
    ctypedef braid_Int (*pyxbraid_PtFcnStepBatch)(braid_App, braid_Int, braid_Vector *,
                                                  braid_Vector *, braid_Vector *,
                                                  pyxbraid_BatchStatus) noexcept
    braid_Int pyxbraid_SetStepBatch(braid_Core core, pyxbraid_PtFcnStepBatch step_batch,
                                    braid_Int max_batch)
