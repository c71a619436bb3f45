"""The YAML problem file of mgrit-train: its schema, loading, and errors that
name the file, the line and the field (`examples/xor.yaml:7: mgrit.cfactor:
must be >= 2`).

The schema shows only what applies.  `data` and `network` are discriminated
by their `kind`; the problem as a whole by its `mode` (and, for mode serial,
by the network's kind), which decides the `train`, `mgrit` and
`layer_parallel` sections:

    mode            network  train              mgrit, layer_parallel   averaging, parallel
    sgd-time        mlp      MLPTrain           SGDTimeMGRIT            -
    layer-parallel  resnet   ResNetTrain        MGRITConfig (also       DataGroupAveraging (used
                                                mgrit_adjoint),         with parallel.data > 1),
                                                LayerParallelConfig     ParallelConfig
    averaging       mlp      AveragingMLPTrain  (SGDTimeMGRIT, unused)  AveragingConfig;
                                                                        pretrain: PretrainConfig
    averaging       resnet   ResNetTrain        (all three unused)      AveragingConfig,
                                                                        (ParallelConfig, unused)
    serial          mlp      MLPTrain           (SGDTimeMGRIT, unused)  (AveragingConfig,
                                                                        PretrainConfig, unused)
    serial          resnet   ResNetTrain        (all three unused)      (both unused)

In mode layer-parallel, `mgrit_adjoint` (an MGRITConfig) holds the adjoint
solve's settings: the fields it gives, `mgrit`'s for the others.

A field of another kind (`n_pairs` under peaks data) is an error that says
which kind has it.  The sections and fields of a sibling mode of the same
network (`mgrit` in mode serial; `forward_iters` with layer_parallel.mode
exact; `nfmg` with cycle V) are checked but not used, and left out of the
resolved problem, so that one `--set` switches a problem between its modes.
A new mode is a new variant class here, registered in _PROBLEMS.
"""
import json
import math
import re
from typing import Annotated, Literal, Optional, Union

import yaml
from pydantic import (BaseModel, ByteSize, ConfigDict, Discriminator, Field, PrivateAttr, Tag,
                      TypeAdapter, ValidationError, model_validator)

from pyxbraid.data.digits import (DIGITS_CLASSES, DIGITS_IMAGE, DIGITS_IMAGES, DIGITS_N_VAL,
                                   DIGITS_PIXELS)
from pyxbraid.data.peaks import PEAKS_CLASSES, PEAKS_N_TRAIN, PEAKS_N_VAL
from pyxbraid.data.synthetic import ADDITION_BITS
from pyxbraid.files import open_regular


class ProblemError(Exception):
    """A problem file, or an override, that cannot be used."""

    def __init__(self, where, field, message):
        self.where, self.field, self.message = where, field, message
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")

    def __reduce__(self):  # sent between ranks
        return ProblemError, (self.where, self.field, self.message)


SEED_MAX = 2 ** 32 - 1      # numpy's legacy RandomState takes seeds below 2**32
INT_MAX = 2 ** 31 - 1       # braid_Int: steps and layers are braid time indices
MAX_FILE_BYTES = 1 << 20    # a problem file is a page of YAML, not data
MAX_YAML_NODES = 20_000     # YAML aliases may not expand beyond this many nodes


# ----------------------------------------------------------------- schema

class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)

    def unused(self):
        """Names of the fields that this section's choices do not use (left
        out of the resolved problem)."""
        return ()

    def left_out(self):
        """Names of fields used but left out of the resolved problem (a
        default that older problems lacked)."""
        return ()


# data: one class per kind

CLASSIFICATION = ("peaks", "digits", "idx")


class XorData(_Section):
    kind: Literal["xor"]

    def shape(self):
        """(features, outputs) of the data, or None when only the files know."""
        return 3, 1

    def image(self):
        """(channels, height, width) of the data's images, None when it has
        none, "files" when only the files know."""
        return None


class BinaryAdditionData(_Section):
    kind: Literal["binary_addition"]
    n_pairs: int = Field(500, ge=1, description="number of sums")
    bits: int = Field(ADDITION_BITS, ge=2, le=62, description="bits per number")

    def shape(self):
        return 2 * self.bits, self.bits

    def image(self):
        return None


class PeaksData(_Section):
    kind: Literal["peaks"]
    n_train: int = Field(PEAKS_N_TRAIN, ge=1, description="training points")
    n_val: int = Field(PEAKS_N_VAL, ge=1, description="validation points")

    def shape(self):
        return 2, PEAKS_CLASSES

    def image(self):
        return None


class DigitsData(_Section):
    kind: Literal["digits"]
    n_val: int = Field(DIGITS_N_VAL, ge=1, le=DIGITS_IMAGES - 1, description="validation "
                       f"images (the rest of the {DIGITS_IMAGES} train)")

    def shape(self):
        return DIGITS_PIXELS, DIGITS_CLASSES

    def image(self):
        return DIGITS_IMAGE


class IdxData(_Section):
    kind: Literal["idx"]
    images: str = Field(description="training images (IDX file, gzipped or not)")
    labels: str = Field(description="training labels")
    val_images: Optional[str] = Field(None, description="validation images")
    val_labels: Optional[str] = Field(None, description="validation labels")

    @model_validator(mode="after")
    def _pairs(self):
        if (self.val_images is None) != (self.val_labels is None):
            raise _FieldError(("val_labels" if self.val_labels is None else "val_images",),
                              "give val_images and val_labels together")
        return self

    def shape(self):
        return None

    def image(self):
        return "files"

    def files(self):
        """{field: path} of the files given."""
        return {name: getattr(self, name) for name in ("images", "labels", "val_images",
                                                       "val_labels")
                if getattr(self, name) is not None}


_DATA_CLASSES = (XorData, BinaryAdditionData, PeaksData, DigitsData, IdxData)
DataConfig = Annotated[Union[_DATA_CLASSES], Field(discriminator="kind")]

# network: one class per kind

ACTIVATION = Literal["identity", "sigmoid", "tanh", "relu", "smooth_relu"]
MLP_INITS = ("uniform", "xavier", "trask")
#: network.init when the problem gives none, by data kind (else "uniform"):
#: binary addition is Trask's problem (Schroder 2017 trains his network)
DEFAULT_INIT = {"binary_addition": "trask"}


