/*
 * relax.c -- the sweeps over one level: initial guess, F/C-relaxation,
 * restriction with the FAS right-hand side, interpolation, and the access
 * sweep.  Every sweep visits this rank's intervals from the right-most to
 * the left-most: the right-most value goes to the right neighbour first and
 * the value from the left neighbour is needed last, so ranks work at once,
 * and every sweep reads the old C-values, which makes the result
 * independent of the number of ranks.
 */
#include <math.h>
#include <stdlib.h>
#include "_braid.h"

/* A new vector holding the value at index-1: the left neighbour's message when
   index is my first point, otherwise a clone of the stored (C-point) value. */
static braid_Int
_braid_StartValue(braid_Core core, braid_Int level, braid_Int index, _braid_Msg *recv,
                  braid_Vector *v_ptr)
{
   _braid_Grid *g = &core->grids[level];

   if (index == g->ilower)
   {
      return _braid_RecvFinish(core, level, index - 1, recv, v_ptr);
   }
   return _braid_BaseClone(core, g->ua[_braid_USlot(g, index - 1)], v_ptr);
}

/* Keep a copy of an F-point value when the level stores every point. */
static braid_Int
_braid_StoreFPoint(braid_Core core, braid_Int level, braid_Int index, braid_Vector v)
{
   _braid_Grid *g    = &core->grids[level];
   braid_Int    slot = _braid_USlot(g, index);
   braid_Vector old;

   if (slot < 0)
   {
      return 0;
   }
   old         = g->ua[slot];
   g->ua[slot] = NULL;
   if (old != NULL)
   {
      _braid_Check(_braid_FreeVector(core, &old));
   }
   return _braid_StoreClone(core, level, index, v, &g->ua[slot]);
}

/* Release a sweep's working vectors and messages after a failure. */
static void
_braid_SweepCleanup(braid_Core core, braid_Vector *v, braid_Vector *w, _braid_Msg *recv,
                    _braid_Msg *send)
{
   _braid_FreeQuietly(core, v);
   _braid_FreeQuietly(core, w);
   _braid_MsgAbandon(core, recv);
   _braid_MsgAbandon(core, send);
}

/* ------------------------------------------------------ initial guess */

static braid_Int
_braid_SequentialGuess(braid_Core core)
{
   _braid_Grid *g = &core->grids[0];
   _braid_Msg   recv = {0}, send = {0};
   braid_Vector v = NULL, w = NULL;
   braid_Int    i, first, slot, rc = 0;

   if (g->ilower > g->iupper)
   {
      return 0;
   }
   if (g->left >= 0)
   {
      _braid_Try(_braid_RecvPost(core, 0, g->ilower - 1, g->left, &recv));
      _braid_Try(_braid_RecvFinish(core, 0, g->ilower - 1, &recv, &v));
      first = g->ilower;
   }
   else
   {
      _braid_Try(_braid_BaseInit(core, g->ta[0], &g->ua[0]));
      _braid_Try(_braid_BaseClone(core, g->ua[0], &v));
      first = 1;
   }
   for (i = first; i <= g->iupper; i++)
   {
      _braid_Try(_braid_Step(core, 0, i, v, braid_ASCaller_InitGuess));
      slot = _braid_USlot(g, i);
      if (slot >= 0)
      {
         _braid_Try(_braid_StoreClone(core, 0, i, v, &g->ua[slot]));
      }
   }
   if (g->right >= 0)
   {
      _braid_Try(_braid_SendPost(core, 0, g->iupper, v, g->right, &send));
      _braid_Try(_braid_SendFinish(core, &send));
   }
#ifdef BRAID_STANDIN_UPSTREAM
   v = NULL; /* upstream never frees the vector it stepped with */
#else
   _braid_Try(_braid_FreeVector(core, &v));
#endif
cleanup:
   if (rc)
   {
      _braid_SweepCleanup(core, &v, &w, &recv, &send);
   }
   return rc;
}

/* Move *u_ptr into a shell slot and empty it there (sfree), upstream's order
   for every shell it stores; *u_ptr is cleared first. */
