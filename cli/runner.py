"""Running a problem in its mode, shared by `run` (which records metrics and
checkpoints in a run folder) and `compare` (which records nothing).

MODES holds one entry per mode; each is one of two loops with its own way
of solving:
- an mlp (sgd-time, averaging, serial) trains window by window: MGRIT (or
  local steps averaged over the ranks, or serial SGD) over `train.window`
  steps, then metrics and a checkpoint (_train_windows, with
  _SGDTimeWindows, _AveragingWindows or _SerialWindows);
- a resnet (layer-parallel, averaging, serial) trains optimizer step by
  step, with a checkpoint every `train.checkpoint_every` steps
  (_train_steps, with _LayerParallelGradient or _SerialGradient).
Data parallelism is the same for both loops (_DataParallel): the ranks form
data groups, each training on its shard; the groups average their models
every averaging.every steps and at every checkpoint (so that a checkpoint
holds one model), or, in layer-parallel with data groups and every 1,
their gradient at every step.
A checkpoint holds what the summary counts of the steps before it (the
history: totals, not one entry per step), so that a killed run continued
with --resume ends with the same weights and the same summary; what
differs between ranks (warm starts, a data group's optimizer state or
NG-SGD preconditioners) is gathered on rank 0 and handed back on resume."""
import contextlib
import math
import os
import tempfile
import time
from dataclasses import replace

import numpy as np
from mpi4py import MPI

from pyxbraid.gemm.outofcore import DiskVectors, all_finite, copy_into
from pyxbraid.train import train_serial, train_sgd_time
from pyxbraid.train.averaging import (AveragedGradient, LearningRateSchedule, ModelAverager,
                                      ObjectiveWrapper, shard, split_data_layer,
                                      train_averaged)
from pyxbraid.train.layer_parallel import LayerParallel, Serial
from pyxbraid.train.loop import train
from pyxbraid.train.ngsgd import apply_max_change
from pyxbraid.train.optim import make_optimizer
from pyxbraid.train.rbm import pretrain

from pyxbraid.cli.agree import TrainingDiverged, agree
from pyxbraid.cli.config import data_groups, models_averaged, problem_error, problem_json
from pyxbraid.cli.problem import build, build_resnet, gemm_engine, natural_gradient
from pyxbraid.cli.rundir import Checkpoint, RunFailed

WARM = "warm_"   # checkpoint arrays: one-shot warm starts, by name (data group g: warm_g<g>.)
OPTIMIZER = "opt_"  # checkpoint arrays: the optimizer's memory
GROUP = "group_"  # checkpoint arrays: one data group's own state, group_<g>.<name>


class Recorder:
    """What a run writes: on rank 0 into its run folder (`writer`), nothing
    on the other ranks (nor anywhere for compare, folder None).  It keeps
    what the next checkpoint needs (the number of metrics lines written), so
    that nothing written is read again.  A write that fails is kept, and
    agree() (collective, at every checkpoint) ends the run on every rank
    with it."""

    def __init__(self, comm, folder=None, checkpoint=None):
        """folder: the RunDir (None: record nothing); checkpoint: the one
        the run resumes from."""
        self.comm = comm
        self.path = folder.path if folder is not None else None
        self.writer = folder if comm.rank == 0 else None
        self.error = None
        self.metrics_lines = checkpoint.metrics_lines if checkpoint else 0
        self.checkpoint_step = checkpoint.step if checkpoint else None  # the last one kept

    def _write(self, method, *args):
        if self.writer is None or self.error is not None:
            return
        try:
            getattr(self.writer, method)(*args)
        except RunFailed as e:
            self.error = e

    def metrics(self, records):
        if self.path is not None:
            self._write("append_metrics", records)
            self.metrics_lines += len(records)

    def checkpoint(self, problem, weights, step, elapsed, history, arrays=None):
        """A checkpoint after `step` steps, then agree() on its write."""
        if self.path is not None:
            self._write("save_checkpoint", Checkpoint(
                weights=weights, step=step, elapsed=elapsed, metrics_lines=self.metrics_lines,
                problem=problem_json(problem), history=history, arrays=arrays or {}))
            self.checkpoint_step = step
        self.agree()

    def agree(self):
        agree(self.comm, self.error)

    def kept(self):
        """What a diverged run leaves: the last good checkpoint, or none."""
        if self.path is None:
            return "Nothing was written (compare)."
        if self.checkpoint_step is None:
            return f"No checkpoint was written before (run folder {self.path})."
        return (f"The last good checkpoint (step {self.checkpoint_step}) is kept in "
                f"{self.path}.")


