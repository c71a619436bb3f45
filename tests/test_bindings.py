"""The pyxbraid bindings: fast path versus Python callbacks, statuses, options,
errors raised by callbacks, and communicator splitting."""
import time
import traceback

import numpy as np
import pytest

import pyxbraid
from conftest import ROOT, last_json_line, load_example, ours_or_standin, run_mpi

dahlquist = load_example("dahlquist")
DahlquistNumpy, DahlquistPython, solve = (dahlquist.DahlquistNumpy, dahlquist.DahlquistPython,
                                          dahlquist.solve)

FAILING_APP = ROOT / "tests" / "scripts" / "failing_app.py"


# ------------------------------------------------------------- fast path

@pytest.mark.parametrize("options", [
    dict(ntime=512, ml=4, cf=4, nu=2),
    dict(ntime=300, ml=5, fmg=True, storage=0),
    dict(ntime=257, ml=3, cf=3, nu=0, temporal_norm=1, skip=False),
    dict(ntime=200, ml=4, cwt={0: 1.3, 1: 0.8}, temporal_norm=3),
])
def test_fast_path_and_python_callbacks_agree_bitwise(options):
    fast, slow = DahlquistNumpy(record=True), DahlquistPython(record=True)
    a = solve(fast, tol=1e-11, **options)
    b = solve(slow, tol=1e-11, **options)
    assert a.niter == b.niter > 1
    assert a.rnorms.tolist() == b.rnorms.tolist()
    assert fast.solution == slow.solution


def test_numpy_app_vectors_of_any_shape():
    class Matrix(pyxbraid.NumpyApp):
        def init(self, t):
            return np.full((2, 3), 1.0 if t == 0 else 0.0)

        def step(self, ustop, fstop, u, status):
            u *= np.exp(-(status.tstop - status.tstart))
            if fstop is not None:
                u += fstop

        def access(self, u, status):
            if status.done and status.tindex == status.ntime:
                self.last = u.copy()

    app = Matrix()
    core = pyxbraid.Core(app, tstart=0, tstop=2.0, ntime=64, max_levels=3, abs_tol=1e-12,
                         print_level=0)
    core.drive()
    np.testing.assert_allclose(app.last, np.exp(-2.0), rtol=1e-12)


def test_numpy_app_rejects_vectors_of_another_shape():
    class Ragged(pyxbraid.NumpyApp):
        def init(self, t):
            return np.ones(1 if t == 0 else 2)

        def step(self, ustop, fstop, u, status):
            pass

    core = pyxbraid.Core(Ragged(), ntime=8, max_levels=2, print_level=0)
    with pytest.raises(ValueError, match="shape"):
        core.drive()


# ----------------------------------------------------------------- status

def test_step_and_access_status_report_the_cycle():
    seen = []

    class Probe(DahlquistNumpy):
        def step(self, ustop, fstop, u, status):
            seen.append((status.level, status.tindex, status.tstart, status.tstop, status.iter,
                         status.calling_function, status.nlevels, status.cfactor(0),
                         status.cfactor(status.nlevels - 1), id(status)))
            super().step(ustop, fstop, u, status)

        def access(self, u, status):
            seen.append(("access", status.tindex, status.t, status.iter, status.done,
                         status.residual, id(status)))

    core = solve(Probe(), ntime=16, ml=3, tol=1e-12)
    steps = [s for s in seen if s[0] != "access"]
    accesses = [s for s in seen if s[0] == "access"]
    levels = {s[0] for s in steps}
    assert levels == {0, 1, 2}
    for level, tindex, t0, t1, _, _, nlevels, cf0, cf_last, _ in steps:
        dt = 0.5 * 2 ** level
        assert t0 == pytest.approx(tindex * dt) and t1 == pytest.approx(t0 + dt)
        assert (nlevels, cf0, cf_last) == (3, 2, -1)
    callers = {pyxbraid.CALLERS[s[5]] for s in steps}
    assert callers == {"FCRelax", "FRestrict", "FASResidual", "Residual", "FInterp", "FAccess"}
    # the final access shows every point once, at iteration niter, done
    assert sorted(a[1] for a in accesses) == list(range(17))
    assert {(a[3], a[4]) for a in accesses} == {(core.niter, True)}
    assert accesses[0][5] == core.rnorms[-1]
    # one status object per kind, reused for every call
    assert len({s[-1] for s in steps}) == 1 and len({a[-1] for a in accesses}) == 1


