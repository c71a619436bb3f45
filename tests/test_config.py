"""The problem schema: YAML quirks, error locations, overrides, round trip."""
import pytest

from pyxbraid.cli.config import ProblemError, dump_problem, load_problem

BASE = """\
name: t
data:
  kind: xor
network:
  sizes: [3, 4, 1]
train:
  steps: 64
  learning_rate: 0.5
"""


def write(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_scientific_numbers(tmp_path):
    p = load_problem(write(tmp_path, BASE + "mgrit:\n  tol: 1e-3\n  max_iter: 1e2\n"))
    assert p.mgrit.tol == 1e-3 and isinstance(p.mgrit.tol, float)
    assert p.mgrit.max_iter == 100 and isinstance(p.mgrit.max_iter, int)
    with pytest.raises(ProblemError, match=r":7: train.steps: must be an integer, got 25.0"):
        load_problem(write(tmp_path, BASE.replace("steps: 64", "steps: 2.5e1")))


def test_defaults_and_round_trip(tmp_path):
    p = load_problem(write(tmp_path, BASE))
    assert (p.mode, p.mgrit.cycle, p.mgrit.cfactor, p.output.dir) == ("sgd-time", "V", 2, "runs")
    again = load_problem(write(tmp_path, dump_problem(p)))
    assert again == p


@pytest.mark.parametrize("text, message", [
    ("name: a\nname: b\n", r"p.yaml:2: name: duplicate key"),
    ("- 1\n- 2\n", r"p.yaml:1: expected a mapping of sections"),
    (BASE + "mgrit:\n  tol: .nan\n", r"p.yaml:10: mgrit.tol: must be finite"),
    (BASE + "mgrit:\n  cfactor_per_level: {0: 4, 1: 1}\n",
     r"p.yaml:10: mgrit.cfactor_per_level.1: must be >= 2, got 1"),
    (BASE + "mgrit:\n  lr_max: 0.1\n", r"mgrit.lr_max: must be >= train.learning_rate"),
    (BASE.replace("train:", "train:\n  schedule: minibatch"), r"train.batch_size: is required"),
    (BASE.replace("name: t", "name: a/b"), r"p.yaml:1: name: must be letters"),
    (BASE + "extra: 1\n", r"p.yaml:9: extra: unknown key"),
])
def test_errors_name_line_and_field(tmp_path, text, message):
    with pytest.raises(ProblemError, match=message):
        load_problem(write(tmp_path, text))


def test_overrides(tmp_path):
    path = write(tmp_path, BASE)
    p = load_problem(path, ["mgrit.cycle=F", "train.steps=1e3", "mgrit.lr_max=8"])
    assert (p.mgrit.cycle, p.train.steps, p.mgrit.lr_max) == ("F", 1000, 8.0)
    assert p.mgrit.core_options()["fmg"] is True
    with pytest.raises(ProblemError, match=r"^--set mgrit.cycle=W: mgrit.cycle: must be one of"):
        load_problem(path, ["mgrit.cycle=W"])
    with pytest.raises(ProblemError, match=r"^--set nonsense: expected key.path=value"):
        load_problem(path, ["nonsense"])
    with pytest.raises(ProblemError, match=r"cannot read the file"):
        load_problem(tmp_path / "missing.yaml")


# ------------------------------------------- sections show what applies

PEAKS = """\
name: p
mode: layer-parallel
data: {kind: peaks}
network: {kind: resnet, width: 4, layers: 8}
train: {steps: 10, learning_rate: 0.1}
"""


def dumped(problem):
    import yaml
    return yaml.safe_load(dump_problem(problem))


def test_sections_hold_only_the_fields_of_their_kind(tmp_path):
    peaks = dumped(load_problem(write(tmp_path, PEAKS)))
    assert peaks["data"] == {"kind": "peaks", "n_train": 5000, "n_val": 200}
    assert set(peaks["network"]) == {"kind", "width", "layers", "T", "activation",
                                     "opening_activation", "gamma_t", "gamma_d", "init_scale",
                                     "gemm"}
    assert peaks["network"]["gemm"] == {"backend": "numpy"}  # the engine's fields unused
    assert "window" not in peaks["train"] and "schedule" not in peaks["train"]
    assert "lr_growth" not in peaks["mgrit"] and "skip" not in peaks["mgrit"]
    assert "nfmg" not in peaks["mgrit"]  # cycle V
    xor = dumped(load_problem(write(tmp_path, BASE)))
    assert xor["data"] == {"kind": "xor"} and "layer_parallel" not in xor
    assert set(xor["network"]) == {"kind", "sizes", "activation", "output_activation", "bias",
                                   "loss", "init", "gemm", "out_of_core"}
    assert "optimizer" not in xor["train"] and "checkpoint_every" not in xor["train"]


@pytest.mark.parametrize("text, message", [
    (PEAKS.replace("{kind: peaks}", "{kind: peaks, n_pairs: 3}"),
     r"p.yaml:3: data.n_pairs: not a field of data kind peaks; only of data kind "
     r"binary_addition"),
    (PEAKS.replace("width: 4", "width: 4, sizes: [2, 5]"),
     r"p.yaml:4: network.sizes: not a field of network kind resnet; only of network kind mlp"),
    (BASE + "layer_parallel: {mode: exact}\n",
     r"p.yaml:9: layer_parallel: not a section of mode sgd-time; it is one of mode "
     r"layer-parallel, mode averaging with a resnet, mode serial with a resnet"),
    (PEAKS + "mgrit: {lr_growth: 2}\n",
     r"p.yaml:6: mgrit.lr_growth: not a field of the mgrit of a resnet; only of the mgrit of "
     r"mode sgd-time"),
    (BASE.replace("train:", "train:\n  optimizer: adam"),
     r"train.optimizer: not a field of the train of an mlp; only of the train of a resnet"),
    (BASE.replace("kind: xor", "kind: mnist"),
     r"p.yaml:3: data.kind: must be one of xor, binary_addition, peaks, digits, idx, "
     r"got 'mnist'"),
    (BASE.replace("data:\n  kind: xor", "data: {}"), r"p.yaml:2: data.kind: is required"),
    (BASE.replace("network:", "network:\n  kind: cnn"),
     r"network.kind: must be one of mlp, resnet, got 'cnn'"),
    (BASE + "mode: layer-parallel\n", r"network.kind: mode layer-parallel trains a resnet"),
    (BASE + "seed: 4294967296\n", r"p.yaml:9: seed: must be <= 4294967295"),
    (BASE.replace("steps: 64", "steps: 1e30"), r"p.yaml:7: train.steps: must be <= 2147483647"),
])
def test_fields_of_another_kind_or_mode_are_errors(tmp_path, text, message):
    with pytest.raises(ProblemError, match=message):
        load_problem(write(tmp_path, text))


def test_sections_of_a_sibling_mode_are_checked_and_left_out(tmp_path):
    from pyxbraid.cli.config import unused_given
    serial = load_problem(write(tmp_path, BASE + "mode: serial\nmgrit: {cfactor: 4}\n"))
    assert "mgrit" not in dumped(serial) and unused_given(serial) == ["mgrit"]
    with pytest.raises(ProblemError, match=r"p.yaml:10: mgrit.cfactor: must be >= 2"):
        load_problem(write(tmp_path, BASE + "mode: serial\nmgrit: {cfactor: 1}\n"))
    exact = load_problem(write(tmp_path, PEAKS + "layer_parallel: {mode: exact, "
                                                 "forward_iters: 3}\n"))
    assert dumped(exact)["layer_parallel"] == {"mode": "exact"}
    assert unused_given(exact) == ["layer_parallel.forward_iters"]


def test_mlp_init_defaults_to_the_data_s_choice(tmp_path, monkeypatch):
    from pyxbraid.cli import config
    assert load_problem(write(tmp_path, BASE)).network.init == "uniform"
    monkeypatch.setitem(config.DEFAULT_INIT, "xor", "xavier")
    assert load_problem(write(tmp_path, BASE)).network.init == "xavier"
    given = BASE.replace("sizes: [3, 4, 1]", "sizes: [3, 4, 1]\n  init: uniform")
    assert load_problem(write(tmp_path, given)).network.init == "uniform"


def test_the_addition_problem_is_trasks_and_the_former_one_stays_selectable():
    import numpy as np
    from conftest import EXAMPLES
    from pyxbraid.data import binary_addition, trask_addition
    from pyxbraid.cli.problem import build

    path = EXAMPLES / "binary_addition.yaml"
    assert load_problem(path, ["network.init=null"]).network.init == "trask"  # the default
    trask = build(load_problem(path))
    data, w0 = trask_addition(500, 12, 1, trask.model)
    assert np.array_equal(trask.w0, w0) and np.array_equal(trask.data.x, data.x)
    former = build(load_problem(path, ["network.init=uniform"]))
    old = binary_addition(500, 12, seed=1, order="lsb", draw="generator")
    assert np.array_equal(former.data.x, old.x) and np.array_equal(former.data.y, old.y)
    assert np.array_equal(former.w0, former.model.init_params(np.random.RandomState(1)))
    xavier = build(load_problem(path, ["network.init=xavier"]))
    assert np.array_equal(xavier.data.x, old.x)


def test_every_field_round_trips_through_the_resolved_problem(tmp_path):
    text = BASE + ("mgrit: {cycle: F, cfactor_per_level: {0: 4}, nrelax_per_level: {1: 0}, "
                   "lr_max: 2.0}\n")
    p = load_problem(write(tmp_path, text))
    again = load_problem(write(tmp_path, dump_problem(p)))
    assert again == p and again.mgrit.cfactor_per_level == {0: 4}
    assert p.mgrit.per_level("cfactor") == {level: 4 if level == 0 else 2 for level in range(30)}
    assert p.mgrit.per_level("nrelax")[1] == 0 and p.mgrit.per_level("nrelax")[0] == 1


# ------------------------------------------------------- loading limits

def test_yaml_aliases_are_bounded(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 30)]
    with pytest.raises(ProblemError, match=r"p.yaml:5: YAML aliases expand to more than"):
        load_problem(write(tmp_path, "\n".join(lines) + "\n"))
    # a few aliases are fine
    text = BASE.replace("learning_rate: 0.5", "learning_rate: &rate 0.5\n  log_every: 2") + \
        "mgrit: {lr_max: *rate}\n"
    assert load_problem(write(tmp_path, text)).mgrit.lr_max == 0.5


