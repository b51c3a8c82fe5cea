"""Argument checks shared by the loaders: each raises a ``ValueError`` naming the argument."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ... import _checks

#: the most values (rows x features) a generated input array may hold: 2**26 = 67,108,864,
#: 512 MiB in float64. Generators check their sizes against it before allocating anything.
MAX_ELEMENTS = 2**26


def check_int(owner: str, name: str, value: object, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int`` (bools refused) that is ``>= minimum``; otherwise raise."""
    return _checks.integer(owner, name, value, lo=minimum)


def check_size(owner: str, name: str, value: object, minimum: int, maximum: int) -> int:
    """Return ``value`` as an ``int`` in ``[minimum, maximum]`` (bools refused); otherwise raise.

    Below ``minimum`` (or not an integer) the error reads as :func:`check_int`'s; above
    ``maximum`` it names the bound.
    """
    n = check_int(owner, name, value, minimum=minimum)
    if n > maximum:
        raise _checks.fail(owner, name, f"at most {maximum}", value)
    return n


def check_elements(owner: str, *sizes: tuple[str, int]) -> int:
    """Return the product of ``sizes`` (``(name, value)`` pairs) if it is at most
    :data:`MAX_ELEMENTS`; otherwise raise naming every argument and its value.
    """
    total = 1
    for _, n in sizes:
        total *= n
    if total > MAX_ELEMENTS:
        names = " x ".join(name for name, _ in sizes)
        given = " x ".join(f"{name}={n}" for name, n in sizes)
        raise ValueError(
            f"{owner}: {names} must be at most {MAX_ELEMENTS} values (MAX_ELEMENTS), got "
            f"{given} = {total}"
        )
    return total


def check_fraction(owner: str, name: str, value: object, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a ``float`` in ``(0, 1)`` (``[0, 1)`` with ``allow_zero``)."""
    lo_open = not allow_zero
    try:
        return _checks.number_in(
            owner, name, value, lo=0.0, hi=1.0, lo_open=lo_open, hi_open=True, outside="a number in"
        )
    except OverflowError:  # an int too large for a float
        where = _checks.interval(0.0, 1.0, lo_open, True)
        raise _checks.fail(owner, name, f"a number in {where}", value) from None


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
