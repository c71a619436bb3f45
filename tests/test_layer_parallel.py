"""Layer-parallel ResNet training (Günther et al. 2018): forward and adjoint
MGRIT over the layers give serial backprop's gradient; one-shot training
follows serial training; the solver does not slow down with depth."""
import numpy as np
import pytest
from mpi4py import MPI

import pyxbraid.nn.resnet
from conftest import ROOT, last_json_line, run_mpi
from pyxbraid.data import peaks
from pyxbraid.nn import ResNet
from pyxbraid.train.layer_parallel import LayerParallel, Serial, block_range, reversed_comm
from pyxbraid.train.loop import train
from pyxbraid.train.optim import LBFGS, SGD, Adam, make_optimizer

SCRIPT = ROOT / "tests" / "scripts" / "layer_parallel_run.py"
CORE_RANGES = ROOT / "tests" / "scripts" / "core_ranges.py"


def peaks_net(n_layers=30, width=8, **kw):
    return ResNet(2, width, n_layers, 5, T=1.0, activation="smooth_relu", **kw)


def exact_gradient():
    """Gradient of a 30-layer net (31 points: no rank count of 2..4 divides it)."""
    data, _ = peaks(200, 10, seed=1)
    net = peaks_net(30, gamma_t=1e-3, gamma_d=1e-3)
    theta = net.init_params(np.random.default_rng(2))
    solver = LayerParallel(net, mode="exact", tol=1e-12, max_levels=4)
    loss, grad = solver.objective(theta, data.x, data.y)
    serial_loss, serial_grad = Serial(net).objective(theta, data.x, data.y)
    return dict(loss=loss, grad=grad, serial_loss=serial_loss, serial_grad=serial_grad)


def one_shot_training():
    """200 Adam steps on peaks (1000 points, N = 32): one-shot and serial."""
    data, validation = peaks(1000, 200, seed=0)
    net = peaks_net(32, gamma_t=1e-4, gamma_d=1e-4)
    theta0 = net.init_params(np.random.default_rng(0))
    result = {}
    for name, objective in (("serial", Serial(net)),
                            ("one_shot", LayerParallel(net, mode="one-shot", max_levels=2))):
        theta = train(objective, Adam(0.01), theta0, data, 200)
        result[name] = theta
        result[name + "_accuracy"] = net.accuracy(theta, validation.x, validation.y)
    return result


def reversed_comm_lifetime():
    """A duplicate of COMM_WORLD and its reversed communicator are freed
    together; a later duplicate (MPI may give it the freed one's handle) gets
    a fresh one; gradients on either equal those on COMM_WORLD.  Each
    finding holds on every rank."""
    world = MPI.COMM_WORLD
    data, _ = peaks(60, 10, seed=1)
    net = peaks_net(12)
    theta = net.init_params(np.random.default_rng(2))

    def gradient(comm):
        return LayerParallel(net, comm, tol=1e-12, max_levels=3).objective(theta, data.x,
                                                                            data.y)[1]

    reference = gradient(world)
    first = world.Dup()
    first_reversed = reversed_comm(first)
    found = dict(cached=reversed_comm(first) is first_reversed,
                 first_identical=np.array_equal(gradient(first), reference))
    first.Free()
    found["freed_with_it"] = first_reversed == MPI.COMM_NULL
    second = world.Dup()
    second_reversed = reversed_comm(second)
    found.update(fresh=second_reversed is not first_reversed and
                 second_reversed != MPI.COMM_NULL,
                 reversed=second_reversed.rank == world.size - 1 - world.rank,
                 second_identical=np.array_equal(gradient(second), reference))
    second.Free()
    return {name: world.allreduce(bool(value), op=MPI.LAND) for name, value in found.items()}


def relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_exact_gradient_equals_serial_backprop(tmp_path):
    r = exact_gradient()
    assert relative(r["grad"], r["serial_grad"]) < 1e-9
    assert abs(r["loss"] - r["serial_loss"]) <= 1e-12 * abs(r["serial_loss"])
    for nranks in (2, 3, 4):
        out = tmp_path / f"g{nranks}.npz"
        run = run_mpi(nranks, [SCRIPT, "gradient", out], timeout=120)
        assert run.returncode == 0, run.stderr
        r = np.load(out)
        assert relative(r["grad"], r["serial_grad"]) < 1e-9, nranks


