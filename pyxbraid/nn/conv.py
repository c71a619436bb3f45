"""Convolutional residual networks: images as states, channels last.

A sample's state is its (H, W, C) image flattened, so a state is a row of
width H*W*C and a stack of them (batch, H*W*C) is (batch*H*W, C) as well:
a 2-D convolution (same padding, stride 1, odd kernel k) is im2col (each
pixel's k*k*C neighbourhood, zero outside the image, one row per pixel)
and one product with the (k*k*C, C_out) matrix that the kernel
(k, k, C, C_out) is in memory, giving the (batch*H*W, C_out) next state
with no transposes.  Its input vector-Jacobian product is the convolution
with the flipped kernel, its channels swapped; its kernel gradient cols^T dZ.
Every product goes through pyxbraid.nn.gemm.

ConvResidual is the residual layer, ConvOpening lifts the image's C_in
channels to C, PoolClassifier averages each channel over the pixels before
a dense map to the classes; conv_resnet (also ResNet.conv) builds the network.
"""
import math

import numpy as np

from pyxbraid.checks import is_integer
from pyxbraid.nn.ends import DenseMap, EndMap
from pyxbraid.nn.gemm import gemm_batch
from pyxbraid.nn.init import glorot_limit
from pyxbraid.nn.registry import name_of
from pyxbraid.nn.residual import ActivatedResidual

CLASSIFIERS = ("flatten", "pool")
CHUNK_BYTES = 4 << 20   # the most im2col of a stack made at once (see Geometry._chunks)


