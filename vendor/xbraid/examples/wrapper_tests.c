/*
 * wrapper_tests.c -- drives the wrapper tests of braid_test.h with an app whose
 * callbacks are right, or broken on purpose, so that tests/test_wrapper_tests.py
 * can check that each broken callback fails the matching test.
 *
 * The app: u' = -lambda_i u_i (lambda_i = 1 + i), backward Euler, a vector of
 * -n values (8) split in blocks over the ranks of MPI_COMM_WORLD, which is the
 * spatial communicator of the tests (norms and inner products are global).
 *
 *   mpirun -n 2 ./wrapper_tests -test all -break sum-beta
 *
 * Options:
 *   -test WHICH   all (default), initaccess, clone, sum, spatialnorm, innerprod,
 *                 buf, coarsenrefine, residual, delta
 *   -t T          the time the tests start at (0)
 *   -null NAMES   pass NULL for these callbacks (comma-separated), e.g.
 *                 -null coarsen,refine
 *   -fpnull       the tests get fp = NULL (they print to stdout)
 *   -break WHAT   a broken callback: sum-beta (sum ignores beta), norm-square
 *                 (not homogeneous), norm-signed (sum of values), norm-triangle
 *                 (homogeneous, violates the triangle inequality), norm-rank1
 *                 (the square of the norm, on rank 1 only), clone-copy
 *                 (allocates, copies nothing), clone-shallow (shares u's values),
 *                 clone-alias (returns u), init-null (no vector), bufpack-drop
 *                 (packs half the values), bufpack-short (packs all, reports half
 *                 as the message size), bufpack-size (reports more bytes than
 *                 bufsize), residual (inconsistent with step),
 *                 coarsen-random (not deterministic), innerprod-first (ignores v),
 *                 basis-dependent (equal basis vectors)
 *   -fail NAME N  callback NAME returns 42 at its N-th call
 *   -fail-rank R  ... on rank R only (default: every rank)
 *
 * Output: the tests' log; "result NAME FLAG" (rank 0); "status ..." lines with
 * what the callbacks read from their status, and the number of NaN values
 * bufunpack found (rank 0); "live RANK K" with the
 * number of vectors not freed (every rank).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "braid.h"
#include "braid_test.h"

typedef struct _braid_App_struct
{
   MPI_Comm comm;
   int      rank, nlocal, offset; /* my block of the global vector */
   char     brk[32];
   char     fail_name[16];
   long     fail_at, fail_calls;
   int      fail_rank;            /* -1: every rank */
   long     live;                 /* vectors allocated and not freed */
   long     coarsen_calls;
} my_App;

typedef struct _braid_Vector_struct
{
   int     n;      /* local length */
   int     nfine;  /* local length of the fine vector this one coarsens (refine) */
   int    *refs;   /* clone-shallow: how many vectors share values; else NULL */
   double *values;
} my_Vector;

static int
broken(braid_App app, const char *what)
{
   return strcmp(app->brk, what) == 0;
}

/* Failure injection: 42 when callback `name` makes its fail_at-th call here. */
static int
injected(braid_App app, const char *name)
{
   if (app->fail_at <= 0 || strcmp(app->fail_name, name) != 0)
   {
      return 0;
   }
   if (app->fail_rank >= 0 && app->fail_rank != app->rank)
   {
      return 0;
   }
   return ++app->fail_calls == app->fail_at ? 42 : 0;
}

static my_Vector *
new_vector(braid_App app, int n)
{
   my_Vector *u = (my_Vector *) malloc(sizeof(my_Vector));

   u->n      = n;
   u->nfine  = n;
   u->refs   = NULL;
   u->values = (double *) calloc((size_t) (n > 0 ? n : 1), sizeof(double));
   app->live++;
   return u;
}

static double
global_sum(braid_App app, double local)
{
   double global = 0.0;

   MPI_Allreduce(&local, &global, 1, MPI_DOUBLE, MPI_SUM, app->comm);
   return global;
}

static int
my_Init(braid_App app, double t, braid_Vector *u_ptr)
{
   my_Vector *u;
   int        i;

   if (broken(app, "init-null"))
   {
      *u_ptr = NULL;
      return 0;
   }
   u = new_vector(app, app->nlocal);
   for (i = 0; i < u->n; i++)
   {
      u->values[i] = 1.0 + sin(1.0 + (app->offset + i) + 20.0 * t);
   }
   *u_ptr = u;
   return injected(app, "init");
}

