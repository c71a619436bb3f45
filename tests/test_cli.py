"""The mgrit-train command (so far: --version, --help and info)."""
import subprocess
import sys
from pathlib import Path

import pyxbraid
from conftest import mpirun_executable

MGRIT_TRAIN = str(Path(sys.executable).parent / "mgrit-train")


def test_version_and_help():
    out = subprocess.run([MGRIT_TRAIN, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"mgrit-train, version {pyxbraid.__version__}"
    out = subprocess.run([MGRIT_TRAIN, "info", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "braid library" in out.stdout


def test_info_under_mpirun_prints_once_from_rank_0():
    out = subprocess.run([mpirun_executable(), "-n", "2", MGRIT_TRAIN, "info"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = dict(line.split(None, 1) for line in out.stdout.splitlines() if line.strip())
    assert lines["ranks"] == "2"
    assert lines["braid"].startswith("library vendored")
    assert lines["MPI"].startswith("MPICH") or "Open MPI" in lines["MPI"]
    assert out.stdout.count("pyxbraid") == 1


def test_unknown_command_is_a_usage_error():
    out = subprocess.run([MGRIT_TRAIN, "trian"], capture_output=True, text=True)
    assert out.returncode == 2 and "No such command 'trian'" in out.stderr
