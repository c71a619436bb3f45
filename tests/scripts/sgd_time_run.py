"""MGRIT over SGD steps under mpirun; rank 0 writes the weights to OUT.npz.

    mpirun -n 2 python -m mpi4py tests/scripts/sgd_time_run.py PROBLEM SCHEDULE NSTEPS OUT
"""
import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_sgd_time import PROBLEMS, converge  # noqa: E402

problem, schedule, nsteps, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
step, w0 = PROBLEMS[problem](schedule)
result = converge(step, w0, nsteps)
if MPI.COMM_WORLD.rank == 0:
    np.savez(out, weights=result.weights, niter=result.niter)
