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
 *
 * Every function returns 0 on success or one of the braid_ERROR_* codes below;
 * the comments say which input is refused.  `core` is always a core made by
 * braid_Init and not yet destroyed (it is not checked).  Times are in the
 * units of tstart and tstop; an "index" is a time point's place on its level
 * (0..ntime on the finest); level 0 is the finest.  The defaults named are
 * the values braid_Init sets.
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

/* a residual norm not computed (yet): in the histories and status getters */
#define braid_INVALID_RNORM -1
/* return codes: any failure, an allocation that failed, an argument refused */
#define braid_ERROR_GENERIC 1
#define braid_ERROR_MEMORY  2
#define braid_ERROR_ARG     4
/* braid_Rand returns 0..braid_RAND_MAX-1 */
#define braid_RAND_MAX      32768

/* Caller codes reported by braid_*StatusGetCallingFunction: the part of the
   algorithm that made the callback.  Only some occur in this library (the
   others belong to features it does not have). */
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

/* Every callback receives the app given to braid_Init and returns 0 on
   success.  [ours] Any other value stops the solve: braid_Drive frees what it
   holds and returns that value (upstream ignores the codes). */

/* Advance u in place from the status's tstart to its tstop
   (braid_StepStatusGetTstartTstop).  ustop is the best value known at tstop
   (a guess for an implicit solver; it may be u itself); fstop is NULL unless a
   residual function is set (braid_SetResidual), and then, on coarse levels, a
   right-hand side to add to the result (possibly NULL).  Returns 0, or a
   non-zero code that stops the solve (upstream ignores it). */
typedef braid_Int (*braid_PtFcnStep)(braid_App app, braid_Vector ustop, braid_Vector fstop,
                                     braid_Vector u, braid_StepStatus status);
/* Allocate a new vector holding the initial guess (or the initial condition,
   at t = tstart) for time t; store it in *u_ptr. */
typedef braid_Int (*braid_PtFcnInit)(braid_App app, braid_Real t, braid_Vector *u_ptr);
/* Allocate *v_ptr as a deep copy of u. */
typedef braid_Int (*braid_PtFcnClone)(braid_App app, braid_Vector u, braid_Vector *v_ptr);
/* Release u and everything it owns. */
typedef braid_Int (*braid_PtFcnFree)(braid_App app, braid_Vector u);
/* y = alpha*x + beta*y, in place in y. */
typedef braid_Int (*braid_PtFcnSum)(braid_App app, braid_Real alpha, braid_Vector x,
                                    braid_Real beta, braid_Vector y);
/* *norm_ptr = a norm of u (>= 0); the residual norms of the solve are built
   from it (braid_SetTemporalNorm). */
typedef braid_Int (*braid_PtFcnSpatialNorm)(braid_App app, braid_Vector u, braid_Real *norm_ptr);
/* Read a solution value: u at the point the status describes (time, index,
   level, iteration, done).  u must not be changed.  When it is called is set
   by braid_SetAccessLevel; NULL at braid_Init means never. */
typedef braid_Int (*braid_PtFcnAccess)(braid_App app, braid_Vector u, braid_AccessStatus status);
/* Called once per rank at fixed places of the solve (after the initial guess,
   at the top of every cycle), for work that needs no vector (braid_SetSync). */
typedef braid_Int (*braid_PtFcnSync)(braid_App app, braid_SyncStatus status);
/* *size_ptr = the most bytes bufpack will write for a vector of the point the
   status names; a negative size makes braid_Drive return braid_ERROR_ARG. */
typedef braid_Int (*braid_PtFcnBufSize)(braid_App app, braid_Int *size_ptr,
                                        braid_BufferStatus status);
/* Write u into buffer (of the size bufsize gave); to send fewer bytes, tell
   the status how many with braid_BufferStatusSetSize. */
typedef braid_Int (*braid_PtFcnBufPack)(braid_App app, braid_Vector u, void *buffer,
                                        braid_BufferStatus status);
/* Allocate *u_ptr as a new vector holding what bufpack wrote into buffer. */
typedef braid_Int (*braid_PtFcnBufUnpack)(braid_App app, void *buffer, braid_Vector *u_ptr,
                                          braid_BufferStatus status);
