"""Optimizers for the layer-parallel training (and its serial reference):
SGD with momentum, Adam, and L-BFGS with a backtracking line search (the
choice of Günther et al. 2018).  They update the flat parameter vector in
place; every rank holds the same parameters and gradient, so every rank
takes the same step."""
import math
from collections import deque

import numpy as np

from pyxbraid.checks import positive_int, positive_real


class SGD:
    """theta -= lr * v, v = momentum * v + grad."""

    VECTORS = ("velocity",)  # the state's arrays of the parameters' size

    def __init__(self, learning_rate, momentum=0.0):
        self.learning_rate = positive_real("learning_rate", learning_rate)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum: must be in [0, 1), got {momentum!r}")
        self.momentum = float(momentum)
        self._velocity = None

    def state(self):
        """The optimizer's memory as arrays (for a checkpoint)."""
        return {} if self._velocity is None else {"velocity": self._velocity}

    def load(self, state):
        self._velocity = state.get("velocity")

    def update(self, theta, loss, grad, objective):
        """One step; `objective` is not needed (a line search would use it)."""
        if self._velocity is None:
            self._velocity = np.zeros_like(theta)
        self._velocity *= self.momentum
        self._velocity += grad
        theta -= self.learning_rate * self._velocity
        return 0


class Adam:
    """Kingma and Ba's Adam with bias correction."""

    VECTORS = ("m", "v")

    def __init__(self, learning_rate, beta1=0.9, beta2=0.999, eps=1e-8):
        self.learning_rate = positive_real("learning_rate", learning_rate)
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"{name}: must be in [0, 1), got {beta!r}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), positive_real("eps", eps)
        self._m = self._v = None
        self._t = 0

    def state(self):
        if self._m is None:
            return {}
        return {"m": self._m, "v": self._v, "t": np.array(self._t)}

    def load(self, state):
        if state:
            self._m, self._v, self._t = state["m"], state["v"], int(state["t"])

    def update(self, theta, loss, grad, objective):
        if self._m is None:
            self._m, self._v = np.zeros_like(theta), np.zeros_like(theta)
        self._t += 1
        self._m = self.beta1 * self._m + (1.0 - self.beta1) * grad
        self._v = self.beta2 * self._v + (1.0 - self.beta2) * grad * grad
        m_hat = self._m / (1.0 - self.beta1 ** self._t)
        v_hat = self._v / (1.0 - self.beta2 ** self._t)
        theta -= self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)
        return 0


class LBFGS:
    """Limited-memory BFGS (two-loop recursion, `history` pairs) with a
    backtracking line search for the Armijo condition.  A direction that
    does not descend (an inexact gradient can cause it) resets the history."""

    VECTORS = ("s", "y", "previous_theta", "previous_grad")   # s, y: one per pair

    def __init__(self, learning_rate=1.0, history=10, c1=1e-4, shrink=0.5, max_trials=20,
                 inner=None):
        """inner(a, b): the inner product of two parameter vectors (default
        a @ b; a rank holding only its part of the parameters gives one that
        sums over the ranks: LayerParallel.inner)."""
        self.learning_rate = positive_real("learning_rate", learning_rate)
        self.inner = _dot if inner is None else inner
        if not 0.0 < shrink < 1.0:
            raise ValueError(f"shrink: must be in (0, 1), got {shrink!r}")
        self.c1, self.shrink, self.max_trials = float(c1), float(shrink), int(max_trials)
        self._pairs = deque(maxlen=positive_int("history", history))
        self._previous = None  # (theta, grad) of the last accepted point

    def state(self):
        state = {}
        if self._pairs:
            state.update(s=np.array([p[0] for p in self._pairs]),
                         y=np.array([p[1] for p in self._pairs]),
                         rho=np.array([p[2] for p in self._pairs]))
        if self._previous is not None:
            state.update(previous_theta=self._previous[0], previous_grad=self._previous[1])
        return state

    def load(self, state):
        self._pairs.clear()
        for s, y, rho in zip(state.get("s", ()), state.get("y", ()), state.get("rho", ())):
            self._pairs.append((s, y, float(rho)))
        if "previous_theta" in state:
            self._previous = (state["previous_theta"], state["previous_grad"])

    def _direction(self, grad):
        q = grad.copy()
        alphas = []
        for s, y, rho in reversed(self._pairs):
            alpha = rho * self.inner(s, q)
            q -= alpha * y
            alphas.append(alpha)
        if self._pairs:
            s, y, _ = self._pairs[-1]
            q *= self.inner(s, y) / self.inner(y, y)
        for (s, y, rho), alpha in zip(self._pairs, reversed(alphas)):
            beta = rho * self.inner(y, q)
            q += (alpha - beta) * s
        return -q

    def update(self, theta, loss, grad, objective):
        """Line search along the quasi-Newton direction; returns the number of
        objective evaluations."""
        if self._previous is not None:
            s, y = theta - self._previous[0], grad - self._previous[1]
            sy = self.inner(s, y)
            # positive curvature only, and not so small that 1/sy overflows
            if sy > 1e-12 * (self._norm(s) * self._norm(y)) and \
                    math.isfinite(1.0 / sy):
                self._pairs.append((s, y, 1.0 / sy))
        direction = self._direction(grad)
        slope = self.inner(grad, direction)
        if not slope < 0.0:
            self._pairs.clear()
            direction, slope = -grad, -self.inner(grad, grad)
        start = theta.copy()
        step = self.learning_rate if self._pairs else min(
            self.learning_rate, 1.0 / max(self._norm(grad), 1e-12))
        evaluations = 0
        for _ in range(self.max_trials):
            theta[...] = start + step * direction
            trial_loss, _ = objective(theta, need_grad=False)
            evaluations += 1
            if trial_loss <= loss + self.c1 * step * slope:
                break
            step *= self.shrink
        else:
            theta[...] = start  # no decrease found: stay, forget the curvature
            self._pairs.clear()
        self._previous = (start, grad.copy())
        return evaluations


    def _norm(self, v):
        return math.sqrt(self.inner(v, v))


def _dot(a, b):
    return float(a @ b)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "lbfgs": LBFGS}


def make_optimizer(kind, **settings):
    if kind not in OPTIMIZERS:
        raise ValueError(f"optimizer: must be one of {', '.join(OPTIMIZERS)}, got {kind!r}")
    return OPTIMIZERS[kind](**settings)
