"""Parameters as one flat float64 vector, seen through views of given shapes:
what an MGRIT app steps, sums and sends, and what the layers read and write."""
import math

import numpy as np


def split_flat(vector, name, shapes):
    """Views of `vector` (no copies) with the given shapes, one after the
    other; ValueError naming `name` when vector cannot be that."""
    size = sum(math.prod(shape) for shape in shapes)
    if not isinstance(vector, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(vector).__name__}")
    if vector.shape != (size,):
        raise ValueError(f"{name}: expected shape ({size},) (the flat parameter vector), "
                         f"got {vector.shape}")
    if vector.dtype != np.float64:
        raise ValueError(f"{name}: expected dtype float64, got {vector.dtype}")
    if not vector.flags.c_contiguous:
        raise ValueError(f"{name}: must be C-contiguous (the views cannot stride it)")
    views, start = [], 0
    for shape in shapes:
        stop = start + math.prod(shape)
        views.append(vector[start:stop].reshape(shape))
        start = stop
    return views
