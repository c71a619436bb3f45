"""The YAML problem file of mgrit-train: its schema, loading, and errors that
name the file, the line and the field (`examples/xor.yaml:7: mgrit.cfactor:
must be >= 2`)."""
import math
import re
from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ProblemError(Exception):
    """A problem file, or an override, that cannot be used."""

    def __init__(self, where, field, message):
        self.where, self.field, self.message = where, field, message
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")


# ----------------------------------------------------------------- schema

class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


CLASSIFICATION = ("peaks", "digits", "idx")


class DataConfig(_Section):
    kind: Literal["xor", "binary_addition", "peaks", "digits", "idx"]
    n_pairs: int = Field(500, ge=1, description="binary_addition: number of sums")
    bits: int = Field(12, ge=2, le=62, description="binary_addition: bits per number")
    n_train: int = Field(5000, ge=1, description="peaks: training points")
    n_val: Optional[int] = Field(None, ge=1, description="peaks (200), digits (297): "
                                 "validation points")
    images: Optional[str] = Field(None, description="idx: training images (IDX file)")
    labels: Optional[str] = Field(None, description="idx: training labels")
    val_images: Optional[str] = Field(None, description="idx: validation images")
    val_labels: Optional[str] = Field(None, description="idx: validation labels")

    @model_validator(mode="after")
    def _files(self):
        if self.kind == "idx":
            for name in ("images", "labels"):
                if getattr(self, name) is None:
                    raise _FieldError((name,), "is required with kind: idx (MNIST-style IDX "
                                      "files, e.g. train-images-idx3-ubyte.gz)")
            if (self.val_images is None) != (self.val_labels is None):
                raise _FieldError(("val_labels" if self.val_labels is None else "val_images",),
                                  "give val_images and val_labels together")
        return self

    def shape(self):
        """(features, outputs) of the data, or None when only the files know."""
        return {"xor": (3, 1), "binary_addition": (2 * self.bits, self.bits),
                "peaks": (2, 5), "digits": (64, 10)}.get(self.kind)


ACTIVATION = Literal["identity", "sigmoid", "tanh", "relu", "smooth_relu"]


class NetworkConfig(_Section):
    kind: Literal["mlp", "resnet"] = "mlp"
    # mlp
    sizes: Optional[list[int]] = Field(None, min_length=2, description="mlp: layer widths, "
                                       "input to output")
    activation: ACTIVATION = "sigmoid"
    output_activation: Optional[ACTIVATION] = None
    bias: bool = True
    loss: Literal["sse", "mse", "softmax_cross_entropy"] = "sse"
    init: Literal["uniform", "xavier"] = "uniform"
    # resnet
    width: Optional[int] = Field(None, ge=1, description="resnet: width of every layer")
    layers: Optional[int] = Field(None, ge=1, description="resnet: residual layers N")
    T: float = Field(1.0, gt=0, description="resnet: final time, h = T/N")
    opening_activation: Optional[ACTIVATION] = None
    gamma_t: float = Field(0.0, ge=0, description="resnet: Tikhonov regularization")
    gamma_d: float = Field(0.0, ge=0, description="resnet: smoothness across layers")
    init_scale: float = Field(1.0, ge=0, description="resnet: scale of the layer weights")

    @model_validator(mode="after")
    def _kind_fields(self):
        if self.kind == "mlp":
            if self.sizes is None:
                raise _FieldError(("sizes",), "is required for kind: mlp")
            for i, n in enumerate(self.sizes):
                if n < 1:
                    raise _FieldError(("sizes", i), f"must be >= 1, got {n}")
        else:
            for name in ("width", "layers"):
                if getattr(self, name) is None:
                    raise _FieldError((name,), "is required for kind: resnet")
            if self.sizes is not None:
                raise _FieldError(("sizes",), "is for kind: mlp (a resnet has width and layers)")
        return self


class TrainConfig(_Section):
    steps: int = Field(ge=1, description="sgd-time: SGD steps (the time steps of MGRIT); "
                       "resnet: optimizer steps")
    learning_rate: float = Field(gt=0)
    schedule: Literal["batch", "serialized", "minibatch"] = "batch"
    batch_size: Optional[int] = Field(None, ge=1, description="minibatch size (resnet: "
                                      "default the whole training set)")
    optimizer: Literal["sgd", "adam", "lbfgs"] = "sgd"
    momentum: float = Field(0.0, ge=0, lt=1)
    window: Optional[int] = Field(None, ge=1, description="sgd-time: steps per MGRIT solve; "
                                  "checkpoints between solves (default, or more than "
                                  "steps: all steps)")
    checkpoint_every: Optional[int] = Field(None, ge=1, description="resnet: optimizer "
                                            "steps between checkpoints (default steps/10)")
    log_every: Optional[int] = Field(None, ge=1, description="loss and accuracy every "
                                     "log_every steps (default: steps/100)")


