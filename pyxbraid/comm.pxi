# Communicators: splitting ranks between space and time.

def split_commworld(comm, px):
    """(comm_x, comm_t): split `comm` into groups of `px` ranks in space and
    the matching time communicators (XBraid's braid_SplitCommworld)."""
    cdef MPI_Comm world
    cdef MPI.Intracomm cx, ct
    if not isinstance(comm, _MPI.Intracomm):
        raise TypeError(f"comm: expected an mpi4py intracommunicator, got {type(comm).__name__}")
    px = _int_option("px", px, 1)
    if comm.Get_size() % px != 0:
        raise ValueError(f"px: must divide the number of ranks ({comm.Get_size()}), got {px}")
    world = (<MPI.Comm> comm).ob_mpi
    cx = _MPI.Intracomm()
    ct = _MPI.Intracomm()
    _check_rc(braid_SplitCommworld(&world, px, &cx.ob_mpi, &ct.ob_mpi), "braid_SplitCommworld")
    return cx, ct

