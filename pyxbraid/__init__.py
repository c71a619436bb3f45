"""pyxbraid: MGRIT (XBraid's interface) for Python apps, and parallel-in-time training.

    from mpi4py import MPI
    import pyxbraid

    class Decay(pyxbraid.NumpyApp):
        def init(self, t):
            return np.ones(1) if t == 0.0 else np.full(1, 0.456)
        def step(self, ustop, fstop, u, status):
            u /= 1.0 + (status.tstop - status.tstart)

    core = pyxbraid.Core(Decay(), tstart=0.0, tstop=5.0, ntime=10, max_levels=2, abs_tol=1e-6)
    core.drive()
    core.niter, core.rnorms
"""
from pyxbraid._threads import pin_blas_threads

# One BLAS thread per MPI rank; must happen before numpy loads its BLAS.
pin_blas_threads()

# mpi4py.MPI loads the MPI library before the extension needs it: a build in
# pip's isolated environment can leave the extension a dead library path.
from mpi4py import MPI  # noqa: E402,F401

from pyxbraid._braid import (  # noqa: E402
    BRAID_LIBRARY,
    CALLERS,
    AccessStatus,
    App,
    BraidError,
    BufferStatus,
    Core,
    NumpyApp,
    StepStatus,
    SyncStatus,
    split_commworld,
)

__version__ = "0.1.0"

__all__ = [
    "App", "NumpyApp", "Core", "StepStatus", "AccessStatus", "BufferStatus", "SyncStatus",
    "BraidError", "split_commworld", "BRAID_LIBRARY", "CALLERS", "pin_blas_threads",
]