def test_status_outside_its_callback_raises():
    kept = []

    class Keep(DahlquistNumpy):
        def step(self, ustop, fstop, u, status):
            kept.append(status)
            super().step(ustop, fstop, u, status)

    solve(Keep(), ntime=8)
    with pytest.raises(RuntimeError, match="only valid during the callback"):
        kept[0].tstart


def test_sync_and_residual_callbacks():
    events = []

    class WithResidual(DahlquistPython):
        def residual(self, ustop, r, status):
            # r = ustop - Phi(r) = ustop - r/(1+dt), the same as the default
            dt = status.tstop - status.tstart
            r[0] = ustop[0] - r[0] / (1.0 + dt)

        def sync(self, status):
            events.append((pyxbraid.CALLERS[status.calling_function], status.iter))

    plain = solve(DahlquistPython(), ntime=64, ml=3, tol=1e-10)
    app = WithResidual()
    core = solve(app, ntime=64, ml=3, tol=1e-10, residual=True)
    assert core.niter == plain.niter
    np.testing.assert_allclose(core.rnorms[1:], plain.rnorms[1:], rtol=1e-10)
    assert events[0] == ("Drive_AfterInit", 0)
    assert [e for e in events if e[0] == "Drive_TopCycle"] == [
        ("Drive_TopCycle", k) for k in range(core.niter)]


def test_time_grid_option():
    times = np.linspace(0.0, 1.0, 17) ** 2
    seen = set()

    class Grid(DahlquistNumpy):
        def step(self, ustop, fstop, u, status):
            if status.level == 0:
                seen.add((status.tindex, status.tstart, status.tstop))
            super().step(ustop, fstop, u, status)

    core = pyxbraid.Core(Grid(), tstart=0.0, tstop=1.0, ntime=16, max_levels=2,
                         time_grid=times, print_level=0)
    core.drive()
    assert {(i, times[i], times[i + 1]) for i in range(16)} >= seen and len(seen) > 0


@ours_or_standin
def test_rnorms_niter_and_warm_restart():
    app = DahlquistNumpy(record=True)
    core = solve(app, ntime=100, tol=1e-10)
    first = core.rnorms.copy()
    assert len(first) == core.niter + 1 and first[0] == -1 and first[-1] == first[-2]
    core.drive()  # warm restart from the converged solution: no skipped cycle
    assert core.niter == 1 and core.rnorms[0] < 1e-10
    # a warm restart of a solve stopped early goes on from where it stopped
    early = solve(DahlquistNumpy(), ntime=100, tol=1e-10, max_iter=3)
    early.set_max_iter(100)
    early.drive()
    assert early.rnorms[0] == pytest.approx(first[3], rel=0.3) and early.rnorms[-1] < 1e-10


def test_seq_soln_starts_from_the_sequential_solution():
    app = DahlquistNumpy(record=True)
    core = solve(app, ntime=100, ml=3, tol=1e-12, seq_soln=True)
    assert core.niter == 1 and core.rnorms[0] < 1e-12
    assert app.solution[100] == (1 / 1.5) ** 100 or abs(app.solution[100] / (1 / 1.5) ** 100 - 1) < 1e-13


def test_max_levels_one_is_a_sequential_solve():
    app = DahlquistNumpy(record=True)
    core = solve(app, ntime=20, ml=1)
    assert core.niter == 0 and core.nlevels == 1 and core.rnorms.tolist() == [-1.0]
    assert app.solution[20] == pytest.approx((1 / 1.5) ** 20, rel=1e-14)


# ---------------------------------------------------------------- options

