"""Errors agreed on by every rank.  A problem that one rank finds (a file it
cannot read, a write that fails on rank 0) must end every rank the same way:
each rank does its part, then all of them exchange "ok or the error" in one
collective, and every rank raises the first error (in rank order).  No rank
ever raises while the others wait in a collective, so nothing hangs."""
from pyxbraid.cli.config import ProblemError
from pyxbraid.cli.rundir import RunFailed


class RunFinished(Exception):
    """Nothing to do: the run is finished (exit status 0, the message said)."""


class TrainingDiverged(Exception):
    """The loss or the residual is NaN, Inf, or far above the initial loss:
    the run stops, the last good checkpoint stays (exit status 1)."""


AGREED = (ProblemError, RunFailed, RunFinished, TrainingDiverged)


def agree(comm, error=None):
    """Collective: raise on every rank the first of the ranks' errors (None
    where a rank has none)."""
    errors = comm.allgather(error) if comm.size > 1 else [error]
    for e in errors:
        if e is not None:
            raise e


def agreed(comm, function, *args, **kwargs):
    """Collective: function(*args, **kwargs) on every rank; its value, or the
    first rank's error (one of AGREED) raised on every rank."""
    value, error = None, None
    try:
        value = function(*args, **kwargs)
    except AGREED as e:
        error = e
    agree(comm, error)
    return value
