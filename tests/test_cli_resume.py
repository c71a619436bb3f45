"""mgrit-train run --resume: what a resumed run must not mix up.  A run is
interrupted deterministically with the MGRIT_TRAIN_FAIL hook (the job ends
at a given step, as a killed one: its last checkpoint stays); the tests of
real signals are in test_cli.py."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT
from pyxbraid.cli.rundir import load_weights
from test_cli import mgrit_train

XOR = ROOT / "examples" / "xor.yaml"
PEAKS = ROOT / "examples" / "peaks.yaml"
XOR_RUN = ["--set", "train.steps=1024", "--set", "train.window=128", "--set",
           "output.plots=false", "--quiet"]
PEAKS_RUN = ["--set", "data.n_train=200", "--set", "network.layers=12", "--set",
             "train.steps=30", "--set", "train.checkpoint_every=5", "--set",
             "output.plots=false", "--quiet"]


def interrupted(problem, args, out, step, ranks=2):
    """A run folder left by a job that ended at `step` (rank 1's failure;
    rank 0's on one rank): its last checkpoint is the one before."""
    result = mgrit_train("run", problem, *args, "--out", out, ranks=ranks, timeout=120,
                         env={"MGRIT_TRAIN_FAIL": f"rank={ranks - 1},step={step}"})
    assert result.returncode == 1 and "injected failure" in result.stderr
    assert not (out / "summary.json").exists()
    if (out / "run.lock").exists():  # left by an aborted rank 0, which may outlive mpirun
        wait_for_exit(int((out / "run.lock").read_text()))
    return out


def wait_for_exit(pid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still runs")


def completed(problem, args, out, ranks=2):
    result = mgrit_train("run", problem, *args, "--out", out, ranks=ranks, timeout=120)
    assert result.returncode == 0, result.stderr
    return out


def weights(out):
    return load_weights(out / "weights.npz")[0]


def summary(out):
    return json.loads((out / "summary.json").read_text())


def test_summary_after_a_resume_counts_every_window(tmp_path):
    reference = completed(XOR, XOR_RUN, tmp_path / "reference")
    out = interrupted(XOR, XOR_RUN, tmp_path / "run", step=600)
    result = mgrit_train("run", "--resume", out, ranks=2)
    assert result.returncode == 0, result.stderr
    assert "resumed at step 512" in result.stdout
    assert np.array_equal(weights(out), weights(reference))
    ours, theirs = summary(out), summary(reference)
    assert ours["windows"] == theirs["windows"] == 8
    assert ours["mgrit_iterations"] == theirs["mgrit_iterations"]
    assert ours["model_speedup"] == theirs["model_speedup"]
    assert f"{sum(theirs['mgrit_iterations'])} iterations over 8 windows" in result.stdout


@pytest.mark.parametrize("ranks, resumed_on", [(1, 2), (2, 3)])
def test_layer_parallel_resume_on_another_rank_count(tmp_path, ranks, resumed_on):
    """One-shot warm starts are saved for every layer in the checkpoint, so a
    run continues on any number of ranks where it stopped."""
    reference = completed(PEAKS, PEAKS_RUN, tmp_path / "reference", ranks=ranks)
    out = interrupted(PEAKS, PEAKS_RUN, tmp_path / "run", step=13, ranks=ranks)
    result = mgrit_train("run", "--resume", out, ranks=resumed_on)
    assert result.returncode == 0, result.stderr
    # the same MGRIT iterates; only the order of the gradient's sum over the
    # ranks differs (was 1.65e-4 away when the warm starts were dropped)
    np.testing.assert_allclose(weights(out), weights(reference), rtol=0, atol=1e-9)
    ours, theirs = summary(out), summary(reference)
    assert ours["forward_iterations"] == theirs["forward_iterations"]
    assert len([line for line in (out / "metrics.jsonl").read_text().splitlines()]) == 30


def test_owned_parameters_resume_from_a_gathered_checkpoint(tmp_path):
    """Owned parameters write whole weights and optimizer state (gathered on
    rank 0); a resume hands each rank its part again, on another rank count."""
    args = [*PEAKS_RUN, "--set", "layer_parallel.parameters=owned", "--set",
            "layer_parallel.mode=exact", "--set", "mgrit.tol=1e-12"]
    reference = completed(PEAKS, args, tmp_path / "reference", ranks=3)
    out = interrupted(PEAKS, args, tmp_path / "run", step=13, ranks=3)
    result = mgrit_train("run", "--resume", out, ranks=2)
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(weights(out), weights(reference), rtol=0, atol=1e-12)
    assert summary(out)["parameters"] == "owned"


def test_resume_after_problem_yaml_was_edited_is_refused(tmp_path):
    out = interrupted(XOR, XOR_RUN, tmp_path / "run", step=356)
    problem = out / "problem.yaml"
    problem.write_text(problem.read_text().replace("learning_rate: 1.0",
                                                   "learning_rate: 0.5"))
    def files():  # the lock a killed job left is not the run's
        return {p.name: p.read_bytes() for p in out.iterdir() if p.name != "run.lock"}

    before = files()
    result = mgrit_train("run", "--resume", out, ranks=2, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "problem.yaml: train.learning_rate: changed since the checkpoint of step 256" \
        in result.stderr
    assert files() == before  # nothing touched (but the lock a killed job left)


def test_a_run_folder_in_use_is_refused_and_a_stale_lock_taken_over(tmp_path):
    from pyxbraid.cli.rundir import RunLock

    out = interrupted(XOR, XOR_RUN, tmp_path / "run", step=356)
    lock = RunLock(out).acquire()  # a run of this folder (this process) is going on
    try:
        result = mgrit_train("run", "--resume", out, ranks=2, timeout=60)
        assert result.returncode == 2
        assert f"in use by pid {os.getpid()}" in result.stderr
        assert result.stderr.count("mgrit-train: error:") == 1
        assert not (out / "summary.json").exists()
        metrics = (out / "metrics.jsonl").read_bytes()
    finally:
        lock.release()
    # the lock of a process that died: taken over
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (out / "run.lock").write_text(dead + "\n")
    result = mgrit_train("run", "--resume", out, ranks=2)
    assert result.returncode == 0, result.stderr
    assert (out / "metrics.jsonl").read_bytes().startswith(metrics[:100])
    assert not (out / "run.lock").exists()


def test_two_resumes_at_once_one_runs(tmp_path):
    out = interrupted(XOR, XOR_RUN, tmp_path / "run", step=356)
    cmd = [sys.executable, "-c", "from pyxbraid.cli.main import main; main()", "run",
           "--resume", str(out), "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    first, second = (subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=env) for _ in range(2))
    results = [p.communicate(timeout=120) + (p.returncode,) for p in (first, second)]
    ran = [r for r in results if r[2] == 0 and "finished" not in r[0]]
    assert len(ran) == 1, results
    # the other one found the folder in use (or, started late, the run finished)
    other = results[1 - results.index(ran[0])]
    assert (other[2] == 2 and "in use by pid" in other[1]) or \
        (other[2] == 0 and "the run is finished" in other[0]), results
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text()
             .splitlines() if '"step"' in line]
    assert steps == sorted(set(steps))  # no metrics twice


def test_resume_of_a_finished_run_touches_nothing(tmp_path):
    out = completed(XOR, XOR_RUN, tmp_path / "run")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    result = mgrit_train("run", "--resume", out, ranks=2)
    assert result.returncode == 0, result.stderr
    assert "the run is finished" in result.stdout and "Traceback" not in result.stderr
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()} == before


def test_resume_after_the_last_checkpoint_writes_the_full_summary(tmp_path):
    """Killed after its last checkpoint, before its summary: the resume has
    no step left to train, and still reports every window."""
    reference = completed(XOR, XOR_RUN, tmp_path / "reference")
    out = tmp_path / "run"
    completed(XOR, XOR_RUN, out)
    (out / "summary.json").unlink()
    (out / "weights.npz").unlink()
    result = mgrit_train("run", "--resume", out, ranks=2)
    assert result.returncode == 0, result.stderr
    assert np.array_equal(weights(out), weights(reference))
    assert summary(out)["mgrit_iterations"] == summary(reference)["mgrit_iterations"]


def test_resume_takes_no_out_or_force(tmp_path):
    out = interrupted(XOR, XOR_RUN, tmp_path / "run", step=356)
    for extra in (["--out", tmp_path / "elsewhere"], ["--force"]):
        result = mgrit_train("run", "--resume", out, *extra)
        assert result.returncode == 2
        assert "--resume continues a run in its own folder" in result.stderr
    assert not (tmp_path / "elsewhere").exists() and not (out / "summary.json").exists()


def test_a_checkpoint_holds_totals_not_one_entry_per_step(tmp_path):
    """What a checkpoint holds does not grow with the steps trained (each
    would be written again at every checkpoint): a resnet's history is
    totals, an mlp's lists one number per window (the summary's)."""
    def history(out):
        with np.load(out / "checkpoint.npz", allow_pickle=False) as f:
            return json.loads(str(f["history"]))

    resnet = history(completed(PEAKS, PEAKS_RUN, tmp_path / "peaks", ranks=1))
    assert resnet["gradients"] == 30
    assert not [key for key, value in resnet.items() if isinstance(value, (list, dict))]
    mlp = history(completed(XOR, XOR_RUN, tmp_path / "xor", ranks=1))
    assert [key for key, value in mlp.items() if isinstance(value, (list, dict))] == \
        ["mgrit_iterations"]
    assert len(mlp["mgrit_iterations"]) == mlp["windows"] == 8


def test_a_checkpoint_of_another_format_is_refused(tmp_path):
    """A checkpoint written by an earlier mgrit-train (format 1: no format
    number, a list per step) is not read as this one's: exit 2, nothing
    touched."""
    out = interrupted(XOR, XOR_RUN, tmp_path / "run", step=356)
    path = out / "checkpoint.npz"
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k != "format"}
    np.savez(path, **arrays)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "run.lock"}
    result = mgrit_train("run", "--resume", out, ranks=2, timeout=60)
    assert result.returncode == 2, result.stderr
    assert (f"{path}: a checkpoint of another version of mgrit-train (format 1, this one "
            f"reads 2); the run cannot be resumed from it") in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "run.lock"} == before


