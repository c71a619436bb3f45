"""Benchmark: the tiled GEMM engine (pyxbraid.gemm.TiledEngine, after BLASX)
against numpy, on square float64 products C = A·B of side n:
  - numpy (np.matmul into C) with 1 and with 2 BLAS threads;
  - the engine with 1 and with 2 workers (one BLAS thread each, automatic tile);
  - the engine out-of-core on 2 workers: A, B and C .npy files opened as
    memmaps, a memory budget of a quarter of the three operands' bytes;
  - unequal workers: 2 workers of speeds 1 and 0.5 (tile n/8), scheduled
    dynamically (the shared queue) and statically (an even split dealt out
    beforehand), against the sum of the two workers' rates alone.

    python bench/gemm.py [--sizes 1024 2048 4096 8192] [--repeat 3] [--tmp DIR]
                         [--json bench/results/gemm.json] [--quick]

Each figure is the best of --repeat runs after one warm-up, in GFLOP/s of
wall-clock time (2n³ / seconds; the machine may be shared: timings are
noisy).  Each engine product is checked against numpy on a few rows after
its warm-up.  The goals of the issue: 2 workers >= 1.8x 1 worker at
n >= 4096; 2 workers >= 0.95x numpy on 2 threads; out-of-core >= 0.8x in
core; unequal workers scheduled dynamically >= 0.90 of the sum of their
rates alone (a static even split gets about 0.67).

The work is a list of sections (SECTIONS), each printing its tables and
returning its numbers for the JSON; another section is added by writing a
function section(args) -> dict and appending it there.
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from pyxbraid.gemm import TiledEngine

ROOT = Path(__file__).resolve().parents[1]
SIZES = [1024, 2048, 4096, 8192]
QUICK_SIZES = [512, 1024]
SMALLEST_SIZE = 64            # below this a quarter budget cannot hold the smallest tile
DTYPE = np.dtype(np.float64)
UNEQUAL_SPEEDS = [1.0, 0.5]
UNEQUAL_SPLIT = 8             # unequal workers: tile n / 8, 64 output tiles to share
CHECKED_ROWS = 16             # rows of C compared with numpy after a warm-up

# the goals of the issue: (key, statement, target)
GOAL_SCALING = ("scaling", "2 workers >= 1.8x 1 worker at n >= 4096", 1.8)
SCALING_FROM = 4096
GOAL_NUMPY = ("numpy", "2 workers >= 0.95x numpy with 2 threads", 0.95)
GOAL_OUT_OF_CORE = ("out_of_core", "out-of-core (quarter budget) >= 0.8x in core", 0.8)
GOAL_DYNAMIC = ("dynamic", "unequal workers, dynamic >= 0.90 of the sum of their rates alone "
                "(static: about 0.67)", 0.90)


# --------------------------------------------------------------------------
# measuring


def gflops(n, seconds):
    return 2.0 * n ** 3 / seconds / 1e9


def operands(n):
    """A and B of side n (the same for every section), and C to write into."""
    rng = np.random.default_rng(n)
    return rng.standard_normal((n, n)), rng.standard_normal((n, n)), np.empty((n, n))


def check_product(c, a, b, what):
    """Raises RuntimeError when rows of C (spread over every row tile) are not A·B."""
    n = len(a)
    rows = np.unique(np.linspace(0, n - 1, CHECKED_ROWS).astype(int))
    want = a[rows] @ np.asarray(b)
    got = np.asarray(c[rows])
    error = np.max(np.abs(got - want)) if np.isfinite(got).all() else np.inf
    if not error <= 1e-9 * n:
        raise RuntimeError(f"{what}, n={n}: wrong product (largest error {error:.3g} in "
                           f"rows {rows.tolist()} of C)")


def measure(n, repeat, run, check=None):
    """One warm-up of run() (then check(), on a C filled with NaN before), then
    the best of `repeat` timed runs.  run() returns the engine's ProductStats or None."""
    run()
    if check is not None:
        check()
    seconds, stats = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        stats.append(run())
        seconds.append(time.perf_counter() - start)
    best = int(np.argmin(seconds))
    result = dict(gflops=gflops(n, seconds[best]), seconds=seconds)
    if stats[best] is not None:
        last = stats[best]
        result.update(tile=last.tile, schedule=last.schedule, tiles=last.tiles,
                      steps=[w.steps for w in last.workers],
                      loads=[w.loads for w in last.workers],
                      hits=[w.hits for w in last.workers],
                      peak_bytes=last.peak_bytes, direct=last.direct,
                      engine_seconds=last.seconds)
    return result


def blas_threads():
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def numpy_rate(a, b, c, threads, repeat):
    """np.matmul(a, b, out=c) with `threads` BLAS threads (no engine may be alive)."""
    def run():
        np.matmul(a, b, out=c)

    with threadpool_limits(limits=threads, user_api="blas"):
        result = measure(len(a), repeat, run)
        result["blas_threads"] = blas_threads()
    return result


