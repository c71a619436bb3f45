"""RBM pretraining on two ranks, averaged by MPI_Allreduce; rank r
pretrains on x[r::2] of the digits.  Rank 0 writes every rank's weights and
count of averages to OUT.npz.

    mpirun -n 2 python -m mpi4py tests/scripts/rbm_average.py OUT SEED
"""
import sys

import numpy as np
from mpi4py import MPI

from testmodules import load_test
from pyxbraid.train.rbm import pretrain

test_rbm = load_test("test_rbm")

out, seed = sys.argv[1], int(sys.argv[2])
comm = MPI.COMM_WORLD
averages = 0


def allreduce_average(vector):
    global averages
    averages += 1
    comm.Allreduce(MPI.IN_PLACE, vector, op=MPI.SUM)
    vector /= comm.Get_size()


x = test_rbm.digits_x()
w = pretrain(test_rbm.small_mlp(), x[comm.rank::comm.size], rng=np.random.default_rng(seed),
             average=allreduce_average, **test_rbm.average_run_options())
weights, counts = comm.gather(w), comm.gather(averages)
if comm.rank == 0:
    np.savez(out, averages=counts, **{f"rank{r}": v for r, v in enumerate(weights)})