def test_problem_files_must_be_small_regular_utf8_files(tmp_path):
    import os
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: \xe9t\xe9\n")
    with pytest.raises(ProblemError, match=r"bad.yaml: not a UTF-8 text file \(byte 6: e9\)"):
        load_problem(bad)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ProblemError, match=r"fifo: not a regular file \(a FIFO\)"):
        load_problem(fifo)
    with pytest.raises(ProblemError, match=r"not a regular file \(a character device\)"):
        load_problem("/dev/zero")
    with pytest.raises(ProblemError, match=r"not a regular file \(a folder\)"):
        load_problem(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_text(BASE + "#" * (1 << 20))
    with pytest.raises(ProblemError, match=r"larger than 1024 KiB"):
        load_problem(big)


def test_a_set_that_adds_an_unknown_section_is_blamed(tmp_path):
    with pytest.raises(ProblemError, match=r"^--set foo.bar=1: foo: unknown key"):
        load_problem(write(tmp_path, BASE), ["foo.bar=1"])
    with pytest.raises(ProblemError, match=r"^--set train.foo=1: train.foo: unknown key"):
        load_problem(write(tmp_path, BASE), ["train.foo=1"])
    # a missing field inside a section the file gives is the file's
    with pytest.raises(ProblemError, match=r"p.yaml:6: train.steps: is required"):
        load_problem(write(tmp_path, BASE.replace("  steps: 64\n", "")),
                     ["train.log_every=3"])
    # an error inside a value that a --set replaced is the --set's, not the file's line
    with pytest.raises(ProblemError, match=r"^--set network.sizes=\[2, 4, 1\]: network.sizes.0:"):
        load_problem(write(tmp_path, BASE), ["network.sizes=[2, 4, 1]"])


def test_data_defaults_are_the_data_functions_defaults(tmp_path):
    """A problem that gives no sizes gets the data a plain call gives
    (peaks(), digits(), binary_addition's bits), and the sizes the memory
    estimate counts are those of that data."""
    import inspect

    import numpy as np
    from pyxbraid.cli.problem import data_sizes, load_data
    from pyxbraid.data import binary_addition, digits, peaks

    peaks_problem = load_problem(write(tmp_path, PEAKS))
    train, val = load_data(peaks_problem)
    reference = peaks(seed=peaks_problem.seed)
    assert np.array_equal(train.x, reference[0].x) and np.array_equal(val.x, reference[1].x)
    sizes = data_sizes(peaks_problem)
    assert (sizes.n_train, sizes.n_val) == (len(train), len(val))

    pytest.importorskip("sklearn")
    digits_problem = load_problem(write(tmp_path, PEAKS.replace("{kind: peaks}",
                                                                "{kind: digits}")))
    train, val = load_data(digits_problem)
    assert [len(d) for d in digits(seed=digits_problem.seed)] == [len(train), len(val)]
    sizes = data_sizes(digits_problem)
    assert (sizes.n_train, sizes.n_val) == (len(train), len(val))

    addition = load_problem(write(tmp_path, BASE.replace("kind: xor", "kind: binary_addition")
                                  .replace("[3, 4, 1]", "[24, 16, 12]")))
    assert addition.data.bits == inspect.signature(binary_addition).parameters["bits"].default


# ------------------------------------------------ averaging, data groups

AVERAGING = BASE.replace("sizes: [3, 4, 1]", "sizes: [3, 4, 1]\n  activation: tanh") + \
    "mode: averaging\n"


def test_averaging_sections_show_what_applies(tmp_path):
    from pyxbraid.cli.config import unused_given
    mlp = load_problem(write(tmp_path, AVERAGING))
    assert dumped(mlp)["averaging"] == {"every": 16, "method": "allreduce", "lr_final": None,
                                        "scale_lr_with_ranks": False, "max_change": None}
    assert dumped(mlp)["train"]["optimizer"] == "sgd" and "ngsgd" not in dumped(mlp)["train"]
    ngsgd = load_problem(write(tmp_path, AVERAGING), ["train.optimizer=ngsgd"])
    assert dumped(ngsgd)["train"]["ngsgd"] == {"rank_in": 30, "rank_out": 60, "alpha": 4.0,
                                               "update_period": 4,
                                               "num_samples_history": 2000.0}
    sgd = load_problem(write(tmp_path, AVERAGING), ["train.ngsgd.alpha=2"])
    assert unused_given(sgd) == ["train.ngsgd"]
    # an sgd-time problem switches to averaging with one --set: its mgrit is not used
    switched = load_problem(write(tmp_path, BASE + "mgrit: {cfactor: 4}\n"), ["mode=averaging"])
    assert "mgrit" not in dumped(switched) and unused_given(switched) == ["mgrit"]
    # layer-parallel: averaging applies with data groups, its method with every > 1
    peaks = load_problem(write(tmp_path, PEAKS + "averaging: {every: 1}\n"))
    assert dumped(peaks)["parallel"] == {"data": 1} and "averaging" not in dumped(peaks)
    assert unused_given(peaks) == ["averaging"]
    groups = load_problem(write(tmp_path, PEAKS + "parallel: {data: 2}\n"))
    assert dumped(groups)["averaging"] == {"every": 1, "lr_final": None,
                                           "scale_lr_with_ranks": False, "max_change": None}
    apart = load_problem(write(tmp_path, PEAKS + "parallel: {data: 2}\n"
                                                 "averaging: {every: 4}\n"))
    assert dumped(apart)["averaging"]["method"] == "allreduce"
    serial = load_problem(write(tmp_path, PEAKS + "parallel: {data: 2}\n"), ["mode=serial"])
    assert "parallel" not in dumped(serial) and unused_given(serial) == ["parallel"]


@pytest.mark.parametrize("text, sets, message", [
    (BASE, ["train.optimizer=ngsgd"], r"train.optimizer: not a field of the train of an mlp; "
                                      r"only of the train of a resnet, the train of an mlp in "
                                      r"mode averaging"),
    (BASE, ["parallel.data=2"], r"parallel: not a section of mode sgd-time; it is one of "
                                r"mode layer-parallel"),
    (AVERAGING, ["averaging.every=0"], r"averaging.every: must be >= 1, got 0"),
    (AVERAGING, ["averaging.method=ring"], r"averaging.method: must be one of allreduce or "
                                           r"butterfly"),
    (AVERAGING, ["averaging.max_change=0"], r"averaging.max_change: must be > 0"),
    (AVERAGING, ["train.optimizer=adam"], r"train.optimizer: must be one of sgd or ngsgd"),
    (AVERAGING, ["train.ngsgd.rank_in=0"], r"train.ngsgd.rank_in: must be >= 1"),
    (PEAKS, ["mode=averaging", "train.optimizer=lbfgs"],
     r"train.optimizer: lbfgs cannot be averaged"),
    (PEAKS, ["parallel.data=2", "averaging.every=2", "train.optimizer=lbfgs"],
     r"train.optimizer: lbfgs cannot be averaged"),
    (PEAKS, ["parallel.data=0"], r"parallel.data: must be >= 1"),
    (PEAKS, ["parallel.data=2", "layer_parallel.parameters=owned"],
     r"layer_parallel.parameters: owned parameters train in one data group"),
    (PEAKS, ["layer_parallel.parameters=sharded"], r"layer_parallel.parameters: "),
    (AVERAGING, ["pretrain.kind=rbm"], r"network.activation: RBM pretraining needs sigmoid "
                                       r"hidden layers, got tanh"),
    (AVERAGING, ["pretrain.kind=rbm", "network.activation=sigmoid", "network.bias=false"],
     r"network.bias: RBM pretraining needs hidden layers with a bias"),
    (AVERAGING, ["pretrain.kind=rbm", "network.activation=sigmoid", "network.sizes=[3, 1]"],
     r"network.sizes: RBM pretraining needs a hidden layer"),
    (AVERAGING, ["pretrain.kind=dbn"], r"pretrain.kind: must be one of rbm"),
    (AVERAGING, ["pretrain.epochs=0"], r"pretrain.epochs: must be >= 1"),
])
def test_averaging_errors_name_the_field(tmp_path, text, sets, message):
    with pytest.raises(ProblemError, match=message):
        load_problem(write(tmp_path, text), sets)
    # lbfgs with data groups that average their gradient is fine
    load_problem(write(tmp_path, PEAKS), ["parallel.data=2", "train.optimizer=lbfgs"])


@pytest.mark.parametrize("line, message", [
    ("max_batch: -1", r"p.yaml:10: mgrit.max_batch: must be >= 0, got -1"),
    ("max_batch: 2.5", r"p.yaml:10: mgrit.max_batch: must be an integer, got 2.5"),
    ("batch: maybe", r"p.yaml:10: mgrit.batch: must be true or false, got 'maybe'"),
])
def test_batch_fields_refuse_bad_values_with_exit_2(tmp_path, capsys, line, message):
    from conftest import in_process

    path = write(tmp_path, BASE + "mgrit:\n  " + line + "\n")
    with pytest.raises(ProblemError, match=message):
        load_problem(path)
    assert in_process("validate", path) == 2
    assert message in capsys.readouterr().err


def test_batch_fields_reach_the_core_options(tmp_path):
    """batch on is the Core's default (left out: an error for an app without
    step_batch); off and max_batch are passed."""
    default = load_problem(write(tmp_path, BASE)).mgrit.core_options()
    assert "batch" not in default and "max_batch" not in default  # the mode's default
    options = load_problem(write(tmp_path, BASE), ["mgrit.batch=false", "mgrit.max_batch=3"]) \
        .mgrit.core_options()
    assert options["batch"] is False and options["max_batch"] == 3


def test_the_memory_estimate_counts_the_batched_steps():
    """A batched step's rows are counted, capped by max_batch; none when off."""
    from pathlib import Path

    from pyxbraid.cli.memory import needs
    from pyxbraid.cli.problem import data_sizes

    examples = Path(__file__).resolve().parents[1] / "examples"

    def batch_need(name, overrides):
        problem = load_problem(examples / name, overrides)
        found = [need for need in needs(problem, data_sizes(problem), 2)
                 if "batched" in need.what or "stacks" in need.what]
        return problem, found

    _, none = batch_need("xor.yaml", ["mgrit.batch=false"])
    assert none == []
    problem, (full,) = batch_need("xor.yaml", [])
    _, (capped,) = batch_need("xor.yaml", ["mgrit.max_batch=3"])
    assert full.field == capped.field == "mgrit.max_batch"
    assert "3 weight vectors a call" in capped.what and capped.nbytes < full.nbytes
    # layer-parallel: counted in its states (more with batching than without)
    deep = [load_problem(examples / "peaks_deep.yaml", extra) for extra in
            ([], ["mgrit.batch=false"])]
    states = [max(need.nbytes for need in needs(p, data_sizes(p), 2)
                  if "instances at" in need.what) for p in deep]
    assert states[0] > states[1]


# ------------------------------------------------ the adjoint's settings

def test_mgrit_adjoint_defaults_every_field_to_mgrit(tmp_path):
    from pyxbraid.cli.config import unused_given

    text = PEAKS + ("mgrit: {cycle: F, nfmg: 1, cfactor: 4, max_iter: 7, tol: 1e-8, "
                    "batch: false}\nmgrit_adjoint: {cycle: V, max_levels: 2, tol: 1e-4}\n")
    p = load_problem(write(tmp_path, text))
    adjoint = p.mgrit_adjoint
    assert (adjoint.cycle, adjoint.max_levels, adjoint.tol) == ("V", 2, 1e-4)  # given
    assert (adjoint.cfactor, adjoint.max_iter, adjoint.batch) == (4, 7, False)  # mgrit's
    assert (p.mgrit.max_levels, p.mgrit.tol) == (30, 1e-8)
    resolved = dumped(p)["mgrit_adjoint"]
    assert resolved["max_levels"] == 2 and resolved["cfactor"] == 4
    assert "nfmg" not in resolved and unused_given(p) == []  # mgrit's nfmg: not the adjoint's
    assert load_problem(write(tmp_path, dump_problem(p))) == p
    # what LayerParallel gets: every setting stated, so none is the forward's by mistake
    settings = adjoint.solve_settings()
    assert (settings["fmg"], settings["batch"], settings["max_batch"]) == (False, False, None)
    assert (settings["max_levels"], settings["tol"], settings["tol_relative"],
            settings["max_iter"]) == (2, 1e-4, False, 7)
    # without the section, the adjoint's settings are the forward's
    same = load_problem(write(tmp_path, PEAKS + "mgrit: {cfactor: 4, max_levels: 3}\n"))
    assert same.mgrit_adjoint == same.mgrit
    assert unused_given(load_problem(write(tmp_path, PEAKS + "mgrit_adjoint: {nfmg: 2}\n"))) \
        == ["mgrit_adjoint.nfmg"]


@pytest.mark.parametrize("text, message", [
    (PEAKS + "mgrit_adjoint:\n  max_levels: 0\n",
     r"p.yaml:7: mgrit_adjoint.max_levels: must be >= 1, got 0"),
    (PEAKS + "mgrit_adjoint: {cfactor_per_level: {1: 1}}\n",
     r"p.yaml:6: mgrit_adjoint.cfactor_per_level.1: must be >= 2, got 1"),
    (PEAKS + "mgrit_adjoint: {tol_relative: maybe}\n",
     r"p.yaml:6: mgrit_adjoint.tol_relative: must be true or false, got 'maybe'"),
    (PEAKS + "mgrit_adjoint: {skip: false}\n",
     r"p.yaml:6: mgrit_adjoint.skip: not a field of the mgrit_adjoint of a resnet; only of "
     r"the mgrit of mode sgd-time"),
    (PEAKS + "mgrit_adjoint: {adjoint_iters: 2}\n", r"p.yaml:6: mgrit_adjoint.adjoint_iters: "
     r"unknown key"),
    (BASE + "mgrit_adjoint: {max_levels: 2}\n",
     r"p.yaml:9: mgrit_adjoint: not a section of mode sgd-time; it is one of mode "
     r"layer-parallel, mode averaging with a resnet, mode serial with a resnet"),
    (BASE + "mode: averaging\nmgrit_adjoint: {max_levels: 2}\n",
     r"p.yaml:10: mgrit_adjoint: not a section of mode averaging with an mlp"),
])
def test_mgrit_adjoint_errors_exit_2_naming_the_field(tmp_path, capsys, text, message):
    from conftest import in_process

    path = write(tmp_path, text)
    with pytest.raises(ProblemError, match=message):
        load_problem(path)
    assert in_process("validate", path) == 2
    assert "mgrit_adjoint" in capsys.readouterr().err


def test_mgrit_adjoint_of_a_sibling_mode_is_checked_and_left_out(tmp_path):
    from pyxbraid.cli.config import unused_given, with_mode

    serial = load_problem(write(tmp_path, PEAKS.replace("layer-parallel", "serial") +
                                "mgrit_adjoint: {max_levels: 2}\n"))
    assert "mgrit_adjoint" not in dumped(serial) and unused_given(serial) == ["mgrit_adjoint"]
    with pytest.raises(ProblemError, match=r"p.yaml:6: mgrit_adjoint.max_levels: must be >= 1"):
        load_problem(write(tmp_path, PEAKS.replace("layer-parallel", "serial") +
                           "mgrit_adjoint: {max_levels: 0}\n"))
    # compare's serial reference of a layer-parallel problem
    lp = load_problem(write(tmp_path, PEAKS + "mgrit_adjoint: {max_levels: 2}\n"))
    assert with_mode(lp, "serial").mode == "serial"


# ------------------------------------------------ convolutional layers

DIGITS_CONV = """\
name: c
mode: layer-parallel
data: {kind: digits}
network: {kind: resnet, layer: conv, channels: 4, layers: 8}
train: {steps: 10, learning_rate: 0.1}
"""


def test_a_conv_network_resolves_without_a_width(tmp_path):
    from pyxbraid.cli.config import with_mode
    problem = load_problem(write(tmp_path, DIGITS_CONV))
    network = dumped(problem)["network"]
    assert "width" not in network
    assert (network["layer"], network["channels"], network["kernel"], network["classifier"]) \
        == ("conv", 4, 3, "flatten")
    assert load_problem(write(tmp_path, dump_problem(problem))) == problem
    assert dumped(with_mode(problem, "serial"))["network"] == network
    # a dense network resolves as before the field was added: without it
    assert "layer" not in dumped(load_problem(write(tmp_path, PEAKS)))["network"]
    given = load_problem(write(tmp_path, PEAKS.replace("width: 4", "layer: dense, width: 4")))
    assert given.network.layer == "dense" and "layer" not in dumped(given)["network"]


@pytest.mark.parametrize("text, message", [
    (PEAKS.replace("width: 4", "layer: conv, channels: 2"),
     r"p.yaml:4: network.layer: conv needs images: data kind peaks has none"),
    (DIGITS_CONV.replace("channels: 4", "channels: 4, width: 256"),
     r"p.yaml:4: network.width: not for layer: conv: its width is derived"),
    (DIGITS_CONV.replace("channels: 4, ", ""),
     r"network.channels: is required for kind: resnet with layer: conv"),
    (DIGITS_CONV.replace("channels: 4", "channels: 4, kernel: 4"),
     r"p.yaml:4: network.kernel: must be odd \(same padding\), got 4"),
    (DIGITS_CONV.replace("channels: 4", "channels: 4, classifier: max"),
     r"p.yaml:4: network.classifier: must be one of flatten or pool"),
    (PEAKS.replace("width: 4", "width: 4, channels: 2"),
     r"p.yaml:4: network.channels: only for layer: conv, not dense"),
    (PEAKS.replace("width: 4", "width: 4, kernel: 3"),
     r"p.yaml:4: network.kernel: only for layer: conv, not dense"),
    (PEAKS.replace("width: 4", "width: 4, classifier: pool"),
     r"p.yaml:4: network.classifier: only for layer: conv, not dense"),
    (PEAKS.replace("width: 4", "layer: dense"),
     r"network.width: is required for kind: resnet with layer: dense"),
    (PEAKS.replace("width: 4", "width: 4, layer: conv2d"),
     r"p.yaml:4: network.layer: must be one of dense or conv"),
    (DIGITS_CONV.replace("layer-parallel", "averaging").replace("0.1}", "0.1, optimizer: ngsgd}"),
     r"train.optimizer: ngsgd preconditions dense maps: network.layer conv has no natural "
     r"gradient"),
])
def test_conv_field_errors(tmp_path, text, message):
    with pytest.raises(ProblemError, match=message):
        load_problem(write(tmp_path, text))


def test_conv_on_idx_files_needs_images(tmp_path):
    import numpy as np

    from pyxbraid.cli.problem import DataError, data_sizes
    from pyxbraid.data.idx import write_idx

    def problem_of(images, val_images=None):
        write_idx(tmp_path / "images.idx", images)
        write_idx(tmp_path / "labels.idx", np.zeros(len(images), dtype=np.uint8))
        files = f"images: {tmp_path}/images.idx, labels: {tmp_path}/labels.idx"
        if val_images is not None:
            write_idx(tmp_path / "val.idx", val_images)
            files += f", val_images: {tmp_path}/val.idx, val_labels: {tmp_path}/labels.idx"
        return load_problem(write(tmp_path, DIGITS_CONV.replace("{kind: digits}",
                                                                "{kind: idx, " + files + "}")))

    assert data_sizes(problem_of(np.zeros((3, 5, 4), np.uint8))).image == (1, 5, 4)
    with pytest.raises(DataError, match=r"conv needs images: data.images holds an array of "
                                        r"shape \(3, 20\)") as found:
        data_sizes(problem_of(np.zeros((3, 20), np.uint8)))
    assert found.value.field == "network.layer"
    with pytest.raises(DataError, match=r"images of \(4, 5\) pixels, the training images "
                                        r"are \(5, 4\)") as found:
        data_sizes(problem_of(np.zeros((3, 5, 4), np.uint8), np.zeros((3, 4, 5), np.uint8)))
    assert found.value.field == "data.val_images"


def test_the_memory_estimate_sizes_conv_networks(tmp_path):
    from pyxbraid.cli.memory import conv_resnet_params, needs
    from pyxbraid.cli.problem import data_sizes
    from pyxbraid.nn import conv_resnet

    for classifier in ("flatten", "pool"):
        problem = load_problem(write(tmp_path, DIGITS_CONV), [
            f"network.classifier={classifier}", "network.kernel=5", "train.optimizer=adam"])
        n_params = conv_resnet((1, 8, 8), 4, 8, 10, kernel=5, classifier=classifier).n_params
        assert conv_resnet_params((1, 8, 8), 4, 5, 8, 10, classifier) == n_params
        found = {need.what: need for need in needs(problem, data_sizes(problem), 2)}
        weights = found["the parameters and optimizer state"]
        assert weights.nbytes == 4 * n_params * 8 and weights.field == "network.channels"
        states = next(need for what, need in found.items() if "instances at" in what)
        # 8*8*4 values a state; im2col: 25 of them a batched call's row
        dense = load_problem(write(tmp_path, PEAKS.replace("{kind: peaks}", "{kind: digits}")
                                   .replace("width: 4", "width: 256")))
        plain = next(need for need in needs(dense, data_sizes(dense), 2)
                     if "instances at" in need.what)
        assert states.nbytes > plain.nbytes
    huge = load_problem(write(tmp_path, DIGITS_CONV), ["network.channels=4000"])
    need = max(needs(huge, data_sizes(huge), 2), key=lambda n: n.nbytes)
    assert need.field == "network.channels"


def test_every_example_problem_is_valid():
    from conftest import EXAMPLES
    names = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    assert {"digits_conv.yaml", "mnist_conv.yaml"} <= set(names)
    for name in names:
        load_problem(EXAMPLES / name)
