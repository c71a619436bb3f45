"""Training through the tiled GEMM engine (pyxbraid.gemm) as the backend of
pyxbraid.nn.gemm: the same losses as numpy's backend, and an MLP whose
weights and gradient stay in files (out of core)."""
import tracemalloc

import numpy as np
import pytest

from pyxbraid.data import Dataset
from pyxbraid.gemm import TiledEngine
from pyxbraid.gemm.outofcore import DiskVectors, all_finite, chunks, copy_into
from pyxbraid.nn import MLP, ResNet, gemm_backend, make_gemm_backend
from pyxbraid.nn.gemm import numpy_gemm
from pyxbraid.train import DataSchedule, LearningRate, SGDStep, train_serial
from pyxbraid.train.layer_parallel import LayerParallel, Serial


def classification(n=96, features=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    labels = np.argmax(x[:, :classes] + 0.3 * rng.standard_normal((n, classes)), axis=1)
    return Dataset(x, np.eye(classes)[labels], "synthetic")


def mlp_losses(model, data, steps, backend, w=None, grad=None, in_place=False):
    """The loss after each of `steps` SGD steps (minibatches of 16) on `backend`."""
    schedule = DataSchedule(data, "minibatch", 16, seed=3)
    step = SGDStep(model, schedule, LearningRate(0.1), grad)
    w = model.init_params(np.random.default_rng(1), "xavier") if w is None else w
    losses = []
    with gemm_backend(backend):
        w = train_serial(step, w, steps, in_place=in_place,
                         on_step=lambda i, w: losses.append(model.loss(w, data.x, data.y)))
    return np.array(losses), w


def test_mlp_trains_through_the_engine_as_through_numpy():
    data = classification()
    model = MLP([12, 40, 24, 4], activation="tanh", output_activation="identity",
                loss="softmax_cross_entropy")
    reference, _ = mlp_losses(model, data, 30, numpy_gemm)
    with TiledEngine(workers=2, tile=8) as engine:
        tiled, _ = mlp_losses(model, data, 30, engine)
        assert not engine.last.direct and sum(engine.last.tiles) > 1  # really tiled
    np.testing.assert_allclose(tiled, reference, rtol=1e-10, atol=0)
    assert reference[-1] < reference[0]


def resnet_losses(backend, objective_kind, steps=12):
    data = classification(n=48, features=6, classes=3)
    net = ResNet(6, 8, 6, 3, T=1.0, activation="tanh")
    theta = net.init_params(np.random.default_rng(2))
    losses = []
    with gemm_backend(backend):
        objective = Serial(net) if objective_kind == "serial" else \
            LayerParallel(net, mode="exact")
        for _ in range(steps):
            loss, grad = objective.objective(theta, data.x, data.y)
            losses.append(loss)
            theta = theta - 0.2 * grad
    return np.array(losses)


@pytest.mark.parametrize("objective", ["serial", "layer-parallel"])
def test_resnet_trains_through_the_engine_as_through_numpy(objective):
    reference = resnet_losses(numpy_gemm, objective)
    with TiledEngine(workers=2, tile=4) as engine:
        tiled = resnet_losses(engine, objective)
        assert not engine.last.direct
    np.testing.assert_allclose(tiled, reference, rtol=1e-10, atol=0)
    assert reference[-1] < reference[0]


def test_make_gemm_backend():
    assert make_gemm_backend("numpy") is numpy_gemm
    engine = make_gemm_backend("tiled", workers=2, tile=64, memory=1 << 20)
    assert isinstance(engine, TiledEngine) and (engine.workers, engine.tile, engine.memory) == \
        (2, 64, 1 << 20)
    with pytest.raises(ValueError, match="expected one of numpy, tiled, got 'gpu'"):
        make_gemm_backend("gpu")
    with pytest.raises(ValueError, match="numpy takes no options, got workers"):
        make_gemm_backend("numpy", workers=2)


def test_mlp_out_of_core_steps_its_files_as_memory(tmp_path):
    """Weights and gradient in .npy files, stepped in place through an engine
    whose budget is a fraction of them: the same losses and weights as in
    memory, and the weights never come into memory whole."""
    data = classification(n=64, features=16, classes=4)
    model = MLP([16, 1024, 1024, 4], activation="relu", output_activation="identity",
                loss="softmax_cross_entropy")
    weight_bytes = model.n_params * 8
    budget = 512 * 1024
    assert weight_bytes > 16 * budget
    # what is in memory beside the engine: the activations of the 64
    # instances evaluated (z, a and the gradient of each layer, at most)
    activations = 3 * 64 * sum(model.sizes) * 8
    reference, w_memory = mlp_losses(model, data, 8, numpy_gemm)

    files = DiskVectors(tmp_path / "ooc")
    w = model.init_params(np.random.default_rng(1), "xavier", out=files.vector("w", model.n_params))
    grad = files.vector("grad", model.n_params)
    assert isinstance(w, np.memmap) and isinstance(grad, np.memmap)
    with TiledEngine(workers=2, memory=budget) as engine:
        tracemalloc.start()
        try:
            losses, w_out = mlp_losses(model, data, 8, engine, w=w, grad=grad, in_place=True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert engine.last.peak_bytes <= budget
    assert w_out is w  # stepped in place, in its file
    np.testing.assert_allclose(losses, reference, rtol=1e-10, atol=0)
    np.testing.assert_allclose(np.load(tmp_path / "ooc" / "w.npy"), w_memory, rtol=1e-10,
                               atol=1e-14)
    assert peak < budget + activations + 256 * 1024, (peak, budget, activations)
    assert peak < weight_bytes / 3


def test_disk_vectors_reopen_and_chunked_helpers(tmp_path):
    files = DiskVectors(tmp_path)
    v = files.vector("v", 10)
    v[:] = np.arange(10.0)
    v.flush()
    del v
    again = files.vector("v", 10)  # the file is reopened, not cleared
    assert np.array_equal(again, np.arange(10.0))
    assert files.vector("v", 12).shape == (12,) and not files.vector("v", 12).any()  # resized
    assert [(s.start, s.stop) for s in chunks(10, 4)] == [(0, 4), (4, 8), (8, 10)]
    target = np.zeros(10)
    copy_into(target, np.arange(10.0), chunk=3)
    assert np.array_equal(target, np.arange(10.0))
    with pytest.raises(ValueError, match="shapes differ"):
        copy_into(target, np.zeros(3))
    target[7] = np.nan
    assert not all_finite(target, chunk=3) and all_finite(np.ones(7), chunk=3)
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="bad.npy: not a readable .npy file"):
        files.vector("bad", 3)


def test_init_params_draws_the_same_weights_in_blocks_of_rows(monkeypatch):
    """A wide matrix is drawn a block of rows at a time: the same numbers as
    one draw, for every scheme (and into a given vector)."""
    import pyxbraid.nn.mlp as mlp_module

    model = MLP([5, 7, 3], bias=True)
    for scheme in ("uniform", "xavier", "trask"):
        whole = model.init_params(np.random.RandomState(4), scheme)
        monkeypatch.setattr(mlp_module, "INIT_CHUNK", 8)  # 1 row of 7 per draw
        out = np.full(model.n_params, np.nan)
        blocks = model.init_params(np.random.RandomState(4), scheme, out=out)
        monkeypatch.undo()
        assert blocks is out and np.array_equal(blocks, whole)
    with pytest.raises(ValueError, match="out: expected a float64 vector of 66"):
        model.init_params(np.random.RandomState(4), out=np.zeros(3))


def test_sgd_step_and_train_serial_check_their_buffers():
    data = classification(n=16, features=3, classes=2)
    model = MLP([3, 4, 2])
    schedule = DataSchedule(data, "batch")
    with pytest.raises(ValueError, match="grad: expected a float64 vector of 26"):
        SGDStep(model, schedule, LearningRate(0.1), grad=np.zeros(5))
    step = SGDStep(model, schedule, LearningRate(0.1))
    frozen = np.zeros(model.n_params)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="in_place needs a writable float64 array"):
        train_serial(step, frozen, 1, in_place=True)
    w = np.zeros(model.n_params)
    assert train_serial(step, w, 2, in_place=True) is w and w.any()
