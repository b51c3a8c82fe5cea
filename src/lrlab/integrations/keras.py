"""Keras 3 integration: lrlab schedules, plateau control and Keras 2 migration in Keras' idiom.

* :class:`KerasSchedule` (alias :data:`Schedule`) — a real
  ``keras.optimizers.schedules.LearningRateSchedule`` that evaluates an lrlab schedule on the
  optimizer's ``iterations`` inside every update, times a plateau multiplier ``scale`` (a
  non-trainable ``keras.Variable``, 1 at the start). It saves and reloads with ``.keras`` files.
* :class:`LearningRateScheduler` — Keras' callback of that name, which also takes lrlab
  schedules (per epoch, per epoch applied per batch with ``steps_per_epoch``, or per batch).
* :class:`ReduceLROnPlateau` — Keras' callback of that name (it subclasses it), that also works
  when the optimizer holds a :class:`KerasSchedule`: it then multiplies the schedule instead of
  raising ``TypeError`` as Keras' own does.
* :class:`LearningRateLogger` — records the rate each epoch (and each batch) actually trained
  with, plateau included, in ``history.history["learning_rate"]``.
* :func:`keras2_optimizer` — builds the Keras 3 optimizer that Keras 2 code such as
  ``SGD(lr=0.1, momentum=0.8, decay=0.002)`` meant (Keras 3 rejects ``lr`` and silently ignores
  ``decay``).

Importing this module never imports Keras (so ``import lrlab`` and the doctest collection work
without a configured ``KERAS_BACKEND``). The Keras classes are created on first use of any of
these names, or at import time if ``keras`` is already imported; that is also when
``KerasSchedule`` is registered with Keras as ``"lrlab>KerasSchedule"`` for ``load_model``.

Example:
    >>> import os
    >>> _ = os.environ.setdefault("KERAS_BACKEND", "torch")
    >>> import keras
    >>> from lrlab.schedules import cosine, warmup
    >>> from lrlab.integrations.keras import KerasSchedule
    >>> lr = KerasSchedule(warmup(cosine(init=0.1, decay_steps=90), steps=10))
    >>> opt = keras.optimizers.SGD(learning_rate=lr, momentum=0.9)
    >>> round(float(opt.learning_rate), 6)  # iterations == 0: the first update's rate
    0.0
    >>> [round(float(lr(k)), 6) for k in (5, 10, 55, 100)]
    [0.05, 0.1, 0.05, 0.0]
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from lrlab.control import Plateau, PlateauState
from lrlab.schedules import Schedule as LrlabSchedule
from lrlab.schedules import from_dict, keras2_decay, lint, parse

#: Keras 2 optimizer name -> (Keras 3 class name, Keras 2 default ``lr`` or ``None`` where Keras 2
#: releases disagree: standalone Keras 2.2 used Adagrad 0.01, Adadelta 1.0, Adamax 0.002;
#: tf.keras 2 used 0.001 for all three)
KERAS2_OPTIMIZERS: dict[str, tuple[str, float | None]] = {
    "sgd": ("SGD", 0.01),
    "adam": ("Adam", 0.001),
    "rmsprop": ("RMSprop", 0.001),
    "adagrad": ("Adagrad", None),
    "adadelta": ("Adadelta", None),
    "adamax": ("Adamax", None),
}

_KERAS_NAMES = (
    "KerasSchedule",
    "Schedule",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "LearningRateLogger",
)
_BUILT: dict[str, type] = {}

__all__ = ["KERAS2_OPTIMIZERS", *_KERAS_NAMES, "keras2_optimizer"]


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


def _optimizers(model: Any) -> list[tuple[str, Any]]:
    """``(name, optimizer)`` pairs; ``name`` is ``""`` unless the optimizer wraps several.

    Mirrors the ``hasattr(self.model.optimizer, "optimizers")`` branch of Keras' own
    ``LearningRateScheduler`` and ``ReduceLROnPlateau``.
    """
    opt = model.optimizer
    if hasattr(opt, "optimizers"):
        return [(o.name, o) for o in opt.optimizers]
    return [("", opt)]


def _log_key(name: str) -> str:
    return f"learning_rate_{name}" if name else "learning_rate"


def _holder(optimizer: Any) -> Any:
    """What the optimizer keeps as its learning rate: a ``keras.Variable``, a schedule, a callable.

    Keras 3 stores it in ``_learning_rate`` (``keras/src/optimizers/base_optimizer.py``,
    ``__init__`` and ``_get_current_learning_rate``); a ``LossScaleOptimizer`` forwards to its
    ``inner_optimizer``.
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return getattr(inner, "_learning_rate", None)


