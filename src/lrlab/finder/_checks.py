"""Argument checks for the range test: each error names the parameter and the value received."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._checks import choice as _choice
from .._checks import integer as _integer
from .._checks import number as real  # noqa: F401 (re-exported: the same check)


def integer(owner: str, name: str, value: Any, *, lo: int = 0) -> int:
    """Check an integer ``>= lo``; return it as ``int``."""
    return _integer(owner, name, value, lo=lo)


def choice(owner: str, name: str, value: Any, options: Sequence[str]) -> str:
    """Check that ``value`` is one of ``options``."""
    return str(_choice(owner, name, value, options, kind=str))


def curve(owner: str, lrs: Any, losses: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check a range-test curve: 1-D, same length, learning rates finite, > 0 and increasing.

    Losses may hold NaN or inf (the analysis trims a non-finite tail).
    """
    x = np.asarray(lrs, dtype=np.float64)
    y = np.asarray(losses, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"{owner}: lrs and losses must be 1-D, got shapes {x.shape} and {y.shape}")
    if x.shape != y.shape:
        raise ValueError(
            f"{owner}: lrs and losses must have the same length, got {x.size} and {y.size}"
        )
    if x.size and (not np.all(np.isfinite(x)) or np.any(x <= 0)):
        bad = x[~(np.isfinite(x) & (x > 0))][0]
        raise ValueError(f"{owner}: learning rates must be finite and > 0, got {bad!r}")
    if x.size > 1 and np.any(np.diff(x) <= 0):
        i = int(np.argmax(np.diff(x) <= 0))
        raise ValueError(
            f"{owner}: learning rates must increase strictly, got lrs[{i}]={x[i]!r} and "
            f"lrs[{i + 1}]={x[i + 1]!r}"
        )
    return x, y
