"""pyxbraid.nn: every gradient against central finite differences, Trask's XOR
update by hand, the flat-vector views, the pluggable GEMM, and argument errors."""
import numpy as np
import pytest

from gradcheck import H, finite_differences, rel_error

from pyxbraid.nn import (MLP, Dense, Identity, MeanSquaredError, ReLU, Sigmoid, SmoothReLU,
                         SoftmaxCrossEntropy, SumSquaredError, Tanh, gemm, gemm_backend,
                         get_activation, get_gemm_backend, get_loss, set_gemm_backend)

ACTIVATIONS = [Identity(), Sigmoid(), Tanh(), ReLU(), SmoothReLU(), SmoothReLU(eta=0.5)]
XOR_X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=float)


def away_from_kinks(rng, shape, activation):
    """Random pre-activations at least 0.01 from where the derivative jumps."""
    z = rng.uniform(-3, 3, shape)
    eta = getattr(activation, "eta", 0.0)
    for kink in {"relu": [0.0], "smooth_relu": [-eta, eta]}.get(activation.name, []):
        z[np.abs(z - kink) < 0.01] += 0.02
    return z


def activation_id(act):
    return f"{act.name}{getattr(act, 'eta', '')}"


# activations

@pytest.mark.parametrize("act", ACTIVATIONS, ids=activation_id)
def test_activation_backward_matches_finite_differences(act):
    rng = np.random.default_rng(1)
    z = away_from_kinks(rng, (5, 4), act)
    grad_a = rng.standard_normal(z.shape)
    a = act.forward(z)
    fd = grad_a * (act.forward(z + H) - act.forward(z - H)) / (2 * H)
    assert rel_error(act.backward(z, a, grad_a), fd) < 1e-6


def test_sigmoid_is_stable_for_large_arguments():
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        a = Sigmoid().forward(np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0]))
    np.testing.assert_allclose(a, [0.0, np.exp(-40.0), 0.5, 1.0, 1.0], rtol=1e-12, atol=0)


def test_smooth_relu_pieces_and_c1_joins():
    act = SmoothReLU(eta=0.1)
    z = np.array([-1.0, -0.1, 0.0, 0.05, 0.1, 2.0])
    np.testing.assert_allclose(act.forward(z), [0.0, 0.0, 0.025, 0.05625, 0.1, 2.0], rtol=1e-14)
    slopes = act.backward(z, act.forward(z), np.ones_like(z))
    np.testing.assert_allclose(slopes, [0.0, 0.0, 0.5, 0.75, 1.0, 1.0], rtol=1e-14)


def test_get_activation():
    assert isinstance(get_activation("smooth_relu"), SmoothReLU)
    tanh = Tanh()
    assert get_activation(tanh) is tanh
    with pytest.raises(ValueError, match="unknown activation 'swish'; known: "
                                         "identity, sigmoid, tanh, relu, smooth_relu"):
        get_activation("swish")
    with pytest.raises(ValueError, match="eta"):
        SmoothReLU(eta=0.0)


# losses

def loss_cases():
    rng = np.random.default_rng(2)
    pred = rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, 6)
    return [pytest.param(SumSquaredError(), pred, rng.standard_normal((6, 4)), id="sse"),
            pytest.param(MeanSquaredError(), pred, rng.standard_normal((6, 4)), id="mse"),
            pytest.param(SoftmaxCrossEntropy(), pred, labels, id="ce-labels"),
            pytest.param(SoftmaxCrossEntropy(), pred, np.eye(4)[labels], id="ce-onehot")]


@pytest.mark.parametrize("loss, pred, target", loss_cases())
def test_loss_grad_matches_finite_differences(loss, pred, target):
    pred = pred.copy()
    fd = finite_differences(lambda: loss.value(pred, target), pred)
    assert rel_error(loss.grad(pred, target), fd) < 1e-6


def test_loss_values_by_hand():
    pred, target = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.0, 2.0], [1.0, 4.0]])
    assert SumSquaredError().value(pred, target) == 0.5 * (1 + 4)
    assert MeanSquaredError().value(pred, target) == (1 + 4) / 4
    logits = np.array([[0.0, np.log(3.0)], [1000.0, 0.0]])  # the second row would overflow exp
    ce = SoftmaxCrossEntropy()
    expected = (np.log(4.0) + 0.0) / 2  # -log(1/4), -log(1)
    assert ce.value(logits, np.array([0, 0])) == pytest.approx(expected, rel=1e-14)
    one_hot = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert ce.value(logits, one_hot) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(ce.grad(logits, np.array([0, 0])), [[-0.375, 0.375], [0.0, 0.0]],
                               atol=1e-15)


