"""Natural-gradient SGD (NG-SGD) with Kaldi nnet2's online preconditioner
(Povey, Zhang & Khudanpur 2015, "Parallel training of DNNs with natural
gradient and parameter averaging", arXiv 1410.7455, appendix).

The Fisher matrix of a dense layer's weights is approximated by a Kronecker
product of two factors: the uncentred covariance of the layer's input rows and
that of its output-derivative rows.  `OnlineNaturalGradient` keeps an online,
low-rank-plus-scaled-identity estimate of one such factor and multiplies a
minibatch of rows by the inverse of its smoothed version; `DensePreconditioner`
holds the two factors of one layer and writes the layer's preconditioned
gradient; `NaturalGradientSGD` holds one per layer of an MLP and takes the
steps.

How the averaging runner (or any training loop) uses it:

    optimizer = NaturalGradientSGD(model, learning_rate=0.01)
    loss, grad = model.loss_and_grad(theta, x, y, grad=buffer,
                                     preconditioners=optimizer.preconditioners)
    optimizer.update(theta, loss, grad, objective)   # theta -= lr * grad (max-change capped)

The gradient comes back preconditioned, so `update` is plain SGD on it; every
minibatch's gradient must go through `preconditioners` (they learn from the
rows they see).  `optimizer.learning_rate` may be changed between steps (a
schedule).  `state()`/`load()` hold every preconditioner's estimate, so a
resumed run continues bit for bit.  Under data parallelism each rank keeps its
own preconditioners (they see that rank's minibatches) and its own state;
model averaging averages theta only.
"""
import math
import numbers

import numpy as np

from pyxbraid.nn.gemm import gemm
from pyxbraid.nn.layers import Dense

# updates on every minibatch before `update_period` applies (Kaldi's choice):
# the estimate starts from one minibatch and needs a few to settle
NUM_INITIAL_UPDATES = 10
# passes over the first minibatch that start the estimate from the random basis
NUM_INIT_ITERS = 3
# eta is capped: eta -> 1 would leave Z_t singular when a minibatch has fewer rows than the rank
MAX_ETA = 0.9
# the rows of R_t drift from orthonormal by round-off; past this they are made orthonormal again
ORTHONORMAL_TOLERANCE = 1e-8


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_int(name, value, minimum):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_positive(name, value, upper=None):
    if not _is_real(value) or not math.isfinite(value) or value <= 0 or \
            (upper is not None and value >= upper):
        bound = f" and < {upper}" if upper is not None else ""
        raise ValueError(f"{name}: must be a finite number > 0{bound}, got {value!r}")
    return float(value)


def _check_seed(value):
    parts = value if isinstance(value, tuple) else (value,)
    if not parts or not all(isinstance(p, numbers.Integral) and not isinstance(p, bool) and p >= 0
                            for p in parts):
        raise ValueError(f"seed: must be an integer >= 0 or a tuple of them, got {value!r}")
    return tuple(int(p) for p in parts) if isinstance(value, tuple) else int(value)


