"""pyxbraid.gemm: the tiled GEMM engine against numpy.

Products of random shapes (tiles that do not divide them, vectors, empty
dimensions, all four transposes, alpha and beta, float32 and float64, memmap
operands) equal numpy's up to rounding; an out-of-core product stays within
its memory budget (measured by tracemalloc); the tile cache reuses and
evicts tiles; a slower worker takes fewer tiles from the shared queue; bad
input is refused by name; a failure in any worker thread (or a thread that
will not start) reaches the caller with nothing left running; the engine is
a backend of pyxbraid.nn.gemm and gives BLAS its threads back."""
import threading
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose
from threadpoolctl import threadpool_info

from pyxbraid.gemm import ProductStats, TiledEngine, WorkerStats
from pyxbraid.gemm import engine as engine_module
from pyxbraid.gemm.cache import MemoryMeter, TileCache
from pyxbraid.gemm.tiles import TaskQueue, Tiling, spans
from pyxbraid.nn.gemm import gemm, gemm_backend, make_gemm_backend

RTOL = {np.float32: 1e-5, np.float64: 1e-12}
F64 = np.dtype(np.float64).itemsize
WAIT = 10.0   # seconds before a product or a waiting thread counts as hung


# ---------------------------------------------------------------------------
# helpers

def op(x, transposed):
    return x.T if transposed else x


def expected(a, b, c, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """alpha·op(a)·op(b) + beta·c in float64, and the magnitude of its terms
    (|alpha|·|op(a)|·|op(b)| + |beta|·|c|, largest entry): rounding errors
    are relative to that, not to an entry that cancels to near 0."""
    a64, b64 = op(np.asarray(a, np.float64), trans_a), op(np.asarray(b, np.float64), trans_b)
    product = alpha * (a64 @ b64)
    scale = abs(alpha) * (np.abs(a64) @ np.abs(b64))
    if beta != 0.0:
        c64 = np.asarray(c, np.float64)
        product = product + beta * c64
        scale = scale + abs(beta) * np.abs(c64)
    return product, max(float(scale.max(initial=0.0)), np.finfo(np.float64).tiny)


def assert_product(got, a, b, c, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """got equals numpy's alpha·op(a)·op(b) + beta·c within 1e-12 relative (1e-5 in float32)."""
    want, scale = expected(a, b, c, alpha, beta, trans_a, trans_b)
    rtol = RTOL[np.dtype(a.dtype).type]
    assert got.shape == want.shape
    assert got.dtype == a.dtype
    assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=rtol * scale)


def on_disk(tmp_path, name, array):
    """A copy of array as a memmap (an .npy file under tmp_path)."""
    mapped = np.lib.format.open_memmap(tmp_path / f"{name}.npy", mode="w+", dtype=array.dtype,
                                       shape=array.shape)
    mapped[...] = array
    mapped.flush()
    return mapped


def operands(rng, m, n, k, dtype=np.float64, trans_a=False, trans_b=False):
    """a, b of the shapes op(a) m x k and op(b) k x n need, and a c (m x n)."""
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    return a, b, c


def count(size, tile):
    return len(spans(size, tile))


def gemm_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith("gemm-worker")]


def run_with_deadline(fn):
    """fn() in a helper thread: ('ok', result) or ('raised', exception); fails
    the test (instead of hanging it) when fn has not returned within WAIT."""
    outcome = {}

    def target():
        try:
            outcome["ok"] = fn()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome["raised"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive(), f"the product hung; threads: {gemm_threads()}"
    (kind, value), = outcome.items()
    return kind, value


# ---------------------------------------------------------------------------
# products against numpy

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(3))
def test_random_products_match_numpy(dtype, seed, tmp_path):
    """Random shapes (mostly not multiples of the tile), transposes, alpha,
    beta, tiles of 3, 7, 16, 1 to 3 workers, some operands in files:
    numpy's answer; multiplied directly exactly when the output is one tile
    and nothing is a memmap, else tiled, each output tile once."""
    rng = np.random.default_rng(seed)
    for case in range(12):
        m, n, k = (int(x) for x in rng.integers(1, 41, 3))
        trans_a, trans_b = (bool(x) for x in rng.integers(0, 2, 2))
        alpha = float(rng.choice([1.0, -0.75, 2.5]))
        beta = float(rng.choice([0.0, 1.0, -1.5]))
        tile = int(rng.choice([3, 7, 16]))
        workers = int(rng.integers(1, 4))
        in_files = [name for name in "abc" if rng.random() < 0.25]
        a, b, c = operands(rng, m, n, k, dtype, trans_a, trans_b)
        c0 = c.copy()
        given = {name: on_disk(tmp_path, f"{name}{case}", x) if name in in_files else x
                 for name, x in zip("abc", (a, b, c))}
        with TiledEngine(workers=workers, tile=tile) as engine:
            out = engine.gemm(given["a"], given["b"], given["c"], alpha=alpha, beta=beta,
                              trans_a=trans_a, trans_b=trans_b)
        assert out is given["c"]
        assert_product(out, a, b, c0, alpha, beta, trans_a, trans_b)
        last = engine.last
        assert last.direct == (m <= tile and n <= tile and not in_files), (m, n, tile, in_files)
        if not last.direct:
            assert sum(last.tiles) == count(m, tile) * count(n, tile)
        assert last.shape == (m, n, k) and last.tile == tile
        assert last.dtype == np.dtype(dtype).name


@pytest.mark.parametrize("m,n,k", [(1, 23, 9), (23, 1, 9), (1, 1, 30), (17, 19, 1),
                                   (1, 40, 1), (40, 1, 1)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, True)])
def test_vectors(m, n, k, trans_a, trans_b, tmp_path):
    """1 x n, n x 1 and k = 1 (outer) products, in memory and as memmaps, on a tile of 7."""
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    a, b, c = operands(rng, m, n, k, np.float64, trans_a, trans_b)
    with TiledEngine(workers=2, tile=7) as engine:
        assert_product(engine.gemm(a, b, trans_a=trans_a, trans_b=trans_b), a, b, c, 1.0, 0.0,
                       trans_a, trans_b)
        assert engine.last.direct == (m <= 7 and n <= 7)
        mapped = engine.gemm(on_disk(tmp_path, "a", a), on_disk(tmp_path, "b", b),
                             on_disk(tmp_path, "c", c), alpha=-2.0, beta=0.5,
                             trans_a=trans_a, trans_b=trans_b)
        assert_product(mapped, a, b, c, -2.0, 0.5, trans_a, trans_b)
        assert not engine.last.direct


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("where", ["memory", "memmap"])
def test_all_four_transposes(trans_a, trans_b, where, tmp_path):
    rng = np.random.default_rng(7)
    m, n, k = 29, 22, 37
    a, b, c = operands(rng, m, n, k, np.float64, trans_a, trans_b)
    if where == "memmap":
        a_in, b_in = on_disk(tmp_path, "a", a), on_disk(tmp_path, "b", b)
    else:
        a_in, b_in = a, b
    with TiledEngine(workers=3, tile=7) as engine:
        out = engine.gemm(a_in, b_in, c.copy(), alpha=0.5, beta=-1.0, trans_a=trans_a,
                          trans_b=trans_b)
    assert_product(out, a, b, c, 0.5, -1.0, trans_a, trans_b)
    assert not engine.last.direct


