"""Running a problem: MGRIT (or serial training) window by window, with
metrics and a checkpoint after each window, so that a killed run can go on
with --resume and end with the same weights."""
import math
import os
import time

import numpy as np

import pyxbraid
from pyxbraid.train import train_serial, train_sgd_time
from pyxbraid.train.layer_parallel import LayerParallel, Serial
from pyxbraid.train.loop import train
from pyxbraid.train.optim import make_optimizer
from pyxbraid.train.problem import build, build_resnet


class TrainingDiverged(Exception):
    """NaN or Inf in the loss or the residual: the run stops, the last good
    checkpoint stays."""


class _FailingStep:
    """Testing hook: MGRIT_TRAIN_FAIL="rank=R,step=S" makes the step of data
    index S raise on rank R (to test that a failure ends the whole job)."""

    def __init__(self, step, rank, index):
        self.step, self.rank, self.index = step, rank, index
        self.model = step.model

    def __call__(self, w, index, level=0):
        if index == self.index and pyxbraid.MPI.COMM_WORLD.rank == self.rank:
            raise RuntimeError(f"injected failure at step {index} on rank {self.rank} "
                               f"(MGRIT_TRAIN_FAIL)")
        self.step(w, index, level)


def _injected(step):
    spec = os.environ.get("MGRIT_TRAIN_FAIL")
    if not spec:
        return step
    fields = dict(part.split("=") for part in spec.split(","))
    return _FailingStep(step, int(fields["rank"]), int(fields["step"]))


def _check_finite(records, weights, window, first, last, run_dir):
    """TrainingDiverged when a residual, a loss or the weights of the window
    (steps first..last) are NaN or Inf; the checkpoint of step `first` stays."""
    problem = None
    for record in records:
        bad = [key for key in ("residual", "loss") if key in record
               and not math.isfinite(record[key])]
        if bad:
            where = (f"MGRIT iteration {record['iteration']}" if record["type"] == "iteration"
                     else f"step {record['step']}")
            problem = f"the {bad[0]} is {record[bad[0]]} at {where}"
            break
    if problem is None and not np.all(np.isfinite(weights)):
        problem = "the weights are not finite"
    if problem is not None:
        raise TrainingDiverged(
            f"training diverged in window {window} (steps {first}-{last}): {problem}. The last "
            f"good checkpoint (step {first}) is kept in {run_dir}; a smaller learning rate or "
            f"lr_growth/lr_max may help.")


