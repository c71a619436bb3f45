"""Reproduce the MGRIT iteration counts of Schroder 2017 (arXiv 1708.02276):
tables T1-T5, T7 (XOR) and T13, T15 (12-bit binary addition, serialized),
and write docs/schroder2017.md (paper versus ours).

    make reproduce            (or: python examples/schroder2017/reproduce.py --jobs 2)

The paper's settings: coarsening factor 2, FCF relaxation, FAS, the coarsest
level at most 10 steps, halting when the Euclidean norm of the fine residual
is below 1e-9 * sqrt(N) (absolute), at most 50 iterations, initial guess w0
at t = 0 and zeros elsewhere, rho = (||r_k|| / ||r_0||)^(1/k).  Coarse
serialized steps train on the instance of their own index (the paper's rule).
The addition problem is Trask's network, his data and initial weights from one
legacy stream, with the paper's alpha_max = 0.2 (see problems.py).
Settings the paper leaves open are settled by the experiment this writes too.
"""
import argparse
import json
import math
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from problems import addition_problem, xor_problem  # noqa: E402

XOR_N = [100, 200, 400, 800, 1600, 3200, 6400]
ADD_N = [100, 200, 400, 800, 1600, 3200]
MAX_ITER = 50
COARSEST = 10

# table: (title, problem, solver settings, cycle, paper's iteration counts by N)
TABLES = {
    "T1": ("XOR, naive, two-level, alpha = 1", "xor",
           dict(schedule="batch", alpha=1.0, growth=1.0), "two-level",
           [14, 19, 24, 31, 40, 49, "50+"]),
    "T2": ("XOR, Solver 1, two-level, alpha_b = 1", "xor",
           dict(schedule="batch", alpha=1.0, growth=2.0), "two-level",
           [6, 6, 6, 6, 6, 6, 6]),
    "T3": ("XOR, Solver 1, F-cycle, alpha_b = 1, alpha_max = 8", "xor",
           dict(schedule="batch", alpha=1.0, growth=2.0, alpha_max=8.0), "F-cycle",
           [6, 6, 7, 7, 7, 8, 11]),
    "T4": ("XOR, Solver 1, F-cycle, alpha_b = 0.5, alpha_max = 8", "xor",
           dict(schedule="batch", alpha=0.5, growth=2.0, alpha_max=8.0), "F-cycle",
           [5, 5, 5, 6, 6, 5, 6]),
    "T5": ("XOR, Solver 2, two-level, alpha_b = 1", "xor",
           dict(schedule="serialized", alpha=1.0, growth=2.0), "two-level",
           [10, 12, 15, 18, 20, 20, 20]),
    "T7": ("XOR, Solver 2, F-cycle, alpha_b = 0.1, alpha_max = 30", "xor",
           dict(schedule="serialized", alpha=0.1, growth=2.0, alpha_max=30.0), "F-cycle",
           [5, 5, 5, 6, 7, 8, 10]),
    "T13": ("addition, Solver 2, two-level, alpha_b = 0.025, alpha_max = 0.2", "addition",
            dict(schedule="serialized", alpha=0.025, growth=2.0, alpha_max=0.2), "two-level",
            [4, 4, 5, 5, 6, 6]),
    "T15": ("addition, Solver 2, V-cycle, alpha_b = 0.025, alpha_max = 0.2", "addition",
            dict(schedule="serialized", alpha=0.025, growth=2.0, alpha_max=0.2), "V-cycle",
            [4, 5, 6, 7, 8, 9]),
}

