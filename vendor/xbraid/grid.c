/*
 * grid.c -- the time grid: block distribution, the level hierarchy, time
 * values, and where each point's vectors are kept.
 */
#include <stdlib.h>
#include "_braid.h"

/* Block distribution of the fine points 0..npoints-1 over nprocs ranks. */
static void
_braid_BlockRange(braid_Int npoints, braid_Int nprocs, braid_Int p, braid_Int *lo,
                  braid_Int *hi)
{
   braid_Int quo = npoints / nprocs, rem = npoints % nprocs;

   *lo = p * quo + _braid_Min(p, rem);
   *hi = (p + 1) * quo + _braid_Min(p + 1, rem) - 1;
}

static braid_Int
_braid_FineOwner(braid_Int npoints, braid_Int nprocs, braid_Int i)
{
   braid_Int quo = npoints / nprocs, rem = npoints % nprocs, p, q;

   if (quo == 0)
   {
      return i;
   }
   p = i / (quo + 1);
   q = (i - rem * (quo + 1)) / quo;
   return p < rem ? p : rem + q;
}

/* Rank owning `index` on `level`: coarse points live where their fine images do.
   On a periodic grid index -1 is the last index and gupper+1 the first. */
braid_Int
_braid_Owner(braid_Core core, braid_Int level, braid_Int index)
{
   const _braid_Grid *g = &core->grids[level];

   return _braid_FineOwner(core->gupper + 1, core->nprocs,
                           _braid_Wrap(g, index) * g->fine_stride);
}

/* Slot of `index` in ua, or -1 when the level does not keep that point.  With
   shell vectors every point has a slot; F-point slots hold shells. */
braid_Int
_braid_USlot(const _braid_Grid *g, braid_Int index)
{
   if (index < g->ilower || index > g->iupper)
   {
      return -1;
   }
   if (g->store_all || g->shells)
   {
      return index - g->ilower;
   }
   if (!_braid_IsCPoint(index, g->cfactor))
   {
      return -1;
   }
   return (index - g->clower) / g->cfactor;
}

/* The slot of `index` holds a shell vector, not a full one. */
braid_Int
_braid_IsShell(const _braid_Grid *g, braid_Int index)
{
   return g->shells && !_braid_IsCPoint(index, g->cfactor);
}

/* C-point ci is relaxed, has a residual and is corrected: every C-point but the
   initial condition, and on a periodic grid index 0 too. */
braid_Int
_braid_HasCPointUpdate(braid_Core core, braid_Int ci)
{
   return ci > 0 || (ci == 0 && core->periodic);
}

/*
 * Interval k of my range, k = 0..ncpoints.  For k < ncpoints it is the C-point
 * ci = clower + k*cfactor preceded by its F-points flo..fhi that lie in my range;
 * k == ncpoints is the run of F-points after my last C-point (ci = -1).
 * Empty F-runs have flo > fhi.
 */
void
_braid_GetInterval(const _braid_Grid *g, braid_Int k, braid_Int *flo, braid_Int *fhi,
                   braid_Int *ci)
{
   if (k < g->ncpoints)
   {
      *ci  = g->clower + k * g->cfactor;
      *flo = _braid_Max(*ci - g->cfactor + 1, g->ilower);
      *fhi = *ci - 1;
   }
   else
   {
      *ci  = -1;
      *flo = g->ncpoints > 0 ? g->cupper + 1 : g->ilower;
      *fhi = g->iupper;
   }
}

/* Fill in the C-point range of a level whose ilower, iupper and cfactor are set. */
static void
_braid_SetCRange(_braid_Grid *g)
{
   long long m = g->cfactor, lo = g->ilower, hi = g->iupper;

   /* in long long: ilower + m - 1 may pass INT_MAX for a huge cfactor */
   lo        = ((lo + m - 1) / m) * m;
   g->cupper = (braid_Int) ((hi / m) * m);
   g->clower = lo > hi ? g->iupper + 1 : (braid_Int) lo;
   if (g->ilower > g->iupper || g->clower > g->cupper)
   {
      g->ncpoints = 0;
   }
   else
   {
      g->ncpoints = (g->cupper - g->clower) / m + 1;
   }
}

/* Levels >= storage (storage >= 0) keep every point; the others only C-points. */
static braid_Int
_braid_StoresAll(braid_Core core, braid_Int level)
{
   return core->storage >= 0 && level >= core->storage;
}

/* Send my last time value to the right neighbour, receive ta[-1] from the left
   (on a periodic grid the first rank receives the last time value). */
