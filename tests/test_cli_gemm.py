"""mgrit-train with network.gemm and network.out_of_core: every mode's
products on the tiled engine, weights kept in files and resumed from them,
and the errors of impossible settings.  (The schema's fields are each run in
test_cli_fields.py.)"""
import json

import numpy as np
import pytest

from conftest import ROOT, in_process
from test_cli import mgrit_train
from test_cli_fields import Run, same_on_the_tiled_engine
from test_cli_resume import completed, interrupted
from pyxbraid.cli.rundir import load_weights

XOR = ROOT / "examples" / "xor.yaml"
WIDE = ROOT / "examples" / "wide_mlp.yaml"
TILED = ["network.gemm.backend=tiled", "network.gemm.workers=2", "network.gemm.tile=2"]


@pytest.mark.parametrize("base, sets", [
    ("xor", ["train.steps=32", "train.window=16"]),                  # sgd-time
    ("xor-avg", []),                                                  # averaging, an mlp
    ("peaks-serial", ["mode=averaging", "averaging.every=2"]),        # averaging, a resnet
])
def test_modes_run_their_products_on_the_tiled_engine(base, sets, tmp_path, capsys):
    """(layer-parallel and serial: test_cli_fields.py's gemm cases)"""
    run = Run(base, sets + TILED, tmp_path / "run", capsys)
    assert run.status == 0, run.err
    same_on_the_tiled_engine(run, base, sets + TILED, tmp_path, capsys)


def test_layer_parallel_on_two_ranks_each_with_its_engine(tmp_path):
    from test_cli_fields import on_ranks

    tiled, summary = on_ranks(2, "peaks-lp", TILED, tmp_path / "tiled")
    plain, _ = on_ranks(2, "peaks-lp", [], tmp_path / "numpy")
    np.testing.assert_allclose(tiled, plain, rtol=1e-9, atol=1e-12)
    assert summary["gemm"]["workers"] == 2 and min(summary["gemm"]["tiles"]) > 0


OUT_OF_CORE = ["--set", "mode=serial", "--set", "network.out_of_core=true",
               "--set", "network.sizes=[3, 24, 24, 1]",
               "--set", "network.gemm.backend=tiled", "--set", "network.gemm.workers=2",
               "--set", "network.gemm.tile=8", "--set", "network.gemm.memory=8KiB",
               "--set", "train.steps=256", "--set", "train.window=64",
               "--set", "output.plots=false", "--quiet"]


def test_out_of_core_run_resumes_from_its_checkpointed_files(tmp_path):
    """Killed at step 150, resumed from the checkpoint of step 128 (its
    weights in their own .npy): the weights of the uninterrupted run."""
    reference = completed(XOR, OUT_OF_CORE, tmp_path / "reference", ranks=None)
    out = interrupted(XOR, OUT_OF_CORE, tmp_path / "run", step=150, ranks=1)
    assert sorted(p.name for p in out.glob("checkpoint-weights-*.npy")) == \
        ["checkpoint-weights-128.npy"]
    kept = np.load(out / "checkpoint-weights-128.npy")
    result = mgrit_train("run", "--resume", out, ranks=1)
    assert result.returncode == 0, result.stderr
    assert "resumed at step 128" in result.stdout
    weights = load_weights(out / "weights.npz")[0]
    np.testing.assert_allclose(weights, load_weights(reference / "weights.npz")[0],
                               rtol=1e-12, atol=1e-15)
    assert not np.allclose(kept, weights)
    assert np.array_equal(np.load(out / "out-of-core" / "weights.npy"), weights)
    assert [p.name for p in out.glob("checkpoint-weights-*.npy")] == \
        ["checkpoint-weights-256.npy"]  # the files of earlier checkpoints are gone


def test_a_missing_checkpointed_weights_file_is_named(tmp_path, capsys):
    out = interrupted(XOR, OUT_OF_CORE, tmp_path / "run", step=100, ranks=1)
    (out / "checkpoint-weights-64.npy").unlink()
    status = in_process("run", "--resume", out)
    assert status == 2
    err = capsys.readouterr().err
    assert "checkpoint.npz" in err and "checkpoint-weights-64.npy" in err


