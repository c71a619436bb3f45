"""Residual layers: the F of a ResNet's steps Y_{k+1} = Y_k + h F(Y_k, theta_k).

A ResidualLayer says what one layer computes (forward), its vector-Jacobian
products with respect to its input (vjp) and its parameters (param_grad),
the shapes of its parameters and how they start (param_shapes, init).  A
pyxbraid.nn.ResNet steps, back-propagates and trains any of them, serially
and layer-parallel (pyxbraid.train.layer_parallel), through these methods
alone.  The batched methods (a stack of states, each with its own layer, as
a parallel-in-time sweep steps them) loop over the stack by default; a layer
overrides them when it can do better, as DenseResidual and ConvResidual
(pyxbraid.nn.conv) do; ActivatedResidual holds what the layers F = act(Z),
Z affine in Y, share.

States are float64 (batch, width) arrays; a layer whose state is an image
sees it as (batch, height, width, channels) by reshaping Y (a view): the
channels-last layout of pyxbraid.nn.conv.  A layer's parameters theta_k are
a namedtuple of arrays named by param_shapes (views into the network's flat
vector: read them, never write them); the network holds them stacked over
the layers, (n_layers, *shape).
"""
import collections
import math

import numpy as np

from pyxbraid.nn.activations import get_activation
from pyxbraid.nn.gemm import gemm, gemm_batch
from pyxbraid.nn.registry import name_of

BatchWeights = collections.namedtuple("BatchWeights", "K_t b_rep repeat")
BatchWeights.__doc__ = """A dense layer's weights as its batched methods use
them (ResNet.batch_weights): K_t the transposed K, contiguous
(n_layers, width, width), for products without a transposed operand (BLAS
runs them faster); b_rep each layer's bias repeated `repeat` times,
(n_layers, repeat * width), added to a stack of states seen as rows of
repeat states.  Copies: made again when theta changes."""


class ResidualLayer:
    """The protocol (subclass it).  A layer gives param_shapes, init,
    forward, vjp and param_grad; the batched methods are optional."""

    natural_gradient = False
    """Whether param_grad takes a natural-gradient preconditioner
    (pyxbraid.train.ngsgd): then NaturalGradientSGD can train the network."""

    def param_shapes(self, width):
        """{name: shape} of one layer's parameter arrays, for states of
        `width` features (the names are the fields of theta_k)."""
        raise NotImplementedError

    def init(self, rng, params, scale):
        """Draw every layer's starting parameters from the numpy Generator
        rng: params holds the arrays of param_shapes stacked over the layers,
        (n_layers, *shape), zero on entry, written in place.  scale: the
        ResNet.init_params scale of the residual weights."""
        raise NotImplementedError

    def forward(self, theta_k, Y):
        """F(Y, theta_k), a new (batch, width) array (the caller scales it in place)."""
        raise NotImplementedError

    def vjp(self, theta_k, Y, P, h):
        """h (dF/dY)^T P at the state Y, a new array (P and Y unchanged)."""
        raise NotImplementedError

    def param_grad(self, theta_k, Y, P, h, grad_k):
        """Add h (dF/dtheta_k)^T P at the state Y into grad_k (theta_k's
        namedtuple type, of views into the gradient: add with
        grad_k.name[...] += ...)."""
        raise NotImplementedError

    # the batched forms: thetas the layers' parameters for a stack of n
    # states (each field (n, *shape)), Ys and P (n, batch, width) stacks.
    # weights: what batch_weights made for this evaluation, or None; rows
    # select the stack's layers from it (a slice or indices).

    def batch_weights(self, params, batch):
        """Whatever the batched methods use over one evaluation (params
        stacked over all layers, states of `batch` rows), or None."""
        return None

    def check_batch_weights(self, weights, params, batch):
        """Raise ValueError unless weights is batch_weights(params, batch)'s kind."""

    def forward_batch(self, thetas, Ys, weights=None, rows=None):
        """forward of each state of the stack, a new stack."""
        return np.stack([self.forward(_row(thetas, i), Y) for i, Y in enumerate(Ys)])

    def linearize_batch(self, thetas, Ys, weights=None, rows=None):
        """What vjp_batch and param_grad_batch need of the forward states, a
        new stack (leading dimension n), when it is worth keeping over
        several adjoint steps at fixed states; None (the default): they
        are given the states."""
        return None

    def check_linearization(self, linearization, P):
        """Raise ValueError unless linearization is linearize_batch's for adjoints P."""

    def vjp_batch(self, thetas, Ys, P, h, weights=None, rows=None, linearization=None):
        """vjp of each row of the stack, a new stack; from linearization
        (linearize_batch's, then Ys may be None) when given."""
        return np.stack([self.vjp(_row(thetas, i), Ys[i], P[i], h) for i in range(len(P))])

    def param_grad_batch(self, thetas, Ys, P, h, weights=None, rows=None, linearization=None):
        """The rows' h (dF/dtheta_k)^T P, stacked as thetas (a tuple of new arrays)."""
        grads = type(thetas)(*(np.zeros_like(a) for a in thetas))
        for i in range(len(P)):
            self.param_grad(_row(thetas, i), Ys[i], P[i], h, _row(grads, i))
        return tuple(grads)

    def __repr__(self):
        return f"{type(self).__name__}()"


