"""Checks of arguments, shared by the library: a number of things is an
integer (Python's or numpy's, never a bool, though bool is an int), a rate
is a finite real number.  Each raises ValueError naming the argument and
the value given, and returns the value when it is good."""
import math
import numbers


def is_integer(value):
    """An integer (int, numpy integer), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value):
    """A real number (int, float, numpy number), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(name, value):
    """value as an int, an integer >= 1."""
    if not is_integer(value) or value < 1:
        raise ValueError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def int_in_range(name, value, low, high=None, high_name=None):
    """value as an int, an integer from low to high (no upper bound when high is None);
    high_name says what high is in the message (default: its value)."""
    if not is_integer(value) or value < low or (high is not None and value > high):
        bounds = (f"of at least {low}" if high is None
                  else f"from {low} to {high_name or high}")
        raise ValueError(f"{name}: must be an integer {bounds}, got {value!r}")
    return int(value)


def positive_real(name, value):
    """value as a float, a finite real number > 0."""
    if not is_real(value) or not math.isfinite(value) or not value > 0:
        raise ValueError(f"{name}: must be a positive number, got {value!r}")
    return float(value)