def _is_float_lr(optimizer: Any) -> bool:
    return isinstance(_holder(optimizer), _keras().Variable)


def _check_int(owner: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _arity(fn: Callable[..., Any]) -> int:
    """1 for ``fn(epoch)``, 2 for ``fn(epoch, lr)`` (and for anything taking ``*args``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: Keras' try/except below
        return 0
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return 1 if len(positional) == 1 and not any(p.kind == p.VAR_POSITIONAL for p in params) else 2


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


# -- KerasSchedule ------------------------------------------------------------------------------
class _KerasScheduleImpl:
    """An lrlab schedule as a Keras ``LearningRateSchedule``, times a plateau multiplier.

    The optimizer calls it with its ``iterations`` at every update (Keras 3
    ``BaseOptimizer._get_current_learning_rate``: ``self._learning_rate(self._iterations)``), so
    update ``k`` (``iterations == k``) trains with

        ``lr = float32(schedule(k) * scale)``

    ``schedule(k)`` is the lrlab convention (the rate of the (k+1)-th update). On the torch and
    JAX backends the schedule is evaluated directly on the step tensor (in float64 on torch, also
    under ``jax.jit``), then cast to ``keras.backend.floatx()``, as Keras' own schedules return.
    On other backends (TensorFlow) give ``horizon=N``: the schedule is then read from a table of
    steps ``0 .. N-1`` computed by lrlab (later steps keep the last value), which works in graph
    mode and under XLA. ``horizon`` is also the way to run ``custom(fn)`` (non-vectorised) and
    ``recurrence`` without ``horizon`` under JAX.

    ``scale`` is a non-trainable ``keras.Variable`` that :class:`ReduceLROnPlateau` multiplies;
    it is saved in the config, so a reloaded model resumes with it.

    Args:
        schedule: an lrlab schedule, or its text form (``"cosine(init=0.1, decay_steps=100)"``).
        scale: the initial plateau multiplier, ``>= 0``.
        horizon: table length for backends that cannot evaluate lrlab schedules on their tensors.

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
            None if horizon is None else _check_int("KerasSchedule", "horizon", horizon, 1)
        )
        self.scale = keras.Variable(
            float(scale), dtype="float32", trainable=False, name="lrlab_plateau_scale"
        )
        self._table: Any = None

    def __call__(self, step: Any) -> Any:
        """The learning rate at optimizer step ``step`` (a scalar tensor or variable)."""
        ops = _keras().ops
        value = self._evaluate(step)
        value = ops.multiply(value, ops.cast(self.scale, ops.dtype(value)))
        return ops.cast(value, _keras().backend.floatx())

    def _evaluate(self, step: Any) -> Any:
        keras = _keras()
        backend = keras.backend.backend()
        if backend in ("torch", "jax"):
            try:
                return self.schedule(keras.ops.convert_to_tensor(step))
            except TypeError as exc:  # custom(fn) / recurrence that cannot be traced by JAX
                if self.horizon is None:
                    raise TypeError(
                        f"KerasSchedule: {exc} (or give KerasSchedule horizon=N: it then reads "
                        "a table of the first N steps computed by lrlab)"
                    ) from exc
        elif self.horizon is None:
            raise ValueError(
                f"KerasSchedule: the {backend!r} backend cannot evaluate lrlab schedules on its "
                "tensors; pass horizon=N (the number of training steps): the schedule is then "
                "read from a table of steps 0 .. N-1"
            )
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