@pytest.mark.parametrize("m,n,k", [(0, 5, 4), (5, 0, 4), (0, 0, 4), (5, 6, 0), (0, 6, 0),
                                   (0, 0, 0)])
@pytest.mark.parametrize("beta", [0.0, 0.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_dimensions(m, n, k, beta, dtype):
    """m = 0 or n = 0: an empty C; k = 0: op(A)·op(B) is 0, so C = beta·C
    (beta 0: zeros, whatever C held)."""
    rng = np.random.default_rng(3)
    a, b, c = operands(rng, m, n, k, dtype)
    if c.size:
        c[0, 0] = np.nan if beta == 0.0 else 2.0
    c0 = c.copy()
    with TiledEngine(workers=2, tile=3) as engine:
        out = engine.gemm(a, b, c, alpha=3.0, beta=beta)
        assert out is c and out.shape == (m, n)
        assert_allclose(out, np.zeros((m, n)) if beta == 0.0 else beta * c0, rtol=0, atol=0)
        assert not np.isnan(out).any()
        new = engine.gemm(a, b)   # no c: a new array (beta 0)
        assert new.shape == (m, n) and new.dtype == dtype and not new.any()


@pytest.mark.parametrize("path", ["direct", "tiled", "memmap"])
def test_beta_zero_ignores_c(path, tmp_path):
    """beta = 0: C's old values, NaN and infinities too, are not read (as
    BLAS does); beta != 0: they are (NaN stays NaN)."""
    rng = np.random.default_rng(11)
    m, n, k = (5, 6, 7) if path == "direct" else (20, 18, 13)
    a, b, _ = operands(rng, m, n, k)
    dirty = np.full((m, n), np.nan)
    dirty[1, 2] = np.inf
    dirty[2, 1] = -np.inf
    if path == "memmap":
        a, b = on_disk(tmp_path, "a", a), on_disk(tmp_path, "b", b)
        c = on_disk(tmp_path, "c", dirty)
    else:
        c = dirty.copy()
    with TiledEngine(workers=2, tile=8) as engine:
        out = engine.gemm(a, b, c, alpha=1.5, beta=0.0)
        assert engine.last.direct == (path == "direct")
        assert np.isfinite(out).all()
        assert_product(out, a, b, None, 1.5, 0.0)
        c[...] = dirty
        assert np.isnan(engine.gemm(a, b, c, beta=1.0)).sum() == m * n - 2


@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (0.0, 1.0), (0.0, 0.0), (-1.0, 1.0),
                                        (3.25, -0.5), (1e-3, 1e3), (np.float32(2.0), 1)])
def test_alpha_beta(alpha, beta):
    rng = np.random.default_rng(5)
    a, b, c = operands(rng, 21, 17, 30)
    with TiledEngine(workers=2, tile=8) as engine:
        out = engine.gemm(a, b, c.copy(), alpha=alpha, beta=beta)
    assert_product(out, a, b, c, float(alpha), float(beta))


