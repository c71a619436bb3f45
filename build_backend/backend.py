"""PEP 517 backend: setuptools, plus MPI from PyPI (the `mpich` wheel ships
mpicc, mpirun and mpi.h) unless MPICC names an MPI compiler already on the machine."""
import os

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403


def _mpi_requires():
    return [] if os.environ.get("MPICC") else ["mpich"]


def get_requires_for_build_wheel(config_settings=None):
    return _setuptools.get_requires_for_build_wheel(config_settings) + _mpi_requires()


def get_requires_for_build_editable(config_settings=None):
    return _setuptools.get_requires_for_build_editable(config_settings) + _mpi_requires()
