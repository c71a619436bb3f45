# NumpyApp: an app whose vectors are float64 arrays of one shape, and the C
# kernels that do its vector work (clone, sum, norm, free, buffers) on the
# vectors' memory without calling Python.

cdef extern from *:
    """
    static inline double *pyxbraid_data(void *array)
    {
        return (double *) PyArray_DATA((PyArrayObject *) array);
    }

    /* A NumpyApp vector of the core: its values inline (one small block, as
       a C app's vector), and the ndarray over them that Python is shown,
       made the first time Python needs one: in a batched solve most vectors
       never reach Python. */
    typedef struct
    {
        PyObject *array;   /* NULL, or an ndarray over data, not owning it */
        double    data[];
    } pyxbraid_Vec;

    static inline double *pyxbraid_vdata(void *v)
    {
        return ((pyxbraid_Vec *) v)->data;
    }

    static pyxbraid_Vec *pyxbraid_vec_new(Py_ssize_t n)
    {
        pyxbraid_Vec *v = (pyxbraid_Vec *) PyMem_Malloc(sizeof(pyxbraid_Vec)
                                                        + (size_t) n * sizeof(double));
        if (v == NULL)
        {
            PyErr_NoMemory();
            return NULL;
        }
        v->array = NULL;
        return v;
    }

    /* The ndarray of v, shaped as `like` (a new reference; kept on v). */
    static PyObject *pyxbraid_vec_array(pyxbraid_Vec *v, PyObject *like)
    {
        PyArrayObject *shape = (PyArrayObject *) like;

        if (v->array == NULL)
        {
            v->array = PyArray_NewFromDescr(&PyArray_Type, PyArray_DescrFromType(NPY_FLOAT64),
                                            PyArray_NDIM(shape), PyArray_DIMS(shape), NULL,
                                            v->data, NPY_ARRAY_CARRAY, NULL);
            if (v->array == NULL) return NULL;
        }
        Py_INCREF(v->array);
        return v->array;
    }

    /* Python still shows v's array to no one. */
    static inline int pyxbraid_vec_unshared(pyxbraid_Vec *v)
    {
        return v->array == NULL || Py_REFCNT(v->array) == 1;
    }

    static void pyxbraid_vec_orphan_free(PyObject *capsule)
    {
        PyMem_Free(PyCapsule_GetPointer(capsule, NULL));
    }

    /* The core is done with v: freed now, or, when Python still holds its
       array, when that array dies (the array's base then owns v). */
    static void pyxbraid_vec_free(pyxbraid_Vec *v)
    {
        PyObject *array = v->array, *owner;

        if (array == NULL || Py_REFCNT(array) == 1)
        {
            Py_XDECREF(array);
            PyMem_Free(v);
            return;
        }
        /* the destructor is set only once the array holds the capsule: a
           failure leaks v rather than free memory the array points at */
        owner = PyCapsule_New(v, NULL, NULL);
        if (owner == NULL || PyArray_SetBaseObject((PyArrayObject *) array, owner) < 0)
        {
            PyErr_Clear();  /* only the error raised here: v leaks, the array stays valid */
        }
        else
        {
            PyCapsule_SetDestructor(owner, pyxbraid_vec_orphan_free);
        }
        Py_DECREF(array);
    }
    """
    ctypedef struct pyxbraid_Vec:
        PyObject *array
    double *pyxbraid_data(void *array) noexcept nogil
    double *pyxbraid_vdata(void *v) noexcept nogil
    pyxbraid_Vec *pyxbraid_vec_new(Py_ssize_t n) except NULL
    object pyxbraid_vec_array(pyxbraid_Vec *v, PyObject *like)
    bint pyxbraid_vec_unshared(pyxbraid_Vec *v) noexcept
    void pyxbraid_vec_free(pyxbraid_Vec *v) noexcept


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


class NumpyApp(App):
    """An app whose vectors are float64 numpy arrays of one shape.

    Only ``init`` and ``step`` are required.  clone, sum, spatialnorm (the
    Euclidean norm), free and the buffer functions run in C on the array
    memory, unless a subclass overrides them.  ``step`` must change ``u`` in
    place (``u[...] = ...``, ``u *= ...``), never rebind it.
    ``vector_shape`` may be set to the shape of the vectors; otherwise it is
    taken from the first vector ``init`` returns.

    ``step_batch(ustop, fstop, u, status)`` (optional, ours) steps n
    vectors at once: ``u`` is an (n, *shape) array to change in place, row i
    as ``step`` would change that vector from ``status.tstart[i]`` to
    ``status.tstop[i]``; ``ustop`` is (n, *shape) (``u`` itself when no
    step has a stored value, as the single step is given u twice), ``fstop`` None or
    (n, *shape) (rows of zeros where a step has none).  The arrays are
    gathered from the core's vectors and scattered back in C, and are valid
    only during the call: copy what you keep.
    """
    vector_shape = None

    def clone(self, u):
        return _as_vector(u, "clone").copy()

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


