"""Builds pyxbraid._braid with the MPI compiler.

The extension is compiled from pyxbraid/_braid.pyx and the C library in
vendor/xbraid.  With XBRAID_DIR=/path/to/xbraid it links upstream XBraid's
braid/libbraid.a instead.  MPICC selects the MPI compiler (default: the one
of the `mpich` wheel, or mpicc on PATH).  The compiler is looked up only when
the extension is built: pip first asks this file for the build requirements,
and the mpich wheel among them is not installed yet at that point.
"""
import glob
import os
import shlex
import shutil
import sys
import sysconfig

import mpi4py
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def find_mpicc():
    candidates = [os.environ.get("MPICC"),
                  os.path.join(sysconfig.get_path("scripts"), "mpicc"),
                  os.path.join(os.path.dirname(sys.executable), "mpicc"),
                  shutil.which("mpicc")]
    for cc in candidates:
        if cc and os.access(shlex.split(cc)[0], os.X_OK):
            return shlex.split(cc)
    sys.exit("pyxbraid: no MPI compiler found. Install the `mpich` wheel "
             "(pip install mpich) or set MPICC=/path/to/mpicc.")


class BuildWithMPI(build_ext):
    """build_ext with the MPI compiler wrapper as compiler and linker."""

    def build_extensions(self):
        mpicc = find_mpicc()
        self.compiler.set_executable("compiler_so", mpicc + self.compiler.compiler_so[1:])
        self.compiler.set_executable("linker_so", mpicc + self.compiler.linker_so[1:])
        super().build_extensions()


xbraid_dir = os.environ.get("XBRAID_DIR")
if xbraid_dir:
    braid_include = os.path.join(xbraid_dir, "braid")
    library = os.path.join(braid_include, "libbraid.a")
    if not os.path.exists(library):
        sys.exit(f"pyxbraid: XBRAID_DIR={xbraid_dir} has no braid/libbraid.a; build XBraid first")
    sources = ["pyxbraid/_braid.pyx"]
    extra_objects = [library]
    upstream = "1"
else:
    braid_include = "vendor/xbraid"
    sources = ["pyxbraid/_braid.pyx"] + sorted(glob.glob("vendor/xbraid/*.c"))
    extra_objects = []
    upstream = "0"



def bindings(name, sources, braid_include, upstream, extra_objects):
    return Extension(
        name,
        sources=sources,
        include_dirs=[braid_include, mpi4py.get_include(), numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
                       ("PYXBRAID_UPSTREAM", upstream)],
        # no fused multiply-add: results stay bitwise reproducible
        extra_compile_args=["-ffp-contract=off"],
        extra_objects=extra_objects,
        libraries=["m"],
    )


extensions = [bindings("pyxbraid._braid", sources, braid_include, upstream, extra_objects)]

# PYXBRAID_STANDIN=1 (make install does it) also builds pyxbraid._braid_standin:
# the bindings' upstream path (built as with XBRAID_DIR) against our library's
# stand-in for upstream (vendor/xbraid, `make standin`), which ignores callback
# return codes as upstream does.  PYXBRAID_LIBRARY=stand-in selects it at import.
if os.environ.get("PYXBRAID_STANDIN") == "1":
    standin = os.path.join("vendor", "xbraid", "standin", "braid")
    if not os.path.exists(os.path.join(standin, "libbraid.a")):
        sys.exit(f"pyxbraid: {standin}/libbraid.a is missing; run make -C vendor/xbraid standin")
    extensions.append(bindings("pyxbraid._braid_standin", ["pyxbraid/_braid_standin.pyx"],
                               standin, "1", [os.path.join(standin, "libbraid.a")]))

# The library's; the command line's are the extra [cli] (pyproject.toml).
# Built against the PyPI MPI unless MPICC chose another one.
dependencies = ["numpy>=1.25", "mpi4py>=4.0", "threadpoolctl>=3.1"]
if not os.environ.get("MPICC"):
    dependencies.append("mpich")

setup(
    ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"},
                          include_path=[HERE]),
    cmdclass={"build_ext": BuildWithMPI},
    install_requires=dependencies,
)
