"""pyxbraid.train.ngsgd: Kaldi's online natural-gradient preconditioner against a
dense reference of the same recursion, its estimate against a known covariance,
the norms it keeps, NG-SGD against SGD on an ill-conditioned regression, exact
resume, the hooks in MLP/Dense, and argument errors."""
import math

import numpy as np
import pytest

from pyxbraid.nn import MLP, Dense, ResNet
from pyxbraid.train.ngsgd import (NUM_INITIAL_UPDATES, DensePreconditioner, NaturalGradientSGD,
                                  OnlineNaturalGradient, apply_max_change)
from pyxbraid.train.optim import SGD


def gaussian_rows(rng, n, cov_factor):
    return rng.standard_normal((n, cov_factor.shape[0])) @ cov_factor.T


def small_mlp_problem(seed=0, sizes=(6, 5, 4), batch=9):
    rng = np.random.default_rng(seed)
    net = MLP(list(sizes), activation="tanh", output_activation="identity",
              loss="softmax_cross_entropy")
    w = net.init_params(rng, "xavier")
    x = rng.standard_normal((batch, sizes[0])) * np.linspace(0.2, 3.0, sizes[0])
    y = rng.integers(0, sizes[-1], batch)
    return net, w, x, y, rng


def layer_blocks(net, vector):
    """[W; b] of each layer of a flat vector, as one matrix per layer."""
    return [np.vstack([W, b[None, :]]) for W, b in net.views(vector)]


# the dense reference: the same recursion with D x D matrices

class DenseReference:
    """F_t = R^T diag(d) R + rho I held explicitly: precondition by solving with
    G = F + alpha/D tr(F) I, update by one power step on T = eta S + (1-eta) F."""

    def __init__(self, R, d, rho, alpha, num_samples_history, epsilon=1e-10, delta=5e-4):
        self.R, self.d, self.rho = R.copy(), d.copy(), rho
        self.alpha, self.nsh, self.epsilon, self.delta = alpha, num_samples_history, epsilon, delta

    def fisher(self):
        return (self.R.T * self.d) @ self.R + self.rho * np.eye(self.R.shape[1])

    def precondition(self, X, update):
        N, D = X.shape
        F = self.fisher()
        X_hat = np.linalg.solve(F + self.alpha / D * np.trace(F) * np.eye(D), X.T).T
        out = X_hat * (np.linalg.norm(X) / np.linalg.norm(X_hat))
        if update:
            eta = min(1.0 - math.exp(-N / self.nsh), 0.9)
            T = eta * X.T @ X / N + (1.0 - eta) * F
            Y = self.R @ T
            c, U = np.linalg.eigh(Y @ Y.T)
            c, U = np.maximum(c[::-1], ((1.0 - eta) * self.rho) ** 2), U[:, ::-1]
            sqrt_c = np.sqrt(c)
            rho = (np.trace(T) - sqrt_c.sum()) / (D - len(c))
            self.R = (U / sqrt_c).T @ Y
            self.d = np.maximum(sqrt_c - rho, self.epsilon)
            self.rho = max(rho, self.epsilon, self.delta * sqrt_c[0])
        return out


def basis_of(pc):
    """R_t = E_t^{-1/2} W_t from a preconditioner's state."""
    s = pc.state()
    d, rho = s["d"], float(s["rho"])
    beta = rho * (1 + pc.alpha) + pc.alpha * d.sum() / s["W"].shape[1]
    return s["W"] * np.sqrt(beta / d + 1.0)[:, None]


@pytest.mark.parametrize("dim, rank, update_period", [(8, 7, 1), (12, 4, 3), (10, 9, 4)])
def test_low_rank_preconditioner_agrees_with_dense_reference(dim, rank, update_period):
    rng = np.random.default_rng(dim)
    factor = rng.standard_normal((dim, dim)) * np.logspace(0, -2, dim)
    pc = OnlineNaturalGradient(rank, update_period=update_period, num_samples_history=50.0)
    pc.precondition(gaussian_rows(rng, 16, factor))
    s = pc.state()
    ref = DenseReference(basis_of(pc), s["d"], float(s["rho"]), pc.alpha, 50.0)
    for t in range(1, 50):
        X = gaussian_rows(rng, 16, factor)
        expected = ref.precondition(X, t < NUM_INITIAL_UPDATES or t % update_period == 0)
        out = pc.precondition(X)
        assert np.abs(out - expected).max() <= 1e-9 * np.abs(expected).max()
        F = pc.fisher()
        assert np.abs(F - ref.fisher()).max() <= 1e-9 * np.abs(F).max()
    R = basis_of(pc)
    assert np.abs(R @ R.T - np.eye(pc.effective_rank)).max() < 1e-8  # rows stay orthonormal


