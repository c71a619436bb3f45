"""The base of the training apps that MGRIT solves (in the manner of
TorchBraid's BraidApp and its ODE apps): an app says how to step, start and
read its points; the base builds the pyxbraid.Core, runs it, destroys it, and
keeps what the solve did (BraidRun), with the options read back from the
Core that ran rather than guessed from the keywords given."""
import math
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

import pyxbraid
from pyxbraid.train.speedup import critical_path


def convergence_factor(rnorms):
    """The geometric mean rate of residual reduction per iteration:
    rho = (r_last / r_first) ** (1 / (k_last - k_first)) over the iterations
    k that have a residual.

    rnorms is a history as pyxbraid.Core.rnorms gives it: entry k is the
    residual of iteration k, -1 where none was computed (iteration 0 with
    XBraid's skip; every entry with residual_computation off), and the final
    entry repeats the last iteration's, so it is left out.  A history that
    reaches a residual of exactly 0 reports 0 (the geometric mean of its
    per-iteration ratios, the last of which is 0: [1, 0.5, 0, 0] gives 0).
    NaN when there is no rate to report: fewer than two residuals, or a
    first residual of 0 (nothing left to reduce)."""
    iterations = [(k, float(r)) for k, r in enumerate(np.asarray(rnorms, dtype=np.float64)[:-1])
                  if not r < 0]   # NaN stays in, and makes the factor NaN
    if len(iterations) < 2:
        return math.nan
    (k_first, first), (k_last, last) = iterations[0], iterations[-1]
    if first == 0:
        return math.nan
    return (last / first) ** (1.0 / (k_last - k_first))


@dataclass
class BraidRun:
    """What one MGRIT solve did, the same on every rank.

    options: pyxbraid.Core.options of the Core that ran (every option's
    value, XBraid's defaults filled in); wall_time: the slowest rank's
    seconds in drive(), None unless the run was timed."""
    ntime: int
    niter: int
    nlevels: int
    rnorms: np.ndarray
    options: dict
    wall_time: float = None

    @property
    def convergence_factor(self):
        return convergence_factor(self.rnorms)

    def critical_path(self, nranks=None):
        """pyxbraid.train.speedup.critical_path of this solve: its levels,
        iterations and cycle (cfactor, nrelax, fmg, nfmg, nfmg_vcyc, skip as
        the Core had them), on nranks ranks (default: one per coarse
        interval)."""
        o = self.options
        return critical_path(self.ntime, self.nlevels, self.niter, cfactor=o["cfactor"],
                             nrelax=o["nrelax"], fmg=o["fmg"], nfmg=o["nfmg"],
                             nfmg_vcyc=o["nfmg_vcyc"], skip=o["skip"], nranks=nranks)


class BraidApp(pyxbraid.NumpyApp):
    """A NumpyApp that runs itself: subclasses give step, init, access and
    vector_shape as pyxbraid.NumpyApp asks."""

    def run(self, comm, tstop, ntime, timed=False, **options):
        """Solve on [0, tstop] with ntime steps over the ranks of comm and
        return the BraidRun.  options are pyxbraid.Core options; print_level
        defaults to 0.  timed: measure drive() between a barrier and a
        reduction of the slowest rank's time (two collectives more)."""
        options = {"print_level": 0, **options}
        with pyxbraid.Core(self, comm, tstart=0.0, tstop=tstop, ntime=ntime, **options) as core:
            if timed:
                comm.Barrier()
                start = MPI.Wtime()
            core.drive()
            wall = comm.allreduce(MPI.Wtime() - start, op=MPI.MAX) if timed else None
            return BraidRun(ntime, core.niter, core.nlevels, core.rnorms.copy(), core.options,
                            wall)