class GemmConfig(_Section):
    """Where the network's matrix products run (pyxbraid.nn.gemm's backend)."""
    backend: Literal["numpy", "tiled"] = Field("numpy", description="numpy, or the tiled "
                                               "multi-worker engine (pyxbraid.gemm)")
    workers: int = Field(1, ge=1, le=256, description="tiled: workers sharing each product "
                         "(one BLAS thread each)")
    tile: Optional[int] = Field(None, ge=1, le=1 << 20, description="tiled: side of the "
                                "square tiles (default: automatic, at most 2048)")
    memory: Optional[ByteSize] = Field(None, gt=0, description="tiled: bytes for the "
                                       "engine's tile caches and buffers, e.g. 64MiB "
                                       "(default: unbounded)")

    def unused(self):
        return () if self.backend == "tiled" else ("workers", "tile", "memory")

    def engine_options(self):
        """make_gemm_backend's options."""
        if self.backend == "numpy":
            return {}
        return dict(workers=self.workers, tile=self.tile,
                    memory=None if self.memory is None else int(self.memory))


def _gemm():
    return Field(default_factory=GemmConfig, description="the matrix products' engine")


class MLPNetwork(_Section):
    kind: Literal["mlp"] = "mlp"
    sizes: list[Annotated[int, Field(ge=1)]] = Field(min_length=2, description="layer "
                                                     "widths, input to output")
    activation: ACTIVATION = "sigmoid"
    output_activation: Optional[ACTIVATION] = Field(None, description="default: activation")
    bias: bool = True
    loss: Literal["sse", "mse", "softmax_cross_entropy"] = "sse"
    init: Optional[Literal[MLP_INITS]] = Field(None, description="weight initialization: "
                                               "uniform U(-1, 1), xavier, or trask N(-0.1, "
                                               "0.2^2); default trask for binary_addition "
                                               "(then data and weights are Trask's, from one "
                                               "stream; any other init keeps the former "
                                               "addition data), else uniform")
    gemm: GemmConfig = _gemm()
    out_of_core: bool = Field(False, description="mode serial, one rank: keep the weights "
                              "and the gradient in files in the run folder, streamed tile by "
                              "tile by the tiled engine within network.gemm.memory")


RESNET_LAYERS = ("dense", "conv")
CONV_FIELDS = ("channels", "kernel", "classifier")


class ResNetNetwork(_Section):
    kind: Literal["resnet"]
    layer: Literal[RESNET_LAYERS] = Field("dense", description="the residual layers: dense "
                                          "(width x width weights) or conv (2-D convolutions "
                                          "of the data's images, pyxbraid.nn.conv)")
    width: Optional[int] = Field(None, ge=1, description="dense: width of every layer (conv: "
                                 "derived, the images' height*width*channels)")
    channels: Optional[int] = Field(None, ge=1, le=4096, description="conv: channels of "
                                    "every layer")
    kernel: Optional[int] = Field(None, ge=1, le=31, description="conv: side of the square "
                                  "kernels, odd (default 3)")
    classifier: Optional[Literal["flatten", "pool"]] = Field(
        None, description="conv: the last layer's values to the classes: flatten (a dense map "
        "of all of them, the default) or pool (each channel's mean, then a dense map)")
    layers: int = Field(ge=1, le=INT_MAX, description="residual layers N")
    T: float = Field(1.0, gt=0, description="final time, h = T/N")
    activation: ACTIVATION = "sigmoid"
    opening_activation: Optional[ACTIVATION] = Field(None, description="default: activation")
    gamma_t: float = Field(0.0, ge=0, description="Tikhonov regularization")
    gamma_d: float = Field(0.0, ge=0, description="smoothness across layers")
    init_scale: float = Field(1.0, ge=0, description="scale of the layer weights")
    gemm: GemmConfig = _gemm()

    @model_validator(mode="after")
    def _fields_of_the_layer(self):
        # by value, not by model_fields_set: a problem dumped and validated
        # again (with_mode) gives every field
        if self.layer == "dense":
            for name in CONV_FIELDS:
                if getattr(self, name) is not None:
                    raise _FieldError((name,), "only for layer: conv, not dense")
            if self.width is None:
                raise _FieldError(("width",), "is required for kind: resnet with layer: dense")
            return self
        if self.width is not None:
            raise _FieldError(("width",), "not for layer: conv: its width is derived (the "
                              "images' height*width*channels): give network.channels")
        if self.channels is None:
            raise _FieldError(("channels",), "is required for kind: resnet with layer: conv")
        if self.kernel is None:
            self.kernel = 3
        if self.kernel % 2 == 0:
            raise _FieldError(("kernel",), f"must be odd (same padding), got {self.kernel}")
        if self.classifier is None:
            self.classifier = "flatten"
        return self

    def unused(self):
        return ("width",) if self.layer == "conv" else CONV_FIELDS

    def left_out(self):
        # dense problems resolve as before this field was added (their run
        # folders resume)
        return ("layer",) if self.layer == "dense" else ()


def _network_kind(value):
    if isinstance(value, dict):
        return value.get("kind", "mlp")
    return getattr(value, "kind", None)


NETWORK_KINDS = ("mlp", "resnet")

# train: by the network's kind


class _Train(_Section):
    steps: int = Field(ge=1, le=INT_MAX, description="sgd-time: SGD steps (the time steps "
                       "of MGRIT); resnet: optimizer steps")
    learning_rate: float = Field(gt=0)


def _log_every():
    return Field(None, ge=1, description="loss and accuracy every log_every steps "
                 "(default: steps/100)")


def _divergence_factor():
    return Field(1e6, gt=1, description="the run stops when the loss exceeds this many "
                 "times the initial loss")


