"""Layer-parallel training of a ResNet (Günther et al. 2018): forward
propagation and back-propagation (the adjoint) are both solved by MGRIT over
the layers, in parallel over the ranks of a time communicator.

Forward: point k holds Y_k (the batch's states); the step from k uses layer
k's weights; a coarse step spans h*m^level and uses the weights of the layer
where its interval starts.

Adjoint: a second braid solve on the reversed index j = N - k: point j holds
P_{N-j}, and the step into j applies layer N-j's vector-Jacobian product at
the forward state Y_{N-j}.  It runs on the rank-reversed communicator, so
the rank that steps adjoint point j is the one that holds Y_{N-j} from the
forward solve, but for the few points at the edges of uneven blocks, which
are sent to it once per gradient.

Gradient: each rank adds the gradients of the layers whose adjoint it holds;
the classifier (on the rank with Y_N), the opening layer (the rank with P_0)
and the regularization (rank 0) are added once; one allreduce gives every
rank the full gradient, so the parameters stay identical everywhere.  Every
rank keeps all parameters (n_params doubles) and the reduction moves them once
per gradient.  With parameters="owned" (pyxbraid.train.owned) each rank keeps
the layers of its points and the few others its steps use, only the opening
and classifier are replicated, and only those few layers and their
gradients move.
"""
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from pyxbraid.checks import positive_int
from pyxbraid.nn.resnet import stack_rows
from pyxbraid.train.braid_app import BraidApp, BraidRun
from pyxbraid.train.owned import OwnedParameters, block_range  # noqa: F401 (block_range: API)
from pyxbraid.train.speedup import layer_parallel_speedup
from pyxbraid.train.strides import FineStrides


def _free_reversed(comm, keyval, reversed_):
    reversed_.Free()


# an attribute of the communicator, so that its reversed communicator lives
# and dies with it: MPI calls _free_reversed when the communicator is freed
# (and the attribute is not copied by Dup: a duplicate gets its own)
_REVERSED = MPI.Comm.Create_keyval(delete_fn=_free_reversed)


def reversed_comm(comm):
    """comm with its ranks in reverse order (rank p is comm's rank P-1-p),
    split once per communicator and freed with it: splitting per solver
    would use up MPI's communicator contexts, and freeing them is
    collective."""
    reversed_ = comm.Get_attr(_REVERSED)
    if reversed_ is None:
        reversed_ = comm.Split(0, comm.size - 1 - comm.rank)
        comm.Set_attr(_REVERSED, reversed_)
    return reversed_


class _LayerApp(BraidApp):
    """What the forward and adjoint apps share: the index of a time value,
    the fine stride of each level, warm starts and the converged states."""

    def __init__(self, solver, first, warm):
        self.solver, self.net = solver, solver.net
        self.first = first          # the value at index 0 (Y_0 or P_N)
        self.warm = warm or {}      # index -> state of the previous solve
        self.states = {}            # index -> state at the end of this solve
        self.vector_shape = first.shape
        self.stride = FineStrides()

    def index(self, t):
        return int(round(t / self.net.T * self.net.n_layers))

    def init(self, t):
        # the Core copies what a NumpyApp's init returns: no copy here
        i = self.index(t)
        state = self.warm.get(i) if i else None
        return self.first if state is None else state

    def access(self, u, status):
        if status.done:
            self.states[status.tindex] = u.copy()


class _ForwardApp(_LayerApp):
    @staticmethod
    def layer_of(n_layers, tindex, stride):
        """The layer whose weights the step from point tindex uses (of a level
        whose steps span stride layers): the layer where it starts."""
        return tindex * stride

    def step(self, ustop, fstop, u, status):
        stride = self.stride(status)
        layer = self.layer_of(self.net.n_layers, status.tindex, stride)
        self.net.step(self.solver.params, layer, u, self.net.h * stride)

    def step_batch(self, ustop, fstop, u, status):
        # row i as step does it: the layer of its own tindex
        stride = self.stride(status)
        self.net.step_batch(self.solver.params,
                            self.layer_of(self.net.n_layers, status.tindex, stride), u,
                            self.net.h * stride, self.solver.weights)