def test_loss_errors():
    with pytest.raises(ValueError, match=r"pred \(2, 3\), target \(2, 2\)"):
        SumSquaredError().value(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"pred \(2, 3\), target \(3,\)"):
        MeanSquaredError().grad(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"pred \(2, 3\), target \(2, 4\)"):
        SoftmaxCrossEntropy().value(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        SoftmaxCrossEntropy().grad(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="labels must be integers"):
        SoftmaxCrossEntropy().value(np.zeros((2, 3)), np.array([0.0, 1.0]))
    assert isinstance(get_loss("softmax_cross_entropy"), SoftmaxCrossEntropy)
    with pytest.raises(ValueError, match="unknown loss 'hinge'.*sse, mse, softmax_cross_entropy"):
        get_loss("hinge")


# Dense

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("act", ACTIVATIONS, ids=activation_id)
def test_dense_grads_match_finite_differences(act, bias):
    rng = np.random.default_rng(3)
    layer = Dense(4, 3, bias=bias, activation=act)
    x = rng.standard_normal((5, 4))
    W = rng.standard_normal((4, 3))
    b = rng.standard_normal(3) if bias else None
    upstream = rng.standard_normal((5, 3))

    def objective():  # L = sum(upstream * a), so dL/da = upstream
        return float(np.sum(upstream * layer.forward(x, W, b, cache=False)))

    layer.forward(x, W, b)
    grad_W, grad_b = np.full((4, 3), np.nan), (np.full(3, np.nan) if bias else None)
    grad_x = layer.backward(upstream, grad_W, grad_b)
    assert rel_error(grad_W, finite_differences(objective, W)) < 1e-6
    assert rel_error(grad_x, finite_differences(objective, x)) < 1e-6
    if bias:
        assert rel_error(grad_b, finite_differences(objective, b)) < 1e-6
    assert layer.backward(upstream, grad_W, grad_b, want_grad_x=False) is None


def test_dense_checks_parameter_shapes():
    layer = Dense(4, 3)
    with pytest.raises(ValueError, match=r"W: expected shape \(4, 3\), got \(3, 4\)"):
        layer.forward(np.zeros((2, 4)), np.zeros((3, 4)), np.zeros(3))
    with pytest.raises(ValueError, match=r"b: expected shape \(3,\), got None"):
        layer.forward(np.zeros((2, 4)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="b: layer has no bias"):
        Dense(4, 3, bias=False).forward(np.zeros((2, 4)), np.zeros((4, 3)), np.zeros(3))


# MLP

MLP_CASES = {
    "xor-sigmoid-sse-nobias": dict(sizes=[3, 4, 1], activation="sigmoid", bias=False, loss="sse"),
    "tanh-softmax-ce-bias": dict(sizes=[5, 7, 6, 3], activation="tanh",
                                 output_activation="identity", bias=True,
                                 loss="softmax_cross_entropy"),
    "smooth-relu-mse": dict(sizes=[4, 8, 2], activation="smooth_relu", bias=True, loss="mse"),
}


def data_for(net, rng, batch=6, one_hot=False):
    x = rng.standard_normal((batch, net.sizes[0]))
    if net.loss_function.takes_labels:
        labels = rng.integers(0, net.sizes[-1], batch)
        return x, np.eye(net.sizes[-1])[labels] if one_hot else labels
    return x, rng.uniform(0, 1, (batch, net.sizes[-1]))


@pytest.mark.parametrize("case", list(MLP_CASES))
def test_mlp_gradient_matches_finite_differences(case):
    rng = np.random.default_rng(4)
    net = MLP(**MLP_CASES[case])
    w = net.init_params(rng, scheme="xavier")
    if net.layers[0].bias:
        w += 0.1 * rng.standard_normal(net.n_params)  # nonzero biases
    for one_hot in (False, True) if net.loss_function.takes_labels else (False,):
        x, y = data_for(net, rng, one_hot=one_hot)
        value, grad = net.loss_and_grad(w, x, y)
        assert value == net.loss(w, x, y)
        assert grad.shape == (net.n_params,)
        assert rel_error(grad, finite_differences(lambda: net.loss(w, x, y), w)) < 1e-6


def test_xor_update_is_trasks():
    net = MLP([3, 4, 1], activation="sigmoid", bias=False, loss="sse")
    w = net.init_params(np.random.default_rng(5))
    syn0, syn1 = (W.copy() for W, _ in net.views(w))
    _, grad = net.loss_and_grad(w, XOR_X, XOR_Y)
    stepped = net.views(w - 1.0 * grad)

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))
    l1 = sigmoid(XOR_X @ syn0)
    l2 = sigmoid(l1 @ syn1)
    l2_delta = (XOR_Y - l2) * l2 * (1 - l2)
    l1_delta = l2_delta @ syn1.T * l1 * (1 - l1)
    syn1 += l1.T @ l2_delta
    syn0 += XOR_X.T @ l1_delta
    np.testing.assert_allclose(stepped[0][0], syn0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(stepped[1][0], syn1, rtol=0, atol=1e-12)
    assert stepped[0][1] is None and stepped[1][1] is None


def test_xor_net_learns_xor():
    net = MLP([3, 4, 1], activation="sigmoid", bias=False, loss="sse")
    w = net.init_params(np.random.default_rng(1))
    grad = np.empty(net.n_params)
    for _ in range(3000):
        net.loss_and_grad(w, XOR_X, XOR_Y, grad=grad)
        w -= grad
    assert net.accuracy(w, XOR_X, XOR_Y) == 1.0
    assert net.loss(w, XOR_X, XOR_Y) < 0.01


def test_accuracy_for_classification():
    net = MLP([2, 3], activation="identity", loss="softmax_cross_entropy")
    w = np.zeros(net.n_params)
    W, b = net.views(w)[0]
    W[...] = [[1, 0, 0], [0, 1, 0]]
    b[2] = -0.5
    x = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 3.0], [-1.0, -1.0]])  # argmax 0, 1, 1, 2
    labels = np.array([0, 1, 0, 2])
    assert net.accuracy(w, x, labels) == 0.75
    assert net.accuracy(w, x, np.eye(3)[labels]) == 0.75