def _failure_point():
    """Testing hook: MGRIT_TRAIN_FAIL="rank=R,step=S" makes rank R raise at
    step S (an mlp: the SGD step of data index S; a resnet: after optimizer
    step S, before its checkpoint), to test that a failure ends the whole
    job and what a killed run leaves behind."""
    spec = os.environ.get("MGRIT_TRAIN_FAIL")
    if not spec:
        return None
    fields = dict(part.split("=") for part in spec.split(","))
    return int(fields["rank"]), int(fields["step"])


def _fail_at(rank, step):
    raise RuntimeError(f"injected failure at step {step} on rank {rank} (MGRIT_TRAIN_FAIL)")


class _FailingStep:
    """An SGD step that raises at the data index of _failure_point."""

    def __init__(self, step, rank, index):
        self.step, self.rank, self.index = step, rank, index
        self.model = step.model

    def __call__(self, w, index, *level):
        if index == self.index and MPI.COMM_WORLD.rank == self.rank:
            _fail_at(self.rank, index)
        self.step(w, index, *level)


def _injected(step):
    point = _failure_point()
    return step if point is None else _FailingStep(step, *point)


def _loss_bound(problem, history):
    """The loss above which training has diverged: divergence_factor times
    the initial loss (no bound for an initial loss of 0)."""
    initial = history.get("initial_loss")
    if not initial or not math.isfinite(initial) or initial <= 0:
        return math.inf
    return problem.train.divergence_factor * initial


def _divergence(records, weights, bound):
    """What went wrong in these records, or None."""
    for record in records:
        for key in ("residual", "loss"):
            value = record.get(key)
            if value is None:
                continue
            where = (f"MGRIT iteration {record['iteration']}" if record["type"] == "iteration"
                     else f"step {record['step']}")
            if not math.isfinite(value):
                return f"the {key} is {value} at {where}"
            if key == "loss" and value > bound:
                return (f"the loss {value:.3g} at {where} exceeds divergence_factor times the "
                        f"initial loss ({bound:.3g})")
    if weights is not None and not all_finite(weights):
        return "the weights are not finite"
    return None


def without_warm_starts(checkpoint):
    """The checkpoint without what rank 0 hands out rank by rank (one-shot
    warm starts, the data groups' own states), or None.  Weights in a file
    (network.out_of_core, which runs on one rank) stay out too: sending them
    would read them whole into memory."""
    if checkpoint is None:
        return None
    weights = None if isinstance(checkpoint.weights, np.memmap) else checkpoint.weights
    return replace(checkpoint, weights=weights,
                   arrays={k: v for k, v in checkpoint.arrays.items()
                           if not k.startswith((WARM, GROUP))})


# ------------------------------------------------------------ the modes

def sgd_time(problem, datasets, comm, recorder, progress, checkpoint=None):
    """An mlp: MGRIT over each window's SGD steps (Schroder 2017)."""
    return _train_windows(_SGDTimeWindows, problem, datasets, comm, recorder, progress,
                          checkpoint)


def layer_parallel(problem, datasets, comm, recorder, progress, checkpoint=None):
    """A resnet: its gradient by forward and adjoint MGRIT over its layers
    (Günther et al. 2018)."""
    return _train_steps(_LayerParallelGradient, problem, datasets, comm, recorder, progress,
                        checkpoint)


def averaging(problem, datasets, comm, recorder, progress, checkpoint=None):
    """Data-parallel training (Su & Chen 2015): every rank trains on its
    shard (an mlp: SGD or NG-SGD window by window; a resnet: serial
    backprop and its optimizer), the models averaged every averaging.every
    steps."""
    if problem.network.kind == "mlp":
        return _train_windows(_AveragingWindows, problem, datasets, comm, recorder, progress,
                              checkpoint)
    return _train_steps(_SerialGradient, problem, datasets, comm, recorder, progress,
                        checkpoint)


def serial(problem, datasets, comm, recorder, progress, checkpoint=None):
    """The reference of either: serial SGD over an mlp's windows, or a
    resnet's gradient by serial backpropagation."""
    if problem.network.kind == "mlp":
        return _train_windows(_SerialWindows, problem, datasets, comm, recorder, progress,
                              checkpoint)
    return _train_steps(_SerialGradient, problem, datasets, comm, recorder, progress,
                        checkpoint)


MODES = {"sgd-time": sgd_time, "layer-parallel": layer_parallel, "averaging": averaging,
         "serial": serial}


def train_problem(problem, datasets, comm, recorder, progress, checkpoint=None):
    """Train a problem on datasets (from load_data) in its mode; returns
    (weights, summary).  checkpoint: the Checkpoint to continue from (with
    the warm starts on rank 0 only).  Every product of the network runs on
    its network.gemm backend."""
    with gemm_engine(problem) as backend:
        weights, summary = MODES[problem.mode](problem, datasets, comm, recorder, progress,
                                               checkpoint)
    totals = getattr(backend, "totals", None)
    if totals is not None:  # the tiled engine's work on this rank (of this run, if resumed)
        summary["gemm"] = dict(backend="tiled", workers=backend.workers, **totals.as_dict())
    return weights, summary