/* Optional (braid_SetBufAllocFree): allocate *buffer with at least nbytes
   bytes for a message; a NULL result makes braid_Drive return
   braid_ERROR_MEMORY. */
typedef braid_Int (*braid_PtFcnBufAlloc)(braid_App app, void **buffer, braid_Int nbytes,
                                         braid_BufferStatus status);
/* Release a buffer of bufalloc and set *buffer to NULL (its return code is not read). */
typedef braid_Int (*braid_PtFcnBufFree)(braid_App app, void **buffer);
/* Optional (braid_SetResidual): on entry r holds the value at the status's
   tstart; replace it by the residual of the step that ends at ustop, that is
   ustop - step(r) for the step callback's own time stepper. */
typedef braid_Int (*braid_PtFcnResidual)(braid_App app, braid_Vector ustop, braid_Vector r,
                                         braid_StepStatus status);
/* Optional (braid_SetTimeGrid): fill ta[0..*iupper-*ilower] with the times of
   this rank's fine points *ilower..*iupper, in increasing order.  Called once,
   when the first braid_Drive builds the grid (instead of a uniform grid). */
typedef braid_Int (*braid_PtFcnTimeGrid)(braid_App app, braid_Real *ta, braid_Int *ilower,
                                         braid_Int *iupper);
/* shell vectors (braid_SetShell): a vector's metadata without its data */
/* Like init, but *u_ptr is a shell: the vector's metadata, no data. */
typedef braid_Int (*braid_PtFcnSInit)(braid_App app, braid_Real t, braid_Vector *u_ptr);
/* *v_ptr = a new shell with u's metadata (u may be a full vector). */
typedef braid_Int (*braid_PtFcnSClone)(braid_App app, braid_Vector u, braid_Vector *v_ptr);
/* Release u's data, keeping it as a shell (free releases the shell itself). */
typedef braid_Int (*braid_PtFcnSFree)(braid_App app, braid_Vector u);

/* callbacks of features accepted only switched off [upstream/off] */
/* Spatial coarsening: *cu_ptr = a new coarse-space copy of fu (never called here). */
typedef braid_Int (*braid_PtFcnSCoarsen)(braid_App app, braid_Vector fu, braid_Vector *cu_ptr,
                                         braid_CoarsenRefStatus status);
/* Spatial refinement: *fu_ptr = a new fine-space copy of cu (never called here). */
typedef braid_Int (*braid_PtFcnSRefine)(braid_App app, braid_Vector cu, braid_Vector *fu_ptr,
                                        braid_CoarsenRefStatus status);
/* Delta correction: basis vector `index` at time t (never called here). */
typedef braid_Int (*braid_PtFcnInitBasis)(braid_App app, braid_Real t, braid_Int index,
                                          braid_Vector *u_ptr);
/* Delta correction: *prod_ptr = the inner product of u and v (never called here). */
typedef braid_Int (*braid_PtFcnInnerProd)(braid_App app, braid_Vector u, braid_Vector v,
                                          braid_Real *prod_ptr);
/* Adjoint: the objective's contribution at the status's time (never called here). */
typedef braid_Int (*braid_PtFcnObjectiveT)(braid_App app, braid_Vector u,
                                           braid_ObjectiveStatus ostatus,
                                           braid_Real *objectiveT_ptr);
/* Adjoint: u_bar = the objective's derivative, times F_bar (never called here). */
typedef braid_Int (*braid_PtFcnObjectiveTDiff)(braid_App app, braid_Vector u, braid_Vector u_bar,
                                               braid_Real F_bar, braid_ObjectiveStatus ostatus);
/* Adjoint: map the summed objective to the final one (never called here). */
typedef braid_Int (*braid_PtFcnPostprocessObjective)(braid_App app, braid_Real sum_obj,
                                                     braid_Real *postprocess_ptr);
/* Adjoint: the derivative of that map (never called here). */
typedef braid_Int (*braid_PtFcnPostprocessObjective_diff)(braid_App app, braid_Real sum_obj,
                                                          braid_Real *F_bar_ptr);
