"""Running a problem in its mode, shared by `run` (which records metrics and
checkpoints in a run folder) and `compare` (which records nothing).

MODES holds one entry per mode; each is one of two loops with its own way
of solving:
- an mlp (sgd-time, serial) trains window by window: MGRIT (or serial SGD)
  over `train.window` steps, then metrics and a checkpoint (_train_windows,
  with _SGDTimeWindows or _SerialWindows);
- a resnet (layer-parallel, serial) trains optimizer step by step, with a
  checkpoint every `train.checkpoint_every` steps (_train_steps, with
  _LayerParallelGradient or _SerialGradient).
A checkpoint holds what the summary counts of the steps before it (the
history: totals, not one entry per step), so that a killed run continued
with --resume ends with the same weights and the same summary."""
import math
import os
import time
from dataclasses import replace

import numpy as np
from mpi4py import MPI

from pyxbraid.train import train_serial, train_sgd_time
from pyxbraid.train.layer_parallel import LayerParallel, Serial
from pyxbraid.train.loop import train
from pyxbraid.train.optim import make_optimizer

from pyxbraid.cli.agree import TrainingDiverged, agree
from pyxbraid.cli.config import problem_json
from pyxbraid.cli.problem import build, build_resnet
from pyxbraid.cli.rundir import Checkpoint, RunFailed

WARM = "warm_"   # checkpoint arrays: one-shot warm starts, by name
OPTIMIZER = "opt_"  # checkpoint arrays: the optimizer's memory


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

    def __call__(self, w, index, level=0):
        if index == self.index and MPI.COMM_WORLD.rank == self.rank:
            _fail_at(self.rank, index)
        self.step(w, index, level)


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
    if weights is not None and not np.all(np.isfinite(weights)):
        return "the weights are not finite"
    return None


def without_warm_starts(checkpoint):
    """The checkpoint without the one-shot warm starts (rank 0 hands those
    out rank by rank), or None."""
    if checkpoint is None:
        return None
    return replace(checkpoint, arrays={k: v for k, v in checkpoint.arrays.items()
                                       if not k.startswith(WARM)})


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


def serial(problem, datasets, comm, recorder, progress, checkpoint=None):
    """The reference of either: serial SGD over an mlp's windows, or a
    resnet's gradient by serial backpropagation."""
    if problem.network.kind == "mlp":
        return _train_windows(_SerialWindows, problem, datasets, comm, recorder, progress,
                              checkpoint)
    return _train_steps(_SerialGradient, problem, datasets, comm, recorder, progress,
                        checkpoint)


MODES = {"sgd-time": sgd_time, "layer-parallel": layer_parallel, "serial": serial}


def train_problem(problem, datasets, comm, recorder, progress, checkpoint=None):
    """Train a problem on datasets (from load_data) in its mode; returns
    (weights, summary).  checkpoint: the Checkpoint to continue from (with
    the warm starts on rank 0 only)."""
    return MODES[problem.mode](problem, datasets, comm, recorder, progress, checkpoint)


# -------------------------------------------------- mlp: window by window

class _SGDTimeWindows:
    """sgd-time: a window's SGD steps solved by MGRIT."""

    def __init__(self, problem, training, step, comm, progress, every):
        self.problem, self.training, self.step = problem, training, step
        self.comm, self.progress, self.every = comm, progress, every

    @staticmethod
    def new_history():
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


class _SerialWindows:
    """serial (an mlp): a window's SGD steps one after the other."""

    def __init__(self, problem, training, step, comm, progress, every):
        self.training, self.step, self.every = training, step, every

    @staticmethod
    def new_history():
        return {}

    def initial_records(self, initial):
        return [dict(type="step", step=0, **initial, wall_time=0.0)]

    def solve(self, weights, done, count, number, history, clock):
        records = []

        def on_step(i, w):
            if i % self.every == 0:
                records.append(dict(type="step", step=i, **self.training.evaluate(w),
                                    wall_time=clock()))

        solve_start = time.monotonic()
        weights = train_serial(self.step, weights, count, on_step=on_step, first=done)
        history["solve_time"] += time.monotonic() - solve_start
        return weights, records

    def summary(self, history):
        return {}


