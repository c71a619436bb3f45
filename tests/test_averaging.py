"""Data-parallel training with model averaging (Su & Chen 2015): one rank is
serial training bit for bit; P ranks averaging after every step are serial
SGD on the union of their minibatches; the butterfly and the allreduce
give the same average; the schedule and the max-change cap do what Kaldi's
do."""
import numpy as np
import pytest
from mpi4py import MPI

from conftest import run_mpi, TESTS
from pyxbraid.data import Dataset, peaks
from pyxbraid.nn import MLP, ResNet
from pyxbraid.train import DataSchedule, LearningRate, SGDStep, train_serial
from pyxbraid.train.averaging import (AveragedGradient, LearningRateSchedule, LocalSGDStep,
                                      ModelAverager, shard, shard_indices, split_data_layer,
                                      train_averaged)
from pyxbraid.train.layer_parallel import LayerParallel, Serial
from pyxbraid.train.loop import batches, train
from pyxbraid.train.optim import SGD
from pyxbraid.train.ngsgd import NaturalGradientSGD

SCRIPT = TESTS / "scripts" / "averaging_run.py"
DATA_LAYER = TESTS / "scripts" / "data_layer_run.py"
STEPS, BATCH, SEED = 12, 4, 3


def problem():
    """48 instances of a 3-feature regression (divisible into 1, 2, 3, 4 equal shards)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((48, 3))
    y = np.tanh(x @ np.array([[1.0], [-2.0], [0.5]])) + 0.1 * rng.standard_normal((48, 1))
    model = MLP([3, 5, 1], activation="tanh", output_activation="identity", loss="mse")
    w0 = model.init_params(np.random.default_rng(0), scheme="xavier")
    return Dataset(x, y, "regression"), model, w0


def local_step(model, data, comm, rate=0.1):
    part = shard(data, comm.Get_size(), comm.Get_rank(), SEED)
    schedule = DataSchedule(part, "minibatch", BATCH, seed=SEED)
    return LocalSGDStep(model, schedule, LearningRateSchedule(rate, steps=STEPS))


def averaged_training(comm, every=1, method="allreduce"):
    data, model, w0 = problem()
    return train_averaged(local_step(model, data, comm), w0, STEPS, ModelAverager(comm, method),
                          every)


def union_serial(nranks):
    """Serial SGD whose step k trains on the union of the ranks' minibatch k."""
    data, model, w0 = problem()
    schedules = [DataSchedule(shard(data, nranks, r, SEED), "minibatch", BATCH, seed=SEED)
                 for r in range(nranks)]
    w, grad = w0.copy(), np.empty(model.n_params)
    for k in range(STEPS):
        parts = [s.batch(k) for s in schedules]
        model.loss_and_grad(w, np.vstack([p[0] for p in parts]),
                            np.vstack([p[1] for p in parts]), grad=grad)
        w -= 0.1 * grad
    return w


def test_shards_are_a_seeded_partition():
    for n, p in ((10, 3), (48, 4), (5, 5)):
        shards = [shard_indices(n, p, r, seed=1) for r in range(p)]
        assert sorted(np.concatenate(shards)) == list(range(n))
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
        assert all(np.array_equal(a, b) for a, b in
                   zip(shards, [shard_indices(n, p, r, seed=1) for r in range(p)]))
    assert not np.array_equal(shard_indices(10, 2, 0, seed=1), shard_indices(10, 2, 0, seed=2))
    np.testing.assert_array_equal(shard_indices(7, 1, 0, seed=5), np.arange(7))
    with pytest.raises(ValueError, match="data: 3 instances cannot be shared by 4 ranks"):
        shard_indices(3, 4, 0, seed=0)


def test_one_rank_is_serial_training_bit_for_bit():
    data, model, w0 = problem()
    serial = train_serial(SGDStep(model, DataSchedule(data, "minibatch", BATCH, seed=SEED),
                                  LearningRate(0.1)), w0, STEPS)
    for every in (1, 5):
        averaged = train_averaged(local_step(model, data, MPI.COMM_SELF), w0, STEPS,
                                  ModelAverager(MPI.COMM_SELF), every)
        assert np.array_equal(averaged, serial)


@pytest.mark.parametrize("nranks", [2, 4])
def test_averaging_every_step_is_serial_sgd_on_the_union_batch(nranks, tmp_path):
    out = tmp_path / "averaged.npz"
    run = run_mpi(nranks, [SCRIPT, out])
    assert run.returncode == 0, run.stderr
    found = np.load(out)
    weights = found["weights"]
    assert all(np.array_equal(w, weights[0]) for w in weights)   # one model everywhere
    reference = union_serial(nranks)
    np.testing.assert_allclose(weights[0], reference, rtol=1e-12, atol=0)
    assert not np.allclose(weights[0], union_serial(1), rtol=1e-6)  # the shards matter
    # one average: the mean of every rank's vector, by either method, the same bits everywhere
    mean = found["vectors"].mean(axis=0)
    for method in ("allreduce", "butterfly"):
        result = found[method]
        assert all(np.array_equal(r, result[0]) for r in result), method
        np.testing.assert_allclose(result[0], mean, rtol=1e-13, atol=1e-13 * np.abs(mean).max())


