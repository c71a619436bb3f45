"""pyxbraid.nn.resnet: the gradient and the adjoint states against central finite
differences, the primitives against serial backprop bit for bit, the flat-vector
views, the regularization by hand, argument errors, and GEMM for every product."""
import numpy as np
import pytest

from gradcheck import finite_differences, rel_error

from pyxbraid.nn import get_gemm_backend, gemm_backend
from pyxbraid.nn.activations import ReLU, SmoothReLU, Tanh
from pyxbraid.nn.resnet import ResNet, ResNetParams

SMALL = dict(n_features=2, width=3, n_layers=4, n_classes=5)
BATCH = 7


def setup(seed=0, batch=BATCH, one_hot=False, **kwargs):
    """A small net, theta with nonzero biases, and data."""
    net = ResNet(**{**SMALL, **kwargs})
    rng = np.random.default_rng(seed)
    theta = net.init_params(rng) + 0.3 * rng.standard_normal(net.n_params)
    x = rng.standard_normal((batch, net.n_features))
    labels = rng.integers(0, net.n_classes, batch)
    return net, theta, x, np.eye(net.n_classes)[labels] if one_hot else labels


# gradients

@pytest.mark.parametrize("activation", ["smooth_relu", "tanh"])
@pytest.mark.parametrize("gammas", [(0.0, 0.0), (0.05, 0.02)])
@pytest.mark.parametrize("one_hot", [False, True])
def test_gradient_matches_finite_differences(activation, gammas, one_hot):
    net, theta, x, y = setup(activation=activation, opening_activation="tanh", T=2.0,
                             gamma_t=gammas[0], gamma_d=gammas[1], one_hot=one_hot)
    value, grad = net.loss_and_grad(theta, x, y)
    assert value == net.loss(theta, x, y)
    assert grad.shape == (net.n_params,) and grad.dtype == np.float64
    assert rel_error(grad, finite_differences(lambda: net.loss(theta, x, y), theta)) < 1e-6


def test_relu_gradient_matches_finite_differences():
    """ReLU's kinks: an H-step that crosses one costs O(H) in a few entries."""
    net, theta, x, y = setup(seed=1, activation="relu", gamma_t=0.05, gamma_d=0.02)
    _, grad = net.loss_and_grad(theta, x, y)
    assert rel_error(grad, finite_differences(lambda: net.loss(theta, x, y), theta)) < 1e-4


@pytest.mark.parametrize("activation", ["smooth_relu", "tanh", "identity"])
def test_adjoint_states_match_finite_differences(activation):
    """P_k = dJ/dY_k, J perturbed at Y_k and propagated forward from there."""
    net, theta, x, y = setup(seed=2, activation=activation)
    states = net.forward(theta, x)
    scratch = np.zeros(net.n_params)

    def loss_from(k, Y_k):
        Y = Y_k.copy()
        for j in range(k, net.n_layers):
            net.step(theta, j, Y, net.h)
        return net.classify(theta, Y, y, scratch)[0]

    P = net.classify(theta, states[-1], y, scratch)[1]
    adjoints = [P.copy()]
    for k in reversed(range(net.n_layers)):
        net.adjoint_step(theta, k, states[k], P, net.h)
        adjoints.insert(0, P.copy())
    for k, P_k in enumerate(adjoints):
        Y_k = states[k].copy()
        assert rel_error(P_k, finite_differences(lambda: loss_from(k, Y_k), Y_k)) < 1e-6


# serial backprop and the primitives

