/*
 * _braid.h -- private declarations shared by the library's source files.
 * Nothing here is part of the public interface.
 */
#ifndef _braid_HEADER
#define _braid_HEADER

#include <stdio.h>
#include "braid.h"

/* One level of the time hierarchy, as seen by this rank. */
typedef struct
{
   braid_Int     ilower, iupper; /* my index range; empty when ilower > iupper */
   braid_Int     clower, cupper; /* first and last C-point in that range */
   braid_Int     ncpoints;       /* number of C-points in my range */
   braid_Int     gupper;         /* last global index of the level */
   braid_Int     cfactor;        /* coarsening factor (gupper+1 on a coarsest level) */
   braid_Int     fine_stride;    /* product of the cfactors of the finer levels */
   braid_Int     store_all;      /* 1: u kept at every point, 0: at C-points only */
   braid_Int     shells;         /* 1: F-point slots hold shell vectors (braid_SetShell) */
   braid_Int     nslots;         /* length of ua */
   braid_Int     left, right;    /* neighbour ranks on this level, -1 if none */
   braid_Real   *ta_alloc;       /* time values; ta = ta_alloc + 1 so that ta[-1] exists */
   braid_Real   *ta;
   braid_Vector *ua;             /* solution values */
   braid_Vector *va;             /* restricted fine values (levels > 0) */
   braid_Vector *fa;             /* FAS right-hand sides (levels > 0), may hold NULL */
} _braid_Grid;

/* What the timers of braid_SetTimings measure (upstream's list and order). */
enum
{
   _braid_TIMER_DRIVE_INIT, _braid_TIMER_COARSE_SOLVE, _braid_TIMER_STEP, _braid_TIMER_INIT,
   _braid_TIMER_CLONE, _braid_TIMER_FREE, _braid_TIMER_SUM, _braid_TIMER_SPATIALNORM,
   _braid_TIMER_BUFSIZE, _braid_TIMER_BUFPACK, _braid_TIMER_BUFUNPACK, _braid_TIMER_ACCESS,
   _braid_TIMER_SYNC, _braid_TIMER_RESIDUAL, _braid_TIMER_SCOARSEN, _braid_TIMER_SREFINE,
   _braid_TIMER_MPI_RECV, _braid_TIMER_MPI_SEND, _braid_TIMER_MPI_WAIT,
   _braid_TIMER_MPI_WAIT_COARSE, _braid_NTIMERS
};

/* A point-to-point message in flight. */
typedef struct
{
   MPI_Request request;
   void       *buffer;
   braid_Int   active;
   braid_Int   is_send;
} _braid_Msg;

/* What a batched step is told, and the arrays of the batch (grown, never shrunk). */
struct _braid_StepBatch_struct
{
   braid_Core    core;
   braid_Int     n, capacity;
   braid_Int     level, caller;
   braid_Real   *tstart, *tstop;
   braid_Int    *tindex;
   braid_Vector *ustop, *fstop;
};

struct _braid_Core_struct
{
   /* communicators */
   MPI_Comm   comm_world;
   MPI_Comm   comm;
   braid_Int  myid, nprocs;     /* in the time communicator */
   braid_Int  myid_world;       /* prints come from world rank 0, as upstream's */

   /* problem */
   braid_Real tstart, tstop;
   braid_Int  ntime;
   braid_Int  gupper;           /* last fine index: ntime, or ntime-1 when periodic */
   braid_Int  periodic;         /* index gupper+1 is index 0 again */
   braid_App  app;

   /* user callbacks */
   braid_PtFcnStep        step;
   braid_PtFcnInit        init;
   braid_PtFcnClone       clone;
   braid_PtFcnFree        free;
   braid_PtFcnSum         sum;
   braid_PtFcnSpatialNorm spatialnorm;
   braid_PtFcnAccess      access;
   braid_PtFcnBufSize     bufsize;
   braid_PtFcnBufPack     bufpack;
   braid_PtFcnBufUnpack   bufunpack;
   braid_PtFcnResidual    residual;
   braid_PtFcnTimeGrid    tgrid;
   braid_PtFcnSync        sync;
   braid_PtFcnSInit       sinit;
   braid_PtFcnSClone      sclone;
   braid_PtFcnSFree       sfree;
   braid_Int              useshell;
   braid_PtFcnBufAlloc    bufalloc;  /* NULL: malloc */
   braid_PtFcnBufFree     buffree;   /* NULL: free */
   braid_PtFcnStepBatch   step_batch;  /* [ours] NULL: step point by point */
   braid_Int              max_batch;   /* steps per batched call, 0 = no limit */
   struct _braid_StepBatch_struct *batch;  /* its status and arrays, grown as needed */

   /* options */
   braid_Int  max_levels, min_coarse, relax_only_cg;
   braid_Real tol;
   braid_Int  rtol;
   braid_Int  max_iter;
   braid_Int  skip, fmg, nfmg, nfmg_Vcyc;
   braid_Int  storage, tnorm, seq_soln;
   braid_Int  access_level, print_level, io_level;
   braid_Int  final_fc_relax, resid_compute;
   braid_Int  nrdefault, cfdefault;
   braid_Real CWt_default;
   braid_Int  nlevel_opts;       /* length of the per-level option arrays */
   braid_Int *nrels;             /* -1 = use nrdefault */
   braid_Int *cfactors;          /* 0 = use cfdefault */
   braid_Real *CWts;             /* -1.0 = use CWt_default */