/* Adjoint: the transposed derivative of one step (never called here). */
typedef braid_Int (*braid_PtFcnStepDiff)(braid_App app, braid_Vector ustop, braid_Vector u,
                                         braid_Vector ustop_bar, braid_Vector u_bar,
                                         braid_StepStatus status);
/* Adjoint: zero the gradient the app accumulates (never called here). */
typedef braid_Int (*braid_PtFcnResetGradient)(braid_App app);

/* ------------------------------------------------------ core routines [upstream] */

/* [upstream]; ours returns braid_ERROR_ARG for ntime < 1 or ntime > braid_Int_Max-2 */
/* A core that will solve for ntime+1 time points on [tstart, tstop] (ntime
   uniform steps unless braid_SetTimeGrid), distributed in blocks over the
   ranks of comm (the time communicator); comm_world holds every rank of the
   run (comm_world == comm without spatial parallelism, see
   braid_SplitCommworld).  Every callback but access (which may be NULL) is
   required: a NULL one is braid_ERROR_ARG, as is ntime out of range;
   braid_ERROR_MEMORY if the core cannot be allocated.  *core_ptr is NULL
   after a failure.  Nothing is allocated for vectors until braid_Drive. */
braid_Int braid_Init(MPI_Comm comm_world, MPI_Comm comm, braid_Real tstart, braid_Real tstop,
                     braid_Int ntime, braid_App app, braid_PtFcnStep step, braid_PtFcnInit init,
                     braid_PtFcnClone clone, braid_PtFcnFree free, braid_PtFcnSum sum,
                     braid_PtFcnSpatialNorm spatialnorm, braid_PtFcnAccess access,
                     braid_PtFcnBufSize bufsize, braid_PtFcnBufPack bufpack,
                     braid_PtFcnBufUnpack bufunpack, braid_Core *core_ptr);

/* [upstream] Solve.  A second call is a warm restart from the current solution
   ([ours]: without repeating the skipped first down-cycle). */
/* Collective over comm.  The first call builds the time grid and the
   hierarchy and makes the initial guess; every call iterates until the
   residual norm falls below the tolerance or max_iter iterations ran, then
   shows the solution to access as the access level says.  Returns 0;
   braid_ERROR_MEMORY when memory runs out (for the hierarchy: on every rank
   at once); braid_ERROR_ARG for a negative bufsize; or [ours] the first
   non-zero code a callback returned.  After a failure every vector is freed
   and the next call starts afresh. */
braid_Int braid_Drive(braid_Core core);
/* Free the core, every vector it holds (through free) and its print file.
   NULL is accepted.  [ours] Also fine for a core that never ran braid_Drive
   (upstream crashes).  Returns the first non-zero code of a free, if any. */
braid_Int braid_Destroy(braid_Core core);                                    /* [upstream] */
/* World rank 0 prints the settings and results of the last solve (called by
   braid_Drive itself at print level 2 or more); other ranks do nothing. */
braid_Int braid_PrintStats(braid_Core core);                                 /* [upstream] */
/* World rank 0 writes the residual history of the last solve to filename: a
   header of the grid, then one "iteration  norm" line per iteration.
   braid_ERROR_ARG if the file cannot be opened. */
braid_Int braid_WriteConvHistory(braid_Core core, const char *filename);     /* [upstream] */
/* Split *comm_world into groups of px consecutive ranks: *comm_x joins the
   ranks of one group (space), *comm_t the ranks with the same place in their
   group (time).  braid_ERROR_ARG unless px >= 1 divides the number of ranks;
   the caller frees both communicators. */
braid_Int braid_SplitCommworld(const MPI_Comm *comm_world, braid_Int px, MPI_Comm *comm_x,
                               MPI_Comm *comm_t);                            /* [upstream] */
/* A pseudo-random integer in 0..braid_RAND_MAX-1: the same sequence on every
   platform with the same unsigned long (the C standard's example rand(),
   seeded 1), which upstream's examples use for initial guesses. */
braid_Int braid_Rand(void);                                                  /* [upstream] */

/* timers [upstream] */
/* Measure time per rank: timing_level 0 (the default) measures nothing, >= 1
   the time spent in each kind of user callback and in MPI, written at the end
   of braid_Drive when the print level is >= 1.  braid_ERROR_ARG if < 0. */
