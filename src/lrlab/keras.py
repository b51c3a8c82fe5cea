"""Short alias of :mod:`lrlab.integrations.keras`: ``from lrlab.keras import KerasSchedule``.

It re-exports the same objects (``lrlab.keras.KerasSchedule is
lrlab.integrations.keras.KerasSchedule``). Like that module, importing it does not import Keras;
the first use of a Keras name does (set ``KERAS_BACKEND`` before that).

Example:
    >>> import lrlab.keras
    >>> "KerasSchedule" in lrlab.keras.__all__
    True
"""

from __future__ import annotations

from typing import Any

from lrlab.integrations import keras as _impl

__all__ = list(_impl.__all__)


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(_impl, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # only names that exist already: walking dir() must not import Keras (see the module above)
    return sorted({*globals(), *(n for n in __all__ if n in vars(_impl))})