class LayerParallelConfig(_Section):
    mode: Literal["exact", "one-shot"] = "one-shot"
    forward_iters: int = Field(2, ge=1, description="one-shot: forward MGRIT iterations "
                               "per optimizer step")
    adjoint_iters: int = Field(1, ge=1, description="one-shot: adjoint MGRIT iterations")
    patience: int = Field(5, ge=1, description="steps with a forward convergence factor > 1 "
                          "before falling back to exact mode")


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
    tol_relative: bool = False
    max_iter: int = Field(50, ge=1)
    skip: bool = True
    nfmg: int = Field(-1, ge=-1)
    nfmg_vcyc: int = Field(1, ge=1)
    temporal_norm: int = Field(2, ge=1, le=3)
    storage: int = Field(-1, ge=-1)
    seq_soln: bool = False
    relax_only_cg: bool = False
    final_fc_relax: bool = False
    residual_computation: bool = True
    print_level: int = Field(0, ge=0, le=3)
    lr_growth: float = Field(2.0, gt=0, description="coarse learning rate: "
                             "min(lr_growth**level * learning_rate, lr_max)")
    lr_max: Optional[float] = Field(None, gt=0)
    coarse_data: Literal["fine", "level"] = "fine"
    initial_guess: Literal["zeros", "w0"] = "zeros"

    @model_validator(mode="after")
    def _per_level(self):
        for name, low in (("cfactor_per_level", 2), ("nrelax_per_level", 0)):
            for level, value in getattr(self, name).items():
                if level < 0:
                    raise _FieldError((name, level), f"levels start at 0, got {level}")
                if value < low:
                    raise _FieldError((name, level), f"must be >= {low}, got {value}")
        return self

    def core_options(self):
        """Keyword arguments for pyxbraid.Core."""
        options = dict(max_levels=self.max_levels, min_coarse=self.min_coarse,
                       cfactor=dict(self.cfactor_per_level, **{-1: self.cfactor})
                       if self.cfactor_per_level else self.cfactor,
                       nrelax=dict(self.nrelax_per_level, **{-1: self.nrelax})
                       if self.nrelax_per_level else self.nrelax,
                       cwt=self.cwt, max_iter=self.max_iter, skip=self.skip,
                       temporal_norm=self.temporal_norm, storage=self.storage,
                       seq_soln=self.seq_soln, relax_only_cg=self.relax_only_cg,
                       final_fc_relax=self.final_fc_relax,
                       residual_computation=self.residual_computation,
                       print_level=self.print_level)
        options["rel_tol" if self.tol_relative else "abs_tol"] = self.tol
        if self.cycle == "F":
            options.update(fmg=True, nfmg=self.nfmg, nfmg_vcyc=self.nfmg_vcyc)
        return options


class OutputConfig(_Section):
    dir: str = "runs"
    plots: bool = True
    progress_every: Optional[int] = Field(None, ge=1, description="without a terminal: "
                                          "a progress line every this many steps")


