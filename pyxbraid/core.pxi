# Core: one MGRIT solver (braid_Core), made from checked options at the first
# drive(), which binds an app to the trampolines.

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
    app.residual), residual_computation, time_grid (ntime+1 increasing times),
    batch and max_batch (ours: app.step_batch, see set_batch).

    Defaults are XBraid's, except file_io_level = 0 (XBraid writes
    braid.out.cycle into the working directory; pass 1 for that).

    The C core is made by the first ``drive()`` from the options stored here
    (so a Core that never solves never reaches the library), and made afresh
    by the next ``drive()`` after a failed one.
    """
    cdef braid_Core _c
    cdef readonly object app
    """The app the core calls."""
    cdef readonly object comm
    """The time communicator: its ranks share the time points."""
    cdef readonly object comm_world
    """Every rank of the solve (comm, times the space ranks of each time point)."""
    cdef readonly double tstart
    """The first time point."""
    cdef readonly double tstop
    """The last time point."""
    cdef readonly int ntime
    """Time steps on the finest level (ntime + 1 points)."""
    cdef object _error
    cdef bint _numpy
    cdef StepStatus _step_status
    cdef AccessStatus _access_status
    cdef BufferStatus _buffer_status
    cdef SyncStatus _sync_status
    cdef StepBatchStatus _batch_status
    cdef object _init, _step, _clone, _sum, _norm, _free, _access, _sync, _residual
    cdef object _bufsize, _bufpack, _bufunpack
    cdef object _step_batch
    cdef list _batch_buffers     # a NumpyApp's rows of u, ustop, fstop for step_batch
    cdef braid_Int _last_bufsize
    cdef _AppData _data
    cdef object _vec_shape
    cdef object _like           # an array of the NumpyApp vectors' shape (_AppData.like)
    cdef object _time_grid
    cdef dict _options          # option name -> checked value, for the next C core
    cdef bint _driven           # the C core has finished a solve: the next is warm
    cdef bint _destroyed
    cdef tuple _last            # (niter, nlevels, rnorms) of a C core that is gone

    def __cinit__(self):
        self._c = NULL
        self._data.core = <PyObject *> self
        self._data.n = -1
        self._data.numpy = False
        self._data.like = NULL
        self._data.pool = NULL
        self._data.npool = self._data.pool_size = self._data.pool_limit = 0
        self._data.failed = False
        self._options = {}
        self._last = (0, 0, np.full(1, -1.0))

    def __init__(self, app, comm=None, *, tstart=0.0, tstop=1.0, ntime,
                 comm_world=None, max_levels=None, min_coarse=None, cfactor=None,
                 nrelax=None, cwt=None, abs_tol=None, rel_tol=None, max_iter=None,
                 skip=None, fmg=None, nfmg=None, nfmg_vcyc=None, temporal_norm=None,
                 storage=None, seq_soln=None, access_level=None, print_level=None,
                 file_io_level=None, relax_only_cg=None, final_fc_relax=None, residual=None,
                 residual_computation=None, time_grid=None, batch=None, max_batch=None):
        if self.app is not None:
            raise RuntimeError("Core.__init__ called twice")
        comm = _MPI.COMM_WORLD if comm is None else comm
        comm_world = comm if comm_world is None else comm_world
        for name, value in (("comm", comm), ("comm_world", comm_world)):
            if not isinstance(value, _MPI.Intracomm):
                raise TypeError(f"{name}: expected an mpi4py intracommunicator, "
                                f"got {type(value).__name__}")
        # ntime + 1 points are C ints
        self.ntime = _int_option("ntime", ntime, 1, _INT_MAX - 1)
        self.tstart = _float_option("tstart", tstart)
        self.tstop = _float_option("tstop", tstop)
        if not self.tstop > self.tstart:
            raise ValueError(f"tstop: must be greater than tstart ({self.tstart}), "
                             f"got {self.tstop}")
        if abs_tol is not None and rel_tol is not None:
            raise ValueError("abs_tol, rel_tol: give one tolerance, not both")
        self._bind_app(app, comm.Get_size())
        self.app = app
        self.comm = comm
        self.comm_world = comm_world
        self._step_status = StepStatus()
        self._access_status = AccessStatus()
        self._buffer_status = BufferStatus()
        self._sync_status = SyncStatus()
        self._batch_status = StepBatchStatus()
        self._batch_buffers = [None, None, None]
        self._set(file_io_level=0 if file_io_level is None else file_io_level, max_levels=max_levels, min_coarse=min_coarse,
                  cfactor=cfactor, nrelax=nrelax, cwt=cwt, abs_tol=abs_tol, rel_tol=rel_tol,
                  max_iter=max_iter, skip=skip, fmg=fmg, nfmg=nfmg, nfmg_vcyc=nfmg_vcyc,
                  temporal_norm=temporal_norm, storage=storage, seq_soln=seq_soln,
                  access_level=access_level, print_level=print_level,
                  relax_only_cg=relax_only_cg, final_fc_relax=final_fc_relax,
                  residual=residual, residual_computation=residual_computation,
                  time_grid=time_grid, batch=batch, max_batch=max_batch)

    cdef _bind_app(self, app, int nranks):
        """Cache the app's bound methods; None selects the C fast path."""
        self._numpy = isinstance(app, NumpyApp)
        self._data.numpy = self._numpy
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
        self._step_batch = getattr(app, "step_batch", None) if _batch_is_current(app) else None
        if not callable(self._step_batch):
            self._step_batch = None
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

    cdef braid_Vector _adopt_np(self, u, str where) except NULL:
        """A NumpyApp core vector with the values of an array the app returned
        (float64, of the app's shape), copied: the app may keep its array
        and return it again (an initial condition, say)."""
        cdef pyxbraid_Vec *v
        u = _as_vector(u, where)
        if self._data.n < 0:
            self._learn_shape(u.shape)
        elif u.shape != self._vec_shape:
            raise ValueError(f"{where}: vector of shape {u.shape}, but this NumpyApp's "
                             f"vectors have the shape {self._vec_shape}")
        v = _np_vector(&self._data)
        memcpy(pyxbraid_vdata(v), pyxbraid_data(<void *> u), self._data.n * sizeof(double))
        return <braid_Vector> v

    cdef _learn_shape(self, shape):
        self._vec_shape = tuple(shape)
        self._like = np.empty(self._vec_shape, dtype=np.float64)
        self._data.like = <PyObject *> self._like
        self._data.n = int(np.prod(shape, dtype=np.int64))
        # freed vectors kept for reuse: a level's worth, within 64 MiB
        self._data.pool_limit = min(1 << 20, (64 << 20) // (self._data.n * sizeof(double) + 128))

    cdef object _batch_rows(self, int which, Py_ssize_t n):
        """n rows of vectors, (n, *shape), in buffer `which` (0: u, 1: ustop,
        2: fstop), grown to the largest batch seen."""
        buffer = self._batch_buffers[which]
        if buffer is None or buffer.shape[0] < n:
            buffer = np.empty((n, self._data.n), dtype=np.float64)
            self._batch_buffers[which] = buffer
        return buffer[:n].reshape((n,) + self._vec_shape)

    def _learn_shape_from_init(self):
        # a rank that holds no C-point has not seen a vector yet: ask init once
        u = _as_vector(self._init(self.tstart), "init")
        self._learn_shape(u.shape)

    cdef _release_pool(self):
        cdef Py_ssize_t i
        for i in range(self._data.npool):
            pyxbraid_vec_free(<pyxbraid_Vec *> self._data.pool[i])
        PyMem_Free(self._data.pool)
        self._data.pool = NULL
        self._data.npool = self._data.pool_size = 0

    cdef braid_Int _user_bufsize(self, BufferStatus st) except? -1:
        n = self._bufsize(st)
        return _int_option("bufsize", n, 0)

    cdef _Callbacks _callbacks(self):
        cdef _Callbacks cb
        cb.step = _cb_step
        cb.init = _cb_init
        cb.clone = _cb_clone_np if self._clone is None else _cb_clone
        cb.free = _cb_free if self._free is not None else (
            _cb_free_np if self._numpy else _cb_decref)
        cb.sum = _cb_sum_np if self._sum is None else _cb_sum
        cb.spatialnorm = _cb_norm_np if self._norm is None else _cb_spatialnorm
        cb.access = _cb_access_none if self._access is None else _cb_access
        cb.bufsize = _cb_bufsize_np if self._bufsize is None else _cb_bufsize
        cb.bufpack = _cb_bufpack_np if self._bufpack is None else _cb_bufpack
        cb.bufunpack = _cb_bufunpack_np if self._bufunpack is None else _cb_bufunpack
        return cb

    cdef _make(self):
        """The C core, from the stored options (at the first drive)."""
        cdef MPI_Comm c_comm = (<MPI.Comm> self.comm).ob_mpi
        cdef MPI_Comm c_world = (<MPI.Comm> self.comm_world).ob_mpi
        cdef braid_Core c = NULL
        cdef _Callbacks cb = self._callbacks()
        _check_rc(braid_Init(c_world, c_comm, self.tstart, self.tstop, self.ntime,
                             <braid_App> &self._data, cb.step, cb.init, cb.clone, cb.free,
                             cb.sum, cb.spatialnorm, cb.access, cb.bufsize, cb.bufpack,
                             cb.bufunpack, &c), "braid_Init")
        self._c = c
        self._driven = False
        try:
            if self._sync is not None:
                _check_rc(braid_SetSync(c, _cb_sync), "braid_SetSync")
            for name in _OPTION_ORDER:
                if name in self._options:
                    self._apply(name, self._options[name])
            self._apply_batch()
        except BaseException:
            self._discard()
            raise

    cdef _discard(self):
        """Destroy the C core (keeping its results for niter, rnorms, nlevels)."""
        cdef braid_Int rc
        cdef braid_Core c = self._c
        if c == NULL:
            return
        if self._driven:
            self._last = (self.niter, self.nlevels, self.rnorms)
        self._c = NULL
        # upstream's braid_Destroy crashes on a core that never ran braid_Drive
        # (it reads a grid that does not exist yet): such a core is leaked
        # there.  Only an option the library refused leads to one.
        if self._driven or not PYXBRAID_UPSTREAM:
            rc = braid_Destroy(c)
            _check_rc(rc, "braid_Destroy")

    # ----------------------------------------------------------------- options

    def _set(self, **options):
        """Apply options in an order that the library accepts; skip None."""
        for name, value in options.items():
            if value is not None:
                getattr(self, "set_" + name)(value)

    cdef dict _merge_levels(self, str name, value, check):
        """The stored {level: value} of a per-level option, updated."""
        merged = dict(self._options.get(name, {}))
        merged.update(_level_option(name, value, check))
        return merged

    cdef _store(self, str name, value):
        """Keep a checked option for the next C core, and give it to the
        current one."""
        self._options[name] = value
        if self._c != NULL:
            self._apply(name, value)

    cdef _apply(self, str name, value):
        """The braid_SetX call of one checked option."""
        cdef braid_Core c = self._c
        if name in ("cfactor", "nrelax", "cwt"):
            # levels beyond max_levels are never used (and upstream would write
            # past its per-level arrays)
            max_levels = self._options.get("max_levels", 30)
            for level, v in value.items():
                if level < max_levels:
                    if name == "cfactor":
                        _check_rc(braid_SetCFactor(c, level, v), "braid_SetCFactor")
                    elif name == "nrelax":
                        _check_rc(braid_SetNRelax(c, level, v), "braid_SetNRelax")
                    else:
                        _check_rc(braid_SetCRelaxWt(c, level, v), "braid_SetCRelaxWt")
        elif name == "max_levels":
            _check_rc(braid_SetMaxLevels(c, value), "braid_SetMaxLevels")
            for per_level in ("cfactor", "nrelax", "cwt"):
                if per_level in self._options:
                    self._apply(per_level, self._options[per_level])
        elif name == "tol":
            tol, relative = value
            if relative:
                _check_rc(braid_SetRelTol(c, tol), "braid_SetRelTol")
            else:
                _check_rc(braid_SetAbsTol(c, tol), "braid_SetAbsTol")
        elif name == "fmg":
            if value:
                _check_rc(braid_SetFMG(c), "braid_SetFMG")
        elif name == "nfmg":
            _check_rc(braid_SetFMG(c), "braid_SetFMG")
            _check_rc(braid_SetNFMG(c, value), "braid_SetNFMG")
        elif name == "final_fc_relax":
            if value:
                _check_rc(braid_SetFinalFCRelax(c), "braid_SetFinalFCRelax")
        elif name == "residual":
            _check_rc(braid_SetResidual(c, _cb_residual if value else <braid_PtFcnResidual> NULL),
                      "braid_SetResidual")
        elif name == "time_grid":
            _check_rc(braid_SetTimeGrid(c, _cb_timegrid), "braid_SetTimeGrid")
        elif name == "min_coarse":
            _check_rc(braid_SetMinCoarse(c, value), "braid_SetMinCoarse")
        elif name == "max_iter":
            _check_rc(braid_SetMaxIter(c, value), "braid_SetMaxIter")
        elif name == "skip":
            _check_rc(braid_SetSkip(c, value), "braid_SetSkip")
        elif name == "nfmg_vcyc":
            _check_rc(braid_SetNFMGVcyc(c, value), "braid_SetNFMGVcyc")
        elif name == "temporal_norm":
            _check_rc(braid_SetTemporalNorm(c, value), "braid_SetTemporalNorm")
        elif name == "storage":
            _check_rc(braid_SetStorage(c, value), "braid_SetStorage")
        elif name == "seq_soln":
            _check_rc(braid_SetSeqSoln(c, value), "braid_SetSeqSoln")
        elif name == "access_level":
            _check_rc(braid_SetAccessLevel(c, value), "braid_SetAccessLevel")
        elif name == "print_level":
            _check_rc(braid_SetPrintLevel(c, value), "braid_SetPrintLevel")
        elif name == "file_io_level":
            _check_rc(braid_SetFileIOLevel(c, value), "braid_SetFileIOLevel")
        elif name == "relax_only_cg":
            _check_rc(braid_SetRelaxOnlyCG(c, value), "braid_SetRelaxOnlyCG")
        elif name in ("batch", "max_batch"):
            self._apply_batch()
        elif name == "residual_computation":
            _check_rc(braid_SetResidualComputation(c, value), "braid_SetResidualComputation")
        else:
            raise AssertionError(f"no braid setter for option {name!r}")

    cdef _apply_batch(self):
        """braid_SetStepBatch [ours], from the batch options and the app."""
        cdef pyxbraid_PtFcnStepBatch step_batch = NULL
        if not PYXBRAID_STEP_BATCH:
            return
        if self.batched:
            step_batch = _cb_step_batch_np if self._numpy else _cb_step_batch
        _check_rc(pyxbraid_SetStepBatch(self._c, step_batch, self._options.get("max_batch", 0)),
                  "braid_SetStepBatch")

    @property
    def batched(self):
        """True when the sweeps call app.step_batch: the app has one, batch
        is on, and the library has batched steps (pyxbraid.STEP_BATCH)."""
        return bool(PYXBRAID_STEP_BATCH and self._step_batch is not None
                    and self._options.get("batch", True))

    def set_batch(self, batch):
        """[ours] Step the rank's intervals together through
        ``app.step_batch(ustop, fstop, u, status)`` where the sweeps allow it
        (default True when the app has step_batch).  Every result is the
        per-point one, bit for bit, when step_batch does per row what step
        does (braid_SetStepBatch, ours).  Upstream XBraid has no batched
        step: there it is ignored."""
        batch = _bool_option("batch", batch)
        if batch and self._step_batch is None:
            if callable(getattr(self.app, "step_batch", None)):
                raise ValueError(f"batch: {type(self.app).__name__} overrides step but "
                                 f"inherits step_batch, which would not do what its step does")
            raise ValueError(f"batch: {type(self.app).__name__} has no "
                             f"step_batch(ustop, fstop, u, status) method")
        self._store("batch", batch)

    def set_max_batch(self, max_batch):
        """[ours] Most steps in one step_batch call, 0 for no limit (default
        0; braid_SetStepBatch, ours).  A NumpyApp's batch holds three arrays
        of that many vectors."""
        self._store("max_batch", _int_option("max_batch", max_batch, 0))

    def set_max_levels(self, max_levels):
        """Most levels of the hierarchy (braid_SetMaxLevels; default 30)."""
        self._store("max_levels", _int_option("max_levels", max_levels, 1))

    def set_min_coarse(self, min_coarse):
        """Fewest points of the coarsest level (braid_SetMinCoarse; default 2)."""
        self._store("min_coarse", _int_option("min_coarse", min_coarse, 1))

    def set_cfactor(self, cfactor):
        """Coarsening factor: int for every level, or {level: cf} with -1 for
        the default (braid_SetCFactor; default 2)."""
        self._store("cfactor", self._merge_levels("cfactor", cfactor, _check_cfactor))

    def set_nrelax(self, nrelax):
        """F-C sweeps per relaxation, 1 = FCF, 0 = F: int, or {level: n} with
        -1 for the default (braid_SetNRelax; default 1)."""
        self._store("nrelax", self._merge_levels("nrelax", nrelax, _check_nrelax))

    def set_cwt(self, cwt):
        """C-relaxation weight: float, or {level: w} with -1 for the default
        (braid_SetCRelaxWt; default 1.0)."""
        self._store("cwt", self._merge_levels("cwt", cwt, _check_cwt))

    def set_abs_tol(self, abs_tol):
        """Absolute tolerance on the residual norm (braid_SetAbsTol; by default
        the tolerance is relative, 1e-9: see set_rel_tol)."""
        self._store("tol", (_float_option("abs_tol", abs_tol, 0.0), False))

    def set_rel_tol(self, rel_tol):
        """Tolerance relative to the first residual (braid_SetRelTol; the
        default is relative 1e-9)."""
        self._store("tol", (_float_option("rel_tol", rel_tol, 0.0), True))

    def set_max_iter(self, max_iter):
        """Most MGRIT iterations (braid_SetMaxIter; default 100)."""
        self._store("max_iter", _int_option("max_iter", max_iter, 1))

    def set_skip(self, skip):
        """Skip the work of the first down-cycle (braid_SetSkip; default True)."""
        self._store("skip", _bool_option("skip", skip))

    def set_fmg(self, fmg):
        """F-cycles (braid_SetFMG; default off).  XBraid cannot switch them
        off again."""
        if _bool_option("fmg", fmg):
            self._store("fmg", True)
        elif self._options.get("fmg"):
            raise ValueError("fmg: F-cycles cannot be switched off once on")

    def set_nfmg(self, nfmg):
        """Iteration nfmg is a V-cycle, the others F-cycles (XBraid v3.1's
        rule; braid_SetNFMG, which turns F-cycles on; default -1: all F)."""
        self._store("nfmg", _int_option("nfmg", nfmg, -1))
        self._options["fmg"] = True

    def set_nfmg_vcyc(self, nfmg_vcyc):
        """V-cycles per level of an F-cycle (braid_SetNFMGVcyc; default 1)."""
        self._store("nfmg_vcyc", _int_option("nfmg_vcyc", nfmg_vcyc, 1))

    def set_temporal_norm(self, temporal_norm):
        """1: sum of spatial norms, 2: Euclidean, 3: maximum
        (braid_SetTemporalNorm; default 2)."""
        self._store("temporal_norm", _int_option("temporal_norm", temporal_norm, 1, 3))

    def set_storage(self, storage):
        """-1: C-points only; 0: every point; s > 0: every point on levels >= s
        (braid_SetStorage; default -1)."""
        self._store("storage", _int_option("storage", storage, -1))

    def set_seq_soln(self, seq_soln):
        """Initial guess by sequential time stepping; turns skip off
        (braid_SetSeqSoln; default False)."""
        self._store("seq_soln", _bool_option("seq_soln", seq_soln))

    def set_access_level(self, access_level):
        """0: no access; 1: at the end; 2: also every iteration; 3: also every
        point of every sweep (braid_SetAccessLevel; default 1)."""
        self._store("access_level", _int_option("access_level", access_level, 0, 3))

    def set_print_level(self, print_level):
        """0: silent; 1: a line per iteration; 2: and statistics at the end;
        3: and debugging lines (braid_SetPrintLevel; default 2)."""
        self._store("print_level", _int_option("print_level", print_level, 0, 3))

    def set_file_io_level(self, file_io_level):
        """1: rank 0 writes braid.out.cycle in the working directory; 0: no
        files (braid_SetFileIOLevel; pyxbraid's default 0, XBraid's 1)."""
        self._store("file_io_level", _int_option("file_io_level", file_io_level, 0, 1))

    def set_relax_only_cg(self, relax_only_cg):
        """Relax the coarsest level instead of solving it sequentially
        (braid_SetRelaxOnlyCG; default False)."""
        self._store("relax_only_cg", _bool_option("relax_only_cg", relax_only_cg))

    def set_final_fc_relax(self, final_fc_relax):
        """A final FC-relaxation instead of the final F-sweep
        (braid_SetFinalFCRelax; default off).  Cannot be switched off again."""
        if _bool_option("final_fc_relax", final_fc_relax):
            self._store("final_fc_relax", True)
        elif self._options.get("final_fc_relax"):
            raise ValueError("final_fc_relax: cannot be switched off once on")

    def set_residual(self, residual):
        """True: use app.residual(ustop, r, status) (braid_SetResidual;
        default False)."""
        residual = _bool_option("residual", residual)
        if residual and not callable(self._residual):
            raise ValueError(f"residual: {type(self.app).__name__} has no "
                             f"residual(ustop, r, status) method")
        self._store("residual", residual)

    def set_residual_computation(self, residual_computation):
        """False: skip the residual norm (no allreduce); runs max_iter
        iterations (braid_SetResidualComputation; default True)."""
        self._store("residual_computation",
                    _bool_option("residual_computation", residual_computation))

    def set_time_grid(self, time_grid):
        """The ntime+1 time values, strictly increasing, instead of a uniform
        grid (braid_SetTimeGrid; default: ntime equal steps from tstart to
        tstop)."""
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
        self._store("time_grid", True)

    @property
    def options(self):
        """Every option's value for the next solve: the ones set, and
        XBraid's defaults for the others.  Per-level options are
        {level: value} dicts whose key -1 is the default of every level;
        of abs_tol and rel_tol, the one not in use is None."""
        options = dict(_DEFAULTS)
        for name, value in self._options.items():
            if name == "tol":
                tol, relative = value
                options["abs_tol"], options["rel_tol"] = (None, tol) if relative else (tol, None)
            elif name in ("cfactor", "nrelax", "cwt"):
                options[name] = {**options[name], **value}
            elif name != "time_grid":
                options[name] = value
        if options["seq_soln"]:
            options["skip"] = False  # braid_SetSeqSoln turns skip off
        options["time_grid"] = None if self._time_grid is None else self._time_grid.copy()
        options["batch"] = self.batched  # what the solve does: the app and library decide too
        return options

    # ------------------------------------------------------------------ solving

    def drive(self):
        """Solve.  A callback's exception is re-raised here with its traceback.
        A later call is a warm restart from the current solution; after a
        failed solve it starts afresh."""
        cdef braid_Int rc
        if self._destroyed:
            raise RuntimeError("this Core has been destroyed")
        if self._c == NULL:
            self._make()
        self._error = None
        self._data.failed = False
        # Upstream repeats its skipped first cycle on a warm restart, whose
        # coarse solve throws the solution away: restart without skipping.
        warm_skip = PYXBRAID_UPSTREAM and self._driven and self._options.get("skip", True) \
            and not self._options.get("seq_soln", False)
        if warm_skip:
            _check_rc(braid_SetSkip(self._c, 0), "braid_SetSkip")
        rc = braid_Drive(self._c)
        self._driven = True
        if warm_skip:
            rc = rc or braid_SetSkip(self._c, 1)
        failed_on = self._failed_ranks()
        if self._error is None and rc == 0 and not failed_on:
            return
        error = self._error
        self._error = None
        try:
            self._discard()  # its vectors are freed as no-ops; the next drive starts afresh
        finally:
            self._data.failed = False
            # a rank that only learned of another's failure lets that one
            # print its traceback before the abort
            abort_at_exit(self.comm_world, grace=0.0 if error is not None else 2.0)
        if error is not None:
            raise error
        if failed_on:
            ranks = ("rank " if len(failed_on) == 1 else "ranks ") + ", ".join(map(str, failed_on))
            raise PeerRankError(f"drive: a callback raised on {ranks} of comm_world (its "
                                f"traceback is printed there); this rank's solve is void")
        _check_rc(rc, "braid_Drive")

    cdef list _failed_ranks(self):
        """Ranks of comm_world where a callback raised.  A library that ignores
        return codes finishes the solve on every rank, so one collective tells
        them all; ours stops the failing rank at once, so it is not asked."""
        if not PYXBRAID_UPSTREAM or self.comm_world.Get_size() == 1:
            return []
        flags = self.comm_world.allgather(bool(self._data.failed))
        me = self.comm_world.Get_rank()
        return [rank for rank, failed in enumerate(flags) if failed and rank != me]

    def _wrapper_test(self, str name, double t, double dt, comm_x):
        """(passed, log, exception) of one of the library's wrapper tests
        (braid_test.h) on this Core's app, at t with step dt, over comm_x:
        for pyxbraid.testing.check_app."""
        cdef _Callbacks cb = self._callbacks()
        cdef braid_App app = <braid_App> &self._data
        cdef MPI_Comm cx = (<MPI.Comm> comm_x).ob_mpi
        cdef braid_PtFcnAccess access = NULL
        cdef braid_PtFcnResidual residual = NULL
        cdef FILE *log = tmpfile()
        cdef braid_Int passed
        cdef char chunk[4096]
        cdef size_t n
        if self._access is not None:
            access = cb.access
        if self._residual is not None:
            residual = _cb_residual
        if log == NULL:
            raise OSError("check_app: cannot make a temporary file for the report")
        self._error = None
        self._data.failed = False
        try:
            if name == "init_access":
                passed = braid_TestInitAccess(app, cx, log, t, cb.init, access, cb.free)
            elif name == "clone":
                passed = braid_TestClone(app, cx, log, t, cb.init, access, cb.free, cb.clone)
            elif name == "sum":
                passed = braid_TestSum(app, cx, log, t, cb.init, access, cb.free, cb.clone,
                                       cb.sum)
            elif name == "spatialnorm":
                passed = braid_TestSpatialNorm(app, cx, log, t, cb.init, cb.free, cb.clone,
                                               cb.sum, cb.spatialnorm)
            elif name == "buf":
                passed = braid_TestBuf(app, cx, log, t, cb.init, cb.free, cb.sum,
                                       cb.spatialnorm, cb.bufsize, cb.bufpack, cb.bufunpack)
            elif name == "residual":
                passed = braid_TestResidual(app, cx, log, t, dt, cb.init, access, cb.free,
                                            cb.clone, cb.sum, cb.spatialnorm, residual, cb.step)
            elif name == "all":
                # TestAll tests at its times t and fdt: both t here (init is often
                # zero elsewhere, and a zero vector fails the norm ratios); the
                # residual has its own test
                passed = braid_TestAll(app, cx, log, t, t, t, cb.init, cb.free, cb.clone,
                                       cb.sum, cb.spatialnorm, cb.bufsize, cb.bufpack,
                                       cb.bufunpack, NULL, NULL, NULL, cb.step)
            else:
                raise ValueError(f"no wrapper test {name!r}")
            fflush(log)
            rewind(log)
            text = bytearray()
            while True:
                n = fread(chunk, 1, sizeof(chunk), log)
                if n == 0:
                    break
                text += chunk[:n]
        finally:
            fclose(log)
            error, self._error = self._error, None
            self._data.failed = False
        return bool(passed), text.decode(errors="replace"), error

    def print_stats(self):
        """XBraid's statistics of the last solve (braid_PrintStats)."""
        self._require_driven("print_stats")
        _check_rc(braid_PrintStats(self._c), "braid_PrintStats")

    cdef _require_driven(self, str what):
        if self._c == NULL or not self._driven:
            raise RuntimeError(f"{what}: no solve yet (call drive() first)")

    @property
    def niter(self):
        """Iterations of the last solve (including XBraid's skipped iteration 0)."""
        cdef braid_Int n
        if self._c == NULL:
            return self._last[0]
        _check_rc(braid_GetNumIter(self._c, &n), "braid_GetNumIter")
        return n

    @property
    def nlevels(self):
        """Levels of the hierarchy of the last solve."""
        cdef braid_Int n
        if self._c == NULL:
            return self._last[1]
        _check_rc(braid_GetNLevels(self._c, &n), "braid_GetNLevels")
        return n

    @property
    def myid(self):
        """This rank's index in the time communicator."""
        return self.comm.Get_rank()

    @property
    def rnorms(self):
        """Residual history (braid_GetRNorms): niter+1 entries, -1 where none was computed."""
        cdef braid_Int n
        cdef cnp.ndarray[cnp.float64_t, ndim=1] out
        if self._c == NULL:
            return self._last[2].copy()
        _check_rc(braid_GetNumIter(self._c, &n), "braid_GetNumIter")
        n = min(n + 1, self._options.get("max_iter", 100) + 1)
        out = np.empty(max(n, 1), dtype=np.float64)
        _check_rc(braid_GetRNorms(self._c, &n, <braid_Real *> out.data), "braid_GetRNorms")
        return out[:max(n, 1)]

    def destroy(self):
        """Release the solver and every vector it holds (also done when collected)."""
        self._destroyed = True
        self._batch_buffers = [None, None, None]
        self._error = None
        self._data.failed = False
        try:
            self._discard()
        finally:
            self._release_pool()
        if self._error is not None:  # a free() that raised
            err, self._error = self._error, None
            raise err

    def __repr__(self):
        if self.app is None:
            return "<Core: not initialized>"
        if self._destroyed:
            state = "destroyed"
        elif self._c != NULL and self._driven or self._last[0] > 0:
            state = f"niter={self.niter}, nlevels={self.nlevels}"
        else:
            state = "not solved"
        return (f"<Core {type(self.app).__name__}: ntime={self.ntime} on "
                f"[{self.tstart!r}, {self.tstop!r}], {self.comm.Get_size()} rank(s), {state}>")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    def __del__(self):
        # a finalizer, not __dealloc__: destroying calls the app's free(), and
        # only finalizers run while a garbage cycle is still intact (PEP 442)
        if not self._destroyed:
            self.destroy()

    def __dealloc__(self):
        self._release_pool()


def _batch_is_current(app):
    """False when a subclass overrides step but inherits step_batch: the
    inherited batch would not do what the new step does."""
    mro = type(app).__mro__
    def definer(name):
        return next((i for i, cls in enumerate(mro) if name in vars(cls)), len(mro))
    return "step_batch" in vars(app) or definer("step_batch") <= definer("step")


def _no_buffers(*args):
    raise TypeError("app: bufsize, bufpack and bufunpack are needed to run on more "
                    "than one rank")


