"""Layer-parallel gradients, one-shot training and the reversed communicator's
lifetime under mpirun; rank 0 writes OUT.npz.

    mpirun -n 2 python -m mpi4py tests/scripts/layer_parallel_run.py gradient|train|reversed OUT
"""
import sys

import numpy as np
from mpi4py import MPI

from testmodules import load_test

test_layer_parallel = load_test("test_layer_parallel")

what, out = sys.argv[1], sys.argv[2]
result = {"gradient": test_layer_parallel.exact_gradient,
          "train": test_layer_parallel.one_shot_training,
          "reversed": test_layer_parallel.reversed_comm_lifetime}[what]()
if MPI.COMM_WORLD.rank == 0:
    np.savez(out, **result)
