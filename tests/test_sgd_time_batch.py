"""Batched SGD-time steps (SGDTimeApp.step_batch): n weight vectors advanced
at once by the stacked forward and backward passes of MLP.loss_and_grad_batch
(products through pyxbraid.nn.gemm.gemm_batch) do what the per-point step
does, to round-off (a product of a stack may round otherwise than one
product), on 1, 2 and 3 ranks, with every schedule, loss and activation.

Run under mpirun as a script, this file solves every configuration with the
batch on and off (and max_batch 1, 3 and none) and writes the comparisons
as JSON:  mpirun -n 2 python -m mpi4py tests/test_sgd_time_batch.py OUT"""
import json
import sys

import numpy as np
import pytest
from mpi4py import MPI

import pyxbraid
from conftest import ROOT, run_mpi
from pyxbraid.data import Dataset, xor
from pyxbraid.nn import MLP, gemm, gemm_backend
from pyxbraid.nn.gemm import gemm_batch
from pyxbraid.train import DataSchedule, LearningRate, SGDStep, SGDTimeApp, train_sgd_time

RTOL = 1e-12
NSTEPS = 48


def relative_difference(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def blobs(n=10, seed=3):
    """n instances of 3 features, 2 one-hot classes (the sign of their sum)."""
    x = np.random.default_rng(seed).standard_normal((n, 3))
    label = (x.sum(axis=1) > 0).astype(int)
    return Dataset(x, np.eye(2)[label], "blobs")


def sgd_problem(data="xor", schedule="batch", batch_size=None, sizes=(3, 4, 1),
                activation="sigmoid", output=None, bias=False, loss="sse", alpha=1.0):
    """(SGDStep, w0): coarse rates alpha * 2^level, at most 4 alpha."""
    dataset = xor() if data == "xor" else blobs()
    model = MLP(sizes, activation, output, bias, loss)
    w0 = model.init_params(np.random.default_rng(5))
    step = SGDStep(model, DataSchedule(dataset, schedule, batch_size),
                   LearningRate(alpha, growth=2.0, maximum=4 * alpha))
    return step, w0


# name, sgd_problem's arguments, train_sgd_time's options
CONFIGS = [
    ("xor-batch", {}, dict(cfactor=2, max_levels=3)),
    ("xor-serialized-level", dict(schedule="serialized"),
     dict(cfactor=4, max_levels=3, coarse_data="level")),
    ("minibatch-mse-tanh-bias", dict(data="blobs", schedule="minibatch", batch_size=4,
                                     sizes=(3, 5, 2), activation="tanh", output="identity",
                                     bias=True, loss="mse", alpha=0.3),
     dict(cfactor=2, max_levels=4)),
    ("minibatch-level", dict(data="blobs", schedule="minibatch", batch_size=3, sizes=(3, 4, 2),
                             bias=True, alpha=0.5),
     dict(cfactor=3, max_levels=3, coarse_data="level")),
    ("serialized-ce-relu", dict(data="blobs", schedule="serialized", sizes=(3, 5, 4, 2),
                                activation="relu", output="identity", bias=True,
                                loss="softmax_cross_entropy", alpha=0.5),
     dict(cfactor=2, max_levels=3, coarse_data="level")),
    ("fcycle-no-skip-smooth-relu", dict(activation="smooth_relu", bias=True, alpha=0.5),
     dict(cfactor=2, max_levels=4, fmg=True, skip=False, nrelax=0)),
]


def config_problem(config):
    """(SGDStep, w0, options) of a configuration of CONFIGS."""
    _, problem, options = next(c for c in CONFIGS if c[0] == config)
    return (*sgd_problem(**problem), dict(dict(abs_tol=1e-10, max_iter=30), **options))


def solve(config, comm=None, **options):
    step, w0, config_options = config_problem(config)
    return train_sgd_time(step, w0, NSTEPS, comm, **config_options, **options)


class Counting:
    """SGDTimeApp.step_batch counting its calls and rows (and the most in
    one call) inside the block."""

    def __enter__(self):
        self.calls = self.rows = self.largest = 0
        self.original = original = SGDTimeApp.step_batch

        def step_batch(app, ustop, fstop, u, status):
            self.calls += 1
            self.rows += len(u)
            self.largest = max(self.largest, len(u))
            return original(app, ustop, fstop, u, status)

        SGDTimeApp.step_batch = step_batch
        return self

    def __exit__(self, *exc):
        SGDTimeApp.step_batch = self.original


# ------------------------------------------------------------------ gemm_batch

@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True),
                                              (True, True)])