static braid_Int
_braid_StoreShell(braid_Core core, braid_Vector *u_ptr, braid_Vector *slot_ptr)
{
   *slot_ptr = *u_ptr;
   *u_ptr    = NULL;
   return _braid_BaseSFree(core, *slot_ptr);
}

/*
 * Fine initial values: init at the C-points only, whatever the storage (the
 * F-points are first computed by relaxation), plus a shell (sinit) at every
 * F-point when shell vectors are on; or sequential stepping.
 */
braid_Int
_braid_InitGuess(braid_Core core)
{
   _braid_Grid *g = &core->grids[0];
   braid_Int    i, slot;
   braid_Vector u;

   core->level = 0;
   if (core->seq_soln)
   {
      return _braid_SequentialGuess(core);
   }
   for (i = g->ilower; i <= g->iupper; i++)
   {
      slot = _braid_USlot(g, i);
      if (_braid_IsCPoint(i, g->cfactor))
      {
         _braid_Check(_braid_BaseInit(core, g->ta[i - g->ilower], &g->ua[slot]));
      }
      else if (_braid_IsShell(g, i))
      {
         _braid_Check(_braid_BaseSInit(core, g->ta[i - g->ilower], &u));
         _braid_Check(_braid_StoreShell(core, &u, &g->ua[slot]));
      }
   }
   return 0;
}

/*
 * Skip the first down-cycle: every coarse point takes the value its fine
 * image holds (no FAS right-hand side yet).
 */
braid_Int
_braid_CopyFineToCoarse(braid_Core core)
{
   braid_Int    level, i, slot, rc = 0;
   braid_Vector tmp = NULL, u = NULL;
   _braid_Grid *g, *fg;

   for (level = 1; level < core->nlevels; level++)
   {
      g  = &core->grids[level];
      fg = &core->grids[level - 1];
      _braid_Try(_braid_FreeLevelVectors(core, level));
      for (i = g->ilower; i <= g->iupper; i++)
      {
         _braid_Try(_braid_BaseClone(core, fg->ua[_braid_USlot(fg, i * fg->cfactor)], &tmp));
         _braid_Try(_braid_BaseClone(core, tmp, &g->va[i - g->ilower]));
         _braid_Try(_braid_FreeVector(core, &tmp));
         _braid_Try(_braid_BaseClone(core, g->va[i - g->ilower], &u));
         slot = _braid_USlot(g, i);
         if (slot >= 0 && _braid_IsShell(g, i))
         {
            _braid_Try(_braid_StoreShell(core, &u, &g->ua[slot]));
         }
         else if (slot >= 0)
         {
            g->ua[slot] = u;
         }
         else
         {
            _braid_Try(_braid_FreeVector(core, &u));
         }
         u = NULL;
      }
   }
cleanup:
   if (rc)
   {
      _braid_FreeQuietly(core, &tmp);
      _braid_FreeQuietly(core, &u);
   }
   return rc;
}

/* ------------------------------------------- intervals, in groups */

/*
 * Every sweep below visits the intervals of this rank in groups, right to
 * left: a group's start values, then its F-points, then its C-points.  With
 * the point-by-point step a group is one interval, the order of XBraid.
 * [ours] With a batched step (braid_SetStepBatch) a group is max_batch
 * intervals (all of them when 0): the j-th F-point of every interval of the
 * group is stepped in one call, then their C-points.  Each vector sees the
 * same arithmetic in the same order, and the C-points a group changes are
 * the start values of groups already done, so the result is the same bit for
 * bit; the order of callbacks across intervals (access, messages) differs.
 */
typedef struct
{
   braid_Int     size, n;          /* room, and intervals in the group */
   braid_Int    *flo, *fhi, *ci;   /* of each interval */
   braid_Vector *v;                /* each interval's working vector */
   braid_Int    *index;            /* scratch of a batch: its points, */
   braid_Vector *u, *ustop;        /* their vectors and guesses */
} _braid_Group;

/* What a sweep does after the step into F-point fi (v: its value). */
typedef struct _braid_FPointWork _braid_FPointWork;
typedef braid_Int (*_braid_FPointFcn)(braid_Core core, braid_Int level, braid_Int fi,
                                      braid_Vector v, _braid_FPointWork *work);
