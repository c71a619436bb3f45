"""A training problem built from a validated problem (pyxbraid.cli.config): data,
network, the SGD step and the initial weights, the same on every rank (mode
averaging: the step of this rank's shard)."""
import contextlib
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from pyxbraid.data import Dataset, binary_addition, digits, load_idx, peaks, trask_addition, xor
from pyxbraid.data.digits import DIGITS_IMAGES
from pyxbraid.data.idx import read_idx_header
from pyxbraid.gemm import BudgetError
from pyxbraid.gemm.outofcore import copy_into
from pyxbraid.nn import MLP, ResNet, gemm_backend, make_gemm_backend
from pyxbraid.train.averaging import LearningRateSchedule, LocalSGDStep, shard
from pyxbraid.train.ngsgd import NaturalGradientSGD
from pyxbraid.train.sgd import DataSchedule, LearningRate, SGDStep

from pyxbraid.cli.config import data_groups, mlp_misfit, models_averaged, problem_error
from pyxbraid.cli.memory import DATA_FIELD


@dataclass
class TrainingProblem:
    data: Dataset               # the whole training set (evaluate's)
    model: MLP
    step: SGDStep               # mode averaging: a LocalSGDStep on this rank's shard
    w0: np.ndarray
    optimizer: Optional[NaturalGradientSGD] = None  # ngsgd: this rank's preconditioners
    validation: Optional[Dataset] = None

    def evaluate(self, w):
        """Loss and accuracy of weights w on the whole training set."""
        return {"loss": float(self.model.loss(w, self.data.x, self.data.y)),
                "accuracy": float(self.model.accuracy(w, self.data.x, self.data.y))}

    def final(self, w):
        """evaluate(w), and the validation accuracy when there is validation data."""
        scores = self.evaluate(w)
        if self.validation is not None:
            scores["validation_accuracy"] = float(self.model.accuracy(w, self.validation.x,
                                                                      self.validation.y))
        return scores


class DataError(ValueError):
    """Data that cannot be used, with the field of the problem at fault
    (data.images, network.sizes.0, ...)."""

    def __init__(self, field, message):
        self.field = field
        super().__init__(message)


@dataclass
class DataSizes:
    """What the data of a problem holds, known before it is loaded."""
    n_train: int
    n_val: int
    features: int
    outputs: int
    image: Optional[tuple] = None   # (channels, height, width) of image data


IDX_CLASSES = 10


def data_sizes(problem):
    """DataSizes of a problem's data, from its fields (for IDX files, from
    their headers alone: each file is checked to be a regular IDX file), and
    an mlp's sizes checked against them."""
    spec = problem.data
    if spec.kind == "idx":
        shapes = {}
        for field, path in spec.files().items():
            try:
                shapes[field] = read_idx_header(path)[0]
            except ValueError as e:
                raise DataError(f"data.{field}", str(e)) from None
        images = shapes["images"]
        sizes = DataSizes(images[0], shapes.get("val_images", (0,))[0],
                          math.prod(images[1:]), IDX_CLASSES,
                          (1, *images[1:]) if len(images) == 3 else None)
    else:
        n_train, n_val = {"xor": lambda: (4, 0),
                          "binary_addition": lambda: (spec.n_pairs, 0),
                          "peaks": lambda: (spec.n_train, spec.n_val),
                          "digits": lambda: (DIGITS_IMAGES - spec.n_val, spec.n_val)}[spec.kind]()
        image = spec.image()
        sizes = DataSizes(n_train, n_val, *spec.shape(), image)
    _check_image_shapes(problem, shapes if spec.kind == "idx" else {}, sizes)
    if problem.network.kind == "mlp":
        misfit = mlp_misfit(problem.network, spec.kind, sizes.features, sizes.outputs)
        if misfit is not None:
            raise DataError(".".join(str(p) for p in misfit[0]), misfit[1])
    return sizes