class _AdjointApp(_LayerApp):
    @staticmethod
    def layer_of(n_layers, tindex, stride):
        """The layer whose vector-Jacobian product the adjoint step from
        point tindex applies: that of the forward point it steps into."""
        return n_layers - (tindex + 1) * stride

    def step(self, ustop, fstop, u, status):
        stride = self.stride(status)
        layer = self.layer_of(self.net.n_layers, status.tindex, stride)
        self.net.adjoint_step(self.solver.params, layer, self.solver.forward_state(layer), u,
                              self.net.h * stride)

    def step_batch(self, ustop, fstop, u, status):
        stride = self.stride(status)
        layers = self.layer_of(self.net.n_layers, status.tindex, stride)
        derivatives = self.solver.derivatives(layers)
        # without the layer's linearization, its vector-Jacobian products read the states
        states = self.solver.forward_states(layers) if derivatives is None else None
        self.net.adjoint_step_batch(self.solver.params, layers, states, u, self.net.h * stride,
                                    self.solver.weights, derivatives)


class _LayerProbe(BraidApp):
    """A solve with a one-value state that records the layers whose
    parameters the steps of this rank use (an app's layer_of): the same
    Core settings make the same hierarchy and the same steps on each rank,
    whatever the states, so this finds the few layers beyond a rank's own
    block that owned parameters must fetch (the first step into the block
    on each level starts in the neighbour's)."""

    vector_shape = (1,)

    def __init__(self, n_layers, layer_of):
        self.n_layers, self.layer_of = n_layers, layer_of
        self.stride = FineStrides()
        self.used = set()

    def init(self, t):
        return np.zeros(1)

    def access(self, u, status):
        pass

    def step(self, ustop, fstop, u, status):
        self.used.add(self.layer_of(self.n_layers, status.tindex, self.stride(status)))


@dataclass
class SolveStats:
    """The MGRIT solves of one objective evaluation: the forward solve, and
    the adjoint solve when the gradient was asked for (BraidRun each)."""
    forward: BraidRun = None
    adjoint: BraidRun = None

    @property
    def nlevels(self):
        return self.forward.nlevels if self.forward else 1

    @property
    def adjoint_nlevels(self):
        return self.adjoint.nlevels if self.adjoint else 1

    @property
    def forward_iterations(self):
        return self.forward.niter if self.forward else 0

    @property
    def adjoint_iterations(self):
        return self.adjoint.niter if self.adjoint else 0

    @property
    def forward_rnorms(self):
        return self.forward.rnorms.tolist() if self.forward else []

    @property
    def adjoint_rnorms(self):
        return self.adjoint.rnorms.tolist() if self.adjoint else []

    @property
    def forward_factor(self):
        """The forward solve's convergence factor
        (pyxbraid.train.braid_app.convergence_factor); NaN before a solve."""
        return self.forward.convergence_factor if self.forward else float("nan")


def _checked_settings(prefix, settings):
    """A solve's settings with tol_relative and max_iter checked (the Core
    checks the rest), named as given (`adjoint.max_iter`)."""
    if not isinstance(settings["tol_relative"], bool):
        raise ValueError(f"{prefix}tol_relative: must be True or False, "
                         f"got {settings['tol_relative']!r}")
    positive_int(prefix + "max_iter", settings["max_iter"])
    return settings


