"""The type stubs of the extension (pyxbraid/_braid.pyi) agree with it.

mypy's stubtest compares the stub with the compiled module: names, classes,
methods, their parameters, read-only properties.  A cdef class's __init__ is a
slot wrapper that takes (*args, **kwargs) at run time, so stubtest cannot see
Core.__init__'s parameters: a test of its own compares them.  Nor can it know
what a Cython function returns: a solve on two ranks reports the type of
every property and method result of Core and the statuses, which must be the
stub's.  Last, mypy checks a typed user script against the stubs (which
passes, and the script runs) and scripts with wrong calls (which must fail).

mypy finds the package through MYPYPATH: an editable install reaches Python
through an import hook, which mypy does not follow.  That makes the package's
own .py modules look like the user's code; the config below silences them as
mypy silences an installed package (the stubs are still checked: stubtest
refuses a stub with errors, and the user scripts are checked against it).
"""
import ast
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from mpi4py import MPI

import pyxbraid

from conftest import ROOT, last_json_line, run_mpi

# the build pyxbraid uses (PYXBRAID_LIBRARY=stand-in: _braid_standin, whose
# stub re-exports _braid's)
EXTENSION = sys.modules[pyxbraid.Core.__module__]

STUB = ROOT / "pyxbraid" / "_braid.pyi"

MYPY_CONFIG = """\
[mypy]
[mypy-pyxbraid,pyxbraid._threads]
ignore_errors = True
"""

# Cython puts these in every extension's module namespace; no user reads them.
STUBTEST_ALLOWLIST = r"""
pyxbraid\._braid(_standin)?\.__(reduce_cython|setstate_cython|test)__
"""


@pytest.fixture(scope="module")
def mypy_env(tmp_path_factory):
    """Where mypy runs: a config, a cache shared by the runs, MYPYPATH."""
    where = tmp_path_factory.mktemp("mypy")
    (where / "mypy.ini").write_text(MYPY_CONFIG)
    env = dict(os.environ, MYPYPATH=str(ROOT), MYPY_CACHE_DIR=str(where / "cache"))
    return where, env


def _run(args, where, env):
    return subprocess.run([sys.executable, "-m", *args], cwd=where, env=env,
                          capture_output=True, text=True, timeout=300)


def test_stubtest_finds_the_stubs_and_they_match_the_extension(mypy_env):
    where, env = mypy_env
    allowlist = where / "allowlist.txt"
    allowlist.write_text(STUBTEST_ALLOWLIST)
    done = _run(["mypy.stubtest", "--mypy-config-file", "mypy.ini", "--allowlist",
                 str(allowlist), "pyxbraid._braid", "pyxbraid._braid_standin"], where, env)
    # A private module (_braid) whose stub stubtest cannot find is skipped in
    # silence; then the allowlist's entry goes unused, which stubtest reports
    # as an error: a zero exit means both stubs were checked.
    assert done.returncode == 0, done.stdout + done.stderr


