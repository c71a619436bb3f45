"""Shared test helpers: paths, the reference vectors, the examples as modules,
and running under mpirun."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pyxbraid

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
EXAMPLES = ROOT / "examples"
# XBraid v3.1's residual histories and callback counts (the project's copy)
REFERENCE = TESTS / "data" / "xbraid-v3.1-histories.json"

# Built against LLNL's XBraid (XBRAID_DIR): what only our library does is not
# tested there (README, "Building against upstream XBraid").
ours_or_standin = pytest.mark.skipif(
    pyxbraid.BRAID_LIBRARY == "upstream",
    reason="our library's behaviour, reproduced for upstream by the bindings and checked "
           "with the stand-in; upstream itself cannot be fetched here")


def load_module(path):
    """The Python file `path` as a module named after the file, imported once
    and kept in sys.modules (where its classes' pickling and dataclasses look
    for it), without putting its folder on sys.path."""
    path = Path(path).resolve()
    name = path.stem
    module = sys.modules.get(name)
    if module is not None:
        if Path(getattr(module, "__file__", "")).resolve() != path:
            raise ImportError(f"{path}: the module name {name!r} is taken by "
                              f"{getattr(module, '__file__', 'a built-in module')}")
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_example(name):
    """examples/<name>.py as a module: "dahlquist", "schroder2017/problems"."""
    return load_module(EXAMPLES / f"{name}.py")


def load_reference():
    with open(REFERENCE) as f:
        return json.load(f)


def mpirun_executable():
    """mpirun of the MPI next to this Python (the mpich wheel), else on PATH."""
    candidates = [os.environ.get("MPIRUN"), str(Path(sys.executable).parent / "mpirun"),
                  shutil.which("mpirun"), shutil.which("mpiexec")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    pytest.skip("no mpirun found")


def run_mpi(nranks, args, timeout=120, env=None, module_mpi4py=True):
    """Run `python [-m mpi4py] args...` on nranks ranks; returns CompletedProcess.
    BLAS is pinned to one thread: the ranks share this machine's cores."""
    full_env = dict(os.environ)
    full_env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    if env:
        full_env.update(env)
    cmd = [mpirun_executable(), "-n", str(nranks), sys.executable]
    if module_mpi4py:
        cmd += ["-m", "mpi4py"]
    cmd += [str(a) for a in args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=full_env)


def in_process(*args):
    """mgrit-train in this process (one rank): its exit status."""
    from pyxbraid.cli.main import main
    try:
        main([str(a) for a in args])
    except SystemExit as e:
        return e.code
    return 0


def last_json_line(stdout):
    """The last line of stdout that parses as JSON."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    raise AssertionError(f"no JSON line in output:\n{stdout}")


@pytest.fixture(scope="session")
def reference():
    return load_reference()
