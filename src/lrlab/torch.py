"""Short alias of :mod:`lrlab.integrations.torch`: ``from lrlab.torch import LrlabScheduler``.

It re-exports the same objects (``lrlab.torch.LrlabScheduler is
lrlab.integrations.torch.LrlabScheduler``). Importing it imports torch.
"""

from lrlab.integrations.torch import LrlabScheduler

__all__ = ["LrlabScheduler"]
