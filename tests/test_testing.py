"""pyxbraid.testing.check_app: a right app passes; each kind of broken
callback fails the matching check, with a report that names it."""
import numpy as np
import pytest

import pyxbraid
from conftest import load_example
from pyxbraid.testing import AppCheckError, check_app

dahlquist = load_example("dahlquist")
DahlquistNumpy, DahlquistPython = dahlquist.DahlquistNumpy, dahlquist.DahlquistPython
Heat = load_example("heat").Heat


class WithResidual(DahlquistPython):
    """The reference step u_i = u_{i-1} / (1 + dt) (+ fstop) and its residual."""

    def residual(self, ustop, r, status):
        dt = status.tstop - status.tstart
        r[0] = ustop.item(0) - r.item(0) / (1.0 + dt)


@pytest.mark.parametrize("app", [DahlquistNumpy(), DahlquistPython(), WithResidual(), Heat(16)],
                         ids=["numpy", "python", "residual", "heat"])
def test_right_apps_pass(app):
    report = check_app(app)
    assert report.passed and report.failures == []
    text = str(report)
    assert text.startswith(f"check_app({type(app).__name__}, t=0, dt=0.1): passed")
    for test in ("TestInitAccess", "TestClone", "TestSum", "TestSpatialNorm", "TestBuf",
                 "TestAll"):
        assert test in text
    assert ("Starting braid_TestResidual" in text) == isinstance(app, WithResidual)


def broken(base, **methods):
    return type(f"Broken{base.__name__}", (base,), methods)()


def _returns(self, ustop, fstop, u, status):
    return u / (1.0 + status.tstop - status.tstart)


def _rebinds(self, ustop, fstop, u, status):
    u = u / (1.0 + status.tstop - status.tstart)  # noqa: F841 (the bug under test)


def _sum_without_beta(self, alpha, x, beta, y):
    y[0] = alpha * x.item(0)


def _clone_the_same(self, u):
    return u


def _norm_squared(self, u):
    return u.item(0) ** 2


def _raising_clone(self, u):
    raise ZeroDivisionError("clone is broken")


def _bufpack_nothing(self, u, buffer, status):
    status.set_size(8)


def _bad_residual(self, ustop, r, status):
    r[0] = ustop.item(0) - r.item(0)


@pytest.mark.parametrize("app, failed, says", [
    (broken(DahlquistNumpy, step=_returns), "step", "step: returned a ndarray"),
    (broken(DahlquistNumpy, step=_rebinds), "step", "step: left u unchanged"),
    (broken(DahlquistPython, step=_rebinds), "step", "never rebind it"),
    (broken(DahlquistPython, sum=_sum_without_beta), "spatialnorm", "TestSpatialNorm"),
    (broken(DahlquistPython, clone=_clone_the_same), "clone", "clone"),
    (broken(DahlquistPython, spatialnorm=_norm_squared), "spatialnorm", "TestSpatialNorm"),
    (broken(DahlquistPython, clone=_raising_clone), "clone",
     "the app raised ZeroDivisionError: clone is broken"),
    (broken(DahlquistPython, bufpack=_bufpack_nothing), "buf", "TestBuf"),
    (broken(WithResidual, residual=_bad_residual), "residual", "TestResidual"),
])
def test_broken_callbacks_fail_by_name(app, failed, says):
    with pytest.raises(AppCheckError) as info:
        check_app(app)
    assert "FAILED: " in str(info.value) and says in str(info.value)
    report = check_app(app, raise_on_failure=False)
    assert not report.passed and failed in report.failures
    # the other callbacks still pass their own tests
    assert "init_access" not in report.failures


def _batch_with_another_dt(self, ustop, fstop, u, status):
    u /= (1.0 + 2.0 * (status.tstop - status.tstart))[:, None]


def _batch_of_the_first_row(self, ustop, fstop, u, status):
    u[:] = u[0] / (1.0 + status.tstop[0] - status.tstart[0])


def _batch_that_raises(self, ustop, fstop, u, status):
    raise ZeroDivisionError("step_batch is broken")


@pytest.mark.skipif(not pyxbraid.STEP_BATCH, reason="the library has no batched step")
@pytest.mark.parametrize("method, says", [
    (_batch_with_another_dt, "does not do per row what step does"),
    (_batch_of_the_first_row, "does not do per row what step does"),
    (_batch_that_raises, "batched raised ZeroDivisionError: step_batch is broken"),
])
def test_a_batched_step_that_is_not_the_step_fails(method, says):
    report = check_app(broken(DahlquistNumpy, step_batch=method), raise_on_failure=False)
    assert report.failures == ["step_batch"] and says in str(report)


def test_a_right_batched_step_passes_and_is_named():
    text = str(check_app(DahlquistNumpy()))
    assert ("step_batch: does per row what step does: passed" in text) == pyxbraid.STEP_BATCH
    # an app stepped point by point (it overrides step) has no batch to check
    assert "step_batch" not in str(check_app(broken(DahlquistNumpy, step=DahlquistNumpy.step)))


def test_an_app_without_buffers_is_checked_without_them():
    class NoBuffers(pyxbraid.App):
        def init(self, t):
            return np.ones(2) if t == 0 else np.full(2, 0.5)

        def step(self, ustop, fstop, u, status):
            u *= 0.5

        def clone(self, u):
            return u.copy()

        def sum(self, alpha, x, beta, y):
            y[:] = alpha * x + beta * y

        def spatialnorm(self, u):
            return float(np.sqrt(u @ u))

    report = check_app(NoBuffers(), t=0.5, dt=0.25)
    assert report.passed and "buf: skipped" in report.text and "TestBuf" not in report.text


def test_a_zero_initial_vector_is_explained():
    report = check_app(Heat(16), t=0.25, raise_on_failure=False)  # init is 0 for t > 0
    assert "spatialnorm" in report.failures
    assert "init(t) is the zero vector at t = 0.25: check at a t where" in report.text