def test_one_shot_follows_serial_training_on_peaks(tmp_path):
    r = one_shot_training()
    assert r["serial_accuracy"] > 0.8  # the problem is learnt at all
    assert abs(r["one_shot_accuracy"] - r["serial_accuracy"]) <= 0.02
    out = tmp_path / "train2.npz"
    run = run_mpi(2, [SCRIPT, "train", out], timeout=300)
    assert run.returncode == 0, run.stderr
    two = np.load(out)
    assert relative(two["one_shot"], r["one_shot"]) < 1e-10  # 1 and 2 ranks: round-off
    # round-off may move a point on the decision boundary, no more
    assert abs(two["one_shot_accuracy"] - r["one_shot_accuracy"]) <= 0.01


def test_forward_convergence_does_not_degrade_with_depth():
    data, _ = peaks(128, 10, seed=0)
    factors, iterations = [], []
    for n_layers in (64, 256, 1024):
        net = ResNet(2, 8, n_layers, 5, T=1.0, activation="tanh")
        theta = net.init_params(np.random.default_rng(0))
        solver = LayerParallel(net, mode="exact", tol=1e-10)
        solver.objective(theta, data.x, data.y, need_grad=False)
        factors.append(solver.stats.forward_factor)
        iterations.append(solver.stats.forward_iterations)
    assert max(factors) < 0.1
    assert factors[2] < 2 * factors[0]
    assert iterations[2] <= iterations[0]


def test_one_shot_is_inexact_but_close():
    data, _ = peaks(300, 10, seed=0)
    net = peaks_net(32)
    theta = net.init_params(np.random.default_rng(3))
    exact = Serial(net).objective(theta, data.x, data.y)[1]
    solver = LayerParallel(net, mode="one-shot", forward_iters=1, adjoint_iters=1)
    first = relative(solver.objective(theta, data.x, data.y)[1], exact)
    second = relative(solver.objective(theta, data.x, data.y)[1], exact)  # warm start
    assert 0 < second < first < 0.5


def test_guard_falls_back_to_exact_mode():
    data, _ = peaks(100, 10, seed=0)
    net = peaks_net(16)
    solver = LayerParallel(net, mode="one-shot")

    class Diverging:
        mode, gradient_stats = "one-shot", None

        def objective(self, theta, x, y, need_grad=True):
            result = solver.objective(theta, x, y, need_grad)
            self.gradient_stats = type("S", (), {"forward_factor": 1.5})()  # pretend it diverges
            return result

    objective = Diverging()
    with pytest.warns(UserWarning, match="one-shot MGRIT diverges"):
        train(objective, SGD(0.01), net.init_params(np.random.default_rng(0)), data, 6,
              patience=3)
    assert objective.mode == "exact"


def test_relative_tolerance_stops_each_solve_relative_to_its_first_residual():
    data, _ = peaks(200, 10, seed=1)
    net = peaks_net(30, gamma_t=1e-3, gamma_d=1e-3)
    theta = net.init_params(np.random.default_rng(2))
    serial = Serial(net).objective(theta, data.x, data.y)[1]
    tol, stats = 1e-6, {}
    for tol_relative in (False, True):
        solver = LayerParallel(net, mode="exact", tol=tol, tol_relative=tol_relative,
                               max_levels=4)
        grad = solver.objective(theta, data.x, data.y)[1]
        assert relative(grad, serial) < 1e-6
        stats[tol_relative] = solver.gradient_stats
        for rnorms in (stats[tol_relative].forward_rnorms, stats[tol_relative].adjoint_rnorms):
            rnorms = rnorms[:-1]  # the last entry repeats the final residual
            bound = tol * rnorms[0] if tol_relative else tol
            assert rnorms[-1] < bound and min(rnorms[:-1]) >= bound, (tol_relative, rnorms)
    # the adjoint's first residual is about 1e-2: relative to it, the solve iterates longer
    assert stats[True].adjoint_rnorms[0] < 0.1
    assert stats[True].adjoint_iterations > stats[False].adjoint_iterations
    # one-shot solves run their iterations whatever the tolerance
    one_shot = [LayerParallel(net, mode="one-shot", tol_relative=r).objective(theta, data.x,
                                                                               data.y)[1]
                for r in (False, True)]
    np.testing.assert_array_equal(one_shot[0], one_shot[1])