   /* hierarchy and solution */
   braid_Int    drives;          /* number of braid_Drive calls so far */
   braid_Int    initialized;     /* hierarchy built and fine values set */
   braid_Int    nlevels;
   _braid_Grid *grids;           /* nlevels grids */
   braid_Vector ulast;           /* value at ntime when it is not a stored point */

   /* convergence history */
   braid_Int   niter;
   braid_Real *rnorms;           /* max_iter+1 entries */
   braid_Real  rnorm0;

   /* status: what the current callback sees */
   braid_Real t, tnext;          /* tstart and tstop of a step; t of an access */
   braid_Int  idx;               /* index of t on the current level */
   braid_Int  level, iter, done;
   braid_Int  calling_function;
   braid_Int  wrapper_test;      /* 1 while a braid_Test* function runs the callbacks */
   braid_Real rnorm;             /* residual shown to access */
   braid_Real size_buffer;       /* set by BufferStatusSetSize, -1 = not set */
   braid_Int  messagetype;
   braid_Real old_fine_tolx, tight_fine_tolx, rfactor, r_space;

   /* output */
   FILE      *printfile;         /* NULL = stdout */
   braid_Real wall_start, wall_time;

   /* timers (braid_SetTimings): seconds spent per kind of work, this rank */
   braid_Int  timings;
   braid_Real timers[_braid_NTIMERS];
   char      *timer_file_stem;
};

/* ------------------------------------------------------------- helpers */

/* Return from the calling function when a callback or routine fails. */
#define _braid_Check(expr)                                   \
   do {                                                      \
      braid_Int _braid_rc_ = (expr);                         \
      if (_braid_rc_ != 0) return _braid_rc_;                \
   } while (0)

/* Jump to the function's cleanup label on failure, keeping the code in rc. */
#define _braid_Try(expr)                                     \
   do {                                                      \
      rc = (expr);                                           \
      if (rc != 0) goto cleanup;                             \
   } while (0)

#define _braid_IsCPoint(i, cf) (((i) % (cf)) == 0)
#define _braid_Max(a, b) ((a) > (b) ? (a) : (b))
#define _braid_Min(a, b) ((a) < (b) ? (a) : (b))

/* Periodic grids: index gupper+1 of a level is its index 0, index -1 its gupper. */
#define _braid_Wrap(g, i) \
   ((i) < 0 ? (i) + (g)->gupper + 1 : ((i) > (g)->gupper ? (i) - (g)->gupper - 1 : (i)))

void *_braid_CAlloc(size_t count, size_t size);
void  _braid_Print(braid_Core core, const char *fmt, ...);
void  _braid_PrintAny(braid_Core core, const char *fmt, ...);
braid_Int _braid_Unsupported(braid_Core core, const char *feature, const char *setter);
braid_Int  _braid_PrintCPointNorms(braid_Core core, const braid_Real *norms, braid_Int n);

/* Timers (braid_SetTimings).  Inline: they wrap every user call, and with the
   timings off (the default) they must cost a compare, not a function call. */
static inline braid_Real
_braid_TimerStart(braid_Core core)
{
   return core->timings > 0 ? MPI_Wtime() : 0.0;
}

static inline void
_braid_TimerStop(braid_Core core, braid_Int timer, braid_Real start)
{
   if (core->timings > 0)
   {
      core->timers[timer] += MPI_Wtime() - start;
   }
}

/* What a callback's return code means to the solve: ours stops on non-zero;
   the stand-in for upstream, like upstream, carries on. */
static inline braid_Int
_braid_UserResult(braid_Int rc)
{
#ifdef BRAID_STANDIN_UPSTREAM
   (void) rc;
   return 0;
#else
   return rc;
#endif
}

/* core.c */
braid_Int _braid_CopyRNorms(braid_Core core, braid_Int have, braid_Int *nrequest_ptr,
                            braid_Real *rnorms);
braid_Int _braid_LevelNRelax(braid_Core core, braid_Int level);
braid_Int _braid_LevelCFactor(braid_Core core, braid_Int level);
braid_Real _braid_LevelCWt(braid_Core core, braid_Int level);

/* grid.c */
braid_Int _braid_BuildHierarchy(braid_Core core);
void      _braid_DestroyHierarchy(braid_Core core);
braid_Int _braid_FreeLevelVectors(braid_Core core, braid_Int level);
braid_Int _braid_FreeAllVectors(braid_Core core);
braid_Int _braid_USlot(const _braid_Grid *g, braid_Int index);
braid_Int _braid_IsShell(const _braid_Grid *g, braid_Int index);
braid_Int _braid_HasCPointUpdate(braid_Core core, braid_Int ci);
void      _braid_GetInterval(const _braid_Grid *g, braid_Int k, braid_Int *flo, braid_Int *fhi,
                             braid_Int *ci);
