"""Weight initializations shared by the networks."""
import math


def glorot_uniform(rng, shape):
    """Glorot (Xavier) uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)),
    for a weight matrix of shape (fan_in, fan_out), as one rng.uniform draw
    (rng a numpy Generator or RandomState)."""
    limit = math.sqrt(6.0 / sum(shape))
    return rng.uniform(-limit, limit, shape)