def _check_image_shapes(problem, shapes, sizes):
    """A conv network needs images (IDX files of (count, rows, cols)), its
    validation images of the training images' shape."""
    network = problem.network
    if network.kind != "resnet" or network.layer != "conv":
        return
    if sizes.image is None:
        raise DataError("network.layer", f"conv needs images: data.images holds an array of "
                        f"shape {shapes['images']}, not (count, rows, cols)")
    val = shapes.get("val_images")
    if val is not None and tuple(val[1:]) != tuple(shapes["images"][1:]):
        raise DataError("data.val_images", f"images of {tuple(val[1:])} pixels, the training "
                        f"images are {tuple(shapes['images'][1:])}")


def check_parallel(problem, sizes, nranks):
    """DataError naming the field at fault when nranks ranks cannot share the
    problem: data groups that do not divide the ranks, the butterfly on a
    number of groups that is not a power of two, a shard without an
    instance, or an mlp minibatch larger than a shard."""
    groups = data_groups(problem, nranks)
    pretrain = getattr(problem, "pretrain", None) if problem.mode == "averaging" else None
    if pretrain is not None and pretrain.batch_size > sizes.n_train // groups:
        raise DataError("pretrain.batch_size", f"must be at most the smallest shard: "
                        f"{sizes.n_train} instances over {groups} "
                        f"rank{'s' if groups > 1 else ''} leave {sizes.n_train // groups}, "
                        f"got {pretrain.batch_size}")
    if groups == 1:
        return
    if nranks % groups:
        raise DataError("parallel.data", f"{groups} data groups must divide the number of "
                        f"ranks ({nranks})")
    who = "ranks" if problem.mode == "averaging" else "data groups"
    if models_averaged(problem) and problem.averaging.method == "butterfly" and \
            groups & (groups - 1):
        raise DataError("averaging.method", f"butterfly needs a power-of-two number of {who}, "
                        f"got {groups} (use allreduce)")
    if sizes.n_train < groups:
        raise DataError(DATA_FIELD[problem.data.kind], f"{sizes.n_train} training instances "
                        f"cannot be shared by {groups} {who} (each needs at least one)")
    smallest = sizes.n_train // groups
    batch = problem.train.batch_size
    if problem.network.kind == "mlp" and batch is not None and batch > smallest:
        raise DataError("train.batch_size", f"must be at most the smallest shard: "
                        f"{sizes.n_train} instances over {groups} {who} leave {smallest}, "
                        f"got {batch}")


def load_data(problem):
    """(training Dataset, validation Dataset or None) of a problem; a bad
    IDX file is a DataError naming its field."""
    spec = problem.data
    if spec.kind == "xor":
        return xor(), None
    if spec.kind == "binary_addition":
        if _trask_addition(problem):  # Trask's data (legacy stream, most significant bit first)
            return binary_addition(spec.n_pairs, bits=spec.bits, seed=problem.seed), None
        return binary_addition(spec.n_pairs, bits=spec.bits, seed=problem.seed, order="lsb",
                               draw="generator"), None  # the former rule, for older runs
    if spec.kind == "peaks":
        return peaks(spec.n_train, spec.n_val, seed=problem.seed)
    if spec.kind == "digits":
        return digits(spec.n_val, seed=problem.seed)
    pairs = [("images", "labels")] + ([("val_images", "val_labels")]
                                      if spec.val_images is not None else [])
    loaded = []
    for images, labels in pairs:
        try:
            loaded.append(load_idx(getattr(spec, images), getattr(spec, labels), IDX_CLASSES))
        except ValueError as e:
            field = labels if str(e).startswith(getattr(spec, labels)) else images
            raise DataError(f"data.{field}", str(e)) from None
    return loaded[0], loaded[1] if len(loaded) > 1 else None


def _trask_addition(problem):
    """Trask's binary-addition problem: the addition data with the trask init."""
    return problem.data.kind == "binary_addition" and problem.network.init == "trask"


def build_resnet(problem, data):
    """(ResNet, initial parameters) of a resnet problem for its data (a conv
    network: for the data's image shape)."""
    spec = problem.network
    options = dict(T=spec.T, activation=spec.activation,
                   opening_activation=spec.opening_activation, gamma_t=spec.gamma_t,
                   gamma_d=spec.gamma_d)
    if spec.layer == "conv":
        if data.image is None:
            raise DataError("network.layer", f"conv needs images: the data {data.name} has "
                            f"none")
        net = ResNet.conv(data.image, spec.channels, spec.layers, data.n_outputs,
                          kernel=spec.kernel, classifier=spec.classifier, **options)
    else:
        net = ResNet(data.n_features, spec.width, spec.layers, data.n_outputs, **options)
    return net, net.init_params(np.random.default_rng(problem.seed), scale=spec.init_scale)


