"""Ending an MPI job cleanly when one rank fails."""


def abort_at_exit(comm):
    """Make this process's exit end the whole job (MPI_Abort instead of
    MPI_Finalize: mpi4py's mechanism, as `python -m mpi4py` uses) when `comm`
    has other ranks, which may be waiting for this one in a collective.  The
    caller prints its error first; the job then ends instead of hanging."""
    if comm.Get_size() > 1:
        from mpi4py.run import set_abort_status
        set_abort_status(1)
