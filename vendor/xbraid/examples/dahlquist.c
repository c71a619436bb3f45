/*
 * dahlquist.c -- u' = lambda u solved by backward Euler with MGRIT, all
 * callbacks in C.  This is the problem of the reference histories
 * (tests/data/xbraid-v3.1-histories.json) and the speed limit the Python
 * bindings are measured against.
 *
 *   mpirun -n 2 ./dahlquist -ntime 1000 -ml 5 -tol 1e-10 -history
 *
 * Options (defaults are the reference problem's):
 *   -ntime N      time steps (10); tstop = N/2, so dt = 0.5
 *   -ml L         max levels (2)          -cf M    coarsening factor (2)
 *   -nu K         relaxation sweeps (1)   -tol T   absolute tolerance (1e-6)
 *   -skip S       skip first down-cycle (1)        -maxiter N (100)
 *   -storage S    (-1)                    -tnorm T (2)   -fmg   -seqsoln
 *   -stepform F   0: XBraid ex-01's step expression 1./(1.+dt)*u
 *   -print P      print level (0)
 *   -history      print the residual history, one value per line (%.17g)
 *   -counts       print the number of calls of every callback (rank 0's)
 *   -solution     print the final value at every point (from access, done)
 *   -time         print seconds per iteration
 *   -repeat K     solve K times (timing: the best of them)
 *   -fail NAME N  callback NAME (step, init, clone, free, sum, norm, access,
 *                 bufpack, bufunpack) returns 42 at its N-th call: braid_Drive
 *                 must stop, free everything and return 42
 *   -nuc K        FC-sweeps on level ml-1 (the coarsest level, when relaxed)
 *   -batch B      [ours] a batched step (braid_SetStepBatch), at most B steps a
 *                 call (0: no limit); -counts adds the number of its calls
 *   -relaxcg      solve the coarsest level by FC-relaxation (braid_SetRelaxOnlyCG)
 *   -periodic     periodic in time (braid_SetPeriodic) with the forcing
 *                 cos(2 pi t / tstop): u_i = (u_{i-1} + dt cos(2 pi t_i / tstop)) / (1 - lambda dt)
 *   -shell        shell vectors (braid_SetShell); prints the shell calls and
 *                 every misuse of a shell (a shell stepped, summed, normed, ...)
 *   -bufalloc     message buffers from the app (braid_SetBufAllocFree)
 *   -timings T    braid_SetTimings(T)     -timerfile STEM   braid_SetTimerFile
 *   -drives K     call braid_Drive K times (warm restarts)
 *   -init-only    braid_Init then braid_Destroy, no braid_Drive
 *   -off NAME V   call the setter of an unimplemented feature (refine, scoarsen,
 *                 richardson, delta, lyapunov, fullres, reverted, incrmaxlevels,
 *                 adjoint) with V and print its return code
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "braid.h"

#define DAHLQUIST_PI 3.14159265358979323846

/* number of calls of each callback */
typedef struct
{
   long step, init, clone, free, sum, norm, access, bufpack, bufunpack;
   long sinit, sclone, sfree, bufalloc, buffree;
   long shell_misuse, ustop_shell_f, ustop_shell_c;
   long batches;         /* calls of the batched step */
} my_Counts;

typedef struct _braid_App_struct
{
   double    lambda;
   double    period;    /* > 0: the forcing cos(2 pi t / period) */
   int       stepform;
   int       cf;        /* the coarsening factor of every level */
   my_Counts n;
   int       show_solution;
   char   fail_name[16];
   long   fail_at;
} my_App;

/* Failure injection: non-zero when callback `name` makes its `count`-th call. */
static int
injected(braid_App app, const char *name, long count)
{
   return (app->fail_at > 0 && count == app->fail_at && !strcmp(app->fail_name, name)) ? 42 : 0;
}

typedef struct _braid_Vector_struct
{
   double value;
   int    shell;  /* data freed by sfree: only the shell is left */
} my_Vector;

static my_Vector *
new_vector(double value)
{
   my_Vector *u = (my_Vector *) malloc(sizeof(my_Vector));

   if (u != NULL)
   {
      u->value = value;
      u->shell = 0;
   }
   return u;
}

/* a shell where full data is needed is a library error: count it */
static void
need_data(braid_App app, braid_Vector u)
{
   if (u->shell)
   {
      app->n.shell_misuse++;
   }
}

