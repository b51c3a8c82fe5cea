"""Helpers shared by the control state machines: argument checks, array plumbing, state I/O.

Every controller state holds either Python scalars (one run, ``init()``) or NumPy arrays of shape
``[C]`` (a population of ``C`` members, ``init(C)``). The update rules are written once with
``np.where`` on arrays; :func:`finish` turns 0-d results back into Python scalars so a single run
never sees NumPy types.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _checks

#: a state field: a Python scalar (one run) or an array of shape ``[C]`` (a population)
Field = Any

S = TypeVar("S")


# -- argument checks ----------------------------------------------------------------------------
def check_n(owner: str, n: object) -> tuple[int, ...]:
    """Return the state shape for ``init(n)``: ``()`` for ``None``, ``(n,)`` for ``n >= 1``."""
    if n is None:
        return ()
    return (_checks.integer(owner, "n", n, lo=1),)


# -- array plumbing ----------------------------------------------------------------------------
def values(
    owner: str, name: str, value: ArrayLike, shape: tuple[int, ...], dtype: type = np.float64
) -> NDArray[Any]:
    """``value`` as an array of ``shape`` (a number broadcasts to every member)."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        msg = f"{owner}: {name} must be a number or an array of numbers, got {value!r}"
        raise ValueError(msg) from None
    if arr.shape not in ((), shape):
        want = "a number" if shape == () else f"a number or an array of shape {shape}"
        raise ValueError(f"{owner}: {name} must be {want}, got an array of shape {arr.shape}")
    return np.broadcast_to(arr, shape)


def field(value: Field, dtype: type) -> NDArray[Any]:
    """A state field as an array (no copy when it already is one of ``dtype``)."""
    return np.asarray(value, dtype=dtype)


def finish(arr: NDArray[Any]) -> Field:
    """A 0-d array as a Python scalar; any other array unchanged."""
    return arr.item() if arr.ndim == 0 else arr


def as_float32(x: NDArray[Any]) -> NDArray[np.float32]:
    """``x`` rounded to float32, as Keras compares in its default ``floatx``; overflow is inf."""
    with np.errstate(over="ignore"):
        return np.asarray(x, dtype=np.float32)


def state_shape(state: object) -> tuple[int, ...]:
    """The member shape of a state: ``()`` for one run, ``(C,)`` for a population."""
    first = dataclasses.fields(state)[0].name  # type: ignore[arg-type]
    return np.shape(getattr(state, first))


# -- states: equality and (de)serialisation --------------------------------------------------------
class StateBase:
    """Mixin for frozen state dataclasses: field-wise equality that understands arrays."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            a = np.asarray(getattr(self, f.name))
            b = np.asarray(getattr(other, f.name))
            if a.shape != b.shape or not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
                return False
        return True

    __hash__ = None  # type: ignore[assignment]

    @property
    def n(self) -> int | None:
        """Number of members: ``None`` for a single-run state, ``C`` for a population."""
        shape = state_shape(self)
        return shape[0] if shape else None


def dump_state(state: object, worst: float) -> dict[str, Any]:
    """Plain-Python dict of a state's fields; the mode's ``worst`` best value becomes ``None``."""

    def plain_best(v: float) -> float | None:
        return None if v == worst else v

    out: dict[str, Any] = {}
    for f in dataclasses.fields(state):  # type: ignore[arg-type]
        value = np.asarray(getattr(state, f.name)).tolist()
        if f.name == "best":
            value = [plain_best(v) for v in value] if isinstance(value, list) else plain_best(value)
        out[f.name] = value
    return out


def load_state(
    owner: str, cls: type[S], data: Mapping[str, Any], dtypes: Mapping[str, type], worst: float
) -> S:
    """Rebuild a state of ``cls`` from :func:`dump_state` output, checking keys and shapes."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{owner}: state dict must be a mapping, got {type(data).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    missing = [k for k in names if k not in data]
    unexpected = [k for k in data if k not in names]
    if missing or unexpected:
        raise ValueError(
            f"{owner}: state dict keys do not match; missing {missing}, unexpected {unexpected}"
        )
    shapes = {k: np.shape(data[k]) for k in names}
    if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) > 1:
        raise ValueError(
            f"{owner}: state dict fields must all be numbers or all lists of one length, "
            f"got shapes {shapes}"
        )
    kwargs: dict[str, Field] = {}
    for k in names:
        raw = data[k]
        if k == "best":
            raw = [worst if v is None else v for v in raw] if isinstance(raw, list) else raw
            raw = worst if raw is None else raw
        bad = ValueError(f"{owner}: state dict field {k!r} has a bad value, got {data[k]!r}")
        try:
            arr = np.asarray(raw, dtype=dtypes[k])
            exact = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            raise bad from None
        if dtypes[k] is not np.float64 and not np.array_equal(arr, exact):
            raise bad  # 2.5 for a counter, 3 for a flag
        if dtypes[k] is np.int64 and np.any(arr < 0):
            raise bad
        kwargs[k] = finish(arr.copy())
    return cls(**kwargs)