def test_step_with_self_h_reproduces_forward_and_predict():
    net, theta, x, y = setup(seed=3)
    states = net.forward(theta, x)
    assert len(states) == net.n_layers + 1
    Y = net.open(theta, x)
    np.testing.assert_array_equal(Y, states[0])
    for k in range(net.n_layers):
        net.step(theta, k, Y, net.h)
        np.testing.assert_array_equal(Y, states[k + 1])
    p = net.views(theta)
    np.testing.assert_allclose(net.predict(theta, x), states[-1] @ p.W_c + p.b_c, rtol=1e-13)
    # a coarse level's step: layer 0's weights, its own h
    Y = states[0].copy()
    net.step(theta, 0, Y, 2 * net.h)
    z = states[0] @ p.K[0].T + p.b[0]
    np.testing.assert_allclose(Y, states[0] + 2 * net.h * SmoothReLU().forward(z), rtol=1e-14)


def test_loss_and_grad_is_the_primitives_and_writes_grad_in_place():
    net, theta, x, y = setup(seed=4, gamma_t=0.1, gamma_d=0.3)
    _, fresh = net.loss_and_grad(theta, x, y)
    grad = np.full(net.n_params, np.nan)  # zeroed first
    value, returned = net.loss_and_grad(theta, x, y, grad=grad)
    assert returned is grad
    np.testing.assert_array_equal(grad, fresh)
    # the same sequence of calls, by hand, gives the same bits
    by_hand = np.zeros(net.n_params)
    states = net.forward(theta, x)
    loss, P = net.classify(theta, states[-1], y, by_hand)
    for k in reversed(range(net.n_layers)):
        net.layer_gradient(theta, k, states[k], P, by_hand)
        net.adjoint_step(theta, k, states[k], P, net.h)
    net.opening_gradient(theta, x, P, by_hand)
    assert value == loss + net.regularization(theta, by_hand)
    np.testing.assert_array_equal(by_hand, grad)


def test_primitives_add_into_grad_and_touch_only_their_blocks():
    net, theta, x, y = setup(seed=5, activation="tanh")  # act' > 0: no zero rows
    states = net.forward(theta, x)
    P = np.random.default_rng(6).standard_normal(states[0].shape)
    start = np.random.default_rng(7).standard_normal(net.n_params)
    calls = {
        ("K", "b"): lambda g: net.layer_gradient(theta, 1, states[1], P, g),
        ("W_c", "b_c"): lambda g: net.classify(theta, states[-1], y, g),
        ("W_o", "b_o"): lambda g: net.opening_gradient(theta, x, P, g),
    }
    for blocks, call in calls.items():
        alone, onto = np.zeros(net.n_params), start.copy()
        call(alone)
        call(onto)
        np.testing.assert_array_equal(onto, start + alone)  # one addition per entry
        assert {name for name, v in net.views(alone)._asdict().items() if np.any(v)} == set(blocks)
    alone = np.zeros(net.n_params)
    net.layer_gradient(theta, 1, states[1], P, alone)
    g = net.views(alone)
    assert np.all(g.K[1]) and np.all(g.b[1])
    assert not np.any(np.delete(g.K, 1, axis=0)) and not np.any(np.delete(g.b, 1, axis=0))


def test_adjoint_step_does_not_change_y_and_identity_keeps_p_separate():
    net, theta, x, _ = setup(seed=8, activation="identity")
    Y = net.open(theta, x)
    Y_saved = Y.copy()
    P = np.ones_like(Y)
    net.adjoint_step(theta, 0, Y, P, net.h)
    np.testing.assert_array_equal(Y, Y_saved)
    K = net.views(theta).K[0]
    np.testing.assert_allclose(P, 1 + net.h * np.ones_like(Y) @ K, rtol=1e-14)


# parameters

def test_views_are_views_with_the_documented_layout():
    net = ResNet(**SMALL)
    f, w, n, c = 2, 3, 4, 5
    assert net.n_params == f * w + w + n * w * w + n * w + w * c + c
    theta = np.zeros(net.n_params)
    p = net.views(theta)
    assert isinstance(p, ResNetParams)
    assert [v.shape for v in p] == [(f, w), (w,), (n, w, w), (n, w), (w, c), (c,)]
    assert all(np.shares_memory(v, theta) and v.base is theta for v in p)
    theta[:] = np.arange(net.n_params)
    assert p.W_o[0, 1] == 1 and p.b_o[0] == f * w
    assert p.K[1, 0, 2] == f * w + w + w * w + 2  # K_1 follows K_0, row-major
    assert p.b[0, 0] == f * w + w + n * w * w
    assert p.W_c[0, 0] == f * w + w + n * w * w + n * w and p.b_c[-1] == net.n_params - 1
    p.K[3, 2, 2] = -1.0
    assert theta[f * w + w + n * w * w - 1] == -1.0


