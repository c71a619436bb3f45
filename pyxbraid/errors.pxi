# Errors: the exceptions of the bindings, and the check of every braid call's
# return code (as mpi4py's CHKERR).

class BraidError(RuntimeError):
    """The braid library returned a non-zero code that no Python callback
    caused; ``code`` is that code (braid_ERROR_GENERIC, _MEMORY, _ARG)."""

    def __init__(self, message, code=braid_ERROR_GENERIC):
        super().__init__(message)
        self.code = code


class BraidMemoryError(BraidError, MemoryError):
    """The braid library could not allocate what a solve needs."""


class PeerRankError(RuntimeError):
    """A callback raised on another rank: this rank's solve ran to its end
    (the library ignores return codes) with that rank's results missing."""



cdef inline int _check_rc(braid_Int rc, str what) except -1:
    """Raise when a braid call returned non-zero (as mpi4py's CHKERR)."""
    if rc != 0:
        if rc == braid_ERROR_MEMORY:
            raise BraidMemoryError(f"{what}: out of memory (braid error code {rc})", rc)
        raise BraidError(f"{what} failed with braid error code {rc}", rc)
    return 0
