"""mgrit-train end to end, through subprocesses and mpirun: run, validate,
compare, info, plot; bad problem files; failures; kill and resume; NaN."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import pyxbraid
from conftest import ROOT, mpirun_executable
from pyxbraid.cli.rundir import load_weights

MGRIT_TRAIN = str(Path(sys.executable).parent / "mgrit-train")
XOR = ROOT / "examples" / "xor.yaml"
ADDITION = ROOT / "examples" / "binary_addition.yaml"
DIVERGING = ROOT / "tests" / "data" / "problems" / "diverging.yaml"
SMALL = ["--set", "train.steps=512", "--set", "train.window=128"]


def mgrit_train(*args, ranks=None, timeout=120, env=None, cwd=None, mpmd=None):
    """Run mgrit-train (under mpirun with `ranks`); a job still running after
    `timeout` seconds (a hang) is killed, every process of it, and raises
    subprocess.TimeoutExpired.  mpmd: [(working directory, args), ...], one
    rank each (mpirun's `-n 1 -wdir A ... : -n 1 -wdir B ...`)."""
    cmd = [MGRIT_TRAIN] + [str(a) for a in args]
    if ranks:
        cmd = [mpirun_executable(), "-n", str(ranks)] + cmd
    if mpmd:
        cmd = [mpirun_executable()]
        for i, (wdir, rank_args) in enumerate(mpmd):
            cmd += ([":"] if i else []) + ["-n", "1", "-wdir", str(wdir), MGRIT_TRAIN] + \
                [str(a) for a in rank_args]
    full_env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", **(env or {}))
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=full_env, cwd=cwd, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(cmd, process.returncode, stdout, stderr)


def kill_after_first_checkpoint(args, out, sig):
    """Start `mgrit-train args --out out` on 2 ranks, kill the whole job with
    `sig` soon after its first checkpoint; returns the checkpoint's step."""
    cmd = [mpirun_executable(), "-n", "2", MGRIT_TRAIN] + [str(a) for a in args] + ["--out",
                                                                                   str(out)]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while not (out / "checkpoint.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    os.killpg(process.pid, sig)
    process.wait(timeout=30)
    with np.load(out / "checkpoint.npz", allow_pickle=False) as f:
        return int(f["step"])


def serial_weights(problem_file, *overrides, tmp_path):
    out = tmp_path / "serial"
    result = mgrit_train("run", problem_file, "--set", "mode=serial", *overrides, "--out", out,
                         "--quiet")
    assert result.returncode == 0, result.stderr
    return load_weights(out / "weights.npz")[0]


# ----------------------------------------------------------------- run

def test_run_writes_a_complete_run_folder(tmp_path):
    out = tmp_path / "xor"
    result = mgrit_train("run", XOR, *SMALL, "--out", out, ranks=2)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("mgrit-train: xor") == 1  # rank 0 alone prints
    assert "run folder:" in result.stdout and "MGRIT:" in result.stdout
    names = {p.name for p in out.iterdir()}
    assert names >= {"problem.yaml", "metrics.jsonl", "summary.json", "weights.npz",
                     "checkpoint.npz", "residual.png", "loss.png", "accuracy.png"}
    # everything loads back
    weights, metadata = load_weights(out / "weights.npz")
    assert weights.shape == (16,) and metadata["steps"] == 512 and metadata["name"] == "xor"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["windows"] == 4 and summary["ranks"] == 2
    assert len(summary["mgrit_iterations"]) == 4 and summary["final_residual"] < 1e-9
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    iterations = [r for r in records if r["type"] == "iteration"]
    steps = [r["step"] for r in records if r["type"] == "step"]
    assert iterations and all(r["residual"] > 0 for r in iterations)
    assert steps == sorted(set(steps)) and steps[0] == 0 and steps[-1] == 510
    assert (out / "residual.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the resolved problem holds the overrides and every default
    resolved = (out / "problem.yaml").read_text()
    assert "steps: 512" in resolved and "temporal_norm: 2" in resolved
    # and MGRIT trained what serial training trains
    np.testing.assert_allclose(weights, serial_weights(XOR, *SMALL, tmp_path=tmp_path),
                               rtol=0, atol=1e-8)


def test_run_folders_are_never_overwritten(tmp_path):
    args = ("run", XOR, "--set", "train.steps=64", "--set", "train.window=64",
            "--set", "output.plots=false", "--set", f"output.dir={tmp_path}", "--quiet")
    for _ in range(2):
        assert mgrit_train(*args).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xor", "xor-2"]
    assert mgrit_train(*args, "--force").returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xor", "xor-2"]


def test_serial_mode_and_binary_addition(tmp_path):
    out = tmp_path / "add"
    result = mgrit_train("run", ADDITION, "--set", "train.steps=64", "--set", "data.n_pairs=16",
                         "--set", "output.plots=false", "--out", out, "--quiet", ranks=2)
    assert result.returncode == 0, result.stderr
    weights = load_weights(out / "weights.npz")[0]
    serial = serial_weights(ADDITION, "--set", "train.steps=64", "--set", "data.n_pairs=16",
                            tmp_path=tmp_path)
    assert np.max(np.abs(weights - serial)) <= 1e-8 * (1 + np.max(np.abs(serial)))


# ------------------------------------------------------ validate, errors

def test_validate_prints_the_resolved_problem():
    result = mgrit_train("validate", XOR, "--set", "mgrit.cfactor=4")
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and "cfactor: 4" in result.stdout
    assert "nrelax: 1" in result.stdout  # defaults are filled in


@pytest.mark.parametrize("edit, expected", [
    (("  sizes: [3, 4, 1]", "  sizes: [3, 4, 1"), ":13: YAML syntax error"),
    (("  cfactor: 2", "  cfactors: 2"), ":26: mgrit.cfactors: unknown key"),
    (("  steps: 4096", "  steps: lots"), ":18: train.steps: must be an integer"),
    (("  cfactor: 2", "  cfactor: 1"), ":26: mgrit.cfactor: must be >= 2"),
    (("  kind: xor", "  kind: mnist"), ":9: data.kind: must be one of"),
    (("  sizes: [3, 4, 1]", "  sizes: [2, 4, 1]"), ":12: network.sizes.0: the xor data has 3"),
])
def test_bad_problem_files_exit_2_naming_line_and_field(tmp_path, edit, expected):
    text = XOR.read_text()
    assert edit[0] in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(edit[0], edit[1]))
    for command in ("validate", "run"):
        result = mgrit_train(command, bad, "--out", tmp_path / "run", ranks=2) \
            if command == "run" else mgrit_train(command, bad)
        assert result.returncode == 2, result.stderr
        assert f"{bad}{expected}" in result.stderr
        assert result.stderr.count("mgrit-train: error:") == 1  # printed once, by rank 0
    assert not (tmp_path / "run").exists()  # nothing written


def test_bad_overrides_and_usage_exit_2(tmp_path):
    result = mgrit_train("validate", XOR, "--set", "mgrit.max_levels=0")
    assert result.returncode == 2
    assert "--set mgrit.max_levels=0: mgrit.max_levels: must be >= 1" in result.stderr
    assert mgrit_train("run").returncode == 2  # no problem, no --resume
    assert mgrit_train("validate", tmp_path / "missing.yaml").returncode == 2
    assert mgrit_train("trian").returncode == 2


# --------------------------------------------------------------- compare

def test_compare_passes_and_fails(tmp_path):
    good = mgrit_train("compare", XOR, "--set", "train.steps=256", ranks=2)
    assert good.returncode == 0, good.stderr
    assert "PASS" in good.stdout and "max |w_mgrit - w_serial|" in good.stdout
    # two iterations cannot reach serial training's weights
    bad = mgrit_train("compare", XOR, "--set", "train.steps=256", "--set", "mgrit.max_iter=2")
    assert bad.returncode == 1 and "FAIL" in bad.stdout


# ----------------------------------------------------------- info, plot

def test_version_info_and_help():
    assert mgrit_train("--version").stdout.strip() == f"mgrit-train, version {pyxbraid.__version__}"
    for command in ("run", "validate", "compare", "info", "plot"):
        result = mgrit_train(command, "--help")
        assert result.returncode == 0 and "Usage:" in result.stdout
    info = mgrit_train("info", ranks=2)
    assert info.returncode == 0, info.stderr
    lines = dict(line.split(None, 1) for line in info.stdout.splitlines() if line.strip())
    assert lines["ranks"] == "2"
    assert lines["braid"].startswith(f"library {pyxbraid.BRAID_LIBRARY} (")
    assert info.stdout.count("pyxbraid") == 1


def test_plot_redraws_a_run(tmp_path):
    out = tmp_path / "xor"
    assert mgrit_train("run", XOR, *SMALL, "--set", "output.plots=false", "--out", out,
                       "--quiet").returncode == 0
    assert not (out / "loss.png").exists()
    result = mgrit_train("plot", out)
    assert result.returncode == 0, result.stderr
    assert (out / "loss.png").exists() and (out / "residual.png").exists()
    assert mgrit_train("plot", tmp_path).returncode == 2  # not a run folder


# -------------------------------------------------------------- failures

def test_failure_on_rank_1_ends_the_job(tmp_path):
    start = time.monotonic()
    result = mgrit_train("run", XOR, *SMALL, "--out", tmp_path / "run", ranks=2, timeout=60,
                         env={"MGRIT_TRAIN_FAIL": "rank=1,step=350"})
    assert time.monotonic() - start < 30
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "injected failure at step 350" in result.stderr


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    out = tmp_path / "run"
    # no bound on the loss: only NaN and Inf stop the run here
    result = mgrit_train("run", DIVERGING, "--set", "train.divergence_factor=1e300", "--out", out,
                         ranks=2)
    assert result.returncode == 1
    assert "training diverged in window 5" in result.stderr
    assert "last good checkpoint (step 128)" in result.stderr
    with np.load(out / "checkpoint.npz", allow_pickle=False) as f:
        assert int(f["step"]) == 128 and np.all(np.isfinite(f["weights"]))
    assert json.loads((out / "summary.json").read_text())["status"] == "diverged"
    for line in (out / "metrics.jsonl").read_text().splitlines():
        json.loads(line)  # valid JSON (NaN written as null)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_run_resumes_to_the_same_weights(tmp_path, sig):
    args = ["run", XOR, "--set", "train.steps=8192", "--set", "train.window=256",
            "--set", "output.plots=false", "--quiet"]
    reference = tmp_path / "reference"
    assert mgrit_train(*args, "--out", reference, ranks=2).returncode == 0
    out = tmp_path / "killed"
    killed_at = kill_after_first_checkpoint(args, out, sig)
    assert 0 < killed_at < 8192, "the run ended before it could be killed"
    resumed = mgrit_train("run", "--resume", out, ranks=2)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at step {killed_at}" in resumed.stdout
    assert np.array_equal(load_weights(out / "weights.npz")[0],
                          load_weights(reference / "weights.npz")[0])
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if '"step"' in line]
    assert steps == sorted(set(steps))  # no records twice after the resume


# ------------------------------------------------------------ layer-parallel

PEAKS = ROOT / "examples" / "peaks.yaml"
PEAKS_SMALL = ["--set", "data.n_train=400", "--set", "network.layers=16",
               "--set", "train.steps=40", "--set", "train.log_every=5",
               "--set", "train.checkpoint_every=5"]


def test_layer_parallel_exact_trains_like_serial(tmp_path):
    out = tmp_path / "lp"
    result = mgrit_train("run", PEAKS, *PEAKS_SMALL, "--set", "layer_parallel.mode=exact",
                         "--out", out, ranks=2)
    assert result.returncode == 0, result.stderr
    assert "layer-parallel (exact)" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "layer-parallel" and summary["solver_mode"] == "exact"
    assert 0 < summary["final"]["validation_accuracy"] <= 1 and summary["model_speedup"] > 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 41))
    assert all(r["forward_iterations"] >= 1 and r["adjoint_iterations"] >= 1 for r in records)
    assert (out / "loss.png").exists() and (out / "accuracy.png").exists()
    serial = tmp_path / "serial"
    assert mgrit_train("run", PEAKS, *PEAKS_SMALL, "--set", "mode=serial", "--out", serial,
                       "--quiet").returncode == 0
    np.testing.assert_allclose(load_weights(out / "weights.npz")[0],
                               load_weights(serial / "weights.npz")[0], rtol=0, atol=1e-8)


