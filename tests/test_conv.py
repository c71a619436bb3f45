"""Convolutional ResNets (pyxbraid.nn.conv, issue 13): the layer is a direct
convolution, its vector-Jacobian products and the whole network's gradient
(both classifiers) are central finite differences', its batched methods do
per row what the per-layer ones do, and layer-parallel exact mode gives
serial backprop's gradient on 1 to 4 ranks, batched and point by point.

Run under mpirun this file is its own script (see __main__ below):
    mpirun -n 2 python -m mpi4py tests/test_conv.py gradient CLASSIFIER OUT
    mpirun -n 3 python -m mpi4py tests/test_conv.py owned - OUT
"""
import sys

import numpy as np
import pytest

from conftest import ROOT, run_mpi
import gradcheck
from gradcheck import finite_differences, layer_parallel_and_serial, rel_error, relative

from pyxbraid.data import Dataset
from pyxbraid.nn import (ConvOpening, ConvResidual, DenseMap, PoolClassifier, ResNet,
                         conv_resnet)
from pyxbraid.nn.conv import flipped
from pyxbraid.train.layer_parallel import LayerParallel, Serial
from pyxbraid.train.loop import train
from pyxbraid.train.ngsgd import NaturalGradientSGD
from pyxbraid.train.optim import Adam

SCRIPT = ROOT / "tests" / "test_conv.py"
IMAGE = (2, 5, 4)   # (C_in, H, W): not square, two input channels


def direct_conv(Y, K, image):
    """Same-padded 2-D convolution by loops over pixels and offsets: Y
    (batch, H*W*C_in) channels last, K (k, k, C_in, C_out)."""
    H, W = image
    k, _, c_in, c_out = K.shape
    r = k // 2
    x = Y.reshape(len(Y), H, W, c_in)
    out = np.zeros((len(Y), H, W, c_out))
    for i in range(H):
        for j in range(W):
            for di in range(k):
                for dj in range(k):
                    a, b = i + di - r, j + dj - r
                    if 0 <= a < H and 0 <= b < W:
                        out[:, i, j, :] += x[:, a, b, :] @ K[di, dj]
    return out.reshape(len(Y), H * W * c_out)


def conv_net(classifier="flatten", n_layers=5, **kw):
    return conv_resnet(IMAGE, 3, n_layers, 4, kernel=3, classifier=classifier, T=1.2,
                       activation="tanh", **kw)


def problem(classifier="flatten", n_layers=13, gamma=1e-3):
    net = conv_net(classifier, n_layers, gamma_t=gamma, gamma_d=gamma)
    rng = np.random.default_rng(2)
    theta = net.init_params(rng) + 0.1 * rng.standard_normal(net.n_params)  # biases too
    x = rng.uniform(0, 1, (9, net.n_features))
    y = np.eye(4)[rng.integers(0, 4, 9)]
    return net, theta, Dataset(x, y, "images", IMAGE)


# ------------------------------------------------------------ the convolution

@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_the_layer_is_a_direct_convolution(kernel):
    rng = np.random.default_rng(0)
    layer = ConvResidual((5, 4), 3, kernel, activation="tanh")
    net = ResNet(20 * 3, 20 * 3, 2, 2, layer=layer)
    p = net.views(net.init_params(rng) + rng.standard_normal(net.n_params))
    Y = rng.standard_normal((4, 60))
    expected = np.tanh(direct_conv(Y, p.K[1], (5, 4)) + np.tile(p.b[1], 20))
    np.testing.assert_allclose(layer.forward(net._layer(p, 1), Y), expected, rtol=1e-13,
                               atol=1e-13)
    # the input vjp is the convolution with the flipped, channel-swapped kernel
    P = rng.standard_normal((4, 60))
    adjoint = direct_conv(P, flipped(p.K[1]), (5, 4))
    linear = ConvResidual((5, 4), 3, kernel, activation="identity")
    np.testing.assert_allclose(linear.vjp(net._layer(p, 1), Y, P, 1.0), adjoint, rtol=1e-13,
                               atol=1e-13)
    # <conv(Y), P> = <Y, conv^T(P)>
    assert np.isclose(np.sum(direct_conv(Y, p.K[1], (5, 4)) * P), np.sum(Y * adjoint))


