"""Data x layer parallel training under mpirun: GROUPS data groups, each a
layer-parallel (exact) solve on its shard, gradients averaged over the
groups; rank 0 writes OUT.npz with every rank's final parameters.

    mpirun -n P python -m mpi4py tests/scripts/data_layer_run.py GROUPS OUT
"""
import sys

import numpy as np
from mpi4py import MPI

from testmodules import load_test

test_averaging = load_test("test_averaging")

comm = MPI.COMM_WORLD
theta = test_averaging.data_layer_training(comm, int(sys.argv[1]))
every_rank = comm.gather(theta, root=0)
if comm.rank == 0:
    np.savez(sys.argv[2], theta=np.array(every_rank))
