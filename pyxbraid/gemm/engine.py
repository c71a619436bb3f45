"""The tiled GEMM engine: C = alpha·op(A)·op(B) + beta·C on several workers.

After BLASX (Wang et al. 2015): the output is cut into tiles that form one
shared queue; each worker stands for a device, pulls its next output tile
when it is ready for one (so a faster worker takes more tiles), loads the A
and B tiles it needs from host memory into its own bounded cache (kept, least
recently used first out, for the next tiles), computes there, and writes the
finished tile back while it computes the next one (two output buffers).  A,
B and C may be numpy.memmap arrays: they are read and written tile by tile,
so a product larger than memory runs within the engine's memory budget.

A worker is three threads, as a GPU has a copy engine each way beside its
compute units: one loads tiles, one multiplies, one writes results back.
numpy releases the GIL in matmul and in copies, so the workers really run in
parallel; each wants one BLAS thread (the engine sets BLAS to that while it
lives, through threadpoolctl)."""
import math
import queue
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np

from pyxbraid.checks import is_real, positive_int
from pyxbraid.gemm.cache import MemoryMeter, TileCache
from pyxbraid.gemm.tiles import SCHEDULES, TaskQueue, Tiling, product_shape

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DEFAULT_TILE = 2048       # BLASX's tile for double precision
MIN_AUTO_TILE = 256       # an automatic tile is not cut below this for load balance ...
SMALLEST_TILE = 16        # ... nor below this to fit a memory budget


class BudgetError(ValueError):
    """The memory budget cannot hold the tiles a product needs."""


@dataclass
class WorkerStats:
    """What one worker did in a product."""
    speed: float
    tiles: int = 0            # output tiles computed
    steps: int = 0            # tile products (inner steps)
    loads: int = 0            # operand tiles loaded into its cache
    hits: int = 0             # operand tiles found in its cache
    bytes_loaded: int = 0
    busy_seconds: float = 0.0  # multiplying (with the slow-down of speed < 1)


@dataclass
class ProductStats:
    """The last product of an engine: its size, its time and who did what."""
    shape: tuple              # (m, n, k)
    dtype: str
    tile: int
    schedule: str
    seconds: float = 0.0
    peak_bytes: int = 0       # caches and buffers at their largest
    direct: bool = False      # one tile, in memory: multiplied in the calling thread
    workers: list = field(default_factory=list)

    @property
    def flops(self):
        m, n, k = self.shape
        return 2.0 * m * n * k

    @property
    def gflops(self):
        return self.flops / self.seconds / 1e9 if self.seconds > 0 else float("nan")

    @property
    def tiles(self):
        """Output tiles computed, by worker."""
        return [w.tiles for w in self.workers]


@dataclass
class EngineTotals:
    """What an engine has done since it was made, summed over its products."""
    products: int = 0
    direct: int = 0           # of them multiplied in the calling thread (one tile, in memory)
    seconds: float = 0.0
    flops: float = 0.0
    tiles: list = field(default_factory=list)    # output tiles, by worker
    loads: int = 0
    hits: int = 0
    bytes_loaded: int = 0
    peak_bytes: int = 0

    def add(self, stats):
        self.products += 1
        self.direct += stats.direct
        self.seconds += stats.seconds
        self.flops += stats.flops
        if not self.tiles:
            self.tiles = [0] * len(stats.workers)
        for w, worker in enumerate(stats.workers):
            self.tiles[w] += worker.tiles
            self.loads += worker.loads
            self.hits += worker.hits
            self.bytes_loaded += worker.bytes_loaded
        self.peak_bytes = max(self.peak_bytes, stats.peak_bytes)

    def as_dict(self):
        """JSON data: the counts, and GFLOP/s over the time in products."""
        return dict(products=self.products, direct=self.direct, tiles=list(self.tiles),
                    loads=self.loads, hits=self.hits, bytes_loaded=self.bytes_loaded,
                    peak_bytes=self.peak_bytes, seconds=self.seconds,
                    gflops=self.flops / self.seconds / 1e9 if self.seconds > 0 else None)


