"""Residual layers (pyxbraid.nn.residual, issue 13): a layer written here, in
numpy, against the ResidualLayer protocol only, has the gradient of central
finite differences and trains layer-parallel (exact mode: serial backprop's
gradient on 1 and 2 ranks, batched and per point) with no change to the
solver; the default dense layer gives what an independent plain-numpy
ResNet gives.

Run under mpirun this file is its own script (see __main__ below):
    mpirun -n 2 python -m mpi4py tests/test_residual_layers.py gradient LAYER OUT
"""
import sys

import numpy as np
import pytest

from conftest import ROOT, run_mpi
import gradcheck
from gradcheck import finite_differences, layer_parallel_and_serial, rel_error, relative

from pyxbraid.data import peaks
from pyxbraid.nn import DenseResidual, ResidualLayer, ResNet
from pyxbraid.train.layer_parallel import LayerParallel, Serial
from pyxbraid.train.loop import train
from pyxbraid.train.ngsgd import NaturalGradientSGD
from pyxbraid.train.optim import Adam

SCRIPT = ROOT / "tests" / "test_residual_layers.py"


class Diagonal(ResidualLayer):
    """F(Y, (a, c)) = tanh(Y * a + c), elementwise: a and c (width,)."""

    def param_shapes(self, width):
        return {"a": (width,), "c": (width,)}

    def init(self, rng, params, scale):
        params.a[...] = rng.normal(0.0, scale, params.a.shape)

    def forward(self, theta, Y):
        return np.tanh(Y * theta.a + theta.c)

    def _sensitivity(self, theta, Y, P, h):
        return h * P * (1.0 - self.forward(theta, Y) ** 2)

    def vjp(self, theta, Y, P, h):
        return self._sensitivity(theta, Y, P, h) * theta.a

    def param_grad(self, theta, Y, P, h, grad):
        s = self._sensitivity(theta, Y, P, h)
        grad.a[...] += (s * Y).sum(axis=0)
        grad.c[...] += s.sum(axis=0)


class LinearizedDiagonal(Diagonal):
    """Diagonal with batched forms of its own: the adjoint keeps tanh'(Y * a + c)
    at the forward states (in a stack of another shape than the states')."""

    def linearize_batch(self, thetas, Ys, weights=None, rows=None):
        derivative = 1.0 - np.tanh(Ys * thetas.a[:, None, :] + thetas.c[:, None, :]) ** 2
        return derivative[..., np.newaxis]

    def check_linearization(self, linearization, P):
        assert linearization.shape == P.shape + (1,)

    def vjp_batch(self, thetas, Ys, P, h, weights=None, rows=None, linearization=None):
        if linearization is None:
            return super().vjp_batch(thetas, Ys, P, h, weights, rows)
        return h * P * linearization[..., 0] * thetas.a[:, None, :]

    def param_grad_batch(self, thetas, Ys, P, h, weights=None, rows=None, linearization=None):
        s = h * P * linearization[..., 0]
        return (s * Ys).sum(axis=1), s.sum(axis=1)


LAYERS = {"Diagonal": Diagonal, "LinearizedDiagonal": LinearizedDiagonal}


def diagonal_net(n_layers=12, width=4, layer=Diagonal, **kwargs):
    return ResNet(2, width, n_layers, 5, T=1.5, layer=layer(), **kwargs)


def peaks_problem(n_layers=21, gamma=1e-3, layer=Diagonal):
    data, _ = peaks(60, 10, seed=1)
    net = diagonal_net(n_layers, gamma_t=gamma, gamma_d=gamma, layer=layer)
    rng = np.random.default_rng(2)
    theta = net.init_params(rng) + 0.1 * rng.standard_normal(net.n_params)  # biases too
    return net, theta, data


# ------------------------------------------------------------ a user's layer

def test_user_layer_parameters_are_stacked_views_of_theta():
    net = diagonal_net(n_layers=3, width=4)
    assert net.n_params == 2 * 4 + 4 + 3 * (4 + 4) + 4 * 5 + 5
    theta = np.arange(float(net.n_params))
    p = net.views(theta)
    assert p._fields == ("W_o", "b_o", "a", "c", "W_c", "b_c")
    assert p.a.shape == p.c.shape == (3, 4)
    assert p.a[1, 0] == 12 + 4 and p.c[0, 0] == 12 + 12   # a_0 a_1 a_2, then c
    assert all(np.shares_memory(v, theta) for v in p)
    drawn = net.views(net.init_params(np.random.default_rng(0), scale=0.5))
    assert drawn.a.std() > 0.1 and not drawn.c.any()


