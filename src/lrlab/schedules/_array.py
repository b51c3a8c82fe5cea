"""Evaluate one schedule body on Python numbers, NumPy, torch, JAX and TensorFlow arrays.

A schedule body is written once against the small namespace :class:`Ops` (``floor``, ``cos``,
``where``, ``minimum`` ...). :func:`prepare` turns whatever step the caller passed into a
floating array of the caller's own library plus the matching :class:`Ops`, so the same body runs
eagerly in NumPy, on torch tensors (any device), under ``jax.jit`` with a traced step and on
TensorFlow tensors (eagerly, inside ``tf.function``, also with ``jit_compile=True``). No
framework is imported here: torch, JAX and TensorFlow are recognised from the type of the step.

Dtype rule: a floating step keeps its dtype (float32 in, float32 out); an integer step is
promoted to float64 (NumPy, torch, TensorFlow) or to JAX's default float (float32 unless
``jax_enable_x64``). Python numbers in, a Python float out.

Floors of ``t / k`` go through :meth:`Ops.floordiv` and :meth:`Ops.ceildiv`, never through
``floor(t / k)`` written out: XLA (``jax.jit``, eager JAX and TensorFlow's ``jit_compile``)
compiles ``t / k`` for a constant ``k`` as ``t * (1 / k)``, and torch on CUDA does the same for
a Python-number divisor, which can land one ulp below an exact multiple and switch a staircase
one step late.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

Array = Any  # numpy.ndarray | torch.Tensor | jax.Array | tensorflow.Tensor


class Ops:
    """Array functions shared by NumPy and JAX (whose APIs agree for what schedules need)."""

    kind = "numpy"
    pi = math.pi

    def __init__(self, mod: Any) -> None:
        self.mod = mod

    def _unary(self, name: str, x: Array | float) -> Array:
        # A parameter-only expression (``log(t_mul)``) stays a Python float: torch's functions
        # reject floats, and a NumPy float64 scalar would promote float32 steps to float64.
        if type(x) in (int, float):
            return float(getattr(math, name)(x))
        return getattr(self.mod, name)(x)

    def floor(self, x: Array) -> Array:
        return self._unary("floor", x)

    def ceil(self, x: Array) -> Array:
        return self._unary("ceil", x)

    def cos(self, x: Array) -> Array:
        return self._unary("cos", x)

    def exp(self, x: Array) -> Array:
        return self._unary("exp", x)

    def log(self, x: Array) -> Array:
        return self._unary("log", x)

    def sqrt(self, x: Array) -> Array:
        return self._unary("sqrt", x)

    def where(self, cond: Array, a: Array | float, b: Array | float) -> Array:
        return self.mod.where(cond, a, b)

    def floordiv(self, x: Array, k: float) -> Array:
        """``floor(x / k)``, exact for integer-valued ``x >= 0`` and ``k >= 1``.

        ``q = floor(x / k)`` may be one off where the division is computed as ``x * (1 / k)``
        (XLA; torch on CUDA); it is then moved by one where ``q * k > x`` or
        ``(q + 1) * k <= x``. Those products are integers, exact in the array's dtype while
        ``x + k <= 2**24`` (float32) or ``2**53`` (float64), so the result is exact there (for
        any integer ``k``, at every multiple of ``k`` up to ``2**24`` in float32 and ``2**52``
        in float64). For a fractional ``x`` or ``k`` it is as exact as the product ``q * k``.

        Args:
            x: the dividend, a floating array (the step, or the step plus an offset).
            k: the divisor, a positive Python number (a period of the schedule).

        Returns:
            ``floor(x / k)`` as an array of ``x``'s dtype.

        Example:
            >>> import numpy as np
            >>> from lrlab.schedules._array import prepare
            >>> t, ops, _ = prepare(np.array([40.0, 41.0, 82.0]))
            >>> ops.floordiv(t, 41)
            array([0., 1., 2.])
        """
        q = self.floor(x / k)
        q = self.where(q * k > x, q - 1.0, q)
        return self.where((q + 1.0) * k <= x, q + 1.0, q)

    def ceildiv(self, x: Array, k: float) -> Array:
        """``ceil(x / k)``, exact where :meth:`floordiv` is: ``q + 1`` where ``q * k < x``.

        Args:
            x: the dividend, a floating array.
            k: the divisor, a positive Python number.

        Returns:
            ``ceil(x / k)`` as an array of ``x``'s dtype.

        Example:
            >>> import numpy as np
            >>> from lrlab.schedules._array import prepare
            >>> t, ops, _ = prepare(np.array([0.0, 1.0, 41.0, 42.0]))
            >>> ops.ceildiv(t, 41)
            array([0., 1., 1., 2.])
        """
        q = self.floordiv(x, k)
        return self.where(q * k < x, q + 1.0, q)

    def minimum(self, a: Array, b: Array | float) -> Array:
        return self.mod.minimum(a, b)

    def maximum(self, a: Array, b: Array | float) -> Array:
        return self.mod.maximum(a, b)

    def full_like(self, x: Array, value: float) -> Array:
        return self.mod.full_like(x, value)

    def take(self, table: np.ndarray, index: Array) -> Array:
        """``table[index]`` for an integer-valued floating ``index`` already clipped to range."""
        raise NotImplementedError


class _NumpyOps(Ops):
    """NumPy divides with IEEE division, correctly rounded: ``floor(x / k)`` is already exact.

    For integers ``x`` and ``k`` the quotient is exact at a multiple of ``k``; elsewhere it is
    at least ``1 / k`` from the next integer, more than half an ulp while ``x < 2**24``
    (float32) or ``2**53`` (float64), so rounding never reaches it. This is the fast path:
    one division and one floor, no correction.
    """

    def floordiv(self, x: Array, k: float) -> Array:
        return np.floor(x / k)

    def ceildiv(self, x: Array, k: float) -> Array:
        return np.ceil(x / k)

    def take(self, table: np.ndarray, index: Array) -> Array:
        return table.astype(index.dtype)[index.astype(np.int64)]


class _JaxOps(Ops):
    kind = "jax"

    def take(self, table: np.ndarray, index: Array) -> Array:
        return self.mod.asarray(table, dtype=index.dtype)[index.astype(self.mod.int32)]


class _TorchOps(Ops):
    """torch's functions want tensors where NumPy accepts scalars; this adapts them."""

    kind = "torch"

    def _t(self, v: Array | float, like: Array) -> Array:
        if isinstance(v, self.mod.Tensor):
            return v
        return self.mod.full_like(like, float(v))

    def where(self, cond: Array, a: Array | float, b: Array | float) -> Array:
        like = a if isinstance(a, self.mod.Tensor) else b
        if not isinstance(like, self.mod.Tensor):
            like = self.mod.zeros(
                cond.shape, dtype=self.mod.get_default_dtype(), device=cond.device
            )
        return self.mod.where(cond, self._t(a, like), self._t(b, like))

    def minimum(self, a: Array, b: Array | float) -> Array:
        return self.mod.minimum(a, self._t(b, a))

    def maximum(self, a: Array, b: Array | float) -> Array:
        return self.mod.maximum(a, self._t(b, a))

    def take(self, table: np.ndarray, index: Array) -> Array:
        t = self.mod.as_tensor(table, dtype=index.dtype, device=index.device)
        return t[index.long()]