def test_views_are_views_and_grad_is_written_in_place():
    net = MLP([3, 4, 2], activation="tanh", bias=True, loss="mse")
    w = net.init_params(np.random.default_rng(6))
    views = net.views(w)
    assert [(W.shape, b.shape) for W, b in views] == [((3, 4), (4,)), ((4, 2), (2,))]
    assert net.n_params == 3 * 4 + 4 + 4 * 2 + 2
    w[0] = 42.0
    w[12] = -7.0  # the first bias entry follows W row-major
    w[-1] = 3.0
    assert views[0][0][0, 0] == 42.0 and views[0][1][0] == -7.0 and views[1][1][-1] == 3.0
    assert all(np.shares_memory(v, w) for pair in views for v in pair)

    x, y = data_for(net, np.random.default_rng(7))
    _, fresh = net.loss_and_grad(w, x, y)
    grad = np.full(net.n_params, np.nan)
    seen_outs = []

    def recording(a, b, **kwargs):
        seen_outs.append(kwargs["out"])
        return np.matmul(a.T if kwargs["trans_a"] else a, b.T if kwargs["trans_b"] else b,
                         out=kwargs["out"])
    with gemm_backend(recording):
        _, returned = net.loss_and_grad(w, x, y, grad=grad)
    assert returned is grad
    np.testing.assert_array_equal(grad, fresh)
    # every weight gradient was produced straight into the flat vector
    written = [out for out in seen_outs if out is not None]
    assert len(written) == len(net.layers) and all(np.shares_memory(out, grad) for out in written)


def test_init_schemes():
    net = MLP([3, 5, 2], bias=True)
    uniform = net.init_params(np.random.default_rng(8))
    xavier = net.init_params(np.random.default_rng(8), scheme="xavier")
    for (W, b), (Wx, bx), (n_in, n_out) in zip(net.views(uniform), net.views(xavier),
                                               [(3, 5), (5, 2)]):
        assert np.all(np.abs(W) <= 1) and np.all(b == 0) and np.all(bx == 0)
        assert np.all(np.abs(Wx) <= np.sqrt(6 / (n_in + n_out)))
    # "uniform" with no biases is Trask's 2 * random((3, 4)) - 1, then 2 * random((4, 1)) - 1
    xor = MLP([3, 4, 1], bias=False)
    rng = np.random.default_rng(9)
    expected = np.concatenate([(2 * rng.random((3, 4)) - 1).ravel(),
                               (2 * rng.random((4, 1)) - 1).ravel()])
    np.testing.assert_array_equal(xor.init_params(np.random.default_rng(9)), expected)
    with pytest.raises(ValueError, match="scheme: unknown 'he'"):
        net.init_params(np.random.default_rng(0), scheme="he")



