"""Argument checks shared by the subpackages: each error reads ``"{owner}: {name} must be
{rule}, got {value!r}"``.

Two wordings of a number's bounds are in use and both are kept: :func:`number` names the bound
that failed (``"must be > 0"``), :func:`number_in` names the interval (``"must be in [0, 1)"``).
A Python ``int`` too large for a float raises ``OverflowError`` from both (callers that want a
``ValueError`` catch it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def fail(owner: str, name: str, rule: str, value: Any) -> ValueError:
    """The error for ``value`` of parameter ``name`` of ``owner`` breaking ``rule``."""
    return ValueError(f"{owner}: {name} must be {rule}, got {value!r}")


def is_real(value: Any) -> bool:
    """Whether ``value`` is a real number: Python or NumPy int or float, not a bool."""
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def number(
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
    """Check a real number (finite unless ``allow_inf``) within optional bounds; as ``float``."""
    if not is_real(value):
        raise fail(owner, name, "a number", value)
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise fail(owner, name, "finite", value)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise fail(owner, name, f"{'>' if lo_open else '>='} {lo:g}", value)
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise fail(owner, name, f"{'<' if hi_open else '<='} {hi:g}", value)
    return v


def interval(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> str:
    """The interval as text, ``"[0, 1)"``; an infinite end is open."""
    left = "(" if lo_open or not math.isfinite(lo) else "["
    right = ")" if hi_open or not math.isfinite(hi) else "]"
    low = f"{lo:g}" if math.isfinite(lo) else "-inf"
    high = f"{hi:g}" if math.isfinite(hi) else "inf"
    return f"{left}{low}, {high}{right}"


def number_in(
    owner: str,
    name: str,
    value: Any,
    *,
    lo: float = -math.inf,
    hi: float = math.inf,
    lo_open: bool = False,
    hi_open: bool = False,
    outside: str = "in",
) -> float:
    """Check a finite real number in an interval; return it as ``float``.

    A value that is no number "must be a number in [lo, hi]"; a number outside "must be
    ``{outside}`` [lo, hi]".
    """
    where = interval(lo, hi, lo_open, hi_open)
    if not is_real(value):
        raise fail(owner, name, f"a number in {where}", value)
    x = float(value)
    ok = math.isfinite(x) and (x > lo if lo_open else x >= lo) and (x < hi if hi_open else x <= hi)
    if not ok:
        raise fail(owner, name, f"{outside} {where}", value)
    return x


def integer(
    owner: str, name: str, value: Any, *, lo: int | None = None, hi: int | None = None
) -> int:
    """Check an integer (bools refused) ``>= lo`` and ``<= hi`` when given; return it as
    ``int``. Below ``lo`` (or no integer) the error reads "must be an integer >= lo"; above
    ``hi``, "must be at most hi"."""
    rule = "an integer" if lo is None else f"an integer >= {lo}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise fail(owner, name, rule, value)
    if lo is not None and value < lo:
        raise fail(owner, name, rule, value)
    if hi is not None and value > hi:
        raise fail(owner, name, f"at most {hi}", value)
    return int(value)


def choice(
    owner: str,
    name: str,
    value: Any,
    options: Sequence[Any],
    *,
    kind: type | None = None,
    rule: str | None = None,
) -> Any:
    """Check that ``value`` is one of ``options``; return it unchanged.

    With ``kind``, ``value`` must be an instance of it (checked first); without, a bool matches
    only where the options are bools. ``rule`` replaces the wording ``"one of 'a', 'b'"``.
    """
    if kind is not None:
        ok = isinstance(value, kind) and value in options
    else:
        ok = value in options and isinstance(value, bool) == isinstance(options[0], bool)
    if not ok:
        text = "one of " + ", ".join(repr(o) for o in options) if rule is None else rule
        raise fail(owner, name, text, value)
    return value


def either(owner: str, name: str, value: Any, options: Sequence[str]) -> str:
    """Check that ``value`` is one of the strings ``options``; the error lists them as
    ``"'a', 'b' or 'c'"`` (the wording of the data loaders and the control state machines)."""
    rule = ", ".join(repr(o) for o in options[:-1]) + f" or {options[-1]!r}"
    if len(options) == 1:
        rule = repr(options[0])
    return str(choice(owner, name, value, options, kind=str, rule=rule))


def fraction(owner: str, name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Check a number in ``(0, 1)`` (``[0, 1)`` with ``allow_zero``); return it as ``float``.
    An int too large for a float is refused with the same error."""
    lo_open = not allow_zero
    try:
        return number_in(
            owner, name, value, lo=0.0, hi=1.0, lo_open=lo_open, hi_open=True, outside="a number in"
        )
    except OverflowError:
        raise fail(owner, name, f"a number in {interval(0.0, 1.0, lo_open, True)}", value) from None


def float_dtype(owner: str, dtype: Any) -> np.dtype[Any]:
    """Check a float32 or float64 dtype (any spelling NumPy takes); return it as a NumPy dtype."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{owner}: dtype must be float32 or float64, got {dtype!r}")
    return dt


def flag(owner: str, name: str, value: Any) -> bool:
    """Check a boolean parameter (a NumPy bool too); return it as ``bool``."""
    if not isinstance(value, (bool, np.bool_)):
        raise fail(owner, name, "True or False", value)
    return bool(value)