class OnlineNaturalGradient:
    """Online estimate of the uncentred covariance of minibatch rows, and
    multiplication of the rows by its smoothed inverse (Kaldi's OnlineNaturalGradient).

    The estimate after t minibatches is F_t = R_t^T D_t R_t + rho_t I, with R_t
    (R x D) of orthonormal rows, D_t = diag(d_t) > 0 and rho_t > 0; R is
    min(rank, D - 1).  Rows X (N x D) are preconditioned with

        G_t = F_t + alpha/D tr(F_t) I = R_t^T D_t R_t + beta_t I,
        beta_t = rho_t (1 + alpha) + alpha/D tr(D_t),
        X_hat = beta_t X G_t^{-1} = X - (X W_t^T) W_t   (Woodbury),
        W_t = E_t^{1/2} R_t,  e_i = 1 / (beta_t / d_i + 1),

    and returned as gamma X_hat, gamma = ||X||_F / ||X_hat||_F, so the output
    has the Frobenius norm of the input.  The estimate is updated from X (one
    step of the power method on T_t = eta S_t + (1 - eta) F_t, S_t = X^T X / N,
    eta = 1 - exp(-N / num_samples_history)) on each of the first 10 minibatches
    and then every `update_period` minibatches; the update itself works with
    the R x R matrices K_t = J_t J_t^T and L_t = H_t^T H_t (H_t = X W_t^T,
    J_t = H_t^T X), never a D x D one.  The first minibatch also starts the
    estimate: from a seeded random orthonormal basis with d = rho = epsilon, 3
    updates on that minibatch.  The output for minibatch t uses F_t, which
    has not yet seen it.

    epsilon floors rho_t and d_t (all-zero rows must not make F_t singular);
    delta floors rho_t relative to the largest eigenvalue estimate, which
    bounds the condition number of F_t.  Rows of dimension 1 come back
    unchanged (the rescaled preconditioner of a scalar is 1)."""

    def __init__(self, rank, alpha=4.0, update_period=4, num_samples_history=2000.0,
                 epsilon=1e-10, delta=5e-4, seed=0):
        self.rank = _check_int("rank", rank, 1)
        self.alpha = _check_positive("alpha", alpha)
        self.update_period = _check_int("update_period", update_period, 1)
        self.num_samples_history = _check_positive("num_samples_history", num_samples_history)
        self.epsilon = _check_positive("epsilon", epsilon)
        self.delta = _check_positive("delta", delta, upper=1.0)
        self.seed = _check_seed(seed)
        self._t = 0                      # minibatches preconditioned since the start
        self._W = self._d = None         # W_t (R x D) and d_t (R,), None until the first minibatch
        self._rho = 0.0
        self._dim = None                 # D, known from the first minibatch (or from load)

    # checkpoints

    def state(self):
        """Copies of the estimate: 't' (minibatches seen), and once started 'dim'
        and, when dim > 1, 'W', 'd' and 'rho'."""
        state = {"t": np.array(self._t, dtype=np.int64)}
        if self._dim is not None:
            state["dim"] = np.array(self._dim, dtype=np.int64)
        if self._W is not None:
            state.update(W=self._W.copy(), d=self._d.copy(), rho=np.array(self._rho))
        return state

    def load(self, state, prefix=""):
        """Restore what state() returned, checked against this object's
        options; errors name the keys as prefix + key."""
        if "t" not in state:
            raise ValueError(f"state: {prefix}t is missing")
        t = _check_int(f"state: {prefix}t", int(np.asarray(state["t"])), 0)
        if "dim" not in state:
            if t != 0 or "W" in state:
                raise ValueError(f"state: {prefix}dim is missing (a started estimate has it)")
            self._t, self._dim, self._W, self._d, self._rho = 0, None, None, None, 0.0
            return
        dim = _check_int(f"state: {prefix}dim", int(np.asarray(state["dim"])), 1)
        rank = min(self.rank, dim - 1)
        if rank == 0:
            W = d = None
            rho = 0.0
        else:
            missing = [prefix + k for k in ("W", "d", "rho") if k not in state]
            if missing:
                raise ValueError(f"state: {', '.join(missing)} missing (dimension {dim})")
            W = np.array(state["W"], dtype=np.float64)
            d = np.array(state["d"], dtype=np.float64)
            rho = float(np.asarray(state["rho"]))
            if W.shape != (rank, dim) or d.shape != (rank,):
                raise ValueError(f"state: {prefix}W {W.shape} and {prefix}d {d.shape} do not fit "
                                 f"rank {rank} and dimension {dim} (expected {(rank, dim)} and "
                                 f"{(rank,)})")
            for name, value in (("W", W), ("d", d), ("rho", rho)):
                if not np.all(np.isfinite(value)) or (name != "W" and not np.all(value > 0)):
                    raise ValueError(f"state: {prefix}{name} must be finite"
                                     f"{'' if name == 'W' else ' and positive'}")
        self._t, self._dim, self._W, self._d, self._rho = t, dim, W, d, rho

    # the estimate

    @property
    def effective_rank(self):
        """min(rank, D - 1) once the dimension is known, else None."""
        return None if self._dim is None else min(self.rank, self._dim - 1)

    def fisher(self):
        """The dense D x D estimate F_t (for inspection and tests; O(D^2) memory)."""
        if self._dim is None:
            raise RuntimeError("fisher: no minibatch seen yet")
        if self._W is None:
            raise RuntimeError("fisher: rows of dimension 1 keep no estimate")
        R = self._W / np.sqrt(self._e(self._d, self._rho))[:, None]
        return (R.T * self._d) @ R + self._rho * np.eye(self._dim)

    def precondition(self, M):
        """M (N x D rows) times the smoothed inverse Fisher, rescaled to M's
        Frobenius norm: a new array (M is not changed); updates the estimate.

        Rows that are not all finite leave the estimate as it was (their
        output is not finite either, for the caller to notice)."""
        if not isinstance(M, np.ndarray) or M.ndim != 2 or M.dtype != np.float64 \
                or M.shape[0] < 1 or M.shape[1] < 1:
            raise ValueError(f"M: expected a float64 array of shape (N >= 1, D >= 1), got "
                             f"{getattr(M, 'dtype', type(M).__name__)} of shape {np.shape(M)}")
        if self._dim is not None and M.shape[1] != self._dim:
            raise ValueError(f"M: expected {self._dim} columns (the dimension of the rows "
                             f"seen before), got {M.shape[1]}")
        finite = bool(np.all(np.isfinite(M)))
        if self._dim is None:
            if not finite:
                return M.copy()
            self._start(M)
        if self._W is None:  # dimension 1
            self._t += finite
            return M.copy()
        updating = finite and (self._t < NUM_INITIAL_UPDATES or self._t % self.update_period == 0)
        X_hat = self._apply(M, updating)
        self._t += finite
        return X_hat

    def _start(self, X):
        """Random orthonormal basis, d = rho = epsilon, then NUM_INIT_ITERS updates on X."""
        D = X.shape[1]
        self._dim = D
        R = min(self.rank, D - 1)
        if R == 0:
            return
        q, r = np.linalg.qr(np.random.default_rng(self.seed).standard_normal((D, R)))
        basis = (q * np.where(np.diag(r) < 0, -1.0, 1.0)).T
        self._rho = self.epsilon
        self._d = np.full(R, self.epsilon)
        self._W = basis * np.sqrt(self._e(self._d, self._rho))[:, None]
        for _ in range(NUM_INIT_ITERS):
            self._apply(X, True)

    def _beta(self, d, rho):
        return rho * (1.0 + self.alpha) + self.alpha * float(np.sum(d)) / self._dim

    def _e(self, d, rho):
        return 1.0 / (self._beta(d, rho) / d + 1.0)

    def _apply(self, X, updating):
        """gamma X_hat; when updating, also W, d, rho <- the estimate with X in it."""
        W, d, rho = self._W, self._d, self._rho
        N, D = X.shape
        R = W.shape[0]
        H = gemm(X, W, trans_b=True)                       # N x R
        X_hat = X - gemm(H, W)
        tr_XX = float(np.vdot(X, X))
        tr_hat = float(np.vdot(X_hat, X_hat))
        X_hat *= 1.0 if tr_hat == 0.0 else math.sqrt(tr_XX / tr_hat)
        if not updating:
            return X_hat

        eta = min(1.0 - math.exp(-N / self.num_samples_history), MAX_ETA)
        eta_n = eta / N
        J = gemm(H, X, trans_a=True)                       # R x D: W X^T X
        K = gemm(J, J, trans_b=True)                       # R x R: J J^T
        L = gemm(H, H, trans_a=True)                       # R x R: W X^T X W^T
        K, L = 0.5 * (K + K.T), 0.5 * (L + L.T)
        inv_sqrt_e = 1.0 / np.sqrt(self._e(d, rho))
        d_rho = d + rho
        # Z_t = Y_t Y_t^T with Y_t = R_t T_t = E^{-1/2} (eta/N J + (1-eta)(D_t + rho I) W_t)
        L_scaled = L * np.outer(inv_sqrt_e, inv_sqrt_e)
        Z = (eta_n ** 2) * K * np.outer(inv_sqrt_e, inv_sqrt_e) \
            + eta_n * (1.0 - eta) * (L_scaled * d_rho[None, :] + d_rho[:, None] * L_scaled)
        Z[np.diag_indices(R)] += ((1.0 - eta) * d_rho) ** 2
        c, U = np.linalg.eigh(0.5 * (Z + Z.T))
        c, U = c[::-1], U[:, ::-1]                        # largest first
        # no eigenvalue of Z_t is below ((1-eta) rho)^2 but by round-off
        floored = c < ((1.0 - eta) * rho) ** 2
        c = np.maximum(c, ((1.0 - eta) * rho) ** 2)
        sqrt_c = np.sqrt(c)
        # rho_{t+1} keeps tr(F_{t+1}) = tr(T_t); d_{t+1} = sqrt(c) - rho_{t+1}, then the floors
        rho1 = (eta_n * tr_XX + (1.0 - eta) * (D * rho + float(np.sum(d)))
                - float(np.sum(sqrt_c))) / (D - R)
        d1 = sqrt_c - rho1
        rho1 = max(rho1, self.epsilon, self.delta * float(sqrt_c[0]))
        d1 = np.maximum(d1, self.epsilon)
        # W_{t+1} = E_{t+1}^{1/2} R_{t+1}, R_{t+1} = C^{-1/2} U^T Y_t: R x R times R x D
        sqrt_e1 = np.sqrt(self._e(d1, rho1))
        A = (sqrt_e1 / sqrt_c)[:, None] * U.T * inv_sqrt_e[None, :]
        B = eta_n * J + (1.0 - eta) * d_rho[:, None] * W
        W1 = gemm(A, B)
        if floored.any() or not self._orthonormal(W1, sqrt_e1):
            W1 = self._orthonormalize(W1, sqrt_e1)
        self._W, self._d, self._rho = W1, d1, rho1
        return X_hat

    @staticmethod
    def _orthonormal(W, sqrt_e):
        R = W / sqrt_e[:, None]
        O = gemm(R, R, trans_b=True)
        return float(np.max(np.abs(O - np.eye(len(O))))) <= ORTHONORMAL_TOLERANCE

    @staticmethod
    def _orthonormalize(W, sqrt_e):
        """W with its R rows made orthonormal again (Gram-Schmidt order: the
        leading eigenvector keeps its direction), by a QR of R^T."""
        q, r = np.linalg.qr((W / sqrt_e[:, None]).T)
        signs = np.where(np.diag(r) < 0, -1.0, 1.0)
        return (q * signs).T * sqrt_e[:, None]


