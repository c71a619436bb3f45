"""The 1-D heat equation u_t = u_xx solved parallel in time with MGRIT.

On x in [0, 1] with u = 0 at both ends and u(0, x) = sin(pi x), the exact
solution is exp(-pi^2 t) sin(pi x).  Space: nx interior points and the
second-difference matrix L; time: backward Euler, each step solves
(I - dt L) u_new = u_old with the Thomas algorithm.  MGRIT's answer is
compared with plain sequential time-stepping and with the exact solution.

    mpirun -n 2 python -m mpi4py examples/heat.py
    mpirun -n 4 python -m mpi4py examples/heat.py --nx 64 --ntime 1024 --ml 5 --json
"""
import argparse
import json
import math
import sys
import time
from types import SimpleNamespace

import numpy as np
from mpi4py import MPI

import pyxbraid


class Heat(pyxbraid.NumpyApp):
    """Vectors: the nx interior values, float64 arrays of shape (nx,)."""

    def __init__(self, nx=32, tstart=0.0):
        self.nx = nx
        self.tstart = tstart
        self.x = np.arange(1, nx + 1) / (nx + 1)
        self._factors = {}  # dt -> (r, 1/pivots, back-substitution multipliers)

    def init(self, t):
        return np.sin(math.pi * self.x) if t == self.tstart else np.zeros(self.nx)

    def _factor(self, dt):
        """Thomas factorization of I - dt L = tridiag(-r, 1 + 2r, -r), r = dt/dx^2."""
        if dt not in self._factors:
            r = dt * (self.nx + 1) ** 2
            inv_pivot, mult = [], []
            m = 1.0 + 2.0 * r
            for _ in range(self.nx):
                inv_pivot.append(1.0 / m)
                mult.append(r / m)
                m = 1.0 + 2.0 * r - r * mult[-1]
            self._factors[dt] = (r, inv_pivot, mult)
        return self._factors[dt]

    def step(self, ustop, fstop, u, status):
        r, inv_pivot, mult = self._factor(status.tstop - status.tstart)
        d = u.tolist()
        y = 0.0
        for i in range(self.nx):  # forward elimination
            y = (d[i] + r * y) * inv_pivot[i]
            d[i] = y
        for i in range(self.nx - 2, -1, -1):  # back substitution
            d[i] += mult[i] * d[i + 1]
        u[...] = d
        if fstop is not None:
            u += fstop

    def step_batch(self, ustop, fstop, u, status):
        # the steps of a batch together, (n, nx) arrays: the same operations
        # as step() on every row, a column at a time, rows of one dt at once
        dts = status.tstop - status.tstart
        for dt in np.unique(dts):
            rows = np.flatnonzero(dts == dt)
            d = u[rows]
            r, inv_pivot, mult = self._factor(float(dt))
            y = np.zeros(len(rows))
            for i in range(self.nx):
                y = (d[:, i] + r * y) * inv_pivot[i]
                d[:, i] = y
            for i in range(self.nx - 2, -1, -1):
                d[:, i] += mult[i] * d[:, i + 1]
            u[rows] = d
        if fstop is not None:
            u += fstop


def exact(x, t):
    return math.exp(-math.pi ** 2 * t) * np.sin(math.pi * x)


def sequential(nx, ntime, tstop):
    """u(tstop) by ntime backward Euler steps one after another, on XBraid's time grid."""
    app = Heat(nx)
    u = app.init(0.0)
    for i in range(ntime):
        status = SimpleNamespace(tstart=i / ntime * tstop, tstop=(i + 1) / ntime * tstop)
        app.step(None, None, u, status)
    return u


def solve(nx=32, ntime=256, tstop=0.5, ml=4, cf=2, tol=1e-9, max_iter=100, comm=None,
          batch=True):
    """MGRIT solve; returns (u(tstop) on every rank, the finished Core).
    batch=False steps point by point instead of through step_batch."""
    app = Heat(nx)
    last = []

    def access(u, status):
        if status.done and status.tindex == ntime:
            last[:] = [u.copy()]

    app.access = access
    core = pyxbraid.Core(app, comm, tstart=0.0, tstop=tstop, ntime=ntime, max_levels=ml,
                         cfactor=cf, nrelax=1, abs_tol=tol, max_iter=max_iter, print_level=0,
                         batch=batch)
    core.drive()
    u_final, = [u for part in core.comm.allgather(last) for u in part]
    return u_final, core


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nx", type=int, default=32, help="interior grid points")
    p.add_argument("--ntime", type=int, default=256, help="time steps")
    p.add_argument("--tstop", type=float, default=0.5)
    p.add_argument("--ml", type=int, default=4, help="max MGRIT levels")
    p.add_argument("--cf", type=int, default=2, help="coarsening factor")
    p.add_argument("--tol", type=float, default=1e-9, help="absolute residual tolerance")
    p.add_argument("--batch", type=int, default=1, choices=(0, 1),
                   help="0: step point by point instead of a batch of steps at once")
    p.add_argument("--json", action="store_true", help="print the result as JSON (rank 0)")
    args = p.parse_args(argv)

    comm = MPI.COMM_WORLD
    comm.Barrier()
    start = time.perf_counter()
    u, core = solve(args.nx, args.ntime, args.tstop, args.ml, args.cf, args.tol, comm=comm,
                    batch=bool(args.batch))
    wall = time.perf_counter() - start
    if comm.rank != 0:
        return 0
    x = np.arange(1, args.nx + 1) / (args.nx + 1)
    result = {"niter": core.niter, "nlevels": core.nlevels, "batched": core.batched,
              "rnorms": [float(r) for r in core.rnorms], "u": u.tolist(),
              "diff_sequential": float(np.abs(u - sequential(args.nx, args.ntime,
                                                                args.tstop)).max()),
              "error_exact": float(np.abs(u - exact(x, args.tstop)).max())}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"heat equation, nx={args.nx}, {args.ntime} backward Euler steps to "
              f"t={args.tstop}, {comm.size} ranks, {core.nlevels} levels, cf={args.cf}")
        print(f"MGRIT: {core.niter} iterations to |r| < {args.tol:g} in {wall:.2f} s")
        print("residuals:", " ".join(f"{r:.1e}" for r in result["rnorms"]))
        print(f"max |MGRIT - sequential stepping| = {result['diff_sequential']:.1e}")
        print(f"max |MGRIT - exact solution|      = {result['error_exact']:.1e}"
              f"  (discretization error)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