struct _braid_FPointWork
{
   _braid_FPointFcn fcn;
   braid_Int        caller, access, send_last, done;
   _braid_Msg      *send;
   braid_Vector     last;          /* FAccess: the previous ulast, to free */
};

static braid_Int
_braid_GroupInit(braid_Core core, const _braid_Grid *g, _braid_Group *grp)
{
   braid_Int nint = g->ncpoints + 1;
   size_t    n;

   grp->size  = core->step_batch == NULL ? 1 :
                (core->max_batch > 0 ? _braid_Min(core->max_batch, nint) : nint);
   n          = (size_t) grp->size;
   grp->n     = 0;
   grp->flo   = malloc(n * sizeof(braid_Int));
   grp->fhi   = malloc(n * sizeof(braid_Int));
   grp->ci    = malloc(n * sizeof(braid_Int));
   grp->index = malloc(n * sizeof(braid_Int));
   grp->v     = _braid_CAlloc(n, sizeof(braid_Vector));
   grp->u     = malloc(n * sizeof(braid_Vector));
   grp->ustop = malloc(n * sizeof(braid_Vector));
   if (!grp->flo || !grp->fhi || !grp->ci || !grp->index || !grp->v || !grp->u || !grp->ustop)
   {
      return braid_ERROR_MEMORY;
   }
   return 0;
}

/* Free the group's arrays and (after a failure) its working vectors. */
static void
_braid_GroupFinal(braid_Core core, _braid_Group *grp)
{
   braid_Int p;

   for (p = 0; grp->v != NULL && p < grp->size; p++)
   {
      _braid_FreeQuietly(core, &grp->v[p]);
   }
   free(grp->flo);
   free(grp->fhi);
   free(grp->ci);
   free(grp->index);
   free(grp->v);
   free(grp->u);
   free(grp->ustop);
}

/* Steps into index[0..n-1] of independent vectors u: one batched call, or point by
   point (also a lone step: the coarsest level's and other sequential runs). */
static braid_Int
_braid_Steps(braid_Core core, braid_Int level, braid_Int n, const braid_Int *index,
             braid_Vector *u, braid_Int caller)
{
   braid_Int i;

   if (core->step_batch != NULL && n > 1)
   {
      return _braid_StepBatch(core, level, n, index, u, NULL, caller);
   }
   for (i = 0; i < n; i++)
   {
      _braid_Check(_braid_Step(core, level, index[i], u[i], caller));
   }
   return 0;
}

/*
 * The group of intervals top, top-1, ... (at most its size, down to 1, or 0
 * alone when a left neighbour sends its start value): their
 * start values (an interval without F-points starts at its C-point when
 * from_c and the C-point is updated), then their F-points, the j-th of every
 * interval at once, each followed by work->fcn.
 */
static braid_Int
_braid_GroupFRelax(braid_Core core, braid_Int level, _braid_Group *grp, braid_Int top,
                   _braid_Msg *recv, braid_Int from_c, _braid_FPointWork *work)
{
   _braid_Grid *g = &core->grids[level];
   braid_Int    p, j, m, longest = 0;

   /* the left-most interval waits for the left neighbour's message: alone and
      last, so that the sends to the right (and a periodic grid's to myself)
      go first, as point by point */
   grp->n = _braid_Min(grp->size, (g->left >= 0 && top > 0) ? top : top + 1);
   for (p = 0; p < grp->n; p++)
   {
      _braid_GetInterval(g, top - p, &grp->flo[p], &grp->fhi[p], &grp->ci[p]);
      if (grp->flo[p] <= grp->fhi[p])
      {
         _braid_Check(_braid_StartValue(core, level, grp->flo[p], recv, &grp->v[p]));
         longest = _braid_Max(longest, grp->fhi[p] - grp->flo[p] + 1);
      }
      else if (from_c && _braid_HasCPointUpdate(core, grp->ci[p]))
      {
         _braid_Check(_braid_StartValue(core, level, grp->ci[p], recv, &grp->v[p]));
      }
   }
   for (j = 0; j < longest; j++)
   {
      for (m = 0, p = 0; p < grp->n; p++)
      {
         if (grp->flo[p] + j <= grp->fhi[p])
         {
            grp->index[m] = grp->flo[p] + j;
            grp->u[m++]   = grp->v[p];
         }
      }
      _braid_Check(_braid_Steps(core, level, m, grp->index, grp->u, work->caller));
      for (p = 0; p < m; p++)
      {
         _braid_Check(work->fcn(core, level, grp->index[p], grp->u[p], work));
      }
   }
   return 0;
}