def test_reversed_comm_lives_and_dies_with_its_communicator(tmp_path):
    expected = dict.fromkeys(["cached", "first_identical", "freed_with_it", "fresh", "reversed",
                              "second_identical"], True)
    assert reversed_comm_lifetime() == expected
    out = tmp_path / "reversed2.npz"
    run = run_mpi(2, [SCRIPT, "reversed", out], timeout=120)
    assert run.returncode == 0, run.stderr
    found = np.load(out)
    assert {name: bool(found[name]) for name in found.files} == expected


def test_theta_is_split_once_per_evaluation(monkeypatch):
    """Not once per layer step: the number of splits of an evaluation does
    not grow with the layers or the MGRIT iterations."""
    splits = []
    split_flat = pyxbraid.nn.resnet.split_flat
    monkeypatch.setattr(pyxbraid.nn.resnet, "split_flat",
                        lambda *args: splits.append(args[1]) or split_flat(*args))
    data, _ = peaks(50, 10, seed=0)
    counts = []
    for n_layers in (8, 32):
        net = peaks_net(n_layers, gamma_t=1e-3, gamma_d=1e-3)
        theta = net.init_params(np.random.default_rng(0))
        splits.clear()
        solver = LayerParallel(net, mode="exact", tol=1e-12, max_levels=3)
        solver.objective(theta, data.x, data.y)
        assert solver.gradient_stats.forward_iterations > 2
        counts.append(len(splits))
    assert counts[0] == counts[1] <= 6


def test_model_speedup_reads_the_options_of_the_solves():
    from pyxbraid.train.speedup import layer_parallel_speedup

    data, _ = peaks(50, 10, seed=0)
    net = peaks_net(64)
    solver = LayerParallel(net, mode="exact", tol=1e-9, max_levels=3, cfactor=4, nrelax=0)
    with pytest.raises(RuntimeError, match="no gradient has been evaluated yet"):
        solver.model_speedup()
    solver.objective(net.init_params(np.random.default_rng(0)), data.x, data.y)
    stats = solver.gradient_stats
    assert stats.forward.options["cfactor"] == {-1: 4}
    assert solver.model_speedup(8) == layer_parallel_speedup(
        64, stats.nlevels, stats.forward_iterations, stats.adjoint_iterations, cfactor=4,
        nrelax=0, nranks=8)


def adjoint_settings_problem():
    data, _ = peaks(200, 10, seed=1)
    net = peaks_net(30, gamma_t=1e-3, gamma_d=1e-3)
    theta = net.init_params(np.random.default_rng(2))
    return net, theta, data, Serial(net).objective(theta, data.x, data.y)[1]


def exact_solves(net, theta, data, **kw):
    """(gradient, SolveStats) of an exact evaluation with max_levels 3."""
    solver = LayerParallel(net, mode="exact", tol=1e-10, max_levels=3, **kw)
    grad = solver.objective(theta, data.x, data.y)[1]
    return grad, solver.gradient_stats


def test_the_adjoint_solve_takes_its_own_levels_relaxation_and_coarsening():
    net, theta, data, serial = adjoint_settings_problem()
    grad, same = exact_solves(net, theta, data)
    assert (same.forward.nlevels, same.adjoint.nlevels) == (3, 3)
    grad, two = exact_solves(net, theta, data, adjoint=dict(max_levels=2))
    assert (two.forward.nlevels, two.adjoint.nlevels) == (3, 2)
    assert (two.forward.options["max_levels"], two.adjoint.options["max_levels"]) == (3, 2)
    assert relative(grad, serial) < 1e-9
    # F-relaxation on the adjoint: one iteration more there, none on the forward
    grad, f_relax = exact_solves(net, theta, data, adjoint=dict(nrelax=0))
    assert f_relax.adjoint.options["nrelax"] == {-1: 0} and f_relax.forward.options["nrelax"] \
        == {-1: 1}
    assert f_relax.forward_iterations == same.forward_iterations
    assert f_relax.adjoint_iterations > same.adjoint_iterations
    assert relative(grad, serial) < 1e-9
    # coarsening by 4 (two levels of 31 and 8 points): fewer adjoint iterations
    grad, coarse = exact_solves(net, theta, data, adjoint=dict(cfactor=4))
    assert coarse.adjoint.options["cfactor"] == {-1: 4} and coarse.adjoint.nlevels == 2
    assert coarse.forward_iterations == same.forward_iterations
    assert coarse.adjoint_iterations < same.adjoint_iterations
    assert relative(grad, serial) < 1e-9