static braid_Int
_braid_ExchangeTLeft(braid_Core core, _braid_Grid *g)
{
   MPI_Request req;
   braid_Int   nlocal = g->iupper - g->ilower + 1;

   if (nlocal <= 0)
   {
      return 0;
   }
   if (g->right >= 0)
   {
      MPI_Isend(&g->ta[nlocal - 1], 1, braid_MPI_REAL, g->right, 0, core->comm, &req);
   }
   if (g->left >= 0)
   {
      MPI_Recv(&g->ta[-1], 1, braid_MPI_REAL, g->left, 0, core->comm, MPI_STATUS_IGNORE);
   }
   else
   {
      g->ta[-1] = g->ta[0];
   }
   if (g->right >= 0)
   {
      MPI_Wait(&req, MPI_STATUS_IGNORE);
   }
   return 0;
}

static braid_Int
_braid_AllocLevel(braid_Core core, braid_Int level)
{
   _braid_Grid *g      = &core->grids[level];
   size_t       nlocal = (size_t) _braid_Max(g->iupper - g->ilower + 1, 0);

   g->store_all = _braid_StoresAll(core, level);
   g->shells    = core->useshell && !g->store_all;
   g->nslots    = (g->store_all || g->shells) ? (braid_Int) nlocal : g->ncpoints;
   g->ta_alloc  = (braid_Real *) _braid_CAlloc(nlocal + 1, sizeof(braid_Real));
   g->ta        = g->ta_alloc ? g->ta_alloc + 1 : NULL;
   g->ua        = (braid_Vector *) _braid_CAlloc((size_t) g->nslots, sizeof(braid_Vector));
   if (!g->ta_alloc || !g->ua)
   {
      return braid_ERROR_MEMORY;
   }
   if (level > 0)
   {
      g->va = (braid_Vector *) _braid_CAlloc(nlocal, sizeof(braid_Vector));
      g->fa = (braid_Vector *) _braid_CAlloc(nlocal, sizeof(braid_Vector));
      if (!g->va || !g->fa)
      {
         return braid_ERROR_MEMORY;
      }
   }
   return 0;
}

/* Neighbours on a level: the owners of ilower-1 and iupper+1, if I hold points. */
static void
_braid_SetNeighbours(braid_Core core, braid_Int level)
{
   _braid_Grid *g = &core->grids[level];

   g->left  = -1;
   g->right = -1;
   if (g->ilower > g->iupper)
   {
      return;
   }
   if (core->periodic)
   {
      g->left  = _braid_Owner(core, level, g->ilower - 1);
      g->right = _braid_Owner(core, level, g->iupper + 1);
      return;
   }
   if (g->ilower > 0)
   {
      g->left = _braid_Owner(core, level, g->ilower - 1);
   }
   if (g->iupper < g->gupper)
   {
      g->right = _braid_Owner(core, level, g->iupper + 1);
   }
}

/* The levels (the hierarchy rule of the semantics document): every rank decides
   the same; each keeps the images of its own points. */
static braid_Int
_braid_ChooseLevels(braid_Core core, braid_Int maxgrids)
{
   braid_Int    G = core->gupper, level, m, Gc, stride = 1;
   _braid_Grid *g, *fg;

   for (level = 0;; level++)
   {
      g              = &core->grids[level];
      g->gupper      = G;
      g->fine_stride = stride;
      if (level == 0)
      {
         _braid_BlockRange(core->gupper + 1, core->nprocs, core->myid, &g->ilower, &g->iupper);
      }
      else
      {
         /* the images of my C-points on the finer level (possibly none) */
         fg        = &core->grids[level - 1];
         g->ilower = fg->clower / fg->cfactor;
         g->iupper = fg->ncpoints > 0 ? fg->cupper / fg->cfactor : g->ilower - 1;
      }
      m  = _braid_LevelCFactor(core, level);
      Gc = G / m;
      /* a short time grid is solved on one level, whatever max_levels says */
      if (core->gupper > core->min_coarse && Gc > 0 && core->max_levels > level + 1 &&
          level + 1 < maxgrids && Gc >= core->min_coarse)
      {
         g->cfactor = m;
         _braid_SetCRange(g);
         G       = Gc;
         stride *= m;
         continue;
      }
      /* coarsest level: only index 0 is a C-point unless it is relaxed (always
         on a periodic grid, whose coarsest level is solved by FC-relaxation) */
      g->cfactor = (core->relax_only_cg || core->periodic) ? m : G + 1;
      _braid_SetCRange(g);
      return level + 1;
   }
}