class FakeComm:
    def __init__(self, size):
        self.size = size

    def Get_size(self):
        return self.size

    def Get_rank(self):
        return 0


def test_butterfly_needs_a_power_of_two_ranks():
    with pytest.raises(ValueError, match="butterfly needs a power-of-two number of ranks, "
                                         "got 3"):
        ModelAverager(FakeComm(3), "butterfly")
    with pytest.raises(ValueError, match="averaging.method: must be one of allreduce, butterfly"):
        ModelAverager(FakeComm(2), "ring")
    ModelAverager(FakeComm(8), "butterfly")


def test_averaging_every_k_steps_counts_and_ends_averaged():
    data, model, w0 = problem()
    averager = ModelAverager(MPI.COMM_SELF)
    seen = []
    train_averaged(local_step(model, data, MPI.COMM_SELF), w0, 10, averager, 4,
                   on_step=lambda i, w, averaged: seen.append((i, averaged)))
    assert [i for i, averaged in seen if averaged] == [4, 8, 10]
    assert averager.averages == 3


def test_learning_rate_decays_exponentially_from_initial_to_final():
    rate = LearningRateSchedule(0.1, 0.001, steps=11)
    assert rate(0) == 0.1 and rate(10) == pytest.approx(0.001, rel=1e-12)
    assert rate(5) == pytest.approx(0.01, rel=1e-12)   # the geometric middle
    scaled = LearningRateSchedule(0.1, 0.001, steps=11, ranks=4, scale_with_ranks=True)
    assert scaled(5) == pytest.approx(0.04, rel=1e-12)
    assert LearningRateSchedule(0.1, steps=3)(2) == 0.1
    with pytest.raises(ValueError, match="lr_final: must be a positive number"):
        LearningRateSchedule(0.1, 0.0)


def test_max_change_caps_each_step():
    data, model, w0 = problem()
    schedule = DataSchedule(data, "minibatch", BATCH, seed=SEED)
    step = LocalSGDStep(model, schedule, LearningRateSchedule(10.0), max_change=1e-3)
    w = w0.copy()
    for i in range(5):
        before = w.copy()
        step(w, i)
        assert np.linalg.norm(w - before) == pytest.approx(1e-3, rel=1e-12)
    assert step.capped == 5
    with pytest.raises(ValueError, match="max_change: must be a positive number"):
        LocalSGDStep(model, schedule, LearningRateSchedule(1.0), max_change=-1.0)


def test_natural_gradient_local_steps_train():
    data, model, w0 = problem()
    schedule = DataSchedule(data, "minibatch", BATCH, seed=SEED)
    optimizer = NaturalGradientSGD(model, learning_rate=0.05)
    step = LocalSGDStep(model, schedule, LearningRateSchedule(0.05, steps=60),
                        preconditioners=optimizer.preconditioners)
    w = train_averaged(step, w0, 60, ModelAverager(MPI.COMM_SELF), 4)
    assert model.loss(w, data.x, data.y) < 0.5 * model.loss(w0, data.x, data.y)
    assert optimizer.state()   # the preconditioners learned from the minibatches


# ------------------------------------------------------------ data x layer

LP_STEPS, LP_BATCH = 3, 10


def resnet_problem():
    data, _ = peaks(40, 10, seed=1)
    net = ResNet(2, 4, 12, 5, T=1.0, activation="smooth_relu", gamma_t=1e-3, gamma_d=1e-3)
    return data, net, net.init_params(np.random.default_rng(2))


