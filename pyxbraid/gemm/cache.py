"""A worker's tile cache: the operand tiles it has loaded, bounded in bytes,
evicting the least recently used tile that no computation holds (tiles it is
told to keep last)."""
import threading
from collections import OrderedDict

import numpy as np


class MemoryMeter:
    """Bytes allocated by an engine's caches and buffers, and their peak."""

    def __init__(self):
        self._lock = threading.Lock()
        self.current = self.peak = 0

    def add(self, nbytes):
        with self._lock:
            self.current += nbytes
            self.peak = max(self.peak, self.current)

    def remove(self, nbytes):
        with self._lock:
            self.current -= nbytes

    def allocate(self, shape, dtype):
        array = np.empty(shape, dtype)
        self.add(array.nbytes)
        return array


class _Entry:
    __slots__ = ("array", "pins")

    def __init__(self, array):
        self.array, self.pins = array, 0


class TileCache:
    """Tiles by key, at most `capacity` bytes (None: unbounded).

    acquire() returns a tile pinned (loading it on a miss); release() unpins
    it.  A pinned tile is never evicted; when the cache is full of pinned
    tiles, acquire() waits until one is released.  A tile evicted to make room
    for one of the same shape gives its memory to the new one."""

    def __init__(self, capacity, meter, keep=None):
        """keep(key): tiles to evict only when no other unpinned tile is left
        (the engine keeps A's row panel, which the next output tile of the
        row needs again, over B's tiles)."""
        self.capacity, self.meter, self.keep = capacity, meter, keep
        self._entries = OrderedDict()
        self._used = 0
        self._changed = threading.Condition()
        self._closed = False
        self.hits = self.loads = self.evictions = 0
        self.bytes_loaded = 0

    def acquire(self, key, shape, dtype, fill):
        """The tile `key`, pinned; on a miss a buffer of `shape` is filled by
        fill(buffer).  Raises RuntimeError when the cache is closed meanwhile."""
        with self._changed:
            entry = self._entries.get(key)
            if entry is not None:
                entry.pins += 1
                self._entries.move_to_end(key)
                self.hits += 1
                return entry.array
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            if self.capacity is not None and nbytes > self.capacity:
                raise ValueError(f"tile cache: a tile of {nbytes} bytes cannot fit a capacity "
                                 f"of {self.capacity}")
            reused = self._make_room(nbytes, shape, dtype)
        if reused is None:
            reused = self.meter.allocate(shape, dtype)
        try:
            fill(reused)
        except BaseException:
            with self._changed:
                self._used -= nbytes
                self._changed.notify_all()
            self.meter.remove(reused.nbytes)
            raise
        with self._changed:
            entry = self._entries[key] = _Entry(reused)
            entry.pins = 1
            self.loads += 1
            self.bytes_loaded += nbytes
        return reused

    def release(self, key):
        with self._changed:
            self._entries[key].pins -= 1
            self._changed.notify_all()

    def close(self):
        """Free every tile; wake and fail a waiting acquire()."""
        with self._changed:
            self._closed = True
            for entry in self._entries.values():
                self.meter.remove(entry.array.nbytes)
            self._entries.clear()
            self._used = 0
            self._changed.notify_all()

    def _victim(self):
        """The least recently used unpinned tile (not one to keep, if possible)."""
        unpinned = [key for key, entry in self._entries.items() if entry.pins == 0]
        if self.keep is not None:
            unkept = [key for key in unpinned if not self.keep(key)]
            unpinned = unkept or unpinned
        return unpinned[0] if unpinned else None

    def _make_room(self, nbytes, shape, dtype):
        """Reserve nbytes, evicting unpinned tiles (waiting while all are
        pinned); returns an evicted buffer of the same shape to reuse, if any."""
        reusable = None
        while self.capacity is not None and self._used + nbytes > self.capacity:
            if self._closed:
                break
            victim = self._victim()
            if victim is None:
                self._changed.wait()
                continue
            array = self._entries.pop(victim).array
            self._used -= array.nbytes
            self.evictions += 1
            if reusable is None and array.shape == tuple(shape) and array.dtype == dtype:
                reusable = array
            else:
                self.meter.remove(array.nbytes)
        if self._closed:
            if reusable is not None:
                self.meter.remove(reusable.nbytes)
            raise RuntimeError("tile cache closed")
        self._used += nbytes
        return reusable
