"""Argument checks shared by the loaders: each raises a ``ValueError`` naming the argument."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ... import _checks


def check_int(owner: str, name: str, value: object, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int`` (bools refused) that is ``>= minimum``; otherwise raise."""
    return _checks.integer(owner, name, value, lo=minimum)


def check_fraction(owner: str, name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a ``float`` in ``(0, 1)`` (``[0, 1)`` with ``allow_zero``)."""
    return _checks.number_in(
        owner,
        name,
        value,
        lo=0.0,
        hi=1.0,
        lo_open=not allow_zero,
        hi_open=True,
        outside="a number in",
    )


def check_choice(owner: str, name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise raise naming all of them."""
    rule = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
    return _checks.choice(owner, name, value, choices, kind=str, rule=rule)


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
