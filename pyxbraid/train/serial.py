"""Serial training: the regression reference for MGRIT, with the same step."""
import numpy as np

from pyxbraid.checks import positive_int


def train_serial(step, w0, nsteps, on_step=None, first=0, in_place=False):
    """Apply `step` (a pyxbraid.train.SGDStep) for steps first .. first+nsteps-1
    starting from w0; returns the final weights.  on_step(i, w) sees the
    weights after i steps (i = first+1 .. first+nsteps).  in_place: step w0
    itself (a float64 vector, e.g. weights in a file) instead of a copy."""
    positive_int("nsteps", nsteps)
    if in_place:
        if not isinstance(w0, np.ndarray) or w0.dtype != np.float64 or not w0.flags.writeable:
            raise ValueError("w0: in_place needs a writable float64 array")
        w = w0
    else:
        w = np.array(w0, dtype=np.float64, copy=True)
    for i in range(first, first + nsteps):
        step(w, i)
        if on_step is not None:
            on_step(i + 1, w)
    return w