RESCALES = ("factors", "layer")


class DensePreconditioner:
    """The two preconditioners of one dense layer z = x W + b: one for the
    input rows (with a column of ones appended when the layer has a bias, so
    the bias is the weight of a constant input, as in Kaldi), one for the
    output-derivative rows grad_z.  The gradient [dW; db] is x~^T g~, each
    factor its preconditioned rows; backprop to earlier layers keeps the true
    grad_z (Dense.backward does that).

    rescale: 'factors' (the default) is Kaldi's: each factor keeps the
    Frobenius norm of its rows, so ||x~|| ||g~|| = ||x|| ||grad_z||, and the
    gradient has the plain one's norm exactly for one-row minibatches;
    'layer' then also scales [dW; db] to the Frobenius norm of the plain
    gradient [x 1]^T grad_z for every minibatch (SGD's step length in NG-SGD's
    direction; on the ill-conditioned regression of tests/test_ngsgd.py it
    needs 646 steps to the target where 'factors' needs 379)."""

    def __init__(self, rank_in=30, rank_out=60, alpha=4.0, update_period=4,
                 num_samples_history=2000.0, epsilon=1e-10, delta=5e-4, rescale="factors", seed=0):
        if rescale not in RESCALES:
            raise ValueError(f"rescale: must be one of {', '.join(RESCALES)}, got {rescale!r}")
        self.rescale = rescale
        seed = _check_seed(seed)
        base = seed if isinstance(seed, tuple) else (seed,)
        options = dict(alpha=alpha, update_period=update_period,
                       num_samples_history=num_samples_history, epsilon=epsilon, delta=delta)
        self.input = OnlineNaturalGradient(_check_int("rank_in", rank_in, 1),
                                           seed=base + (0,), **options)
        self.output = OnlineNaturalGradient(_check_int("rank_out", rank_out, 1),
                                            seed=base + (1,), **options)

    def weight_gradient(self, x, grad_z, grad_W, grad_b=None):
        """Write the preconditioned dL/dW (and dL/db) for inputs x (N x n_in)
        and output derivatives grad_z (N x n_out); x and grad_z are not changed."""
        if grad_b is not None:
            x = np.hstack([x, np.ones((x.shape[0], 1))])
        grad = gemm(self.input.precondition(x), self.output.precondition(grad_z), trans_a=True)
        if self.rescale == "layer":
            norm = float(np.linalg.norm(grad))
            if norm > 0.0:
                grad *= float(np.linalg.norm(gemm(x, grad_z, trans_a=True))) / norm
        if grad_b is None:
            grad_W[...] = grad
        else:
            grad_W[...] = grad[:-1]
            grad_b[...] = grad[-1]

    def state(self):
        """Both estimates, keys 'in.<name>' and 'out.<name>' (see OnlineNaturalGradient.state)."""
        state = {f"in.{k}": v for k, v in self.input.state().items()}
        state.update({f"out.{k}": v for k, v in self.output.state().items()})
        return state

    def load(self, state, prefix=""):
        """Restore what state() returned; errors name the keys as prefix + key."""
        for side, pc in (("in.", self.input), ("out.", self.output)):
            pc.load({k[len(side):]: v for k, v in state.items() if k.startswith(side)},
                    prefix + side)