class MLPTrain(_Train):
    schedule: Literal["batch", "serialized", "minibatch"] = "batch"
    batch_size: Optional[int] = Field(None, ge=1, description="minibatch size (schedule "
                                      "minibatch)")
    window: Optional[int] = Field(None, ge=1, description="steps per MGRIT solve; "
                                  "checkpoints between solves (default, or more than "
                                  "steps: all steps)")
    log_every: Optional[int] = _log_every()
    divergence_factor: float = _divergence_factor()

    @model_validator(mode="after")
    def _batch(self):
        if self.schedule == "minibatch" and self.batch_size is None:
            raise _FieldError(("batch_size",), "is required with schedule: minibatch")
        if self.schedule != "minibatch" and self.batch_size is not None:
            raise _FieldError(("batch_size",), f"only for schedule: minibatch, "
                              f"not {self.schedule}")
        return self

    def unused(self):
        return () if self.schedule == "minibatch" else ("batch_size",)


class NGSGDConfig(_Section):
    """Natural-gradient SGD's options (pyxbraid.train.ngsgd; Kaldi's defaults)."""
    rank_in: int = Field(30, ge=1, description="rank of the input-side Fisher estimate "
                         "(capped below the layer's inputs + 1)")
    rank_out: int = Field(60, ge=1, description="rank of the output-derivative side")
    alpha: float = Field(4.0, gt=0, description="smoothing toward the identity")
    update_period: int = Field(4, ge=1, description="minibatches between new estimates")
    num_samples_history: float = Field(2000.0, gt=0, description="forgetting horizon in "
                                       "samples")


class AveragingMLPTrain(MLPTrain):
    optimizer: Literal["sgd", "ngsgd"] = Field("sgd", description="ngsgd: natural-gradient "
                                               "SGD (Kaldi's online preconditioner)")
    ngsgd: NGSGDConfig = Field(default_factory=NGSGDConfig, description="optimizer ngsgd")

    def unused(self):
        return super().unused() + (() if self.optimizer == "ngsgd" else ("ngsgd",))


class ResNetTrain(_Train):
    optimizer: Literal["sgd", "adam", "lbfgs"] = "sgd"
    momentum: float = Field(0.0, ge=0, lt=1, description="optimizer sgd")
    batch_size: Optional[int] = Field(None, ge=1, description="minibatch size (default "
                                      "the whole training set)")
    checkpoint_every: Optional[int] = Field(None, ge=1, description="optimizer steps "
                                            "between checkpoints (default steps/10)")
    log_every: Optional[int] = _log_every()
    divergence_factor: float = _divergence_factor()

    def unused(self):
        return () if self.optimizer == "sgd" else ("momentum",)


class AveragingResNetTrain(ResNetTrain):
    optimizer: Literal["sgd", "adam", "lbfgs", "ngsgd"] = Field(
        "sgd", description="ngsgd: natural-gradient SGD (Kaldi's online preconditioner, one "
        "per affine map)")
    ngsgd: NGSGDConfig = Field(default_factory=NGSGDConfig, description="optimizer ngsgd")

    def unused(self):
        return super().unused() + (() if self.optimizer == "ngsgd" else ("ngsgd",))


# MGRIT: the options of every braid solve; sgd-time adds its own


class MGRITConfig(_Section):
    cycle: Literal["V", "F"] = "V"
    max_levels: int = Field(30, ge=1)
    min_coarse: int = Field(2, ge=1)
    cfactor: int = Field(2, ge=2)
    cfactor_per_level: dict[int, int] = Field(default_factory=dict)
    nrelax: int = Field(1, ge=0, description="F-C sweeps: 1 = FCF, 0 = F")
    nrelax_per_level: dict[int, int] = Field(default_factory=dict)
    cwt: float = Field(1.0, ge=0)
    tol: float = Field(1e-9, ge=0)
    tol_relative: bool = Field(False, description="stop at tol times the first residual")
    max_iter: int = Field(50, ge=1)
    nfmg: int = Field(-1, ge=-1, description="cycle F")
    nfmg_vcyc: int = Field(1, ge=1, description="cycle F")
    temporal_norm: int = Field(2, ge=1, le=3)
    storage: int = Field(-1, ge=-1)
    seq_soln: bool = False
    relax_only_cg: bool = False
    final_fc_relax: bool = False
    residual_computation: bool = True
    print_level: int = Field(0, ge=0, le=3)
    batch: bool = Field(True, description="step the rank's intervals together when the app "
                        "can (false: point by point, for comparisons)")
    max_batch: Optional[int] = Field(None, ge=0, description="most steps per batched call, "
                                     "0 = no limit; default: the mode's (sgd-time: no limit, "
                                     "layer-parallel: about 1 MiB of states)")

    @model_validator(mode="after")
    def _per_level(self):
        for name, low in (("cfactor_per_level", 2), ("nrelax_per_level", 0)):
            for level, value in getattr(self, name).items():
                if level < 0:
                    raise _FieldError((name, level), f"levels start at 0, got {level}")
                if value < low:
                    raise _FieldError((name, level), f"must be >= {low}, got {value}")
        return self

    def unused(self):
        return () if self.cycle == "F" else ("nfmg", "nfmg_vcyc")

    def solve_settings(self):
        """The settings of one solve of pyxbraid.train.layer_parallel's
        LayerParallel (its `adjoint` dict): core_options with the tolerance
        as tol and tol_relative, and the cycle and batching stated whatever
        they are (else they would be the other solve's)."""
        return dict(self.core_options(), fmg=self.cycle == "F", batch=self.batch,
                    max_batch=self.max_batch, tol=self.tol, tol_relative=self.tol_relative)

    def per_level(self, name):
        """cfactor or nrelax for pyxbraid.Core: an int for every level, or
        {level: value} for every level of the hierarchy (the bindings' dict
        form sets the levels it names; the others would keep XBraid's
        defaults, not this section's)."""
        default, levels = getattr(self, name), getattr(self, name + "_per_level")
        if not levels:
            return default
        return {level: levels.get(level, default) for level in range(self.max_levels)}

    def core_options(self):
        """Keyword arguments for pyxbraid.Core (without the tolerance)."""
        options = dict(max_levels=self.max_levels, min_coarse=self.min_coarse,
                       cfactor=self.per_level("cfactor"), nrelax=self.per_level("nrelax"),
                       cwt=self.cwt, max_iter=self.max_iter,
                       temporal_norm=self.temporal_norm, storage=self.storage,
                       seq_soln=self.seq_soln, relax_only_cg=self.relax_only_cg,
                       final_fc_relax=self.final_fc_relax,
                       residual_computation=self.residual_computation,
                       print_level=self.print_level)
        if self.max_batch is not None:
            options["max_batch"] = self.max_batch
        if not self.batch:
            # on is the Core's default where the app has step_batch (asked of
            # an app without one, it is an error)
            options["batch"] = False
        if self.cycle == "F":
            options.update(fmg=True, nfmg=self.nfmg, nfmg_vcyc=self.nfmg_vcyc)
        return options