# Counting conventions and residual norms compared in the settings experiment.
# A convention: (XBraid's skip, iterations = niter - offset).
CONVENTIONS = {
    "skip, cycles with a residual (niter - 1)": (True, 1),
    "skip, XBraid's niter": (True, 0),
    "no skip, XBraid's niter": (False, 0),
}
CHOSEN = "skip, cycles with a residual (niter - 1)"
NORMS = {
    "Euclidean, tol 1e-9 sqrt(N)": lambda r, n, nw: r < 1e-9 * math.sqrt(n),
    "Euclidean, tol 1e-9": lambda r, n, nw: r < 1e-9,
    "root mean square per weight, tol 1e-9 sqrt(N)": lambda r, n, nw: r / math.sqrt(nw)
    < 1e-9 * math.sqrt(n),
}
CHOSEN_NORM = "Euclidean, tol 1e-9 sqrt(N)"

# The addition study: each row is a variation of the runs or of how they are
# read, at each of these (table, N):
STUDY_AT = [("T13", 400), ("T13", 1600), ("T15", 400), ("T15", 1600)]
# (name, variant of the run, reading: (XBraid's skip, niter offset, norm) or
# None for the chosen one, the tables it applies to or None for all).
# Variant keys: coarse_data, initial_guess, temporal_norm (MGRIT), seed, and
# addition_problem's arguments.
ADDITION_STUDY = [
    ("the paper's settings (as above)", {}, None, None),
    ("the former problem: U(-1, 1) weights, Generator data", dict(init="uniform", data="former"),
     None, None),
    ("U(-1, 1) weights, Trask's data", dict(init="uniform"), None, None),
    ("Trask's weights, the former data", dict(data="former"), None, None),
    ("Trask's 1000 pairs drawn, the first 500 trained on", dict(n_drawn=1000), None, None),
    ("seed 2", dict(seed=2), None, None),
    ("seed 3", dict(seed=3), None, None),
    ("no alpha_max", dict(alpha_max=None), None, ("T15",)),
    ("coarse steps train on the fine data (coarse_data: fine)", dict(coarse_data="fine"), None,
     None),
    ("counted as XBraid's niter (with skip)", {}, (True, 0, CHOSEN_NORM), None),
    ("counted without skip, XBraid's niter", {}, (False, 0, CHOSEN_NORM), None),
    ("norm: root mean square per weight", {}, (True, 1, "root mean square per weight, tol 1e-9 "
                                               "sqrt(N)"), None),
    ("tolerance 1e-9 (no sqrt(N))", {}, (True, 1, "Euclidean, tol 1e-9"), None),
    ("temporal norm: the largest residual over time", dict(temporal_norm=3), None, None),
]
ADDITION_INTRO = [
    "## The addition tables (T13, T15)", "",
    "The paper (p. 16) takes its four-layer problem from Trask's binary-addition network; the "
    "tables above use Trask's data and initial weights (normal, mean -0.1, standard deviation "
    "0.2, drawn after the data from the same legacy stream), the paper's alpha_max = 0.2 "
    "(p. 17) and K = 500 (step i trains on pair i mod 500). With the U(-1, 1) weights of the "
    "XOR network, which pyxbraid used at first (as did an independent reproduction, Montag "
    "2020), both tables needed about three times the paper's iterations (the row \"the former "
    "problem\" below); Trask's weights remove most of that gap, and it is the weights, not the "
    "data, that make the difference (the two rows after it). What remains: two iterations above "
    "the "
    "paper up to N = 400, and a count that grows about twice as fast with N as the paper's "
    "(12 against 6 in T13 at N = 3200).", "",
    "Each row changes one thing, in the runs or in how the same runs are read, at two sizes of "
    "each table; a cell is iterations (rho):"]
