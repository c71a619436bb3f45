/*
 * braid.h -- public interface of the project's MGRIT library.
 *
 * The names, signatures and defaults follow XBraid v3.1's public header, so code
 * written against upstream XBraid builds against this library and vice versa.
 * The implementation is our own (see README.md in this directory).
 *
 * One deliberate difference: every user callback's return code is checked.  A
 * non-zero code stops the solve, releases what the solve allocated, and is
 * returned by braid_Drive.
 */
#ifndef braid_HEADER
#define braid_HEADER

#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- types */

typedef int    braid_Int;
typedef double braid_Real;
typedef char   braid_Byte;

#define braid_MPI_REAL MPI_DOUBLE
#define braid_MPI_INT  MPI_INT

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

/* ---------------------------------------------------- user callbacks */

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
typedef braid_Int (*braid_PtFcnResidual)(braid_App app, braid_Vector ustop, braid_Vector r,
                                         braid_StepStatus status);
typedef braid_Int (*braid_PtFcnTimeGrid)(braid_App app, braid_Real *ta, braid_Int *ilower,
                                         braid_Int *iupper);

/* ------------------------------------------------------ core routines */

braid_Int braid_Init(MPI_Comm comm_world, MPI_Comm comm, braid_Real tstart, braid_Real tstop,
                     braid_Int ntime, braid_App app, braid_PtFcnStep step, braid_PtFcnInit init,
                     braid_PtFcnClone clone, braid_PtFcnFree free, braid_PtFcnSum sum,
                     braid_PtFcnSpatialNorm spatialnorm, braid_PtFcnAccess access,
                     braid_PtFcnBufSize bufsize, braid_PtFcnBufPack bufpack,
                     braid_PtFcnBufUnpack bufunpack, braid_Core *core_ptr);

/* Solve.  A second call is a warm restart from the current solution. */
braid_Int braid_Drive(braid_Core core);
braid_Int braid_Destroy(braid_Core core);
braid_Int braid_PrintStats(braid_Core core);
braid_Int braid_WriteConvHistory(braid_Core core, const char *filename);
braid_Int braid_SplitCommworld(const MPI_Comm *comm_world, braid_Int px, MPI_Comm *comm_x,
                               MPI_Comm *comm_t);

/* ------------------------------------------------------------ setters */

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
braid_Int braid_SetSync(braid_Core core, braid_PtFcnSync sync);
braid_Int braid_SetSeqSoln(braid_Core core, braid_Int seq_soln);
braid_Int braid_SetPrintLevel(braid_Core core, braid_Int print_level);
braid_Int braid_SetFileIOLevel(braid_Core core, braid_Int io_level);
braid_Int braid_SetPrintFile(braid_Core core, const char *printfile_name);
braid_Int braid_SetDefaultPrintFile(braid_Core core);
braid_Int braid_SetAccessLevel(braid_Core core, braid_Int access_level);
braid_Int braid_SetFinalFCRelax(braid_Core core);

/* ------------------------------------------------------------ getters */

braid_Int braid_GetNumIter(braid_Core core, braid_Int *niter_ptr);
braid_Int braid_GetRNorms(braid_Core core, braid_Int *nrequest_ptr, braid_Real *rnorms);
braid_Int braid_GetNLevels(braid_Core core, braid_Int *nlevels_ptr);
braid_Int braid_GetMyID(braid_Core core, braid_Int *myid_ptr);

#ifdef __cplusplus
}
#endif

#endif
