"""Benchmark: the Dahlquist problem of the reference file solved by
  (a) the C example with C callbacks (vendor/xbraid/examples/dahlquist),
  (bb) pyxbraid with a NumpyApp stepping a rank's intervals together
       (step_batch: one Python call per sweep and group, not per point),
  (b) pyxbraid with a NumpyApp stepping point by point (batch=False;
      vector operations in C, step in Python),
  (c) pyxbraid with every callback in Python, point by point,
and, to separate the bindings' cost from the Python step's,
  (b0) pyxbraid with a NumpyApp whose step does nothing, point by point,
at ntime = 1e4 (2 levels) and 1e5 (5 levels), tol 1e-9, on 1 and 2 ranks.

    python bench/dahlquist.py [--repeat 5] [--ranks 1 2] [--json bench/results/dahlquist.json]

Prints seconds per MGRIT iteration (best of --repeat runs: wall-clock time on a
shared machine is noisy), the ratios bb/a, b/a, b0/a and c/a, and the speed-up
from 1 to 2 ranks.  The goals of the project: bb/a <= 1.5 at 1e5 points and 1
rank (issue 12), b/a <= 2.5, and at 1e5 points 2 ranks at least 1.6x faster
than 1 rank for (a) and (b).
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
C_EXAMPLE = ROOT / "vendor" / "xbraid" / "examples" / "dahlquist"
PROBLEMS = [(10_000, 2), (100_000, 5)]
TOL = 1e-9
KINDS = ["a", "bb", "b", "b0", "c"]
KIND_NAMES = {"a": "C example", "bb": "NumpyApp, batched", "b": "NumpyApp, per point",
              "b0": "NumpyApp, empty step", "c": "Python callbacks"}


def mpirun():
    return str(Path(sys.executable).parent / "mpirun")


def worker(kind, ntime, ml, repeat):
    """Runs under mpirun: the best seconds per iteration of `repeat` solves."""
    sys.path.insert(0, str(ROOT / "examples"))
    import numpy as np
    from mpi4py import MPI

    import pyxbraid
    from dahlquist import DahlquistNumpy, DahlquistPython

    class EmptyStep(pyxbraid.NumpyApp):
        def init(self, t):
            return np.ones(1) if t == 0.0 else np.full(1, 0.456)

        def step(self, ustop, fstop, u, status):
            pass

    comm = MPI.COMM_WORLD
    options = dict(tstart=0.0, tstop=ntime / 2.0, ntime=ntime, max_levels=ml, print_level=0,
                   batch=kind == "bb")
    if kind == "b0":
        # no convergence without a step: as many iterations as the real problem
        app_class, options = EmptyStep, dict(options, abs_tol=0.0, max_iter=int(os.environ["NITER"]))
    else:
        app_class = DahlquistPython if kind == "c" else DahlquistNumpy
        options["abs_tol"] = TOL
    best, niter = float("inf"), 0
    for _ in range(repeat):
        core = pyxbraid.Core(app_class(), comm, **options)
        comm.Barrier()
        start = MPI.Wtime()
        core.drive()
        seconds = comm.allreduce(MPI.Wtime() - start, op=MPI.MAX)
        niter = core.niter
        best = min(best, seconds / niter)
        core.destroy()
    if comm.rank == 0:
        print(json.dumps({"seconds_per_iter": best, "niter": niter}))


def measure(kind, ranks, ntime, ml, repeat, niter=None):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if kind == "a":
        # like the Python worker: `repeat` solves in one process, the best kept
        out = subprocess.run([mpirun(), "-n", str(ranks), str(C_EXAMPLE), "-ntime", str(ntime),
                              "-ml", str(ml), "-tol", repr(TOL), "-time", "-repeat", str(repeat)],
                             capture_output=True, text=True, check=True, env=env)
        values = dict(line.split() for line in out.stdout.splitlines())
        return float(values["seconds_per_iter"]), int(values["niter"])
    if niter is not None:
        env["NITER"] = str(niter)
    out = subprocess.run([mpirun(), "-n", str(ranks), sys.executable, "-m", "mpi4py", __file__,
                          "--worker", kind, str(ntime), str(ml), str(repeat)],
                         capture_output=True, text=True, check=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["seconds_per_iter"], result["niter"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=5, help="runs per configuration (best is kept)")
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "dahlquist.json")
    p.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        kind, ntime, ml, repeat = args.worker
        return worker(kind, int(ntime), int(ml), int(repeat))
    if not C_EXAMPLE.exists():
        sys.exit(f"{C_EXAMPLE} is missing: run `make install` first")

    results = []
    for ntime, ml in PROBLEMS:
        for ranks in args.ranks:
            row = {"ntime": ntime, "levels": ml, "ranks": ranks}
            for kind in KINDS:
                seconds, niter = measure(kind, ranks, ntime, ml, args.repeat,
                                         niter=row.get("niter"))
                row[kind] = seconds
                row.setdefault("niter", niter)
            results.append(row)
            print(f"  measured ntime={ntime} ranks={ranks}", file=sys.stderr, flush=True)

    print("\nDahlquist problem (reference file), tol 1e-9: seconds per MGRIT iteration, "
          f"best of {args.repeat}\n")
    print("| ntime | levels | ranks | iters | (a) C | (bb) NumpyApp batched | "
          "(b) NumpyApp per point | (b0) empty step | (c) Python | bb/a | b/a | b0/a | c/a | "
          "b/bb |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['ntime']:,} | {r['levels']} | {r['ranks']} | {r['niter']} | {r['a']:.2e} | "
              f"{r['bb']:.2e} | {r['b']:.2e} | {r['b0']:.2e} | {r['c']:.2e} | "
              f"{r['bb'] / r['a']:.2f} | {r['b'] / r['a']:.1f} | {r['b0'] / r['a']:.1f} | "
              f"{r['c'] / r['a']:.1f} | {r['b'] / r['bb']:.1f} |")
    by_key = {(r["ntime"], r["ranks"]): r for r in results}
    if 1 in args.ranks and 2 in args.ranks:
        print("\nspeed-up from 1 to 2 ranks:")
        for ntime, _ in PROBLEMS:
            one, two = by_key[(ntime, 1)], by_key[(ntime, 2)]
            print(f"  ntime {ntime:>7,}: " + ", ".join(
                f"({k}) {one[k] / two[k]:.2f}x" for k in KINDS))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print(f"\n(written to {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