def test_layer_parallel_killed_run_resumes_to_the_same_weights(tmp_path):
    args = ["run", PEAKS, *PEAKS_SMALL, "--set", "train.steps=400", "--set",
            "train.checkpoint_every=20", "--set", "output.plots=false", "--quiet"]
    reference = tmp_path / "reference"
    assert mgrit_train(*args, "--out", reference, ranks=2).returncode == 0
    out = tmp_path / "killed"
    killed_at = kill_after_first_checkpoint(args, out, signal.SIGKILL)
    assert 0 < killed_at < 400
    resumed = mgrit_train("run", "--resume", out, ranks=2)
    assert resumed.returncode == 0, resumed.stderr
    # one-shot warm starts and Adam's moments come back: the same weights
    assert np.array_equal(load_weights(out / "weights.npz")[0],
                          load_weights(reference / "weights.npz")[0])


def test_bad_data_and_mismatched_modes_exit_2(tmp_path):
    mnist = ROOT / "examples" / "mnist.yaml"
    result = mgrit_train("run", mnist, "--out", tmp_path / "run", ranks=2, cwd=tmp_path)
    assert result.returncode == 2
    assert "train-images-idx3-ubyte.gz" in result.stderr and "cannot read" in result.stderr
    assert not (tmp_path / "run").exists()
    result = mgrit_train("validate", PEAKS, "--set", "mode=sgd-time")
    assert result.returncode == 2 and "network.kind: mode sgd-time trains an mlp" in result.stderr
    result = mgrit_train("validate", PEAKS, "--set", "network.width=null")
    assert result.returncode == 2 and "network.width: is required for kind: resnet" in result.stderr


