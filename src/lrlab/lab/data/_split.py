"""Seeded train/test splits (simple or stratified) as index arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

IndexPair = tuple[NDArray[np.intp], NDArray[np.intp]]


def n_test_rows(owner: str, n: int, test_fraction: float) -> int:
    """Number of test rows for ``test_fraction`` of ``n``: ``ceil(n * fraction)``, as sklearn.

    Raises a ``ValueError`` when that leaves no training row.
    """
    n_test = math.ceil(n * test_fraction)
    if n - n_test < 1:
        raise ValueError(
            f"{owner}: test_fraction={test_fraction} of {n} rows leaves no training rows"
        )
    return n_test


def split_indices(
    n: int, n_test: int, seed: int, stratify: NDArray[Any] | None = None
) -> IndexPair:
    """Seeded ``(train, test)`` row indices, each in shuffled order.

    Args:
        n: Number of rows.
        n_test: Rows in the test part.
        seed: Seed of ``numpy.random.default_rng``.
        stratify: Class index of each row; when given, each class gets its share of the test
            part (``n_test * count / n``, rounded down, the remaining rows going to the classes
            with the largest remainders), so class proportions agree in both parts.

    Returns:
        ``(train_idx, test_idx)`` with ``n - n_test`` and ``n_test`` entries.
    """
    rng = np.random.default_rng(seed)
    if stratify is None:
        perm = rng.permutation(n)
        return perm[: n - n_test], perm[n - n_test :]
    classes, inverse = np.unique(stratify, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    ideal = n_test * counts / n
    share = np.floor(ideal).astype(np.intp)
    leftover = n_test - int(share.sum())
    order = np.argsort(-(ideal - share), kind="stable")
    share[order[:leftover]] += 1
    train: list[NDArray[np.intp]] = []
    test: list[NDArray[np.intp]] = []
    for k in range(len(classes)):
        rows = rng.permutation(np.flatnonzero(inverse == k))
        test.append(rows[: share[k]])
        train.append(rows[share[k] :])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))
