"""Datasets that need no download: Ionosphere (shipped with lrlab) and digits (scikit-learn's)."""

from __future__ import annotations

import hashlib
import math
from importlib import resources

import numpy as np
from numpy.typing import DTypeLike

from ..._checks import either, float_dtype, fraction, integer
from ._dataset import Dataset
from ._download import ChecksumError
from ._split import split_indices

__all__ = ["IONOSPHERE_SHA256", "digits", "ionosphere"]

#: sha256 of the shipped ``lrlab/lab/datasets/ionosphere.csv`` (the UCI file, 351 rows)
IONOSPHERE_SHA256 = "fd6dd7864b55d56dac0a1e6e24af9ccc35bf2555ac79af8ab9f3d1daa065ab83"

#: rows of scikit-learn's digits (``load_digits``)
_DIGITS_ROWS = 1797

_IONOSPHERE_META = {
    "source": "UCI Machine Learning Repository, Ionosphere "
    "(https://archive.ics.uci.edu/dataset/52/ionosphere); Johns Hopkins University Ionosphere "
    "database, donated by Vince Sigillito, 1989",
    "citation": "Sigillito, V. G., Wing, S. P., Hutton, L. V., & Baker, K. B. (1989). "
    "Classification of radar returns from the ionosphere using neural networks. Johns Hopkins "
    "APL Technical Digest, 10, 262-266.",
    "license": "CC BY 4.0 (UCI Machine Learning Repository)",
    "labels": "'g' (good) -> 1, 'b' (bad) -> 0",
}


def _ionosphere_rows(owner: str) -> tuple[np.ndarray, np.ndarray]:
    """The 351 shipped rows as float64 features ``[351, 34]`` and 0/1 labels, checksum-verified."""
    raw = resources.files("lrlab.lab").joinpath("datasets").joinpath("ionosphere.csv").read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != IONOSPHERE_SHA256:
        raise ChecksumError(
            f"{owner}: the shipped ionosphere.csv has sha256 {digest}, expected "
            f"{IONOSPHERE_SHA256}; the lrlab installation is damaged (reinstall lrlab)"
        )
    rows = [line.split(",") for line in raw.decode("ascii").splitlines() if line.strip()]
    x = np.array([row[:-1] for row in rows], dtype=np.float64)
    y = np.array([{"b": 0, "g": 1}[row[-1].strip()] for row in rows], dtype=np.int64)
    return x, y


def ionosphere(
    split: str = "keras",
    validation_split: float | None = None,
    seed: int = 0,
    dtype: DTypeLike = np.float64,
) -> Dataset:
    """The UCI Ionosphere radar returns (351 rows, 34 features, good/bad), shipped with lrlab.

    The CSV inside the package is checked against :data:`IONOSPHERE_SHA256` on every load.
    Labels: ``'g'`` (good) is 1 and ``'b'`` (bad) is 0. The second feature is 0 in every row
    (:meth:`Dataset.standardized` leaves it at 0).

    Args:
        split: How train and test are formed, always in file order within each part unless
            shuffled:

            * ``"keras"`` — the last ``validation_split`` fraction is the test part, unshuffled,
              exactly as Keras' ``model.fit(validation_split=...)`` does
              (``keras/src/trainers/data_adapters/array_slicing.py``,
              ``train_validation_split``: ``split_at = int(math.floor(n * (1.0 -
              validation_split)))``; rows ``[:split_at]`` train, ``[split_at:]`` validate).
              With the default 0.33 that is 235 train / 116 test.
            * ``"shuffled"`` — the same sizes after a seeded shuffle
              (``numpy.random.default_rng(seed).permutation``).
            * ``"classic"`` — the first 200 rows train and the other 151 test, as in Sigillito
              et al. (1989).
        validation_split: Test fraction in ``(0, 1)`` for ``"keras"`` and ``"shuffled"``
            (default 0.33); it cannot be combined with ``"classic"``.
        seed: Seed of the shuffle for ``split="shuffled"`` (unused by the other splits).
        dtype: float64 (default) or float32 for the inputs.

    Returns:
        A binary :class:`Dataset` with ``class_names=("bad", "good")``.

    Example:
        >>> ds = ionosphere()
        >>> ds.n_train, ds.n_test, ds.n_features, ds.class_names
        (235, 116, 34, ('bad', 'good'))
        >>> ionosphere(split="classic").n_train
        200
    """
    owner = "ionosphere"
    either(owner, "split", split, ("keras", "shuffled", "classic"))
    seed = integer(owner, "seed", seed, lo=0)
    dt = float_dtype(owner, dtype)
    if split == "classic":
        if validation_split is not None:
            raise ValueError(
                f"{owner}: validation_split does not apply to split='classic' (200 train / 151 "
                f"test), got validation_split={validation_split!r}"
            )
    else:
        validation_split = fraction(
            owner, "validation_split", 0.33 if validation_split is None else validation_split
        )
    x, y = _ionosphere_rows(owner)
    n = len(y)
    if split == "classic":
        split_at = 200
        description = "classic: rows 0-199 train, rows 200-350 test (Sigillito et al., 1989)"
        train, test = np.arange(split_at), np.arange(split_at, n)
    else:
        assert validation_split is not None
        split_at = math.floor(n * (1.0 - validation_split))  # Keras: int(math.floor(...))
        if split_at in (0, n):
            raise ValueError(
                f"{owner}: validation_split={validation_split} leaves an empty part of {n} rows"
            )
        if split == "keras":
            train, test = np.arange(split_at), np.arange(split_at, n)
            description = (
                f"keras: validation_split={validation_split}, rows 0-{split_at - 1} train, "
                f"rows {split_at}-{n - 1} test (unshuffled, as Keras' fit(validation_split=))"
            )
        else:
            perm = np.random.default_rng(seed).permutation(n)
            train, test = perm[:split_at], perm[split_at:]
            description = (
                f"shuffled: numpy.random.default_rng({seed}).permutation, first {split_at} train, "
                f"last {n - split_at} test (validation_split={validation_split})"
            )
    return Dataset(
        name="ionosphere",
        x_train=x[train].astype(dt),
        y_train=y[train],
        x_test=x[test].astype(dt),
        y_test=y[test],
        task="binary",
        n_classes=2,
        feature_names=tuple(f"a{i:02d}" for i in range(1, 35)),
        class_names=("bad", "good"),
        meta={**_IONOSPHERE_META, "split": description},
    )


