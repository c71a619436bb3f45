"""Su & Chen 2015 in small: data-parallel training with model averaging on
the digits, validation accuracy against the averaging interval, the number
of ranks, plain SGD against natural-gradient SGD, with and without RBM
pretraining.  Every configuration trains the same number of epochs (each
rank passes over its shard `epochs` times), so the ranks see the same data
in all as one rank does.

    python bench/su_chen2015.py [--epochs 20] [--ranks 1 2 4] [--out docs/su_chen2015.md]

starts one `mpirun -n P` per rank count (this script again, as a worker),
and writes the table (markdown) and the raw numbers (json next to it).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVERY = (1, 4, 16, 64)
BATCH = 16


def configurations(ranks):
    """(optimizer, pretrain, every) of one rank count (one rank: every is moot)."""
    for optimizer in ("sgd", "ngsgd"):
        for pretrain in (False, True):
            for every in (EVERY if ranks > 1 else (1,)):
                yield optimizer, pretrain, every


def worker(epochs, seed, out):
    """Every configuration on this job's ranks; rank 0 writes the results."""
    import numpy as np
    from mpi4py import MPI

    from pyxbraid.data import digits
    from pyxbraid.nn import MLP
    from pyxbraid.train import DataSchedule
    from pyxbraid.train.averaging import (LearningRateSchedule, LocalSGDStep, ModelAverager,
                                          shard, train_averaged)
    from pyxbraid.train.ngsgd import NaturalGradientSGD

    comm = MPI.COMM_WORLD
    data, validation = digits(297, seed=seed)
    part = shard(data, comm.size, comm.rank, seed)
    results = []
    for optimizer, pretrain, every in configurations(comm.size):
        model = MLP([64, 64, 10], activation="sigmoid", output_activation="identity",
                    loss="softmax_cross_entropy")
        averager = ModelAverager(comm, "butterfly" if comm.size & (comm.size - 1) == 0
                                 else "allreduce")
        w0 = model.init_params(np.random.default_rng(seed), scheme="xavier")
        schedule = DataSchedule(part, "minibatch", BATCH, seed=seed)
        batches = comm.allreduce(len(schedule), op=MPI.MAX)  # the same count on every rank
        if pretrain:
            from pyxbraid.train.rbm import pretrain as rbm_pretrain
            w0 = rbm_pretrain(model, part.x, epochs=5, learning_rate=0.1, batch_size=BATCH,
                              rng=np.random.default_rng(seed), average=averager,
                              average_every=every, batches_per_epoch=batches)
        steps = epochs * batches
        initial, final = (0.5, 0.05) if optimizer == "sgd" else (0.2, 0.02)
        rate = LearningRateSchedule(initial, final, steps, comm.size, scale_with_ranks=True)
        preconditioners = (NaturalGradientSGD(model, learning_rate=initial).preconditioners
                           if optimizer == "ngsgd" else None)
        step = LocalSGDStep(model, schedule, rate, max_change=1.0,
                            preconditioners=preconditioners)
        comm.Barrier()
        start = MPI.Wtime()
        w = train_averaged(step, w0, steps, averager, every)
        seconds = comm.allreduce(MPI.Wtime() - start, op=MPI.MAX)
        results.append(dict(ranks=comm.size, optimizer=optimizer, pretrain=pretrain,
                            every=every, steps=steps, seconds=seconds,
                            accuracy=model.accuracy(w, validation.x, validation.y),
                            loss=model.loss(w, data.x, data.y), capped=step.capped))
    if comm.rank == 0:
        Path(out).write_text(json.dumps(results))


def table(results):
    serial = {(r["optimizer"], r["pretrain"]): r["accuracy"] for r in results if r["ranks"] == 1}
    lines = ["| optimizer | RBM pretraining | ranks | average every | validation accuracy | "
             "vs 1 rank (points) | training loss |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["optimizer"], r["pretrain"], r["ranks"],
                                            r["every"])):
        every = "-" if r["ranks"] == 1 else str(r["every"])
        delta = 100 * (r["accuracy"] - serial[r["optimizer"], r["pretrain"]])
        lines.append(f"| {r['optimizer']} | {'yes' if r['pretrain'] else 'no'} | {r['ranks']} | "
                     f"{every} | {100 * r['accuracy']:.1f}% | {delta:+.1f} | "
                     f"{r['loss']:.4f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "su_chen2015.md"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.epochs, args.seed, args.worker)
        return
    mpirun = Path(sys.executable).parent / "mpirun"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    results = []
    raw = Path(args.out).with_suffix(".json")
    raw.parent.mkdir(parents=True, exist_ok=True)
    for ranks in args.ranks:
        part = raw.with_name(f"{raw.stem}-{ranks}.json")
        started = time.time()
        subprocess.run([str(mpirun), "-n", str(ranks), sys.executable, "-m", "mpi4py",
                        __file__, "--epochs", str(args.epochs), "--seed", str(args.seed),
                        "--worker", str(part)], check=True, env=env, cwd=ROOT)
        results += json.loads(part.read_text())
        part.unlink()
        print(f"{ranks} rank(s): {time.time() - started:.0f} s", file=sys.stderr)
    raw.write_text(json.dumps(results, indent=1))
    text = (f"Digits (1500 training, 297 validation images), MLP 64-64-10 (sigmoid), "
            f"{args.epochs} epochs of minibatches of {BATCH} on every configuration, learning "
            f"rate decaying exponentially 10x over the run and scaled with the ranks, "
            f"max-change 1.0.\n\n" + table(results) + "\n")
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
