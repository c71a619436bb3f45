# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
"""Cython bindings of the braid C interface: Core, App, NumpyApp, status objects.

A Python object is the braid "app".  The C core calls trampolines (below),
which call the app's methods.  A braid_Vector is a PyObject* that owns one
reference.  Exceptions raised by the app are stored on the Core, the callback
returns non-zero, the solve stops, and Core.drive() raises the exception with
its original traceback.
"""

cimport cython
cimport numpy as cnp
from cpython.mem cimport PyMem_Realloc, PyMem_Free
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF
from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.buffer cimport PyBUF_READ, PyBUF_WRITE
from libc.math cimport sqrt, NAN
from libc.string cimport memcpy
from mpi4py cimport MPI
from mpi4py.libmpi cimport MPI_Comm

from pyxbraid.braid cimport *

import math

import numpy as np
from mpi4py import MPI as _MPI

cnp.import_array()

cdef extern from "Python.h":
    Py_ssize_t Py_REFCNT(PyObject *o)

cdef extern from *:
    """
    #ifndef PYXBRAID_UPSTREAM
    #define PYXBRAID_UPSTREAM 0
    #endif
    """
    int PYXBRAID_UPSTREAM

#: "vendored" (vendor/xbraid, this project's implementation) or "upstream"
#: (LLNL XBraid, chosen at build time with XBRAID_DIR).
BRAID_LIBRARY = "upstream" if PYXBRAID_UPSTREAM else "vendored"

# What a failing callback returns to the C core.
cdef enum:
    _CALLBACK_FAILED = braid_ERROR_GENERIC

# braid_ASCaller_* codes, by name (status.calling_function)
CALLERS = {
    0: "FInterp", 1: "FRestrict", 2: "FRefine", 3: "FAccess", 4: "FRefine_AfterInitHier",
    5: "Drive_TopCycle", 6: "FCRelax", 7: "Drive_AfterInit", 8: "BaseStep_diff",
    9: "ComputeFullRNorm", 10: "FASResidual", 11: "Residual", 12: "InitGuess", 13: "Warmup",
}


class BraidError(RuntimeError):
    """The braid library reported a failure that no Python callback caused."""


# ====================================================================== statuses

cdef inline _check_live(void *s):
    if s == NULL:
        raise RuntimeError("a status object is only valid during the callback it was passed to")


cdef inline _check_rc(braid_Int rc, str what):
    if rc != 0:
        raise BraidError(f"{what} failed with braid error code {rc}")


