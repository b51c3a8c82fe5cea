"""Argument checks for the range test: each error names the parameter and the value received."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def _fail(owner: str, name: str, rule: str, value: Any) -> ValueError:
    return ValueError(f"{owner}: {name} must be {rule}, got {value!r}")


def real(
    owner: str,
    name: str,
    value: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """Check a real number within optional bounds; return it as ``float``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _fail(owner, name, "a number", value)
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise _fail(owner, name, "finite", value)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise _fail(owner, name, f"{'>' if lo_open else '>='} {lo:g}", value)
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise _fail(owner, name, f"{'<' if hi_open else '<='} {hi:g}", value)
    return v


def integer(owner: str, name: str, value: Any, *, lo: int = 0) -> int:
    """Check an integer ``>= lo``; return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _fail(owner, name, f"an integer >= {lo}", value)
    if value < lo:
        raise _fail(owner, name, f"an integer >= {lo}", value)
    return int(value)


def choice(owner: str, name: str, value: Any, options: Sequence[str]) -> str:
    """Check that ``value`` is one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise _fail(owner, name, "one of " + ", ".join(repr(o) for o in options), value)
    return str(value)


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
