# Status objects: what a callback may ask the core while it runs.
#
# One Python object per status kind lives on the Core; a trampoline points it
# at the C status for the length of one callback and back at NULL after, so a
# status kept past its callback raises instead of reading freed memory.  Every
# kind is a view of XBraid's base braid_Status (its typed getters, such as
# braid_StepStatusGetT, cast to it), so the getters are written once here,
# on the base classes, and each kind shows only the ones XBraid gives it.

ctypedef braid_Int (*_IntGetter)(braid_Status, braid_Int *)
ctypedef braid_Int (*_RealGetter)(braid_Status, braid_Real *)


cdef class _Status:
    """A braid status, valid only during the callback it was passed to."""
    cdef braid_Status s

    cdef braid_Status live(self) except NULL:
        if self.s == NULL:
            raise RuntimeError(f"a {type(self).__name__} is only valid during the callback "
                               f"it was passed to")
        return self.s

    cdef object _int(self, _IntGetter get, str what):
        cdef braid_Int value
        _check_rc(get(self.live(), &value), what)
        return value

    cdef object _real(self, _RealGetter get, str what):
        cdef braid_Real value
        _check_rc(get(self.live(), &value), what)
        return value

    @property
    def level(self):
        """Level of the grid being worked on (0 is the finest)."""
        return self._int(braid_StatusGetLevel, "braid_StatusGetLevel")

    def __repr__(self):
        if self.s == NULL:
            return f"<{type(self).__name__}: outside its callback>"
        return f"<{type(self).__name__} level={self.level}>"


cdef class _SolveStatus(_Status):
    """The getters of every status that belongs to a solve in progress."""

    @property
    def iter(self):
        """The MGRIT iteration."""
        return self._int(braid_StatusGetIter, "braid_StatusGetIter")

    @property
    def nlevels(self):
        """Levels of the hierarchy."""
        return self._int(braid_StatusGetNLevels, "braid_StatusGetNLevels")

    @property
    def ntime(self):
        """Time steps on the finest level (ntime + 1 points)."""
        return self._int(braid_StatusGetNTPoints, "braid_StatusGetNTPoints")

    @property
    def done(self):
        """True once the solve has converged or reached max_iter."""
        return bool(self._int(braid_StatusGetDone, "braid_StatusGetDone"))

    @property
    def calling_function(self):
        """braid_ASCaller_* code of the routine that called (see pyxbraid.CALLERS)."""
        return self._int(braid_StatusGetCallingFunction, "braid_StatusGetCallingFunction")

    cdef tuple _tiul(self, level):
        # the C function gives (iupper, ilower)
        cdef braid_Int iu, il
        cdef braid_Int lev = _int_option("level", level)
        _check_rc(braid_StatusGetTIUL(self.live(), &iu, &il, lev), "braid_StatusGetTIUL")
        return il, iu


cdef class _PointStatus(_SolveStatus):
    """The getters of a status that concerns one time point."""

    @property
    def t(self):
        """The time value of the point (a step's tstart)."""
        return self._real(braid_StatusGetT, "braid_StatusGetT")

    @property
    def tindex(self):
        """Index of the point on its level (a step's tstart)."""
        return self._int(braid_StatusGetTIndex, "braid_StatusGetTIndex")

    def cfactor(self, level):
        """Coarsening factor of `level` (-1 for the coarsest level)."""
        cdef braid_Int cf
        cdef braid_Int lev = _int_option("level", level)
        _check_rc(braid_StatusGetCFactor(self.live(), &cf, lev), "braid_StatusGetCFactor")
        return cf

    def __repr__(self):
        if self.s == NULL:
            return f"<{type(self).__name__}: outside its callback>"
        return (f"<{type(self).__name__} t={self.t!r} tindex={self.tindex} "
                f"level={self.level} iter={self.iter}>")


cdef class StepStatus(_PointStatus):
    """What a step (or residual) callback knows: the time step, level and iteration."""

    @property
    def tstart(self):
        """The time the step starts from (same as t)."""
        return self._real(braid_StatusGetT, "braid_StatusGetT")

    @property
    def tstop(self):
        """The time the step advances to."""
        return self._real(braid_StatusGetTstop, "braid_StatusGetTstop")

    @property
    def tol(self):
        """The core's stopping tolerance (unscaled)."""
        return self._real(braid_StatusGetTol, "braid_StatusGetTol")

    @property
    def rnorms(self):
        """Residual history up to the current iteration (numpy array)."""
        cdef braid_Int n = self.iter + 1
        cdef cnp.ndarray[cnp.float64_t, ndim=1] out = np.empty(n, dtype=np.float64)
        _check_rc(braid_StatusGetRNorms(self.live(), &n, <braid_Real *> out.data),
                  "braid_StatusGetRNorms")
        return out[:n].copy()

    def tiul(self, level):
        """(ilower, iupper): this rank's index range on `level`."""
        return self._tiul(level)


cdef class AccessStatus(_PointStatus):
    """What an access callback knows about the vector it is shown."""

    @property
    def residual(self):
        """The current residual norm of the solve."""
        return self._real(braid_StatusGetResidual, "braid_StatusGetResidual")


cdef class SyncStatus(_SolveStatus):
    """What a sync callback knows: the iteration and this rank's ranges."""

    def proc(self, level, index):
        """Rank that owns `index` on `level` (-1 for a point that is not there)."""
        cdef braid_Int p
        cdef braid_Int lev = _int_option("level", level)
        cdef braid_Int i = _int_option("index", index)
        _check_rc(braid_StatusGetProc(self.live(), &p, lev, i), "braid_StatusGetProc")
        return p

    def tiul(self, level):
        """(ilower, iupper): this rank's index range on `level`."""
        return self._tiul(level)


cdef class BufferStatus(_Status):
    """What the buffer callbacks know: which point is packed, and set_size."""

    @property
    def tindex(self):
        """Index of the point packed or unpacked."""
        return self._int(braid_StatusGetTIndex, "braid_StatusGetTIndex")

    @property
    def message_type(self):
        """0: a message of the cycle's communication, 1: of load balancing."""
        return self._int(braid_StatusGetMessageType, "braid_StatusGetMessageType")

    def set_size(self, size):
        """Send only `size` bytes of the buffer (at most what bufsize promised)."""
        _check_rc(braid_StatusSetSize(self.live(), <double> size), "braid_StatusSetSize")
