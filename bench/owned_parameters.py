"""Benchmark of owner-only parameters (LayerParallel(parameters="owned")):
per-rank parameter memory and bytes of parameters and gradients a rank
sends per optimizer step, owned against replicated, for a ResNet of width
32 (peaks data, batch 64, one-shot Adam steps, cfactor 4, 4 levels) at
N = 256 and 1024 layers on 2 and 4 ranks.

Memory: the parameters a rank keeps (replicated: n_params doubles; owned:
its layers, its ghosts and the ends), and with Adam's gradient, m and v
(each of the local size).  Traffic: what the rank sends of parameters and
gradients (replicated: its allreduce's payload, the full gradient; owned:
ghost layers out, their gradients back, the ends' sum); the braid solves'
own messages (states) are the same in both modes and not counted.  The
largest over the ranks.

    python bench/owned_parameters.py [--depths 256 1024] [--ranks 2 4]

Goals: owned memory per rank at most 0.3x of replicated at 4 ranks; the
owned traffic independent of N.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

WIDTH, BATCH, STEPS = 32, 64, 2


def worker(n_layers):
    """Under mpirun: both modes' figures, as JSON on rank 0."""
    import numpy as np
    from mpi4py import MPI

    from pyxbraid.data import peaks
    from pyxbraid.nn import ResNet
    from pyxbraid.train.layer_parallel import LayerParallel
    from pyxbraid.train.loop import train
    from pyxbraid.train.optim import Adam

    comm = MPI.COMM_WORLD
    data, _ = peaks(BATCH, 10, seed=0)
    net = ResNet(2, WIDTH, n_layers, 5, activation="tanh")
    theta0 = net.init_params(np.random.default_rng(0))
    rows = {}
    for parameters in ("replicated", "owned"):
        lp = LayerParallel(net, comm, mode="one-shot", cfactor=4, max_levels=4,
                           parameters=parameters)
        theta = lp.local_parameters(theta0)
        optimizer = Adam(1e-3)
        train(lp, optimizer, theta, data, STEPS, copy=False)
        local = theta.nbytes
        with_adam = lp.parameter_memory() + 3 * local   # gradient, m, v
        figures = [lp.parameter_memory(), with_adam, lp.traffic]
        rows[parameters] = [comm.allreduce(f, op=MPI.MAX) for f in figures]
    if comm.rank == 0:
        print(json.dumps(dict(n_params=net.n_params, **rows)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--ranks", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    mpirun = str(Path(sys.executable).parent / "mpirun")
    print("| N | ranks | n_params | parameters MB, replicated / owned (ratio) | "
          "with Adam's state MB, replicated / owned (ratio) | "
          "sent per step KB, replicated / owned |")
    print("|---:|---:|---:|---|---|---|")
    for n_layers in args.depths:
        for ranks in args.ranks:
            out = subprocess.run([mpirun, "-n", str(ranks), sys.executable, __file__,
                                  "--worker", str(n_layers)], capture_output=True, text=True,
                                 check=True, env={**os.environ, "OMP_NUM_THREADS": "1",
                                                  "OPENBLAS_NUM_THREADS": "1"})
            found = json.loads(out.stdout.strip().splitlines()[-1])
            rep, own = found["replicated"], found["owned"]
            print(f"| {n_layers} | {ranks} | {found['n_params']} | "
                  f"{rep[0] / 1e6:.2f} / {own[0] / 1e6:.2f} ({own[0] / rep[0]:.2f}x) | "
                  f"{rep[1] / 1e6:.2f} / {own[1] / 1e6:.2f} ({own[1] / rep[1]:.2f}x) | "
                  f"{rep[2] / 1e3:.1f} / {own[2] / 1e3:.1f} |", flush=True)


if __name__ == "__main__":
    main()