# ------------------------------------------------------------- averaging

DIGITS_AVERAGING = ROOT / "examples" / "digits_averaging.yaml"
SMALL_PEAKS = ["--set", "data.n_train=200", "--set", "network.layers=8", "--set",
               "train.steps=30", "--set", "train.checkpoint_every=5", "--set",
               "output.plots=false", "--quiet"]
AVERAGING_RUNS = {
    # NG-SGD: every rank's preconditioners come back (the mlp's windows; RBM pretraining
    # is not repeated)
    "mlp-ngsgd": (DIGITS_AVERAGING, ["--set", "train.steps=64", "--set", "train.window=16",
                                     "--set", "train.log_every=8", "--set", "pretrain.epochs=1",
                                     "--set", "output.plots=false", "--quiet"], 40, 2),
    # Adam: every rank's moments and the decayed, capped learning rate's step index
    "resnet-adam": (PEAKS, ["--set", "mode=averaging", "--set", "averaging.every=4",
                            "--set", "averaging.lr_final=0.001", "--set",
                            "averaging.max_change=0.05", *SMALL_PEAKS], 13, 2),
    # NG-SGD on a resnet: every rank's preconditioners of every affine map
    "resnet-ngsgd": (PEAKS, ["--set", "mode=averaging", "--set", "averaging.every=4",
                             "--set", "train.optimizer=ngsgd", *SMALL_PEAKS], 13, 2),
    # data x layer, models averaged every 3 steps: each group's Adam and warm starts
    "data-layer": (PEAKS, ["--set", "parallel.data=2", "--set", "averaging.every=3",
                           *SMALL_PEAKS], 13, 4),
}


