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

/* ----------------------------------------------------- F/C-relaxation */

/*
 * nsweeps F-then-C sweeps on `level`.  `final` marks the closing sweep of a
 * solve (braid_SetFinalFCRelax): it reports every point to access, done = 1.
 */
/*
 * [ours] The same sweeps with a batched step (braid_SetStepBatch): every
 * interval's start value first (right to left, as above), then the j-th
 * F-point of every interval in one batch, j = 0, 1, ..., then the C-points.
 * Each vector sees the arithmetic of the point-by-point sweep in the same
 * order, and the C-steps still start from the old C-values; only the order
 * of callbacks across intervals (access, messages) differs.
 */
static braid_Int
_braid_FCRelaxBatched(braid_Core core, braid_Int level, braid_Int nsweeps, braid_Int final)
{
   _braid_Grid  *g          = &core->grids[level];
   braid_Real    cwt        = _braid_LevelCWt(core, level);
   braid_Int     weighted   = (cwt != 1.0) &&
                              (level != core->nlevels - 1 || core->relax_only_cg);
   braid_Int     access_all = final || core->access_level >= 3;
   braid_Int     caller     = braid_ASCaller_FCRelax;
   braid_Int     nint       = g->ncpoints + 1;
   braid_Int     nu, p, j, m, q, longest, slot, rc = 0;
   braid_Int    *flo = NULL, *fhi = NULL, *ci = NULL, *index = NULL;
   braid_Vector *v = NULL, *batch = NULL, old = NULL, none = NULL;
   _braid_Msg    recv = {0}, send = {0};

   flo   = malloc((size_t) nint * sizeof(braid_Int));
   fhi   = malloc((size_t) nint * sizeof(braid_Int));
   ci    = malloc((size_t) nint * sizeof(braid_Int));
   index = malloc((size_t) nint * sizeof(braid_Int));
   v     = _braid_CAlloc((size_t) nint, sizeof(braid_Vector));
   batch = malloc((size_t) nint * sizeof(braid_Vector));
   if (!flo || !fhi || !ci || !index || !v || !batch)
   {
      rc = braid_ERROR_MEMORY;
      goto cleanup;
   }
   for (nu = 0; nu < nsweeps; nu++)
   {
      if (g->left >= 0)
      {
         _braid_Try(_braid_RecvPost(core, level, _braid_Wrap(g, g->ilower - 1), g->left, &recv));
      }
      if (g->right >= 0 && _braid_IsCPoint(g->iupper, g->cfactor))
      {
         _braid_Try(_braid_SendPost(core, level, g->iupper,
                                    g->ua[_braid_USlot(g, g->iupper)], g->right, &send));
      }
      /* interval p = ncpoints - k: right to left, as the point-by-point sweep */
      longest = 0;
      for (p = 0; p < nint; p++)
      {
         _braid_GetInterval(g, g->ncpoints - p, &flo[p], &fhi[p], &ci[p]);
         if (flo[p] <= fhi[p])
         {
            _braid_Try(_braid_StartValue(core, level, flo[p], &recv, &v[p]));
            longest = _braid_Max(longest, fhi[p] - flo[p] + 1);
         }
         else if (_braid_HasCPointUpdate(core, ci[p]))
         {
            _braid_Try(_braid_StartValue(core, level, ci[p], &recv, &v[p]));
         }
      }
      for (j = 0; j < longest; j++)
      {
         for (m = 0, p = 0; p < nint; p++)
         {
            if (flo[p] + j <= fhi[p])
            {
               index[m]   = flo[p] + j;
               batch[m++] = v[p];
            }
         }
         _braid_Try(_braid_StepBatch(core, level, m, index, batch, caller));
         for (q = 0; q < m; q++)
         {
            _braid_Try(_braid_StoreFPoint(core, level, index[q], batch[q]));
            if (access_all)
            {
               _braid_Try(_braid_BaseAccess(core, level, index[q], batch[q], caller));
            }
            if (index[q] == g->iupper && g->right >= 0)
            {
               _braid_Try(_braid_SendPost(core, level, index[q], batch[q], g->right, &send));
            }
         }
      }
      for (m = 0, p = 0; p < nint; p++)
      {
         if (_braid_HasCPointUpdate(core, ci[p]))
         {
            index[m]   = ci[p];
            batch[m++] = v[p];
         }
      }
      _braid_Try(_braid_StepBatch(core, level, m, index, batch, caller));
      for (p = 0; p < nint; p++)
      {
         if (_braid_HasCPointUpdate(core, ci[p]))
         {
            slot = _braid_USlot(g, ci[p]);
            if (weighted)
            {
               _braid_Try(_braid_BaseSum(core, 1.0 - cwt, g->ua[slot], cwt, v[p]));
            }
            old         = g->ua[slot];
            g->ua[slot] = v[p];
            v[p]        = NULL;
            _braid_Try(_braid_FreeVector(core, &old));
         }
         else if (v[p] != NULL)
         {
            _braid_Try(_braid_FreeVector(core, &v[p]));
         }
         if (ci[p] >= 0 && access_all)
         {
            _braid_Try(_braid_BaseAccess(core, level, ci[p], g->ua[_braid_USlot(g, ci[p])],
                                         caller));
         }
      }
      _braid_Try(_braid_SendFinish(core, &send));
   }
cleanup:
   if (rc)
   {
      for (p = 0; v != NULL && p < nint; p++)
      {
         _braid_FreeQuietly(core, &v[p]);
      }
      _braid_SweepCleanup(core, &none, &old, &recv, &send);
   }
   free(flo);
   free(fhi);
   free(ci);
   free(index);
   free(v);
   free(batch);
   return rc;
}

