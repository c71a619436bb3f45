# The app protocol and the trampolines: the C functions the library calls,
# which call the app's Python methods.
#
# Trampolines run with the GIL held.  The core's braid_App is a pointer to
# the Core's _AppData, so the NumpyApp kernels (numpyapp.pxi) work on plain C
# data.  A C callback cannot raise, so each trampoline that calls Python has
# one `try`, whose `except` hands the exception to _failure: it is kept on
# the Core, a non-zero code goes back to the library, and Core.drive()
# re-raises it with its traceback.  Once an error is pending every trampoline
# is a no-op that calls no Python and touches no vector memory, so that a
# library that ignores return codes (upstream XBraid) runs to its end
# quickly: new vectors are None, or NULL for a NumpyApp (never dereferenced;
# _no_vector), free only
# drops its reference, the spatial norm is NaN (which ends upstream's
# iteration), bufsize gives the last size it gave (a healthy rank's message
# still fits), and bufpack sends nothing (the NumpyApp kernel sends NaN).
# A trampoline that passes a status object points it at the C status for the
# call and back at NULL after it.

class App:
    """The braid app protocol.  Subclass it (or write any object with these
    methods); vectors can be any Python objects.

    Required: ``init(t) -> u``, ``step(ustop, fstop, u, status)`` (advance ``u``
    in place from ``status.tstart`` to ``status.tstop``; add ``fstop`` when it is
    not None), ``clone(u) -> v``, ``sum(alpha, x, beta, y)`` (``y = alpha*x +
    beta*y`` in place), ``spatialnorm(u) -> float``.
    With more than one rank: ``bufsize(status) -> int``, ``bufpack(u, buffer,
    status)`` (``buffer`` is a writable memoryview), ``bufunpack(buffer, status) -> u``.
    Optional: ``access(u, status)``, ``free(u)``, ``sync(status)``,
    ``residual(ustop, r, status)`` (used when the Core has ``residual=True``),
    and ``step_batch(ustop, fstop, u, status)`` (ours): n independent steps
    in one call, lists of vectors (fstop None, or a list with None where a
    step has none) and a StepBatchStatus; u[i] must become what step would
    make it with ustop[i], fstop[i], tstart[i] and tstop[i].  The Core uses it
    where the sweeps allow (Core.batched; Core(batch=False) turns it off).
    """
    access = None
    free = None
    sync = None
    residual = None

    def init(self, t):
        raise NotImplementedError(f"{type(self).__name__}.init(t) is required")

    def step(self, ustop, fstop, u, status):
        raise NotImplementedError(f"{type(self).__name__}.step(ustop, fstop, u, status) is required")


ctypedef struct _Callbacks:
    # the trampolines a Core hands the library: Python's, or the NumpyApp kernels
    braid_PtFcnStep step
    braid_PtFcnInit init
    braid_PtFcnClone clone
    braid_PtFcnFree free
    braid_PtFcnSum sum
    braid_PtFcnSpatialNorm spatialnorm
    braid_PtFcnAccess access
    braid_PtFcnBufSize bufsize
    braid_PtFcnBufPack bufpack
    braid_PtFcnBufUnpack bufunpack


ctypedef struct _AppData:
    PyObject *core          # the Core (borrowed: it owns this struct)
    bint numpy              # a NumpyApp: its vectors are pyxbraid_Vec (numpyapp.pxi)
    PyObject *like          # a NumpyApp's array of the vectors' shape (borrowed)
    Py_ssize_t n            # doubles per NumpyApp vector, -1 until known
    void **pool             # spare NumpyApp vectors (pyxbraid_Vec *)
    Py_ssize_t npool        # vectors in the pool
    Py_ssize_t pool_size    # allocated slots
    Py_ssize_t pool_limit   # most vectors the pool may keep
    bint failed             # a callback raised: its exception is pending


cdef inline Core _core(braid_App app):
    return <Core> (<_AppData *> app).core


cdef inline bint _failed(braid_App app) noexcept:
    return (<_AppData *> app).failed


cdef inline braid_Vector _own(object u):
    Py_INCREF(u)
    return <braid_Vector> <void *> u


cdef inline object _vec(braid_Vector u):
    return <object> <void *> u