ADDITION_CONCLUSION = [
    "What the variations say:", "",
    "- **The draw.** At large N the count depends on the particular data and weights: seeds 2 "
    "and 3, or Trask's own 1000 pairs of which the first 500 are trained on (his script draws "
    "1000; the paper does not say whether it drew 500 or kept the first 500 of 1000), give 7 or "
    "8 iterations in T13 at N = 1600 where seed 1's 500 pairs give 10. The paper's counts come "
    "from one draw we cannot recover exactly, so two or three iterations at N >= 1600 are within "
    "what the draw alone changes.",
    "- **Coarse data.** Coarse steps that train on the fine data of their interval (coarse_data: "
    "fine) converge faster here, by up to three iterations, whereas the paper found injecting "
    "the fine data worse than its own rule: the rule does not explain the gap in the paper's "
    "favour, and the tables keep the paper's rule.",
    "- **Counting and norm.** Counting XBraid's niter, with or without the skip, adds about one "
    "iteration. The residual per weight (the Euclidean norm divided by sqrt(12,032)) is the one "
    "reading that closes the gap at N = 400, but it leaves two iterations at N = 1600, and the "
    "XOR tables, whose 16 weights make the readings nearly agree, fit the plain Euclidean norm "
    "best (above). The largest residual over time, instead of the Euclidean norm over time, "
    "takes one iteration off.",
    "- **alpha_max.** It matters only to the V-cycles (the two-level coarse step is 0.05): "
    "without it T15 needs one to three iterations more.", "",
    "No single setting closes the gap at every N. What remains is of the size that the draw of "
    "the data and weights and the reading of the residual produce, and the XOR tables match the "
    "paper, so we take MGRIT to be right and the rest to lie in details of the paper's runs that "
    "it does not report."]

def levels_for(nsteps):
    """Levels of factor-2 coarsening until the coarsest has at most 10 steps."""
    levels, points = 1, nsteps
    while points > COARSEST:
        points //= 2
        levels += 1
    return levels


def mgrit_options(cycle, nsteps, skip):
    """Core options but the tolerance (see run_entry)."""
    options = dict(cfactor=2, nrelax=1, max_iter=MAX_ITER, skip=skip)
    if cycle == "two-level":
        options["max_levels"] = 2
    else:
        options["max_levels"] = levels_for(nsteps)
        options["fmg"] = cycle == "F-cycle"
    return options


def run_entry(job):
    """One MGRIT run: its residual history, niter, model speed-up, seconds.
    It stops at the smallest tolerance any compared norm needs, so that every
    convention can be read off the same history."""
    table, nsteps, skip, seed, variant = job
    from pyxbraid.train import train_serial, train_sgd_time  # MPI: only in the worker

    _, problem, solver, cycle, _ = TABLES[table]
    variant = dict(variant or {})
    mgrit = dict(coarse_data=variant.pop("coarse_data", "level"),
                 initial_guess=variant.pop("initial_guess", "zeros"))
    temporal_norm = variant.pop("temporal_norm", 2)
    seed = variant.pop("seed", seed)
    if problem == "xor":
        step, w0 = xor_problem(seed=seed, **solver)
    else:
        step, w0 = addition_problem(seed=seed, **dict(solver, **variant))
    options = mgrit_options(cycle, nsteps, skip)
    options["temporal_norm"] = temporal_norm
    n_weights = step.model.n_params
    options["abs_tol"] = 1e-9  # the strictest of the compared thresholds
    result = train_sgd_time(step, w0, nsteps, **mgrit, **options)
    start = time.perf_counter()
    train_serial(step, w0, nsteps)
    serial_seconds = time.perf_counter() - start
    return dict(table=table, n=nsteps, skip=skip, variant=job[4], rnorms=result.rnorms.tolist(),
                niter=result.niter, speedup=result.model_speedup, n_weights=n_weights,
                seconds=result.wall_time, serial_seconds=serial_seconds)


def iterations(run, offset, converged_at):
    """Iterations until `converged_at(residual)`, as the convention counts them,
    or "50+"."""
    for k, r in enumerate(run["rnorms"][:-1]):
        if r >= 0 and converged_at(r):
            return k + 1 - offset
    return f"{MAX_ITER}+"


def rho(run, converged_at):
    """(||r_k|| / ||r_0||)^(1/k) up to convergence (or the last iteration)."""
    valid = [r for r in run["rnorms"][:-1] if r >= 0]
    for k, r in enumerate(valid):
        if converged_at(r):
            valid = valid[:k + 1]
            break
    if len(valid) < 2 or valid[0] <= 0:
        return float("nan")
    return (max(valid[-1], 1e-300) / valid[0]) ** (1.0 / (len(valid) - 1))


