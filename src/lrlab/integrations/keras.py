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

import inspect
import math
import sys
import warnings
from collections.abc import Callable  # noqa: F401  (see below)
from typing import Any

import numpy as np

from lrlab.schedules import Schedule as LrlabSchedule  # noqa: F401  (see below)
from lrlab.schedules import keras2_decay, lint

# The implementation lives in private siblings, by concept; this module builds the Keras
# classes from them on first use (below) and holds the Keras 2 migration. Those classes present
# themselves as this module's (``__module__``), so the names in their annotations are imported
# here too, for typing.get_type_hints.
from ._keras_callbacks import _LoggerImpl, _SchedulerImpl
from ._keras_callbacks import _optimizers as _optimizers  # still reachable here: tests use it
from ._keras_plateau import _PlateauImpl
from ._keras_schedule import _check_int, _keras, _KerasScheduleImpl

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