/* u at tstart -> u at tstop */
static void
advance(braid_App app, braid_Vector u, double tstart, double tstop)
{
   if (app->stepform == 0)
   {
      u->value = 1. / (1. + tstop - tstart) * u->value;
   }
   else if (app->period > 0.0)
   {
      u->value = (u->value + (tstop - tstart) * cos(2.0 * DAHLQUIST_PI * tstop / app->period)) /
                 (1.0 - app->lambda * (tstop - tstart));
   }
   else
   {
      u->value = u->value / (1.0 - app->lambda * (tstop - tstart));
   }
}

/* the stored guess at an F-point may be a shell, never at a C-point */
static void
count_shell_ustop(braid_App app, braid_Vector ustop, int index, int cf)
{
   if (ustop->shell)
   {
      if (cf > 0 && (index + 1) % cf == 0) app->n.ustop_shell_c++;
      else app->n.ustop_shell_f++;
   }
}

static int
my_Step(braid_App app, braid_Vector ustop, braid_Vector fstop, braid_Vector u,
        braid_StepStatus status)
{
   double tstart, tstop;
   int    index, level, cf;

   (void) fstop;
   need_data(app, u);
   if (ustop->shell)
   {
      braid_StepStatusGetTIndex(status, &index);
      braid_StepStatusGetLevel(status, &level);
      braid_StepStatusGetCFactor(status, &cf, level);
      count_shell_ustop(app, ustop, index, cf);
   }
   braid_StepStatusGetTstartTstop(status, &tstart, &tstop);
   advance(app, u, tstart, tstop);
   return injected(app, "step", ++app->n.step);
}

/* [ours] the batched step (-batch): each u[i] as my_Step would */
static int
my_StepBatch(braid_App app, int n, braid_Vector *ustop, braid_Vector *fstop, braid_Vector *u,
             braid_StepBatchStatus status)
{
   double tstart, tstop;
   int    i, index, rc;

   (void) fstop;
   app->n.batches++;
   for (i = 0; i < n; i++)
   {
      need_data(app, u[i]);
      braid_StepBatchStatusGetTIndex(status, i, &index);
      count_shell_ustop(app, ustop[i], index, app->cf);
      braid_StepBatchStatusGetTstartTstop(status, i, &tstart, &tstop);
      advance(app, u[i], tstart, tstop);
      rc = injected(app, "step", ++app->n.step);
      if (rc) return rc;
   }
   return 0;
}

static int
my_Init(braid_App app, double t, braid_Vector *u_ptr)
{
   my_Vector *u = new_vector((t == 0.0) ? 1.0 : 0.456);

   ++app->n.init;
   if (u == NULL)
   {
      return braid_ERROR_MEMORY;
   }
   *u_ptr = u;
   return injected(app, "init", app->n.init);
}

static int
my_Clone(braid_App app, braid_Vector u, braid_Vector *v_ptr)
{
   my_Vector *v = new_vector(u->value);

   need_data(app, u);
   ++app->n.clone;
   if (v == NULL)
   {
      return braid_ERROR_MEMORY;
   }
   *v_ptr = v;
   return injected(app, "clone", app->n.clone);
}

static int
my_Free(braid_App app, braid_Vector u)
{
   free(u);
   return injected(app, "free", ++app->n.free);
}

static int
my_Sum(braid_App app, double alpha, braid_Vector x, double beta, braid_Vector y)
{
   need_data(app, x);
   need_data(app, y);
   y->value = alpha * x->value + beta * y->value;
   return injected(app, "sum", ++app->n.sum);
}

static int
my_SpatialNorm(braid_App app, braid_Vector u, double *norm_ptr)
{
   need_data(app, u);
   *norm_ptr = sqrt(u->value * u->value);
   return injected(app, "norm", ++app->n.norm);
}

static int
my_Access(braid_App app, braid_Vector u, braid_AccessStatus astatus)
{
   int index, done;

   app->n.access++;
   need_data(app, u);
   braid_AccessStatusGetDone(astatus, &done);
   if (app->show_solution && done)
   {
      braid_AccessStatusGetTIndex(astatus, &index);
      printf("solution %d %.17g\n", index, u->value);
   }
   return injected(app, "access", app->n.access);
}

static int
my_BufSize(braid_App app, int *size_ptr, braid_BufferStatus bstatus)
{
   (void) app;
   (void) bstatus;
   *size_ptr = sizeof(double);
   return 0;
}

