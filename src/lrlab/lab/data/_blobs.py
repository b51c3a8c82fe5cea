"""Gaussian blobs: scikit-learn's ``make_blobs`` re-implemented in NumPy, draw for draw."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ..._checks import float_dtype, integer, is_real
from ._dataset import Dataset
from ._limits import MAX_ELEMENTS, check_elements

__all__ = ["MAX_BLOB_CENTERS", "blobs"]

_OWNER = "blobs"

#: the most centers (classes) :func:`blobs` makes
MAX_BLOB_CENTERS = 2**16


def _counts(n_samples: int | Sequence[int]) -> list[int] | None:
    """Per-center sample counts when ``n_samples`` is a sequence, else ``None``.

    Every count is checked (and the length of the sequence, before any count is read) so that
    no size beyond :data:`MAX_ELEMENTS` is ever allocated.
    """
    if isinstance(n_samples, (int, np.integer)) and not isinstance(n_samples, bool):
        integer(_OWNER, "n_samples", n_samples, lo=1, hi=MAX_ELEMENTS)
        return None
    if isinstance(n_samples, (str, bytes)) or not isinstance(n_samples, Sequence):
        raise ValueError(
            f"{_OWNER}: n_samples must be an integer >= 1 or a sequence of per-center counts, "
            f"got {n_samples!r}"
        )
    if len(n_samples) > MAX_BLOB_CENTERS:
        raise ValueError(
            f"{_OWNER}: n_samples lists {len(n_samples)} counts, at most {MAX_BLOB_CENTERS} "
            "(one per center) are allowed"
        )
    counts = [
        integer(_OWNER, f"n_samples[{i}]", n, lo=1, hi=MAX_ELEMENTS)
        for i, n in enumerate(n_samples)
    ]
    if sum(counts) > MAX_ELEMENTS:
        raise ValueError(
            f"{_OWNER}: n_samples must add up to at most {MAX_ELEMENTS} (MAX_ELEMENTS), got "
            f"{sum(counts)} from {len(counts)} counts"
        )
    return counts


def _finite(value: object) -> float:
    """``float(value)``, or ``inf`` for an int too large for a float (then refused as such)."""
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf


def blobs(
    n_samples: int | Sequence[int] = 1000,
    centers: int | ArrayLike = 3,
    n_features: int = 2,
    cluster_std: float | Sequence[float] = 2.0,
    random_state: int = 2,
    n_train: int = 500,
    *,
    center_box: tuple[float, float] = (-10.0, 10.0),
    shuffle: bool = True,
    dtype: DTypeLike = np.float64,
) -> Dataset:
    """Isotropic Gaussian blobs, identical to scikit-learn's ``make_blobs``, split train/test.

    The defaults are the classic learning-rate tutorial problem,
    ``make_blobs(n_samples=1000, centers=3, n_features=2, cluster_std=2, random_state=2)`` with
    the first 500 samples for training and the last 500 for testing. scikit-learn is not needed:
    the same ``numpy.random.RandomState`` calls are made in the same order as
    ``sklearn/datasets/_samples_generator.py`` (``make_blobs``): centers
    ``uniform(*center_box, size=(centers, n_features))`` (only when ``centers`` is a number),
    then per center ``normal(loc=center, scale=std, size=(count, n_features))`` with counts
    ``n_samples // centers`` (the first ``n_samples % centers`` centers get one more), then
    ``shuffle(arange(n_samples))``. The result equals scikit-learn's bit for bit (pinned by a
    test against scikit-learn for several parameter sets).

    Sizes are checked before anything is allocated: the inputs hold ``n_samples x n_features``
    values and the centers ``centers x n_features``, each at most :data:`MAX_ELEMENTS`
    (``2**26``, 512 MiB in float64), with at most :data:`MAX_BLOB_CENTERS` (``2**16``)
    centers; a larger size is a ``ValueError`` naming the arguments and their values.

    Args:
        n_samples: Total number of samples (``1 .. 2**26``), or a sequence with the count of
            each center.
        centers: Number of centers (``2 .. 2**16``; drawn uniformly in ``center_box``) or their
            coordinates, an array of shape ``[k, n_features]``.
        n_features: Features per sample (``1 .. 2**26``); must match the columns of an explicit
            ``centers``.
        cluster_std: Standard deviation of every blob, or one value per center.
        random_state: Seed of the ``numpy.random.RandomState`` (scikit-learn's
            ``random_state``).
        n_train: The first ``n_train`` (shuffled) samples train; the rest test.
        center_box: ``(low, high)`` bounds of the random centers.
        shuffle: Shuffle the samples (``False`` leaves them grouped by center).
        dtype: float64 (exact, the default) or float32 for the inputs.

    Returns:
        A :class:`Dataset` with class index = center index; ``meta["centers"]`` holds the
        centers.

    Example:
        >>> ds = blobs()
        >>> ds
        Dataset(name='blobs', task='multiclass', n_classes=3, n_features=2, train=500, test=500,
                dtype=float64)
        >>> ds.x_train[0].round(4)
        array([ 0.4872, -0.4316])
    """
    given_counts = _counts(n_samples)
    n_features = integer(_OWNER, "n_features", n_features, lo=1, hi=MAX_ELEMENTS)
    seed = integer(_OWNER, "random_state", random_state, lo=0)
    dt = float_dtype(_OWNER, dtype)
    if not isinstance(shuffle, bool):
        raise ValueError(f"{_OWNER}: shuffle must be True or False, got {shuffle!r}")
    try:
        low, high = (float(v) for v in center_box)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(
            f"{_OWNER}: center_box must be a pair of numbers (low, high), got {center_box!r}"
        ) from None
    if not low < high:
        raise ValueError(f"{_OWNER}: center_box must have low < high, got {center_box!r}")

    drawn = isinstance(centers, (int, np.integer)) and not isinstance(centers, bool)
    if drawn:
        n_centers = integer(_OWNER, "centers", centers, lo=2, hi=MAX_BLOB_CENTERS)
        check_elements(_OWNER, ("centers", n_centers), ("n_features", n_features))
    else:
        try:
            fixed = np.asarray(centers, dtype=np.float64)
        except (TypeError, ValueError):
            fixed = np.empty(0)
        if fixed.ndim != 2 or len(fixed) < 2 or not np.all(np.isfinite(fixed)):
            raise ValueError(
                f"{_OWNER}: centers must be an integer >= 2 or a finite array of shape "
                f"[k >= 2, n_features], got {centers!r}"
            )
        if fixed.shape[1] != n_features:
            raise ValueError(
                f"{_OWNER}: centers have {fixed.shape[1]} columns but n_features={n_features}; "
                f"pass n_features={fixed.shape[1]}"
            )
        n_centers = len(fixed)
    if given_counts is not None and len(given_counts) != n_centers:
        raise ValueError(
            f"{_OWNER}: n_samples lists {len(given_counts)} counts for {n_centers} centers, got "
            f"{n_samples!r}"
        )
    stds = _stds(cluster_std, n_centers)
    if given_counts is None:
        n = int(n_samples)  # type: ignore[arg-type]
        counts = [n // n_centers + (1 if i < n % n_centers else 0) for i in range(n_centers)]
    else:
        counts = given_counts
    total = sum(counts)
    check_elements(_OWNER, ("n_samples", total), ("n_features", n_features))
    n_train = integer(_OWNER, "n_train", n_train, lo=1)
    if n_train > total:
        raise ValueError(f"{_OWNER}: n_train must be at most n_samples={total}, got {n_train}")

    # The RandomState call sequence of sklearn.datasets.make_blobs; do not reorder.
    generator = np.random.RandomState(seed)
    if drawn:
        fixed = generator.uniform(low, high, size=(n_centers, n_features))
    x, y = _draw(generator, fixed, counts, stds, shuffle)
    x = x.astype(dt, copy=False)
    return Dataset(
        name="blobs",
        x_train=x[:n_train],
        y_train=y[:n_train],
        x_test=x[n_train:],
        y_test=y[n_train:],
        task="binary" if n_centers == 2 else "multiclass",
        n_classes=n_centers,
        feature_names=tuple(f"x{j}" for j in range(n_features)),
        class_names=tuple(f"blob {i}" for i in range(n_centers)),
        meta={
            "source": "sklearn.datasets.make_blobs, re-implemented in NumPy (same draws)",
            "license": "synthetic",
            "citation": "Pedregosa et al., Scikit-learn: Machine Learning in Python, JMLR 12, "
            "2825-2830, 2011",
            "split": f"first {n_train} samples train, last {total - n_train} test"
            + ("" if shuffle else " (unshuffled: grouped by center)"),
            "params": {
                "n_samples": total if given_counts is None else given_counts,
                "centers": centers if drawn else fixed.tolist(),
                "n_features": n_features,
                "cluster_std": cluster_std,
                "random_state": seed,
                "center_box": (low, high),
                "shuffle": shuffle,
            },
            "centers": fixed,
        },
    )


def _stds(cluster_std: Any, n_centers: int) -> list[float]:
    """``cluster_std`` checked: one finite value >= 0 per center."""
    std_rule = f"{_OWNER}: cluster_std must be a number or one number per center, got"
    if isinstance(cluster_std, Sequence) and not isinstance(cluster_std, (str, bytes)):
        if len(cluster_std) != n_centers:
            raise ValueError(
                f"{_OWNER}: cluster_std lists {len(cluster_std)} values for {n_centers} centers, "
                f"got {cluster_std!r}"
            )
        if not all(is_real(v) for v in cluster_std):
            raise ValueError(f"{std_rule} {cluster_std!r}")
        stds = [_finite(v) for v in cluster_std]
    elif is_real(cluster_std):
        stds = [_finite(cluster_std)] * n_centers
    else:
        raise ValueError(f"{std_rule} {cluster_std!r}")
    if not all(np.isfinite(s) and s >= 0 for s in stds):
        raise ValueError(f"{_OWNER}: cluster_std must be finite and >= 0, got {cluster_std!r}")
    return stds


def _draw(
    generator: np.random.RandomState,
    centers: np.ndarray,
    counts: Sequence[int],
    stds: Sequence[float],
    shuffle: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``make_blobs``' samples after its centers: each blob's normal draws, then the shuffle."""
    total, n_features = sum(counts), centers.shape[1]
    x = np.empty((total, n_features), dtype=np.float64)
    y = np.empty(total, dtype=np.int64)
    start = 0
    for i, (count, std) in enumerate(zip(counts, stds)):
        x[start : start + count] = generator.normal(
            loc=centers[i], scale=std, size=(count, n_features)
        )
        y[start : start + count] = i
        start += count
    if shuffle:
        indices = np.arange(total)
        generator.shuffle(indices)
        x, y = x[indices], y[indices]
    return x, y