class _TensorflowOps(Ops):
    """TensorFlow's ops convert a Python number to the other operand's dtype only in some
    positions (``tf.where`` reads ``0.5`` as float32 next to a float64 tensor); this adapts
    them, as :class:`_TorchOps` does for torch. ``mod`` is ``tf.math``; ``tf`` is the package."""

    kind = "tensorflow"

    def __init__(self, tf: Any) -> None:
        super().__init__(tf.math)
        self.tf = tf

    def _t(self, v: Array | float, like: Array) -> Array:
        if isinstance(v, (self.tf.Tensor, self.tf.Variable)):
            return v
        return self.tf.constant(float(v), dtype=like.dtype)

    def where(self, cond: Array, a: Array | float, b: Array | float) -> Array:
        like = a if isinstance(a, self.tf.Tensor) else b
        if not isinstance(like, self.tf.Tensor):
            like = self.tf.zeros(self.tf.shape(cond), dtype=self.tf.float64)
        return self.tf.where(cond, self._t(a, like), self._t(b, like))

    def minimum(self, a: Array, b: Array | float) -> Array:
        return self.tf.minimum(a, self._t(b, a))

    def maximum(self, a: Array, b: Array | float) -> Array:
        return self.tf.maximum(a, self._t(b, a))

    def full_like(self, x: Array, value: float) -> Array:
        return self.tf.fill(self.tf.shape(x), self._t(value, x))

    def take(self, table: np.ndarray, index: Array) -> Array:
        t = self.tf.constant(table, dtype=index.dtype)
        return self.tf.gather(t, self.tf.cast(index, self.tf.int64))