class Problem(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    mode: Literal["sgd-time", "layer-parallel", "serial"] = "sgd-time"
    seed: int = Field(0, ge=0)
    data: DataConfig
    network: NetworkConfig
    train: TrainConfig
    mgrit: MGRITConfig = Field(default_factory=MGRITConfig)
    layer_parallel: LayerParallelConfig = Field(default_factory=LayerParallelConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _consistent(self):
        net, data, train = self.network, self.data, self.train
        if self.mode == "sgd-time" and net.kind != "mlp":
            raise _FieldError(("network", "kind"), "mode sgd-time trains an mlp "
                              "(a resnet trains with mode layer-parallel)")
        if self.mode == "layer-parallel" and net.kind != "resnet":
            raise _FieldError(("network", "kind"), "mode layer-parallel trains a resnet")
        if net.kind == "resnet" and data.kind not in CLASSIFICATION:
            raise _FieldError(("data", "kind"), f"a resnet classifies: data must be one of "
                              f"{', '.join(CLASSIFICATION)}")
        if net.kind == "mlp":
            if train.optimizer != "sgd":
                raise _FieldError(("train", "optimizer"), "an mlp trains with sgd (the steps "
                                  "MGRIT solves)")
            if train.schedule == "minibatch" and train.batch_size is None:
                raise _FieldError(("train", "batch_size"), "is required with schedule: minibatch")
            if train.schedule != "minibatch" and train.batch_size is not None:
                raise _FieldError(("train", "batch_size"), f"only for schedule: minibatch, "
                                  f"not {train.schedule}")
            self._mlp_fits_data()
        if self.mgrit.lr_max is not None and self.mgrit.lr_max < self.train.learning_rate:
            raise _FieldError(("mgrit", "lr_max"), f"must be >= train.learning_rate "
                              f"({self.train.learning_rate}), got {self.mgrit.lr_max}")
        return self

    def _mlp_fits_data(self):
        shape = self.data.shape()
        if shape is None:
            return  # IDX files: checked when they are read
        features, outputs = shape
        sizes = self.network.sizes
        if sizes[0] != features:
            raise _FieldError(("network", "sizes", 0), f"the {self.data.kind} data has "
                              f"{features} features, the network takes {sizes[0]} inputs")
        if sizes[-1] != outputs:
            raise _FieldError(("network", "sizes", len(sizes) - 1), f"the {self.data.kind} data "
                              f"has {outputs} targets, the network gives {sizes[-1]} outputs")


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


def _dotted(path):
    return ".".join(str(p) for p in path)


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "literal_error": "must be one of {expected}",
    "extra_forbidden": "unknown key",
    "missing": "is required",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
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
    if "expected" in context:
        context["expected"] = context["expected"].replace("'", "")
    text = template.format(**context)
    if error["type"].endswith("_type") or error["type"] in ("greater_than_equal",
                                                            "less_than_equal", "greater_than"):
        given = error.get("input")
        if not isinstance(given, (dict, list)):
            text += f", got {given!r}"
    return text


def _located(errors, lines, source, overridden):
    """The first validation error as a ProblemError at its line (or at the
    --set override that gave the value)."""
    error = errors[0]
    if isinstance(error.get("ctx", {}).get("error"), _FieldError):
        field_error = error["ctx"]["error"]
        path = tuple(error["loc"]) + tuple(field_error.path)
        message = str(field_error)
    else:
        path = tuple(p for p in error["loc"] if not isinstance(p, str) or
                     not p.startswith(("function-", "json-or-python", "lax-or-strict")))
        message = _message(error)
    for end in range(len(path), 0, -1):  # the innermost key given somewhere
        if path[:end] in overridden:
            return ProblemError(f"--set {overridden[path[:end]]}", _dotted(path), message)
        if path[:end] in lines:
            return ProblemError(f"{source}:{lines[path[:end]]}", _dotted(path), message)
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


def parse_override(text):
    """'key.path=value' as (path tuple, YAML value)."""
    key, sep, value = text.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise ProblemError(f"--set {text}", "", "expected key.path=value")
    try:
        parsed = yaml.load(value, Loader=_Loader) if value.strip() else None
    except yaml.YAMLError as e:
        raise ProblemError(f"--set {text}", key, f"cannot read the value: {e}") from None
    return tuple(key.split(".")), parsed


def load_problem(path, overrides=()):
    """The validated Problem of a YAML file, with `key.path=value` overrides."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ProblemError(source, "", f"cannot read the file: {e.strerror}") from None
    try:
        node = yaml.compose(text, Loader=_Loader)
        lines = _lines(node) if node is not None else {}
        data = yaml.load(text, Loader=_Loader) if node is not None else None
    except _DuplicateKey as e:
        raise ProblemError(f"{source}:{e.line}", _dotted(e.path), "duplicate key") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(e, "problem", None) or str(e)
        raise ProblemError(where, "", f"YAML syntax error: {problem}") from None
    if not isinstance(data, dict):
        raise ProblemError(f"{source}:1", "", "expected a mapping of sections "
                           "(name, mode, data, network, train, mgrit, output)")
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
        lines.pop(keys, None)
    try:
        _reject_non_finite(data)
        return Problem.model_validate(data)
    except _FieldError as e:
        raise _located([{"loc": e.path, "type": "value_error", "msg": str(e),
                         "ctx": {}}], lines, source, overridden) from None
    except ValidationError as e:
        raise _located(e.errors(), lines, source, overridden) from None


def dump_problem(problem):
    """The resolved problem as YAML (every default written out)."""
    return yaml.safe_dump(problem.model_dump(mode="json"), sort_keys=False)
