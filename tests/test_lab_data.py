"""lrlab.lab.data: the Dataset container, every loader, IDX parsing and the download cache.

Golden comparisons: ``blobs`` against scikit-learn's ``make_blobs`` (bit for bit), the Keras split
of ``ionosphere`` against Keras' own ``train_validation_split``, ``digits`` against
``load_digits``. Downloads are tested offline on small IDX files written here and served from
``file://`` URLs or an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import math
import os
import socket
import struct
import subprocess
import sys
import threading
import tracemalloc
import urllib.request
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from lrlab.lab import data as lab_data
from lrlab.lab.data import (
    ChecksumError,
    Dataset,
    DownloadError,
    _download,
    blobs,
    fashion_mnist,
    from_arrays,
    from_csv,
    ionosphere,
    load,
    mnist,
    parse_idx,
    to_idx,
)

IONO_CSV = resources.files("lrlab.lab").joinpath("datasets").joinpath("ionosphere.csv")
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def toy(**kw):
    args = dict(
        name="toy",
        x_train=np.arange(8.0).reshape(4, 2),
        y_train=np.array([0, 1, 1, 0]),
        x_test=np.ones((2, 2)),
        y_test=np.array([1, 0]),
        task="binary",
        n_classes=2,
    )
    args.update(kw)
    return Dataset(**args)


# -- Dataset -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(task="ranking"), "task must be"),
        (dict(name=""), "name must be"),
        (dict(x_train=np.arange(4.0)), r"x_train must be a NumPy array of shape \[n"),
        (dict(x_train=np.zeros((4, 2), dtype=np.int64)), "x_train must be float32 or float64"),
        (dict(x_test=np.ones((2, 2), dtype=np.float32)), "x_test has dtype float32"),
        (dict(x_test=np.ones((2, 3))), r"x_test rows have shape \(3,\)"),
        (dict(y_train=np.array([0, 1, 1])), "y_train has 3 rows but x_train has 4"),
        (dict(y_test=np.array([1, 2])), "y_test has class index 2, outside 0..1"),
        (dict(y_test=np.array([1.0, 0.0])), "y_test must hold integer class indices"),
        (dict(n_classes=3), "task 'binary' does not fit n_classes=3; use task='multiclass'"),
        (dict(n_classes=1, task="multiclass"), "n_classes must be an integer >= 2, got 1"),
        (dict(class_names=("a",)), "class_names has 1 names for n_classes=2"),
        (dict(feature_names=("a", "b", "c")), "feature_names has 3 names for 2 features"),
        (dict(x_train=np.array([[0, 1], [2, np.nan], [0, 0], [0, 0.0]])), "row 1, column 1"),
        (dict(task="regression"), "a regression dataset has no classes"),
        (dict(meta=[1]), "meta must be a mapping"),
    ],
)
def test_dataset_rejects_bad_fields_by_name(kw, match):
    with pytest.raises(ValueError, match=match):
        toy(**kw)


def test_dataset_regression_and_int32_labels():
    reg = toy(task="regression", n_classes=None, y_train=np.zeros(4), y_test=np.ones((2,)))
    assert reg.n_classes is None and reg.y_train.dtype == np.float64
    with pytest.raises(ValueError, match="regression dataset"):
        reg.one_hot()
    ds = toy(y_train=np.array([0, 1, 1, 0], dtype=np.int32), class_names=["no", "yes"])
    assert ds.y_train.dtype == np.int64 and ds.class_names == ("no", "yes")
    assert (ds.n_features, ds.n_train, ds.n_test) == (2, 4, 2)
    assert repr(ds) == (
        "Dataset(name='toy', task='binary', n_classes=2, n_features=2, train=4, test=2, "
        "dtype=float64)"
    )


def test_one_hot():
    ds = toy()
    tr, te = ds.one_hot()
    assert tr.tolist() == [[1, 0], [0, 1], [0, 1], [1, 0]] and tr.dtype == np.float64
    assert te.tolist() == [[0, 1], [1, 0]]
    assert ds.one_hot(np.float32)[0].dtype == np.float32
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got 'int8'"):
        ds.one_hot("int8")


def test_standardized_uses_training_statistics_and_keeps_constant_columns_at_zero():
    x_train = np.array([[1.0, 7.0, 0.1], [3.0, 7.0, 0.1], [5.0, 7.0, 0.1], [7.0, 7.0, 0.1]])
    x_test = np.array([[9.0, 7.0, 0.1], [1.0, 8.0, 0.1]])
    ds = toy(x_train=x_train, x_test=x_test)
    st = ds.standardized()
    mean, std = 4.0, math.sqrt(5.0)  # column 0: population std of 1, 3, 5, 7
    assert np.allclose(st.x_train[:, 0], (x_train[:, 0] - mean) / std)
    assert np.allclose(st.x_test[:, 0], (x_test[:, 0] - mean) / std)  # train stats, not test's
    assert np.all(st.x_train[:, 1:] == 0.0)  # constant columns: exactly 0, no division by 0
    assert st.x_test[:, 1].tolist() == [0.0, 1.0] and np.all(st.x_test[:, 2] == 0.0)
    assert st.meta["standardization"]["fit_on"] == "train"
    assert st.meta["standardization"]["scale"].tolist() == [std, 1.0, 1.0]
    assert np.array_equal(ds.x_train, x_train)  # the original is untouched
    both = ds.standardized(fit_on="all")
    assert np.allclose(np.concatenate([both.x_train, both.x_test])[:, 0].mean(), 0.0)
    f32 = toy(x_train=x_train.astype(np.float32), x_test=x_test.astype(np.float32))
    assert f32.standardized().x_train.dtype == np.float32
    with pytest.raises(ValueError, match="fit_on must be 'train' or 'all', got 'test'"):
        ds.standardized(fit_on="test")


def test_subset():
    ds = toy()
    sub = ds.subset(n_train=2, n_test=0)
    assert (sub.n_train, sub.n_test) == (2, 0) and sub.meta["subset"] == {"n_train": 2, "n_test": 0}
    assert np.array_equal(sub.x_train, ds.x_train[:2])
    assert ds.subset().n_train == 4
    with pytest.raises(ValueError, match=r"n_train must be at most 4 .*got 5"):
        ds.subset(n_train=5)
    with pytest.raises(ValueError, match=r"n_train must be an integer >= 1, got 0"):
        ds.subset(n_train=0)
    with pytest.raises(ValueError, match=r"n_test must be an integer >= 0, got 2\.5"):
        ds.subset(n_test=2.5)


# -- blobs ---------------------------------------------------------------------------------------
def test_blobs_defaults_are_the_tutorial_problem():
    ds = blobs()
    assert (ds.n_train, ds.n_test, ds.n_features, ds.n_classes) == (500, 500, 2, 3)
    assert ds.task == "multiclass" and ds.x_train.dtype == np.float64
    # frozen numbers (equal to sklearn's make_blobs(1000, centers=3, cluster_std=2, seed 2))
    assert ds.x_train[0].tolist() == [0.4871981127474787, -0.4316054814243375]
    assert ds.y_train[:8].tolist() == [2, 2, 2, 0, 1, 0, 1, 1]
    assert np.bincount(np.concatenate([ds.y_train, ds.y_test])).tolist() == [334, 333, 333]
    assert blobs(dtype="float32").x_test.dtype == np.float32


SKLEARN_CASES = [
    (dict(n_samples=1000, centers=3, n_features=2, cluster_std=2, random_state=2), {}),
    (
        dict(n_samples=101, centers=4, n_features=5, cluster_std=0.5, random_state=7),
        dict(n_samples=101, centers=4, n_features=5, cluster_std=0.5, random_state=7, n_train=60),
    ),
    (
        dict(n_samples=[10, 20, 5], n_features=3, cluster_std=[1, 2, 3], random_state=0,
             center_box=(-3, 4)),
        dict(n_samples=[10, 20, 5], centers=3, n_features=3, cluster_std=[1, 2, 3],
             random_state=0, center_box=(-3, 4), n_train=20),
    ),
    (
        dict(n_samples=50, centers=[[0, 0], [5, 5]], cluster_std=1.5, random_state=3),
        dict(n_samples=50, centers=[[0, 0], [5, 5]], cluster_std=1.5, random_state=3, n_train=50),
    ),
    (
        dict(n_samples=30, centers=2, n_features=1, random_state=11, shuffle=False),
        dict(n_samples=30, centers=2, n_features=1, cluster_std=1.0, random_state=11, n_train=10,
             shuffle=False),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("sk_kwargs", "our_kwargs"), SKLEARN_CASES)
def test_blobs_equal_sklearn_make_blobs_bit_for_bit(sk_kwargs, our_kwargs):
    sk = pytest.importorskip("sklearn.datasets")
    X, y = sk.make_blobs(**sk_kwargs)
    ds = blobs(**our_kwargs)
    assert np.array_equal(np.concatenate([ds.x_train, ds.x_test]), X)
    assert np.array_equal(np.concatenate([ds.y_train, ds.y_test]), y)
    n = our_kwargs.get("n_train", 500)
    assert np.array_equal(ds.x_train, X[:n]) and np.array_equal(ds.x_test, X[n:])


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(centers=1), "centers must be an integer >= 2, got 1"),
        (dict(centers=[[0, 0, 0], [1, 1, 1]]), "centers have 3 columns but n_features=2"),
        (dict(n_train=1001), "n_train must be at most n_samples=1000, got 1001"),
        (dict(cluster_std=-1.0), "cluster_std must be finite and >= 0"),
        (dict(cluster_std=[1.0, 2.0]), "cluster_std lists 2 values for 3 centers"),
        (dict(n_samples=[10, 10]), "n_samples lists 2 counts for 3 centers"),
        (dict(n_samples=0), "n_samples must be an integer >= 1, got 0"),
        (dict(center_box=(5, 1)), "center_box must have low < high"),
        (dict(random_state=-1), "random_state must be an integer >= 0, got -1"),
        (dict(dtype=np.int32), "dtype must be float32 or float64"),
    ],
)
def test_blobs_rejects_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        blobs(**kw)


@contextlib.contextmanager
def _allocates_at_most(limit_bytes):
    """Fail if the block allocates more than ``limit_bytes`` at its peak (NumPy arrays too)."""
    tracemalloc.start()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < limit_bytes, f"allocated {peak} bytes"


MAX = lab_data.MAX_ELEMENTS


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(n_samples=10**9), rf"n_samples must be at most {MAX}, got 1000000000$"),
        (dict(n_samples=10**18), rf"n_samples must be .*, got {10**18}$"),
        (dict(n_samples=np.int64(2**40)), rf"n_samples must be .*, got np.int64\({2**40}\)"),
        (dict(n_features=10**30), rf"n_features must be at most {MAX}, got {10**30}$"),
        (
            dict(n_samples=2**20, n_features=2**7),
            rf"n_samples x n_features must be at most {MAX} values \(MAX_ELEMENTS\), got "
            rf"n_samples={2**20} x n_features={2**7} = {2**27}",
        ),
        (
            dict(n_samples=[2**25, 2**25, 1]),
            rf"n_samples must add up to at most {MAX} \(MAX_ELEMENTS\), got {MAX + 1} from 3",
        ),
        (dict(n_samples=[1, 2**40]), rf"n_samples\[1\] must be at most {MAX}, got 1099511627776$"),
        (dict(n_samples=range(1, 10**18)), "n_samples lists 999999999999999999 counts, at most"),
        (
            dict(centers=10**12),
            rf"centers must be at most {lab_data.MAX_BLOB_CENTERS}, got {10**12}$",
        ),
        (
            dict(centers=2**16, n_features=2**11, n_samples=2**16),
            rf"centers x n_features must be at most {MAX} values .*, got centers=65536 x "
            "n_features=2048",
        ),
        (dict(n_features=True), "n_features must be an integer >= 1, got True"),
        (dict(n_train=10**30), rf"n_train must be at most n_samples=1000, got {10**30}"),
        (dict(cluster_std=10**400), "cluster_std must be finite and >= 0, got 1000"),
        (dict(cluster_std=["a", 1.0, 2.0]), r"cluster_std must be a number or one .*, got \['a'"),
        (dict(cluster_std=range(10**18)), "cluster_std lists 1000000000000000000 values for 3"),
        (dict(center_box=(-(10**400), 1)), r"center_box must be a pair of numbers .*, got \(-1000"),
    ],
)
def test_blobs_refuses_huge_sizes_before_allocating(kw, match):
    with _allocates_at_most(1 << 20), pytest.raises(ValueError, match=f"^blobs: {match}"):
        blobs(**kw)


def test_blobs_size_limit_is_inclusive():
    from lrlab.lab.data._limits import check_elements

    assert check_elements("blobs", ("n_samples", MAX), ("n_features", 1)) == MAX
    assert check_elements("blobs", ("n_samples", 2**13), ("n_features", 2**13)) == MAX
    with pytest.raises(ValueError, match=f"got n_samples={MAX + 1} x n_features=1 = {MAX + 1}"):
        check_elements("blobs", ("n_samples", MAX + 1), ("n_features", 1))
    assert blobs(n_samples=4, centers=[[0.0], [1.0]], n_features=1, n_train=2).n_test == 2


def test_load_refuses_huge_blobs_by_name():
    with _allocates_at_most(1 << 20), pytest.raises(ValueError, match="blobs: n_samples must"):
        load("blobs", n_samples=10**18)


# -- ionosphere ----------------------------------------------------------------------------------
def _iono_reference():
    rows = [r.split(",") for r in IONO_CSV.read_text().splitlines() if r]
    return np.array([r[:-1] for r in rows], dtype=float), np.array([r[-1] == "g" for r in rows])


def test_shipped_ionosphere_file_and_attribution():
    raw = IONO_CSV.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == lab_data.IONOSPHERE_SHA256
    assert (
        lab_data.IONOSPHERE_SHA256
        == "fd6dd7864b55d56dac0a1e6e24af9ccc35bf2555ac79af8ab9f3d1daa065ab83"
    )
    notice = resources.files("lrlab.lab").joinpath("datasets").joinpath("README.md").read_text()
    assert "CC BY 4.0" in notice and "Sigillito" in notice and lab_data.IONOSPHERE_SHA256 in notice
    assert resources.files("lrlab.lab").joinpath("datasets").joinpath("ionosphere.names").is_file()


def test_ionosphere_keras_split_is_the_last_third_unshuffled():
    x, g = _iono_reference()
    ds = ionosphere()
    assert (ds.n_train, ds.n_test, ds.n_features) == (235, 116, 34)  # floor(351 * 0.67) = 235
    assert np.array_equal(ds.x_train, x[:235]) and np.array_equal(ds.x_test, x[235:])
    assert np.array_equal(ds.y_train, g[:235].astype(int))  # 'g' -> 1, 'b' -> 0
    assert int(g.sum()) == 225 and ds.class_names == ("bad", "good")
    assert np.all(x[:, 1] == 0.0) and np.all(ds.standardized().x_train[:, 1] == 0.0)
    assert "CC BY 4.0" in ds.meta["license"] and "Sigillito" in ds.meta["citation"]
    assert ionosphere(dtype=np.float32).x_train.dtype == np.float32


@pytest.mark.parametrize("fraction", [0.33, 0.1, 0.2, 0.25, 0.5, 0.7, 0.9])
def test_ionosphere_keras_split_matches_keras(fraction):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    rows = np.arange(351)
    (train,), (val,) = train_validation_split((rows,), validation_split=fraction)
    ds = ionosphere(validation_split=fraction)
    x, _ = _iono_reference()
    assert np.array_equal(ds.x_train, x[np.asarray(train)])
    assert np.array_equal(ds.x_test, x[np.asarray(val)])
    assert ds.n_train == math.floor(351 * (1.0 - fraction))  # Keras' split_at


def test_ionosphere_classic_and_shuffled_splits():
    x, _ = _iono_reference()
    classic = ionosphere(split="classic")
    assert (classic.n_train, classic.n_test) == (200, 151)
    assert np.array_equal(classic.x_test, x[200:])
    a, b = ionosphere(split="shuffled", seed=3), ionosphere(split="shuffled", seed=3)
    assert (a.n_train, a.n_test) == (235, 116)
    assert np.array_equal(a.x_train, b.x_train)  # seeded
    assert not np.array_equal(a.x_train, ionosphere(split="shuffled", seed=4).x_train)
    everything = np.concatenate([a.x_train, a.x_test])
    assert np.array_equal(np.unique(everything, axis=0), np.unique(x, axis=0))
    assert ionosphere(split="shuffled", validation_split=0.5).n_test == 176


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(split="random"), "split must be 'keras', 'shuffled' or 'classic', got 'random'"),
        (dict(split="classic", validation_split=0.3), "validation_split does not apply"),
        (dict(validation_split=1.0), r"validation_split must be a number in \(0, 1\), got 1.0"),
        (dict(validation_split=0.999), "leaves an empty part"),
        (dict(seed=-2), "seed must be an integer >= 0, got -2"),
        (
            dict(validation_split=10**400),
            r"validation_split must be a number in \(0, 1\), got 1000",
        ),
    ],
)
def test_ionosphere_rejects_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        ionosphere(**kw)


def test_ionosphere_verifies_checksum_at_load(monkeypatch):
    from lrlab.lab.data import _builtin

    monkeypatch.setattr(_builtin, "IONOSPHERE_SHA256", "0" * 64)
    with pytest.raises(ChecksumError, match="reinstall lrlab"):
        ionosphere()


# -- digits --------------------------------------------------------------------------------------
def test_digits_matches_sklearn_and_is_stratified():
    sk = pytest.importorskip("sklearn.datasets")
    ds = lab_data.digits()
    ref = sk.load_digits()
    assert (ds.n_train, ds.n_test, ds.n_features, ds.n_classes) == (1347, 450, 64, 10)
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    got = np.concatenate([ds.x_train, ds.x_test]) * 16
    order = np.lexsort(got.T)
    want_order = np.lexsort(ref.data.T)
    assert np.array_equal(got[order], ref.data[want_order])
    share_train = np.bincount(ds.y_train) / ds.n_train
    share_test = np.bincount(ds.y_test) / ds.n_test
    assert np.max(np.abs(share_train - share_test)) < 0.01
    assert np.array_equal(lab_data.digits(seed=5).x_test, lab_data.digits(seed=5).x_test)
    small = lab_data.digits(n_train=1000, seed=1, stratify=False, dtype=np.float32)
    assert (small.n_train, small.n_test, small.x_train.dtype) == (1000, 797, np.float32)
    with pytest.raises(ValueError, match="n_train must be at most 1797, got 2000"):
        lab_data.digits(n_train=2000)


def test_digits_checks_n_train_before_importing_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ValueError, match=f"digits: n_train must be at most 1797, got {10**18}"):
        lab_data.digits(n_train=10**18)


def test_digits_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'lrlab\[sklearn\]'"):
        lab_data.digits()


# -- IDX -----------------------------------------------------------------------------------------
def idx_bytes(code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    """An IDX file written by hand from the format description (independent of to_idx)."""
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


@pytest.mark.parametrize(
    ("code", "fmt", "values", "dtype"),
    [
        (0x08, "B", [0, 1, 255, 7, 8, 9], np.uint8),
        (0x09, "b", [-128, -1, 0, 1, 2, 127], np.int8),
        (0x0B, "h", [258, -2, 0, 1, 2, 32767], np.int16),
        (0x0C, "i", [1 << 20, -5, 0, 1, 2, 3], np.int32),
        (0x0D, "f", [0.5, -1.25, 0, 1, 2, 3], np.float32),
        (0x0E, "d", [1e-300, -2.5, 0, 1, 2, 3], np.float64),
    ],
)
def test_parse_idx_reads_big_endian_values_of_every_type(code, fmt, values, dtype):
    raw = idx_bytes(code, (2, 3), struct.pack(f">6{fmt}", *values))
    for data in (raw, gzip.compress(raw)):
        arr = parse_idx(data)
        assert arr.dtype == dtype and arr.shape == (2, 3) and arr.dtype.isnative
        assert arr.ravel().tolist() == values
        arr[0, 0] = 1  # writable
        assert to_idx(parse_idx(raw)) == raw


def test_parse_idx_one_and_three_dimensions():
    assert parse_idx(idx_bytes(8, (4,), bytes([9, 8, 7, 6]))).tolist() == [9, 8, 7, 6]
    cube = parse_idx(idx_bytes(8, (2, 2, 2), bytes(range(8))))
    assert cube.shape == (2, 2, 2) and cube[1, 0, 1] == 5


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "magic number 0x01000801 must start with two zero"),
        (b"\x00\x00\x0a\x01\x00\x00\x00\x01\x00", "unknown IDX type code 0x0A"),
        (b"\x00\x00\x08\x00", "declares 0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01", "truncated header: 3 dimensions need 16 bytes"),
        (idx_bytes(8, (2, 3), bytes(5)), r"payload has 5 bytes but shape \(2, 3\)"),
        (idx_bytes(0x0B, (2,), bytes(5)), "payload has 5 bytes .* needs 4"),
        (b"\x1f\x8b\x08\x00garbage", "starts like gzip but does not decompress"),
        ("text", "data must be bytes"),
    ],
)
def test_parse_idx_rejects_malformed_files(data, match):
    with pytest.raises(ValueError, match=match):
        parse_idx(data)


def test_parse_idx_dimensions_whose_product_passes_int64():
    # 2**31 * 2**31 * 2**31 = 2**93 is 0 modulo 2**64: an empty payload must not pass for it
    with _allocates_at_most(1 << 20), pytest.raises(ValueError, match=f"needs {2**93}$") as e:
        parse_idx(idx_bytes(8, (2**31, 2**31, 2**31), b""))
    assert "payload has 0 bytes" in str(e.value)


def test_to_idx_rejects_unsupported_arrays():
    with pytest.raises(ValueError, match="dtype int64"):
        to_idx(np.arange(3))
    with pytest.raises(ValueError, match=r"shape \(\)"):
        to_idx(np.uint8(3))


# -- downloads: MNIST-format files made here, served locally --------------------------------------
def make_idx_files(folder: Path, n_train: int = 6, n_test: int = 4, seed: int = 0) -> dict:
    """Write the four gzipped IDX files of a tiny MNIST-like set; return arrays and checksums."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        FILES[0]: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        FILES[1]: rng.integers(0, 10, n_train, dtype=np.uint8),
        FILES[2]: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        FILES[3]: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    sums = {}
    for name, arr in arrays.items():
        code = 8
        blob = gzip.compress(idx_bytes(code, arr.shape, arr.tobytes()), mtime=0)
        (folder / name).write_bytes(blob)
        sums[name] = "sha256:" + hashlib.sha256(blob).hexdigest()
    return {"arrays": arrays, "checksums": sums}


