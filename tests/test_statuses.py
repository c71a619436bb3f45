"""The status objects show each kind exactly the getters XBraid gives it
(the base getters are written once, on shared base classes), and say what
they are when printed."""
import pyxbraid
from dahlquist import DahlquistNumpy

# XBraid v3.1's typed status getters, by kind, as pyxbraid names them
XBRAID = {
    pyxbraid.StepStatus: {"t", "tstart", "tstop", "tindex", "iter", "level", "nlevels", "ntime",
                          "done", "tol", "calling_function", "rnorms", "cfactor", "tiul"},
    pyxbraid.AccessStatus: {"t", "tindex", "iter", "level", "nlevels", "ntime", "done",
                            "residual", "calling_function", "cfactor"},
    pyxbraid.SyncStatus: {"iter", "level", "nlevels", "ntime", "done", "calling_function",
                          "tiul", "proc"},
    pyxbraid.BufferStatus: {"tindex", "level", "message_type", "set_size"},
}


def test_each_kind_shows_xbraids_getters_and_no_others():
    for kind, names in XBRAID.items():
        public = {name for name in dir(kind) if not name.startswith("_")}
        assert public == names, kind.__name__


def test_repr_inside_and_outside_the_callback():
    seen = []

    class App(DahlquistNumpy):
        def step(self, ustop, fstop, u, status):
            if not seen:
                seen.append((repr(status), status))
            super().step(ustop, fstop, u, status)

    with pyxbraid.Core(App(), tstart=0.0, tstop=1.0, ntime=8, max_levels=2,
                       print_level=0) as core:
        core.drive()
    inside, status = seen[0]
    assert inside.startswith("<StepStatus t=0.0 tindex=0 level=") and "iter=" in inside
    assert repr(status) == "<StepStatus: outside its callback>"


def test_core_repr_says_what_it_solves_and_how_far():
    core = pyxbraid.Core(DahlquistNumpy(), tstart=0.0, tstop=2.0, ntime=16, max_levels=2,
                         print_level=0)
    assert repr(core) == "<Core DahlquistNumpy: ntime=16 on [0.0, 2.0], 1 rank(s), not solved>"
    core.drive()
    assert repr(core).endswith(f"niter={core.niter}, nlevels=2>")
    core.destroy()
    assert repr(core).endswith("destroyed>")


def test_levels_and_indices_must_be_ints():
    errors = []

    class App(DahlquistNumpy):
        def step(self, ustop, fstop, u, status):
            if not errors:
                for call in (lambda: status.tiul(0.5), lambda: status.cfactor(True),
                             lambda: status.cfactor("0")):
                    try:
                        call()
                    except TypeError as e:
                        errors.append(str(e))
            super().step(ustop, fstop, u, status)

    with pyxbraid.Core(App(), ntime=8, max_levels=2, print_level=0) as core:
        core.drive()
    assert len(errors) == 3 and all(e.startswith("level: expected an int") for e in errors)


def test_file_io_level_none_is_pyxbraids_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pyxbraid.Core(DahlquistNumpy(), ntime=8, max_levels=2, print_level=0,
                       file_io_level=None) as core:
        assert core.options["file_io_level"] == 0
        core.drive()
    assert not (tmp_path / "braid.out.cycle").exists()
