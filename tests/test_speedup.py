"""The cycle replay behind the model speed-up, checked against what the braid
core really does (the order of its actions, the steps it takes, XBraid's
reference counts) and against critical paths worked out by hand."""
import itertools

import pytest

import pyxbraid
from conftest import load_example, load_reference
from pyxbraid.train.speedup import critical_path, hierarchy, layer_parallel_speedup, replay_cycle

dahlquist = load_example("dahlquist")
RUNS = load_reference()["runs"]

# the action of the cycle a step belongs to, by the routine that called it
# (a restriction's last steps compute the coarse right-hand side, one level down)
ACTIONS = {"FCRelax": ("relax", 0), "FRestrict": ("restrict", 0),
           "FASResidual": ("restrict", 0), "Residual": ("restrict", -1),
           "FInterp": ("interpolate", 0), "FAccess": ("access", 0)}


class Recording(dahlquist.DahlquistPython):
    """Counts the steps and records (action, level) of each, and the last
    index each level steps into."""

    def __init__(self):
        super().__init__()
        self.actions, self.last_index = [], {}

    def step(self, ustop, fstop, u, status):
        action, shift = ACTIONS[pyxbraid.CALLERS[status.calling_function]]
        self.actions.append((action, status.level + shift))
        self.last_index[status.level] = max(self.last_index.get(status.level, 0),
                                            status.tindex + 1)
        super().step(ustop, fstop, u, status)


CYCLES = [dict(), dict(skip=False), dict(fmg=True), dict(fmg=True, skip=False),
          dict(fmg=True, nfmg=1), dict(fmg=True, nfmg_vcyc=2)]


def test_hierarchy():
    assert hierarchy(1000, 5) == ([1000, 500, 250, 125, 62], [2, 2, 2, 2])
    assert hierarchy(100, 3, {0: 4, -1: 3}) == ([100, 25, 8], [4, 3])
    assert hierarchy(7, 1) == ([7], [])


@pytest.mark.parametrize("ntime, ml, cf", [(64, 4, 2), (100, 3, 3)])
def test_hierarchy_is_the_cores(ntime, ml, cf):
    app = Recording()
    core = dahlquist.solve(app, ntime=ntime, ml=ml, cf=cf, tol=1e-10)
    points, _ = hierarchy(ntime, core.nlevels, cf)
    assert points == [app.last_index[level] for level in range(core.nlevels)]


@pytest.mark.parametrize("options", CYCLES)
def test_replay_takes_the_cores_actions_in_order(options):
    app = Recording()
    core = dahlquist.solve(app, ntime=64, ml=4, tol=1e-10, **options)
    taken = [action for action, _ in itertools.groupby(app.actions)]
    assert taken[-1] == ("access", 0)      # the final F-sweep, after the cycles

    replayed = []

    def record(action):
        def cost(level):
            replayed.append((action, level))
            return 0
        return cost

    replay_cycle(core.nlevels, core.niter, record("relax"), record("restrict"),
                 record("interpolate"), **options)
    assert replayed == taken[:-1]


def divides_every_level(ntime, nlevels, cf):
    """Whether cf divides the points of every level above the coarsest: then
    one rank's share of C-points, which the model rounds up, is exact."""
    points, _ = hierarchy(ntime, nlevels, cf)
    return all(g % cf == 0 for g in points[:-1])


EXACT_RUNS = sorted(n for n, r in RUNS.items()
                    if divides_every_level(int(r["opts"]["ntime"]), r["nlevels"],
                                           int(r["opts"].get("cf", 2))))


def test_runs_with_exact_shares():
    assert EXACT_RUNS == ["A0_n10_ml2_stepform0", "A_n10_ml2", "B_n100_ml2",
                          "C_n1000_ml3_cf2", "X_n1000_ml1", "Y_n16_ml3_sol"]


@pytest.mark.parametrize("name", EXACT_RUNS)
def test_one_ranks_critical_path_is_every_step_of_the_reference(name):
    run = RUNS[name]
    o = run["opts"]
    path = critical_path(int(o["ntime"]), run["nlevels"], run["niter"],
                         cfactor=int(o.get("cf", 2)), nrelax=int(o.get("nu", 1)),
                         skip=bool(int(o.get("skip", 1))), nranks=1)
    assert path == run["counts_np1"]["step"]


@pytest.mark.parametrize("options", CYCLES + [dict(ntime=1024, ml=5, cf=4, max_iter=3),
                                              dict(nu=2), dict(ntime=81, cf=3, nu=0)])
