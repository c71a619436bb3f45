"""u' = lambda*u by backward Euler with MGRIT: the reference problem of
tests/data/xbraid-v3.1-histories.json, written as a pyxbraid app.

    mpirun -n 2 python -m mpi4py examples/dahlquist.py --ntime 1000 --ml 5 --tol 1e-10

Two apps solve the same problem with the same arithmetic:
- DahlquistNumpy: a NumpyApp, so clone/sum/norm/buffers run in C;
- DahlquistPython: every callback in Python.
Both step a rank's intervals together (step_batch) unless --batch 0.
"""
import argparse
import json
import math
import sys

import numpy as np

import pyxbraid


class _Dahlquist:
    """init and step of the reference problem; `solution` collects the final values."""

    def __init__(self, lam=-1.0, stepform=1, record=False):
        self.lam = lam
        self.stepform = stepform
        self.solution = {} if record else None

    def init(self, t):
        return np.ones(1) if t == 0.0 else np.full(1, 0.456)

    def step(self, ustop, fstop, u, status):
        # u.item(0) is a Python float: the same IEEE arithmetic as numpy's
        # scalar, at half the cost
        dt = status.tstop - status.tstart
        if self.stepform == 0:
            # XBraid's ex-01 writes the step this way (different round-off)
            u[0] = 1.0 / (1.0 + dt) * u.item(0)
        else:
            u[0] = u.item(0) / (1.0 - self.lam * dt)
        if fstop is not None:
            u[0] = u.item(0) + fstop.item(0)

    def step_batch(self, ustop, fstop, u, status):
        # every step of the batch at once, row i as step() does it: the same
        # IEEE operations, element by element (NumpyApp: (n, 1) arrays)
        dt = status.tstop - status.tstart
        if self.stepform == 0:
            u[:, 0] = 1.0 / (1.0 + dt) * u[:, 0]
        else:
            u[:, 0] = u[:, 0] / (1.0 - self.lam * dt)
        if fstop is not None:
            u[:, 0] += fstop[:, 0]

    def access(self, u, status):
        if self.solution is not None and status.done:
            self.solution[status.tindex] = float(u[0])


class DahlquistNumpy(_Dahlquist, pyxbraid.NumpyApp):
    """Vector operations in C (the NumpyApp fast path)."""


class DahlquistPython(_Dahlquist, pyxbraid.App):
    """Every callback in Python, with the same arithmetic as the C fast path."""

    def clone(self, u):
        return u.copy()

    def sum(self, alpha, x, beta, y):
        y[0] = alpha * x.item(0) + beta * y.item(0)

    def spatialnorm(self, u):
        value = u.item(0)
        return math.sqrt(value * value)

    def bufsize(self, status):
        return 8

    def bufpack(self, u, buffer, status):
        buffer[:8] = u.tobytes()
        status.set_size(8)

    def bufunpack(self, buffer, status):
        return np.frombuffer(buffer, dtype=np.float64, count=1).copy()

    def step_batch(self, ustop, fstop, u, status):
        # lists of vectors (an App's are any objects): one step() each
        for i, (us, v) in enumerate(zip(ustop, u)):
            self.step(us, None if fstop is None else fstop[i], v, _OneStep(status, i))


class _OneStep:
    """Step i of a batch, as a step's status."""

    def __init__(self, batch, i):
        self.tstart = float(batch.tstart[i])
        self.tstop = float(batch.tstop[i])


def solve(app, ntime, ml=2, cf=2, nu=1, tol=1e-6, skip=True, max_iter=100, comm=None,
          **options):
    """Solve the reference problem (dt = 0.5); return the finished Core."""
    core = pyxbraid.Core(app, comm, tstart=0.0, tstop=ntime / 2.0, ntime=ntime, max_levels=ml,
                         cfactor=cf, nrelax=nu, abs_tol=tol, skip=skip, max_iter=max_iter,
                         print_level=0, **options)
    core.drive()
    return core


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ntime", type=int, default=10)
    p.add_argument("--ml", type=int, default=2)
    p.add_argument("--cf", type=int, default=2)
    p.add_argument("--nu", type=int, default=1)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--skip", type=int, default=1)
    p.add_argument("--stepform", type=int, default=1)
    p.add_argument("--python", action="store_true", help="every callback in Python")
    p.add_argument("--batch", type=int, default=1, choices=(0, 1),
                   help="0: step point by point instead of a batch of steps at once")
    p.add_argument("--max-batch", type=int, default=0, help="most steps a batch (0: all)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (rank 0)")
    args = p.parse_args(argv)

    cls = DahlquistPython if args.python else DahlquistNumpy
    app = cls(stepform=args.stepform, record=True)
    core = solve(app, args.ntime, args.ml, args.cf, args.nu, args.tol, bool(args.skip),
                 batch=bool(args.batch), max_batch=args.max_batch)
    comm = core.comm
    solution = {}
    for part in comm.gather(app.solution, root=0) or []:
        solution.update(part)
    if comm.rank == 0:
        result = {"niter": core.niter, "nlevels": core.nlevels, "batched": core.batched,
                  "rnorms": [float(r) for r in core.rnorms],
                  "solution": {str(k): solution[k] for k in sorted(solution)}}
        if args.json:
            print(json.dumps(result))
        else:
            print(f"niter {result['niter']}, nlevels {result['nlevels']}")
            print("residuals:", " ".join(f"{r:.3e}" for r in result["rnorms"]))
            print(f"u(T) = {solution[args.ntime]:.17g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