def test_gemm_batch_is_gemm_per_matrix(trans_a, trans_b):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 4, 3) if trans_a else (5, 3, 4))
    b = rng.standard_normal((5, 2, 4) if trans_b else (5, 4, 2))
    product = gemm_batch(a, b, trans_a=trans_a, trans_b=trans_b)
    assert product.shape == (5, 3, 2)
    for i in range(5):
        np.testing.assert_allclose(product[i], gemm(a[i], b[i], trans_a=trans_a,
                                                    trans_b=trans_b), rtol=RTOL)
    # one 2-D operand serves every product of the stack
    shared = gemm_batch(a[0], b, trans_a=trans_a, trans_b=trans_b)
    for i in range(5):
        np.testing.assert_allclose(shared[i], gemm(a[0], b[i], trans_a=trans_a,
                                                   trans_b=trans_b), rtol=RTOL)


def test_gemm_batch_writes_a_strided_out_and_checks_shapes():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4, 5))
    flat = np.zeros((3, 30))
    out = flat[:, 5:15].reshape(3, 2, 5)   # the middles of three flat vectors
    assert gemm_batch(a, b, trans_a=True, out=out) is out
    for i in range(3):
        np.testing.assert_allclose(flat[i, 5:15].reshape(2, 5), gemm(a[i], b[i], trans_a=True),
                                   rtol=RTOL)
    assert not flat[:, :5].any() and not flat[:, 15:].any()
    with pytest.raises(ValueError, match="inner dimensions differ"):
        gemm_batch(a, b)
    with pytest.raises(ValueError, match="must stack as many matrices"):
        gemm_batch(a, rng.standard_normal((2, 4, 5)), trans_a=True)
    with pytest.raises(ValueError, match="expected a stack"):
        gemm_batch(a[0], b[0], trans_a=True)
    with pytest.raises(ValueError, match="b must be a 3-D float64 array"):
        gemm_batch(a, b.astype(np.float32), trans_a=True)
    with pytest.raises(ValueError, match=r"out must be a float64 array of shape \(3, 2, 5\)"):
        gemm_batch(a, b, trans_a=True, out=np.zeros((3, 5, 2)))


def test_gemm_batch_hands_another_backend_every_product():
    """A plugged-in backend gets one gemm per matrix: the rows are its own."""
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 3, 2)), rng.standard_normal((2, 5))
    calls = []

    def recording(x, y, *, trans_a=False, trans_b=False, out=None):
        calls.append((x.shape, y.shape, trans_a, trans_b))
        result = np.matmul(x.T if trans_a else x, y.T if trans_b else y) + 1.0
        if out is None:
            return result
        out[...] = result
        return out

    with gemm_backend(recording):
        product = gemm_batch(a, b)
    assert calls == [((3, 2), (2, 5), False, False)] * 4
    for i in range(4):
        np.testing.assert_array_equal(product[i], np.matmul(a[i], b) + 1.0)


# ----------------------------------------------------------- MLP.loss_and_grad_batch

NETWORKS = [  # sizes, activation, output activation, bias, loss, targets
    ((3, 4, 1), "sigmoid", None, False, "sse", "values"),
    ((3, 5, 4, 2), "tanh", "identity", True, "mse", "values"),
    ((3, 5, 2), "relu", "identity", True, "softmax_cross_entropy", "labels"),
    ((3, 5, 2), "smooth_relu", "identity", False, "softmax_cross_entropy", "one-hot"),
    ((3, 4, 3, 2), "sigmoid", "sigmoid", True, "sse", "values"),
    ((3, 2), "identity", None, True, "mse", "values"),
]


def targets(kind, shape, rng):
    if kind == "labels":
        return rng.integers(0, shape[-1], shape[:-1])
    if kind == "one-hot":
        return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
    return rng.random(shape)


@pytest.mark.parametrize("network", NETWORKS, ids=[f"{n[4]}-{n[1]}-{'bias' if n[3] else 'nobias'}"
                                                   for n in NETWORKS])