class SGDTimeMGRIT(MGRITConfig):
    skip: bool = True
    lr_growth: float = Field(2.0, gt=0, description="coarse learning rate: "
                             "min(lr_growth**level * learning_rate, lr_max)")
    lr_max: Optional[float] = Field(None, gt=0)
    coarse_data: Literal["fine", "level"] = "fine"
    initial_guess: Literal["zeros", "w0"] = "zeros"

    def core_options(self):
        options = super().core_options()
        options["skip"] = self.skip
        options["rel_tol" if self.tol_relative else "abs_tol"] = self.tol
        return options


class LayerParallelConfig(_Section):
    mode: Literal["exact", "one-shot"] = "one-shot"
    forward_iters: int = Field(2, ge=1, description="one-shot: forward MGRIT iterations "
                               "per optimizer step")
    adjoint_iters: int = Field(1, ge=1, description="one-shot: adjoint MGRIT iterations")
    patience: int = Field(5, ge=1, description="one-shot: steps with a forward convergence "
                          "factor > 1 before falling back to exact mode")
    parameters: Literal["replicated", "owned"] = Field(
        "replicated", description="owned: each rank keeps the layers of its points (and the "
        "few its steps use beyond them), its optimizer state likewise; replicated: every "
        "rank keeps all")

    def unused(self):
        return () if self.mode == "one-shot" else ("forward_iters", "adjoint_iters", "patience")

    def left_out(self):
        # replicated problems resolve as before this field was added (their
        # run folders resume)
        return ("parameters",) if self.parameters == "replicated" else ()


class AveragingConfig(_Section):
    """Data-parallel training with model averaging (Su & Chen 2015): every
    rank trains on its shard; the models are averaged every `every` steps."""
    every: int = Field(16, ge=1, le=INT_MAX, description="local steps between model averages "
                       "(and after the last step of every window or checkpoint)")
    method: Literal["allreduce", "butterfly"] = Field("allreduce", description="butterfly: "
                                                      "pairwise exchanges, a power-of-two "
                                                      "number of ranks")
    lr_final: Optional[float] = Field(None, gt=0, description="learning rate of the last "
                                      "step: exponential decay from train.learning_rate "
                                      "(default: no decay)")
    scale_lr_with_ranks: bool = Field(False, description="the learning rate times the number "
                                      "of data ranks (or groups)")
    max_change: Optional[float] = Field(None, gt=0, description="cap on the 2-norm of one "
                                        "step's change of the parameters")


class DataGroupAveraging(AveragingConfig):
    """Averaging over the data groups of a layer-parallel run."""
    every: int = Field(1, ge=1, le=INT_MAX, description="1: the gradient is averaged over "
                       "the data groups every step; k > 1: the models every k steps (and at "
                       "every checkpoint)")

    def unused(self):
        return ("method",) if self.every == 1 else ()


class PretrainConfig(_Section):
    """RBM pretraining (CD-1) of an mlp's sigmoid hidden layers, layer by
    layer, before training; data-parallel like the run (each rank on its
    shard, the RBMs averaged every averaging.every minibatches)."""
    kind: Literal["rbm"] = "rbm"
    epochs: int = Field(5, ge=1, le=INT_MAX, description="CD-1 epochs per hidden layer "
                        "(each over the rank's shard)")
    learning_rate: float = Field(0.05, gt=0)
    batch_size: int = Field(16, ge=1, description="CD-1 minibatch size")


class ParallelConfig(_Section):
    data: int = Field(1, ge=1, description="data groups of a layer-parallel run: ranks = "
                      "data x layer ranks, each group trains on its shard of the data")


class OutputConfig(_Section):
    dir: str = "runs"
    plots: bool = True
    progress_every: Optional[int] = Field(None, ge=1, description="without a terminal: "
                                          "a progress line every this many steps")


# the problem: one class per (mode, network kind)

MODES = ("sgd-time", "layer-parallel", "averaging", "serial")