/* After an F-step of relaxation or restriction: store, show, send the last point. */
static braid_Int
_braid_RelaxFPoint(braid_Core core, braid_Int level, braid_Int fi, braid_Vector v,
                   _braid_FPointWork *work)
{
   _braid_Grid *g = &core->grids[level];

   _braid_Check(_braid_StoreFPoint(core, level, fi, v));
   if (work->access)
   {
      _braid_Check(_braid_BaseAccess(core, level, fi, v, work->caller));
   }
   if (fi == g->iupper && work->send_last)
   {
      _braid_Check(_braid_SendPost(core, level, fi, v, g->right, work->send));
   }
   return 0;
}

/* ----------------------------------------------------- F/C-relaxation */

/*
 * nsweeps F-then-C sweeps on `level`.  `final` marks the closing sweep of a
 * solve (braid_SetFinalFCRelax): it reports every point to access, done = 1.
 */
braid_Int
_braid_FCRelax(braid_Core core, braid_Int level, braid_Int nsweeps, braid_Int final)
{
   _braid_Grid      *g        = &core->grids[level];
   braid_Real        cwt      = _braid_LevelCWt(core, level);
   braid_Int         weighted = (cwt != 1.0) &&
                                (level != core->nlevels - 1 || core->relax_only_cg);
   braid_Int         nu, top, p, m, slot, rc = 0;
   braid_Vector      old = NULL, none = NULL;
   _braid_Msg        recv = {0}, send = {0};
   _braid_Group      grp = {0};
   _braid_FPointWork work = {_braid_RelaxFPoint, braid_ASCaller_FCRelax,
                             final || core->access_level >= 3, g->right >= 0, 0, &send, NULL};

   _braid_Try(_braid_GroupInit(core, g, &grp));
   for (nu = 0; nu < nsweeps; nu++)
   {
      if (g->left >= 0)
      {
         _braid_Try(_braid_RecvPost(core, level, _braid_Wrap(g, g->ilower - 1), g->left, &recv));
      }
      /* the right neighbour's F-points start from my old C-value */
      if (g->right >= 0 && _braid_IsCPoint(g->iupper, g->cfactor))
      {
         _braid_Try(_braid_SendPost(core, level, g->iupper,
                                    g->ua[_braid_USlot(g, g->iupper)], g->right, &send));
      }
      for (top = g->ncpoints; top >= 0; top -= grp.n)
      {
         _braid_Try(_braid_GroupFRelax(core, level, &grp, top, &recv, 1, &work));
         for (m = 0, p = 0; p < grp.n; p++)
         {
            if (_braid_HasCPointUpdate(core, grp.ci[p]))
            {
               grp.index[m] = grp.ci[p];
               grp.u[m++]   = grp.v[p];
            }
         }
         _braid_Try(_braid_Steps(core, level, m, grp.index, grp.u, work.caller));
         for (p = 0; p < grp.n; p++)
         {
            if (_braid_HasCPointUpdate(core, grp.ci[p]))
            {
               slot = _braid_USlot(g, grp.ci[p]);
               if (weighted)
               {
                  _braid_Try(_braid_BaseSum(core, 1.0 - cwt, g->ua[slot], cwt, grp.v[p]));
               }
               old         = g->ua[slot];
               g->ua[slot] = grp.v[p];
               grp.v[p]    = NULL;
               _braid_Try(_braid_FreeVector(core, &old));
            }
            else if (grp.v[p] != NULL)
            {
               _braid_Try(_braid_FreeVector(core, &grp.v[p]));
            }
            if (grp.ci[p] >= 0 && work.access)
            {
               _braid_Try(_braid_BaseAccess(core, level, grp.ci[p],
                                            g->ua[_braid_USlot(g, grp.ci[p])], work.caller));
            }
         }
      }
      _braid_Try(_braid_SendFinish(core, &send));
   }
cleanup:
   if (rc)
   {
      _braid_SweepCleanup(core, &none, &old, &recv, &send);
   }
   _braid_GroupFinal(core, &grp);
   return rc;
}

