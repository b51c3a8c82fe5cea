"""Argument checks shared by the loaders: each raises a ``ValueError`` naming the argument."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import DTypeLike


def check_int(owner: str, name: str, value: object, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int`` (bools refused) that is ``>= minimum``; otherwise raise."""
    bound = "" if minimum is None else f" >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{owner}: {name} must be an integer{bound}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer{bound}, got {value!r}")
    return int(value)


def check_fraction(owner: str, name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a ``float`` in ``(0, 1)`` (``[0, 1)`` with ``allow_zero``)."""
    interval = "[0, 1)" if allow_zero else "(0, 1)"
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    x = float(value) if ok else math.nan  # type: ignore[arg-type]
    if not (ok and (x >= 0.0 if allow_zero else x > 0.0) and x < 1.0):
        raise ValueError(f"{owner}: {name} must be a number in {interval}, got {value!r}")
    return x


def check_choice(owner: str, name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise raise naming all of them."""
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
        raise ValueError(f"{owner}: {name} must be {options}, got {value!r}")
    return value


def check_float_dtype(owner: str, dtype: DTypeLike) -> np.dtype[Any]:
    """Return ``dtype`` as a NumPy dtype if it is float32 or float64; otherwise raise."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{owner}: dtype must be float32 or float64, got {dtype!r}")
    return dt


def check_seed(owner: str, name: str, value: object) -> int:
    """Return ``value`` as a non-negative ``int`` seed; otherwise raise."""
    return check_int(owner, name, value, minimum=0)
