"""A training problem built from a validated pyxbraid.config.Problem: data,
network, the SGD step and the initial weights, the same on every rank."""
from dataclasses import dataclass

import numpy as np

from pyxbraid.data import Dataset, binary_addition, xor
from pyxbraid.nn import MLP
from pyxbraid.train.sgd import DataSchedule, LearningRate, SGDStep


@dataclass
class TrainingProblem:
    data: Dataset
    model: MLP
    step: SGDStep
    w0: np.ndarray

    def evaluate(self, w):
        """Loss and accuracy of weights w on the whole training set."""
        return {"loss": float(self.model.loss(w, self.data.x, self.data.y)),
                "accuracy": float(self.model.accuracy(w, self.data.x, self.data.y))}


def build(problem):
    """(TrainingProblem) for a pyxbraid.config.Problem."""
    if problem.data.kind == "xor":
        data = xor()
    else:
        data = binary_addition(problem.data.n_pairs, bits=problem.data.bits, seed=problem.seed)
    net = problem.network
    model = MLP(net.sizes, activation=net.activation, output_activation=net.output_activation,
                bias=net.bias, loss=net.loss)
    # numpy's legacy stream: with uniform weights and seed 1 these are Trask's
    w0 = model.init_params(np.random.RandomState(problem.seed), scheme=net.init)
    train, mgrit = problem.train, problem.mgrit
    schedule = DataSchedule(data, train.schedule, train.batch_size, seed=problem.seed)
    rate = LearningRate(train.learning_rate, mgrit.lr_growth, mgrit.lr_max)
    return TrainingProblem(data, model, SGDStep(model, schedule, rate), w0)
