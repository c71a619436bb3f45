"""The batched step through the bindings (step_batch, our extension): what it
is given, how it is chosen and switched off, its errors, and that it changes
no result.  The reference histories through it are in test_reference.py."""
import gc
import sys
import tracemalloc

import numpy as np
import pytest

import pyxbraid
from conftest import EXAMPLES, last_json_line, load_example, run_mpi

dahlquist = load_example("dahlquist")
DahlquistNumpy, DahlquistPython, solve = (dahlquist.DahlquistNumpy, dahlquist.DahlquistPython,
                                          dahlquist.solve)
heat = load_example("heat")

batching = pytest.mark.skipif(not pyxbraid.STEP_BATCH,
                              reason="upstream XBraid (and its stand-in) has no batched step")


class Watched(DahlquistNumpy):
    """Records what every batch is told."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.batches = []

    def step_batch(self, ustop, fstop, u, status):
        self.batches.append(dict(
            n=status.size, level=status.level, iter=status.iter,
            caller=pyxbraid.CALLERS[status.calling_function], tstart=status.tstart.copy(),
            tstop=status.tstop.copy(), tindex=status.tindex.copy(), shape=u.shape,
            rnorms=status.rnorms, cfactors=(status.cfactor(0), status.cfactor(2)),
            ustop=ustop.copy(), u=u.copy(), fstop=fstop, status=status))
        super().step_batch(ustop, fstop, u, status)


@batching
def test_a_batch_is_told_each_steps_times_and_index():
    app = Watched(record=True)
    core = solve(app, ntime=64, ml=3, cf=2, tol=1e-10)
    assert core.batched and app.batches
    dt = 0.5
    for b in app.batches:
        n = b["n"]
        assert b["shape"] == (n, 1) and n > 1
        assert b["tstart"].shape == b["tstop"].shape == b["tindex"].shape == (n,)
        assert b["tindex"].dtype == np.int64 and b["tstart"].dtype == np.float64
        step = dt * 2 ** b["level"]
        np.testing.assert_allclose(b["tstart"], b["tindex"] * step, rtol=1e-15)
        np.testing.assert_allclose(b["tstop"] - b["tstart"], step, rtol=1e-12)
        assert len(set(b["tindex"].tolist())) == n  # n different intervals
        assert b["fstop"] is None  # no user residual: the core adds the rhs itself
        assert b["cfactors"] == (2, -1)  # -1: the coarsest level
    assert {0, 1} <= {b["level"] for b in app.batches}
    assert {"FCRelax", "FRestrict", "FInterp", "FAccess"} <= {b["caller"] for b in app.batches}
    assert core.niter - 1 <= max(b["iter"] for b in app.batches) <= core.niter
    final = core.rnorms
    for b in app.batches:  # the history so far, as a step's status gives it
        assert len(b["rnorms"]) == b["iter"] + 1
        assert b["rnorms"][:-1].tolist() == final[:b["iter"]].tolist()
        assert b["rnorms"][-1] in (-1.0, final[b["iter"]])  # this iteration's, once known
    # the status lives only during its call; the arrays it gave stay the step's
    with pytest.raises(RuntimeError, match="only valid during the step_batch call"):
        app.batches[0]["status"].level
    with pytest.raises(RuntimeError, match="only valid during the step_batch call"):
        app.batches[0]["status"].tstart
    assert "outside its callback" in repr(app.batches[0]["status"])


class StepLog(DahlquistNumpy):
    """Every step as (level, tindex, caller, ustop, u before), batched or not."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.log = []

    def step(self, ustop, fstop, u, status):
        self.log.append((status.level, status.tindex, status.calling_function,
                         ustop.item(0), u.item(0)))
        super().step(ustop, fstop, u, status)

    def step_batch(self, ustop, fstop, u, status):
        for i in range(status.size):
            self.log.append((status.level, int(status.tindex[i]), status.calling_function,
                             ustop[i].item(0), u[i].item(0)))
        DahlquistNumpy.step_batch(self, ustop, fstop, u, status)


@batching
@pytest.mark.parametrize("storage", [-1, 0])
def test_every_step_gets_what_the_single_step_gets(storage):
    """The same steps, with the same ustop and u, as point by point (in
    another order: a batch steps the j-th point of every interval)."""
    batched, single = StepLog(), StepLog()
    a = solve(batched, ntime=64, ml=3, tol=1e-10, storage=storage)
    b = solve(single, ntime=64, ml=3, tol=1e-10, storage=storage, batch=False)
    assert a.batched and not b.batched
    assert sorted(batched.log) == sorted(single.log) and len(batched.log) > 64


