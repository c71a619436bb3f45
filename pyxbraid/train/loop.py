"""The optimization loop of ResNet training, the same for serial and
layer-parallel objectives (so that both train with the same optimizer,
batches and number of steps)."""
import math
import warnings

import numpy as np

from pyxbraid.checks import positive_int


class MGRITDiverging(UserWarning):
    """One-shot MGRIT stopped converging; the run continues in exact mode."""


def batches(n, batch_size, seed):
    """An endless sequence of index arrays: the full set (batch_size None), or
    seeded shuffled minibatches, reshuffled every epoch."""
    if batch_size is None or batch_size >= n:
        while True:
            yield slice(None)
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


def train(objective, optimizer, theta0, data, steps, batch_size=None, seed=0, on_step=None,
          patience=5, start=0, copy=True):
    """Optimizer updates start+1 .. steps of theta (a copy of theta0, the
    parameters after `start` updates; theta0 itself without copy: the
    storage an objective with owned parameters trains in place) on `data`;
    returns theta.

    on_step(step, theta, loss, objective) is called after every update.  The
    guard: when a one-shot objective's forward MGRIT convergence factor stays
    above 1 for `patience` updates, it says so (a warning) and switches the
    objective to exact mode for the rest of the run."""
    positive_int("steps", steps)
    theta = np.array(theta0, dtype=np.float64, copy=True) if copy else theta0
    source = batches(len(data), batch_size, seed)
    for _ in range(start):  # the batches of the updates already made
        next(source)
    bad = 0
    for step in range(start + 1, steps + 1):
        index = next(source)
        x, y = data.x[index], data.y[index]

        def evaluate(point, need_grad=True):
            return objective.objective(point, x, y, need_grad)

        loss, grad = evaluate(theta)
        if not math.isfinite(loss) or not np.all(np.isfinite(grad)):
            raise FloatingPointError(f"the loss or its gradient is not finite at step {step}")
        factor = getattr(getattr(objective, "gradient_stats", None), "forward_factor", math.nan)
        if getattr(objective, "mode", None) == "one-shot":
            bad = bad + 1 if factor > 1.0 else 0
            if bad >= patience:
                warnings.warn(f"one-shot MGRIT diverges (forward convergence factor {factor:.2f} "
                              f"> 1 for {patience} steps): exact mode from step {step} on",
                              MGRITDiverging, stacklevel=2)
                objective.mode = "exact"
        optimizer.update(theta, loss, grad, evaluate)
        if on_step is not None:
            on_step(step, theta, loss, objective)
    return theta