class Geometry:
    """An image of H x W pixels under a k x k kernel (same padding)."""

    def __init__(self, image, kernel):
        if (not isinstance(image, (tuple, list)) or len(image) != 2
                or not all(is_integer(d) and d >= 1 for d in image)):
            raise ValueError(f"image: expected (height, width), two ints >= 1, got {image!r}")
        if not is_integer(kernel) or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel: expected an odd int >= 1, got {kernel!r}")
        self.height, self.width = (int(d) for d in image)
        self.kernel = int(kernel)
        self.pixels = self.height * self.width

    def cols(self, Y, channels):
        """im2col of images Y (..., H*W*channels): a new (..., H*W, k*k*channels)
        array, row p the k x k neighbourhood of pixel p (zeros outside),
        ordered (row offset, column offset, channel) as a kernel's first axes."""
        H, W, k = self.height, self.width, self.kernel
        r = k // 2
        lead = Y.shape[:-1]
        padded = np.zeros(lead + (H + 2 * r, W + 2 * r, channels))
        padded[..., r:r + H, r:r + W, :] = Y.reshape(lead + (H, W, channels))
        cols = np.empty(lead + (H, W, k, k, channels))
        for i in range(k):
            for j in range(k):
                cols[..., i, j, :] = padded[..., i:i + H, j:j + W, :]
        return cols.reshape(lead + (self.pixels, k * k * channels))

    def conv(self, Y, K):
        """The convolution of images Y (batch, H*W*C_in) with K (k, k, C_in,
        C_out), no bias: a new (batch*H*W, C_out) array."""
        return self.conv_batch(Y[np.newaxis], K[np.newaxis])[0]

    def conv_batch(self, Ys, Ks):
        """conv of each row of a stack Ys (n, batch, H*W*C_in) with its own
        kernel of Ks (n, k, k, C_in, C_out): a new (n, batch*H*W, C_out) array."""
        n, k, _, c_in, c_out = Ks.shape
        kernels = Ks.reshape(n, k * k * c_in, c_out)
        out = np.empty((n, Ys.shape[1] * self.pixels, c_out))
        for rows, samples, pixels in self._pieces(Ys, c_in):
            gemm_batch(self._piece_cols(Ys, rows, samples, c_in), kernels[rows],
                       out=out[rows, pixels])
        return out

    def kernel_grad(self, Y, grad_z, shape):
        """(dZ/dK)^T grad_z for Z = conv(Y, K): cols(Y)^T grad_z, a new array
        of the kernel's shape (k, k, C_in, C_out); grad_z (batch*H*W, C_out)."""
        return self.kernel_grad_batch(Y[np.newaxis], grad_z[np.newaxis], (1,) + shape)[0]

    def kernel_grad_batch(self, Ys, grad_z, shape):
        """kernel_grad of each row of a stack: Ys (n, batch, H*W*C_in),
        grad_z (n, batch*H*W, C_out), shape (n, k, k, C_in, C_out)."""
        n, k, _, c_in, c_out = shape
        out = np.zeros((n, k * k * c_in, c_out))
        for rows, samples, pixels in self._pieces(Ys, c_in):
            out[rows] += gemm_batch(self._piece_cols(Ys, rows, samples, c_in),
                                    grad_z[rows, pixels], trans_a=True)
        return out.reshape(shape)

    def _pieces(self, Ys, channels):
        """(rows, samples, pixels) slices of a stack (n, batch, ...) whose
        im2col takes at most CHUNK_BYTES (at least one sample each); pixels:
        the samples' rows of a (n, batch*H*W, C) result.  An im2col at once
        is k*k times its images: a large one is slower to allocate (its pages
        faulted in) and to stream through the caches than in pieces."""
        n, batch = Ys.shape[:2]
        sample_bytes = self.pixels * self.kernel ** 2 * channels * 8
        per_piece = max(1, CHUNK_BYTES // sample_bytes)
        if per_piece >= batch:  # whole rows of the stack, several a piece
            step = per_piece // batch
            return [(slice(i, i + step), slice(None), slice(None)) for i in range(0, n, step)]
        return [(slice(i, i + 1), slice(j, j + per_piece),
                 slice(j * self.pixels, (j + per_piece) * self.pixels))
                for i in range(n) for j in range(0, batch, per_piece)]

    def _piece_cols(self, Ys, rows, samples, channels):
        """im2col of a piece: (rows, samples * H*W, k*k*channels)."""
        piece = Ys[rows, samples]
        return self.cols(piece, channels).reshape(len(piece), -1,
                                                   self.kernel ** 2 * channels)

    def __repr__(self):
        return f"image=({self.height}, {self.width}), kernel={self.kernel}"


def flipped(K):
    """The kernels (..., k, k, C_in, C_out) of the input vjps: flipped in both
    offsets, the channels swapped (a new (..., k, k, C_out, C_in) array)."""
    return np.ascontiguousarray(np.swapaxes(K[..., ::-1, ::-1, :, :], -1, -2))


def _check_channels(name, value):
    if not is_integer(value) or value < 1:
        raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
    return int(value)


class ConvResidual(ActivatedResidual):
    """F(Y, (K, b)) = act(conv(Y, K) + b): K (k, k, C, C), b (C,), states
    (batch, H*W*C) images channels last.  Its batched methods make the
    stack's im2col in pieces of at most CHUNK_BYTES, one gemm_batch each;
    row i gets the
    per-layer method's operations (the stacked products may round
    differently in the last bits).  No natural gradient."""

    natural_gradient = False

    def __init__(self, image, channels, kernel=3, activation="smooth_relu"):
        super().__init__(activation)
        self.geometry = Geometry(image, kernel)
        self.channels = _check_channels("channels", channels)

    def __repr__(self):
        g = self.geometry
        return (f"ConvResidual(image=({g.height}, {g.width}), channels={self.channels}, "
                f"kernel={g.kernel}, activation={name_of(self.activation)!r})")

    @property
    def width(self):
        """The states' width, H*W*C."""
        return self.geometry.pixels * self.channels

    def param_shapes(self, width):
        if width != self.width:
            g = self.geometry
            raise ValueError(f"width: {self!r} steps states of width {g.height}*{g.width}*"
                             f"{self.channels} = {self.width}, got {width}")
        k, c = self.geometry.kernel, self.channels
        return {"K": (k, k, c, c), "b": (c,)}

    def init(self, rng, params, scale):
        """K_k ~ N(0, scale^2 / (k*k*C)), b_k = 0: the dense layer's choice
        with each output's k*k*C inputs as its fan-in (its K_k as a
        (k*k*C, C) matrix times a pixel's neighbourhood has the same
        variance as the dense layer's product)."""
        k = self.geometry.kernel
        params.K[...] = rng.normal(0.0, scale / math.sqrt(k * k * self.channels),
                                   params.K.shape)

    def vjp(self, theta_k, Y, P, h):
        """conv(h act'(Z) * P, flipped K), Z = conv(Y, K) + b."""
        s = self._sensitivity(self._z(theta_k, Y), P, h)
        return self.geometry.conv(s, flipped(theta_k.K)).reshape(Y.shape)

    def param_grad(self, theta_k, Y, P, h, grad_k):
        """dK = cols(Y)^T s, db = s summed over the batch and pixels, s = h act'(Z) * P."""
        s = self._sensitivity(self._z(theta_k, Y), P, h).reshape(-1, self.channels)
        grad_k.K[...] += self.geometry.kernel_grad(Y, s, grad_k.K.shape)
        grad_k.b[...] += s.sum(axis=0)

    # batched

    def vjp_batch(self, thetas, Ys, P, h, weights=None, rows=None, linearization=None):
        s = self._sensitivity_batch(thetas, Ys, P, h, weights, rows, linearization)
        return self.geometry.conv_batch(s, flipped(thetas.K)).reshape(P.shape)

    def param_grad_batch(self, thetas, Ys, P, h, weights=None, rows=None, linearization=None):
        s = self._sensitivity_batch(thetas, Ys, P, h, weights, rows, linearization)
        s = s.reshape(len(P), -1, self.channels)
        return self.geometry.kernel_grad_batch(Ys, s, thetas.K.shape), s.sum(axis=1)

    # helpers

    def _z(self, theta_k, Y):
        z = self.geometry.conv(Y, theta_k.K)
        z += theta_k.b
        return z.reshape(Y.shape)

    def _z_batch(self, thetas, Ys, weights, rows):
        z = self.geometry.conv_batch(Ys, thetas.K)
        z += thetas.b[:, np.newaxis, :]
        return z.reshape(Ys.shape)


class ConvOpening(EndMap):
    """conv(x, W) + b for images x (batch, H*W*C_in) channels last, W (k, k,
    C_in, C) Glorot uniform with fans k*k*C_in and k*k*C, b (C,): the
    opening that lifts an image to C channels."""

    def __init__(self, image, in_channels, channels, kernel=3):
        self.geometry = Geometry(image, kernel)
        self.in_channels = _check_channels("in_channels", in_channels)
        self.channels = _check_channels("channels", channels)
        pixels = self.geometry.pixels
        super().__init__(pixels * self.in_channels, pixels * self.channels)

    def __repr__(self):
        return f"ConvOpening({self.geometry}, {self.in_channels} -> {self.channels} channels)"

    def param_shapes(self):
        k = self.geometry.kernel
        return (k, k, self.in_channels, self.channels), (self.channels,)

    def init(self, rng, W):
        kk = self.geometry.kernel ** 2
        limit = glorot_limit((kk * self.in_channels, kk * self.channels))
        W[...] = rng.uniform(-limit, limit, W.shape)

    def forward(self, x, W, b):
        z = self.geometry.conv(x, W)
        z += b
        return z.reshape(len(x), self.n_out)

    def weight_grad(self, x, grad_z, grad_W, grad_b):
        grad_z = grad_z.reshape(-1, self.channels)
        grad_W += self.geometry.kernel_grad(x, grad_z, grad_W.shape)
        grad_b += grad_z.sum(axis=0)

    def input_grad(self, grad_z, W):
        return self.geometry.conv(grad_z, flipped(W)).reshape(len(grad_z), self.n_in)


class PoolClassifier(EndMap):
    """mean over the H*W pixels of each of the C channels, then x W + b: W
    (C, n_classes) Glorot uniform, b (n_classes,)."""

    def __init__(self, image, channels, n_classes):
        self.geometry = Geometry(image, 1)
        self.channels = _check_channels("channels", channels)
        self.dense = DenseMap(self.channels, n_classes)
        super().__init__(self.geometry.pixels * self.channels, n_classes)

    def __repr__(self):
        g = self.geometry
        return f"PoolClassifier(image=({g.height}, {g.width}), {self.channels} channels)"

    def param_shapes(self):
        return self.dense.param_shapes()

    def init(self, rng, W):
        self.dense.init(rng, W)

    def forward(self, x, W, b):
        return self.dense.forward(self._pool(x), W, b)

    def weight_grad(self, x, grad_z, grad_W, grad_b):
        self.dense.weight_grad(self._pool(x), grad_z, grad_W, grad_b)

    def input_grad(self, grad_z, W):
        """Each pixel of a channel gets 1/(H*W) of the channel's derivative."""
        grad_pooled = self.dense.input_grad(grad_z, W)
        grad_pooled /= self.geometry.pixels
        return np.repeat(grad_pooled[:, np.newaxis, :], self.geometry.pixels,
                         axis=1).reshape(len(grad_z), self.n_in)

    def _pool(self, x):
        return x.reshape(len(x), self.geometry.pixels, self.channels).mean(axis=1)


def conv_resnet(image, channels, n_layers, n_classes, kernel=3, classifier="flatten", T=1.0,
                activation="smooth_relu", opening_activation=None, gamma_t=0.0, gamma_d=0.0):
    """A pyxbraid.nn.ResNet of convolutional layers for images of shape
    image = (C_in, H, W), given as rows of H*W*C_in values channels last (a
    single channel: the pixels row by row): the opening ConvOpening C_in ->
    `channels` channels then opening_activation (default: activation),
    n_layers ConvResidual steps of states of width H*W*channels, and the
    classifier: "flatten", the dense map of all H*W*channels values to the
    classes, or "pool", PoolClassifier.  kernel: odd, both for the opening
    and the layers.  No natural gradient (n_dense_layers is None)."""
    from pyxbraid.nn.resnet import ResNet
    if (not isinstance(image, (tuple, list)) or len(image) != 3
            or not all(is_integer(d) and d >= 1 for d in image)):
        raise ValueError(f"image: expected (channels, height, width), three ints >= 1, "
                         f"got {image!r}")
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier: expected one of {', '.join(CLASSIFIERS)}, "
                         f"got {classifier!r}")
    n_classes = _check_channels("n_classes", n_classes)
    in_channels, pixels = int(image[0]), (int(image[1]), int(image[2]))
    layer = ConvResidual(pixels, channels, kernel, activation)
    opening = ConvOpening(pixels, in_channels, channels, kernel)
    last = (PoolClassifier(pixels, channels, n_classes) if classifier == "pool"
            else DenseMap(layer.width, n_classes))
    return ResNet(opening.n_in, layer.width, n_layers, n_classes, T=T, activation=activation,
                  opening_activation=opening_activation, gamma_t=gamma_t, gamma_d=gamma_d,
                  layer=layer, opening=opening, classifier=last)
