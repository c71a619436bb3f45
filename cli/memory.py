"""The memory a run needs, estimated from the problem before anything is
allocated or written, against the memory this machine has available: a
problem that cannot fit is refused with the field that makes it large,
instead of being killed by the OOM killer halfway through.

The estimate counts the large arrays (weights and optimizer state, MGRIT's
vectors, activations, the data) of the busiest rank; it leaves out what is
small next to them, so it errs low: it refuses only runs that cannot fit."""
import os
from dataclasses import dataclass

from pyxbraid.cli.config import data_groups, models_averaged, problem_error
from pyxbraid.train.layer_parallel import LayerParallel

DOUBLE = 8
ARRAY_OVERHEAD = 112            # an ndarray's header, per vector MGRIT stores
PYTHON_OBJECT = 200             # a small Python object (a batch view of the serialized schedule)
OPTIMIZER_COPIES = {"sgd": 3, "adam": 4, "lbfgs": 2 * 10 + 4,  # theta, grad, state (momentum: +1)
                    "ngsgd": 4}  # theta, grad, the step, the Fisher bases (at most one copy)
DATA_FIELD = {"xor": "data.kind", "binary_addition": "data.n_pairs", "peaks": "data.n_train",
              "digits": "data.kind", "idx": "data.images"}


@dataclass
class Need:
    """`nbytes` per rank for `what`, made large by `field`."""
    field: str
    nbytes: int
    what: str


def mlp_params(sizes, bias):
    return sum((a + bias) * b for a, b in zip(sizes[:-1], sizes[1:]))


def resnet_params(features, width, layers, classes):
    return features * width + width + layers * (width * width + width) + width * classes + classes


def conv_resnet_params(image, channels, kernel, layers, classes, classifier):
    """The parameters of pyxbraid.nn.conv_resnet's network."""
    in_channels, height, width = image
    last = channels if classifier == "pool" else height * width * channels
    return (kernel * kernel * in_channels * channels + channels
            + layers * (kernel * kernel * channels * channels + channels)
            + last * classes + classes)


def resnet_shape(network, sizes):
    """(width of the states, parameters, one layer's parameters, the field
    that sets the width) of a resnet problem's network for data of DataSizes
    `sizes`."""
    if network.layer == "conv":
        _, height, width = sizes.image
        channels, kernel = network.channels, network.kernel
        return (height * width * channels,
                conv_resnet_params(sizes.image, channels, kernel, network.layers,
                                   sizes.outputs, network.classifier),
                kernel * kernel * channels * channels, "network.channels")
    return (network.width, resnet_params(sizes.features, network.width, network.layers,
                                         sizes.outputs), network.width ** 2, "network.width")


def _coarse_fraction(mgrit):
    """Vectors MGRIT keeps per fine point of a rank, beyond the fine level's
    (C-points of every coarser level: u, v and the right-hand side)."""
    factors = [mgrit.cfactor, *mgrit.cfactor_per_level.values()]
    cf = min(factors)
    if mgrit.max_levels <= 1:
        return 0.0
    return 3.0 / (cf - 1)


