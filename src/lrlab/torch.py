"""lrlab for PyTorch: ``LrlabScheduler`` runs any lrlab schedule as a torch scheduler, and
``find_lr`` runs the range test on a torch model (the model and optimizer come back exactly as
they were). Importing this module imports torch.

Example:
    >>> import torch
    >>> from lrlab.schedules import step_decay
    >>> from lrlab.torch import LrlabScheduler
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> sched = LrlabScheduler(opt, step_decay(init=0.1, drop=0.5, every=2))
    >>> [round(g["lr"], 3) for g in opt.param_groups]
    [0.1]
"""

from lrlab.integrations.torch import Batch as Batch
from lrlab.integrations.torch import LrlabScheduler as LrlabScheduler
from lrlab.integrations.torch import find_lr as find_lr
from lrlab.integrations.torch import preserved as preserved

__all__ = ["Batch", "LrlabScheduler", "find_lr", "preserved"]
