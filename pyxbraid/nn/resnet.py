"""The residual network of Guenther et al. 2018 (layer-parallel training).

Its residual layers are forward-Euler steps of an ODE in "time" = depth, so a
parallel-in-time solver can step them.  What a layer computes is a
pyxbraid.nn.residual.ResidualLayer (default: the dense layer of the paper,
DenseResidual); the network steps and differentiates any through it.  The per-layer primitives below (open,
step, adjoint_step, layer_gradient, classify, opening_gradient, regularization)
are all that serial backprop uses too: serial and parallel training compute the
same bits.  States are row-major, (batch, width); parameters are one flat
float64 vector, seen through views.  The primitives take the flat vector, or
its views (ResNetParams from views()): a solver that steps every layer many
times splits the vector once per evaluation, not once per step.
"""
import collections
import math

import numpy as np

from pyxbraid.checks import is_integer, is_real
from pyxbraid.nn.activations import get_activation
from pyxbraid.nn.flat import split_flat
from pyxbraid.nn.ends import DenseMap, EndMap
from pyxbraid.nn.losses import SoftmaxCrossEntropy
from pyxbraid.nn.registry import name_of
from pyxbraid.nn.residual import (BatchWeights, DenseResidual, ResidualLayer,  # noqa: F401
                                  add_preconditioned)

ResNetParams = collections.namedtuple("ResNetParams", "W_o b_o K b W_c b_c")
ResNetParams.__doc__ = """Views into a flat vector: opening W_o (n_features, width),
b_o (width,); residual K (n_layers, width, width), b (n_layers, width);
classifier W_c (width, n_classes), b_c (n_classes,).  The views of a network
with another residual layer have that layer's parameter names in place of
K and b (each stacked over the layers, (n_layers, *shape)); those of one
with other ends (pyxbraid.nn.ends) have their shapes for W_o, b_o, W_c, b_c."""

_ENDS = ("W_o", "b_o", "W_c", "b_c")


