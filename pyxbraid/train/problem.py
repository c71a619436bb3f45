"""A training problem built from a validated pyxbraid.config.Problem: data,
network, the SGD step and the initial weights, the same on every rank."""
from dataclasses import dataclass

import numpy as np

from pyxbraid.data import Dataset, binary_addition, digits, load_idx, peaks, xor
from pyxbraid.nn import MLP, ResNet
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


def load_data(problem):
    """(training Dataset, validation Dataset or None) of a problem."""
    spec = problem.data
    if spec.kind == "xor":
        return xor(), None
    if spec.kind == "binary_addition":
        return binary_addition(spec.n_pairs, bits=spec.bits, seed=problem.seed), None
    if spec.kind == "peaks":
        return peaks(spec.n_train, spec.n_val or 200, seed=problem.seed)
    if spec.kind == "digits":
        return digits(spec.n_val or 297, seed=problem.seed)
    data = load_idx(spec.images, spec.labels)
    validation = None
    if spec.val_images is not None:
        validation = load_idx(spec.val_images, spec.val_labels)
    return data, validation


def build_resnet(problem, data):
    """(ResNet, initial parameters) of a resnet problem for its data."""
    spec = problem.network
    net = ResNet(data.n_features, spec.width, spec.layers, data.n_outputs, T=spec.T,
                 activation=spec.activation, opening_activation=spec.opening_activation,
                 gamma_t=spec.gamma_t, gamma_d=spec.gamma_d)
    return net, net.init_params(np.random.default_rng(problem.seed), scale=spec.init_scale)


def build(problem, datasets=None):
    """(TrainingProblem) for an mlp problem (pyxbraid.config.Problem), on
    datasets from load_data (loaded here when not given)."""
    data, _ = datasets or load_data(problem)
    net = problem.network
    model = MLP(net.sizes, activation=net.activation, output_activation=net.output_activation,
                bias=net.bias, loss=net.loss)
    # numpy's legacy stream: with uniform weights and seed 1 these are Trask's
    w0 = model.init_params(np.random.RandomState(problem.seed), scheme=net.init)
    train, mgrit = problem.train, problem.mgrit
    schedule = DataSchedule(data, train.schedule, train.batch_size, seed=problem.seed)
    rate = LearningRate(train.learning_rate, mgrit.lr_growth, mgrit.lr_max)
    return TrainingProblem(data, model, SGDStep(model, schedule, rate), w0)