# -- LearningRateScheduler ----------------------------------------------------------------------
class _SchedulerImpl:
    """Keras' ``LearningRateScheduler``, that also runs lrlab schedules.

    * an lrlab schedule with ``per="epoch"`` (default) is indexed by epoch: epoch ``e`` trains
      with ``schedule(e)``, set at ``on_epoch_begin`` as Keras does (``e`` is Keras' epoch
      counter, which restarts at ``initial_epoch`` in every ``fit``);
    * with ``steps_per_epoch=n`` as well, the epoch is counted in updates instead: update ``k``
      (``optimizer.iterations == k``) trains with ``schedule(k // n)``, set before every batch —
      ``by_epoch(schedule, n)(k)``, a pure function of the step that continues across ``fit``
      calls;
    * ``per="batch"``: the schedule is indexed by update: update ``k`` trains with
      ``schedule(k)``, set before every batch (a :class:`KerasSchedule` does the same inside
      the optimizer, without a callback);
    * a plain function ``fn(epoch, lr)`` or ``fn(epoch)`` behaves exactly as with Keras' own
      callback (``keras/src/callbacks/learning_rate_scheduler.py``): at each epoch begin it is
      called with the epoch and the optimizer's current rate as a float, must return a float,
      and its result is assigned to the optimizer. With ``per="batch"`` it is called before
      every batch with the update index instead. (The number of arguments is read from the
      signature; Keras tries two and falls back to one on ``TypeError``, which agrees for every
      function that does not raise ``TypeError`` itself.)

    The optimizer needs a float learning rate (a schedule inside the optimizer cannot be set;
    use :class:`KerasSchedule` alone then). ``logs["learning_rate"]`` is the optimizer's rate at
    the end of each epoch, as with Keras' callback, unless :class:`LearningRateLogger` already
    put the rate of the epoch there.

    Args:
        schedule: an lrlab schedule (or its text), or a function ``fn(epoch, lr)`` /
            ``fn(epoch)``.
        steps_per_epoch: updates per epoch, for an epoch-indexed lrlab schedule applied per
            batch (``per="epoch"`` only; for a plain function wrap it first with
            ``lrlab.schedules.recurrence(fn, init=lr)``, which makes it a pure schedule).
        per: ``"epoch"`` or ``"batch"``: what the schedule's index counts.
        verbose: 0 quiet, 1 print each epoch's new rate (Keras' message; epoch updates only).

    Returns:
        A ``keras.callbacks.Callback`` for ``model.fit(callbacks=[...])``.

    Example:
        >>> import os
        >>> _ = os.environ.setdefault("KERAS_BACKEND", "torch")
        >>> from lrlab.schedules import step_decay
        >>> from lrlab.integrations.keras import LearningRateScheduler
        >>> cb = LearningRateScheduler(step_decay(init=0.1, drop=0.5, every=10), steps_per_epoch=9)
        >>> cb.per, cb.steps_per_epoch
        ('epoch', 9)
    """

    model: Any  # set by Keras (Callback.set_model)

    def __init__(
        self,
        schedule: LrlabSchedule | str | Callable[..., float],
        steps_per_epoch: int | None = None,
        per: str = "epoch",
        verbose: int = 0,
    ) -> None:
        super().__init__()
        owner = "LearningRateScheduler"
        if per not in ("epoch", "batch"):
            raise ValueError(f"{owner}: per must be 'epoch' or 'batch', got {per!r}")
        if isinstance(schedule, str):
            schedule = parse(schedule)
        self.is_lrlab = isinstance(schedule, LrlabSchedule)
        if not self.is_lrlab and not callable(schedule):
            raise TypeError(
                f"{owner}: schedule must be an lrlab schedule or a function (epoch, lr) -> lr, "
                f"got {schedule!r}"
            )
        if steps_per_epoch is not None:
            steps_per_epoch = _check_int(owner, "steps_per_epoch", steps_per_epoch, 1)
            if per == "batch":
                raise ValueError(
                    f"{owner}: steps_per_epoch is for an epoch-indexed schedule (per='epoch'); "
                    f"with per='batch' the schedule is already indexed by update, got "
                    f"steps_per_epoch={steps_per_epoch}"
                )
            if not self.is_lrlab:
                raise ValueError(
                    f"{owner}: steps_per_epoch needs an lrlab schedule; wrap the function with "
                    "lrlab.schedules.recurrence(fn, init=lr) to make it a pure schedule of the "
                    f"epoch, got {schedule!r}"
                )
        self.schedule = schedule
        self.steps_per_epoch = steps_per_epoch
        self.per = per
        self.verbose = verbose
        self._arity = 0 if self.is_lrlab else _arity(schedule)

    @property
    def _per_batch(self) -> bool:
        return self.per == "batch" or self.steps_per_epoch is not None

    def _new_lr(self, index: int, optimizer: Any) -> Any:
        if self.is_lrlab:
            return float(self.schedule(index))
        fn: Callable[..., Any] = self.schedule
        current = _to_float(optimizer.learning_rate)
        if self._arity == 2:
            lr = fn(index, current)
        elif self._arity == 1:
            lr = fn(index)
        else:  # Keras' own rule, for callables without a signature
            try:
                lr = fn(index, current)
            except TypeError:
                lr = fn(index)
        if not isinstance(lr, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {lr}")
        return lr

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        for name, opt in _optimizers(self.model):
            if not _is_float_lr(opt):
                label = f"optimizer {name!r}" if name else "the optimizer"
                raise TypeError(
                    f"LearningRateScheduler: {label} holds {_holder(opt)!r} as its learning "
                    "rate, which cannot be set; compile with a float learning_rate, or give the "
                    "lrlab schedule to the optimizer as KerasSchedule(schedule) and drop this "
                    "callback"
                )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._per_batch:
            return
        for name, opt in _optimizers(self.model):
            lr = self._new_lr(epoch, opt)
            opt.learning_rate = lr
            if self.verbose > 0:
                what = f"{name} learning rate" if name else "learning rate"
                print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting {what} to {lr}.")

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._per_batch:
            return
        _sync_jax(self.model)
        for _, opt in _optimizers(self.model):
            k = int(_to_float(opt.iterations))
            index = k // self.steps_per_epoch if self.steps_per_epoch else k
            opt.learning_rate = self._new_lr(index, opt)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        for name, opt in _optimizers(self.model):
            logs.setdefault(_log_key(name), _to_float(opt.learning_rate))


def _sync_jax(model: Any) -> None:
    """On JAX, write the in-flight training state back to the variables (and make the next step
    read them back), so a per-batch callback sees the current ``iterations`` and its changes are
    used. Keras' JAX trainer does this only at epoch ends (``jax_state_sync``)."""
    if _keras().backend.backend() == "jax" and hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


# -- ReduceLROnPlateau --------------------------------------------------------------------------
class _PlateauImpl:
    """Keras' ``ReduceLROnPlateau`` that also multiplies a :class:`KerasSchedule`.

    It subclasses ``keras.callbacks.ReduceLROnPlateau`` (same arguments, same ``mode="auto"``
    resolution, same log key and warning) and runs the state machine of
    :class:`lrlab.control.Plateau` with ``convention="keras"``, which reproduces
    ``ReduceLROnPlateau.on_epoch_end`` of ``keras/src/callbacks/reduce_lr_on_plateau.py``: a
    cooldown tick, then improvement (``monitor - min_delta`` beats ``best`` in float32; the first
    value always does), else a bad epoch; after ``patience`` bad epochs a reduction if the rate
    is above ``min_lr``, which resets the bad count and starts the cooldown. ``best``, ``wait``
    and ``cooldown_counter`` are kept as Keras keeps them; :attr:`state` is the lrlab state.

    What a reduction does depends on what the optimizer holds:

    * a float learning rate: exactly Keras' ``_reduce_optimizer_lr``: if ``lr > float32(min_lr)``
      then ``lr = max(lr * factor, min_lr)``;
    * a :class:`KerasSchedule`: its ``scale`` is multiplied so that the current rate becomes
      ``max(lr * factor, min_lr)``; the schedule keeps running underneath (warmup, cosine...),
      and ``min_lr`` is a floor at the moment of each reduction, not afterwards. (Keras' own
      callback raises ``TypeError`` here: "This optimizer was created with a
      `LearningRateSchedule` object ... its learning rate is not settable".) On the JAX backend
      the train function is rebuilt after such a change, since the traced step holds the scale
      as a constant.

    Differences from Keras: bad arguments fail at construction with a ``ValueError`` naming them
    (Keras accepts e.g. ``factor <= 0``); a NaN metric is never an improvement (Keras adopts a
    first NaN as its ``best``); any other learning-rate holder (a Keras schedule, a callable) is
    a ``TypeError`` at ``on_train_begin``.

    Args:
        monitor: the quantity in ``logs`` to watch.
        factor: multiplier at each reduction, in ``(0, 1)``.
        patience: bad epochs before a reduction (Keras: ``wait >= patience``).
        verbose: 0 quiet, 1 print each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"`` (``"auto"`` infers it as Keras does).
        min_delta: minimal absolute change that counts as an improvement.
        cooldown: epochs after a reduction during which bad epochs are not counted.
        min_lr: floor on the learning rate.
        **kwargs: passed to Keras' ``ReduceLROnPlateau``.

    Returns:
        A ``keras.callbacks.ReduceLROnPlateau``.

    Example:
        >>> import os
        >>> _ = os.environ.setdefault("KERAS_BACKEND", "torch")
        >>> import keras
        >>> from lrlab.integrations.keras import ReduceLROnPlateau
        >>> cb = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2)
        >>> isinstance(cb, keras.callbacks.ReduceLROnPlateau)
        True
    """

    # set by Keras' ReduceLROnPlateau / MonitorCallback
    model: Any
    monitor: str
    monitor_op: Any
    factor: float
    min_lr: float
    verbose: int
    best: float | None
    wait: int
    cooldown_counter: int
    _set_monitor_op: Callable[[], None]

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        **kwargs: Any,
    ) -> None:
        self._plateau_args = {
            "factor": factor,
            "patience": patience,
            "threshold": abs(min_delta) if isinstance(min_delta, (int, float)) else min_delta,
            "threshold_mode": "abs",
            "cooldown": cooldown,
            "min_lr": min_lr,
            "convention": "keras",
        }
        try:
            Plateau(mode="min", **self._plateau_args)
        except ValueError as exc:
            raise ValueError(
                str(exc).replace("Plateau:", "ReduceLROnPlateau:").replace("threshold", "min_delta")
            ) from None
        super().__init__(
            monitor=monitor,
            factor=factor,
            patience=patience,
            verbose=verbose,
            mode=mode,
            min_delta=min_delta,
            cooldown=cooldown,
            min_lr=min_lr,
            **kwargs,
        )
        self.plateau: Plateau | None = None
        self.state: PlateauState | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        super().on_train_begin(logs)  # Keras' _reset
        self.state = None if self.plateau is None else self.plateau.init()
        for name, opt in _optimizers(self.model):
            holder = _holder(opt)
            if not (isinstance(holder, _keras().Variable) or _is_lrlab_schedule(holder)):
                label = f"optimizer {name!r}" if name else "the optimizer"
                raise TypeError(
                    f"ReduceLROnPlateau: {label} holds {holder!r} as its learning rate, which "
                    "cannot be reduced; use a float learning_rate or an lrlab schedule wrapped "
                    "in lrlab.integrations.keras.KerasSchedule (which this callback multiplies)"
                )

    def _ensure_plateau(self) -> Plateau:
        if self.plateau is None:
            if self.monitor_op is None:
                self._set_monitor_op()  # Keras' mode="auto" logic
            mode = "min" if bool(self.monitor_op(0.0, 1.0)) else "max"  # ops.less / ops.greater
            self.plateau = Plateau(mode=mode, **self._plateau_args)
        if self.state is None:
            self.state = self.plateau.init()
        return self.plateau

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        plateau = self._ensure_plateau()
        assert self.state is not None
        logs = logs if logs is not None else {}
        optimizers = _optimizers(self.model)
        rates = [_to_float(opt.learning_rate) for _, opt in optimizers]
        for (name, _), lr in zip(optimizers, rates):
            logs.setdefault(_log_key(name), lr)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                "Learning rate reduction is conditioned on metric "
                f"`{self.monitor}` which is not available. Available metrics "
                f"are: {','.join(list(logs.keys()))}.",
                stacklevel=2,
            )
            return
        # The optimizers hold the effective rates, so the multiplier is 1 at every update; the
        # plateau decides whether to reduce (some rate above min_lr) and keeps the counters.
        state = dataclasses.replace(self.state, scale=1.0)
        self.state = plateau.update(state, float(current), lr=max(rates))
        if self.state.last_reduced:
            for (name, opt), lr in zip(optimizers, rates):
                self._reduce(opt, lr, epoch, name)
        best = float(self.state.best)
        self.best = best if math.isfinite(best) else None
        self.wait = int(self.state.num_bad)
        self.cooldown_counter = int(self.state.cooldown_counter)

    def _reduce(self, optimizer: Any, old_lr: float, epoch: int, name: str) -> bool:
        """Keras' ``_reduce_optimizer_lr`` for a float rate; a scale change for a schedule."""
        if not old_lr > np.float32(self.min_lr):
            return False
        factor: float = self.factor
        min_lr: float = self.min_lr
        new_lr = max(old_lr * factor, min_lr)
        holder = _holder(optimizer)
        label = f" {name}" if name else ""
        if _is_lrlab_schedule(holder):
            new_scale = _to_float(holder.scale) * max(factor, min_lr / old_lr)
            holder.scale.assign(new_scale)
            if _keras().backend.backend() == "jax":
                self.model.make_train_function(force=True)
            message = (
                f"multiplying{label} learning-rate schedule by {new_lr / old_lr:.6g} "
                f"(scale {new_scale:.6g}, learning rate {new_lr:.6g})"
            )
        else:
            optimizer.learning_rate = new_lr
            message = f"reducing{label} learning rate to {new_lr}"
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau {message}.")
        return True


