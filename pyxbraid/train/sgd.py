"""The SGD step Phi_i(w) = w - alpha(level) * grad E(w; batch(i)), shared by
serial training and MGRIT over the SGD iterations (Schroder 2017), so that
the two compute the same thing bit for bit."""
import math

import numpy as np

from pyxbraid.checks import int_in_range, is_real, positive_real
from pyxbraid.data import Dataset


class DataSchedule:
    """Which instances step i trains on.

    - "batch": every instance, every step;
    - "serialized": instance i mod K (K instances);
    - "minibatch": a fixed partition of the shuffled instances (seeded) into
      batches of `batch_size`; batch i mod (number of batches).
    """

    KINDS = ("batch", "serialized", "minibatch")

    def __init__(self, data, kind="batch", batch_size=None, seed=0):
        if not isinstance(data, Dataset):
            raise ValueError(f"data: expected a pyxbraid.data.Dataset, got {type(data).__name__}")
        if kind not in self.KINDS:
            raise ValueError(f"schedule: must be one of {', '.join(self.KINDS)}, got {kind!r}")
        n = len(data)
        if kind == "minibatch":
            int_in_range("batch_size", batch_size, 1, n, f"the number of instances ({n})")
        elif batch_size is not None:
            raise ValueError(f"batch_size: only for the minibatch schedule, not {kind!r}")
        self.data, self.kind, self.batch_size = data, kind, batch_size
        if kind == "batch":
            self._batches = [(data.x, data.y)]
        elif kind == "serialized":
            self._batches = [(data.x[i:i + 1], data.y[i:i + 1]) for i in range(n)]
        else:
            order = np.random.default_rng(seed).permutation(n)
            self._batches = [(np.ascontiguousarray(data.x[order[k:k + batch_size]]),
                              np.ascontiguousarray(data.y[order[k:k + batch_size]]))
                             for k in range(0, n, batch_size)]
        self._sizes = np.array([len(x) for x, _ in self._batches])
        self._stacks = None   # the batches stacked by size, for batched steps (at the first)

    def __len__(self):
        return len(self._batches)

    def batch(self, i):
        """(x, y) of step i."""
        return self._batches[i % len(self._batches)]

    def batches(self, indices):
        """The batches of steps `indices` for a batched step: [(rows, x,
        y)], rows indexing `indices`, x and y the batches of those steps
        stacked ((len(rows), B, ...)), or one batch (B, ...) when they all
        train on the same one.  Batches of different sizes (a minibatch
        schedule's last) go in different groups.  A subclass that overrides
        `batch` gets its batches asked one by one."""
        if type(self).batch is not DataSchedule.batch:
            return _stacked_by_size([self.batch(int(i)) for i in indices])
        if len(self._batches) == 1:   # the batch schedule
            return [(np.arange(len(indices)), *self._batches[0])]
        k = np.asarray(indices, dtype=np.int64) % len(self._batches)
        if k.size and (k == k[0]).all():
            return [(np.arange(k.size), *self._batches[k[0]])]
        if self._stacks is None:
            self._stacks = self._stack_batches()
        groups = []
        for size, (position, x, y) in self._stacks.items():
            rows = np.flatnonzero(self._sizes[k] == size) if len(self._stacks) > 1 \
                else np.arange(k.size)
            if rows.size:
                where = position[k[rows]]
                groups.append((rows, x[where], y[where]))
        return groups

    def _stack_batches(self):
        """{B: (position, x (m, B, ...), y (m, B, ...))}: the batches of each
        size stacked, position[j] the place of batch j in its stack."""
        position = np.zeros(len(self._batches), dtype=np.int64)
        stacks = {}
        for ids, x, y in _stacked_by_size(self._batches):
            position[ids] = np.arange(ids.size)
            stacks[x.shape[1]] = (position, x, y)
        return stacks


def _stacked_by_size(batches):
    """[(rows, x, y)] of a list of (x, y) batches: those of each size stacked."""
    sizes = np.array([len(x) for x, _ in batches])
    groups = []
    for size in np.unique(sizes):
        rows = np.flatnonzero(sizes == size)
        groups.append((rows, np.stack([batches[i][0] for i in rows]),
                       np.stack([batches[i][1] for i in rows])))
    return groups


class LearningRate:
    """alpha(level) = min(growth**level * base, maximum).

    growth 1 is the naive choice (the same rate on every level); growth 2 is
    Schroder's "Solver 1", 1.25 its slow variant."""

    def __init__(self, base, growth=1.0, maximum=None):
        positive_real("learning_rate", base)
        positive_real("lr_growth", growth)
        if maximum is not None and (not is_real(maximum) or not math.isfinite(maximum)
                                    or maximum < base):
            raise ValueError(f"alpha_max: must be at least the learning rate ({base}), "
                             f"got {maximum!r}")
        self.base, self.growth = float(base), float(growth)
        self.maximum = math.inf if maximum is None else float(maximum)

    def __call__(self, level):
        return min(self.growth ** level * self.base, self.maximum)

    def __repr__(self):
        cap = "" if self.maximum == math.inf else f", maximum={self.maximum}"
        return f"LearningRate({self.base}, growth={self.growth}{cap})"


class SGDStep:
    """Phi: one SGD update of the flat weight vector w, in place, on the batch
    of data index `index`, with the learning rate of `level`."""

    def __init__(self, model, schedule, learning_rate, grad=None):
        sizes = model.sizes
        data = schedule.data
        if sizes[0] != data.n_features:
            raise ValueError(f"sizes: the network takes {sizes[0]} inputs but the data has "
                             f"{data.n_features} features")
        if sizes[-1] != data.n_outputs:
            raise ValueError(f"sizes: the network has {sizes[-1]} outputs but the data has "
                             f"{data.n_outputs} targets per instance")
        self.model, self.schedule, self.learning_rate = model, schedule, learning_rate
        if grad is not None and (not isinstance(grad, np.ndarray) or grad.dtype != np.float64
                                 or grad.shape != (model.n_params,)):
            raise ValueError(f"grad: expected a float64 vector of {model.n_params}, got "
                             f"{getattr(grad, 'dtype', type(grad).__name__)} of shape "
                             f"{np.shape(grad)}")
        # the gradient's buffer: a memmap keeps a wide network's gradient on disk
        self._grad = np.empty(model.n_params) if grad is None else grad
        self._grads = None   # the rows' gradients of a batched step

    def __call__(self, w, index, level=0):
        x, y = self.schedule.batch(index)
        self.model.loss_and_grad(w, x, y, grad=self._grad)
        np.multiply(self._grad, self.learning_rate(level), out=self._grad)
        w -= self._grad

    def batch(self, W, indices, level=0):
        """Row i of W (n, n_params), in place, as self(W[i], indices[i],
        level) does it (to round-off: the products of a stack): the batched
        forward and backward passes of the model (MLP.loss_and_grad_batch)
        on the stacked batches of the rows, one pass for the rows of each
        batch size."""
        alpha = self.learning_rate(level)
        for rows, x, y in self.schedule.batches(indices):
            whole = rows.size == len(W)
            part = W if whole else W[rows]   # a copy of the rows
            grad = self._batch_grad(len(part))
            self.model.loss_and_grad_batch(part, x, y, grad=grad, want_loss=False)
            np.multiply(grad, alpha, out=grad)
            part -= grad
            if not whole:
                W[rows] = part

    def _batch_grad(self, n):
        """An (n, n_params) buffer for a batch's gradients (kept, and grown)."""
        if self._grads is None or len(self._grads) < n:
            self._grads = np.empty((n, self.model.n_params))
        return self._grads[:n]
