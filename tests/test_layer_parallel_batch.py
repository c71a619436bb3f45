"""Batched time stepping in layer-parallel training (issue 12): the ResNet's
batched primitives do per row what its per-layer ones do, and LayerParallel's
batched solves (its apps' step_batch, the Core's default) give the gradients
of its per-point ones (batch=False), on 1, 2 and 3 ranks, whatever the cap on
a batch."""
import numpy as np
import pytest

import pyxbraid
from conftest import ROOT, run_mpi
from pyxbraid.data import peaks
from pyxbraid.nn import ResNet
from pyxbraid.nn.resnet import BatchWeights, stack_rows
from pyxbraid.train.layer_parallel import LayerParallel, _AdjointApp, _ForwardApp
from test_layer_parallel import peaks_net, relative

SCRIPT = ROOT / "tests" / "scripts" / "layer_parallel_batch_run.py"
TOL = 1e-12

needs_batched_steps = pytest.mark.skipif(
    not pyxbraid.STEP_BATCH, reason="the library has no batched step (upstream XBraid)")

# (mode, Core options): several cfactors and depths of hierarchy
SOLVES = [("exact", dict(max_levels=4)), ("exact", dict(max_levels=3, cfactor=3)),
          ("exact", dict(max_levels=2, cfactor=5, nrelax=2)),
          ("one-shot", dict(max_levels=3)), ("one-shot", dict(max_levels=4, cfactor=3))]


def random_net(activation="tanh", n_layers=12, width=5, seed=0):
    net = ResNet(3, width, n_layers, 4, T=1.3, activation=activation)
    theta = net.init_params(np.random.default_rng(seed))
    theta += 0.1 * np.random.default_rng(seed + 1).standard_normal(net.n_params)  # biases too
    return net, theta


def states(rng, n, batch, width):
    return rng.standard_normal((n, batch, width))


# ---------------------------------------------------------------- primitives

LAYER_SETS = {"evenly up": [1, 4, 7, 10], "evenly down": [11, 8, 5, 2, 0][:4],
              "down to 0": [9, 6, 3, 0], "scattered": [3, 0, 11, 3], "one": [6]}


@pytest.mark.parametrize("activation", ["tanh", "smooth_relu", "sigmoid", "relu", "identity"])
@pytest.mark.parametrize("layers", LAYER_SETS.values(), ids=LAYER_SETS.keys())
def test_batched_primitives_do_per_row_what_the_per_layer_ones_do(activation, layers):
    net, theta = random_net(activation)
    p = net.views(theta)
    rng = np.random.default_rng(7)
    layers = np.array(layers)
    n, batch, h = len(layers), 6, 0.37
    Y, P = states(rng, n, batch, net.width), states(rng, n, batch, net.width)
    expected_Y, expected_P = Y.copy(), P.copy()
    for i, k in enumerate(layers):
        net.step(p, k, expected_Y[i], h)
        net.adjoint_step(p, k, Y[i], expected_P[i], h)
    for weights in (None, net.batch_weights(p, batch)):
        got_Y = Y.copy()
        net.step_batch(p, layers, got_Y, h, weights)
        assert relative(got_Y, expected_Y) < TOL
        got_P = P.copy()
        net.adjoint_step_batch(p, layers, Y, got_P, h, weights)
        assert relative(got_P, expected_P) < TOL
        derivatives = net.derivatives(p, layers, Y, weights)
        got_P = P.copy()
        net.adjoint_step_batch(p, layers, None, got_P, h, derivatives=derivatives)
        assert relative(got_P, expected_P) < TOL
    # the flat vector does as its views
    got_Y = Y.copy()
    net.step_batch(theta, layers, got_Y, h)
    assert relative(got_Y, expected_Y) < TOL


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_batched_layer_gradients_add_what_the_per_layer_ones_add(activation):
    net, theta = random_net(activation)
    p = net.views(theta)
    rng = np.random.default_rng(3)
    layers = np.array([10, 7, 4, 1, 0])    # no even spacing: indices, not a view
    Y, P = states(rng, 5, 6, net.width), states(rng, 5, 6, net.width)
    expected = rng.standard_normal(net.n_params)   # added to, not overwritten
    start = expected.copy()
    for i, k in enumerate(layers):
        net.layer_gradient(p, k, Y[i], P[i], net.views(expected))
    for weights, derivatives in ((None, None), (net.batch_weights(p, 6), None),
                                 (None, net.derivatives(p, layers, Y))):
        grad = start.copy()
        net.layer_gradient_batch(p, layers, Y, P, net.views(grad), weights, derivatives)
        assert relative(grad - start, expected - start) < TOL
        touched = np.zeros(net.n_params)
        for name in ("K", "b"):
            getattr(net.views(touched), name)[layers] = 1.0
        assert np.array_equal(grad[touched == 0], start[touched == 0])


