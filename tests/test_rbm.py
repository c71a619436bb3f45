"""RBM pretraining by CD-1: the update against a hand computation, the
reconstruction error falling on digits, the pretrained weights as the MLP's
layers, determinism, the averaging hook's schedule, bad options, the
averaged two-rank run, and pretraining's head start for SGD."""
import math
import threading

import numpy as np
import pytest

from conftest import TESTS, run_mpi
from pyxbraid.data.digits import digits
from pyxbraid.nn import MLP
from pyxbraid.train.rbm import RBM, minibatches, pretrain, train_rbm

SCRIPT = TESTS / "scripts" / "rbm_average.py"
SEED = 4


def digits_x():
    return digits()[0].x


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


# --- one CD-1 update --------------------------------------------------------------------

TINY_W = [[0.3, -0.2], [0.5, 0.1]]
TINY_HIDDEN_BIAS = [0.1, -0.3]
TINY_VISIBLE_BIAS = [-0.2, 0.4]
TINY_V0 = [[1.0, 0.0], [0.25, 0.75]]
TINY_UNIFORMS = [[0.2, 0.9], [0.6, 0.1]]


def tiny_rbm(**options):
    rbm = RBM(2, 2, **options)
    rbm.W[...] = TINY_W
    rbm.hidden_bias[...] = TINY_HIDDEN_BIAS
    rbm.visible_bias[...] = TINY_VISIBLE_BIAS
    return rbm


def hand_cd1(W, c, b, v0, u):
    """CD-1 statistics element by element, in scalar arithmetic: (dW, dc, db)."""
    batch, nv, nh = len(v0), len(b), len(c)
    p0 = [[sigmoid(sum(v0[n][i] * W[i][j] for i in range(nv)) + c[j]) for j in range(nh)]
          for n in range(batch)]
    h0 = [[1.0 if u[n][j] < p0[n][j] else 0.0 for j in range(nh)] for n in range(batch)]
    v1 = [[sigmoid(sum(h0[n][j] * W[i][j] for j in range(nh)) + b[i]) for i in range(nv)]
          for n in range(batch)]
    p1 = [[sigmoid(sum(v1[n][i] * W[i][j] for i in range(nv)) + c[j]) for j in range(nh)]
          for n in range(batch)]
    dW = [[sum(v0[n][i] * p0[n][j] - v1[n][i] * p1[n][j] for n in range(batch)) / batch
           for j in range(nh)] for i in range(nv)]
    dc = [sum(p0[n][j] - p1[n][j] for n in range(batch)) / batch for j in range(nh)]
    db = [sum(v0[n][i] - v1[n][i] for n in range(batch)) / batch for i in range(nv)]
    return dW, dc, db, h0


def test_cd1_statistics_match_a_hand_computation():
    dW, dc, db, h0 = hand_cd1(TINY_W, TINY_HIDDEN_BIAS, TINY_VISIBLE_BIAS, TINY_V0,
                              TINY_UNIFORMS)
    assert {h for row in h0 for h in row} == {0.0, 1.0}   # the draws sample both states
    g = tiny_rbm().cd1_statistics(np.array(TINY_V0), np.array(TINY_UNIFORMS))
    np.testing.assert_allclose(g, np.concatenate([np.ravel(dW), dc, db]), rtol=1e-13,
                               atol=1e-15)


def test_cd1_step_is_momentum_sgd_on_the_statistics_with_decay_on_w_only():
    lr, momentum, decay, seed = 0.3, 0.5, 0.01, 11
    rbm = tiny_rbm(momentum=momentum, weight_decay=decay)
    reference = tiny_rbm()
    v0 = np.array(TINY_V0)
    draws = np.random.default_rng(seed)
    rng = np.random.default_rng(seed)
    step = np.zeros(rbm.n_params)
    for _ in range(2):
        g = reference.cd1_statistics(v0, draws.random((2, 2)))
        g[:4] -= decay * reference.params[:4]
        step = momentum * step + lr * g
        reference.params += step
        rbm.cd1_step(v0, rng, lr)
        np.testing.assert_allclose(rbm.params, reference.params, rtol=1e-13, atol=1e-15)
    assert rng.random() == draws.random()   # one draw of (batch, n_hidden) per step


