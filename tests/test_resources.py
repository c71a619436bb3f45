"""Nothing leaks: repeated solves keep memory and live objects flat, vector
reference counts return to where they were, and the C library releases
everything on success and when a callback fails."""
import gc
import re
import shutil
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import pyxbraid
from conftest import ROOT, load_example

dahlquist = load_example("dahlquist")
DahlquistNumpy, DahlquistPython, solve = (dahlquist.DahlquistNumpy, dahlquist.DahlquistPython,
                                          dahlquist.solve)

C_EXAMPLE = ROOT / "vendor" / "xbraid" / "examples" / "dahlquist"


def refcounts(vectors):
    """The reference counts of `vectors` and of a control array held the same
    way (one name besides this list): a single value when nothing but their
    list refers to them."""
    control = np.ones(1)
    return {sys.getrefcount(u) for u in vectors + [control]}


class _Tracking:
    """Remembers every vector init hands out."""

    def __init__(self):
        super().__init__()
        self.made = []

    def init(self, t):
        u = super().init(t)
        self.made.append(u)
        return u


class Tracked(_Tracking, DahlquistNumpy):
    pass


class TrackedPython(_Tracking, DahlquistPython):
    def clone(self, u):
        v = super().clone(u)
        self.made.append(v)
        return v


class FailsOnce(DahlquistPython):
    def step(self, *args):
        if args[-1].iter == 2:
            raise ArithmeticError("injected")
        super().step(*args)


def one_round():
    """A cold solve, a warm restart, a Python-callback solve, a failing solve."""
    core = solve(DahlquistNumpy(record=True), ntime=64, ml=3, tol=1e-10)
    core.drive()
    core.destroy()
    solve(DahlquistPython(), ntime=64, ml=3, tol=1e-10)  # released when collected
    with pytest.raises(ArithmeticError):
        solve(FailsOnce(), ntime=64, ml=3, tol=1e-10)


def test_repeated_drives_keep_memory_and_objects_flat():
    """Two windows of 100 rounds after a warm-up: one-off growth (allocator
    and numpy caches) ends in the first; a leak of even one block per round
    would show in the second as well."""
    for _ in range(50):
        one_round()

    def window():
        gc.collect()
        blocks, objects = sys.getallocatedblocks(), len(gc.get_objects())
        memory = tracemalloc.get_traced_memory()[0]
        for _ in range(100):
            one_round()
        gc.collect()
        return (sys.getallocatedblocks() - blocks, len(gc.get_objects()) - objects,
                tracemalloc.get_traced_memory()[0] - memory)

    tracemalloc.start()
    try:
        window()
        blocks, objects, memory = window()
    finally:
        tracemalloc.stop()
    # 100 rounds make ~500,000 vectors and ~2,000 cores
    assert blocks < 50 and objects < 25 and memory < 32 * 1024, (blocks, objects, memory)


@pytest.mark.parametrize("app_class", [Tracked, TrackedPython])
def test_vector_refcounts_return_to_baseline(app_class):
    app = app_class()
    core = solve(app, ntime=50, ml=3, tol=1e-10)
    assert core.niter > 2
    if app_class is TrackedPython:
        assert len(refcounts(app.made)) > 1  # the core still holds the fine C-points
    else:
        # a NumpyApp's init arrays are copied: the app may keep and reuse them
        assert len(refcounts(app.made)) == 1
    core.destroy()
    assert len(refcounts(app.made)) == 1  # only app.made refers to them now


def test_refcounts_after_a_failed_solve():
    class TrackedFailing(TrackedPython):
        def sum(self, *args):
            if len(self.made) > 200:
                raise ValueError("injected")
            super().sum(*args)

    app = TrackedFailing()
    core = pyxbraid.Core(app, tstop=32.0, ntime=64, max_levels=3, abs_tol=1e-10, print_level=0)
    with pytest.raises(ValueError):
        core.drive()
    # the failed solve released every vector before drive() raised
    assert len(app.made) > 200 and len(refcounts(app.made)) == 1


def test_core_collected_with_the_app_in_a_cycle():
    app = Tracked()
    core = solve(app, ntime=32, ml=2)
    app.core = core  # app -> core -> app
    made = app.made
    del core, app
    gc.collect()
    assert len(refcounts(made)) == 1


# ------------------------------------------------------ the C library alone

valgrind = shutil.which("valgrind")


def run_c_example(args, tool=()):
    return subprocess.run(list(tool) + [str(C_EXAMPLE)] + args, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.c_library
@pytest.mark.skipif(not C_EXAMPLE.exists(), reason="C example not built (make install)")
@pytest.mark.parametrize("callback, at", [("step", 300), ("init", 3), ("clone", 500),
                                          ("free", 400), ("sum", 700), ("norm", 20),
                                          ("access", 5)])
@pytest.mark.parametrize("batch", [[], ["-batch", "0"], ["-batch", "3"]],
                         ids=["per-point", "batched", "batched-by-3"])
def test_c_callback_failure_stops_and_frees_everything(callback, at, batch):
    out = run_c_example(["-ntime", "200", "-ml", "4", "-tol", "1e-10", "-counts",
                         "-fail", callback, str(at)] + batch)
    assert out.returncode == 42, out.stdout + out.stderr
    assert "braid_Drive returned 42" in out.stdout
    counts = dict(re.findall(r"count (\w+) (\d+)", out.stdout))
    # every vector made before the failure was freed
    assert int(counts["free"]) == int(counts["init"]) + int(counts["clone"])


@pytest.mark.c_library
@pytest.mark.skipif(not (valgrind and C_EXAMPLE.exists()), reason="needs valgrind")
@pytest.mark.parametrize("extra", [[], ["-fail", "sum", "900"], ["-fmg", "-storage", "0"],
                                   ["-seqsoln", "-fail", "step", "150"],
                                   ["-batch", "0", "-storage", "0", "-fail", "step", "300"],
                                   ["-batch", "2", "-cf", "3", "-nu", "2"]])
def test_c_library_under_valgrind(extra):
    out = run_c_example(["-ntime", "100", "-ml", "4", "-tol", "1e-10"] + extra,
                        tool=[valgrind, "--leak-check=full"])
    report = out.stderr
    assert "definitely lost: 0 bytes" in report or "no leaks are possible" in report
    # errors inside the library itself (MPICH's loader noise is not ours)
    ours = [block for block in report.split("\n==") if re.search(r"\b_?braid_\w+", block)
            and ("Invalid" in block or "uninitialised" in block)]
    assert not ours, "\n".join(ours)


def test_garbage_cycle_with_a_python_free_is_collected_safely():
    """The core frees its vectors through the app's free() while the garbage
    collector tears down a cycle that holds the app's class too."""
    freed = []

    def make():
        cls = type("Ephemeral", (DahlquistPython,), {"free": lambda self, u: freed.append(1)})
        app = cls()
        core = solve(app, ntime=32, ml=2)
        app.core = core  # app -> core -> app, and the class dies with them
        return core.niter

    assert make() > 1
    gc.collect()
    assert len(freed) >= 17  # at least the fine C-points, freed at collection