braid_Int
_braid_FCRelax(braid_Core core, braid_Int level, braid_Int nsweeps, braid_Int final)
{
   _braid_Grid *g          = &core->grids[level];
   braid_Real   cwt        = _braid_LevelCWt(core, level);
   braid_Int    weighted   = (cwt != 1.0) &&
                             (level != core->nlevels - 1 || core->relax_only_cg);
   braid_Int    access_all = final || core->access_level >= 3;
   braid_Int    caller     = braid_ASCaller_FCRelax;
   braid_Int    nu, k, flo, fhi, ci, fi, slot, rc = 0;
   braid_Vector v = NULL, old = NULL;
   _braid_Msg   recv = {0}, send = {0};

   if (core->step_batch != NULL)
   {
      return _braid_FCRelaxBatched(core, level, nsweeps, final);
   }
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
      for (k = g->ncpoints; k >= 0; k--)
      {
         _braid_GetInterval(g, k, &flo, &fhi, &ci);
         if (flo <= fhi)
         {
            _braid_Try(_braid_StartValue(core, level, flo, &recv, &v));
         }
         else if (_braid_HasCPointUpdate(core, ci))
         {
            _braid_Try(_braid_StartValue(core, level, ci, &recv, &v));
         }
         for (fi = flo; fi <= fhi; fi++)
         {
            _braid_Try(_braid_Step(core, level, fi, v, caller));
            _braid_Try(_braid_StoreFPoint(core, level, fi, v));
            if (access_all)
            {
               _braid_Try(_braid_BaseAccess(core, level, fi, v, caller));
            }
            if (fi == g->iupper && g->right >= 0)
            {
               _braid_Try(_braid_SendPost(core, level, fi, v, g->right, &send));
            }
         }
         if (_braid_HasCPointUpdate(core, ci))
         {
            slot = _braid_USlot(g, ci);
            _braid_Try(_braid_Step(core, level, ci, v, caller));
            if (weighted)
            {
               _braid_Try(_braid_BaseSum(core, 1.0 - cwt, g->ua[slot], cwt, v));
            }
            old         = g->ua[slot];
            g->ua[slot] = v;
            v           = NULL;
            _braid_Try(_braid_FreeVector(core, &old));
         }
         else if (v != NULL)
         {
            _braid_Try(_braid_FreeVector(core, &v));
         }
         if (ci >= 0 && access_all)
         {
            _braid_Try(_braid_BaseAccess(core, level, ci, g->ua[_braid_USlot(g, ci)], caller));
         }
      }
      _braid_Try(_braid_SendFinish(core, &send));
   }
