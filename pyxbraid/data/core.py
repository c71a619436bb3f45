"""A dataset: inputs x (instances, features) and targets y, as float64 arrays."""
from dataclasses import dataclass

import numpy as np

from pyxbraid.checks import is_integer


@dataclass(frozen=True)
class Dataset:
    """image: (channels, height, width) when each row of x is an image
    (channels last: row-major (height, width, channels), so a single channel
    is the pixels row by row), else None."""
    x: np.ndarray
    y: np.ndarray
    name: str = "data"
    image: tuple = None

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
        if self.image is not None:
            image = self.image
            if (not isinstance(image, (tuple, list)) or len(image) != 3
                    or not all(is_integer(d) and d >= 1 for d in image)):
                raise ValueError(f"{self.name}: image must be (channels, height, width), "
                                 f"three ints >= 1, got {image!r}")
            image = tuple(int(d) for d in image)
            if image[0] * image[1] * image[2] != x.shape[1]:
                raise ValueError(f"{self.name}: an image of shape {image} has "
                                 f"{image[0] * image[1] * image[2]} values, the rows of x "
                                 f"{x.shape[1]}")
            object.__setattr__(self, "image", image)

    def __len__(self):
        return self.x.shape[0]

    @property
    def n_features(self):
        return self.x.shape[1]

    @property
    def n_outputs(self):
        return self.y.shape[1]

    def subset(self, indices, name=None):
        """The instances at `indices` (a copy), as a Dataset (of the same image shape)."""
        indices = np.asarray(indices)
        return Dataset(self.x[indices], self.y[indices], name or self.name, self.image)


def one_hot(labels, n_classes):
    """Integer labels as one-hot float64 rows (instances, n_classes)."""
    return np.eye(n_classes)[np.asarray(labels, dtype=np.int64)]