static int
my_Clone(braid_App app, braid_Vector u, braid_Vector *v_ptr)
{
   my_Vector *v;

   if (broken(app, "clone-alias"))
   {
      *v_ptr = u;
      return injected(app, "clone");
   }
   if (broken(app, "clone-shallow"))
   {
      if (u->refs == NULL)
      {
         u->refs  = (int *) malloc(sizeof(int));
         *u->refs = 1;
      }
      v  = (my_Vector *) malloc(sizeof(my_Vector));
      *v = *u;
      (*v->refs)++;
      app->live++;
   }
   else
   {
      v        = new_vector(app, u->n);
      v->nfine = u->nfine;
      if (!broken(app, "clone-copy"))
      {
         memcpy(v->values, u->values, sizeof(double) * (size_t) u->n);
      }
   }
   *v_ptr = v;
   return injected(app, "clone");
}

/* frees even when it reports a failure, so that nothing leaks */
static int
my_Free(braid_App app, braid_Vector u)
{
   if (u->refs == NULL || --(*u->refs) == 0)
   {
      free(u->values);
      free(u->refs);
   }
   free(u);
   app->live--;
   return injected(app, "free");
}

static int
my_Sum(braid_App app, double alpha, braid_Vector x, double beta, braid_Vector y)
{
   int i;

   for (i = 0; i < y->n; i++)
   {
      if (broken(app, "sum-beta"))
      {
         y->values[i] = alpha * x->values[i] + y->values[i];
      }
      else
      {
         y->values[i] = alpha * x->values[i] + beta * y->values[i];
      }
   }
   return injected(app, "sum");
}

static int
my_SpatialNorm(braid_App app, braid_Vector u, double *norm_ptr)
{
   double local = 0.0;
   int    i;

   for (i = 0; i < u->n; i++)
   {
      if (broken(app, "norm-signed"))
      {
         local += u->values[i];
      }
      else if (broken(app, "norm-triangle"))
      {
         local += sqrt(fabs(u->values[i]));
      }
      else
      {
         local += u->values[i] * u->values[i];
      }
   }
   *norm_ptr = global_sum(app, local);
   if (broken(app, "norm-triangle"))
   {
      *norm_ptr = *norm_ptr * *norm_ptr;
   }
   else if (!broken(app, "norm-square") && !broken(app, "norm-signed") &&
            !(broken(app, "norm-rank1") && app->rank == 1))
   {
      *norm_ptr = sqrt(*norm_ptr);
   }
   return injected(app, "spatialnorm");
}

static int
my_InnerProd(braid_App app, braid_Vector u, braid_Vector v, double *prod_ptr)
{
   double local = 0.0;
   int    i;

   for (i = 0; i < u->n; i++)
   {
      local += u->values[i] * (broken(app, "innerprod-first") ? u : v)->values[i];
   }
   *prod_ptr = global_sum(app, local);
   return injected(app, "inner_prod");
}

static int
my_InitBasis(braid_App app, double t, int index, braid_Vector *u_ptr)
{
   my_Vector *u = new_vector(app, app->nlocal);
   int        i, k = broken(app, "basis-dependent") ? 0 : index;

   for (i = 0; i < u->n; i++)
   {
      u->values[i] = sin((k + 1.0) * (app->offset + i + 1.0) + t);
   }
   *u_ptr = u;
   return injected(app, "init_basis");
}

static int
my_Access(braid_App app, braid_Vector u, braid_AccessStatus astatus)
{
   double t;
   int    index, level, iter, done, ntpoints, nlevels, wtest, caller;

   (void) u;
   braid_AccessStatusGetT(astatus, &t);
   braid_AccessStatusGetTIndex(astatus, &index);
   braid_AccessStatusGetLevel(astatus, &level);
   braid_AccessStatusGetIter(astatus, &iter);
   braid_AccessStatusGetDone(astatus, &done);
   braid_AccessStatusGetNTPoints(astatus, &ntpoints);
   braid_AccessStatusGetNLevels(astatus, &nlevels);
   braid_AccessStatusGetWrapperTest(astatus, &wtest);
   braid_AccessStatusGetCallingFunction(astatus, &caller);
   if (app->rank == 0)
   {
      printf("status access t=%g index=%d level=%d iter=%d done=%d ntpoints=%d nlevels=%d "
             "wtest=%d caller=%d\n", t, index, level, iter, done, ntpoints, nlevels, wtest,
             caller);
   }
   return injected(app, "access");
}

