"""The PyTorch integration: the scheduler and the range test on a torch model.

Its public namespace is :mod:`lrlab.torch`; import from there. Importing this package imports
torch; ``import lrlab`` never does.
"""

from ._data import Batch as Batch
from ._find_lr import find_lr as find_lr
from ._find_lr import preserved as preserved
from ._scheduler import LrlabScheduler as LrlabScheduler

__all__ = ["Batch", "LrlabScheduler", "find_lr", "preserved"]