class _Problem(_Section):
    """What the variants share.  Two problems are equal when their fields
    are (wherever they came from)."""
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    mode: str
    seed: int = Field(0, ge=0, le=SEED_MAX)
    data: DataConfig
    # where the problem came from: (source, {key path: line}, {key path: --set text})
    _origin: tuple = PrivateAttr(default=("problem", {}, {}))

    def __eq__(self, other):
        return type(self) is type(other) and self.model_dump() == other.model_dump()

    __hash__ = None

    @model_validator(mode="before")
    @classmethod
    def _network_matches_mode(cls, values):
        network = values.get("network") if isinstance(values, dict) else None
        if not isinstance(network, dict):
            return values  # the network's own error
        kind, mode = _network_kind(network), values.get("mode", "sgd-time")
        if kind not in NETWORK_KINDS:
            raise _FieldError(("network", "kind"), f"must be one of {', '.join(NETWORK_KINDS)}, "
                              f"got {kind!r}")
        if mode == "sgd-time" and kind != "mlp":
            raise _FieldError(("network", "kind"), "mode sgd-time trains an mlp "
                              "(a resnet trains with mode layer-parallel)")
        if mode == "layer-parallel" and kind != "resnet":
            raise _FieldError(("network", "kind"), "mode layer-parallel trains a resnet "
                              "(an mlp trains with mode sgd-time or averaging)")
        return values

    @model_validator(mode="after")
    def _consistent(self):
        if self.network.kind == "mlp":
            self._mlp_fits_data()
            self._out_of_core_possible()
            if self.network.init is None:
                self.network.init = DEFAULT_INIT.get(self.data.kind, "uniform")
        elif self.data.kind not in CLASSIFICATION:
            raise _FieldError(("data", "kind"), f"a resnet classifies: data must be one of "
                              f"{', '.join(CLASSIFICATION)}")
        elif self.network.layer == "conv" and self.data.image() is None:
            raise _FieldError(("network", "layer"), f"conv needs images: data kind "
                              f"{self.data.kind} has none (digits and idx images have)")
        mgrit = getattr(self, "mgrit", None)
        lr_max = getattr(mgrit, "lr_max", None)
        if lr_max is not None and lr_max < self.train.learning_rate:
            raise _FieldError(("mgrit", "lr_max"), f"must be >= train.learning_rate "
                              f"({self.train.learning_rate}), got {lr_max}")
        return self

    def _out_of_core_possible(self):
        if not self.network.out_of_core:
            return
        if self.mode != "serial":
            raise _FieldError(("network", "out_of_core"), f"weights in files train in mode "
                              f"serial (one model stepped in place), not {self.mode}")
        gemm = self.network.gemm
        if gemm.backend != "tiled" or gemm.memory is None:
            raise _FieldError(("network", "out_of_core"), "weights in files need "
                              "network.gemm.backend tiled and a network.gemm.memory budget "
                              "(numpy's product would read them whole)")

    def _mlp_fits_data(self):
        shape = self.data.shape()
        if shape is not None:  # IDX files: checked when their headers are read
            misfit = mlp_misfit(self.network, self.data.kind, *shape)
            if misfit is not None:
                raise _FieldError(*misfit)


def mlp_misfit(network, data_kind, features, outputs):
    """(path, message) where an mlp's sizes do not fit data of `features`
    inputs and `outputs` targets, or None."""
    sizes = network.sizes
    if sizes[0] != features:
        return (("network", "sizes", 0), f"the {data_kind} data has {features} features, "
                f"the network takes {sizes[0]} inputs")
    if sizes[-1] != outputs:
        return (("network", "sizes", len(sizes) - 1), f"the {data_kind} data has {outputs} "
                f"targets, the network gives {sizes[-1]} outputs")
    return None


class SGDTimeProblem(_Problem):
    """MGRIT over the SGD steps of an mlp (Schroder 2017)."""
    mode: Literal["sgd-time"] = "sgd-time"
    network: MLPNetwork
    train: MLPTrain
    mgrit: SGDTimeMGRIT = Field(default_factory=SGDTimeMGRIT)
    output: OutputConfig = Field(default_factory=OutputConfig)


class LayerParallelProblem(_Problem):
    """A resnet whose forward and adjoint solves are MGRIT over its layers;
    with parallel.data > 1, data groups each solve it on their shard."""
    mode: Literal["layer-parallel"]
    network: ResNetNetwork
    train: ResNetTrain
    mgrit: MGRITConfig = Field(default_factory=MGRITConfig)
    mgrit_adjoint: MGRITConfig = Field(default_factory=MGRITConfig, description="the "
                                       "adjoint solve's: every field defaults to mgrit's")
    layer_parallel: LayerParallelConfig = Field(default_factory=LayerParallelConfig)
    parallel: ParallelConfig = Field(default_factory=ParallelConfig)
    averaging: DataGroupAveraging = Field(default_factory=DataGroupAveraging)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _adjoint_defaults_to_forward(self):
        """mgrit_adjoint: the fields given, mgrit's for the others (each
        valid alone, so valid together); only the given count as given."""
        given = set(self.mgrit_adjoint.model_fields_set)
        merged = {**self.mgrit.model_dump(), **self.mgrit_adjoint.model_dump(include=given)}
        self.mgrit_adjoint = MGRITConfig.model_construct(_fields_set=given, **merged)
        return self

    @model_validator(mode="after")
    def _averaged_optimizer(self):
        if self.parallel.data > 1 and self.averaging.every > 1:
            _check_averaged_optimizer(self.train)
        return self

    @model_validator(mode="after")
    def _owned_in_one_group(self):
        if self.layer_parallel.parameters == "owned" and self.parallel.data > 1:
            raise _FieldError(("layer_parallel", "parameters"), "owned parameters train in one "
                              "data group: with parallel.data > 1 use replicated")
        return self

    def unused(self):
        return ("averaging",) if self.parallel.data == 1 else ()


def _check_averaged_optimizer(train):
    if train.optimizer == "lbfgs":
        raise _FieldError(("train", "optimizer"), "lbfgs cannot be averaged (its history and "
                          "line search follow its own steps): use sgd or adam")


class AveragingMLPProblem(_Problem):
    """Data-parallel training of an mlp with model averaging (Su & Chen 2015)."""
    mode: Literal["averaging"]
    network: MLPNetwork
    train: AveragingMLPTrain
    averaging: AveragingConfig = Field(default_factory=AveragingConfig)
    pretrain: Optional[PretrainConfig] = Field(None, description="default: none (the "
                                               "network's init)")
    mgrit: Optional[SGDTimeMGRIT] = Field(None, exclude=True)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _pretrainable(self):
        if self.pretrain is None:
            return self
        network = self.network
        if len(network.sizes) < 3:
            raise _FieldError(("network", "sizes"), "RBM pretraining needs a hidden layer")
        if network.activation != "sigmoid":
            raise _FieldError(("network", "activation"), f"RBM pretraining needs sigmoid "
                              f"hidden layers, got {network.activation}")
        if not network.bias:
            raise _FieldError(("network", "bias"), "RBM pretraining needs hidden layers with "
                              "a bias (the RBM's hidden bias)")
        return self


