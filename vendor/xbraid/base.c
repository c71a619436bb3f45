/*
 * base.c -- every call of a user function goes through here: the status
 * fields are set, the call is made, and its return code is passed up.
 * The elementary operations STEP, A and FAS residual of the semantics
 * document live here too, because they fix the order of the user calls.
 */
#include <stdlib.h>
#include "_braid.h"

braid_Int
_braid_BaseInit(braid_Core core, braid_Real t, braid_Vector *u_ptr)
{
   braid_Int rc;

   *u_ptr = NULL;
   _braid_Timed(core, _braid_TIMER_INIT, core->init(core->app, t, u_ptr));
   return _braid_UserResult(rc);
}

/* Shell vectors (braid_SetShell): their calls are timed with init, clone and free. */
braid_Int
_braid_BaseSInit(braid_Core core, braid_Real t, braid_Vector *u_ptr)
{
   braid_Int rc;

   *u_ptr = NULL;
   _braid_Timed(core, _braid_TIMER_INIT, core->sinit(core->app, t, u_ptr));
   return _braid_UserResult(rc);
}

braid_Int
_braid_BaseSClone(braid_Core core, braid_Vector u, braid_Vector *v_ptr)
{
   braid_Int rc;

   *v_ptr = NULL;
   _braid_Timed(core, _braid_TIMER_CLONE, core->sclone(core->app, u, v_ptr));
   return _braid_UserResult(rc);
}

braid_Int
_braid_BaseSFree(braid_Core core, braid_Vector u)
{
   braid_Int rc;

   _braid_Timed(core, _braid_TIMER_FREE, core->sfree(core->app, u));
   return _braid_UserResult(rc);
}

/* A copy of u for the slot of `index`: a shell at a shell point, else a clone. */
braid_Int
_braid_StoreClone(braid_Core core, braid_Int level, braid_Int index, braid_Vector u,
                  braid_Vector *slot_ptr)
{
   if (_braid_IsShell(&core->grids[level], index))
   {
      return _braid_BaseSClone(core, u, slot_ptr);
   }
   return _braid_BaseClone(core, u, slot_ptr);
}

/* Free *u_ptr on an error path: the first error is the one reported. */
void
_braid_FreeQuietly(braid_Core core, braid_Vector *u_ptr)
{
   if (*u_ptr != NULL)
   {
      (void) core->free(core->app, *u_ptr);
      *u_ptr = NULL;
   }
}

braid_Int
_braid_BaseSpatialNorm(braid_Core core, braid_Vector u, braid_Real *norm_ptr)
{
   braid_Int rc;

   _braid_Timed(core, _braid_TIMER_SPATIALNORM, core->spatialnorm(core->app, u, norm_ptr));
   return _braid_UserResult(rc);
}

braid_Int
_braid_BaseAccess(braid_Core core, braid_Int level, braid_Int index, braid_Vector u,
                  braid_Int caller)
{
   _braid_Grid *g = &core->grids[level];
   braid_Int    rc;

   if (core->access == NULL)
   {
      return 0;
   }
   core->t                = g->ta[index - g->ilower];
   core->idx              = index;
   core->level            = level;
   core->calling_function = caller;
   core->rnorm            = core->rnorms[core->iter];
   _braid_Timed(core, _braid_TIMER_ACCESS,
                core->access(core->app, u, (braid_AccessStatus) core));
   return _braid_UserResult(rc);
}

braid_Int
_braid_BaseSync(braid_Core core, braid_Int caller)
{
   braid_Int rc;
   braid_Int level = core->level;

   if (core->sync == NULL)
   {
      return 0;
   }
   /* both syncs happen on the finest level: the status says so, not the
      level of the last step */
   core->calling_function = caller;
   core->level            = 0;
   _braid_Timed(core, _braid_TIMER_SYNC, core->sync(core->app, (braid_SyncStatus) core));
   core->level = level;
   return _braid_UserResult(rc);
}

/* The vector a step into `index` may use as a guess for its result. */
static braid_Vector
_braid_UStop(braid_Core core, braid_Int level, braid_Int index, braid_Vector u)
{
   _braid_Grid *g    = &core->grids[level];
   braid_Int    slot = _braid_USlot(g, index);

   if (slot >= 0 && g->ua[slot] != NULL)
   {
      return g->ua[slot];
   }
   if (level == 0)
   {
      return u;
   }
   return g->va[index - g->ilower];
}

