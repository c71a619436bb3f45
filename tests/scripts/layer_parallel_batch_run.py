"""Layer-parallel gradients, batched against per point (batch=False), with
caps on a batch, under mpirun; rank 0 writes OUT.npz, with batched_calls the
fewest step_batch calls of any rank.

    mpirun -n 3 python -m mpi4py tests/scripts/layer_parallel_batch_run.py OUT
"""
import sys

import numpy as np
from mpi4py import MPI

from testmodules import load_test

from pyxbraid.train.layer_parallel import _AdjointApp, _ForwardApp

load_test("test_layer_parallel")  # whose helpers the batch tests import by name
test = load_test("test_layer_parallel_batch")

calls = 0


def counted(method):
    def step_batch(app, ustop, fstop, u, status):
        global calls
        calls += 1
        return method(app, ustop, fstop, u, status)
    return step_batch


for cls in (_ForwardApp, _AdjointApp):
    cls.step_batch = counted(cls.step_batch)

result = test.batched_against_per_point()
result["batched_calls"] = MPI.COMM_WORLD.allreduce(calls, op=MPI.MIN)
if MPI.COMM_WORLD.rank == 0:
    np.savez(sys.argv[1], **result)