static int
my_BufPack(braid_App app, braid_Vector u, void *buffer, braid_BufferStatus bstatus)
{
   need_data(app, u);
   memcpy(buffer, &u->value, sizeof(double));
   braid_BufferStatusSetSize(bstatus, sizeof(double));
   return injected(app, "bufpack", ++app->n.bufpack);
}

static int
my_BufUnpack(braid_App app, void *buffer, braid_Vector *u_ptr, braid_BufferStatus bstatus)
{
   my_Vector *u = new_vector(0.0);

   (void) bstatus;
   ++app->n.bufunpack;
   if (u == NULL)
   {
      return braid_ERROR_MEMORY;
   }
   memcpy(&u->value, buffer, sizeof(double));
   *u_ptr = u;
   return injected(app, "bufunpack", app->n.bufunpack);
}

/* shell vectors: a shell carries no value */
static int
my_SInit(braid_App app, double t, braid_Vector *u_ptr)
{
   (void) t;
   app->n.sinit++;
   *u_ptr = new_vector(NAN);
   if (*u_ptr == NULL) return braid_ERROR_MEMORY;
   (*u_ptr)->shell = 1;
   return 0;
}

static int
my_SClone(braid_App app, braid_Vector u, braid_Vector *v_ptr)
{
   (void) u;
   app->n.sclone++;
   *v_ptr = new_vector(NAN);
   if (*v_ptr == NULL) return braid_ERROR_MEMORY;
   (*v_ptr)->shell = 1;
   return 0;
}

static int
my_SFree(braid_App app, braid_Vector u)
{
   app->n.sfree++;
   u->value = NAN;
   u->shell = 1;
   return 0;
}

static int
my_BufAlloc(braid_App app, void **buffer, braid_Int nbytes, braid_BufferStatus bstatus)
{
   (void) bstatus;
   app->n.bufalloc++;
   *buffer = malloc((size_t) nbytes);
   return *buffer == NULL ? braid_ERROR_MEMORY : 0;
}

static int
my_BufFree(braid_App app, void **buffer)
{
   app->n.buffree++;
   free(*buffer);
   *buffer = NULL;
   return 0;
}

/* callbacks of unimplemented features: only their setters are exercised */
static int
my_Coarsen(braid_App app, braid_Vector fu, braid_Vector *cu_ptr, braid_CoarsenRefStatus status)
{
   (void) status;
   return my_Clone(app, fu, cu_ptr);
}

static int
my_FullResidual(braid_App app, braid_Vector ustop, braid_Vector r, braid_StepStatus status)
{
   (void) app;
   (void) ustop;
   (void) r;
   (void) status;
   return 0;
}

static int
my_StepDiff(braid_App app, braid_Vector ustop, braid_Vector u, braid_Vector ustop_bar,
            braid_Vector u_bar, braid_StepStatus status)
{
   (void) app;
   (void) ustop;
   (void) u;
   (void) ustop_bar;
   (void) u_bar;
   (void) status;
   return 0;
}

/* the setter of an unimplemented feature, asked for value v */
static int
call_off_setter(braid_Core core, const char *name, int v)
{
   if (!strcmp(name, "refine")) return braid_SetRefine(core, v);
   if (!strcmp(name, "scoarsen")) return braid_SetSpatialCoarsen(core, v ? my_Coarsen : NULL);
   if (!strcmp(name, "srefine")) return braid_SetSpatialRefine(core, v ? my_Coarsen : NULL);
   if (!strcmp(name, "richardson")) return braid_SetRichardsonEstimation(core, v, v, 2);
   if (!strcmp(name, "delta")) return braid_SetDeltaCorrection(core, v, NULL, NULL);
   if (!strcmp(name, "lyapunov")) return braid_SetLyapunovEstimation(core, v, v, v);
   if (!strcmp(name, "fullres")) return braid_SetFullRNormRes(core, v ? my_FullResidual : NULL);
   if (!strcmp(name, "reverted")) return braid_SetRevertedRanks(core, v);
   if (!strcmp(name, "incrmaxlevels")) return braid_SetIncrMaxLevels(core);
   if (!strcmp(name, "adjoint"))
      return braid_InitAdjoint(NULL, NULL, v ? my_StepDiff : NULL, NULL, &core);
   return -1;
}

static int
max_int(int a, int b)
{
   return a > b ? a : b;
}

static int
arg_int(int argc, char **argv, int *i)
{
   if (*i + 1 >= argc)
   {
      fprintf(stderr, "dahlquist: %s needs a value\n", argv[*i]);
      exit(2);
   }
   return atoi(argv[++(*i)]);
}