def _stub_core_init():
    """Core.__init__'s parameters in the stub: ([(name, default)], keyword-only names)."""
    tree = ast.parse(STUB.read_text())
    core = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Core")
    init = next(n for n in core.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    return _params(init.args)[1:], [a.arg for a in init.args.kwonlyargs]  # without self


def _params(args):
    """[(name, default)] of an ast.arguments; a required parameter's default is 'required'."""
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + args.defaults
    pairs = list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
    assert args.vararg is None and args.kwarg is None
    return [(a.arg, "required" if d is None else ast.literal_eval(d)) for a, d in pairs]


def _runtime_core_init():
    """Core.__init__'s parameters as Cython embeds them in the class docstring."""
    first = EXTENSION.Core.__doc__.splitlines()[0]
    assert first.startswith("Core(") and first.endswith(")"), first
    return _params(ast.parse(f"def f{first[len('Core'):]}: pass").body[0].args)


class _Tiny(EXTENSION.NumpyApp):
    def init(self, t):
        return np.ones(1)

    def step(self, ustop, fstop, u, status):
        u *= 0.5


def test_core_init_stub_has_the_runtime_parameters_and_defaults():
    stub, keyword_only = _stub_core_init()
    assert stub == _runtime_core_init()
    # which parameters are keyword-only: asked of the extension itself, as
    # Cython 3.3.1's embedded signature puts its "*" one parameter too late
    positional = [name for name, _ in stub if name not in keyword_only]
    assert positional == ["app", "comm"]
    with pytest.raises(TypeError, match="at most 2 positional"):
        EXTENSION.Core(_Tiny(), MPI.COMM_SELF, 0.0, ntime=2)
    with pytest.raises(TypeError, match="ntime"):
        EXTENSION.Core(_Tiny(), MPI.COMM_SELF)
    with pytest.raises(TypeError, match="no_such_option"):
        EXTENSION.Core(_Tiny(), ntime=2, no_such_option=1)
    # every parameter, given by name with the stub's default, is accepted
    defaults = {name: value for name, value in stub
                if name in keyword_only and value != "required"}
    core = EXTENSION.Core(_Tiny(), MPI.COMM_SELF, ntime=2, **defaults)
    core.destroy()


# ------------------------------------------------- what the results really are

# On two ranks (so that the buffer callbacks run too): the type of every public
# property of each status a callback receives and of the Core after a solve,
# and of each method's result (Core's setters with the values the core holds).
TYPES_SCRIPT = """\
import json

import numpy as np
from mpi4py import MPI

import pyxbraid

CALLS = {"tiul": (0,), "cfactor": (0,), "proc": (0, 0), "set_size": (8,)}
seen = {}


def describe(v):
    if isinstance(v, tuple):
        return "tuple[" + ", ".join(describe(x) for x in v) + "]"
    if isinstance(v, np.ndarray):
        return f"npt.NDArray[np.{v.dtype}]"
    if isinstance(v, MPI.Intracomm):
        return "MPI.Intracomm"
    return "None" if v is None else type(v).__name__


def record(obj):
    cls = type(obj)
    for name in dir(cls):
        if not name.startswith("_") and not callable(getattr(cls, name)):
            seen[f"{cls.__name__}.{name}"] = describe(getattr(obj, name))
    for name, args in CALLS.items():
        if hasattr(obj, name):
            seen[f"{cls.__name__}.{name}()"] = describe(getattr(obj, name)(*args))


class Scalar(pyxbraid.App):
    def init(self, t):
        return [1.0]

    def step(self, ustop, fstop, u, status):
        record(status)
        u[0] *= 0.5

    def clone(self, u):
        return list(u)

    def sum(self, alpha, x, beta, y):
        y[0] = alpha * x[0] + beta * y[0]

    def spatialnorm(self, u):
        return abs(u[0])

    def access(self, u, status):
        record(status)

    def sync(self, status):
        record(status)

    def bufsize(self, status):
        return 8

    def bufpack(self, u, buffer, status):
        buffer.cast("d")[0] = u[0]
        record(status)  # set_size(8) among the calls

    def bufunpack(self, buffer, status):
        record(status)
        return [buffer.cast("d")[0]]


with pyxbraid.Core(Scalar(), ntime=16, max_levels=2, print_level=0) as core:
    seen["Core.drive()"] = describe(core.drive())
    record(core)
    # every setter, with the value the core holds (and a tolerance and a grid)
    values = dict(core.options, abs_tol=1e-6, time_grid=np.linspace(0.0, 1.0, 17))
    for name, value in values.items():
        seen[f"Core.set_{name}()"] = describe(getattr(core, "set_" + name)(value))
    seen["Core.print_stats()"] = describe(core.print_stats())
    seen["Core.destroy()"] = describe(core.destroy())
if MPI.COMM_WORLD.rank == 0:
    print(json.dumps(seen))
"""


def _stub_results():
    """{"Class.name": annotation} of the stub's properties, and of its methods
    as "Class.name()", for Core and the four statuses (inherited ones too)."""
    tree = ast.parse(STUB.read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}

    def members(name):
        node = classes[name]
        out = {}
        for base in node.bases:
            if isinstance(base, ast.Name) and base.id in classes:
                out.update(members(base.id))
        for f in node.body:
            if isinstance(f, ast.FunctionDef) and not f.name.startswith("_"):
                is_property = any(isinstance(d, ast.Name) and d.id == "property"
                                  for d in f.decorator_list)
                out[f.name if is_property else f"{f.name}()"] = ast.unparse(f.returns)
        return out

    return {f"{cls}.{member}": ann
            for cls in ("Core", "StepStatus", "AccessStatus", "SyncStatus", "BufferStatus")
            for member, ann in members(cls).items()}


def test_every_property_and_result_has_the_stubs_type(tmp_path):
    script = tmp_path / "types.py"
    script.write_text(TYPES_SCRIPT)
    done = run_mpi(2, [script])
    assert done.returncode == 0, done.stdout + done.stderr
    seen = last_json_line(done.stdout)
    stub = _stub_results()
    assert set(stub) == set(seen)
    for name, described in seen.items():
        expected = stub[name].replace("dict[str, Any]", "dict")
        assert expected in ("Any", described), (name, described, stub[name])


# ------------------------------------------------------------ user scripts

NAMES = ("App, NumpyApp, Core, StepStatus, AccessStatus, SyncStatus, BufferStatus, "
         "BraidError, split_commworld, CALLERS, BRAID_LIBRARY, UPSTREAM_SEMANTICS")

PRELUDE = """\
from typing import Any

import numpy as np
import numpy.typing as npt
from mpi4py import MPI

from {module} import ({names})

Vector = npt.NDArray[np.float64]


class Decay(NumpyApp):
    \"\"\"u' = -u by backward Euler, and what the statuses said.\"\"\"
    vector_shape = (2,)

    def __init__(self) -> None:
        self.points: list[tuple[float, int, str]] = []
        self.syncs: list[tuple[int, int, int]] = []

    def init(self, t: float) -> Vector:
        return np.ones(2) if t == 0.0 else np.zeros(2)

    def step(self, ustop: Vector, fstop: Vector | None, u: Vector, status: StepStatus) -> None:
        ilower, iupper = status.tiul(status.level)
        assert ilower <= status.tindex <= iupper and status.tol > 0.0
        history: Vector = status.rnorms
        assert history.shape == (status.iter + 1,)
        u /= 1.0 + (status.tstop - status.tstart)

    def access(self, u: Vector, status: AccessStatus) -> None:
        if status.done and status.residual >= 0.0:
            self.points.append((status.t, status.tindex, CALLERS[status.calling_function]))

    def sync(self, status: SyncStatus) -> None:
        ilower, iupper = status.tiul(0)
        self.syncs.append((status.iter, status.nlevels, status.proc(0, ilower)))


class Scalar(App):
    \"\"\"A plain app: its vectors are one-element lists.\"\"\"

    def init(self, t: float) -> list[float]:
        return [1.0]

    def step(self, ustop: Any, fstop: Any, u: list[float], status: StepStatus) -> None:
        u[0] *= 0.5

    def clone(self, u: list[float]) -> list[float]:
        return list(u)

    def sum(self, alpha: float, x: list[float], beta: float, y: list[float]) -> None:
        y[0] = alpha * x[0] + beta * y[0]

    def spatialnorm(self, u: list[float]) -> float:
        return abs(u[0])

    def bufsize(self, status: BufferStatus) -> int:
        return 8

    def bufpack(self, u: list[float], buffer: memoryview, status: BufferStatus) -> None:
        buffer.cast("d")[0] = u[0]
        status.set_size(8)

    def bufunpack(self, buffer: memoryview, status: BufferStatus) -> list[float]:
        return [buffer.cast("d")[0]]
"""

GOOD = PRELUDE + """

def solve() -> dict[str, Any]:
    app = Decay()
    comm_x, comm_t = split_commworld(MPI.COMM_WORLD, 1)
    with Core(app, comm_t, tstart=0.0, tstop=2.0, ntime=8, comm_world=MPI.COMM_WORLD,
              max_levels=2, cfactor={-1: 2, 0: 4}, cwt=np.float64(1.0), abs_tol=1e-12,
              skip=False, print_level=0) as core:
        core.set_nrelax(1)
        core.set_time_grid(np.linspace(0.0, 2.0, 9))
        core.drive()
        rnorms: Vector = core.rnorms
        options: dict[str, Any] = core.options
        result = {"niter": core.niter, "nlevels": core.nlevels, "myid": core.myid,
                  "last": float(rnorms[-1]), "cfactor": options["cfactor"][0],
                  "points": len(app.points), "syncs": len(app.syncs),
                  "ntime": core.ntime, "tstop": core.tstop, "library": BRAID_LIBRARY,
                  "upstream": UPSTREAM_SEMANTICS}
    with Core(Scalar(), MPI.COMM_SELF, ntime=4, print_level=0) as scalar:
        scalar.drive()
    try:
        scalar.drive()
    except (BraidError, RuntimeError) as e:
        result["after_destroy"] = type(e).__name__
    return result


if __name__ == "__main__":
    import json
    print(json.dumps(solve()))
"""

# Wrong uses, each with the mypy error code it must draw on the line marked "# E".
BAD = {
    "ntime_not_a_number": ('Core(Decay(), ntime="ten")  # E', "arg-type"),
    "tstart_is_keyword_only": ("Core(Decay(), MPI.COMM_WORLD, 0.0, ntime=4)  # E", "call-arg"),
    "cfactor_list": ("Core(Decay(), ntime=4).set_cfactor([2, 4])  # E", "arg-type"),
    "niter_read_only": ("Core(Decay(), ntime=4).niter = 3  # E", "misc"),
    "rnorms_an_array": ("r: list[float] = Core(Decay(), ntime=4).rnorms  # E", "assignment"),
    "not_an_app": ("Core(object(), ntime=4)  # E", "arg-type"),
    "tiul_needs_a_level": ("""
        def step(status: StepStatus) -> None:
            status.tiul()  # E""", "call-arg"),
    "sync_status_has_no_tindex": ("""
        def sync(status: SyncStatus) -> None:
            print(status.tindex)  # E""", "attr-defined"),
    "step_returns_none": ("""
        class Returns(NumpyApp):
            def step(self, ustop: Vector, fstop: Vector | None, u: Vector,  # E
                     status: StepStatus) -> Vector:
                return u""", "override"),
}

_ERROR = re.compile(r"^(?P<file>[^:]+\.py):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")


def _mypy(scripts, where, env):
    """mypy --strict over {name: source}: {name: {(line, code)}} of its errors."""
    for name, source in scripts.items():
        (where / f"{name}.py").write_text(source)
    done = _run(["mypy", "--strict", "--config-file", "mypy.ini",
                 *[f"{name}.py" for name in scripts]], where, env)
    errors = {name: set() for name in scripts}
    for line in done.stdout.splitlines():
        m = _ERROR.match(line)
        if m:
            errors[m["file"][:-3]].add((int(m["line"]), m["code"]))
        else:
            assert ": note: " in line or line.startswith(("Found ", "Success")), done.stdout
    assert done.returncode == (1 if any(errors.values()) else 0), done.stdout + done.stderr
    return errors, done.stdout


def _fill(source, module):
    return source.replace("{module}", module).replace("{names}", NAMES)


def _scripts(module):
    prelude = _fill(PRELUDE, module)
    scripts = {"good": _fill(GOOD, module)}
    expected = {"good": set()}
    for name, (code, error) in BAD.items():
        source = prelude + "\n" + textwrap.dedent(code).strip("\n") + "\n"
        lines = source.splitlines()
        marked = next(i for i, line in enumerate(lines, 1) if line.endswith("# E"))
        scripts[f"bad_{name}"] = source
        expected[f"bad_{name}"] = {(marked, error)}
    return scripts, expected


def test_mypy_passes_a_correct_script_and_fails_each_wrong_call(mypy_env):
    where, env = mypy_env
    scripts, expected = _scripts("pyxbraid._braid")
    errors, output = _mypy(scripts, where, env)
    assert errors == expected, output


def test_the_correct_script_runs(mypy_env):
    # what the script type-checks also works: the stub describes the runtime
    where, env = mypy_env
    (where / "run_good.py").write_text(_fill(GOOD, EXTENSION.__name__))
    done = subprocess.run([sys.executable, "run_good.py"], cwd=where, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["niter"] >= 1 and result["nlevels"] == 2 and result["last"] <= 1e-12
    assert result["cfactor"] == 4 and result["points"] == 9 and result["syncs"] >= 1
    assert (result["myid"], result["ntime"], result["tstop"]) == (0, 8, 2.0)
    assert result["after_destroy"] == "RuntimeError"
    assert result["library"] == pyxbraid.BRAID_LIBRARY == EXTENSION.BRAID_LIBRARY


def test_mypy_sees_the_names_pyxbraid_exports_as_the_stubs_classes(mypy_env):
    where, env = mypy_env
    scripts, expected = _scripts("pyxbraid")
    errors, output = _mypy({"public_good": scripts["good"]}, where, env)
    assert errors == {"public_good": set()}, output
