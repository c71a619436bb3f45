"""The two problems of Schroder 2017 with the paper's networks and settings."""
import numpy as np

from pyxbraid.data import binary_addition, xor
from pyxbraid.nn import MLP
from pyxbraid.train import DataSchedule, LearningRate, SGDStep

# The addition data: "trask" = Trask's (binary_addition's defaults) drawn from
# the legacy stream RandomState(seed), which then goes on to draw the weights;
# "former" = pyxbraid's first rule (numpy Generator, least significant bit
# first), the weights from a fresh RandomState(seed).
ADDITION_DATA = ("trask", "former")


def _network(sizes, loss="sse"):
    # no biases (XOR's third input is the bias), sigmoid, summed squared error
    return MLP(sizes, activation="sigmoid", bias=False, loss=loss)


def _problem(model, data, w0, schedule, alpha, growth, alpha_max):
    step = SGDStep(model, DataSchedule(data, schedule), LearningRate(alpha, growth, alpha_max))
    return step, w0


def xor_problem(schedule="batch", alpha=1.0, growth=1.0, alpha_max=None, seed=1):
    """Trask's 3-4-1 XOR network (16 weights): (SGDStep, w0).  Weights
    2*U(0,1) - 1 from numpy's legacy stream, as Trask's code draws them (seed
    1 gives his well-known first weights -0.166, 0.441, -1.000, ...)."""
    model = _network([3, 4, 1])
    w0 = model.init_params(np.random.RandomState(seed), scheme="uniform")
    return _problem(model, xor(), w0, schedule, alpha, growth, alpha_max)


def addition_problem(schedule="batch", alpha=0.025, growth=1.0, alpha_max=None, seed=1,
                     n_pairs=500, bits=12, init="trask", loss="sse", data="trask",
                     n_drawn=None):
    """12-bit binary addition, 24-128-64-12 (12,032 weights): (SGDStep, w0).
    The defaults are Trask's network: his data, then weights N(-0.1, 0.2^2),
    from one legacy stream.  init: MLP.init_params's scheme ("uniform" with
    data "former" is the problem as pyxbraid first built it); n_drawn: draw
    that many pairs (Trask drew 1000) and train on the first n_pairs."""
    if data not in ADDITION_DATA:
        raise ValueError(f"data: must be one of {', '.join(ADDITION_DATA)}, got {data!r}")
    model = _network([2 * bits, 128, 64, bits], loss)
    n_drawn = n_pairs if n_drawn is None else n_drawn
    if n_drawn < n_pairs:
        raise ValueError(f"n_drawn: must be at least n_pairs ({n_pairs}), got {n_drawn}")
    if data == "trask":
        rng = np.random.RandomState(seed)
        dataset = binary_addition(n_drawn, bits, rng=rng)
    else:
        dataset = binary_addition(n_drawn, bits, seed, order="lsb", draw="generator")
        rng = np.random.RandomState(seed)
    if n_drawn > n_pairs:
        dataset = dataset.subset(np.arange(n_pairs))
    w0 = model.init_params(rng, scheme=init)
    return _problem(model, dataset, w0, schedule, alpha, growth, alpha_max)
