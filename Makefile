# make demo   set up, then the main job
# make test   set up, then the whole suite
# make bench  set up, then the benchmarks
#
# Set-up needs only python3 (>= 3.11) and a C compiler: MPI comes from PyPI
# (the `mpich` wheel), unless MPICC=/path/to/mpicc names an MPI already here.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
MPIRUN  = $(VENV)/bin/mpirun
STAMP   = $(VENV)/.installed
SOURCES = pyproject.toml setup.py build_backend/backend.py $(wildcard cli/*.py pyxbraid/*.pyx pyxbraid/*.pxi pyxbraid/*.pxd vendor/xbraid/*.c vendor/xbraid/*.h vendor/xbraid/Makefile)

.PHONY: install test demo bench reproduce clean

install: $(STAMP)

XBRAID  = $(MAKE) -C vendor/xbraid MPICC=$(if $(MPICC),$(MPICC),$(abspath $(VENV)/bin/mpicc))

$(STAMP): $(SOURCES)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check "setuptools>=70.1" wheel "Cython>=3.0" "numpy>=1.25" "mpi4py>=4.0" $(if $(MPICC),,mpich)
	$(XBRAID) standin
	PYXBRAID_STANDIN=1 $(PIP) install -q --disable-pip-version-check --no-build-isolation -e ".[cli,test]"
	$(XBRAID) all
	@touch $(STAMP)

# the suite, then again through the bindings' upstream path (PYXBRAID_LIBRARY=
# stand-in: our library acting as upstream XBraid), without the C-only tests
test: install
	$(PY) -m pytest -q
	PYXBRAID_LIBRARY=stand-in $(PY) -m pytest -q -m "not c_library"

demo: install
	$(MPIRUN) -n 2 $(VENV)/bin/mgrit-train run examples/xor.yaml

bench: install
	$(PY) bench/dahlquist.py
	$(PY) bench/layer_parallel.py
	$(PY) bench/strategies.py
	$(PY) bench/averaging_speed.py
	$(PY) bench/su_chen2015.py
	$(PY) bench/gemm.py
	$(PY) bench/sgd_time_batch.py
	$(PY) bench/owned_parameters.py

# the tables of Schroder 2017, paper versus ours, into docs/schroder2017.md
reproduce: install
	$(PY) examples/schroder2017/reproduce.py --jobs 2

clean:
	$(MAKE) -C vendor/xbraid clean
	rm -rf build pyxbraid/_braid.c pyxbraid/*.so