@pytest.mark.parametrize("bad, message", [
    (np.zeros(76), r"theta: expected shape \(77,\)"),
    (np.zeros((77, 1)), r"theta: expected shape \(77,\)"),
    (np.zeros(77, dtype=np.float32), "theta: expected dtype float64"),
    (np.zeros(154)[::2], "theta: must be C-contiguous"),
    ([0.0] * 77, "theta: expected a numpy array, got list"),
])
def test_views_reject_bad_vectors(bad, message):
    net = ResNet(**SMALL)
    with pytest.raises(ValueError, match=message):
        net.views(bad)
    _, theta, x, y = setup()
    with pytest.raises(ValueError, match=message.replace("theta", "grad")):
        net.loss_and_grad(theta, x, y, grad=bad)


def test_init_params():
    net = ResNet(n_features=4, width=50, n_layers=6, n_classes=3)
    theta = net.init_params(np.random.default_rng(9))
    assert theta.dtype == np.float64 and theta.flags.c_contiguous and theta.shape == (net.n_params,)
    p = net.views(theta)
    assert not np.any(p.b_o) and not np.any(p.b) and not np.any(p.b_c)
    assert np.all(np.abs(p.W_o) <= np.sqrt(6 / (4 + 50)))
    assert np.all(np.abs(p.W_c) <= np.sqrt(6 / (50 + 3)))
    assert abs(p.K.std() * np.sqrt(50) - 1) < 0.05
    half = net.views(net.init_params(np.random.default_rng(9), scale=0.5))
    np.testing.assert_allclose(half.K, 0.5 * p.K, rtol=1e-15)
    np.testing.assert_array_equal(half.W_o, p.W_o)
    np.testing.assert_array_equal(net.init_params(np.random.default_rng(9)), theta)
    with pytest.raises(ValueError, match="scale: expected a finite number >= 0"):
        net.init_params(np.random.default_rng(0), scale=-1.0)


def test_regularization_by_hand():
    net = ResNet(n_features=1, width=1, n_layers=3, n_classes=1, T=1.5, gamma_t=0.5, gamma_d=2.0)
    theta = np.array([1.0, 2.0, 3.0, 5.0, 4.0, -1.0, 0.0, 2.0, 3.0, -2.0])  # W_o b_o K b W_c b_c
    # h = 0.5; K jumps 2, -1; b jumps 1, 2
    assert net.regularization(theta) == 0.25 * 73 + 1.0 * (4 + 1 + 1 + 4) / 0.5
    grad = np.ones(net.n_params)
    assert net.regularization(theta, grad) == 0.25 * 73 + 20.0
    # gamma_d / h = 4 times (K_k - K_{k-1}) - (K_{k+1} - K_k)
    smooth = 4.0 * np.array([0, 0, -2, 2 + 1, -1, -1, 1 - 2, 2, 0, 0])
    np.testing.assert_allclose(grad, 1 + 0.5 * theta + smooth, rtol=1e-15)
    assert ResNet(**SMALL).regularization(np.full(77, 3.0)) == 0.0
    one_layer = ResNet(1, 1, 1, 1, gamma_d=1.0)  # no jumps to penalize
    assert one_layer.regularization(np.arange(6.0)) == 0.0


