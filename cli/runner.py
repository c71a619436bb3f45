"""Running a problem: one loop per network kind, shared by `run` (which
records metrics and checkpoints in a run folder) and `compare` (which
records nothing).

An mlp (modes sgd-time and serial) trains window by window: MGRIT (or serial
SGD) over `train.window` steps, then metrics and a checkpoint; a resnet
(modes layer-parallel and serial) trains optimizer step by step, with a
checkpoint every `train.checkpoint_every` steps.  A checkpoint holds what the
summary counts of the steps before it (the history), so that a killed run
continued with --resume ends with the same weights and the same summary."""
import math
import os
import time

import numpy as np

import pyxbraid
from pyxbraid.config import problem_json
from pyxbraid.train import train_serial, train_sgd_time
from pyxbraid.train.layer_parallel import LayerParallel, Serial
from pyxbraid.train.loop import train
from pyxbraid.train.optim import make_optimizer
from pyxbraid.train.problem import build, build_resnet

from pyxbraid.cli.agree import TrainingDiverged, agree
from pyxbraid.cli.rundir import Checkpoint, RunFailed

WARM = "warm_"   # checkpoint arrays: one-shot warm starts, by name
OPTIMIZER = "opt_"  # checkpoint arrays: the optimizer's memory


class Recorder:
    """What a run writes: on rank 0 into its run folder, nothing on the other
    ranks (nor anywhere for compare, folder None).  A write that fails is
    kept, and agree() (collective, at every checkpoint) ends the run on every
    rank with it."""

    def __init__(self, comm, folder=None, resumed=None):
        self.comm = comm
        self.path = folder.path if folder is not None else None
        self.folder = folder if comm.rank == 0 else None
        self.error = None
        self.metrics_lines = resumed.metrics_lines if resumed else 0
        self.checkpoint_step = resumed.step if resumed else None  # the last one kept

    def _write(self, method, *args):
        if self.folder is None or self.error is not None:
            return
        try:
            getattr(self.folder, method)(*args)
        except RunFailed as e:
            self.error = e

    def metrics(self, records):
        if self.path is not None:
            self._write("append_metrics", records)
            self.metrics_lines += len(records)

    def checkpoint(self, checkpoint):
        if self.path is not None:
            self._write("save_checkpoint", checkpoint)
            self.checkpoint_step = checkpoint.step

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
        if index == self.index and pyxbraid.MPI.COMM_WORLD.rank == self.rank:
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


def train_problem(problem, datasets, comm, recorder, progress, resume=None):
    """Train a problem on datasets (from load_data); returns (weights,
    summary).  resume: the Checkpoint to continue from (with the warm starts
    on rank 0 only)."""
    train_kind = run_mlp if problem.network.kind == "mlp" else run_resnet
    return train_kind(problem, datasets, comm, recorder, progress, resume)


