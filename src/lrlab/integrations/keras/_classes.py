"""The Keras classes of :mod:`lrlab.integrations.keras`, created once on first use.

Each is a Keras base class (``LearningRateSchedule``, ``Callback``, ``ReduceLROnPlateau``) with a
Keras-free implementation mixed in before it, so importing the package never imports Keras; the
first use of a class name does, and then registers ``KerasSchedule`` with Keras as
``"lrlab>KerasSchedule"`` for ``load_model``.
"""

from __future__ import annotations

from ._callbacks import _LoggerImpl, _SchedulerImpl
from ._find_lr import _LRFinderImpl
from ._plateau import _PlateauImpl
from ._schedule import _keras, _KerasScheduleImpl

#: the names of the classes :func:`build` creates
KERAS_NAMES = (
    "KerasSchedule",
    "Schedule",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "LearningRateLogger",
    "LRFinder",
)
_MODULE = "lrlab.integrations.keras"  # where the classes present themselves
_BUILT: dict[str, type] = {}


def build() -> dict[str, type]:
    """The Keras classes by name, created (importing keras) on the first call."""
    if _BUILT:
        return _BUILT
    keras = _keras()

    def make(impl: type, base: type, name: str) -> type:
        cls = type(name, (impl, base), {"__module__": _MODULE, "__doc__": impl.__doc__})
        cls.__qualname__ = name
        return cls

    schedule_cls = make(
        _KerasScheduleImpl, keras.optimizers.schedules.LearningRateSchedule, "KerasSchedule"
    )
    schedule_cls = keras.saving.register_keras_serializable(package="lrlab")(schedule_cls)
    _BUILT.update(
        {
            "KerasSchedule": schedule_cls,
            "Schedule": schedule_cls,
            "LearningRateScheduler": make(
                _SchedulerImpl, keras.callbacks.Callback, "LearningRateScheduler"
            ),
            "ReduceLROnPlateau": make(
                _PlateauImpl, keras.callbacks.ReduceLROnPlateau, "ReduceLROnPlateau"
            ),
            "LearningRateLogger": make(_LoggerImpl, keras.callbacks.Callback, "LearningRateLogger"),
            "LRFinder": make(_LRFinderImpl, keras.callbacks.Callback, "LRFinder"),
        }
    )
    return _BUILT
