"""The two problems of Schroder 2017: XOR and binary addition."""
import numpy as np

from pyxbraid.checks import int_in_range, positive_int
from pyxbraid.data.core import Dataset

# How binary_addition draws its operands:
# - "legacy": Trask's code (the network Schroder 2017 trains): numpy's legacy
#   stream, every first operand floor(rand() * 2**(bits-1)), then every second;
# - "generator": numpy's Generator, integers() for every a, then every b (the
#   rule pyxbraid used first; kept so that earlier results can be reproduced).
ADDITION_DRAWS = ("legacy", "generator")
# Where each number's bits start: "msb" most significant first (Trask's),
# "lsb" least significant first.
BIT_ORDERS = ("msb", "lsb")
ADDITION_BITS = 12  # Trask's


def xor():
    """Trask's XOR: four instances, the third input is the bias (always 1)."""
    x = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    return Dataset(x, y, "xor")


def binary_addition(n_pairs, bits=ADDITION_BITS, seed=1, order="msb", draw="legacy", rng=None):
    """`n_pairs` random sums a + b: inputs are the bits of a and of b (2*bits
    0/1 features), targets the bits of a + b, each number's bits in `order`.
    a and b are below 2**(bits-1), so the sum fits in `bits` bits.

    The defaults are Trask's data (draw "legacy", order "msb"): with seed 1
    the data of his binary-addition network, which Schroder 2017 trains.
    rng: a generator to draw from instead of a fresh one seeded with `seed`
    (np.random.RandomState for "legacy", np.random.Generator for "generator");
    it is advanced past the data, so that the caller can go on drawing from it
    (Trask draws his initial weights next: see trask_addition)."""
    positive_int("n_pairs", n_pairs)
    int_in_range("bits", bits, 2, 62)
    if order not in BIT_ORDERS:
        raise ValueError(f"order: must be one of {', '.join(BIT_ORDERS)}, got {order!r}")
    if draw not in ADDITION_DRAWS:
        raise ValueError(f"draw: must be one of {', '.join(ADDITION_DRAWS)}, got {draw!r}")
    kind = np.random.RandomState if draw == "legacy" else np.random.Generator
    if rng is None:
        rng = np.random.RandomState(seed) if draw == "legacy" else np.random.default_rng(seed)
    elif not isinstance(rng, kind):
        raise ValueError(f"rng: draw {draw!r} needs a numpy.random.{kind.__name__}, "
                         f"got {type(rng).__name__}")
    bound = 2 ** (bits - 1)
    if draw == "legacy":
        # rand() < 1 - 2**-53, so the product (exact: a power of 2) stays below bound
        a = (rng.rand(n_pairs) * bound).astype(np.int64)
        b = (rng.rand(n_pairs) * bound).astype(np.int64)
    else:
        a = rng.integers(0, bound, size=n_pairs)
        b = rng.integers(0, bound, size=n_pairs)
    powers = np.arange(bits)
    if order == "msb":
        powers = powers[::-1]

    def to_bits(values):
        return ((values[:, None] >> powers) & 1).astype(np.float64)

    x = np.hstack([to_bits(a), to_bits(b)])
    return Dataset(x, to_bits(a + b), f"binary_addition_{bits}bit")


def trask_addition(n_pairs, bits, seed, model):
    """Trask's binary-addition problem: (Dataset, w0) from one legacy stream
    RandomState(seed), the data first (binary_addition's defaults), then the
    weights of `model` (an MLP whose input is 2*bits wide) by its "trask"
    scheme, normal with mean -0.1 and standard deviation 0.2, layer by layer.
    Seed 1 gives Trask's own data and weights.  The same on every rank."""
    if (model.sizes[0], model.sizes[-1]) != (2 * bits, bits):
        raise ValueError(f"model: {bits}-bit addition needs {2 * bits} inputs and {bits} "
                         f"outputs, the network has sizes {list(model.sizes)}")
    rng = np.random.RandomState(seed)
    data = binary_addition(n_pairs, bits, rng=rng)
    return data, model.init_params(rng, scheme="trask")
