"""Datasets: the synthetic problems, peaks, scikit-learn's digits read without
scikit-learn, and the IDX reader/writer with every way a file can be broken."""
import gzip
import re
import subprocess
import sys

import numpy as np
import pytest

from pyxbraid.data.core import Dataset
from pyxbraid.data.digits import digits, digits_file
from pyxbraid.data.idx import IDX_TYPES, load_idx, read_idx, write_idx
from pyxbraid.data.peaks import PEAKS_CLASSES, PEAKS_THRESHOLDS, peaks, peaks_function
from pyxbraid.data.synthetic import binary_addition, trask_addition, xor
from pyxbraid.nn import MLP


def assert_one_hot(y, n_classes):
    assert y.shape[1] == n_classes
    assert set(np.unique(y)) <= {0.0, 1.0}
    np.testing.assert_array_equal(y.sum(axis=1), 1.0)


def assert_same(a, b):
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)


# --- xor and binary addition ---------------------------------------------------------

def test_xor():
    data = xor()
    assert (data.x.shape, data.y.shape) == ((4, 3), (4, 1))
    np.testing.assert_array_equal(data.x[:, 2], 1.0)
    np.testing.assert_array_equal(data.y[:, 0], np.logical_xor(data.x[:, 0], data.x[:, 1]))


def bits_of(values, bits, order):
    """Each value's bits as np.binary_repr writes them (most significant
    first), reversed for "lsb": an independent way to encode."""
    rows = [[float(c) for c in np.binary_repr(int(v), width=bits)] for v in values]
    return np.array(rows)[:, ::-1] if order == "lsb" else np.array(rows)


def operands(data, bits, order):
    """(a, b, a + b as the targets read) of an addition dataset."""
    weights = 2 ** np.arange(bits)
    weights = weights[::-1] if order == "msb" else weights
    return data.x[:, :bits] @ weights, data.x[:, bits:] @ weights, data.y @ weights


@pytest.mark.parametrize("order", ["msb", "lsb"])
@pytest.mark.parametrize("draw", ["legacy", "generator"])
def test_binary_addition_sums(order, draw):
    bits = 8
    data = binary_addition(50, bits=bits, seed=3, order=order, draw=draw)
    assert (data.x.shape, data.y.shape) == ((50, 2 * bits), (50, bits))
    a, b, total = operands(data, bits, order)
    np.testing.assert_array_equal(total, a + b)
    assert a.max() < 2 ** (bits - 1) and b.max() < 2 ** (bits - 1)
    assert len(np.unique(a)) > 20  # not a constant draw


def test_binary_addition_is_trasks_data():
    """Trask's generate_dataset: with the legacy stream, every left operand
    int(rand * 2**(bits-1)), then every right one; bits most significant first,
    right-aligned in `bits` places; the sum the same way."""
    n, bits = 300, 12
    data = binary_addition(n, bits=bits, seed=1)
    np.random.seed(1)
    left = (np.random.rand(n) * 2 ** (bits - 1)).astype(int)
    right = (np.random.rand(n) * 2 ** (bits - 1)).astype(int)
    np.testing.assert_array_equal(data.x, np.hstack([bits_of(left, bits, "msb"),
                                                     bits_of(right, bits, "msb")]))
    np.testing.assert_array_equal(data.y, bits_of(left + right, bits, "msb"))
    # operands below 2**(bits-1): each one's leading bit is 0, and the sum fits
    assert np.all(data.x[:, [0, bits]] == 0)
    assert left.max() > 2 ** (bits - 2) and (left + right).max() >= 2 ** (bits - 1)


def test_binary_addition_former_rule():
    """draw "generator", order "lsb": the rule pyxbraid first used, so that
    earlier results can be reproduced."""
    n, bits = 40, 12
    rng = np.random.default_rng(5)
    a = rng.integers(0, 2 ** (bits - 1), size=n)
    b = rng.integers(0, 2 ** (bits - 1), size=n)
    data = binary_addition(n, bits=bits, seed=5, order="lsb", draw="generator")
    np.testing.assert_array_equal(data.x, np.hstack([bits_of(a, bits, "lsb"),
                                                     bits_of(b, bits, "lsb")]))
    np.testing.assert_array_equal(data.y, bits_of(a + b, bits, "lsb"))


