"""Keras 2 migration: :func:`keras2_optimizer` builds the Keras 3 optimizer that Keras 2 code
such as ``SGD(lr=0.1, momentum=0.8, decay=0.002)`` meant."""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any

import numpy as np

from lrlab._checks import integer
from lrlab.schedules import keras2_decay, lint

from ._schedule import _keras

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
        epochs = integer(owner, "epochs", epochs, lo=1)
    if steps_per_epoch is not None:
        steps_per_epoch = integer(owner, "steps_per_epoch", steps_per_epoch, lo=1)
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
        from ._classes import build  # the Keras classes import this module's siblings

        learning_rate = build()["KerasSchedule"](keras2_decay(lr=float(lr), decay=float(decay)))
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
