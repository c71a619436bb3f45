"""The base of the braid training apps: one convergence factor, the options
of the Core that ran, and the Core destroyed however the solve ends."""
import math

import numpy as np
import pytest
from mpi4py import MPI

import pyxbraid
from pyxbraid.data import xor
from pyxbraid.nn import MLP
from pyxbraid.train import DataSchedule, LearningRate, SGDStep, train_sgd_time
from pyxbraid.train.braid_app import BraidApp, BraidRun, convergence_factor
from pyxbraid.train.layer_parallel import SolveStats
from pyxbraid.train.sgd_time import SGDTimeResult
from pyxbraid.train.speedup import critical_path


@pytest.mark.parametrize("rnorms, factor", [
    # reaches exactly 0 in its last iteration: the geometric mean of the
    # ratios 0.5 and 0 is 0
    ([1.0, 0.5, 0.0, 0.0], 0.0),
    # XBraid's skip: iteration 0 has no residual; (1e-6 / 1e-2) ** (1/2)
    ([-1.0, 1e-2, 1e-4, 1e-6, 1e-6], 1e-2),
    # ratios 0.5 and 0.25: sqrt(0.125)
    ([1.0, 0.5, 0.125, 0.125], math.sqrt(0.125)),
    # one-shot with two iterations: one ratio
    ([4.0, 1.0, 1.0], 0.25),
    # diverging
    ([2.0, 8.0, 32.0, 32.0], 4.0),
])
def test_convergence_factor_of_hand_computed_histories(rnorms, factor):
    assert convergence_factor(rnorms) == pytest.approx(factor, rel=1e-15, abs=0)
    assert convergence_factor(np.array(rnorms)) == pytest.approx(factor, rel=1e-15, abs=0)


@pytest.mark.parametrize("rnorms", [
    [],                          # nothing
    [-1.0],                      # max_levels 1: no iteration
    [4.0, 4.0],                  # one residual: no rate
    [-1.0, 3.0, 3.0],            # skip and one iteration
    [-1.0, -1.0, -1.0, -1.0],    # residual_computation off
    [0.0, 0.0, 0.0],             # nothing to reduce
    [1.0, float("nan"), float("nan")],
])
def test_convergence_factor_is_nan_without_a_rate(rnorms):
    assert math.isnan(convergence_factor(rnorms))


def test_both_apps_report_the_same_factor():
    """sgd-time's result and layer-parallel's stats used to disagree on a
    history that reaches 0 (0.0 against 0.5)."""
    rnorms = np.array([1.0, 0.5, 0.0, 0.0])
    run = BraidRun(8, 3, 2, rnorms, {})
    result = SGDTimeResult(np.zeros(1), 3, 2, rnorms, 0.0, 1, 8)
    assert run.convergence_factor == result.convergence_factor == 0.0
    assert SolveStats(forward=run).forward_factor == 0.0
    assert math.isnan(SolveStats().forward_factor)


def xor_step():
    model = MLP([3, 4, 1], bias=False)
    w0 = model.init_params(np.random.default_rng(1))
    return SGDStep(model, DataSchedule(xor()), LearningRate(1.0, growth=2.0, maximum=3.0)), w0


def test_critical_path_uses_the_options_the_core_ran_with():
    """With seq_soln the Core turns skip off: the critical path replays the
    cycle without the skipped first one."""
    step, w0 = xor_step()
    result = train_sgd_time(step, w0, 64, max_levels=3, cfactor=4, abs_tol=1e-10,
                            seq_soln=True)
    ran = critical_path(64, result.nlevels, result.niter, cfactor=4, skip=False)
    assert result.critical_path == ran
    assert ran != critical_path(64, result.nlevels, result.niter, cfactor=4, skip=True)


def test_run_reads_the_options_back_from_the_core():
    step, w0 = xor_step()

    class App(BraidApp):
        vector_shape = w0.shape

        def init(self, t):
            return w0.copy()

        def step(self, ustop, fstop, u, status):
            step(u, status.tindex, status.level)

    run = App().run(MPI.COMM_WORLD, 16.0, 16, max_levels=2,
                    cfactor={0: 4}, nrelax=0, rel_tol=1e-8)
    assert run.ntime == 16 and run.nlevels == 2 and run.wall_time is None
    assert len(run.rnorms) == run.niter + 1
    assert run.options["cfactor"] == {-1: 2, 0: 4} and run.options["nrelax"] == {-1: 0}
    assert (run.options["abs_tol"], run.options["rel_tol"]) == (None, 1e-8)
    assert run.options["print_level"] == 0 and run.options["skip"] is True
    assert run.critical_path() == critical_path(16, 2, run.niter, cfactor=4, nrelax=0)
    timed = App().run(MPI.COMM_WORLD, 16.0, 16, timed=True, max_levels=2)
    assert timed.wall_time > 0


class _Recording:
    """pyxbraid.Core, patched to record every Core destroyed."""

    def __init__(self, monkeypatch):
        self.destroyed = []
        destroyed = self.destroyed

        class Core(pyxbraid.Core):
            def destroy(self):
                destroyed.append(self)
                super().destroy()

        monkeypatch.setattr(pyxbraid, "Core", Core)


class _Constant(BraidApp):
    vector_shape = (1,)

    def init(self, t):
        return np.ones(1)

    def step(self, ustop, fstop, u, status):
        pass


def test_the_core_is_destroyed_after_the_solve(monkeypatch):
    cores = _Recording(monkeypatch)
    run = _Constant().run(MPI.COMM_WORLD, 4.0, 4, max_levels=2)
    assert run.niter >= 1 and len(cores.destroyed) == 1


def test_the_core_is_destroyed_when_the_solve_fails(monkeypatch):
    cores = _Recording(monkeypatch)

    class Failing(_Constant):
        def step(self, ustop, fstop, u, status):
            raise ArithmeticError("step failed")

    # the traceback keeps the Core alive: only the `with` of run destroys it here
    with pytest.raises(ArithmeticError, match="step failed"):
        Failing().run(MPI.COMM_WORLD, 4.0, 4, max_levels=2)
    assert len(cores.destroyed) == 1