@pytest.mark.parametrize("gammas", [(0.0, 0.0), (0.05, 0.02)])
def test_user_layer_gradient_matches_finite_differences(gammas):
    net = diagonal_net(n_layers=5, gamma_t=gammas[0], gamma_d=gammas[1])
    rng = np.random.default_rng(3)
    theta = net.init_params(rng) + 0.3 * rng.standard_normal(net.n_params)
    x, y = rng.standard_normal((7, 2)), rng.integers(0, 5, 7)
    value, grad = net.loss_and_grad(theta, x, y)
    assert value == net.loss(theta, x, y)
    assert rel_error(grad, finite_differences(lambda: net.loss(theta, x, y), theta)) < 1e-6
    # the smoothness term reaches the layer's own parameters
    if gammas[1]:
        plain = diagonal_net(n_layers=5, gamma_t=gammas[0])
        assert not np.allclose(grad, plain.loss_and_grad(theta, x, y)[1])


def test_user_layer_batched_primitives_loop_over_the_stack():
    """The protocol's default batched methods: per row what the per-layer ones do."""
    net, theta, _ = peaks_problem(n_layers=12)
    p = net.views(theta)
    rng = np.random.default_rng(4)
    layers, h = np.array([9, 6, 3, 0]), 0.37
    Y, P = rng.standard_normal((2, 4, 6, net.width))
    assert net.batch_weights(p, 6) is None and net.derivatives(p, layers, Y) is None
    stepped, adjoint = Y.copy(), P.copy()
    net.step_batch(p, layers, stepped, h)
    net.adjoint_step_batch(p, layers, Y, adjoint, h)
    grad = np.zeros(net.n_params)
    net.layer_gradient_batch(p, layers, Y, P, net.views(grad))
    expected = np.zeros(net.n_params)
    for i, k in enumerate(layers):
        Y_i, P_i = Y[i].copy(), P[i].copy()
        net.step(p, k, Y_i, h)
        net.adjoint_step(p, k, Y[i], P_i, h)
        np.testing.assert_array_equal(stepped[i], Y_i)
        np.testing.assert_array_equal(adjoint[i], P_i)
        net.layer_gradient(p, k, Y[i], P[i], net.views(expected))
    np.testing.assert_array_equal(grad, expected)
    with pytest.raises(ValueError, match="Y_ks: expected a float64 array of shape"):
        net.adjoint_step_batch(p, layers, None, P.copy(), h)  # no linearization: states needed


SOLVES = {"batched": dict(), "batches of 4": dict(max_batch=4), "per_point": dict(batch=False)}


def exact_gradients(layer_name, comm=None):
    """Layer-parallel exact-mode gradients (batched, in batches of at most 4
    layers, and per point) and serial backprop's."""
    return layer_parallel_and_serial(*peaks_problem(layer=LAYERS[layer_name]), SOLVES, comm)


def check_exact(r):
    gradcheck.check_exact(r, SOLVES)


@pytest.mark.parametrize("layer_name", LAYERS)
def test_user_layer_exact_layer_parallel_gradient_is_serial_backprops(tmp_path, layer_name):
    check_exact(exact_gradients(layer_name))
    out = tmp_path / "two.npz"
    run = run_mpi(2, [SCRIPT, "gradient", layer_name, out], timeout=120)
    assert run.returncode == 0, run.stderr
    check_exact(np.load(out))


def test_user_layer_trains_layer_parallel():
    """Adam steps: exact layer-parallel follows serial training; the loss falls."""
    net, theta0, data = peaks_problem()
    thetas = {name: train(objective, Adam(0.05), theta0, data, 5) for name, objective in (
        ("serial", Serial(net)),
        ("parallel", LayerParallel(net, mode="exact", tol=1e-12, max_levels=3)))}
    assert relative(thetas["parallel"], thetas["serial"]) < 1e-9
    assert net.loss(thetas["parallel"], data.x, data.y) < 0.9 * net.loss(theta0, data.x, data.y)
    one_shot = train(LayerParallel(net, mode="one-shot", max_levels=3), Adam(0.05), theta0, data,
                     5)
    assert net.loss(one_shot, data.x, data.y) < net.loss(theta0, data.x, data.y)


# ------------------------------------------------------------ the dense layer