@pytest.mark.parametrize("option, value, error, match", [
    ("cfactor", 1, ValueError, "cfactor: must be >= 2"),
    ("cfactor", {0: 4, 1: 1}, ValueError, r"cfactor\[1\]: must be >= 2"),
    ("cfactor", "2", TypeError, "cfactor: expected an int"),
    ("cfactor", 2.5, TypeError, "cfactor"),
    ("max_levels", 0, ValueError, "max_levels: must be >= 1"),
    ("max_levels", True, TypeError, "max_levels"),
    ("max_levels", 2**31, ValueError, "max_levels: must be <= 2147483647"),
    ("abs_tol", -1e-6, ValueError, "abs_tol: must be >= 0"),
    ("rel_tol", float("nan"), ValueError, "rel_tol: must be finite"),
    ("abs_tol", "tiny", TypeError, "abs_tol: expected a number"),
    ("nrelax", -1, ValueError, "nrelax: must be >= 0"),
    ("max_iter", 0, ValueError, "max_iter: must be >= 1"),
    ("temporal_norm", 4, ValueError, "temporal_norm: must be <= 3"),
    ("storage", -3, ValueError, "storage: must be >= -1"),
    ("access_level", 5, ValueError, "access_level"),
    ("skip", "yes", TypeError, "skip: expected True or False"),
    ("cwt", [1.0], TypeError, "cwt"),
    ("time_grid", [0.0, 1.0], ValueError, "time_grid: needs ntime"),
    ("residual", True, ValueError, "residual: DahlquistNumpy has no residual"),
])
def test_bad_options_name_the_option(option, value, error, match):
    with pytest.raises(error, match=match):
        pyxbraid.Core(DahlquistNumpy(), ntime=10, **{option: value})
    core = pyxbraid.Core(DahlquistNumpy(), ntime=10)
    with pytest.raises(error, match=match):
        getattr(core, "set_" + option)(value)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(ntime=0), ValueError, "ntime: must be >= 1"),
    (dict(ntime=10.0), TypeError, "ntime: expected an int"),
    (dict(ntime=10**12), ValueError, "ntime: must be <= 2147483646"),
    (dict(ntime=2**31 - 1), ValueError, "ntime: must be <= 2147483646"),
    (dict(ntime=10, tstop=-1.0), ValueError, "tstop: must be greater than tstart"),
    (dict(ntime=10, abs_tol=1e-6, rel_tol=1e-6), ValueError, "abs_tol, rel_tol"),
    (dict(ntime=10, cfactors=2), TypeError, "cfactors"),
    (dict(ntime=10, comm="world"), TypeError, "comm: expected an mpi4py"),
])
def test_bad_core_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        pyxbraid.Core(DahlquistNumpy(), **kwargs)


def test_app_missing_methods_is_a_type_error():
    class Incomplete(pyxbraid.App):
        def init(self, t):
            return 0.0

        def step(self, ustop, fstop, u, status):
            pass

    with pytest.raises(TypeError, match="lacks clone, sum, spatialnorm"):
        pyxbraid.Core(Incomplete(), ntime=4)


def test_options_reach_the_library():
    assert solve(DahlquistNumpy(), ntime=64, ml=3).nlevels == 3
    assert solve(DahlquistNumpy(), ntime=64, ml=10, min_coarse=10).nlevels == 3
    # a coarsening factor per level: 64 -> 16 -> 8 -> 4
    steps = []

    class Levels(DahlquistNumpy):
        def step(self, ustop, fstop, u, status):
            steps.append((status.level, status.cfactor(0), status.cfactor(1)))
            super().step(ustop, fstop, u, status)

    core = solve(Levels(), ntime=64, ml=4, cf={0: 4, 1: 2})
    assert core.nlevels == 4 and set(s[1:] for s in steps) == {(4, 2)}
    # max_iter stops the iteration; rel_tol is relative to the first residual
    assert solve(DahlquistNumpy(), ntime=256, ml=4, tol=0.0, max_iter=3).niter == 3
    core = pyxbraid.Core(DahlquistNumpy(), tstop=128.0, ntime=256, max_levels=4,
                         rel_tol=1e-3, print_level=0)
    core.drive()
    r = core.rnorms
    assert r[-1] < 1e-3 * r[1] <= r[-3]


# ----------------------------------------------------------------- errors

class Boom(Exception):
    pass


def failing_app(base, callback, after=5):
    """An app whose `callback` raises Boom on its `after`-th call."""
    class Failing(base):
        calls = 0

    def method(self, *args):
        self.calls += 1
        if self.calls == after:
            raise Boom(f"{callback} failed")
        return getattr(base, callback)(self, *args)

    method.__name__ = callback
    setattr(Failing, callback, method)
    return Failing()