def sizes_of(table, args):
    sizes = XOR_N if TABLES[table][1] == "xor" else ADD_N
    return [n for n in sizes if n <= args.max_n]


def deviation(ours, paper):
    """ours - paper, with "50+" read as 51."""
    def value(count):
        return MAX_ITER + 1 if isinstance(count, str) else count
    return value(ours) - value(paper)


def study_rows(args):
    """The addition study's rows for the tables and sizes asked for: (name,
    variant, reading, [(table, N) it applies to])."""
    rows = []
    for name, variant, reading, tables in ADDITION_STUDY:
        at = [(table, n) for table, n in STUDY_AT if table in args.tables and n <= args.max_n
              and (tables is None or table in tables)]
        if at:
            rows.append((name, variant, reading, at))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "schroder2017.md")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time (processes)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-study", action="store_true", help="skip the addition study")
    p.add_argument("--max-n", type=int, default=max(XOR_N), help="largest N to run")
    args = p.parse_args()

    jobs = []
    for table in args.tables:
        skips = (True, False) if TABLES[table][1] == "xor" else (True,)
        jobs += [(table, n, skip, args.seed, None) for n in sizes_of(table, args)
                 for skip in skips]
    if not args.no_study:
        for _, variant, reading, at in study_rows(args):
            skip = True if reading is None else reading[0]
            jobs += [(table, n, skip, args.seed, variant or None) for table, n in at]
    # a run read in several ways runs once
    jobs = list({(*job[:4], json.dumps(job[4])): job for job in jobs}.values())
    jobs.sort(key=lambda j: -j[1] * (40 if TABLES[j[0]][1] == "addition" else 1))
    start = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = []
        for run in pool.map(run_entry, jobs):
            runs.append(run)
            print(f"  {run['table']} N={run['n']} skip={int(run['skip'])}"
                  f"{' ' + str(run['variant']) if run['variant'] else ''}: niter {run['niter']}, "
                  f"{run['seconds']:.1f} s", file=sys.stderr, flush=True)
    text = render(runs, args, time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(runs))
    print(text)


