"""RBM pretraining of an MLP's sigmoid hidden layers by contrastive
divergence (CD-1), greedily, layer by layer (Hinton, Osindero & Teh 2006;
Hinton 2010, "A practical guide to training restricted Boltzmann
machines"), made to run data-parallel: a hook averages each RBM's flat
parameter vector over the ranks every few minibatches, as Su & Chen (2015)
pretrain before averaged training.

One CD-1 update on a minibatch v0 of B rows (inputs in [0, 1]):
    p0 = sigmoid(v0 W + c)           hidden probabilities of the data
    h0 = (u < p0), u ~ U[0, 1)       sampled hidden states
    v1 = sigmoid(h0 W^T + b)         visible probabilities (the reconstruction)
    p1 = sigmoid(v1 W + c)           hidden probabilities of the reconstruction
    g  = (v0^T p0 - v1^T p1, sum(p0 - p1), sum(v0 - v1)) / B   for (W, c, b)
    step = momentum * step + learning_rate * (g - weight_decay * (W, 0, 0))
    params += step
The positive statistics use the hidden probabilities, not the samples, and
the negative phase the visible and hidden probabilities (the guide's advice:
less sampling noise, the same expectation); weight decay acts on W only.
"""
import math
from dataclasses import dataclass

import numpy as np

from pyxbraid.checks import int_in_range, is_real, positive_int, positive_real
from pyxbraid.nn.activations import Sigmoid
from pyxbraid.nn.flat import split_flat
from pyxbraid.nn.gemm import gemm
from pyxbraid.nn.mlp import MLP
from pyxbraid.nn.registry import name_of

DEFAULT_MOMENTUM = 0.5       # the guide's value for the start of training
DEFAULT_WEIGHT_DECAY = 1e-4  # the guide's "weight-cost", on W only

_SIGMOID = Sigmoid()


