"""Owned against replicated parameters under mpirun; rank 0 writes OUT.npz.

    mpirun -n 3 python -m mpi4py tests/scripts/owned_run.py OUT
"""
import sys

import numpy as np
from mpi4py import MPI

from testmodules import load_test

result = load_test("test_owned").owned_against_replicated()
if MPI.COMM_WORLD.rank == 0:
    np.savez(sys.argv[1], **result)
