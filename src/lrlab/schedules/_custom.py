"""Schedules from user functions: ``custom(fn)`` of the step, ``recurrence(fn)`` of the epoch."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._checks import fail
from ._array import Array, Ops
from ._base import FunctionResolver, Schedule, flag, real, register, setp, steps

_TABLE_LOCK = threading.Lock()


def function_name(fn: Callable[..., Any]) -> str | None:
    """``"module:qualname"`` for a module-level function, ``None`` for lambdas and closures."""
    module, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not module or not qual or "<" in qual:
        return None
    return f"{module}:{qual}"


class _FunctionField:
    """Mixin: the ``fn`` field prints and serialises as its ``"module:qualname"``."""

    fn: Callable[..., Any]

    def _encode_text(self, name: str, value: Any) -> Any:
        if name == "fn":
            return _FnText(value)
        return value

    def _encode_data(self, name: str, value: Any) -> Any:
        if name != "fn":
            return value
        fname = function_name(value)
        if fname is None:
            raise ValueError(
                f"{type(self).__name__}: cannot serialise {value!r}: define the function at module "
                "level (lambdas and nested functions have no importable name)"
            )
        return fname

    @classmethod
    def _decode(cls, name: str, value: Any, resolver: FunctionResolver) -> Any:
        return resolver(value) if name == "fn" and isinstance(value, str) else value


class _FnText:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __repr__(self) -> str:
        name = function_name(self.fn)
        return repr(name) if name else f"<{getattr(self.fn, '__qualname__', self.fn)!s}>"


def _check_fn(owner: str, fn: Any) -> Callable[..., Any]:
    if isinstance(fn, str) or not callable(fn):
        raise ValueError(f"{owner}: fn must be a callable, got {fn!r}")
    return fn


@register("custom")
@dataclass(frozen=True, repr=False)
class Custom(_FunctionField, Schedule):
    """A schedule from a Python function of the step: ``lr(t) = fn(t)``.

    With ``vectorized=False`` (default) ``fn`` is called on one Python float at a time, so it may
    use ``math`` and ``if``; NumPy and torch steps are evaluated element by element. With
    ``vectorized=True`` ``fn`` receives the whole array (NumPy, torch or JAX) and must be written
    with array operations; only then does it work under ``jax.jit``. The text and JSON forms name
    the function as ``"module:qualname"``; reading them back needs ``functions=`` or
    ``allow_import=True``.

    Example:
        >>> import math
        >>> from lrlab.schedules import custom
        >>> custom(math.exp)([0.0, 1.0])
        array([1.        , 2.71828183])
    """

    fn: Callable[[float], float]
    vectorized: bool = False

    def __post_init__(self) -> None:
        setp(self, "fn", _check_fn("custom", self.fn))
        setp(self, "vectorized", flag("custom", "vectorized", self.vectorized))

    def _eval(self, t: Array, ops: Ops) -> Array:
        if self.vectorized:
            out = self.fn(t)
            if ops.kind == "numpy":
                out = np.asarray(out, dtype=t.dtype)
                # a function that ignores the step (``lambda t: 0.1``): one value per step still
                return out if out.shape == t.shape else np.broadcast_to(out, t.shape).copy()
            return out if getattr(out, "shape", None) == t.shape else out + ops.full_like(t, 0.0)
        if ops.kind in ("jax", "tensorflow"):  # traced steps: no Python float to call fn on
            raise TypeError(
                f"custom: fn runs on Python floats (vectorized=False), which cannot be traced "
                f"({ops.kind}); use vectorized=True with an array function, or "
                "recurrence(..., horizon=N)"
            )
        host = t.detach().cpu().numpy() if ops.kind == "torch" else t
        flat = np.fromiter((float(self.fn(float(x))) for x in host.ravel()), np.float64, host.size)
        out = flat.reshape(host.shape).astype(host.dtype)
        if ops.kind == "torch":
            return ops.mod.as_tensor(out, device=t.device)
        return out


@register("recurrence")
@dataclass(frozen=True, repr=False)
class Recurrence(_FunctionField, Schedule):
    """A Keras ``LearningRateScheduler`` function ``lr_e = fn(e, lr_{e-1})`` as a schedule.

    ``lr(0) = fn(0, init)``, ``lr(e) = fn(e, lr(e-1))``: evaluated from step 0 and cached, so the
    result is a deterministic function of the step and does not depend on which steps were asked
    for before (unlike a callback that feeds back whatever the optimizer currently holds).
    Fractional steps use ``floor``; wrap in :func:`~lrlab.schedules.by_epoch` to apply an
    epoch recurrence per batch. A one-argument ``fn(e)`` is accepted too.

    ``horizon``: if given, the table holds steps ``0 .. horizon - 1`` and later steps keep the
    last value; it is required under ``jax.jit`` (the table is built before tracing).

    Keras feeds back the float32 value held by the optimizer; lrlab keeps float64, so the two
    agree to float32 precision.

    Example:
        >>> from lrlab.schedules import recurrence
        >>> def halve_after_two(epoch, lr):
        ...     return lr if epoch < 2 else lr * 0.5
        >>> recurrence(halve_after_two, init=0.1)([0, 1, 2, 3])
        array([0.1  , 0.1  , 0.05 , 0.025])
    """

    fn: Callable[..., float]
    init: float
    horizon: int | None = None
    _table: list[float] = field(default_factory=list, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        setp(self, "fn", _check_fn("recurrence", self.fn))
        setp(self, "init", real("recurrence", "init", self.init))
        if self.horizon is not None:
            n = steps("recurrence", "horizon", self.horizon)
            if not isinstance(n, int):  # the length of a table: 2.5 steps has no meaning
                raise fail("recurrence", "horizon", "a whole number of steps > 0", self.horizon)
            setp(self, "horizon", n)

    def _with_float_params(self) -> Schedule:
        # horizon is the length of the table, not a number in the formula: it stays an int
        return self

    def _arity(self) -> int:
        try:
            params = inspect.signature(self.fn).parameters.values()
        except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
            return 2
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        return 1 if len(positional) == 1 else 2

    def table(self, n: int) -> np.ndarray:
        """The first ``n`` values (``lr(0) .. lr(n-1)``), computing and caching as needed."""
        with _TABLE_LOCK:
            arity = self._arity()
            lr = self._table[-1] if self._table else self.init
            for e in range(len(self._table), n):
                value = self.fn(e, lr) if arity == 2 else self.fn(e)
                lr = float(value)
                if not np.isfinite(lr):
                    raise ValueError(f"recurrence: fn returned {value!r} at epoch {e}")
                self._table.append(lr)
            return np.asarray(self._table[:n], dtype=np.float64)

    def _eval(self, t: Array, ops: Ops) -> Array:
        if self.horizon is not None:
            n = self.horizon
        elif ops.kind in ("jax", "tensorflow"):
            raise TypeError(
                f"recurrence: pass horizon=N to use it under {ops.kind} (the table is built "
                "before tracing)"
            )
        else:
            size = t.numel() if ops.kind == "torch" else t.size
            n = int(t.max()) + 1 if size else 1
        table = self.table(max(n, 1))
        index = ops.minimum(ops.floor(t), float(len(table) - 1))
        return ops.take(table, index)
