"""Central finite differences for the gradient tests, and the check that
layer-parallel exact-mode gradients are serial backprop's."""
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


def relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def layer_parallel_and_serial(net, theta, data, solves, comm=None):
    """Exact-mode LayerParallel losses and gradients for each of `solves`
    ({name: options}) and serial backprop's (named serial)."""
    from pyxbraid.train.layer_parallel import LayerParallel, Serial
    result = {}
    for name, options in solves.items():
        solver = LayerParallel(net, comm, mode="exact", tol=1e-12, max_levels=3, **options)
        result[name + "_loss"], result[name] = solver.objective(theta, data.x, data.y)
    result["serial_loss"], result["serial"] = Serial(net).objective(theta, data.x, data.y)
    return result


def check_exact(result, solves):
    """Each solve's gradient within 1e-9 and loss within 1e-12 of serial's."""
    for name in solves:
        assert relative(result[name], result["serial"]) < 1e-9, name
        assert abs(result[name + "_loss"] - result["serial_loss"]) <= \
            1e-12 * abs(result["serial_loss"])
