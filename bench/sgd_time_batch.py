"""Benchmark of batched SGD-time steps: a problem file (examples/xor.yaml)
trained by `mgrit-train run` in mode sgd-time on 2 ranks with the per-point
step (mgrit.batch false) and with the batched step (the default), beside
mode serial (one rank, the same training); the best of 3 runs each.

    python bench/sgd_time_batch.py [--problem examples/xor.yaml] [--ranks 2] [--repeat 3]

`train s` is the run's own wall time (summary.json: the windows' solves,
metrics and checkpoints, from the first rank's clock), `process s` that of
the whole mpirun (Python and MPI start-up included).  Every run trains to the
same weights (the batched and the per-point to round-off; serial to the
MGRIT tolerance), which the table's last column shows against serial.

Goals (issue 12): batched at least 3x faster than per-point; stretch: faster
than serial.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pyxbraid.cli.rundir import load_weights

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(problem, ranks, sets, folder):
    """One mgrit-train run: (train seconds, process seconds, summary, weights)."""
    args = [str(BIN / "mpirun"), "-n", str(ranks), str(BIN / "mgrit-train"), "run",
            str(problem), "--out", str(folder), "--force", "--quiet"]
    for s in ["output.plots=false", *sets]:
        args += ["--set", s]
    start = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stderr}")
    summary = json.loads((folder / "summary.json").read_text())
    return summary["wall_time"], seconds, summary, load_weights(folder / "weights.npz")[0]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problem", type=Path, default=ROOT / "examples" / "xor.yaml")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    cases = [("sgd-time, per-point", args.ranks, ["mgrit.batch=false"]),
             ("sgd-time, batched", args.ranks, []),
             ("serial", 1, ["mode=serial"])]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeat):   # interleaved: a load that comes and goes hits all
            for name, ranks, sets in cases:
                train, process, summary, weights = run(args.problem, ranks, sets,
                                                       Path(tmp) / f"{repeat}-{ranks}-{len(name)}")
                best = rows.get(name)
                rows[name] = dict(ranks=ranks, train=min(train, best["train"]) if best else train,
                                  process=min(process, best["process"]) if best else process,
                                  iterations=sum(summary.get("mgrit_iterations", [])) or "-",
                                  weights=weights)
    serial = rows["serial"]
    per_point = rows["sgd-time, per-point"]["train"]
    print(f"{args.problem.name}: best of {args.repeat}\n")
    print("| run | ranks | train s | process s | vs per-point | vs serial | MGRIT iterations "
          "| max abs weight diff to serial |")
    print("|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        difference = float(np.max(np.abs(row["weights"] - serial["weights"])))
        print(f"| {name} | {row['ranks']} | {row['train']:.3f} | {row['process']:.2f} | "
              f"{per_point / row['train']:.2f}x | {serial['train'] / row['train']:.2f}x | "
              f"{row['iterations']} | {difference:.1e} |")


if __name__ == "__main__":
    main()