def test_estimate_converges_to_a_spiked_covariance():
    rng = np.random.default_rng(5)
    D = 20
    V = np.linalg.qr(rng.standard_normal((D, 3)))[0]
    cov = np.eye(D) + (V * [50.0, 20.0, 5.0]) @ V.T
    pc = OnlineNaturalGradient(5)
    for _ in range(400):  # 20,000 samples, 10 horizons of num_samples_history
        pc.precondition(gaussian_rows(rng, 50, np.linalg.cholesky(cov)))
    F = pc.fisher()
    assert np.linalg.norm(F - cov) < 0.15 * np.linalg.norm(cov)
    assert float(pc.state()["rho"]) == pytest.approx(1.0, abs=0.1)  # the noise floor
    # what precondition applies, up to the scale gamma: the smoothed inverse of the truth
    inverse = np.linalg.inv(cov + pc.alpha / D * np.trace(cov) * np.eye(D))
    X = gaussian_rows(rng, 50, np.linalg.cholesky(cov))
    out = pc.precondition(X)
    expected = X @ inverse
    expected *= np.linalg.norm(X) / np.linalg.norm(expected)
    assert np.linalg.norm(out - expected) < 0.03 * np.linalg.norm(X)
    # against plain rows, which are off by far more
    assert np.linalg.norm(X - expected) > 0.5 * np.linalg.norm(X)


# the norms it keeps

def test_preconditioned_rows_keep_their_frobenius_norm():
    rng = np.random.default_rng(1)
    factor = rng.standard_normal((30, 30)) * np.logspace(0, -3, 30)
    pc = OnlineNaturalGradient(10)
    # updating and not, more and fewer rows than the rank (a first minibatch of
    # one row would be the estimate's own top eigenvector, and come back unchanged)
    for n in (7, 1, 64, 7, 64, 3) * 4:
        X = gaussian_rows(rng, n, factor)
        out = pc.precondition(X)
        assert np.linalg.norm(out) == pytest.approx(np.linalg.norm(X), rel=1e-12)
        assert not np.allclose(out, X)


@pytest.mark.parametrize("batch", [1, 9])
def test_layer_rescale_gives_the_plain_gradients_norm_per_layer(batch):
    net, w, x, y, rng = small_mlp_problem(batch=batch)
    opt = NaturalGradientSGD(net, 0.1, rank_in=3, rank_out=2, rescale="layer")
    for step in range(12):
        _, plain = net.loss_and_grad(w, x, y)
        _, natural = net.loss_and_grad(w, x, y, preconditioners=opt.preconditioners)
        for p, g in zip(layer_blocks(net, plain), layer_blocks(net, natural)):
            assert np.linalg.norm(g) == pytest.approx(np.linalg.norm(p), rel=1e-12)
            # (a first one-row minibatch is its estimate's top eigenvector: kept)
            assert step == 0 and batch == 1 or \
                not np.allclose(g / np.linalg.norm(g), p / np.linalg.norm(p))
        x = x + 0.1 * rng.standard_normal(x.shape)


def test_kaldi_rescale_gives_the_plain_gradients_norm_for_one_row():
    """rescale='factors': each factor keeps its norm, so a one-row minibatch's
    gradient [x 1]^T g (an outer product) keeps its norm."""
    net, w, x, y, rng = small_mlp_problem(batch=1)
    opt = NaturalGradientSGD(net, 0.1, rank_in=3, rank_out=2)
    assert opt.preconditioners[0].rescale == "factors"
    for _ in range(12):
        _, plain = net.loss_and_grad(w, x, y)
        _, natural = net.loss_and_grad(w, x, y, preconditioners=opt.preconditioners)
        for p, g in zip(layer_blocks(net, plain), layer_blocks(net, natural)):
            assert np.linalg.norm(g) == pytest.approx(np.linalg.norm(p), rel=1e-12)
        x = x + 0.1 * rng.standard_normal(x.shape)


