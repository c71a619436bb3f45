"""The two problems of Schroder 2017: XOR and binary addition."""
import numpy as np

from pyxbraid.data.core import Dataset


def xor():
    """Trask's XOR: four instances, the third input is the bias (always 1)."""
    x = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    return Dataset(x, y, "xor")


def binary_addition(n_pairs, bits=12, seed=0):
    """`n_pairs` random sums a + b: inputs are the bits of a and of b (2*bits
    0/1 features, least significant first), targets the bits of a + b.
    a and b are below 2**(bits-1), so the sum fits in `bits` bits."""
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise ValueError(f"n_pairs: must be a positive integer, got {n_pairs!r}")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 62:
        raise ValueError(f"bits: must be an integer from 2 to 62, got {bits!r}")
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2 ** (bits - 1), size=n_pairs)
    b = rng.integers(0, 2 ** (bits - 1), size=n_pairs)
    powers = np.arange(bits)

    def to_bits(values):
        return ((values[:, None] >> powers) & 1).astype(np.float64)

    x = np.hstack([to_bits(a), to_bits(b)])
    return Dataset(x, to_bits(a + b), f"binary_addition_{bits}bit")
