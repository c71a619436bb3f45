"""Speed of data-parallel averaging: seconds per epoch of a compute-heavy
MLP (two hidden layers of 1024) on 50,000 synthetic samples, on 1 and 2
ranks (one BLAS thread each), averaging every 16 minibatches.  The epoch is
the whole data: P ranks each pass over their shard once.

    python bench/averaging_speed.py [--ranks 1 2] [--samples 50000] [--epochs 1]
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(samples, epochs, every, batch, out):
    import numpy as np
    from mpi4py import MPI

    from pyxbraid.data import Dataset
    from pyxbraid.nn import MLP
    from pyxbraid.train import DataSchedule
    from pyxbraid.train.averaging import (LearningRateSchedule, LocalSGDStep, ModelAverager,
                                          shard, train_averaged)

    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, 256))
    labels = np.argmax(x[:, :10] + 0.5 * rng.standard_normal((samples, 10)), axis=1)
    data = shard(Dataset(x, np.eye(10)[labels], "synthetic"), comm.size, comm.rank, 0)
    model = MLP([256, 1024, 1024, 10], activation="relu", output_activation="identity",
                loss="softmax_cross_entropy")
    w0 = model.init_params(np.random.default_rng(1), scheme="xavier")
    schedule = DataSchedule(data, "minibatch", batch, seed=0)
    steps = epochs * len(schedule)
    step = LocalSGDStep(model, schedule, LearningRateSchedule(0.05, steps=steps))
    averager = ModelAverager(comm)
    compute = [0.0]

    def timed_step(w, i):
        start = MPI.Wtime()
        step(w, i)
        compute[0] += MPI.Wtime() - start

    comm.Barrier()
    start = MPI.Wtime()
    w = train_averaged(timed_step, w0, steps, averager, every)
    total = comm.allreduce(MPI.Wtime() - start, op=MPI.MAX)
    compute = comm.allreduce(compute[0], op=MPI.MAX)
    if comm.rank == 0:
        Path(out).write_text(json.dumps(dict(
            ranks=comm.size, seconds_per_epoch=total / epochs, compute_per_epoch=compute / epochs,
            averages=averager.averages, steps_per_rank=steps, params=model.n_params,
            loss=model.loss(w, data.x[:2000], data.y[:2000]))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--samples", type=int, default=50000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--every", type=int, default=16)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.samples, args.epochs, args.every, args.batch, args.worker)
        return
    mpirun = Path(sys.executable).parent / "mpirun"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    rows = []
    out = ROOT / "bench" / "results" / "averaging_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for ranks in args.ranks:
        subprocess.run([str(mpirun), "-n", str(ranks), sys.executable, "-m", "mpi4py", __file__,
                        "--samples", str(args.samples), "--epochs", str(args.epochs),
                        "--every", str(args.every), "--batch", str(args.batch),
                        "--worker", str(out)], check=True, env=env, cwd=ROOT)
        rows.append(json.loads(out.read_text()))
    base = rows[0]["seconds_per_epoch"]
    print(f"MLP 256-1024-1024-10 ({rows[0]['params']} parameters), {args.samples} samples, "
          f"minibatch {args.batch}, average every {args.every}")
    print("| ranks | s / epoch | compute s / epoch | averages | speed-up |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['ranks']} | {row['seconds_per_epoch']:.2f} | "
              f"{row['compute_per_epoch']:.2f} | {row['averages']} | "
              f"{base / row['seconds_per_epoch']:.2f} |")
    out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