cdef bint _overrides(object app, str name):
    return getattr(type(app), name, None) is not getattr(NumpyApp, name, None)


# ------------------------------------------------------- the NumpyApp kernels
# Every vector of a NumpyApp's core is a pyxbraid_Vec of the app's size (made
# by _Core._adopt_np, the kernels and the pool), so the kernels work on its
# inline values.  After a failure vectors may be NULL: the kernels then touch
# no memory.

cdef braid_Int _cb_sum_np(braid_App app, braid_Real alpha, braid_Vector x, braid_Real beta,
                          braid_Vector y) noexcept:
    if not _failed(app):
        _axpby((<_AppData *> app).n, alpha, pyxbraid_vdata(x), beta, pyxbraid_vdata(y))
    return 0


cdef braid_Int _cb_norm_np(braid_App app, braid_Vector u, braid_Real *norm_ptr) noexcept:
    cdef _AppData *d = <_AppData *> app
    norm_ptr[0] = NAN if d.failed else _norm2(d.n, pyxbraid_vdata(u))
    return 0


cdef inline pyxbraid_Vec *_np_vector(_AppData *d) except NULL:
    """A vector of the app's size, values unset: a spare one, or a new one."""
    if d.npool > 0:
        d.npool -= 1
        return <pyxbraid_Vec *> d.pool[d.npool]
    return pyxbraid_vec_new(d.n)


cdef inline void _np_release(_AppData *d, pyxbraid_Vec *v) noexcept:
    """The core is done with v: kept for reuse when nothing else refers to
    it, else freed (or left to the array Python holds)."""
    cdef void **grown
    cdef Py_ssize_t size
    if v == NULL:
        return
    if not d.failed and d.npool < d.pool_limit and pyxbraid_vec_unshared(v):
        if d.npool == d.pool_size:
            size = min(max(2 * d.pool_size, 64), d.pool_limit)
            grown = <void **> PyMem_Realloc(d.pool, size * sizeof(void *))
            if grown == NULL:
                pyxbraid_vec_free(v)
                return
            d.pool, d.pool_size = grown, size
        d.pool[d.npool] = <void *> v
        d.npool += 1
        return
    pyxbraid_vec_free(v)


cdef braid_Int _cb_clone_np(braid_App app, braid_Vector u, braid_Vector *v_ptr) noexcept:
    cdef _AppData *d = <_AppData *> app
    cdef pyxbraid_Vec *v
    if d.failed:
        return _no_vector(app, v_ptr)
    try:
        v = _np_vector(d)
    except BaseException as e:
        _no_vector(app, v_ptr)
        return _failure(app, e)
    memcpy(pyxbraid_vdata(v), pyxbraid_vdata(u), d.n * sizeof(double))
    v_ptr[0] = <braid_Vector> v
    return 0


cdef braid_Int _cb_free_np(braid_App app, braid_Vector u) noexcept:
    _np_release(<_AppData *> app, <pyxbraid_Vec *> u)
    return 0


cdef braid_Int _cb_bufsize_np(braid_App app, braid_Int *size_ptr, braid_BufferStatus status) noexcept:
    cdef _AppData *d = <_AppData *> app
    if d.n < 0 and not d.failed:
        try:
            _core(app)._learn_shape_from_init()
        except BaseException as e:
            size_ptr[0] = 0
            return _failure(app, e)
    size_ptr[0] = max(d.n, 0) * sizeof(double)
    return 0


cdef braid_Int _cb_bufpack_np(braid_App app, braid_Vector u, void *buffer,
                              braid_BufferStatus status) noexcept:
    cdef _AppData *d = <_AppData *> app
    cdef Py_ssize_t i
    cdef double *out = <double *> buffer
    if d.failed:
        # a library that goes on gets NaN: the receiving rank's residual is
        # NaN too, which ends the iteration there
        for i in range(max(d.n, 0)):
            out[i] = NAN
    else:
        memcpy(buffer, pyxbraid_vdata(u), d.n * sizeof(double))
    return braid_BufferStatusSetSize(status, <double> (max(d.n, 0) * sizeof(double)))


cdef braid_Int _cb_bufunpack_np(braid_App app, void *buffer, braid_Vector *u_ptr,
                                braid_BufferStatus status) noexcept:
    cdef _AppData *d = <_AppData *> app
    cdef pyxbraid_Vec *v
    if d.failed:
        return _no_vector(app, u_ptr)
    try:
        v = _np_vector(d)
    except BaseException as e:
        _no_vector(app, u_ptr)
        return _failure(app, e)
    memcpy(pyxbraid_vdata(v), buffer, d.n * sizeof(double))
    u_ptr[0] = <braid_Vector> v
    return 0