OUT_OF_CORE = "out-of-core"   # the run folder's folder of network.out_of_core's files


@contextlib.contextmanager
def _weight_files(problem, recorder, comm):
    """network.out_of_core: the DiskVectors keeping the weights and the
    gradient, in the run folder (compare: a temporary folder, removed
    after); otherwise None."""
    if not getattr(problem.network, "out_of_core", False):
        yield None
        return
    if comm.size > 1:
        raise problem_error(problem, "network.out_of_core", f"weights in files train on one "
                            f"rank (mode serial), not on {comm.size}")
    if recorder.path is not None:
        yield DiskVectors(recorder.path / OUT_OF_CORE)
        return
    with tempfile.TemporaryDirectory(prefix="mgrit-train-") as folder:
        yield DiskVectors(folder)


# ---------------------------------------------------- data parallelism

class _DataGroups:
    """The data groups of a run (problem.data_groups): group `index` trains
    on its shard of the training data on `layer_comm`, whose ranks hold the
    same model; `data_comm` joins the ranks of one place in every group (the
    groups average over it).  One group: the whole data, on the run's
    communicator."""

    def __init__(self, problem, comm):
        self.comm, self.count, self.seed = comm, data_groups(problem, comm.size), problem.seed
        self._split = 1 < self.count < comm.size
        if self.count == 1:
            self.layer_comm, self.data_comm = comm, MPI.COMM_SELF
        elif self.count == comm.size:
            self.layer_comm, self.data_comm = MPI.COMM_SELF, comm
        else:
            self.layer_comm, self.data_comm = split_data_layer(comm, self.count)
        self.index = self.data_comm.rank

    def shard(self, data):
        return shard(data, self.count, self.index, self.seed)

    def mean(self, vector):
        """vector averaged over the groups, in a new array (the model the
        groups would share if they averaged now)."""
        if self.count == 1:
            return vector
        total = np.empty_like(vector)
        self.data_comm.Allreduce(vector, total, op=MPI.SUM)
        return np.divide(total, self.count, out=total)

    def total(self, value):
        """The sum of a number over the groups."""
        return self.data_comm.allreduce(value, op=MPI.SUM) if self.count > 1 else value

    def gather(self, state):
        """Collective: every group's `state` (named arrays, the same on the
        ranks of a group) as checkpoint arrays group_<g>.<name> on rank 0."""
        if self.layer_comm.rank != 0:
            return {}
        parts = self.data_comm.gather(state, root=0)
        if parts is None or self.comm.rank != 0:
            return {}
        return {f"{GROUP}{g}.{name}": value for g, part in enumerate(parts)
                for name, value in part.items()}

    def scatter(self, checkpoint):
        """Collective: this group's state from the checkpoint (whose group
        arrays only rank 0 holds)."""
        state = None
        if self.layer_comm.rank == 0:
            parts = None
            if self.comm.rank == 0:
                parts = [{} for _ in range(self.count)]
                for key, value in checkpoint.arrays.items():
                    if key.startswith(GROUP):
                        group, _, name = key[len(GROUP):].partition(".")
                        parts[int(group)][name] = value
            state = self.data_comm.scatter(parts, root=0)
        return self.layer_comm.bcast(state, root=0) if self.layer_comm.size > 1 else state

    def free(self):
        if self._split:
            self.layer_comm.Free()
            self.data_comm.Free()


class _MeanLoss(ObjectiveWrapper):
    """A data group's objective, its loss the mean of the groups' losses
    (the same on every rank: the records and the divergence checks agree);
    the gradient stays the group's own.  A loss or gradient that is not
    finite in any group makes the loss NaN everywhere, so that every rank
    stops at once."""

    def __init__(self, objective, data_comm):
        super().__init__(objective)
        self.data_comm = data_comm

    def objective(self, theta, x, y, need_grad=True):
        loss, grad = self.inner.objective(theta, x, y, need_grad)
        finite = math.isfinite(loss) and (grad is None or bool(np.all(np.isfinite(grad))))
        total = self.data_comm.allreduce(loss if finite else math.nan, op=MPI.SUM)
        return total / self.data_comm.size, grad


class _ScheduledOptimizer:
    """An optimizer whose learning rate follows a LearningRateSchedule
    (averaging.lr_final, scale_lr_with_ranks) and whose step is capped at
    max_change: what LocalSGDStep does for an mlp, for any optimizer."""

    def __init__(self, optimizer, rate, max_change=None):
        self.inner, self.rate, self.max_change = optimizer, rate, max_change
        self.updates = 0   # the schedule's step index
        self.capped = 0    # updates whose change max_change cut

    def state(self):
        return self.inner.state()

    def load(self, state):
        self.inner.load(state)

    def update(self, theta, loss, grad, objective):
        self.inner.learning_rate = self.rate(self.updates)
        self.updates += 1
        if self.max_change is None:
            return self.inner.update(theta, loss, grad, objective)
        before = theta.copy()
        evaluations = self.inner.update(theta, loss, grad, objective)
        change = np.subtract(before, theta)
        if apply_max_change(change, self.max_change) != 1.0:
            np.subtract(before, change, out=theta)
            self.capped += 1
        return evaluations