@pytest.mark.parametrize("name", AVERAGING_RUNS)
def test_averaging_resumes_to_the_same_weights(tmp_path, name):
    problem, args, step, ranks = AVERAGING_RUNS[name]
    if problem == DIGITS_AVERAGING:
        pytest.importorskip("sklearn")
    reference = completed(problem, args, tmp_path / "reference", ranks=ranks)
    out = interrupted(problem, args, tmp_path / "run", step=step, ranks=ranks)
    result = mgrit_train("run", "--resume", out, ranks=ranks)
    assert result.returncode == 0, result.stderr
    assert np.array_equal(weights(out), weights(reference))
    ours, theirs = summary(out), summary(reference)
    for key in ("averages", "capped_steps", "data_groups"):
        assert ours[key] == theirs[key], key
    if "pretrain" in theirs:  # pretrained once, before the first window
        assert ours["pretrain"]["averages"] == theirs["pretrain"]["averages"]
    assert metrics(out) == metrics(reference)  # each step once, the same losses


def metrics(out):
    """The records of a run without their wall times."""
    return [{k: v for k, v in json.loads(line).items() if k != "wall_time"}
            for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_an_averaging_run_resumes_only_on_its_number_of_ranks(tmp_path):
    problem, args, step, ranks = AVERAGING_RUNS["resnet-adam"]
    out = interrupted(problem, args, tmp_path / "run", step=step, ranks=ranks)

    def files():
        return {p.name: p.read_bytes() for p in out.iterdir() if p.name != "run.lock"}

    before = files()
    result = mgrit_train("run", "--resume", out, ranks=3, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "this run resumes on the 2 ranks it ran on" in result.stderr
    assert files() == before
