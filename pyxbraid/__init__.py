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
# (Imported for that alone: users import MPI from mpi4py.)
from mpi4py import MPI as _MPI  # noqa: E402,F401

import os  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

# PYXBRAID_LIBRARY=stand-in: the bindings built as for upstream XBraid, against
# our library's upstream stand-in (for testing that path; see setup.py).  A
# type checker sees the default build, whose stubs both builds share.
_LIBRARY = os.environ.get("PYXBRAID_LIBRARY", "")
if TYPE_CHECKING or _LIBRARY == "":
    from pyxbraid import _braid  # noqa: E402
elif _LIBRARY == "stand-in":
    try:
        from pyxbraid import _braid_standin as _braid  # noqa: E402
    except ImportError as e:
        raise ImportError("PYXBRAID_LIBRARY=stand-in: the stand-in build is missing "
                          "(`make install` builds it)") from e
else:
    raise ImportError(f"PYXBRAID_LIBRARY={_LIBRARY!r}: unknown; 'stand-in' selects the "
                      f"bindings' upstream path against our library's stand-in")

# one name a line: a type checker then sees the stubs' classes, not variables
BRAID_LIBRARY = _braid.BRAID_LIBRARY
UPSTREAM_SEMANTICS = _braid.UPSTREAM_SEMANTICS
CALLERS = _braid.CALLERS
App = _braid.App
NumpyApp = _braid.NumpyApp
Core = _braid.Core
StepStatus = _braid.StepStatus
AccessStatus = _braid.AccessStatus
BufferStatus = _braid.BufferStatus
SyncStatus = _braid.SyncStatus
StepBatchStatus = _braid.StepBatchStatus
STEP_BATCH = _braid.STEP_BATCH
BraidError = _braid.BraidError
BraidMemoryError = _braid.BraidMemoryError
PeerRankError = _braid.PeerRankError
split_commworld = _braid.split_commworld

__version__ = "0.1.0"

__all__ = [
    "App", "NumpyApp", "Core", "StepStatus", "AccessStatus", "BufferStatus", "SyncStatus",
    "StepBatchStatus", "STEP_BATCH",
    "BraidError", "BraidMemoryError", "PeerRankError", "split_commworld", "BRAID_LIBRARY",
    "UPSTREAM_SEMANTICS", "CALLERS", "pin_blas_threads",
]