/* ------------------------------------------------------- restriction */

/* Add one C-point's residual norm to the local temporal norm. */
static void
_braid_AccumulateNorm(braid_Core core, braid_Real norm, braid_Real *acc)
{
   switch (core->tnorm)
   {
      case 1:
         *acc += norm;
         break;
      case 3:
         if (norm > *acc || isnan(norm))
         {
            *acc = norm;
         }
         break;
      default:
         *acc += norm * norm;
   }
}

/* One allreduce per iteration: the global residual norm of the fine level. */
static void
_braid_StoreRNorm(braid_Core core, braid_Real acc)
{
   braid_Real rnorm = 0.0;

   if (!core->resid_compute)
   {
      core->rnorms[core->iter] = braid_INVALID_RNORM;
      return;
   }
   MPI_Allreduce(&acc, &rnorm, 1, braid_MPI_REAL, core->tnorm == 3 ? MPI_MAX : MPI_SUM,
                 core->comm);
   if (core->tnorm == 2)
   {
      rnorm = sqrt(rnorm);
   }
   core->rnorms[core->iter] = rnorm;
   if (core->rnorm0 == braid_INVALID_RNORM)
   {
      core->rnorm0 = rnorm;
   }
}

/* The FAS right-hand side of level+1, f_j = r_j + (v_j - Phi_c(v_{j-1})),
   j right to left in groups as the intervals above. */
static braid_Int
_braid_CoarseRHS(braid_Core core, braid_Int level, _braid_Group *grp, _braid_Msg *crecv,
                 _braid_Msg *csend)
{
   _braid_Grid *cg   = &core->grids[level + 1];
   braid_Int    jmin = core->periodic ? cg->ilower : _braid_Max(cg->ilower, 1);
   braid_Int    top, q, n, j;

   if (cg->right >= 0)
   {
      _braid_Check(_braid_SendPost(core, level + 1, cg->iupper,
                                   cg->va[cg->iupper - cg->ilower], cg->right, csend));
   }
   for (top = cg->iupper; top >= jmin; top -= n)
   {
      n = _braid_Min(grp->size, top - jmin + 1);
      for (q = 0; q < n; q++)
      {
         j             = top - q;
         grp->index[q] = j;
         grp->ustop[q] = cg->va[j - cg->ilower];
         if (j == cg->ilower)
         {
            _braid_Check(_braid_RecvFinish(core, level + 1, j - 1, crecv, &grp->v[q]));
         }
         else
         {
            _braid_Check(_braid_BaseClone(core, cg->va[j - 1 - cg->ilower], &grp->v[q]));
         }
      }
      _braid_Check(_braid_Residuals(core, level + 1, n, grp->index, grp->ustop, grp->v,
                                    braid_ASCaller_Residual));
      for (q = 0; q < n; q++)
      {
         j = grp->index[q];
         _braid_Check(_braid_BaseSum(core, 1.0, grp->v[q], 1.0, cg->fa[j - cg->ilower]));
         _braid_Check(_braid_FreeVector(core, &grp->v[q]));
      }
   }
   return _braid_SendFinish(core, csend);
}

/*
 * F-relax `level`, compute the residual at its C-points and restrict to
 * level+1: the coarse values v (injection), the coarse initial guess u = v,
 * and the FAS right-hand side f = r + A_c(v).  On level 0 the residual norm
 * of the iteration is computed here too.
 */