def engine_rate(a, b, c, repeat, what, **settings):
    """engine.gemm(a, b, c) on a TiledEngine(**settings), closed afterwards."""
    with TiledEngine(**settings) as engine:
        def run():
            engine.gemm(a, b, c)
            return engine.last

        c[...] = np.nan
        return measure(len(a), repeat, run, lambda: check_product(c, a, b, what))


def open_operands(folder, a, b):
    """A and B written to .npy files in folder and flushed, opened again read
    only; C a new .npy file: three memmaps."""
    paths = [Path(folder) / f"{name}.npy" for name in "ABC"]
    for path, x in zip(paths, (a, b)):
        written = np.lib.format.open_memmap(path, mode="w+", dtype=x.dtype, shape=x.shape)
        written[...] = x
        written.flush()
        del written
    a_file, b_file = (np.lib.format.open_memmap(path, mode="r") for path in paths[:2])
    c_file = np.lib.format.open_memmap(paths[2], mode="w+", dtype=a.dtype, shape=a.shape)
    return a_file, b_file, c_file


# --------------------------------------------------------------------------
# reporting


def ratio(x, y):
    return x / y if y > 0 else float("nan")


def mark(value, target):
    return "PASS" if value >= target else "MISS"


def cell(value, target=None):
    """A ratio, with PASS/MISS beside it when a goal applies."""
    return f"{value:.2f}" + ("" if target is None else f" {mark(value, target)}")


def table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(x) for x in row) + " |")
    print()


def goal(key_statement_target, values):
    """A goal's outcome over the sizes it applies to: values {n: measured ratio}."""
    key, statement, target = key_statement_target
    passed = bool(values) and all(v >= target for v in values.values())
    return dict(key=key, goal=statement, target=target, values=values,
                result=("PASS" if passed else "MISS") if values else "not measured")


def print_goals(goals):
    for g in goals:
        values = ", ".join(f"n={n}: {v:.2f}" for n, v in g["values"].items()) or "no size applies"
        print(f"- {g['goal']}: **{g['result']}** ({values})")
    print()


def mib(nbytes):
    return nbytes / 2 ** 20


# --------------------------------------------------------------------------
# sections: each prints its tables and returns its numbers


def products(args):
    """numpy 1 / 2 threads, the engine on 1 / 2 workers, the engine out-of-core."""
    rows = []
    for n in args.sizes:
        a, b, c = operands(n)
        row = dict(n=n)
        # numpy first, while no engine is alive to hold BLAS at one thread
        for threads in (1, 2):
            row[f"numpy_{threads}"] = numpy_rate(a, b, c, threads, args.repeat)
        for workers in (1, 2):
            row[f"engine_{workers}"] = engine_rate(a, b, c, args.repeat,
                                                   f"engine, {workers} worker(s)",
                                                   workers=workers)
        budget = 3 * n * n * DTYPE.itemsize // 4
        with tempfile.TemporaryDirectory(prefix="pyxbraid-gemm-", dir=args.tmp) as folder:
            files = open_operands(folder, a, b)
            row["out_of_core"] = engine_rate(*files, args.repeat, "engine out-of-core",
                                             workers=2, memory=budget)
            row["out_of_core"]["budget"] = budget
            del files
        rows.append(row)
        print(f"n={n} done", file=sys.stderr, flush=True)

    def rate(row, key):
        return row[key]["gflops"]

    for row in rows:
        row["scaling"] = ratio(rate(row, "engine_2"), rate(row, "engine_1"))
        row["vs_numpy"] = ratio(rate(row, "engine_2"), rate(row, "numpy_2"))
        row["out_of_core_vs_in_core"] = ratio(rate(row, "out_of_core"), rate(row, "engine_2"))
    goals = [goal(GOAL_SCALING, {r["n"]: r["scaling"] for r in rows if r["n"] >= SCALING_FROM}),
             goal(GOAL_NUMPY, {r["n"]: r["vs_numpy"] for r in rows}),
             goal(GOAL_OUT_OF_CORE, {r["n"]: r["out_of_core_vs_in_core"] for r in rows})]

    print(f"Square float64 products C = A·B, GFLOP/s (best of {args.repeat} after a warm-up); "
          f"the engine's workers use one BLAS thread each, automatic tile.")
    table(["n", "numpy 1 thread", "numpy 2 threads", "engine 1 worker", "engine 2 workers",
           "2 workers / 1 worker", "2 workers / numpy 2 threads",
           "out-of-core (quarter budget)", "out-of-core / in-core"],
          [[r["n"]] + [f"{rate(r, key):.1f}" for key in ("numpy_1", "numpy_2", "engine_1",
                                                          "engine_2")]
           + [cell(r["scaling"], GOAL_SCALING[2] if r["n"] >= SCALING_FROM else None),
              cell(r["vs_numpy"], GOAL_NUMPY[2]), f"{rate(r, 'out_of_core'):.1f}",
              cell(r["out_of_core_vs_in_core"], GOAL_OUT_OF_CORE[2])]
           for r in rows])
    print("Out-of-core: A, B and C are .npy files opened as memmaps (A and B written and "
          "flushed first) in a temporary folder; the files were just written, so they are read "
          "from the OS page cache, not from the disk, and C is left in the page cache (not "
          "flushed) when the product ends.  Budget: a quarter of the three operands' bytes, "
          "for the engine's caches and buffers (peak_bytes counts those, not the page cache).")
    print()
    table(["n", "tile (in core, 1 / 2 workers)", "tile (out-of-core)", "budget MiB",
           "engine peak MiB", "peak / budget"],
          [[r["n"], f"{r['engine_1']['tile']} / {r['engine_2']['tile']}",
            r["out_of_core"]["tile"], f"{mib(r['out_of_core']['budget']):.1f}",
            f"{mib(r['out_of_core']['peak_bytes']):.1f}",
            f"{ratio(r['out_of_core']['peak_bytes'], r['out_of_core']['budget']):.2f}"]
           for r in rows])
    print_goals(goals)
    return dict(products=rows, product_goals=goals)