def _unit_interval(name, value):
    """value as a float in [0, 1)."""
    if not is_real(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: must be a number in [0, 1), got {value!r}")
    return float(value)


def _non_negative(name, value):
    """value as a finite float >= 0."""
    if not is_real(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: must be a non-negative number, got {value!r}")
    return float(value)


def _callable_or_none(name, value):
    if value is not None and not callable(value):
        raise ValueError(f"{name}: must be callable or None, got {type(value).__name__}")
    return value


def _check_generator(rng):
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng: expected a numpy Generator (np.random.default_rng(seed)), "
                         f"got {type(rng).__name__}")
    return rng


def _check_inputs(x, width):
    """x as a float64 (instances, width) array of values in [0, 1]."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] != width:
        raise ValueError(f"x: expected shape (instances, {width}) with at least one "
                         f"instance, got {x.shape}")
    if not np.all((x >= 0.0) & (x <= 1.0)):  # NaN fails too
        raise ValueError("x: values must lie in [0, 1] (the RBM's visible units are "
                         "Bernoulli means)")
    return x


class RBM:
    """A Bernoulli-Bernoulli restricted Boltzmann machine on one flat float64
    vector `params`: W (n_visible, n_hidden) row-major, then the hidden bias
    c (n_hidden), then the visible bias b (n_visible).  The first two are a
    Dense layer's W and b in the MLP's flat order, so a trained RBM is an MLP
    layer; the whole vector is what data-parallel ranks average.

    `params` (given) is used in place, not copied; by default all zeros.
    momentum and weight_decay shape the update (see the module)."""

    def __init__(self, n_visible, n_hidden, params=None, *, momentum=DEFAULT_MOMENTUM,
                 weight_decay=DEFAULT_WEIGHT_DECAY):
        self.n_visible = positive_int("n_visible", n_visible)
        self.n_hidden = positive_int("n_hidden", n_hidden)
        self.momentum = _unit_interval("momentum", momentum)
        self.weight_decay = _non_negative("weight_decay", weight_decay)
        self._shapes = [(self.n_visible, self.n_hidden), (self.n_hidden,), (self.n_visible,)]
        self.n_params = sum(math.prod(shape) for shape in self._shapes)
        self.params = np.zeros(self.n_params) if params is None else params
        self.W, self.hidden_bias, self.visible_bias = split_flat(self.params, "params",
                                                                 self._shapes)
        self._step = np.zeros(self.n_params)   # the momentum's running update

    def __repr__(self):
        return (f"RBM(n_visible={self.n_visible}, n_hidden={self.n_hidden}, "
                f"momentum={self.momentum}, weight_decay={self.weight_decay})")

    def hidden_probabilities(self, v):
        """P(h = 1 | v) = sigmoid(v W + c), rows of v (batch, n_visible); the
        same arithmetic as the MLP's sigmoid Dense layer."""
        z = gemm(v, self.W)
        z += self.hidden_bias
        return _SIGMOID.forward(z)

    def visible_probabilities(self, h):
        """P(v = 1 | h) = sigmoid(h W^T + b), rows of h (batch, n_hidden)."""
        z = gemm(h, self.W, trans_b=True)
        z += self.visible_bias
        return _SIGMOID.forward(z)

    def reconstruction_error(self, x):
        """Mean over all entries of (x - v1)^2, v1 the one-step mean-field
        reconstruction sigmoid(sigmoid(x W + c) W^T + b)."""
        x = _check_inputs(x, self.n_visible)
        v1 = self.visible_probabilities(self.hidden_probabilities(x))
        return float(np.mean((x - v1) ** 2))

    def cd1_statistics(self, v0, uniforms, out=None):
        """The CD-1 estimate g of the log-likelihood gradient for minibatch
        v0 (B, n_visible), the hidden states sampled as uniforms < P(h | v0)
        (uniforms (B, n_hidden) in [0, 1)): (positive - negative statistics)
        / B, a flat vector in the layout of params (into out when given)."""
        batch = v0.shape[0]
        g = np.empty(self.n_params) if out is None else out
        g_W, g_hidden, g_visible = split_flat(g, "out", self._shapes)
        p0 = self.hidden_probabilities(v0)
        h0 = (uniforms < p0).astype(np.float64)
        v1 = self.visible_probabilities(h0)
        p1 = self.hidden_probabilities(v1)
        gemm(v0, p0, trans_a=True, out=g_W)
        g_W -= gemm(v1, p1, trans_a=True)
        np.sum(p0 - p1, axis=0, out=g_hidden)
        np.sum(v0 - v1, axis=0, out=g_visible)
        g /= batch
        return g

    def cd1_step(self, v0, rng, learning_rate):
        """One CD-1 update of params, in place, on minibatch v0: draws
        rng.random((B, n_hidden)) for the hidden samples."""
        uniforms = rng.random((v0.shape[0], self.n_hidden))
        g = self.cd1_statistics(v0, uniforms)
        if self.weight_decay:
            g_W = split_flat(g, "g", self._shapes)[0]
            g_W -= self.weight_decay * self.W
        self._step *= self.momentum
        g *= learning_rate
        self._step += g
        self.params += self._step


@dataclass(frozen=True)
class RBMEpoch:
    """What on_epoch sees after each epoch: the MLP layer (0-based) the RBM
    pretrains, the epoch (1-based), the mean-field reconstruction error of
    this rank's inputs of that layer, and the RBM itself."""
    layer: int
    epoch: int
    reconstruction_error: float
    rbm: RBM


def minibatches(order, batch_size, batches_per_epoch=None):
    """An epoch's shuffled instance order dealt into consecutive minibatches:
    ceil(n / batch_size) of them by default, or batches_per_epoch; their
    sizes differ by one at most (no short last batch: np.array_split)."""
    count = batches_per_epoch or -(-len(order) // batch_size)
    return np.array_split(order, count)


def train_rbm(rbm, x, *, epochs, learning_rate, batch_size, rng, average=None, average_every=1,
              on_epoch=None, batches_per_epoch=None, layer=0):
    """CD-1 training of rbm on x (instances, n_visible), in place.

    Each epoch: one rng.permutation(len(x)), dealt into minibatches (see
    `minibatches`), one cd1_step each.  average(rbm.params) is called after
    every `average_every`-th minibatch (counted over the epochs) and once
    more after the last one when that was not an averaging point, so that
    ranks that average end with the same RBM.  on_epoch(RBMEpoch) after each
    epoch (after that last average), `layer` naming the layer in it."""
    x = _check_inputs(x, rbm.n_visible)
    epochs = positive_int("epochs", epochs)
    learning_rate = positive_real("learning_rate", learning_rate)
    n = len(x)
    batch_size = int_in_range("batch_size", batch_size, 1, n, f"the number of instances ({n})")
    if batches_per_epoch is not None:
        batches_per_epoch = int_in_range("batches_per_epoch", batches_per_epoch, 1, n,
                                         f"the number of instances ({n})")
    rng = _check_generator(rng)
    average = _callable_or_none("average", average)
    average_every = positive_int("average_every", average_every)
    on_epoch = _callable_or_none("on_epoch", on_epoch)
    done = 0
    for epoch in range(1, epochs + 1):
        for batch in minibatches(rng.permutation(n), batch_size, batches_per_epoch):
            rbm.cd1_step(x[batch], rng, learning_rate)
            done += 1
            if average is not None and done % average_every == 0:
                average(rbm.params)
        if epoch == epochs and average is not None and done % average_every:
            average(rbm.params)
        if on_epoch is not None:
            on_epoch(RBMEpoch(layer, epoch, rbm.reconstruction_error(x), rbm))
    return rbm


def _check_mlp(mlp):
    if not isinstance(mlp, MLP):
        raise ValueError(f"mlp: expected a pyxbraid.nn.MLP, got {type(mlp).__name__}")
    hidden = mlp.layers[:-1]
    if not hidden:
        raise ValueError(f"mlp: {mlp!r} has no hidden layer to pretrain")
    for layer in hidden:
        activation = name_of(layer.activation)
        if activation != "sigmoid":
            raise ValueError(f"activation: RBM pretraining needs sigmoid hidden layers, "
                             f"got {activation!r}")
        if not layer.bias:
            raise ValueError("bias: RBM pretraining needs hidden layers with a bias "
                             "(the RBM's hidden bias)")
    return mlp


def pretrain(mlp, x, *, epochs, learning_rate, batch_size, rng, average=None, average_every=1,
             on_epoch=None, batches_per_epoch=None, momentum=DEFAULT_MOMENTUM,
             weight_decay=DEFAULT_WEIGHT_DECAY):
    """A flat parameter vector of mlp whose hidden layers are RBMs trained
    greedily by CD-1 (see train_rbm for the options), each on the
    mean-field sigmoid activations of the layer below for the data x
    (instances, mlp.sizes[0]), values in [0, 1].

    rng's draws, in order: first mlp.init_params(rng, scheme="xavier") (one
    Glorot uniform draw per layer), so the output layer is exactly that
    init (W Glorot, b 0) and each hidden layer's draw is its RBM's starting
    W (biases 0); then, layer by layer, train_rbm's draws.  The result is
    deterministic for the seed and the data.

    Data-parallel: every rank passes its shard as x, an rng seeded the same
    on every rank (the same starting weights) and average, a collective that
    averages a vector in place over the ranks; every rank must make as many
    minibatches per epoch (ceil(len(x) / batch_size) by default: pass
    batches_per_epoch, the same on every rank, when shard sizes disagree)."""
    mlp = _check_mlp(mlp)
    x = _check_inputs(x, mlp.sizes[0])
    options = dict(epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, rng=rng,
                   average=average, average_every=average_every, on_epoch=on_epoch,
                   batches_per_epoch=batches_per_epoch)
    rbm_options = dict(momentum=_unit_interval("momentum", momentum),
                       weight_decay=_non_negative("weight_decay", weight_decay))
    _check_generator(rng)
    w = mlp.init_params(rng, scheme="xavier")
    inputs = x
    for index, (layer, (W, b)) in enumerate(zip(mlp.layers[:-1], mlp.views(w))):
        rbm = RBM(layer.n_in, layer.n_out, **rbm_options)
        rbm.W[...] = W
        train_rbm(rbm, inputs, layer=index, **options)
        W[...] = rbm.W
        b[...] = rbm.hidden_bias
        inputs = layer.forward(inputs, W, b, cache=False)
    return w
