"""The IDX format of MNIST (and Fashion-MNIST): a 4-byte magic number (two zero
bytes, a type code, the number of dimensions), big-endian int32 sizes, then the
big-endian data. Files may be gzipped, as they are distributed."""
import gzip
import math
import os
import zlib

import numpy as np

from pyxbraid.checks import int_in_range
from pyxbraid.data.core import Dataset, one_hot
from pyxbraid.files import open_regular

IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_TYPE_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_SIZE = 2 ** 31 - 1


class _Reader:
    """The bytes of a regular file, gunzipped when they start with the gzip
    magic (names lie), read as far as asked: a file that is a device (such as
    /dev/zero), a FIFO or a folder is refused before anything is read, and
    nothing beyond what the header promises is kept in memory."""

    CHUNK = 1 << 20

    def __init__(self, path):
        self.path = path
        try:
            self.file = open_regular(path, "IDX file")
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
        self.gzipped = self._raw(lambda: self.file.read(2)) == _GZIP_MAGIC
        self.file.seek(0)
        self.stream = gzip.GzipFile(fileobj=self.file, mode="rb") if self.gzipped else self.file
        self.position = 0

    def _raw(self, action):
        try:
            return action()
        except (OSError, EOFError, zlib.error) as e:
            if self.gzipped:
                raise ValueError(f"{self.path}: corrupt gzip data ({e})") from None
            raise ValueError(f"{self.path}: cannot read the file: {e}") from None

    def read(self, n):
        """Up to n bytes (fewer at the end of the data)."""
        parts, left = [], n
        while left > 0:
            part = self._raw(lambda: self.stream.read(min(left, self.CHUNK)))
            if not part:
                break
            parts.append(part)
            left -= len(part)
        data = b"".join(parts)
        self.position += len(data)
        return data

    def skip_rest(self):
        """The number of bytes left, read and dropped."""
        count = 0
        while True:
            part = self._raw(lambda: self.stream.read(self.CHUNK))
            if not part:
                return count
            count += len(part)

    def close(self):
        self.stream.close()
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _header(reader):
    """(dtype, shape, header size) of the IDX data of a reader at its start."""
    path = reader.path
    magic = reader.read(4)
    if len(magic) < 4:
        raise ValueError(f"{path}: truncated header: {len(magic)} bytes, the magic number "
                         f"needs 4")
    if magic[0] != 0 or magic[1] != 0:
        raise ValueError(f"{path}: bad magic number {magic.hex()}: "
                         f"an IDX file starts with two zero bytes")
    if magic[2] not in IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{magic[2]:02X}; known: "
                         + ", ".join(f"0x{code:02X}" for code in IDX_TYPES))
    dtype, ndim = IDX_TYPES[magic[2]], magic[3]
    header_size = 4 + 4 * ndim
    sizes = reader.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise ValueError(f"{path}: truncated header: {4 + len(sizes)} bytes, "
                         f"{ndim} dimensions need {header_size}")
    shape = tuple(int(s) for s in np.frombuffer(sizes, ">u4", count=ndim))
    return dtype, shape, header_size


def read_idx_header(path):
    """(shape, dtype) of an IDX file, from its header alone (nothing else read)."""
    with _Reader(os.fspath(path)) as reader:
        dtype, shape, _ = _header(reader)
    return shape, dtype.newbyteorder("=")


def read_idx(path):
    """The array stored in an IDX file, in native byte order."""
    path = os.fspath(path)
    with _Reader(path) as reader:
        dtype, shape, header_size = _header(reader)
        size = math.prod(shape) * dtype.itemsize
        data = reader.read(size)
        if len(data) < size:
            raise ValueError(f"{path}: truncated data: the header promises "
                             f"{header_size + size} bytes (shape {shape}), the file holds "
                             f"{header_size + len(data)}")
        trailing = reader.skip_rest()
    if trailing:
        raise ValueError(f"{path}: trailing bytes: {trailing} after the data of shape {shape}")
    array = np.frombuffer(data, dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path, array, gzipped=False):
    """Write `array` as an IDX file; its dtype must be one IDX stores
    (uint8, int8, int16, int32, float32, float64)."""
    array = np.asarray(array)
    code = _TYPE_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"array: IDX stores uint8, int8, int16, int32, float32 or float64, "
                         f"got {array.dtype}")
    if not 1 <= array.ndim <= 255 or max(array.shape) > _MAX_SIZE:
        raise ValueError(f"array: IDX needs 1 to 255 dimensions of at most {_MAX_SIZE}, "
                         f"got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    data = header + array.astype(IDX_TYPES[code]).tobytes()
    with open(path, "wb") as f:
        f.write(gzip.compress(data, mtime=0) if gzipped else data)


def load_idx(images_path, labels_path, n_classes=10):
    """An MNIST-style pair of files as a Dataset: uint8 images flattened to rows
    and scaled to [0, 1], labels one-hot; images (count, rows, cols) give it
    the image shape (1, rows, cols)."""
    int_in_range("n_classes", n_classes, 2)
    images, labels = read_idx(images_path), read_idx(labels_path)
    pair = f"{os.fspath(images_path)} and {os.fspath(labels_path)}"
    if images.dtype != np.uint8 or images.ndim < 2 or images.shape[0] == 0:
        raise ValueError(f"{os.fspath(images_path)}: images must be a non-empty uint8 array "
                         f"(count, rows, cols), got {images.dtype} of shape {images.shape}")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{pair}: labels must be a 1-D integer array, "
                         f"got {labels.dtype} of shape {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"{pair}: {images.shape[0]} images but {labels.shape[0]} labels")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"{pair}: labels must lie in 0..{n_classes - 1}, "
                         f"got {labels.min()}..{labels.max()}")
    x = images.reshape(images.shape[0], -1) / 255.0
    # (count, rows, cols) images are one channel; any other shape, no image
    image = (1,) + images.shape[1:] if images.ndim == 3 else None
    return Dataset(x, one_hot(labels, n_classes), os.path.basename(os.fspath(images_path)),
                   image)
