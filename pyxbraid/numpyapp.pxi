# NumpyApp: an app whose vectors are float64 arrays of one shape, and the C
# kernels that do its vector work (clone, sum, norm, free, buffers) on the
# array memory without calling Python.

cdef extern from *:
    """
    static inline double *pyxbraid_data(void *array)
    {
        return (double *) PyArray_DATA((PyArrayObject *) array);
    }

    /* A float64 array of the shape of `like` that does not own its memory:
       a view of `owner` (a new array when owner is NULL), made in C rather
       than by ndarray.view(), which parses arguments on every call. */
    static PyObject *pyxbraid_view(PyObject *like, PyObject *owner)
    {
        PyArrayObject *shape = (PyArrayObject *) like;
        PyObject *view;

        if (owner == NULL)
        {
            owner = PyArray_EMPTY(PyArray_NDIM(shape), PyArray_DIMS(shape), NPY_FLOAT64, 0);
            if (owner == NULL) return NULL;
        }
        else
        {
            Py_INCREF(owner);
        }
        view = PyArray_NewFromDescr(&PyArray_Type, PyArray_DescrFromType(NPY_FLOAT64),
                                    PyArray_NDIM(shape), PyArray_DIMS(shape), NULL,
                                    PyArray_DATA((PyArrayObject *) owner), NPY_ARRAY_CARRAY,
                                    NULL);
        if (view == NULL)
        {
            Py_DECREF(owner);
            return NULL;
        }
        /* steals the reference to owner, also when it fails */
        if (PyArray_SetBaseObject((PyArrayObject *) view, owner) < 0)
        {
            Py_DECREF(view);
            return NULL;
        }
        return view;
    }
    """
    double *pyxbraid_data(void *array) noexcept nogil
    object pyxbraid_view(object like, PyObject *owner)


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
    """A new vector with u's values.  The braid core's vectors do not own
    their memory (they are views), so that ``u.resize(...)`` in a step raises
    instead of silently leaving the core's data behind."""
    v = pyxbraid_view(u, NULL)
    memcpy(pyxbraid_data(<void *> v), pyxbraid_data(<void *> u), _size(u) * sizeof(double))
    return v


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


cdef bint _overrides(object app, str name):
    return getattr(type(app), name, None) is not getattr(NumpyApp, name, None)


# ------------------------------------------------------- the NumpyApp kernels
# Every vector of a NumpyApp is a C-contiguous float64 array of the app's one
# shape (Core._adopt sees to it), so the kernels need only the data pointer.
# After a failure vectors may be None: the kernels then touch no memory.

cdef braid_Int _cb_sum_np(braid_App app, braid_Real alpha, braid_Vector x, braid_Real beta,
                          braid_Vector y) noexcept:
    if not _failed(app):
        _axpby((<_AppData *> app).n, alpha, pyxbraid_data(x), beta, pyxbraid_data(y))
    return 0


cdef braid_Int _cb_norm_np(braid_App app, braid_Vector u, braid_Real *norm_ptr) noexcept:
    cdef _AppData *d = <_AppData *> app
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
    cdef PyObject *v
    if d.failed:
        return _no_vector(v_ptr)
    v = _pool_take(d)
    if v != NULL:
        memcpy(pyxbraid_data(v), pyxbraid_data(u), d.n * sizeof(double))
        v_ptr[0] = <braid_Vector> v
        return 0
    try:
        v_ptr[0] = _own(_copy_vector(_vec(u)))
        return 0
    except BaseException as e:
        _no_vector(v_ptr)
        return _failure(app, e)


cdef braid_Int _cb_free_np(braid_App app, braid_Vector u) noexcept:
    # a vector nobody else refers to is kept for the next clone
    cdef _AppData *d = <_AppData *> app
    cdef PyObject **grown
    cdef Py_ssize_t size
    if not d.failed and Py_REFCNT(<PyObject *> u) == 1 and d.npool < d.pool_limit:
        if d.npool == d.pool_size:
            size = min(max(2 * d.pool_size, 64), d.pool_limit)
            grown = <PyObject **> PyMem_Realloc(d.pool, size * sizeof(PyObject *))
            if grown == NULL:
                Py_DECREF(_vec(u))
                return 0
            d.pool, d.pool_size = grown, size
        d.pool[d.npool] = <PyObject *> u
        d.npool += 1
        return 0
    Py_DECREF(_vec(u))
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
        memcpy(buffer, pyxbraid_data(u), d.n * sizeof(double))
    return braid_BufferStatusSetSize(status, <double> (max(d.n, 0) * sizeof(double)))


cdef braid_Int _cb_bufunpack_np(braid_App app, void *buffer, braid_Vector *u_ptr,
                                braid_BufferStatus status) noexcept:
    cdef _AppData *d = <_AppData *> app
    cdef PyObject *v
    if d.failed:
        return _no_vector(u_ptr)
    v = _pool_take(d)
    if v == NULL:
        try:
            u = _core(app)._new_vector()
        except BaseException as e:
            _no_vector(u_ptr)
            return _failure(app, e)
        Py_INCREF(u)
        v = <PyObject *> u
    memcpy(pyxbraid_data(v), buffer, d.n * sizeof(double))
    u_ptr[0] = <braid_Vector> v
    return 0


