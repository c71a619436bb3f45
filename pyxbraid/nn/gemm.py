"""The one matrix-product entry point of pyxbraid.nn.

Training a network reduces to GEMM (Wang et al. 2015), so every product in the
package goes through `gemm`; a tiled or multi-device backend plugs in here
without touching the layers.

`gemm_batch` is its batched form: the products of a stack of matrices (with
a stack, or with one shared matrix), one numpy call over the stack on the
numpy backend, the backend once per matrix otherwise.

Backends: numpy_gemm (the default), or a pyxbraid.gemm.TiledEngine (the
tiled, out-of-core, multi-worker engine); make_gemm_backend builds either by
name.
"""
import contextlib

import numpy as np

from pyxbraid.gemm.tiles import product_shape

BACKENDS = ("numpy", "tiled")


def numpy_gemm(a, b, *, trans_a=False, trans_b=False, out=None):
    """op(a) @ op(b) by numpy (BLAS dgemm: transposes are flags, not copies)."""
    return np.matmul(a.T if trans_a else a, b.T if trans_b else b, out=out)


_backend = numpy_gemm


def make_gemm_backend(kind="numpy", **engine_options):
    """numpy_gemm for 'numpy'; for 'tiled', a new pyxbraid.gemm.TiledEngine
    with engine_options (workers, tile, memory, ...): close it when done."""
    if kind == "numpy":
        if engine_options:
            raise ValueError(f"gemm backend numpy takes no options, got "
                             f"{', '.join(sorted(engine_options))}")
        return numpy_gemm
    if kind == "tiled":
        from pyxbraid.gemm import TiledEngine
        return TiledEngine(**engine_options)
    raise ValueError(f"gemm backend: expected one of {', '.join(BACKENDS)}, got {kind!r}")


def gemm(a, b, *, trans_a=False, trans_b=False, out=None):
    """op(a) @ op(b) for float64 2-D arrays, into `out` when given.

    Shapes are checked here so that every backend gets valid operands."""
    for name, array in (("a", a), ("b", b)):
        if not isinstance(array, np.ndarray) or array.ndim != 2 or array.dtype != np.float64:
            raise ValueError(f"gemm: {name} must be a 2-D float64 array, got "
                             f"{getattr(array, 'dtype', type(array).__name__)} "
                             f"of shape {np.shape(array)}")
    m, n, _ = product_shape(a, b, trans_a, trans_b)
    if out is not None and (not isinstance(out, np.ndarray) or out.shape != (m, n)
                            or out.dtype != np.float64):
        raise ValueError(f"gemm: out must be a float64 array of shape {(m, n)}, got "
                         f"{getattr(out, 'dtype', type(out).__name__)} of shape {np.shape(out)}")
    return _backend(a, b, trans_a=trans_a, trans_b=trans_b, out=out)


def gemm_batch(a, b, *, trans_a=False, trans_b=False, out=None):
    """op(a[i]) @ op(b[i]) for every i of a stack of float64 matrices: a and
    b are stacks (n, rows, cols) of one n, or one of them a 2-D matrix that
    every product of the stack uses; the result is (n, m, k), into `out`
    when given (it may be a strided view, e.g. of a stack of flat parameter
    vectors).

    On the numpy backend one np.matmul over the stack (BLAS once per matrix,
    with no Python loop); any other backend gets each pair in turn, checked
    as `gemm` checks them, with row i of out as its out."""
    for name, array in (("a", a), ("b", b)):
        if (not isinstance(array, np.ndarray) or array.ndim not in (2, 3)
                or array.dtype != np.float64):
            raise ValueError(f"gemm_batch: {name} must be a 3-D float64 array (a stack of "
                             f"matrices) or a 2-D one shared by the stack, got "
                             f"{getattr(array, 'dtype', type(array).__name__)} of shape "
                             f"{np.shape(array)}")
    stacked_a, stacked_b = a.ndim == 3, b.ndim == 3
    if not (stacked_a or stacked_b):
        raise ValueError(f"gemm_batch: expected a stack (n, rows, cols) in a or b, got "
                         f"a {a.shape} and b {b.shape}")
    if stacked_a and stacked_b and len(a) != len(b):
        raise ValueError(f"gemm_batch: a and b must stack as many matrices, got {len(a)} "
                         f"and {len(b)}")
    count = len(a) if stacked_a else len(b)
    m, n, _ = product_shape(_first(a) if stacked_a else a, _first(b) if stacked_b else b,
                            trans_a, trans_b)
    shape = (count, m, n)
    if out is not None and (not isinstance(out, np.ndarray) or out.shape != shape
                            or out.dtype != np.float64):
        raise ValueError(f"gemm_batch: out must be a float64 array of shape {shape}, got "
                         f"{getattr(out, 'dtype', type(out).__name__)} of shape {np.shape(out)}")
    if _backend is numpy_gemm:
        return np.matmul(a.swapaxes(-1, -2) if trans_a else a,
                         b.swapaxes(-1, -2) if trans_b else b, out=out)
    out = np.empty(shape) if out is None else out
    for i in range(count):
        gemm(a[i] if stacked_a else a, b[i] if stacked_b else b, trans_a=trans_a,
             trans_b=trans_b, out=out[i])
    return out


def _first(stack):
    """A matrix of the stack's shape (its first, or an empty one for an
    empty stack): product_shape reads only its shape."""
    return stack[0] if len(stack) else np.empty(stack.shape[1:])


def get_gemm_backend():
    """The function `gemm` hands its checked operands to."""
    return _backend


def set_gemm_backend(fn):
    """Make fn(a, b, *, trans_a, trans_b, out) the backend; returns the previous one."""
    global _backend
    if not callable(fn):
        raise TypeError(f"gemm backend must be callable, got {type(fn).__name__}")
    previous, _backend = _backend, fn
    return previous


@contextlib.contextmanager
def gemm_backend(fn):
    """Use fn as the backend inside the block, restoring the previous one even on error."""
    previous = set_gemm_backend(fn)
    try:
        yield fn
    finally:
        set_gemm_backend(previous)
