"""The two problems of Schroder 2017 with the paper's networks and settings."""
import numpy as np

from pyxbraid.data import binary_addition, xor
from pyxbraid.nn import MLP
from pyxbraid.train import DataSchedule, LearningRate, SGDStep


def _problem(data, sizes, schedule, alpha, growth, alpha_max, seed, init="uniform", loss="sse"):
    # no biases (XOR's third input is the bias), sigmoid, summed squared error,
    # weights 2*U(0,1) - 1 drawn from numpy's legacy stream as Trask's code does
    # (seed 1 gives his well-known first weights -0.166, 0.441, -1.000, ...)
    model = MLP(sizes, activation="sigmoid", bias=False, loss=loss)
    w0 = model.init_params(np.random.RandomState(seed), scheme=init)
    step = SGDStep(model, DataSchedule(data, schedule), LearningRate(alpha, growth, alpha_max))
    return step, w0


def xor_problem(schedule="batch", alpha=1.0, growth=1.0, alpha_max=None, seed=1):
    """Trask's 3-4-1 XOR network (16 weights): (SGDStep, w0)."""
    return _problem(xor(), [3, 4, 1], schedule, alpha, growth, alpha_max, seed)


def addition_problem(schedule="batch", alpha=0.025, growth=1.0, alpha_max=None, seed=1,
                     n_pairs=500, bits=12, init="uniform", loss="sse"):
    """12-bit binary addition, 24-128-64-12 (12,032 weights): (SGDStep, w0)."""
    data = binary_addition(n_pairs, bits=bits, seed=seed)
    return _problem(data, [2 * bits, 128, 64, bits], schedule, alpha, growth, alpha_max, seed,
                    init, loss)
