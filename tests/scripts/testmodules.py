"""The test modules and examples for the scripts here, which mpirun starts with
only tests/scripts on sys.path: conftest is loaded from its file, and loads the
others with its load_module / load_example (no sys.path edits)."""
import importlib.util
import sys
from pathlib import Path


def _load_conftest():
    if "conftest" in sys.modules:
        return sys.modules["conftest"]
    spec = importlib.util.spec_from_file_location(
        "conftest", Path(__file__).resolve().parents[1] / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["conftest"] = module  # the test modules import from it by name
    spec.loader.exec_module(module)
    return module


conftest = _load_conftest()
load_example = conftest.load_example


def load_test(name):
    """tests/<name>.py as a module."""
    return conftest.load_module(conftest.TESTS / f"{name}.py")