def test_validate_prints_only_what_applies():
    result = mgrit_train("validate", PEAKS)
    assert result.returncode == 0, result.stderr
    for absent in ("n_pairs", "bits", "images", "sizes", "output_activation", "bias", "window",
                   "lr_growth", "schedule"):
        assert f" {absent}:" not in result.stdout, absent
    assert "  n_train: 5000" in result.stdout and "  width: 8" in result.stdout
    result = mgrit_train("validate", XOR, "--set", "mode=serial")
    assert result.returncode == 0, result.stderr
    assert "# not used by mode serial with these settings: mgrit" in result.stdout
    assert "\nmgrit:" not in result.stdout and "layer_parallel" not in result.stdout
    result = mgrit_train("validate", PEAKS, "--set", "data.n_pairs=500")
    assert result.returncode == 2
    assert "data.n_pairs: not a field of data kind peaks" in result.stderr


def test_every_mode_of_the_schema_has_one_entry_in_the_runner():
    from pyxbraid.cli import config, runner
    assert sorted(runner.MODES) == sorted(config.MODES)


# ------------------------------------------------------------- averaging

DIGITS_AVERAGING = ROOT / "examples" / "digits_averaging.yaml"
HYBRID = ROOT / "examples" / "peaks_hybrid.yaml"
AVERAGING_SMALL = ["--set", "train.steps=48", "--set", "train.window=16", "--set",
                   "train.log_every=8", "--set", "pretrain.epochs=1"]