cdef inline object _arg(braid_App app, braid_Vector u):
    """The Python object an app is shown for a core vector: itself, or a
    NumpyApp vector's array."""
    cdef _AppData *d = <_AppData *> app
    if d.numpy:
        return pyxbraid_vec_array(<pyxbraid_Vec *> u, d.like)
    return <object> <void *> u


cdef inline braid_Vector _made(braid_App app, object u, str where) except NULL:
    """The core vector of a vector the app returned (one reference to it, or
    a NumpyApp vector with its values)."""
    if (<_AppData *> app).numpy:
        return _core(app)._adopt_np(u, where)
    return _own(u)


cdef inline braid_Int _failure(braid_App app, object e) noexcept:
    """The one way a trampoline fails: keep the exception for drive(), and
    return the code a failing callback gives the library."""
    _core(app)._fail(e)
    return _CALLBACK_FAILED


cdef inline braid_Int _no_vector(braid_App app, braid_Vector *u_ptr) noexcept:
    """The new vector of a callback that made none, never dereferenced: None
    (NULL for a NumpyApp)."""
    u_ptr[0] = NULL if (<_AppData *> app).numpy else _own(None)
    return 0


cdef braid_Int _cb_step(braid_App app, braid_Vector ustop, braid_Vector fstop, braid_Vector u,
                        braid_StepStatus status) noexcept:
    if _failed(app):
        return 0
    cdef Core core = _core(app)
    cdef StepStatus st = core._step_status
    st.s = <braid_Status> status
    try:
        returned = core._step(_arg(app, ustop), None if fstop == NULL else _arg(app, fstop),
                              _arg(app, u), st)
        if returned is not None:
            raise TypeError(f"step returned a {type(returned).__name__}: a step must change "
                            f"u in place (u[...] = ...) and return None")
        return 0
    except BaseException as e:
        return _failure(app, e)
    finally:
        st.s = NULL


cdef braid_Int _cb_residual(braid_App app, braid_Vector ustop, braid_Vector r,
                            braid_StepStatus status) noexcept:
    if _failed(app):
        return 0
    cdef Core core = _core(app)
    cdef StepStatus st = core._step_status
    st.s = <braid_Status> status
    try:
        core._residual(_arg(app, ustop), _arg(app, r), st)
        return 0
    except BaseException as e:
        return _failure(app, e)
    finally:
        st.s = NULL


cdef braid_Int _cb_init(braid_App app, braid_Real t, braid_Vector *u_ptr) noexcept:
    if _failed(app):
        return _no_vector(app, u_ptr)
    try:
        # a NumpyApp's init arrays are copied: an app may return an array it
        # keeps, such as its initial condition, every time
        u_ptr[0] = _made(app, _core(app)._init(t), "init")
        return 0
    except BaseException as e:
        _no_vector(app, u_ptr)
        return _failure(app, e)


cdef braid_Int _cb_clone(braid_App app, braid_Vector u, braid_Vector *v_ptr) noexcept:
    if _failed(app):
        return _no_vector(app, v_ptr)
    try:
        v_ptr[0] = _made(app, _core(app)._clone(_arg(app, u)), "clone")
        return 0
    except BaseException as e:
        _no_vector(app, v_ptr)
        return _failure(app, e)


cdef braid_Int _cb_free(braid_App app, braid_Vector u) noexcept:
    cdef braid_Int rc = 0
    if not _failed(app):
        try:
            _core(app)._free(_arg(app, u))
        except BaseException as e:
            rc = _failure(app, e)
    if (<_AppData *> app).numpy:
        _np_release(<_AppData *> app, <pyxbraid_Vec *> u)
    else:
        Py_DECREF(_vec(u))
    return rc


cdef braid_Int _cb_decref(braid_App app, braid_Vector u) noexcept:
    Py_DECREF(_vec(u))
    return 0


cdef braid_Int _cb_sum(braid_App app, braid_Real alpha, braid_Vector x, braid_Real beta,
                       braid_Vector y) noexcept:
    if _failed(app):
        return 0
    try:
        _core(app)._sum(alpha, _arg(app, x), beta, _arg(app, y))
        return 0
    except BaseException as e:
        return _failure(app, e)