# NG-SGD against SGD

def ill_conditioned_regression():
    """y = x a + 0.5 with 100 features whose scales span 1e3 (two near 1, the
    rest from 0.1 down to 1e-3): the squared-error Hessian's condition number is 1e6."""
    rng = np.random.default_rng(0)
    scales = np.r_[1.0, 0.5, np.logspace(-1, -3, 98)]
    x = rng.standard_normal((1024, scales.size)) * scales
    y = x @ rng.standard_normal((scales.size, 1)) + 0.5
    return x, y


def steps_to_target(x, y, make_optimizer, learning_rate, target, max_steps, batch=32):
    """Minibatch steps (in a fixed shuffled order) until the full-data loss is
    <= target; None if it is not reached within max_steps."""
    net = MLP([x.shape[1], 1], activation="identity", loss="mse")
    w, grad = np.zeros(net.n_params), np.empty(net.n_params)
    optimizer = make_optimizer(net, learning_rate)
    order = np.random.default_rng(1).permutation(len(x))
    n_batches = len(x) // batch
    for step in range(max_steps):
        rows = order[step % n_batches * batch:(step % n_batches + 1) * batch]
        loss, _ = net.loss_and_grad(w, x[rows], y[rows], grad=grad,
                                    preconditioners=getattr(optimizer, "preconditioners", None))
        optimizer.update(w, loss, grad, None)
        value = net.loss(w, x, y)
        if not value < 1e6:  # diverged
            return None
        if value <= target:
            return step + 1
    return None


@pytest.mark.parametrize("rescale", ["factors", "layer"])
def test_ngsgd_reaches_the_target_in_3x_fewer_steps_than_sgd(rescale):
    x, y = ill_conditioned_regression()
    target = 1e-3 * float(np.mean(y ** 2))  # 1/1000 of the loss at w = 0
    grid = [2.0 ** (k / 2) for k in range(-2, 6)]  # 0.5 ... 5.7: both methods' best inside

    def ngsgd(net, lr):
        return NaturalGradientSGD(net, lr, rescale=rescale)

    ng = [steps_to_target(x, y, ngsgd, lr, target, 800) for lr in grid]
    best = min(n for n in ng if n is not None)
    # SGD, at every rate of the grid, is still above the target after 3x as many steps
    for lr in grid:
        assert steps_to_target(x, y, lambda net, rate: SGD(rate), lr, target, 3 * best) is None


# checkpoints

def train(net, w, opt, batches):
    for x, y in batches:
        loss, grad = net.loss_and_grad(w, x, y, preconditioners=opt.preconditioners)
        opt.update(w, loss, grad, None)


@pytest.mark.parametrize("split", [0, 1, 7])
def test_state_and_load_resume_bit_for_bit(split, tmp_path):
    net, w0, _, _, rng = small_mlp_problem(sizes=(6, 5, 1))  # a 1-dimensional output: rank 0
    net = MLP([6, 5, 1], activation="tanh", output_activation="identity", loss="mse")
    w0 = net.init_params(rng, "xavier")
    batches = [(rng.standard_normal((8, 6)), rng.standard_normal((8, 1))) for _ in range(20)]
    options = dict(rank_in=3, rank_out=2, update_period=3, max_change=0.5)

    w_straight = w0.copy()
    train(net, w_straight, NaturalGradientSGD(net, 0.3, **options), batches)

    w = w0.copy()
    first = NaturalGradientSGD(net, 0.3, **options)
    train(net, w, first, batches[:split])
    np.savez(tmp_path / "ckpt.npz", **first.state())
    train(net, w.copy(), first, batches[split:split + 2])  # the saved state is a copy
    with np.load(tmp_path / "ckpt.npz") as f:
        resumed = NaturalGradientSGD(net, 0.3, **options)
        resumed.load(dict(f))
    train(net, w, resumed, batches[split:])
    assert np.array_equal(w, w_straight)


