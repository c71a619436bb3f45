/*
 * core.c -- creating and destroying a core, options, and the results getters.
 */
#include <stdlib.h>
#include <string.h>
#include "_braid.h"

void *
_braid_CAlloc(size_t count, size_t size)
{
   /* calloc checks count*size for overflow; zeroed so vector arrays start NULL */
   return calloc(count > 0 ? count : 1, size > 0 ? size : 1);
}

braid_Int
braid_Init(MPI_Comm comm_world, MPI_Comm comm, braid_Real tstart, braid_Real tstop,
           braid_Int ntime, braid_App app, braid_PtFcnStep step, braid_PtFcnInit init,
           braid_PtFcnClone clone, braid_PtFcnFree free, braid_PtFcnSum sum,
           braid_PtFcnSpatialNorm spatialnorm, braid_PtFcnAccess access,
           braid_PtFcnBufSize bufsize, braid_PtFcnBufPack bufpack,
           braid_PtFcnBufUnpack bufunpack, braid_Core *core_ptr)
{
   braid_Core core;
   braid_Int  k;

   *core_ptr = NULL;
   /* ntime+2 time values are held on one rank at most: keep that an int */
   if (ntime < 1 || ntime > braid_Int_Max - 2 || step == NULL || init == NULL ||
       clone == NULL || free == NULL || sum == NULL || spatialnorm == NULL || bufsize == NULL || bufpack == NULL ||
       bufunpack == NULL)
   {
      return braid_ERROR_ARG;
   }
   core = (braid_Core) _braid_CAlloc(1, sizeof(*core));
   if (core == NULL)
   {
      return braid_ERROR_MEMORY;
   }

   core->comm_world = comm_world;
   core->comm       = comm;
   MPI_Comm_rank(comm, &core->myid);
   MPI_Comm_size(comm, &core->nprocs);
   MPI_Comm_rank(comm_world, &core->myid_world);

   core->tstart = tstart;
   core->tstop  = tstop;
   core->ntime  = ntime;
   core->gupper = ntime;
   core->app    = app;

   core->step        = step;
   core->init        = init;
   core->clone       = clone;
   core->free        = free;
   core->sum         = sum;
   core->spatialnorm = spatialnorm;
   core->access      = access;
   core->bufsize     = bufsize;
   core->bufpack     = bufpack;
   core->bufunpack   = bufunpack;

   /* XBraid v3.1 defaults */
   core->max_levels     = 30;
   core->min_coarse     = 2;
   core->relax_only_cg  = 0;
   core->tol            = 1.0e-09;
   core->rtol           = 1;
   core->max_iter       = 100;
   core->skip           = 1;
   core->fmg            = 0;
   core->nfmg           = -1;
   core->nfmg_Vcyc      = 1;
   core->storage        = -1;
   core->tnorm          = 2;
   core->seq_soln       = 0;
   core->access_level   = 1;
   core->print_level    = 2;
   core->io_level       = 1;
   core->final_fc_relax = 0;
   core->resid_compute  = 1;
   core->nrdefault      = 1;
   core->cfdefault      = 2;
   core->CWt_default    = 1.0;

   core->nlevel_opts = core->max_levels;
   core->nrels       = (braid_Int *) _braid_CAlloc(core->nlevel_opts, sizeof(braid_Int));
   core->cfactors    = (braid_Int *) _braid_CAlloc(core->nlevel_opts, sizeof(braid_Int));
   core->CWts        = (braid_Real *) _braid_CAlloc(core->nlevel_opts, sizeof(braid_Real));
   core->rnorms      = (braid_Real *) _braid_CAlloc(core->max_iter + 1, sizeof(braid_Real));
   core->timer_file_stem = (char *) _braid_CAlloc(sizeof("braid_timings"), 1);
   if (!core->nrels || !core->cfactors || !core->CWts || !core->rnorms ||
       !core->timer_file_stem)
   {
      core->drives = 1; /* not a user's Init+Destroy: nothing to report */
      braid_Destroy(core);
      return braid_ERROR_MEMORY;
   }
   strcpy(core->timer_file_stem, "braid_timings");
   for (k = 0; k < core->nlevel_opts; k++)
   {
      core->nrels[k]    = -1;
      core->cfactors[k] = 0;
      core->CWts[k]     = -1.0;
   }
   for (k = 0; k <= core->max_iter; k++)
   {
      core->rnorms[k] = braid_INVALID_RNORM;
   }
   core->rnorm0 = braid_INVALID_RNORM;
   core->rnorm  = braid_INVALID_RNORM;
   core->size_buffer = -1.0;

   *core_ptr = core;
   return 0;
}