class _DataParallel:
    """What the data groups of a run share and count (both loops): the
    shards, the averager of their models (mode averaging, or layer-parallel
    with averaging.every > 1) or the average of their gradients
    (layer-parallel with data groups and every 1), the learning-rate
    schedule and max-change of the averaging section (a resnet's optimizer;
    an mlp's LocalSGDStep does its own), and the totals of the summary."""

    def __init__(self, problem, comm):
        self.problem, self.groups = problem, _DataGroups(problem, comm)
        self.used = problem.mode == "averaging" or self.groups.count > 1
        self.spec = problem.averaging if self.used else None
        self.models = models_averaged(problem)
        self.averager = ModelAverager(self.groups.data_comm, self.spec.method) \
            if self.models else None
        self.capped_source = None   # what counts the capped steps (.capped)
        self._counted = (0, 0)      # averages and capped steps in the history

    def new_history(self):
        if not self.used:
            return {}
        history = dict(averages=0, capped_steps=0)
        if self.problem.mode == "averaging":  # shards and per-rank state: the same ranks
            history["resume_ranks"] = self.groups.comm.size
        return history

    # a resnet's steps

    def objective(self, objective):
        """The objective that train() evaluates for this group."""
        if self.models:
            return _MeanLoss(objective, self.groups.data_comm)
        if self.used:
            return AveragedGradient(objective, self.groups.data_comm)
        return objective

    def optimizer(self, optimizer):
        if not self.used:
            return optimizer
        train = self.problem.train
        rate = LearningRateSchedule(train.learning_rate, self.spec.lr_final, train.steps,
                                    self.groups.count, self.spec.scale_lr_with_ranks)
        optimizer = self.capped_source = _ScheduledOptimizer(optimizer, rate,
                                                             self.spec.max_change)
        return optimizer

    def optimizer_arrays(self, optimizer, gradient):
        """Collective: the optimizer's memory as checkpoint arrays (every
        group's own, on rank 0, when the groups average their models), in
        the full layout (gradient.optimizer_state)."""
        state = gradient.optimizer_state(optimizer.state(), to_full=True)
        state = {OPTIMIZER + k: v for k, v in state.items()}
        return self.groups.gather(state) if self.models else state

    def load_optimizer(self, optimizer, checkpoint, start, gradient):
        """Collective: the optimizer's memory and schedule after `start`
        steps (this rank's part: gradient.optimizer_state)."""
        arrays = self.groups.scatter(checkpoint) if self.models else checkpoint.arrays
        optimizer.load(gradient.optimizer_state(
            {k[len(OPTIMIZER):]: v for k, v in arrays.items() if k.startswith(OPTIMIZER)},
            to_full=False))
        if isinstance(optimizer, _ScheduledOptimizer):
            optimizer.updates = start

    def after_step(self, step, theta, due):
        """Average the models after `step` steps when it is time (every
        averaging.every steps, and when `due`: a checkpoint, the last step);
        whether the ranks now hold one model."""
        if not self.models:
            return True
        if step % self.spec.every == 0 or due:
            self.averager(theta)
            return True
        return False

    def model(self, theta, averaged):
        """The model of the records: the groups' mean."""
        return theta if averaged else self.groups.mean(theta)

    # both loops

    def count(self, history):
        """Collective: add the averages and capped steps since the last count
        to the history (capped steps summed over the groups)."""
        if not self.used:
            return
        averages = self.averager.averages if self.averager is not None else 0
        capped = self.groups.total(self.capped_source.capped if self.capped_source else 0)
        history["averages"] += averages - self._counted[0]
        history["capped_steps"] += capped - self._counted[1]
        self._counted = (averages, capped)

    def summary(self, history):
        if not self.used:
            return {}
        summary = dict(data_groups=self.groups.count, capped_steps=history["capped_steps"],
                       averaged="models" if self.models else "gradients")
        if self.models:
            summary.update(averages=history["averages"], every=self.spec.every,
                           method=self.spec.method)
        return summary


# -------------------------------------------------- mlp: window by window