def render(runs, args, seconds):
    by_key = {(r["table"], r["n"], r["skip"], json.dumps(r["variant"])): r for r in runs}
    skip, offset = CONVENTIONS[CHOSEN]
    norm = NORMS[CHOSEN_NORM]
    out = [
        "# Schroder 2017 reproduced: MGRIT iterations, paper versus ours",
        "",
        "Written by `examples/schroder2017/reproduce.py` (`make reproduce`, "
        f"{seconds / 60:.0f} minutes on 2 cores). Paper: J. B. Schroder, *Parallelizing over "
        "artificial neural network training runs with multigrid*, arXiv 1708.02276.",
        "",
        "Settings (the paper's): coarsening factor 2, FCF relaxation, FAS; two-level, or "
        "V/F-cycles down to a coarsest level of at most 10 steps; stop when the Euclidean norm "
        "of the fine residual is below 1e-9 sqrt(N), at most 50 iterations; initial guess w0 at "
        "t = 0, zeros elsewhere; coarse learning rate alpha(l) = min(g^l alpha_b, alpha_max) "
        "(Solver 1 and 2: g = 2; naive: g = 1); serialized steps train on instance i mod K, "
        "coarse ones on the instance of their own index. XOR: Trask's 3-4-1 sigmoid network "
        "without biases, weights 2U(0,1) - 1 from numpy's legacy stream with seed "
        f"{args.seed} (Trask's own first weights). Addition: Trask's binary-addition network "
        "(Schroder's four-layer problem), 24-128-64-12 sigmoid without biases, his data, K = 500 "
        "pairs a + b (a and b below 2^11, bits most significant first), then his weights, "
        "normal with mean -0.1 and standard deviation 0.2, layer by layer, all from numpy's "
        f"legacy stream with seed {args.seed}; alpha_max = 0.2 (the paper, p. 17).",
        "",
        f"Iterations are counted as: **{CHOSEN}** (the settings experiment below). "
        "rho = (||r_k|| / ||r_0||)^(1/k) over the residuals computed; the model speed-up is "
        "serial steps over MGRIT's critical path with one rank per coarse interval (N/2 ranks), "
        "as in the paper.",
        "",
    ]
    for table in args.tables:
        title, problem, _, _, paper = TABLES[table]
        out += [f"## {table}: {title}", "",
                "| N | paper | ours | ours - paper | rho | model speed-up | "
                "wall time MGRIT / serial (s) |",
                "|---:|---:|---:|---:|---:|---:|---:|"]
        for n, expected in zip(sizes_of(table, args), paper):
            run = by_key[(table, n, skip, "null")]
            ours = iterations(run, offset, lambda r: norm(r, n, run["n_weights"]))
            dev = deviation(ours, expected)
            out.append(f"| {n} | {expected} | {ours} | {dev:+d} | "
                       f"{rho(run, lambda r: norm(r, n, run['n_weights'])):.3f} | "
                       f"{run['speedup']:.2f} | {run['seconds']:.2f} / "
                       f"{run['serial_seconds']:.3f} |")
        out.append("")

    xor_tables = [t for t in args.tables if TABLES[t][1] == "xor"]
    if xor_tables:  # the experiment reads the XOR runs
        out += ["## Settings experiment: how iterations are counted, and which norm", "",
                "The paper does not say whether XBraid's first cycle (skip: a coarse solve of the "
                "injected initial guess, no residual) counts, nor exactly how the residual is "
                "normed. The same XOR runs read under each choice; the sum of |ours - paper| "
                "over all XOR entries (smaller is closer):", "",
                "| counting | " + " | ".join(NORMS) + " |",
                "|---|" + "---:|" * len(NORMS)]
        for convention, (conv_skip, conv_offset) in CONVENTIONS.items():
            cells = []
            for norm_name, test in NORMS.items():
                total = 0
                for table in xor_tables:
                    for n, expected in zip(sizes_of(table, args), TABLES[table][4]):
                        run = by_key[(table, n, conv_skip, "null")]
                        ours = iterations(run, conv_offset,
                                          lambda r: test(r, n, run["n_weights"]))
                        total += abs(deviation(ours, expected))
                cells.append(str(total))
            out.append(f"| {convention} | " + " | ".join(cells) + " |")
        out += ["", "The paper's norm (Euclidean, 1e-9 sqrt(N)) with XBraid's skip and counting "
                "the cycles that compute a residual fits best; the tables above use it.", ""]

    columns = [(table, n) for table, n in STUDY_AT if table in args.tables and n <= args.max_n]
    rows = [] if args.no_study else study_rows(args)
    if rows:
        out += ADDITION_INTRO + ["",
                "| variation | " + " | ".join(f"{t} N = {n}" for t, n in columns) + " |",
                "|---|" + "---:|" * len(columns),
                "| the paper | " + " | ".join(str(TABLES[t][4][ADD_N.index(n)])
                                               for t, n in columns) + " |"]
        for name, variant, reading, at in rows:
            conv_skip, conv_offset, norm_name = reading or (skip, offset, CHOSEN_NORM)
            cells = []
            for table, n in columns:
                if (table, n) not in at:
                    cells.append("-")
                    continue
                run = by_key[(table, n, conv_skip, json.dumps(variant) if variant else "null")]
                test = lambda r: NORMS[norm_name](r, n, run["n_weights"])  # noqa: E731
                cells.append(f"{iterations(run, conv_offset, test)} ({rho(run, test):.3f})")
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        out += [""] + ADDITION_CONCLUSION + [""]
    return "\n".join(out)


if __name__ == "__main__":
    main()