@pytest.mark.parametrize("which", ["a", "b", "c", "abc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_memmap_operands(which, dtype, tmp_path):
    """A, B, C each (and all) in .npy files: the product is right, and it is
    in C's file."""
    rng = np.random.default_rng(13)
    m, n, k = 31, 26, 45
    a, b, c = operands(rng, m, n, k, dtype, trans_a=True)
    args = {"a": a, "b": b, "c": c.copy()}
    for name in which:
        args[name] = on_disk(tmp_path, name, args[name])
    with TiledEngine(workers=2, tile=16) as engine:
        out = engine.gemm(args["a"], args["b"], args["c"], alpha=-0.5, beta=2.0, trans_a=True)
    assert out is args["c"]
    assert not engine.last.direct
    assert_product(out, a, b, c, -0.5, 2.0, trans_a=True)
    if "c" in which:
        out.flush()
        assert_product(np.load(tmp_path / "c.npy"), a, b, c, -0.5, 2.0, trans_a=True)
    # tiles of a memmap operand go through the caches: each worker loads
    # tiles when (and only when) an operand is a memmap
    loads = sum(w.loads for w in engine.last.workers)
    assert (loads > 0) == ("a" in which or "b" in which)


def test_strided_and_fortran_operands():
    """Views with steps, reversed, Fortran-ordered operands and a strided C."""
    rng = np.random.default_rng(67)
    big_a = rng.standard_normal((70, 90))
    a = big_a[1:61:2, ::-3]                      # 30 x 30, both steps not 1, reversed
    b = np.asfortranarray(rng.standard_normal((30, 25)))
    big_c = rng.standard_normal((60, 75))
    c = big_c[::2, ::3]                          # 30 x 25, strided
    c0, big_c0 = c.copy(), big_c.copy()
    with TiledEngine(workers=2, tile=7) as engine:
        out = engine.gemm(a, b, c, alpha=0.5, beta=1.5)
    assert out is c
    assert_product(out, a, b, c0, 0.5, 1.5)
    between = np.ones(big_c.shape, bool)
    between[::2, ::3] = False
    assert (big_c[between] == big_c0[between]).all()   # only C's own elements written


def test_one_engine_from_several_threads():
    """Products started from several threads at once run one after the
    other, each right."""
    engine = TiledEngine(workers=2, tile=8)
    wrong = []

    def products(seed):
        rng = np.random.default_rng(seed)
        a, b, c = operands(rng, 40, 33, 27)
        for _ in range(10):
            got = engine.gemm(a, b)
            want, scale = expected(a, b, c)
            if not np.allclose(got, want, rtol=1e-12, atol=1e-12 * scale):
                wrong.append(seed)

    threads = [threading.Thread(target=products, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    engine.close()
    assert not any(thread.is_alive() for thread in threads)
    assert wrong == [] and engine.meter.current == 0 and gemm_threads() == []


def test_single_in_memory_tile_is_direct():
    """One output tile, operands in memory: multiplied in the calling thread
    (direct), with no engine memory; a memmap C or a second tile is tiled."""
    rng = np.random.default_rng(17)
    a, b, c = operands(rng, 16, 16, 100)
    with TiledEngine(workers=2, tile=16, memory=10**6) as engine:
        assert_product(engine.gemm(a, b), a, b, c)
        assert engine.last.direct and engine.last.peak_bytes == 0
        assert engine.last.tiles == [0, 0]
        a17, b17, c17 = operands(rng, 17, 16, 100)
        assert_product(engine.gemm(a17, b17), a17, b17, c17)
        assert not engine.last.direct and sum(engine.last.tiles) == 2
        assert engine.last.peak_bytes == 0   # summed in C itself: no buffers
        assert_product(engine.gemm(a17, b17, c17.copy(), beta=1.0), a17, b17, c17, beta=1.0)
        assert engine.last.peak_bytes > 0    # beta 1: buffers, combined into C


def test_beta_zero_sums_in_c_and_scales_it_by_alpha():
    """C in memory, beta 0: the tiles are summed in C itself (no output
    buffers), alpha scales them there; a memmap C goes through the buffers."""
    rng = np.random.default_rng(97)
    a, b, c = operands(rng, 30, 20, 50)
    with TiledEngine(workers=2, tile=8) as engine:
        out = engine.gemm(a, b, np.full((30, 20), np.nan), alpha=-2.5)
        assert_allclose(out, -2.5 * (a @ b), rtol=1e-12, atol=1e-12)
        assert engine.last.peak_bytes == 0


def test_product_stats():
    rng = np.random.default_rng(19)
    a, b, _ = operands(rng, 40, 50, 60)
    with TiledEngine(workers=2, tile=10, schedule="static") as engine:
        engine.gemm(a, b)
    last = engine.last
    assert isinstance(last, ProductStats) and all(isinstance(w, WorkerStats) for w in last.workers)
    assert last.shape == (40, 50, 60) and last.schedule == "static" and last.tile == 10
    assert last.flops == 2.0 * 40 * 50 * 60
    assert last.seconds > 0 and last.gflops == pytest.approx(last.flops / last.seconds / 1e9)
    assert last.tiles == [10, 10]
    # in memory, all of k is one step: one step per output tile
    assert [w.steps for w in last.workers] == [10, 10]
    assert all(w.busy_seconds > 0 for w in last.workers)


# ---------------------------------------------------------------------------
# out of core, and the cache

def test_out_of_core_product_stays_within_budget(tmp_path):
    """A, B and C in files, together four times the memory budget: the
    product is right, the engine's own count stays within the budget, and
    so does what Python and numpy allocate (tracemalloc) during the product,
    up to 256 KiB: numpy's ufunc buffers while tiles are written into a
    strided C (two of at most 8192 elements per writer), and the threads'
    Python objects."""
    n, tile, workers = 384, 64, 2
    rng = np.random.default_rng(23)
    a, b, c = operands(rng, n, n, n)
    a_file, b_file, c_file = (on_disk(tmp_path, name, x) for name, x in zip("abc", (a, b, c)))
    memory = (a.nbytes + b.nbytes + c.nbytes) // 4
    slack = 256 * 1024
    with TiledEngine(workers=workers, tile=tile, memory=memory) as engine:
        engine.gemm(a_file[:8, :8], b_file[:8, :8])   # first-use imports out of the way
        tracemalloc.start()
        try:
            out = engine.gemm(a_file, b_file, c_file, alpha=0.5, beta=-2.0)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    last = engine.last
    assert_product(out, a, b, c, 0.5, -2.0)
    assert last.tile == tile and not last.direct
    assert 0 < last.peak_bytes <= memory
    # tracemalloc sees numpy's memory (else this test could not fail) ...
    assert peak >= last.peak_bytes
    # ... and what it sees stays within the budget
    assert peak <= memory + slack, f"peak {peak} > budget {memory} + {slack}"
    assert engine.meter.current == 0


def test_cache_reuses_tiles(tmp_path):
    """A budget that holds all of A and B per worker: each operand tile is
    loaded at most once per worker and then found again (hits); every tile
    product takes one A and one B tile, loaded or hit."""
    rng = np.random.default_rng(29)
    m = n = k = 96
    tile = 16
    a, b, c = operands(rng, m, n, k)
    tiles = count(m, tile) * count(n, tile)
    steps = count(k, tile)
    working = 3 * tile * tile * F64 + a.nbytes + b.nbytes
    with TiledEngine(workers=2, tile=tile, memory=2 * working) as engine:
        out = engine.gemm(on_disk(tmp_path, "a", a), on_disk(tmp_path, "b", b))
    assert_product(out, a, b, c)
    workers = engine.last.workers
    assert sum(w.hits for w in workers) > 0
    assert sum(w.loads + w.hits for w in workers) == 2 * tiles * steps
    assert sum(w.steps for w in workers) == tiles * steps
    distinct = count(m, tile) * steps + steps * count(n, tile)
    # no tile is loaded twice by one worker (a worker may get no tile at all
    # when the other one empties the queue before it starts)
    assert all(w.loads <= distinct for w in workers)
    assert all((w.loads > 0) == (w.tiles > 0) for w in workers)
    assert sum(w.bytes_loaded for w in workers) == sum(w.loads for w in workers) * tile * tile * F64
    assert engine.last.peak_bytes <= 2 * working


def test_tight_budget_evicts_and_stays_right(tmp_path):
    """A budget of exactly one worker's working set (two output tiles, a
    product tile, one tile of A and one of B): tiles are evicted and loaded
    again, and the product is still right, within the budget."""
    rng = np.random.default_rng(31)
    m, n, k, tile = 50, 45, 70, 16
    a, b, c = operands(rng, m, n, k, trans_b=True)
    with TiledEngine(workers=1, tile=tile) as probe:
        memory = probe.working_set(m, n, k, tile, np.float64, (False, False))
    assert memory == (3 * tile * tile + 2 * tile * tile) * F64
    with TiledEngine(workers=1, tile=tile, memory=memory) as engine:
        out = engine.gemm(on_disk(tmp_path, "a", a), on_disk(tmp_path, "b", b),
                          on_disk(tmp_path, "c", c), beta=1.0, trans_b=True)
    assert_product(out, a, b, c, 1.0, 1.0, trans_b=True)
    worker, = engine.last.workers
    distinct = count(m, tile) * count(k, tile) + count(k, tile) * count(n, tile)
    uses = 2 * count(m, tile) * count(n, tile) * count(k, tile)
    assert worker.loads + worker.hits == uses
    assert worker.loads > distinct        # some tile was evicted and loaded again
    assert engine.last.peak_bytes <= memory


# TileCache -----------------------------------------------------------------

def filler(value):
    return lambda buffer: buffer.fill(value)


def tile_bytes(shape=(4, 4)):
    return int(np.prod(shape)) * F64


def test_tile_cache_hits_and_lru_eviction():
    meter = MemoryMeter()
    cache = TileCache(3 * tile_bytes(), meter)
    for key in "xyz":
        cache.acquire(key, (4, 4), np.float64, filler(ord(key)))
        cache.release(key)
    assert (cache.loads, cache.hits, cache.evictions) == (3, 0, 0)
    assert meter.current == 3 * tile_bytes()
    x = cache.acquire("x", (4, 4), np.float64, filler(-1.0))   # a hit: not filled again
    assert cache.hits == 1 and (x == ord("x")).all()
    cache.release("x")
    # y is now the least recently used
    cache.acquire("w", (4, 4), np.float64, filler(1.0))
    cache.release("w")
    assert cache.evictions == 1
    assert cache.acquire("x", (4, 4), np.float64, filler(-1.0))[0, 0] == ord("x")
    cache.release("x")
    assert cache.acquire("z", (4, 4), np.float64, filler(-1.0))[0, 0] == ord("z")
    cache.release("z")
    assert cache.acquire("y", (4, 4), np.float64, filler(5.0))[0, 0] == 5.0   # reloaded
    cache.release("y")
    assert (cache.loads, cache.hits, cache.evictions) == (5, 3, 2)
    assert cache.bytes_loaded == 5 * tile_bytes()
    assert meter.current == meter.peak == 3 * tile_bytes()
    cache.close()
    assert meter.current == 0


def test_tile_cache_never_evicts_pinned_tiles():
    meter = MemoryMeter()
    cache = TileCache(2 * tile_bytes(), meter)
    first = cache.acquire("old", (4, 4), np.float64, filler(1.0))   # stays pinned
    cache.acquire("mid", (4, 4), np.float64, filler(2.0))
    cache.release("mid")
    cache.acquire("new", (4, 4), np.float64, filler(3.0))   # evicts mid, not the older old
    cache.release("new")
    assert cache.evictions == 1 and (first == 1.0).all()
    assert cache.acquire("old", (4, 4), np.float64, filler(-1.0)) is first
    assert cache.hits == 1
    cache.close()


def test_tile_cache_full_of_pinned_tiles_waits_for_a_release():
    meter = MemoryMeter()
    cache = TileCache(2 * tile_bytes(), meter)
    cache.acquire("p", (4, 4), np.float64, filler(1.0))
    cache.acquire("q", (4, 4), np.float64, filler(2.0))
    got = {}
    waiter = threading.Thread(
        target=lambda: got.setdefault("r", cache.acquire("r", (4, 4), np.float64, filler(3.0))),
        daemon=True)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and not got   # waiting: both tiles are pinned
    cache.release("q")
    waiter.join(WAIT)
    assert not waiter.is_alive() and (got["r"] == 3.0).all()
    assert cache.evictions == 1 and meter.peak == 2 * tile_bytes()
    cache.close()
    assert meter.current == 0


def test_tile_cache_reuses_an_evicted_buffer_of_the_same_shape():
    meter = MemoryMeter()
    cache = TileCache(2 * tile_bytes(), meter)
    a = cache.acquire("a", (4, 4), np.float64, filler(1.0))
    cache.release("a")
    wide = cache.acquire("wide", (2, 8), np.float64, filler(2.0))
    cache.release("wide")
    b = cache.acquire("b", (4, 4), np.float64, filler(3.0))   # evicts a (same shape): reused
    cache.release("b")
    assert b is a and (b == 3.0).all()
    c = cache.acquire("c", (4, 4), np.float64, filler(4.0))   # evicts wide (other shape): new
    cache.release("c")
    assert c is not wide and c.shape == (4, 4)
    assert meter.current == meter.peak == 2 * tile_bytes()
    cache.close()
    assert meter.current == 0


def test_tile_cache_close_fails_a_waiter():
    meter = MemoryMeter()
    cache = TileCache(tile_bytes(), meter)
    cache.acquire("p", (4, 4), np.float64, filler(1.0))
    errors = []

    def wait_for_room():
        try:
            cache.acquire("q", (4, 4), np.float64, filler(2.0))
        except RuntimeError as error:
            errors.append(error)

    waiter = threading.Thread(target=wait_for_room, daemon=True)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()
    cache.close()
    waiter.join(WAIT)
    assert not waiter.is_alive()
    assert len(errors) == 1 and "closed" in str(errors[0])
    assert meter.current == 0
    with pytest.raises(RuntimeError, match="closed"):
        cache.acquire("r", (4, 4), np.float64, filler(3.0))


def test_tile_cache_failed_fill_gives_its_room_back():
    meter = MemoryMeter()
    cache = TileCache(tile_bytes(), meter)

    def broken(buffer):
        raise OSError("read failed")

    with pytest.raises(OSError, match="read failed"):
        cache.acquire("a", (4, 4), np.float64, broken)
    assert meter.current == 0 and cache.loads == 0
    cache.acquire("a", (4, 4), np.float64, filler(1.0))   # the room is there again
    cache.release("a")
    assert cache.loads == 1
    cache.close()


def test_unbounded_cache_keeps_everything():
    meter = MemoryMeter()
    cache = TileCache(None, meter)
    for key in range(20):
        cache.acquire(key, (4, 4), np.float64, filler(key))
        cache.release(key)
    assert cache.evictions == 0 and meter.current == 20 * tile_bytes()
    cache.close()
    assert meter.current == 0


# TaskQueue and Tiling --------------------------------------------------------

def test_tiling_cuts_edges():
    tiling = Tiling(10, 7, 5, 4)
    assert tiling.rows == [(0, 4), (4, 8), (8, 10)]
    assert tiling.cols == [(0, 4), (4, 7)]
    assert tiling.inner == [(0, 4), (4, 5)]
    assert tiling.tasks == [(i, j) for i in range(3) for j in range(2)]
    assert tiling.largest() == (4, 4, 4)
    assert Tiling(2, 3, 0, 4).largest() == (2, 3, 0)
    assert spans(0, 4) == []


def test_dynamic_queue_hands_each_tile_once():
    tasks = [(i, j) for i in range(40) for j in range(25)]
    queue = TaskQueue(tasks, 4)
    taken = [[] for _ in range(4)]
    start = threading.Barrier(4)

    def pull(worker):
        start.wait()
        while (task := queue.next(worker)) is not None:
            taken[worker].append(task)

    threads = [threading.Thread(target=pull, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    everything = [task for worker in taken for task in worker]
    assert sorted(everything) == sorted(tasks) and len(everything) == len(tasks)
    for worker in taken:   # each in queue order
        assert worker == sorted(worker)
    assert queue.next(0) is None


def test_static_queue_deals_equal_contiguous_blocks():
    tasks = list(range(10))
    queue = TaskQueue(tasks, 3, "static")
    dealt = []
    for worker in range(3):
        mine = []
        while (task := queue.next(worker)) is not None:
            mine.append(task)
        dealt.append(mine)
    assert dealt == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    even = TaskQueue(list(range(256)), 2, "static")
    assert [even.next(1) for _ in range(2)] == [128, 129]
    assert even.next(0) == 0


def test_cancelled_queue_hands_out_nothing():
    for schedule in ("dynamic", "static"):
        queue = TaskQueue(list(range(8)), 2, schedule)
        assert queue.next(0) == 0
        queue.cancel()
        assert queue.next(0) is None and queue.next(1) is None


def test_queue_refuses_an_unknown_schedule():
    with pytest.raises(ValueError, match="schedule: expected one of dynamic, static, got 'fifo'"):
        TaskQueue([], 1, "fifo")


# ---------------------------------------------------------------------------
# unequal workers

def test_slower_worker_takes_fewer_tiles():
    """Two workers, the second at half speed (it rests as long as it
    multiplied): from the shared queue it takes about a third of the 256
    tiles (over three products, so that one disturbed by other processes
    does not decide; k is long so that multiplying, not Python, takes the
    time); each tile once."""
    rng = np.random.default_rng(37)
    a, b, c = operands(rng, 512, 512, 2048)
    slow_tiles = 0
    with TiledEngine(workers=2, tile=32, speeds=[1, 0.5]) as engine:
        for _ in range(3):
            out = engine.gemm(a, b)
            assert sum(engine.last.tiles) == 256
            slow_tiles += engine.last.tiles[1]
    assert_product(out, a, b, c)
    assert 0.2 <= slow_tiles / (3 * 256) <= 0.45, slow_tiles
    fast, slow = engine.last.workers
    assert (fast.speed, slow.speed) == (1.0, 0.5)


def test_static_schedule_deals_halves_whatever_the_speeds(tmp_path):
    rng = np.random.default_rng(41)
    a, b, c = operands(rng, 512, 512, 64)
    with TiledEngine(workers=2, tile=32, speeds=[1, 0.5], schedule="static") as engine:
        assert_product(engine.gemm(a, b), a, b, c)
        assert engine.last.tiles == [128, 128]
        # the same with memmap operands (loaded ahead)
        a_file = on_disk(tmp_path, "a", a)
        assert_product(engine.gemm(a_file, b), a, b, c)
        assert engine.last.tiles == [128, 128]


def test_more_workers_than_tiles():
    rng = np.random.default_rng(43)
    a, b, c = operands(rng, 10, 10, 10)
    with TiledEngine(workers=5, tile=8) as engine:
        assert_product(engine.gemm(a, b), a, b, c)
    assert sum(engine.last.tiles) == 4 and len(engine.last.tiles) == 5
    with TiledEngine(workers=5, tile=8, schedule="static") as engine:
        assert_product(engine.gemm(a, b), a, b, c)
    assert sorted(engine.last.tiles) == [0, 1, 1, 1, 1]


# ---------------------------------------------------------------------------
# bad input

def _matrix(*shape, dtype=np.float64):
    return np.ones(shape, dtype)


BAD_OPERANDS = [
    ("inner", dict(a=_matrix(3, 4), b=_matrix(5, 2)), r"inner dimensions differ: op\(a\) is 3x4"),
    ("inner-trans", dict(a=_matrix(3, 4), b=_matrix(4, 2), trans_a=True),
     r"inner dimensions differ: op\(a\) is 4x3 .*trans_a=True"),
    ("ndim-a", dict(a=np.ones(4), b=_matrix(4, 2)), r"a must be a 2-D numpy array, got .*\(4,\)"),
    ("ndim-b", dict(a=_matrix(3, 4), b=np.ones((4, 2, 1))), r"b must be a 2-D numpy array"),
    ("list", dict(a=[[1.0, 2.0]], b=_matrix(2, 2)), r"a must be a 2-D numpy array, got list"),
    ("int", dict(a=_matrix(3, 4, dtype=np.int64), b=_matrix(4, 2, dtype=np.int64)),
     r"a must be float32 or float64, got int64"),
    ("complex", dict(a=_matrix(3, 4), b=_matrix(4, 2, dtype=np.complex128)),
     r"b must be float32 or float64, got complex128"),
    ("mixed", dict(a=_matrix(3, 4), b=_matrix(4, 2, dtype=np.float32)),
     r"a and b must have one dtype, got a float64 and b float32"),
    ("c-shape", dict(a=_matrix(3, 4), b=_matrix(4, 2), c=_matrix(2, 3)),
     r"c must be a float64 array of shape \(3, 2\), got float64 of shape \(2, 3\)"),
    ("c-dtype", dict(a=_matrix(3, 4), b=_matrix(4, 2), c=_matrix(3, 2, dtype=np.float32)),
     r"c must be a float64 array of shape \(3, 2\), got float32"),
    ("c-list", dict(a=_matrix(3, 4), b=_matrix(4, 2), c=[[0.0] * 2] * 3),
     r"c must be a float64 array of shape \(3, 2\), got list"),
    ("no-c", dict(a=_matrix(3, 4), b=_matrix(4, 2), beta=1.0), r"beta is not 0 but there is no c"),
    ("alpha-nan", dict(a=_matrix(3, 4), b=_matrix(4, 2), alpha=np.nan),
     r"alpha must be a finite real number, got nan"),
    ("alpha-inf", dict(a=_matrix(3, 4), b=_matrix(4, 2), alpha=float("inf")),
     r"alpha must be a finite real number, got inf"),
    ("beta-inf", dict(a=_matrix(3, 4), b=_matrix(4, 2), c=_matrix(3, 2), beta=-np.inf),
     r"beta must be a finite real number"),
    ("alpha-complex", dict(a=_matrix(3, 4), b=_matrix(4, 2), alpha=1j),
     r"alpha must be a finite real number, got 1j"),
    ("alpha-str", dict(a=_matrix(3, 4), b=_matrix(4, 2), alpha="2"),
     r"alpha must be a finite real number, got '2'"),
    ("alpha-bool", dict(a=_matrix(3, 4), b=_matrix(4, 2), alpha=True),
     r"alpha must be a finite real number, got True"),
]


@pytest.mark.parametrize("kwargs,pattern", [case[1:] for case in BAD_OPERANDS],
                         ids=[case[0] for case in BAD_OPERANDS])
def test_bad_operands(kwargs, pattern):
    kwargs = dict(kwargs)
    a, b, c = kwargs.pop("a"), kwargs.pop("b"), kwargs.pop("c", None)
    kept = None if not isinstance(c, np.ndarray) else c.copy()
    with TiledEngine(workers=2, tile=2) as engine:
        with pytest.raises(ValueError, match=pattern):
            engine.gemm(a, b, c, **kwargs)
        assert engine.last is None
    if kept is not None:
        assert_allclose(c, kept, rtol=0, atol=0)   # nothing written


def test_read_only_c(tmp_path):
    a, b = _matrix(3, 4), _matrix(4, 2)
    c = _matrix(3, 2)
    c.flags.writeable = False
    with TiledEngine() as engine:
        with pytest.raises(ValueError, match="c is read-only"):
            engine.gemm(a, b, c)
        on_disk(tmp_path, "c", _matrix(3, 2))
        read_only = np.load(tmp_path / "c.npy", mmap_mode="r")
        with pytest.raises(ValueError, match="c is read-only"):
            engine.gemm(a, b, read_only)


def test_c_overlapping_an_operand_is_refused():
    square = np.arange(36.0).reshape(6, 6)
    kept = square.copy()
    with TiledEngine(workers=2, tile=2) as engine:
        with pytest.raises(ValueError, match="c overlaps a"):
            engine.gemm(square, _matrix(6, 6), square)
        with pytest.raises(ValueError, match="c overlaps b"):
            engine.gemm(_matrix(6, 6), square[:, :3], square[:, 2:5])
        with pytest.raises(ValueError, match="c overlaps a"):
            engine.gemm(square[:3, :], _matrix(6, 6), square[2:5, :])
        assert_allclose(square, kept, rtol=0, atol=0)
        # disjoint parts of one array are fine
        top, bottom = square[:3, :], square[3:, :]
        out = engine.gemm(bottom, _matrix(6, 6), top)
        assert_allclose(out, kept[3:, :] @ np.ones((6, 6)), rtol=1e-14)


BAD_OPTIONS = [
    (dict(workers=0), r"workers: must be a positive integer, got 0"),
    (dict(workers=1.5), r"workers: must be a positive integer, got 1.5"),
    (dict(tile=0), r"tile: must be a positive integer, got 0"),
    (dict(tile=-4), r"tile: must be a positive integer, got -4"),
    (dict(memory=-1), r"memory: must be a positive integer, got -1"),
    (dict(memory=0), r"memory: must be a positive integer, got 0"),
    (dict(memory=1e6), r"memory: must be a positive integer, got 1000000.0"),
    (dict(workers=2, speeds=[1.0]), r"speeds: expected 2 numbers in \(0, 1\], one per worker, "
                                    r"got \[1.0\]"),
    (dict(workers=2, speeds=[1.0, 0.0]), r"speeds: expected 2 numbers in \(0, 1\]"),
    (dict(workers=2, speeds=[1.0, 1.5]), r"speeds: expected 2 numbers in \(0, 1\]"),
    (dict(workers=1, speeds=[-0.5]), r"speeds: expected 1 numbers in \(0, 1\]"),
    (dict(workers=1, speeds=[float("nan")]), r"speeds: expected 1 numbers in \(0, 1\]"),
    (dict(workers=1, speeds=["1"]), r"speeds: expected 1 numbers in \(0, 1\]"),
    (dict(workers=1, speeds=0.5), r"speeds: expected 1 numbers in \(0, 1\], one per worker, "
                                  r"got 0.5"),
    (dict(schedule="round-robin"), r"schedule: expected one of dynamic, static, got "
                                   r"'round-robin'"),
    (dict(blas_threads=0), r"blas_threads: must be a positive integer, got 0"),
]


@pytest.mark.parametrize("options,pattern", BAD_OPTIONS,
                         ids=[f"{list(o)[-1]}={list(o.values())[-1]!r}" for o, _ in BAD_OPTIONS])
def test_bad_engine_options(options, pattern):
    with pytest.raises(ValueError, match=pattern):
        TiledEngine(**options)


def test_engine_repr_shows_its_settings():
    assert repr(TiledEngine()) == "TiledEngine(workers=1)"
    assert repr(TiledEngine(workers=2, tile=64, memory=10**6, speeds=[1, 0.5],
                            schedule="static")) == \
        "TiledEngine(workers=2, tile=64, memory=1000000, speeds=[1.0, 0.5], schedule='static')"


def test_budget_too_small_for_the_given_tile(tmp_path):
    """An explicit tile whose working set does not fit: ValueError naming
    memory and what each worker needs; nothing is written."""
    tile, workers = 32, 2
    a, b = _matrix(100, 100), _matrix(100, 100)
    need = (3 * tile * tile + 2 * tile * tile) * F64       # memmap A and B, k in 4 steps
    in_memory_need = 2 * tile * tile * F64                 # operands in memory: two output tiles
    with TiledEngine(workers=workers, tile=tile) as probe:
        assert probe.working_set(100, 100, 100, tile, np.float64, (False, False)) == need
        assert probe.working_set(100, 100, 100, tile, np.float64, (True, True)) == in_memory_need
    memory = workers * need - 1
    a_file, b_file = on_disk(tmp_path, "a", a), on_disk(tmp_path, "b", b)
    c = on_disk(tmp_path, "c", np.full((100, 100), 7.0))
    with TiledEngine(workers=workers, tile=tile, memory=memory) as engine:
        with pytest.raises(ValueError,
                           match=rf"memory: {memory} bytes is too small for a 100x100 by "
                                 rf"100x100 float64 product with tile {tile} on {workers} "
                                 rf"worker\(s\): each worker needs at least {need} bytes "
                                 rf"\(two 32x32 output tiles, a product tile, a 32x32 tile of "
                                 rf"A, a 32x32 tile of B\), {workers * need} in all"):
            engine.gemm(a_file, b_file, c)
        assert (c == 7.0).all() and engine.meter.current == 0
        # in memory the same budget holds the output tiles: it runs
        assert_product(engine.gemm(a, b), a, b, None)
        assert engine.last.peak_bytes <= memory
    with TiledEngine(workers=workers, tile=tile, memory=workers * need) as engine:
        assert_product(engine.gemm(a_file, b_file), a, b, None)
        assert engine.last.peak_bytes <= workers * need


def test_automatic_tile_shrinks_to_fit_the_budget(tmp_path):
    """No tile given: the tile halves from 2048 (256 for this size) until
    each worker's working set (two output buffers, a product buffer, an A
    and a B tile) fits the budget, down to 16; only when even 16 does not
    fit, ValueError."""
    n, workers = 300, 2
    rng = np.random.default_rng(47)
    a, b, c = operands(rng, n, n, n)
    a_file, b_file = on_disk(tmp_path, "a", a), on_disk(tmp_path, "b", b)
    one_step = lambda t: (3 + 2) * t * t * F64       # noqa: E731 - buffers, an A and a B tile
    resident = (False, False)
    with TiledEngine(workers=workers) as unbounded:
        assert unbounded.tile_for(n, n, n, np.float64, resident) == 256
        assert unbounded.tile_for(4000, 4000, 10, np.float64) == 2048
        assert unbounded.working_set(n, n, n, 64, np.float64, resident) == one_step(64)
        # in memory: no A or B tiles, all of k in one step (no product buffer)
        assert unbounded.working_set(n, n, n, 64, np.float64) == 2 * 64 * 64 * F64
    with TiledEngine(workers=workers, memory=workers * one_step(64)) as engine:
        assert engine.tile_for(n, n, n, np.float64, resident) == 64
        assert_product(engine.gemm(a_file, b_file), a, b, c)
        assert engine.last.tile == 64 and engine.last.peak_bytes <= workers * one_step(64)
    # a byte short of one step of 64: a tile of 32
    with TiledEngine(workers=workers, memory=workers * one_step(64) - 1) as engine:
        assert engine.tile_for(n, n, n, np.float64, resident) == 32
    with TiledEngine(workers=workers, memory=workers * one_step(16)) as engine:
        assert engine.tile_for(n, n, n, np.float64, resident) == 16
        assert_product(engine.gemm(a_file[:40, :50], b_file[:50, :30]), a[:40, :50],
                       b[:50, :30], None)
        assert engine.last.tile == 16 and engine.last.peak_bytes <= workers * one_step(16)
    with TiledEngine(workers=workers, memory=workers * one_step(16) - 1) as engine:
        with pytest.raises(ValueError, match=r"memory: .* too small .* with tile 16 on 2 "
                                             r"worker\(s\): each worker needs at least "
                                             rf"{one_step(16)} bytes"):
            engine.gemm(a_file, b_file)
        assert engine.meter.current == 0


# ---------------------------------------------------------------------------
# failures inside the workers

def fail_on_call(monkeypatch, owner, name, nth, error):
    """Make owner.name raise `error` on its nth call (counting over all threads)."""
    original = getattr(owner, name)
    calls = {"n": 0}
    lock = threading.Lock()

    def failing(*args, **kwargs):
        with lock:
            calls["n"] += 1
            now = calls["n"]
        if now == nth:
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)
    return calls


@pytest.mark.parametrize("where,resident", [("load", False), ("multiply", False),
                                            ("multiply", True), ("write", False),
                                            ("write", True)])
def test_worker_failure_reaches_the_caller(where, resident, monkeypatch, tmp_path):
    """A failure in a worker's loader (np.copyto of a memmap tile; operands
    in memory are not loaded), multiplier (_Worker._step) or writer
    (combining a tile into C): gemm raises that very error, the workers'
    threads wait idle for the next product, the engine's memory is all given
    back, and the next product is right."""
    rng = np.random.default_rng(53)
    a, b, c = operands(rng, 64, 64, 64)
    a_in, b_in = (a, b) if resident else (on_disk(tmp_path, "a", a), on_disk(tmp_path, "b", b))
    error = ArithmeticError(f"boom in {where}")
    owner, name = {"load": (np, "copyto"), "multiply": (engine_module._Worker, "_step"),
                   "write": (engine_module, "_combine")}[where]
    with TiledEngine(workers=2, tile=16, memory=10**6) as engine:
        calls = fail_on_call(monkeypatch, owner, name, 3, error)
        kind, raised = run_with_deadline(lambda: engine.gemm(a_in, b_in, c.copy(), beta=1.0))
        assert kind == "raised" and raised is error
        assert calls["n"] >= 3
        assert len(gemm_threads()) == 6  # the workers' threads, idle, kept for the next
        assert engine.meter.current == 0
        assert engine.last is None
        monkeypatch.undo()
        assert_product(engine.gemm(a_in, b_in), a, b, c)
        assert sum(engine.last.tiles) == 16 and engine.meter.current == 0


@pytest.mark.parametrize("nth", range(1, 7))
def test_a_thread_that_will_not_start(nth, monkeypatch):
    """When the nth of the six worker threads cannot be started (no threads
    left), gemm raises that error, after the threads already started have
    finished: nothing hangs, nothing is left running."""
    original = threading.Thread.start
    starts = {"n": 0}
    error = RuntimeError("can't start new thread")

    def start(thread):
        if thread.name.startswith("gemm-worker"):
            starts["n"] += 1
            if starts["n"] == nth:
                raise error
        return original(thread)

    rng = np.random.default_rng(59)
    a, b, c = operands(rng, 64, 64, 64)
    engine = TiledEngine(workers=2, tile=16)
    monkeypatch.setattr(threading.Thread, "start", start)
    kind, raised = run_with_deadline(lambda: engine.gemm(a, b))
    monkeypatch.undo()
    assert kind == "raised" and raised is error
    assert gemm_threads() == []
    assert engine.meter.current == 0
    assert_product(engine.gemm(a, b), a, b, c)
    engine.close()


def test_an_interrupt_while_waiting_stops_the_workers(monkeypatch, tmp_path):
    """A KeyboardInterrupt in the calling thread while it waits for the
    workers: they stop taking tiles and finish, and gemm re-raises it; the
    workers' threads stay for the next product, until close()."""
    original = engine_module._await
    interrupted = {"done": False}

    def wait(done, count):
        if count and not interrupted["done"]:
            interrupted["done"] = True
            raise KeyboardInterrupt
        return original(done, count)

    rng = np.random.default_rng(71)
    a, b, c = operands(rng, 96, 96, 96)
    a_file = on_disk(tmp_path, "a", a)
    with TiledEngine(workers=2, tile=16, memory=10**6) as engine:
        monkeypatch.setattr(engine_module, "_await", wait)
        kind, raised = run_with_deadline(lambda: engine.gemm(a_file, b))
        monkeypatch.undo()
        assert kind == "raised" and isinstance(raised, KeyboardInterrupt)
        assert len(gemm_threads()) == 6 and engine.meter.current == 0
        assert_product(engine.gemm(a_file, b), a, b, c)
    assert gemm_threads() == []  # closed


# ---------------------------------------------------------------------------
# pyxbraid.nn.gemm backend, and BLAS threads

def test_engine_as_nn_gemm_backend(tmp_path):
    rng = np.random.default_rng(61)
    with TiledEngine(workers=2, tile=8) as engine, gemm_backend(engine):
        for trans_a in (False, True):
            for trans_b in (False, True):
                a, b, c = operands(rng, 19, 23, 11, np.float64, trans_a, trans_b)
                assert_product(gemm(a, b, trans_a=trans_a, trans_b=trans_b), a, b, c, 1.0, 0.0,
                               trans_a, trans_b)
                assert engine.last.shape == (19, 23, 11)
                out = np.full((19, 23), np.nan)
                assert gemm(a, b, trans_a=trans_a, trans_b=trans_b, out=out) is out
                assert_product(out, a, b, c, 1.0, 0.0, trans_a, trans_b)
    tiled = make_gemm_backend("tiled", workers=2, tile=8)
    try:
        assert isinstance(tiled, TiledEngine) and tiled.workers == 2
        a, b, c = operands(rng, 9, 30, 4)
        with gemm_backend(tiled):
            assert_product(gemm(a, b), a, b, c)
        assert not tiled.last.direct
    finally:
        tiled.close()


def blas_threads():
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_close_gives_blas_its_threads_back():
    before = blas_threads()
    if not before:
        pytest.skip("no BLAS found by threadpoolctl")
    others = 1 if before[0] != 1 else 2
    a = _matrix(20, 20)
    engine = TiledEngine(workers=2, tile=8, blas_threads=others)
    assert blas_threads() == before        # nothing changes before the first product
    engine.gemm(a, a)
    assert blas_threads() == [others] * len(before)
    engine.close()
    assert blas_threads() == before
    engine.close()                         # twice is harmless
    assert blas_threads() == before
    with TiledEngine(workers=2, tile=8, blas_threads=others) as engine:
        engine.gemm(a, a)
        engine.gemm(a, a)
        assert blas_threads() == [others] * len(before)
    assert blas_threads() == before
    with pytest.raises(ValueError):        # an error inside the block still restores
        with TiledEngine(blas_threads=others) as engine:
            engine.gemm(a, a)
            engine.gemm(a, _matrix(3, 3))
    assert blas_threads() == before


# ---------------------------------------------------------------------------
# the workers' threads, alpha 0, flags, aliasing


def test_workers_threads_are_kept_between_products_and_ended_by_close():
    rng = np.random.default_rng(83)
    a, b, c = operands(rng, 40, 40, 40)
    engine = TiledEngine(workers=3, tile=8)
    assert gemm_threads() == []          # none before the first tiled product
    assert_product(engine.gemm(a, b), a, b, c)
    first = {t.ident for t in threading.enumerate() if t.name.startswith("gemm-worker")}
    assert len(first) == 9
    assert_product(engine.gemm(a, b), a, b, c)
    assert {t.ident for t in threading.enumerate()
            if t.name.startswith("gemm-worker")} == first      # the same threads
    engine.close()
    assert gemm_threads() == []
    assert_product(engine.gemm(a, b), a, b, c)  # usable again: new threads
    engine.close()
    assert gemm_threads() == []


def test_an_engine_left_unclosed_ends_its_threads_when_collected():
    import gc
    rng = np.random.default_rng(89)
    a, b, _ = operands(rng, 20, 20, 20)
    engine = TiledEngine(workers=2, tile=4)
    engine.gemm(a, b)
    assert len(gemm_threads()) == 6
    limits = engine._blas_limits
    del engine
    gc.collect()
    assert gemm_threads() == []
    limits.restore_original_limits()


@pytest.mark.parametrize("where", ["memory", "file"])
def test_alpha_zero_reads_neither_operand(where, tmp_path):
    """As BLAS: with alpha 0, C = beta·C, even with NaN in A and B (and no
    budget is needed)."""
    a = np.full((30, 20), np.nan)
    b = np.full((20, 10), np.inf)
    if where == "file":
        a, b = on_disk(tmp_path, "a", a), on_disk(tmp_path, "b", b)
    c = np.arange(300.0).reshape(30, 10)
    with TiledEngine(workers=2, tile=4, memory=1) as engine:
        out = engine.gemm(a, b, c.copy(), alpha=0.0, beta=2.0)
    assert np.array_equal(out, 2 * c)


@pytest.mark.parametrize("flag", [1, "yes", None, np.float64(1.0)])
def test_transpose_flags_must_be_booleans(flag):
    a = np.ones((3, 3))
    with TiledEngine() as engine:
        with pytest.raises(ValueError, match="trans_a must be True or False"):
            engine.gemm(a, a, trans_a=flag)
        assert engine.gemm(a, a, trans_b=np.bool_(True)).shape == (3, 3)


def test_c_in_the_same_file_as_an_operand_is_refused_and_interleaved_views_allowed(tmp_path):
    path = tmp_path / "shared.npy"
    whole = np.lib.format.open_memmap(path, "w+", np.float64, (8, 8))
    whole[:] = 1.0
    whole.flush()
    again = np.load(path, mmap_mode="r+")            # a second mapping of the same file
    with TiledEngine(tile=4) as engine:
        with pytest.raises(ValueError, match="c overlaps a"):
            engine.gemm(whole[:4, :4], whole[4:, 4:], again[4:, :4])
        x = np.zeros((6, 6))
        x[:, :3] = 1.0
        engine.gemm(x[:, :3].T, x[:, :3], x[:3, 3:])   # interleaved rows: disjoint
        assert np.array_equal(x[:3, 3:], np.full((3, 3), 6.0))


def test_a_tile_larger_than_the_cache_is_refused_not_awaited():
    cache = TileCache(100, MemoryMeter())
    with pytest.raises(ValueError, match="a tile of 800 bytes cannot fit a capacity of 100"):
        cache.acquire("A", (10, 10), np.float64, lambda buffer: None)


def test_the_cache_keeps_the_row_panel_over_b_tiles():
    """Told to keep A's tiles, the cache evicts the least recent B tile
    first, even when an A tile is older."""
    meter = MemoryMeter()
    cache = TileCache(3 * 8, meter, keep=lambda key: key[0] == "A")
    for key in (("A", 0), ("B", 0), ("B", 1)):
        cache.acquire(key, (1,), np.float64, lambda buffer: None)
        cache.release(key)
    cache.acquire(("B", 2), (1,), np.float64, lambda buffer: None)
    assert set(cache._entries) == {("A", 0), ("B", 1), ("B", 2)}
