"""A fully connected layer that owns no weights.

The parameters are views into one flat vector owned by the network (the MGRIT
state of a training step), so the layer only caches what backward needs.
"""
from pyxbraid.nn.activations import get_activation
from pyxbraid.nn.gemm import gemm


class Dense:
    """a = act(x @ W + b), W of shape (n_in, n_out) like Trask's syn0/syn1."""

    def __init__(self, n_in, n_out, bias=True, activation="identity"):
        self.n_in, self.n_out, self.bias = n_in, n_out, bool(bias)
        self.activation = get_activation(activation)
        self.n_params = n_in * n_out + (n_out if self.bias else 0)
        self.x = self.W = self.z = self.a = None

    def forward(self, x, W, b=None, *, cache=True):
        """act(x @ W + b); cache=False leaves the cache of an earlier forward alone."""
        self._check_params(W, b, "W", "b")
        z = gemm(x, W)
        if self.bias:
            z += b
        a = self.activation.forward(z)
        if cache:
            self.x, self.W, self.z, self.a = x, W, z, a
        return a

    def backward(self, grad_a, grad_W, grad_b=None, *, want_grad_x=True, preconditioner=None):
        """Write dL/dW and dL/db into grad_W and grad_b; return dL/dx, or None
        when not wanted (the first layer's input is data).  A preconditioner
        (pyxbraid.train.ngsgd.DensePreconditioner) writes its own gradient
        from x and dL/dz instead; dL/dx stays the true one."""
        if self.z is None:
            raise RuntimeError("Dense.backward called before forward")
        self._check_params(grad_W, grad_b, "grad_W", "grad_b")
        grad_z = self.activation.backward(self.z, self.a, grad_a)
        if preconditioner is not None:
            preconditioner.weight_gradient(self.x, grad_z, grad_W, grad_b)
        else:
            gemm(self.x, grad_z, trans_a=True, out=grad_W)
            if self.bias:
                grad_z.sum(axis=0, out=grad_b)
        return gemm(grad_z, self.W, trans_b=True) if want_grad_x else None

    def _check_params(self, W, b, w_name, b_name):
        if W.shape != (self.n_in, self.n_out):
            raise ValueError(f"{w_name}: expected shape {(self.n_in, self.n_out)}, got {W.shape}")
        if self.bias and (b is None or b.shape != (self.n_out,)):
            raise ValueError(f"{b_name}: expected shape {(self.n_out,)}, got "
                             f"{None if b is None else b.shape}")
        if not self.bias and b is not None:
            raise ValueError(f"{b_name}: layer has no bias, got an array")