HYBRID_SMALL = ["--set", "data.n_train=400", "--set", "network.layers=8", "--set",
                "train.steps=10", "--set", "train.log_every=5"]


def records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("ranks, method", [(2, "allreduce"), (4, "butterfly")])
def test_averaging_example_trains_data_parallel(tmp_path, ranks, method):
    pytest.importorskip("sklearn")
    out = tmp_path / "avg"
    result = mgrit_train("run", DIGITS_AVERAGING, *AVERAGING_SMALL, "--set",
                         f"averaging.method={method}", "--out", out, ranks=ranks)
    assert result.returncode == 0, result.stderr
    # averaged every 16 steps, the last of them the end of a window
    assert (f"averaging: 3 model averages ({method}, every 16 steps) over {ranks} ranks, "
            f"optimizer ngsgd") in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["mode"], summary["ranks"], summary["data_groups"], summary["averages"],
            summary["optimizer"]) == ("averaging", ranks, ranks, 3, "ngsgd")
    # RBM pretraining: one epoch of ceil(1500 / ranks / 16) minibatches, the RBM averaged
    # every 16 and after the last
    batches = -(-1500 // ranks // 16)
    assert summary["pretrain"]["averages"] == batches // 16 + (batches % 16 > 0)
    assert 0.1 < summary["final"]["validation_accuracy"] <= 1  # better than chance
    steps = [r for r in records(out) if r["type"] == "step"]
    assert [r["step"] for r in steps] == list(range(0, 49, 8))
    assert steps[-1]["loss"] < steps[0]["loss"]
    # one model, and every rank's preconditioners, in the checkpoint
    with np.load(out / "checkpoint.npz", allow_pickle=False) as f:
        assert int(f["step"]) == 48
        assert {f"array_group_{r}.layer0.in.W" for r in range(ranks)} <= set(f.files)
        assert np.array_equal(f["weights"], load_weights(out / "weights.npz")[0])
    assert (out / "loss.png").exists() and (out / "accuracy.png").exists()


def test_data_by_layer_example_on_4_ranks(tmp_path):
    out = tmp_path / "hybrid"
    result = mgrit_train("run", HYBRID, *HYBRID_SMALL, "--out", out, ranks=4)
    assert result.returncode == 0, result.stderr
    assert "data parallel: 2 data groups, the gradient averaged every step" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["data_groups"], summary["averaged"], summary["ranks"]) == \
        (2, "gradients", 4)
    assert [r["step"] for r in records(out)] == list(range(1, 11))
    assert all(r["forward_iterations"] == 2 for r in records(out))  # one-shot, in each group
    result = mgrit_train("compare", HYBRID, *HYBRID_SMALL, ranks=4)
    assert result.returncode == 0, result.stderr
    assert "on 4 ranks in 2 data groups (gradients averaged)" in result.stdout
    assert "PASS" in result.stdout


