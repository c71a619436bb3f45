"""Owner-only parameters of a layer-parallel ResNet: each rank keeps the
layers of its own block of points, a copy of the few other layers its steps
use (ghosts: the layer where a coarse step into its block starts, and at
uneven block edges those of its adjoint points), and the opening and
classifier, which every rank keeps.

A rank's parameters are one part vector (ResNet.part_views): the ghost
layers, then its own layers, then the ends.  The tail of it, its own layers
and the ends, is what its optimizer updates (`local`); its optimizer state
is the same size.  Per evaluation the owners send the ghosts their current
values, and the ghosts' gradients go back to the owners; the ends'
gradients are summed over the ranks.  Nothing of size n_params moves.
"""
import math

import numpy as np
from mpi4py import MPI

_PARAMETERS, _GRADIENTS = 11, 12   # message tags


def block_range(npoints, nranks, rank):
    """The points [lo, hi] a rank owns in the braid core's block distribution."""
    quo, rem = divmod(npoints, nranks)
    return rank * quo + min(rank, rem), (rank + 1) * quo + min(rank + 1, rem) - 1


def _add_into(target, values):
    target += values


class OwnedParameters:
    """The layers this rank owns (those of its forward block of points),
    those it holds (ghosts and owned), its part vector and the exchanges.

    used: the layers whose parameters this rank's steps and gradients use
    (LayerParallel finds them); those it does not own become ghosts."""

    def __init__(self, net, comm, used):
        self.net, self.comm = net, comm
        n, size = net.n_layers, comm.size
        self._firsts = np.array([block_range(n + 1, size, r)[0] for r in range(size)])
        lo, hi = block_range(n + 1, size, comm.rank)
        self.owned = np.arange(lo, min(hi, n - 1) + 1, dtype=np.int64)
        ghosts = sorted(int(k) for k in used if not lo <= k <= hi)
        self.ghosts = np.array(ghosts, dtype=np.int64)
        self.held = np.concatenate([self.ghosts, self.owned])
        self.vector = np.zeros(net.part_size(len(self.held)))
        self.views = net.part_views(self.vector, self.held)
        self._tail = len(ghosts) * net.layer_size
        self.local = self.vector[self._tail:]   # what the optimizer updates
        # who sends whom which layers: the owners of every rank's ghosts
        requests = comm.allgather(ghosts)
        self._sends = {r: [k for k in wanted if self.owner(k) == comm.rank]
                       for r, wanted in enumerate(requests) if r != comm.rank}
        self._sends = {r: ks for r, ks in self._sends.items() if ks}
        self._receives = {}
        for k in ghosts:
            self._receives.setdefault(self.owner(k), []).append(k)
        self.traffic = 0   # bytes this rank sent in the exchanges since reset

    @property
    def local_size(self):
        return len(self.local)

    def owner(self, layer):
        """The rank whose block holds the point `layer` (and owns the layer)."""
        return int(np.searchsorted(self._firsts, layer, side="right") - 1)

    def _block(self, vector, layer):
        """Layer `layer`'s parameters in a part vector of this rank's layout (a view)."""
        row = int(np.flatnonzero(self.held == layer)[0])
        size = self.net.layer_size
        return vector[row * size:(row + 1) * size]

    def _exchange(self, vector, sends, receives, tag, combine):
        """Send the blocks of `sends` {rank: layers} of vector, and combine
        (copy or add) what `receives` {rank: layers} brings into vector."""
        size = self.net.layer_size
        requests, incoming = [], {}
        for rank, layers in receives.items():
            incoming[rank] = np.empty(len(layers) * size)
            requests.append(self.comm.Irecv(incoming[rank], source=rank, tag=tag))
        outgoing = []
        for rank, layers in sends.items():
            buffer = np.concatenate([self._block(vector, k) for k in layers])
            outgoing.append(buffer)
            requests.append(self.comm.Isend(buffer, dest=rank, tag=tag))
            self.traffic += buffer.nbytes
        MPI.Request.Waitall(requests)
        for rank, layers in receives.items():
            for i, k in enumerate(layers):
                combine(self._block(vector, k), incoming[rank][i * size:(i + 1) * size])

    def new_vector(self):
        """A zero part vector of this rank's layout and its views."""
        vector = np.zeros_like(self.vector)
        return vector, self.net.part_views(vector, self.held)

    def hold(self, local):
        """Collective: the part views of the parameters whose local part is
        `local`, the ghosts fetched from their owners.  local is this rank's
        storage (self.local, updated in place by the optimizer) or, for
        another model (a mean of models, a caller's vector), a vector of its
        size, copied into a new part vector."""
        local = np.asarray(local)
        if local.shape != (self.local_size,) or local.dtype != np.float64:
            raise ValueError(f"theta: expected this rank's owned parameters, a float64 array "
                             f"of shape ({self.local_size},), got {local.dtype} of shape "
                             f"{local.shape}")
        if local.ctypes.data == self.local.ctypes.data:
            vector, views = self.vector, self.views
        else:
            vector, views = self.new_vector()
            vector[self._tail:] = local
        self._exchange(vector, self._sends, self._receives, _PARAMETERS, np.copyto)
        return views

    def reduce_gradient(self, vector):
        """Collective: the gradient of this rank's local parameters from a
        part vector of gradient contributions: the ghosts' added into their
        owners', the ends' summed over the ranks (a view of vector)."""
        self._exchange(vector, self._receives, self._sends, _GRADIENTS, _add_into)
        ends = vector[len(self.held) * self.net.layer_size:]
        self.comm.Allreduce(MPI.IN_PLACE, ends, op=MPI.SUM)
        self.traffic += ends.nbytes
        return vector[self._tail:]

    # whole vectors (checkpoints, results)

    def scatter(self, full):
        """This rank's local part of full-layout arrays: (..., n_params) ->
        (..., local_size), a new array."""
        net = self.net
        full = np.asarray(full, dtype=np.float64)
        lead = full.shape[:-1]
        rows = full.reshape(-1, net.n_params)
        out = np.empty((len(rows), self.local_size))
        for row, part in zip(rows, out):
            source = net.views(np.ascontiguousarray(row))
            target = net.part_views(part, self.owned)
            for i, (s, t) in enumerate(zip(source, target)):
                if i in net.layer_fields:
                    t[...] = s[self.owned]
                else:
                    t[...] = s
        return out.reshape(lead + (self.local_size,))

    def gather(self, local, root=0):
        """Collective: the full-layout arrays (..., n_params) on root of the
        ranks' local parts (..., local_size) (None on the other ranks); the
        ends are root's."""
        net = self.net
        local = np.asarray(local, dtype=np.float64)
        parts = self.comm.gather((self.owned, local), root=root)
        if parts is None:
            return None
        lead = local.shape[:-1]
        full = np.empty((math.prod(lead), net.n_params))
        for owned, part in parts:
            for row, source in zip(full, np.reshape(part, (len(full), -1))):
                target = net.views(row)
                views = net.part_views(np.ascontiguousarray(source), owned)
                for i, (s, t) in enumerate(zip(views, target)):
                    if i in net.layer_fields:
                        t[owned] = s
        for row, source in zip(full, np.reshape(local, (len(full), -1))):
            target = net.views(row)
            views = net.part_views(np.ascontiguousarray(source), self.owned)
            for i, (s, t) in enumerate(zip(views, target)):
                if i not in net.layer_fields:
                    t[...] = s
        return full.reshape(lead + (net.n_params,))

    def memory(self):
        """Bytes of parameters this rank keeps (its part vector)."""
        return self.vector.nbytes
