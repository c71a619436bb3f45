"""Owner-only parameters (LayerParallel(parameters="owned")): each rank keeps
its layers and the few its steps use beyond them; training gives the
weights of replicated parameters to round-off, on any number of ranks, with
less memory per rank and a traffic that does not grow with depth."""
import numpy as np
import pytest
from mpi4py import MPI

from conftest import ROOT, run_mpi
from pyxbraid.data import peaks
from pyxbraid.nn import ResNet
from pyxbraid.train.layer_parallel import LayerParallel
from pyxbraid.train.loop import train
from pyxbraid.train.optim import LBFGS, SGD, Adam

SCRIPT = ROOT / "tests" / "scripts" / "owned_run.py"

# the solves and optimizers compared: N = 13 layers (14 points: 3 and 4
# ranks get uneven blocks, and the adjoint's blocks are not the forward's)
SETTINGS = {
    "exact-adam": (dict(mode="exact", tol=1e-12, max_levels=3), lambda lp: Adam(0.02)),
    "exact-point-by-point-lbfgs": (dict(mode="exact", tol=1e-12, max_levels=4, batch=False),
                                   lambda lp: LBFGS(inner=lp.inner)),
    "one-shot-sgd-deep": (dict(mode="one-shot", max_levels=4, cfactor=2,
                               adjoint=dict(max_levels=2)), lambda lp: SGD(0.05, 0.9)),
}


def net_and_data(n_layers=13):
    data, _ = peaks(40, 10, seed=3)
    net = ResNet(2, 6, n_layers, 5, activation="tanh", gamma_t=1e-3, gamma_d=1e-2)
    return net, net.init_params(np.random.default_rng(4)), data


def owned_against_replicated():
    """Per setting: the largest difference of the weights after 20 steps,
    relative to their largest, owned against replicated (on rank 0), and
    each rank's parameter memory of both; the traffic of a gradient at two
    depths."""
    comm = MPI.COMM_WORLD
    net, theta0, data = net_and_data()
    result = {}
    for name, (settings, optimizer) in SETTINGS.items():
        weights = {}
        for parameters in ("replicated", "owned"):
            lp = LayerParallel(net, parameters=parameters, **settings)
            theta = train(lp, optimizer(lp), lp.local_parameters(theta0), data, 20,
                          batch_size=20, copy=False)
            weights[parameters] = lp.full_parameters(theta)
            result[f"{name}-{parameters}-memory"] = np.array(
                comm.gather(lp.parameter_memory(), root=0))
            result[f"{name}-{parameters}-loss"] = lp.loss(theta, data.x, data.y)
            result[f"{name}-{parameters}-accuracy"] = lp.accuracy(theta, data.x, data.y)
        if comm.rank == 0:
            replicated = weights["replicated"]
            result[f"{name}-difference"] = (np.abs(weights["owned"] - replicated).max()
                                            / np.abs(replicated).max())
            result[f"{name}-moved"] = np.abs(replicated - theta0).max()
    for n_layers in (16, 64):   # the traffic of one gradient, per rank
        net, theta0, data = net_and_data(n_layers)
        lp = LayerParallel(net, parameters="owned", mode="exact", tol=1e-10, max_levels=3)
        lp.objective(lp.local_parameters(theta0), data.x, data.y)
        result[f"traffic-{n_layers}"] = np.array(comm.gather(lp.traffic, root=0))
    return result


@pytest.mark.parametrize("nranks", [2, 3, 4])
def test_owned_parameters_train_as_replicated(nranks, tmp_path):
    out = tmp_path / "owned.npz"
    run = run_mpi(nranks, [SCRIPT, out], timeout=300)
    assert run.returncode == 0, run.stderr
    found = np.load(out)
    for name in SETTINGS:
        assert found[f"{name}-moved"] > 1e-3           # the steps changed the weights
        assert found[f"{name}-difference"] < 1e-12, name
        assert abs(found[f"{name}-owned-loss"] - found[f"{name}-replicated-loss"]) < 1e-10
        assert found[f"{name}-owned-accuracy"] == found[f"{name}-replicated-accuracy"]
        owned, replicated = found[f"{name}-owned-memory"], found[f"{name}-replicated-memory"]
        assert len(owned) == nranks and np.all(owned < replicated), name
    # a deeper network: the same ghosts, the same bytes on each rank
    np.testing.assert_array_equal(found["traffic-16"], found["traffic-64"])
    assert np.all(found["traffic-16"] > 0)


def test_one_rank_owns_everything_and_matches_replicated():
    net, theta0, data = net_and_data()
    replicated = LayerParallel(net, mode="exact", tol=1e-12, max_levels=3)
    owned = LayerParallel(net, mode="exact", tol=1e-12, max_levels=3, parameters="owned")
    assert owned.owned.held.tolist() == list(range(13))
    assert owned.parameter_memory() == replicated.parameter_memory() == net.n_params * 8
    theta = owned.local_parameters(theta0)
    loss, grad = owned.objective(theta, data.x, data.y)
    ref_loss, ref_grad = replicated.objective(theta0, data.x, data.y)
    assert loss == pytest.approx(ref_loss, rel=1e-14)
    # one rank's part is the whole network, its layers first, then the ends
    np.testing.assert_allclose(owned.full_parameters(grad), ref_grad, rtol=1e-13, atol=1e-15)
    assert owned.traffic == net.ends_size * 8    # only the ends' sum


def test_a_caller_vector_is_evaluated_without_touching_the_trained_one():
    net, theta0, data = net_and_data()
    owned = LayerParallel(net, mode="exact", tol=1e-12, max_levels=3, parameters="owned")
    theta = owned.local_parameters(theta0)
    other = theta * 0.5
    before = theta.copy()
    owned.objective(other, data.x, data.y)
    np.testing.assert_array_equal(theta, before)
    with pytest.raises(ValueError, match=r"theta: expected this rank's owned parameters"):
        owned.objective(theta[:-1], data.x, data.y)


def test_parameters_must_be_a_mode():
    net, _, _ = net_and_data()
    with pytest.raises(ValueError, match="parameters: must be one of replicated, owned"):
        LayerParallel(net, parameters="sharded")


def test_part_views_step_only_the_layers_they_hold():
    net, theta0, data = net_and_data()
    full = net.views(theta0)
    layers = [3, 7, 8]
    part = np.zeros(net.part_size(len(layers)))
    views = net.part_views(part, layers)
    for k in layers:
        for mine, theirs in zip(net._layer(views, k), net._layer(full, k)):
            mine[...] = theirs
    for end in ("W_o", "b_o", "W_c", "b_c"):
        getattr(views, end)[...] = getattr(full, end)
    Y = net.open(full, data.x)
    Y_part = Y.copy()
    net.step(full, 7, Y, net.h)
    net.step(views, 7, Y_part, net.h)
    np.testing.assert_allclose(Y_part, Y, rtol=1e-15, atol=0)  # the same product, maybe aligned otherwise
    with pytest.raises(ValueError, match=r"layers: \[4\] not among the layers"):
        net.step(views, 4, Y_part, net.h)
    with pytest.raises(ValueError, match="layers: expected distinct layer indices"):
        net.part_views(part, [3, 3, 8])
