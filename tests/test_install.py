"""`pip install .` on a machine without MPI: pip builds in an isolated
environment with the mpich wheel, and the installed package runs under its
mpirun (though the extension's library path points into the deleted build
environment: pyxbraid loads MPI through mpi4py first)."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.skipif(os.environ.get("MPICC") is not None,
                    reason="MPICC set: the build uses that MPI, not the wheel")
@pytest.mark.skipif(os.environ.get("PYXBRAID_LIBRARY") == "stand-in",
                    reason="packaging, the same for every library: run by the main pass")
def test_isolated_pip_install_runs_on_two_ranks(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python, mpirun = str(venv / "bin" / "python"), str(venv / "bin" / "mpirun")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPICC", "XBRAID_DIR", "PYXBRAID_LIBRARY")}
    install = subprocess.run([python, "-m", "pip", "install", "-q", f"{ROOT}[cli]"],
                             capture_output=True, text=True, env=env, timeout=900)
    assert install.returncode == 0, install.stdout + install.stderr
    script = ROOT / "examples" / "dahlquist.py"
    out = subprocess.run([mpirun, "-n", "2", python, "-m", "mpi4py", str(script), "--json",
                          "--ntime", "100", "--ml", "3", "--tol", "1e-10"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert '"niter": ' in out.stdout
    info = subprocess.run([mpirun, "-n", "2", str(venv / "bin" / "mgrit-train"), "info"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert info.returncode == 0 and "ranks         2" in info.stdout, info.stderr