def run(problem, datasets, run_dir, comm, progress, resume=None, folder=None):
    """Train an mlp (sgd-time or serial) on datasets (from load_data);
    returns (weights, summary).  run_dir (a RunDir) is None on ranks > 0."""
    training = build(problem, datasets)
    step = _injected(training.step)
    steps = problem.train.steps
    window = min(problem.train.window or steps, steps)
    every = problem.train.log_every or max(1, steps // 100)
    mgrit = problem.mgrit
    weights, done, elapsed = training.w0, 0, 0.0
    if resume is not None:
        weights, done, elapsed = resume[:3]
    start = time.monotonic() - elapsed
    path_steps, niters, solves = 0, [], []
    last_residual = float("nan")
    if done == 0 and problem.mode == "serial" and run_dir is not None:
        run_dir.append_metrics([dict(type="step", step=0, **training.evaluate(weights),
                                     wall_time=0.0)])
    while done < steps:
        count = min(window, steps - done)
        number = done // window + 1
        records = []
        if problem.mode == "sgd-time":
            stamps = {}

            def on_iteration(k, residual, number=number):
                stamps[k] = time.monotonic() - start
                progress.iteration(number, k, residual)

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
            path_steps += result.critical_path
            niters.append(result.niter)
            solves.append(result.wall_time)
            last_residual = rnorms[-1]
        else:
            def on_step(i, w):
                if i % every == 0:
                    records.append(dict(type="step", step=i, **training.evaluate(w),
                                        wall_time=time.monotonic() - start))

            solve_start = time.monotonic()
            weights = train_serial(step, weights, count, on_step=on_step, first=done)
            solves.append(time.monotonic() - solve_start)
        if run_dir is not None:
            run_dir.append_metrics(records)
        _check_finite(records, weights, number, done, done + count,
                      folder.path if folder else "the run folder")
        done += count
        if run_dir is not None:
            run_dir.save_checkpoint(weights, done, time.monotonic() - start)
        losses = [r["loss"] for r in records if r["type"] == "step"]
        progress.steps(done, losses[-1] if losses else None)
    final = training.evaluate(weights)
    summary = dict(name=problem.name, mode=problem.mode, status="completed", steps=steps,
                   windows=-(-steps // window), ranks=comm.size, final=final,
                   wall_time=time.monotonic() - start, solve_time=sum(solves))
    if problem.mode == "sgd-time":
        summary.update(mgrit_iterations=niters, final_residual=last_residual,
                       tol=mgrit.tol, tol_relative=mgrit.tol_relative,
                       model_speedup=steps / path_steps if path_steps else None)
    return weights, summary


def run_resnet(problem, datasets, run_dir, comm, progress, resume=None, folder=None):
    """Train a resnet (layer-parallel or serial) on datasets (from load_data);
    returns (weights, summary).  run_dir is None on ranks > 0; folder is the
    run folder on every rank (for each rank's warm starts)."""
    data, validation = datasets
    net, theta = build_resnet(problem, data)
    train_spec, lp, mgrit = problem.train, problem.layer_parallel, problem.mgrit
    if problem.mode == "layer-parallel":
        options = {k: v for k, v in mgrit.core_options().items()
                   if k not in ("abs_tol", "rel_tol", "max_iter", "skip")}
        objective = LayerParallel(net, comm, lp.mode, lp.forward_iters, lp.adjoint_iters,
                                  tol=mgrit.tol, max_iter=mgrit.max_iter, **options)
    else:
        objective = Serial(net)
    settings = dict(learning_rate=train_spec.learning_rate)
    if train_spec.optimizer == "sgd":
        settings["momentum"] = train_spec.momentum
    optimizer = make_optimizer(train_spec.optimizer, **settings)
    steps = train_spec.steps
    every = train_spec.log_every or max(1, steps // 100)
    checkpoint_every = train_spec.checkpoint_every or max(1, steps // 10)
    start, elapsed = 0, 0.0
    if resume is not None:
        theta, start, elapsed, _, extra = resume
        optimizer.load({k[len("opt_"):]: v for k, v in extra.items() if k.startswith("opt_")})
        if "exact" in extra:
            objective.mode = "exact"
        warm = folder.rank_states(comm.rank, comm.size) if folder else None
        if warm and isinstance(objective, LayerParallel):
            objective.load_warm_states(warm)
    clock = time.monotonic() - elapsed
    scores = validation or data
    iterations = []

    def on_step(step, theta, loss, objective):
        record = dict(type="step", step=step, loss=loss, wall_time=time.monotonic() - clock)
        if isinstance(objective, LayerParallel):
            stats = objective.gradient_stats
            iterations.append((stats.forward_iterations, stats.adjoint_iterations))
            record.update(forward_iterations=stats.forward_iterations,
                          adjoint_iterations=stats.adjoint_iterations,
                          forward_factor=stats.forward_factor)
        if step % every == 0 or step == steps:
            record["accuracy"] = net.accuracy(theta, scores.x, scores.y)
        if run_dir is not None:
            run_dir.append_metrics([record])
        if step % checkpoint_every == 0 or step == steps:
            extra = {"opt_" + k: v for k, v in optimizer.state().items()}
            if getattr(objective, "mode", None) == "exact" and problem.mode == "layer-parallel":
                extra["exact"] = np.array(1)
            if isinstance(objective, LayerParallel):
                folder.save_rank_states(comm.rank, comm.size, objective.warm_states())
            if run_dir is not None:
                run_dir.save_checkpoint(theta, step, time.monotonic() - clock, **extra)
        progress.steps(step, loss)

    try:
        theta = train(objective, optimizer, theta, data, steps, train_spec.batch_size,
                      problem.seed, on_step, lp.patience, start=start)
    except FloatingPointError as e:
        raise TrainingDiverged(f"training diverged: {e}. The last good checkpoint is kept in "
                               f"{folder.path if folder else 'the run folder'}; a smaller "
                               f"learning rate may help.") from None
    final = dict(loss=float(net.loss(theta, data.x, data.y)),
                 accuracy=float(net.accuracy(theta, data.x, data.y)))
    if validation is not None:
        final["validation_accuracy"] = float(net.accuracy(theta, validation.x, validation.y))
    summary = dict(name=problem.name, mode=problem.mode, status="completed", steps=steps,
                   ranks=comm.size, final=final, wall_time=time.monotonic() - clock)
    if isinstance(objective, LayerParallel):
        summary.update(solver_mode=objective.mode, model_speedup=objective.model_speedup(),
                       forward_iterations=float(np.mean([i[0] for i in iterations] or [0])),
                       adjoint_iterations=float(np.mean([i[1] for i in iterations] or [0])))
    return theta, summary
