"""What each rank of a solve sees through its callbacks: the points it steps
into and accesses on every level, its status getters' ranges and owners, the
messages it packs and unpacks.  The time communicator is COMM_WORLD in reverse
rank order, so a rank's place in time (core.myid) is not its world rank.
Rank 0 prints one JSON line: {ntime: [record of time rank 0, 1, ...]}.

    mpirun -n P python -m mpi4py tests/scripts/core_ranges.py NTIME [NTIME ...]
"""
import json
import sys

from mpi4py import MPI

from testmodules import load_example

dahlquist = load_example("dahlquist")


class Recording(dahlquist.DahlquistPython):
    """The reference problem, every callback in Python, noting what it is shown."""

    def __init__(self):
        super().__init__()
        self.stepped, self.accessed, self.messages = {}, [], []
        self.step_tiul = self.sync_tiul = self.owners = None

    def step(self, ustop, fstop, u, status):
        # the step into index tindex + 1 of its level
        self.stepped.setdefault(status.level, set()).add(status.tindex + 1)
        if self.step_tiul is None:
            self.step_tiul = [status.tiul(level) for level in range(status.nlevels)]
        super().step(ustop, fstop, u, status)

    def access(self, u, status):
        if status.done:
            self.accessed.append(status.tindex)

    def sync(self, status):
        if self.sync_tiul is None:
            self.sync_tiul = [status.tiul(level) for level in range(status.nlevels)]
            # the owner of each point 0 .. ntime // 2**level of every level (cfactor 2)
            self.owners = [[status.proc(level, i) for i in range(status.ntime // 2 ** level + 1)]
                           for level in range(status.nlevels)]

    def bufpack(self, u, buffer, status):
        self.messages.append(("pack", status.tindex, status.level, status.message_type))
        super().bufpack(u, buffer, status)

    def bufunpack(self, buffer, status):
        self.messages.append(("unpack", status.tindex, status.level, status.message_type))
        return super().bufunpack(buffer, status)


world = MPI.COMM_WORLD
time_comm = world.Split(0, world.size - 1 - world.rank)
results = {}
for ntime in map(int, sys.argv[1:]):
    app = Recording()
    core = dahlquist.solve(app, ntime=ntime, ml=3, cf=2, tol=1e-10, comm=time_comm)
    record = dict(world_rank=world.rank, myid=core.myid, nlevels=core.nlevels,
                  stepped={level: sorted(points) for level, points in app.stepped.items()},
                  accessed=sorted(app.accessed), step_tiul=app.step_tiul,
                  sync_tiul=app.sync_tiul, owners=app.owners, messages=app.messages)
    gathered = time_comm.gather(record, root=0)
    if gathered is not None:
        results[ntime] = gathered
if time_comm.rank == 0:
    print(json.dumps(results), flush=True)