cdef braid_Int _cb_spatialnorm(braid_App app, braid_Vector u, braid_Real *norm_ptr) noexcept:
    norm_ptr[0] = NAN
    if _failed(app):
        return 0
    try:
        norm = float(_core(app)._norm(_arg(app, u)))
        if not norm >= 0.0:  # NaN too: it would end the solve without a word
            raise ValueError(f"spatialnorm returned {norm!r}: a norm is a number >= 0 "
                             f"(NaN usually means the vector holds NaN: the solve diverged)")
        norm_ptr[0] = norm
        return 0
    except BaseException as e:
        return _failure(app, e)


cdef braid_Int _cb_access(braid_App app, braid_Vector u, braid_AccessStatus status) noexcept:
    if _failed(app):
        return 0
    cdef Core core = _core(app)
    cdef AccessStatus st = core._access_status
    st.s = <braid_Status> status
    try:
        core._access(_arg(app, u), st)
        return 0
    except BaseException as e:
        return _failure(app, e)
    finally:
        st.s = NULL


cdef braid_Int _cb_access_none(braid_App app, braid_Vector u, braid_AccessStatus status) noexcept:
    return 0


cdef braid_Int _cb_sync(braid_App app, braid_SyncStatus status) noexcept:
    if _failed(app):
        return 0
    cdef Core core = _core(app)
    cdef SyncStatus st = core._sync_status
    st.s = <braid_Status> status
    try:
        core._sync(st)
        return 0
    except BaseException as e:
        return _failure(app, e)
    finally:
        st.s = NULL


cdef braid_Int _cb_bufsize(braid_App app, braid_Int *size_ptr, braid_BufferStatus status) noexcept:
    # after a failure: the last size, so that a message from a healthy rank
    # still fits the receive buffer of a library that goes on
    cdef Core core = _core(app)
    size_ptr[0] = core._last_bufsize
    if _failed(app):
        return 0
    cdef BufferStatus st = core._buffer_status
    st.s = <braid_Status> status
    try:
        size_ptr[0] = core._user_bufsize(st)
        core._last_bufsize = size_ptr[0]
        return 0
    except BaseException as e:
        return _failure(app, e)
    finally:
        st.s = NULL


cdef braid_Int _cb_bufpack(braid_App app, braid_Vector u, void *buffer,
                           braid_BufferStatus status) noexcept:
    if _failed(app):
        braid_BufferStatusSetSize(status, 0.0)  # nothing to send (its code: moot)
        return 0
    cdef Core core = _core(app)
    cdef BufferStatus st = core._buffer_status
    st.s = <braid_Status> status
    try:
        # the buffer holds what bufsize promised for this point (asked again:
        # nothing in the interface says bufsize was called just before)
        view = PyMemoryView_FromMemory(<char *> buffer, core._user_bufsize(st), PyBUF_WRITE)
        try:
            core._bufpack(_arg(app, u), view, st)
        finally:
            view.release()
        return 0
    except BaseException as e:
        braid_BufferStatusSetSize(status, 0.0)  # nothing to send (its code: moot)
        return _failure(app, e)
    finally:
        st.s = NULL


cdef braid_Int _cb_bufunpack(braid_App app, void *buffer, braid_Vector *u_ptr,
                             braid_BufferStatus status) noexcept:
    if _failed(app):
        return _no_vector(app, u_ptr)
    cdef Core core = _core(app)
    cdef BufferStatus st = core._buffer_status
    st.s = <braid_Status> status
    try:
        view = PyMemoryView_FromMemory(<char *> buffer, core._user_bufsize(st), PyBUF_READ)
        try:
            u_ptr[0] = _made(app, core._bufunpack(view, st), "bufunpack")
        finally:
            view.release()
        return 0
    except BaseException as e:
        _no_vector(app, u_ptr)
        return _failure(app, e)
    finally:
        st.s = NULL


cdef braid_Int _cb_timegrid(braid_App app, braid_Real *ta, braid_Int *ilower,
                            braid_Int *iupper) noexcept:
    cdef cnp.ndarray[cnp.float64_t, ndim=1] grid = _core(app)._time_grid
    cdef Py_ssize_t i
    for i in range(ilower[0], iupper[0] + 1):
        ta[i - ilower[0]] = grid[i]
    return 0


