"""Every run of XBraid v3.1's reference histories, through pyxbraid and through
the C library directly: 1 rank bit for bit with the callback counts, 2 ranks bit
for bit, 4 ranks within 4 ulp (bit for bit with MPICH's pairwise allreduce);
stepping point by point and through the batched step (step_batch, ours), with
its cap at 1, 3 and none."""
import math
import subprocess
import sys
from collections import Counter

import pytest

import pyxbraid
from conftest import (EXAMPLES, ROOT, last_json_line, load_example, load_reference,
                      mpirun_executable, run_mpi)

dahlquist = load_example("dahlquist")
DahlquistNumpy, DahlquistPython, solve = (dahlquist.DahlquistNumpy, dahlquist.DahlquistPython,
                                          dahlquist.solve)

RUNS = load_reference()["runs"]


def run_options(run):
    """The reference run's options as solve() arguments."""
    o = run["opts"]
    return dict(ntime=int(o["ntime"]), ml=int(o["ml"]), cf=int(o.get("cf", 2)),
                nu=int(o.get("nu", 1)), tol=float(o.get("tol", 1e-6)),
                skip=bool(int(o.get("skip", 1)))), int(o.get("stepform", 1))


def cli_args(run):
    opts, stepform = run_options(run)
    return ["--ntime", opts["ntime"], "--ml", opts["ml"], "--cf", opts["cf"], "--nu", opts["nu"],
            "--tol", repr(opts["tol"]), "--skip", int(opts["skip"]), "--stepform", stepform]