class _Windows:
    """What the kinds of window solves share: a record per log step, no
    state beyond the weights and the history."""

    def __init__(self, problem, training, step, comm, progress, every):
        self.problem, self.training, self.step = problem, training, step
        self.comm, self.progress, self.every = comm, progress, every

    def new_history(self):
        return {}

    def initial_weights(self, history):
        """The weights of step 0 (of a run that starts)."""
        return self.training.w0

    def initial_records(self, initial):
        return [dict(type="step", step=0, **initial, wall_time=0.0)]

    def record(self, i, w, clock):
        return dict(type="step", step=i, **self.training.evaluate(w), wall_time=clock())

    def resume(self, checkpoint):
        """Collective: what the checkpoint holds beyond the weights."""

    def checkpoint_arrays(self, history):
        """Collective: the arrays of a checkpoint beyond the weights."""
        return {}

    def summary(self, history):
        return {}


class _SGDTimeWindows(_Windows):
    """sgd-time: a window's SGD steps solved by MGRIT."""

    def new_history(self):
        return dict(mgrit_iterations=[], critical_path=0, residual=math.nan)

    def initial_records(self, initial):
        return []  # the solve reports step 0 itself

    def solve(self, weights, done, count, number, history, clock):
        """(weights, records) after steps done .. done+count-1 (window `number`)."""
        stamps = {}

        def on_iteration(k, residual):
            stamps[k] = clock()
            self.progress.iteration(number, k, residual)

        mgrit = self.problem.mgrit
        result = train_sgd_time(self.step, weights, count, self.comm, mgrit.initial_guess,
                                mgrit.coarse_data, offset=done, evaluate=self.training.evaluate,
                                every=self.every, on_iteration=on_iteration,
                                **mgrit.core_options())
        now = clock()
        rnorms = [float(r) for r in result.rnorms]
        records = []
        for k in range(result.niter):
            if rnorms[k] == -1:
                continue
            previous = rnorms[k - 1] if k > 0 and rnorms[k - 1] > 0 else math.nan
            records.append(dict(type="iteration", window=number, iteration=k,
                                residual=rnorms[k], conv_factor=rnorms[k] / previous,
                                wall_time=stamps.get(k, now)))
        records += [dict(type="step", step=i, **values, wall_time=now)
                    for i, values in result.metrics.items() if i > done or done == 0]
        history["mgrit_iterations"].append(result.niter)
        history["critical_path"] += result.critical_path
        history["residual"] = rnorms[-1]
        history["solve_time"] += result.wall_time
        return result.weights, records

    def summary(self, history):
        mgrit, path = self.problem.mgrit, history["critical_path"]
        return dict(mgrit_iterations=history["mgrit_iterations"],
                    final_residual=history["residual"], tol=mgrit.tol,
                    tol_relative=mgrit.tol_relative,
                    model_speedup=self.problem.train.steps / path if path else None)


class _SerialWindows(_Windows):
    """serial (an mlp): a window's SGD steps one after the other."""

    def solve(self, weights, done, count, number, history, clock):
        records = []

        def on_step(i, w):
            if i % self.every == 0:
                records.append(self.record(i, w, clock))

        solve_start = time.monotonic()
        weights = train_serial(self.step, weights, count, on_step=on_step, first=done,
                               in_place=self.problem.network.out_of_core)
        history["solve_time"] += time.monotonic() - solve_start
        return weights, records


