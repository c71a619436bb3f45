# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
"""Cython bindings of the braid C interface: Core, App, NumpyApp, status objects.

A Python object is the braid "app".  The C core calls trampolines, which call
the app's methods.  A braid_Vector is a PyObject* that owns one reference.
Exceptions raised by the app are stored on the Core, the callback returns
non-zero, the solve stops, and Core.drive() raises the exception with its
original traceback.

The module is split by concern, in mpi4py's manner (declarations of the C
interface in braid.pxd):
  errors.pxi     exceptions, and the check of every braid call's return code
  options.pxi    option checks, defaults and order
  status.pxi     the status objects the callbacks receive
  callbacks.pxi  the app protocol (App) and its trampolines
  batch.pxi      the batched step (ours): its status and trampolines
  numpyapp.pxi   NumpyApp and its C kernels on the array memory
  core.pxi       Core: the solver
  comm.pxi       communicators split between space and time
"""

cimport cython
cimport numpy as cnp
from cpython.mem cimport PyMem_Realloc, PyMem_Free
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF
from cpython.memoryview cimport PyMemoryView_FromMemory
from cpython.buffer cimport PyBUF_READ, PyBUF_WRITE
from libc.math cimport sqrt, NAN
from libc.stdio cimport FILE, tmpfile, fclose, fflush, fread, rewind
from libc.string cimport memcpy, memset
from mpi4py cimport MPI
from mpi4py.libmpi cimport MPI_Comm

from pyxbraid.braid cimport *

import math

import numpy as np
from mpi4py import MPI as _MPI

from pyxbraid.abort import abort_at_exit

cnp.import_array()

cdef extern from "Python.h":
    Py_ssize_t Py_REFCNT(PyObject *o)

cdef extern from *:
    """
    #ifndef PYXBRAID_UPSTREAM
    #define PYXBRAID_UPSTREAM 0
    #endif
    #ifdef BRAID_STANDIN_UPSTREAM
    #define PYXBRAID_STANDIN 1
    #else
    #define PYXBRAID_STANDIN 0
    #endif
    """
    int PYXBRAID_UPSTREAM
    int PYXBRAID_STANDIN

#: "vendored" (vendor/xbraid, this project's implementation), "upstream"
#: (LLNL XBraid, chosen at build time with XBRAID_DIR), or "stand-in" (our
#: library in its upstream stand-in mode: callback return codes ignored, as
#: upstream does; the bindings' upstream path, tested on every run).
BRAID_LIBRARY = ("stand-in" if PYXBRAID_STANDIN else "upstream") if PYXBRAID_UPSTREAM \
    else "vendored"

#: True when the library ignores callback return codes (upstream XBraid and
#: its stand-in): after an exception the remaining callbacks are no-ops, the
#: solve runs to its end, and the exception is raised when it returns.
UPSTREAM_SEMANTICS = bool(PYXBRAID_UPSTREAM)

# What a failing callback returns to the C core.
cdef enum:
    _CALLBACK_FAILED = braid_ERROR_GENERIC

#: braid_ASCaller_* codes (braid.h), by value: status.calling_function
CALLERS = {
    braid_ASCaller_FInterp: "FInterp", braid_ASCaller_FRestrict: "FRestrict",
    braid_ASCaller_FRefine: "FRefine", braid_ASCaller_FAccess: "FAccess",
    braid_ASCaller_FRefine_AfterInitHier: "FRefine_AfterInitHier",
    braid_ASCaller_Drive_TopCycle: "Drive_TopCycle", braid_ASCaller_FCRelax: "FCRelax",
    braid_ASCaller_Drive_AfterInit: "Drive_AfterInit",
    braid_ASCaller_BaseStep_diff: "BaseStep_diff",
    braid_ASCaller_ComputeFullRNorm: "ComputeFullRNorm",
    braid_ASCaller_FASResidual: "FASResidual", braid_ASCaller_Residual: "Residual",
    braid_ASCaller_InitGuess: "InitGuess", braid_ASCaller_Warmup: "Warmup",
}


include "errors.pxi"
include "options.pxi"
include "status.pxi"
include "callbacks.pxi"
include "batch.pxi"
include "numpyapp.pxi"
include "core.pxi"
include "comm.pxi"