def _row(stacked, i):
    """Row i of each field of a namedtuple of stacks (views)."""
    return type(stacked)(*(a[i] for a in stacked))


class ActivatedResidual(ResidualLayer):
    """F(Y, theta_k) = act(Z), Z an affine map of Y (a subclass's _z, and
    _z_batch for a stack): what such layers share, the activation and its
    derivative (linearize_batch keeps act'(Z), a stack of the states'
    shape)."""

    def __init__(self, activation="smooth_relu"):
        self.activation = get_activation(activation)

    def forward(self, theta_k, Y):
        return self.activation.forward(self._z(theta_k, Y))

    def forward_batch(self, thetas, Ys, weights=None, rows=None):
        return self.activation.forward(self._z_batch(thetas, Ys, weights, rows))

    def linearize_batch(self, thetas, Ys, weights=None, rows=None):
        """act'(Z) for each row."""
        z = self._z_batch(thetas, Ys, weights, rows)
        # backward is linear in its last argument: its value at 1 is act'(z)
        # (new, as every activation's backward makes it for an array of ones)
        return self.activation.backward(z, self.activation.forward(z), np.ones_like(z))

    def check_linearization(self, linearization, P):
        check_float64("derivatives", linearization, P.shape)

    def _z(self, theta_k, Y):
        """Z for one layer, a new (batch, width) array."""
        raise NotImplementedError

    def _z_batch(self, thetas, Ys, weights, rows):
        """Z for each row of a stack, a new stack."""
        raise NotImplementedError

    def _sensitivity(self, z, P, h):
        """h act'(z) * P, written into z."""
        grad_z = self.activation.backward(z, self.activation.forward(z), P)
        # into z (no longer needed), never in place: Identity.backward returns P itself
        return np.multiply(grad_z, h, out=z)

    def _sensitivity_batch(self, thetas, Ys, P, h, weights, rows, linearization):
        """h act'(Z) * P for a stack, a new array: from the derivatives when
        given (backward's operations for the activations whose backward
        multiplies grad_a by the derivative: all here but sigmoid, which
        multiplies by a first and may round differently), else as
        _sensitivity."""
        if linearization is None:
            return self._sensitivity(self._z_batch(thetas, Ys, weights, rows), P, h)
        s = np.multiply(P, linearization)
        s *= h
        return s