braid_Int braid_SetTimings(braid_Core core, braid_Int timing_level);
/* The stem of the timer files: the first `length` characters of filestem
   (default "braid_timings").  braid_ERROR_ARG for a negative length or NULL. */
braid_Int braid_SetTimerFile(braid_Core core, braid_Int length, const char *filestem);
/* Every rank writes its timers (seconds) to <stem>_<world rank, 4 digits>.txt
   now.  braid_ERROR_ARG if the file cannot be opened. */
braid_Int braid_PrintTimers(braid_Core core);
/* Zero every timer but that of the initial set-up (which runs once). */
braid_Int braid_ResetTimer(braid_Core core);

/* ------------------------------------------------------------ setters [upstream] */

/* Options take effect at the next braid_Drive.  Those that shape the grid
   (max levels, min coarse, coarsening factors, storage, relax-only-CG,
   periodic, shell) are read when the first braid_Drive builds it. */

/* Most levels of the hierarchy, the fine one included (default 30; 1 means a
   sequential solve).  braid_ERROR_ARG if < 1. */
braid_Int braid_SetMaxLevels(braid_Core core, braid_Int max_levels);
/* Fewest time steps a coarse level may have: no level is made that would have
   fewer (default 2). */
braid_Int braid_SetMinCoarse(braid_Core core, braid_Int min_coarse);
/* 0: the coarsest level is solved exactly, by sequential time stepping
   (default); 1: it is only relaxed, like the other levels. */
braid_Int braid_SetRelaxOnlyCG(braid_Core core, braid_Int relax_only_cg);
/* Stop when the residual norm is below atol (absolute tolerance).  The default
   is a relative tolerance of 1e-9. */
braid_Int braid_SetAbsTol(braid_Core core, braid_Real atol);
/* Stop when the residual norm is below rtol times the first residual norm
   computed (default 1e-9, relative). */
braid_Int braid_SetRelTol(braid_Core core, braid_Real rtol);
/* Relaxation sweeps on a level: each is an F- then a C-relaxation, and the
   restriction adds one F-relaxation (1: FCF, the default; 0: F only).  level
   < 0 sets the default of every level.  braid_ERROR_ARG if nrelax < 0.
   [ours] any level may be set (upstream: only those below max_levels). */
braid_Int braid_SetNRelax(braid_Core core, braid_Int level, braid_Int nrelax);
/* Weight w of the C-relaxation on a level: a C-point becomes (1-w) times its
   old value plus w times the new one (default 1.0).  level < 0 sets the
   default.  [ours] any level may be set. */
braid_Int braid_SetCRelaxWt(braid_Core core, braid_Int level, braid_Real Cwt);
/* Coarsening factor between a level and the next coarser one: every cfactor-th
   point is a C-point (default 2).  level < 0 sets the default.  braid_ERROR_ARG
   if cfactor < 2.  [ours] any level may be set. */
braid_Int braid_SetCFactor(braid_Core core, braid_Int level, braid_Int cfactor);
/* Most iterations of a solve (default 100).  braid_ERROR_ARG if < 0 or [ours]
   braid_Int_Max; braid_ERROR_MEMORY if the history cannot grow. */
braid_Int braid_SetMaxIter(braid_Core core, braid_Int max_iter);
/* F-cycles instead of V-cycles (default off; cannot be turned off again). */
braid_Int braid_SetFMG(braid_Core core);
/* F-cycles, except that iteration k is a V-cycle (XBraid v3.1's rule); -1, the
   default, for F-cycles throughout.  Turns F-cycles on. */
braid_Int braid_SetNFMG(braid_Core core, braid_Int k);
/* V-cycles per level on the way up an F-cycle (default 1).  braid_ERROR_ARG if
   < 1. */
braid_Int braid_SetNFMGVcyc(braid_Core core, braid_Int nfmg_Vcyc);
/* 1 (default): the first iteration does no relaxation on its way down (the
   initial guess is copied to the coarse levels).  Ignored, with a notice
   when 1, while a sequential initial guess is on (braid_SetSeqSoln). */
braid_Int braid_SetSkip(braid_Core core, braid_Int skip);
/* Which values are kept between iterations: -1 (default) C-points only; 0
   every point on every level; s > 0 every point on levels >= s.  -2 (another
   of upstream's modes) keeps C-points only here.  braid_ERROR_ARG if < -2. */