def _is_lrlab_schedule(holder: Any) -> bool:
    return isinstance(holder, _KerasScheduleImpl)


# -- LearningRateLogger -------------------------------------------------------------------------
class _LoggerImpl:
    """Record the learning rate the model actually trained with, plateau included.

    ``history.history["learning_rate"][e]`` (and :attr:`learning_rates`) is the rate of the
    first update of epoch ``e``: with a :class:`KerasSchedule` that is ``schedule(k) * scale`` at
    that update's ``iterations == k``; with a float rate, the value it had during the update
    (read after it, so callbacks that set the rate before the batch are seen, wherever they sit
    in the callback list). With ``per_batch=True`` :attr:`batch_learning_rates` holds the rate of
    every update of the last ``fit``, in order. With several optimizers (Keras' ``optimizers``
    wrappers) each gets the key ``learning_rate_<name>`` and the lists hold dicts.

    Args:
        per_batch: also record every update's rate (a device read per batch; on JAX also a
            state sync per batch).

    Returns:
        A ``keras.callbacks.Callback``.

    Example:
        >>> import os
        >>> _ = os.environ.setdefault("KERAS_BACKEND", "torch")
        >>> from lrlab.integrations.keras import LearningRateLogger
        >>> LearningRateLogger(per_batch=True).batch_learning_rates
        []
    """

    model: Any  # set by Keras (Callback.set_model)

    def __init__(self, per_batch: bool = False) -> None:
        super().__init__()
        if not isinstance(per_batch, bool):
            raise ValueError(
                f"LearningRateLogger: per_batch must be True or False, got {per_batch!r}"
            )
        self.per_batch = per_batch
        self.learning_rates: list[Any] = []
        self.batch_learning_rates: list[Any] = []
        self._want_epoch = False
        self._epoch_value: dict[str, float] | None = None
        self._before: dict[str, float | None] = {}

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.learning_rates = []
        self.batch_learning_rates = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._want_epoch = True
        self._epoch_value = None

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not (self.per_batch or self._want_epoch):
            return
        if self.per_batch:
            _sync_jax(self.model)
        keras = _keras()
        self._before = {}
        for name, opt in _optimizers(self.model):
            lr = opt.learning_rate
            # a float rate is read after the update; a schedule is a function of iterations
            self._before[_log_key(name)] = None if isinstance(lr, keras.Variable) else _to_float(lr)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not (self.per_batch or self._want_epoch):
            return
        values: dict[str, float] = {}
        for name, opt in _optimizers(self.model):
            key = _log_key(name)
            before = self._before.get(key)
            values[key] = _to_float(opt.learning_rate) if before is None else before
        if self.per_batch:
            self.batch_learning_rates.append(_unwrap(values))
        if self._want_epoch:
            self._epoch_value = values
            self._want_epoch = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._epoch_value is None:
            return
        self.learning_rates.append(_unwrap(self._epoch_value))
        if logs is not None:
            logs.update(self._epoch_value)