def test_the_opening_lifts_the_input_channels():
    rng = np.random.default_rng(1)
    opening = ConvOpening((5, 4), 2, 3, kernel=3)
    W, b = rng.standard_normal((3, 3, 2, 3)), rng.standard_normal(3)
    x = rng.standard_normal((2, 40))
    np.testing.assert_allclose(opening.forward(x, W, b), direct_conv(x, W, (5, 4))
                               + np.tile(b, 20), rtol=1e-13, atol=1e-13)
    assert opening.param_shapes() == ((3, 3, 2, 3), (3,))
    assert (opening.n_in, opening.n_out) == (40, 60)


def test_pooling_averages_each_channel():
    rng = np.random.default_rng(2)
    pool = PoolClassifier((5, 4), 3, 4)
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    x = rng.standard_normal((2, 60))
    means = x.reshape(2, 20, 3).mean(axis=1)
    np.testing.assert_allclose(pool.forward(x, W, b), means @ W + b, rtol=1e-13)


# ------------------------------------------------------------ gradients

@pytest.mark.parametrize("classifier", ["flatten", "pool"])
def test_the_network_gradient_matches_finite_differences(classifier):
    net, theta, data = problem(classifier, n_layers=4, gamma=0.01)
    value, grad = net.loss_and_grad(theta, data.x, data.y)
    assert value == net.loss(theta, data.x, data.y)
    fd = finite_differences(lambda: net.loss(theta, data.x, data.y), theta)
    assert rel_error(grad, fd) < 1e-6
    p, g = net.views(theta), net.views(grad)
    for name in p._fields:  # every part is checked, not only the whole
        assert rel_error(getattr(g, name), getattr(net.views(fd), name)) < 1e-6, name


def test_the_layer_vjps_match_finite_differences():
    rng = np.random.default_rng(4)
    layer = ConvResidual((3, 4), 2, 3, activation="smooth_relu")
    net = ResNet(24, 24, 1, 2, layer=layer)
    theta = net.init_params(rng) + 0.3 * rng.standard_normal(net.n_params)
    p = net.views(theta)
    Y, P, h = rng.standard_normal((3, 24)), rng.standard_normal((3, 24)), 0.7
    theta_k = net._layer(p, 0)

    def objective():  # <h F(Y), P>: its gradients are the vjps
        return h * float(np.sum(layer.forward(theta_k, Y) * P))

    assert rel_error(layer.vjp(theta_k, Y, P, h), finite_differences(objective, Y)) < 1e-6
    grad = np.zeros(net.n_params)
    layer.param_grad(theta_k, Y, P, h, net._layer(net.views(grad), 0))
    assert rel_error(net.views(grad).K[0], finite_differences(objective, p.K[0])) < 1e-6
    assert rel_error(net.views(grad).b[0], finite_differences(objective, p.b[0])) < 1e-6


# ------------------------------------------------------------ batched forms

# the im2col of a piece: samples one by one, two rows of the stack, all at once
@pytest.mark.parametrize("chunk", [3000, 20000, 1 << 22], ids=["samples", "rows", "whole"])
@pytest.mark.parametrize("layers", [[1, 4, 7, 10], [9, 6, 3, 0], [3, 0, 11, 5], [6]],
                         ids=["up", "down", "scattered", "one"])