def test_trask_init_is_normal_mean_minus_0_1_std_0_2():
    net = MLP([200, 300, 2], bias=True)
    w = net.init_params(np.random.RandomState(3), scheme="trask")
    weights = np.concatenate([W.ravel() for W, _ in net.views(w)])
    n = weights.size  # 60,600
    # five standard errors: the mean's is 0.2/sqrt(n), the standard deviation's 0.2/sqrt(2n)
    assert abs(weights.mean() + 0.1) < 5 * 0.2 / np.sqrt(n)
    assert abs(weights.std() - 0.2) < 5 * 0.2 / np.sqrt(2 * n)
    assert all(np.all(b == 0) for _, b in net.views(w))
    # no uniform bound: about a third of N(-0.1, 0.2^2) lies below -0.2, some below -0.7
    assert np.mean(weights < -0.2) > 0.3 and weights.min() < -0.7


def test_trask_init_is_trasks_randn_layer_by_layer():
    """Trask's Layer: weights = randn(input_dim, output_dim) * 0.2 - 0.1, in
    layer order, from numpy's legacy stream (elementwise arithmetic: exact)."""
    net = MLP([24, 128, 64, 12], bias=False)
    w = net.init_params(np.random.RandomState(1), scheme="trask")
    np.random.seed(1)
    expected = [np.random.randn(n_in, n_out) * 0.2 - 0.1
                for n_in, n_out in [(24, 128), (128, 64), (64, 12)]]
    for (W, _), E in zip(net.views(w), expected):
        np.testing.assert_array_equal(W, E)
    assert w.size == 12032

def test_predict_leaves_the_backward_cache_alone():
    net = MLP([3, 4, 1], bias=False)
    w = net.init_params(np.random.default_rng(10))
    out = net.forward(w, XOR_X)
    cached = [layer.a for layer in net.layers]
    # two rows against four: BLAS may take another kernel, so equal to round-off
    np.testing.assert_allclose(net.predict(w, XOR_X[:2]), out[:2], rtol=1e-13)
    assert all(layer.a is a for layer, a in zip(net.layers, cached))


# gemm

def test_gemm_transposes_and_out():
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    np.testing.assert_allclose(gemm(a, b), a @ b, rtol=1e-14)
    np.testing.assert_allclose(gemm(a.T.copy(), b, trans_a=True), a @ b, rtol=1e-14)
    np.testing.assert_allclose(gemm(a, b.T.copy(), trans_b=True), a @ b, rtol=1e-14)
    np.testing.assert_allclose(gemm(b, a, trans_a=True, trans_b=True), (a @ b).T, rtol=1e-14)
    out = np.empty((3, 5))
    assert gemm(a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-14)


def test_gemm_shape_errors():
    a, b = np.zeros((3, 4)), np.zeros((5, 4))
    with pytest.raises(ValueError, match=r"op\(a\) is 3x4 .*op\(b\) is 5x4"):
        gemm(a, b)
    with pytest.raises(ValueError, match=r"out must be a float64 array of shape \(3, 5\), "
                                         r"got float64 of shape \(5, 3\)"):
        gemm(a, b, trans_b=True, out=np.zeros((5, 3)))
    with pytest.raises(ValueError,
                       match=r"a must be a 2-D float64 array, got float64 of shape \(4,\)"):
        gemm(np.zeros(4), b)
    with pytest.raises(ValueError, match="b must be a 2-D float64 array, got int64"):
        gemm(a, np.zeros((4, 2), dtype=np.int64))


def test_plugged_backend_is_used_by_mlp_and_restored():
    default = get_gemm_backend()
    calls = []

    def counting(a, b, *, trans_a=False, trans_b=False, out=None):
        calls.append((trans_a, trans_b))
        return default(a, b, trans_a=trans_a, trans_b=trans_b, out=out)

    net = MLP([3, 4, 1], bias=False)
    w = net.init_params(np.random.default_rng(12))
    with gemm_backend(counting):
        assert get_gemm_backend() is counting
        net.loss_and_grad(w, XOR_X, XOR_Y)
    # forward: 2; backward: grad_W of both layers, grad_x of the second only
    assert calls == [(False, False), (False, False), (True, False), (False, True), (True, False)]
    assert get_gemm_backend() is default
    with pytest.raises(RuntimeError), gemm_backend(counting):
        raise RuntimeError
    assert get_gemm_backend() is default
    replaced, restored = set_gemm_backend(counting), set_gemm_backend(default)
    assert replaced is default and restored is counting
    with pytest.raises(TypeError, match="callable"):
        set_gemm_backend("numpy")