@batching
@pytest.mark.parametrize("max_batch", [1, 2, 3, 5])
def test_max_batch_caps_every_call(max_batch):
    app = Watched(record=True)
    core = solve(app, ntime=100, ml=3, tol=1e-10, max_batch=max_batch)
    sizes = [b["n"] for b in app.batches]
    if max_batch == 1:
        assert sizes == []  # a lone step is the single step
    else:
        assert max(sizes) == max_batch and min(sizes) >= 2
    plain = solve(DahlquistNumpy(record=True), ntime=100, ml=3, tol=1e-10, batch=False)
    assert core.rnorms.tolist() == plain.rnorms.tolist()
    assert core.options["max_batch"] == max_batch


def test_batch_false_steps_point_by_point():
    app = Watched()
    core = solve(app, ntime=64, ml=3, tol=1e-10, batch=False)
    assert not core.batched and app.batches == [] and core.options["batch"] is False


def test_batch_is_chosen_when_the_app_has_one():
    core = pyxbraid.Core(DahlquistNumpy(), ntime=8)
    assert core.batched == pyxbraid.STEP_BATCH and core.options["batch"] == core.batched
    core.set_batch(False)
    assert not core.batched
    core.set_batch(True)
    assert core.batched == pyxbraid.STEP_BATCH

    class PerPoint(pyxbraid.NumpyApp):
        def init(self, t):
            return np.ones(1)

        def step(self, ustop, fstop, u, status):
            pass

    assert not pyxbraid.Core(PerPoint(), ntime=8).batched
    with pytest.raises(ValueError, match=r"batch: PerPoint has no step_batch\(ustop, fstop"):
        pyxbraid.Core(PerPoint(), ntime=8, batch=True)


def test_a_subclass_that_overrides_step_is_not_batched():
    """Its inherited step_batch would not do what its step does."""
    calls = []

    class Traced(DahlquistNumpy):
        def step(self, ustop, fstop, u, status):
            calls.append(status.tindex)
            super().step(ustop, fstop, u, status)

    core = solve(Traced(), ntime=32, ml=2)
    assert not core.batched and len(calls) > 32
    with pytest.raises(ValueError, match="overrides step but inherits step_batch"):
        pyxbraid.Core(Traced(), ntime=8, batch=True)

    class Both(Traced):
        def step_batch(self, ustop, fstop, u, status):
            DahlquistNumpy.step_batch(self, ustop, fstop, u, status)

    assert pyxbraid.Core(Both(), ntime=8).batched == pyxbraid.STEP_BATCH


@pytest.mark.parametrize("name, value, error, message", [
    ("batch", "yes", TypeError, "batch: expected True or False"),
    ("max_batch", -1, ValueError, "max_batch: must be >= 0, got -1"),
    ("max_batch", 2.5, TypeError, "max_batch: expected an int"),
])
def test_bad_batch_options_name_themselves(name, value, error, message):
    with pytest.raises(error, match=message):
        pyxbraid.Core(DahlquistNumpy(), ntime=8, **{name: value})


@batching
def test_a_batch_that_rebinds_u_is_told_to_change_it_in_place():
    class Returns(DahlquistNumpy):
        def step_batch(self, ustop, fstop, u, status):
            return u * 0.5

    with pytest.raises(TypeError, match="step_batch returned a ndarray: a batched step must "
                                        "change u in place"):
        solve(Returns(), ntime=32, ml=2)


@batching
@pytest.mark.parametrize("base", [DahlquistNumpy, DahlquistPython])
def test_an_exception_in_a_batch_stops_the_solve_with_its_traceback(base):
    class Fails(base):
        calls = 0

        def step_batch(self, ustop, fstop, u, status):
            self.calls += 1
            if self.calls == 7:
                raise ArithmeticError("batch 7 failed")
            super().step_batch(ustop, fstop, u, status)

    app = Fails()
    core = pyxbraid.Core(app, tstop=50.0, ntime=100, max_levels=3, abs_tol=1e-14,
                         print_level=0)
    with pytest.raises(ArithmeticError, match="batch 7 failed") as info:
        core.drive()
    assert app.calls == 7
    assert any(entry.name == "step_batch" for entry in info.traceback)
    # the Core starts afresh at the next drive
    app.calls = -1000
    core.drive()
    assert core.rnorms[-1] < 1e-14


@batching
def test_an_app_batch_gets_lists_of_its_vectors():
    seen = []

    class Lists(DahlquistPython):
        def step_batch(self, ustop, fstop, u, status):
            seen.append((type(ustop), type(u), fstop, len(u), status.size))
            assert all(type(v) is np.ndarray and v.shape == (1,) for v in u + ustop)
            super().step_batch(ustop, fstop, u, status)

    core = solve(Lists(), ntime=64, ml=3, tol=1e-10)
    plain = solve(DahlquistPython(), ntime=64, ml=3, tol=1e-10, batch=False)
    assert seen and all(s[:3] == (list, list, None) and s[3] == s[4] for s in seen)
    assert core.rnorms.tolist() == plain.rnorms.tolist()


