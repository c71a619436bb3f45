"""Data-parallel averaging under mpirun; rank 0 writes OUT.npz with every
rank's final weights and, for one average, the allreduce and butterfly results.

    mpirun -n P python -m mpi4py tests/scripts/averaging_run.py OUT
"""
import sys

import numpy as np
from mpi4py import MPI

from testmodules import load_test

test_averaging = load_test("test_averaging")
from pyxbraid.train.averaging import ModelAverager  # noqa: E402

comm = MPI.COMM_WORLD
out = sys.argv[1]
weights = test_averaging.averaged_training(comm)
every_rank = comm.gather(weights, root=0)
vector = np.random.default_rng(comm.rank).standard_normal(1000) * 10.0 ** comm.rank
by_allreduce, by_butterfly = vector.copy(), vector.copy()
ModelAverager(comm, "allreduce")(by_allreduce)
if comm.size & (comm.size - 1) == 0:
    ModelAverager(comm, "butterfly")(by_butterfly)
averages = comm.gather((vector, by_allreduce, by_butterfly), root=0)
if comm.rank == 0:
    np.savez(out, weights=np.array(every_rank), vectors=np.array([a[0] for a in averages]),
             allreduce=np.array([a[1] for a in averages]),
             butterfly=np.array([a[2] for a in averages]))