# argument errors

@pytest.mark.parametrize("sizes", [[3], [], [3, 0, 1], [3, 2.5, 1], [3, -1], "34", 3, [3, True]])
def test_mlp_rejects_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes: expected at least 2 positive ints"):
        MLP(sizes)


def test_mlp_rejects_unknown_activation_and_loss():
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        MLP([3, 2], activation="gelu")
    with pytest.raises(ValueError, match="unknown activation 'softmax'"):
        MLP([3, 2], output_activation="softmax")
    with pytest.raises(ValueError, match="unknown loss 'nll'"):
        MLP([3, 2], loss="nll")


def test_mlp_rejects_bad_x_y_w_grad():
    net = MLP([3, 4, 1], bias=False)
    w = net.init_params(np.random.default_rng(13))
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, 3\), got \(4, 2\)"):
        net.loss_and_grad(w, np.zeros((4, 2)), XOR_Y)
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, 3\), got \(3,\)"):
        net.forward(w, np.zeros(3))
    with pytest.raises(ValueError, match=r"y: expected shape \(4, 1\), got \(4,\)"):
        net.loss(w, XOR_X, XOR_Y.ravel())
    with pytest.raises(ValueError, match=r"y: expected shape \(4, 1\), got \(3, 1\)"):
        net.accuracy(w, XOR_X, XOR_Y[:3])
    with pytest.raises(ValueError, match=r"w: expected shape \(16,\).*got \(15,\)"):
        net.loss(w[:-1], XOR_X, XOR_Y)
    with pytest.raises(ValueError, match="w: expected dtype float64, got float32"):
        net.views(w.astype(np.float32))
    with pytest.raises(ValueError, match="w: must be C-contiguous"):
        net.views(np.zeros(2 * net.n_params)[::2])
    with pytest.raises(ValueError, match=r"grad: expected shape \(16,\).*got \(17,\)"):
        net.loss_and_grad(w, XOR_X, XOR_Y, grad=np.zeros(17))
    classifier = MLP([3, 2], activation="identity", loss="softmax_cross_entropy")
    with pytest.raises(ValueError,
                       match=r"y: expected shape \(4, 2\) or labels \(4,\), got \(4, 3\)"):
        classifier.loss(classifier.init_params(np.random.default_rng(0)), XOR_X, np.zeros((4, 3)))


def test_glorot_uniform_draws():
    """One rng.uniform draw on [-l, l], l = sqrt(6 / (fan_in + fan_out)):
    the same draws as before it was shared by MLP and ResNet."""
    from pyxbraid.nn.init import glorot_uniform

    # fan_in + fan_out = 6: l = 1
    np.testing.assert_array_equal(glorot_uniform(np.random.default_rng(5), (2, 4)),
                                  np.random.default_rng(5).uniform(-1.0, 1.0, (2, 4)))
    net = MLP([3, 5, 2])
    rng = np.random.default_rng(8)
    expected = []
    for n_in, n_out in ((3, 5), (5, 2)):
        limit = np.sqrt(6.0 / (n_in + n_out))
        expected += [rng.uniform(-limit, limit, (n_in, n_out)).ravel(), np.zeros(n_out)]
    np.testing.assert_array_equal(net.init_params(np.random.default_rng(8), scheme="xavier"),
                                  np.concatenate(expected))


@pytest.mark.parametrize("kwargs, text", [
    (dict(sizes=[2, 8, 1], activation="tanh"), "MLP(sizes=[2, 8, 1], activation='tanh')"),
    (dict(sizes=(3, 4, 1), bias=False), "MLP(sizes=[3, 4, 1], activation='sigmoid', bias=False)"),
    (dict(sizes=[2, 8, 3], activation="relu", output_activation="identity",
          loss="softmax_cross_entropy"),
     "MLP(sizes=[2, 8, 3], activation='relu', output_activation='identity', "
     "loss='softmax_cross_entropy')"),
    (dict(sizes=[2, 1], activation=SmoothReLU(eta=0.5)),
     "MLP(sizes=[2, 1], activation='smooth_relu')"),
])
def test_mlp_repr(kwargs, text):
    assert repr(MLP(**kwargs)) == text
