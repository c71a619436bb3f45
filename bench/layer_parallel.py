"""Benchmark of layer-parallel ResNet training (Günther et al. 2018):

1. seconds per optimizer step (Adam) for N = 64, 256, 1024 layers, width 32,
   batch 256 (peaks), for serial training (1 rank) and layer-parallel exact
   and one-shot mode on 1 and 2 ranks;
2. the model speed-up from critical-path layer evaluations on 16, 64 and
   256 ranks (forward, adjoint and layer gradients, against 3N serially);
3. validation accuracies on peaks and digits, serial versus layer-parallel;
4. batched time stepping (the apps' step_batch, the default) against per
   point (batch=False) and serial training: seconds per Adam step of
   one-shot on one rank at N = 1024 for width 8, batch 64 and width 32,
   batch 256 (--batched runs only this part).

    python bench/layer_parallel.py [--repeat 3] [--depths 64 256 1024] [--no-accuracy]
    python bench/layer_parallel.py --layer-step
    python bench/layer_parallel.py --batched [--repeat 3]

--layer-step only times one layer step and one adjoint step (width 32),
given the flat parameter vector (split into views at every call) and given
the views (split once per objective evaluation, as LayerParallel does).

Each timing also reports the CPU seconds of a step (the slowest rank's
process time), which a machine loaded by other work disturbs less than the
wall clock.

Goals: one-shot on 2 ranks at least 1.6x faster than on 1 rank at N = 1024;
model speed-up at 64 ranks, N = 1024, at least 8x; batched one-shot at least
3x faster than per point at width 8 and 1.2x at width 32, and at width 8
faster on one rank than serial training.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPTHS = [64, 256, 1024]
WIDTH, BATCH, CFACTOR = 32, 256, 4
MODEL_RANKS = [16, 64, 256]
BATCHED_DEPTH, BATCHED_SHAPES = 1024, [(8, 64), (32, 256)]   # N; (width, batch)
BATCHED_KINDS = ("per-point", "batched", "serial")


def levels_for(n_layers):
    """Coarsen by CFACTOR down to at most 16 layers."""
    levels, points = 1, n_layers
    while points > 16:
        points //= CFACTOR
        levels += 1
    return levels


def solver_options(n_layers):
    return dict(cfactor=CFACTOR, max_levels=levels_for(n_layers))


def timing_worker(kind, n_layers, repeat):
    """Under mpirun: the best seconds (wall clock and CPU) per optimizer step
    of `repeat` steps (after one warm-up step), and the solver's iterations."""
    import numpy as np
    from mpi4py import MPI

    from pyxbraid.data import peaks
    from pyxbraid.nn import ResNet
    from pyxbraid.train.layer_parallel import LayerParallel, Serial
    from pyxbraid.train.optim import Adam

    comm = MPI.COMM_WORLD
    data, _ = peaks(BATCH, 10, seed=0)
    net = ResNet(2, WIDTH, n_layers, 5, T=1.0, activation="tanh", gamma_t=1e-5, gamma_d=1e-5)
    theta = net.init_params(np.random.default_rng(0))
    objective = Serial(net) if kind == "serial" else LayerParallel(
        net, comm, mode=kind, tol=1e-9, **solver_options(n_layers))
    optimizer = Adam(1e-3)
    best = best_cpu = float("inf")
    for step in range(repeat + 1):
        comm.Barrier()
        start, start_cpu = MPI.Wtime(), time.process_time()
        loss, grad = objective.objective(theta, data.x, data.y)
        optimizer.update(theta, loss, grad, None)
        seconds, cpu = comm.allreduce((MPI.Wtime() - start, time.process_time() - start_cpu),
                                      op=MPI.MAX)
        if step > 0:
            best, best_cpu = min(best, seconds), min(best_cpu, cpu)
    stats = getattr(objective, "gradient_stats", None)
    if comm.rank == 0:
        print(json.dumps(dict(seconds=best, cpu_seconds=best_cpu,
                              forward=stats.forward_iterations if stats else 0,
                              adjoint=stats.adjoint_iterations if stats else 0)))


