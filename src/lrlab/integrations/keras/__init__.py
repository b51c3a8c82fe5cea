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
* :func:`find_lr` and the :class:`LRFinder` callback — the range test on a compiled Keras model
  (weights and optimizer variables restored), with :func:`batch_loss`, the per-batch loss
  recovered from Keras' running mean; ``validate=True`` checks the suggestion on the population
  engine.

Its public namespace is :mod:`lrlab.keras`; import from there.

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

import sys
from collections.abc import Callable  # noqa: F401  (see below)
from typing import Any

from lrlab.schedules import Schedule as LrlabSchedule  # noqa: F401  (see below)

# The Keras classes are created on first use (``_classes.build``) and present themselves as this
# module's (``__module__``), so the names in their annotations are imported here too, for
# typing.get_type_hints.
from ._callbacks import _optimizers as _optimizers  # still reachable here: tests use it
from ._classes import KERAS_NAMES, build
from ._find_lr import batch_loss as batch_loss
from ._find_lr import find_lr as find_lr
from ._keras2 import KERAS2_OPTIMIZERS as KERAS2_OPTIMIZERS
from ._keras2 import keras2_optimizer as keras2_optimizer

__all__ = ["KERAS2_OPTIMIZERS", *KERAS_NAMES, "batch_loss", "find_lr", "keras2_optimizer"]


def __getattr__(name: str) -> Any:
    if name in KERAS_NAMES:
        built = build()
        globals().update(built)
        return built[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # Only what exists: tools that walk dir() and getattr every name (pytest's collection does)
    # must not import Keras before a backend is chosen.
    return sorted(globals())


if "keras" in sys.modules:  # keras is configured already: register KerasSchedule for load_model
    globals().update(build())