braid_Int
braid_Destroy(braid_Core core)
{
   braid_Int rc = 0;

   if (core == NULL)
   {
      return 0;
   }
#ifdef BRAID_STANDIN_UPSTREAM
   /* upstream reads the fine grid that only braid_Drive creates */
   if (core->drives == 0)
   {
      fprintf(stderr, "braid stand-in: braid_Destroy of a core that never ran braid_Drive "
              "(crashes upstream XBraid)\n");
      fflush(stderr);
      abort();
   }
#endif
   if (core->initialized)
   {
      rc = _braid_FreeAllVectors(core);
   }
   _braid_DestroyHierarchy(core);
   free(core->nrels);
   free(core->cfactors);
   free(core->CWts);
   free(core->rnorms);
   free(core->timer_file_stem);
   _braid_FreeStepBatch(core);
   if (core->printfile != NULL)
   {
      fclose(core->printfile);
   }
   free(core);
   return rc;
}

/* -------------------------------------------------- per-level options */

/* Grow the per-level option arrays so that index `level` exists. */
static braid_Int
_braid_ReserveLevelOpts(braid_Core core, braid_Int level)
{
   braid_Int   n = core->nlevel_opts, k;
   braid_Int  *nrels, *cfactors;
   braid_Real *CWts;

   if (level < n)
   {
      return 0;
   }
   if (level >= braid_Int_Max - 1)
   {
      return braid_ERROR_ARG;
   }
   n        = level + 1;
   nrels    = (braid_Int *) realloc(core->nrels, sizeof(braid_Int) * n);
   if (nrels == NULL) return braid_ERROR_MEMORY;
   core->nrels = nrels;
   cfactors = (braid_Int *) realloc(core->cfactors, sizeof(braid_Int) * n);
   if (cfactors == NULL) return braid_ERROR_MEMORY;
   core->cfactors = cfactors;
   CWts     = (braid_Real *) realloc(core->CWts, sizeof(braid_Real) * n);
   if (CWts == NULL) return braid_ERROR_MEMORY;
   core->CWts = CWts;
   for (k = core->nlevel_opts; k < n; k++)
   {
      core->nrels[k]    = -1;
      core->cfactors[k] = 0;
      core->CWts[k]     = -1.0;
   }
   core->nlevel_opts = n;
   return 0;
}

braid_Int
_braid_LevelNRelax(braid_Core core, braid_Int level)
{
   if (level < core->nlevel_opts && core->nrels[level] >= 0)
   {
      return core->nrels[level];
   }
   return core->nrdefault;
}

braid_Int
_braid_LevelCFactor(braid_Core core, braid_Int level)
{
   if (level < core->nlevel_opts && core->cfactors[level] > 0)
   {
      return core->cfactors[level];
   }
   return core->cfdefault;
}

braid_Real
_braid_LevelCWt(braid_Core core, braid_Int level)
{
   if (level < core->nlevel_opts && core->CWts[level] >= 0.0)
   {
      return core->CWts[level];
   }
   return core->CWt_default;
}

/* ------------------------------------------------------------ setters */

braid_Int
braid_SetMaxLevels(braid_Core core, braid_Int max_levels)
{
   if (max_levels < 1)
   {
      return braid_ERROR_ARG;
   }
   /* no array grows here: a level without its own options uses the defaults */
   core->max_levels = max_levels;
   return 0;
}

braid_Int
braid_SetMinCoarse(braid_Core core, braid_Int min_coarse)
{
   core->min_coarse = min_coarse;
   return 0;
}

braid_Int
braid_SetRelaxOnlyCG(braid_Core core, braid_Int relax_only_cg)
{
   core->relax_only_cg = relax_only_cg;
   return 0;
}

braid_Int
braid_SetAbsTol(braid_Core core, braid_Real atol)
{
   core->tol  = atol;
   core->rtol = 0;
   return 0;
}

braid_Int
braid_SetRelTol(braid_Core core, braid_Real rtol)
{
   core->tol  = rtol;
   core->rtol = 1;
   return 0;
}

braid_Int
braid_SetNRelax(braid_Core core, braid_Int level, braid_Int nrelax)
{
   if (nrelax < 0)
   {
      return braid_ERROR_ARG;
   }
   if (level < 0)
   {
      core->nrdefault = nrelax;
      return 0;
   }
   _braid_Check(_braid_ReserveLevelOpts(core, level));
   core->nrels[level] = nrelax;
   return 0;
}

braid_Int
braid_SetCRelaxWt(braid_Core core, braid_Int level, braid_Real Cwt)
{
   if (level < 0)
   {
      core->CWt_default = Cwt;
      return 0;
   }
   _braid_Check(_braid_ReserveLevelOpts(core, level));
   core->CWts[level] = Cwt;
   return 0;
}

