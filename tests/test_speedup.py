"""The cycle replay behind the model speed-up, checked against the steps the
braid core really takes (the reference counts, and an F-cycle run)."""
import pytest

from conftest import load_example, load_reference
from pyxbraid.train.speedup import critical_path, hierarchy, replay_cycle

dahlquist = load_example("dahlquist")
DahlquistPython, solve = dahlquist.DahlquistPython, dahlquist.solve
RUNS = load_reference()["runs"]


def total_steps(ntime, nlevels, niter, cf=2, nu=1, fmg=False, skip=True):
    """Every step the core takes, from the same replay with whole-level costs."""
    points, factors = hierarchy(ntime, nlevels, cf)
    coarsest = nlevels - 1
    cpoints = [g // m for g, m in zip(points, factors)]
    steps = replay_cycle(
        nlevels, niter,
        relax=lambda l: nu * points[l],
        restrict=lambda l: (points[l] - cpoints[l]) + cpoints[l] + points[l + 1],
        interpolate=lambda l: points[l] if l == coarsest else points[l] - cpoints[l],
        fmg=fmg, skip=skip)
    return steps + points[0] - cpoints[0]


@pytest.mark.parametrize("name", [n for n in sorted(RUNS) if RUNS[n]["nlevels"] > 1])
def test_replay_matches_the_reference_step_counts(name):
    run = RUNS[name]
    o = run["opts"]
    assert total_steps(int(o["ntime"]), run["nlevels"], run["niter"], int(o.get("cf", 2)),
                       int(o.get("nu", 1)), skip=bool(int(o.get("skip", 1)))) \
        == run["counts_np1"]["step"]


@pytest.mark.parametrize("fmg, skip", [(True, True), (True, False), (False, True)])
def test_replay_matches_the_core_with_f_cycles(fmg, skip):
    class Counting(DahlquistPython):
        steps = 0

        def step(self, *args):
            self.steps += 1
            super().step(*args)

    app = Counting()
    core = solve(app, ntime=64, ml=3, tol=1e-10, fmg=fmg, skip=skip)
    assert total_steps(64, core.nlevels, core.niter, fmg=fmg, skip=skip) == app.steps


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
    # one rank per coarse interval is the default
    assert critical_path(1024, 5, 3, cfactor=4, nranks=256) == critical_path(1024, 5, 3,
                                                                           cfactor=4)
    # fewer ranks, longer path; one rank does at least the serial work
    paths = [critical_path(1024, 5, 3, cfactor=4, nranks=p) for p in (1, 16, 64, 256)]
    assert paths == sorted(paths, reverse=True)
    assert paths[0] > 1024


def test_layer_parallel_speedup():
    from pyxbraid.train.speedup import layer_parallel_speedup
    # forward and adjoint solves plus a rank's share of the 1024 layer gradients
    path = critical_path(1024, 5, 2, cfactor=4, skip=False, nranks=64) + \
        critical_path(1024, 5, 1, cfactor=4, skip=False, nranks=64) + 16
    assert layer_parallel_speedup(1024, 5, 2, 1, cfactor=4, nranks=64) == 3 * 1024 / path
    assert layer_parallel_speedup(1024, 5, 2, 1, cfactor=4, nranks=64) > 8  # issue 5's goal