cdef class StepStatus:
    """What a step (or residual) callback knows: the time step, level and iteration."""
    cdef braid_StepStatus s

    @property
    def tstart(self):
        cdef braid_Real t
        _check_live(self.s)
        braid_StepStatusGetT(self.s, &t)
        return t

    @property
    def t(self):
        """Same as tstart."""
        return self.tstart

    @property
    def tstop(self):
        cdef braid_Real t
        _check_live(self.s)
        braid_StepStatusGetTstop(self.s, &t)
        return t

    @property
    def tindex(self):
        """Index of tstart on the current level."""
        cdef braid_Int i
        _check_live(self.s)
        braid_StepStatusGetTIndex(self.s, &i)
        return i

    @property
    def iter(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_StepStatusGetIter(self.s, &i)
        return i

    @property
    def level(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_StepStatusGetLevel(self.s, &i)
        return i

    @property
    def nlevels(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_StepStatusGetNLevels(self.s, &i)
        return i

    @property
    def ntime(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_StepStatusGetNTPoints(self.s, &i)
        return i

    @property
    def done(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_StepStatusGetDone(self.s, &i)
        return bool(i)

    @property
    def tol(self):
        cdef braid_Real t
        _check_live(self.s)
        braid_StepStatusGetTol(self.s, &t)
        return t

    @property
    def calling_function(self):
        """braid_ASCaller_* code of the routine that called (see pyxbraid.CALLERS)."""
        cdef braid_Int i
        _check_live(self.s)
        braid_StepStatusGetCallingFunction(self.s, &i)
        return i

    @property
    def rnorms(self):
        """Residual history up to the current iteration (numpy array)."""
        cdef braid_Int it, n
        cdef cnp.ndarray[cnp.float64_t, ndim=1] out
        _check_live(self.s)
        braid_StepStatusGetIter(self.s, &it)
        n = it + 1
        out = np.empty(n, dtype=np.float64)
        braid_StepStatusGetRNorms(self.s, &n, <braid_Real *> out.data)
        return out[:n].copy()

    def cfactor(self, int level):
        """Coarsening factor of `level` (-1 for the coarsest level)."""
        cdef braid_Int cf
        _check_live(self.s)
        braid_StepStatusGetCFactor(self.s, &cf, level)
        return cf

    def tiul(self, int level):
        """(ilower, iupper): this rank's index range on `level`."""
        cdef braid_Int iu, il
        _check_live(self.s)
        _check_rc(braid_StepStatusGetTIUL(self.s, &iu, &il, level), "StepStatusGetTIUL")
        return il, iu

    def set_rfactor(self, double rfactor):
        _check_live(self.s)
        braid_StepStatusSetRFactor(self.s, rfactor)


cdef class AccessStatus:
    """What an access callback knows about the vector it is shown."""
    cdef braid_AccessStatus s

    @property
    def t(self):
        cdef braid_Real t
        _check_live(self.s)
        braid_AccessStatusGetT(self.s, &t)
        return t

    @property
    def tindex(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_AccessStatusGetTIndex(self.s, &i)
        return i

    @property
    def iter(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_AccessStatusGetIter(self.s, &i)
        return i

    @property
    def level(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_AccessStatusGetLevel(self.s, &i)
        return i

    @property
    def nlevels(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_AccessStatusGetNLevels(self.s, &i)
        return i

    @property
    def ntime(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_AccessStatusGetNTPoints(self.s, &i)
        return i

    @property
    def done(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_AccessStatusGetDone(self.s, &i)
        return bool(i)

    @property
    def residual(self):
        cdef braid_Real r
        _check_live(self.s)
        braid_AccessStatusGetResidual(self.s, &r)
        return r

    @property
    def calling_function(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_AccessStatusGetCallingFunction(self.s, &i)
        return i

    def cfactor(self, int level):
        cdef braid_Int cf
        _check_live(self.s)
        braid_AccessStatusGetCFactor(self.s, &cf, level)
        return cf


cdef class BufferStatus:
    """What the buffer callbacks know: which point is packed, and set_size."""
    cdef braid_BufferStatus s

    @property
    def tindex(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_BufferStatusGetTIndex(self.s, &i)
        return i

    @property
    def level(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_BufferStatusGetLevel(self.s, &i)
        return i

    @property
    def message_type(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_BufferStatusGetMessageType(self.s, &i)
        return i

    def set_size(self, size):
        """Send only `size` bytes of the buffer (at most what bufsize promised)."""
        _check_live(self.s)
        braid_BufferStatusSetSize(self.s, <double> size)


cdef class SyncStatus:
    """What a sync callback knows: the iteration and this rank's ranges."""
    cdef braid_SyncStatus s

    @property
    def iter(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_SyncStatusGetIter(self.s, &i)
        return i

    @property
    def level(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_SyncStatusGetLevel(self.s, &i)
        return i

    @property
    def nlevels(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_SyncStatusGetNLevels(self.s, &i)
        return i

    @property
    def ntime(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_SyncStatusGetNTPoints(self.s, &i)
        return i

    @property
    def done(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_SyncStatusGetDone(self.s, &i)
        return bool(i)

    @property
    def calling_function(self):
        cdef braid_Int i
        _check_live(self.s)
        braid_SyncStatusGetCallingFunction(self.s, &i)
        return i

    def tiul(self, int level):
        cdef braid_Int iu, il
        _check_live(self.s)
        _check_rc(braid_SyncStatusGetTIUL(self.s, &iu, &il, level), "SyncStatusGetTIUL")
        return il, iu

    def proc(self, int level, int index):
        """Rank that owns `index` on `level`."""
        cdef braid_Int p
        _check_live(self.s)
        braid_SyncStatusGetProc(self.s, &p, level, index)
        return p


# ========================================================= numpy vector kernels
# The NumpyApp fast path: vectors are C-contiguous float64 arrays and these
# run on their memory without calling Python.

cdef extern from *:
    """
    static inline double *pyxbraid_data(void *array)
    {
        return (double *) PyArray_DATA((PyArrayObject *) array);
    }
    """
    double *pyxbraid_data(void *array) noexcept nogil


cdef inline void _axpby(Py_ssize_t n, double alpha, const double *x, double beta,
                        double *y) noexcept nogil:
    """y = alpha*x + beta*y, element by element (no fused multiply-add)."""
    cdef Py_ssize_t i
    for i in range(n):
        y[i] = alpha * x[i] + beta * y[i]


cdef inline double _norm2(Py_ssize_t n, const double *u) noexcept nogil:
    """Euclidean norm, summed in index order."""
    cdef Py_ssize_t i
    cdef double acc = 0.0
    for i in range(n):
        acc += u[i] * u[i]
    return sqrt(acc)


cdef inline bint _is_vector(object u):
    return (type(u) is np.ndarray and cnp.PyArray_TYPE(<cnp.ndarray> u) == cnp.NPY_FLOAT64
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray> u))


cdef inline Py_ssize_t _size(object u):
    return cnp.PyArray_SIZE(<cnp.ndarray> u)


cdef object _as_vector(object u, str where):
    """u as a C-contiguous float64 array (no copy when it already is one)."""
    if _is_vector(u):
        return u
    if u is None:
        raise TypeError(f"{where} returned None; a NumpyApp vector must be a float64 array")
    return np.ascontiguousarray(u, dtype=np.float64)


cdef inline object _copy_vector(object u):
    cdef cnp.ndarray v = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(<cnp.ndarray> u),
                                           cnp.PyArray_DIMS(<cnp.ndarray> u), cnp.NPY_FLOAT64, 0)
    memcpy(cnp.PyArray_DATA(v), pyxbraid_data(<void *> u), _size(u) * sizeof(double))
    return v


# ============================================================ the app classes

class App:
    """The braid app protocol.  Subclass it (or write any object with these
    methods); vectors can be any Python objects.

    Required: ``init(t) -> u``, ``step(ustop, fstop, u, status)`` (advance ``u``
    in place from ``status.tstart`` to ``status.tstop``; add ``fstop`` when it is
    not None), ``clone(u) -> v``, ``sum(alpha, x, beta, y)`` (``y = alpha*x +
    beta*y`` in place), ``spatialnorm(u) -> float``.
    With more than one rank: ``bufsize(status) -> int``, ``bufpack(u, buffer,
    status)`` (``buffer`` is a writable memoryview), ``bufunpack(buffer, status) -> u``.
    Optional: ``access(u, status)``, ``free(u)``, ``sync(status)``, and
    ``residual(ustop, r, status)`` (used when the Core has ``residual=True``).
    """
    access = None
    free = None
    sync = None
    residual = None

    def init(self, t):
        raise NotImplementedError(f"{type(self).__name__}.init(t) is required")

    def step(self, ustop, fstop, u, status):
        raise NotImplementedError(f"{type(self).__name__}.step(ustop, fstop, u, status) is required")


class NumpyApp(App):
    """An app whose vectors are float64 numpy arrays of one shape.

    Only ``init`` and ``step`` are required.  clone, sum, spatialnorm (the
    Euclidean norm), free and the buffer functions run in C on the array
    memory, unless a subclass overrides them.  ``step`` must change ``u`` in
    place (``u[...] = ...``, ``u *= ...``), never rebind it.
    ``vector_shape`` may be set to the shape of the vectors; otherwise it is
    taken from the first vector ``init`` returns.
    """
    vector_shape = None

    def clone(self, u):
        return _copy_vector(_as_vector(u, "clone"))

    def sum(self, alpha, x, beta, y):
        if not _is_vector(y):
            raise TypeError("sum: y must be a C-contiguous float64 array (it is changed in place)")
        x = _as_vector(x, "sum")
        if _size(x) != _size(y):
            raise ValueError(f"sum: vectors of different sizes ({_size(x)} and {_size(y)})")
        _axpby(_size(y), alpha, pyxbraid_data(<void *> x), beta, pyxbraid_data(<void *> y))

    def spatialnorm(self, u):
        u = _as_vector(u, "spatialnorm")
        return _norm2(_size(u), pyxbraid_data(<void *> u))


# Methods NumpyApp implements in C; a subclass that overrides one gets its own.
_NUMPY_FAST = ("clone", "sum", "spatialnorm", "free", "bufsize", "bufpack", "bufunpack")


cdef bint _overrides(object app, str name):
    return getattr(type(app), name, None) is not getattr(NumpyApp, name, None)


# ====================================================================== trampolines
# Called by the C core with the GIL held.  The core's braid_App is a pointer
# to the Core's _AppData, so the NumpyApp kernels work on plain C data.
# Trampolines never raise: an exception is stored on the Core and a non-zero
# code returned.  Once an error is pending they do nothing (a library that
# ignores return codes then finishes quickly), except free, which always
# drops its reference.

ctypedef struct _AppData:
    PyObject *core          # the Core (borrowed: it owns this struct)
    Py_ssize_t n            # doubles per NumpyApp vector, -1 until known
    PyObject **pool         # spare NumpyApp vectors, one reference each
    Py_ssize_t npool        # vectors in the pool
    Py_ssize_t pool_size    # allocated slots
    Py_ssize_t pool_limit   # most vectors the pool may keep
    bint failed             # a callback raised: its exception is pending


cdef inline Core _core(braid_App app):
    return <Core> (<_AppData *> app).core


cdef inline braid_Vector _own(object u):
    Py_INCREF(u)
    return <braid_Vector> <void *> u


cdef braid_Int _cb_step(braid_App app, braid_Vector ustop, braid_Vector fstop, braid_Vector u,
                        braid_StepStatus status) noexcept:
    if (<_AppData *> app).failed:
        return 0
    cdef Core core = _core(app)
    cdef StepStatus st = core._step_status
    st.s = status
    try:
        core._step(<object> <void *> ustop, None if fstop == NULL else <object> <void *> fstop,
                   <object> <void *> u, st)
    except BaseException as e:
        core._fail(e)
    st.s = NULL
    return _CALLBACK_FAILED if (<_AppData *> app).failed else 0


cdef braid_Int _cb_residual(braid_App app, braid_Vector ustop, braid_Vector r,
                            braid_StepStatus status) noexcept:
    if (<_AppData *> app).failed:
        return 0
    cdef Core core = _core(app)
    cdef StepStatus st = core._step_status
    st.s = status
    try:
        core._residual(<object> <void *> ustop, <object> <void *> r, st)
    except BaseException as e:
        core._fail(e)
    st.s = NULL
    return _CALLBACK_FAILED if (<_AppData *> app).failed else 0


cdef braid_Int _cb_init(braid_App app, braid_Real t, braid_Vector *u_ptr) noexcept:
    if (<_AppData *> app).failed:
        u_ptr[0] = _own(None)
        return 0
    cdef Core core = _core(app)
    try:
        u = core._init(t)
        if core._numpy:
            u = core._adopt(u, "init")
        u_ptr[0] = _own(u)
        return 0
    except BaseException as e:
        core._fail(e)
        u_ptr[0] = _own(None)
        return _CALLBACK_FAILED


cdef braid_Int _cb_clone(braid_App app, braid_Vector u, braid_Vector *v_ptr) noexcept:
    if (<_AppData *> app).failed:
        v_ptr[0] = _own(<object> <void *> u)
        return 0
    cdef Core core = _core(app)
    try:
        v = core._clone(<object> <void *> u)
        if core._numpy:
            v = core._adopt(v, "clone")
        v_ptr[0] = _own(v)
        return 0
    except BaseException as e:
        core._fail(e)
        v_ptr[0] = _own(None)
        return _CALLBACK_FAILED


cdef braid_Int _cb_free(braid_App app, braid_Vector u) noexcept:
    cdef int rc = 0
    if not (<_AppData *> app).failed:
        core = _core(app)
        try:
            core._free(<object> <void *> u)
        except BaseException as e:
            core._fail(e)
            rc = _CALLBACK_FAILED
    Py_DECREF(<object> <void *> u)
    return rc


cdef braid_Int _cb_decref(braid_App app, braid_Vector u) noexcept:
    Py_DECREF(<object> <void *> u)
    return 0


cdef braid_Int _cb_sum(braid_App app, braid_Real alpha, braid_Vector x, braid_Real beta,
                       braid_Vector y) noexcept:
    if (<_AppData *> app).failed:
        return 0
    cdef Core core = _core(app)
    try:
        core._sum(alpha, <object> <void *> x, beta, <object> <void *> y)
        return 0
    except BaseException as e:
        core._fail(e)
        return _CALLBACK_FAILED


cdef braid_Int _cb_spatialnorm(braid_App app, braid_Vector u, braid_Real *norm_ptr) noexcept:
    norm_ptr[0] = NAN
    if (<_AppData *> app).failed:
        return 0
    cdef Core core = _core(app)
    try:
        norm_ptr[0] = float(core._norm(<object> <void *> u))
        return 0
    except BaseException as e:
        core._fail(e)
        return _CALLBACK_FAILED


cdef braid_Int _cb_access(braid_App app, braid_Vector u, braid_AccessStatus status) noexcept:
    if (<_AppData *> app).failed:
        return 0
    cdef Core core = _core(app)
    cdef AccessStatus st = core._access_status
    st.s = status
    try:
        core._access(<object> <void *> u, st)
    except BaseException as e:
        core._fail(e)
    st.s = NULL
    return _CALLBACK_FAILED if (<_AppData *> app).failed else 0


cdef braid_Int _cb_access_none(braid_App app, braid_Vector u, braid_AccessStatus status) noexcept:
    return 0


cdef braid_Int _cb_sync(braid_App app, braid_SyncStatus status) noexcept:
    if (<_AppData *> app).failed:
        return 0
    cdef Core core = _core(app)
    cdef SyncStatus st = core._sync_status
    st.s = status
    try:
        core._sync(st)
    except BaseException as e:
        core._fail(e)
    st.s = NULL
    return _CALLBACK_FAILED if (<_AppData *> app).failed else 0


cdef braid_Int _cb_bufsize(braid_App app, braid_Int *size_ptr, braid_BufferStatus status) noexcept:
    cdef Core core = _core(app)
    cdef BufferStatus st = core._buffer_status
    st.s = status
    try:
        size_ptr[0] = core._user_bufsize(st)
    except BaseException as e:
        core._fail(e)
        size_ptr[0] = core._last_bufsize
    st.s = NULL
    core._last_bufsize = size_ptr[0]
    return _CALLBACK_FAILED if (<_AppData *> app).failed else 0


cdef braid_Int _cb_bufpack(braid_App app, braid_Vector u, void *buffer,
                           braid_BufferStatus status) noexcept:
    if (<_AppData *> app).failed:
        return 0
    cdef Core core = _core(app)
    cdef BufferStatus st = core._buffer_status
    st.s = status
    try:
        view = PyMemoryView_FromMemory(<char *> buffer, core._last_bufsize, PyBUF_WRITE)
        try:
            core._bufpack(<object> <void *> u, view, st)
        finally:
            view.release()
    except BaseException as e:
        core._fail(e)
    st.s = NULL
    return _CALLBACK_FAILED if (<_AppData *> app).failed else 0


cdef braid_Int _cb_bufunpack(braid_App app, void *buffer, braid_Vector *u_ptr,
                             braid_BufferStatus status) noexcept:
    if (<_AppData *> app).failed:
        u_ptr[0] = _own(None)
        return 0
    cdef Core core = _core(app)
    cdef BufferStatus st = core._buffer_status
    st.s = status
    try:
        # the receive buffer holds at most what bufsize promises for this point
        view = PyMemoryView_FromMemory(<char *> buffer, core._user_bufsize(st), PyBUF_READ)
        try:
            u = core._bufunpack(view, st)
            if core._numpy:
                u = core._adopt(u, "bufunpack")
        finally:
            view.release()
        u_ptr[0] = _own(u)
    except BaseException as e:
        core._fail(e)
        u_ptr[0] = _own(None)
    st.s = NULL
    return _CALLBACK_FAILED if (<_AppData *> app).failed else 0


cdef braid_Int _cb_timegrid(braid_App app, braid_Real *ta, braid_Int *ilower,
                            braid_Int *iupper) noexcept:
    cdef cnp.ndarray[cnp.float64_t, ndim=1] grid = _core(app)._time_grid
    cdef Py_ssize_t i
    for i in range(ilower[0], iupper[0] + 1):
        ta[i - ilower[0]] = grid[i]
    return 0


# ------------------------------------------- NumpyApp kernels on plain C data
# Every vector of a NumpyApp is a C-contiguous float64 array of the app's one
# shape (Core._adopt sees to it), so the kernels need only the data pointer.

cdef braid_Int _cb_sum_np(braid_App app, braid_Real alpha, braid_Vector x, braid_Real beta,
                          braid_Vector y) noexcept:
    _axpby((<_AppData *> app).n, alpha, pyxbraid_data(x), beta, pyxbraid_data(y))
    return 0


cdef braid_Int _cb_norm_np(braid_App app, braid_Vector u, braid_Real *norm_ptr) noexcept:
    cdef _AppData *d = <_AppData *> app
    # NaN once an error is pending: a library that ignores return codes stops
    # at a NaN residual
    norm_ptr[0] = NAN if d.failed else _norm2(d.n, pyxbraid_data(u))
    return 0


cdef inline PyObject *_pool_take(_AppData *d) noexcept:
    """A spare vector (the reference passes to the caller), or NULL."""
    if d.npool == 0:
        return NULL
    d.npool -= 1
    return d.pool[d.npool]


cdef braid_Int _cb_clone_np(braid_App app, braid_Vector u, braid_Vector *v_ptr) noexcept:
    cdef _AppData *d = <_AppData *> app
    cdef PyObject *v = _pool_take(d)
    if v != NULL:
        memcpy(pyxbraid_data(v), pyxbraid_data(u), d.n * sizeof(double))
        v_ptr[0] = <braid_Vector> v
        return 0
    try:
        v_ptr[0] = _own(_copy_vector(<object> <void *> u))
        return 0
    except BaseException as e:
        _core(app)._fail(e)
        v_ptr[0] = _own(None)
        return _CALLBACK_FAILED


cdef braid_Int _cb_free_np(braid_App app, braid_Vector u) noexcept:
    # a vector nobody else refers to is kept for the next clone
    cdef _AppData *d = <_AppData *> app
    cdef PyObject **grown
    cdef Py_ssize_t size
    if Py_REFCNT(<PyObject *> u) == 1 and d.npool < d.pool_limit:
        if d.npool == d.pool_size:
            size = min(max(2 * d.pool_size, 64), d.pool_limit)
            grown = <PyObject **> PyMem_Realloc(d.pool, size * sizeof(PyObject *))
            if grown == NULL:
                Py_DECREF(<object> <void *> u)
                return 0
            d.pool, d.pool_size = grown, size
        d.pool[d.npool] = <PyObject *> u
        d.npool += 1
        return 0
    Py_DECREF(<object> <void *> u)
    return 0


cdef braid_Int _cb_bufsize_np(braid_App app, braid_Int *size_ptr, braid_BufferStatus status) noexcept:
    cdef _AppData *d = <_AppData *> app
    if d.n < 0:
        try:
            _core(app)._learn_shape_from_init()
        except BaseException as e:
            _core(app)._fail(e)
            size_ptr[0] = 0
            return _CALLBACK_FAILED
    size_ptr[0] = d.n * sizeof(double)
    return 0


cdef braid_Int _cb_bufpack_np(braid_App app, braid_Vector u, void *buffer,
                              braid_BufferStatus status) noexcept:
    cdef Py_ssize_t nbytes = (<_AppData *> app).n * sizeof(double)
    memcpy(buffer, pyxbraid_data(u), nbytes)
    braid_BufferStatusSetSize(status, <double> nbytes)
    return 0


cdef braid_Int _cb_bufunpack_np(braid_App app, void *buffer, braid_Vector *u_ptr,
                                braid_BufferStatus status) noexcept:
    cdef _AppData *d = <_AppData *> app
    cdef PyObject *v = _pool_take(d)
    if v == NULL:
        try:
            u = np.empty(_core(app)._vec_shape, dtype=np.float64)
        except BaseException as e:
            _core(app)._fail(e)
            u_ptr[0] = _own(None)
            return _CALLBACK_FAILED
        Py_INCREF(u)
        v = <PyObject *> u
    memcpy(pyxbraid_data(v), buffer, d.n * sizeof(double))
    u_ptr[0] = <braid_Vector> v
    return 0


# ====================================================================== options

cdef object _int_option(str name, object value, object lo=None, object hi=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if lo is not None and value < lo:
        raise ValueError(f"{name}: must be >= {lo}, got {value}")
    if hi is not None and value > hi:
        raise ValueError(f"{name}: must be <= {hi}, got {value}")
    return value


cdef object _float_option(str name, object value, object lo=None):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be finite, got {value}")
    if lo is not None and value < lo:
        raise ValueError(f"{name}: must be >= {lo}, got {value}")
    return value


cdef object _bool_option(str name, object value):
    if not isinstance(value, (bool, np.bool_)) and value not in (0, 1):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return bool(value)


cdef dict _level_option(str name, object value, object check):
    """{level: value}: an int/float applies to every level (key -1)."""
    if isinstance(value, dict):
        out = {}
        for level, v in value.items():
            level = _int_option(f"{name} level", level, 0)
            out[level] = check(f"{name}[{level}]", v)
        return out
    if isinstance(value, (list, tuple)):
        raise TypeError(f"{name}: expected a number or a {{level: value}} dict, "
                        f"got {type(value).__name__}")
    return {-1: check(name, value)}


def _check_cfactor(name, v):
    return _int_option(name, v, 2)


def _check_nrelax(name, v):
    return _int_option(name, v, 0)


def _check_cwt(name, v):
    return _float_option(name, v, 0.0)


# =========================================================================== Core

@cython.no_gc_clear
cdef class Core:
    """An MGRIT solver for one app: XBraid's braid_Core.

    ``Core(app, comm=MPI.COMM_WORLD, tstart=0.0, tstop=1.0, ntime=..., **options)``
    distributes the ``ntime + 1`` time points over the ranks of ``comm``.
    Options (keyword arguments here, or the ``set_<option>`` methods) follow
    XBraid's braid_SetX setters and are checked at once: a bad value raises
    ValueError or TypeError naming the option.  ``drive()`` solves; a second
    call is a warm restart.  After a solve: ``niter``, ``rnorms``, ``nlevels``.

    Options: max_levels, min_coarse, cfactor (int or {level: cf}), nrelax (int
    or {level: n}), cwt (float or {level: w}), abs_tol, rel_tol, max_iter,
    skip, fmg, nfmg, nfmg_vcyc, temporal_norm, storage, seq_soln, access_level,
    print_level, file_io_level, relax_only_cg, final_fc_relax, residual (use
    app.residual), residual_computation, time_grid (ntime+1 increasing times).

    Defaults are XBraid's, except file_io_level = 0 (XBraid writes
    braid.out.cycle into the working directory; pass 1 for that).
    """
    cdef braid_Core _c
    cdef readonly object app
    cdef readonly object comm
    cdef readonly object comm_world
    cdef readonly double tstart, tstop
    cdef readonly int ntime
    cdef object _error
    cdef bint _numpy
    cdef StepStatus _step_status
    cdef AccessStatus _access_status
    cdef BufferStatus _buffer_status
    cdef SyncStatus _sync_status
    cdef object _init, _step, _clone, _sum, _norm, _free, _access, _sync, _residual
    cdef object _bufsize, _bufpack, _bufunpack
    cdef braid_Int _last_bufsize
    cdef _AppData _data
    cdef object _vec_shape
    cdef object _time_grid
    cdef bint _fmg_on, _final_fc_relax_on, _residual_on
    cdef int _max_iter

    def __cinit__(self):
        self._c = NULL
        self._max_iter = 100
        self._data.core = <PyObject *> self
        self._data.n = -1
        self._data.pool = NULL
        self._data.npool = self._data.pool_size = self._data.pool_limit = 0
        self._data.failed = False

    def __init__(self, app, comm=None, *, tstart=0.0, tstop=1.0, ntime,
                 comm_world=None, max_levels=None, min_coarse=None, cfactor=None,
                 nrelax=None, cwt=None, abs_tol=None, rel_tol=None, max_iter=None,
                 skip=None, fmg=None, nfmg=None, nfmg_vcyc=None, temporal_norm=None,
                 storage=None, seq_soln=None, access_level=None, print_level=None,
                 file_io_level=0, relax_only_cg=None, final_fc_relax=None, residual=None,
                 residual_computation=None, time_grid=None):
        cdef MPI_Comm c_comm, c_world
        cdef braid_Int rc
        if self._c != NULL:
            raise RuntimeError("Core.__init__ called twice")
        comm = _MPI.COMM_WORLD if comm is None else comm
        comm_world = comm if comm_world is None else comm_world
        for name, value in (("comm", comm), ("comm_world", comm_world)):
            if not isinstance(value, _MPI.Intracomm):
                raise TypeError(f"{name}: expected an mpi4py intracommunicator, "
                                f"got {type(value).__name__}")
        self.ntime = _int_option("ntime", ntime, 1)
        self.tstart = _float_option("tstart", tstart)
        self.tstop = _float_option("tstop", tstop)
        if not self.tstop > self.tstart:
            raise ValueError(f"tstop: must be greater than tstart ({self.tstart}), "
                             f"got {self.tstop}")
        if abs_tol is not None and rel_tol is not None:
            raise ValueError("abs_tol, rel_tol: give one tolerance, not both")
        self.app = app
        self.comm = comm
        self.comm_world = comm_world
        self._bind_app(app, comm.Get_size())
        self._step_status = StepStatus()
        self._access_status = AccessStatus()
        self._buffer_status = BufferStatus()
        self._sync_status = SyncStatus()

        c_comm = (<MPI.Comm> comm).ob_mpi
        c_world = (<MPI.Comm> comm_world).ob_mpi
        rc = braid_Init(c_world, c_comm, self.tstart, self.tstop, self.ntime,
                        <braid_App> &self._data, _cb_step, _cb_init,
                        _cb_clone_np if self._clone is None else _cb_clone,
                        _cb_free if self._free is not None else (
                            _cb_free_np if self._numpy else _cb_decref),
                        _cb_sum_np if self._sum is None else _cb_sum,
                        _cb_norm_np if self._norm is None else _cb_spatialnorm,
                        _cb_access_none if self._access is None else _cb_access,
                        _cb_bufsize_np if self._bufsize is None else _cb_bufsize,
                        _cb_bufpack_np if self._bufpack is None else _cb_bufpack,
                        _cb_bufunpack_np if self._bufunpack is None else _cb_bufunpack,
                        &self._c)
        _check_rc(rc, "braid_Init")
        if self._sync is not None:
            braid_SetSync(self._c, _cb_sync)
        self._set(file_io_level=file_io_level, max_levels=max_levels, min_coarse=min_coarse,
                  cfactor=cfactor, nrelax=nrelax, cwt=cwt, abs_tol=abs_tol, rel_tol=rel_tol,
                  max_iter=max_iter, skip=skip, fmg=fmg, nfmg=nfmg, nfmg_vcyc=nfmg_vcyc,
                  temporal_norm=temporal_norm, storage=storage, seq_soln=seq_soln,
                  access_level=access_level, print_level=print_level,
                  relax_only_cg=relax_only_cg, final_fc_relax=final_fc_relax,
                  residual=residual, residual_computation=residual_computation,
                  time_grid=time_grid)

    cdef _bind_app(self, app, int nranks):
        """Cache the app's bound methods; None selects the C fast path."""
        self._numpy = isinstance(app, NumpyApp)
        required = ["init", "step"]
        if not self._numpy:
            required += ["clone", "sum", "spatialnorm"]
            if nranks > 1:
                required += ["bufsize", "bufpack", "bufunpack"]
        missing = [name for name in required if not callable(getattr(app, name, None))]
        if missing:
            raise TypeError(f"app: {type(app).__name__} lacks {', '.join(missing)}; "
                            f"see pyxbraid.App for the protocol")

        def own(name):
            if self._numpy and not _overrides(app, name):
                return None
            return getattr(app, name, None)

        self._init = app.init
        self._step = app.step
        self._clone = own("clone")
        self._sum = own("sum")
        self._norm = own("spatialnorm")
        self._free = getattr(app, "free", None)
        buffers = [own("bufsize"), own("bufpack"), own("bufunpack")]
        if self._numpy and any(b is not None for b in buffers) and None in buffers:
            raise TypeError("app: override all of bufsize, bufpack and bufunpack, or none")
        if not self._numpy and None in buffers:
            buffers = [_no_buffers] * 3
        self._bufsize, self._bufpack, self._bufunpack = buffers
        self._access = getattr(app, "access", None)
        self._sync = getattr(app, "sync", None)
        self._residual = getattr(app, "residual", None)
        if self._numpy and app.vector_shape is not None:
            self._learn_shape(tuple(int(n) for n in np.atleast_1d(app.vector_shape)))

    # --------------------------------------------------------------- internals

    cdef _fail(self, exc):
        """Keep the first exception a callback raised."""
        if self._error is None:
            self._error = exc
        self._data.failed = True

    cdef object _adopt(self, u, str where):
        """A NumpyApp vector from the app: float64, C-contiguous, of the app's shape."""
        u = _as_vector(u, where)
        if self._data.n < 0:
            self._learn_shape(u.shape)
        elif u.shape != self._vec_shape:
            raise ValueError(f"{where}: vector of shape {u.shape}, but this NumpyApp's "
                             f"vectors have the shape {self._vec_shape}")
        return u

    cdef _learn_shape(self, shape):
        self._vec_shape = tuple(shape)
        self._data.n = int(np.prod(shape, dtype=np.int64))
        # freed vectors kept for reuse: a level's worth, within 64 MiB
        self._data.pool_limit = min(1 << 20, (64 << 20) // (self._data.n * sizeof(double) + 128))

    def _learn_shape_from_init(self):
        # a rank that holds no C-point has not seen a vector yet: ask init once
        self._adopt(self._init(self.tstart), "init")

    cdef _release_pool(self):
        cdef Py_ssize_t i
        for i in range(self._data.npool):
            Py_DECREF(<object> self._data.pool[i])
        PyMem_Free(self._data.pool)
        self._data.pool = NULL
        self._data.npool = self._data.pool_size = 0

    cdef braid_Int _user_bufsize(self, BufferStatus st) except? -1:
        n = self._bufsize(st)
        return _int_option("bufsize", n, 0)

    cdef _require(self):
        if self._c == NULL:
            raise RuntimeError("this Core has been destroyed")

    # ----------------------------------------------------------------- options

    def _set(self, **options):
        """Apply options in an order that the library accepts; skip None."""
        for name, value in options.items():
            if value is not None:
                getattr(self, "set_" + name)(value)

    def set_max_levels(self, max_levels):
        self._require()
        braid_SetMaxLevels(self._c, _int_option("max_levels", max_levels, 1))

    def set_min_coarse(self, min_coarse):
        self._require()
        braid_SetMinCoarse(self._c, _int_option("min_coarse", min_coarse, 1))

    def set_cfactor(self, cfactor):
        """int for every level, or {level: cf}."""
        self._require()
        for level, cf in _level_option("cfactor", cfactor, _check_cfactor).items():
            braid_SetCFactor(self._c, level, cf)

    def set_nrelax(self, nrelax):
        """F-C sweeps per relaxation (1 = FCF, 0 = F): int, or {level: n}."""
        self._require()
        for level, n in _level_option("nrelax", nrelax, _check_nrelax).items():
            braid_SetNRelax(self._c, level, n)

    def set_cwt(self, cwt):
        """C-relaxation weight: float, or {level: w}."""
        self._require()
        for level, w in _level_option("cwt", cwt, _check_cwt).items():
            braid_SetCRelaxWt(self._c, level, w)

    def set_abs_tol(self, abs_tol):
        self._require()
        braid_SetAbsTol(self._c, _float_option("abs_tol", abs_tol, 0.0))

    def set_rel_tol(self, rel_tol):
        self._require()
        braid_SetRelTol(self._c, _float_option("rel_tol", rel_tol, 0.0))

    def set_max_iter(self, max_iter):
        self._require()
        self._max_iter = _int_option("max_iter", max_iter, 1)
        braid_SetMaxIter(self._c, self._max_iter)

    def set_skip(self, skip):
        self._require()
        braid_SetSkip(self._c, _bool_option("skip", skip))

    def set_fmg(self, fmg):
        """F-cycles (True).  XBraid cannot switch them off again."""
        self._require()
        if _bool_option("fmg", fmg):
            braid_SetFMG(self._c)
            self._fmg_on = True
        elif self._fmg_on:
            raise ValueError("fmg: F-cycles cannot be switched off once on")

    def set_nfmg(self, nfmg):
        """Iteration nfmg is a V-cycle, the others F-cycles (XBraid v3.1's rule)."""
        self._require()
        braid_SetNFMG(self._c, _int_option("nfmg", nfmg, -1))
        self._fmg_on = True

    def set_nfmg_vcyc(self, nfmg_vcyc):
        self._require()
        braid_SetNFMGVcyc(self._c, _int_option("nfmg_vcyc", nfmg_vcyc, 1))

    def set_temporal_norm(self, temporal_norm):
        """1: sum of spatial norms, 2: Euclidean, 3: maximum."""
        self._require()
        braid_SetTemporalNorm(self._c, _int_option("temporal_norm", temporal_norm, 1, 3))

    def set_storage(self, storage):
        """-1: C-points only; 0: every point; s > 0: every point on levels >= s."""
        self._require()
        braid_SetStorage(self._c, _int_option("storage", storage, -1))

    def set_seq_soln(self, seq_soln):
        self._require()
        braid_SetSeqSoln(self._c, _bool_option("seq_soln", seq_soln))

    def set_access_level(self, access_level):
        self._require()
        braid_SetAccessLevel(self._c, _int_option("access_level", access_level, 0, 3))

    def set_print_level(self, print_level):
        self._require()
        braid_SetPrintLevel(self._c, _int_option("print_level", print_level, 0, 3))

    def set_file_io_level(self, file_io_level):
        self._require()
        braid_SetFileIOLevel(self._c, _int_option("file_io_level", file_io_level, 0, 1))

    def set_relax_only_cg(self, relax_only_cg):
        self._require()
        braid_SetRelaxOnlyCG(self._c, _bool_option("relax_only_cg", relax_only_cg))

    def set_final_fc_relax(self, final_fc_relax):
        self._require()
        if _bool_option("final_fc_relax", final_fc_relax):
            braid_SetFinalFCRelax(self._c)
            self._final_fc_relax_on = True
        elif self._final_fc_relax_on:
            raise ValueError("final_fc_relax: cannot be switched off once on")

    def set_residual(self, residual):
        """True: use app.residual(ustop, r, status) (XBraid's braid_SetResidual)."""
        self._require()
        if _bool_option("residual", residual):
            if not callable(self._residual):
                raise ValueError(f"residual: {type(self.app).__name__} has no "
                                 f"residual(ustop, r, status) method")
            braid_SetResidual(self._c, _cb_residual)
            self._residual_on = True
        elif self._residual_on:
            braid_SetResidual(self._c, NULL)
            self._residual_on = False

    def set_residual_computation(self, residual_computation):
        """False: skip the residual norm (no allreduce); runs max_iter iterations."""
        self._require()
        braid_SetResidualComputation(
            self._c, _bool_option("residual_computation", residual_computation))

    def set_time_grid(self, time_grid):
        """The ntime+1 time values, strictly increasing, instead of a uniform grid."""
        self._require()
        try:
            grid = np.array(time_grid, dtype=np.float64).ravel()
        except (TypeError, ValueError):
            raise TypeError(f"time_grid: expected a sequence of numbers, "
                            f"got {type(time_grid).__name__}") from None
        if grid.size != self.ntime + 1:
            raise ValueError(f"time_grid: needs ntime+1 = {self.ntime + 1} values, "
                             f"got {grid.size}")
        if not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
            raise ValueError("time_grid: values must be finite and strictly increasing")
        self._time_grid = grid
        braid_SetTimeGrid(self._c, _cb_timegrid)

    # ------------------------------------------------------------------ solving

    def drive(self):
        """Solve.  A callback's exception is re-raised here with its traceback."""
        cdef braid_Int rc
        self._require()
        self._error = None
        self._data.failed = False
        rc = braid_Drive(self._c)
        if self._error is not None:
            err, self._error = self._error, None
            self._data.failed = False
            if self.comm_world.Get_size() > 1:
                _abort_at_exit()
            raise err
        _check_rc(rc, "braid_Drive")

    def print_stats(self):
        self._require()
        braid_PrintStats(self._c)

    @property
    def niter(self):
        """Iterations of the last solve (including XBraid's skipped iteration 0)."""
        cdef braid_Int n
        self._require()
        braid_GetNumIter(self._c, &n)
        return n

    @property
    def nlevels(self):
        cdef braid_Int n
        self._require()
        braid_GetNLevels(self._c, &n)
        return n

    @property
    def myid(self):
        """This rank's index in the time communicator."""
        cdef braid_Int n
        self._require()
        braid_GetMyID(self._c, &n)
        return n

    @property
    def rnorms(self):
        """Residual history (braid_GetRNorms): niter+1 entries, -1 where none was computed."""
        cdef braid_Int n
        cdef cnp.ndarray[cnp.float64_t, ndim=1] out
        self._require()
        braid_GetNumIter(self._c, &n)
        n = min(n + 1, self._max_iter + 1)
        out = np.empty(max(n, 1), dtype=np.float64)
        braid_GetRNorms(self._c, &n, <braid_Real *> out.data)
        return out[:max(n, 1)]

    def destroy(self):
        """Release the solver and every vector it holds (also done when collected)."""
        cdef braid_Int rc
        if self._c == NULL:
            return
        self._error = None
        self._data.failed = False
        rc = braid_Destroy(self._c)
        self._c = NULL
        self._release_pool()
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        _check_rc(rc, "braid_Destroy")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    def __del__(self):
        # a finalizer, not __dealloc__: destroying calls the app's free(), and
        # only finalizers run while a garbage cycle is still intact (PEP 442)
        self.destroy()

    def __dealloc__(self):
        self._release_pool()


def _no_buffers(*args):
    raise TypeError("app: bufsize, bufpack and bufunpack are needed to run on more "
                    "than one rank")


def _abort_at_exit():
    """The other ranks of a failed solve wait for this one forever: make the
    interpreter's exit call MPI_Abort instead of MPI_Finalize (mpi4py's own
    mechanism, as `python -m mpi4py` does), so the job ends after the
    traceback is printed rather than hanging."""
    from mpi4py.run import set_abort_status
    set_abort_status(1)


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
