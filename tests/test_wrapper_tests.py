"""The wrapper tests of vendor/xbraid/braid_test.h, driven by
vendor/xbraid/examples/wrapper_tests.c: a right app passes every test, each
broken callback fails the matching test, a callback's error code is reported
by name, on 1 and 2 ranks (a vector split over the ranks), and no test leaks a
vector or hangs."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, mpirun_executable

XBRAID = ROOT / "vendor" / "xbraid"

pytestmark = pytest.mark.c_library


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    """The driver and the library, compiled from source warning-free under -Werror."""
    mpicc = str(Path(sys.executable).parent / "mpicc")
    exe = tmp_path_factory.mktemp("wrapper_tests") / "wrapper_tests"
    cmd = [mpicc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffp-contract=off",
           "-I", str(XBRAID), *map(str, sorted(XBRAID.glob("*.c"))),
           str(XBRAID / "examples" / "wrapper_tests.c"), "-o", str(exe), "-lm"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return exe


class Run:
    """One run of the driver: its log, the result flag, the failed tests of TestAll."""

    def __init__(self, stdout, nranks):
        self.log = stdout
        results = re.findall(r"^result \S+ (\d+)$", stdout, re.M)
        assert len(results) == 1, stdout
        self.result = int(results[0])
        self.failed = set(re.findall(r"^-> braid_TestAll:   (.*) Failed$", stdout, re.M))
        self.live = {int(r): int(k) for r, k in re.findall(r"^live (\d+) (-?\d+)$", stdout, re.M)}
        # every rank reported, and every vector made was freed
        assert self.live == {r: 0 for r in range(nranks)}, stdout

    def status(self, kind):
        """What callbacks of `kind` (access, step, buffer, unpack) saw, one dict a call."""
        return [dict(kv.split("=") for kv in line.split()[2:])
                for line in self.log.splitlines() if line.startswith(f"status {kind} ")]


def run(driver, nranks, *args):
    cmd = [mpirun_executable(), "-n", str(nranks), str(driver), *map(str, args)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return Run(out.stdout, nranks)


NRANKS = [1, 2]
SINGLE_TESTS = ["initaccess", "clone", "sum", "spatialnorm", "innerprod", "buf", "coarsenrefine",
                "residual"]


@pytest.mark.parametrize("nranks", NRANKS)
def test_right_app_passes_test_all(driver, nranks):
    r = run(driver, nranks, "-test", "all")
    assert r.result == 1
    assert "Failed" not in r.log
    assert "Finished braid_TestAll: no fails detected" in r.log
    # TestAll ran every test, the two optional ones included
    for name in ["TestInitAccess", "TestClone", "TestClone (in norm)", "TestSum",
                 "TestSum (in norm)", "TestSpatialNorm", "TestSpatialNorm (triangle inequality)",
                 "TestBuf", "TestCoarsenRefine", "TestResidual"]:
        assert f"Finished braid_{name}: all tests passed successfully" in r.log, name


@pytest.mark.parametrize("nranks", NRANKS)
@pytest.mark.parametrize("which", SINGLE_TESTS)
def test_right_app_passes_each_test(driver, which, nranks):
    r = run(driver, nranks, "-test", which)
    assert r.result == 1
    assert "Failed" not in r.log


def test_test_all_without_the_optional_callbacks(driver):
    r = run(driver, 1, "-null", "refine,residual")
    assert r.result == 1
    assert "coarsen and refine not both given: TestCoarsenRefine not run" in r.log
    assert "step and residual not both given: TestResidual not run" in r.log
    assert "Starting braid_TestCoarsenRefine" not in r.log
    assert "Starting braid_TestResidual" not in r.log


# broken callback -> (test to run, the failed tests of TestAll exactly, or lines of the log)
BROKEN = {
    # sum used everywhere: at least its own check fails
    "sum-beta": ("all", None, ["braid_TestSum (in norm):   Test 1 Failed"]),
    "norm-square": ("all", None, ["braid_TestSpatialNorm:   Test 2 Failed",
                                  "braid_TestSpatialNorm:   Test 3 Failed"]),
    # passes upstream's three checks, fails ours (absolute homogeneity)
    "norm-signed": ("spatialnorm", None, ["braid_TestSpatialNorm:   Test 1 Passed",
                                          "braid_TestSpatialNorm:   Test 2 Passed",
                                          "braid_TestSpatialNorm:   Test 3 Passed",
                                          "braid_TestSpatialNorm:   Test 4 Failed",
                                          "spatialnorm(w) = -2.86e+01 is not a norm: Failed"]),
    "norm-triangle": ("all", {"TestSpatialNorm (triangle inequality)"}, []),
    "clone-copy": ("all", None, ["braid_TestClone (in norm):   Test 1 Failed"]),
    "clone-shallow": ("all", None, ["braid_TestClone (in norm):   Test 1 Passed",
                                    "braid_TestClone (in norm):   Test 2 Failed"]),
    "clone-alias": ("all", None, ["braid_TestClone:   clone returned its argument instead of a "
                                  "new vector: Failed"]),
    "init-null": ("all", None, ["braid_TestInitAccess:   init gave no vector: Failed"]),
    "bufpack-drop": ("all", {"TestBuf 1", "TestBuf 2"}, []),
    "bufpack-short": ("all", {"TestBuf 1", "TestBuf 2"}, []),
    "bufpack-size": ("all", {"TestBuf 1", "TestBuf 2"}, ["more than the"]),
    "residual": ("all", {"TestResidual 1"}, []),
    "coarsen-random": ("all", {"TestCoarsenRefine 1"},
                       ["braid_TestCoarsenRefine:   Test 2 Failed"]),
    "innerprod-first": ("innerprod", None, ["braid_TestInnerProd:   Test 1 Passed",
                                            "braid_TestInnerProd:   Test 2 Failed"]),
    "basis-dependent": ("delta", None, ["B has linearly dependent columns",
                                        "braid_TestDelta:   Test 1 Failed"]),
}


@pytest.mark.parametrize("nranks", NRANKS)
@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_broken_callback_fails_the_matching_test(driver, broken, nranks):
    which, failed, lines = BROKEN[broken]
    r = run(driver, nranks, "-test", which, "-break", broken)
    assert r.result == 0
    if which == "all":
        assert "Finished braid_TestAll: some tests failed" in r.log
    if failed is not None:
        assert r.failed == failed
    for line in lines:
        assert line in r.log


# callback -> a test that calls it
FAILING = {"init": "all", "clone": "all", "sum": "all", "spatialnorm": "all", "free": "all",
           "bufsize": "all", "bufpack": "all", "bufunpack": "all", "step": "all",
           "residual": "all", "coarsen": "all", "refine": "all", "access": "initaccess",
           "inner_prod": "innerprod", "init_basis": "delta"}


@pytest.mark.parametrize("nranks", NRANKS)
@pytest.mark.parametrize("callback", sorted(FAILING))
def test_failing_callback_is_named_and_nothing_leaks(driver, callback, nranks):
    # fails at its first call on the last rank only: every rank must stop the test
    r = run(driver, nranks, "-test", FAILING[callback], "-fail", callback, 1,
            "-fail-rank", nranks - 1)
    assert r.result == 0
    assert re.search(rf"^   braid_Test\w+( \(.*\))?:   {callback} returned error code 42: Failed$",
                     r.log, re.M), r.log


def test_failure_stops_only_the_test_it_happens_in(driver):
    # the 3rd sum call is TestSum 1's first (TestClone (in norm) makes the first two)
    r = run(driver, 2, "-fail", "sum", 3, "-fail-rank", 1)
    assert r.failed == {"TestSum 1"}
    assert "braid_TestSum:   sum returned error code 42: Failed" in r.log
    assert "Finished braid_TestSum: some tests failed" in r.log
    # the next tests ran in full
    assert r.log.count("Finished braid_TestSpatialNorm: all tests passed successfully") == 2


@pytest.mark.parametrize("which, missing", [("sum", "sum"), ("buf", "bufpack"),
                                            ("coarsenrefine", "refine"), ("delta", "init_basis"),
                                            ("initaccess", "free")])
def test_missing_callback_fails_the_test_by_name(driver, which, missing):
    r = run(driver, 1, "-test", which, "-null", missing)
    assert r.result == 0
    assert f"no {missing} given: Failed" in r.log


def test_access_is_optional(driver):
    r = run(driver, 1, "-test", "clone", "-null", "access")
    assert r.result == 1
    assert "access(" not in r.log and not r.status("access")


def test_callbacks_read_a_single_step_from_their_status(driver):
    r = run(driver, 2, "-test", "residual", "-t", 0.5)
    (step,) = r.status("step")
    assert step == {"tstart": "0.5", "tstop": "0.6", "index": "0", "level": "0",
                    "ntpoints": "1", "tol": "1e-16"}
    (access,) = r.status("access")
    assert access == {"t": "0.5", "index": "0", "level": "0", "iter": "0", "done": "0",
                      "ntpoints": "1", "nlevels": "1", "caller": "-1", "wtest": "1"}

    r = run(driver, 1, "-test", "coarsenrefine", "-t", 2)
    # the coarse vector on level 1, then the fine one on level 0, of a two-level grid
    assert [(a["t"], a["level"], a["nlevels"]) for a in r.status("access")] == [
        ("2", "1", "2"), ("2", "0", "2")]

    r = run(driver, 1, "-test", "buf")
    assert r.status("buffer") == [{"index": "0", "level": "0", "messagetype": "0"}]


def test_buffer_keeps_only_the_bytes_a_solve_sends(driver):
    r = run(driver, 1, "-test", "buf")
    assert "keep the 72 bytes a solve sends, overwrite the other 0" in r.log
    assert r.status("unpack") == [{"nans": "0"}]
    # 9 doubles written, 5 reported with SetSize: the last 4 are not sent and arrive as NaN
    r = run(driver, 1, "-test", "buf", "-break", "bufpack-short")
    assert "keep the 40 bytes a solve sends, overwrite the other 32" in r.log
    assert r.status("unpack") == [{"nans": "4"}]
    assert "braid_TestBuf:   Test 1 Failed" in r.log
    # 5 doubles written, 9 sent: the 4 never written arrive as NaN too, not as lucky values
    r = run(driver, 1, "-test", "buf", "-break", "bufpack-drop")
    assert "keep the 72 bytes a solve sends, overwrite the other 0" in r.log
    assert r.status("unpack") == [{"nans": "4"}]


def test_ranks_agree_on_every_check(driver):
    # only rank 1's norm is wrong; rank 0, which prints, must report the failures too
    r = run(driver, 2, "-test", "spatialnorm", "-break", "norm-rank1")
    assert r.result == 0
    assert "braid_TestSpatialNorm:   Test 2 Failed" in r.log
    assert "braid_TestSpatialNorm:   Test 3 Failed" in r.log


def test_delta_checks_what_it_can_and_fails_for_the_rest(driver):
    r = run(driver, 2, "-test", "delta")
    assert r.result == 0
    assert "Finished braid_TestInnerProd: all tests passed successfully" in r.log
    assert "braid_TestDelta:   Test 1 Passed" in r.log
    assert "this library does not implement Delta correction: Failed" in r.log


def test_report_goes_to_stdout_when_fp_is_null(driver):
    r = run(driver, 2, "-test", "spatialnorm", "-fpnull")
    assert r.result == 1
    assert r.log.count("braid_TestSpatialNorm:   Test 4 Passed") == 1  # rank 0 prints alone


@pytest.mark.parametrize("nranks", NRANKS)
def test_failing_clone_that_returns_its_argument_frees_it_once(driver, nranks):
    r = run(driver, nranks, "-test", "clone", "-break", "clone-alias", "-fail", "clone", 1)
    assert r.result == 0
    assert "braid_TestClone:   clone returned error code 42: Failed" in r.log
