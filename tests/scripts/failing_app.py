"""A run in which one rank's callback raises: the job must end, never hang.

    mpirun -n 2 python tests/scripts/failing_app.py RANK CALLBACK
"""
import sys

from mpi4py import MPI
from testmodules import load_example

dahlquist = load_example("dahlquist")
DahlquistPython, solve = dahlquist.DahlquistPython, dahlquist.solve

fail_rank, callback = int(sys.argv[1]), sys.argv[2]


class Failing(DahlquistPython):
    calls = 0

    def _maybe_fail(self):
        self.calls += 1
        if MPI.COMM_WORLD.rank == fail_rank and self.calls == 5:
            raise ZeroDivisionError(f"injected failure in {callback}")


def failing(name):
    def method(self, *args):
        self._maybe_fail()
        return getattr(DahlquistPython, name)(self, *args)
    return method


setattr(Failing, callback, failing(callback))
solve(Failing(), ntime=400, ml=4, tol=1e-12)
print("finished without the injected failure", flush=True)