def _unwrap(values: dict[str, float]) -> Any:
    return values["learning_rate"] if list(values) == ["learning_rate"] else dict(values)


# -- Keras 2 migration --------------------------------------------------------------------------
def keras2_optimizer(
    name: str,
    lr: float | None = None,
    decay: float = 0.0,
    *,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    **kwargs: Any,
) -> Any:
    """The Keras 3 optimizer that Keras 2 code ``SGD(lr=..., decay=..., ...)`` meant.

    Keras 3 rejects ``lr=`` (``ValueError: Argument(s) not recognized``) and ignores ``decay=``
    with only a warning ("Argument `decay` is no longer supported and will be ignored.",
    ``keras/src/optimizers/base_optimizer.py``), so ported code silently trains without decay.
    Keras 2 applied ``decay`` at every update (``lr * 1 / (1 + decay * iterations)`` in each
    optimizer's ``get_updates``). This returns the Keras 3 optimizer with ``learning_rate =
    KerasSchedule(keras2_decay(lr, decay))``, which is exactly that rate at every update
    (``lr`` as a float when ``decay == 0``).

    Keras 2 argument names map as: ``lr`` -> ``learning_rate`` (``learning_rate=`` is accepted
    too, as Keras 2.3 did); ``epsilon=None`` (Keras 2's "use ``K.epsilon()``", 1e-7) -> Keras 3's
    default 1e-7; ``momentum``, ``nesterov``, ``rho``, ``beta_1``, ``beta_2``, ``amsgrad``,
    ``clipnorm``, ``clipvalue`` and every other Keras 3 argument pass through.

    When ``epochs`` is given, a ``UserWarning`` says if ``decay`` looks chosen per epoch
    (``decay == lr / epochs``, the classic recipe), using :func:`lrlab.schedules.lint`; with
    ``steps_per_epoch`` too, the warning quantifies the difference.

    Args:
        name: ``"sgd"``, ``"adam"``, ``"rmsprop"``, ``"adagrad"``, ``"adadelta"`` or
            ``"adamax"`` (any case).
        lr: the initial learning rate; defaults to Keras 2's where every Keras 2 release agrees
            (SGD 0.01, Adam and RMSprop 0.001) and is required otherwise.
        decay: Keras 2's time-based decay per update, ``>= 0``.
        epochs: planned epochs, to check ``decay``.
        steps_per_epoch: updates per epoch, to check ``decay``.
        **kwargs: other optimizer arguments (Keras 2 or Keras 3 names).

    Returns:
        A ``keras.optimizers.Optimizer``.

    Example:
        >>> import os
        >>> _ = os.environ.setdefault("KERAS_BACKEND", "torch")
        >>> from lrlab.integrations.keras import keras2_optimizer
        >>> opt = keras2_optimizer("sgd", lr=0.1, momentum=0.8, decay=0.002)
        >>> type(opt).__name__, opt.momentum
        ('SGD', 0.8)
        >>> round(float(opt.learning_rate), 6)
        0.1
    """
    keras = _keras()
    owner = "keras2_optimizer"
    key = name.lower() if isinstance(name, str) else name
    if key == "nadam":
        raise ValueError(
            f"{owner}: 'nadam' is not supported: Keras 3's Nadam has no schedule_decay and "
            "computes its momentum schedule differently from Keras 2's, so no mapping is exact"
        )
    if key not in KERAS2_OPTIMIZERS:
        raise ValueError(
            f"{owner}: name must be one of {', '.join(map(repr, KERAS2_OPTIMIZERS))}, got {name!r}"
        )
    class_name, default_lr = KERAS2_OPTIMIZERS[key]
    if "learning_rate" in kwargs:
        if lr is not None:
            raise ValueError(
                f"{owner}: give lr or learning_rate, not both (got lr={lr!r}, "
                f"learning_rate={kwargs['learning_rate']!r})"
            )
        lr = kwargs.pop("learning_rate")
    if lr is None:
        if default_lr is None:
            raise ValueError(
                f"{owner}: lr is required for {key!r} (Keras 2 releases disagree on its default: "
                "standalone Keras 2.2 and tf.keras 2 differ), got None"
            )
        lr = default_lr
    for arg, value in (("lr", lr), ("decay", decay)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.integer, np.floating))
            or not (math.isfinite(value) and value >= 0)
        ):
            raise ValueError(f"{owner}: {arg} must be a finite number >= 0, got {value!r}")
    if epochs is not None:
        epochs = _check_int(owner, "epochs", epochs, 1)
    if steps_per_epoch is not None:
        steps_per_epoch = _check_int(owner, "steps_per_epoch", steps_per_epoch, 1)
    if kwargs.get("epsilon", 0.0) is None:
        del kwargs["epsilon"]
    cls = getattr(keras.optimizers, class_name)
    accepted = [
        p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")
    ]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"{owner}: {class_name} does not take {', '.join(unknown)} "
            f"(got {', '.join(f'{k}={kwargs[k]!r}' for k in unknown)}); "
            f"it takes lr, decay, {', '.join(a for a in accepted if a != 'learning_rate')}"
        )
    if decay > 0 and epochs is not None:
        _warn_per_epoch_decay(float(lr), float(decay), epochs, steps_per_epoch)
    learning_rate: Any = float(lr)
    if decay > 0:
        learning_rate = _build()["KerasSchedule"](keras2_decay(lr=float(lr), decay=float(decay)))
    return cls(learning_rate=learning_rate, **kwargs)


