"""The two ends of a ResNet: affine maps z = A(x; W, b).

The opening maps the data to the first state (then its activation), the
classifier maps the last state to the logits.  An end map says the shapes
of its W and b (param_shapes), how W starts (init), the map (forward), and
its vector-Jacobian products: with respect to W and b (weight_grad) and to
its input (input_grad).  DenseMap, x W + b, is both ends of the dense
network; pyxbraid.nn.conv has a convolution (the opening of an image
network) and an average pooling before a dense map (its `pool` classifier).
"""
from pyxbraid.nn.gemm import gemm
from pyxbraid.nn.init import glorot_uniform


class EndMap:
    """The protocol (subclass it): n_in inputs -> n_out outputs per row."""

    natural_gradient = False
    """Whether a natural-gradient preconditioner of (x, dz) serves its W and
    b (pyxbraid.train.ngsgd): true of x W + b only."""

    def __init__(self, n_in, n_out):
        self.n_in, self.n_out = int(n_in), int(n_out)

    def param_shapes(self):
        """(shape of W, shape of b)."""
        raise NotImplementedError

    def init(self, rng, W):
        """Draw W (zero on entry, written in place) from the numpy Generator rng."""
        raise NotImplementedError

    def forward(self, x, W, b):
        """A(x; W, b) for rows x (batch, n_in): a new (batch, n_out) array."""
        raise NotImplementedError

    def weight_grad(self, x, grad_z, grad_W, grad_b):
        """Add (dz/dW)^T grad_z and (dz/db)^T grad_z into the views grad_W, grad_b."""
        raise NotImplementedError

    def input_grad(self, grad_z, W):
        """(dz/dx)^T grad_z, a new (batch, n_in) array."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({self.n_in}, {self.n_out})"


class DenseMap(EndMap):
    """x W + b: W (n_in, n_out) Glorot uniform, b (n_out,)."""

    natural_gradient = True

    def param_shapes(self):
        return (self.n_in, self.n_out), (self.n_out,)

    def init(self, rng, W):
        W[...] = glorot_uniform(rng, W.shape)

    def forward(self, x, W, b):
        z = gemm(x, W)
        z += b
        return z

    def weight_grad(self, x, grad_z, grad_W, grad_b):
        grad_W += gemm(x, grad_z, trans_a=True)
        grad_b += grad_z.sum(axis=0)

    def input_grad(self, grad_z, W):
        return gemm(grad_z, W, trans_b=True)