def cache_files(cache: Path) -> list[str]:
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


def test_mnist_downloads_from_file_urls_into_the_cache(tmp_path):
    src = make_idx_files(tmp_path / "mirror")
    cache = tmp_path / "cache"
    ds = mnist(cache_dir=cache, base_url=(tmp_path / "mirror").as_uri(), checksums=src["checksums"])
    arrays = src["arrays"]
    assert ds.x_train.shape == (6, 784) and ds.x_train.dtype == np.float32
    assert np.array_equal(ds.x_train, (arrays[FILES[0]].reshape(6, -1) / np.float32(255)))
    assert np.array_equal(ds.y_test, arrays[FILES[3]].astype(np.int64))
    assert float(ds.x_train.max()) <= 1.0 and ds.class_names[:2] == ("0", "1")
    assert cache_files(cache) == sorted(f"mnist/{f}" for f in FILES)  # no .part files left over
    for f in FILES:
        assert (cache / "mnist" / f).read_bytes() == (tmp_path / "mirror" / f).read_bytes()
    images = mnist(
        cache_dir=cache, checksums=src["checksums"], flatten=False, dtype=np.float64
    ).x_test
    assert images.shape == (4, 28, 28) and images.dtype == np.float64


@pytest.fixture
def http_mirror(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/mirror; yields (base_url, files, hits)."""
    src = make_idx_files(tmp_path / "mirror")
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path / "mirror"), **kwargs)

        def do_GET(self):
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", src, hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_fashion_mnist_over_http_then_from_cache_without_network(
    http_mirror, tmp_path, monkeypatch
):
    base, src, hits = http_mirror
    cache = tmp_path / "cache"
    ds = fashion_mnist(cache_dir=cache, base_url=base, checksums=src["checksums"])
    assert sorted(hits) == sorted(f"/{f}" for f in FILES)
    assert ds.class_names[0] == "T-shirt/top" and ds.name == "fashion_mnist"
    assert np.array_equal(ds.y_train, src["arrays"][FILES[1]])

    def no_network(*args, **kwargs):
        raise AssertionError("the network was used although every file is cached")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    again = fashion_mnist(cache_dir=cache, base_url=base, checksums=src["checksums"])
    assert len(hits) == 4 and np.array_equal(again.x_test, ds.x_test)
    monkeypatch.setenv("LRLAB_DATA", str(cache))
    assert np.array_equal(fashion_mnist(checksums=src["checksums"]).x_train, ds.x_train)


def test_checksum_mismatch_rejects_the_file_and_caches_nothing(http_mirror, tmp_path):
    base, src, _ = http_mirror
    cache = tmp_path / "cache"
    wrong = dict(src["checksums"], **{FILES[1]: "md5:" + "0" * 32})
    with pytest.raises(ChecksumError) as info:
        mnist(cache_dir=cache, base_url=base, checksums=wrong)
    message = str(info.value)
    assert f"{base}{FILES[1]}" in message and "expected 00000000" in message
    assert "rejected and not cached" in message
    assert FILES[1] not in cache_files(cache) and not any(".part" in f for f in cache_files(cache))
    assert isinstance(info.value, OSError)


def test_a_damaged_cached_file_is_refused_or_downloaded_again(tmp_path):
    src = make_idx_files(tmp_path / "mirror")
    base = (tmp_path / "mirror").as_uri()
    cache = tmp_path / "cache"
    mnist(cache_dir=cache, base_url=base, checksums=src["checksums"])
    damaged = cache / "mnist" / FILES[0]
    damaged.write_bytes(b"not the file")
    with pytest.raises(ChecksumError, match="Delete it to download it again"):
        mnist(cache_dir=cache, download=False, checksums=src["checksums"])
    ds = mnist(cache_dir=cache, base_url=base, checksums=src["checksums"])
    assert ds.n_train == 6 and damaged.read_bytes() == (tmp_path / "mirror" / FILES[0]).read_bytes()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_error_names_the_url_and_where_to_put_the_file(tmp_path):
    cache = tmp_path / "cache"
    base = f"http://127.0.0.1:{_closed_port()}/mnist/"
    with pytest.raises(DownloadError) as info:
        mnist(cache_dir=cache, base_url=base, timeout=5)
    message = str(info.value)
    assert f"{base}{FILES[0]}" in message
    assert f"place the file at {cache / 'mnist' / FILES[0]}" in message
    assert "LRLAB_DATA" in message and isinstance(info.value, OSError)
    assert f"mnist needs all four files in {cache / 'mnist'}" in message
    assert cache_files(cache) == []
    with pytest.raises(DownloadError, match="not in the cache and download=False"):
        mnist(cache_dir=cache, download=False)


def test_mirrors_are_tried_in_order_and_urls_override_single_files(tmp_path):
    src = make_idx_files(tmp_path / "mirror")
    dead = (tmp_path / "nowhere").as_uri()
    good = (tmp_path / "mirror").as_uri()
    ds = mnist(cache_dir=tmp_path / "a", base_url=[dead, good], checksums=src["checksums"])
    assert ds.n_test == 4
    (tmp_path / "other").mkdir()
    moved = tmp_path / "other" / "labels.gz"
    (tmp_path / "mirror" / FILES[3]).rename(moved)
    ds = mnist(
        cache_dir=tmp_path / "b",
        base_url=good,
        urls={FILES[3]: moved.as_uri()},
        checksums=src["checksums"],
    )
    assert np.array_equal(ds.y_test, src["arrays"][FILES[3]])
    with pytest.raises(ValueError, match=r"urls has unknown file name\(s\) \['labels.gz'\]"):
        mnist(cache_dir=tmp_path / "b", urls={"labels.gz": good})
    with pytest.raises(ValueError, match="checksum must be"):
        mnist(cache_dir=tmp_path / "c", base_url=good, checksums={FILES[0]: "abc"})
    with pytest.raises(ValueError, match="url must start with http"):
        mnist(cache_dir=tmp_path / "c", base_url="ftp://example.org/")


def test_corrupted_idx_header_is_reported_with_the_file(tmp_path):
    src = make_idx_files(tmp_path / "mirror")
    bad = gzip.compress(b"\x08\x00\x08\x03" + bytes(20))
    (tmp_path / "mirror" / FILES[0]).write_bytes(bad)
    sums = dict(src["checksums"], **{FILES[0]: "md5:" + hashlib.md5(bad).hexdigest()})
    with pytest.raises(ValueError, match=f"{FILES[0]}: parse_idx: not an IDX file"):
        mnist(cache_dir=tmp_path / "cache", base_url=(tmp_path / "mirror").as_uri(), checksums=sums)


def test_images_and_labels_must_agree(tmp_path):
    src = make_idx_files(tmp_path / "mirror")
    labels = gzip.compress(idx_bytes(8, (5,), bytes(5)))  # 5 labels for 6 images
    (tmp_path / "mirror" / FILES[1]).write_bytes(labels)
    sums = dict(src["checksums"], **{FILES[1]: hashlib.sha256(labels).hexdigest()})
    with pytest.raises(ValueError, match=r"train-labels must be uint8 of shape \[6\]"):
        mnist(cache_dir=tmp_path / "cache", base_url=(tmp_path / "mirror").as_uri(), checksums=sums)


# -- download hygiene: stale part files, a size cap, the cache files' mode ------------------------
def _part(folder: Path, target: str, tag: str, age: float = 0.0) -> Path:
    """A leftover part file of ``target`` as a killed download leaves it, ``age`` seconds old."""
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f".{target}.{tag}.part"
    p.write_bytes(b"half a file")
    if age:
        t = p.stat().st_mtime - age
        os.utime(p, (t, t))
    return p


@pytest.mark.skipif(sys.platform == "win32", reason="flock: POSIX only")
def test_stale_part_files_of_the_target_are_cleaned_but_live_ones_kept(tmp_path):
    src = make_idx_files(tmp_path / "mirror")
    folder = tmp_path / "cache"
    target, other = FILES[1], FILES[3]
    stale = _part(folder, target, "k1ll3d_x", age=3600)  # a killed download's leftover
    fresh = _part(folder, target, "b3g1nn1n")  # a download that has just begun
    held = _part(folder, target, "l1v3_w0r", age=3600)  # old, but a live process writes it
    unrelated = _part(folder, other, "k1ll3d_y", age=3600)  # another file's: not this fetch's
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"f = open({str(held)!r}, 'ab'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            "print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        url = (tmp_path / "mirror" / target).as_uri()
        _download.fetch(folder / target, [url], src["checksums"][target])
    finally:
        holder.kill()
        holder.wait()
    left = sorted(p.name for p in folder.iterdir())
    assert stale.name not in left
    assert sorted([fresh.name, held.name, unrelated.name, target]) == left


def _endless_server():
    """An HTTP/1.0 server on 127.0.0.1 whose every response is endless zeros, no length."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            block = bytes(1 << 16)
            try:
                while True:
                    self.wfile.write(block)
            except OSError:
                pass  # the client hung up

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def test_an_endless_response_stops_at_the_size_cap(tmp_path, monkeypatch):
    server = _endless_server()
    url = f"http://127.0.0.1:{server.server_address[1]}/train-images-idx3-ubyte.gz"
    dest = tmp_path / "cache" / "f.gz"
    try:
        with pytest.raises(DownloadError) as info:
            _download.fetch(dest, [url], "md5:" + "0" * 32, max_bytes=1 << 20)
        message = str(info.value)
        assert url in message and f"more than {1 << 20} bytes" in message
        assert "max_bytes" in message
        with pytest.raises(DownloadError, match=f"more than {3 << 16} bytes, the expected size"):
            _download.fetch(dest, [url], "md5:" + "0" * 32, size=3 << 16)
        # the default cap is lrlab's documented maximum
        monkeypatch.setattr(_download, "MAX_DOWNLOAD_BYTES", 1 << 18)
        with pytest.raises(DownloadError, match=f"more than {1 << 18} bytes"):
            mnist(cache_dir=tmp_path / "cache", base_url=url.rsplit("/", 1)[0] + "/")
    finally:
        server.shutdown()
        server.server_close()
    assert cache_files(tmp_path / "cache") == []  # nothing cached, no part file left


def test_a_declared_length_over_the_cap_fails_before_reading(http_mirror, tmp_path):
    base, src, _ = http_mirror
    name = FILES[0]
    size = (tmp_path / "mirror" / name).stat().st_size
    dest = tmp_path / "cache" / name
    with pytest.raises(DownloadError, match=f"declares {size} bytes, more than {size - 1}"):
        _download.fetch(dest, [base + name], src["checksums"][name], size=size - 1)
    data = _download.fetch(dest, [base + name], src["checksums"][name], size=size)
    assert len(data) == size and cache_files(tmp_path / "cache") == [name]
    with pytest.raises(ValueError, match="fetch: max_bytes must be an integer >= 1, got 0"):
        _download.fetch(dest, [base + name], src["checksums"][name], max_bytes=0)
    with pytest.raises(ValueError, match=r"fetch: size must be None or an integer >= 0, got -1"):
        _download.fetch(dest, [base + name], src["checksums"][name], size=-1)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_cached_files_have_the_usual_mode(tmp_path, umask):
    src = make_idx_files(tmp_path / "mirror")
    cache = tmp_path / "cache"
    old = os.umask(umask)
    try:
        mnist(cache_dir=cache, base_url=(tmp_path / "mirror").as_uri(), checksums=src["checksums"])
    finally:
        os.umask(old)
    for f in FILES:
        assert (cache / "mnist" / f).stat().st_mode & 0o777 == 0o666 & ~umask, f


def test_cache_dir_default_and_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("LRLAB_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert lab_data.cache_dir() == tmp_path / ".cache" / "lrlab"
    monkeypatch.setenv("LRLAB_DATA", str(tmp_path / "data"))
    assert lab_data.cache_dir() == tmp_path / "data"
    assert lab_data.cache_dir(tmp_path / "x") == tmp_path / "x"


def test_published_sources_and_checksums():
    # torchvision/datasets/mnist.py: MNIST.mirrors / FashionMNIST.mirrors and their resources
    assert lab_data.MNIST.base_urls == ("https://ossci-datasets.s3.amazonaws.com/mnist/",)
    assert lab_data.FASHION_MNIST.base_urls == (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    )
    assert lab_data.MNIST.checksums[FILES[0]] == "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert lab_data.FASHION_MNIST.checksums[FILES[3]] == "md5:bb300cfdad3c16e7a12a480ee83cd310"
    for source in (lab_data.MNIST, lab_data.FASHION_MNIST):
        assert sorted(source.checksums) == sorted(FILES) and len(source.class_names) == 10


# -- user data -----------------------------------------------------------------------------------
def test_from_arrays_string_labels_and_stratified_split():
    y = np.array(["cat"] * 30 + ["dog"] * 60 + ["eel"] * 10)
    x = np.arange(200.0).reshape(100, 2)
    ds = from_arrays(x, y, seed=4)
    assert ds.task == "multiclass" and ds.class_names == ("cat", "dog", "eel")
    assert (ds.n_train, ds.n_test) == (80, 20)
    assert np.bincount(ds.y_test).tolist() == [6, 12, 2]  # proportions kept
    rows = np.concatenate([ds.x_train, ds.x_test])[:, 0] // 2
    labels = np.concatenate([ds.y_train, ds.y_test])
    assert np.array_equal(np.array(["cat", "dog", "eel"])[labels], y[rows.astype(int)])
    assert np.array_equal(from_arrays(x, y, seed=4).x_test, ds.x_test)
    plain = from_arrays(x, y, seed=4, stratify=False, test_fraction=0.25)
    assert plain.n_test == 25 and "shuffled" in plain.meta["split"]


@pytest.mark.parametrize(
    ("y", "task", "n_classes", "names"),
    [
        ([0, 1, 0, 1, 1, 0], "binary", 2, None),
        ([0, 3, 1, 3, 1, 0], "multiclass", 4, None),  # indices as given, class 2 absent
        ([-1, 1, -1, 1, 1, -1], "binary", 2, ("-1", "1")),
        ([1.0, 2.0, 0.0, 1.0, 2.0, 0.0], "multiclass", 3, None),
        ([True, False, True, False, True, False], "binary", 2, ("False", "True")),
        ([0.5, 1.5, 2.0, 3.0, 4.0, 5.0], "regression", None, None),
    ],
)
def test_from_arrays_infers_the_task(y, task, n_classes, names):
    ds = from_arrays(np.zeros((6, 1)), y, test_fraction=0)
    assert (ds.task, ds.n_classes, ds.class_names) == (task, n_classes, names)


def test_from_arrays_given_test_part_and_overrides():
    x = np.arange(30.0).reshape(30, 1)
    many = np.arange(30)  # 30 distinct integers: regression unless told otherwise
    assert from_arrays(x, many, test_fraction=0).task == "regression"
    as_classes = from_arrays(x, many % 3, task="classification", test_fraction=0)
    assert as_classes.task == "multiclass" and as_classes.n_classes == 3
    ds = from_arrays(x[:20], ["a", "b"] * 10, x[20:], ["b", "c"] * 5, dtype=np.float32)
    assert ds.class_names == ("a", "b", "c") and ds.y_test.tolist()[:2] == [1, 2]
    assert np.array_equal(ds.x_test[:, 0], np.arange(20, 30)) and ds.x_train.dtype == np.float32
    ordered = from_arrays(
        x[:4], ["lo", "hi", "lo", "hi"], class_names=["lo", "hi"], test_fraction=0
    )
    assert sorted(ordered.y_train.tolist()) == [0, 0, 1, 1] and ordered.class_names == ("lo", "hi")
    reg = from_arrays(x, x[:, 0] * 0.5, task="regression", meta={"note": "line"})
    assert reg.y_train.dtype == np.float64 and reg.meta["note"] == "line"


@pytest.mark.parametrize(
    ("args", "kw", "match"),
    [
        ((np.zeros(4), [0, 1, 0, 1]), {}, r"x_train must have shape \[n, features...\]"),
        ((np.zeros((4, 1)), [0, 1, 0]), {}, "y_train has 3 rows but x_train has 4"),
        ((np.zeros((4, 1)), [0, 0, 0, 0]), {}, "needs at least 2 classes"),
        ((np.zeros((4, 1)), [0.5, 1, 2, 3]), {"stratify": True}, "stratify=True needs classes"),
        ((np.zeros((4, 1)), ["a", "b", "c", "a"]), {"class_names": ["a", "b"]}, r"\['c'\]"),
        ((np.zeros((4, 1)), [0, 1, 0, 1], np.zeros((2, 1))), {}, "given together"),
        (
            (np.zeros((4, 1)), [0, 1, 0, 1], np.zeros((2, 1)), [0, 1]),
            {"test_fraction": 0.5},
            "cannot be used with x_test",
        ),
        ((np.zeros((4, 1)), [0, 1, 0, 1]), {"test_fraction": 0.9}, "leaves no training rows"),
        ((np.zeros((4, 1)), [0, 1, 0, 1]), {"task": "ranking"}, "task must be"),
        ((np.zeros((4, 1)), [0.5, 1, 2, 3]), {"task": "binary"}, "must be integers or strings"),
        ((np.zeros((4, 1)), [0, 1, 0, 1]), {"test_fraction": 1}, r"in \[0, 1\), got 1"),
        (
            (np.zeros((4, 1)), [0, 1, 0, 1]),
            {"test_fraction": 10**400},
            r"test_fraction must be a number in \[0, 1\), got 1000",
        ),
    ],
)
def test_from_arrays_rejects_bad_input(args, kw, match):
    with pytest.raises(ValueError, match=match):
        from_arrays(*args, **kw)


def test_from_csv_reads_the_shipped_ionosphere_file(tmp_path):
    path = tmp_path / "iono.csv"
    path.write_bytes(IONO_CSV.read_bytes())
    ds = from_csv(path, test_fraction=0.2, seed=0)
    assert ds.class_names == ("b", "g") and ds.task == "binary" and ds.name == "iono"
    assert (ds.n_train, ds.n_test, ds.n_features) == (280, 71, 34)
    _, g = _iono_reference()
    assert int(np.concatenate([ds.y_train, ds.y_test]).sum()) == int(g.sum())
    assert ds.feature_names is None


def test_from_csv_header_target_and_regression(tmp_path):
    path = tmp_path / "houses.csv"
    path.write_text("price,rooms,area\n\n100.5,3,70\n150.25,4,90\n90.0,2,55\n120.0,3,80\n")
    ds = from_csv(path, target="price", test_fraction=0.25, seed=1)
    assert ds.task == "regression" and ds.feature_names == ("rooms", "area")
    assert (ds.n_train, ds.n_test) == (3, 1)
    assert sorted(np.concatenate([ds.y_train, ds.y_test]).tolist()) == [90.0, 100.5, 120.0, 150.25]
    by_index = from_csv(path, target=0, test_fraction=0.25, seed=1)
    assert np.array_equal(by_index.x_train, ds.x_train)
    semi = tmp_path / "semi.csv"
    semi.write_text("1;2;a\n3;4;b\n5;6;a\n")
    assert from_csv(semi, delimiter=";", test_fraction=0).class_names == ("a", "b")


@pytest.mark.parametrize(
    ("text", "kw", "match"),
    [
        ("a,b,y\n1,2,x\n3,oops,z\n", {}, r"line 3, column 1 \('b'\): 'oops', not a number"),
        ("1,2,x\n3,,z\n", {}, "line 2, column 1: an empty cell"),
        ("1,2,x\n3,4\n", {}, "line 2 has 2 fields, expected 3"),
        ("a,b,label\n1,2,x\n", {"target": "lable"}, "did you mean 'label'"),
        ("1,2,x\n", {"target": 3}, r"target must be a column index in \[-3, 2\], got 3"),
        ("1,2,x\n", {"target": "x", "header": False}, "is a column name, but header=False"),
        ("", {}, "has no rows"),
        ("a,b,y\n", {}, "has a header but no data rows"),
        ("1,2,x\n3,4,\n", {}, "line 2: the target cell is empty"),
    ],
)
def test_from_csv_errors_point_at_the_line(tmp_path, text, kw, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        from_csv(path, **kw)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"test_fraction": 10**400}, r"test_fraction must be a number in \[0, 1\), got 1000"),
        ({"test_fraction": 1.5}, r"test_fraction must be a number in \[0, 1\), got 1.5"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"dtype": "int8"}, "dtype must be float32 or float64, got 'int8'"),
    ],
)
def test_from_csv_checks_its_arguments_before_reading_the_file(tmp_path, kw, match):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,2,3\n4,5\n")  # reading it would fail on line 2
    with pytest.raises(ValueError, match=f"^from_csv: {match}"):
        from_csv(ragged, **kw)


