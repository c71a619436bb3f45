"""Datasets: the same on every rank, from a seed."""
from pyxbraid.data.core import Dataset
from pyxbraid.data.synthetic import binary_addition, xor

__all__ = ["Dataset", "xor", "binary_addition"]