def run_mlp(problem, datasets, comm, recorder, progress, resume=None):
    """An mlp, sgd-time (MGRIT over each window's SGD steps) or serial."""
    training = build(problem, datasets)
    step = _injected(training.step)
    steps = problem.train.steps
    window = min(problem.train.window or steps, steps)
    every = problem.train.log_every or max(1, steps // 100)
    identity = problem_json(problem)
    weights, done, elapsed, history = training.w0, 0, 0.0, {"windows": []}
    if resume is not None:
        weights, done, elapsed, history = resume.weights, resume.step, resume.elapsed, \
            resume.history
    start = time.monotonic() - elapsed
    if "initial_loss" not in history:
        initial = training.evaluate(training.w0)
        history["initial_loss"] = initial["loss"]
        if problem.mode == "serial":
            recorder.metrics([dict(type="step", step=0, **initial, wall_time=0.0)])
    bound = _loss_bound(problem, history)
    while done < steps:
        count = min(window, steps - done)
        number = len(history["windows"]) + 1  # windows count from 1
        records = []
        if problem.mode == "sgd-time":
            stamps = {}

            def on_iteration(k, residual, number=number):
                stamps[k] = time.monotonic() - start
                progress.iteration(number, k, residual)

            mgrit = problem.mgrit
            result = train_sgd_time(step, weights, count, comm, mgrit.initial_guess,
                                    mgrit.coarse_data, offset=done, evaluate=training.evaluate,
                                    every=every, on_iteration=on_iteration,
                                    **mgrit.core_options())
            now = time.monotonic() - start
            rnorms = [float(r) for r in result.rnorms]
            for k in range(result.niter):
                if rnorms[k] == -1:
                    continue
                previous = rnorms[k - 1] if k > 0 and rnorms[k - 1] > 0 else math.nan
                records.append(dict(type="iteration", window=number, iteration=k,
                                    residual=rnorms[k], conv_factor=rnorms[k] / previous,
                                    wall_time=stamps.get(k, now)))
            records += [dict(type="step", step=i, **values, wall_time=now)
                        for i, values in result.metrics.items() if i > done or done == 0]
            weights = result.weights
            history["windows"].append(dict(iterations=result.niter,
                                           critical_path=result.critical_path,
                                           solve_time=result.wall_time, residual=rnorms[-1]))
        else:
            def on_step(i, w):
                if i % every == 0:
                    records.append(dict(type="step", step=i, **training.evaluate(w),
                                        wall_time=time.monotonic() - start))

            solve_start = time.monotonic()
            weights = train_serial(step, weights, count, on_step=on_step, first=done)
            history["windows"].append(dict(solve_time=time.monotonic() - solve_start))
        recorder.metrics(records)
        problem_found = _divergence(records, weights, bound)
        if problem_found is not None:
            raise TrainingDiverged(
                f"training diverged in window {number} (steps {done}-{done + count}): "
                f"{problem_found}. {recorder.kept()} A smaller learning rate or "
                f"lr_growth/lr_max may help.")
        done += count
        recorder.checkpoint(Checkpoint(weights, done, time.monotonic() - start,
                                       recorder.metrics_lines, identity, history))
        recorder.agree()
        losses = [r["loss"] for r in records if r["type"] == "step"]
        progress.steps(done, losses[-1] if losses else None)
    windows = history["windows"]
    summary = dict(name=problem.name, mode=problem.mode, status="completed", steps=steps,
                   windows=len(windows), ranks=comm.size, final=training.evaluate(weights),
                   wall_time=time.monotonic() - start,
                   solve_time=sum(w["solve_time"] for w in windows))
    if problem.mode == "sgd-time":
        mgrit = problem.mgrit
        path = sum(w["critical_path"] for w in windows)
        summary.update(mgrit_iterations=[w["iterations"] for w in windows],
                       final_residual=windows[-1]["residual"] if windows else math.nan,
                       tol=mgrit.tol, tol_relative=mgrit.tol_relative,
                       model_speedup=steps / path if path else None)
    return weights, summary


def _resnet_objective(problem, net, comm):
    if problem.mode != "layer-parallel":
        return Serial(net)
    lp, mgrit = problem.layer_parallel, problem.mgrit
    options = {k: v for k, v in mgrit.core_options().items() if k != "max_iter"}
    # tol_relative: a field of every mgrit section once the schema has it there
    return LayerParallel(net, comm, lp.mode, lp.forward_iters, lp.adjoint_iters,
                         tol=mgrit.tol, max_iter=mgrit.max_iter,
                         tol_relative=getattr(mgrit, "tol_relative", False), **options)


def _share_warm_starts(objective, comm, resume):
    """Give every rank the one-shot warm starts of its points from the
    checkpoint (read on rank 0, which holds every rank's): the number of
    ranks may differ from the run that wrote it."""
    parts = None
    if comm.rank == 0:
        warm = {k[len(WARM):]: v for k, v in resume.arrays.items() if k.startswith(WARM)}
        parts = [{name: warm[name] for name in objective.warm_names(r) if name in warm}
                 for r in range(comm.size)]
    objective.load_warm_states(comm.scatter(parts, root=0))


def _gather_warm_starts(objective, comm):
    """Every rank's warm starts, on rank 0 (None elsewhere)."""
    parts = comm.gather(objective.warm_states(), root=0)
    if parts is None:
        return {}
    return {WARM + name: state for part in parts for name, state in part.items()}


def run_resnet(problem, datasets, comm, recorder, progress, resume=None):
    """A resnet, layer-parallel (forward and adjoint MGRIT over its layers)
    or serial."""
    data, validation = datasets
    net, theta = build_resnet(problem, data)
    spec = problem.train
    objective = _resnet_objective(problem, net, comm)
    layer_parallel = isinstance(objective, LayerParallel)
    settings = dict(learning_rate=spec.learning_rate)
    if spec.optimizer == "sgd":
        settings["momentum"] = spec.momentum
    optimizer = make_optimizer(spec.optimizer, **settings)
    steps = spec.steps
    every = spec.log_every or max(1, steps // 100)
    checkpoint_every = spec.checkpoint_every or max(1, steps // 10)
    identity = problem_json(problem)
    start, elapsed, history = 0, 0.0, {"iterations": []}
    if resume is not None:
        theta, start, elapsed, history = resume.weights, resume.step, resume.elapsed, \
            resume.history
        optimizer.load({k[len(OPTIMIZER):]: v for k, v in resume.arrays.items()
                        if k.startswith(OPTIMIZER)})
        if layer_parallel:
            if history.get("exact"):
                objective.mode = "exact"
            _share_warm_starts(objective, comm, resume)
    clock = time.monotonic() - elapsed
    scores = validation or data
    failure = _failure_point()

    def on_step(step, theta, loss, objective):
        if failure is not None and failure == (comm.rank, step):
            _fail_at(*failure)
        if history.get("initial_loss") is None:
            history["initial_loss"] = loss
        record = dict(type="step", step=step, loss=loss, wall_time=time.monotonic() - clock)
        if layer_parallel:
            stats = objective.gradient_stats
            history["iterations"].append([stats.forward_iterations, stats.adjoint_iterations])
            record.update(forward_iterations=stats.forward_iterations,
                          adjoint_iterations=stats.adjoint_iterations,
                          forward_factor=stats.forward_factor)
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
            if layer_parallel:
                arrays.update(_gather_warm_starts(objective, comm))
                history.update(exact=objective.mode == "exact",
                               model_speedup=objective.model_speedup())
            recorder.checkpoint(Checkpoint(theta, step, time.monotonic() - clock,
                                           recorder.metrics_lines, identity, history, arrays))
            recorder.agree()  # a failed write ends every rank, at the checkpoint
        progress.steps(step, loss)

    if start < steps:
        try:
            patience = problem.layer_parallel.patience if layer_parallel else 1
            theta = train(objective, optimizer, theta, data, steps, spec.batch_size,
                          problem.seed, on_step, patience, start=start)
        except FloatingPointError as e:
            raise TrainingDiverged(f"training diverged: {e}. {recorder.kept()} A smaller "
                                   f"learning rate may help.") from None
    final = dict(loss=float(net.loss(theta, data.x, data.y)),
                 accuracy=float(net.accuracy(theta, data.x, data.y)))
    if validation is not None:
        final["validation_accuracy"] = float(net.accuracy(theta, validation.x, validation.y))
    summary = dict(name=problem.name, mode=problem.mode, status="completed", steps=steps,
                   ranks=comm.size, final=final, wall_time=time.monotonic() - clock)
    if layer_parallel:
        iterations = history["iterations"] or [[0, 0]]
        speedup = objective.model_speedup() if start < steps else history.get("model_speedup")
        summary.update(solver_mode=objective.mode, model_speedup=speedup,
                       forward_iterations=float(np.mean([i[0] for i in iterations])),
                       adjoint_iterations=float(np.mean([i[1] for i in iterations])))
    return theta, summary