@pytest.mark.parametrize("base, callback", [
    (DahlquistNumpy, "init"), (DahlquistNumpy, "step"), (DahlquistNumpy, "access"),
    (DahlquistPython, "clone"), (DahlquistPython, "sum"), (DahlquistPython, "spatialnorm"),
    (DahlquistPython, "free"), (DahlquistNumpy, "clone"), (DahlquistNumpy, "sum"),
])
def test_callback_exception_is_reraised_with_its_traceback(base, callback):
    if callback == "free":
        base = type("WithFree", (base,), {"free": lambda self, u: None})
    app = failing_app(base, callback)
    core = pyxbraid.Core(app, tstop=50.0, ntime=100, max_levels=3, abs_tol=1e-10,
                         print_level=0)
    with pytest.raises(Boom, match=f"{callback} failed") as info:
        core.drive()
    frames = traceback.extract_tb(info.value.__traceback__)
    assert any(f.name.endswith("Core.drive") for f in frames)
    assert frames[-1].name == "method" and frames[-1].filename == __file__
    # the failed solve released everything; the core starts afresh
    app.calls = -10**9
    core.drive()
    clean = solve(base(), ntime=100, ml=3, tol=1e-10)
    assert core.rnorms.tolist() == clean.rnorms.tolist()


# ------------------------------------------- steps that do not work in place

class Halving(DahlquistNumpy):
    """u' = -u/2 ... written wrongly in one of several ways."""

    def __init__(self, how):
        super().__init__()
        self.how = how

    def step(self, ustop, fstop, u, status):
        if self.how == "returns":
            return u / 2
        if self.how == "resizes":
            u.resize(2, refcheck=False)
            u[...] = 0.5
            return None
        super().step(ustop, fstop, u, status)


@pytest.mark.parametrize("how, error, match", [
    ("returns", TypeError, "step returned a ndarray: a step must change u in place"),
    ("resizes", ValueError, "cannot resize this array: it does not own its data"),
])
def test_a_step_that_does_not_work_in_place_raises(how, error, match):
    core = pyxbraid.Core(Halving(how), tstop=5.0, ntime=10, max_levels=2, abs_tol=1e-10,
                         print_level=0)
    with pytest.raises(error, match=match):
        core.drive()


def test_init_may_return_an_array_it_keeps():
    class Shared(DahlquistNumpy):
        start, guess = np.ones(1), np.full(1, 0.456)

        def init(self, t):
            return self.start if t == 0.0 else self.guess

    app, clean = Shared(record=True), DahlquistNumpy(record=True)
    a = solve(app, ntime=64, ml=3, tol=1e-10)
    b = solve(clean, ntime=64, ml=3, tol=1e-10)
    assert a.rnorms.tolist() == b.rnorms.tolist() and app.solution == clean.solution
    assert Shared.start.tolist() == [1.0] and Shared.guess.tolist() == [0.456]


@pytest.mark.parametrize("value", [float("nan"), -1.0])
def test_a_spatialnorm_that_is_not_a_norm_raises(value):
    class BadNorm(DahlquistPython):
        def spatialnorm(self, u):
            return value

    with pytest.raises(ValueError, match=rf"spatialnorm returned {value!r}: a norm is a number"):
        solve(BadNorm(), ntime=64, ml=3, tol=1e-10)


def test_results_of_a_failed_solve_stay_readable():
    core = pyxbraid.Core(failing_app(DahlquistNumpy, "step", after=600), tstop=50.0, ntime=100,
                         max_levels=3, abs_tol=1e-14, print_level=0)
    with pytest.raises(Boom):
        core.drive()
    assert core.niter >= 2 and core.rnorms[1] > 0


def test_a_core_reaches_the_library_only_when_it_solves():
    core = pyxbraid.Core(DahlquistNumpy(), ntime=10, max_levels=2)
    assert (core.niter, core.nlevels, core.rnorms.tolist(), core.myid) == (0, 0, [-1.0], 0)
    with pytest.raises(RuntimeError, match="print_stats: no solve yet"):
        core.print_stats()
    core.destroy()
    with pytest.raises(RuntimeError, match="destroyed"):
        core.drive()


def test_per_level_options_beyond_max_levels_are_kept_for_later():
    steps = []

    class Levels(DahlquistNumpy):
        def step(self, ustop, fstop, u, status):
            steps.append(status.cfactor(1))
            super().step(ustop, fstop, u, status)

    core = pyxbraid.Core(Levels(), tstop=32.0, ntime=64, max_levels=2, cfactor={-1: 2, 1: 4},
                         abs_tol=1e-10, print_level=0)
    core.set_max_levels(3)  # level 1 is not the coarsest now: its factor is 4
    core.drive()
    assert core.nlevels == 3 and set(steps) == {4}
    two = pyxbraid.Core(Levels(), tstop=32.0, ntime=64, max_levels=2, cfactor={-1: 2, 1: 4},
                        abs_tol=1e-10, print_level=0)
    steps.clear()
    two.drive()
    assert two.nlevels == 2 and set(steps) == {-1}