def test_batched_primitives_do_per_row_what_the_per_layer_ones_do(layers, chunk, monkeypatch):
    import pyxbraid.nn.conv
    monkeypatch.setattr(pyxbraid.nn.conv, "CHUNK_BYTES", chunk)
    net, theta, _ = problem(n_layers=12)
    p = net.views(theta)
    rng = np.random.default_rng(7)
    layers = np.array(layers)
    n, batch, h = len(layers), 2, 0.37
    Y, P = rng.standard_normal((2, n, batch, net.width))
    expected_Y, expected_P = Y.copy(), P.copy()
    expected_grad = np.zeros(net.n_params)
    for i, k in enumerate(layers):
        net.step(p, k, expected_Y[i], h)
        net.adjoint_step(p, k, Y[i], expected_P[i], h)
        net.layer_gradient(p, k, Y[i], P[i], net.views(expected_grad))
    assert net.batch_weights(p, batch) is None
    got_Y = Y.copy()
    net.step_batch(p, layers, got_Y, h)
    assert relative(got_Y, expected_Y) < 1e-12
    derivatives = net.derivatives(p, layers, Y)
    assert derivatives.shape == Y.shape
    for given in (dict(), dict(derivatives=derivatives)):
        got_P = P.copy()
        net.adjoint_step_batch(p, layers, None if given else Y, got_P, h, **given)
        assert relative(got_P, expected_P) < 1e-12
        grad = np.zeros(net.n_params)
        net.layer_gradient_batch(p, layers, Y, P, net.views(grad), **given)
        assert relative(grad, expected_grad) < 1e-12


# ------------------------------------------------------------ layer-parallel

SOLVES = {"batched": dict(), "per_point": dict(batch=False)}


def exact_gradients(classifier, comm=None):
    """Layer-parallel exact-mode gradients (batched and per point) and serial backprop's."""
    return layer_parallel_and_serial(*problem(classifier), SOLVES, comm)


def check_exact(r):
    gradcheck.check_exact(r, SOLVES)


@pytest.mark.parametrize("classifier", ["flatten", "pool"])
def test_exact_layer_parallel_gradient_is_serial_backprops(tmp_path, classifier):
    check_exact(exact_gradients(classifier))
    for nranks in (2, 3, 4) if classifier == "flatten" else (2,):
        out = tmp_path / f"g{nranks}.npz"
        run = run_mpi(nranks, [SCRIPT, "gradient", classifier, out], timeout=180)
        assert run.returncode == 0, run.stderr
        check_exact(np.load(out))


def test_trains_layer_parallel_one_shot():
    """Adam steps: exact layer-parallel follows serial training, one-shot
    lowers the loss as well."""
    net, theta0, data = problem()
    thetas = {name: train(objective, Adam(0.02), theta0, data, 5) for name, objective in (
        ("serial", Serial(net)),
        ("exact", LayerParallel(net, mode="exact", tol=1e-12, max_levels=3)),
        ("one-shot", LayerParallel(net, mode="one-shot", max_levels=3)))}
    assert relative(thetas["exact"], thetas["serial"]) < 1e-9
    loss0 = net.loss(theta0, data.x, data.y)
    assert net.loss(thetas["serial"], data.x, data.y) < 0.9 * loss0
    assert net.loss(thetas["one-shot"], data.x, data.y) < 0.9 * loss0


def owned_against_replicated(comm=None):
    """Exact-mode Adam steps with owner-only parameters and with replicated
    ones: the largest difference of the weights relative to their largest
    (on rank 0), and how far they moved."""
    net, theta0, data = problem()
    weights = {}
    for parameters in ("replicated", "owned"):
        lp = LayerParallel(net, comm, parameters=parameters, mode="exact", tol=1e-12,
                           max_levels=3)
        theta = train(lp, Adam(0.02), lp.local_parameters(theta0), data, 5, copy=False)
        weights[parameters] = lp.full_parameters(theta)
    replicated = weights["replicated"]
    if weights["owned"] is None:  # not rank 0
        return {}
    return dict(difference=np.abs(weights["owned"] - replicated).max() / np.abs(replicated).max(),
                moved=np.abs(replicated - theta0).max())


def test_owned_parameters_train_as_replicated_ones(tmp_path):
    out = tmp_path / "owned.npz"
    run = run_mpi(3, [SCRIPT, "owned", "-", out], timeout=180)
    assert run.returncode == 0, run.stderr
    r = np.load(out)
    assert r["moved"] > 1e-3 and r["difference"] < 1e-10


# ------------------------------------------------------------ the network