def batched_worker(width, batch, repeat):
    """Under mpirun on one rank: the best seconds (wall clock and CPU) per
    Adam step at N = BATCHED_DEPTH of one-shot per point (batch=False),
    batched, and serial training, the three taking turns step by step (so
    that a change in the machine's load hits them alike), after one warm-up
    step each."""
    import numpy as np
    from mpi4py import MPI

    from pyxbraid.data import peaks
    from pyxbraid.nn import ResNet
    from pyxbraid.train.layer_parallel import LayerParallel, Serial
    from pyxbraid.train.optim import Adam

    data, _ = peaks(batch, 10, seed=0)
    net = ResNet(2, width, BATCHED_DEPTH, 5, T=1.0, activation="tanh", gamma_t=1e-5,
                 gamma_d=1e-5)
    theta0 = net.init_params(np.random.default_rng(0))
    options = solver_options(BATCHED_DEPTH)
    runs = {"per-point": LayerParallel(net, MPI.COMM_SELF, mode="one-shot", batch=False,
                                       **options),
            "batched": LayerParallel(net, MPI.COMM_SELF, mode="one-shot", **options),
            "serial": Serial(net)}
    runs = {kind: (objective, theta0.copy(), Adam(1e-3)) for kind, objective in runs.items()}
    best = {kind: [float("inf"), float("inf")] for kind in runs}
    for step in range(repeat + 1):
        for kind, (objective, theta, optimizer) in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            loss, grad = objective.objective(theta, data.x, data.y)
            optimizer.update(theta, loss, grad, None)
            seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
            if step > 0:
                best[kind] = [min(best[kind][0], seconds), min(best[kind][1], cpu)]
    print(json.dumps({kind: dict(seconds=s, cpu_seconds=c) for kind, (s, c) in best.items()}))


def batched_rows(repeat):
    rows = []
    for width, batch in BATCHED_SHAPES:
        result = run_worker(1, ["batched", str(width), str(batch), str(repeat)])
        rows.append(dict(width=width, batch=batch, **result))
        print(f"  measured width {width}", file=sys.stderr, flush=True)
    return rows