def _warn_per_epoch_decay(
    lr: float, decay: float, epochs: int, steps_per_epoch: int | None
) -> None:
    """Warn (``UserWarning``) when ``lint`` finds a Keras 2 decay chosen per epoch."""
    # lint compares lr / decay with steps / steps_per_epoch; without the true steps_per_epoch
    # any value > 1 makes it compare lr / decay with `epochs`
    spe = steps_per_epoch if steps_per_epoch is not None else 2
    found = [
        w
        for w in lint(keras2_decay(lr=lr, decay=decay), epochs * spe, steps_per_epoch=spe)
        if w.code == "keras2-decay-per-epoch"
    ]
    if not found:
        return
    if steps_per_epoch is not None:
        detail = found[0].message
    else:
        detail = (
            f"decay={decay:g} equals lr/epochs = {lr:g}/{epochs}, the per-epoch choice, but "
            "Keras 2 (and this optimizer) apply decay at every update, so with n updates per "
            "epoch the term decay * t grows n times faster than meant; for per-epoch decay use "
            "decay = lr / (epochs * steps_per_epoch) (pass steps_per_epoch= to see the effect)"
        )
    warnings.warn(f"keras2_optimizer: {detail}", UserWarning, stacklevel=3)


# -- lazy construction of the Keras classes ----------------------------------------------------
def _build() -> dict[str, type]:
    """Create the Keras subclasses (importing keras) once, and register ``KerasSchedule``."""
    if _BUILT:
        return _BUILT
    keras = _keras()

    def make(impl: type, base: type, name: str) -> type:
        cls = type(name, (impl, base), {"__module__": __name__, "__doc__": impl.__doc__})
        cls.__qualname__ = name
        return cls

    schedule_cls = make(
        _KerasScheduleImpl, keras.optimizers.schedules.LearningRateSchedule, "KerasSchedule"
    )
    schedule_cls = keras.saving.register_keras_serializable(package="lrlab")(schedule_cls)
    built = {
        "KerasSchedule": schedule_cls,
        "Schedule": schedule_cls,
        "LearningRateScheduler": make(
            _SchedulerImpl, keras.callbacks.Callback, "LearningRateScheduler"
        ),
        "ReduceLROnPlateau": make(
            _PlateauImpl, keras.callbacks.ReduceLROnPlateau, "ReduceLROnPlateau"
        ),
        "LearningRateLogger": make(_LoggerImpl, keras.callbacks.Callback, "LearningRateLogger"),
    }
    _BUILT.update(built)
    globals().update(built)
    return _BUILT


def __getattr__(name: str) -> Any:
    if name in _KERAS_NAMES:
        return _build()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # Only what exists: tools that walk dir() and getattr every name (pytest's collection does)
    # must not import Keras before a backend is chosen.
    return sorted(globals())


if "keras" in sys.modules:  # keras is configured already: register KerasSchedule for load_model
    _build()