class _AveragingWindows(_Windows):
    """averaging (an mlp): a window's local steps on each rank's shard, the
    models averaged every averaging.every steps and after the window's last
    step (so that the window's checkpoint holds one model); NG-SGD's
    preconditioners are each rank's own, and in the checkpoint."""

    def __init__(self, problem, training, step, comm, progress, every):
        super().__init__(problem, training, step, comm, progress, every)
        self.parallel = _DataParallel(problem, comm)
        self.parallel.capped_source = training.step

    def new_history(self):
        return self.parallel.new_history()

    def initial_weights(self, history):
        """pretrain: the hidden layers pretrained as RBMs, on each rank's shard
        with the same starting weights (Glorot, from the seed), the RBMs
        averaged every averaging.every minibatches and after the last."""
        spec = self.problem.pretrain
        if spec is None:
            return super().initial_weights(history)
        groups, method = self.parallel.groups, self.problem.averaging.method
        averager = ModelAverager(groups.data_comm, method)
        x = self.training.step.schedule.data.x   # this rank's shard
        smallest = groups.data_comm.allreduce(len(x), op=MPI.MIN) if groups.count > 1 \
            else len(x)
        start = time.monotonic()
        weights = pretrain(self.training.model, x, epochs=spec.epochs,
                           learning_rate=spec.learning_rate, batch_size=spec.batch_size,
                           rng=np.random.default_rng(self.problem.seed), average=averager,
                           average_every=self.problem.averaging.every,
                           batches_per_epoch=-(-smallest // spec.batch_size))
        history["pretrain"] = dict(kind=spec.kind, epochs=spec.epochs,
                                   averages=averager.averages,
                                   seconds=time.monotonic() - start)
        return weights

    def solve(self, weights, done, count, number, history, clock):
        records = []
        groups = self.parallel.groups

        def on_step(i, w, averaged):
            if i % self.every == 0:
                records.append(self.record(i, w if averaged else groups.mean(w), clock))

        solve_start = time.monotonic()
        weights = train_averaged(self.step, weights, count, self.parallel.averager,
                                 self.problem.averaging.every, on_step, first=done)
        history["solve_time"] += time.monotonic() - solve_start
        self.parallel.count(history)
        return weights, records

    def resume(self, checkpoint):
        state = self.parallel.groups.scatter(checkpoint)
        if self.training.optimizer is not None:
            self.training.optimizer.load(state)

    def checkpoint_arrays(self, history):
        optimizer = self.training.optimizer
        return self.parallel.groups.gather(optimizer.state() if optimizer is not None else {})

    def summary(self, history):
        summary = dict(self.parallel.summary(history), optimizer=self.problem.train.optimizer)
        if "pretrain" in history:
            summary["pretrain"] = history["pretrain"]
        return summary


def _train_windows(windows_kind, problem, datasets, comm, recorder, progress, checkpoint):
    """The loop of an mlp: window after window solved by windows_kind, each
    followed by its metrics and a checkpoint."""
    with _weight_files(problem, recorder, comm) as files:
        return _train_windows_with(windows_kind, problem, datasets, comm, recorder, progress,
                                   checkpoint, files)


def _train_windows_with(windows_kind, problem, datasets, comm, recorder, progress, checkpoint,
                        files):
    training = build(problem, datasets, comm, files)
    steps = problem.train.steps
    window = min(problem.train.window or steps, steps)
    every = problem.train.log_every or max(1, steps // 100)
    windows = windows_kind(problem, training, _injected(training.step), comm, progress, every)
    start = time.monotonic() - (checkpoint.elapsed if checkpoint else 0.0)
    if checkpoint is None:
        done = 0
        history = dict(windows=0, solve_time=0.0, **windows.new_history())
        weights = windows.initial_weights(history)
    else:
        weights, done = checkpoint.weights, checkpoint.step
        if files is not None:  # into the file that is stepped in place
            weights = copy_into(training.w0, weights)
        history = checkpoint.history
        windows.resume(checkpoint)

    def clock():
        return time.monotonic() - start

    if "initial_loss" not in history:  # a run that starts: weights are step 0's
        initial = training.evaluate(weights)
        history["initial_loss"] = initial["loss"]
        recorder.metrics(windows.initial_records(initial))
    bound = _loss_bound(problem, history)
    while done < steps:
        count = min(window, steps - done)
        number = history["windows"] + 1  # windows count from 1
        weights, records = windows.solve(weights, done, count, number, history, clock)
        history["windows"] = number
        recorder.metrics(records)
        problem_found = _divergence(records, weights, bound)
        if problem_found is not None:
            raise TrainingDiverged(
                f"training diverged in window {number} (steps {done}-{done + count}): "
                f"{problem_found}. {recorder.kept()} A smaller learning rate or "
                f"lr_growth/lr_max may help.")
        done += count
        recorder.checkpoint(problem, weights, done, clock(), history,
                            windows.checkpoint_arrays(history))
        losses = [r["loss"] for r in records if r["type"] == "step"]
        progress.steps(done, losses[-1] if losses else None)
    summary = dict(name=problem.name, mode=problem.mode, status="completed", steps=steps,
                   windows=history["windows"], ranks=comm.size,
                   final=training.final(weights), wall_time=clock(),
                   solve_time=history["solve_time"])
    summary.update(windows.summary(history))
    return weights, summary


# ------------------------------------------- resnet: optimizer step by step

class _SerialGradient:
    """serial, averaging (a resnet): the gradient by serial backpropagation."""

    patience = 1  # unused: the guard watches one-shot MGRIT

    def __init__(self, problem, net, groups):
        self.objective = Serial(net)
        self.net = net

    @staticmethod
    def new_history():
        return {}

    # the parameters as the optimizer holds them: the full vector, a copy

    @staticmethod
    def local_parameters(theta):
        return np.array(theta, dtype=np.float64, copy=True)

    @staticmethod
    def optimizer_state(state, to_full):
        return state

    @staticmethod
    def full_parameters(theta):
        return theta

    def accuracy(self, theta, x, y):
        return self.net.accuracy(theta, x, y)

    def loss(self, theta, x, y):
        return self.net.loss(theta, x, y)

    @staticmethod
    def memory():
        return {}

    def resume(self, checkpoint):
        pass

    def count(self, record, history):
        """What this step's gradient cost, into its metrics record and the
        history: nothing to count without a solver."""

    def checkpoint_arrays(self, history):
        return {}

    def summary(self, history, trained):
        return {}


class _LayerParallelGradient:
    """layer-parallel: the gradient by forward and adjoint MGRIT over the
    ranks of a data group."""

    def __init__(self, problem, net, groups):
        lp, mgrit = problem.layer_parallel, problem.mgrit
        options = {k: v for k, v in mgrit.core_options().items() if k != "max_iter"}
        self.objective = LayerParallel(net, groups.layer_comm, lp.mode, lp.forward_iters,
                                       lp.adjoint_iters, tol=mgrit.tol,
                                       tol_relative=mgrit.tol_relative, max_iter=mgrit.max_iter,
                                       adjoint=problem.mgrit_adjoint.solve_settings(),
                                       parameters=lp.parameters, **options)
        self.vectors = ()   # the optimizer's VECTORS (set by _train_steps)
        self.patience, self.groups, self.comm = lp.patience, groups, groups.comm
        self.net, self.owned = net, lp.parameters == "owned"

    @staticmethod
    def new_history():
        return dict(gradients=0, forward_iterations=0, adjoint_iterations=0)

    # the parameters as the optimizer holds them: with owned parameters this
    # rank's part (the optimizer's state too), gathered whole on rank 0 for
    # checkpoints and results, evaluated by forward solves

    def local_parameters(self, theta):
        return self.objective.local_parameters(theta)

    def optimizer_state(self, state, to_full):
        """An optimizer's state (its VECTORS) in the full layout (to_full:
        on rank 0, collective) or this rank's part of it."""
        if not self.owned:
            return state
        vectors = [name for name in sorted(state) if name in self.vectors]
        convert = self.objective.full_parameters if to_full else self.objective.local_part
        return {**state, **{name: convert(state[name]) for name in vectors}}

    def full_parameters(self, theta):
        """Collective: the full vector (on rank 0 with owned parameters)."""
        return self.objective.full_parameters(theta)

    def accuracy(self, theta, x, y):
        if self.owned:
            return self.objective.accuracy(theta, x, y)
        return self.net.accuracy(theta, x, y)

    def loss(self, theta, x, y):
        if self.owned:
            return self.objective.loss(theta, x, y)
        return self.net.loss(theta, x, y)

    def memory(self):
        """Collective: the summary's parameters mode and the most bytes of
        parameters any rank keeps, and sent for the last gradient."""
        layer_comm = self.groups.layer_comm
        return dict(parameters="owned" if self.owned else "replicated",
                    parameter_bytes=layer_comm.allreduce(self.objective.parameter_memory(),
                                                         op=MPI.MAX),
                    parameter_traffic_bytes=layer_comm.allreduce(self.objective.traffic,
                                                                 op=MPI.MAX))

    def _warm_prefix(self, group):
        return WARM + (f"g{group}." if self.groups.count > 1 else "")

    def resume(self, checkpoint):
        """The solver mode and every rank's one-shot warm starts of a
        checkpoint (read on rank 0, which holds every rank's: the number of
        ranks of a group may differ from the run that wrote it)."""
        exact = checkpoint.history.get("exact")
        if isinstance(exact, list):  # one per data group
            exact = exact[self.groups.index]
        if exact:
            self.objective.mode = "exact"
        places = self.comm.gather((self.groups.index, self.groups.layer_comm.rank), root=0)
        parts = None
        if self.comm.rank == 0:
            parts = []
            for group, layer_rank in places:
                prefix = self._warm_prefix(group)
                parts.append({name: checkpoint.arrays[prefix + name]
                              for name in self.objective.warm_names(layer_rank)
                              if prefix + name in checkpoint.arrays})
        self.objective.load_warm_states(self.comm.scatter(parts, root=0))

    def count(self, record, history):
        stats = self.objective.gradient_stats
        history["gradients"] += 1
        history["forward_iterations"] += stats.forward_iterations
        history["adjoint_iterations"] += stats.adjoint_iterations
        history.update(forward_levels=stats.nlevels, adjoint_levels=stats.adjoint_nlevels)
        record.update(forward_iterations=stats.forward_iterations,
                      adjoint_iterations=stats.adjoint_iterations,
                      forward_factor=stats.forward_factor)

    def checkpoint_arrays(self, history):
        """Every rank's warm starts (on rank 0; collective), and the solver's
        state (each data group's mode) in the history."""
        exact = self.objective.mode == "exact"
        if self.groups.count > 1:
            exact = self.groups.data_comm.allgather(exact)
        history.update(exact=exact, model_speedup=self.objective.model_speedup())
        parts = self.comm.gather((self.groups.index, self.objective.warm_states()), root=0)
        if parts is None:
            return {}
        return {self._warm_prefix(group) + name: state for group, part in parts
                for name, state in part.items()}

    def summary(self, history, trained):
        """trained: whether this run made steps (else the checkpoint's speed-up)."""
        gradients = history["gradients"]
        speedup = self.objective.model_speedup() if trained else history.get("model_speedup")
        return dict(solver_mode=self.objective.mode, model_speedup=speedup,
                    forward_iterations=history["forward_iterations"] / gradients
                    if gradients else 0.0,
                    adjoint_iterations=history["adjoint_iterations"] / gradients
                    if gradients else 0.0,
                    # the levels of the last gradient's solves
                    forward_levels=history.get("forward_levels"),
                    adjoint_levels=history.get("adjoint_levels"))


def _train_steps(gradient_kind, problem, datasets, comm, recorder, progress, checkpoint):
    """The loop of a resnet: optimizer steps on the gradient of
    gradient_kind (on this data group's shard), with metrics every step and
    a checkpoint every train.checkpoint_every steps."""
    data, validation = datasets
    net, theta = build_resnet(problem, data)
    spec = problem.train
    parallel = _DataParallel(problem, comm)
    gradient = gradient_kind(problem, net, parallel.groups)
    settings = dict(learning_rate=spec.learning_rate)
    if spec.optimizer == "sgd":
        settings["momentum"] = spec.momentum
    if spec.optimizer == "lbfgs":  # its inner products over the parameters the ranks hold
        settings["inner"] = getattr(gradient.objective, "inner", None)
    if spec.optimizer == "ngsgd":  # the serial gradient through this rank's preconditioners
        base = natural_gradient(net, problem)
        gradient.objective.preconditioners = base.preconditioners
    else:
        base = make_optimizer(spec.optimizer, **settings)
    gradient.vectors = getattr(base, "VECTORS", ())
    optimizer = parallel.optimizer(base)
    steps = spec.steps
    every = spec.log_every or max(1, steps // 100)
    checkpoint_every = spec.checkpoint_every or max(1, steps // 10)
    if checkpoint is None:
        start, elapsed = 0, 0.0
        history = dict(gradient.new_history(), **parallel.new_history())
    else:
        theta, start, elapsed = checkpoint.weights, checkpoint.step, checkpoint.elapsed
        history = checkpoint.history
        parallel.load_optimizer(optimizer, checkpoint, start, gradient)
        gradient.resume(checkpoint)
    theta = gradient.local_parameters(theta)   # what the optimizer updates in place
    clock = time.monotonic() - elapsed
    scores = validation or data
    failure = _failure_point()

    def on_step(step, theta, loss, objective):
        if failure is not None and failure == (comm.rank, step):
            _fail_at(*failure)
        due = step % checkpoint_every == 0 or step == steps
        averaged = parallel.after_step(step, theta, due)
        if history.get("initial_loss") is None:
            history["initial_loss"] = loss
        record = dict(type="step", step=step, loss=loss, wall_time=time.monotonic() - clock)
        gradient.count(record, history)
        if step % every == 0 or step == steps:
            record["accuracy"] = gradient.accuracy(parallel.model(theta, averaged), scores.x,
                                                   scores.y)
        recorder.metrics([record])
        bound = _loss_bound(problem, history)
        if loss > bound:
            raise TrainingDiverged(
                f"training diverged at step {step}: the loss {loss:.3g} exceeds "
                f"divergence_factor times the initial loss ({bound:.3g}). {recorder.kept()} "
                f"A smaller learning rate may help.")
        if due:
            parallel.count(history)
            arrays = parallel.optimizer_arrays(optimizer, gradient)
            arrays.update(gradient.checkpoint_arrays(history))
            # a failed write ends every rank, at the checkpoint
            recorder.checkpoint(problem, gradient.full_parameters(theta), step,
                                time.monotonic() - clock, history, arrays)
        progress.steps(step, loss)

    if start < steps:
        try:
            theta = train(parallel.objective(gradient.objective), optimizer, theta,
                          parallel.groups.shard(data), steps, spec.batch_size, problem.seed,
                          on_step, gradient.patience, start=start, copy=False)
        except FloatingPointError as e:
            raise TrainingDiverged(f"training diverged: {e}. {recorder.kept()} A smaller "
                                   f"learning rate may help.") from None
    final = dict(loss=float(gradient.loss(theta, data.x, data.y)),
                 accuracy=float(gradient.accuracy(theta, data.x, data.y)))
    if validation is not None:
        final["validation_accuracy"] = float(gradient.accuracy(theta, validation.x,
                                                               validation.y))
    summary = dict(name=problem.name, mode=problem.mode, status="completed", steps=steps,
                   ranks=comm.size, final=final, wall_time=time.monotonic() - clock)
    summary.update(gradient.summary(history, trained=start < steps))
    summary.update(parallel.summary(history))
    summary.update(gradient.memory())
    theta = gradient.full_parameters(theta)
    parallel.groups.free()
    return theta, summary