braid_Int
_braid_FRestrict(braid_Core core, braid_Int level)
{
   _braid_Grid      *g    = &core->grids[level];
   _braid_Grid      *cg   = &core->grids[level + 1];
   braid_Int         m    = g->cfactor;
   braid_Int         norms = (level == 0 && core->resid_compute);
   braid_Int         top, p, n, slot, c, j, rc = 0;
   braid_Real        acc = 0.0, norm;
   braid_Real       *cnorms = NULL; /* the C-points' norms, for print level 3 */
   braid_Vector      w = NULL, none = NULL;
   _braid_Msg        recv = {0}, send = {0}, crecv = {0}, csend = {0};
   _braid_Group      grp = {0};
   _braid_FPointWork work = {_braid_RelaxFPoint, braid_ASCaller_FRestrict,
                             core->access_level >= 3, g->right >= 0, 0, &send, NULL};

   _braid_Try(_braid_GroupInit(core, g, &grp));
   if (norms && core->print_level > 2)
   {
      cnorms = (braid_Real *) _braid_CAlloc((size_t) g->ncpoints, sizeof(braid_Real));
      if (cnorms == NULL)
      {
         rc = braid_ERROR_MEMORY;
         goto cleanup;
      }
   }

   if (g->left >= 0)
   {
      _braid_Try(_braid_RecvPost(core, level, _braid_Wrap(g, g->ilower - 1), g->left, &recv));
   }
   if (cg->left >= 0)
   {
      _braid_Try(_braid_RecvPost(core, level + 1, _braid_Wrap(cg, cg->ilower - 1), cg->left,
                                 &crecv));
   }
   if (g->right >= 0 && _braid_IsCPoint(g->iupper, m))
   {
      _braid_Try(_braid_SendPost(core, level, g->iupper, g->ua[_braid_USlot(g, g->iupper)],
                                 g->right, &send));
   }
   for (top = g->ncpoints; top >= 0; top -= grp.n)
   {
      _braid_Try(_braid_GroupFRelax(core, level, &grp, top, &recv, 1, &work));
      for (n = 0, p = 0; p < grp.n; p++)
      {
         if (_braid_HasCPointUpdate(core, grp.ci[p]))
         {
            grp.index[n] = grp.ci[p];
            grp.ustop[n] = g->ua[_braid_USlot(g, grp.ci[p])];
            grp.u[n++]   = grp.v[p];
         }
      }
      _braid_Try(_braid_Residuals(core, level, n, grp.index, grp.ustop, grp.u,
                                  braid_ASCaller_FASResidual));
      for (p = 0; p < grp.n; p++)
      {
         if (_braid_HasCPointUpdate(core, grp.ci[p]))
         {
            slot = _braid_USlot(g, grp.ci[p]);
            c    = grp.ci[p] / m - cg->ilower;
            _braid_Try(_braid_FASNegate(core, level, grp.ci[p], grp.v[p]));
            if (norms)
            {
               _braid_Try(_braid_BaseSpatialNorm(core, grp.v[p], &norm));
               _braid_AccumulateNorm(core, norm, &acc);
               if (cnorms != NULL)
               {
                  cnorms[top - p] = norm;
               }
            }
            _braid_Try(_braid_BaseClone(core, g->ua[slot], &cg->va[c]));
            _braid_Try(_braid_BaseClone(core, grp.v[p], &cg->fa[c]));
            _braid_Try(_braid_FreeVector(core, &grp.v[p]));
         }
         else if (grp.ci[p] == 0)
         {
            _braid_Try(_braid_BaseClone(core, g->ua[_braid_USlot(g, 0)], &cg->va[0]));
         }
         else if (grp.v[p] != NULL)
         {
            _braid_Try(_braid_FreeVector(core, &grp.v[p]));
         }
      }
   }
   _braid_Try(_braid_SendFinish(core, &send));

   /* coarse initial guess (shells where the coarse level keeps shells) */
   for (j = cg->ilower; j <= cg->iupper; j++)
   {
      slot = _braid_USlot(cg, j);
      if (slot >= 0 && _braid_IsShell(cg, j))
      {
         _braid_Try(_braid_BaseSClone(core, cg->va[j - cg->ilower], &w));
         _braid_Try(_braid_StoreShell(core, &w, &cg->ua[slot]));
      }
      else if (slot >= 0)
      {
         _braid_Try(_braid_BaseClone(core, cg->va[j - cg->ilower], &cg->ua[slot]));
      }
   }
   _braid_Try(_braid_CoarseRHS(core, level, &grp, &crecv, &csend));

   if (level == 0)
   {
      _braid_StoreRNorm(core, acc);
      if (cnorms != NULL)
      {
         _braid_Try(_braid_PrintCPointNorms(core, cnorms, g->ncpoints));
      }
   }
cleanup:
   if (rc)
   {
      _braid_SweepCleanup(core, &none, &w, &recv, &send);
      _braid_MsgAbandon(core, &crecv);
      _braid_MsgAbandon(core, &csend);
   }
   _braid_GroupFinal(core, &grp);
   free(cnorms);
   return rc;
}

