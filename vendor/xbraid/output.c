/*
 * output.c -- what the library prints and writes: runtime messages, the
 * statistics after a solve, the convergence history file, the timers of
 * braid_SetTimings, and the random numbers of braid_Rand.  Texts follow
 * upstream XBraid v3.1 so that an example prints the same with either library.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "_braid.h"

static void
_braid_VPrint(braid_Core core, const char *fmt, va_list ap)
{
   FILE *out = core->printfile ? core->printfile : stdout;

   vfprintf(out, fmt, ap);
   fflush(out);
}

/* printf to the print file, from world rank 0 only (the solver's reports) */
void
_braid_Print(braid_Core core, const char *fmt, ...)
{
   va_list ap;

   if (core->myid_world != 0)
   {
      return;
   }
   va_start(ap, fmt);
   _braid_VPrint(core, fmt, ap);
   va_end(ap);
}

/* printf from whichever rank calls (the setters' notices, as upstream prints them) */
void
_braid_PrintAny(braid_Core core, const char *fmt, ...)
{
   va_list ap;

   va_start(ap, fmt);
   _braid_VPrint(core, fmt, ap);
   va_end(ap);
}

/*
 * A setter asked for a feature this library does not implement.  Rank 0 says
 * which on stderr (and in the print file, if one is set); the caller gets
 * braid_ERROR_ARG and nothing changes.
 */
braid_Int
_braid_Unsupported(braid_Core core, const char *feature, const char *setter)
{
   const char *fmt = "braid: %s is not implemented by this library: %s accepts only the "
                     "value that keeps it off\n";

   if (core == NULL || core->myid_world == 0)
   {
      fprintf(stderr, fmt, feature, setter);
      fflush(stderr);
      if (core != NULL && core->printfile != NULL)
      {
         fprintf(core->printfile, fmt, feature, setter);
         fflush(core->printfile);
      }
   }
   return braid_ERROR_ARG;
}

/*
 * Print level 3: the residual norm of every fine C-point, gathered on rank 0
 * and printed in index order, as upstream does.  Like upstream it prints
 * ceil(gupper/cfactor)+1 lines; the norm of index 0 (never computed on a
 * non-periodic grid) and of a line past the last C-point read 0.
 */
braid_Int
_braid_PrintCPointNorms(braid_Core core, const braid_Real *norms, braid_Int n)
{
   long long   cf = core->grids[0].cfactor;
   braid_Int   total = (braid_Int) ((core->gupper + cf - 1) / cf) + 1, i;
   braid_Int   root[2] = {0, 0}; /* world rank of my rank 0, and its allocation result */
   braid_Int  *counts = NULL, *displs = NULL;
   braid_Real *all = NULL;

   if (core->myid == 0)
   {
      counts  = (braid_Int *) _braid_CAlloc((size_t) core->nprocs, sizeof(braid_Int));
      displs  = (braid_Int *) _braid_CAlloc((size_t) core->nprocs, sizeof(braid_Int));
      all     = (braid_Real *) _braid_CAlloc((size_t) total, sizeof(braid_Real));
      root[0] = core->myid_world;
      root[1] = (counts && displs && all) ? 0 : braid_ERROR_MEMORY;
   }
   /* every rank learns whether to print (only world rank 0's communicator does)
      and whether rank 0 could: then all take part in the gathers, or none */
   MPI_Bcast(root, 2, braid_MPI_INT, 0, core->comm);
   if (root[0] == 0 && root[1] == 0)
   {
      MPI_Gather(&n, 1, braid_MPI_INT, counts, 1, braid_MPI_INT, 0, core->comm);
      for (i = 1; core->myid == 0 && i < core->nprocs; i++)
      {
         displs[i] = displs[i - 1] + counts[i - 1];
      }
      MPI_Gatherv(norms, n, braid_MPI_REAL, all, counts, displs, braid_MPI_REAL, 0,
                  core->comm);
      for (i = 0; core->myid == 0 && i < total; i++)
      {
         _braid_Print(core, "  Braid:  time step: %6d, rnorm: %1.2e\n", (int) (i * cf), all[i]);
      }
   }
   free(counts);
   free(displs);
   free(all);
   return root[0] == 0 ? root[1] : 0;
}