def digits(
    n_train: int = 1347,
    seed: int = 0,
    *,
    stratify: bool = True,
    dtype: DTypeLike = np.float64,
) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1797 images, 10 classes), pixels scaled to [0, 1].

    The data ships inside scikit-learn (``sklearn.datasets.load_digits``), so nothing is
    downloaded; scikit-learn must be installed (``pip install 'lrlab[sklearn]'``). Pixel values
    0..16 are divided by 16.

    Args:
        n_train: Training examples, ``1 .. 1797``; the rest are the test part. The default 1347
            is scikit-learn's ``train_test_split`` default of 25% test.
        seed: Seed of the split (``numpy.random.default_rng``).
        stratify: Keep the class proportions equal in both parts (default) rather than a plain
            seeded shuffle.
        dtype: float64 (default) or float32 for the inputs.

    Returns:
        A multiclass :class:`Dataset` with 64 features and classes ``"0" .. "9"``.

    Raises:
        ImportError: scikit-learn is not installed (the message says how to install it).

    Example:
        >>> ds = digits(n_train=1000, seed=1)  # doctest: +SKIP
        >>> ds.n_train, ds.n_test, float(ds.x_train.max())  # doctest: +SKIP
        (1000, 797, 1.0)
    """
    owner = "digits"
    n_train = integer(owner, "n_train", n_train, lo=1)
    if n_train > _DIGITS_ROWS:  # checked before scikit-learn is imported and the data read
        raise ValueError(f"{owner}: n_train must be at most {_DIGITS_ROWS}, got {n_train}")
    seed = integer(owner, "seed", seed, lo=0)
    dt = float_dtype(owner, dtype)
    if not isinstance(stratify, bool):
        raise ValueError(f"{owner}: stratify must be True or False, got {stratify!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError(
            "lrlab.lab.data.digits() reads the digits that ship with scikit-learn, which is not "
            "installed: pip install 'lrlab[sklearn]' (or pip install scikit-learn)"
        ) from exc
    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    n = len(y)
    if n_train > n:  # pragma: no cover - a scikit-learn with other digits
        raise ValueError(f"{owner}: n_train must be at most {n}, got {n_train}")
    train, test = split_indices(n, n - n_train, seed, stratify=y if stratify else None)
    kind = "stratified" if stratify else "shuffled"
    return Dataset(
        name="digits",
        x_train=x[train].astype(dt),
        y_train=y[train],
        x_test=x[test].astype(dt),
        y_test=y[test],
        task="multiclass",
        n_classes=10,
        feature_names=tuple(bunch.feature_names),
        class_names=tuple(str(c) for c in bunch.target_names),
        meta={
            "source": "sklearn.datasets.load_digits: the test set of the UCI Optical "
            "Recognition of Handwritten Digits data (https://archive.ics.uci.edu/dataset/80)",
            "citation": "Alpaydin, E. & Kaynak, C. (1998). Optical Recognition of Handwritten "
            "Digits [Dataset]. UCI Machine Learning Repository.",
            "license": "CC BY 4.0 (UCI Machine Learning Repository)",
            "split": f"{kind} split, numpy.random.default_rng({seed}): {n_train} train, "
            f"{n - n_train} test",
            "preprocessing": "pixels 0..16 divided by 16",
        },
    )
