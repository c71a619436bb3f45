"""A multilayer perceptron whose parameters are one flat float64 vector.

A flat vector is what an MGRIT app steps, sums and sends between ranks; the
layers see it through views, and the gradient is written through views too.
"""

import numpy as np

from pyxbraid.checks import is_integer
from pyxbraid.nn.activations import get_activation
from pyxbraid.nn.flat import split_flat
from pyxbraid.nn.init import glorot_limit
from pyxbraid.nn.layers import Dense
from pyxbraid.nn.losses import get_loss
from pyxbraid.nn.registry import name_of

INIT_SCHEMES = ("uniform", "xavier", "trask")
INIT_CHUNK = 1 << 20   # weights drawn per call at most (so a matrix in a file needs no copy in memory)


class MLP:
    """Dense layers sizes[0] -> sizes[1] -> ... -> sizes[-1].

    Flat layout, layer by layer: W (row-major, (n_in, n_out)), then b if bias."""

    def __init__(self, sizes, activation="sigmoid", output_activation=None, bias=True, loss="sse"):
        if (isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) < 2
                or not all(is_integer(n) and n > 0 for n in sizes)):
            raise ValueError(f"sizes: expected at least 2 positive ints, got {sizes!r}")
        self.sizes = tuple(int(n) for n in sizes)
        self.loss_function = get_loss(loss)
        last = activation if output_activation is None else output_activation
        n_layers = len(self.sizes) - 1
        self.layers = [Dense(n_in, n_out, bias, activation if i < n_layers - 1 else last)
                       for i, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]))]
        self.n_params = sum(layer.n_params for layer in self.layers)
        self._activation = name_of(get_activation(activation))  # of the hidden layers

    def __repr__(self):
        output = name_of(self.layers[-1].activation)
        settings = [f"sizes={list(self.sizes)}", f"activation={self._activation!r}"]
        if output != self._activation:
            settings.append(f"output_activation={output!r}")
        if not self.layers[0].bias:
            settings.append("bias=False")
        if name_of(self.loss_function) != "sse":
            settings.append(f"loss={name_of(self.loss_function)!r}")
        return f"MLP({', '.join(settings)})"

    def views(self, w):
        """[(W, b or None)] per layer: views into w, so writing w changes them."""
        return self._split(w, "w")

    def init_params(self, rng, scheme="uniform", out=None):
        """New flat vector (or `out`, e.g. a memmap, filled), the weights drawn
        from rng layer by layer, each W row after row (the same numbers as one
        (n_in, n_out) draw, drawn a block of rows at a time), biases 0:
        'uniform': U(-1, 1), 2 * random - 1 (Trask's XOR network, Schroder 2017);
        'xavier': Glorot uniform;
        'trask': normal, mean -0.1, standard deviation 0.2, standard_normal *
        0.2 - 0.1 (Trask's binary-addition network: with np.random.RandomState
        its randn(n_in, n_out) * 0.2 - 0.1 exactly)."""
        if scheme not in INIT_SCHEMES:
            raise ValueError(f"scheme: unknown {scheme!r}; known: {', '.join(INIT_SCHEMES)}")
        if out is None:
            w = np.zeros(self.n_params)
        else:
            if not isinstance(out, np.ndarray) or out.shape != (self.n_params,) \
                    or out.dtype != np.float64:
                raise ValueError(f"out: expected a float64 vector of {self.n_params}, got "
                                 f"{getattr(out, 'dtype', type(out).__name__)} of shape "
                                 f"{np.shape(out)}")
            w = out
        for W, b in self.views(w):
            rows = max(1, INIT_CHUNK // W.shape[1])
            for start in range(0, W.shape[0], rows):
                block = W[start:start + rows]
                if scheme == "uniform":
                    block[...] = 2.0 * rng.random(block.shape) - 1.0
                elif scheme == "trask":
                    block[...] = rng.standard_normal(block.shape) * 0.2 - 0.1
                else:
                    limit = glorot_limit(W.shape)
                    block[...] = rng.uniform(-limit, limit, block.shape)
            if b is not None:
                b[...] = 0.0
        return w

    def forward(self, w, x):
        """The output for inputs x of shape (batch, sizes[0]); caches for backward."""
        return self._forward(w, self._check_x(x), cache=True)

    def predict(self, w, x):
        """The output, leaving the cache of the last forward untouched."""
        return self._forward(w, self._check_x(x), cache=False)

    def loss(self, w, x, y):
        x = self._check_x(x)
        return self.loss_function.value(self._forward(w, x, cache=False), self._check_y(y, len(x)))

    def loss_and_grad(self, w, x, y, grad=None, preconditioners=None):
        """(loss, flat dL/dw); the gradient is written into grad when given.
        preconditioners: one per layer (NaturalGradientSGD.preconditioners),
        to get the natural gradient instead."""
        x = self._check_x(x)
        y = self._check_y(y, len(x))
        if preconditioners is not None and len(preconditioners) != len(self.layers):
            raise ValueError(f"preconditioners: expected one per layer ({len(self.layers)}), "
                             f"got {len(preconditioners)}")
        grad = np.empty(self.n_params) if grad is None else grad
        grad_views = self._split(grad, "grad")
        pred = self._forward(w, x, cache=True)
        value = self.loss_function.value(pred, y)
        grad_a = self.loss_function.grad(pred, y)
        for i in reversed(range(len(self.layers))):
            grad_W, grad_b = grad_views[i]
            grad_a = self.layers[i].backward(
                grad_a, grad_W, grad_b, want_grad_x=i > 0,
                preconditioner=None if preconditioners is None else preconditioners[i])
        return value, grad

    def accuracy(self, w, x, y):
        """Classification (a loss that takes labels): fraction of argmax matches.
        Otherwise: fraction of instances whose rounded outputs all equal y."""
        x = self._check_x(x)
        y = self._check_y(y, len(x))
        pred = self._forward(w, x, cache=False)
        if self.loss_function.takes_labels:
            labels = y if y.ndim == 1 else y.argmax(axis=1)
            return float(np.mean(pred.argmax(axis=1) == labels))
        return float(np.mean(np.all(np.round(pred) == y, axis=1)))

    def _forward(self, w, x, cache):
        a = x
        for layer, (W, b) in zip(self.layers, self.views(w)):
            a = layer.forward(a, W, b, cache=cache)
        return a

    def _split(self, vector, name):
        shapes = []
        for layer in self.layers:
            shapes.append((layer.n_in, layer.n_out))
            if layer.bias:
                shapes.append((layer.n_out,))
        parts = iter(split_flat(vector, name, shapes))
        return [(next(parts), next(parts) if layer.bias else None) for layer in self.layers]

    def _check_x(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ValueError(f"x: expected shape (batch, {self.sizes[0]}), got {x.shape}")
        return x

    def _check_y(self, y, batch):
        """y as (batch, n_out) float64, or (batch,) int labels if the loss takes labels."""
        y = np.asarray(y)
        expected = (batch, self.sizes[-1])
        if self.loss_function.takes_labels and y.shape == (batch,):
            return y
        if y.shape != expected:
            also = f" or labels {(batch,)}" if self.loss_function.takes_labels else ""
            raise ValueError(f"y: expected shape {expected}{also}, got {y.shape}")
        return y.astype(np.float64, copy=False)