def plain_dense_loss_and_grad(net, theta, x, y):
    """A ResNet with tanh everywhere by hand, in plain numpy (no pyxbraid
    primitives): the loss and the gradient with respect to theta."""
    f, w, n, c = net.n_features, net.width, net.n_layers, net.n_classes
    sizes = [f * w, w, n * w * w, n * w, w * c, c]
    W_o, b_o, K, b, W_c, b_c = np.split(theta, np.cumsum(sizes)[:-1])
    W_o, K, W_c = W_o.reshape(f, w), K.reshape(n, w, w), W_c.reshape(w, c)
    b = b.reshape(n, w)
    Ys = [np.tanh(x @ W_o + b_o)]
    for k in range(n):
        Ys.append(Ys[-1] + net.h * np.tanh(Ys[-1] @ K[k].T + b[k]))
    logits = Ys[-1] @ W_c + b_c
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    m = len(x)
    loss = -np.mean(np.log(probs[np.arange(m), y]))
    d_logits = probs.copy()
    d_logits[np.arange(m), y] -= 1.0
    d_logits /= m
    gK, gb = np.zeros_like(K), np.zeros_like(b)
    g_Wc, g_bc = Ys[-1].T @ d_logits, d_logits.sum(axis=0)
    P = d_logits @ W_c.T
    for k in reversed(range(n)):
        s = net.h * P * (1.0 - np.tanh(Ys[k] @ K[k].T + b[k]) ** 2)
        gK[k], gb[k] = s.T @ Ys[k], s.sum(axis=0)
        P = P + s @ K[k]
    s = P * (1.0 - Ys[0] ** 2)
    grad = np.concatenate([(x.T @ s).ravel(), s.sum(axis=0), gK.ravel(), gb.ravel(),
                           g_Wc.ravel(), g_bc])
    return loss, grad


def test_dense_layer_is_the_plain_numpy_resnet():
    rng = np.random.default_rng(5)
    default = ResNet(3, 6, 10, 4, T=1.3, activation="tanh")
    given = ResNet(3, 6, 10, 4, T=1.3, activation="tanh", layer=DenseResidual("tanh"))
    assert isinstance(default.layer, DenseResidual) and default.n_params == given.n_params
    theta = default.init_params(rng) + 0.1 * rng.standard_normal(default.n_params)
    x, y = rng.standard_normal((9, 3)), rng.integers(0, 4, 9)
    loss, grad = default.loss_and_grad(theta, x, y)
    plain_loss, plain_grad = plain_dense_loss_and_grad(default, theta, x, y)
    assert abs(loss - plain_loss) <= 1e-13 * abs(plain_loss)
    assert relative(grad, plain_grad) < 1e-12
    given_loss, given_grad = given.loss_and_grad(theta, x, y)
    assert given_loss == loss
    np.testing.assert_array_equal(given_grad, grad)
    np.testing.assert_array_equal(given.init_params(np.random.default_rng(1)),
                                  default.init_params(np.random.default_rng(1)))


# ------------------------------------------------------------ errors

class NoLayer:
    pass


class BadNames(Diagonal):
    def param_shapes(self, width):
        return {"W_o": (width,)}


class BadShape(Diagonal):
    def param_shapes(self, width):
        return {"a": width}


@pytest.mark.parametrize("layer, message", [
    (NoLayer(), "layer: expected a pyxbraid.nn.ResidualLayer, got NoLayer"),
    (BadNames(), "layer: parameter name 'W_o' must be an identifier"),
    (BadShape(), "layer: shape of 'a' must be a tuple of ints >= 1, got 4"),
])
def test_bad_layers_are_refused(layer, message):
    with pytest.raises(ValueError, match=message):
        ResNet(2, 4, 3, 5, layer=layer)


def test_natural_gradient_needs_a_layer_that_takes_preconditioners():
    net, theta, data = peaks_problem(n_layers=3)
    assert net.n_dense_layers is None
    with pytest.raises(ValueError, match="model: NaturalGradientSGD needs"):
        NaturalGradientSGD(net, 0.1)
    dense = NaturalGradientSGD(ResNet(2, 4, 3, 5), 0.1)
    with pytest.raises(ValueError, match=r"preconditioner: Diagonal\(\) takes none"):
        net.layer_gradient(theta, 0, np.zeros((3, 4)), np.zeros((3, 4)),
                           np.zeros(net.n_params), dense.preconditioners[1])
    with pytest.raises(ValueError, match=r"preconditioners: Diagonal\(\) takes none"):
        net.loss_and_grad(theta, data.x, data.y, preconditioners=dense.preconditioners)


def test_repr_names_a_given_layer():
    assert repr(diagonal_net(n_layers=3)) == (
        "ResNet(n_features=2, width=4, n_layers=3, n_classes=5, T=1.5, "
        "activation='smooth_relu', layer=Diagonal())")
    assert repr(ResNet(2, 4, 3, 5, layer=DenseResidual("relu"))).endswith(
        "layer=DenseResidual(activation='relu'))")


if __name__ == "__main__":   # under mpirun: rank 0 writes the results to argv[2]
    from mpi4py import MPI
    found = {"gradient": exact_gradients}[sys.argv[1]](sys.argv[2])
    if MPI.COMM_WORLD.rank == 0:
        np.savez(sys.argv[3], **found)