def _batch_rows(mgrit, points, default=None):
    """The most rows of one batched step on a rank of `points` time points:
    mgrit.max_batch (0: no limit), else `default` (None: no limit)."""
    cap = mgrit.max_batch if mgrit.max_batch is not None else default
    intervals = -(-points // min([mgrit.cfactor, *mgrit.cfactor_per_level.values()]))
    return intervals if not cap else min(cap, intervals)


def needs(problem, sizes, nranks):
    """[Need] of one rank (the busiest) of a run on nranks ranks, for the
    problem's data of DataSizes `sizes`."""
    spec, network, train = problem.data, problem.network, problem.train
    n_data = sizes.n_train + sizes.n_val
    data_field = DATA_FIELD[spec.kind]
    result = [Need(data_field, 2 * n_data * (sizes.features + sizes.outputs) * DOUBLE,
                   "the data")]
    if network.gemm.backend == "tiled" and network.gemm.memory is not None:
        result.append(Need("network.gemm.memory", int(network.gemm.memory),
                           "the GEMM engine's tile caches and buffers"))
    if network.kind == "mlp":
        n_params = mlp_params(network.sizes, network.bias)
        vector = n_params * DOUBLE + ARRAY_OVERHEAD
        if not network.out_of_core:  # else in files, streamed within the engine's budget
            result.append(Need("network.sizes", 4 * vector, "the weights and gradient"))
        rows = {"batch": sizes.n_train, "serialized": 1,
                "minibatch": train.batch_size or 1}[train.schedule]
        # a step's activations, and the evaluation of the whole training set
        result.append(Need("network.sizes", 2 * max(rows, sizes.n_train) * sum(network.sizes)
                           * DOUBLE, "the activations"))
        if train.schedule == "serialized":
            result.append(Need(data_field, 2 * sizes.n_train * PYTHON_OBJECT,
                               "the batches of the serialized schedule"))
        if problem.mode == "sgd-time":
            window = min(train.window or train.steps, train.steps)
            points = -(-(window + 1) // nranks)
            mgrit = problem.mgrit
            fine = points if mgrit.storage == 0 else -(-points // min(
                [mgrit.cfactor, *mgrit.cfactor_per_level.values()]))
            vectors = fine + points * _coarse_fraction(mgrit)
            field = "train.window" if train.window and train.window < train.steps \
                else "train.steps"
            result.append(Need(field if points >= n_params else "network.sizes",
                               int(vectors * vector), f"MGRIT's vectors ({points} time points "
                               f"per rank, {n_params} weights each)"))
            if mgrit.batch:
                # a batched step's rows of weights, their gradients and activations
                rows_per_call = _batch_rows(mgrit, points)
                result.append(Need("mgrit.max_batch", rows_per_call * (
                    3 * vector + 2 * rows * sum(network.sizes) * DOUBLE),
                    f"the batched steps ({rows_per_call} weight vectors a call)"))
        return result
    layers = network.layers
    width, n_params, layer_params, width_field = resnet_shape(network, sizes)
    params_field = width_field if layer_params >= layers else "network.layers"
    copies = OPTIMIZER_COPIES[train.optimizer] + (train.optimizer == "sgd" and
                                                  train.momentum > 0)
    result.append(Need(params_field, copies * n_params * DOUBLE,
                       "the parameters and optimizer state"))
    groups = data_groups(problem, nranks)
    if models_averaged(problem) and groups > 1:  # rank 0 gathers every group's optimizer
        result.append(Need(params_field, groups * (copies - 2) * n_params * DOUBLE,
                           f"the optimizer states of {groups} data groups (checkpoints)"))
    shard = -(-sizes.n_train // groups)
    batch = min(train.batch_size or shard, shard)
    state = batch * width * DOUBLE + ARRAY_OVERHEAD
    if problem.mode == "layer-parallel":
        points = -(-(layers + 1) // max(1, nranks // groups))
        # forward and adjoint states, their warm starts, the forward states
        # the adjoint needs, MGRIT's coarse levels; rank 0 gathers every
        # warm start at a checkpoint
        forward, adjoint = problem.mgrit, problem.mgrit_adjoint
        vectors = 5 * points + 2 * (layers + 1) + points * (
            _coarse_fraction(forward) + _coarse_fraction(adjoint))
        default = max(1, LayerParallel.BATCH_BYTES // (batch * width * DOUBLE))
        for mgrit in (forward, adjoint):
            if mgrit.batch:
                # a batched step's rows (LayerParallel.BATCH_BYTES of them by default)
                vectors += 3 * _batch_rows(mgrit, points, default)
        if adjoint.batch:
            vectors += 2 * points  # the adjoint's stacks of forward states and derivatives
        rows = max([_batch_rows(m, points, default) for m in (forward, adjoint) if m.batch],
                   default=1)
    else:
        points = layers + 1
        vectors = points + 2  # serial forward states, backprop's two
        rows = 1
    if network.layer == "conv":  # im2col: each pixel's k*k neighbourhood, for a call's rows
        vectors += network.kernel ** 2 * rows
    factors = {"network.layers": points, width_field: width,
               ("train.batch_size" if train.batch_size else data_field): batch}
    result.append(Need(max(factors, key=factors.get), int(vectors * state),
                       f"the states of {batch} instances at {points} layers"))
    # the accuracy of the whole training or validation set, state by state
    result.append(Need(data_field, 2 * max(sizes.n_train, sizes.n_val) * width * DOUBLE,
                       "the evaluation of the data"))
    return result


def available_memory():
    """Bytes this machine (or this container's memory limit) can still give."""
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    try:  # cgroup v2: a container's limit
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        with open("/sys/fs/cgroup/memory.current") as f:
            current = int(f.read())
        if limit != "max":
            available = min(available, int(limit) - current)
    except (OSError, ValueError):
        pass
    return available


def human(nbytes):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    return f"{nbytes:.3g} EiB"


def check_memory(problem, sizes, nranks, node_ranks, available=None):
    """ProblemError naming the field that makes the run too large when its
    estimate (per rank, times the ranks on this node) exceeds the memory
    available; returns the estimate in bytes otherwise."""
    terms = needs(problem, sizes, nranks)
    per_rank = sum(t.nbytes for t in terms)
    total = per_rank * node_ranks
    available = available_memory() if available is None else available
    if available is not None and total > available:
        largest = max(terms, key=lambda t: t.nbytes)
        raise problem_error(problem, largest.field,
                            f"too large for this machine: the run needs about {human(total)} "
                            f"of memory ({human(per_rank)} on each of {node_ranks} "
                            f"rank{'s' if node_ranks > 1 else ''} here, {human(largest.nbytes)} "
                            f"of it for {largest.what}), {human(available)} are available")
    return total