/* ----------------------------------------------------- interpolation */

/* After an F-step of interpolation: store, show, send the last point, and
   add the change of the coarse value (e = u_c - v_c) to the fine C-point. */
static braid_Int
_braid_InterpFPoint(braid_Core core, braid_Int level, braid_Int fi, braid_Vector v,
                    _braid_FPointWork *work)
{
   _braid_Grid *g  = &core->grids[level];
   _braid_Grid *fg = &core->grids[level - 1];
   braid_Vector e  = g->va[fi - g->ilower], fe = NULL;
   braid_Int    rc = 0;

   _braid_Check(_braid_RelaxFPoint(core, level, fi, v, work));
   _braid_Check(_braid_BaseSum(core, 1.0, v, -1.0, e));
   _braid_Check(_braid_BaseClone(core, e, &fe));
   rc = _braid_BaseSum(core, 1.0, fe, 1.0, fg->ua[_braid_USlot(fg, fi * fg->cfactor)]);
   if (rc == 0)
   {
      return _braid_FreeVector(core, &fe);
   }
   _braid_FreeQuietly(core, &fe);
   return rc;
}

/*
 * F-relax the coarse `level` and correct the C-points of level-1 by the
 * change of each coarse value, then drop the coarse level's vectors.
 * On the coarsest level this is the sequential coarse solve.
 */
braid_Int
_braid_FInterp(braid_Core core, braid_Int level)
{
   _braid_Grid      *g  = &core->grids[level];
   _braid_Grid      *fg = &core->grids[level - 1];
   braid_Int         m = g->cfactor, fm = fg->cfactor;
   braid_Int         need_send = g->right >= 0 &&
                                 !_braid_IsCPoint(_braid_Wrap(g, g->iupper + 1), m);
   braid_Int         top, p, ci, rc = 0;
   braid_Vector      fe = NULL, none = NULL, e;
   _braid_Msg        recv = {0}, send = {0};
   _braid_Group      grp = {0};
   _braid_FPointWork work = {_braid_InterpFPoint, braid_ASCaller_FInterp,
                             core->access_level >= 3, need_send, 0, &send, NULL};

   /* the coarsest level is solved by FC-relaxation when asked, and on a periodic grid */
   if (level == core->nlevels - 1 && (core->relax_only_cg || core->periodic))
   {
      _braid_Check(_braid_FCRelax(core, level,
                                  _braid_LevelNRelax(core, core->max_levels - 1), 0));
   }
   _braid_Try(_braid_GroupInit(core, g, &grp));
   if (g->left >= 0 && !_braid_IsCPoint(g->ilower, m))
   {
      _braid_Try(_braid_RecvPost(core, level, _braid_Wrap(g, g->ilower - 1), g->left, &recv));
   }
   if (need_send && _braid_IsCPoint(g->iupper, m))
   {
      _braid_Try(_braid_SendPost(core, level, g->iupper, g->ua[_braid_USlot(g, g->iupper)],
                                 g->right, &send));
   }
   for (top = g->ncpoints; top >= 0; top -= grp.n)
   {
      _braid_Try(_braid_GroupFRelax(core, level, &grp, top, &recv, 0, &work));
      for (p = 0; p < grp.n; p++)
      {
         if (grp.v[p] != NULL)
         {
            _braid_Try(_braid_FreeVector(core, &grp.v[p]));
         }
         ci = grp.ci[p];
         if (_braid_HasCPointUpdate(core, ci))
         {
            e = g->va[ci - g->ilower];
            _braid_Try(_braid_BaseSum(core, 1.0, g->ua[_braid_USlot(g, ci)], -1.0, e));
            _braid_Try(_braid_BaseClone(core, e, &fe));
            _braid_Try(_braid_BaseSum(core, 1.0, fe, 1.0, fg->ua[_braid_USlot(fg, ci * fm)]));
            _braid_Try(_braid_FreeVector(core, &fe));
         }
      }
   }
   _braid_Try(_braid_SendFinish(core, &send));
   _braid_Try(_braid_FreeLevelVectors(core, level));
cleanup:
   if (rc)
   {
      _braid_SweepCleanup(core, &none, &fe, &recv, &send);
   }
   _braid_GroupFinal(core, &grp);
   return rc;
}