def test_keyboard_interrupt_in_a_callback_stops_the_solve():
    class Interrupted(DahlquistNumpy):
        def step(self, *args):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        solve(Interrupted(), ntime=10)


@pytest.mark.parametrize("use_mpi4py_runner", [False, True])
@pytest.mark.parametrize("rank, callback", [(1, "step"), (0, "step"), (0, "bufpack"),
                                            (1, "bufunpack")])
def test_failure_on_one_rank_ends_the_job(rank, callback, use_mpi4py_runner):
    """Plain `python script.py` too: pyxbraid makes the exit abort the job."""
    start = time.monotonic()
    out = run_mpi(2, [FAILING_APP, rank, callback], timeout=60,
                  module_mpi4py=use_mpi4py_runner)
    assert time.monotonic() - start < 30
    assert out.returncode != 0
    assert f"ZeroDivisionError: injected failure in {callback}" in out.stderr
    assert "Traceback" in out.stderr
    assert "finished without" not in out.stdout


@pytest.mark.skipif(not pyxbraid.UPSTREAM_SEMANTICS,
                    reason="our library stops the failing rank at once; upstream's goes on")
def test_under_upstream_every_rank_learns_which_rank_failed():
    script = ("import json, runpy; import pyxbraid\n"
              "from mpi4py import MPI\ndahlquist = runpy.run_path('examples/dahlquist.py')\n"
              "DahlquistNumpy, solve = dahlquist['DahlquistNumpy'], dahlquist['solve']\n"
              "class Failing(DahlquistNumpy):\n"
              "    def step(self, ustop, fstop, u, status):\n"
              "        if MPI.COMM_WORLD.rank == 1 and status.iter == 2:\n"
              "            raise ZeroDivisionError('injected')\n"
              "        super().step(ustop, fstop, u, status)\n"
              "try:\n    solve(Failing(), ntime=64, ml=3, tol=1e-12)\n    seen = None\n"
              "except Exception as e:\n    seen = [type(e).__name__, str(e)]\n"
              "seen = MPI.COMM_WORLD.gather(seen)\n"
              "if MPI.COMM_WORLD.rank == 0:\n    print(json.dumps(seen), flush=True)\n")
    out = run_mpi(2, ["-c", script], module_mpi4py=False, timeout=60)
    first, second = last_json_line(out.stdout)
    assert second == ["ZeroDivisionError", "injected"]
    assert first[0] == "PeerRankError" and "raised on rank 1 of comm_world" in first[1]


def test_split_commworld_under_mpirun():
    script = ("import json, pyxbraid; from mpi4py import MPI; w = MPI.COMM_WORLD\n"
              "cx, ct = pyxbraid.split_commworld(w, 2)\n"
              "rows = w.gather((w.rank, cx.size, ct.size, cx.rank, ct.rank))\n"
              "try:\n    pyxbraid.split_commworld(w, 3)\n"
              "except ValueError as e:\n    error = str(e)\n"
              "if w.rank == 0: print(json.dumps([rows, error]))\n")
    out = run_mpi(4, ["-c", script], module_mpi4py=False)
    assert out.returncode == 0, out.stderr
    rows, error = last_json_line(out.stdout)
    assert rows == [[0, 2, 2, 0, 0], [1, 2, 2, 1, 0], [2, 2, 2, 0, 1], [3, 2, 2, 1, 1]]
    assert error.startswith("px: must divide")


def test_numpy_app_methods_callable_from_subclasses():
    app = DahlquistNumpy()
    x, y = np.array([1.0, 2.0]), np.array([10.0, 20.0])
    app.sum(2.0, x, 0.5, y)
    assert y.tolist() == [7.0, 14.0]
    assert app.spatialnorm(np.array([3.0, 4.0])) == 5.0
    c = app.clone(y)
    assert c.tolist() == y.tolist() and c is not y
    with pytest.raises(TypeError, match="sum: y must be"):
        app.sum(1.0, x, 1.0, [1.0, 2.0])
    with pytest.raises(ValueError, match="different sizes"):
        app.sum(1.0, np.ones(3), 1.0, y)