def test_derivatives_into_out():
    net, theta = random_net()
    rng = np.random.default_rng(1)
    Y = states(rng, 3, 4, net.width)
    out = np.full_like(Y, np.nan)
    assert net.derivatives(theta, [2, 5, 8], Y, out=out) is out
    np.testing.assert_array_equal(out, net.derivatives(theta, [2, 5, 8], Y))
    # tanh' = 1 - tanh^2 at Z_k, row by row
    p = net.views(theta)
    z = Y[1] @ p.K[5].T + p.b[5]
    assert relative(out[1], 1 - np.tanh(z) ** 2) < TOL


def test_batch_weights_repeat_the_bias_to_rows_of_64_values():
    net, theta = random_net(width=5)
    p = net.views(theta)
    for batch, repeat in ((6, 6), (26, 13), (7, 7), (128, 16), (1, 1)):
        w = net.batch_weights(p, batch)
        assert w.repeat == repeat, batch
        assert w.b_rep.shape == (net.n_layers, repeat * net.width)
        np.testing.assert_array_equal(w.b_rep[4].reshape(repeat, net.width),
                                      np.broadcast_to(p.b[4], (repeat, net.width)))
        np.testing.assert_array_equal(w.K_t, p.K.transpose(0, 2, 1))
        assert w.K_t.flags.c_contiguous


def test_stack_rows_is_a_view_for_evenly_spaced_indices():
    a = np.arange(20.0)
    for indices in ([2, 5, 8], [8, 5, 2], [9, 6, 3, 0], [4], [3, 4, 5, 6]):
        rows = stack_rows(np.array(indices))
        assert isinstance(rows, slice), indices
        np.testing.assert_array_equal(a[rows], a[indices])
    for indices in ([1, 2, 4], [3, 3], [0, 5, 1]):
        rows = stack_rows(np.array(indices))
        assert not isinstance(rows, slice)
        np.testing.assert_array_equal(a[rows], a[indices])
    assert len(a[stack_rows(np.array([], dtype=int))]) == 0


def test_batched_primitives_reject_bad_input():
    net, theta = random_net()
    Y = np.zeros((3, 4, net.width))
    with pytest.raises(ValueError, match="layers: expected 3 layer indices in"):
        net.step_batch(theta, [0, 1], Y, 0.1)
    with pytest.raises(ValueError, match="layers: expected 3 layer indices in"):
        net.step_batch(theta, [0, 1, 12], Y, 0.1)
    with pytest.raises(ValueError, match="layers: expected 3 layer indices in"):
        net.step_batch(theta, [0.0, 1.0, 2.0], Y, 0.1)
    with pytest.raises(ValueError, match=r"Y: expected a float64 array of shape \(n, batch, 5\)"):
        net.step_batch(theta, [0, 1, 2], Y[0], 0.1)
    # the adjoints give the shape, the states must match it
    with pytest.raises(ValueError, match=r"Y_ks: expected a float64 array of shape \(3, 5, 5\)"):
        net.adjoint_step_batch(theta, [0, 1, 2], Y, np.zeros((3, 5, net.width)), 0.1)
    with pytest.raises(ValueError, match="derivatives: expected a float64 array"):
        net.adjoint_step_batch(theta, [0, 1, 2], None, Y.copy(), 0.1,
                               derivatives=np.zeros((2, 4, net.width)))
    with pytest.raises(ValueError, match="layers: expected distinct layer indices"):
        net.layer_gradient_batch(theta, [1, 1, 2], Y, Y, np.zeros(net.n_params))
    with pytest.raises(ValueError, match="weights: expected this network's batch_weights"):
        net.step_batch(theta, [0, 1, 2], Y, 0.1, net.batch_weights(theta, 6))   # repeat 6
    other, other_theta = random_net(n_layers=5)
    with pytest.raises(ValueError, match="weights: expected this network's batch_weights"):
        net.step_batch(theta, [0, 1, 2], Y, 0.1, other.batch_weights(other_theta, 4))
    with pytest.raises(ValueError, match="weights: expected this network's batch_weights"):
        net.step_batch(theta, [0, 1, 2], Y, 0.1, (1, 2, 3))
    with pytest.raises(ValueError, match="batch: expected an int >= 1"):
        net.batch_weights(theta, 0)
    assert isinstance(net.batch_weights(theta, 4), BatchWeights)


# ------------------------------------------------------------ layer-parallel

class Counting:
    """Count the apps' step and step_batch calls (and a batch's most rows)
    by wrapping them on their classes (so the Core still sees step_batch
    defined beside step)."""

    def __init__(self, monkeypatch):
        self.steps = self.batches = self.most_rows = 0
        for cls in (_ForwardApp, _AdjointApp):
            monkeypatch.setattr(cls, "step", self._wrap(cls.step, False))
            monkeypatch.setattr(cls, "step_batch", self._wrap(cls.step_batch, True))

    def _wrap(self, method, batch):
        def counted(app, ustop, fstop, u, status):
            if batch:
                self.batches += 1
                self.most_rows = max(self.most_rows, len(u))
                assert len(u) == status.size == len(status.tindex)
            else:
                self.steps += 1
            return method(app, ustop, fstop, u, status)
        return counted


