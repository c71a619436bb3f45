"""Data-parallel training with periodic model averaging (Su & Chen 2015,
after Povey, Zhang & Khudanpur 2015, Kaldi's parallel training).

The training data is dealt into disjoint shards, one per rank (seeded: the
same split on every run).  Each rank takes local minibatch steps on its own
shard; every `every` steps the ranks' parameters are replaced by their mean.
The learning rate decays exponentially from an initial to a final value over
the run (Kaldi's schedule), optionally times the number of ranks, and a
step's change of the parameters may be capped in norm (Kaldi's max-change).

This is the baseline that MGRIT's parallel-in-time training is judged
against: the same problem, the same ranks.  With one rank it is serial
training; with `every` 1, plain SGD and a mean loss, it is serial SGD on
the union of the ranks' minibatches (to round-off).
"""
import math

import numpy as np

from pyxbraid.checks import positive_int, positive_real
from pyxbraid.data import Dataset
from pyxbraid.train.ngsgd import apply_max_change

AVERAGING_METHODS = ("allreduce", "butterfly")


def shard_indices(n, nshards, index, seed):
    """The instances of shard `index` of `nshards`: a seeded permutation of
    range(n) dealt in contiguous blocks whose sizes differ by one at most.
    One shard is range(n) in order (so one rank trains as serial training)."""
    nshards = positive_int("ranks", nshards)
    if n < nshards:
        raise ValueError(f"data: {n} instances cannot be shared by {nshards} ranks "
                         f"(every rank needs at least one)")
    if not 0 <= index < nshards:
        raise ValueError(f"shard: must be from 0 to {nshards - 1}, got {index!r}")
    if nshards == 1:
        return np.arange(n)
    order = np.random.default_rng(seed).permutation(n)
    base, extra = divmod(n, nshards)
    start = index * base + min(index, extra)
    return order[start:start + base + (index < extra)]


def shard(data, nshards, index, seed):
    """Shard `index` of `data` (a Dataset), named after it."""
    if not isinstance(data, Dataset):
        raise ValueError(f"data: expected a pyxbraid.data.Dataset, got {type(data).__name__}")
    if nshards == 1:
        return data
    return data.subset(shard_indices(len(data), nshards, index, seed),
                       name=f"{data.name} shard {index}/{nshards}")


class ModelAverager:
    """Replaces a parameter vector, in place, by its mean over the ranks of
    `comm`: by MPI_Allreduce (any number of ranks), or by the butterfly
    exchange (recursive doubling: in round k each rank averages with rank
    XOR 2^k; log2 P rounds, P a power of two).  Every rank ends with the
    same bits: the butterfly is symmetric, and the allreduce result is
    rank 0's, broadcast only when MPI could differ (it does not for the sum
    of MPICH's predefined reductions, so no broadcast is made)."""

    def __init__(self, comm, method="allreduce"):
        if method not in AVERAGING_METHODS:
            raise ValueError(f"averaging.method: must be one of {', '.join(AVERAGING_METHODS)}, "
                             f"got {method!r}")
        size = comm.Get_size()
        if method == "butterfly" and size & (size - 1):
            raise ValueError(f"averaging.method: butterfly needs a power-of-two number of "
                             f"ranks, got {size} (use allreduce)")
        self.comm, self.method, self.size = comm, method, size
        self.rank = comm.Get_rank()
        self.averages = 0
        self._buffer = None

    def check_same(self, name, value):
        """Raise on every rank when `value` is not the same on all of them: a
        rank that averaged fewer times would leave the others waiting."""
        if self.size == 1:
            return
        values = self.comm.allgather(value)
        if any(v != values[0] for v in values):
            raise ValueError(f"{name}: must be the same on every rank, got {values}")

    def __call__(self, vector):
        """Average `vector` (float64, contiguous, the same size on every rank)
        over the ranks, in place."""
        self.averages += 1
        if self.size == 1:
            return
        if self._buffer is None or self._buffer.shape != vector.shape:
            self._buffer = np.empty_like(vector)
        if self.method == "allreduce":
            from mpi4py import MPI
            self.comm.Allreduce(vector, self._buffer, op=MPI.SUM)
            np.divide(self._buffer, self.size, out=vector)
            return
        partner_bit = 1
        while partner_bit < self.size:
            self.comm.Sendrecv(vector, dest=self.rank ^ partner_bit, recvbuf=self._buffer,
                               source=self.rank ^ partner_bit)
            vector += self._buffer   # a + b on one side, b + a on the other: the same bits
            vector *= 0.5
            partner_bit <<= 1


