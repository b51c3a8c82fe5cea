"""Implementation of :class:`lrlab.integrations.keras.KerasSchedule`, and the helpers that the
whole Keras integration shares.

Private: import the public names from :mod:`lrlab.integrations.keras`, which creates the Keras
class ``KerasSchedule`` from :class:`_KerasScheduleImpl` on first use. Importing this module
does not import Keras.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from lrlab._checks import integer
from lrlab.schedules import Rates, from_dict, parse
from lrlab.schedules import Schedule as LrlabSchedule


# -- helpers ------------------------------------------------------------------------------------
def _keras() -> Any:
    import keras

    return keras


def _to_float(value: Any) -> float:
    """A scalar Keras variable or backend tensor as a Python float.

    ``float(x)`` (``Variable.__float__``, ``Tensor.item``) rather than Keras'
    ``convert_to_numpy``, which on torch goes through ``np.array(tensor)`` and makes NumPy 2 warn.
    """
    return float(value)


def _function_names(data: Any) -> list[str]:
    """The ``"module:qualname"`` names of the functions inside schedule data."""
    if isinstance(data, Mapping):
        own = data.get("fn") if data.get("type") in ("custom", "recurrence") else None
        names = [own] if isinstance(own, str) else []
        for value in data.values():
            names.extend(_function_names(value))
        return names
    if isinstance(data, (list, tuple)):
        return [n for v in data for n in _function_names(v)]
    return []


def _keras_functions(data: Mapping[str, Any]) -> dict[str, Callable[..., Any]]:
    """Functions of custom / recurrence schedules that Keras knows (registered or in scope).

    Looked up with ``keras.saving.get_registered_object`` (which sees ``custom_objects=`` of
    ``load_model`` and ``custom_object_scope``) under the full name, the qualname and the bare
    name, then among ``keras.saving.get_custom_objects()``; a match must have the same
    ``"module:qualname"``. Nothing is imported by name.
    """
    keras = _keras()
    found: dict[str, Callable[..., Any]] = {}
    for name in _function_names(data):
        qual = name.partition(":")[2]
        keys = (name, qual, qual.rpartition(".")[2])
        candidates = [keras.saving.get_registered_object(k) for k in keys]
        candidates += list(keras.saving.get_custom_objects().values())
        for obj in candidates:
            if callable(obj) and f"{obj.__module__}:{obj.__qualname__}" == name:
                found[name] = obj
                break
    return found


def _host_only(schedule: LrlabSchedule) -> bool:
    """Whether ``schedule`` has a part that runs Python code on each step's value.

    ``custom(fn)`` with ``vectorized=False`` calls ``fn`` on one float at a time, and
    ``recurrence`` without ``horizon`` grows its table up to the largest step asked for: both
    read the step's value on the host, so they run eagerly only.
    """
    for part in schedule.walk():
        if part.kind == "custom" and not part.params()["vectorized"]:
            return True
        if part.kind == "recurrence" and part.params()["horizon"] is None:
            return True
    return False


# -- KerasSchedule ------------------------------------------------------------------------------
class _KerasScheduleImpl:
    """An lrlab schedule as a Keras ``LearningRateSchedule``, times a plateau multiplier.

    The optimizer calls it with its ``iterations`` at every update (Keras 3
    ``BaseOptimizer._get_current_learning_rate``: ``self._learning_rate(self._iterations)``), so
    update ``k`` (``iterations == k``) trains with

        ``lr = float32(schedule(k) * scale)``

    ``schedule(k)`` is the lrlab convention (the rate of the (k+1)-th update). On every Keras
    backend (TensorFlow, JAX, torch) the schedule is evaluated directly on the step tensor: in
    float64 on TensorFlow (eagerly, in ``tf.function`` and with ``jit_compile=True``) and on
    torch, in JAX's default float under ``jax.jit``; then cast to ``keras.backend.floatx()``, as
    Keras' own schedules return. No ``horizon`` is needed for any schedule written with array
    operations. ``custom(fn)`` (non-vectorised, a Python function of one float) and
    ``recurrence`` without a ``horizon`` of its own run only eagerly on the host (the torch
    backend); on TensorFlow and JAX give ``horizon=N``: the schedule is then read from a table of
    steps ``0 .. N-1`` computed by lrlab (later steps keep the last value).

    On the torch backend, eagerly and with the step on the CPU, the rate is served from blocks
    of the schedule's vectorised form (:class:`lrlab.schedules.Rates`, as
    :class:`~lrlab.torch.LrlabScheduler` does): ``float32(s(k) * scale)`` with ``s(k)`` the
    float of lrlab's own table, bit for bit, at the cost of reading the step and making one
    tensor (torch evaluating the schedule's operations on a one-element tensor at every update
    cost more than Keras' own schedules).

    ``scale`` is a non-trainable ``keras.Variable`` that :class:`ReduceLROnPlateau` multiplies;
    it is saved in the config, so a reloaded model resumes with it.

    Args:
        schedule: an lrlab schedule, or its text form (``"cosine(init=0.1, decay_steps=100)"``).
        scale: the initial plateau multiplier, ``>= 0``.
        horizon: table length for a schedule with host-only parts (``custom(fn)``,
            ``recurrence``) on the TensorFlow and JAX backends; ignored where the schedule can be
            evaluated on the step tensor.

    Returns:
        A ``LearningRateSchedule`` to pass as an optimizer's ``learning_rate``.

    Example:
        >>> import os
        >>> _ = os.environ.setdefault("KERAS_BACKEND", "torch")
        >>> from lrlab.integrations.keras import KerasSchedule
        >>> lr = KerasSchedule("step_decay(init=0.1, drop=0.5, every=10)")
        >>> lr
        KerasSchedule(step_decay(init=0.1, drop=0.5, every=10))
        >>> _ = lr.scale.assign(0.5)
        >>> [round(float(lr(k)), 6) for k in (0, 10)]
        [0.05, 0.025]
        >>> lr.get_config()["schedule"]["type"], lr.get_config()["scale"]
        ('step_decay', 0.5)
    """

    schedule: LrlabSchedule
    horizon: int | None
    scale: Any

    def __init__(
        self, schedule: LrlabSchedule | str, scale: float = 1.0, horizon: int | None = None
    ) -> None:
        keras = _keras()
        if isinstance(schedule, str):
            schedule = parse(schedule)
        if not isinstance(schedule, LrlabSchedule):
            raise TypeError(
                f"KerasSchedule: schedule must be an lrlab schedule or its text, got {schedule!r}"
            )
        if (
            isinstance(scale, bool)
            or not isinstance(scale, (int, float, np.integer, np.floating))
            or not (math.isfinite(scale) and scale >= 0)
        ):
            raise ValueError(f"KerasSchedule: scale must be a finite number >= 0, got {scale!r}")
        self.schedule = schedule
        self.horizon = (
            None if horizon is None else integer("KerasSchedule", "horizon", horizon, lo=1)
        )
        self.scale = keras.Variable(
            float(scale), dtype="float32", trainable=False, name="lrlab_plateau_scale"
        )
        self._table: Any = None
        self._rates = Rates(schedule)

    def __call__(self, step: Any) -> Any:
        """The learning rate at optimizer step ``step`` (a scalar tensor or variable)."""
        keras = _keras()
        ops = keras.ops
        k = self._eager_cpu_step(step) if keras.backend.backend() == "torch" else None
        if k is not None:
            # NumPy's float64 s(k) (lrlab's table), times the scale, rounded once to floatx; the
            # tensor path below evaluates with torch's float64 functions, which may differ in
            # the last float64 bit (not after rounding to float32 or below)
            if self._rates.schedule is not self.schedule:  # the schedule was replaced
                self._rates = Rates(self.schedule)
            value = self._rates.at(k) * float(self.scale)
            return ops.convert_to_tensor(value, dtype=keras.backend.floatx())
        value = self._evaluate(step)
        value = ops.multiply(value, ops.cast(self.scale, ops.dtype(value)))
        return ops.cast(value, _keras().backend.floatx())

    def _eager_cpu_step(self, step: Any) -> int | None:
        """The step as an int where the rate may be served from blocks: the torch backend,
        eager (not traced by ``torch.compile``), the step on the CPU (reading a GPU tensor
        would wait for the device at every update), a schedule :class:`Rates` evaluates in
        blocks (``Rates.block > 1``: none of a user's functions); else ``None``."""
        if self._rates.block == 1:
            return None
        import torch

        value = getattr(step, "value", step)  # a keras.Variable holds its torch tensor
        if isinstance(value, torch.Tensor):
            if value.device.type != "cpu" or value.numel() != 1 or torch.compiler.is_compiling():
                return None
            if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
                return None
            k = int(value)
        elif isinstance(step, (int, np.integer)) and not isinstance(step, bool):
            k = int(step)
        else:
            return None
        return k if k >= 0 else None

    def _evaluate(self, step: Any) -> Any:
        keras = _keras()
        backend = keras.backend.backend()
        if backend == "tensorflow" and _host_only(self.schedule):
            # TensorFlow traces fit's step into a graph: a Python function of one float or a
            # recurrence's growing table cannot run there (on JAX the schedule says so itself)
            if self.horizon is None:
                raise TypeError(
                    f"KerasSchedule: {self.schedule!r} calls a Python function on each step "
                    "(custom(fn) without vectorized=True, or recurrence without horizon), which "
                    "cannot run inside TensorFlow's graph; use vectorized=True with an array "
                    "function, or give KerasSchedule horizon=N: it then reads a table of the "
                    "first N steps computed by lrlab"
                )
            return self._lookup(step)
        try:
            return self.schedule(keras.ops.convert_to_tensor(step))
        except TypeError as exc:  # custom(fn) / recurrence that cannot be traced by JAX
            if self.horizon is None:
                raise TypeError(
                    f"KerasSchedule: {exc} (or give KerasSchedule horizon=N: it then reads "
                    "a table of the first N steps computed by lrlab)"
                ) from exc
        return self._lookup(step)

    def _lookup(self, step: Any) -> Any:
        keras = _keras()
        ops = keras.ops
        assert self.horizon is not None
        if self._table is None:
            self._table = np.asarray(self.schedule(np.arange(self.horizon)), dtype=np.float64)
        table = ops.convert_to_tensor(self._table, dtype=keras.backend.floatx())
        index = ops.clip(ops.cast(step, "int32"), 0, self.horizon - 1)
        return ops.take(table, index)

    def get_config(self) -> dict[str, Any]:
        """``{"schedule": schedule.to_dict(), "scale": ..., "horizon": ...}``: plain JSON data."""
        return {
            "schedule": self.schedule.to_dict(),
            "scale": _to_float(self.scale),
            "horizon": self.horizon,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Any:
        """Rebuild from :meth:`get_config` (``keras.models.load_model`` calls this).

        Functions of ``custom`` / ``recurrence`` schedules are found among the objects Keras
        knows: register them with ``keras.saving.register_keras_serializable()`` or pass
        ``custom_objects={"name": fn}`` to ``load_model``. Nothing is imported by name.
        """
        config = dict(config)
        data = config.pop("schedule")
        try:
            schedule = from_dict(data, functions=_keras_functions(data))
        except ValueError as exc:
            raise ValueError(
                f"KerasSchedule.from_config: {exc}; register the function with "
                "keras.saving.register_keras_serializable() or pass "
                "custom_objects={'<name>': fn} to keras.models.load_model"
            ) from exc
        return cls(schedule, **config)

    def __repr__(self) -> str:
        extra = ""
        scale = _to_float(self.scale)
        if scale != 1.0:
            extra += f", scale={scale!r}"
        if self.horizon is not None:
            extra += f", horizon={self.horizon}"
        return f"KerasSchedule({self.schedule!r}{extra})"
