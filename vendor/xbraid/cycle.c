/*
 * cycle.c -- braid_Drive: set-up, the V/F-cycle state machine, the
 * convergence test and the final sweep.
 */
#include <math.h>
#include "_braid.h"

/* Build the hierarchy and the fine initial guess (first solve only). */
static braid_Int
_braid_Setup(braid_Core core)
{
   _braid_Check(_braid_BuildHierarchy(core));
   core->initialized = 1;
   core->iter        = 0;
   core->done        = 0;
   _braid_Check(_braid_InitGuess(core));
   return _braid_BaseSync(core, braid_ASCaller_Drive_AfterInit);
}

/* The residual line printed at the top of each cycle. */
static void
_braid_PrintIteration(braid_Core core)
{
   braid_Int  iter  = core->iter;
   braid_Real r     = core->rnorms[iter];
   braid_Real wtime = MPI_Wtime() - core->wall_start;
   braid_Real prev  = iter > 0 ? core->rnorms[iter - 1] : braid_INVALID_RNORM;

   if (core->print_level < 1)
   {
      return;
   }
   if (r != braid_INVALID_RNORM)
   {
      _braid_Print(core, "  Braid: || r_%d || = %1.6e, conv factor = %1.2e, wall time = %1.2e\n",
                   iter, r, prev != braid_INVALID_RNORM ? r / prev : 1.0, wtime);
   }
   else
   {
      _braid_Print(core, "  Braid: || r_%d || not available, wall time = %1.2e\n", iter,
                   wtime);
   }
}

/* Top of a cycle on level 0: report, and decide whether to stop. */
static braid_Int
_braid_TopOfCycle(braid_Core core)
{
   braid_Real r, tol;

   _braid_Check(_braid_BaseSync(core, braid_ASCaller_Drive_TopCycle));
   if (core->access_level >= 2)
   {
      _braid_Check(_braid_FAccess(core, 0, 0));
   }
   _braid_PrintIteration(core);

   r   = core->rnorms[core->iter];
   tol = core->rtol ? core->tol * core->rnorm0 : core->tol;
   if (r != braid_INVALID_RNORM && r < tol)
   {
      core->done = 1;
   }
   else if (isnan(r))
   {
      if (core->print_level >= 1)
      {
         _braid_Print(core, "  Braid: Iterations diverged.\n");
      }
      core->done = 1;
   }
   if (core->iter >= core->max_iter - 1)
   {
      if (core->print_level >= 1)
      {
         _braid_Print(core, "  Braid: Max. iterations reached.\n\n");
      }
      core->done = 1;
   }
   core->iter++;
   return 0;
}

static void
_braid_WriteCycleLine(braid_Core core, FILE *f, braid_Int level)
{
   braid_Real tol = core->rtol ? core->tol * core->rnorm0 : core->tol;

   if (f != NULL)
   {
      fprintf(f, "%d %d %d %d %1.15e %1.15e\n", level, 0, core->iter, core->gupper,
              core->rnorms[core->iter], tol);
   }
}

/* FInterp from the coarsest level is the coarse solve: timed apart (braid_SetTimings). */
static braid_Int
_braid_Interpolate(braid_Core core, braid_Int level)
{
   braid_Real t0 = _braid_TimerStart(core);
   braid_Int  rc = _braid_FInterp(core, level);

   if (level == core->nlevels - 1)
   {
      _braid_TimerStop(core, _braid_TIMER_COARSE_SOLVE, t0);
   }
   return rc;
}

/*
 * The cycle loop: V-cycles, or F-cycles with braid_SetFMG.  `skip` is a cheap
 * start from an initial guess; a warm restart starts from a solution instead,
 * which the un-corrected coarse solve of the skipped cycle would throw away.
 */
