"""lrlab: the learning-rate lab.

- :mod:`lrlab.schedules` — schedules defined once, evaluated identically on Python numbers,
  NumPy, torch tensors and JAX arrays; composable, serialisable, lintable.
- :mod:`lrlab.control` — ReduceLROnPlateau and early stopping as pure state machines.
- :mod:`lrlab.finder` — the learning-rate range test with every suggestion rule.
- :mod:`lrlab.torch`, :mod:`lrlab.keras`, :mod:`lrlab.optax` — the same inside each framework.
- :mod:`lrlab.lab` — datasets, population training, studies and their store.

``import lrlab`` needs only NumPy; frameworks are imported by the modules that use them.

Example:
    >>> import lrlab
    >>> lrlab.schedules.cosine(init=0.1, decay_steps=100)(50)
    0.05
"""

from importlib.metadata import PackageNotFoundError, version

from . import control, finder, schedules

try:
    __version__ = version("lrlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "control", "finder", "schedules"]