braid_Int _braid_Owner(braid_Core core, braid_Int level, braid_Int index);

/* base.c: every call of a user function goes through these */
braid_Int _braid_BaseInit(braid_Core core, braid_Real t, braid_Vector *u_ptr);
braid_Int _braid_BaseSInit(braid_Core core, braid_Real t, braid_Vector *u_ptr);
braid_Int _braid_BaseSClone(braid_Core core, braid_Vector u, braid_Vector *v_ptr);
braid_Int _braid_BaseSFree(braid_Core core, braid_Vector u);
braid_Int _braid_StoreClone(braid_Core core, braid_Int level, braid_Int index, braid_Vector u,
                            braid_Vector *slot_ptr);
braid_Int _braid_BaseSpatialNorm(braid_Core core, braid_Vector u, braid_Real *norm_ptr);
braid_Int _braid_BaseAccess(braid_Core core, braid_Int level, braid_Int index, braid_Vector u,
                            braid_Int caller);
braid_Int _braid_BaseSync(braid_Core core, braid_Int caller);
braid_Int _braid_Step(braid_Core core, braid_Int level, braid_Int index, braid_Vector u,
                      braid_Int caller);
braid_Int _braid_StepBatch(braid_Core core, braid_Int level, braid_Int n,
                           const braid_Int *index, braid_Vector *u, braid_Vector *ustop,
                           braid_Int caller);
void      _braid_FreeStepBatch(braid_Core core);
braid_Int _braid_Residuals(braid_Core core, braid_Int level, braid_Int n,
                           const braid_Int *index, braid_Vector *ustop, braid_Vector *r,
                           braid_Int caller);
braid_Int _braid_FASNegate(braid_Core core, braid_Int level, braid_Int index, braid_Vector r);
braid_Int _braid_Residual(braid_Core core, braid_Int level, braid_Int index,
                          braid_Vector ustop, braid_Vector r, braid_Int caller);
void      _braid_FreeQuietly(braid_Core core, braid_Vector *u_ptr);

/* comm.c */
braid_Int _braid_RecvPost(braid_Core core, braid_Int level, braid_Int index, braid_Int peer,
                          _braid_Msg *msg);
braid_Int _braid_RecvFinish(braid_Core core, braid_Int level, braid_Int index, _braid_Msg *msg,
                            braid_Vector *u_ptr);
braid_Int _braid_SendPost(braid_Core core, braid_Int level, braid_Int index, braid_Vector u,
                          braid_Int peer, _braid_Msg *msg);
braid_Int _braid_SendFinish(braid_Core core, _braid_Msg *msg);
void      _braid_MsgAbandon(braid_Core core, _braid_Msg *msg);

/* relax.c */
braid_Int _braid_InitGuess(braid_Core core);
braid_Int _braid_CopyFineToCoarse(braid_Core core);
braid_Int _braid_FCRelax(braid_Core core, braid_Int level, braid_Int nsweeps, braid_Int final);
braid_Int _braid_FRestrict(braid_Core core, braid_Int level);
braid_Int _braid_FInterp(braid_Core core, braid_Int level);
braid_Int _braid_FAccess(braid_Core core, braid_Int level, braid_Int done);


/* ------------------------------------------- the most frequent user calls
   Inline: with the timings off a user call then costs one compare in its caller. */

/* One user call, timed when the timings are on (one compare when they are off). */
#define _braid_Timed(core, timer, call)                                   \
   do {                                                                   \
      if ((core)->timings > 0)                                            \
      {                                                                   \
         braid_Real _braid_t0_ = MPI_Wtime();                             \
         rc = (call);                                                     \
         (core)->timers[timer] += MPI_Wtime() - _braid_t0_;               \
      }                                                                   \
      else                                                                \
      {                                                                   \
         rc = (call);                                                     \
      }                                                                   \
   } while (0)

static inline braid_Int
_braid_BaseClone(braid_Core core, braid_Vector u, braid_Vector *v_ptr)
{
   braid_Int rc;

   *v_ptr = NULL;
   _braid_Timed(core, _braid_TIMER_CLONE, core->clone(core->app, u, v_ptr));
   return _braid_UserResult(rc);
}

static inline braid_Int
_braid_BaseFree(braid_Core core, braid_Vector u)
{
   braid_Int rc;

   _braid_Timed(core, _braid_TIMER_FREE, core->free(core->app, u));
   return _braid_UserResult(rc);
}

static inline braid_Int
_braid_BaseSum(braid_Core core, braid_Real alpha, braid_Vector x, braid_Real beta,
               braid_Vector y)
{
   braid_Int rc;

   _braid_Timed(core, _braid_TIMER_SUM, core->sum(core->app, alpha, x, beta, y));
   return _braid_UserResult(rc);
}

/* Free *u_ptr and clear it first, so that a failing free is never repeated. */
static inline braid_Int
_braid_FreeVector(braid_Core core, braid_Vector *u_ptr)
{
   braid_Vector u = *u_ptr;

   *u_ptr = NULL;
   return _braid_BaseFree(core, u);
}

#endif
