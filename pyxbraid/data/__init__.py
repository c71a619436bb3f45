"""Datasets: the same on every rank, from a seed."""
from pyxbraid.data.core import Dataset, one_hot
from pyxbraid.data.digits import digits, digits_file, read_digits
from pyxbraid.data.idx import load_idx, read_idx, write_idx
from pyxbraid.data.peaks import PEAKS_CLASSES, PEAKS_THRESHOLDS, peaks, peaks_function, peaks_labels
from pyxbraid.data.synthetic import binary_addition, trask_addition, xor

__all__ = ["Dataset", "one_hot", "xor", "binary_addition", "trask_addition", "peaks", "peaks_function",
           "peaks_labels", "PEAKS_CLASSES", "PEAKS_THRESHOLDS", "digits", "digits_file",
           "read_digits", "read_idx", "write_idx", "load_idx"]