def test_estimate_updates_on_the_first_minibatches_then_every_update_period():
    rng = np.random.default_rng(2)
    pc = OnlineNaturalGradient(2, update_period=3)
    previous = None
    for t in range(25):
        pc.precondition(rng.standard_normal((5, 4)))
        W = pc.state()["W"]
        if previous is not None:
            changed = not np.array_equal(W, previous)
            assert changed == (t < NUM_INITIAL_UPDATES or t % 3 == 0), t
        previous = W


def test_delta_and_epsilon_floor_the_estimate():
    rng = np.random.default_rng(3)
    direction = rng.standard_normal(6)
    for delta in (1e-2, 1e-3):
        # rows on one line, a short memory: without the floor rho would go to epsilon
        pc = OnlineNaturalGradient(2, delta=delta, num_samples_history=10.0, update_period=1)
        for _ in range(40):
            pc.precondition(rng.standard_normal((10, 1)) * direction)
        s = pc.state()
        assert float(s["rho"]) == pytest.approx(delta * (s["d"][0] + float(s["rho"])), rel=0.02)
    pc = OnlineNaturalGradient(3, epsilon=1e-8)
    for _ in range(15):  # all-zero rows: the estimate decays to the floor epsilon, no NaN
        out = pc.precondition(np.zeros((4, 5)))
        assert np.array_equal(out, np.zeros((4, 5)))
    s = pc.state()
    assert float(s["rho"]) == 1e-8 and np.all(s["d"] == 1e-8)


def test_non_finite_rows_leave_the_estimate_alone():
    rng = np.random.default_rng(4)
    pc = OnlineNaturalGradient(2, update_period=1)
    pc.precondition(rng.standard_normal((5, 4)))
    before = pc.state()
    X = rng.standard_normal((5, 4))
    X[2, 1] = np.nan
    assert np.isnan(pc.precondition(X)).any()
    after = pc.state()
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_rows_of_dimension_one_pass_unchanged():
    pc = OnlineNaturalGradient(5)
    X = np.array([[1.5], [-2.0], [0.25]])
    assert np.array_equal(pc.precondition(X), X)
    assert pc.effective_rank == 0 and set(pc.state()) == {"t", "dim"}


# the hooks in MLP and Dense

def loss_and_grad_before_the_hook(net, w, x, y):
    """MLP.loss_and_grad as it was before preconditioners existed."""
    grad = np.empty(net.n_params)
    views = net._split(grad, "grad")
    pred = net.forward(w, x)
    value = net.loss_function.value(pred, y)
    grad_a = net.loss_function.grad(pred, y)
    for i in reversed(range(len(net.layers))):
        grad_a = net.layers[i].backward(grad_a, *views[i], want_grad_x=i > 0)
    return value, grad


@pytest.mark.parametrize("bias", [True, False])
def test_without_preconditioners_gradients_are_unchanged(bias):
    rng = np.random.default_rng(6)
    net = MLP([5, 7, 3], activation="sigmoid", bias=bias, loss="sse")
    w = net.init_params(rng)
    x, y = rng.standard_normal((11, 5)), rng.random((11, 3))
    value, grad = net.loss_and_grad(w, x, y)
    expected_value, expected = loss_and_grad_before_the_hook(net, w, x, y)
    assert value == expected_value and np.array_equal(grad, expected)
    assert np.array_equal(net.loss_and_grad(w, x, y, preconditioners=None)[1], expected)


class Recorder:
    """A preconditioner that writes the plain gradient and keeps the grad_z it got."""

    def weight_gradient(self, x, grad_z, grad_W, grad_b=None):
        self.grad_z = grad_z.copy()
        grad_W[...] = x.T @ grad_z
        if grad_b is not None:
            grad_b[...] = grad_z.sum(axis=0)