int
main(int argc, char *argv[])
{
   braid_Core core;
   my_App     app;
   int        ntime = 10, ml = 2, cf = 2, nu = 1, skip = 1, maxiter = 100, storage = -1;
   int        tnorm = 2, fmg = 0, seqsoln = 0, print = 0, history = 0, counts = 0, timing = 0;
   int        repeat = 1, myid, i, rc = 0, niter, nlevels, n, k, d;
   int        nuc = -1, relaxcg = 0, periodic = 0, shell = 0, bufalloc = 0, timings = 0;
   int        drives = 1, init_only = 0, off_value = 0, batch = -1;
   const char *timerfile = NULL, *off_name = NULL;
   double     tol = 1e-6, wall, best = -1.0;
   double    *rnorms;

   MPI_Init(&argc, &argv);
   MPI_Comm_rank(MPI_COMM_WORLD, &myid);
   memset(&app, 0, sizeof(app));
   app.lambda   = -1.0;
   app.stepform = 1;

   for (i = 1; i < argc; i++)
   {
      if (!strcmp(argv[i], "-ntime")) ntime = arg_int(argc, argv, &i);
      else if (!strcmp(argv[i], "-ml")) ml = arg_int(argc, argv, &i);
      else if (!strcmp(argv[i], "-cf")) cf = arg_int(argc, argv, &i);
      else if (!strcmp(argv[i], "-nu")) nu = arg_int(argc, argv, &i);
      else if (!strcmp(argv[i], "-skip")) skip = arg_int(argc, argv, &i);
      else if (!strcmp(argv[i], "-maxiter")) maxiter = arg_int(argc, argv, &i);
      else if (!strcmp(argv[i], "-storage")) storage = arg_int(argc, argv, &i);
      else if (!strcmp(argv[i], "-tnorm")) tnorm = arg_int(argc, argv, &i);
      else if (!strcmp(argv[i], "-stepform")) app.stepform = arg_int(argc, argv, &i) ? 1 : 0;
      else if (!strcmp(argv[i], "-print")) print = arg_int(argc, argv, &i);
      else if (!strcmp(argv[i], "-tol") && i + 1 < argc) tol = atof(argv[++i]);
      else if (!strcmp(argv[i], "-fmg")) fmg = 1;
      else if (!strcmp(argv[i], "-seqsoln")) seqsoln = 1;
      else if (!strcmp(argv[i], "-history")) history = 1;
      else if (!strcmp(argv[i], "-counts")) counts = 1;
      else if (!strcmp(argv[i], "-solution")) app.show_solution = 1;
      else if (!strcmp(argv[i], "-time")) timing = 1;
      else if (!strcmp(argv[i], "-repeat")) repeat = max_int(1, arg_int(argc, argv, &i));
      else if (!strcmp(argv[i], "-nuc")) nuc = arg_int(argc, argv, &i);
      else if (!strcmp(argv[i], "-batch")) batch = arg_int(argc, argv, &i);
      else if (!strcmp(argv[i], "-relaxcg")) relaxcg = 1;
      else if (!strcmp(argv[i], "-periodic")) periodic = 1;
      else if (!strcmp(argv[i], "-shell")) shell = 1;
      else if (!strcmp(argv[i], "-bufalloc")) bufalloc = 1;
      else if (!strcmp(argv[i], "-timings")) timings = arg_int(argc, argv, &i);
      else if (!strcmp(argv[i], "-timerfile") && i + 1 < argc) timerfile = argv[++i];
      else if (!strcmp(argv[i], "-drives")) drives = max_int(1, arg_int(argc, argv, &i));
      else if (!strcmp(argv[i], "-init-only")) init_only = 1;
      else if (!strcmp(argv[i], "-off") && i + 2 < argc)
      {
         off_name  = argv[++i];
         off_value = atoi(argv[++i]);
      }
      else if (!strcmp(argv[i], "-fail") && i + 2 < argc)
      {
         strncpy(app.fail_name, argv[++i], sizeof(app.fail_name) - 1);
         app.fail_at = atol(argv[++i]);
      }
      else
      {
         if (myid == 0) fprintf(stderr, "dahlquist: unknown option %s\n", argv[i]);
         MPI_Finalize();
         return 2;
      }
   }

   for (k = 0; k < repeat; k++)
   {
      if (k > 0)
      {
         braid_Destroy(core);
         memset(&app.n, 0, sizeof(app.n));
      }
      rc = braid_Init(MPI_COMM_WORLD, MPI_COMM_WORLD, 0.0, ntime / 2.0, ntime, &app, my_Step,
                      my_Init, my_Clone, my_Free, my_Sum, my_SpatialNorm, my_Access, my_BufSize,
                      my_BufPack, my_BufUnpack, &core);
      if (rc != 0)
      {
         if (myid == 0) printf("braid_Init returned %d\n", rc);
         MPI_Finalize();
         return rc;
      }
      if (init_only)
      {
         braid_Destroy(core);
         if (myid == 0) printf("destroyed without a drive\n");
         MPI_Finalize();
         return 0;
      }
      if (off_name != NULL)
      {
         rc = call_off_setter(core, off_name, off_value);
         if (myid == 0) printf("off %s %d returned %d\n", off_name, off_value, rc);
      }
      braid_SetPrintLevel(core, print);
      braid_SetFileIOLevel(core, 0);
      braid_SetMaxLevels(core, ml);
      braid_SetCFactor(core, -1, cf);
      app.cf = cf;
      braid_SetNRelax(core, -1, nu);
      braid_SetAbsTol(core, tol);
      braid_SetMaxIter(core, maxiter);
      braid_SetStorage(core, storage);
      braid_SetTemporalNorm(core, tnorm);
      if (seqsoln) braid_SetSeqSoln(core, 1);
      else braid_SetSkip(core, skip);
      if (fmg) braid_SetFMG(core);
      if (nuc >= 0) braid_SetNRelax(core, ml - 1, nuc);
      if (relaxcg) braid_SetRelaxOnlyCG(core, 1);
      if (periodic)
      {
         app.period = ntime / 2.0;
         braid_SetPeriodic(core, 1);
      }
      if (shell) braid_SetShell(core, my_SInit, my_SClone, my_SFree);
      if (batch >= 0) braid_SetStepBatch(core, my_StepBatch, batch);
      if (bufalloc) braid_SetBufAllocFree(core, my_BufAlloc, my_BufFree);
      if (timings) braid_SetTimings(core, timings);
      if (timerfile) braid_SetTimerFile(core, (int) strlen(timerfile), timerfile);

      wall = MPI_Wtime();
      for (d = 0; d < drives && rc == 0; d++)
      {
         rc = braid_Drive(core);
      }
      wall = MPI_Wtime() - wall;
      /* the slowest rank's time; the best of the repeats */
      MPI_Allreduce(MPI_IN_PLACE, &wall, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      if (best < 0.0 || wall < best) best = wall;
      if (rc != 0) break;
   }
   wall = best;

   braid_GetNumIter(core, &niter);
   braid_GetNLevels(core, &nlevels);
   rnorms = (double *) malloc(sizeof(double) * (niter + 1));
   n      = niter + 1;
   braid_GetRNorms(core, &n, rnorms);
   if (rc != 0)
   {
      printf("braid_Drive returned %d\n", rc);
   }
   if (myid == 0)
   {
      printf("niter %d\nnlevels %d\n", niter, nlevels);
      if (history)
      {
         for (i = 0; i < n; i++) printf("rnorm %.17g\n", rnorms[i]);
      }
      if (counts)
      {
         printf("count step %ld\ncount init %ld\ncount clone %ld\ncount free %ld\n", app.n.step,
                app.n.init, app.n.clone, app.n.free);
         printf("count sum %ld\ncount spatialnorm %ld\ncount access %ld\n", app.n.sum,
                app.n.norm, app.n.access);
         printf("count sinit %ld\ncount sclone %ld\ncount sfree %ld\n", app.n.sinit,
                app.n.sclone, app.n.sfree);
         printf("count bufalloc %ld\ncount buffree %ld\n", app.n.bufalloc, app.n.buffree);
         printf("count shell_misuse %ld\ncount ustop_shell_f %ld\ncount ustop_shell_c %ld\n",
                app.n.shell_misuse, app.n.ustop_shell_f, app.n.ustop_shell_c);
         if (batch >= 0) printf("count batches %ld\n", app.n.batches);
      }
      if (timing)
      {
         printf("seconds %.6e\nseconds_per_iter %.6e\n", wall, wall / (niter > 0 ? niter : 1));
      }
   }
   free(rnorms);
   braid_Destroy(core);
   MPI_Finalize();
   return rc;
}
