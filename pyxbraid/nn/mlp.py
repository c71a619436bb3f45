"""A multilayer perceptron whose parameters are one flat float64 vector.

A flat vector is what an MGRIT app steps, sums and sends between ranks; the
layers see it through views, and the gradient is written through views too.
"""

import numpy as np

from pyxbraid.checks import is_integer
from pyxbraid.nn.activations import get_activation
from pyxbraid.nn.flat import split_flat
from pyxbraid.nn.gemm import gemm_batch
from pyxbraid.nn.init import glorot_limit
from pyxbraid.nn.layers import Dense
from pyxbraid.nn.losses import MeanSquaredError, SoftmaxCrossEntropy, SumSquaredError, get_loss
from pyxbraid.nn.registry import name_of

INIT_SCHEMES = ("uniform", "xavier", "trask")
INIT_CHUNK = 1 << 20   # weights drawn per call at most (so a matrix in a file needs no copy in memory)
# losses whose gradient of a stack flattened to one batch of n * B instances
# is that of each batch divided by n (they average over the batch): the
# batched gradient is that times n; a summed loss (sse) is elementwise
AVERAGING_LOSSES = (MeanSquaredError, SoftmaxCrossEntropy)


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
        self._shared_targets = None   # (y, y broadcast to a stack) of a batched pass

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

    def loss_and_grad_batch(self, W, x, y, grad=None, want_loss=True):
        """loss_and_grad of every row of W at once: row i of the result is
        loss_and_grad(W[i], x[i], y[i]) (to round-off: the products of a
        stack may round differently from one product's).

        W: (n, n_params) C-contiguous float64, one flat vector a row; x: (n,
        B, sizes[0]), or one batch (B, sizes[0]) for every row; y likewise:
        (n, B, sizes[-1]) or (B, sizes[-1]), or int labels (n, B) or (B,)
        when the loss takes labels.  The forward and backward passes run
        on the stack, every product through pyxbraid.nn.gemm.gemm_batch.
        grad: an (n, n_params) array to write the gradients into.  Returns
        (losses (n,), or None when not want_loss, grad)."""
        n = self._check_stack(W, "W")
        x = self._check_x_batch(x, n)
        batch = x.shape[-2]
        y = self._check_y_batch(y, n, batch)
        grad = np.empty((n, self.n_params)) if grad is None else grad
        self._check_stack(grad, "grad", n)
        weights, grads = self._split_stack(W), self._split_stack(grad)
        inputs, pre, post = [], [], []
        a = x
        for layer, (Ws, bs) in zip(self.layers, weights):
            inputs.append(a)
            z = gemm_batch(a, Ws)
            if bs is not None:
                z += bs[:, None, :]
            a = layer.activation.forward(z)
            pre.append(z)
            post.append(a)
        losses = (np.array([self.loss_function.value(a[i], y[i]) for i in range(n)])
                  if want_loss else None)
        grad_a = self._stacked_loss_grad(a, y)
        for i in reversed(range(len(self.layers))):
            grad_Ws, grad_bs = grads[i]
            grad_z = self.layers[i].activation.backward(pre[i], post[i], grad_a)
            gemm_batch(inputs[i], grad_z, trans_a=True, out=grad_Ws)
            if grad_bs is not None:
                grad_z.sum(axis=1, out=grad_bs)
            if i > 0:
                grad_a = gemm_batch(grad_z, weights[i][0], trans_b=True)
        return losses, grad

    def _stacked_loss_grad(self, pred, y):
        """dL/dpred of every batch of a stack pred (n, B, outputs), y of
        pred's shape or labels (n, B): one call on the flattened stack for
        the losses of this package, a call a batch for any other."""
        loss = self.loss_function
        n, batch, outputs = pred.shape
        if type(loss) in AVERAGING_LOSSES:
            flat = loss.grad(pred.reshape(n * batch, outputs),
                             y.reshape((n * batch,) + y.shape[2:]))
            flat *= n
            return flat.reshape(pred.shape)
        if type(loss) is SumSquaredError:   # elementwise: the stack is one array
            return loss.grad(pred, y)
        return np.stack([loss.grad(pred[i], y[i]) for i in range(n)])

    def _split_stack(self, stack):
        """[(W (n, n_in, n_out), b (n, n_out) or None)] per layer: views of
        the rows of stack (n, n_params), each row split as `views` splits a
        flat vector."""
        n, start, parts = stack.shape[0], 0, []
        for layer in self.layers:
            stop = start + layer.n_in * layer.n_out
            W = stack[:, start:stop].reshape(n, layer.n_in, layer.n_out)
            b = None
            if layer.bias:
                b, stop = stack[:, stop:stop + layer.n_out], stop + layer.n_out
            parts.append((W, b))
            start = stop
        return parts

    def _check_stack(self, stack, name, n=None):
        """n, the rows of an (n, n_params) C-contiguous float64 array."""
        if (not isinstance(stack, np.ndarray) or stack.ndim != 2
                or stack.shape[1] != self.n_params or stack.dtype != np.float64
                or not stack.flags.c_contiguous or (n is not None and stack.shape[0] != n)):
            rows = "n" if n is None else n
            raise ValueError(f"{name}: expected a C-contiguous float64 array of shape "
                             f"({rows}, {self.n_params}), one flat vector a row, got "
                             f"{getattr(stack, 'dtype', type(stack).__name__)} of shape "
                             f"{np.shape(stack)}")
        return stack.shape[0]

    def _check_x_batch(self, x, n):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2:
            return self._check_x(x)
        if x.ndim != 3 or x.shape[0] != n or x.shape[2] != self.sizes[0]:
            raise ValueError(f"x: expected shape ({n}, batch, {self.sizes[0]}) or "
                             f"(batch, {self.sizes[0]}), got {x.shape}")
        return x

    def _check_y_batch(self, y, n, batch):
        """y as a stack of n batches' targets: (n, batch, n_out) float64, or
        (n, batch) int labels if the loss takes labels; one batch's targets
        are broadcast (a view, kept for the next call with the same array)
        to every row."""
        y = np.asarray(y)
        if self.loss_function.takes_labels and np.issubdtype(y.dtype, np.integer) \
                and y.shape in ((n, batch), (batch,)):
            shape = (n, batch)
        else:
            shape = (n, batch, self.sizes[-1])
            if y.shape not in (shape, shape[1:]):
                also = (f" or int labels {(n, batch)} or {(batch,)}"
                        if self.loss_function.takes_labels else "")
                raise ValueError(f"y: expected shape {shape} or {shape[1:]}{also}, "
                                 f"got {y.shape}")
            y = y.astype(np.float64, copy=False)
        if y.shape == shape:
            return y
        shared = self._shared_targets
        if shared is None or shared[0] is not y or shared[1].shape != shape:
            shared = self._shared_targets = (y, np.broadcast_to(y, shape))
        return shared[1]

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
