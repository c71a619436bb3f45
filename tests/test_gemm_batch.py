"""gemm_batch, the batched form of pyxbraid.nn's GEMM entry point: one numpy
call over the stack on the numpy backend, the backend once per matrix on any
other (the tiled engine's included)."""
import numpy as np
import pytest

from pyxbraid.gemm import TiledEngine
from pyxbraid.nn import gemm, gemm_backend
from pyxbraid.nn.gemm import gemm_batch, numpy_gemm


def stacks(trans_a, trans_b, n=4, m=5, k=3, cols=6, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, k, m) if trans_a else (n, m, k))
    b = rng.standard_normal((n, cols, k) if trans_b else (n, k, cols))
    return a, b


def per_matrix(a, b, trans_a, trans_b):
    return np.array([gemm(a[i], b[i], trans_a=trans_a, trans_b=trans_b) for i in range(len(a))])


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_each_product_is_gemms(trans_a, trans_b):
    a, b = stacks(trans_a, trans_b)
    expected = per_matrix(a, b, trans_a, trans_b)
    got = gemm_batch(a, b, trans_a=trans_a, trans_b=trans_b)
    assert got.shape == (4, 5, 6)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
    out = np.full((4, 5, 6), np.nan)
    assert gemm_batch(a, b, trans_a=trans_a, trans_b=trans_b, out=out) is out
    np.testing.assert_array_equal(out, got)


def test_views_of_a_stack_and_empty_stacks():
    a, b = stacks(False, False, n=9)
    np.testing.assert_allclose(gemm_batch(a[::-2], b[::-2]), per_matrix(a[::-2], b[::-2],
                                                                       False, False),
                               rtol=1e-13, atol=1e-14)
    assert gemm_batch(a[:0], b[:0]).shape == (0, 5, 6)


class Recording:
    """A backend that counts its calls and hands them to numpy."""

    def __init__(self):
        self.calls = []

    def __call__(self, a, b, *, trans_a=False, trans_b=False, out=None):
        self.calls.append((a.shape, b.shape, trans_a, trans_b, out is not None))
        return numpy_gemm(a, b, trans_a=trans_a, trans_b=trans_b, out=out)


@pytest.mark.parametrize("trans_a, trans_b", [(False, True), (True, False)])
def test_another_backend_gets_each_matrix(trans_a, trans_b):
    a, b = stacks(trans_a, trans_b)
    backend = Recording()
    with gemm_backend(backend):
        got = gemm_batch(a, b, trans_a=trans_a, trans_b=trans_b)
    assert backend.calls == [(a.shape[1:], b.shape[1:], trans_a, trans_b, True)] * 4
    np.testing.assert_array_equal(got, per_matrix(a, b, trans_a, trans_b))


def test_the_tiled_engine_as_backend():
    a, b = stacks(False, True, m=20, k=17, cols=19)
    with TiledEngine(workers=2, tile=8) as engine, gemm_backend(engine):
        got = gemm_batch(a, b, trans_b=True)
        assert not engine.last.direct   # really tiled
    np.testing.assert_allclose(got, per_matrix(a, b, False, True), rtol=1e-12, atol=1e-13)


def test_bad_operands():
    a, b = stacks(False, False)
    with pytest.raises(ValueError, match="gemm_batch: a must be a 3-D float64 array"):
        gemm_batch(a[0, 0], b)
    with pytest.raises(ValueError, match="gemm_batch: expected a stack"):
        gemm_batch(a[0], b[0])
    with pytest.raises(ValueError, match="gemm_batch: b must be a 3-D float64 array"):
        gemm_batch(a, b.astype(np.float32))
    with pytest.raises(ValueError, match="gemm_batch: a and b must stack as many matrices"):
        gemm_batch(a, b[:3])
    with pytest.raises(ValueError, match="gemm: inner dimensions differ"):
        gemm_batch(a, b, trans_b=True)
    with pytest.raises(ValueError, match=r"gemm_batch: out must be a float64 array of shape "
                                         r"\(4, 5, 6\)"):
        gemm_batch(a, b, out=np.empty((4, 6, 5)))