braid_Int braid_SetStorage(braid_Core core, braid_Int storage);
/* How the spatial norms of the C-point residuals make the residual norm: 1
   their sum, 2 (default) the root of the sum of squares, 3 their maximum.
   braid_ERROR_ARG otherwise. */
braid_Int braid_SetTemporalNorm(braid_Core core, braid_Int tnorm);
/* A residual function (the app's own, so that the step may be inexact; see
   braid_PtFcnResidual); NULL (default) for ustop - step(u). */
braid_Int braid_SetResidual(braid_Core core, braid_PtFcnResidual residual);
/* 0: compute no residual norm (no reduction over the ranks); the solve runs
   max_iter iterations and its norms read braid_INVALID_RNORM.  Default 1. */
braid_Int braid_SetResidualComputation(braid_Core core, braid_Int resid_compute);
/* The time values come from tgrid (NULL, the default: a uniform grid). */
braid_Int braid_SetTimeGrid(braid_Core core, braid_PtFcnTimeGrid tgrid);
/* 1: periodic in time, the points 0..ntime-1 with the step into 0 starting at
   the last one (default 0).  Not with a sequential initial guess (a notice,
   and it stays off).  braid_ERROR_ARG after the first braid_Drive, or for
   ntime < 2. */
braid_Int braid_SetPeriodic(braid_Core core, braid_Int periodic);
/* A function called once per rank at fixed places of the solve (NULL, default: none). */
braid_Int braid_SetSync(braid_Core core, braid_PtFcnSync sync);
/* 1: the initial guess is made by sequential time stepping from the initial
   condition; turns skip and periodic off, with a notice (default 0). */
braid_Int braid_SetSeqSoln(braid_Core core, braid_Int seq_soln);
/* What world rank 0 prints: 0 nothing; 1 a residual line per iteration; 2
   (default) and the statistics at the end; 3 and every fine C-point's
   residual norm after each iteration. */
braid_Int braid_SetPrintLevel(braid_Core core, braid_Int print_level);
/* 1 (default): rank 0 of comm writes braid.out.cycle in the working directory
   (a line per level visited by each cycle: level, iteration, residual norm,
   tolerance); 0: no file. */
braid_Int braid_SetFileIOLevel(braid_Core core, braid_Int io_level);
/* World rank 0 prints into printfile_name (created, or emptied) instead of
   stdout.  braid_ERROR_ARG if it cannot be opened. */
braid_Int braid_SetPrintFile(braid_Core core, const char *printfile_name);
/* braid_SetPrintFile(core, "braid_runtime.out"). */
braid_Int braid_SetDefaultPrintFile(braid_Core core);
/* When access is called: 0 never; 1 (default) on every fine point at the end;
   2 also at the top of every iteration; 3 also at every point each
   relaxation, restriction and interpolation visits, on every level. */
braid_Int braid_SetAccessLevel(braid_Core core, braid_Int access_level);
/* End the solve with an FC-relaxation of the fine level (access at every point
   it visits) instead of the final F-relaxation (default off; cannot be
   turned off again). */
braid_Int braid_SetFinalFCRelax(braid_Core core);
/* Message buffers come from bufalloc and go back to buffree (both NULL, the
   default: malloc and free).  braid_ERROR_ARG if only one is NULL. */
braid_Int braid_SetBufAllocFree(braid_Core core, braid_PtFcnBufAlloc bufalloc,
                                braid_PtFcnBufFree buffree);
/* Shell vectors: on levels that keep C-points only, every F-point keeps a
   shell made by sinit/sclone and emptied by sfree (default off).
   braid_ERROR_ARG after the first braid_Drive or if one is NULL. */
braid_Int braid_SetShell(braid_Core core, braid_PtFcnSInit sinit, braid_PtFcnSClone sclone,
                         braid_PtFcnSFree sfree);

/* ------------------------------------------- setters accepted only off [upstream/off] */

/* Each takes the value noted on its right, which keeps its feature off; any
   other value is braid_ERROR_ARG, with a message on world rank 0's stderr. */

