"""Keep BLAS to one thread per rank when running under an MPI launcher."""
import os

_LAUNCHER_VARS = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "HYDI_CONTROL_FD")
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def under_mpi_launcher(environ=os.environ):
    """True when started by mpirun/mpiexec (MPICH, Open MPI, Intel MPI)."""
    return any(name in environ for name in _LAUNCHER_VARS)


def pin_blas_threads(environ=os.environ):
    """Under mpirun, ask BLAS and OpenMP for one thread per rank, unless the
    user chose a number.  Effective only before numpy is first imported."""
    if not under_mpi_launcher(environ):
        return False
    for name in _THREAD_VARS:
        environ.setdefault(name, "1")
    return True