static int
my_Step(braid_App app, braid_Vector ustop, braid_Vector fstop, braid_Vector u,
        braid_StepStatus status)
{
   double tstart, tstop, tol;
   int    i, index, level, ntpoints;

   (void) ustop;
   braid_StepStatusGetTstartTstop(status, &tstart, &tstop);
   braid_StepStatusGetTIndex(status, &index);
   braid_StepStatusGetLevel(status, &level);
   braid_StepStatusGetNTPoints(status, &ntpoints);
   braid_StepStatusGetTol(status, &tol);
   if (app->rank == 0)
   {
      printf("status step tstart=%g tstop=%g index=%d level=%d ntpoints=%d tol=%g\n", tstart,
             tstop, index, level, ntpoints, tol);
   }
   for (i = 0; i < u->n; i++)
   {
      if (fstop != NULL)
      {
         u->values[i] += fstop->values[i];
      }
      u->values[i] /= 1.0 + (tstop - tstart) * (1.0 + app->offset + i);
   }
   return injected(app, "step");
}

static int
my_Residual(braid_App app, braid_Vector ustop, braid_Vector r, braid_StepStatus status)
{
   double tstart, tstop, dt;
   int    i;

   braid_StepStatusGetTstartTstop(status, &tstart, &tstop);
   dt = (tstop - tstart) * (broken(app, "residual") ? 2.0 : 1.0);
   for (i = 0; i < r->n; i++)
   {
      r->values[i] = (1.0 + dt * (1.0 + app->offset + i)) * ustop->values[i] - r->values[i];
   }
   return injected(app, "residual");
}

static int
my_BufSize(braid_App app, int *size_ptr, braid_BufferStatus bstatus)
{
   int index, level, messagetype;

   braid_BufferStatusGetTIndex(bstatus, &index);
   braid_BufferStatusGetLevel(bstatus, &level);
   braid_BufferStatusGetMessageType(bstatus, &messagetype);
   if (app->rank == 0)
   {
      printf("status buffer index=%d level=%d messagetype=%d\n", index, level, messagetype);
   }
   *size_ptr = (int) sizeof(double) * (app->nlocal + 1);
   return injected(app, "bufsize");
}

static int
my_BufPack(braid_App app, braid_Vector u, void *buffer, braid_BufferStatus bstatus)
{
   double *dbuffer = (double *) buffer;
   int     i, n = u->n;

   if (broken(app, "bufpack-drop"))
   {
      n = u->n / 2;
   }
   dbuffer[0] = u->n;
   for (i = 0; i < n; i++)
   {
      dbuffer[i + 1] = u->values[i];
   }
   if (broken(app, "bufpack-size"))
   {
      braid_BufferStatusSetSize(bstatus, (double) (sizeof(double) * (size_t) (u->n + 2)));
   }
   else if (broken(app, "bufpack-short"))
   {
      braid_BufferStatusSetSize(bstatus, (double) (sizeof(double) * (size_t) (u->n / 2 + 1)));
   }
   else
   {
      braid_BufferStatusSetSize(bstatus, (double) (sizeof(double) * (size_t) (u->n + 1)));
   }
   return injected(app, "bufpack");
}

static int
my_BufUnpack(braid_App app, void *buffer, braid_Vector *u_ptr, braid_BufferStatus bstatus)
{
   double    *dbuffer = (double *) buffer;
   my_Vector *u       = new_vector(app, app->nlocal);
   int        i, nans = 0;

   (void) bstatus;
   for (i = 0; i < u->n; i++)
   {
      u->values[i] = dbuffer[i + 1];
      nans += isnan(u->values[i]) != 0;
   }
   if (app->rank == 0)
   {
      printf("status unpack nans=%d\n", nans);
   }
   *u_ptr = u;
   return injected(app, "bufunpack");
}