/*
 * Build the levels, the time values of every level and the vector arrays.
 * Allocation (and the user's time grid) come first and every rank learns
 * whether all succeeded before any message is exchanged: a rank that ran out
 * of memory never leaves another one waiting.
 */
braid_Int
_braid_BuildHierarchy(braid_Core core)
{
   braid_Int    nlevels = 0, level, i, k, ilo, ihi, rc = 0, grc = 0;
   /* every level at least halves the grid: no more levels than bits in an int */
   braid_Int    maxgrids = _braid_Min(core->max_levels, 8 * (braid_Int) sizeof(braid_Int));
   _braid_Grid *g, *fg;

   core->grids = (_braid_Grid *) _braid_CAlloc((size_t) maxgrids, sizeof(_braid_Grid));
   if (core->grids == NULL)
   {
      rc = braid_ERROR_MEMORY;
   }
   else
   {
      nlevels = _braid_ChooseLevels(core, maxgrids);
   }
   core->nlevels = nlevels;

   for (level = 0; level < nlevels && rc == 0; level++)
   {
      rc = _braid_AllocLevel(core, level);
      _braid_SetNeighbours(core, level);
   }

   /* time values of the fine level, then copied down to the coarse levels */
   g = rc == 0 ? &core->grids[0] : NULL;
   if (rc == 0 && core->tgrid != NULL)
   {
      ilo = g->ilower;
      ihi = g->iupper;
      rc  = _braid_UserResult(core->tgrid(core->app, g->ta, &ilo, &ihi));
   }
   else if (rc == 0)
   {
      for (i = g->ilower; i <= g->iupper; i++)
      {
         g->ta[i - g->ilower] =
            core->tstart + (((braid_Real) i) / core->ntime) * (core->tstop - core->tstart);
      }
   }
   MPI_Allreduce(&rc, &grc, 1, braid_MPI_INT, MPI_MAX, core->comm);
   if (grc != 0)
   {
      return rc != 0 ? rc : grc;
   }
   _braid_ExchangeTLeft(core, g);
   for (level = 1; level < nlevels; level++)
   {
      g  = &core->grids[level];
      fg = &core->grids[level - 1];
      for (i = g->ilower; i <= g->iupper; i++)
      {
         k                    = i * fg->cfactor;
         g->ta[i - g->ilower] = fg->ta[k - fg->ilower];
      }
      _braid_ExchangeTLeft(core, g);
   }
   return 0;
}

/* Free every vector of one level (errors of the free callback are reported). */
braid_Int
_braid_FreeLevelVectors(braid_Core core, braid_Int level)
{
   _braid_Grid *g      = &core->grids[level];
   braid_Int    nlocal = _braid_Max(g->iupper - g->ilower + 1, 0), k, rc = 0, e;

   /* a level whose arrays could not all be allocated holds no vectors there */
   for (k = 0; g->ua != NULL && k < g->nslots; k++)
   {
      if (g->ua[k] != NULL)
      {
         e = _braid_BaseFree(core, g->ua[k]);
         rc = rc ? rc : e;
         g->ua[k] = NULL;
      }
   }
   if (level > 0 && g->va != NULL && g->fa != NULL)
   {
      for (k = 0; k < nlocal; k++)
      {
         if (g->va[k] != NULL)
         {
            e = _braid_BaseFree(core, g->va[k]);
            rc = rc ? rc : e;
            g->va[k] = NULL;
         }
         if (g->fa[k] != NULL)
         {
            e = _braid_BaseFree(core, g->fa[k]);
            rc = rc ? rc : e;
            g->fa[k] = NULL;
         }
      }
   }
   return rc;
}

/* Free every vector the core holds; keeps going after a failing free. */
braid_Int
_braid_FreeAllVectors(braid_Core core)
{
   braid_Int level, rc = 0, e;

   for (level = 0; level < core->nlevels; level++)
   {
      e  = _braid_FreeLevelVectors(core, level);
      rc = rc ? rc : e;
   }
   if (core->ulast != NULL)
   {
      e  = _braid_BaseFree(core, core->ulast);
      rc = rc ? rc : e;
      core->ulast = NULL;
   }
   return rc;
}

void
_braid_DestroyHierarchy(braid_Core core)
{
   braid_Int level;

   if (core->grids == NULL)
   {
      return;
   }
   for (level = 0; level < core->nlevels; level++)
   {
      free(core->grids[level].ta_alloc);
      free(core->grids[level].ua);
      free(core->grids[level].va);
      free(core->grids[level].fa);
   }
   free(core->grids);
   core->grids       = NULL;
   core->nlevels     = 0;
   core->initialized = 0;
}