def test_from_csv_missing_file(tmp_path):
    with pytest.raises(ValueError, match="is not a file"):
        from_csv(tmp_path / "missing.csv")


# -- load by name --------------------------------------------------------------------------------
def test_load_dispatches_by_name(tmp_path):
    assert np.array_equal(load("Ionosphere", split="classic").x_test, ionosphere("classic").x_test)
    assert load("blobs", n_train=100).n_train == 100
    src = make_idx_files(tmp_path / "mirror")
    ds = load("fashion-mnist", cache_dir=tmp_path / "c", base_url=(tmp_path / "mirror").as_uri(),
              checksums=src["checksums"])  # fmt: skip
    assert ds.name == "fashion_mnist"
    path = tmp_path / "d.csv"
    path.write_text("1,2,a\n3,4,b\n")
    assert load("csv", path=path, test_fraction=0).class_names == ("a", "b")
    assert lab_data.available() == (
        "blobs",
        "ionosphere",
        "digits",
        "fashion_mnist",
        "mnist",
        "csv",
    )


def test_load_errors():
    with pytest.raises(ValueError, match=r"unknown dataset 'minst' \(did you mean 'mnist'\?\)"):
        load("minst")
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'; known: blobs, ionosphere"):
        load("cifar10")
    with pytest.raises(ValueError, match="ionosphere does not take 'n_train'; it takes split"):
        load("ionosphere", n_train=3)
    with pytest.raises(ValueError, match="name must be a string"):
        load(3)


# -- packaging -----------------------------------------------------------------------------------
def test_importing_the_data_module_needs_only_numpy():
    code = (
        "import sys, lrlab.lab.data as d; d.blobs(); d.ionosphere();"
        "heavy = {'sklearn', 'scipy', 'torch', 'keras', 'jax'};"
        "heavy &= {m.split('.')[0] for m in sys.modules};"
        "print(sorted(heavy))"
    )  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