/* ------------------------------------------------------------ access */

/* After an F-step of the access sweep: store, send the last point, keep the
   value at the last time index (done, level 0, not stored), show it. */
static braid_Int
_braid_AccessFPoint(braid_Core core, braid_Int level, braid_Int fi, braid_Vector v,
                    _braid_FPointWork *work)
{
   _braid_Grid *g = &core->grids[level];

   _braid_Check(_braid_StoreFPoint(core, level, fi, v));
   if (fi == g->iupper && work->send_last)
   {
      _braid_Check(_braid_SendPost(core, level, fi, v, g->right, work->send));
   }
   if (work->done && level == 0 && fi == g->gupper && _braid_USlot(g, fi) < 0)
   {
      work->last  = core->ulast;
      core->ulast = NULL;
      _braid_Check(_braid_BaseClone(core, v, &core->ulast));
      if (work->last != NULL)
      {
         _braid_Check(_braid_FreeVector(core, &work->last));
      }
   }
   if (work->access)
   {
      _braid_Check(_braid_BaseAccess(core, level, fi, v, work->caller));
   }
   return 0;
}

/*
 * F-relax `level` and show every point to the user's access function.  At
 * the end of a solve (done = 1) this is the final F-sweep; the value at the
 * last time index is kept in ulast when the level does not store it.
 */
braid_Int
_braid_FAccess(braid_Core core, braid_Int level, braid_Int done)
{
   _braid_Grid      *g = &core->grids[level];
   braid_Int         m = g->cfactor;
   braid_Int         need_send = g->right >= 0 &&
                                 !_braid_IsCPoint(_braid_Wrap(g, g->iupper + 1), m);
   braid_Int         top, p, rc = 0;
   braid_Vector      none = NULL;
   _braid_Msg        recv = {0}, send = {0};
   _braid_Group      grp = {0};
   _braid_FPointWork work = {_braid_AccessFPoint, braid_ASCaller_FAccess,
                             core->access_level >= 1, need_send, done, &send, NULL};

   core->done = done;
   _braid_Try(_braid_GroupInit(core, g, &grp));
   if (g->left >= 0 && !_braid_IsCPoint(g->ilower, m))
   {
      _braid_Try(_braid_RecvPost(core, level, _braid_Wrap(g, g->ilower - 1), g->left, &recv));
   }
   if (need_send && _braid_IsCPoint(g->iupper, m))
   {
      _braid_Try(_braid_SendPost(core, level, g->iupper, g->ua[_braid_USlot(g, g->iupper)],
                                 g->right, &send));
   }
   for (top = g->ncpoints; top >= 0; top -= grp.n)
   {
      _braid_Try(_braid_GroupFRelax(core, level, &grp, top, &recv, 0, &work));
      for (p = 0; p < grp.n; p++)
      {
         if (grp.v[p] != NULL)
         {
            _braid_Try(_braid_FreeVector(core, &grp.v[p]));
         }
         if (grp.ci[p] >= 0 && work.access)
         {
            _braid_Try(_braid_BaseAccess(core, level, grp.ci[p],
                                         g->ua[_braid_USlot(g, grp.ci[p])], work.caller));
         }
      }
   }
   _braid_Try(_braid_SendFinish(core, &send));
cleanup:
   if (rc)
   {
      _braid_SweepCleanup(core, &none, &work.last, &recv, &send);
   }
   _braid_GroupFinal(core, &grp);
   return rc;
}
