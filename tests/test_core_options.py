"""Core.options: what the next solve will use, defaults included; the
defaults it reports are the library's own (a solve with them given
explicitly has the same history as one with none given)."""
import numpy as np
import pytest

import pyxbraid
from dahlquist import DahlquistNumpy


def make(**options):
    options.setdefault("print_level", 0)
    return pyxbraid.Core(DahlquistNumpy(), tstart=0.0, tstop=5.0, ntime=64, **options)


STATS = {  # braid_PrintStats' line -> the option it shows
    "use seq soln?": "seq_soln", "storage": "storage", "max iterations": "max_iter",
    "use fmg?": "fmg", "access_level": "access_level", "print_level": "print_level",
    "max number of levels": "max_levels", "min coarse": "min_coarse",
    "skip down cycle": "skip", "relax_only_cg": "relax_only_cg",
    "finalFCRelax": "final_fc_relax",
}


def printed_settings(core, capfd):
    capfd.readouterr()
    core.print_stats()
    lines = capfd.readouterr().out.splitlines()
    return {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in lines) if v}


@pytest.mark.parametrize("options", [{}, {"seq_soln": True, "storage": 0, "max_iter": 7,
                                          "access_level": 0, "max_levels": 3,
                                          "min_coarse": 4, "relax_only_cg": True,
                                          "final_fc_relax": True, "abs_tol": 1e-5}])
def test_options_agree_with_the_settings_the_library_prints(options, capfd):
    """braid_PrintStats shows the core's own settings: the defaults Core.options
    reports are the library's, and the options set are the ones it used."""
    with make(**options) as core:
        reported = core.options
        core.drive()
        printed = printed_settings(core, capfd)
    for line, name in STATS.items():
        assert int(printed[line]) == int(reported[name]), name
    tol, relative = ((reported["rel_tol"], 1) if reported["abs_tol"] is None
                     else (reported["abs_tol"], 0))
    assert float(printed["stopping tolerance"]) == pytest.approx(tol, rel=1e-6)
    assert int(printed["use relative tol?"]) == relative


def test_options_report_what_was_set():
    core = make(cfactor={0: 4}, nrelax=0, abs_tol=1e-6, max_levels=3, fmg=True)
    options = core.options
    assert options["cfactor"] == {-1: 2, 0: 4}
    assert options["nrelax"] == {-1: 0}
    assert (options["abs_tol"], options["rel_tol"]) == (1e-6, None)
    assert options["max_levels"] == 3 and options["fmg"] is True
    assert options["file_io_level"] == 0 and options["skip"] is True
    core.set_rel_tol(1e-3)
    core.set_cfactor({-1: 3})
    assert (core.options["abs_tol"], core.options["rel_tol"]) == (None, 1e-3)
    assert core.options["cfactor"] == {-1: 3, 0: 4}
    core.destroy()


def test_seq_soln_reports_skip_off():
    with make(seq_soln=True) as core:
        assert core.options["skip"] is False


def test_time_grid_is_a_copy():
    grid = np.linspace(0.0, 5.0, 65) ** 1.0
    with make(time_grid=grid) as core:
        reported = core.options["time_grid"]
        np.testing.assert_array_equal(reported, grid)
        reported[0] = -1.0
        assert core.options["time_grid"][0] == 0.0


@pytest.mark.parametrize("name", ["max_levels", "skip", "print_level"])
def test_options_is_read_only(name):
    with make() as core:
        core.options[name] = 7
        assert core.options[name] != 7