def test_compare_averaging_against_serial_training_of_the_same_epochs():
    pytest.importorskip("sklearn")
    one = mgrit_train("compare", DIGITS_AVERAGING, *AVERAGING_SMALL)
    assert one.returncode == 0, one.stderr
    # one rank is serial training: the weights are compared, and equal
    assert "serial reference: one rank, 48 steps" in one.stdout
    assert "max |w_averaged - w_serial| = 0.000e+00" in one.stdout and "PASS" in one.stdout
    two = mgrit_train("compare", DIGITS_AVERAGING, *AVERAGING_SMALL, ranks=2)
    assert "serial reference: one rank, 96 steps (the same epochs)" in two.stdout
    line = next(line for line in two.stdout.splitlines() if "validation accuracy:" in line)
    difference = float(line.split("|difference| ")[1].split()[0])
    assert "(other minibatches: not compared)" in two.stdout
    assert (two.returncode, "PASS" in two.stdout) == ((0, True) if difference <= 0.02
                                                      else (1, False))


def test_averaging_that_diverges_stops_and_keeps_the_last_checkpoint(tmp_path):
    out = tmp_path / "mlp"
    result = mgrit_train("run", DIVERGING, "--set", "mode=averaging", "--set",
                         "train.divergence_factor=1e308", "--out", out, ranks=2)
    assert result.returncode == 1
    assert "training diverged in window 6" in result.stderr and "the loss is inf" in \
        result.stderr
    assert "last good checkpoint (step 160)" in result.stderr
    with np.load(out / "checkpoint.npz", allow_pickle=False) as f:
        assert int(f["step"]) == 160 and np.all(np.isfinite(f["weights"]))
    assert json.loads((out / "summary.json").read_text())["status"] == "diverged"
    # a resnet: the ranks' models differ between averages, and a NaN on one
    # stops every rank at the same step (their mean loss is NaN)
    out = tmp_path / "resnet"
    result = mgrit_train("run", PEAKS, "--set", "mode=averaging", "--set", "data.n_train=200",
                         "--set", "network.layers=8", "--set", "train.steps=30", "--set",
                         "train.checkpoint_every=5", "--set", "train.optimizer=sgd", "--set",
                         "train.learning_rate=1e3", "--set", "train.divergence_factor=1e300",
                         "--out", out, ranks=2, timeout=60)
    assert result.returncode == 1
    assert "the loss or its gradient is not finite at step 6" in result.stderr
    assert "last good checkpoint (step 5)" in result.stderr
    assert json.loads((out / "summary.json").read_text())["status"] == "diverged"


@pytest.mark.parametrize("problem, sets, ranks, expected", [
    (XOR, ["mode=averaging", "averaging.method=butterfly"], 3,
     "averaging.method: butterfly needs a power-of-two number of ranks, got 3"),
    (PEAKS, ["parallel.data=2"], 3,
     "parallel.data: 2 data groups must divide the number of ranks (3)"),
    (PEAKS, ["parallel.data=3", "averaging.every=4", "averaging.method=butterfly"], 3,
     "averaging.method: butterfly needs a power-of-two number of data groups, got 3"),
    (XOR, ["mode=averaging"], 5,
     "data.kind: 4 training instances cannot be shared by 5 ranks"),
    (XOR, ["mode=averaging", "train.schedule=minibatch", "train.batch_size=3"], 2,
     "train.batch_size: must be at most the smallest shard: 4 instances over 2 ranks leave 2"),
    (PEAKS, ["mode=averaging", "train.optimizer=lbfgs"], 2,
     "train.optimizer: lbfgs cannot be averaged"),
    (XOR, ["mode=averaging", "network.bias=true", "pretrain.batch_size=3"], 2,
     "pretrain.batch_size: must be at most the smallest shard: 4 instances over 2 ranks "
     "leave 2, got 3"),
])
def test_bad_data_parallel_options_exit_2_naming_the_field(tmp_path, problem, sets, ranks,
                                                           expected):
    args = [arg for s in sets for arg in ("--set", s)]
    result = mgrit_train("run", problem, *args, "--out", tmp_path / "run", ranks=ranks,
                         timeout=60)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert result.stderr.count("mgrit-train: error:") == 1
    assert not (tmp_path / "run").exists()  # nothing written