@contextlib.contextmanager
def gemm_engine(problem):
    """Every product of the networks on the problem's network.gemm backend
    while the block runs; a tiled engine is closed after (BLAS gets its
    threads back)."""
    spec = problem.network.gemm
    backend = make_gemm_backend(spec.backend, **spec.engine_options())
    try:
        with gemm_backend(backend):
            yield backend
    except BudgetError as e:  # a product the budget cannot hold: the field's fault
        raise problem_error(problem, "network.gemm.memory", str(e).removeprefix("memory: ")) \
            from None
    finally:
        if hasattr(backend, "close"):
            backend.close()


def build(problem, datasets=None, comm=None, files=None):
    """(TrainingProblem) for an mlp problem (a validated pyxbraid.cli.config problem), on
    datasets from load_data (loaded here when not given); mode averaging: the
    step of rank comm.rank of comm.size (one rank without comm).  files: a
    pyxbraid.gemm.outofcore.DiskVectors where network.out_of_core keeps the
    weights and the gradient."""
    data, validation = datasets or load_data(problem)
    net = problem.network
    model = MLP(net.sizes, activation=net.activation, output_activation=net.output_activation,
                bias=net.bias, loss=net.loss)
    if net.out_of_core and files is None:
        raise ValueError("build: network.out_of_core needs the files to keep the weights in")
    on_disk = files.vector("weights", model.n_params) if net.out_of_core else None
    if _trask_addition(problem):  # data then weights from one legacy stream, as Trask
        _, w0 = trask_addition(problem.data.n_pairs, problem.data.bits, problem.seed, model)
        if on_disk is not None:
            w0 = copy_into(on_disk, w0)
    else:  # numpy's legacy stream: with uniform weights and seed 1, Trask's XOR weights
        w0 = model.init_params(np.random.RandomState(problem.seed), scheme=net.init,
                               out=on_disk)
    train = problem.train
    if problem.mode == "averaging":
        ranks, rank = (1, 0) if comm is None else (comm.size, comm.rank)
        step, optimizer = _local_step(problem, model, data, ranks, rank)
        return TrainingProblem(data, model, step, w0, optimizer, validation)
    schedule = DataSchedule(data, train.schedule, train.batch_size, seed=problem.seed)
    if problem.mode == "sgd-time":  # coarse levels step with a larger rate
        rate = LearningRate(train.learning_rate, problem.mgrit.lr_growth, problem.mgrit.lr_max)
    else:
        rate = LearningRate(train.learning_rate)
    grad = files.vector("gradient", model.n_params) if net.out_of_core else None
    return TrainingProblem(data, model, SGDStep(model, schedule, rate, grad), w0,
                           validation=validation)


def _local_step(problem, model, data, ranks, rank):
    """(LocalSGDStep on shard `rank` of `ranks`, its NaturalGradientSGD or
    None) of an averaging problem.  Every rank's preconditioners start from
    the same seed; they learn from their own shard."""
    train, averaging = problem.train, problem.averaging
    schedule = DataSchedule(shard(data, ranks, rank, problem.seed), train.schedule,
                            train.batch_size, seed=problem.seed)
    rate = LearningRateSchedule(train.learning_rate, averaging.lr_final, train.steps, ranks,
                                averaging.scale_lr_with_ranks)
    optimizer = natural_gradient(model, problem) if train.optimizer == "ngsgd" else None
    step = LocalSGDStep(model, schedule, rate, averaging.max_change,
                        optimizer.preconditioners if optimizer is not None else None)
    return step, optimizer


def natural_gradient(model, problem):
    """The NaturalGradientSGD of a problem's train.ngsgd section (this rank's
    preconditioners, an mlp's or a resnet's)."""
    train = problem.train
    return NaturalGradientSGD(model, train.learning_rate, seed=problem.seed,
                              **train.ngsgd.model_dump())
