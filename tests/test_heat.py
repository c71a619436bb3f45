"""examples/heat.py: the Thomas step, MGRIT against sequential stepping on 1 rank,
and the same solve on 2 and 4 ranks under mpirun."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import EXAMPLES, last_json_line, load_example, run_mpi

heat = load_example("heat")

NX, NTIME, TSTOP, ML, CF, TOL, MAX_ITER = 32, 256, 0.5, 4, 2, 1e-10, 100
CLI = ["--nx", NX, "--ntime", NTIME, "--tstop", TSTOP, "--ml", ML, "--cf", CF, "--tol", TOL]


def heat_matrix(nx, dt):
    """I - dt L, L the second-difference matrix / dx^2 with Dirichlet ends."""
    r = dt * (nx + 1) ** 2
    return ((1 + 2 * r) * np.eye(nx) - r * np.eye(nx, k=1) - r * np.eye(nx, k=-1))


@pytest.fixture(scope="module")
def one_rank():
    u, core = heat.solve(NX, NTIME, TSTOP, ML, CF, TOL, max_iter=MAX_ITER)
    return u, core.niter, core.nlevels, np.array(core.rnorms)


@pytest.fixture(scope="module")
def seq():
    return heat.sequential(NX, NTIME, TSTOP)


@pytest.mark.parametrize("dt", [1e-4, 1 / 256, 0.5])
def test_step_solves_the_tridiagonal_system(dt):
    rng = np.random.default_rng(7)
    app = heat.Heat(NX)
    t0 = 0.25
    status = SimpleNamespace(tstart=t0, tstop=t0 + dt)
    dt = status.tstop - status.tstart  # the dt the step sees (t0 + dt - t0)
    for _ in range(2):  # the second time with the cached factorization
        rhs = rng.standard_normal(NX)
        u = rhs.copy()
        app.step(None, None, u, status)
        np.testing.assert_allclose(heat_matrix(NX, dt) @ u, rhs, rtol=0, atol=1e-12)
    # fstop is added after the solve
    fstop = rng.standard_normal(NX)
    v = rhs.copy()
    app.step(None, fstop, v, status)
    np.testing.assert_allclose(v, u + fstop, rtol=0, atol=1e-15)


def test_sequential_is_backward_euler_for_the_heat_equation(seq):
    # sin(pi x) is an eigenvector of L: each step divides it by 1 - dt*lambda_h
    x = np.arange(1, NX + 1) / (NX + 1)
    dx, dt = 1 / (NX + 1), TSTOP / NTIME
    lam = -4 / dx ** 2 * math.sin(math.pi * dx / 2) ** 2
    discrete = (1 - dt * lam) ** -NTIME * np.sin(math.pi * x)
    np.testing.assert_allclose(seq, discrete, rtol=1e-12, atol=0)
    # and it is close to (but measurably not) the PDE's solution
    err = np.abs(seq - heat.exact(x, TSTOP)).max()
    assert 1e-5 < err < 1e-3


def test_mgrit_one_rank_matches_sequential(one_rank, seq):
    u, niter, nlevels, rnorms = one_rank
    assert nlevels == ML
    assert 1 < niter < MAX_ITER
    assert 0 <= rnorms[-1] < TOL
    diff = np.abs(u - seq).max()
    assert diff < 1e-8
    # the tolerance means something: MGRIT agrees with sequential stepping far
    # better than either agrees with the exact solution
    x = np.arange(1, NX + 1) / (NX + 1)
    assert np.abs(u - heat.exact(x, TSTOP)).max() > 1000 * max(diff, 1e-8)


@pytest.mark.parametrize("nranks", [2, 4])
def test_mgrit_under_mpi(nranks, one_rank):
    proc = run_mpi(nranks, [str(EXAMPLES / "heat.py"), "--json", *CLI], timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = last_json_line(proc.stdout)
    _, niter, nlevels, rnorms = one_rank
    assert result["niter"] == niter < MAX_ITER
    assert result["nlevels"] == nlevels
    assert 0 <= result["rnorms"][-1] < TOL
    assert result["diff_sequential"] < 1e-8
    # the temporal norm sums in another order across ranks: equal up to round-off
    np.testing.assert_allclose(result["rnorms"], rnorms, rtol=1e-12, atol=0)
