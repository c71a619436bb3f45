# Option checks: every option is checked in Python, with a message that names
# it, before it reaches the library; and the order and defaults of the options.

cdef object _int_option(str name, object value, object lo=None, object hi=None):
    """An int option; every braid option is a C int, hence the default bound."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    value = int(value)
    hi = _INT_MAX if hi is None else hi
    if lo is not None and value < lo:
        raise ValueError(f"{name}: must be >= {lo}, got {value}")
    if value > hi:
        raise ValueError(f"{name}: must be <= {hi}, got {value}")
    return value


_INT_MAX = 2 ** 31 - 1


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
    """{level: value}; a number, or the key -1, is the default of every level."""
    if isinstance(value, dict):
        out = {}
        for level, v in value.items():
            level = _int_option(f"{name} level", level, -1)
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


# The order in which stored options reach a new C core: per-level options
# after max_levels, skip after seq_soln; so the result never depends on the
# order of the set_* calls.
_OPTION_ORDER = ("file_io_level", "print_level", "max_levels", "min_coarse", "cfactor",
                 "nrelax", "cwt", "tol", "max_iter", "seq_soln", "skip", "fmg", "nfmg",
                 "nfmg_vcyc", "temporal_norm", "storage", "access_level", "relax_only_cg",
                 "final_fc_relax", "residual", "residual_computation", "time_grid")


# XBraid's defaults (braid_Init), as Core.options reports them.
_DEFAULTS = {
    "max_levels": 30, "min_coarse": 2, "cfactor": {-1: 2}, "nrelax": {-1: 1},
    "cwt": {-1: 1.0}, "abs_tol": None, "rel_tol": 1e-9, "max_iter": 100, "skip": True,
    "fmg": False, "nfmg": -1, "nfmg_vcyc": 1, "temporal_norm": 2, "storage": -1,
    "seq_soln": False, "access_level": 1, "print_level": 2, "file_io_level": 1,
    "relax_only_cg": False, "final_fc_relax": False, "residual": False,
    "residual_computation": True, "time_grid": None, "batch": True, "max_batch": 0,
}


