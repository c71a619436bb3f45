"""The C library against upstream XBraid v3.1's behaviour where it used to
differ (issue 8): storage, one-level relaxation, SeqSoln, print level 3, the
statistics, timers, periodic problems, shell vectors, user message buffers,
braid_Rand, the setters of unimplemented features, bad sizes and failed
allocations; and the stand-in for upstream.  All through the C example
vendor/xbraid/examples/dahlquist (see its header for the options)."""
import ctypes
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, mpirun_executable

XBRAID = ROOT / "vendor" / "xbraid"
C_EXAMPLE = XBRAID / "examples" / "dahlquist"
MPICC = str(Path(sys.executable).parent / "mpicc")

pytestmark = [pytest.mark.c_library,
              pytest.mark.skipif(not C_EXAMPLE.exists(),
                                 reason="C example not built (make install)")]


def run(args, nranks=1, example=C_EXAMPLE, cwd=None, shell_prefix=None):
    """Run the example on nranks ranks; returns CompletedProcess."""
    cmd = [str(example)] + [str(a) for a in args]
    if nranks > 1:
        cmd = [mpirun_executable(), "-n", str(nranks)] + cmd
    if shell_prefix:
        cmd = ["bash", "-c", shell_prefix + ' && exec "$@"', "run"] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)


def parse(stdout):
    """niter, history, counts and solution printed by the example."""
    lines = [line.split() for line in stdout.splitlines() if line.strip()]
    return dict(
        niter=next((int(w[1]) for w in lines if w[0] == "niter"), None),
        history=[float(w[1]) for w in lines if w[0] == "rnorm"],
        counts={w[1]: int(w[2]) for w in lines if w[0] == "count"},
        solution={int(w[1]): float(w[2]) for w in lines if w[0] == "solution"})


# ------------------------------------------------------------ storage 0

def test_storage_0_calls_init_at_fine_c_points_only():
    """Upstream: ntime 1000, cf 2, storage 0 makes 501 init calls, not 1001, so
    an init that draws random numbers sees the same sequence as with storage -1."""
    base = ["-ntime", 1000, "-ml", 3, "-tol", "1e-10", "-counts", "-history"]
    full = parse(run(base + ["-storage", 0]).stdout)
    cpoints = parse(run(base + ["-storage", -1]).stdout)
    assert full["counts"]["init"] == cpoints["counts"]["init"] == 501
    assert full["history"] == cpoints["history"]


# ------------------------------------------- one level, relaxation only

@pytest.mark.parametrize("nrelax, value", [(2, 0.19753086419753085), (1, 0.20266666666666666)])
def test_one_level_relax_only_cg_does_nrelax_sweeps(nrelax, value):
    """ex-01-expanded -ntime 24 -ml 1 -mi 2 -nu 2 -relax_only_cg: upstream's value
    at index 4 is 1.97530864197531e-01 (two sweeps); one sweep gives 2.0267e-01."""
    out = run(["-ntime", 24, "-ml", 1, "-maxiter", 2, "-nu", nrelax, "-relaxcg",
               "-stepform", 0, "-solution"])
    assert out.returncode == 0, out.stderr
    assert parse(out.stdout)["solution"][4] == pytest.approx(value, rel=1e-14)


# -------------------------------------------------------------- seq_soln

@pytest.mark.parametrize("nranks", [1, 2])
def test_seq_soln_turns_skip_off_with_upstreams_notice(nranks):
    out = run(["-ntime", 64, "-ml", 3, "-seqsoln", "-history"], nranks)
    assert out.returncode == 0, out.stderr
    # every rank prints the setter's notice, as upstream does
    assert out.stdout.count(
        "  Braid: SetSeqSoln requires skip turned off, turning off now\n") == nranks
    history = parse(out.stdout)["history"]
    assert history[0] != -1  # iteration 0 was not skipped: it has a residual


# -------------------------------------------------------------- printing

@pytest.mark.parametrize("ntime, nranks", [(16, 1), (16, 3), (15, 2)])
def test_print_level_3_prints_the_norm_at_every_c_point(ntime, nranks):
    out = run(["-ntime", ntime, "-ml", 2, "-skip", 0, "-print", 3, "-maxiter", 3], nranks)
    assert out.returncode == 0, out.stderr
    steps = re.findall(r"^  Braid:  time step: +(\d+), rnorm: (\S+)$", out.stdout, re.M)
    per_iteration = math.ceil(ntime / 2) + 1   # upstream's count, one past gupper if odd
    assert len(steps) == 3 * per_iteration
    assert [int(i) for i, _ in steps[:per_iteration]] == list(range(0, 2 * per_iteration, 2))
    assert steps[0][1] == "0.00e+00"           # index 0 has no residual
    last = per_iteration - 1 - ntime % 2      # the last real C-point has a residual
    assert float(steps[last][1]) > 0
    if ntime % 2:
        assert steps[per_iteration - 1][1] == "0.00e+00"
    # the lines come before the residual line of their iteration
    assert out.stdout.index("time step:") < out.stdout.index("|| r_0 ||")