class LearningRateSchedule:
    """The learning rate of local step t (0-based) of a run of `steps`:
    initial * (final / initial) ** (t / (steps - 1)), exponential decay from
    the initial to the final rate (Kaldi's); times the number of ranks when
    scale_with_ranks (averaging P models divides each one's step by P)."""

    def __init__(self, initial, final=None, steps=1, ranks=1, scale_with_ranks=False):
        self.initial = positive_real("learning_rate", initial)
        self.final = self.initial if final is None else positive_real("lr_final", final)
        self.steps = positive_int("steps", steps)
        self.factor = float(positive_int("ranks", ranks)) if scale_with_ranks else 1.0

    def __call__(self, t):
        if self.final == self.initial:
            rate = self.initial
        else:
            rate = self.initial * (self.final / self.initial) ** (t / max(self.steps - 1, 1))
        return rate * self.factor if self.factor != 1.0 else rate

    def __repr__(self):
        return (f"LearningRateSchedule({self.initial}, final={self.final}, steps={self.steps}, "
                f"factor={self.factor})")


class LocalSGDStep:
    """One local minibatch step of an mlp: w -= rate(t) * grad E(w; batch t)
    on the rank's shard, the change capped at max_change when given.

    The same arithmetic as pyxbraid.train.SGDStep (the gradient scaled in
    place, then subtracted), so that one rank with a constant rate trains
    exactly as the serial mode.  With `preconditioners` (those of a
    pyxbraid.train.ngsgd.NaturalGradientSGD: one per layer, this rank's
    own) the gradient is the natural gradient."""

    def __init__(self, model, schedule, rate, max_change=None, preconditioners=None):
        self.model, self.schedule, self.rate = model, schedule, rate
        self.max_change = None if max_change is None else positive_real("max_change", max_change)
        self.extra = {} if preconditioners is None else {"preconditioners": preconditioners}
        self.capped = 0   # steps whose change max_change cut
        self._grad = np.empty(model.n_params)

    def __call__(self, w, index):
        x, y = self.schedule.batch(index)
        self.model.loss_and_grad(w, x, y, grad=self._grad, **self.extra)
        np.multiply(self._grad, self.rate(index), out=self._grad)
        if apply_max_change(self._grad, self.max_change) != 1.0:
            self.capped += 1
        w -= self._grad


class LocalOptimizerStep:
    """One local optimizer step of any objective (a ResNet's Serial, with
    or without NG-SGD's preconditioners; a LayerParallel) on the rank's
    shard: step i's minibatch from the shard's seeded shuffles
    (pyxbraid.train.loop.batches), the rank's own optimizer (SGD, Adam,
    NaturalGradientSGD).  Steps come in increasing order (a resumed run may
    start at any; the batches before it are skipped); on one rank,
    train_averaged with it is pyxbraid.train.loop.train bit for bit."""

    def __init__(self, objective, optimizer, data, batch_size, seed):
        from pyxbraid.train.loop import batches
        self.objective, self.optimizer, self.data = objective, optimizer, data
        self._source = batches(len(data), batch_size, seed)
        self._next = 0   # the step index of the source's next batch

    def __call__(self, w, index):
        if index < self._next:
            raise ValueError(f"index: steps come in increasing order, got {index} after "
                             f"{self._next - 1}")
        for _ in range(index - self._next):  # the batches of steps already made
            next(self._source)
        self._next = index + 1
        rows = next(self._source)
        x, y = self.data.x[rows], self.data.y[rows]

        def evaluate(point, need_grad=True):
            return self.objective.objective(point, x, y, need_grad)

        loss, grad = evaluate(w)
        self.optimizer.update(w, loss, grad, evaluate)