/* injection: the even local values; coarsen-random adds a different bit each call */
static int
my_Coarsen(braid_App app, braid_Vector fu, braid_Vector *cu_ptr, braid_CoarsenRefStatus status)
{
   my_Vector *cu = new_vector(app, (fu->n + 1) / 2);
   int        i;

   (void) status;
   cu->nfine = fu->n;
   for (i = 0; i < cu->n; i++)
   {
      cu->values[i] = fu->values[2 * i];
   }
   if (broken(app, "coarsen-random"))
   {
      cu->values[0] += 1e-3 * (double) (++app->coarsen_calls);
   }
   *cu_ptr = cu;
   return injected(app, "coarsen");
}

static int
my_Refine(braid_App app, braid_Vector cu, braid_Vector *fu_ptr, braid_CoarsenRefStatus status)
{
   my_Vector *fu = new_vector(app, cu->nfine);
   int        i;

   (void) status;
   for (i = 0; i < fu->n; i++)
   {
      fu->values[i] = cu->values[i / 2];
   }
   *fu_ptr = fu;
   return injected(app, "refine");
}

/* 1 if `name` is in the comma-separated list `names` */
static int
listed(const char *names, const char *name)
{
   size_t n = strlen(name);

   while (names != NULL && *names)
   {
      if (!strncmp(names, name, n) && (names[n] == ',' || names[n] == '\0'))
      {
         return 1;
      }
      names = strchr(names, ',');
      names = names ? names + 1 : NULL;
   }
   return 0;
}