def test_print_stats_layout_and_timing_line():
    out = run(["-ntime", 64, "-ml", 3, "-print", 2])
    text = out.stdout
    for line in ["  Braid Solver Stats:", "  time steps = 64", "  use relative tol?     = 0",
                 "                                          --> 2-norm TemporalNorm ",
                 "  periodic              = 0", "  tracking timings      = 0",
                 "  level   time-pts   cfactor   nrelax   Crelax Wt",
                 "      0        64        2        1        1.00",
                 "      2        16  "]:
        assert line + "\n" in text, line
    assert re.search(r"^  wall time = \d+\.\d{6}$", text, re.M)


@pytest.mark.parametrize("timings, files", [(0, 0), (1, 2)])
def test_timers_write_one_file_per_rank(tmp_path, timings, files):
    out = run(["-ntime", 64, "-ml", 3, "-print", 1, "-timings", timings,
               "-timerfile", "mytimers"], 2, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    written = sorted(p.name for p in tmp_path.glob("mytimers_*.txt"))
    assert written == ["mytimers_0000.txt", "mytimers_0001.txt"][:files]
    if files:
        text = (tmp_path / "mytimers_0001.txt").read_text()
        assert text.startswith("\nTimings for rank 1\n")
        names = re.findall(r"^   (\S+(?: \S+)?) +(\d\.\d{3}e[+-]\d\d)$", text, re.M)
        assert [n for n, _ in names] == [
            "drive_init", "coarse solve", "step", "init", "clone", "free", "sum", "spatialnorm",
            "bufsize", "bufpack", "bufunpack", "access", "sync", "residual", "scoarsen",
            "srefine", "MPI_recv", "MPI_send", "MPI_wait", "MPI_wait_coarse"]
        assert float(dict(names)["step"]) > 0


# ---------------------------------------------------------------- periodic

def periodic_solution(ntime):
    """The discrete periodic solution of the example's -periodic problem."""
    dt, period = 0.5, ntime / 2

    def around(u):
        for i in range(1, ntime + 1):
            u = (u + dt * math.cos(2 * math.pi * (i * dt) / period)) / (1 + dt)
        return u

    b = around(0.0)
    u = [b / (1 - (around(1.0) - b))]
    for i in range(1, ntime):
        u.append((u[-1] + dt * math.cos(2 * math.pi * (i * dt) / period)) / (1 + dt))
    return u


@pytest.mark.parametrize("ml, cf", [(3, 2), (2, 4)])
def test_periodic_converges_to_the_periodic_solution_on_any_number_of_ranks(ml, cf):
    ntime = 64
    args = ["-ntime", ntime, "-ml", ml, "-cf", cf, "-tol", "1e-12", "-periodic", "-solution",
            "-history", "-counts"]
    results = [parse(run(args, nranks).stdout) for nranks in (1, 2, 3)]
    exact = periodic_solution(ntime)
    for r in results:
        assert sorted(r["solution"]) == list(range(ntime))   # gupper = ntime - 1
        assert max(abs(r["solution"][i] - exact[i]) for i in range(ntime)) < 1e-12
        assert r["history"][-1] < 1e-12 and r["niter"] < 30
    # the values do not depend on the number of ranks
    assert results[0]["solution"] == results[1]["solution"] == results[2]["solution"]


def test_periodic_differs_from_the_initial_value_problem():
    periodic = parse(run(["-ntime", 32, "-ml", 2, "-periodic", "-solution"]).stdout)
    assert periodic["solution"][0] != 1.0   # index 0 is solved for, not the initial value


# ------------------------------------------------------------ shell vectors

@pytest.mark.parametrize("nranks", [1, 3])
def test_shell_vectors_hold_the_f_points(nranks):
    args = ["-ntime", 20, "-ml", 3, "-tol", "1e-10", "-counts", "-solution"]
    shells = parse(run(args + ["-shell"], nranks).stdout)
    plain = parse(run(args, nranks).stdout)
    c = shells["counts"]
    assert shells["solution"] == plain["solution"]
    assert c["shell_misuse"] == 0           # no shell was stepped, summed, normed, packed
    assert c["ustop_shell_f"] > 0           # F-point guesses given to step are shells
    assert c["ustop_shell_c"] == 0          # C-points always hold full vectors
    if nranks == 1:
        assert c["sinit"] == 10             # a shell at every fine F-point: 1, 3, ..., 19
        assert c["sclone"] > 0 and c["sfree"] > 0
        # the vectors still held at the end: 11 fine C-points and 10 F-point shells
        assert c["free"] + 21 == c["init"] + c["clone"] + c["sinit"] + c["sclone"]
    assert plain["counts"]["sinit"] == plain["counts"]["sclone"] == 0


def test_user_message_buffers():
    args = ["-ntime", 60, "-ml", 3, "-tol", "1e-10", "-counts", "-solution"]
    user = parse(run(args + ["-bufalloc"], 3).stdout)
    plain = parse(run(args, 3).stdout)
    assert user["solution"] == plain["solution"]
    assert user["counts"]["bufalloc"] == user["counts"]["buffree"] > 0
    assert plain["counts"]["bufalloc"] == 0


def test_braid_rand_is_the_c_standards_generator():
    import pyxbraid._braid as ext
    lib = ctypes.CDLL(ext.__file__)
    first = [lib.braid_Rand() for _ in range(5)]
    # the example rand() of the C standard, from seed 1
    assert first == [16838, 5758, 10113, 17515, 31051]


# -------------------------------------------- features that are not implemented

FEATURES = {"refine": "temporal refinement", "scoarsen": "spatial coarsening",
            "srefine": "spatial refinement", "richardson": "Richardson",
            "delta": "Delta correction", "lyapunov": "Lyapunov estimation",
            "fullres": "full residual norm", "reverted": "reverted ranks",
            "adjoint": "XBraid_Adjoint"}


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_unimplemented_feature_accepted_off_refused_on(name):
    off = run(["-ntime", 32, "-ml", 2, "-off", name, 0])
    assert f"off {name} 0 returned 0" in off.stdout and off.returncode == 0
    assert parse(off.stdout)["niter"] > 0 and off.stderr == ""
    on = run(["-ntime", 32, "-ml", 2, "-off", name, 1])
    assert f"off {name} 1 returned 4" in on.stdout
    assert FEATURES[name] in on.stderr and "not implemented" in on.stderr


def test_incr_max_levels_has_no_off_value():
    out = run(["-ntime", 32, "-ml", 2, "-off", "incrmaxlevels", 1])
    assert "returned 4" in out.stdout and "temporal refinement" in out.stderr


# ------------------------------------------------ sizes and failed allocations

@pytest.mark.parametrize("ntime", [0, 2**31 - 2, 2**31 - 1])
def test_braid_init_refuses_an_unusable_ntime(ntime):
    out = run(["-ntime", ntime])
    assert out.returncode == 4 and "braid_Init returned 4" in out.stdout


@pytest.mark.parametrize("ntime", [10**8, 2**31 - 3])
def test_allocation_failure_is_an_error_return(ntime):
    """Under a 2 GB address-space limit the solve cannot get its memory: it must
    say so with braid_ERROR_MEMORY, not crash."""
    out = run(["-ntime", ntime, "-ml", 2], shell_prefix="ulimit -v 2000000")
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "braid_Drive returned 2" in out.stdout


# ------------------------------------------------------ the stand-in for upstream

@pytest.fixture(scope="module")
def standin():
    out = subprocess.run(["make", "-C", str(XBRAID), f"MPICC={MPICC}", "standin"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    header = (XBRAID / "standin" / "braid" / "braid.h").read_text()
    assert header.startswith("#define BRAID_STANDIN_UPSTREAM 1\n")
    for name in ("braid_status.h", "braid_defs.h", "libbraid.a"):
        assert (XBRAID / "standin" / "braid" / name).exists()
    return XBRAID / "standin" / "examples" / "dahlquist"


def test_standin_ignores_a_failing_callback(standin):
    args = ["-ntime", 200, "-ml", 4, "-tol", "1e-10", "-history"]
    clean = parse(run(args, example=standin).stdout)
    failing = run(args + ["-fail", "step", 300], example=standin)
    assert failing.returncode == 0 and "braid_Drive returned" not in failing.stdout
    assert parse(failing.stdout)["history"] == clean["history"]
    # our library stops at the failing call
    assert run(args + ["-fail", "step", 300]).returncode == 42


def test_standin_aborts_when_destroying_a_core_that_never_ran(standin):
    out = run(["-init-only"], example=standin)
    assert out.returncode != 0 and "destroyed without a drive" not in out.stdout
    assert ("braid stand-in: braid_Destroy of a core that never ran braid_Drive "
            "(crashes upstream XBraid)") in out.stderr
    ours = run(["-init-only"])
    assert ours.returncode == 0 and "destroyed without a drive" in ours.stdout


def test_standin_warm_restart_repeats_the_skipped_cycle(standin):
    args = ["-ntime", 64, "-ml", 3, "-tol", "1e-10", "-drives", 2, "-history"]
    upstream_like = parse(run(args, example=standin).stdout)["history"]
    ours = parse(run(args).stdout)["history"]
    assert upstream_like[0] == -1   # the second solve skipped its first down-cycle again
    assert ours[0] != -1            # ours relaxes from the solution it restarts from