@pytest.mark.parametrize("draw, make", [("legacy", np.random.RandomState),
                                        ("generator", np.random.default_rng)])
def test_binary_addition_continues_the_callers_stream(draw, make):
    rng = make(7)
    data = binary_addition(25, seed=None, draw=draw, rng=rng)
    assert_same(data, binary_addition(25, seed=7, draw=draw))
    reference = make(7)
    binary_addition(25, seed=None, draw=draw, rng=reference)
    after = rng.random(3)
    np.testing.assert_array_equal(after, reference.random(3))
    if draw == "legacy":  # past exactly the 2 * 25 draws of the operands
        stream = np.random.RandomState(7)
        stream.rand(50)
        np.testing.assert_array_equal(after, stream.random(3))


def test_binary_addition_seed():
    assert_same(binary_addition(20, seed=1), binary_addition(20, seed=1))
    assert not np.array_equal(binary_addition(20, seed=1).x, binary_addition(20, seed=2).x)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_pairs": 0}, "n_pairs"),
    ({"n_pairs": 5, "bits": 1}, "bits"),
    ({"n_pairs": 5, "order": "big"}, "order: must be one of msb, lsb, got 'big'"),
    ({"n_pairs": 5, "draw": "mt"}, "draw: must be one of legacy, generator, got 'mt'"),
    ({"n_pairs": 5, "rng": np.random.default_rng(0)},
     "rng: draw 'legacy' needs a numpy.random.RandomState, got Generator"),
    ({"n_pairs": 5, "draw": "generator", "rng": np.random.RandomState(0)},
     "rng: draw 'generator' needs a numpy.random.Generator, got RandomState"),
])
def test_binary_addition_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        binary_addition(**kwargs)


def test_trask_addition_is_one_legacy_stream_data_first():
    """Trask's script: np.random.seed(1), the data, then each Layer's
    randn(in, out) * 0.2 - 0.1."""
    model = MLP([24, 128, 64, 12], activation="sigmoid", bias=False)
    data, w0 = trask_addition(500, 12, 1, model)
    assert_same(data, binary_addition(500, bits=12, seed=1))
    np.random.seed(1)
    np.random.rand(2 * 500)  # the operands
    expected = [np.random.randn(n_in, n_out) * 0.2 - 0.1
                for n_in, n_out in [(24, 128), (128, 64), (64, 12)]]
    np.testing.assert_array_equal(w0, np.concatenate([e.ravel() for e in expected]))
    again = trask_addition(500, 12, 1, model)  # the same on every rank
    assert_same(again[0], data)
    np.testing.assert_array_equal(again[1], w0)


def test_trask_addition_checks_the_network():
    with pytest.raises(ValueError, match=r"model: 12-bit addition needs 24 inputs and 12 outputs"
                                         r", the network has sizes \[24, 8, 11\]"):
        trask_addition(10, 12, 1, MLP([24, 8, 11], bias=False))


# --- peaks ---------------------------------------------------------------------------

def test_peaks_shapes_and_balance():
    train, val = peaks(n_train=2000, n_val=100, seed=0)
    assert (train.x.shape, val.x.shape) == ((2000, 2), (100, 2))
    assert (train.name, val.name) == ("peaks-train", "peaks-validation")
    assert np.all(np.abs(train.x) <= 3.0)
    for data in (train, val):
        assert_one_hot(data.y, PEAKS_CLASSES)
    assert np.all(train.y.mean(axis=0) >= 0.05)


def test_peaks_labels_follow_the_thresholds():
    train, _ = peaks(n_train=1000, n_val=1, seed=4)
    f = peaks_function(train.x[:, 0], train.x[:, 1])
    labels = train.y.argmax(axis=1)
    bounds = np.concatenate([[-np.inf], PEAKS_THRESHOLDS, [np.inf]])
    assert np.all((bounds[labels] <= f) & (f < bounds[labels + 1]))


def test_peaks_thresholds_are_grid_quantiles():
    axis = np.linspace(-3, 3, 201)
    gx, gy = np.meshgrid(axis, axis)
    np.testing.assert_allclose(PEAKS_THRESHOLDS,
                               np.quantile(peaks_function(gx, gy), [0.2, 0.4, 0.6, 0.8]))
    assert peaks_function(0.0, 0.0) == pytest.approx(0.98101184, abs=1e-8)