@pytest.mark.parametrize("shared", [False, True], ids=["stacked", "shared"])
def test_batched_loss_and_grad_is_the_per_vector_one(network, shared):
    """Row i is loss_and_grad(W[i], x[i], y[i]) within 1e-12 (x and y one
    stack of batches, or one batch shared by every row)."""
    sizes, activation, output, bias, loss, kind = network
    model = MLP(sizes, activation, output, bias, loss)
    rng = np.random.default_rng(7)
    n, batch = 6, 5
    W = np.stack([model.init_params(rng) for _ in range(n)])
    x = rng.standard_normal((batch, sizes[0]) if shared else (n, batch, sizes[0]))
    y = targets(kind, (batch, sizes[-1]) if shared else (n, batch, sizes[-1]), rng)
    before = W.copy()
    losses, grad = model.loss_and_grad_batch(W, x, y)
    assert np.array_equal(W, before) and grad.shape == W.shape
    for i in range(n):
        value, g = model.loss_and_grad(W[i], x if shared else x[i], y if shared else y[i])
        assert abs(losses[i] - value) <= RTOL * abs(value)
        assert relative_difference(grad[i], g) <= RTOL
    again = np.empty_like(W)
    none, written = model.loss_and_grad_batch(W, x, y, grad=again, want_loss=False)
    assert none is None and written is again and relative_difference(again, grad) <= RTOL


def test_batched_loss_and_grad_of_a_loss_from_elsewhere():
    """A loss of another kind gets its gradient batch by batch."""
    from pyxbraid.nn.losses import SumSquaredError

    class Halved(SumSquaredError):
        def value(self, pred, target):
            return 0.5 * super().value(pred, target)

        def grad(self, pred, target):
            return 0.5 * super().grad(pred, target)

    model = MLP([3, 4, 1], loss=Halved())
    rng = np.random.default_rng(8)
    W = np.stack([model.init_params(rng) for _ in range(3)])
    x, y = rng.standard_normal((3, 4, 3)), rng.random((3, 4, 1))
    losses, grad = model.loss_and_grad_batch(W, x, y)
    for i in range(3):
        value, g = model.loss_and_grad(W[i], x[i], y[i])
        assert abs(losses[i] - value) <= RTOL * value and relative_difference(grad[i], g) <= RTOL


@pytest.mark.parametrize("W, x, y, message", [
    (np.zeros((2, 15)), np.zeros((2, 4, 3)), np.zeros((2, 4, 1)), r"W: expected .* \(n, 16\)"),
    (np.zeros((2, 16), dtype=np.float32), np.zeros((2, 4, 3)), np.zeros((2, 4, 1)), "W:"),
    (np.zeros((16, 2)).T, np.zeros((2, 4, 3)), np.zeros((2, 4, 1)), "C-contiguous"),
    (np.zeros((2, 16)), np.zeros((3, 4, 3)), np.zeros((2, 4, 1)), r"x: expected shape \(2, batch"),
    (np.zeros((2, 16)), np.zeros((2, 4, 2)), np.zeros((2, 4, 1)), "x: expected"),
    (np.zeros((2, 16)), np.zeros((2, 4, 3)), np.zeros((2, 3, 1)), r"y: expected shape \(2, 4, 1\)"),
])
def test_batched_loss_and_grad_refuses_bad_shapes(W, x, y, message):
    with pytest.raises(ValueError, match=message):
        MLP([3, 4, 1], bias=False).loss_and_grad_batch(W, x, y)


# ------------------------------------------------------------------ SGDStep.batch

@pytest.mark.parametrize("schedule, batch_size", [("batch", None), ("serialized", None),
                                                  ("minibatch", 4), ("minibatch", 3)])
@pytest.mark.parametrize("level", [0, 2])
def test_sgd_step_batch_is_the_step_of_each_row(schedule, batch_size, level):
    """Each row trains on its own batch (the minibatches of 10 instances by
    4 are 4, 4, 2: rows of two sizes in one call) at the level's rate."""
    step, _ = sgd_problem("blobs", schedule, batch_size, sizes=(3, 4, 2), bias=True, alpha=0.5)
    rng = np.random.default_rng(9)
    W = np.stack([step.model.init_params(rng) for _ in range(7)])
    indices = [3, 0, 7, 1, 12, 5, 2]
    expected = W.copy()
    for row, index in zip(expected, indices):
        step(row, index, level)
    step.batch(W, indices, level)
    assert relative_difference(W, expected) <= RTOL


def test_sgd_step_batch_asks_an_overriding_schedule_for_each_batch():
    asked = []

    class Recording(DataSchedule):
        def batch(self, i):
            asked.append(i)
            return super().batch(i)

    model = MLP([3, 4, 1])
    step = SGDStep(model, Recording(xor(), "serialized"), LearningRate(1.0))
    W = np.stack([model.init_params(np.random.default_rng(i)) for i in range(3)])
    step.batch(W, [5, 2, 7])
    assert asked == [5, 2, 7]


# ------------------------------------------------------------------ SGDTimeApp.step_batch