def apply_max_change(step, max_change):
    """Kaldi's max-change: scale `step` in place so that its 2-norm is at most
    max_change (None: no cap); returns the factor applied (1.0 when none)."""
    if max_change is None:
        return 1.0
    norm = float(np.linalg.norm(step))
    if norm <= max_change:
        return 1.0
    factor = max_change / norm
    step *= factor
    return factor


def _dense_layers(model):
    """How many preconditioners a model takes: an MLP's Dense layers, or what
    the model says (ResNet.n_dense_layers); None for another model."""
    count = getattr(model, "n_dense_layers", None)
    if isinstance(count, int) and count > 0:
        return count
    layers = getattr(model, "layers", None)
    if isinstance(layers, list) and layers and all(isinstance(layer, Dense) for layer in layers):
        return len(layers)
    return None


class NaturalGradientSGD:
    """SGD on the natural gradient: theta -= lr * grad, where grad was computed
    with `preconditioners` (one DensePreconditioner per dense layer of the
    MLP), optionally capped to 2-norm max_change per step.

    Options are Kaldi's: rank_in 30 and rank_out 60 (each capped below its
    dimension), alpha 4, a new Fisher estimate every update_period = 4
    minibatches, num_samples_history 2000; rescale as in DensePreconditioner;
    seed draws the starting bases (layer i's from (seed, i))."""

    def __init__(self, model, learning_rate, rank_in=30, rank_out=60, alpha=4.0, update_period=4,
                 num_samples_history=2000.0, rescale="factors", max_change=None, seed=0):
        count = _dense_layers(model)
        if count is None:
            raise ValueError(f"model: NaturalGradientSGD needs a network of Dense layers that "
                             f"takes preconditioners (an MLP or a ResNet), "
                             f"got {type(model).__name__}")
        self.learning_rate = _check_positive("learning_rate", learning_rate)
        self.max_change = None if max_change is None else _check_positive("max_change", max_change)
        seed = _check_seed(seed)
        base = seed if isinstance(seed, tuple) else (seed,)
        self.preconditioners = [
            DensePreconditioner(rank_in, rank_out, alpha, update_period, num_samples_history,
                                rescale=rescale, seed=base + (i,))
            for i in range(count)]

    def state(self):
        """Every preconditioner's estimate, keys 'layer<i>.in.<name>' / 'layer<i>.out.<name>'."""
        state = {}
        for i, pc in enumerate(self.preconditioners):
            state.update({f"layer{i}.{k}": v for k, v in pc.state().items()})
        return state

    def load(self, state):
        """Restore what state() returned, for this network's layers and options."""
        prefixes = {f"layer{i}" for i in range(len(self.preconditioners))}
        unknown = [k for k in state if k.split(".", 1)[0] not in prefixes]
        if unknown:
            raise ValueError(f"state: keys not of this network's {len(self.preconditioners)} "
                             f"layers: {', '.join(sorted(unknown))}")
        for i, pc in enumerate(self.preconditioners):
            prefix = f"layer{i}."
            pc.load({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}, prefix)

    def update(self, theta, loss, grad, objective):
        """One step on the preconditioned gradient; `loss` and `objective` are
        not needed.  Returns 0 (no extra objective evaluations)."""
        step = self.learning_rate * grad
        apply_max_change(step, self.max_change)
        theta -= step
        return 0