def test_parameters_and_shapes():
    for classifier, classes_in in (("flatten", 60), ("pool", 3)):
        net = conv_net(classifier, n_layers=5)
        assert (net.n_features, net.width) == (40, 60)
        p = net.views(np.arange(float(net.n_params)))
        assert p._fields == ("W_o", "b_o", "K", "b", "W_c", "b_c")
        assert p.W_o.shape == (3, 3, 2, 3) and p.b_o.shape == (3,)
        assert p.K.shape == (5, 3, 3, 3, 3) and p.b.shape == (5, 3)
        assert p.W_c.shape == (classes_in, 4) and p.b_c.shape == (4,)
        assert net.n_params == 54 + 3 + 5 * (81 + 3) + classes_in * 4 + 4
    drawn = conv_net().views(conv_net().init_params(np.random.default_rng(0)))
    assert not drawn.b.any() and not drawn.b_o.any() and not drawn.b_c.any()
    assert abs(drawn.K.std() - 1 / np.sqrt(27)) < 0.02  # N(0, 1 / (k*k*C))
    assert ResNet.conv(IMAGE, 3, 5, 4, T=1.2, activation="tanh").n_params == \
        conv_net().n_params


def test_dense_ends_are_the_default():
    net = ResNet(3, 6, 4, 2)
    assert isinstance(net.opening, DenseMap) and isinstance(net.classifier, DenseMap)
    assert repr(net) == ("ResNet(n_features=3, width=6, n_layers=4, n_classes=2, T=1.0, "
                         "activation='smooth_relu')")
    assert "classifier=PoolClassifier(image=(5, 4), 3 channels)" in repr(conv_net("pool"))


def test_no_natural_gradient():
    net, theta, data = problem(n_layers=3)
    assert net.n_dense_layers is None
    with pytest.raises(ValueError, match="model: NaturalGradientSGD needs"):
        NaturalGradientSGD(net, 0.1)
    dense = NaturalGradientSGD(ResNet(40, 60, 3, 4), 0.1)
    with pytest.raises(ValueError, match=r"preconditioners: ConvOpening\(.*\) takes none"):
        net.loss_and_grad(theta, data.x, data.y, preconditioners=dense.preconditioners)
    with pytest.raises(ValueError, match=r"preconditioner: the opening ConvOpening"):
        net.opening_gradient(theta, data.x, np.zeros((9, 60)), np.zeros(net.n_params),
                             dense.preconditioners[0])


@pytest.mark.parametrize("make, message", [
    (lambda: conv_resnet((8, 8), 3, 4, 2), r"image: expected \(channels, height, width\)"),
    (lambda: conv_resnet((1, 8, 8), 3, 4, 2, kernel=2), "kernel: expected an odd int >= 1"),
    (lambda: conv_resnet((1, 8, 8), 0, 4, 2), "channels: expected an int >= 1, got 0"),
    (lambda: conv_resnet((1, 8, 8), 3, 4, 2, classifier="max"),
     "classifier: expected one of flatten, pool, got 'max'"),
    (lambda: conv_resnet((1, 8, 8), 3, 4, 0), "n_classes: expected an int >= 1"),
    (lambda: ResNet(64, 100, 4, 2, layer=ConvResidual((8, 8), 3)),
     r"width: ConvResidual\(.*\) steps states of width 8\*8\*3 = 192, got 100"),
    (lambda: ResNet(64, 192, 4, 2, opening=ConvOpening((8, 8), 2, 3)),
     r"opening: expected a map of 64 -> 192 values per row, got ConvOpening"),
    (lambda: ResNet(64, 192, 4, 2, classifier=object()),
     "classifier: expected a pyxbraid.nn.ends.EndMap, got object"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


if __name__ == "__main__":   # under mpirun: rank 0 writes the results to argv[3]
    from mpi4py import MPI
    command, argument = sys.argv[1], sys.argv[2]
    found = exact_gradients(argument) if command == "gradient" else owned_against_replicated()
    if MPI.COMM_WORLD.rank == 0:
        np.savez(sys.argv[3], **found)
