"""Elementwise activations: forward(z) -> a, backward(z, a, grad_a) -> grad_z.

backward gets both the cached pre-activation z and the activation a, so each
derivative uses whichever is cheaper (sigmoid and tanh need only a).
"""
import numpy as np

from pyxbraid.nn.registry import from_registry


class Identity:
    """a = z; the output layer of regression and of softmax cross-entropy."""
    name = "identity"

    def forward(self, z):
        return z

    def backward(self, z, a, grad_a):
        return grad_a


class Sigmoid:
    """a = 1 / (1 + exp(-z)), as in Trask's XOR network."""
    name = "sigmoid"

    def forward(self, z):
        e = np.exp(-np.abs(z))  # in (0, 1]: no overflow for large |z|
        return np.where(z >= 0, 1.0, e) / (1.0 + e)

    def backward(self, z, a, grad_a):
        return grad_a * a * (1.0 - a)


class Tanh:
    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    def backward(self, z, a, grad_a):
        return grad_a * (1.0 - a * a)


class ReLU:
    """a = max(z, 0); the derivative at the kink z = 0 is taken as 0."""
    name = "relu"

    def forward(self, z):
        return np.maximum(z, 0.0)

    def backward(self, z, a, grad_a):
        return grad_a * (z > 0.0)


class SmoothReLU:
    """ReLU with the kink replaced by a parabola on [-eta, eta]: C1, so the
    time-stepping view of a network (ODE right-hand side) stays differentiable."""
    name = "smooth_relu"

    def __init__(self, eta=0.1):
        if not eta > 0:
            raise ValueError(f"SmoothReLU: eta must be > 0, got {eta!r}")
        self.eta = float(eta)

    def forward(self, z):
        eta = self.eta
        clipped = np.clip(z, -eta, eta)
        return (clipped + eta) ** 2 / (4.0 * eta) + np.maximum(z - eta, 0.0)

    def backward(self, z, a, grad_a):
        eta = self.eta
        return grad_a * ((np.clip(z, -eta, eta) + eta) / (2.0 * eta))


ACTIVATIONS = {cls.name: cls for cls in (Identity, Sigmoid, Tanh, ReLU, SmoothReLU)}


def get_activation(name_or_instance):
    """An activation from its name (with default parameters), or the instance itself."""
    return from_registry(ACTIVATIONS, "activation", name_or_instance)
