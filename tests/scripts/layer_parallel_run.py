"""Layer-parallel gradients, one-shot training and the reversed communicator's
lifetime under mpirun; rank 0 writes OUT.npz.

    mpirun -n 2 python -m mpi4py tests/scripts/layer_parallel_run.py gradient|train|reversed OUT
"""
import sys
from pathlib import Path

import numpy as np
from mpi4py import MPI

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_layer_parallel import (exact_gradient, one_shot_training,  # noqa: E402
                                 reversed_comm_lifetime)

what, out = sys.argv[1], sys.argv[2]
result = {"gradient": exact_gradient, "train": one_shot_training,
          "reversed": reversed_comm_lifetime}[what]()
if MPI.COMM_WORLD.rank == 0:
    np.savez(out, **result)