/* ---------------------------------------------------------------- timers */

braid_Int
braid_SetTimings(braid_Core core, braid_Int timing_level)
{
   if (timing_level < 0)
   {
      return braid_ERROR_ARG;
   }
   core->timings = timing_level;
   return 0;
}

braid_Int
braid_SetTimerFile(braid_Core core, braid_Int length, const char *filestem)
{
   char *stem;

   if (length < 0 || filestem == NULL || length >= braid_Int_Max)
   {
      return braid_ERROR_ARG;
   }
   stem = (char *) _braid_CAlloc((size_t) length + 1, 1);
   if (stem == NULL)
   {
      return braid_ERROR_MEMORY;
   }
   memcpy(stem, filestem, (size_t) length);
   free(core->timer_file_stem);
   core->timer_file_stem = stem;
   return 0;
}

/* Zero every timer but the one of init, which only the first solve runs. */
braid_Int
braid_ResetTimer(braid_Core core)
{
   braid_Int k;

   for (k = 0; k < _braid_NTIMERS; k++)
   {
      if (k != _braid_TIMER_INIT)
      {
         core->timers[k] = 0.0;
      }
   }
   return 0;
}

/* Every rank writes its timers to <stem>_<world rank, 4 digits>.txt. */
braid_Int
braid_PrintTimers(braid_Core core)
{
   static const char *names[_braid_NTIMERS] = {
      "drive_init      ", "coarse solve    ", "step            ", "init            ",
      "clone           ", "free            ", "sum             ", "spatialnorm     ",
      "bufsize         ", "bufpack         ", "bufunpack       ", "access          ",
      "sync            ", "residual        ", "scoarsen        ", "srefine         ",
      "MPI_recv        ", "MPI_send        ", "MPI_wait        ", "MPI_wait_coarse "};
   size_t    len = strlen(core->timer_file_stem) + 16;
   char     *filename = (char *) _braid_CAlloc(len, 1);
   FILE     *fp;
   braid_Int k;

   if (filename == NULL)
   {
      return braid_ERROR_MEMORY;
   }
   sprintf(filename, "%s_%04d.txt", core->timer_file_stem, (int) core->myid_world);
   fp = fopen(filename, "w");
   if (fp == NULL)
   {
      _braid_PrintAny(core, "  Braid: Error: can't open timer output file %s\n", filename);
      free(filename);
      return braid_ERROR_ARG;
   }
   free(filename);
   fprintf(fp, "\nTimings for rank %d\n", (int) core->myid_world);
   for (k = 0; k < _braid_NTIMERS; k++)
   {
      /* a blank line after bufunpack and after srefine */
      fprintf(fp, "   %s %1.3e\n%s", names[k], core->timers[k],
              (k == _braid_TIMER_BUFUNPACK || k == _braid_TIMER_SREFINE) ? "\n" : "");
   }
   fclose(fp);
   return 0;
}

/* ------------------------------------------------------- after a solve */