def compare(config, comm=None):
    """The comparisons of one configuration on the ranks of comm: batched
    (max_batch none, 3, 1) against per-point, and step_batch's calls."""
    comm = MPI.COMM_WORLD if comm is None else comm
    with Counting() as counting:
        per_point = solve(config, comm, batch=False)
        off_calls = counting.calls
        batched = solve(config, comm)
        calls, rows = counting.calls, counting.rows
        capped = {cap: solve(config, comm, max_batch=cap) for cap in (3, 1)}
    return dict(
        difference=relative_difference(batched.weights, per_point.weights),
        capped={cap: relative_difference(r.weights, batched.weights) for cap, r in capped.items()},
        niter=[per_point.niter, batched.niter, *(r.niter for r in capped.values())],
        residual_difference=relative_difference(batched.rnorms, per_point.rnorms),
        moved=relative_difference(batched.weights, config_problem(config)[1]),
        off_calls=comm.allreduce(off_calls), calls=comm.allreduce(calls),
        rows=comm.allreduce(rows))


def check_comparison(name, c):
    assert c["off_calls"] == 0, name           # batch off: the per-point step only
    if pyxbraid.STEP_BATCH:
        assert c["calls"] > 0 and c["rows"] > 2 * c["calls"], name   # batches of many rows
    else:  # upstream's stand-in has no batched step: both runs step point by point
        assert c["calls"] == 0, name
    assert c["moved"] > 1e-3, name             # training moved the weights
    assert len(set(c["niter"])) == 1, (name, c["niter"])
    assert c["difference"] <= RTOL, (name, c["difference"])
    assert c["residual_difference"] <= 1e-9, (name, c["residual_difference"])
    for cap, difference in c["capped"].items():
        assert difference <= RTOL, (name, cap, difference)


@pytest.mark.parametrize("config", [c[0] for c in CONFIGS])
def test_batched_training_is_per_point_training(config):
    check_comparison(config, compare(config))


@pytest.mark.parametrize("nranks", [2, 3])
def test_batched_training_is_per_point_training_on_ranks(nranks, tmp_path):
    out = tmp_path / "comparisons.json"
    run = run_mpi(nranks, [ROOT / "tests" / "test_sgd_time_batch.py", out], timeout=300)
    assert run.returncode == 0, run.stderr
    for name, comparison in json.loads(out.read_text()).items():
        check_comparison(f"{name} on {nranks} ranks", comparison)


def test_on_iteration_is_told_every_iteration():
    """The same iterations and residuals, batched or per point (a batch's
    status has the residual history too)."""
    told = {}
    for batch in (False, True):
        seen = told[batch] = []
        result = solve("xor-batch", batch=batch, on_iteration=lambda k, r: seen.append((k, r)))
    assert [k for k, _ in told[True]] == [k for k, _ in told[False]] == list(range(result.niter))
    for (_, per_point), (_, batched) in zip(told[False], told[True]):
        assert per_point == -1.0 or per_point > 0
        assert batched == pytest.approx(per_point, rel=1e-9)


def test_a_step_without_a_batch_method_is_called_row_by_row():
    """SGDTimeApp takes any step(w, index, level): without a batch method
    its batches are stepped row by row, to the same weights."""
    step, w0, options = config_problem("xor-serialized-level")
    calls = []

    class Plain:
        model = step.model

        def __call__(self, w, index, level=0):
            calls.append(index)
            step(w, index, level)

    per_point = train_sgd_time(step, w0, NSTEPS, batch=False, **options)
    with Counting() as counting:
        plain = train_sgd_time(Plain(), w0, NSTEPS, **options)
    assert (counting.calls > 0) == pyxbraid.STEP_BATCH and len(calls) > counting.rows
    assert all(isinstance(index, int) for index in calls)
    assert relative_difference(plain.weights, per_point.weights) <= RTOL


def test_coarse_data_comes_from_the_coarsening_factors_on_any_time_grid():
    """A batch's rows read their fine stride from the status's coarsening
    factors (as a step's do), not from the length of a step: on [0, 1] the
    batched run is still the per-point one."""
    step, w0 = sgd_problem()
    finals = []
    for batch in (True, False):
        app = SGDTimeApp(step, w0, 16, coarse_data="fine")
        app.run(MPI.COMM_SELF, 1.0, 16, max_levels=3, cfactor=2, abs_tol=1e-12, batch=batch)
        finals.append(app.final)
    assert relative_difference(finals[0], finals[1]) <= RTOL


if __name__ == "__main__":
    results = {config: compare(config) for config, _, _ in CONFIGS}
    if MPI.COMM_WORLD.rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump(results, f)