def data_layer_training(comm, groups):
    """Exact layer-parallel gradients on each group's shard, averaged over the groups."""
    data, net, theta = resnet_problem()
    layer_comm, data_comm = split_data_layer(comm, groups)
    objective = AveragedGradient(LayerParallel(net, layer_comm, mode="exact", tol=1e-13,
                                               max_levels=3), data_comm)
    part = shard(data, groups, comm.Get_rank() // layer_comm.Get_size(), SEED)
    return train(objective, SGD(0.5), theta, part, LP_STEPS, LP_BATCH, seed=SEED)


def data_layer_reference(groups):
    """Serial backprop whose step k trains on the union of the groups' minibatch k."""
    data, net, theta = resnet_problem()
    parts = [shard(data, groups, g, SEED) for g in range(groups)]
    sources = [batches(len(p), LP_BATCH, SEED) for p in parts]
    optimizer, serial = SGD(0.5), Serial(net)
    for _ in range(LP_STEPS):
        indices = [next(source) for source in sources]
        x = np.vstack([p.x[i] for p, i in zip(parts, indices)])
        y = np.vstack([p.y[i] for p, i in zip(parts, indices)])
        loss, grad = serial.objective(theta, x, y)
        optimizer.update(theta, loss, grad, None)
    return theta


@pytest.mark.parametrize("ranks, groups", [(2, 2), (4, 2)])
def test_data_x_layer_is_serial_backprop_on_the_union_batch(ranks, groups, tmp_path):
    out = tmp_path / "theta.npz"
    run = run_mpi(ranks, [DATA_LAYER, groups, out], timeout=300)
    assert run.returncode == 0, run.stderr
    theta = np.load(out)["theta"]
    assert all(np.array_equal(t, theta[0]) for t in theta)
    reference = data_layer_reference(groups)
    np.testing.assert_allclose(theta[0], reference, rtol=1e-9, atol=1e-12)
    assert not np.allclose(theta[0], data_layer_reference(1), rtol=1e-6)


def test_a_bad_data_layer_split_names_the_field():
    with pytest.raises(ValueError, match=r"parallel.data: 3 data groups must divide the "
                                         r"number of ranks \(4\)"):
        split_data_layer(FakeComm(4), 3)


def test_ranks_with_different_step_counts_fail_instead_of_hanging(tmp_path):
    script = tmp_path / "uneven.py"
    script.write_text(
        "from mpi4py import MPI\n"
        "import numpy as np\n"
        "from pyxbraid.train.averaging import ModelAverager, train_averaged\n"
        "comm = MPI.COMM_WORLD\n"
        "try:\n"
        "    train_averaged(lambda w, i: None, np.zeros(3), 4 + comm.rank, ModelAverager(comm), 2)\n"
        "except ValueError as e:\n"
        "    print('refused:', e)\n")
    run = run_mpi(2, [script], timeout=60)
    assert run.returncode == 0, run.stderr
    # both ranks refuse (their lines may interleave)
    assert run.stdout.count("nsteps: must be the same on every rank") == 2


def test_groups_share_the_largest_forward_factor(tmp_path):
    """The one-shot guard reads it: every group then switches to exact mode
    at the same step, and the loss and gradient are the groups' mean."""
    script = tmp_path / "factors.py"
    script.write_text(
        "from mpi4py import MPI\n"
        "import numpy as np\n"
        "from pyxbraid.train.averaging import AveragedGradient\n"
        "comm = MPI.COMM_WORLD\n"
        "class Stats:\n"
        "    forward_factor = 0.5 + comm.rank\n"
        "    forward_iterations = 2\n"
        "class Inner:\n"
        "    mode = 'one-shot'\n"
        "    gradient_stats = Stats()\n"
        "    def objective(self, theta, x, y, need_grad=True):\n"
        "        return float(comm.rank), np.full(3, float(comm.rank))\n"
        "objective = AveragedGradient(Inner(), comm)\n"
        "loss, grad = objective.objective(None, None, None)\n"
        "stats = objective.gradient_stats\n"
        "found = comm.gather((loss, grad.tolist(), stats.forward_factor,\n"
        "                     stats.forward_iterations), root=0)\n"
        "if comm.rank == 0:\n"
        "    for line in found:\n"
        "        print('result', *line)\n")
    run = run_mpi(2, [script], timeout=60)
    assert run.returncode == 0, run.stderr
    lines = sorted(line for line in run.stdout.splitlines() if line.startswith("result"))
    assert lines == ["result 0.5 [0.5, 0.5, 0.5] 1.5 2"] * 2


def test_a_resnet_on_one_rank_is_the_training_loop_bit_for_bit():
    """LocalOptimizerStep (any objective and optimizer, here a ResNet with
    Adam) under train_averaged on one rank is pyxbraid.train.loop.train."""
    from pyxbraid.train.averaging import LocalOptimizerStep
    from pyxbraid.train.optim import Adam
    data, net, theta = resnet_problem()
    looped = train(Serial(net), Adam(0.01), theta, data, 6, LP_BATCH, seed=SEED)
    step = LocalOptimizerStep(Serial(net), Adam(0.01), data, LP_BATCH, SEED)
    averaged = train_averaged(step, theta, 6, ModelAverager(MPI.COMM_SELF), 2)
    assert np.array_equal(averaged, looped)
    ngsgd = NaturalGradientSGD(net, 0.05)
    step = LocalOptimizerStep(Serial(net, ngsgd.preconditioners), ngsgd, data, LP_BATCH, SEED)
    trained = train_averaged(step, theta, 20, ModelAverager(MPI.COMM_SELF), 4)
    assert net.loss(trained, data.x, data.y) < net.loss(theta, data.x, data.y)


def test_a_resumed_local_optimizer_step_takes_the_batches_of_its_steps():
    """Steps 0-2, then steps 3-5 by a new step object (a resumed run): the
    weights of steps 0-5 in one go, bit for bit; steps out of order are refused."""
    from pyxbraid.train.averaging import LocalOptimizerStep
    data, net, theta = resnet_problem()

    def run(w, first, n):
        step = LocalOptimizerStep(Serial(net), SGD(0.1), data, LP_BATCH, SEED)
        return train_averaged(step, w, n, ModelAverager(MPI.COMM_SELF), 1, first=first)
    assert np.array_equal(run(run(theta, 0, 3), 3, 3), run(theta, 0, 6))
    step = LocalOptimizerStep(Serial(net), SGD(0.1), data, LP_BATCH, SEED)
    step(theta.copy(), 2)
    with pytest.raises(ValueError, match="index: steps come in increasing order"):
        step(theta.copy(), 1)