braid_Int
braid_SetCFactor(braid_Core core, braid_Int level, braid_Int cfactor)
{
   if (cfactor < 2)
   {
      return braid_ERROR_ARG;
   }
   if (level < 0)
   {
      core->cfdefault = cfactor;
      return 0;
   }
   _braid_Check(_braid_ReserveLevelOpts(core, level));
   core->cfactors[level] = cfactor;
   return 0;
}

braid_Int
braid_SetMaxIter(braid_Core core, braid_Int max_iter)
{
   braid_Real *rnorms;
   braid_Int   k;

   if (max_iter < 0 || max_iter >= braid_Int_Max)
   {
      return braid_ERROR_ARG;
   }
   if ((size_t) max_iter + 1 > (size_t) -1 / sizeof(braid_Real))
   {
      return braid_ERROR_MEMORY;
   }
   rnorms = (braid_Real *) realloc(core->rnorms, sizeof(braid_Real) * ((size_t) max_iter + 1));
   if (rnorms == NULL)
   {
      return braid_ERROR_MEMORY;
   }
   for (k = core->max_iter + 1; k <= max_iter; k++)
   {
      rnorms[k] = braid_INVALID_RNORM;
   }
   core->rnorms   = rnorms;
   core->max_iter = max_iter;
   if (core->niter > max_iter)
   {
      core->niter = max_iter;
   }
   return 0;
}

braid_Int
braid_SetFMG(braid_Core core)
{
   core->fmg = 1;
   return 0;
}

braid_Int
braid_SetNFMG(braid_Core core, braid_Int k)
{
   core->fmg  = 1;
   core->nfmg = k;
   return 0;
}

braid_Int
braid_SetNFMGVcyc(braid_Core core, braid_Int nfmg_Vcyc)
{
   if (nfmg_Vcyc < 1)
   {
      return braid_ERROR_ARG;
   }
   core->nfmg_Vcyc = nfmg_Vcyc;
   return 0;
}

braid_Int
braid_SetSkip(braid_Core core, braid_Int skip)
{
   /* a sequential initial guess has no down-cycle to skip */
   if (core->seq_soln == 0)
   {
      core->skip = skip;
   }
   else if (skip == 1)
   {
      _braid_PrintAny(core, "  Braid: The skip option is not compatible with SeqSoln option\n");
   }
   return 0;
}

braid_Int
braid_SetStorage(braid_Core core, braid_Int storage)
{
   if (storage < -2)
   {
      return braid_ERROR_ARG;
   }
   core->storage = storage;
   return 0;
}

braid_Int
braid_SetTemporalNorm(braid_Core core, braid_Int tnorm)
{
   if (tnorm < 1 || tnorm > 3)
   {
      return braid_ERROR_ARG;
   }
   core->tnorm = tnorm;
   return 0;
}

braid_Int
braid_SetResidual(braid_Core core, braid_PtFcnResidual residual)
{
   core->residual = residual;
   return 0;
}

braid_Int
braid_SetResidualComputation(braid_Core core, braid_Int resid_compute)
{
   core->resid_compute = resid_compute;
   return 0;
}

braid_Int
braid_SetTimeGrid(braid_Core core, braid_PtFcnTimeGrid tgrid)
{
   core->tgrid = tgrid;
   return 0;
}

braid_Int
braid_SetSync(braid_Core core, braid_PtFcnSync sync)
{
   core->sync = sync;
   return 0;
}

/* [ours] */
braid_Int
braid_SetStepBatch(braid_Core core, braid_PtFcnStepBatch step_batch, braid_Int max_batch)
{
   if (max_batch < 0)
   {
      return braid_ERROR_ARG;
   }
   core->step_batch = step_batch;
   core->max_batch  = max_batch;
   return 0;
}

braid_Int
braid_SetSeqSoln(braid_Core core, braid_Int seq_soln)
{
   core->seq_soln = seq_soln;
   if (seq_soln == 1)
   {
      if (core->skip == 1)
      {
         core->skip = 0;
         _braid_PrintAny(core, "  Braid: SetSeqSoln requires skip turned off, turning off now\n");
      }
      if (core->periodic == 1)
      {
         (void) braid_SetPeriodic(core, 0);
         _braid_PrintAny(core,
                         "  Braid: SetSeqSoln requires periodic turned off, turning off now\n");
      }
   }
   return 0;
}

braid_Int
braid_SetPrintLevel(braid_Core core, braid_Int print_level)
{
   core->print_level = print_level;
   return 0;
}

braid_Int
braid_SetFileIOLevel(braid_Core core, braid_Int io_level)
{
   core->io_level = io_level;
   return 0;
}

