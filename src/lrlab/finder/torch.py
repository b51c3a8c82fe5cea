"""Moved: the PyTorch range test is :func:`lrlab.torch.find_lr` (and :func:`lrlab.torch.preserved`)."""

from lrlab.torch import find_lr as find_lr
from lrlab.torch import preserved as preserved

__all__ = ["find_lr", "preserved"]
