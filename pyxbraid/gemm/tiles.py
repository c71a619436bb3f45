"""How a product C = op(A)·op(B) is cut into tiles, and the queue of output
tiles that the workers pull from.

An output tile (i, j) is the block of rows i and columns j of C; computing it
takes the inner steps kk = 0 .. K-1, each the product of the tile (i, kk) of
op(A) and the tile (kk, j) of op(B).  Edge tiles are smaller when a dimension
is not a multiple of the tile size."""
import threading

SCHEDULES = ("dynamic", "static")


def product_shape(a, b, trans_a, trans_b):
    """(m, n, k) of op(a)·op(b) for 2-D arrays; ValueError when the inner
    dimensions differ."""
    m, k = a.shape[::-1] if trans_a else a.shape
    k_b, n = b.shape[::-1] if trans_b else b.shape
    if k != k_b:
        raise ValueError(f"gemm: inner dimensions differ: op(a) is {m}x{k} (a {a.shape}, "
                         f"trans_a={trans_a}), op(b) is {k_b}x{n} (b {b.shape}, "
                         f"trans_b={trans_b})")
    return m, n, k


def spans(size, tile):
    """[(start, stop)] cutting range(size) into pieces of at most `tile`."""
    return [(start, min(start + tile, size)) for start in range(0, size, tile)]


class Tiling:
    """The tiles of an (m x k) by (k x n) product: output tiles of side
    `tile`, inner steps of `depth` (default: tile, square tiles as BLASX's)."""

    def __init__(self, m, n, k, tile, depth=None):
        self.m, self.n, self.k, self.tile = m, n, k, tile
        self.depth = tile if depth is None else depth
        self.rows, self.cols = spans(m, tile), spans(n, tile)
        self.inner = spans(k, self.depth)

    @property
    def tasks(self):
        """The output tiles (i, j), row by row: consecutive tasks share A's row panel."""
        return [(i, j) for i in range(len(self.rows)) for j in range(len(self.cols))]

    def largest(self):
        """(rows, cols, inner): the largest tile extents (0 for an empty dimension)."""
        return min(self.tile, self.m), min(self.tile, self.n), min(self.depth, self.k)

    def flops(self):
        return 2.0 * self.m * self.n * self.k


class TaskQueue:
    """The shared queue of output tiles.

    dynamic (BLASX's scheduling): each worker takes the next tile when it is
    ready for one, so a faster worker takes more; static: the tiles are dealt
    out beforehand in equal contiguous blocks, one per worker (the baseline
    that dynamic scheduling is measured against)."""

    def __init__(self, tasks, workers, schedule="dynamic"):
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {', '.join(SCHEDULES)}, got {schedule!r}")
        self.schedule = schedule
        self._lock = threading.Lock()
        self._cancelled = False
        if schedule == "dynamic":
            self._shared = list(reversed(tasks))
        else:
            bounds = [len(tasks) * w // workers for w in range(workers + 1)]
            self._own = [list(reversed(tasks[bounds[w]:bounds[w + 1]])) for w in range(workers)]

    def next(self, worker):
        """The next output tile for `worker`, or None when there is none left."""
        with self._lock:
            if self._cancelled:
                return None
            pending = self._shared if self.schedule == "dynamic" else self._own[worker]
            return pending.pop() if pending else None

    def cancel(self):
        """Hand out no more tiles (a worker failed)."""
        with self._lock:
            self._cancelled = True