braid_Int
braid_PrintStats(braid_Core core)
{
   braid_Int  level, last = core->nlevels - 1;
   braid_Real rnorm = core->rnorms[core->niter];
   const char *tnorms[] = {"1-norm", "2-norm", "Inf-norm"};

   if (core->myid_world != 0)
   {
      return 0;
   }
   _braid_Print(core, "\n");
   _braid_Print(core, "  Braid Solver Stats:\n");
   _braid_Print(core, "  start time = %e\n", core->tstart);
   _braid_Print(core, "  stop time  = %e\n", core->tstop);
   _braid_Print(core, "  time steps = %d\n", core->gupper);
   _braid_Print(core, "\n");
   _braid_Print(core, "  use seq soln?         = %d\n", core->seq_soln);
   _braid_Print(core, "  storage               = %d\n", core->storage);
   _braid_Print(core, "\n");
   _braid_Print(core, "  max iterations        = %d\n", core->max_iter);
   _braid_Print(core, "  iterations            = %d\n", core->niter);
   _braid_Print(core, "\n");
   _braid_Print(core, "  residual norm         = %e\n", rnorm);
   _braid_Print(core, "  stopping tolerance    = %e\n", core->tol);
   _braid_Print(core, "  use relative tol?     = %d\n", core->rtol);
   _braid_Print(core, "                                          --> %s TemporalNorm \n",
                tnorms[core->tnorm - 1]);
   _braid_Print(core, "\n");
   _braid_Print(core, "  use fmg?              = %d\n", core->fmg);
   if (core->fmg)
   {
      _braid_Print(core, "  V-cycles / FMG level  = %d\n", core->nfmg_Vcyc);
      if (core->nfmg != -1)
      {
         _braid_Print(core, "  number fmg cycles     = %d\n", core->nfmg);
      }
      else
      {
         _braid_Print(core, "  fmg-cycles for all iteratons\n");
      }
   }
   _braid_Print(core, "  access_level          = %d\n", core->access_level);
   _braid_Print(core, "  print_level           = %d\n\n", core->print_level);
   _braid_Print(core, "  max number of levels  = %d\n", core->max_levels);
   _braid_Print(core, "  min coarse            = %d\n", core->min_coarse);
   _braid_Print(core, "  number of levels      = %d\n", core->nlevels);
   _braid_Print(core, "  skip down cycle       = %d\n", core->skip);
   _braid_Print(core, "  periodic              = %d\n", core->periodic);
   _braid_Print(core, "  relax_only_cg         = %d\n", core->relax_only_cg);
   _braid_Print(core, "  finalFCRelax          = %d\n", core->final_fc_relax);
   _braid_Print(core, "  tracking timings      = %d\n", core->timings);
   _braid_Print(core, "  number of refinements = %d\n", 0);
   _braid_Print(core, "\n");
   _braid_Print(core, "  level   time-pts   cfactor   nrelax   Crelax Wt\n");
   for (level = 0; level < last; level++)
   {
      _braid_Print(core, "  % 5d  % 8d  % 7d   % 6d        %1.2f\n", level,
                   core->grids[level].gupper, core->grids[level].cfactor,
                   _braid_LevelNRelax(core, level), _braid_LevelCWt(core, level));
   }
   if (last >= 0 && core->relax_only_cg)
   {
      _braid_Print(core, "  % 5d  % 8d            % 6d        %1.2f\n", last,
                   core->grids[last].gupper, _braid_LevelNRelax(core, last),
                   _braid_LevelCWt(core, last));
   }
   else if (last >= 0)
   {
      _braid_Print(core, "  % 5d  % 8d  \n", last, core->grids[last].gupper);
   }
   _braid_Print(core, "\n");
   _braid_Print(core, "  wall time = %f\n", core->wall_time);
   _braid_Print(core, "\n");
   return 0;
}

braid_Int
braid_WriteConvHistory(braid_Core core, const char *filename)
{
   FILE     *f;
   braid_Int k, level, last = core->nlevels - 1;

   if (core->myid_world != 0)
   {
      return 0;
   }
   f = fopen(filename, "w");
   if (f == NULL)
   {
      return braid_ERROR_ARG;
   }
   fprintf(f, "# start time       = %e\n", core->tstart);
   fprintf(f, "# stop time        = %e\n", core->tstop);
   fprintf(f, "# time steps       = %d\n", core->gupper);
   fprintf(f, "# number of levels = %d\n", core->nlevels);
   fprintf(f, "#  level   time-pts   cfactor\n");
   for (level = 0; level < last; level++)
   {
      fprintf(f, "#  % 5d  % 8d  % 7d\n", level, core->grids[level].gupper,
              core->grids[level].cfactor);
   }
   if (last >= 0)
   {
      fprintf(f, "#  % 5d  % 8d  \n\n", last, core->grids[last].gupper);
   }
   fprintf(f, "# iter   residual norm\n");
   for (k = 0; k < core->niter; k++)
   {
      fprintf(f, "%03d      %1.14e\n", k, core->rnorms[k]);
   }
   fclose(f);
   return 0;
}

/*
 * The pseudo-random generator of the C standard's example rand(): the same
 * numbers on every machine with the same width of unsigned long, which is what
 * upstream's examples rely on (ex-02 draws its initial guess from it).
 */
static unsigned long _braid_rand_state = 1;

braid_Int
braid_Rand(void)
{
   _braid_rand_state = _braid_rand_state * 1103515245 + 12345;
   return (braid_Int) ((unsigned int) (_braid_rand_state / 65536) % braid_RAND_MAX);
}