class ResNet:
    """x -> Y_0 = act_open(x W_o + b_o) -> Y_{k+1} = Y_k + h F(Y_k, theta_k)
    (k < n_layers, h = T / n_layers) -> logits Y_N W_c + b_c -> softmax
    cross-entropy, plus Tikhonov and across-layer smoothness regularization.

    F is `layer`'s (a pyxbraid.nn.residual.ResidualLayer); by default the
    dense F = act(Y K_k^T + b_k) (DenseResidual(activation)).  activation is
    also the opening's unless opening_activation is given.

    The two ends are affine maps (pyxbraid.nn.ends.EndMap): `opening`
    n_features -> width in place of x W_o + b_o, `classifier` width ->
    n_classes in place of Y_N W_c + b_c (default: those dense maps,
    DenseMap).  ResNet.conv builds a convolutional network."""

    def __init__(self, n_features, width, n_layers, n_classes, T=1.0, activation="smooth_relu",
                 opening_activation=None, gamma_t=0.0, gamma_d=0.0, layer=None, opening=None,
                 classifier=None):
        for name, value in (("n_features", n_features), ("width", width),
                            ("n_layers", n_layers), ("n_classes", n_classes)):
            if not is_integer(value) or value < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
        if not is_real(T) or not (math.isfinite(T) and T > 0):
            raise ValueError(f"T: expected a finite number > 0, got {T!r}")
        for name, value in (("gamma_t", gamma_t), ("gamma_d", gamma_d)):
            if not is_real(value) or not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
        self.n_features, self.width = int(n_features), int(width)
        self.n_layers, self.n_classes = int(n_layers), int(n_classes)
        self.T, self.h = float(T), float(T) / self.n_layers
        self.gamma_t, self.gamma_d = float(gamma_t), float(gamma_d)
        self.activation = get_activation(activation)
        self.opening_activation = get_activation(
            activation if opening_activation is None else opening_activation)
        self._given_layer = layer is not None
        self.layer = DenseResidual(self.activation) if layer is None else layer
        self.loss_function = SoftmaxCrossEntropy()
        # the affine maps of the two ends; the opening activation is applied
        # here, so that opening_gradient can get at the pre-activation
        self._given_ends = tuple(name for name, end in (("opening", opening),
                                                        ("classifier", classifier))
                                 if end is not None)
        self.opening = self._check_end("opening", opening, self.n_features, self.width)
        self.classifier = self._check_end("classifier", classifier, self.width, self.n_classes)
        n = self.n_layers
        layer_shapes = self._check_layer_type()
        names = tuple(layer_shapes)
        self._Params = ResNetParams if names == ("K", "b") else collections.namedtuple(
            "ResNetParams", _ENDS[:2] + names + _ENDS[2:])
        self._LayerParams = collections.namedtuple(f"{type(self.layer).__name__}Params", names)
        self._layer_fields = slice(2, 2 + len(names))  # the layers' fields of the views
        # views of a part vector (part_views): the same fields, the layer
        # stacks over some layers only, and _rows mapping a layer to its row
        self._PartParams = type(f"{self._Params.__name__}Part", (self._Params,), {})
        self._layer_shapes = layer_shapes
        self._shapes = (*self.opening.param_shapes(),
                        *((n,) + shape for shape in layer_shapes.values()),
                        *self.classifier.param_shapes())
        self.n_params = sum(math.prod(shape) for shape in self._shapes)

    def __repr__(self):
        activation, opening = name_of(self.activation), name_of(self.opening_activation)
        settings = [f"n_features={self.n_features}", f"width={self.width}",
                    f"n_layers={self.n_layers}", f"n_classes={self.n_classes}", f"T={self.T}",
                    f"activation={activation!r}"]
        if opening != activation:
            settings.append(f"opening_activation={opening!r}")
        settings += [f"{name}={value}" for name, value in
                     (("gamma_t", self.gamma_t), ("gamma_d", self.gamma_d)) if value]
        if self._given_layer:
            settings.append(f"layer={self.layer!r}")
        settings += [f"{name}={getattr(self, name)!r}" for name in self._given_ends]
        return f"ResNet({', '.join(settings)})"

    @classmethod
    def conv(cls, image, channels, n_layers, n_classes, **options):
        """A network of convolutional layers for images (C_in, H, W):
        pyxbraid.nn.conv.conv_resnet (kernel, classifier "flatten" or
        "pool", T, activation, opening_activation, gamma_t, gamma_d)."""
        from pyxbraid.nn.conv import conv_resnet
        return conv_resnet(image, channels, n_layers, n_classes, **options)

    # parameters

    def views(self, theta):
        """ResNetParams of views into theta: writing theta changes them, and
        back.  The per-layer primitives (open .. opening_gradient) take these
        in place of the flat theta or grad, and then do not split it again."""
        return self._split(theta, "theta")

    def init_params(self, rng, scale=1.0):
        """New flat vector from the numpy Generator rng (drawn W_o, the
        residual layers (their init with scale), W_c in that order).

        W_o and W_c are Glorot uniform (the end maps' init), biases 0.  The dense layer draws
        K_k ~ N(0, scale^2 / width): then ||K_k||_2 ~ 2 scale, each step's
        Jacobian has norm <= 1 + 2 scale h max|act'|, and the states grow at
        most like exp(2 scale T max|act'|) whatever n_layers is, so deep nets
        neither blow up nor start as identity."""
        if not is_real(scale) or not (math.isfinite(scale) and scale >= 0):
            raise ValueError(f"scale: expected a finite number >= 0, got {scale!r}")
        theta = np.zeros(self.n_params)
        p = self.views(theta)
        self.opening.init(rng, p.W_o)
        self.layer.init(rng, self._layer_stacks(p), scale)
        self.classifier.init(rng, p.W_c)
        return theta

    # a rank's part of the parameters (LayerParallel with owned parameters)

    @property
    def layer_size(self):
        """The parameters of one residual layer."""
        return sum(math.prod(shape) for shape in self._layer_shapes.values())

    @property
    def ends_size(self):
        """The parameters of the opening and the classifier."""
        return self.n_params - self.n_layers * self.layer_size

    @property
    def layer_fields(self):
        """The positions of the residual layers' stacks among the views' fields."""
        return range(len(self._shapes))[self._layer_fields]

    def part_size(self, n_held):
        """The length of a part vector of n_held layers (part_views)."""
        return n_held * self.layer_size + self.ends_size

    def part_views(self, vector, layers):
        """Views into a part vector: the parameters of the residual layers
        `layers` (distinct layer indices, in that order), layer after layer
        (each layer's arrays together), then the ends W_o, b_o, W_c, b_c.
        The layer fields stack those layers only (strided views); the
        primitives take these views with the layers' own indices and raise
        for a layer the part does not hold.  A rank holding a few layers
        steps, differentiates and trains them without the others."""
        layers = np.asarray(layers)
        n = self.n_layers
        if (layers.ndim != 1 or not np.issubdtype(layers.dtype, np.integer)
                or (len(layers) and not (0 <= layers.min() and layers.max() < n))
                or len(np.unique(layers)) != len(layers)):
            raise ValueError(f"layers: expected distinct layer indices in [0, {n}), got "
                             f"{layers!r}")
        m = len(layers)
        per = self.layer_size
        shapes = ((m * per,),) + tuple(self._shapes[i] for i in (0, 1, -2, -1))
        block, W_o, b_o, W_c, b_c = split_flat(vector, "vector", shapes)
        block = block.reshape(m, per)
        stacks, start = [], 0
        for shape in self._layer_shapes.values():
            stop = start + math.prod(shape)
            stack = block[:, start:stop].view()
            stack.shape = (m,) + shape   # raises rather than copy
            stacks.append(stack)
            start = stop
        views = self._PartParams(W_o, b_o, *stacks, W_c, b_c)
        views._rows = np.full(n, -1, dtype=np.int64)
        views._rows[layers] = np.arange(m)
        views._layers = layers.astype(np.int64)
        views._shapes = tuple(np.shape(v) for v in views)
        return views

    # per-layer primitives, shared by serial backprop and the parallel solver

    def open(self, theta, x):
        """Y_0 = act_open(x W_o + b_o), a new (batch, width) array."""
        p = self._params(theta, "theta")
        return self.opening_activation.forward(self._opening_z(p, self._check_x(x)))

    def step(self, theta, k, Y, h):
        """Y += h F(Y, theta_k) in place; h is a parameter because coarse
        levels step with a multiple of self.h and layer k's weights."""
        p = self._params(theta, "theta")
        self._check_state("Y", Y)
        self._add_residual(Y, self.layer.forward(self._layer(p, self._check_layer(k)), Y), h)

    def adjoint_step(self, theta, k, Y_k, P, h):
        """P += h (dF/dY at Y_k)^T P in place: P_{k+1} -> P_k (dense:
        h (act'(Z_k) * P) K_k, Z_k = Y_k K_k^T + b_k)."""
        p = self._params(theta, "theta")
        k = self._check_layer(k)
        self._check_state("Y_k", Y_k)
        self._check_state("P", P, Y_k.shape)
        P += self.layer.vjp(self._layer(p, k), Y_k, P, h)

    def layer_gradient(self, theta, k, Y_k, P_next, grad, preconditioner=None):
        """Add dJ/dtheta_k = h (dF/dtheta_k at Y_k)^T P_next (h = self.h) into
        grad: the solver accumulates over layers and ranks (dense: dK_k =
        h (act'(Z_k) * P_next)^T Y_k, db_k its batch sum).  preconditioner:
        a natural-gradient one (pyxbraid.train.ngsgd) for this layer's
        inputs Y_k and output derivatives (a layer with natural_gradient)."""
        p, g = self._params(theta, "theta"), self._params(grad, "grad")
        k = self._check_layer(k)
        self._check_state("Y_k", Y_k)
        self._check_state("P_next", P_next, Y_k.shape)
        if preconditioner is None:
            self.layer.param_grad(self._layer(p, k), Y_k, P_next, self.h, self._layer(g, k))
            return
        if not self.layer.natural_gradient:
            raise ValueError(f"preconditioner: {self.layer!r} takes none (natural_gradient "
                             f"is False)")
        self.layer.param_grad(self._layer(p, k), Y_k, P_next, self.h, self._layer(g, k),
                              preconditioner=preconditioner)

    # the same primitives for a stack of states, each with its own layer: a
    # time-parallel solver steps the independent points of a sweep at once.
    # Row i gets what the primitive does to it (the layer's batched methods;
    # the dense layer's do the same operations, its stacked products may
    # round differently in the last bits).

    def batch_weights(self, theta, batch):
        """The layer's batch_weights for states of `batch` rows (dense:
        BatchWeights; None for a layer without): a solver makes them once
        per evaluation and passes them to the batched primitives."""
        p = self._params(theta, "theta")
        if not is_integer(batch) or batch < 1:
            raise ValueError(f"batch: expected an int >= 1, got {batch!r}")
        return self.layer.batch_weights(self._layer_stacks(p), int(batch))

    def step_batch(self, theta, layers, Y, h, weights=None):
        """step(theta, layers[i], Y[i], h) for every i: Y an (n, batch, width)
        stack changed in place, layers n layer indices; weights:
        batch_weights(theta, batch), or None."""
        p = self._params(theta, "theta")
        rows = self._layer_rows(layers, len(self._check_stack("Y", Y)), p)
        self._check_weights(p, weights, Y.shape[1])
        self._add_residual(Y, self.layer.forward_batch(self._layers(p, rows), Y, weights, rows), h)

    def derivatives(self, theta, layers, Y_ks, weights=None, out=None):
        """The layer's linearize_batch for the layers k = layers[i] at the
        states Y_ks[i] (dense: act'(Z_k), Z_k = Y_k K_k^T + b_k, an
        (n, batch, width) stack), into out when given; None for a layer
        without one.  At fixed forward states a solver's adjoint steps each
        layer several times: it computes these once and passes them to
        adjoint_step_batch and layer_gradient_batch."""
        p = self._params(theta, "theta")
        rows = self._layer_rows(layers, len(self._check_stack("Y_ks", Y_ks)), p)
        self._check_weights(p, weights, Y_ks.shape[1])
        d = self.layer.linearize_batch(self._layers(p, rows), Y_ks, weights, rows)
        if out is None or d is None:
            return d
        if not isinstance(out, np.ndarray) or out.shape != np.shape(d) or out.dtype != d.dtype:
            raise ValueError(f"out: expected a {d.dtype} array of shape {np.shape(d)}, got "
                             f"{getattr(out, 'dtype', type(out).__name__)} of shape "
                             f"{np.shape(out)}")
        out[...] = d
        return out

    def adjoint_step_batch(self, theta, layers, Y_ks, P, h, weights=None, derivatives=None):
        """adjoint_step(theta, layers[i], Y_ks[i], P[i], h) for every i: P an
        (n, batch, width) stack changed in place, Y_ks the layers' forward
        states stacked alike.  derivatives: self.derivatives(theta, layers,
        Y_ks) when the caller has them (then Y_ks is not read and may be
        None); weights as step_batch takes them."""
        p = self._params(theta, "theta")
        rows = self._layer_rows(layers, len(self._check_stack("P", P)), p)
        self._check_adjoint_inputs(p, Y_ks, P, weights, derivatives)
        P += self.layer.vjp_batch(self._layers(p, rows), Y_ks, P, h, weights, rows, derivatives)

    def layer_gradient_batch(self, theta, layers, Y_ks, P_nexts, grad, weights=None,
                             derivatives=None):
        """layer_gradient(theta, layers[i], Y_ks[i], P_nexts[i], grad) for
        every i (no preconditioner): Y_ks and P_nexts (n, batch, width)
        stacks, layers n distinct layer indices; weights and derivatives as
        adjoint_step_batch takes them."""
        p, g = self._params(theta, "theta"), self._params(grad, "grad")
        n = len(self._check_stack("Y_ks", Y_ks))
        rows = self._layer_rows(layers, n, p)
        if len(np.unique(layers)) != n:  # a layer's gradient is added once
            raise ValueError(f"layers: expected distinct layer indices, got {layers!r}")
        self._check_adjoint_inputs(p, Y_ks, P_nexts, weights, derivatives)
        grads = self.layer.param_grad_batch(self._layers(p, rows), Y_ks, P_nexts, self.h,
                                            weights, rows, derivatives)
        for stack, value in zip(g[self._layer_fields], grads):
            stack[rows] += value

    def classify(self, theta, Y_N, y, grad, preconditioner=None):
        """(mean cross-entropy without regularization, P_N = dJ/dY_N); adds the
        classifier's gradient (natural with a preconditioner) into grad."""
        p, g = self._params(theta, "theta"), self._params(grad, "grad")
        self._check_state("Y_N", Y_N)
        y = self._check_y(y, len(Y_N))
        logits = self.classifier.forward(Y_N, p.W_c, p.b_c)
        value = self.loss_function.value(logits, y)
        grad_logits = self.loss_function.grad(logits, y)
        if preconditioner is not None:
            self._check_natural("classifier", self.classifier)
            add_preconditioned(preconditioner, Y_N, grad_logits, g.W_c, g.b_c)
        else:
            self.classifier.weight_grad(Y_N, grad_logits, g.W_c, g.b_c)
        return value, self.classifier.input_grad(grad_logits, p.W_c)

    def logits(self, theta, Y_N):
        """The classifier's logits of the last states Y_N, a new array."""
        p = self._params(theta, "theta")
        return self.classifier.forward(self._check_state("Y_N", Y_N), p.W_c, p.b_c)

    def opening_gradient(self, theta, x, P_0, grad, preconditioner=None):
        """Add dJ/dW_o and dJ/db_o, given P_0 = dJ/dY_0, into grad (natural
        with a preconditioner)."""
        p, g = self._params(theta, "theta"), self._params(grad, "grad")
        x = self._check_x(x)
        self._check_state("P_0", P_0, (len(x), self.width))
        z = self._opening_z(p, x)
        act = self.opening_activation
        grad_z = act.backward(z, act.forward(z), P_0)
        if preconditioner is not None:
            self._check_natural("opening", self.opening)
            add_preconditioned(preconditioner, x, grad_z, g.W_o, g.b_o)
            return
        self.opening.weight_grad(x, grad_z, g.W_o, g.b_o)

    def regularization(self, theta, grad=None):
        """gamma_t/2 ||theta||^2 + gamma_d/2 sum_k ||theta_{k+1} - theta_k||^2 / h
        (dense: ||K_{k+1} - K_k||^2 + ||b_{k+1} - b_k||^2; each of the
        layer's parameter arrays); adds its gradient into grad unless None
        (theta and grad: flat vectors)."""
        p = self.views(theta)
        g = None if grad is None else self._split(grad, "grad")
        value = 0.0
        if self.gamma_t:
            value += 0.5 * self.gamma_t * float(np.dot(theta, theta))
            if g is not None:
                grad += self.gamma_t * theta
        if self.gamma_d:
            c = self.gamma_d / self.h
            for i in range(len(p))[self._layer_fields]:
                jumps = np.diff(p[i], axis=0)
                value += 0.5 * c * float(np.dot(jumps.ravel(), jumps.ravel()))
                if g is not None:
                    jumps *= c
                    g[i][1:] += jumps
                    g[i][:-1] -= jumps
        return value

    def regularization_part(self, p, g, layers, ends):
        """The terms of regularization() that belong to the layers `layers`
        (gamma_t's of theta_k, gamma_d's of the jump into k from k - 1) and,
        with ends, gamma_t's of the opening and classifier; adds their
        gradient into the views g (the jump's also into layer k - 1).  p and
        g: views (views() or part_views(), holding k - 1 too when gamma_d);
        the parts over a partition of the layers, one with ends, sum to
        regularization()."""
        p, g = self._params(p, "theta"), self._params(g, "grad")
        layers = [self._check_layer(k) for k in layers]
        value = 0.0
        if self.gamma_t:
            ends_fields = [i for i in range(len(p)) if i not in self.layer_fields] if ends else []
            arrays = [(p[i], g[i]) for i in ends_fields]
            arrays += [(a, b) for k in layers
                       for a, b in zip(self._layer(p, k), self._layer(g, k))]
            for theta_part, grad_part in arrays:
                value += 0.5 * self.gamma_t * float(np.dot(theta_part.ravel(), theta_part.ravel()))
                grad_part += self.gamma_t * theta_part
        if self.gamma_d:
            c = self.gamma_d / self.h
            for k in (k for k in layers if k >= 1):
                for here, before, g_here, g_before in zip(
                        self._layer(p, k), self._layer(p, k - 1),
                        self._layer(g, k), self._layer(g, k - 1)):
                    jump = here - before
                    value += 0.5 * c * float(np.dot(jump.ravel(), jump.ravel()))
                    jump *= c
                    g_here += jump
                    g_before -= jump
        return value

    # serial reference

    def forward(self, theta, x):
        """[Y_0, ..., Y_N], each a new array."""
        p = self._params(theta, "theta")
        states = [self.open(p, x)]
        for k in range(self.n_layers):
            Y = states[-1].copy()
            self.step(p, k, Y, self.h)
            states.append(Y)
        return states

    @property
    def n_dense_layers(self):
        """The affine maps a natural-gradient preconditioner serves: the
        opening, the residual layers, the classifier (in that order); None
        when the residual layer or an end takes no preconditioner."""
        natural = all(part.natural_gradient for part in (self.opening, self.layer,
                                                         self.classifier))
        return self.n_layers + 2 if natural else None

    def loss_and_grad(self, theta, x, y, grad=None, preconditioners=None):
        """(loss, flat dJ/dtheta) by serial backprop through the primitives; the
        gradient is written into grad when given.  preconditioners: one per
        affine map (n_dense_layers; NaturalGradientSGD.preconditioners), for
        the natural gradient (the regularization's stays plain)."""
        if preconditioners is None:
            preconditioners = [None] * (self.n_layers + 2)
        elif self.n_dense_layers is None:
            raise ValueError(f"preconditioners: {self._unnatural()!r} takes none "
                             f"(natural_gradient is False)")
        elif len(preconditioners) != self.n_dense_layers:
            raise ValueError(f"preconditioners: expected one per affine map "
                             f"({self.n_dense_layers}), got {len(preconditioners)}")
        grad = np.empty(self.n_params) if grad is None else grad
        p, g = self.views(theta), self._split(grad, "grad")  # checked before grad is zeroed
        grad.fill(0.0)
        states = self.forward(p, x)
        value, P = self.classify(p, states[-1], y, g, preconditioners[-1])
        for k in reversed(range(self.n_layers)):
            self.layer_gradient(p, k, states[k], P, g, preconditioners[k + 1])
            self.adjoint_step(p, k, states[k], P, self.h)
        self.opening_gradient(p, x, P, g, preconditioners[0])
        return value + self.regularization(theta, grad), grad

    def loss(self, theta, x, y):
        y = self._check_y(y, len(self._check_x(x)))
        return self.loss_function.value(self.predict(theta, x), y) + self.regularization(theta)

    def predict(self, theta, x):
        """The logits, stepping one state in place (the same bits as forward)."""
        p = self._params(theta, "theta")
        Y = self.open(p, x)
        for k in range(self.n_layers):
            self.step(p, k, Y, self.h)
        return self.classifier.forward(Y, p.W_c, p.b_c)

    def accuracy(self, theta, x, y):
        """Fraction of argmax(logits) equal to the labels (y int labels or one-hot)."""
        y = self._check_y(y, len(self._check_x(x)))
        labels = y if y.ndim == 1 else y.argmax(axis=1)
        return float(np.mean(self.predict(theta, x).argmax(axis=1) == labels))

    # helpers

    def _opening_z(self, p, x):
        return self.opening.forward(x, p.W_o, p.b_o)

    def _check_end(self, name, end, n_in, n_out):
        """The end map given as `name` (default DenseMap(n_in, n_out)), checked."""
        if end is None:
            return DenseMap(n_in, n_out)
        if not isinstance(end, EndMap):
            raise ValueError(f"{name}: expected a pyxbraid.nn.ends.EndMap, got "
                             f"{type(end).__name__}")
        if (end.n_in, end.n_out) != (n_in, n_out):
            raise ValueError(f"{name}: expected a map of {n_in} -> {n_out} values per row, "
                             f"got {end!r} ({end.n_in} -> {end.n_out})")
        return end

    def _unnatural(self):
        """The first part (opening, layer, classifier) that takes no preconditioner."""
        return next(part for part in (self.opening, self.layer, self.classifier)
                    if not part.natural_gradient)

    def _check_natural(self, name, end):
        if not end.natural_gradient:
            raise ValueError(f"preconditioner: the {name} {end!r} takes none "
                             f"(natural_gradient is False)")

    def _check_layer_type(self):
        """The layer's {name: shape} of one layer's parameters, checked."""
        layer = self.layer
        if not isinstance(layer, ResidualLayer):
            raise ValueError(f"layer: expected a pyxbraid.nn.ResidualLayer, got "
                             f"{type(layer).__name__}")
        shapes = layer.param_shapes(self.width)
        if not isinstance(shapes, dict):
            raise ValueError(f"layer: param_shapes must give a dict {{name: shape}}, got "
                             f"{shapes!r}")
        for name, shape in shapes.items():
            if not isinstance(name, str) or not name.isidentifier() or name in _ENDS \
                    or name.startswith("_"):
                raise ValueError(f"layer: parameter name {name!r} must be an identifier, "
                                 f"not _-prefixed nor one of {', '.join(_ENDS)}")
            if not isinstance(shape, tuple) or not all(is_integer(d) and d >= 1 for d in shape):
                raise ValueError(f"layer: shape of {name!r} must be a tuple of ints >= 1, "
                                 f"got {shape!r}")
        return {name: tuple(int(d) for d in shape) for name, shape in shapes.items()}

    def _layer_stacks(self, p):
        """The layer's parameter arrays of all layers, (n_layers, *shape) each."""
        return self._LayerParams(*p[self._layer_fields])

    def _layer(self, p, k):
        """theta_k: layer k's parameters (views)."""
        row = self._held_rows(p, np.asarray([k]))[0] if isinstance(p, self._PartParams) else k
        return self._LayerParams(*(stack[row] for stack in p[self._layer_fields]))

    def _held_rows(self, p, layers):
        """The rows of p's layer stacks that hold `layers` (checked indices):
        the layers themselves, but for part_views."""
        if not isinstance(p, self._PartParams):
            return layers
        rows = p._rows[layers]
        if len(rows) and rows.min() < 0:
            missing = sorted(set(np.asarray(layers)[rows < 0].tolist()))
            raise ValueError(f"layers: {missing} not among the layers these parameters hold "
                             f"({p._layers.tolist()})")
        return rows

    def _layers(self, p, rows):
        """The parameters of the layers of rows (from _layer_rows), stacked."""
        return self._LayerParams(*(stack[rows] for stack in p[self._layer_fields]))

    def _add_residual(self, Y, F, h):
        """Y += h F, in place (F is overwritten)."""
        F *= h
        Y += F

    def _check_weights(self, p, weights, batch):
        """batch_weights of this network for states of `batch` rows, or None."""
        if weights is not None:
            self.layer.check_batch_weights(weights, self._layer_stacks(p), batch)

    def _check_adjoint_inputs(self, p, Y_ks, P, weights, derivatives):
        """The forward states (or the layer's linearization) of adjoints P."""
        if derivatives is None:
            self._check_stack("Y_ks", Y_ks, P.shape)
        else:
            self.layer.check_linearization(derivatives, P)
        self._check_weights(p, weights, P.shape[1])

    def _layer_rows(self, layers, n, p=None):
        """stack_rows of n checked layer indices (of the rows holding them in p)."""
        layers = np.asarray(layers)
        if (layers.shape != (n,) or not np.issubdtype(layers.dtype, np.integer)
                or (n and not (0 <= layers.min() and layers.max() < self.n_layers))):
            raise ValueError(f"layers: expected {n} layer indices in [0, {self.n_layers}) "
                             f"(one per state), got {layers!r}")
        return stack_rows(layers if p is None else self._held_rows(p, layers))

    def _split(self, vector, name):
        return self._Params(*split_flat(vector, name, self._shapes))

    def _params(self, vector, name):
        """The views of a flat vector, or the views themselves when given
        (ResNetParams from views()): then only their shapes are checked."""
        if not isinstance(vector, self._Params):
            return self._split(vector, name)
        shapes = tuple(np.shape(view) for view in vector)
        expected = vector._shapes if isinstance(vector, self._PartParams) else self._shapes
        if shapes != expected:
            raise ValueError(f"{name}: expected views of shapes {expected} (this network's "
                             f"ResNetParams), got {shapes}")
        return vector

    def _check_layer(self, k):
        if not is_integer(k) or not 0 <= k < self.n_layers:
            raise ValueError(f"k: expected a layer index in [0, {self.n_layers}), got {k!r}")
        return int(k)

    def _check_state(self, name, array, shape=None, stacked=False):
        """A state or adjoint: float64 (batch, width), a stack of them (n,
        batch, width) when stacked, or exactly shape when given."""
        ndim, leading = (3, "n, batch") if stacked else (2, "batch")
        if (not isinstance(array, np.ndarray) or array.dtype != np.float64
                or array.ndim != ndim or array.shape[-1] != self.width
                or (shape is not None and array.shape != shape)):
            expected = shape if shape is not None else f"({leading}, {self.width})"
            raise ValueError(f"{name}: expected a float64 array of shape {expected}, got "
                             f"{getattr(array, 'dtype', type(array).__name__)} "
                             f"of shape {np.shape(array)}")
        return array

    def _check_stack(self, name, array, shape=None):
        """A stack of states: float64 (n, batch, width), or exactly shape."""
        return self._check_state(name, array, shape, stacked=True)

    def _check_x(self, x):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"x: expected shape (batch, {self.n_features}), got {x.shape}")
        return x

    def _check_y(self, y, batch):
        """Int labels (batch,) or one-hot rows (batch, n_classes); the loss checks the values."""
        y = np.asarray(y)
        if y.shape not in ((batch,), (batch, self.n_classes)):
            raise ValueError(f"y: expected labels {(batch,)} or one-hot {(batch, self.n_classes)}, "
                             f"got {y.shape}")
        return y


def stack_rows(indices):
    """What selects the rows `indices` (1-D ints) of a stacked array: a
    slice when they are evenly spaced, up or down (then the rows are a view,
    not a copy), else the indices themselves."""
    indices = np.asarray(indices)
    n = len(indices)
    if n == 0:
        return slice(0, 0)
    first = int(indices[0])
    spacing = int(indices[1]) - first if n > 1 else 1
    if spacing == 0 or not np.array_equal(indices, first + spacing * np.arange(n)):
        return indices
    stop = first + spacing * (n - 1) + (1 if spacing > 0 else -1)
    return slice(first, stop if stop >= 0 else None, spacing)