static braid_Int
_braid_Cycle(braid_Core core, FILE *cyclefile, braid_Int skip)
{
   braid_Int nlevels = core->nlevels;
   braid_Int level = 0, down = 1, try_refine = 0, fmg_v = 0, fmglevel;

   core->done = (core->max_levels <= 1 && !core->relax_only_cg) || core->max_iter == 0;
   if (skip)
   {
      level = nlevels - 1;
      _braid_Check(_braid_CopyFineToCoarse(core));
   }
   fmglevel = (core->fmg && core->nfmg != 0) ? nlevels - 1 : 0;

   while (!core->done)
   {
      /* one level only: every iteration is a sequential solve, or nrelax
         FC-sweeps when the coarsest level is solved by relaxation */
      if (nlevels == 1)
      {
         _braid_Check(_braid_FCRelax(core, 0,
                                     core->relax_only_cg ? _braid_LevelNRelax(core, 0) : 1, 0));
         core->rnorms[core->iter] = 0.0;
         if (core->rnorm0 == braid_INVALID_RNORM)
         {
            core->rnorm0 = 0.0;
         }
      }
      _braid_WriteCycleLine(core, cyclefile, level);

      /* direction */
      if (down && level == nlevels - 1)
      {
         down = 0;
      }
      if (!down)
      {
         if (level > 0)
         {
            if (level < fmglevel)
            {
               /* F-cycle: go down again from here */
               fmg_v++;
               if (fmg_v == core->nfmg_Vcyc)
               {
                  fmg_v = 0;
                  fmglevel--;
               }
               down = 1;
            }
         }
         else if (!try_refine || nlevels == 1)
         {
            try_refine = 1;
         }
         else
         {
            if (core->fmg && core->nfmg != core->iter)
            {
               fmglevel = nlevels - 1;
            }
            try_refine = 0;
            down       = 1;
         }
      }

      /* action */
      if (down)
      {
         _braid_Check(_braid_FCRelax(core, level, _braid_LevelNRelax(core, level), 0));
         _braid_Check(_braid_FRestrict(core, level));
         level++;
      }
      else if (level > 0)
      {
         _braid_Check(_braid_Interpolate(core, level));
         level--;
      }
      else
      {
         _braid_Check(_braid_TopOfCycle(core));
      }
   }
   return 0;
}

static braid_Int
_braid_DriveSolve(braid_Core core, FILE **cyclefile)
{
   braid_Int  k, warm = core->initialized, skip;
   braid_Real t0;

   core->wall_start = MPI_Wtime();
   core->niter      = 0;
   core->iter       = 0;
   core->done       = 0;
   core->rnorm0     = braid_INVALID_RNORM;
   for (k = 0; k <= core->max_iter; k++)
   {
      core->rnorms[k] = braid_INVALID_RNORM;
   }
   if (!warm && core->print_level > 0)
   {
      _braid_Print(core, "\n  Braid: Begin simulation, %d time steps\n", core->gupper);
   }
   if (!warm)
   {
      t0 = _braid_TimerStart(core);
      _braid_Check(_braid_Setup(core));
      _braid_TimerStop(core, _braid_TIMER_DRIVE_INIT, t0);
   }
   if (core->io_level >= 1 && core->myid == 0)
   {
      *cyclefile = fopen("braid.out.cycle", "w");
   }

#ifdef BRAID_STANDIN_UPSTREAM
   skip = core->skip; /* upstream repeats the skipped down-cycle on a warm restart */
#else
   skip = core->skip && !warm;
#endif
   _braid_Check(_braid_Cycle(core, *cyclefile, skip));

   core->niter = core->iter;
   if (core->niter > 0)
   {
      core->rnorms[core->niter] = core->rnorms[core->niter - 1];
   }
   core->done = 1;
   if (core->final_fc_relax)
   {
      _braid_Check(_braid_FCRelax(core, 0, 1, 1));
   }
   else if ((core->max_levels == 1 && !core->relax_only_cg) || core->access_level >= 1)
   {
      _braid_Check(_braid_FAccess(core, 0, 1));
   }
   core->wall_time = MPI_Wtime() - core->wall_start;
   if (core->print_level > 1)
   {
      braid_PrintStats(core);
   }
   if (core->print_level > 0 && core->timings > 0)
   {
      _braid_Check(braid_PrintTimers(core));
   }
   return 0;
}

/*
 * Solve.  A later call is a warm restart: the hierarchy and the current fine
 * values are kept and the cycles start from them.  When a callback fails,
 * every vector the core holds is released and the next call starts afresh.
 */
braid_Int
braid_Drive(braid_Core core)
{
   FILE     *cyclefile = NULL;
   braid_Int rc;

   core->drives++;
   rc = _braid_DriveSolve(core, &cyclefile);

   if (cyclefile != NULL)
   {
      fclose(cyclefile);
   }
   if (rc != 0)
   {
      core->niter = core->iter;
      (void) _braid_FreeAllVectors(core);
      _braid_DestroyHierarchy(core);
   }
   return rc;
}
