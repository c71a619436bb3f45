"""The fine-grid stride of a level: how many fine steps one of its steps spans."""
import math


class FineStrides:
    """The product of the coarsening factors below a level, read from a step
    status (or a batched step's) once per level (the hierarchy does not
    change during a solve)."""

    def __init__(self):
        self._strides = {0: 1}

    def __call__(self, status):
        level = status.level
        stride = self._strides.get(level)
        if stride is None:
            stride = math.prod(status.cfactor(k) for k in range(level))
            self._strides[level] = stride
        return stride
