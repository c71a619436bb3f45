"""A dataset: inputs x (instances, features) and targets y, as float64 arrays."""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray
    y: np.ndarray
    name: str = "data"

    def __post_init__(self):
        x = np.ascontiguousarray(self.x, dtype=np.float64)
        y = np.ascontiguousarray(self.y, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"{self.name}: x must be a non-empty (instances, features) array, "
                             f"got shape {x.shape}")
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[0] != x.shape[0]:
            raise ValueError(f"{self.name}: y must have one row per instance of x "
                             f"({x.shape[0]}), got shape {y.shape}")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    def __len__(self):
        return self.x.shape[0]

    @property
    def n_features(self):
        return self.x.shape[1]

    @property
    def n_outputs(self):
        return self.y.shape[1]

    def subset(self, indices, name=None):
        """The instances at `indices` (a copy), as a Dataset."""
        indices = np.asarray(indices)
        return Dataset(self.x[indices], self.y[indices], name or self.name)


def one_hot(labels, n_classes):
    """Integer labels as one-hot float64 rows (instances, n_classes)."""
    return np.eye(n_classes)[np.asarray(labels, dtype=np.int64)]
