"""Every getter of Core and of the statuses, checked against a fact known
without it: the options a solve was given, the hierarchy worked out by hand,
the points a rank's callbacks are shown, the statistics block of XBraid."""
import re

import pytest

import pyxbraid
from conftest import ROOT, last_json_line, load_example, run_mpi

dahlquist = load_example("dahlquist")
CORE_RANGES = ROOT / "tests" / "scripts" / "core_ranges.py"
NTIME, ML = 16, 3          # levels of 16, 8 and 4 steps (cfactor 2)


class Recording(dahlquist.DahlquistPython):
    """Keeps what every step, access and sync status says, in call order."""

    def __init__(self):
        super().__init__()
        self.events = []

    def step(self, ustop, fstop, u, status):
        self.events.append(dict(
            kind="step", caller=pyxbraid.CALLERS[status.calling_function], level=status.level,
            tindex=status.tindex, t=status.t, iter=status.iter, done=status.done,
            ntime=status.ntime, tol=status.tol, rnorms=status.rnorms.tolist()))
        super().step(ustop, fstop, u, status)

    def access(self, u, status):
        self.events.append(dict(
            kind="access", caller=pyxbraid.CALLERS[status.calling_function],
            level=status.level, tindex=status.tindex, iter=status.iter, done=status.done,
            nlevels=status.nlevels, ntime=status.ntime,
            cfactors=[status.cfactor(level) for level in range(status.nlevels)]))

    def sync(self, status):
        self.events.append(dict(
            kind="sync", caller=pyxbraid.CALLERS[status.calling_function], level=status.level,
            iter=status.iter, done=status.done, nlevels=status.nlevels, ntime=status.ntime,
            tiul=[status.tiul(level) for level in range(status.nlevels)],
            owners=[status.proc(level, i) for level in range(status.nlevels)
                    for i in range(NTIME // 2 ** level + 1)]))

    def of_kind(self, kind):
        return [e for e in self.events if e["kind"] == kind]


def recorded_solve(**options):
    app = Recording()
    core = dahlquist.solve(app, ntime=NTIME, ml=ML, tol=1e-10, **options)
    return app, core


# ------------------------------------------------------------------- Core

@pytest.mark.parametrize("ntime, ml, cf, min_coarse, levels", [
    (1000, 30, 2, 2, 9),     # 1000 500 250 125 62 31 15 7 3: 3 // 2 < min_coarse
    (1000, 30, 4, 2, 5),     # 1000 250 62 15 3
    (1000, 3, 2, 2, 3),      # max_levels
    (64, 10, 2, 10, 3),      # 64 32 16: 8 < min_coarse
    (10, 5, 2, 2, 3),        # 10 5 2
    (2, 2, 2, 2, 1),         # ntime <= min_coarse: one level
])
def test_nlevels_is_the_hierarchy(ntime, ml, cf, min_coarse, levels):
    core = dahlquist.solve(dahlquist.DahlquistNumpy(), ntime=ntime, ml=ml, cf=cf,
                           min_coarse=min_coarse)
    assert core.nlevels == levels


def test_attributes_are_the_arguments_and_read_only():
    from mpi4py import MPI
    app, comm = dahlquist.DahlquistNumpy(), MPI.COMM_WORLD.Dup()
    try:
        core = pyxbraid.Core(app, comm, tstart=1.0, tstop=3.0, ntime=8, print_level=0)
        assert (core.app, core.comm, core.comm_world) == (app, comm, comm)
        assert (core.tstart, core.tstop, core.ntime) == (1.0, 3.0, 8)
        world = pyxbraid.Core(app, comm, ntime=8, comm_world=MPI.COMM_WORLD)
        assert world.comm_world is MPI.COMM_WORLD and world.comm is comm
        for name in ("app", "comm", "comm_world", "tstart", "tstop", "ntime"):
            with pytest.raises(AttributeError):
                setattr(core, name, None)
    finally:
        comm.Free()


PRINT_STATS = """
import numpy as np
import pyxbraid

class Decay(pyxbraid.NumpyApp):
    def init(self, t):
        return np.ones(1) if t == 0.0 else np.zeros(1)

    def step(self, ustop, fstop, u, status):
        u /= 1.0 + (status.tstop - status.tstart)
        if fstop is not None:
            u += fstop

core = pyxbraid.Core(Decay(), tstart=0.0, tstop=32.0, ntime=64, max_levels=3, cfactor=4,
                     nrelax=2, abs_tol=1e-20, max_iter=4, print_level=0)
core.drive()
if core.comm.rank == 0:
    print("final residual %e" % core.rnorms[-1], flush=True)
core.print_stats()
core.print_stats()
"""


@pytest.mark.parametrize("nranks", [1, 2])
def test_print_stats_prints_xbraids_statistics_once_per_call(nranks):
    out = run_mpi(nranks, ["-c", PRINT_STATS], timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    # print level 0 prints nothing itself: the two blocks are the two calls, by rank 0 alone
    assert text.count("  Braid Solver Stats:\n") == 2
    residual = re.findall(r"^final residual (\S+)$", text, re.M)
    assert len(residual) == 1
    for line in ["  start time = 0.000000e+00", "  stop time  = 3.200000e+01",
                 "  time steps = 64", "  max iterations        = 4",
                 "  iterations            = 4", f"  residual norm         = {residual[0]}",
                 "  stopping tolerance    = 1.000000e-20", "  use relative tol?     = 0",
                 "  print_level           = 0", "  max number of levels  = 3",
                 "  number of levels      = 3",
                 "  level   time-pts   cfactor   nrelax   Crelax Wt",
                 "      0        64        4        2        1.00",
                 "      1        16        4        2        1.00",
                 "      2         4  "]:
        assert text.count(line + "\n") == 2, line


@pytest.fixture(scope="module")
def ranges():
    """What each of 4 ranks sees (tests/scripts/core_ranges.py): ntime 30
    (8, 8, 8, 7 points), 9 (time rank 2 holds no point of level 2) and 2
    (3 points: time rank 3 holds none)."""
    out = run_mpi(4, [CORE_RANGES, 30, 9, 2], timeout=120)
    assert out.returncode == 0, out.stderr
    return {int(ntime): ranks for ntime, ranks in last_json_line(out.stdout).items()}


def owned(ranks, rank, level):
    """The points of `level` a rank steps into, with index 0 (never stepped
    into) on rank 0: the points it holds."""
    points = set(ranks[rank]["stepped"].get(str(level), []))
    return points | {0} if rank == 0 else points


def test_myid_is_the_rank_in_the_time_communicator(ranges):
    # the script's time communicator reverses COMM_WORLD
    for ranks in ranges.values():
        assert [r["myid"] for r in ranks] == [0, 1, 2, 3]
        assert [r["world_rank"] for r in ranks] == [3, 2, 1, 0]


def test_points_held_are_the_points_accessed(ranges):
    for ranks in ranges.values():
        for rank, record in enumerate(ranks):
            assert owned(ranks, rank, 0) == set(record["accessed"])


def test_step_and_sync_tiul_are_the_points_a_rank_holds(ranges):
    empty = 0
    for ranks in ranges.values():
        for rank, record in enumerate(ranks):
            for level in range(record["nlevels"]):
                lower, upper = record["sync_tiul"][level]
                assert set(range(lower, upper + 1)) == owned(ranks, rank, level)
                empty += lower > upper
                if record["step_tiul"] is not None:   # None: the rank never steps
                    assert record["step_tiul"][level] == [lower, upper]
    assert empty == 2   # ntime 9, level 2, rank 2; ntime 2, rank 3


def test_sync_proc_is_the_owner_of_each_point(ranges):
    for ntime, ranks in ranges.items():
        for level in range(ranks[0]["nlevels"]):
            holder = {i: rank for rank in range(4) for i in owned(ranks, rank, level)}
            assert sorted(holder) == list(range(ntime // 2 ** level + 1))
            for record in ranks:
                assert record["owners"][level] == [holder[i] for i in sorted(holder)]


def test_buffer_status_names_the_point_sent(ranges):
    for ranks in ranges.values():
        sent, received = set(), set()
        for rank, record in enumerate(ranks):
            for what, tindex, level, message_type in record["messages"]:
                assert message_type == 0     # a step's message (not load balancing)
                points = owned(ranks, rank, level)
                if what == "pack":           # my last point, to the right
                    assert tindex == max(points)
                    sent.add((tindex, level))
                else:                        # the point left of my first
                    assert tindex == min(points) - 1
                    received.add((tindex, level))
        assert sent == received
    assert {level for _, _, level, _ in ranges[30][1]["messages"]} == {0, 1, 2}


# ------------------------------------------------------------ StepStatus

@pytest.mark.parametrize("option, value", [("abs_tol", 1e-7), ("rel_tol", 1e-5)])
def test_step_status_tol_is_the_tolerance_given(option, value):
    app = Recording()
    pyxbraid.Core(app, ntime=NTIME, max_levels=ML, print_level=0, **{option: value}).drive()
    assert {e["tol"] for e in app.of_kind("step")} == {value}


def test_step_status_t_ntime_and_done():
    app, core = recorded_solve()
    steps = app.of_kind("step")
    # dt = 0.5 on level 0, doubled per level (cfactor 2): exact in binary
    assert all(e["t"] == e["tindex"] * 0.5 * 2 ** e["level"] for e in steps)
    assert {e["ntime"] for e in steps} == {NTIME}
    # done only in the final sweep, after the last iteration
    final = [e for e in steps if e["done"]]
    assert final and all(e["iter"] == core.niter and e["caller"] == "FAccess" for e in final)
    assert all(e["iter"] < core.niter for e in steps if not e["done"])


def test_step_status_rnorms_is_the_history_so_far():
    """r_k is measured by iteration k's restriction from level 0 (its last
    steps are the coarse right-hand side's, on level 1); -1 until then."""
    app, core = recorded_solve()
    history = core.rnorms.tolist()
    assert history[0] == -1.0 and all(r >= 0 for r in history[1:])
    before = 0
    for e in app.of_kind("step"):
        k = e["iter"]
        if e["done"]:
            assert e["rnorms"] == history                       # niter + 1 entries
        elif (e["level"], e["caller"]) in {(0, "FCRelax"), (0, "FRestrict"),
                                           (0, "FASResidual"), (1, "Residual")}:
            assert e["rnorms"] == history[:k] + [-1.0]
            before += 1
        else:
            assert e["rnorms"] == history[:k + 1]
    assert before > 0


# ----------------------------------------------------------- AccessStatus

def test_access_status_getters():
    app, core = recorded_solve(access_level=2)
    accesses = app.of_kind("access")
    assert {e["nlevels"] for e in accesses} == {3}
    assert {e["ntime"] for e in accesses} == {NTIME}
    assert {tuple(e["cfactors"]) for e in accesses} == {(2, 2, -1)}   # -1: the coarsest
    # access level 2: every point at the top of each cycle, then the final
    # sweep; both are FAccess sweeps on level 0
    top = [e for e in accesses if not e["done"]]
    final = [e for e in accesses if e["done"]]
    assert {e["caller"] for e in accesses} == {"FAccess"}
    assert sorted((e["iter"], e["tindex"]) for e in top) == [
        (k, i) for k in range(core.niter) for i in range(NTIME + 1)]
    assert sorted(e["tindex"] for e in final) == list(range(NTIME + 1))
    assert {e["level"] for e in accesses} == {0}


def test_access_status_in_a_sweep_shows_the_point_just_stepped():
    """Access level 3 also shows the points inside relaxation, restriction and
    interpolation, on every level: each right after the step into it."""
    app, _ = recorded_solve(access_level=3)
    previous, callers = None, set()
    for e in app.events:
        if e["kind"] == "access" and e["caller"] != "FAccess" and e["tindex"] > 0:
            callers.add(e["caller"])
            assert previous["kind"] == "step"
            assert (e["level"], e["tindex"]) == (previous["level"], previous["tindex"] + 1)
        previous = e
    assert callers == {"FCRelax", "FRestrict", "FInterp"}


# ------------------------------------------------------------- SyncStatus

def test_sync_status_getters():
    app, core = recorded_solve()
    syncs = app.of_kind("sync")
    assert [(e["caller"], e["iter"]) for e in syncs] == [("Drive_AfterInit", 0)] + [
        ("Drive_TopCycle", k) for k in range(core.niter)]
    for e in syncs:
        assert (e["nlevels"], e["ntime"], e["done"]) == (3, NTIME, False)
        assert e["tiul"] == [(0, 16), (0, 8), (0, 4)]          # one rank holds all
        assert set(e["owners"]) == {0}


def test_sync_status_level_is_0_after_init_and_at_the_top_of_the_cycle():
    app, _ = recorded_solve()
    assert {e["level"] for e in app.of_kind("sync")} == {0}