def test_one_ranks_critical_path_is_every_step_the_core_takes(options):
    options = dict(dict(ntime=64, ml=3, cf=2, nu=1), **options)
    app = Recording()
    core = dahlquist.solve(app, tol=1e-10, **options)
    cycle = {k: v for k, v in options.items() if k in ("fmg", "nfmg", "nfmg_vcyc", "skip")}
    assert divides_every_level(options["ntime"], core.nlevels, options["cf"])
    assert critical_path(options["ntime"], core.nlevels, core.niter, cfactor=options["cf"],
                         nrelax=options["nu"], nranks=1, **cycle) == len(app.actions)


def test_critical_path_model():
    # two levels, N = 1024, m = 2: per iteration an F-C sweep (2), restriction
    # (F 1 + residual 1 + coarse rhs 1) and a coarse solve of 512; iteration 0
    # is the coarse solve alone; the final F-sweep 1
    assert critical_path(1024, 2, 5) == 512 + 4 * (2 + 3 + 512) + 1
    # more levels shorten the coarse solve: speed-up grows with N
    fast = critical_path(25600, 12, 10)
    assert 25600 / fast > 10 * 25600 / critical_path(25600, 2, 10)
    assert critical_path(100, 1, 0) == 100


def test_critical_path_with_a_given_number_of_ranks():
    # N = 1024, m = 4, 5 levels (1024, 256, 64, 16, 4), one rank per coarse
    # interval (256, the default): a sweep of levels 0-3 costs 4 (m), a rank's
    # C-points 1.  A V-cycle: relaxation 4 x 4, restriction 4 x (4 + 1),
    # interpolation 4 (the coarsest, sequential) + 3 x (4 - 1) = 49; iteration
    # 0 (skipped) only interpolates (13); the final F-sweep 4 - 1.
    assert critical_path(1024, 5, 3, cfactor=4) == 13 + 2 * 49 + 3
    assert critical_path(1024, 5, 3, cfactor=4, nranks=256) == 13 + 2 * 49 + 3
    # fewer ranks, longer path; one rank does at least the serial work
    paths = [critical_path(1024, 5, 3, cfactor=4, nranks=p) for p in (1, 16, 64, 256)]
    assert paths == sorted(paths, reverse=True)
    assert paths[0] > 1024


def test_layer_parallel_speedup():
    # N = 1024, m = 4, 5 levels, 64 ranks (16 layers each), no skipped cycle.
    # Sweeps: 16 on level 0, 4 (m) below; a rank's C-points: 4 on level 0, 1
    # below.  A V-cycle: relaxation 16 + 3 x 4 = 28, restriction 20 + 3 x 5 =
    # 35, interpolation 4 + 3 x 3 = 13, so 76; the final F-sweep 16 - 4 = 12.
    # Forward (2 cycles) 164, adjoint (1) 88, a rank's 16 layer gradients.
    # Serial: 1024 forward steps, 1024 adjoint steps, 1024 gradients.
    speedup = layer_parallel_speedup(1024, 5, 2, 1, cfactor=4, nranks=64)
    assert speedup == pytest.approx(3 * 1024 / (164 + 88 + 16), rel=1e-15)
    assert speedup > 8  # issue 5's goal


def test_layer_parallel_speedup_of_an_adjoint_with_its_own_settings():
    # the forward as above (2 cycles, 164); the adjoint on 2 levels (1024,
    # 256) with m = 4 and F-relaxation: a cycle is relaxation 0, restriction
    # 16 + 4 = 20, the coarsest level's sequential 256, so 276; the final
    # F-sweep 12.  The layer gradients 16, on the forward's 64 ranks.
    speedup = layer_parallel_speedup(1024, 5, 2, 1, cfactor=4, nranks=64, adjoint_nlevels=2,
                                     adjoint_nrelax=0)
    assert speedup == pytest.approx(3 * 1024 / (164 + 276 + 12 + 16), rel=1e-15)
    # the adjoint's settings default to the forward's
    assert layer_parallel_speedup(1024, 5, 2, 1, cfactor=4, nranks=64, adjoint_nlevels=5,
                                  adjoint_cfactor=4, adjoint_nrelax=1) == \
        layer_parallel_speedup(1024, 5, 2, 1, cfactor=4, nranks=64)
    # the default rank count is the forward's coarse intervals: a coarser
    # adjoint does not change it
    assert layer_parallel_speedup(1024, 5, 2, 1, cfactor=4, adjoint_cfactor=8) == \
        layer_parallel_speedup(1024, 5, 2, 1, cfactor=4, nranks=256, adjoint_cfactor=8)
