"""Benchmark of a convolutional ResNet (pyxbraid.nn.conv) trained
layer-parallel: scikit-learn's 8x8 digits, 8 channels, 3x3 kernels, N = 64
layers (T = 2, tanh), the flatten classifier, Adam, one-shot MGRIT
(forward_iters 2, adjoint_iters 1, max_levels 3, cfactor 2), as
examples/digits_conv.yaml.

1. seconds per optimizer step (minibatches of --batch images) of serial
   training (1 rank) and one-shot layer-parallel training on 1 and 2 ranks,
   the best of --repeat steps after a warm-up step, wall clock and CPU (the
   slowest rank's process time, which other work on the machine disturbs
   less);
2. validation accuracy after the same --steps Adam steps serially and
   layer-parallel (2 ranks).

    python bench/conv_digits.py [--repeat 5] [--batch 64] [--steps 150]

Goals: layer-parallel validation accuracy within 1 point of serial's; one-shot
on 2 ranks at least 1.6x faster per step than on 1 rank.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHANNELS, LAYERS, T = 8, 64, 2.0
ONE_SHOT = dict(mode="one-shot", forward_iters=2, adjoint_iters=1, max_levels=3)
LEARNING_RATE = 0.01


def problem():
    import numpy as np

    from pyxbraid.data import digits
    from pyxbraid.nn import ResNet

    data, validation = digits(297, seed=0)
    net = ResNet.conv(data.image, CHANNELS, LAYERS, data.n_outputs, T=T, activation="tanh",
                      gamma_t=1e-5, gamma_d=1e-5)
    return net, net.init_params(np.random.default_rng(0)), data, validation


def objective_of(kind, net, comm):
    from pyxbraid.train.layer_parallel import LayerParallel, Serial

    return Serial(net) if kind == "serial" else LayerParallel(net, comm, **ONE_SHOT)


def timing_worker(kind, batch, repeat):
    """Under mpirun: the best seconds (wall clock, CPU) of an Adam step."""
    from mpi4py import MPI

    from pyxbraid.train.optim import Adam

    comm = MPI.COMM_WORLD
    net, theta, data, _ = problem()
    x, y = data.x[:batch], data.y[:batch]
    objective, optimizer = objective_of(kind, net, comm), Adam(LEARNING_RATE)
    best = best_cpu = float("inf")
    for step in range(repeat + 1):
        comm.Barrier()
        start, start_cpu = MPI.Wtime(), time.process_time()
        loss, grad = objective.objective(theta, x, y)
        optimizer.update(theta, loss, grad, None)
        seconds, cpu = comm.allreduce((MPI.Wtime() - start, time.process_time() - start_cpu),
                                      op=MPI.MAX)
        if step > 0:
            best, best_cpu = min(best, seconds), min(best_cpu, cpu)
    if comm.rank == 0:
        print(json.dumps(dict(seconds=best, cpu_seconds=best_cpu)))


def accuracy_worker(batch, steps):
    """Under mpirun: validation accuracy after `steps` Adam steps, serially
    (every rank alike) and layer-parallel, from the same start and batches."""
    from mpi4py import MPI

    from pyxbraid.train.loop import train
    from pyxbraid.train.optim import Adam

    comm = MPI.COMM_WORLD
    net, theta0, data, validation = problem()
    row = {}
    for kind in ("serial", "layer-parallel"):
        comm.Barrier()
        start = time.perf_counter()
        theta = train(objective_of(kind, net, comm), Adam(LEARNING_RATE), theta0, data, steps,
                      batch_size=batch)
        row[kind] = net.accuracy(theta, validation.x, validation.y)
        row[kind + " seconds"] = time.perf_counter() - start
    if comm.rank == 0:
        print(json.dumps(row))


def run_worker(ranks, args, timeout=3600):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([str(Path(sys.executable).parent / "mpirun"), "-n", str(ranks),
                          sys.executable, "-m", "mpi4py", __file__, "--worker"]
                         + [str(a) for a in args],
                         capture_output=True, text=True, env=env, timeout=timeout)
    if out.returncode != 0:
        sys.exit(f"worker {args} on {ranks} ranks failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results"
                        / "conv_digits.json")
    args = parser.parse_args()
    timings = {label: run_worker(ranks, ["time", kind, args.batch, args.repeat])
               for label, kind, ranks in (("serial", "serial", 1),
                                          ("one-shot 1 rank", "one-shot", 1),
                                          ("one-shot 2 ranks", "one-shot", 2))}
    print(f"\nSeconds per Adam step, conv ResNet on digits ({CHANNELS} channels, N = {LAYERS}, "
          f"batch {args.batch}; best of {args.repeat}, wall clock / CPU):\n")
    print("| run | wall s | CPU s |")
    print("|---|---:|---:|")
    for label, t in timings.items():
        print(f"| {label} | {t['seconds']:.3f} | {t['cpu_seconds']:.3f} |")
    one, two = timings["one-shot 1 rank"], timings["one-shot 2 ranks"]
    print(f"\none-shot 2 ranks against 1: {one['seconds'] / two['seconds']:.2f}x wall clock, "
          f"{one['cpu_seconds'] / two['cpu_seconds']:.2f}x CPU (goal 1.6x)")
    accuracy = run_worker(2, ["accuracy", args.batch, args.steps])
    print(f"\nValidation accuracy after {args.steps} Adam steps (batch {args.batch}): serial "
          f"{accuracy['serial']:.4f} ({accuracy['serial seconds']:.1f} s), layer-parallel on 2 "
          f"ranks {accuracy['layer-parallel']:.4f} ({accuracy['layer-parallel seconds']:.1f} s)"
          f" (goal: within 0.01)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(dict(timings=timings, accuracy=accuracy,
                                         batch=args.batch, steps=args.steps), indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind = sys.argv[2]
        if kind == "time":
            timing_worker(sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        else:
            accuracy_worker(int(sys.argv[3]), int(sys.argv[4]))
        sys.exit(0)
    sys.exit(main())