/* Spatial coarsening of the vectors on coarse time levels. */
braid_Int braid_SetSpatialCoarsen(braid_Core core, braid_PtFcnSCoarsen scoarsen); /* NULL */
/* Spatial refinement, the way back from spatial coarsening. */
braid_Int braid_SetSpatialRefine(braid_Core core, braid_PtFcnSRefine srefine);    /* NULL */
/* Temporal refinement of the fine grid, driven by braid_StepStatusSetRFactor. */
braid_Int braid_SetRefine(braid_Core core, braid_Int refine);                     /* 0 */
/* One more level after each temporal refinement: refused, as it only turns on. */
braid_Int braid_SetIncrMaxLevels(braid_Core core);                                /* never */
/* Most temporal refinements: a limit, so any count >= 0 is accepted. */
braid_Int braid_SetMaxRefinements(braid_Core core, braid_Int max_refinements);    /* >= 0 */
/* Temporal refinement stops past this many points: any count >= 0 is accepted. */
braid_Int braid_SetTPointsCutoff(braid_Core core, braid_Int tpoints_cutoff);      /* >= 0 */
/* A residual at every point, not only the C-points, for the stopping test. */
braid_Int braid_SetFullRNormRes(braid_Core core, braid_PtFcnResidual residual);   /* NULL */
/* Richardson-based error estimates (est_error) and extrapolation (richardson),
   for a time stepper of order local_order (not read). */
braid_Int braid_SetRichardsonEstimation(braid_Core core, braid_Int est_error,
                                        braid_Int richardson, braid_Int local_order);
                                                                  /* est_error = richardson = 0 */
/* Delta correction with a basis of `rank` vectors (low-rank approximations of
   the step's derivative on coarse levels). */
braid_Int braid_SetDeltaCorrection(braid_Core core, braid_Int rank, braid_PtFcnInitBasis basis_init,
                                   braid_PtFcnInnerProd inner_prod);              /* rank <= 0 */
/* From which level and iteration Delta correction starts: any value is accepted. */
braid_Int braid_SetDeferDelta(braid_Core core, braid_Int level, braid_Int iter);  /* any */
/* Estimates of Lyapunov vectors and exponents, with Delta correction. */
braid_Int braid_SetLyapunovEstimation(braid_Core core, braid_Int relax, braid_Int cglv,
                                      braid_Int exponents);                       /* all 0 */
/* The inner product Delta correction needs. */
braid_Int braid_SetInnerProd(braid_Core core, braid_PtFcnInnerProd inner_prod);   /* NULL */
/* Reverted rank order in time, an option of XBraid_Adjoint. */
braid_Int braid_SetRevertedRanks(braid_Core core, braid_Int reverted_ranks);      /* 0 */

/* XBraid_Adjoint: braid_InitAdjoint accepts only four NULL callbacks; the adjoint
   options are ignored while the adjoint is off, as upstream ignores them. */
/* Turn on the adjoint of an objective function on a core from braid_Init
   (*core_ptr); here only with every callback NULL (which leaves it off). */
braid_Int braid_InitAdjoint(braid_PtFcnObjectiveT objectiveT,
                            braid_PtFcnObjectiveTDiff objectiveT_diff,
                            braid_PtFcnStepDiff step_diff,
                            braid_PtFcnResetGradient reset_gradient, braid_Core *core_ptr);
/* Start of the objective's time window (ignored). */
braid_Int braid_SetTStartObjective(braid_Core core, braid_Real tstart_obj);
/* End of the objective's time window (ignored). */
braid_Int braid_SetTStopObjective(braid_Core core, braid_Real tstop_obj);
/* The map applied to the summed objective (ignored). */
braid_Int braid_SetPostprocessObjective(braid_Core core, braid_PtFcnPostprocessObjective post_fcn);
/* That map's derivative (ignored). */
braid_Int braid_SetPostprocessObjective_diff(braid_Core core,
                                             braid_PtFcnPostprocessObjective_diff post_fcn_diff);
