"""Implementation of :class:`lrlab.integrations.keras.LearningRateScheduler` and
:class:`~lrlab.integrations.keras.LearningRateLogger`, and the helpers of every callback.

Private: import the public names from :mod:`lrlab.integrations.keras`, which creates the Keras
callbacks from these classes on first use. Importing this module does not import Keras.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from lrlab._checks import integer
from lrlab.schedules import Schedule as LrlabSchedule
from lrlab.schedules import parse

from ._schedule import _keras, _to_float


# -- callback helpers ---------------------------------------------------------------------------
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


def _arity(fn: Callable[..., Any]) -> int:
    """1 for ``fn(epoch)``, 2 for ``fn(epoch, lr)`` (and for anything taking ``*args``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: Keras' try/except below
        return 0
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return 1 if len(positional) == 1 and not any(p.kind == p.VAR_POSITIONAL for p in params) else 2


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
            steps_per_epoch = integer(owner, "steps_per_epoch", steps_per_epoch, lo=1)
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
