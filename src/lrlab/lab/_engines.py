"""The torch MLP kernel as ``MLPEngine(model, n_members)``, with its ``Targets`` and
``loss_and_grad``: :mod:`lrlab.lab.engine` has them as :class:`~lrlab.lab.engine.TorchMLPKernel`
(built from the model alone), :class:`~lrlab.lab.engine.Targets` and the torch kernels'
``loss_and_grad``."""

from __future__ import annotations

from typing import Any

from .engine._torch_kernels import Targets as Targets
from .engine._torch_kernels import TorchMLPKernel
from .engine._torch_kernels import loss_and_grad as loss_and_grad


class MLPEngine(TorchMLPKernel):
    """:class:`~lrlab.lab.engine.TorchMLPKernel`, built with a member count it does not use."""

    def __init__(self, model: Any, n_members: int) -> None:
        super().__init__(model)
