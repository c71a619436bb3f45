# Batched steps (vendor/xbraid's braid_SetStepBatch, our extension of the
# interface): the core hands the app the j-th step of every interval of a
# group at once, so Python is called once per group and sweep rather than
# once per time point.  An app opts in by defining step_batch; Core(batch=
# False) turns it off.  Upstream XBraid has no batched step: there every
# solve steps point by point (PYXBRAID_STEP_BATCH is 0).
#
# A NumpyApp's batch is gathered in C into (n, *shape) arrays of buffers the
# Core keeps (grown to the largest batch, so memory stays at most max_batch
# vectors each), and its result scattered back in C: no Python loop over n.

#: True when the library has the batched step (ours; not upstream XBraid's).
STEP_BATCH = bool(PYXBRAID_STEP_BATCH)


cdef class StepBatchStatus:
    """What a batched step knows about its n steps, valid only during the
    call: step i advances row i from ``tstart[i]`` to ``tstop[i]``; its
    ``tindex[i]`` is the index of ``tstart[i]`` on ``level``.  The arrays are
    the step's own (kept safely); the status itself is not."""
    cdef pyxbraid_BatchStatus s
    cdef object _tstart, _tstop, _tindex

    cdef _enter(self, pyxbraid_BatchStatus s, braid_Int n):
        """Point at the C status of one call, and read its per-step arrays."""
        cdef cnp.ndarray[cnp.float64_t, ndim=1] tstart = np.empty(n, dtype=np.float64)
        cdef cnp.ndarray[cnp.float64_t, ndim=1] tstop = np.empty(n, dtype=np.float64)
        cdef cnp.ndarray[cnp.int64_t, ndim=1] tindex = np.empty(n, dtype=np.int64)
        cdef braid_Int i, index
        cdef braid_Real a, b
        for i in range(n):
            _check_rc(pyxbraid_BatchGetTstartTstop(s, i, &a, &b),
                      "braid_StepBatchStatusGetTstartTstop")
            _check_rc(pyxbraid_BatchGetTIndex(s, i, &index), "braid_StepBatchStatusGetTIndex")
            tstart[i], tstop[i], tindex[i] = a, b, index
        self._tstart, self._tstop, self._tindex = tstart, tstop, tindex
        self.s = s

    cdef _leave(self):
        self.s = NULL
        self._tstart = self._tstop = self._tindex = None

    cdef pyxbraid_BatchStatus live(self) except NULL:
        if self.s == NULL:
            raise RuntimeError("a StepBatchStatus is only valid during the step_batch call "
                               "it was passed to")
        return self.s

    cdef object _int(self, braid_Int (*get)(pyxbraid_BatchStatus, braid_Int *) noexcept nogil,
                     str what):
        cdef braid_Int value
        _check_rc(get(self.live(), &value), what)
        return value

    @property
    def size(self):
        """n, the steps of the batch."""
        return self._int(pyxbraid_BatchGetSize, "braid_StepBatchStatusGetSize")

    @property
    def level(self):
        """The level of every step of the batch (0 is the finest)."""
        return self._int(pyxbraid_BatchGetLevel, "braid_StepBatchStatusGetLevel")

    @property
    def iter(self):
        """The MGRIT iteration."""
        return self._int(pyxbraid_BatchGetIter, "braid_StepBatchStatusGetIter")

    @property
    def calling_function(self):
        """braid_ASCaller_* code of the sweep (see pyxbraid.CALLERS)."""
        return self._int(pyxbraid_BatchGetCallingFunction,
                         "braid_StepBatchStatusGetCallingFunction")

    def cfactor(self, level):
        """Coarsening factor of `level` (-1 for the coarsest level)."""
        cdef braid_Int cf
        cdef braid_Int lev = _int_option("level", level)
        _check_rc(pyxbraid_BatchGetCFactor(self.live(), &cf, lev),
                  "braid_StepBatchStatusGetCFactor")
        return cf

    @property
    def rnorms(self):
        """Residual history up to the current iteration (numpy array)."""
        cdef braid_Int n = self.iter + 1
        cdef cnp.ndarray[cnp.float64_t, ndim=1] out = np.empty(n, dtype=np.float64)
        _check_rc(pyxbraid_BatchGetRNorms(self.live(), &n, <braid_Real *> out.data),
                  "braid_StepBatchStatusGetRNorms")
        return out[:n].copy()

    @property
    def tstart(self):
        """float64 array: the time each step starts from."""
        self.live()
        return self._tstart

    @property
    def tstop(self):
        """float64 array: the time each step advances to."""
        self.live()
        return self._tstop

    @property
    def tindex(self):
        """int64 array: the index of each step's tstart on its level."""
        self.live()
        return self._tindex

    def __repr__(self):
        if self.s == NULL:
            return "<StepBatchStatus: outside its callback>"
        return f"<StepBatchStatus size={self.size} level={self.level} iter={self.iter}>"