class WithResidual(DahlquistNumpy):
    """A user residual: the step takes the coarse right-hand side itself."""

    def residual(self, ustop, r, status):
        dt = status.tstop - status.tstart
        r[0] = ustop.item(0) - r.item(0) / (1.0 + dt)


@batching
@pytest.mark.parametrize("base", [WithResidual, type("Py", (DahlquistPython,),
                                                        dict(residual=WithResidual.residual))])
def test_with_a_user_residual_the_batch_gets_fstop(base):
    fstops = []

    class Watch(base):
        def step_batch(self, ustop, fstop, u, status):
            fstops.append((status.level, fstop if fstop is None else list(fstop)))
            super().step_batch(ustop, fstop, u, status)

    app, plain = Watch(record=True), base(record=True)
    core = solve(app, ntime=64, ml=3, tol=1e-10, residual=True)
    other = solve(plain, ntime=64, ml=3, tol=1e-10, residual=True, batch=False)
    assert core.rnorms.tolist() == other.rnorms.tolist()
    assert app.solution == plain.solution
    coarse = [f for level, f in fstops if level > 0 and f is not None]
    assert coarse and all(len(f) > 1 for f in coarse)
    assert all(f is None for level, f in fstops if level == 0)


@pytest.mark.parametrize("nranks", [1, 3])
def test_heat_batched_is_the_per_point_solve_bit_for_bit(nranks):
    # the batched Thomas algorithm does per row what the single step does
    args = [EXAMPLES / "heat.py", "--json", "--nx", 16, "--ntime", 250, "--cf", 3, "--ml", 4]
    results = [last_json_line(run_mpi(nranks, args + ["--batch", b]).stdout) for b in (1, 0)]
    assert results[0]["batched"] == pyxbraid.STEP_BATCH and not results[1]["batched"]
    assert results[0]["rnorms"] == results[1]["rnorms"]
    assert results[0]["u"] == results[1]["u"]


def test_heat_step_batch_matches_step_per_row():
    app = heat.Heat(nx=12)
    rng = np.random.default_rng(0)
    u = rng.standard_normal((5, 12))
    tstart = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    tstop = tstart + np.array([0.1, 0.1, 0.05, 0.1, 0.05])

    class Status:
        pass

    batch = Status()
    batch.tstart, batch.tstop = tstart, tstop
    expected = u.copy()
    for i in range(5):
        one = Status()
        one.tstart, one.tstop = tstart[i], tstop[i]
        app.step(None, None, expected[i], one)
    app.step_batch(None, None, u, batch)
    assert np.array_equal(u, expected)


@pytest.mark.parametrize("rank", [0, 1])
@batching
def test_an_exception_in_a_batch_on_one_of_two_ranks_ends_the_job(rank):
    out = run_mpi(2, [EXAMPLES.parent / "tests" / "scripts" / "failing_app.py", rank,
                      "step_batch"], timeout=60)
    assert out.returncode != 0
    assert "ZeroDivisionError: injected failure in step_batch" in out.stderr
    assert "Traceback" in out.stderr and "finished without" not in out.stdout


# ------------------------------------------------------------------ memory

def test_a_step_may_keep_the_array_it_was_shown():
    """The core's vector is then freed when that array dies, not before."""
    kept = []

    class Keeps(DahlquistNumpy):
        def step(self, ustop, fstop, u, status):
            super().step(ustop, fstop, u, status)
            if status.tindex == 3 and status.level == 0:
                kept.append((u, u.item(0)))

    core = solve(Keeps(), ntime=32, ml=2, tol=1e-10, batch=False)
    assert kept
    core.destroy()
    gc.collect()
    for array, _ in kept:
        # the core's vector is gone: its memory now belongs to the array
        assert not array.flags.owndata and array.base is not None
        assert np.isfinite(array.item(0))
        array[0] = 2.0
    with pytest.raises(ValueError, match="cannot resize this array"):
        kept[0][0].resize(2, refcheck=False)


def test_repeated_batched_solves_keep_memory_flat():
    class KeepsSome(DahlquistNumpy):
        def access(self, u, status):
            if status.tindex % 7 == 0:
                self.kept = u  # an array over a core vector, past the solve

    def rounds(k):
        for _ in range(k):
            core = solve(KeepsSome(record=True), ntime=96, ml=3, tol=1e-10)
            core.drive()
            core.destroy()
            solve(DahlquistPython(), ntime=96, ml=3, tol=1e-10, max_batch=4)

    def window():
        gc.collect()
        blocks, memory = sys.getallocatedblocks(), tracemalloc.get_traced_memory()[0]
        rounds(60)
        gc.collect()
        return sys.getallocatedblocks() - blocks, tracemalloc.get_traced_memory()[0] - memory

    rounds(20)
    tracemalloc.start()
    try:
        window()  # one-off growth (allocator, caches) ends here
        blocks, memory = window()
    finally:
        tracemalloc.stop()
    assert blocks < 50 and memory < 32 * 1024, (blocks, memory)
