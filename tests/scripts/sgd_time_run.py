"""MGRIT over SGD steps under mpirun; rank 0 writes the weights to OUT.npz.

    mpirun -n 2 python -m mpi4py tests/scripts/sgd_time_run.py PROBLEM SCHEDULE NSTEPS OUT
"""
import sys

import numpy as np
from mpi4py import MPI

from testmodules import load_test

test_sgd_time = load_test("test_sgd_time")

problem, schedule, nsteps, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
step, w0 = test_sgd_time.PROBLEMS[problem](schedule)
result = test_sgd_time.converge(step, w0, nsteps)
if MPI.COMM_WORLD.rank == 0:
    np.savez(out, weights=result.weights, niter=result.niter)