def test_accuracy():
    net = ResNet(n_features=2, width=2, n_layers=2, n_classes=3, activation="relu")
    theta = np.zeros(net.n_params)
    p = net.views(theta)
    p.W_o[...] = np.eye(2)  # relu(x); K = 0 leaves it alone
    p.W_c[...] = [[1, 0, 0], [0, 1, 0]]
    p.b_c[2] = 0.5
    x = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 3.0], [-1.0, -1.0]])  # argmax 0, 1, 1, 2
    labels = np.array([0, 1, 0, 2])
    assert net.accuracy(theta, x, labels) == 0.75
    assert net.accuracy(theta, x, np.eye(3)[labels]) == 0.75


# every product through gemm

def test_every_product_goes_through_gemm():
    net, theta, x, y = setup(seed=10, gamma_t=0.1, gamma_d=0.1)
    default, calls = get_gemm_backend(), []

    def counting(a, b, *, trans_a=False, trans_b=False, out=None):
        calls.append((trans_a, trans_b))
        return default(a, b, trans_a=trans_a, trans_b=trans_b, out=out)

    def count(fn, *args):
        calls.clear()
        with gemm_backend(counting):
            fn(*args)
        return len(calls)

    states = net.forward(theta, x)
    grad, P = np.zeros(net.n_params), np.ones_like(states[0])
    n = net.n_layers
    assert count(net.open, theta, x) == 1
    assert count(net.step, theta, 0, states[0].copy(), net.h) == 1
    assert count(net.adjoint_step, theta, 0, states[0], P.copy(), net.h) == 2
    assert count(net.layer_gradient, theta, 0, states[0], P, grad) == 2
    assert count(net.classify, theta, states[-1], y, grad) == 3
    assert count(net.opening_gradient, theta, x, P, grad) == 2
    assert count(net.regularization, theta, grad) == 0
    assert count(net.predict, theta, x) == 1 + n + 1
    # open, n steps, classify 3, per layer gradient 2 and adjoint 2, opening 2
    assert count(net.loss_and_grad, theta, x, y) == 1 + n + 3 + 4 * n + 2
    assert get_gemm_backend() is default


# argument errors

@pytest.mark.parametrize("kwargs, message", [
    (dict(n_features=0), "n_features: expected an int >= 1, got 0"),
    (dict(width=2.0), "width: expected an int >= 1, got 2.0"),
    (dict(n_layers=True), "n_layers: expected an int >= 1, got True"),
    (dict(n_classes=-3), "n_classes: expected an int >= 1, got -3"),
    (dict(T=0.0), "T: expected a finite number > 0, got 0.0"),
    (dict(T=float("inf")), "T: expected a finite number > 0, got inf"),
    (dict(T="1"), "T: expected a finite number > 0, got '1'"),
    (dict(gamma_t=-0.1), "gamma_t: expected a finite number >= 0, got -0.1"),
    (dict(gamma_d=float("nan")), "gamma_d: expected a finite number >= 0, got nan"),
    (dict(activation="gelu"), "unknown activation 'gelu'"),
    (dict(opening_activation="softmax"), "unknown activation 'softmax'"),
])
def test_constructor_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet(**{**SMALL, **kwargs})


def test_constructor_attributes():
    net = ResNet(3, 4, 8, 2, T=2.0, activation=Tanh(), gamma_t=0.1, gamma_d=0.2)
    assert (net.n_features, net.width, net.n_layers, net.n_classes) == (3, 4, 8, 2)
    assert (net.T, net.h, net.gamma_t, net.gamma_d) == (2.0, 0.25, 0.1, 0.2)
    assert isinstance(net.activation, Tanh) and net.opening_activation is net.activation
    net = ResNet(3, 4, 8, 2, activation="relu", opening_activation="tanh")
    assert isinstance(net.activation, ReLU) and isinstance(net.opening_activation, Tanh)
    assert isinstance(ResNet(3, 4, 8, 2).activation, SmoothReLU)