def _train_windows(windows_kind, problem, datasets, comm, recorder, progress, checkpoint):
    """The loop of an mlp: window after window solved by windows_kind, each
    followed by its metrics and a checkpoint."""
    training = build(problem, datasets)
    steps = problem.train.steps
    window = min(problem.train.window or steps, steps)
    every = problem.train.log_every or max(1, steps // 100)
    windows = windows_kind(problem, training, _injected(training.step), comm, progress, every)
    if checkpoint is None:
        weights, done, elapsed = training.w0, 0, 0.0
        history = dict(windows=0, solve_time=0.0, **windows.new_history())
    else:
        weights, done, elapsed = checkpoint.weights, checkpoint.step, checkpoint.elapsed
        history = checkpoint.history
    start = time.monotonic() - elapsed

    def clock():
        return time.monotonic() - start

    if "initial_loss" not in history:
        initial = training.evaluate(training.w0)
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
        recorder.checkpoint(problem, weights, done, clock(), history)
        losses = [r["loss"] for r in records if r["type"] == "step"]
        progress.steps(done, losses[-1] if losses else None)
    summary = dict(name=problem.name, mode=problem.mode, status="completed", steps=steps,
                   windows=history["windows"], ranks=comm.size,
                   final=training.evaluate(weights), wall_time=clock(),
                   solve_time=history["solve_time"])
    summary.update(windows.summary(history))
    return weights, summary


# ------------------------------------------- resnet: optimizer step by step

class _SerialGradient:
    """serial (a resnet): the gradient by serial backpropagation."""

    patience = 1  # unused: the guard watches one-shot MGRIT

    def __init__(self, problem, net, comm):
        self.objective = Serial(net)

    @staticmethod
    def new_history():
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
    """layer-parallel: the gradient by forward and adjoint MGRIT."""

    def __init__(self, problem, net, comm):
        lp, mgrit = problem.layer_parallel, problem.mgrit
        options = {k: v for k, v in mgrit.core_options().items() if k != "max_iter"}
        self.objective = LayerParallel(net, comm, lp.mode, lp.forward_iters, lp.adjoint_iters,
                                       tol=mgrit.tol, tol_relative=mgrit.tol_relative,
                                       max_iter=mgrit.max_iter, **options)
        self.patience, self.comm = lp.patience, comm

    @staticmethod
    def new_history():
        return dict(gradients=0, forward_iterations=0, adjoint_iterations=0)

    def resume(self, checkpoint):
        """The solver mode and every rank's one-shot warm starts of a
        checkpoint (read on rank 0, which holds every rank's: the number of
        ranks may differ from the run that wrote it)."""
        if checkpoint.history.get("exact"):
            self.objective.mode = "exact"
        parts = None
        if self.comm.rank == 0:
            warm = {k[len(WARM):]: v for k, v in checkpoint.arrays.items()
                    if k.startswith(WARM)}
            parts = [{name: warm[name] for name in self.objective.warm_names(r) if name in warm}
                     for r in range(self.comm.size)]
        self.objective.load_warm_states(self.comm.scatter(parts, root=0))

    def count(self, record, history):
        stats = self.objective.gradient_stats
        history["gradients"] += 1
        history["forward_iterations"] += stats.forward_iterations
        history["adjoint_iterations"] += stats.adjoint_iterations
        record.update(forward_iterations=stats.forward_iterations,
                      adjoint_iterations=stats.adjoint_iterations,
                      forward_factor=stats.forward_factor)

    def checkpoint_arrays(self, history):
        """Every rank's warm starts (on rank 0; collective), and the solver's
        state in the history."""
        history.update(exact=self.objective.mode == "exact",
                       model_speedup=self.objective.model_speedup())
        parts = self.comm.gather(self.objective.warm_states(), root=0)
        if parts is None:
            return {}
        return {WARM + name: state for part in parts for name, state in part.items()}

    def summary(self, history, trained):
        """trained: whether this run made steps (else the checkpoint's speed-up)."""
        gradients = history["gradients"]
        speedup = self.objective.model_speedup() if trained else history.get("model_speedup")
        return dict(solver_mode=self.objective.mode, model_speedup=speedup,
                    forward_iterations=history["forward_iterations"] / gradients
                    if gradients else 0.0,
                    adjoint_iterations=history["adjoint_iterations"] / gradients
                    if gradients else 0.0)


def _train_steps(gradient_kind, problem, datasets, comm, recorder, progress, checkpoint):
    """The loop of a resnet: optimizer steps on the gradient of
    gradient_kind, with metrics every step and a checkpoint every
    train.checkpoint_every steps."""
    data, validation = datasets
    net, theta = build_resnet(problem, data)
    spec = problem.train
    gradient = gradient_kind(problem, net, comm)
    settings = dict(learning_rate=spec.learning_rate)
    if spec.optimizer == "sgd":
        settings["momentum"] = spec.momentum
    optimizer = make_optimizer(spec.optimizer, **settings)
    steps = spec.steps
    every = spec.log_every or max(1, steps // 100)
    checkpoint_every = spec.checkpoint_every or max(1, steps // 10)
    if checkpoint is None:
        start, elapsed, history = 0, 0.0, gradient.new_history()
    else:
        theta, start, elapsed = checkpoint.weights, checkpoint.step, checkpoint.elapsed
        history = checkpoint.history
        optimizer.load({k[len(OPTIMIZER):]: v for k, v in checkpoint.arrays.items()
                        if k.startswith(OPTIMIZER)})
        gradient.resume(checkpoint)
    clock = time.monotonic() - elapsed
    scores = validation or data
    failure = _failure_point()

    def on_step(step, theta, loss, objective):
        if failure is not None and failure == (comm.rank, step):
            _fail_at(*failure)
        if history.get("initial_loss") is None:
            history["initial_loss"] = loss
        record = dict(type="step", step=step, loss=loss, wall_time=time.monotonic() - clock)
        gradient.count(record, history)
        if step % every == 0 or step == steps:
            record["accuracy"] = net.accuracy(theta, scores.x, scores.y)
        recorder.metrics([record])
        bound = _loss_bound(problem, history)
        if loss > bound:
            raise TrainingDiverged(
                f"training diverged at step {step}: the loss {loss:.3g} exceeds "
                f"divergence_factor times the initial loss ({bound:.3g}). {recorder.kept()} "
                f"A smaller learning rate may help.")
        if step % checkpoint_every == 0 or step == steps:
            arrays = {OPTIMIZER + k: v for k, v in optimizer.state().items()}
            arrays.update(gradient.checkpoint_arrays(history))
            # a failed write ends every rank, at the checkpoint
            recorder.checkpoint(problem, theta, step, time.monotonic() - clock, history, arrays)
        progress.steps(step, loss)

    if start < steps:
        try:
            theta = train(gradient.objective, optimizer, theta, data, steps, spec.batch_size,
                          problem.seed, on_step, gradient.patience, start=start)
        except FloatingPointError as e:
            raise TrainingDiverged(f"training diverged: {e}. {recorder.kept()} A smaller "
                                   f"learning rate may help.") from None
    final = dict(loss=float(net.loss(theta, data.x, data.y)),
                 accuracy=float(net.accuracy(theta, data.x, data.y)))
    if validation is not None:
        final["validation_accuracy"] = float(net.accuracy(theta, validation.x, validation.y))
    summary = dict(name=problem.name, mode=problem.mode, status="completed", steps=steps,
                   ranks=comm.size, final=final, wall_time=time.monotonic() - clock)
    summary.update(gradient.summary(history, trained=start < steps))
    return theta, summary
