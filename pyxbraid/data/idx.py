"""The IDX format of MNIST (and Fashion-MNIST): a 4-byte magic number (two zero
bytes, a type code, the number of dimensions), big-endian int32 sizes, then the
big-endian data. Files may be gzipped, as they are distributed."""
import gzip
import math
import os
import zlib

import numpy as np

from pyxbraid.data.core import Dataset, one_hot

IDX_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
             0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_TYPE_CODES = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_SIZE = 2 ** 31 - 1


def _read_bytes(path):
    """The file's bytes, gunzipped when they start with the gzip magic (names lie)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ValueError(f"{path}: cannot read the file: {e.strerror}") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt gzip data ({e})") from None


def read_idx(path):
    """The array stored in an IDX file, in native byte order."""
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: truncated header: {len(data)} bytes, the magic number needs 4")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: bad magic number {data[:4].hex()}: "
                         f"an IDX file starts with two zero bytes")
    if data[2] not in IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{data[2]:02X}; known: "
                         + ", ".join(f"0x{code:02X}" for code in IDX_TYPES))
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{path}: truncated header: {len(data)} bytes, "
                         f"{ndim} dimensions need {header_size}")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header_size + math.prod(shape) * dtype.itemsize
    if len(data) < expected:
        raise ValueError(f"{path}: truncated data: the header promises {expected} bytes "
                         f"(shape {shape}), the file holds {len(data)}")
    if len(data) > expected:
        raise ValueError(f"{path}: trailing bytes: {len(data) - expected} after the data "
                         f"of shape {shape}")
    array = np.frombuffer(data, dtype, offset=header_size).reshape(shape)
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
    and scaled to [0, 1], labels one-hot."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) \
            or n_classes < 2:
        raise ValueError(f"n_classes: must be an integer of at least 2, got {n_classes!r}")
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
    return Dataset(x, one_hot(labels, n_classes), os.path.basename(os.fspath(images_path)))
