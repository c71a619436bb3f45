"""mgrit-train and bad input or faults: every rank's error becomes every
rank's clean exit (status 2 before the run, 1 during it) with one message,
nothing hangs, nothing is written before the problem is known to fit, and
nothing written is lost.  Jobs that would hang are killed by the timeout of
mgrit_train (the test then fails)."""
import errno
import json
import os
import resource
import shutil
import signal
import subprocess

import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, in_process, mpirun_executable
from pyxbraid.data.idx import write_idx
from test_cli import MGRIT_TRAIN, mgrit_train

XOR = ROOT / "examples" / "xor.yaml"
PEAKS = ROOT / "examples" / "peaks.yaml"
DIVERGING = ROOT / "tests" / "data" / "problems" / "diverging.yaml"
XOR_SMALL = ["--set", "train.steps=256", "--set", "train.window=64", "--set",
             "output.plots=false", "--quiet"]
PEAKS_SMALL = ["--set", "data.n_train=200", "--set", "network.layers=8", "--set",
               "train.steps=10", "--set", "train.checkpoint_every=5", "--set",
               "output.plots=false", "--quiet"]


def error_once(result, text, status=2):
    """The job exited with `status`, printing `text` once (rank 0), no traceback."""
    assert result.returncode == status, (result.stdout, result.stderr)
    assert text in result.stderr, result.stderr
    assert result.stderr.count(text) == 1, result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Finished run folders of a small sgd-time and layer-parallel problem."""
    folders = {}
    for name, problem, args in (("sgd-time", XOR, XOR_SMALL), ("layer-parallel", PEAKS,
                                                                 PEAKS_SMALL)):
        out = tmp_path_factory.mktemp("runs") / name
        result = mgrit_train("run", problem, *args, "--out", out, ranks=2)
        assert result.returncode == 0, result.stderr
        folders[name] = out
    return folders


def unfinished(runs, mode, out):
    """A copy of a run folder that is not finished (as a killed run leaves it)."""
    shutil.copytree(runs[mode], out)
    (out / "summary.json").unlink()
    return out


# ------------------------------------------------------------ hangs

@pytest.mark.parametrize("mode", ["sgd-time", "layer-parallel"])
@pytest.mark.parametrize("damage", ["empty", "truncated"])
@pytest.mark.parametrize("ranks", [1, 2])
def test_resume_from_a_damaged_checkpoint_exits_2(tmp_path, runs, mode, damage, ranks):
    out = unfinished(runs, mode, tmp_path / "run")
    for state in [out / "checkpoint.npz", *out.glob("warm-*.npz")]:
        data = state.read_bytes()
        state.write_bytes(b"" if damage == "empty" else data[:len(data) // 2])
    result = mgrit_train("run", "--resume", out, ranks=ranks, timeout=60)
    error_once(result, "checkpoint.npz: not a readable checkpoint")
    assert not (out / "summary.json").exists()


def test_problem_file_missing_on_one_rank(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    (a / "p.yaml").write_text(XOR.read_text())
    args = ["run", "p.yaml", *XOR_SMALL, "--out", tmp_path / "out"]
    result = mgrit_train(mpmd=[(a, args), (b, args)], timeout=60)
    error_once(result, "p.yaml: cannot read the file: No such file or directory")
    assert not (tmp_path / "out").exists()
    # both ranks read a problem, but not the same one
    (b / "p.yaml").write_text(XOR.read_text().replace("learning_rate: 1.0", "learning_rate: 2"))
    result = mgrit_train(mpmd=[(a, args), (b, args)], timeout=60)
    error_once(result, "p.yaml: the problem differs between ranks")
    assert not (tmp_path / "out").exists()


def idx_problem(folder):
    """An mlp on tiny IDX files (relative paths) in `folder`."""
    rng = np.random.default_rng(0)
    write_idx(folder / "images.idx", rng.integers(0, 256, (8, 2, 2), dtype=np.uint8))
    write_idx(folder / "labels.idx", rng.integers(0, 10, 8, dtype=np.uint8))
    problem = folder / "p.yaml"
    problem.write_text("name: idx\ndata: {kind: idx, images: images.idx, labels: labels.idx}\n"
                       "network: {sizes: [4, 5, 10]}\n"
                       "train: {steps: 16, learning_rate: 0.1}\noutput: {plots: false}\n")
    return problem


def test_data_file_missing_or_different_on_one_rank(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    idx_problem(a)
    (b / "p.yaml").write_text((a / "p.yaml").read_text())
    args = ["run", "p.yaml", "--quiet", "--out", tmp_path / "out"]
    result = mgrit_train(mpmd=[(a, args), (b, args)], timeout=60)
    error_once(result, "p.yaml:2: data.images: images.idx: cannot read the IDX file")
    assert not (tmp_path / "out").exists()
    # both ranks read files, but not the same ones
    idx_problem(b)
    write_idx(b / "labels.idx", np.zeros(8, dtype=np.uint8))
    result = mgrit_train(mpmd=[(a, args), (b, args)], timeout=60)
    error_once(result, "data: the data differs between ranks")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------- memory bombs

def _limited_memory():
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def test_yaml_alias_bomb_is_refused(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\nname: bomb\n")
    # limited memory: without the bound the expansion fails, instead of
    # taking the machine
    result = subprocess.run([MGRIT_TRAIN, "validate", bomb], capture_output=True, text=True,
                            timeout=60, preexec_fn=_limited_memory)
    assert result.returncode == 2, result.stderr
    assert "bomb.yaml:5: YAML aliases expand to more than 20000 nodes" in result.stderr


@pytest.mark.parametrize("problem, override, field", [
    (PEAKS, "network.width=1000000", "--set network.width=1000000: network.width: too large"),
    (XOR, "network.sizes=[3, 100000, 100000, 1]", "network.sizes: too large for this machine"),
    (XOR, "train.steps=2000000000", "train.steps: too large for this machine"),
    (PEAKS, "data.n_train=3000000000", "data.n_train: too large for this machine"),
])
def test_a_problem_too_large_for_the_machine_is_refused_up_front(tmp_path, problem, override,
                                                                  field):
    result = mgrit_train("run", problem, "--set", override, "--set", "train.window=null"
                         if problem == XOR else "train.log_every=1", "--out", tmp_path / "run",
                         ranks=2, timeout=60)
    error_once(result, field)
    assert "of memory" in result.stderr and "are available" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "folder"])
def test_data_files_must_be_regular_files(tmp_path, kind):
    problem = idx_problem(tmp_path)
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    elif kind == "folder":
        path = tmp_path
    else:
        path = Path(kind)
    result = mgrit_train("run", problem, "--set", f"data.images={path}", "--out",
                         tmp_path / "run", ranks=2, timeout=60)
    error_once(result, f"data.images: {path}: not a regular file")
    assert not (tmp_path / "run").exists()


def test_seed_above_32_bits_is_a_schema_error(tmp_path):
    result = mgrit_train("run", XOR, "--set", f"seed={2 ** 32}", "--out", tmp_path / "run")
    error_once(result, f"seed: must be <= {2 ** 32 - 1}, got {2 ** 32}")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------- documented options

def test_cfactor_and_nrelax_per_level_run_and_compare(tmp_path):
    per_level = ["--set", "mgrit.cfactor_per_level={0: 4}", "--set",
                 "mgrit.nrelax_per_level={0: 0, 1: 2}"]
    result = mgrit_train("run", XOR, *XOR_SMALL, *per_level, "--out", tmp_path / "run", ranks=2)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["final_residual"] < 1e-9
    result = mgrit_train("compare", XOR, *per_level, "--set", "train.steps=256", ranks=2)
    assert result.returncode == 0, result.stderr
    assert "PASS" in result.stdout


# ---------------------------------------------- tracebacks to messages

def test_binary_problem_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: x\n\xff\xfe\x00binary")
    for command in ("validate", "run"):
        result = mgrit_train(command, bad)
        error_once(result, "bad.yaml: not a UTF-8 text file (byte 8: ff)")


def test_set_of_an_unknown_section_blames_the_set():
    result = mgrit_train("validate", XOR, "--set", "foo.bar=1")
    error_once(result, "--set foo.bar=1: foo: unknown key")


def test_out_under_a_regular_file(tmp_path):
    (tmp_path / "file").write_text("x")
    result = mgrit_train("run", XOR, *XOR_SMALL, "--out", tmp_path / "file" / "run", ranks=2)
    error_once(result, "cannot create the run folder: Not a directory")


def test_out_on_a_read_only_file_system(tmp_path, monkeypatch, capsys):
    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert in_process("run", XOR, *XOR_SMALL, "--out", tmp_path / "run") == 2
    assert "cannot create the run folder: Read-only file system" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_corrupt_metrics_on_resume_and_plot(tmp_path, runs):
    out = unfinished(runs, "sgd-time", tmp_path / "run")
    metrics = out / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    lines[2] = lines[2][:20]
    metrics.write_text("\n".join(lines) + "\n")
    result = mgrit_train("run", "--resume", out, ranks=2, timeout=60)
    error_once(result, "metrics.jsonl:3: not a metrics record")
    result = mgrit_train("plot", out, ranks=2, timeout=60)
    error_once(result, "metrics.jsonl:3: not a metrics record")


def test_run_folder_deleted_mid_run(tmp_path):
    out = tmp_path / "run"
    cmd = [mpirun_executable(), "-n", "2", MGRIT_TRAIN, "run", XOR, "--set", "train.steps=8192",
           "--set", "train.window=256", "--set", "output.plots=false", "--quiet", "--out", out]
    process = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not (out / "checkpoint.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.02)

    while out.exists():  # rank 0 may add a file while it is removed
        shutil.rmtree(out, ignore_errors=True)
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    assert process.returncode == 1, stderr
    assert "mgrit-train: error: cannot write" in stderr and "the run folder is gone" in stderr
    assert "Traceback" not in stderr and stderr.count("cannot write") == 1


def _full_disk(monkeypatch, fails):
    """np.savez writes a few bytes, then the disk is full, for the files
    `fails` picks (by their arrays)."""
    real = np.savez

    def savez(file, **arrays):
        if fails(arrays):
            file.write(b"PK\x03\x04")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(file, **arrays)

    monkeypatch.setattr(np, "savez", savez)


def test_full_disk_at_a_checkpoint(tmp_path, monkeypatch, capsys):
    _full_disk(monkeypatch, lambda arrays: "step" in arrays)
    out = tmp_path / "run"
    assert in_process("run", XOR, *XOR_SMALL, "--out", out) == 1
    err = capsys.readouterr().err
    assert f"cannot write {out / 'checkpoint.npz'}: No space left on device" in err
    assert "Traceback" not in err
    assert json.loads((out / "summary.json").read_text())["status"] == "failed"
    assert sorted(p.name for p in out.iterdir()) == ["metrics.jsonl", "problem.yaml",
                                                     "summary.json"]  # no temporary file


def test_full_disk_at_the_weights_never_says_completed(tmp_path, monkeypatch, capsys):
    _full_disk(monkeypatch, lambda arrays: "metadata" in arrays)
    out = tmp_path / "run"
    assert in_process("run", XOR, *XOR_SMALL, "--out", out) == 1
    assert "weights.npz: No space left on device" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "No space left" in summary["message"]
    assert not list(out.glob("*.tmp*")) and not (out / "weights.npz").exists()


def test_compare_tolerance_is_a_usage_error():
    for tol in ("-1", "nan", "inf"):
        result = mgrit_train("compare", XOR, "--tol", tol)
        assert result.returncode == 2 and "Invalid value for '--tol'" in result.stderr
        assert "PASS" not in result.stdout and "FAIL" not in result.stdout
    result = mgrit_train("compare", XOR, "--accuracy-tol", "-0.1")
    assert result.returncode == 2 and "--accuracy-tol" in result.stderr


# ---------------------------------------------------------- data loss

def test_force_replaces_only_a_run_folder(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    result = mgrit_train("run", XOR, *XOR_SMALL, "--force", "--out", precious)
    error_once(result, "--force replaces only a run folder")
    assert [p.name for p in precious.iterdir()] == ["thesis.tex"]
    # a run folder is replaced
    assert mgrit_train("run", XOR, *XOR_SMALL, "--out", tmp_path / "run").returncode == 0
    (tmp_path / "run" / "old").write_text("")
    assert mgrit_train("run", XOR, *XOR_SMALL, "--force", "--out",
                       tmp_path / "run").returncode == 0
    assert not (tmp_path / "run" / "old").exists()


# --------------------------------------------------------- divergence

def test_a_loss_that_explodes_stops_the_run(tmp_path):
    out = tmp_path / "run"
    result = mgrit_train("run", PEAKS, *PEAKS_SMALL, "--set", "train.learning_rate=1e6",
                         "--out", out, ranks=2, timeout=120)
    error_once(result, "training diverged at step", status=1)
    assert "exceeds divergence_factor times the initial loss" in result.stderr
    assert "No checkpoint was written before" in result.stderr
    assert "last good checkpoint" not in result.stderr
    assert json.loads((out / "summary.json").read_text())["status"] == "diverged"
    assert not (out / "checkpoint.npz").exists()


def test_quiet_silences_warnings_not_errors(tmp_path, monkeypatch, capsys):
    import warnings

    from pyxbraid.cli import runner

    real = runner.train_sgd_time

    def overflowing(*args, **kwargs):  # numpy warns, as in a run that overflows
        np.log(np.zeros(1))
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "train_sgd_time", overflowing)
    for quiet in (False, True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert in_process("run", XOR, *XOR_SMALL[:-1], *(["--quiet"] if quiet else []),
                              "--out", tmp_path / f"run-{quiet}") == 0
        numpy_warnings = [w for w in caught if issubclass(w.category, RuntimeWarning)]
        assert bool(numpy_warnings) != quiet
        assert (capsys.readouterr().out == "") == quiet
    # errors still print
    assert in_process("run", DIVERGING, "--quiet", "--out", tmp_path / "diverging") == 1
    assert "training diverged" in capsys.readouterr().err


# ------------------------------------------------------------ compare

def test_compare_solves_in_the_windows_of_run(tmp_path):
    result = mgrit_train("compare", XOR, "--set", "train.steps=512", "--set", "train.window=128",
                         ranks=2)
    assert result.returncode == 0, result.stderr
    assert "over 4 windows" in result.stdout and "PASS" in result.stdout
    run = mgrit_train("run", XOR, "--set", "train.steps=512", "--set", "train.window=128",
                      "--out", tmp_path / "run", "--quiet", ranks=2)
    assert run.returncode == 0
    iterations = json.loads((tmp_path / "run" / "summary.json").read_text())["mgrit_iterations"]
    assert f"MGRIT {sum(iterations)} iterations over 4 windows" in result.stdout


PEAKS_COMPARE = ["--set", "data.n_train=200", "--set", "network.layers=8", "--set",
                 "train.steps=20"]


def test_compare_layer_parallel_exact_against_serial_backprop():
    result = mgrit_train("compare", PEAKS, *PEAKS_COMPARE, "--set", "layer_parallel.mode=exact",
                         ranks=2)
    assert result.returncode == 0, result.stderr
    assert "layer-parallel (exact)" in result.stdout and "PASS" in result.stdout
    # inexact solves cannot give serial backprop's weights
    result = mgrit_train("compare", PEAKS, *PEAKS_COMPARE, "--set", "layer_parallel.mode=exact",
                         "--set", "mgrit.max_iter=1", ranks=2)
    assert result.returncode == 1 and "FAIL" in result.stdout


def test_compare_layer_parallel_one_shot_by_accuracy():
    result = mgrit_train("compare", PEAKS, *PEAKS_COMPARE, ranks=2)
    assert result.returncode == 0, result.stderr
    assert "validation accuracy: mgrit" in result.stdout and "(limit 0.02)" in result.stdout
    assert "PASS" in result.stdout


def test_compare_of_a_serial_problem_is_refused():
    result = mgrit_train("compare", XOR, "--set", "mode=serial")
    error_once(result, "--set mode=serial: mode: compare checks a parallel mode")





def test_an_mlp_that_does_not_fit_idx_files_is_refused_before_writing(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    problem = idx_problem(tmp_path)
    assert in_process("run", problem, "--set", "network.sizes=[5, 5, 10]", "--out",
                      tmp_path / "run") == 2
    assert "--set network.sizes=[5, 5, 10]: network.sizes.0: the idx data has 4 features, " \
        "the network takes 5 inputs" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
