"""The layers of the house: the library (pyxbraid and its nn, data, train and
gemm packages) stands on numpy, mpi4py, threadpoolctl and the extension alone; the command line
(cli/, installed as pyxbraid.cli) stands on the library and its extra [cli]
(click, pydantic, PyYAML, matplotlib); nothing in the library imports the
command line."""
import ast
import importlib.metadata
import re
import subprocess
import sys
import textwrap

import pyxbraid
from conftest import ROOT
from pyxbraid.cli import DEPENDENCIES

LIBRARY = ROOT / "pyxbraid"

# a meta path finder that refuses the command line's dependencies, as on a
# machine where only the library is installed
BLOCKER = textwrap.dedent(f"""
    import sys

    class Refuse:
        BLOCKED = {sorted(DEPENDENCIES)!r}

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Refuse())
""")


def blocked(code):
    """Run `code` in a fresh interpreter without the command line's dependencies."""
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def library_modules():
    """The dotted names of the library's Python modules."""
    names = []
    for path in sorted(LIBRARY.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_library_imports_without_the_command_line_s_dependencies():
    modules = library_modules()
    assert {"pyxbraid", "pyxbraid.nn", "pyxbraid.data", "pyxbraid.train"} <= set(modules)
    result = blocked(f"""
        import importlib
        import pyxbraid, pyxbraid.nn, pyxbraid.data, pyxbraid.train
        for name in {modules!r}:
            importlib.import_module(name)
        try:
            import yaml
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit("the blocker let yaml through")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {sorted(DEPENDENCIES)!r}
                        or m == "cli" or m.startswith(("cli.", "pyxbraid.cli")))
        print("loaded:", loaded)
    """)
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout


def _imported_names(path):
    """Every module a library file names in an import (or import_module call)."""
    text = path.read_text()
    if path.suffix != ".py":  # Cython: its import and cimport lines
        return re.findall(r"^\s*(?:from|c?import)\s+([\w.]+)", text, re.MULTILINE)
    names = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)):
            names.append(node.args[0].value)
    return names


def test_nothing_in_the_library_imports_the_command_line():
    files = [p for p in LIBRARY.rglob("*") if p.suffix in (".py", ".pyx", ".pxd", ".pxi")]
    upward = {f"{path.relative_to(ROOT)}: {name}" for path in files
              for name in _imported_names(path)
              if name == "cli" or name.startswith(("cli.", "pyxbraid.cli"))}
    assert files and not upward


def test_the_command_line_says_which_extra_it_needs():
    result = blocked("""
        from pyxbraid.cli import mgrit_train
        mgrit_train(["info"])
    """)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "mgrit-train: error: click, pydantic, PyYAML, matplotlib are not installed: the command "
        "line needs pyxbraid's extra [cli] (pip install 'pyxbraid[cli]')")


def test_the_console_script_checks_the_extra_first():
    script, = importlib.metadata.entry_points(group="console_scripts", name="mgrit-train")
    assert script.value == "pyxbraid.cli:mgrit_train"
    extra = importlib.metadata.requires("pyxbraid")
    for distribution in DEPENDENCIES.values():
        assert any(re.match(rf"{distribution}\b.*extra == \"cli\"", r, re.IGNORECASE)
                   for r in extra), distribution


def test_mpi_is_not_part_of_the_api():
    """pyxbraid loads mpi4py.MPI (before its extension) but does not hand
    it out: users import MPI from mpi4py."""
    assert "mpi4py.MPI" in sys.modules
    assert not hasattr(pyxbraid, "MPI")


def test_the_version_is_the_package_s():
    assert importlib.metadata.version("pyxbraid") == pyxbraid.__version__