/* Absolute tolerance on the adjoint's residual norm (ignored). */
braid_Int braid_SetAbsTolAdjoint(braid_Core core, braid_Real tol_adj);
/* Relative tolerance on the adjoint's residual norm (ignored). */
braid_Int braid_SetRelTolAdjoint(braid_Core core, braid_Real rtol_adj);
/* 1: evaluate the objective without the adjoint (ignored). */
braid_Int braid_SetObjectiveOnly(braid_Core core, braid_Int boolean);
/* The objective's value: 0 while the adjoint is off, as upstream. */
braid_Int braid_GetObjective(braid_Core core, braid_Real *objective_ptr);
/* The adjoint's residual norm: braid_INVALID_RNORM while it is off. */
braid_Int braid_GetRNormAdjoint(braid_Core core, braid_Real *rnorm_adj);

/* ------------------------------------------------------------ getters [upstream] */

/* Iterations of the last solve (counting the skipped first one when skip is
   on); the history of braid_GetRNorms has one entry more. */
braid_Int braid_GetNumIter(braid_Core core, braid_Int *niter_ptr);
/* Copy residual norms of the last solve into rnorms: *nrequest_ptr > 0 asks
   for the first n, < 0 for the last |n| (at most niter+1 entries: the last
   one repeats the final norm).  On return *nrequest_ptr is the number copied;
   when none, rnorms[0] = braid_INVALID_RNORM.  Entries never computed (the
   skipped first iteration) read braid_INVALID_RNORM.  rnorms holds at least
   max(|n|, 1) values. */
braid_Int braid_GetRNorms(braid_Core core, braid_Int *nrequest_ptr, braid_Real *rnorms);
/* Levels of the hierarchy built by the first braid_Drive (0 before it). */
braid_Int braid_GetNLevels(braid_Core core, braid_Int *nlevels_ptr);
/* This rank's rank in the time communicator. */
braid_Int braid_GetMyID(braid_Core core, braid_Int *myid_ptr);
/* A tolerance for a spatial solver inside step: loose_tol on coarse levels and
   before a residual norm is known; on the fine level it tightens, on a logarithmic
   scale, from loose_tol towards tight_tol as the residual norm falls towards
   the stopping tolerance (tight_tol once 7/8 of the way there), and never
   loosens again.  The fine-level value is kept in the status
   (braid_StepStatusGetOldFineTolx). */
braid_Int braid_GetSpatialAccuracy(braid_StepStatus status, braid_Real loose_tol,
                                   braid_Real tight_tol, braid_Real *tol_ptr);

/* ------------------------------------------------ batched steps [ours] */

/* [ours] n steps at once, of independent intervals of this rank: step i
   advances u[i] from the status's tstart(i) to tstop(i), exactly as the
   single step would with ustop[i] and fstop[i] (fstop[i] non-NULL only when
   a user residual is set, on coarse levels; otherwise the core adds the
   right-hand side after).  Returns 0, or a non-zero code that stops the
   solve. */
typedef braid_Int (*braid_PtFcnStepBatch)(braid_App app, braid_Int n, braid_Vector *ustop,
                                          braid_Vector *fstop, braid_Vector *u,
                                          braid_StepBatchStatus status);
/* [ours] Let the sweeps whose steps are independent across intervals step
   them together: F/C-relaxation, restriction (its F-relaxation, the C-point
   residuals and the coarse right-hand side, unless a user residual is set),
   interpolation (and the coarsest level's F-relaxation) and the access
   sweep.  The rank's intervals go in groups of max_batch (0: all of them),
   right to left; in a group the j-th F-point of every interval is stepped in
   one call, j = 0, 1, ..., then the C-points; the left-most interval, which
   waits for the left neighbour's message, goes alone and last.  A lone step
   (a group of one, as on the coarsest level) uses the single step.  A group
   holds one working vector per interval, so max_batch bounds the extra
   memory.  The arithmetic on every vector is the single step's, in the same
   order, so every result is bit for bit the per-point one; callbacks other
   than the step (access, messages) may come in another order.  The
   sequential parts (the initial guess, braid_SetSeqSoln) step point by point
   with the single step.  NULL turns it off (the default).  braid_ERROR_ARG
   for a negative max_batch. */
braid_Int braid_SetStepBatch(braid_Core core, braid_PtFcnStepBatch step_batch,
                             braid_Int max_batch);

#ifdef __cplusplus
}
#endif

#endif