class LayerParallel:
    """The objective (loss and gradient) of a pyxbraid.nn.ResNet by forward
    and adjoint MGRIT over its layers, on the ranks of `comm`.

    mode "exact": both solves to `tol` (the gradient of serial backprop),
    at most `max_iter` iterations; `tol` is absolute, or relative to each
    solve's first residual (that of its initial guess) with tol_relative;
    "one-shot": `forward_iters` and `adjoint_iters` MGRIT iterations per
    evaluation, warm-started from the previous one (Günther et al.'s
    simultaneous method), whatever the residual (tol is not used).
    parameters: "replicated" (every rank keeps all; theta and the gradient
    are full vectors) or "owned" (pyxbraid.train.owned.OwnedParameters: a
    rank keeps its layers; theta and the gradient are its local part,
    local_parameters(full) gives the vector to train in place).
    `options` are pyxbraid.Core options for both solves (max_levels,
    cfactor, nrelax, ...); the tolerance is given by tol and tol_relative,
    and skip is off (the solves start from given guesses).  `adjoint`: the
    adjoint solve's own settings, a dict of any of SOLVE_SETTINGS (Core
    options, and tol, tol_relative, max_iter), each defaulting to the
    forward solve's (a cheaper or looser backward solve than the forward).

    Batched time stepping (Core option batch, default True): the solves
    step all the independent points of a sweep in one call (the apps'
    step_batch, ResNet.step_batch and adjoint_step_batch), and the layer
    gradients go batch by batch; the gradients are the per-point ones up to
    round-off.  max_batch caps a batch (0: no cap); by default a batch holds
    about BATCH_BYTES of states (at least one state), which keeps it in cache.
    Per gradient a rank then also keeps its adjoint's forward states and
    their activation derivatives in two stacks (twice the memory of those
    states).  batch=False steps point by point, as before (batch and
    max_batch of the adjoint settings decide the adjoint's steps and the
    layer gradients)."""

    MODES = ("exact", "one-shot")
    PARAMETERS = ("replicated", "owned")
    BATCH_BYTES = 1 << 20   # the default size of a batched step's stack of states
    # what the adjoint may set for itself: the Core options of one solve
    # (skip, the tolerance options and the time grid are the solver's), and
    # the stopping rule of mode exact
    SOLVE_SETTINGS = ("max_levels", "min_coarse", "cfactor", "nrelax", "cwt", "fmg", "nfmg",
                      "nfmg_vcyc", "temporal_norm", "storage", "seq_soln", "relax_only_cg",
                      "final_fc_relax", "residual_computation", "print_level", "access_level",
                      "batch", "max_batch", "tol", "tol_relative", "max_iter")

    def __init__(self, net, comm=None, mode="exact", forward_iters=2, adjoint_iters=1,
                 tol=1e-10, max_iter=100, tol_relative=False, adjoint=None,
                 parameters="replicated", **options):
        if mode not in self.MODES:
            raise ValueError(f"mode: must be one of {', '.join(self.MODES)}, got {mode!r}")
        if parameters not in self.PARAMETERS:
            raise ValueError(f"parameters: must be one of {', '.join(self.PARAMETERS)}, got "
                             f"{parameters!r}")
        given = [name for name in ("abs_tol", "rel_tol") if name in options]
        if given:
            raise ValueError(f"{', '.join(given)}: give the tolerance as tol (relative with "
                             f"tol_relative=True)")
        for name, value in (("forward_iters", forward_iters), ("adjoint_iters", adjoint_iters)):
            positive_int(name, value)
        self.net, self.mode = net, mode
        self.forward_iters, self.adjoint_iters = forward_iters, adjoint_iters
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.comm_reversed = reversed_comm(self.comm)  # where the adjoint runs
        # each solve's settings: Core options, tol, tol_relative, max_iter
        self.forward_settings = _checked_settings(
            "", dict(options, tol=tol, tol_relative=tol_relative, max_iter=max_iter))
        self.adjoint_settings = _checked_settings("adjoint.", self._merged_adjoint(adjoint))
        # the apps' step_batch is used unless batch=False (then every step,
        # and every layer gradient, goes point by point as before)
        self.forward_batched = self.forward_settings.get("batch", True) is not False
        self.adjoint_batched = self.adjoint_settings.get("batch", True) is not False
        # set per evaluation: each solve's batches' most rows, the batched
        # steps' weights
        self.batch_rows = self.adjoint_batch_rows = self.weights = None
        self.params = None  # the views of the parameters being evaluated (ResNetParams)
        self._forward_warm, self._adjoint_warm = {}, {}
        self._forward_states = {}
        self.stats = SolveStats()           # the last evaluation's solves
        self.gradient_stats = SolveStats()  # the last gradient's (not a line search's)
        n, size = net.n_layers, self.comm.size
        # which forward states each rank's adjoint steps and gradients need
        self._needs = [self._adjoint_needs(*block_range(n + 1, size, size - 1 - r))
                       for r in range(size)]
        self.parameters = parameters
        # owned: this rank's layers and the ghosts its steps use (collective)
        self.owned = OwnedParameters(net, self.comm, self._used_layers()) \
            if parameters == "owned" else None
        self.traffic = 0   # bytes of parameters and gradients the last gradient sent

    def _merged_adjoint(self, adjoint):
        """The adjoint's settings: the forward's, with those given."""
        adjoint = {} if adjoint is None else adjoint
        if not isinstance(adjoint, dict):
            raise ValueError(f"adjoint: must be a dict of settings, got {adjoint!r}")
        unknown = [name for name in adjoint if name not in self.SOLVE_SETTINGS]
        if unknown:
            raise ValueError(f"adjoint.{unknown[0]}: not a setting of a solve (one of "
                             f"{', '.join(self.SOLVE_SETTINGS)})")
        return {**self.forward_settings, **adjoint}

    @property
    def batched(self):
        """Whether either solve steps in batches."""
        return self.forward_batched or self.adjoint_batched

    def _batch_rows(self, settings, batch):
        """The most rows of a solve's batched step (its Core's max_batch)
        and, for the adjoint's, of a batch of layer gradients: max_batch when
        given (0: no limit), else as many as make BATCH_BYTES, so that a
        batch's stacks and temporaries stay in cache (larger batches lose
        more to memory traffic than they save in calls)."""
        given = settings.get("max_batch")
        if given is not None:
            return given
        return max(1, self.BATCH_BYTES // (batch * self.net.width * 8))

    def _adjoint_needs(self, lo, hi):
        n = self.net.n_layers
        needs = {n - j for j in range(max(lo, 1), hi + 1)}       # steps into j
        needs |= {n - 1 - j for j in range(lo, min(hi, n - 1) + 1)}  # layer gradients
        return needs

    def _used_layers(self):
        """Collective: the layers whose parameters this rank's steps (both
        solves, found by _LayerProbe), layer gradients and regularization use."""
        n, comm = self.net.n_layers, self.comm
        used = set(self._needs[comm.rank])   # adjoint steps and layer gradients
        for app, comm_, settings in ((_ForwardApp, comm, self.forward_settings),
                                     (_AdjointApp, self.comm_reversed, self.adjoint_settings)):
            probe = _LayerProbe(n, app.layer_of)
            options = self._core_options(settings)
            options.update(batch=False, abs_tol=0.0, max_iter=2, print_level=0,
                           access_level=0)
            options.pop("max_batch", None)
            probe.run(comm_, self.net.T, n, **options)
            used |= probe.used
        lo = block_range(n + 1, comm.size, comm.rank)[0]
        if self.net.gamma_d and 1 <= lo < n:   # the jump into the block's first layer
            used.add(lo - 1)
        return used

    def forward_state(self, layer):
        return self._forward_states[layer]

    def forward_states(self, layers):
        """The forward states of the layers (of those this rank's adjoint
        needs), stacked: (len(layers), batch, width), a view when they are
        evenly spaced."""
        return self._forward_stack[self._stack_rows(layers)]

    def derivatives(self, layers):
        """The layers' linearizations at their forward states
        (ResNet.derivatives: the dense layer's activation derivatives),
        stacked as forward_states; None for a residual layer without."""
        if self._derivative_stack is None:
            return None
        return self._derivative_stack[self._stack_rows(layers)]

    def _stack_rows(self, layers):
        # the stacks run down the layers, as the adjoint's points do: its
        # batches are then rows of increasing index (numpy is slower on
        # arrays of negative strides)
        return stack_rows(self._stack_top - np.asarray(layers))

    def _stack_forward_states(self, params):
        """Stack the forward states this rank's adjoint needs (a range of
        layers, top layer first) and their linearizations (the dense
        layer's activation derivatives; none for a layer without),
        batch_rows layers at a time: once per gradient, for the batched
        adjoint steps and layer gradients, which then only gather rows."""
        self._derivative_stack = None
        layers = sorted(self._forward_states, reverse=True)  # a range: see _adjoint_needs
        if not layers:   # a rank without points (more ranks than points)
            return
        self._stack_top = layers[0]
        self._forward_stack = np.stack([self._forward_states[k] for k in layers])
        rows = self.adjoint_batch_rows or len(layers)
        for lo in range(0, len(layers), rows):
            part = slice(lo, lo + rows)
            out = None if self._derivative_stack is None else self._derivative_stack[part]
            d = self.net.derivatives(params, np.asarray(layers[part]), self._forward_stack[part],
                                     self.weights, out=out)
            if d is None:   # the layer has no linearization: its adjoint reads the states
                return
            if out is None:  # the first part gives the shape of the stack
                self._derivative_stack = np.empty((len(layers),) + d.shape[1:], d.dtype)
                self._derivative_stack[part] = d

    def warm_states(self):
        """This rank's warm starts for one-shot solves, as named arrays."""
        states = {f"forward_{k}": v for k, v in self._forward_warm.items()}
        states.update({f"adjoint_{k}": v for k, v in self._adjoint_warm.items()})
        return states

    def warm_names(self, rank):
        """The names (keys of warm_states) of the warm starts that rank `rank`
        of the communicator starts its solves from: the forward points of its
        block, and the adjoint points of its block on the reversed
        communicator.  A checkpoint holding every rank's warm starts thus
        serves a resume on any number of ranks."""
        n, size = self.net.n_layers, self.comm.size
        lo, hi = block_range(n + 1, size, rank)
        names = {f"forward_{k}" for k in range(lo, hi + 1)}
        lo, hi = block_range(n + 1, size, size - 1 - rank)
        return names | {f"adjoint_{k}" for k in range(lo, hi + 1)}

    def load_warm_states(self, states):
        self._forward_warm = {int(k.split("_")[1]): v for k, v in states.items()
                              if k.startswith("forward_")}
        self._adjoint_warm = {int(k.split("_")[1]): v for k, v in states.items()
                              if k.startswith("adjoint_")}

    @staticmethod
    def _core_options(settings):
        """The Core options of a solve's settings (skip off: the solves
        start from given guesses)."""
        options = {name: value for name, value in settings.items()
                   if name not in ("tol", "tol_relative", "max_iter")}
        options["skip"] = False
        return options

    def _solve(self, app_class, comm, first, warm, iterations, settings, batch_rows,
               exact=False):
        """(the states this rank holds at the end, the BraidRun) of a solve
        with its settings (forward_settings or adjoint_settings); to the
        tolerance when exact, whatever the mode."""
        app = app_class(self, first, warm)
        options = self._core_options(settings)
        if options.get("batch", True) is not False:
            options["max_batch"] = batch_rows
        if self.mode == "exact" or exact:
            options["rel_tol" if settings["tol_relative"] else "abs_tol"] = settings["tol"]
            options["max_iter"] = settings["max_iter"]
        else:
            options.update(abs_tol=0.0, max_iter=iterations)
        run = app.run(comm, self.net.T, self.net.n_layers, **options)
        return app.states, run

    def objective(self, theta, x, y, need_grad=True):
        """(loss, gradient) at theta on the batch (x, y), the same on every rank;
        the gradient is None without need_grad.  Owned parameters: theta and
        the gradient are this rank's local parts (local_parameters)."""
        net, comm, n = self.net, self.comm, self.net.n_layers
        if self.owned is not None:
            self.owned.traffic = 0
        params = self.params = self._views(theta)  # split once: the layer steps take the views
        self.batch_rows = self._batch_rows(self.forward_settings, len(x))
        self.adjoint_batch_rows = self._batch_rows(self.adjoint_settings, len(x))
        self.weights = net.batch_weights(params, len(x)) if self.batched else None
        warm = self.mode == "one-shot"
        stats = self.stats = SolveStats()
        states, stats.forward = self._solve(
            _ForwardApp, comm, net.open(params, x), self._forward_warm if warm else None,
            self.forward_iters, self.forward_settings, self.batch_rows)
        self._forward_warm = states
        grad, grad_views = self._new_gradient()
        last = comm.allreduce(comm.rank if n in states else -1, op=MPI.MAX)
        loss, p_n = 0.0, None
        if comm.rank == last:
            loss, p_n = net.classify(params, states[n], y, grad_views)
        loss = comm.bcast(loss, root=last)
        if self.owned is None:
            loss += net.regularization(theta)
        else:   # each rank's layers' terms, and the ends' once; their gradient now
            loss += comm.allreduce(net.regularization_part(
                params, grad_views, self.owned.owned, ends=comm.rank == 0), op=MPI.SUM)
        if not need_grad:
            return loss, None
        p_n = comm.bcast(p_n, root=last)
        self._forward_states = self._exchange(states)
        if self.adjoint_batched:
            self._stack_forward_states(params)
        adjoint, stats.adjoint = self._solve(
            _AdjointApp, self.comm_reversed, p_n, self._adjoint_warm if warm else None,
            self.adjoint_iters, self.adjoint_settings, self.adjoint_batch_rows)
        self._adjoint_warm = adjoint
        if self.adjoint_batched:
            self._layer_gradients(params, adjoint, grad_views)
        else:
            for j, p in adjoint.items():
                if j < n:
                    layer = n - 1 - j
                    net.layer_gradient(params, layer, self._forward_states[layer], p, grad_views)
        if n in adjoint:
            net.opening_gradient(params, x, adjoint[n], grad_views)
        if self.owned is not None:
            grad = self.owned.reduce_gradient(grad)
            self.traffic = self.owned.traffic
        else:
            if comm.rank == 0:
                net.regularization(theta, grad)
            comm.Allreduce(MPI.IN_PLACE, grad, op=MPI.SUM)
            self.traffic = grad.nbytes
        self.gradient_stats = stats
        return loss, grad

    def _views(self, theta):
        """The views the primitives take: of the full vector, or (owned) of
        this rank's part vector with the ghosts fetched (collective)."""
        return self.net.views(theta) if self.owned is None else self.owned.hold(theta)

    def _new_gradient(self):
        """A zero gradient (flat) and its views: full, or this rank's part."""
        if self.owned is None:
            grad = np.zeros(self.net.n_params)
            return grad, self.net.views(grad)
        return self.owned.new_vector()

    # owned parameters: what a training loop needs of them

    def local_parameters(self, theta):
        """This rank's storage of the parameters, set to (the local part of)
        the full vector theta: the vector to train in place (the optimizer's
        theta; its state is then this size).  Replicated: a copy of theta."""
        if self.owned is None:
            return np.array(theta, dtype=np.float64, copy=True)
        self.owned.local[...] = self.owned.scatter(theta)
        return self.owned.local

    def local_part(self, full):
        """The local part of full-layout arrays (..., n_params), a new array
        (an optimizer's state from a checkpoint); full itself when replicated."""
        return full if self.owned is None else self.owned.scatter(full)

    def full_parameters(self, local, root=0):
        """Collective: the full-layout arrays of the ranks' local parts
        (..., local size), on root (None on the other ranks); replicated:
        local itself, on every rank."""
        return local if self.owned is None else self.owned.gather(local, root)

    def inner(self, a, b):
        """Collective: the inner product of two parameter vectors as this
        solver holds them (owned: local parts, the ends counted once; an
        optimizer's inner product, LBFGS(inner=...))."""
        if self.owned is None:
            return float(a @ b)
        ends = self.net.ends_size
        return self.comm.allreduce(float(a[:-ends] @ b[:-ends]), op=MPI.SUM) + \
            float(a[-ends:] @ b[-ends:])

    def parameter_memory(self):
        """Bytes of parameters this rank keeps (a gradient and each vector
        of the optimizer's state are the size of its local part)."""
        return self.net.n_params * 8 if self.owned is None else self.owned.memory()

    def predict(self, theta, x):
        """The logits of the network at theta for x (the same on every rank):
        a forward solve to the tolerance (tol, max_iter), whatever the mode,
        leaving the one-shot warm starts alone.  theta as objective takes it."""
        return self._logits(self._views(theta), x)

    def _logits(self, params, x):
        """predict's logits at the views params."""
        net, comm, n = self.net, self.comm, self.net.n_layers
        saved = self.params, self.batch_rows, self.weights
        try:
            self.params = params
            self.batch_rows = self._batch_rows(self.forward_settings, len(x))
            self.weights = net.batch_weights(params, len(x)) if self.forward_batched else None
            states, _ = self._solve(_ForwardApp, comm, net.open(params, x), None,
                                    self.forward_iters, self.forward_settings, self.batch_rows,
                                    exact=True)
        finally:
            self.params, self.batch_rows, self.weights = saved
        last = comm.allreduce(comm.rank if n in states else -1, op=MPI.MAX)
        logits = None
        if comm.rank == last:
            logits = net.logits(params, states[n])
        return comm.bcast(logits, root=last)

    def accuracy(self, theta, x, y):
        """Fraction of argmax(predict) equal to the labels (as ResNet.accuracy)."""
        y = np.asarray(y)
        labels = y if y.ndim == 1 else y.argmax(axis=1)
        return float(np.mean(self.predict(theta, x).argmax(axis=1) == labels))

    def loss(self, theta, x, y):
        """The loss at theta (predict's logits, and the regularization)."""
        net = self.net
        params = self._views(theta)   # one fetch of the ghosts (collective)
        value = net.loss_function.value(self._logits(params, x), np.asarray(y))
        if self.owned is None:
            return value + net.regularization(theta)
        _, scratch = self.owned.new_vector()
        return value + self.comm.allreduce(net.regularization_part(
            params, scratch, self.owned.owned, ends=self.comm.rank == 0), op=MPI.SUM)

    def _layer_gradients(self, params, adjoint, grad_views):
        """Add the gradients of the layers whose adjoint this rank holds,
        batch_rows layers at a time (ResNet.layer_gradient_batch)."""
        n = self.net.n_layers
        points = np.array(sorted(j for j in adjoint if j < n), dtype=np.int64)
        rows = self.adjoint_batch_rows or max(1, len(points))
        for lo in range(0, len(points), rows):
            js = points[lo:lo + rows]
            layers = n - 1 - js
            self.net.layer_gradient_batch(params, layers, self.forward_states(layers),
                                          np.stack([adjoint[j] for j in js]), grad_views,
                                          self.weights, self.derivatives(layers))

    def _exchange(self, states):
        """Send every rank the forward states its adjoint needs and it lacks."""
        comm = self.comm
        outgoing = [{k: states[k] for k in self._needs[r] if k in states} if r != comm.rank
                    else {} for r in range(comm.size)]
        local = {k: states[k] for k in self._needs[comm.rank] if k in states}
        for part in comm.alltoall(outgoing):
            local.update(part)
        return local

    def model_speedup(self, nranks=None):
        """pyxbraid.train.speedup.layer_parallel_speedup of the last gradient's
        solves (each with its levels, cfactor and nrelax as its Core had
        them), on nranks ranks (default: one per coarse interval of the
        forward solve)."""
        stats = self.gradient_stats
        if stats.adjoint is None:
            raise RuntimeError("model_speedup: no gradient has been evaluated yet")
        forward, adjoint = stats.forward.options, stats.adjoint.options
        return layer_parallel_speedup(self.net.n_layers, stats.nlevels, stats.forward_iterations,
                                      stats.adjoint_iterations, forward["cfactor"],
                                      forward["nrelax"], nranks,
                                      adjoint_nlevels=stats.adjoint_nlevels,
                                      adjoint_cfactor=adjoint["cfactor"],
                                      adjoint_nrelax=adjoint["nrelax"])


class Serial:
    """The same objective by serial forward propagation and backprop;
    preconditioners (NaturalGradientSGD's) make the gradient the natural one."""

    def __init__(self, net, preconditioners=None):
        self.net, self.preconditioners = net, preconditioners

    def objective(self, theta, x, y, need_grad=True):
        if need_grad:
            return self.net.loss_and_grad(theta, x, y, preconditioners=self.preconditioners)
        return self.net.loss(theta, x, y), None