def test_a_looser_adjoint_tolerance_stops_the_adjoint_sooner():
    net, theta, data, serial = adjoint_settings_problem()
    tight_grad, tight = exact_solves(net, theta, data)
    for tol in (1e-5, 1e-3):
        grad, loose = exact_solves(net, theta, data, adjoint=dict(tol=tol))
        assert loose.forward_iterations == tight.forward_iterations
        assert loose.adjoint_iterations < tight.adjoint_iterations
        rnorms = loose.adjoint.rnorms[:-1]  # the last entry repeats the final residual
        assert rnorms[-1] < tol <= rnorms[-2]
        # the gradient is as good as the adjoint it came from
        assert 1e-9 < relative(grad, serial) < tol
    # relative to the adjoint's first residual, and capped by its own max_iter
    grad, capped = exact_solves(net, theta, data, adjoint=dict(tol_relative=True, tol=1e-12,
                                                                max_iter=2))
    assert capped.adjoint.options["rel_tol"] == 1e-12 and capped.adjoint_iterations == 2
    assert capped.forward.options["abs_tol"] == 1e-10
    assert capped.forward_iterations == tight.forward_iterations


@pytest.mark.skipif(not pyxbraid.STEP_BATCH, reason="the library has no batched step "
                                                    "(upstream XBraid)")
def test_the_adjoint_can_step_point_by_point_while_the_forward_batches():
    net, theta, data, serial = adjoint_settings_problem()
    calls = dict(step=0, step_batch=0, adjoint_step=0, adjoint_step_batch=0)
    for name in calls:
        method = getattr(net, name)
        setattr(net, name, lambda *a, _m=method, _n=name, **k: calls.__setitem__(
            _n, calls[_n] + 1) or _m(*a, **k))
    batched, _ = exact_solves(net, theta, data)
    both = dict(calls)
    assert both["step_batch"] and both["adjoint_step_batch"]
    calls.update(dict.fromkeys(calls, 0))
    grad, stats = exact_solves(net, theta, data, adjoint=dict(batch=False))
    assert stats.forward.options["batch"] and not stats.adjoint.options["batch"]
    assert (calls["step"], calls["step_batch"]) == (both["step"], both["step_batch"])
    assert calls["adjoint_step_batch"] == 0 and calls["adjoint_step"] > both["adjoint_step"]
    np.testing.assert_allclose(grad, batched, rtol=1e-9, atol=1e-14)
    # a forward point by point and a batched adjoint (of at most 4 rows)
    calls.update(dict.fromkeys(calls, 0))
    grad, stats = exact_solves(net, theta, data, batch=False,
                               adjoint=dict(batch=True, max_batch=4))
    assert not stats.forward.options["batch"] and stats.adjoint.options["max_batch"] == 4
    assert calls["step_batch"] == 0 and calls["adjoint_step_batch"] > both["adjoint_step_batch"]
    np.testing.assert_allclose(grad, batched, rtol=1e-9, atol=1e-14)