/* Inline: it runs before every step. */
static inline void
_braid_SetStepStatus(braid_Core core, braid_Int level, braid_Int index, braid_Int caller)
{
   _braid_Grid *g = &core->grids[level];

   core->t                = g->ta[index - 1 - g->ilower];
   core->tnext            = g->ta[index - g->ilower];
   core->idx              = index - 1;
   core->level            = level;
   core->calling_function = caller;
   if (index == 0)
   {
      /* periodic: the step into index 0 ends the period, at tstop, from gupper */
      core->tnext = core->tstop;
      core->idx   = g->gupper;
   }
}

/*
 * STEP: u holds the value at index-1 on `level`; afterwards it holds the value
 * at index.  On coarse levels the FAS right-hand side is added (by the user's
 * step when a user residual is set, otherwise by a sum).
 */
braid_Int
_braid_Step(braid_Core core, braid_Int level, braid_Int index, braid_Vector u,
            braid_Int caller)
{
   _braid_Grid *g     = &core->grids[level];
   braid_Vector ustop = _braid_UStop(core, level, index, u);
   braid_Vector fstop = NULL;
   braid_Int    rc;

   if (level > 0)
   {
      fstop = g->fa[index - g->ilower];
   }
   _braid_SetStepStatus(core, level, index, caller);
   if (core->residual != NULL && level > 0)
   {
      _braid_Timed(core, _braid_TIMER_STEP,
                   core->step(core->app, ustop, fstop, u, (braid_StepStatus) core));
      return _braid_UserResult(rc);
   }
   _braid_Timed(core, _braid_TIMER_STEP,
                core->step(core->app, ustop, NULL, u, (braid_StepStatus) core));
   _braid_Check(_braid_UserResult(rc));
   if (fstop != NULL)
   {
      _braid_Check(_braid_BaseSum(core, 1.0, fstop, 1.0, u));
   }
   return 0;
}

static void
_braid_FreeBatchArrays(struct _braid_StepBatch_struct *b)
{
   free(b->tstart);
   free(b->tstop);
   free(b->tindex);
   free(b->ustop);
   free(b->fstop);
   b->tstart = b->tstop = NULL;
   b->tindex = NULL;
   b->ustop = b->fstop = NULL;
   b->capacity = 0;
}

/* The batch's arrays with room for n steps (their contents are not kept). */
static braid_Int
_braid_BatchRoom(braid_Core core, braid_Int n)
{
   struct _braid_StepBatch_struct *b = core->batch;

   if (b == NULL)
   {
      b = core->batch = _braid_CAlloc(1, sizeof(*b));
      if (b == NULL)
      {
         return braid_ERROR_MEMORY;
      }
      b->core = core;
   }
   if (n > b->capacity)
   {
      _braid_FreeBatchArrays(b);
      b->tstart = malloc((size_t) n * sizeof(braid_Real));
      b->tstop  = malloc((size_t) n * sizeof(braid_Real));
      b->tindex = malloc((size_t) n * sizeof(braid_Int));
      b->ustop  = malloc((size_t) n * sizeof(braid_Vector));
      b->fstop  = malloc((size_t) n * sizeof(braid_Vector));
      if (!b->tstart || !b->tstop || !b->tindex || !b->ustop || !b->fstop)
      {
         _braid_FreeBatchArrays(b);
         return braid_ERROR_MEMORY;
      }
      b->capacity = n;
   }
   return 0;
}

void
_braid_FreeStepBatch(braid_Core core)
{
   if (core->batch != NULL)
   {
      _braid_FreeBatchArrays(core->batch);
      free(core->batch);
      core->batch = NULL;
   }
}

/*
 * [ours] STEP of n independent points in one call of the batched step (the
 * sweeps' groups keep n <= max_batch): u[i] holds the value at index[i]-1 on
 * `level`; afterwards it holds the value at index[i], with the arithmetic of
 * _braid_Step (the FAS right-hand side added after, unless a user residual
 * takes it in the step).  With ustop given, the steps of residuals
 * (_braid_Residual without a user residual): ustop[i] as the guess, no
 * right-hand side.
 */
