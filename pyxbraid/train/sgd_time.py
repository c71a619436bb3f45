"""MGRIT over SGD iterations (Schroder 2017): the N training steps are the
time steps, the state is the flat weight vector, and coarse levels step with
a larger learning rate.  Converges to the weights of serial training."""
from dataclasses import dataclass, field

import numpy as np
from mpi4py import MPI

from pyxbraid.train.braid_app import BraidApp, convergence_factor
from pyxbraid.train.strides import FineStrides


class SGDTimeApp(BraidApp):
    """The braid app: point i holds the weights after i SGD steps.

    initial_guess: "zeros" (the paper: w0 at t=0, zeros elsewhere) or "w0"
    (w0 at every point).  coarse_data: which batch a coarse step trains on,
    "fine" (the batch of the fine index where its interval starts: tindex
    times the coarsening factors below its level) or "level" (its own index
    on its level; the paper's rule for the serialized schedule).

    step(w, index, level) is the SGD step (SGDStep), with its model; its
    batch(W, indices, level), if any, steps many at once: step_batch
    advances the weights of many points at once through it (the batched
    forward and backward passes of SGDStep.batch), and the Core uses it
    unless told batch=False."""

    INITIAL_GUESSES = ("zeros", "w0")
    COARSE_DATA = ("fine", "level")

    def __init__(self, step, w0, nsteps, initial_guess="zeros", coarse_data="fine", offset=0,
                 evaluate=None, every=0, on_iteration=None):
        """offset: the global index of the first step (a window of a longer
        run); evaluate(w) -> dict is called every `every` global steps at the
        end (metrics); on_iteration(k, residual) is told each finished
        iteration's residual while the solve runs."""
        if initial_guess not in self.INITIAL_GUESSES:
            raise ValueError(f"initial_guess: must be one of {', '.join(self.INITIAL_GUESSES)}, "
                             f"got {initial_guess!r}")
        if coarse_data not in self.COARSE_DATA:
            raise ValueError(f"coarse_data: must be one of {', '.join(self.COARSE_DATA)}, "
                             f"got {coarse_data!r}")
        self.sgd = step
        self.w0 = np.array(w0, dtype=np.float64, copy=True)
        if self.w0.shape != (step.model.n_params,):
            raise ValueError(f"w0: expected {step.model.n_params} weights, "
                             f"got shape {self.w0.shape}")
        self.vector_shape = self.w0.shape
        self.nsteps = nsteps
        self.initial_guess = initial_guess
        self.coarse_data = coarse_data
        self.offset = offset
        self.evaluate, self.every, self.on_iteration = evaluate, every, on_iteration
        self._stride = FineStrides()
        self._iteration = 0
        self.final = None
        self.metrics = {}

    def init(self, t):
        if t == 0.0 or self.initial_guess == "w0":
            return self.w0.copy()
        return np.zeros_like(self.w0)

    def _data_index(self, level, tindex, status):
        """The data index of the step at `tindex` on `level`."""
        return int(self._data_indices(level, tindex, status))

    def _data_indices(self, level, tindex, status):
        """The data index of the step at `tindex` on `level`, elementwise
        for an array of a batch's tindex."""
        if level == 0:
            return self.offset + tindex
        stride = self._stride(status)
        if self.coarse_data == "level":
            return self.offset // stride + tindex
        return self.offset + tindex * stride

    def _new_iteration(self, iteration, residuals):
        """Tell on_iteration(k, residual) of the iteration k that finished,
        at the first step of the next; residuals() is the history."""
        if self.on_iteration is not None and iteration != self._iteration:
            self._iteration = iteration
            self.on_iteration(iteration - 1, residuals()[-2])

    def step(self, ustop, fstop, u, status):
        self._new_iteration(status.iter, lambda: status.rnorms)
        level = status.level
        self.sgd(u, self._data_index(level, status.tindex, status), level)

    def step_batch(self, ustop, fstop, u, status):
        """Row i of u (n, n_params) as step() does it with the status of step
        i (to round-off: SGDStep.batch; a step without a batch method is
        called row by row)."""
        self._new_iteration(status.iter, lambda: status.rnorms)
        level = status.level
        indices = self._data_indices(level, status.tindex, status)
        batch = getattr(self.sgd, "batch", None)
        if batch is not None:
            batch(u, indices, level)
            return
        for row, index in zip(u, indices):
            self.sgd(row, int(index), level)

    def access(self, u, status):
        if not status.done:
            return
        index = status.tindex
        if index == self.nsteps:
            self.final = u.copy()
        if self.every and (self.offset + index) % self.every == 0 and self.evaluate:
            self.metrics[self.offset + index] = self.evaluate(u)


@dataclass
class SGDTimeResult:
    """The outcome of MGRIT training, the same on every rank."""
    weights: np.ndarray
    niter: int
    nlevels: int
    rnorms: np.ndarray
    wall_time: float
    critical_path: int
    nsteps: int
    metrics: dict = field(default_factory=dict)

    @property
    def model_speedup(self):
        """Sequential steps over MGRIT's critical path (one rank per coarse interval)."""
        return self.nsteps / self.critical_path

    @property
    def convergence_factor(self):
        """pyxbraid.train.braid_app.convergence_factor of rnorms."""
        return convergence_factor(self.rnorms)


def train_sgd_time(step, w0, nsteps, comm=None, initial_guess="zeros", coarse_data="fine",
                   offset=0, evaluate=None, every=0, on_iteration=None, **options):
    """MGRIT over `nsteps` SGD steps of `step` from w0 (steps offset ..
    offset+nsteps-1 of a longer run).  `options` are pyxbraid.Core options
    (cfactor, max_levels, abs_tol, fmg, ...); print_level defaults to 0.
    evaluate(w) -> dict, every `every` global steps, fills result.metrics
    (computed where each point lives, gathered on every rank)."""
    comm = MPI.COMM_WORLD if comm is None else comm
    app = SGDTimeApp(step, w0, nsteps, initial_guess, coarse_data, offset, evaluate, every,
                     on_iteration)
    run = app.run(comm, float(nsteps), nsteps, timed=True, **options)
    finals = [w for w in comm.allgather(app.final) if w is not None]
    metrics = {}
    if every:
        for part in comm.allgather(app.metrics):
            metrics.update(part)
    return SGDTimeResult(finals[0], run.niter, run.nlevels, run.rnorms, run.wall_time,
                         run.critical_path(), nsteps, dict(sorted(metrics.items())))