braid_Int
braid_SetPrintFile(braid_Core core, const char *printfile_name)
{
   FILE *f;

   if (core->myid_world != 0)
   {
      return 0;
   }
   f = fopen(printfile_name, "w");
   if (f == NULL)
   {
      return braid_ERROR_ARG;
   }
   if (core->printfile != NULL)
   {
      fclose(core->printfile);
   }
   core->printfile = f;
   return 0;
}

braid_Int
braid_SetDefaultPrintFile(braid_Core core)
{
   return braid_SetPrintFile(core, "braid_runtime.out");
}

braid_Int
braid_SetAccessLevel(braid_Core core, braid_Int access_level)
{
   core->access_level = access_level;
   return 0;
}

braid_Int
braid_SetFinalFCRelax(braid_Core core)
{
   core->final_fc_relax = 1;
   return 0;
}

braid_Int
braid_SetPeriodic(braid_Core core, braid_Int periodic)
{
   /* the grid changes only at the first braid_Drive */
   if (core->initialized)
   {
      return braid_ERROR_ARG;
   }
   core->periodic = 0;
   core->gupper   = core->ntime;
   if (periodic && core->seq_soln == 0)
   {
      if (core->ntime < 2)
      {
         return braid_ERROR_ARG;
      }
      core->periodic = 1;
      core->gupper   = core->ntime - 1;
   }
   else if (periodic == 1)
   {
      _braid_PrintAny(core,
                      "  Braid: Periodic option is not compatible with SeqSoln option, disabling\n");
   }
   return 0;
}

braid_Int
braid_SetBufAllocFree(braid_Core core, braid_PtFcnBufAlloc bufalloc, braid_PtFcnBufFree buffree)
{
   /* both or neither: a buffer from the user's allocator goes back to the user */
   if ((bufalloc == NULL) != (buffree == NULL))
   {
      return braid_ERROR_ARG;
   }
   core->bufalloc = bufalloc;
   core->buffree  = buffree;
   return 0;
}

braid_Int
braid_SetShell(braid_Core core, braid_PtFcnSInit sinit, braid_PtFcnSClone sclone,
               braid_PtFcnSFree sfree)
{
   if (core->initialized || sinit == NULL || sclone == NULL || sfree == NULL)
   {
      return braid_ERROR_ARG;
   }
   core->sinit    = sinit;
   core->sclone   = sclone;
   core->sfree    = sfree;
   core->useshell = 1;
   return 0;
}

/* ------------------------------------------------------------ getters */

braid_Int
braid_GetNumIter(braid_Core core, braid_Int *niter_ptr)
{
   *niter_ptr = core->niter;
   return 0;
}

braid_Int
braid_GetNLevels(braid_Core core, braid_Int *nlevels_ptr)
{
   *nlevels_ptr = core->nlevels;
   return 0;
}

braid_Int
braid_GetMyID(braid_Core core, braid_Int *myid_ptr)
{
   *myid_ptr = core->myid;
   return 0;
}

/* Copy from the first `have` history entries: n > 0 asks for the first n,
   n < 0 for the last |n|; on return n is the number copied. */
braid_Int
_braid_CopyRNorms(braid_Core core, braid_Int have, braid_Int *nrequest_ptr, braid_Real *rnorms)
{
   braid_Int n = *nrequest_ptr, first, k;

   have = _braid_Min(have, core->max_iter + 1);
   if (n >= 0)
   {
      n     = _braid_Min(n, have);
      first = 0;
   }
   else
   {
      n     = _braid_Min(-n, have);
      first = have - n;
   }
   for (k = 0; k < n; k++)
   {
      rnorms[k] = core->rnorms[first + k];
   }
   if (n == 0)
   {
      rnorms[0] = braid_INVALID_RNORM;
   }
   *nrequest_ptr = n;
   return 0;
}

/* The history of a solve has niter+1 entries. */
braid_Int
braid_GetRNorms(braid_Core core, braid_Int *nrequest_ptr, braid_Real *rnorms)
{
   return _braid_CopyRNorms(core, core->niter + 1, nrequest_ptr, rnorms);
}

braid_Int
braid_SplitCommworld(const MPI_Comm *comm_world, braid_Int px, MPI_Comm *comm_x,
                     MPI_Comm *comm_t)
{
   int myid, size;

   MPI_Comm_rank(*comm_world, &myid);
   MPI_Comm_size(*comm_world, &size);
   if (px < 1 || size % px != 0)
   {
      return braid_ERROR_ARG;
   }
   MPI_Comm_split(*comm_world, myid / px, myid, comm_x);
   MPI_Comm_split(*comm_world, myid % px, myid, comm_t);
   return 0;
}

