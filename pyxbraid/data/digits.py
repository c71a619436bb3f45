"""scikit-learn's 8x8 handwritten digits, read from the CSV that ships inside
the scikit-learn package, without importing scikit-learn (slow, and not a
dependency of pyxbraid)."""
import gzip
import importlib.util
import os
import zlib

import numpy as np

from pyxbraid.checks import int_in_range
from pyxbraid.data.core import Dataset, one_hot

DIGITS_CLASSES = 10
DIGITS_PIXELS = 64
DIGITS_IMAGE = (1, 8, 8)  # (channels, height, width) of an image
DIGITS_MAX_PIXEL = 16.0
DIGITS_IMAGES = 1797  # in scikit-learn's file
DIGITS_N_VAL = 297    # validation images by default (the rest, 1500, train)
_RELATIVE_PATH = os.path.join("datasets", "data", "digits.csv.gz")


def _not_found(path):
    return ValueError(f"scikit-learn's digits file not found: {path}; install scikit-learn "
                      f"(pip install scikit-learn) or pass path=")


def digits_file():
    """Where the installed scikit-learn keeps digits.csv.gz. find_spec only
    locates the package; it runs none of its code."""
    spec = importlib.util.find_spec("sklearn")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = os.path.join(location, _RELATIVE_PATH)
        if os.path.isfile(candidate):
            return candidate
    if locations:
        raise _not_found(os.path.join(locations[0], _RELATIVE_PATH))
    raise _not_found(os.path.join("sklearn", _RELATIVE_PATH))


def _parse_line(path, number, line):
    fields = line.split(",")
    if len(fields) != DIGITS_PIXELS + 1:
        raise ValueError(f"{path}: line {number}: expected {DIGITS_PIXELS + 1} "
                         f"comma-separated values, got {len(fields)}")
    try:
        values = [float(field) for field in fields]
    except ValueError:
        raise ValueError(f"{path}: line {number}: non-numeric value") from None
    pixels, label = values[:-1], values[-1]
    if not all(0.0 <= p <= DIGITS_MAX_PIXEL for p in pixels):
        raise ValueError(f"{path}: line {number}: pixels must lie in [0, 16]")
    if not (label.is_integer() and 0 <= label < DIGITS_CLASSES):
        raise ValueError(f"{path}: line {number}: label must be an integer 0..9, got {label:g}")
    return pixels, int(label)


def read_digits(path):
    """(pixels (n, 64) in [0, 1], integer labels (n,)) from a digits CSV (gzipped)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise _not_found(path)
    try:
        with gzip.open(path, "rt", encoding="ascii") as f:
            lines = f.read().splitlines()
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
        raise ValueError(f"{path}: not a readable gzipped CSV ({e})") from None
    rows = [_parse_line(path, number, line)
            for number, line in enumerate(lines, start=1) if line.strip()]
    if not rows:
        raise ValueError(f"{path}: no images")
    pixels = np.array([row[0] for row in rows]) / DIGITS_MAX_PIXEL
    return pixels, np.array([row[1] for row in rows])


def digits(n_val=DIGITS_N_VAL, seed=0, path=None):
    """(train, validation): a seeded permutation puts n_val images in validation.
    Targets are one-hot rows (10 classes)."""
    pixels, labels = read_digits(digits_file() if path is None else path)
    int_in_range("n_val", n_val, 1, len(labels) - 1)
    order = np.random.default_rng(seed).permutation(len(labels))
    val, train = order[:n_val], order[n_val:]
    targets = one_hot(labels, DIGITS_CLASSES)
    return (Dataset(pixels[train], targets[train], "digits-train", DIGITS_IMAGE),
            Dataset(pixels[val], targets[val], "digits-validation", DIGITS_IMAGE))