def gradients(mode, options, comm=None, evaluations=3, data_seed=1, **batch_options):
    """The losses and gradients of `evaluations` evaluations on a peaks batch
    (theta moves between them, so one-shot warm starts are exercised)."""
    data, _ = peaks(40, 10, seed=data_seed)
    net = peaks_net(21, gamma_t=1e-3, gamma_d=1e-3)
    theta = net.init_params(np.random.default_rng(2))
    solver = LayerParallel(net, comm, mode=mode, tol=1e-12, **options, **batch_options)
    losses, grads = [], []
    for _ in range(evaluations):
        loss, grad = solver.objective(theta, data.x, data.y)
        losses.append(loss)
        grads.append(grad)
        theta = theta - 0.5 * grad
    return np.array(losses), np.array(grads)


def batched_against_per_point(comm=None):
    """For every solve of SOLVES: (losses, gradients) per point and batched,
    with caps 1 and 3 and none on a batch: one npz-able dict."""
    result = {}
    for i, (mode, options) in enumerate(SOLVES):
        for name, batch_options in (("points", dict(batch=False)), ("batched", {}),
                                    ("cap1", dict(max_batch=1)), ("cap3", dict(max_batch=3)),
                                    ("nocap", dict(max_batch=0))):
            losses, grads = gradients(mode, options, comm, **batch_options)
            result[f"{i}_{name}_losses"], result[f"{i}_{name}_grads"] = losses, grads
    return result


def check_batched_against_per_point(result):
    for i, (mode, options) in enumerate(SOLVES):
        points = result[f"{i}_points_grads"]
        for name in ("batched", "cap1", "cap3", "nocap"):
            grads = result[f"{i}_{name}_grads"]
            for k in range(len(points)):
                assert relative(grads[k], points[k]) < TOL, (mode, options, name, k)
            np.testing.assert_allclose(result[f"{i}_{name}_losses"],
                                       result[f"{i}_points_losses"], rtol=TOL, atol=0)


@needs_batched_steps
@pytest.mark.parametrize("mode, options", SOLVES)
def test_batched_gradients_equal_per_point_ones_on_one_rank(monkeypatch, mode, options):
    points = gradients(mode, options, batch=False)
    counting = Counting(monkeypatch)
    losses, grads = gradients(mode, options)
    assert counting.batches > 0 and counting.most_rows > 1   # really batched
    for k in range(len(grads)):
        assert relative(grads[k], points[1][k]) < TOL, k
    np.testing.assert_allclose(losses, points[0], rtol=TOL, atol=0)


@needs_batched_steps
def test_per_point_path_never_calls_step_batch(monkeypatch):
    counting = Counting(monkeypatch)
    gradients("exact", dict(max_levels=3), batch=False, evaluations=1)
    assert counting.batches == 0 and counting.steps > 0


@needs_batched_steps
@pytest.mark.parametrize("cap", [1, 3, 0])
def test_a_cap_on_the_batch_gives_the_same_gradients(monkeypatch, cap):
    points = gradients("one-shot", dict(max_levels=3), batch=False)
    counting = Counting(monkeypatch)
    losses, grads = gradients("one-shot", dict(max_levels=3), max_batch=cap)
    if cap == 1:    # groups of one interval: the Core steps point by point
        assert counting.batches == 0 and counting.steps > 0
    elif cap:
        assert counting.most_rows == cap
    else:   # no cap: the F-points of all 11 intervals of the finest level at once
        assert counting.most_rows == 11
    for k in range(len(grads)):
        assert relative(grads[k], points[1][k]) < TOL, k


@needs_batched_steps
def test_the_default_cap_holds_about_batch_bytes_of_states(monkeypatch):
    monkeypatch.setattr(LayerParallel, "BATCH_BYTES", 3 * 40 * 8 * 8)  # 3 states of 40 x 8
    counting = Counting(monkeypatch)
    gradients("one-shot", dict(max_levels=3), evaluations=1)
    assert counting.most_rows == 3
    monkeypatch.setattr(LayerParallel, "BATCH_BYTES", 40 * 8 * 8 - 1)  # less than a state
    counting = Counting(monkeypatch)
    gradients("one-shot", dict(max_levels=3), evaluations=1)
    assert counting.batches == 0    # a cap of 1: point by point


def test_batched_gradients_equal_per_point_ones_on_two_and_three_ranks(tmp_path):
    for nranks in (2, 3):
        out = tmp_path / f"batched{nranks}.npz"
        run = run_mpi(nranks, [SCRIPT, out], timeout=300)
        assert run.returncode == 0, run.stderr
        result = np.load(out)
        check_batched_against_per_point(result)
        if pyxbraid.STEP_BATCH:
            assert result["batched_calls"] > 0      # on every rank