braid_Int
_braid_StepBatch(braid_Core core, braid_Int level, braid_Int n, const braid_Int *index,
                 braid_Vector *u, braid_Vector *ustop, braid_Int caller)
{
   _braid_Grid *g       = &core->grids[level];
   braid_Int    fas     = ustop == NULL && level > 0;  /* a step, not a residual's */
   braid_Int    in_step = fas && core->residual != NULL;
   braid_Int    i, rc;
   braid_Vector fstop;
   struct _braid_StepBatch_struct *b;

   if (n <= 0)
   {
      return 0;
   }
   _braid_Check(_braid_BatchRoom(core, n));
   b         = core->batch;
   b->n      = n;
   b->level  = level;
   b->caller = caller;
   for (i = 0; i < n; i++)
   {
      _braid_SetStepStatus(core, level, index[i], caller);
      b->tstart[i] = core->t;
      b->tstop[i]  = core->tnext;
      b->tindex[i] = core->idx;
      b->ustop[i]  = ustop != NULL ? ustop[i] : _braid_UStop(core, level, index[i], u[i]);
      b->fstop[i]  = in_step ? g->fa[index[i] - g->ilower] : NULL;
   }
   _braid_Timed(core, _braid_TIMER_STEP,
                core->step_batch(core->app, n, b->ustop, b->fstop, u, b));
   _braid_Check(_braid_UserResult(rc));
   for (i = 0; i < n && fas && !in_step; i++)
   {
      fstop = g->fa[index[i] - g->ilower];
      if (fstop != NULL)
      {
         _braid_Check(_braid_BaseSum(core, 1.0, fstop, 1.0, u[i]));
      }
   }
   return 0;
}

/* A: r holds the value at index-1; afterwards r = ustop - Phi(r), or the user residual. */
braid_Int
_braid_Residual(braid_Core core, braid_Int level, braid_Int index, braid_Vector ustop,
                braid_Vector r, braid_Int caller)
{
   braid_Int rc;

   _braid_SetStepStatus(core, level, index, caller);
   if (core->residual != NULL)
   {
      _braid_Timed(core, _braid_TIMER_RESIDUAL,
                   core->residual(core->app, ustop, r, (braid_StepStatus) core));
      return _braid_UserResult(rc);
   }
   _braid_Timed(core, _braid_TIMER_STEP,
                core->step(core->app, ustop, NULL, r, (braid_StepStatus) core));
   _braid_Check(_braid_UserResult(rc));
   return _braid_BaseSum(core, 1.0, ustop, -1.0, r);
}

/* r = f - r at a C-point of `level` (-r on the fine level, which has no f). */
braid_Int
_braid_FASNegate(braid_Core core, braid_Int level, braid_Int index, braid_Vector r)
{
   _braid_Grid *g = &core->grids[level];
   braid_Vector f = level > 0 ? g->fa[index - g->ilower] : NULL;

   if (f == NULL)
   {
      return _braid_BaseSum(core, 0.0, r, -1.0, r);
   }
   return _braid_BaseSum(core, 1.0, f, -1.0, r);
}

/*
 * The residuals of n independent points: r[i] holds the value at index[i]-1;
 * afterwards r[i] = ustop[i] - Phi(r[i]), or the user residual.  [ours] With a
 * batched step (and no user residual) the steps go in one batch.
 */
braid_Int
_braid_Residuals(braid_Core core, braid_Int level, braid_Int n, const braid_Int *index,
                 braid_Vector *ustop, braid_Vector *r, braid_Int caller)
{
   braid_Int i;

   if (core->step_batch == NULL || core->residual != NULL || n == 1)
   {
      for (i = 0; i < n; i++)
      {
         _braid_Check(_braid_Residual(core, level, index[i], ustop[i], r[i], caller));
      }
      return 0;
   }
   _braid_Check(_braid_StepBatch(core, level, n, index, r, ustop, caller));
   for (i = 0; i < n; i++)
   {
      _braid_Check(_braid_BaseSum(core, 1.0, ustop[i], -1.0, r[i]));
   }
   return 0;
}