def test_rbm_params_layout_and_in_place_vector():
    params = np.arange(2 * 3 + 3 + 2, dtype=np.float64)
    rbm = RBM(2, 3, params=params)
    np.testing.assert_array_equal(rbm.W, [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(rbm.hidden_bias, [6, 7, 8])
    np.testing.assert_array_equal(rbm.visible_bias, [9, 10])
    params[0] = -1.0   # the RBM works on the vector given, not a copy
    assert rbm.W[0, 0] == -1.0
    with pytest.raises(ValueError, match=r"params: expected shape \(11,\)"):
        RBM(2, 3, params=np.zeros(10))
    assert repr(RBM(2, 3)) == "RBM(n_visible=2, n_hidden=3, momentum=0.5, weight_decay=0.0001)"


# --- training ----------------------------------------------------------------------------

def test_cd1_lowers_the_reconstruction_error_on_digits():
    x = digits_x()
    rng = np.random.default_rng(SEED)
    rbm = RBM(64, 32)
    rbm.W[...] = rng.uniform(-0.25, 0.25, (64, 32))
    before = rbm.reconstruction_error(x)
    errors = []
    train_rbm(rbm, x, epochs=5, learning_rate=0.1, batch_size=20, rng=rng,
              on_epoch=lambda record: errors.append(record.reconstruction_error))
    assert errors[-1] == rbm.reconstruction_error(x)
    assert errors[-1] < errors[0]
    assert errors[-1] < 0.25 * before
    # better than the mean image (the variance of the pixels): W has learned structure
    assert errors[-1] < 0.5 * np.mean(np.var(x, axis=0))


def test_minibatches_deal_the_epoch_without_a_short_batch():
    sizes = [len(b) for b in minibatches(np.arange(23), 5)]
    assert sizes == [5, 5, 5, 4, 4]
    assert [len(b) for b in minibatches(np.arange(23), 5, batches_per_epoch=2)] == [12, 11]
    order = np.random.default_rng(0).permutation(23)
    np.testing.assert_array_equal(np.concatenate(minibatches(order, 5)), order)


def small_mlp(activation="sigmoid"):
    return MLP([64, 16, 8, 10], activation=activation, output_activation="identity",
               loss="softmax_cross_entropy")


def test_pretrained_weights_are_the_mlp_layers():
    x = digits_x()[:300]
    mlp = small_mlp()
    last = {}

    def keep(record):
        last[record.layer] = (record.epoch, record.rbm.params.copy(), record.reconstruction_error)

    w = pretrain(mlp, x, epochs=2, learning_rate=0.1, batch_size=30,
                 rng=np.random.default_rng(SEED), on_epoch=keep)
    assert sorted(last) == [0, 1] and {epoch for epoch, _, _ in last.values()} == {2}
    (W1, b1), (W2, b2), (W3, b3) = mlp.views(w)
    first = RBM(64, 16, params=last[0][1])
    a1 = mlp.layers[0].forward(x, W1, b1, cache=False)
    np.testing.assert_allclose(a1, first.hidden_probabilities(x), rtol=1e-12, atol=1e-15)
    # the second RBM was trained on the first layer's mean-field activations
    second = RBM(16, 8, params=last[1][1])
    np.testing.assert_array_equal(W2, second.W)
    np.testing.assert_array_equal(b2, second.hidden_bias)
    assert last[1][2] == pytest.approx(second.reconstruction_error(a1), rel=1e-12)
    # the output layer is the xavier init of the same seed; the hidden ones are not
    xavier = mlp.views(mlp.init_params(np.random.default_rng(SEED), scheme="xavier"))
    np.testing.assert_array_equal(W3, xavier[2][0])
    np.testing.assert_array_equal(b3, np.zeros(10))
    assert not np.array_equal(W1, xavier[0][0])


def test_pretrain_is_deterministic_for_a_seed():
    x = digits_x()[:200]

    def run(seed):
        return pretrain(small_mlp(), x, epochs=2, learning_rate=0.1, batch_size=25,
                        rng=np.random.default_rng(seed))

    assert np.array_equal(run(SEED), run(SEED))
    assert not np.array_equal(run(SEED), run(SEED + 1))


def test_the_averaging_hook_is_called_every_average_every_minibatches(monkeypatch):
    """50 instances in 5 minibatches an epoch, 3 epochs: 15 minibatches a
    layer, averaged after 4, 8, 12 and, to end the layer averaged, 15."""
    steps, calls = [0], []
    cd1_step = RBM.cd1_step

    def counted(rbm, *args):
        steps[0] += 1
        return cd1_step(rbm, *args)

    monkeypatch.setattr(RBM, "cd1_step", counted)
    x = digits_x()[:50]
    options = dict(epochs=3, learning_rate=0.1, batch_size=10, average_every=4)
    w = pretrain(small_mlp(), x, rng=np.random.default_rng(SEED),
                 average=lambda v: calls.append((steps[0], v.size)), **options)
    assert calls == [(4, 1104), (8, 1104), (12, 1104), (15, 1104),
                     (19, 152), (23, 152), (27, 152), (30, 152)]
    # a hook that leaves the vector alone changes nothing
    assert np.array_equal(w, pretrain(small_mlp(), x, rng=np.random.default_rng(SEED),
                                      **options))
    # batches_per_epoch sets the count: 2 an epoch, 6 a layer, averaged after 4 and 6
    calls.clear()
    steps[0] = 0
    pretrain(small_mlp(), x, rng=np.random.default_rng(SEED), batches_per_epoch=2,
             average=lambda v: calls.append((steps[0], v.size)), **options)
    assert calls == [(4, 1104), (6, 1104), (10, 152), (12, 152)]


def test_the_hook_averages_in_place():
    """What the hook writes is the RBM: a hook that zeroes the vector leaves
    zero hidden layers (an average every step, and one after the last)."""
    mlp = small_mlp()
    w = pretrain(mlp, digits_x()[:40], epochs=1, learning_rate=0.1, batch_size=20,
                 rng=np.random.default_rng(SEED), average=lambda v: v.fill(0.0))
    for W, b in mlp.views(w)[:2]:
        assert not W.any() and not b.any()
    assert mlp.views(w)[2][0].any()


GOOD = dict(epochs=1, learning_rate=0.1, batch_size=10)


@pytest.mark.parametrize("change, message", [
    (dict(epochs=0), "epochs"),
    (dict(epochs=1.5), "epochs"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(learning_rate=-0.1), "learning_rate"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=21), r"batch_size: .* the number of instances \(20\)"),
    (dict(batches_per_epoch=0), "batches_per_epoch"),
    (dict(average_every=0), "average_every"),
    (dict(average="mean"), "average: must be callable"),
    (dict(on_epoch=3), "on_epoch: must be callable"),
    (dict(momentum=1.0), "momentum"),
    (dict(weight_decay=-1e-4), "weight_decay"),
    (dict(rng=np.random.RandomState(0)), "rng: expected a numpy Generator"),
])
def test_bad_options_name_the_option(change, message):
    options = dict(GOOD, rng=np.random.default_rng(0))
    options.update(change)
    with pytest.raises(ValueError, match=message):
        pretrain(small_mlp(), digits_x()[:20], **options)


@pytest.mark.parametrize("mlp, x, message", [
    (small_mlp("tanh"), None, r"activation: .*sigmoid.*got 'tanh'"),
    (MLP([64, 10]), None, "mlp: .* has no hidden layer"),
    (MLP([64, 8, 10], bias=False), None, "bias: "),
    ("mlp", None, "mlp: expected a pyxbraid.nn.MLP"),
    (small_mlp(), np.zeros((5, 63)), r"x: expected shape \(instances, 64\)"),
    (small_mlp(), np.full((5, 64), 1.5), r"x: values must lie in \[0, 1\]"),
    (small_mlp(), np.full((5, 64), np.nan), r"x: values must lie in \[0, 1\]"),
])
def test_bad_networks_and_data_name_the_fault(mlp, x, message):
    x = digits_x()[:20] if x is None else x
    with pytest.raises(ValueError, match=message):
        pretrain(mlp, x, rng=np.random.default_rng(0), **GOOD)


# --- data-parallel ------------------------------------------------------------------------

def average_run_options():
    """The two-rank run of tests/scripts/rbm_average.py: rank r's shard is x[r::2]."""
    return dict(epochs=2, learning_rate=0.1, batch_size=32, average_every=3)


def threaded_two_rank_pretrain(x):
    """The two-rank averaged run emulated in one process: two threads in
    lockstep, the hook replacing both vectors by their mean."""
    barrier = threading.Barrier(2, timeout=60)
    slots, results = [None, None], [None, None]

    def rank(r):
        def average(vector):
            slots[r] = vector.copy()
            barrier.wait()
            np.add(slots[0], slots[1], out=vector)
            vector /= 2.0
            barrier.wait()

        results[r] = pretrain(small_mlp(), x[r::2], rng=np.random.default_rng(SEED),
                              average=average, **average_run_options())

    threads = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_ranks_averaging_end_with_the_same_weights(tmp_path):
    out = tmp_path / "rbm.npz"
    run = run_mpi(2, [SCRIPT, out, SEED], timeout=120)
    assert run.returncode == 0, run.stderr + run.stdout
    result = np.load(out)
    assert np.array_equal(result["rank0"], result["rank1"])
    # 24 minibatches an epoch on each shard, 48 a layer: 16 averages a layer, 2 layers
    assert list(result["averages"]) == [32, 32]
    # what the ranks computed is the lockstep emulation of averaging (round-off)
    emulated = threaded_two_rank_pretrain(digits_x())
    assert np.array_equal(emulated[0], emulated[1])
    np.testing.assert_allclose(result["rank0"], emulated[0], rtol=1e-10, atol=1e-12)
    # and not what either shard alone gives
    alone = pretrain(small_mlp(), digits_x()[0::2], rng=np.random.default_rng(SEED),
                     **average_run_options())
    assert not np.allclose(result["rank0"], alone, rtol=1e-3)


# --- pretraining helps --------------------------------------------------------------------

def sgd_training_loss(mlp, w, x, y, steps, learning_rate, batch_size, seed):
    """The training loss after `steps` plain SGD steps on seeded shuffled minibatches."""
    w, grad = w.copy(), np.empty_like(w)
    rng = np.random.default_rng(seed)
    order, at = rng.permutation(len(x)), 0
    for _ in range(steps):
        if at + batch_size > len(x):
            order, at = rng.permutation(len(x)), 0
        batch = order[at:at + batch_size]
        at += batch_size
        mlp.loss_and_grad(w, x[batch], y[batch], grad=grad)
        w -= learning_rate * grad
    return mlp.loss(w, x, y)


def test_pretraining_gives_sgd_a_head_start_on_digits():
    """64-32-10 on digits, 100 SGD steps of 20 at rate 0.5: from the
    pretrained weights the training loss is about half that from the xavier
    init of the same seed (measured 0.46-0.49 against 0.90-0.98, seeds 0-4)."""
    train = digits()[0]
    mlp = MLP([64, 32, 10], output_activation="identity", loss="softmax_cross_entropy")
    xavier = mlp.init_params(np.random.default_rng(SEED), scheme="xavier")
    pretrained = pretrain(mlp, train.x, epochs=5, learning_rate=0.1, batch_size=20,
                          rng=np.random.default_rng(SEED))
    losses = [sgd_training_loss(mlp, w, train.x, train.y, 100, 0.5, 20, SEED)
              for w in (xavier, pretrained)]
    assert losses[1] < 0.75 * losses[0], losses
