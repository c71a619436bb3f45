"""Peaks: 2-D points in five classes cut from level sets of MATLAB's peaks
function, a small classification problem with curved, nested boundaries."""
import numpy as np

from pyxbraid.checks import positive_int
from pyxbraid.data.core import Dataset, one_hot

PEAKS_CLASSES = 5
PEAKS_LOW, PEAKS_HIGH = -3.0, 3.0
PEAKS_N_TRAIN, PEAKS_N_VAL = 5000, 200  # points drawn by default


def peaks_function(x, y):
    """MATLAB's peaks(x, y), elementwise."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return (3 * (1 - x) ** 2 * np.exp(-x ** 2 - (y + 1) ** 2)
            - 10 * (x / 5 - x ** 3 - y ** 5) * np.exp(-x ** 2 - y ** 2)
            - np.exp(-(x + 1) ** 2 - y ** 2) / 3)


def _grid_thresholds():
    """Quantiles of f on a fixed 201x201 grid: balanced classes that do not
    depend on the sampled points, so every seed and size share one labelling."""
    axis = np.linspace(PEAKS_LOW, PEAKS_HIGH, 201)
    gx, gy = np.meshgrid(axis, axis)
    levels = np.arange(1, PEAKS_CLASSES) / PEAKS_CLASSES
    return np.quantile(peaks_function(gx, gy), levels)


PEAKS_THRESHOLDS = _grid_thresholds()


def peaks_labels(x, y):
    """Class 0..4 of each point: how many thresholds f(x, y) reaches."""
    return np.searchsorted(PEAKS_THRESHOLDS, peaks_function(x, y), side="right")


def _sample(rng, n, name):
    points = rng.uniform(PEAKS_LOW, PEAKS_HIGH, size=(n, 2))
    labels = peaks_labels(points[:, 0], points[:, 1])
    return Dataset(points, one_hot(labels, PEAKS_CLASSES), name)


def peaks(n_train=PEAKS_N_TRAIN, n_val=PEAKS_N_VAL, seed=0):
    """(train, validation): points uniform in [-3, 3]^2, one-hot targets of
    their peaks class. Training points are drawn first, so they do not change
    with n_val."""
    positive_int("n_train", n_train)
    positive_int("n_val", n_val)
    rng = np.random.default_rng(seed)
    train = _sample(rng, n_train, "peaks-train")
    return train, _sample(rng, n_val, "peaks-validation")
