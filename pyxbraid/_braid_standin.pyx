# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, embedsignature=True
# The bindings compiled as for upstream XBraid (PYXBRAID_UPSTREAM), against our
# library's stand-in for upstream (vendor/xbraid, `make standin`): the path a
# build with XBRAID_DIR takes, tested on every run.  See setup.py.
include "_braid.pyx"