def test_backprop_below_a_preconditioned_layer_uses_the_true_derivative():
    net, w, x, y, _ = small_mlp_problem()
    plain = [Recorder(), Recorder()]
    net.loss_and_grad(w, x, y, preconditioners=plain)
    natural = [Recorder(), DensePreconditioner(rank_in=3, rank_out=2)]
    _, grad = net.loss_and_grad(w, x, y, preconditioners=natural)
    assert np.array_equal(natural[0].grad_z, plain[0].grad_z)
    W1, b1 = net.views(grad)[1]
    _, plain_grad = net.loss_and_grad(w, x, y)
    assert not np.allclose(W1, net.views(plain_grad)[1][0])  # the top layer's is natural


def test_dense_without_bias_gets_no_ones_column():
    rng = np.random.default_rng(7)
    layer = Dense(4, 3, bias=False, activation="tanh")
    x = rng.standard_normal((6, 4))
    layer.forward(x, rng.standard_normal((4, 3)))
    pc = DensePreconditioner(rank_in=2, rank_out=2)
    grad_W = np.empty((4, 3))
    grad_x = layer.backward(rng.standard_normal((6, 3)), grad_W, preconditioner=pc)
    assert pc.input.state()["dim"] == 4 and pc.output.state()["dim"] == 3
    assert grad_x.shape == (6, 4) and np.all(np.isfinite(grad_W))


def test_preconditioners_must_be_one_per_layer():
    net, w, x, y, _ = small_mlp_problem()
    with pytest.raises(ValueError, match=r"preconditioners: expected one per layer \(2\), got 1"):
        net.loss_and_grad(w, x, y, preconditioners=[DensePreconditioner()])


# the optimizer's step

def test_update_is_sgd_on_the_given_gradient_with_max_change():
    net, _, _, _, rng = small_mlp_problem()
    theta, grad = rng.standard_normal(net.n_params), rng.standard_normal(net.n_params)
    start = theta.copy()
    assert NaturalGradientSGD(net, 0.01).update(theta, 0.0, grad, None) == 0
    assert np.array_equal(theta, start - 0.01 * grad)
    theta = start.copy()
    NaturalGradientSGD(net, 10.0, max_change=0.5).update(theta, 0.0, grad, None)
    assert np.linalg.norm(theta - start) == pytest.approx(0.5, rel=1e-12)
    assert np.allclose((theta - start) / 0.5, -grad / np.linalg.norm(grad), rtol=0, atol=1e-14)


def test_apply_max_change():
    step = np.array([3.0, 4.0])
    assert apply_max_change(step, None) == 1.0 and np.array_equal(step, [3.0, 4.0])
    assert apply_max_change(step, 5.0) == 1.0 and np.array_equal(step, [3.0, 4.0])
    assert apply_max_change(step, 1.0) == pytest.approx(0.2)
    np.testing.assert_allclose(step, [0.6, 0.8], rtol=1e-15)


# argument errors