def test_primitives_reject_bad_arguments():
    net, theta, x, y = setup(seed=11)
    Y, grad = net.open(theta, x), np.zeros(net.n_params)
    with pytest.raises(ValueError, match=r"k: expected a layer index in \[0, 4\), got 4"):
        net.step(theta, 4, Y, net.h)
    with pytest.raises(ValueError, match=r"k: expected a layer index in \[0, 4\), got -1"):
        net.layer_gradient(theta, -1, Y, Y, grad)
    with pytest.raises(ValueError, match=r"Y: expected a float64 array of shape \(batch, 3\), "
                                         r"got float64 of shape \(7, 2\)"):
        net.step(theta, 0, Y[:, :2], net.h)
    with pytest.raises(ValueError, match=r"P: expected a float64 array of shape \(7, 3\)"):
        net.adjoint_step(theta, 0, Y, Y[:3], net.h)
    with pytest.raises(ValueError, match="P_next: expected a float64 array"):
        net.layer_gradient(theta, 0, Y, Y.astype(np.float32), grad)
    with pytest.raises(ValueError, match=r"P_0: expected a float64 array of shape \(7, 3\)"):
        net.opening_gradient(theta, x, Y[1:], grad)
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, 2\), got \(7, 3\)"):
        net.open(theta, Y)
    with pytest.raises(ValueError, match=r"y: expected labels \(7,\) or one-hot \(7, 5\), "
                                         r"got \(6,\)"):
        net.loss_and_grad(theta, x, y[1:])
    with pytest.raises(ValueError, match="theta: expected shape"):
        net.predict(theta[1:], x)
    with pytest.raises(ValueError, match="grad: expected dtype float64"):
        net.classify(theta, Y, y, grad.astype(np.float32))
    with pytest.raises(ValueError, match="labels must be integers"):
        net.loss(theta, x, y.astype(float))


def test_primitives_take_the_views_and_give_the_same_bits():
    """What a solver splits once per evaluation gives what the flat vector does."""
    net, theta, x, y = setup(gamma_t=0.01, gamma_d=0.02)
    p = net.views(theta)
    flat_loss, flat_grad = net.loss_and_grad(theta, x, y)
    states = net.forward(theta, x)
    np.testing.assert_array_equal(net.open(p, x), states[0])
    for k in range(net.n_layers):
        a, b = states[k].copy(), states[k].copy()
        net.step(theta, k, a, 0.3)
        net.step(p, k, b, 0.3)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(net.predict(p, x), net.predict(theta, x))
    grad = np.zeros(net.n_params)
    g = net.views(grad)
    value, P = net.classify(p, states[-1], y, g)
    for k in reversed(range(net.n_layers)):
        net.layer_gradient(p, k, states[k], P, g)
        net.adjoint_step(p, k, states[k], P, net.h)
    net.opening_gradient(p, x, P, g)
    assert value + net.regularization(theta, grad) == flat_loss
    np.testing.assert_array_equal(grad, flat_grad)


def test_views_of_another_network_are_refused():
    net, theta, x, _ = setup()
    other = ResNet(**{**SMALL, "n_layers": 5})
    p = other.views(other.init_params(np.random.default_rng(0)))
    with pytest.raises(ValueError, match=r"theta: expected views of shapes .* \(this network"):
        net.step(p, 0, net.open(theta, x), net.h)
    with pytest.raises(ValueError, match="grad: expected views of shapes"):
        net.classify(theta, net.open(theta, x), np.zeros(BATCH, dtype=int), p)


def test_resnet_repr():
    assert repr(ResNet(2, 8, 32, 5)) == ("ResNet(n_features=2, width=8, n_layers=32, "
                                         "n_classes=5, T=1.0, activation='smooth_relu')")
    assert repr(ResNet(2, 8, 32, 5, T=2, activation="tanh", opening_activation="relu",
                       gamma_t=1e-4)) == (
        "ResNet(n_features=2, width=8, n_layers=32, n_classes=5, T=2.0, activation='tanh', "
        "opening_activation='relu', gamma_t=0.0001)")