def train_averaged(step, w0, nsteps, averager, every, on_step=None, first=0):
    """Local steps first .. first+nsteps-1 from w0 (a copy), the parameters
    averaged after every `every`-th step (counted from the start of the run)
    and after the last one, so that every rank ends with the same model.
    on_step(i, w, averaged) sees the weights after i steps.  Returns them."""
    positive_int("nsteps", nsteps)
    every = positive_int("averaging.every", every)
    averager.check_same("nsteps", (first, nsteps, every))
    w = np.array(w0, dtype=np.float64, copy=True)
    last = first + nsteps
    for i in range(first, last):
        step(w, i)
        averaged = (i + 1) % every == 0 or i + 1 == last
        if averaged:
            averager(w)
        if on_step is not None:
            on_step(i + 1, w, averaged)
    return w


def model_speedup(compute_time, average_time, every, ranks):
    """Modelled speed-up of averaging on `ranks` ranks over one rank, per
    step of the whole data: a rank's compute shrinks P-fold and each average
    costs average_time (measured, or log2 P latency-bound messages).
    Speed-up = compute / (compute / P + average / every)."""
    if ranks == 1:
        return 1.0
    return compute_time / (compute_time / ranks + average_time / every)


def butterfly_rounds(ranks):
    """Messages of one butterfly average (log2 P)."""
    return int(math.log2(ranks)) if ranks > 1 else 0


# ------------------------------------------------------ data x layer parallel

def split_data_layer(comm, data_groups):
    """(layer_comm, data_comm) of ranks = data_groups x layer ranks: layer
    group g holds the contiguous ranks g*L .. g*L+L-1 (L = size/data_groups),
    which solve one layer-parallel problem; data_comm joins the ranks of the
    same place in every group, over which the groups average."""
    size = comm.Get_size()
    data_groups = positive_int("parallel.data", data_groups)
    if size % data_groups:
        raise ValueError(f"parallel.data: {data_groups} data groups must divide the number "
                         f"of ranks ({size})")
    layer_ranks = size // data_groups
    rank = comm.Get_rank()
    return comm.Split(rank // layer_ranks, rank), comm.Split(rank % layer_ranks, rank)


class _GroupStats:
    """Solve statistics with another forward factor (AveragedGradient's)."""

    def __init__(self, stats, forward_factor):
        self._stats, self.forward_factor = stats, forward_factor

    def __getattr__(self, name):
        return getattr(self._stats, name)


class ObjectiveWrapper:
    """An objective (objective(theta, x, y, need_grad) -> (loss, grad)) that
    wraps another: everything it does not define itself (mode,
    gradient_stats, warm states, ...) is the wrapped one's, and setting the
    mode sets the wrapped one's (the one-shot guard does)."""

    def __init__(self, objective):
        self.inner = objective

    def __getattr__(self, name):
        return getattr(self.inner, name)

    @property
    def mode(self):
        return self.inner.mode

    @mode.setter
    def mode(self, value):
        self.inner.mode = value


class AveragedGradient(ObjectiveWrapper):
    """An objective (objective(theta, x, y, need_grad) -> (loss, grad)) whose
    loss and gradient are averaged over data_comm: each data group evaluates
    it on its own minibatch, and the mean over equal minibatches of a mean
    loss is the loss of their union.  Everything else (mode,
    gradient_stats, ...) is the wrapped objective's."""

    def __init__(self, objective, data_comm):
        super().__init__(objective)
        self.data_comm = data_comm
        self.size = data_comm.Get_size()
        self._buffer = None
        self._factor = math.nan

    @property
    def gradient_stats(self):
        """The wrapped objective's, with the largest forward convergence
        factor of the groups: the one-shot guard then switches every group
        to exact mode at the same step."""
        stats = self.inner.gradient_stats
        return stats if self.size == 1 else _GroupStats(stats, self._factor)

    def objective(self, theta, x, y, need_grad=True):
        loss, grad = self.inner.objective(theta, x, y, need_grad)
        if self.size == 1:
            return loss, grad
        from mpi4py import MPI
        factor = getattr(getattr(self.inner, "gradient_stats", None), "forward_factor", math.nan)
        factors = self.data_comm.allgather(factor)
        self._factor = math.nan if any(math.isnan(f) for f in factors) else max(factors)
        loss = self.data_comm.allreduce(loss, op=MPI.SUM) / self.size
        if grad is not None:
            if self._buffer is None or self._buffer.shape != grad.shape:
                self._buffer = np.empty_like(grad)
            self.data_comm.Allreduce(grad, self._buffer, op=MPI.SUM)
            grad = self._buffer / self.size
        return loss, grad