class AveragingResNetProblem(_Problem):
    """Data-parallel training of a resnet (serial backprop on each rank's
    shard) with model averaging."""
    mode: Literal["averaging"]
    network: ResNetNetwork
    train: AveragingResNetTrain
    averaging: AveragingConfig = Field(default_factory=AveragingConfig)
    mgrit: Optional[MGRITConfig] = Field(None, exclude=True)
    mgrit_adjoint: Optional[MGRITConfig] = Field(None, exclude=True)
    layer_parallel: Optional[LayerParallelConfig] = Field(None, exclude=True)
    parallel: Optional[ParallelConfig] = Field(None, exclude=True)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _averaged_optimizer(self):
        _check_averaged_optimizer(self.train)
        if self.train.optimizer == "ngsgd" and self.network.layer != "dense":
            raise _FieldError(("train", "optimizer"), f"ngsgd preconditions dense maps: "
                              f"network.layer {self.network.layer} has no natural gradient "
                              f"(use sgd or adam)")
        return self


class SerialMLPProblem(_Problem):
    """The serial reference of sgd-time: the same steps one after the other."""
    mode: Literal["serial"]
    network: MLPNetwork
    train: MLPTrain
    mgrit: Optional[SGDTimeMGRIT] = Field(None, exclude=True)
    averaging: Optional[AveragingConfig] = Field(None, exclude=True)
    pretrain: Optional[PretrainConfig] = Field(None, exclude=True)
    output: OutputConfig = Field(default_factory=OutputConfig)


class SerialResNetProblem(_Problem):
    """The serial reference of layer-parallel: serial forward and backprop."""
    mode: Literal["serial"]
    network: ResNetNetwork
    train: ResNetTrain
    mgrit: Optional[MGRITConfig] = Field(None, exclude=True)
    mgrit_adjoint: Optional[MGRITConfig] = Field(None, exclude=True)
    layer_parallel: Optional[LayerParallelConfig] = Field(None, exclude=True)
    parallel: Optional[ParallelConfig] = Field(None, exclude=True)
    averaging: Optional[AveragingConfig] = Field(None, exclude=True)
    output: OutputConfig = Field(default_factory=OutputConfig)


# tag -> (class, what a message calls it)
_PROBLEMS = {
    "sgd-time": (SGDTimeProblem, "mode sgd-time"),
    "layer-parallel": (LayerParallelProblem, "mode layer-parallel"),
    "averaging-mlp": (AveragingMLPProblem, "mode averaging with an mlp"),
    "averaging-resnet": (AveragingResNetProblem, "mode averaging with a resnet"),
    "serial-mlp": (SerialMLPProblem, "mode serial with an mlp"),
    "serial-resnet": (SerialResNetProblem, "mode serial with a resnet"),
}


def _problem_tag(value):
    if not isinstance(value, dict):
        return None
    mode = value.get("mode", "sgd-time")
    if mode in ("serial", "averaging"):  # one variant per network kind
        kind = _network_kind(value.get("network"))
        return f"{mode}-resnet" if kind == "resnet" else f"{mode}-mlp"
    return mode if mode in MODES else None


_PROBLEM = TypeAdapter(Annotated[Union[tuple(Annotated[cls, Tag(tag)] for tag, (cls, _)
                                             in _PROBLEMS.items())], Discriminator(_problem_tag)])
Problem = Union[tuple(cls for cls, _ in _PROBLEMS.values())]

# the sections that differ between variants: (section, labels of their classes)
_SECTION_LABELS = {
    "data": {cls: f"data kind {cls.model_fields['kind'].annotation.__args__[0]}"
             for cls in _DATA_CLASSES},
    "network": {MLPNetwork: "network kind mlp", ResNetNetwork: "network kind resnet"},
    "train": {MLPTrain: "the train of an mlp", ResNetTrain: "the train of a resnet",
              AveragingMLPTrain: "the train of an mlp in mode averaging"},
    "mgrit": {SGDTimeMGRIT: "the mgrit of mode sgd-time", MGRITConfig: "the mgrit of a resnet"},
    "mgrit_adjoint": {SGDTimeMGRIT: "the mgrit of mode sgd-time",
                      MGRITConfig: "the mgrit_adjoint of a resnet"},
}


def _section_class(annotation):
    """The _Section class of a field's annotation (Optional unwrapped)."""
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, _Section):
            return candidate
    return None


class _FieldError(ValueError):
    """Raised by validators: the path (relative to the model) and the message."""

    def __init__(self, path, message):
        self.path = path
        super().__init__(message)


# ------------------------------------------------------------ YAML loading

class _Loader(yaml.SafeLoader):
    """Safe YAML that reads 1e-3 as a number (YAML 1.1 wants 1.0e-3), and 1e4
    (no point, exponent >= 0) as the integer 10000."""


_SCIENTIFIC = "tag:pyxbraid:scientific"
_Loader.add_implicit_resolver(
    _SCIENTIFIC,
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def _scientific(loader, node):
    text = loader.construct_scalar(node).replace("_", "")
    mantissa, _, exponent = text.lower().partition("e")
    value = float(text)
    if "." not in mantissa and int(exponent) >= 0 and value.is_integer():
        return int(value)
    return value


_Loader.add_constructor(_SCIENTIFIC, _scientific)


class _TooLarge(Exception):
    def __init__(self, line, message):
        self.line, self.message = line, message


def _expanded_size(node, limit):
    """The number of nodes of the document with every alias expanded, counted
    without expanding (a node shared by aliases is counted once per use);
    _TooLarge beyond `limit` or for a recursive alias."""
    sizes, active = {}, set()

    def size(n):
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _TooLarge(n.start_mark.line + 1, "a recursive YAML alias")
        active.add(key)
        total = 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k) + size(v)
                if total > limit:
                    break
        elif isinstance(n, yaml.SequenceNode):
            for item in n.value:
                total += size(item)
                if total > limit:
                    break
        active.discard(key)
        if total > limit:
            raise _TooLarge(n.start_mark.line + 1, f"YAML aliases expand to more than "
                            f"{limit} nodes (a problem file is a few hundred)")
        sizes[key] = total
        return total

    return size(node)


