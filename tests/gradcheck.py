"""Central finite differences for the gradient tests."""
import numpy as np

H = 1e-6  # central differences: error O(H^2) ~ 1e-12 plus roundoff ~ 1e-16 / H


def rel_error(g, fd):
    """Over the whole vector, so that tiny entries do not dominate."""
    return np.linalg.norm(g - fd) / max(1e-8, np.linalg.norm(g) + np.linalg.norm(fd))


def finite_differences(f, v):
    """Central differences of the scalar f() with respect to every entry of v (changed in place)."""
    fd = np.empty(v.shape)
    for i in np.ndindex(v.shape):
        saved = v[i]
        v[i] = saved + H
        f_plus = f()
        v[i] = saved - H
        f_minus = f()
        v[i] = saved
        fd[i] = (f_plus - f_minus) / (2 * H)
    return fd
