"""Weight initializations shared by the networks."""
import math


def glorot_limit(shape):
    """l of Glorot (Xavier) uniform U(-l, l) for a weight matrix of shape
    (fan_in, fan_out): sqrt(6 / (fan_in + fan_out))."""
    return math.sqrt(6.0 / sum(shape))


def glorot_uniform(rng, shape):
    """Glorot (Xavier) uniform for a weight matrix of shape (fan_in, fan_out),
    as one rng.uniform draw (rng a numpy Generator or RandomState)."""
    limit = glorot_limit(shape)
    return rng.uniform(-limit, limit, shape)