def _lines(node, path=(), lines=None):
    """{key path: line} for every key and list item of a composed YAML node;
    duplicate keys are errors."""
    lines = {} if lines is None else lines
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            try:
                key = int(key) if key_node.tag.endswith(":int") else key
            except ValueError:
                pass
            if key in seen:
                raise _DuplicateKey(path + (key,), key_node.start_mark.line + 1)
            seen.add(key)
            lines[path + (key,)] = key_node.start_mark.line + 1
            _lines(value_node, path + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = item.start_mark.line + 1
            _lines(item, path + (i,), lines)
    return lines


class _DuplicateKey(Exception):
    def __init__(self, path, line):
        self.path, self.line = path, line


def _parse_yaml(text):
    """(data, {key path: line}) of one YAML document, its aliases bounded."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        _expanded_size(node, MAX_YAML_NODES)
        lines = _lines(node)
        return loader.construct_document(node), lines
    finally:
        loader.dispose()


def _dotted(path):
    return ".".join(str(p) for p in path)


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "literal_error": "must be one of {expected}",
    "union_tag_invalid": "must be one of {expected_tags}",
    "extra_forbidden": "unknown key",
    "missing": "is required",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "too_short": "needs at least {min_length} entries",
    "string_pattern_mismatch": "must be letters, digits, '.', '_' or '-'",
    "string_too_long": "is too long",
    "finite_number": "must be finite",
}


def _message(error):
    template = _MESSAGES.get(error["type"])
    if template is None:
        return error["msg"]
    context = dict(error.get("ctx") or {})
    for key in ("expected", "expected_tags"):
        if key in context:
            context[key] = context[key].replace("'", "")
    text = template.format(**context)
    if error["type"].endswith("_type") or error["type"] in ("greater_than_equal",
                                                            "less_than_equal", "greater_than",
                                                            "union_tag_invalid"):
        given = error.get("input")
        if isinstance(given, dict) and error["type"] == "union_tag_invalid":
            given = context.get("tag")
        if not isinstance(given, (dict, list)):
            text += f", got {given!r}"
    return text


def _untagged(loc):
    """(path in the problem, problem tag, data tag) of a pydantic location:
    the discriminators' tags are not keys of the file."""
    loc = [p for p in loc if not isinstance(p, str) or
           not p.startswith(("function-", "json-or-python", "lax-or-strict"))]
    problem_tag = loc.pop(0) if loc and loc[0] in _PROBLEMS else None
    data_tag = None
    if len(loc) > 1 and loc[0] == "data" and loc[1] in _DATA_BY_KIND:
        data_tag = loc.pop(1)
    return tuple(loc), problem_tag, data_tag


_DATA_BY_KIND = {cls.model_fields["kind"].annotation.__args__[0]: cls
                          for cls in _DATA_CLASSES}


def _unknown_key(path, problem_tag, data_tag):
    """The message for an unknown key: which kind or mode has it, if any."""
    if problem_tag is None:
        return "unknown key"
    problem_cls, problem_label = _PROBLEMS[problem_tag]
    if len(path) == 1:
        owners = [label for cls, label in _PROBLEMS.values() if path[0] in cls.model_fields]
        return (f"not a section of {problem_label}; it is one of {', '.join(owners)}"
                if owners else "unknown key")
    if len(path) != 2 or path[0] not in _SECTION_LABELS:
        return "unknown key"
    labels = _SECTION_LABELS[path[0]]
    if path[0] == "data":
        current = _DATA_BY_KIND.get(data_tag)
    else:
        current = _section_class(problem_cls.model_fields[path[0]].annotation)
    owners = [label for cls, label in labels.items() if path[1] in cls.model_fields]
    if not owners or current not in labels:
        return "unknown key"
    return f"not a field of {labels[current]}; only of {', '.join(owners)}"


def _located(errors, lines, source, overridden):
    """The first validation error as a ProblemError at its line (or at the
    --set override that gave the value)."""
    error = errors[0]
    path, problem_tag, data_tag = _untagged(error["loc"])
    if isinstance(error.get("ctx", {}).get("error"), _FieldError):
        field_error = error["ctx"]["error"]
        path = path + tuple(field_error.path)
        message = str(field_error)
    elif error["type"] == "extra_forbidden":
        message = _unknown_key(path, problem_tag, data_tag)
    elif _required(error, path):
        message = f"is required for kind: {_kind(path[0], problem_tag, data_tag)}"
    elif error["type"] == "union_tag_invalid":
        path, message = path + ("kind",), _message(error)
    elif error["type"] == "union_tag_not_found":
        if isinstance(error.get("input"), dict):
            path, message = path + ("kind",), "is required"
        else:
            message = "must be a mapping"
    else:
        message = _message(error)
    return _at(path, message, lines, source, overridden)


def _kind(section, problem_tag, data_tag):
    if section == "data":
        return data_tag
    cls = _section_class(_PROBLEMS[problem_tag][0].model_fields[section].annotation)
    return cls.model_fields["kind"].annotation.__args__[0]


def _required(error, path):
    """A field of a data or network kind that is missing (or null)."""
    if len(path) != 2 or path[0] not in ("data", "network"):
        return False
    return error["type"] == "missing" or (error.get("input", 0) is None and
                                          error["type"].endswith("_type"))


def _at(path, message, lines, source, overridden):
    """A ProblemError for `path`: at the --set that gave it, else at the
    innermost line of the file that holds it, else at a --set below it."""
    for end in range(len(path), 0, -1):
        prefix = path[:end]
        if prefix in overridden:
            return ProblemError(f"--set {overridden[prefix]}", _dotted(path), message)
        if prefix in lines:
            return ProblemError(f"{source}:{lines[prefix]}", _dotted(path), message)
        below = [text for keys, text in overridden.items() if keys[:end] == prefix]
        if below:
            return ProblemError(f"--set {below[0]}", _dotted(path), message)
    return ProblemError(source, _dotted(path), message)


def _reject_non_finite(data, path=()):
    if isinstance(data, dict):
        for key, value in data.items():
            _reject_non_finite(value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _reject_non_finite(value, path + (i,))
    elif isinstance(data, float) and not math.isfinite(data):
        raise _FieldError(path, f"must be finite, got {data}")


def _check_mode(data):
    mode = data.get("mode", "sgd-time")
    if mode not in MODES:
        raise _FieldError(("mode",), f"must be one of {', '.join(MODES)}, got {mode!r}")


def parse_override(text):
    """'key.path=value' as (path tuple, YAML value)."""
    key, sep, value = text.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise ProblemError(f"--set {text}", "", "expected key.path=value")
    try:
        parsed = _parse_yaml(value)[0] if value.strip() else None
    except _TooLarge as e:
        raise ProblemError(f"--set {text}", key, e.message) from None
    except yaml.YAMLError as e:
        raise ProblemError(f"--set {text}", key, f"cannot read the value: {e}") from None
    return tuple(key.split(".")), parsed


def read_text_file(path, what="file", limit=MAX_FILE_BYTES):
    """The text of a small regular file: ValueError for a device, a FIFO, a
    folder, a file larger than `limit`, or bytes that are not UTF-8."""
    with open_regular(path, what) as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise ValueError(f"the {what} is larger than {limit // 1024} KiB")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not a UTF-8 text file (byte {e.start}: "
                         f"{raw[e.start:e.start + 1].hex()})") from None


def load_problem(path, overrides=()):
    """The validated problem of a YAML file (one of the variants of
    _PROBLEMS: SGDTimeProblem, LayerParallelProblem, ...), with
    `key.path=value` overrides."""
    source = str(path)
    try:
        text = read_text_file(path)
    except ValueError as e:
        raise ProblemError(source, "", str(e)) from None
    try:
        data, lines = _parse_yaml(text)
    except _DuplicateKey as e:
        raise ProblemError(f"{source}:{e.line}", _dotted(e.path), "duplicate key") from None
    except _TooLarge as e:
        raise ProblemError(f"{source}:{e.line}", "", e.message) from None
    except RecursionError:
        raise ProblemError(source, "", "YAML nested too deeply") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(e, "problem", None) or str(e)
        raise ProblemError(where, "", f"YAML syntax error: {problem}") from None
    if not isinstance(data, dict):
        raise ProblemError(f"{source}:1", "", "expected a mapping of sections "
                           "(name, mode, data, network, train, mgrit, output)")
    return validate_problem(data, source, lines, overrides)


def validate_problem(data, source="problem", lines=None, overrides=()):
    """The validated problem of a mapping (a YAML document's data)."""
    lines = dict(lines or {})
    overridden = {}
    for override in overrides:
        keys, value = parse_override(override)
        overridden[keys] = override
        target = data
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise ProblemError(f"--set {override}", ".".join(keys), "is not inside a mapping")
        target[keys[-1]] = value
        for path in [p for p in lines if p[:len(keys)] == keys]:  # the file's lines below
            del lines[path]
    try:
        _reject_non_finite(data)
        _check_mode(data)
        problem = _PROBLEM.validate_python(data)
        problem._origin = (source, lines, overridden)
        return problem
    except _FieldError as e:
        raise _at(tuple(e.path), str(e), lines, source, overridden) from None
    except ValidationError as e:
        raise _located(e.errors(), lines, source, overridden) from None


def problem_error(problem, field, message):
    """A ProblemError about a dotted field of a validated problem, at the line
    (or the --set) that gave it."""
    path = tuple(int(p) if p.isdigit() else p for p in field.split("."))
    source, lines, overridden = problem._origin
    return _at(path, message, lines, source, overridden)


def data_groups(problem, nranks):
    """How many groups of ranks share the training data (each trains on its
    shard): every rank in mode averaging, parallel.data in mode
    layer-parallel, else one (every rank sees all of it)."""
    if problem.mode == "averaging":
        return nranks
    if problem.mode == "layer-parallel":
        return problem.parallel.data
    return 1


def models_averaged(problem):
    """Whether the data groups average their models (mode averaging, or
    layer-parallel with averaging.every > 1), not their gradients."""
    return problem.mode == "averaging" or (problem.mode == "layer-parallel" and
                                           problem.parallel.data > 1 and
                                           problem.averaging.every > 1)


def with_mode(problem, mode):
    """The problem in another mode (e.g. serial, the reference of compare)."""
    data = problem.model_dump()
    data["mode"] = mode
    return validate_problem(data, f"{problem.name} (mode {mode})")


def _applicable(model, dumped):
    """The dumped section without the fields its choices do not use."""
    unused = set(model.unused()) | set(model.left_out())
    out = {}
    for name, value in dumped.items():
        if name in unused:
            continue
        child = getattr(model, name, None)
        out[name] = _applicable(child, value) if isinstance(child, _Section) else value
    return out


def resolved(problem):
    """The resolved problem as plain data: every default written out, only
    the fields that apply."""
    return _applicable(problem, problem.model_dump())


def dump_problem(problem):
    """The resolved problem as YAML."""
    return yaml.safe_dump(resolved(problem), sort_keys=False)


def problem_json(problem):
    """The resolved problem as canonical JSON (checkpoints compare it; the
    keys of per-level mappings become strings)."""
    return json.dumps(resolved(problem), sort_keys=True)


def unused_given(problem):
    """Dotted names of the fields and sections given that this problem does
    not use (those of a sibling mode)."""
    found = []

    def walk(model, prefix):
        unused = set(model.unused())
        for name in model.model_fields_set:
            field = type(model).model_fields.get(name)
            value = getattr(model, name)
            if name in unused or (field is not None and field.exclude and value is not None):
                found.append(prefix + name)
            elif isinstance(value, _Section):
                walk(value, prefix + name + ".")

    walk(problem, "")
    return sorted(found)


def changed_fields(old, new, prefix=""):
    """Dotted names where two resolved problems (plain data) differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        names = []
        for key in list(old) + [k for k in new if k not in old]:
            names += changed_fields(old.get(key), new.get(key), f"{prefix}{key}.")
        return names
    return [] if old == new else [prefix.rstrip(".")]


def schema_fields():
    """Every field of every variant of the problem, as dotted names
    (sections' fields below their section), for tests and documentation."""
    names = set()

    def walk(cls, prefix):
        for name, field in cls.model_fields.items():
            if name == "data" and prefix == "":
                sections = _DATA_CLASSES
            else:
                section = _section_class(field.annotation)
                sections = [section] if section else []
            if sections:
                for s in sections:
                    walk(s, prefix + name + ".")
            else:
                names.add(prefix + name)

    for cls, _ in _PROBLEMS.values():
        walk(cls, "")
    return sorted(names)