class TiledEngine:
    """C = alpha·op(A)·op(B) + beta·C, tiled over `workers` workers.

    workers: how many (threads standing for devices); tile: the side of the
    square tiles (None: 2048, halved down to 256 until every worker has at
    least two output tiles, and further until the memory budget fits);
    memory: bytes for all caches and buffers together (None: unbounded),
    shared equally by the workers; speeds: per worker, its speed relative to
    a full one, in (0, 1] (a worker of speed 0.5 rests as long as it has
    multiplied: tests and benchmarks of unequal devices); schedule: 'dynamic'
    (the shared queue) or 'static' (equal blocks dealt out beforehand, for
    comparison); blas_threads: BLAS threads per worker.

    Also a backend for pyxbraid.nn.gemm: engine(a, b, trans_a=, trans_b=,
    out=).  Use it as a context manager, or close() it, to give BLAS its
    threads back."""

    def __init__(self, workers=1, tile=None, memory=None, speeds=None, schedule="dynamic",
                 blas_threads=1):
        self.workers = positive_int("workers", workers)
        self.tile = None if tile is None else positive_int("tile", tile)
        if memory is not None:
            memory = positive_int("memory", memory)
        self.memory = memory
        given = [1.0] * self.workers if speeds is None else speeds
        try:
            speeds = list(given)
        except TypeError:  # one number, not one per worker
            speeds = None
        if speeds is None or len(speeds) != self.workers or \
                not all(is_real(s) and 0 < s <= 1 for s in speeds):
            raise ValueError(f"speeds: expected {self.workers} numbers in (0, 1], one per "
                             f"worker, got {given!r}")
        self.speeds = [float(s) for s in speeds]
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {', '.join(SCHEDULES)}, got {schedule!r}")
        self.schedule = schedule
        self.blas_threads = positive_int("blas_threads", blas_threads)
        self.meter = MemoryMeter()
        self.last = None          # ProductStats of the last product
        self.totals = EngineTotals()
        self._blas_limits = None
        self._crews = None              # the workers' threads (_Crew), once started
        self._lock = threading.Lock()   # one product at a time

    def __repr__(self):
        settings = [f"workers={self.workers}"]
        if self.tile is not None:
            settings.append(f"tile={self.tile}")
        if self.memory is not None:
            settings.append(f"memory={self.memory}")
        if any(s != 1.0 for s in self.speeds):
            settings.append(f"speeds={self.speeds}")
        if self.schedule != "dynamic":
            settings.append(f"schedule={self.schedule!r}")
        return f"TiledEngine({', '.join(settings)})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """End the workers' threads, and give BLAS back the threads it had
        before the engine's first product.  The engine can be used again
        (it starts new threads)."""
        with self._lock:
            if self._crews is not None:
                self._finalizer()
                self._crews = None
        if self._blas_limits is not None:
            self._blas_limits.restore_original_limits()
            self._blas_limits = None

    def __call__(self, a, b, *, trans_a=False, trans_b=False, out=None):
        """op(a) @ op(b), into out when given: pyxbraid.nn.gemm's backend signature."""
        return self.gemm(a, b, out, trans_a=trans_a, trans_b=trans_b)

    def gemm(self, a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
        """C = alpha·op(a)·op(b) + beta·c, written into c (which may be a
        memmap); c None: a new array (then beta must be 0).  op transposes
        when trans_a / trans_b.  Returns C."""
        m, n, k, dtype = _check_operands(a, b, c, trans_a, trans_b)
        for name, value in (("alpha", alpha), ("beta", beta)):
            if not is_real(value) or not math.isfinite(value):
                raise ValueError(f"gemm: {name} must be a finite real number, got {value!r}")
        alpha, beta = float(alpha), float(beta)
        if c is None:
            if beta != 0.0:
                raise ValueError("gemm: beta is not 0 but there is no c to scale")
            c = np.zeros((m, n), dtype)
        resident = (not isinstance(a, np.memmap), not isinstance(b, np.memmap))
        # nothing to multiply: C = beta·C, A and B not read (as BLAS with alpha 0)
        nothing = m == 0 or n == 0 or k == 0 or alpha == 0.0
        tile = self.tile if nothing else self.tile_for(m, n, k, dtype, resident)
        stats = ProductStats((m, n, k), dtype.name, tile, self.schedule,
                             workers=[WorkerStats(s) for s in self.speeds])
        with self._lock:
            self._limit_blas()
            start = time.perf_counter()
            self.meter.peak = self.meter.current
            if nothing:
                _combine(c, None, 1.0, beta)
            elif all(resident) and not isinstance(c, np.memmap) and m <= tile and n <= tile:
                stats.direct = True
                _combine(c, np.matmul(_op(a, trans_a), _op(b, trans_b)), alpha, beta)
            else:
                tiling = Tiling(m, n, k, tile, _depth(k, tile, resident))
                self._run(_Product(a, b, c, alpha, beta, trans_a, trans_b, resident, tiling,
                                   stats), dtype)
            stats.seconds = time.perf_counter() - start
            stats.peak_bytes = self.meter.peak
            self.last = stats
            self.totals.add(stats)
        return c

    def tile_for(self, m, n, k, dtype=np.float64, resident=(True, True)):
        """The tile side a product of op(A) (m x k) by op(B) (k x n) runs
        with; resident: whether A and B are in memory (else memmaps, loaded
        tile by tile).  Raises ValueError when even the smallest allowed
        tile does not fit the memory budget."""
        dtype = np.dtype(dtype)
        if self.tile is not None:
            self._check_budget(m, n, k, self.tile, dtype, resident)
            return self.tile
        tile = DEFAULT_TILE
        while tile > MIN_AUTO_TILE and _count(m, tile) * _count(n, tile) < 2 * self.workers:
            tile //= 2
        # the largest that fits: fewer, larger steps cost less than loading ahead
        # (measured: out of core at n = 2048, tile 512 without room to load
        # ahead runs 1.3x faster than tile 256 with it)
        while tile > SMALLEST_TILE and not self._fits(m, n, k, tile, dtype, resident):
            tile //= 2
        self._check_budget(m, n, k, tile, dtype, resident)
        return tile

    def working_set(self, m, n, k, tile, dtype=np.float64, resident=(True, True)):
        """Bytes one worker needs at least: two output tiles, a product tile
        when there is more than one inner step, and one tile of each operand
        that is a memmap (an operand in memory is used where it is, as a
        device maps host memory: it takes all of k in one step).  What the
        budget leaves beyond is cache: for the tiles the next steps need
        again, and to load the next step's while one multiplies."""
        tiling = Tiling(m, n, k, tile, _depth(k, tile, resident))
        rows, cols, inner = tiling.largest()
        buffers = (2 + (len(tiling.inner) > 1)) * rows * cols
        loaded = (not resident[0]) * rows * inner + (not resident[1]) * inner * cols
        return (buffers + loaded) * np.dtype(dtype).itemsize

    # ----------------------------------------------------------------------

    def _fits(self, m, n, k, tile, dtype, resident):
        return self.memory is None or \
            self.workers * self.working_set(m, n, k, tile, dtype, resident) <= self.memory

    def _check_budget(self, m, n, k, tile, dtype, resident):
        if self._fits(m, n, k, tile, dtype, resident):
            return
        need = self.working_set(m, n, k, tile, dtype, resident)
        tiling = Tiling(m, n, k, tile, _depth(k, tile, resident))
        rows, cols, inner = tiling.largest()
        parts = [f"two {rows}x{cols} output tiles"]
        if len(tiling.inner) > 1:
            parts.append("a product tile")
        if not resident[0]:
            parts.append(f"a {rows}x{inner} tile of A")
        if not resident[1]:
            parts.append(f"a {inner}x{cols} tile of B")
        raise BudgetError(
            f"memory: {self.memory} bytes is too small for a {m}x{k} by {k}x{n} {dtype.name} "
            f"product with tile {tile} on {self.workers} worker(s): each worker needs at "
            f"least {need} bytes ({', '.join(parts)}), {need * self.workers} in all; give "
            f"more memory, a smaller tile or fewer workers")

    def _limit_blas(self):
        if self._blas_limits is None:
            from threadpoolctl import threadpool_limits
            self._blas_limits = threadpool_limits(limits=self.blas_threads, user_api="blas")

    def _run(self, product, dtype):
        tiling = product.tiling
        rows, cols, inner = tiling.largest()
        itemsize = dtype.itemsize
        buffers = (2 + (len(tiling.inner) > 1)) * rows * cols * itemsize
        capacity = None if self.memory is None else self.memory // self.workers - buffers
        workers, handed = [], 0
        done = threading.Semaphore(0)   # released by each thread of each worker at its end
        try:
            for w in range(self.workers):
                workers.append(_Worker(w, product, self.meter, capacity, self.speeds[w], dtype))
            for crew, worker in zip(self._started_crews(), workers):
                crew.run(worker, done)
                handed += len(_Crew.PARTS)
            _await(done, handed)
            handed = 0
        except BaseException as error:  # an interrupt while waiting, or a failed set-up
            product.fail(error)
            _await(done, handed)  # the threads drain what they were handed, then end
            raise
        finally:
            for worker in workers:
                worker.free_memory()
        if product.error is not None:
            raise product.error

    def _started_crews(self):
        """The workers' threads, started at the first tiled product and kept
        (starting threads for every product would cost more than a small
        product); close() ends them."""
        if self._crews is None:
            crews = []
            try:
                for w in range(self.workers):
                    crews.append(_Crew(w))
            except BaseException:
                _stop_crews(crews)
                raise
            self._crews = crews
            self._finalizer = weakref.finalize(self, _stop_crews, crews)
        return self._crews


class _Crew:
    """The three threads of one worker, kept from product to product: each
    serves its part (load, multiply or write) of the _Worker it is handed."""

    PARTS = ("write", "multiply", "load")   # consumers started first

    def __init__(self, index):
        self.jobs = {part: queue.SimpleQueue() for part in self.PARTS}
        self.threads = []
        try:
            for part in self.PARTS:
                thread = threading.Thread(target=self._serve, args=(part,), daemon=True,
                                          name=f"gemm-worker-{index}-{part}")
                thread.start()
                self.threads.append(thread)
        except BaseException:
            self.stop()
            raise

    def run(self, worker, done):
        for part in self.PARTS:
            self.jobs[part].put((worker, done))

    def stop(self):
        for part, thread in zip(self.PARTS, self.threads):
            self.jobs[part].put(None)
        for thread in self.threads:
            if thread is not threading.current_thread():
                thread.join()

    def _serve(self, part):
        while True:
            job = self.jobs[part].get()
            if job is None:
                return
            worker, done = job
            try:
                getattr(worker, part)()
            finally:
                done.release()


def _await(done, count):
    """Wait until `done` has been released `count` times."""
    for _ in range(count):
        done.acquire()


def _stop_crews(crews):
    for crew in crews:
        crew.stop()


def _depth(k, tile, resident):
    """The inner step: all of k when both operands are in memory, else the tile."""
    return max(k, 1) if all(resident) else tile


def _count(size, tile):
    return max(1, -(-size // tile))


def _op(array, transposed):
    return array.T if transposed else array


def _combine(c, product, alpha, beta):
    """c = alpha·product + beta·c in place (product None: zero), scaling the
    product in place; with beta 0, c's old values (even NaN) are ignored, as BLAS does."""
    if product is None:
        if beta == 0.0:
            c[...] = 0.0
        elif beta != 1.0:
            c *= beta
        return
    if alpha != 1.0:
        product *= alpha
    if beta == 0.0:
        c[...] = product
    else:
        if beta != 1.0:
            c *= beta
        c += product


def _describe(x):
    return f"{getattr(x, 'dtype', type(x).__name__)} of shape {np.shape(x)}"


def _check_operands(a, b, c, trans_a, trans_b):
    """(m, n, k, dtype) of a valid product; ValueError naming what is wrong."""
    for name, flag in (("trans_a", trans_a), ("trans_b", trans_b)):
        if not isinstance(flag, (bool, np.bool_)):
            raise ValueError(f"gemm: {name} must be True or False, got {flag!r}")
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray) or x.ndim != 2:
            raise ValueError(f"gemm: {name} must be a 2-D numpy array, got {_describe(x)}")
        if x.dtype not in DTYPES:
            raise ValueError(f"gemm: {name} must be float32 or float64, got {x.dtype}")
    if a.dtype != b.dtype:
        raise ValueError(f"gemm: a and b must have one dtype, got a {a.dtype} and b {b.dtype}")
    m, n, k = product_shape(a, b, trans_a, trans_b)
    if c is not None:
        if not isinstance(c, np.ndarray) or c.shape != (m, n) or c.dtype != a.dtype:
            raise ValueError(f"gemm: c must be a {a.dtype} array of shape {(m, n)}, got "
                             f"{_describe(c)}")
        if not c.flags.writeable:
            raise ValueError("gemm: c is read-only")
        for name, x in (("a", a), ("b", b)):
            if _overlap(c, x):
                raise ValueError(f"gemm: c overlaps {name}; the product would read what it "
                                 f"has overwritten")
    return m, n, k, a.dtype


def _row_panel(key):
    """Tiles of A: the next output tile of the row (tasks go row by row) needs them again."""
    return key[0] == "A"


def _overlap(c, x):
    """Whether writing c may change x: shared memory (exactly, where numpy
    can tell at little cost), or two mappings of one file."""
    if not c.size or not x.size:
        return False
    if isinstance(c, np.memmap) and isinstance(x, np.memmap) and \
            c.filename is not None and c.filename == x.filename:
        return True
    if not np.may_share_memory(c, x):
        return False
    try:
        return np.shares_memory(c, x, max_work=100_000)
    except np.exceptions.TooHardError:
        return True


class _Product:
    """One product in flight: its operands, its queue and its first error."""

    def __init__(self, a, b, c, alpha, beta, trans_a, trans_b, resident, tiling, stats):
        self.a, self.b, self.c = a, b, c
        self.resident = resident
        # C in memory with beta 0: tiles are summed in C (no buffer to copy back)
        self.in_place = beta == 0.0 and not isinstance(c, np.memmap)
        self.alpha, self.beta = alpha, beta
        self.trans_a, self.trans_b = trans_a, trans_b
        self.tiling, self.stats = tiling, stats
        self.queue = TaskQueue(tiling.tasks, len(stats.workers), stats.schedule)
        self.error = None
        self._lock = threading.Lock()

    @property
    def failed(self):
        return self.error is not None

    def fail(self, error):
        with self._lock:
            if self.error is None:
                self.error = error
        self.queue.cancel()

    def a_tile(self, i, kk):
        (r0, r1), (k0, k1) = self.tiling.rows[i], self.tiling.inner[kk]
        return self.a[k0:k1, r0:r1] if self.trans_a else self.a[r0:r1, k0:k1]

    def b_tile(self, kk, j):
        (k0, k1), (c0, c1) = self.tiling.inner[kk], self.tiling.cols[j]
        return self.b[c0:c1, k0:k1] if self.trans_b else self.b[k0:k1, c0:c1]

    def c_tile(self, i, j):
        (r0, r1), (c0, c1) = self.tiling.rows[i], self.tiling.cols[j]
        return self.c[r0:r1, c0:c1]


class _Worker:
    """One device: a loader, a multiplier and a writer around a tile cache
    and two output buffers.  After a failure anywhere, each thread goes on
    taking what the previous one hands it (doing no arithmetic) until the
    end, so that none waits forever."""

    def __init__(self, index, product, meter, capacity, speed, dtype):
        self.index, self.product, self.meter, self.speed = index, product, meter, speed
        self.stats = product.stats.workers[index]
        self.cache = TileCache(capacity, meter, keep=_row_panel)
        self.loaded = queue.Queue(maxsize=1)   # (task, kk, keys, a, b) ready to multiply
        # Loading ahead: tiles read from files are loaded while the previous
        # step multiplies; tiles in memory need no loading, so a tile is
        # claimed only when the multiplier is idle (a faster worker gets it).
        self._ahead = not all(product.resident)
        self.finished = queue.Queue()          # (task, buffer) to write back
        self.free = queue.Queue()              # output buffers not in use
        rows, cols, _ = product.tiling.largest()
        self._buffers, self._scratch = [], None
        try:
            for _ in range(2):  # (empty tokens of the double buffering when C takes the sums)
                self._buffers.append(meter.allocate(0 if product.in_place else rows * cols,
                                                    dtype))
            if len(product.tiling.inner) > 1:
                self._scratch = meter.allocate(rows * cols, dtype)
        except BaseException:
            self.free_memory()
            raise
        for buffer in self._buffers:
            self.free.put(buffer)

    def free_memory(self):
        self.cache.close()
        for buffer in self._buffers + ([self._scratch] if self._scratch is not None else []):
            self.meter.remove(buffer.nbytes)
        self._buffers, self._scratch = [], None
        self.stats.loads, self.stats.hits = self.cache.loads, self.cache.hits
        self.stats.bytes_loaded = self.cache.bytes_loaded

    def load(self):
        product = self.product
        try:
            while not product.failed:
                self.loaded.join()  # claim a tile only when the multiplier wants one
                task = product.queue.next(self.index)
                if task is None:
                    break
                i, j = task
                for kk in range(len(product.tiling.inner)):
                    if product.failed:
                        break
                    keys = []
                    try:
                        a = self._tile(("A", i, kk), product.a_tile(i, kk), keys)
                        b = self._tile(("B", kk, j), product.b_tile(kk, j), keys)
                    except BaseException:
                        for key in keys:
                            self.cache.release(key)
                        raise
                    self.loaded.put((task, kk, keys, a.T if product.trans_a else a,
                                     b.T if product.trans_b else b))
        except BaseException as error:
            product.fail(error)
        finally:
            self.loaded.put(None)

    def _tile(self, key, source, keys):
        """The tile `source` of operand key[0]: in place when the operand is in
        memory, else loaded into the cache (pinned: its key goes to keys)."""
        if self.product.resident["AB".index(key[0])]:
            return source
        tile = self.cache.acquire(key, source.shape, source.dtype,
                                  lambda buffer: np.copyto(buffer, source))
        keys.append(key)
        return tile

    def multiply(self):
        product, last = self.product, len(self.product.tiling.inner) - 1
        buffer = None
        try:
            while True:
                item = self.loaded.get()
                if self._ahead or item is None:
                    self.loaded.task_done()
                if item is None:
                    break
                task, kk, keys, a, b = item
                try:
                    if kk == 0:
                        buffer = self.free.get()
                    if not product.failed:
                        self._step(self._target(task, buffer, a, b), kk, a, b)
                except BaseException as error:
                    product.fail(error)
                finally:
                    for key in keys:
                        self.cache.release(key)
                    if not self._ahead:
                        self.loaded.task_done()
                if kk == last and buffer is not None:
                    self.finished.put((task, buffer))
                    buffer = None
        finally:
            self.finished.put(None)

    def _target(self, task, buffer, a, b):
        """Where output tile `task` is summed: in C itself when C is in
        memory and its old values are not wanted (beta 0), else in the buffer
        that the writer combines into C."""
        if self.product.in_place:
            return self.product.c_tile(*task)
        shape = (a.shape[0], b.shape[1])
        return buffer[:shape[0] * shape[1]].reshape(shape)

    def _step(self, tile, kk, a, b):
        start = time.perf_counter()
        shape = tile.shape
        size = shape[0] * shape[1]
        if kk == 0:
            np.matmul(a, b, out=tile)
        else:
            partial = self._scratch[:size].reshape(shape)
            np.matmul(a, b, out=partial)
            tile += partial
        elapsed = time.perf_counter() - start
        if self.speed < 1.0:  # a slower device: rest as long as it would take longer
            time.sleep(elapsed * (1.0 / self.speed - 1.0))
        self.stats.steps += 1
        self.stats.busy_seconds += time.perf_counter() - start

    def write(self):
        product = self.product
        while True:
            item = self.finished.get()
            if item is None:
                break
            (i, j), buffer = item
            try:
                if not product.failed:
                    c = product.c_tile(i, j)
                    if not product.in_place:
                        _combine(c, buffer[:c.size].reshape(c.shape), product.alpha,
                                 product.beta)
                    elif product.alpha != 1.0:
                        c *= product.alpha
                    self.stats.tiles += 1
            except BaseException as error:
                product.fail(error)
            finally:
                self.free.put(buffer)
