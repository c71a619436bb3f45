"""Vectors and matrices kept in files (.npy, opened as numpy.memmap), and the
few whole-vector operations training needs, done chunk by chunk so that no
temporary as large as the vector is ever allocated.

The tiled engine reads and writes memmap operands tile by tile within its
memory budget; what it does not touch stays on disk (the operating system
may keep recently used pages of the files in its page cache)."""
from pathlib import Path

import numpy as np

CHUNK = 1 << 20     # elements per chunk of a whole-vector operation (8 MiB of float64)


def chunks(size, chunk=CHUNK):
    """slices cutting range(size) into pieces of at most `chunk`."""
    return [slice(start, min(start + chunk, size)) for start in range(0, size, chunk)]


class DiskVectors:
    """Float64 vectors by name, each a file <folder>/<name>.npy opened as a
    memmap (created zero-filled, or opened when it exists with the right size)."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def path(self, name):
        return self.folder / f"{name}.npy"

    def vector(self, name, size):
        """The vector `name` of `size` float64s, a writable memmap."""
        path = self.path(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        if path.exists():
            try:
                vector = np.load(path, mmap_mode="r+")
            except (OSError, ValueError) as e:
                raise ValueError(f"{path}: not a readable .npy file ({e})") from None
            if vector.shape == (size,) and vector.dtype == np.float64:
                return vector
            del vector
        return np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(size,))


def copy_into(target, source, chunk=CHUNK):
    """target[...] = source for 1-D vectors, chunk by chunk."""
    if target.shape != source.shape:
        raise ValueError(f"copy_into: shapes differ: target {target.shape}, source {source.shape}")
    for part in chunks(len(target), chunk):
        target[part] = source[part]
    return target


def all_finite(vector, chunk=CHUNK):
    """Whether every element of a 1-D vector is finite, read chunk by chunk."""
    return all(np.isfinite(vector[part]).all() for part in chunks(len(vector), chunk))
