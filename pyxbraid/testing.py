"""Checking an app before a solve, in one line:

    from pyxbraid.testing import check_app
    check_app(MyApp())          # raises AppCheckError with the report if a check fails

It runs the braid library's wrapper tests (XBraid's braid_TestInitAccess,
TestClone, TestSum, TestSpatialNorm, TestBuf, TestResidual and TestAll, in
vendor/xbraid/braid_test.h) on the app's callbacks, through the same
trampolines as a solve, and first what only a Python app can get wrong: a step
that returns its result, or rebinds u, instead of changing u in place; and a
step_batch that does not do per row what step does.
"""
from dataclasses import dataclass, field

from mpi4py import MPI

import pyxbraid


class AppCheckError(AssertionError):
    """An app failed check_app; the message is the report."""


@dataclass
class AppReport:
    """What check_app found: `passed`, the names of the failed checks, and the
    text of every check (the wrapper tests' own log included)."""
    passed: bool
    failures: list = field(default_factory=list)
    text: str = ""

    def __str__(self):
        return self.text


# Upstream's wrapper tests grade only some of their checks (the others return 0
# and leave the judgement to the reader of the log).
_GRADED_BY_UPSTREAM = ("spatialnorm", "buf", "all")


def check_app(app, t=0.0, dt=0.1, comm=None, *, raise_on_failure=True):
    """Check the callbacks of `app` (a pyxbraid.App or NumpyApp) at time t
    with a step dt, before any solve.

    - The step contract: one step from t to t + dt must change u in place and
      return None (a step that returns its result, or rebinds u, would leave
      the solver's vector unchanged and converge to a wrong answer).
    - The library's wrapper tests: init/access/free, clone, sum (with its
      coefficients), the spatial norm (zero for u - u, homogeneous, triangle
      inequality), the message buffers (pack then unpack gives u back; a
      NumpyApp's C fast path, or the app's own), and, when the app has a
      `residual` method, that step and residual agree.
    - A batched step (step_batch, when the library has them): two iterations
      of a small solve (8 steps of dt from t, 2 levels) batched and point by
      point give the same residuals, within 1e-9 relative.

    comm is the app's spatial communicator (default MPI.COMM_SELF): all its
    ranks call check_app together.  Returns an AppReport; raises AppCheckError
    with the report when a check fails (unless raise_on_failure is False)."""
    comm = MPI.COMM_SELF if comm is None else comm
    failures, lines = [], []
    for problem in _step_problems(app, t, dt):
        failures.append("step")
        lines.append(f"step: {problem}")
    if not failures:
        lines.append(f"step: one step from t = {t:g} to {t + dt:g} changes u in place: passed")
    if not failures and pyxbraid.STEP_BATCH and pyxbraid.Core(app, MPI.COMM_SELF,
                                                             ntime=1).batched:
        problem = _step_batch_problem(app, t, dt)
        lines.append(f"step_batch: {problem or 'does per row what step does: passed'}")
        if problem:
            failures.append("step_batch")

    core = pyxbraid.Core(app, MPI.COMM_SELF, tstart=t, tstop=t + dt, ntime=1, print_level=0)
    names = ["init_access", "clone", "sum", "spatialnorm"]
    if isinstance(app, pyxbraid.NumpyApp) or all(
            callable(getattr(app, name, None)) for name in ("bufsize", "bufpack", "bufunpack")):
        names.append("buf")
    else:
        lines.append("buf: skipped (no bufsize, bufpack, bufunpack: needed only on more than "
                     "one time rank)")
    if callable(getattr(app, "residual", None)):
        names.append("residual")
    ran = []
    for name in names:
        passed, log, error = core._wrapper_test(name, t, dt, comm)
        ran.append(_graded(passed, name) and error is None)
        lines.append(log.rstrip())
        if error is not None:
            lines.append(f"  {name}: the app raised {type(error).__name__}: {error}")
        if not ran[-1]:
            failures.append(name)
            if "spatialnorm(u) = 0.0" in log:
                lines.append(f"  {name}: init(t) is the zero vector at t = {t:g}: check at a "
                             f"t where init gives another vector")
    if "buf" in names and all(ran):  # the checks that need several callbacks
        passed, log, error = core._wrapper_test("all", t, dt, comm)
        lines.append(log.rstrip())
        if not _graded(passed, "all") or error is not None:
            failures.append("all")
            if error is not None:
                lines.append(f"  all: the app raised {type(error).__name__}: {error}")
    core.destroy()

    report = AppReport(not failures, failures, "\n".join(
        [f"check_app({type(app).__name__}, t={t:g}, dt={dt:g}): "
         + ("passed" if not failures else f"FAILED: {', '.join(failures)}")] + lines))
    if failures and raise_on_failure:
        raise AppCheckError(report.text)
    return report


def _step_batch_problem(app, t, dt, ntime=8):
    """What differs between a batched and a per-point solve of `app` (a
    sentence), or None."""
    histories = {}
    for batch in (False, True):
        core = pyxbraid.Core(app, MPI.COMM_SELF, tstart=t, tstop=t + ntime * dt, ntime=ntime,
                             max_levels=2, cfactor=2, max_iter=3, abs_tol=0.0, skip=False,
                             access_level=0, print_level=0, batch=batch)
        try:
            core.drive()
        except Exception as e:
            how = "batched" if batch else "point by point"
            return f"a small solve {how} raised {type(e).__name__}: {e}"
        finally:
            core.destroy()
        histories[batch] = core.rnorms[1:]
    per_point, batched = histories[False], histories[True]
    scale = max(abs(per_point).max(), 1e-300)
    if not (abs(batched - per_point) <= 1e-9 * scale).all():
        return (f"does not do per row what step does: the residuals of a small solve are "
                f"{batched.tolist()} batched, {per_point.tolist()} point by point")
    return None


def _graded(passed, name):
    return passed or (pyxbraid.BRAID_LIBRARY == "upstream" and name not in _GRADED_BY_UPSTREAM)


def _step_problems(app, t, dt):
    """What is wrong with one step of `app` from t to t + dt (a list of
    sentences), found by a one-step sequential solve through a probe."""
    base = pyxbraid.NumpyApp if isinstance(app, pyxbraid.NumpyApp) else pyxbraid.App
    problems = []

    class Probe(base):
        vector_shape = getattr(app, "vector_shape", None)

        def init(self, t):
            u = app.init(t)
            if u is None:
                problems.append("init returned None instead of a vector")
            return u

        def step(self, ustop, fstop, u, status):
            before = app.clone(u)
            returned = app.step(ustop, fstop, u, status)
            if returned is not None:
                problems.append(f"returned a {type(returned).__name__}: a step must change u "
                                f"in place (u[...] = ...) and return None")
            app.sum(1.0, u, -1.0, before)
            if app.spatialnorm(before) == 0.0:
                problems.append("left u unchanged: a step must change u in place "
                                "(u[...] = ...), never rebind it (u = ...); if u = init(t) is "
                                "a fixed point of your step, check at another t")

        def clone(self, u):
            return app.clone(u)

        def sum(self, alpha, x, beta, y):
            app.sum(alpha, x, beta, y)

        def spatialnorm(self, u):
            return app.spatialnorm(u)

    try:
        pyxbraid.Core(Probe(), MPI.COMM_SELF, tstart=t, tstop=t + dt, ntime=1, max_levels=1,
                      print_level=0).drive()
    except Exception as e:
        problems.append(f"a one-step solve raised {type(e).__name__}: {e}")
    return problems