class CountingDahlquist(DahlquistPython):
    """Counts every callback, as the reference's counts_np1."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.counts = Counter()

    def step(self, *a):
        self.counts["step"] += 1
        super().step(*a)

    def init(self, t):
        self.counts["init"] += 1
        return super().init(t)

    def clone(self, u):
        self.counts["clone"] += 1
        return super().clone(u)

    def free(self, u):
        self.counts["free"] += 1

    def sum(self, *a):
        self.counts["sum"] += 1
        super().sum(*a)

    def spatialnorm(self, u):
        self.counts["spatialnorm"] += 1
        return super().spatialnorm(u)

    def access(self, u, status):
        self.counts["access"] += 1
        super().access(u, status)


class CountingBatches(CountingDahlquist):
    """Counts the batches too (their rows go through step(), counted there)."""

    def step_batch(self, ustop, fstop, u, status):
        self.counts["batch"] += 1
        assert status.size == len(u) == len(ustop)
        DahlquistPython.step_batch(self, ustop, fstop, u, status)


def ulps(a, b):
    return abs(a - b) / math.ulp(max(abs(a), abs(b))) if a != b else 0.0


# (app, Core options, batched): the per-point path, and the batched one of a
# NumpyApp (rows gathered in C) and of an App (lists of vectors)
VARIANTS = {
    "numpy": (DahlquistNumpy, {}, True),
    "numpy-per-point": (DahlquistNumpy, {"batch": False}, False),
    "numpy-cap1": (DahlquistNumpy, {"max_batch": 1}, True),
    "numpy-cap3": (DahlquistNumpy, {"max_batch": 3}, True),
    "python": (DahlquistPython, {}, True),
    "counting-per-point": (CountingDahlquist, {}, False),  # overrides step: not batched
}


@pytest.mark.parametrize("name", sorted(RUNS))
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_one_rank_bit_for_bit(name, variant):
    run = RUNS[name]
    app_class, options, batched = VARIANTS[variant]
    opts, stepform = run_options(run)
    app = app_class(stepform=stepform, record=True)
    core = solve(app, **opts, **options)
    assert core.batched == (batched and pyxbraid.STEP_BATCH)
    assert core.niter == run["niter"]
    assert core.nlevels == run["nlevels"]
    assert core.rnorms.tolist() == run["rnorms"]["np1"]
    for index, value in (run["solution"] or {}).items():
        assert app.solution[int(index)] == value
    if app_class is CountingDahlquist:
        # frees are counted before Destroy, like the reference
        assert dict(app.counts) == {k: v for k, v in run["counts_np1"].items() if v}
    core.destroy()


@pytest.mark.parametrize("name", sorted(RUNS))
def test_batches_make_every_step_once(name):
    """The steps of the batches and the lone steps are the reference's steps,
    one for one, and every other callback is called as often; a run of more
    than one interval batches its steps."""
    run = RUNS[name]
    opts, stepform = run_options(run)
    app = CountingBatches(stepform=stepform, record=True)
    core = solve(app, **opts)
    assert core.rnorms.tolist() == run["rnorms"]["np1"]
    batches = app.counts.pop("batch", 0)
    assert dict(app.counts) == {k: v for k, v in run["counts_np1"].items() if v}
    if pyxbraid.STEP_BATCH and opts["ml"] > 1 and opts["ntime"] > 4 * opts["cf"]:
        assert 0 < batches < app.counts["step"]
    else:
        assert batches == 0


@pytest.mark.parametrize("name", sorted(RUNS))
@pytest.mark.parametrize("batch", [["--batch", 1], ["--batch", 0], ["--max-batch", 3]],
                         ids=["batched", "per-point", "cap3"])
def test_two_ranks_bit_for_bit(name, batch):
    run = RUNS[name]
    out = run_mpi(2, [EXAMPLES / "dahlquist.py", "--json", *batch] + cli_args(run))
    assert out.returncode == 0, out.stderr
    result = last_json_line(out.stdout)
    assert result["batched"] == (batch != ["--batch", 0] and pyxbraid.STEP_BATCH)
    assert (result["niter"], result["nlevels"]) == (run["niter"], run["nlevels"])
    assert result["rnorms"] == run["rnorms"]["np2"]
    for index, value in (run["solution"] or {}).items():
        assert result["solution"][index] == value


@pytest.mark.parametrize("name", sorted(RUNS))
@pytest.mark.parametrize("batch", [1, 0], ids=["batched", "per-point"])
def test_four_ranks_within_4_ulp(name, batch):
    run = RUNS[name]
    out = run_mpi(4, [EXAMPLES / "dahlquist.py", "--json", "--python", "--batch", batch]
                  + cli_args(run))
    assert out.returncode == 0, out.stderr
    result = last_json_line(out.stdout)
    assert (result["niter"], result["nlevels"]) == (run["niter"], run["nlevels"])
    expected = run["rnorms"]["np4rd"]
    assert len(result["rnorms"]) == len(expected)
    assert max(ulps(a, b) for a, b in zip(result["rnorms"], expected)) <= 4


def test_four_ranks_pairwise_allreduce_bit_for_bit():
    # MPICH's generic recursive doubling sums as (s0+s1)+(s2+s3), like the reference
    for name in ("E2_n1000_ml5_nu1", "F_n1000_ml5_skip0", "Y_n16_ml3_sol"):
        run = RUNS[name]
        out = run_mpi(4, [EXAMPLES / "dahlquist.py", "--json"] + cli_args(run),
                      env={"MPIR_CVAR_DEVICE_COLLECTIVES": "none"})
        assert out.returncode == 0, out.stderr
        assert last_json_line(out.stdout)["rnorms"] == run["rnorms"]["np4rd"], name


def test_solution_is_bitwise_independent_of_the_number_of_ranks():
    # ranks that own no C-point, and cfactor 3 on an uneven grid
    args = [EXAMPLES / "dahlquist.py", "--json", "--ntime", 37, "--ml", 4, "--cf", 3,
            "--tol", "1e-10"]
    results = [last_json_line(run_mpi(n, args).stdout) for n in (1, 3, 7)]
    assert results[0]["solution"] == results[1]["solution"] == results[2]["solution"]
    assert results[0]["niter"] == results[1]["niter"] == results[2]["niter"]


# ------------------------------------------------------- the C library alone

C_EXAMPLE = ROOT / "vendor" / "xbraid" / "examples" / "dahlquist"


def c_example(nranks, run, env=None, extra=()):
    opts, stepform = run_options(run)
    cmd = [mpirun_executable(), "-n", str(nranks), str(C_EXAMPLE), "-history", "-counts",
           "-ntime", str(opts["ntime"]), "-ml", str(opts["ml"]), "-cf", str(opts["cf"]),
           "-nu", str(opts["nu"]), "-tol", repr(opts["tol"]), "-skip", str(int(opts["skip"])),
           "-stepform", str(stepform), *map(str, extra)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    lines = [line.split() for line in out.stdout.splitlines()]
    history = [float(w[1]) for w in lines if w[0] == "rnorm"]
    counts = {w[1]: int(w[2]) for w in lines if w[0] == "count"}
    niter = next(int(w[1]) for w in lines if w[0] == "niter")
    return history, counts, niter


@pytest.mark.c_library
@pytest.mark.skipif(not C_EXAMPLE.exists(), reason="C example not built (make install)")
@pytest.mark.parametrize("name", sorted(RUNS))
def test_c_library_matches_reference(name):
    run = RUNS[name]
    history, counts, niter = c_example(1, run)
    assert niter == run["niter"]
    assert history == run["rnorms"]["np1"]
    assert {k: v for k, v in counts.items() if v} == {
        k: v for k, v in run["counts_np1"].items() if v}
    history, _, _ = c_example(2, run)
    assert history == run["rnorms"]["np2"]


@pytest.mark.c_library
@pytest.mark.skipif(not C_EXAMPLE.exists(), reason="C example not built (make install)")
@pytest.mark.parametrize("name", sorted(RUNS))
def test_c_library_batched_step_is_the_per_point_step_bit_for_bit(name):
    """[ours] braid_SetStepBatch: the reference histories and callback counts
    bit for bit on 1 and 2 ranks, whatever the cap on the batch (1, 3, none),
    and the batched step really batches (far fewer calls than steps)."""
    run = RUNS[name]
    for nranks, reference in ((1, run["rnorms"]["np1"]), (2, run["rnorms"]["np2"])):
        for cap in (0, 1, 3):
            history, counts, niter = c_example(nranks, run, extra=["-batch", cap])
            assert niter == run["niter"] and history == reference, (nranks, cap)
            batches = counts.pop("batches")
            if nranks == 1:
                assert {k: v for k, v in counts.items() if v} == {
                    k: v for k, v in run["counts_np1"].items() if v}
            opts, _ = run_options(run)
            assert 0 <= batches <= counts["step"]
            if opts["ml"] == 1 or cap == 1:  # one interval, or one step, a call:
                assert batches == 0          # a lone step is the single step
            elif cap == 0 and opts["ntime"] > 4 * opts["cf"]:
                assert 0 < batches < counts["step"]


@pytest.mark.c_library
@pytest.mark.skipif(not C_EXAMPLE.exists(), reason="C example not built (make install)")
@pytest.mark.parametrize("options", [["-periodic"], ["-relaxcg", "-nuc", "2"],
                                     ["-shell", "-storage", "0"], ["-skip", "0"],
                                     ["-fmg", "-storage", "0", "-nu", "2", "-cf", "3"],
                                     ["-seqsoln"], ["-tnorm", "3"], ["-tnorm", "1"]],
                         ids=" ".join)
@pytest.mark.parametrize("nranks", [1, 3])
def test_c_library_batched_step_with_every_kind_of_cycle(options, nranks):
    """[ours] The batched step against the per-point one beyond the reference
    runs: periodic grids (whose messages go around to the first rank, or to
    itself), relaxed coarsest levels, shells, FMG, the sequential guess, other
    norms: the same history and callback counts, and no hang."""
    def solve(*extra):
        cmd = [mpirun_executable(), "-n", str(nranks), str(C_EXAMPLE), "-ntime", "300", "-ml", "4",
               "-tol", "1e-10", "-history", "-counts", *options, *extra]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return [line for line in out.stdout.splitlines() if not line.startswith("count batches")]

    per_point = solve()
    assert any(line.startswith("rnorm") for line in per_point)
    assert solve("-batch", "0") == per_point
    assert solve("-batch", "2") == per_point


C_SOURCES = sorted((ROOT / "vendor" / "xbraid").glob("*.c")) + [C_EXAMPLE.with_suffix(".c")]


@pytest.mark.c_library
@pytest.mark.parametrize("source", C_SOURCES, ids=lambda p: p.name)
def test_c_library_compiles_warning_free(source, tmp_path):
    mpicc = str(__import__("pathlib").Path(sys.executable).parent / "mpicc")
    cmd = [mpicc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffp-contract=off",
           "-I", str(ROOT / "vendor" / "xbraid"), "-c", str(source), "-o", str(tmp_path / "x.o")]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