def print_batched(rows, repeat):
    print(f"\nBatched time stepping: one-shot on 1 rank, N = {BATCHED_DEPTH}, tanh, cfactor "
          f"{CFACTOR}, {levels_for(BATCHED_DEPTH)} levels: seconds per Adam step, best of "
          f"{repeat} (CPU seconds in brackets)\n")
    print("| width | batch | per point | batched | serial | per point / batched | "
          "serial / batched |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cells = [f"{r[k]['seconds']:.3f} ({r[k]['cpu_seconds']:.3f})" for k in BATCHED_KINDS]
        print(f"| {r['width']} | {r['batch']} | " + " | ".join(cells) + " | "
              f"{r['per-point']['seconds'] / r['batched']['seconds']:.2f}x | "
              f"{r['serial']['seconds'] / r['batched']['seconds']:.2f}x |")


def accuracy_worker():
    """Under mpirun: peaks (the example's settings) and digits, serial and
    layer-parallel, on the same optimizer and steps."""
    import numpy as np
    from mpi4py import MPI

    from pyxbraid.data import digits, peaks
    from pyxbraid.nn import ResNet
    from pyxbraid.train.layer_parallel import LayerParallel, Serial
    from pyxbraid.train.loop import train
    from pyxbraid.train.optim import LBFGS, Adam

    comm = MPI.COMM_WORLD
    rows = []
    problems = [
        ("peaks (Adam, 400 steps, one-shot 2/1)", peaks(5000, 200, seed=0),
         dict(width=8, layers=32, activation="smooth_relu", gamma=1e-4),
         lambda: Adam(0.01), 400, "one-shot", dict(max_levels=2)),
        ("digits (L-BFGS, 60 steps, exact)", digits(297, seed=0),
         dict(width=32, layers=16, activation="tanh", gamma=1e-4),
         lambda: LBFGS(1.0), 60, "exact", dict(max_levels=3)),
    ]
    for name, (data, validation), spec, optimizer, steps, mode, options in problems:
        net = ResNet(data.n_features, spec["width"], spec["layers"], data.n_outputs, T=1.0,
                     activation=spec["activation"], gamma_t=spec["gamma"],
                     gamma_d=spec["gamma"])
        theta0 = net.init_params(np.random.default_rng(0))
        row = {"problem": name}
        for label, objective in (("serial", Serial(net)),
                                 ("layer-parallel", LayerParallel(net, comm, mode=mode, tol=1e-9,
                                                                  **options))):
            start = time.perf_counter()
            theta = train(objective, optimizer(), theta0, data, steps)
            row[label] = net.accuracy(theta, validation.x, validation.y)
            row[label + " seconds"] = time.perf_counter() - start
        rows.append(row)
    if comm.rank == 0:
        print(json.dumps(rows))


def layer_step_timings(calls=2000, rounds=7):
    """Microseconds per ResNet.step and adjoint_step call, the parameters
    given flat or as views, for batches 256 and 32: the best of `rounds`
    rounds of `calls` calls, the two kinds alternating round by round."""
    import numpy as np

    from pyxbraid.nn import ResNet

    net = ResNet(2, WIDTH, 64, 5, T=1.0, activation="tanh")
    theta = net.init_params(np.random.default_rng(0))
    given = {"flat": theta, "views": net.views(theta)}
    rows = []
    for batch in (256, 32):
        Y = np.random.default_rng(1).standard_normal((batch, WIDTH))
        P = np.random.default_rng(2).standard_normal((batch, WIDTH))
        calls_of = {"step": lambda params: net.step(params, 5, Y.copy(), 1e-3),
                    "adjoint_step": lambda params: net.adjoint_step(params, 5, Y, P.copy(), 1e-3)}
        for name, call in calls_of.items():
            best = dict.fromkeys(given, float("inf"))
            for _ in range(rounds):
                for kind, params in given.items():
                    start = time.perf_counter()
                    for _ in range(calls):
                        call(params)
                    best[kind] = min(best[kind], (time.perf_counter() - start) / calls * 1e6)
            rows.append(dict(batch=batch, call=name, **best))
    return rows


def run_worker(ranks, args, timeout=3600):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([str(Path(sys.executable).parent / "mpirun"), "-n", str(ranks),
                          sys.executable, "-m", "mpi4py", __file__, "--worker"] + args,
                         capture_output=True, text=True, env=env, timeout=timeout)
    if out.returncode != 0:
        sys.exit(f"worker {args} on {ranks} ranks failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def model_speedups(n_layers, forward, adjoint):
    from pyxbraid.train.speedup import layer_parallel_speedup

    return {ranks: layer_parallel_speedup(n_layers, levels_for(n_layers), forward, adjoint,
                                          cfactor=CFACTOR, nranks=ranks)
            for ranks in MODEL_RANKS}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--depths", type=int, nargs="+", default=DEPTHS, metavar="N")
    p.add_argument("--no-accuracy", action="store_true")
    p.add_argument("--layer-step", action="store_true",
                   help="only time a layer step with the parameters flat and as views")
    p.add_argument("--batched", action="store_true",
                   help="only time batched time stepping against per point and serial")
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "layer_parallel.json")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        if args.worker[0] == "accuracy":
            return accuracy_worker()
        if args.worker[0] == "batched":
            return batched_worker(*(int(a) for a in args.worker[1:]))
        kind, n_layers, repeat = args.worker
        return timing_worker(kind, int(n_layers), int(repeat))
    if args.layer_step:
        print(f"\nOne layer step (width {WIDTH}, tanh): microseconds per call, best of 7 "
              f"rounds\n")
        print("| batch | call | theta flat | theta as views | saved |")
        print("|---:|---|---:|---:|---:|")
        for r in layer_step_timings():
            print(f"| {r['batch']} | {r['call']} | {r['flat']:.1f} | {r['views']:.1f} | "
                  f"{1 - r['views'] / r['flat']:.0%} |")
        return 0
    if args.batched:
        print_batched(batched_rows(args.repeat), args.repeat)
        return 0

    rows = []
    for n in args.depths:
        serial = run_worker(1, ["serial", str(n), str(args.repeat)])
        row = {"N": n, "serial": serial["seconds"], "serial cpu": serial["cpu_seconds"]}
        for kind in ("exact", "one-shot"):
            for ranks in (1, 2):
                result = run_worker(ranks, [kind, str(n), str(args.repeat)])
                row[f"{kind} {ranks}"] = result["seconds"]
                row[f"{kind} {ranks} cpu"] = result["cpu_seconds"]
                row[f"{kind} iterations"] = (result["forward"], result["adjoint"])
        row["model"] = {kind: model_speedups(n, *row[f"{kind} iterations"])
                        for kind in ("exact", "one-shot")}
        rows.append(row)
        print(f"  measured N={n}", file=sys.stderr, flush=True)

    print(f"\nLayer-parallel ResNet (width {WIDTH}, batch {BATCH}, tanh, T = 1, cfactor "
          f"{CFACTOR}): seconds per Adam step, best of {args.repeat}\n")
    print("| N | serial | exact 1 rank | exact 2 ranks | one-shot 1 rank | one-shot 2 ranks | "
          "one-shot 1 -> 2 ranks | iterations exact (fwd/adj) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['N']} | {r['serial']:.3f} | {r['exact 1']:.3f} | {r['exact 2']:.3f} | "
              f"{r['one-shot 1']:.3f} | {r['one-shot 2']:.3f} | "
              f"{r['one-shot 1'] / r['one-shot 2']:.2f}x | "
              f"{r['exact iterations'][0]}/{r['exact iterations'][1]} |")
    print("\nCPU seconds per Adam step (the slowest rank's), best of the same steps:\n")
    print("| N | serial | exact 1 rank | exact 2 ranks | one-shot 1 rank | one-shot 2 ranks |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['N']} | {r['serial cpu']:.3f} | {r['exact 1 cpu']:.3f} | "
              f"{r['exact 2 cpu']:.3f} | {r['one-shot 1 cpu']:.3f} | {r['one-shot 2 cpu']:.3f} |")
    print("\nModel speed-up over serial training (critical-path layer evaluations: forward, "
          "adjoint and layer gradients, against 3N):\n")
    print("| N | mode | " + " | ".join(f"{p} ranks" for p in MODEL_RANKS) + " |")
    print("|---:|---|" + "---:|" * len(MODEL_RANKS))
    for r in rows:
        for kind in ("one-shot", "exact"):
            print(f"| {r['N']} | {kind} | " + " | ".join(
                f"{r['model'][kind][p]:.1f}x" for p in MODEL_RANKS) + " |")
    batched = batched_rows(args.repeat)
    print_batched(batched, args.repeat)
    results = {"timings": rows, "batched": batched}
    if not args.no_accuracy:
        accuracy = run_worker(2, ["accuracy"])
        results["accuracy"] = accuracy
        print("\nValidation accuracy, serial versus layer-parallel (2 ranks), same optimizer "
              "and steps:\n")
        print("| problem | serial | layer-parallel | seconds serial / layer-parallel |")
        print("|---|---:|---:|---:|")
        for a in accuracy:
            print(f"| {a['problem']} | {a['serial']:.3f} | {a['layer-parallel']:.3f} | "
                  f"{a['serial seconds']:.1f} / {a['layer-parallel seconds']:.1f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