cdef inline object _returned_none(object returned):
    if returned is not None:
        raise TypeError(f"step_batch returned a {type(returned).__name__}: a batched step "
                        f"must change u in place and return None")


cdef braid_Int _cb_step_batch(braid_App app, braid_Int n, braid_Vector *ustop,
                              braid_Vector *fstop, braid_Vector *u,
                              pyxbraid_BatchStatus status) noexcept:
    """Any app: step_batch(ustop, fstop, u, status) with lists of its vectors;
    fstop is None when no step has one, else a list with None where absent."""
    if _failed(app):
        return 0
    cdef Core core = _core(app)
    cdef StepBatchStatus st = core._batch_status
    cdef braid_Int i
    try:
        st._enter(status, n)
        us = [_vec(ustop[i]) for i in range(n)]
        fs = None
        for i in range(n):
            if fstop[i] != NULL:
                fs = [None if fstop[i] == NULL else _vec(fstop[i]) for i in range(n)]
                break
        _returned_none(core._step_batch(us, fs, [_vec(u[i]) for i in range(n)], st))
        return 0
    except BaseException as e:
        return _failure(app, e)
    finally:
        st._leave()


cdef void _gather(double *rows, braid_Vector *vectors, braid_Int n, Py_ssize_t size) noexcept:
    """Row i of rows = vector i (zeros for a missing one)."""
    cdef braid_Int i
    for i in range(n):
        if vectors[i] == NULL:
            memset(rows + i * size, 0, size * sizeof(double))
        else:
            memcpy(rows + i * size, pyxbraid_vdata(vectors[i]), size * sizeof(double))


cdef braid_Int _cb_step_batch_np(braid_App app, braid_Int n, braid_Vector *ustop,
                                 braid_Vector *fstop, braid_Vector *u,
                                 pyxbraid_BatchStatus status) noexcept:
    """A NumpyApp: step_batch(ustop, fstop, u, status) with (n, *shape)
    arrays, u changed in place; ustop is u itself when every step's is (no
    value stored at its tstop: the single step is given u twice too); fstop
    is None when no step has one (rows of zeros where one is absent and
    another present)."""
    if _failed(app):
        return 0
    cdef Core core = _core(app)
    cdef StepBatchStatus st = core._batch_status
    cdef Py_ssize_t size = (<_AppData *> app).n
    cdef braid_Int i
    cdef double *rows
    try:
        st._enter(status, n)
        U = core._batch_rows(0, n)
        _gather(pyxbraid_data(<void *> U), u, n, size)
        S = U  # as the single step is told: ustop is u itself where nothing is stored
        for i in range(n):
            if ustop[i] != u[i]:
                S = core._batch_rows(1, n)
                _gather(pyxbraid_data(<void *> S), ustop, n, size)
                break
        F = None
        for i in range(n):
            if fstop[i] != NULL:
                F = core._batch_rows(2, n)
                _gather(pyxbraid_data(<void *> F), fstop, n, size)
                break
        _returned_none(core._step_batch(S, F, U, st))
        rows = pyxbraid_data(<void *> U)
        for i in range(n):
            memcpy(pyxbraid_vdata(u[i]), rows + i * size, size * sizeof(double))
        return 0
    except BaseException as e:
        return _failure(app, e)
    finally:
        st._leave()