cleanup:
   if (rc)
   {
      _braid_SweepCleanup(core, &v, &old, &recv, &send);
   }
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

/*
 * F-relax `level`, compute the residual at its C-points and restrict to
 * level+1: the coarse values v (injection), the coarse initial guess u = v,
 * and the FAS right-hand side f = r + A_c(v).  On level 0 the residual norm
 * of the iteration is computed here too.
 */
braid_Int
_braid_FRestrict(braid_Core core, braid_Int level)
{
   _braid_Grid *g    = &core->grids[level];
   _braid_Grid *cg   = &core->grids[level + 1];
   braid_Int    m    = g->cfactor, caller = braid_ASCaller_FRestrict;
   braid_Int    norms = (level == 0 && core->resid_compute);
   braid_Int    k, flo, fhi, ci, fi, slot, c, j, rc = 0;
   braid_Real   acc = 0.0, norm;
   braid_Real  *cnorms = NULL; /* the C-points' norms, for print level 3 */
   braid_Vector v = NULL, w = NULL;
   _braid_Msg   recv = {0}, send = {0}, crecv = {0}, csend = {0};

   if (norms && core->print_level > 2)
   {
      cnorms = (braid_Real *) _braid_CAlloc((size_t) g->ncpoints, sizeof(braid_Real));
      if (cnorms == NULL)
      {
         return braid_ERROR_MEMORY;
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
   for (k = g->ncpoints; k >= 0; k--)
   {
      _braid_GetInterval(g, k, &flo, &fhi, &ci);
      if (flo <= fhi)
      {
         _braid_Try(_braid_StartValue(core, level, flo, &recv, &v));
      }
      else if (_braid_HasCPointUpdate(core, ci))
      {
         _braid_Try(_braid_StartValue(core, level, ci, &recv, &v));
      }
      for (fi = flo; fi <= fhi; fi++)
      {
         _braid_Try(_braid_Step(core, level, fi, v, caller));
         _braid_Try(_braid_StoreFPoint(core, level, fi, v));
         if (core->access_level >= 3)
         {
            _braid_Try(_braid_BaseAccess(core, level, fi, v, caller));
         }
         if (fi == g->iupper && g->right >= 0)
         {
            _braid_Try(_braid_SendPost(core, level, fi, v, g->right, &send));
         }
      }
      if (_braid_HasCPointUpdate(core, ci))
      {
         slot = _braid_USlot(g, ci);
         c    = ci / m - cg->ilower;
         _braid_Try(_braid_FASResidual(core, level, ci, g->ua[slot], v));
         if (norms)
         {
            _braid_Try(_braid_BaseSpatialNorm(core, v, &norm));
            _braid_AccumulateNorm(core, norm, &acc);
            if (cnorms != NULL)
            {
               cnorms[k] = norm;
            }
         }
         _braid_Try(_braid_BaseClone(core, g->ua[slot], &cg->va[c]));
         _braid_Try(_braid_BaseClone(core, v, &cg->fa[c]));
         _braid_Try(_braid_FreeVector(core, &v));
      }
      else if (ci == 0)
      {
         _braid_Try(_braid_BaseClone(core, g->ua[_braid_USlot(g, 0)], &cg->va[0]));
      }
      else if (v != NULL)
      {
         _braid_Try(_braid_FreeVector(core, &v));
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

   /* FAS right-hand side: f_j = r_j + (v_j - Phi_c(v_{j-1})) */
   if (cg->right >= 0)
   {
      _braid_Try(_braid_SendPost(core, level + 1, cg->iupper,
                                 cg->va[cg->iupper - cg->ilower], cg->right, &csend));
   }
   for (j = cg->iupper; j >= (core->periodic ? cg->ilower : _braid_Max(cg->ilower, 1)); j--)
   {
      if (j == cg->ilower)
      {
         _braid_Try(_braid_RecvFinish(core, level + 1, j - 1, &crecv, &w));
      }
      else
      {
         _braid_Try(_braid_BaseClone(core, cg->va[j - 1 - cg->ilower], &w));
      }
      _braid_Try(_braid_Residual(core, level + 1, j, cg->va[j - cg->ilower], w,
                                 braid_ASCaller_Residual));
      _braid_Try(_braid_BaseSum(core, 1.0, w, 1.0, cg->fa[j - cg->ilower]));
      _braid_Try(_braid_FreeVector(core, &w));
   }
   _braid_Try(_braid_SendFinish(core, &csend));

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
      _braid_SweepCleanup(core, &v, &w, &recv, &send);
      _braid_MsgAbandon(core, &crecv);
      _braid_MsgAbandon(core, &csend);
   }
   free(cnorms);
   return rc;
}

/* ----------------------------------------------------- interpolation */

/*
 * F-relax the coarse `level` and correct the C-points of level-1 by the
 * change of each coarse value, then drop the coarse level's vectors.
 * On the coarsest level this is the sequential coarse solve.
 */
braid_Int
_braid_FInterp(braid_Core core, braid_Int level)
{
   _braid_Grid *g  = &core->grids[level];
   _braid_Grid *fg = &core->grids[level - 1];
   braid_Int    m = g->cfactor, fm = fg->cfactor, caller = braid_ASCaller_FInterp;
   braid_Int    need_send = g->right >= 0 && !_braid_IsCPoint(_braid_Wrap(g, g->iupper + 1), m);
   braid_Int    k, flo, fhi, ci, fi, rc = 0;
   braid_Vector v = NULL, fe = NULL, e;
   _braid_Msg   recv = {0}, send = {0};

   /* the coarsest level is solved by FC-relaxation when asked, and on a periodic grid */
   if (level == core->nlevels - 1 && (core->relax_only_cg || core->periodic))
   {
      _braid_Check(_braid_FCRelax(core, level,
                                  _braid_LevelNRelax(core, core->max_levels - 1), 0));
   }
   if (g->left >= 0 && !_braid_IsCPoint(g->ilower, m))
   {
      _braid_Try(_braid_RecvPost(core, level, _braid_Wrap(g, g->ilower - 1), g->left, &recv));
   }
   if (need_send && _braid_IsCPoint(g->iupper, m))
   {
      _braid_Try(_braid_SendPost(core, level, g->iupper, g->ua[_braid_USlot(g, g->iupper)],
                                 g->right, &send));
   }
   for (k = g->ncpoints; k >= 0; k--)
   {
      _braid_GetInterval(g, k, &flo, &fhi, &ci);
      if (flo <= fhi)
      {
         _braid_Try(_braid_StartValue(core, level, flo, &recv, &v));
         for (fi = flo; fi <= fhi; fi++)
         {
            _braid_Try(_braid_Step(core, level, fi, v, caller));
            _braid_Try(_braid_StoreFPoint(core, level, fi, v));
            if (core->access_level >= 3)
            {
               _braid_Try(_braid_BaseAccess(core, level, fi, v, caller));
            }
            if (fi == g->iupper && need_send)
            {
               _braid_Try(_braid_SendPost(core, level, fi, v, g->right, &send));
            }
            /* e = u_c - v_c, added to the fine C-point */
            e = g->va[fi - g->ilower];
            _braid_Try(_braid_BaseSum(core, 1.0, v, -1.0, e));
            _braid_Try(_braid_BaseClone(core, e, &fe));
            _braid_Try(_braid_BaseSum(core, 1.0, fe, 1.0,
                                      fg->ua[_braid_USlot(fg, fi * fm)]));
            _braid_Try(_braid_FreeVector(core, &fe));
         }
         _braid_Try(_braid_FreeVector(core, &v));
      }
      if (_braid_HasCPointUpdate(core, ci))
      {
         e = g->va[ci - g->ilower];
         _braid_Try(_braid_BaseSum(core, 1.0, g->ua[_braid_USlot(g, ci)], -1.0, e));
         _braid_Try(_braid_BaseClone(core, e, &fe));
         _braid_Try(_braid_BaseSum(core, 1.0, fe, 1.0, fg->ua[_braid_USlot(fg, ci * fm)]));
         _braid_Try(_braid_FreeVector(core, &fe));
      }
   }
   _braid_Try(_braid_SendFinish(core, &send));
   _braid_Try(_braid_FreeLevelVectors(core, level));
cleanup:
   if (rc)
   {
      _braid_SweepCleanup(core, &v, &fe, &recv, &send);
   }
   return rc;
}

/* ------------------------------------------------------------ access */

/*
 * F-relax `level` and show every point to the user's access function.  At
 * the end of a solve (done = 1) this is the final F-sweep; the value at the
 * last time index is kept in ulast when the level does not store it.
 */
braid_Int
_braid_FAccess(braid_Core core, braid_Int level, braid_Int done)
{
   _braid_Grid *g = &core->grids[level];
   braid_Int    m = g->cfactor, caller = braid_ASCaller_FAccess;
   braid_Int    need_send = g->right >= 0 && !_braid_IsCPoint(_braid_Wrap(g, g->iupper + 1), m);
   braid_Int    show = core->access_level >= 1;
   braid_Int    k, flo, fhi, ci, fi, rc = 0;
   braid_Vector v = NULL, last = NULL;
   _braid_Msg   recv = {0}, send = {0};

   core->done = done;
   if (g->left >= 0 && !_braid_IsCPoint(g->ilower, m))
   {
      _braid_Try(_braid_RecvPost(core, level, _braid_Wrap(g, g->ilower - 1), g->left, &recv));
   }
   if (need_send && _braid_IsCPoint(g->iupper, m))
   {
      _braid_Try(_braid_SendPost(core, level, g->iupper, g->ua[_braid_USlot(g, g->iupper)],
                                 g->right, &send));
   }
   for (k = g->ncpoints; k >= 0; k--)
   {
      _braid_GetInterval(g, k, &flo, &fhi, &ci);
      if (flo <= fhi)
      {
         _braid_Try(_braid_StartValue(core, level, flo, &recv, &v));
         for (fi = flo; fi <= fhi; fi++)
         {
            _braid_Try(_braid_Step(core, level, fi, v, caller));
            _braid_Try(_braid_StoreFPoint(core, level, fi, v));
            if (fi == g->iupper && need_send)
            {
               _braid_Try(_braid_SendPost(core, level, fi, v, g->right, &send));
            }
            if (done && level == 0 && fi == g->gupper && _braid_USlot(g, fi) < 0)
            {
               last        = core->ulast;
               core->ulast = NULL;
               _braid_Try(_braid_BaseClone(core, v, &core->ulast));
               if (last != NULL)
               {
                  _braid_Try(_braid_FreeVector(core, &last));
               }
            }
            if (show)
            {
               _braid_Try(_braid_BaseAccess(core, level, fi, v, caller));
            }
         }
         _braid_Try(_braid_FreeVector(core, &v));
      }
      if (ci >= 0 && show)
      {
         _braid_Try(_braid_BaseAccess(core, level, ci, g->ua[_braid_USlot(g, ci)], caller));
      }
   }
   _braid_Try(_braid_SendFinish(core, &send));
cleanup:
   if (rc)
   {
      _braid_SweepCleanup(core, &v, &last, &recv, &send);
   }
   return rc;
}