def test_model_speedup_reads_each_solves_options():
    from pyxbraid.train.speedup import layer_parallel_speedup

    data, _ = peaks(50, 10, seed=0)
    net = peaks_net(64)
    solver = LayerParallel(net, mode="exact", tol=1e-9, max_levels=3, cfactor=4,
                           adjoint=dict(max_levels=2, cfactor=2, nrelax=0))
    solver.objective(net.init_params(np.random.default_rng(0)), data.x, data.y)
    stats = solver.gradient_stats
    assert (stats.nlevels, stats.adjoint_nlevels) == (3, 2)
    expected = layer_parallel_speedup(64, 3, stats.forward_iterations, stats.adjoint_iterations,
                                      cfactor=4, nrelax=1, nranks=8, adjoint_nlevels=2,
                                      adjoint_cfactor=2, adjoint_nrelax=0)
    assert solver.model_speedup(8) == expected
    assert expected != layer_parallel_speedup(64, 3, stats.forward_iterations,
                                              stats.adjoint_iterations, cfactor=4, nranks=8)


def test_block_range():
    assert [block_range(31, 4, r) for r in range(4)] == [(0, 7), (8, 15), (16, 23), (24, 30)]
    assert [block_range(5, 7, r) for r in range(7)][-2:] == [(5, 4), (5, 4)]


@pytest.mark.parametrize("nranks", [3, 4])
def test_block_range_matches_the_core(nranks):
    """The fine points the core shows each rank's access callback at the end
    of a solve are block_range's: points that divide among the ranks, points
    that do not, and fewer points than ranks (ntime 2 on 4: one rank empty)."""
    ntimes = [30, 31, 2]
    run = run_mpi(nranks, [CORE_RANGES, *ntimes], timeout=120)
    assert run.returncode == 0, run.stderr
    seen = last_json_line(run.stdout)
    for ntime in ntimes:
        ranks = seen[str(ntime)]          # in the order of the time communicator
        assert len(ranks) == nranks
        for rank, record in enumerate(ranks):
            lo, hi = block_range(ntime + 1, nranks, rank)
            assert record["accessed"] == list(range(lo, hi + 1)), (ntime, rank)


def test_optimizers_minimize_a_quadratic():
    a = np.diag([1.0, 10.0])

    def objective(x, need_grad=True):
        return 0.5 * float(x @ a @ x), (a @ x if need_grad else None)

    for optimizer in (SGD(0.05, momentum=0.9), Adam(0.1), LBFGS()):
        x = np.array([3.0, -2.0])
        for _ in range(200):
            loss, grad = objective(x)
            optimizer.update(x, loss, grad, objective)
        assert np.linalg.norm(x) < 1e-3, type(optimizer).__name__


@pytest.mark.parametrize("make, match", [
    (lambda: LayerParallel(peaks_net(8), mode="two-shot"), "mode: must be one of"),
    (lambda: LayerParallel(peaks_net(8), forward_iters=0), "forward_iters"),
    (lambda: LayerParallel(peaks_net(8), rel_tol=1e-3), "rel_tol: give the tolerance as tol"),
    (lambda: LayerParallel(peaks_net(8), abs_tol=1e-3, rel_tol=1e-3),
     "abs_tol, rel_tol: give the tolerance as tol"),
    (lambda: LayerParallel(peaks_net(8), tol_relative="yes"), "tol_relative: must be True"),
    (lambda: LayerParallel(peaks_net(8), adjoint=dict(skip=True)),
     r"adjoint.skip: not a setting of a solve \(one of max_levels, "),
    (lambda: LayerParallel(peaks_net(8), adjoint=dict(rel_tol=1e-3)), "adjoint.rel_tol: not a"),
    (lambda: LayerParallel(peaks_net(8), adjoint=dict(max_iter=0)), "adjoint.max_iter: must"),
    (lambda: LayerParallel(peaks_net(8), adjoint=dict(tol_relative=1)),
     "adjoint.tol_relative: must be True or False"),
    (lambda: LayerParallel(peaks_net(8), adjoint=[("max_levels", 2)]), "adjoint: must be a dict"),
    (lambda: LayerParallel(peaks_net(8), max_iter=0), "^max_iter: must be a positive"),
    (lambda: make_optimizer("rmsprop", learning_rate=1.0), "optimizer: must be one of"),
    (lambda: Adam(-1.0), "learning_rate"),
    (lambda: SGD(0.1, momentum=1.0), "momentum"),
    (lambda: train(Serial(peaks_net(8)), SGD(0.1), np.zeros(1), peaks(10, 1)[0], 0), "steps"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
