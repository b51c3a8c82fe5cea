"""lrlab: the learning-rate lab.

Schedules defined once and evaluated identically in NumPy, PyTorch, Keras 3 and JAX/Optax
(:mod:`lrlab.schedules`), and plateau / early-stopping control as pure state machines
(:mod:`lrlab.control`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lrlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