def unequal(args):
    """2 workers of speeds 1 and 0.5, dynamic and static, against each alone."""
    rows = []
    for n in args.sizes:
        a, b, c = operands(n)
        tile = max(n // UNEQUAL_SPLIT, 1)
        fast, slow = UNEQUAL_SPEEDS
        row = dict(n=n, tile=tile, speeds=UNEQUAL_SPEEDS)
        for key, what, settings in (
                ("fast", "fast worker alone", dict(workers=1, speeds=[fast])),
                ("slow", "slow worker alone", dict(workers=1, speeds=[slow])),
                ("dynamic", "unequal workers, dynamic", dict(workers=2, speeds=UNEQUAL_SPEEDS)),
                ("static", "unequal workers, static",
                 dict(workers=2, speeds=UNEQUAL_SPEEDS, schedule="static"))):
            row[key] = engine_rate(a, b, c, args.repeat, what, tile=tile, **settings)
        row["sum"] = row["fast"]["gflops"] + row["slow"]["gflops"]
        row["dynamic_vs_sum"] = ratio(row["dynamic"]["gflops"], row["sum"])
        row["static_vs_sum"] = ratio(row["static"]["gflops"], row["sum"])
        rows.append(row)
        print(f"n={n} (unequal workers) done", file=sys.stderr, flush=True)
    goals = [goal(GOAL_DYNAMIC, {r["n"]: r["dynamic_vs_sum"] for r in rows})]

    print(f"Unequal workers: speeds {UNEQUAL_SPEEDS[0]:g} and {UNEQUAL_SPEEDS[1]:g} (the slow "
          f"one rests as long as it multiplied), tile n/{UNEQUAL_SPLIT} "
          f"({UNEQUAL_SPLIT ** 2} output tiles), GFLOP/s; sum: the two rates alone added.")
    table(["n", "fast alone", "slow alone", "sum", "dynamic", "dynamic / sum", "static",
           "static / sum", "tiles fast / slow (dynamic)"],
          [[r["n"], f"{r['fast']['gflops']:.1f}", f"{r['slow']['gflops']:.1f}",
            f"{r['sum']:.1f}", f"{r['dynamic']['gflops']:.1f}",
            cell(r["dynamic_vs_sum"], GOAL_DYNAMIC[2]), f"{r['static']['gflops']:.1f}",
            cell(r["static_vs_sum"]), " / ".join(str(t) for t in r["dynamic"]["tiles"])]
           for r in rows])
    print_goals(goals)
    return dict(unequal=rows, unequal_goals=goals)


WIDE = ROOT / "examples" / "wide_mlp.yaml"
EPOCH_RUNS = [  # (what, --set values)
    ("out of core, tiled", []),
    ("in core, tiled", ["network.out_of_core=false"]),
    ("in core, numpy (2 BLAS threads)", ["network.out_of_core=false", "network.gemm.backend=numpy"]),
]


def epoch_worker(out, sets):
    """One run of the wide example in this process: its summary, the peak of
    what Python and numpy allocated (tracemalloc) and the peak RSS."""
    import tracemalloc

    from pyxbraid.cli.main import main as mgrit_train

    args = ["run", str(WIDE), "--out", str(out), "--quiet", "--set", "output.plots=false"]
    for value in sets:
        args += ["--set", value]
    tracemalloc.start()
    try:
        mgrit_train(args)
    except SystemExit as e:
        if e.code:
            raise
    _, peak = tracemalloc.get_traced_memory()
    summary = json.loads((out / "summary.json").read_text())
    return dict(wall_time=summary["wall_time"], final=summary["final"],
                gemm=summary.get("gemm"), allocated_peak=peak, max_rss=peak_rss())


def peak_rss():
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not
    inherited from the parent that started it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def epoch(args):
    """One epoch of examples/wide_mlp.yaml: out of core, and in core."""
    import subprocess

    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
        for i, (what, sets) in enumerate(EPOCH_RUNS):
            out = Path(folder) / f"run{i}"
            result = subprocess.run(
                [sys.executable, __file__, "--epoch-worker", str(out), *sets],
                capture_output=True, text=True, check=False,
                env=dict(os.environ, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2"))
            if result.returncode != 0:
                raise RuntimeError(f"the wide example ({what}) failed:\n{result.stderr}")
            rows.append(dict(what=what, sets=sets, **json.loads(result.stdout.splitlines()[-1])))
            print(f"wide_mlp epoch ({what}) done", file=sys.stderr, flush=True)
    from pyxbraid.cli.config import load_problem
    from pyxbraid.cli.memory import mlp_params

    network = load_problem(WIDE).network
    weights = mlp_params(network.sizes, network.bias) * 8
    print(f"One epoch of examples/wide_mlp.yaml (24 minibatch steps of 64 digits; weights "
          f"{mib(weights):.1f} MiB, the gradient as much; out of core: an engine budget of "
          f"{mib(network.gemm.memory):.0f} MiB).")
    table(["run", "wall s", "engine peak MiB", "allocated peak MiB (tracemalloc)",
           "max RSS MiB", "final loss", "validation accuracy"],
          [[r["what"], f"{r['wall_time']:.2f}",
            f"{mib(r['gemm']['peak_bytes']):.1f}" if r["gemm"] else "-",
            f"{mib(r['allocated_peak']):.1f}",
            f"{mib(r['max_rss']):.0f}" if r["max_rss"] is not None else "-",
            f"{r['final']['loss']:.6f}",
            f"{r['final']['validation_accuracy']:.4f}"] for r in rows])
    return dict(epoch=rows)


SECTIONS = [products, unequal, epoch]


# --------------------------------------------------------------------------


def machine():
    return dict(cpus=os.cpu_count(), affinity=len(os.sched_getaffinity(0)),
                processor=platform.processor() or platform.machine(),
                python=platform.python_version(), numpy=np.__version__,
                blas=[{k: pool.get(k) for k in ("internal_api", "version", "architecture",
                                                "num_threads")}
                      for pool in threadpool_info() if pool["user_api"] == "blas"],
                load_average=os.getloadavg())


def size(text):
    n = int(text)
    if n < SMALLEST_SIZE:
        raise argparse.ArgumentTypeError(f"a size must be at least {SMALLEST_SIZE}, got {n}")
    return n


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=size, nargs="+", metavar="N",
                   help=f"sides of the square products (default {' '.join(map(str, SIZES))}, "
                        f"--quick {' '.join(map(str, QUICK_SIZES))})")
    p.add_argument("--repeat", type=int, help="timed runs of each measurement after a warm-up, "
                                              "the fastest kept (default 3, --quick 1)")
    p.add_argument("--quick", action="store_true", help="small sizes, one run (a smoke test)")
    p.add_argument("--tmp", type=Path, help="folder for the out-of-core files (a temporary "
                                            "folder made in it and removed afterwards; "
                                            "default: the system's temporary folder)")
    p.add_argument("--skip", nargs="+", default=[], choices=["products", "unequal", "epoch"],
                   help="sections left out")
    p.add_argument("--epoch-worker", nargs="+", help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "gemm.json",
                   help="where the numbers go, rewritten after each section (default "
                        "bench/results/gemm.json, --quick too)")
    return p


def main():
    p = parser()
    args = p.parse_args()
    if args.epoch_worker:
        out, *sets = args.epoch_worker
        print(json.dumps(epoch_worker(Path(out), sets)))
        return 0
    args.sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1:
        p.error("--repeat: must be at least 1")
    if args.tmp is not None and not args.tmp.is_dir():
        p.error(f"--tmp: {args.tmp} is not a folder")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results = dict(mode="quick" if args.quick else "full", sizes=args.sizes,
                   repeat=args.repeat, tmp=str(args.tmp or tempfile.gettempdir()), date=time.strftime("%Y-%m-%d"), machine=machine())
    for section in SECTIONS:
        if section.__name__ in args.skip:
            continue
        results.update(section(args))
        results["seconds"] = time.time() - started
        args.json.write_text(json.dumps(results, indent=1))   # kept section by section
    print(f"({results['seconds']:.0f} s; {args.json})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