@pytest.mark.parametrize("sets, message", [
    (["mode=sgd-time"], "network.out_of_core: weights in files train in mode serial"),
    (["network.gemm.backend=numpy"], "need network.gemm.backend tiled and a network.gemm.memory"),
    (["network.gemm.memory=null"], "need network.gemm.backend tiled and a network.gemm.memory"),
])
def test_out_of_core_needs_serial_and_a_budget(sets, message, tmp_path, capsys):
    args = ["run", XOR, "--set", "mode=serial", "--set", "network.out_of_core=true",
            "--set", "network.gemm.backend=tiled", "--set", "network.gemm.memory=1MiB"]
    for s in sets:
        args += ["--set", s]
    assert in_process(*args, "--out", tmp_path / "run") == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_out_of_core_on_two_ranks_is_refused_on_every_rank(tmp_path):
    result = mgrit_train("run", XOR, *OUT_OF_CORE, "--out", tmp_path / "run", ranks=2,
                         timeout=60)
    assert result.returncode == 2, result.stderr
    assert "network.out_of_core: weights in files train on one rank (mode serial), not on 2" \
        in result.stderr


@pytest.mark.parametrize("value, message", [
    ("abc", "could not parse value and unit"), ("0", "must be > 0, got 0"),
    ("-1KiB", "could not parse"),
])
def test_bad_memory_values_name_the_field(value, message, tmp_path, capsys):
    status = in_process("run", XOR, "--set", "network.gemm.backend=tiled", "--set",
                        f"network.gemm.memory={value}", "--out", tmp_path / "run")
    assert status == 2
    err = capsys.readouterr().err
    assert "network.gemm.memory" in err and message in err


def test_a_budget_too_small_for_a_product_names_the_field(tmp_path, capsys):
    status = in_process("run", XOR, "--set", "network.gemm.backend=tiled", "--set",
                        "network.gemm.tile=4", "--set", "network.gemm.memory=100",
                        "--set", "train.steps=16", "--out", tmp_path / "run")
    assert status == 2
    err = capsys.readouterr().err
    assert "network.gemm.memory: 100 bytes is too small for a 4x3 by 3x4 float64 product" in err
    assert "Traceback" not in err


def test_memory_strings_and_the_resolved_problem(tmp_path, capsys):
    from pyxbraid.cli.config import load_problem
    problem = load_problem(XOR, ["network.gemm.backend=tiled", "network.gemm.memory=1.5MiB"])
    assert problem.network.gemm.memory == 1572864
    assert problem.network.gemm.engine_options() == dict(workers=1, tile=None, memory=1572864)
    numpy_problem = load_problem(XOR, ["network.gemm.workers=3"])
    assert numpy_problem.network.gemm.engine_options() == {}
    assert "workers" in numpy_problem.network.gemm.unused()


def test_memory_estimate_counts_the_budget_not_the_weights_in_files():
    from pyxbraid.cli.config import load_problem
    from pyxbraid.cli.memory import needs
    from pyxbraid.cli.problem import data_sizes

    problem = load_problem(WIDE)
    found = {need.what: need for need in needs(problem, data_sizes(problem), 1)}
    assert "the weights and gradient" not in found
    assert found["the GEMM engine's tile caches and buffers"].nbytes == 8 * 2**20
    in_memory = load_problem(WIDE, ["network.out_of_core=false"])
    found = {need.what: need for need in needs(in_memory, data_sizes(in_memory), 1)}
    assert found["the weights and gradient"].nbytes > 4 * 2048 * 2048 * 8


def test_wide_mlp_example_trains_weights_larger_than_its_budget(tmp_path, capsys):
    from pyxbraid.cli.config import load_problem
    from pyxbraid.cli.memory import mlp_params

    problem = load_problem(WIDE)
    weight_bytes = mlp_params(problem.network.sizes, problem.network.bias) * 8
    assert weight_bytes > 4 * problem.network.gemm.memory
    status = in_process("run", WIDE, "--set", "train.steps=4", "--set", "train.window=2",
                        "--set", "train.log_every=2", "--set", "output.plots=false",
                        "--out", tmp_path / "run")
    assert status == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert 0 < summary["gemm"]["peak_bytes"] <= problem.network.gemm.memory
    assert (tmp_path / "run" / "out-of-core" / "weights.npy").stat().st_size > weight_bytes
