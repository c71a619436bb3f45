"""pyxbraid.checks, the argument checks the library shares, and the
functions that use them: a count is an integer (numpy's too) but never a
bool, a rate a finite positive number; the message names the argument."""
import math

import numpy as np
import pytest

from pyxbraid.checks import int_in_range, is_integer, is_real, positive_int, positive_real
from pyxbraid.data import binary_addition, peaks, xor
from pyxbraid.train import DataSchedule, LearningRate, train_serial
from pyxbraid.train.loop import train
from pyxbraid.train.optim import LBFGS, SGD, Adam


def test_integers_and_reals_are_never_bools():
    assert is_integer(3) and is_integer(np.int32(3)) and is_integer(np.uint8(3))
    assert not any(is_integer(v) for v in (True, np.bool_(True), 3.0, "3", None))
    assert is_real(2) and is_real(0.5) and is_real(np.float32(0.5)) and is_real(np.int64(2))
    assert not any(is_real(v) for v in (False, 1j, "0.5", None))


@pytest.mark.parametrize("value", [0, -1, True, 2.0, "2", None])
def test_positive_int_refuses(value):
    with pytest.raises(ValueError, match=rf"^steps: must be a positive integer, got "
                                         rf"{value!r}$".replace("(", r"\(")):
        positive_int("steps", value)


def test_positive_int_and_int_in_range_return_the_value():
    assert positive_int("n", np.int64(7)) == 7 and type(positive_int("n", np.int64(7))) is int
    assert int_in_range("bits", 62, 2, 62) == 62 and int_in_range("k", 10 ** 20, 2) == 10 ** 20


@pytest.mark.parametrize("value, high, high_name, message", [
    (1, 62, None, "bits: must be an integer from 2 to 62, got 1"),
    (63, 62, None, "bits: must be an integer from 2 to 62, got 63"),
    (True, None, None, "bits: must be an integer of at least 2, got True"),
    (9, 8, "the number of instances (8)",
     "bits: must be an integer from 2 to the number of instances (8), got 9"),
])
def test_int_in_range_says_the_range(value, high, high_name, message):
    with pytest.raises(ValueError) as caught:
        int_in_range("bits", value, 2, high, high_name)
    assert str(caught.value) == message


@pytest.mark.parametrize("value", [0, -0.5, math.inf, math.nan, True, "1", None])
def test_positive_real_refuses(value):
    with pytest.raises(ValueError, match="^eps: must be a positive number, got "):
        positive_real("eps", value)


def test_positive_real_gives_a_float():
    value = positive_real("rate", np.float32(0.25))
    assert value == 0.25 and type(value) is float


@pytest.mark.parametrize("call, message", [
    (lambda: peaks(n_train=True), "n_train: must be a positive integer, got True"),
    (lambda: binary_addition(True), "n_pairs: must be a positive integer, got True"),
    (lambda: binary_addition(4, bits=True), "bits: must be an integer from 2 to 62, got True"),
    (lambda: DataSchedule(xor(), "minibatch", True),
     "batch_size: must be an integer from 1 to the number of instances (4), got True"),
    (lambda: LearningRate(True), "learning_rate: must be a positive number, got True"),
    (lambda: LearningRate(0.5, growth=math.inf), "lr_growth: must be a positive number"),
    (lambda: SGD(True), "learning_rate: must be a positive number, got True"),
    (lambda: Adam(0.1, eps=False), "eps: must be a positive number, got False"),
    (lambda: LBFGS(history=True), "history: must be a positive integer, got True"),
    (lambda: train_serial(None, np.zeros(1), True), "nsteps: must be a positive integer"),
    (lambda: train(None, None, np.zeros(1), xor(), True), "steps: must be a positive integer"),
])
def test_the_library_checks_its_counts_and_rates(call, message):
    with pytest.raises(ValueError) as caught:
        call()
    assert str(caught.value).startswith(message)


def test_numpy_integers_count():
    """A count read from an array (a numpy integer) is a count."""
    train_data, _ = peaks(n_train=np.int64(5), n_val=np.int64(2))
    assert len(train_data) == 5
    assert train_serial(lambda w, i: w.__iadd__(1.0), np.zeros(1), np.int64(3))[0] == 3.0
    assert LBFGS(history=np.int64(2))._pairs.maxlen == 2