int
main(int argc, char *argv[])
{
   my_App      app;
   const char *which = "all", *nulls = "";
   FILE       *fp    = stdout;
   int         nglobal = 8, nprocs, arg, result = 0;
   double      t = 0.0, fdt = 0.1, cdt = 0.2;
   long        live;

   braid_PtFcnInit        init;
   braid_PtFcnFree        myfree;
   braid_PtFcnClone       clone;
   braid_PtFcnSum         sum;
   braid_PtFcnSpatialNorm spatialnorm;
   braid_PtFcnAccess      access;
   braid_PtFcnBufSize     bufsize;
   braid_PtFcnBufPack     bufpack;
   braid_PtFcnBufUnpack   bufunpack;
   braid_PtFcnStep        step;
   braid_PtFcnResidual    residual;
   braid_PtFcnSCoarsen    coarsen;
   braid_PtFcnSRefine     refine;
   braid_PtFcnInnerProd   inner_prod;
   braid_PtFcnInitBasis   init_basis;

   MPI_Init(&argc, &argv);
   memset(&app, 0, sizeof(app));
   app.comm      = MPI_COMM_WORLD;
   app.fail_rank = -1;
   MPI_Comm_rank(app.comm, &app.rank);
   MPI_Comm_size(app.comm, &nprocs);
   for (arg = 1; arg < argc; arg++)
   {
      if (!strcmp(argv[arg], "-test") && arg + 1 < argc)
      {
         which = argv[++arg];
      }
      else if (!strcmp(argv[arg], "-n") && arg + 1 < argc)
      {
         nglobal = atoi(argv[++arg]);
      }
      else if (!strcmp(argv[arg], "-t") && arg + 1 < argc)
      {
         t = atof(argv[++arg]);
      }
      else if (!strcmp(argv[arg], "-null") && arg + 1 < argc)
      {
         nulls = argv[++arg];
      }
      else if (!strcmp(argv[arg], "-fpnull"))
      {
         fp = NULL;
      }
      else if (!strcmp(argv[arg], "-break") && arg + 1 < argc)
      {
         snprintf(app.brk, sizeof(app.brk), "%s", argv[++arg]);
      }
      else if (!strcmp(argv[arg], "-fail") && arg + 2 < argc)
      {
         snprintf(app.fail_name, sizeof(app.fail_name), "%s", argv[++arg]);
         app.fail_at = atol(argv[++arg]);
      }
      else if (!strcmp(argv[arg], "-fail-rank") && arg + 1 < argc)
      {
         app.fail_rank = atoi(argv[++arg]);
      }
      else
      {
         if (app.rank == 0)
         {
            fprintf(stderr, "wrapper_tests: unknown option %s\n", argv[arg]);
         }
         MPI_Finalize();
         return 2;
      }
   }
   /* block distribution of the nglobal values */
   app.nlocal = nglobal / nprocs + (app.rank < nglobal % nprocs);
   app.offset = app.rank * (nglobal / nprocs) + (app.rank < nglobal % nprocs ? app.rank
                                                                             : nglobal % nprocs);

   init        = listed(nulls, "init") ? NULL : my_Init;
   myfree      = listed(nulls, "free") ? NULL : my_Free;
   clone       = listed(nulls, "clone") ? NULL : my_Clone;
   sum         = listed(nulls, "sum") ? NULL : my_Sum;
   spatialnorm = listed(nulls, "spatialnorm") ? NULL : my_SpatialNorm;
   access      = listed(nulls, "access") ? NULL : my_Access;
   bufsize     = listed(nulls, "bufsize") ? NULL : my_BufSize;
   bufpack     = listed(nulls, "bufpack") ? NULL : my_BufPack;
   bufunpack   = listed(nulls, "bufunpack") ? NULL : my_BufUnpack;
   step        = listed(nulls, "step") ? NULL : my_Step;
   residual    = listed(nulls, "residual") ? NULL : my_Residual;
   coarsen     = listed(nulls, "coarsen") ? NULL : my_Coarsen;
   refine      = listed(nulls, "refine") ? NULL : my_Refine;
   inner_prod  = listed(nulls, "inner_prod") ? NULL : my_InnerProd;
   init_basis  = listed(nulls, "init_basis") ? NULL : my_InitBasis;

   if (!strcmp(which, "all"))
   {
      result = braid_TestAll(&app, app.comm, fp, t, fdt, cdt, init, myfree, clone, sum,
                             spatialnorm, bufsize, bufpack, bufunpack, coarsen, refine, residual,
                             step);
   }
   else if (!strcmp(which, "initaccess"))
   {
      result = braid_TestInitAccess(&app, app.comm, fp, t, init, access, myfree);
   }
   else if (!strcmp(which, "clone"))
   {
      result = braid_TestClone(&app, app.comm, fp, t, init, access, myfree, clone);
   }
   else if (!strcmp(which, "sum"))
   {
      result = braid_TestSum(&app, app.comm, fp, t, init, access, myfree, clone, sum);
   }
   else if (!strcmp(which, "spatialnorm"))
   {
      result = braid_TestSpatialNorm(&app, app.comm, fp, t, init, myfree, clone, sum,
                                     spatialnorm);
   }
   else if (!strcmp(which, "innerprod"))
   {
      result = braid_TestInnerProd(&app, app.comm, fp, t, t + fdt, init, myfree, sum,
                                   inner_prod);
   }
   else if (!strcmp(which, "buf"))
   {
      result = braid_TestBuf(&app, app.comm, fp, t, init, myfree, sum, spatialnorm, bufsize,
                             bufpack, bufunpack);
   }
   else if (!strcmp(which, "coarsenrefine"))
   {
      result = braid_TestCoarsenRefine(&app, app.comm, fp, t, fdt, cdt, init, access, myfree,
                                       clone, sum, spatialnorm, coarsen, refine);
   }
   else if (!strcmp(which, "residual"))
   {
      result = braid_TestResidual(&app, app.comm, fp, t, fdt, init, access, myfree, clone, sum,
                                  spatialnorm, residual, step);
   }
   else if (!strcmp(which, "delta"))
   {
      result = braid_TestDelta(&app, app.comm, fp, t, fdt, 3, init, init_basis, access, myfree,
                               clone, sum, bufsize, bufpack, bufunpack, inner_prod, step);
   }
   else
   {
      if (app.rank == 0)
      {
         fprintf(stderr, "wrapper_tests: unknown test %s\n", which);
      }
      MPI_Finalize();
      return 2;
   }

   if (app.rank == 0)
   {
      printf("result %s %d\n", which, result);
   }
   fflush(stdout);
   /* one line per rank, in rank order */
   for (arg = 0; arg < nprocs; arg++)
   {
      MPI_Barrier(app.comm);
      if (arg == app.rank)
      {
         live = app.live;
         printf("live %d %ld\n", app.rank, live);
         fflush(stdout);
      }
   }
   MPI_Finalize();
   return 0;
}