_NUMPY = _NumpyOps(np)


def _is_torch(x: object) -> bool:
    mod = sys.modules.get("torch")
    return mod is not None and isinstance(x, mod.Tensor)


def _is_jax(x: object) -> bool:
    mod = sys.modules.get("jax")
    return mod is not None and isinstance(x, mod.Array)


def _tensorflow(x: object) -> Any:
    """The ``tensorflow`` module if ``x`` is one of its tensors or variables, else ``None``.

    ``tf.is_tensor`` also recognises the classes that register as tensors without subclassing
    ``tf.Tensor`` (Keras' TensorFlow ``Variable``, such as an optimizer's ``iterations``).
    """
    if isinstance(x, (int, float, np.ndarray, np.generic, list, tuple)):  # the common steps
        return None
    mod = sys.modules.get("tensorflow")
    if mod is None or not hasattr(mod, "is_tensor"):  # absent, or still importing
        return None
    return mod if mod.is_tensor(x) or isinstance(x, mod.Variable) else None


def prepare(step: Any) -> tuple[Array, Ops, Callable[[Array], Any]]:
    """Return ``(t, ops, finish)``: the step as a floating array, its ops and the output cast.

    Raises:
        TypeError: for a step that is not a number or an array.
        ValueError: for a negative or non-finite step given as a NumPy value or Python number
            (torch, JAX and TensorFlow steps are not checked, so that evaluation never
            synchronises a device or breaks tracing).
    """
    if _is_torch(step):
        import torch

        t = step if step.is_floating_point() else step.to(torch.float64)
        return t, _TorchOps(torch), _identity
    if _is_jax(step):
        import jax.numpy as jnp

        t = step if jnp.issubdtype(step.dtype, jnp.floating) else step.astype(float)
        return t, _JaxOps(jnp), _identity
    tf = _tensorflow(step)
    if tf is not None:
        t = tf.convert_to_tensor(step)
        if not t.dtype.is_floating:
            t = tf.cast(t, tf.float64)
        return t, _TensorflowOps(tf), _identity
    if isinstance(step, bool):
        raise TypeError(f"step must be a number or an array of numbers, got {step!r}")
    scalar = isinstance(step, (int, float, np.integer, np.floating))
    if type(step) is int and abs(step) >= 2**63:  # beyond int64: NumPy would make an object array
        try:
            step = float(step)
        except OverflowError:
            raise ValueError(f"step must be finite and >= 0, got {step!r}") from None
    try:
        arr = np.asarray(step)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise TypeError(f"step must be a number or an array of numbers, got {step!r}") from exc
    if arr.dtype.kind not in "iubf":
        raise TypeError(f"step must be a number or an array of numbers, got {step!r}")
    # two reductions, no temporaries: NaN propagates through min, +inf shows in max
    if arr.size and not (arr.min() >= 0 and np.isfinite(arr.max())):
        bad = step if scalar else arr[~(np.isfinite(arr) & (arr >= 0))].flat[0].item()
        raise ValueError(f"step must be finite and >= 0, got {bad!r}")
    # integer steps stay integers here: Schedule.__call__ converts them to float64, block by
    # block for long arrays, so a million steps never need a second 8 MB copy
    return arr, _NUMPY, (_to_float if scalar else np.asarray)


def _identity(x: Array) -> Array:
    return x


def _to_float(x: Array) -> float:
    return float(x)