def test_peaks_seed():
    for a, b in zip(peaks(100, 10, seed=7), peaks(100, 10, seed=7)):
        assert_same(a, b)
    assert not np.array_equal(peaks(100, 10, seed=7)[0].x, peaks(100, 10, seed=8)[0].x)


@pytest.mark.parametrize("kwargs, argument", [({"n_train": 0}, "n_train"),
                                              ({"n_val": 2.5}, "n_val"),
                                              ({"n_val": True}, "n_val")])
def test_peaks_errors(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        peaks(**kwargs)


# --- digits --------------------------------------------------------------------------

def test_digits():
    train, val = digits(n_val=300, seed=0)
    assert (len(train), len(val)) == (1497, 300)
    assert train.n_features == 64
    assert train.image == val.image == (1, 8, 8)
    for data in (train, val):
        assert data.x.min() >= 0.0 and data.x.max() <= 1.0
        assert_one_hot(data.y, 10)
    assert train.x.max() == 1.0
    counts = train.y.sum(axis=0) + val.y.sum(axis=0)
    assert counts.sum() == 1797 and np.all(counts > 150)


def test_digits_split_is_deterministic():
    for a, b in zip(digits(seed=5), digits(seed=5)):
        assert_same(a, b)
    assert not np.array_equal(digits(seed=5)[1].x, digits(seed=6)[1].x)


def test_digits_does_not_import_sklearn():
    code = ("import sys; from pyxbraid.data.digits import digits, digits_file; "
            "digits_file(); digits(); print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_digits_missing_file(tmp_path):
    missing = tmp_path / "nowhere.csv.gz"
    with pytest.raises(ValueError, match=r"digits file not found: .*nowhere\.csv\.gz.*path="):
        digits(path=missing)
    assert digits_file().endswith("digits.csv.gz")


def write_gz(tmp_path, lines):
    path = tmp_path / "bad.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")
    return path


GOOD_LINE = ",".join(["0"] * 64 + ["3"])


@pytest.mark.parametrize("bad_line, problem", [
    (",".join(["0"] * 63 + ["3"]), "expected 65"),
    (",".join(["0"] * 63 + ["x", "3"]), "non-numeric"),
    (",".join(["0"] * 64 + ["10"]), "label"),
    (",".join(["0"] * 64 + ["2.5"]), "label"),
    (",".join(["17"] + ["0"] * 63 + ["3"]), "pixels"),
])
def test_digits_malformed_file(tmp_path, bad_line, problem):
    path = write_gz(tmp_path, [GOOD_LINE, GOOD_LINE, bad_line])
    with pytest.raises(ValueError, match=rf"bad\.csv\.gz: line 3: .*{problem}"):
        digits(path=path)


def test_digits_not_gzip(tmp_path):
    path = tmp_path / "plain.csv.gz"
    path.write_text(GOOD_LINE)
    with pytest.raises(ValueError, match=r"plain\.csv\.gz"):
        digits(path=path)


def test_digits_n_val():
    with pytest.raises(ValueError, match="n_val"):
        digits(n_val=0)
    with pytest.raises(ValueError, match="n_val"):
        digits(n_val=1797)


# --- IDX -----------------------------------------------------------------------------

@pytest.mark.parametrize("gzipped", [False, True])
@pytest.mark.parametrize("code", sorted(IDX_TYPES))
def test_idx_round_trip(tmp_path, code, gzipped):
    dtype = IDX_TYPES[code].newbyteorder("=")
    array = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    path = tmp_path / "a.idx"  # no .gz: gzip is detected from the bytes
    write_idx(path, array, gzipped=gzipped)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gzipped
    back = read_idx(path)
    assert back.dtype == dtype and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_idx_layout(tmp_path):
    """The bytes MNIST readers expect: header, big-endian sizes, big-endian data."""
    path = tmp_path / "a.idx"
    write_idx(path, np.array([1, 256], dtype=np.int32))
    assert path.read_bytes() == bytes.fromhex("0000 0C01 00000002 00000001 00000100")


def write_bytes(tmp_path, data, name="broken-file.idx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


GOOD_HEADER = bytes.fromhex("0000 0802 00000002 00000003")


@pytest.mark.parametrize("data, problem", [
    (bytes.fromhex("0100 0801 00000001 07"), "bad magic"),
    (bytes.fromhex("0000 0A01 00000001 07"), "unknown IDX type code 0x0A"),
    (bytes.fromhex("0000 08"), "truncated header"),
    (bytes.fromhex("0000 0802 00000002 0000"), "truncated header"),
    (GOOD_HEADER + bytes(5), "truncated data"),
    (GOOD_HEADER + bytes(7), "trailing bytes: 1 after"),
])
@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_broken_files(tmp_path, data, problem, gzipped):
    path = write_bytes(tmp_path, gzip.compress(data) if gzipped else data)
    with pytest.raises(ValueError, match=rf"broken-file\.idx: {problem}"):
        read_idx(path)


def test_idx_corrupt_gzip_and_missing_file(tmp_path):
    path = write_bytes(tmp_path, gzip.compress(GOOD_HEADER + bytes(6))[:-6])
    with pytest.raises(ValueError, match=r"broken-file\.idx: corrupt gzip"):
        read_idx(path)
    with pytest.raises(ValueError, match=r"absent\.idx: cannot read"):
        read_idx(tmp_path / "absent.idx")


def test_write_idx_rejects_other_dtypes(tmp_path):
    with pytest.raises(ValueError, match="array: .*int64"):
        write_idx(tmp_path / "a.idx", np.zeros(3, dtype=np.int64))


def write_pair(tmp_path, images, labels):
    images_path, labels_path = tmp_path / "images.idx", tmp_path / "labels.idx"
    write_idx(images_path, images, gzipped=True)
    write_idx(labels_path, labels)
    return images_path, labels_path


def test_load_idx(tmp_path):
    images = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2) * 20
    images[0, 0, 0] = 255
    paths = write_pair(tmp_path, images, np.array([2, 0, 9], dtype=np.uint8))
    data = load_idx(*paths)
    assert isinstance(data, Dataset) and data.name == "images.idx"
    assert data.x.shape == (3, 4) and data.x[0, 0] == 1.0
    assert data.image == (1, 2, 2)
    np.testing.assert_allclose(data.x * 255, images.reshape(3, 4))
    assert_one_hot(data.y, 10)
    np.testing.assert_array_equal(data.y.argmax(axis=1), [2, 0, 9])


@pytest.mark.parametrize("labels, problem", [
    (np.array([1, 2], dtype=np.uint8), "3 images but 2 labels"),
    (np.array([[1], [2], [3]], dtype=np.uint8), "1-D"),
    (np.array([1, 2, 10], dtype=np.uint8), "0..9"),
])
def test_load_idx_errors(tmp_path, labels, problem):
    paths = write_pair(tmp_path, np.zeros((3, 2, 2), dtype=np.uint8), labels)
    with pytest.raises(ValueError, match=rf"images\.idx and .*labels\.idx: .*{problem}"):
        load_idx(*paths)


def test_load_idx_images_must_be_bytes(tmp_path):
    paths = write_pair(tmp_path, np.zeros((3, 4), dtype=np.float32),
                       np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"images\.idx: images must be"):
        load_idx(*paths)


def test_subset_copies_the_chosen_instances():
    data = Dataset(np.arange(12.0).reshape(6, 2), np.arange(6.0), name="all")
    part = data.subset([4, 1])
    np.testing.assert_array_equal(part.x, [[8.0, 9.0], [2.0, 3.0]])
    np.testing.assert_array_equal(part.y, [[4.0], [1.0]])
    assert part.name == "all" and data.subset([0], name="first").name == "first"
    part.x[0, 0] = -1.0
    assert data.x[4, 0] == 8.0
    assert part.image is None
    image = Dataset(np.zeros((6, 12)), np.arange(6.0), image=(3, 2, 2))
    assert image.subset([1]).image == (3, 2, 2)


@pytest.mark.parametrize("image, problem", [
    ((1, 2), r"image must be \(channels, height, width\), three ints >= 1, got \(1, 2\)"),
    ((1, 0, 4), r"image must be .*, got \(1, 0, 4\)"),
    ((1, 3, 3), r"an image of shape \(1, 3, 3\) has 9 values, the rows of x 8"),
])
def test_an_image_shape_must_fit_the_rows(image, problem):
    with pytest.raises(ValueError, match="d: " + problem):
        Dataset(np.zeros((2, 8)), np.zeros(2), "d", image)
