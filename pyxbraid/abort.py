"""Ending an MPI job cleanly when one rank fails."""


import atexit
import time

_GRACE = []   # the seconds an exit waits before it aborts (registered once)


def abort_at_exit(comm, grace=0.0):
    """Make this process's exit end the whole job (MPI_Abort instead of
    MPI_Finalize: mpi4py's mechanism, as `python -m mpi4py` uses) when `comm`
    has other ranks, which may be waiting for this one in a collective.  The
    caller prints its error first; the job then ends instead of hanging.

    grace: seconds the exit waits before aborting, for a rank whose error
    only reports another rank's: that rank's own traceback then comes out
    before the abort ends it (it aborts the job itself, sooner, when done)."""
    if comm.Get_size() > 1:
        from mpi4py.run import set_abort_status
        set_abort_status(1)
        if grace > 0 and not _GRACE:
            # registered after mpi4py's own exit handler, so it runs first
            atexit.register(lambda: time.sleep(max(_GRACE)))
        if grace > 0:
            _GRACE.append(grace)