@pytest.mark.parametrize("options, field", [
    (dict(rank=0), "rank"), (dict(rank=2.5), "rank"), (dict(rank=True), "rank"),
    (dict(alpha=0.0), "alpha"), (dict(alpha=-1.0), "alpha"), (dict(alpha=math.nan), "alpha"),
    (dict(update_period=0), "update_period"),
    (dict(num_samples_history=0.0), "num_samples_history"),
    (dict(num_samples_history=math.inf), "num_samples_history"), (dict(epsilon=0.0), "epsilon"),
    (dict(delta=0.0), "delta"), (dict(delta=1.0), "delta"), (dict(seed=-1), "seed"),
    (dict(seed=(1, -2)), "seed"), (dict(seed="0"), "seed"),
])
def test_bad_preconditioner_options_name_the_option(options, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        OnlineNaturalGradient(**{"rank": 4, **options})


@pytest.mark.parametrize("options, field", [
    (dict(learning_rate=0.0), "learning_rate"), (dict(max_change=-1.0), "max_change"),
    (dict(rank_in=0), "rank_in"), (dict(rank_out=0), "rank_out"), (dict(alpha=0), "alpha"),
    (dict(update_period=0), "update_period"), (dict(rescale="global"), "rescale"),
    (dict(seed=1.5), "seed"),
])
def test_bad_optimizer_options_name_the_option(options, field):
    net = small_mlp_problem()[0]
    with pytest.raises(ValueError, match=f"^{field}: "):
        NaturalGradientSGD(net, **{"learning_rate": 0.1, **options})


def test_a_model_without_dense_layers_is_refused():
    with pytest.raises(ValueError, match=r"^model: .*\(an MLP or a ResNet\), got object"):
        NaturalGradientSGD(object(), 0.1)


def test_resnet_natural_gradient_keeps_each_maps_norm_and_trains():
    """One preconditioner per affine map (opening, residual layers,
    classifier): with rescale="layer" each map's gradient keeps the plain
    gradient's norm; the regularization's gradient stays plain; NG-SGD
    lowers the loss."""
    from pyxbraid.data import peaks
    data, _ = peaks(64, 10, seed=0)
    net = ResNet(2, 4, 3, 5, gamma_t=0.0, gamma_d=0.0)
    theta = net.init_params(np.random.default_rng(1))
    plain = net.loss_and_grad(theta, data.x, data.y)[1]
    optimizer = NaturalGradientSGD(net, 0.1, rescale="layer")
    assert len(optimizer.preconditioners) == net.n_dense_layers == 5
    loss, natural = net.loss_and_grad(theta, data.x, data.y,
                                      preconditioners=optimizer.preconditioners)
    assert loss == net.loss(theta, data.x, data.y)
    p, q = net.views(plain), net.views(natural)
    maps = [(p.W_o, p.b_o, q.W_o, q.b_o), (p.W_c, p.b_c, q.W_c, q.b_c)] + [
        (p.K[k], p.b[k], q.K[k], q.b[k]) for k in range(net.n_layers)]
    for W, b, W_n, b_n in maps:
        plain_norm = np.hypot(np.linalg.norm(W), np.linalg.norm(b))
        assert np.hypot(np.linalg.norm(W_n), np.linalg.norm(b_n)) == pytest.approx(plain_norm,
                                                                                   rel=1e-12)
    assert not np.allclose(natural, plain)
    with pytest.raises(ValueError, match=r"preconditioners: expected one per affine map \(5\)"):
        net.loss_and_grad(theta, data.x, data.y, preconditioners=optimizer.preconditioners[:2])
    optimizer = NaturalGradientSGD(net, 0.1)
    start = net.loss(theta, data.x, data.y)
    for _ in range(30):
        loss, grad = net.loss_and_grad(theta, data.x, data.y,
                                       preconditioners=optimizer.preconditioners)
        optimizer.update(theta, loss, grad, None)
    assert net.loss(theta, data.x, data.y) < 0.8 * start


def test_bad_rows_and_bad_states_are_errors():
    pc = OnlineNaturalGradient(2)
    for bad in (np.ones(3), np.ones((0, 3)), np.ones((2, 3), dtype=np.float32), [[1.0, 2.0]]):
        with pytest.raises(ValueError, match="^M: expected a float64 array"):
            pc.precondition(bad)
    pc.precondition(np.ones((2, 3)))
    with pytest.raises(ValueError, match="^M: expected 3 columns"):
        pc.precondition(np.ones((2, 4)))
    state = pc.state()
    with pytest.raises(ValueError, match=r"^state: W \(2, 3\) and d \(2,\) do not fit rank 1"):
        OnlineNaturalGradient(1).load(state)
    with pytest.raises(ValueError, match="^state: W, d, rho missing"):
        OnlineNaturalGradient(2).load({"t": state["t"], "dim": state["dim"]})
    with pytest.raises(ValueError, match="^state: t is missing"):
        OnlineNaturalGradient(2).load({})
    with pytest.raises(ValueError, match="^state: d must be finite and positive"):
        OnlineNaturalGradient(2).load({**state, "d": -state["d"]})
    net = small_mlp_problem()[0]
    with pytest.raises(ValueError, match="keys not of this network's 2 layers: layer2.in.t"):
        NaturalGradientSGD(net, 0.1).load({"layer2.in.t": np.array(0)})
    good = NaturalGradientSGD(net, 0.1).state()
    del good["layer1.out.t"]
    with pytest.raises(ValueError, match="^state: layer1.out.t is missing"):
        NaturalGradientSGD(net, 0.1).load(good)
