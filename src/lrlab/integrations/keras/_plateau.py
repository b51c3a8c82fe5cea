"""Implementation of :class:`lrlab.integrations.keras.ReduceLROnPlateau`.

Private: import it from :mod:`lrlab.integrations.keras`, which creates the Keras callback from
:class:`_PlateauImpl` on first use. Importing this module does not import Keras.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from lrlab.control import Plateau, PlateauState

from ._callbacks import _holder, _log_key, _optimizers
from ._schedule import _keras, _KerasScheduleImpl, _to_float


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