class DenseResidual(ActivatedResidual):
    """F(Y, (K, b)) = act(Y K^T + b), K (width, width), b (width,): the layer
    of Guenther et al. 2018.  Its batched methods run one gemm_batch per
    product over the stack's weights (views when the layers are evenly
    spaced, as in every batch of a sweep); row i gets the per-layer
    method's operations (the stacked products may round differently in the
    last bits)."""

    natural_gradient = True

    def __repr__(self):
        return f"DenseResidual(activation={name_of(self.activation)!r})"

    def param_shapes(self, width):
        return {"K": (width, width), "b": (width,)}

    def init(self, rng, params, scale):
        """K_k ~ N(0, scale^2 / width), b_k = 0: then ||K_k||_2 ~ 2 scale, each
        step's Jacobian has norm <= 1 + 2 scale h max|act'|, and the states
        grow at most like exp(2 scale T max|act'|) whatever n_layers is."""
        params.K[...] = rng.normal(0.0, scale / math.sqrt(params.K.shape[-1]), params.K.shape)

    def vjp(self, theta_k, Y, P, h):
        """h (act'(Z) * P) K, Z = Y K^T + b."""
        return gemm(self._sensitivity(self._z(theta_k, Y), P, h), theta_k.K)

    def param_grad(self, theta_k, Y, P, h, grad_k, preconditioner=None):
        """dK = h (act'(Z) * P)^T Y and db = its batch sum; natural with a
        preconditioner of this layer's inputs Y and output derivatives."""
        s = self._sensitivity(self._z(theta_k, Y), P, h)
        if preconditioner is not None:  # z = Y K^T: K's gradient is the transpose
            add_preconditioned(preconditioner, Y, s, grad_k.K.T, grad_k.b)
            return
        grad_k.K[...] += gemm(s, Y, trans_a=True)
        grad_k.b[...] += s.sum(axis=0)

    # batched

    def batch_weights(self, params, batch):
        """BatchWeights: K transposed and the biases
        repeated to rows of >= 64 values."""
        # the fewest repeats that make rows of >= 64 values (a divisor of batch)
        width = params.K.shape[-1]
        repeat = next((r for r in range(1, int(batch) + 1)
                       if batch % r == 0 and r * width >= 64), int(batch))
        return BatchWeights(np.ascontiguousarray(params.K.transpose(0, 2, 1)),
                            np.tile(params.b, repeat), repeat)

    def check_batch_weights(self, weights, params, batch):
        n, w = params.K.shape[:2]
        if (not isinstance(weights, BatchWeights)
                or np.shape(weights.K_t) != (n, w, w)
                or np.shape(weights.b_rep) != (n, weights.repeat * w)
                or batch % weights.repeat):
            raise ValueError(f"weights: expected this network's batch_weights(theta, batch) "
                             f"for states of {batch} rows")

    def vjp_batch(self, thetas, Ys, P, h, weights=None, rows=None, linearization=None):
        return gemm_batch(self._sensitivity_batch(thetas, Ys, P, h, weights, rows, linearization),
                          thetas.K)

    def param_grad_batch(self, thetas, Ys, P, h, weights=None, rows=None, linearization=None):
        s = self._sensitivity_batch(thetas, Ys, P, h, weights, rows, linearization)
        return gemm_batch(s, Ys, trans_a=True), s.sum(axis=1)

    # helpers

    def _z(self, theta_k, Y):
        z = gemm(Y, theta_k.K, trans_b=True)
        z += theta_k.b
        return z

    def _z_batch(self, thetas, Ys, weights, rows):
        """Y[i] K_i^T + b_i for each row, a new stack."""
        if weights is None:
            z = gemm_batch(Ys, thetas.K, trans_b=True)
            z += thetas.b[:, np.newaxis, :]
            return z
        z = gemm_batch(Ys, weights.K_t[rows])
        n, batch, width = z.shape
        # the same sums, on rows of `repeat` states: numpy adds a bias to
        # many short rows much more slowly
        z.reshape(n, batch // weights.repeat, weights.repeat * width)[...] += \
            weights.b_rep[rows][:, np.newaxis, :]
        return z


def check_float64(name, array, shape):
    """array, when a float64 numpy array of exactly `shape`; else ValueError."""
    if (not isinstance(array, np.ndarray) or array.dtype != np.float64
            or array.shape != tuple(shape)):
        raise ValueError(f"{name}: expected a float64 array of shape {tuple(shape)}, got "
                         f"{getattr(array, 'dtype', type(array).__name__)} "
                         f"of shape {np.shape(array)}")
    return array


def add_preconditioned(preconditioner, inputs, grad_z, grad_W, grad_b):
    """Add the natural gradient of an affine map (inputs @ W + b; grad_z the
    derivatives of its outputs) into the views grad_W and grad_b."""
    W, b = np.empty(grad_W.shape), np.empty(grad_b.shape)
    preconditioner.weight_gradient(inputs, grad_z, W, b)
    grad_W += W
    grad_b += b
