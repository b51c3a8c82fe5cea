"""Engines: C models of one architecture trained as one, and the one loop that drives them.

An :class:`Engine` holds a cohort's stacked weights ``[C, P]``, its data and its
:mod:`lrlab.lab.optim` optimizer state, and trains a batch, evaluates a split, reports and
freezes diverged members (:class:`Engine`'s methods). :func:`run_cohort` is the training loop
of every population run: batch order, learning-rate table, plateau, early stopping,
divergence, metrics. Two engines implement the protocol:

- :class:`NumpyEngine`: an :class:`~lrlab.lab.models.MLP` on the CPU in NumPy alone (no torch);
  the fastest for small cohorts, whose operations are too small for their cost to be anything
  but the call;
- :class:`NativeEngine`: a small MLP (up to :data:`NATIVE_MAX_PARAMS` parameters) on the CPU
  in float32, in lrlab's C kernel (compiled on first use; :func:`native_status`), one member
  per lane of each vector operation: the fastest for small networks at every cohort size;
- :class:`TorchEngine`: any device, an MLP through fused torch kernels or any
  ``torch.nn.Module`` (:class:`~lrlab.lab.models.TorchModule`) through ``torch.func``; it needs
  torch (``pip install 'lrlab[torch]'``) and is imported on first use.

:func:`auto_engine` picks one; :func:`make_engine` builds it.

Example:
    >>> import numpy as np
    >>> from lrlab.lab.engine import auto_engine, make_engine, run_cohort
    >>> from lrlab.lab.models import MLP
    >>> from lrlab.lab.optim import SGD
    >>> x = np.random.default_rng(0).normal(size=(64, 2))
    >>> y = (x[:, 0] > 0).astype(int)
    >>> net = MLP(2, (8,), 2)
    >>> auto_engine(net, members=2, batch_size=16) in ("native", "numpy")  # native: a compiler
    True
    >>> engine = make_engine("numpy", net, 2, (x, y), (x, y), batch_size=16, dtype="float64")
    >>> engine.init([0, 1], SGD(momentum=0.9))
    >>> rates = np.array([[0.1] * 40, [0.0] * 40])  # 10 epochs of 4 steps
    >>> r = run_cohort(engine, rates, epochs=10)
    >>> bool(r.history["val_accuracy"][0, -1] > r.history["val_accuracy"][1, -1])
    True
"""

from __future__ import annotations

from typing import Any

from ._choice import NATIVE_AUTO_PARAMS as NATIVE_AUTO_PARAMS
from ._choice import NUMPY_MACS as NUMPY_MACS
from ._choice import SMALL_WORK as SMALL_WORK
from ._choice import auto_engine as auto_engine
from ._choice import blas_threads as blas_threads
from ._choice import check_threads as check_threads
from ._choice import device_kind as device_kind
from ._choice import step_macs as step_macs
from ._choice import step_work as step_work
from ._loop import MONITORS as MONITORS
from ._loop import BestWeights as BestWeights
from ._loop import Controls as Controls
from ._loop import PopulationResult as PopulationResult
from ._loop import run_cohort as run_cohort
from ._native import NATIVE_MAX_PARAMS as NATIVE_MAX_PARAMS
from ._native import NativeEngine as NativeEngine
from ._native import native_fits as native_fits
from ._native_lib import native_status as native_status
from ._numpy import NumpyEngine as NumpyEngine
from ._numpy_kernels import NumpyMLPKernel as NumpyMLPKernel
from ._order import epoch_orders as epoch_orders
from ._protocol import DTYPES as DTYPES
from ._protocol import Engine as Engine
from ._protocol import Split as Split
from ._protocol import split as split

#: what needs torch, and the module that has it (imported on first use)
_TORCH = {
    "TorchEngine": "_torch",
    "EPOCH_LOGITS_BYTES": "_torch",
    "torch_threads": "_torch",
    "TorchMLPKernel": "_torch_kernels",
    "TorchFuncKernel": "_torch_kernels",
    "Targets": "_torch_kernels",
}

#: the one line that says how to get torch
NEEDS_TORCH = "this needs torch: pip install 'lrlab[torch]'"

ENGINES = ("auto", "torch", "numpy", "native")


def __getattr__(name: str) -> Any:
    module = _TORCH.get(name)
    if module is None:
        raise AttributeError(f"module 'lrlab.lab.engine' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def make_engine(
    kind: str,
    model: Any,
    members: int,
    train: tuple[Any, Any],
    test: tuple[Any, Any] | None,
    *,
    batch_size: int,
    dtype: str,
    device: Any = None,
) -> Engine:
    """A ``"numpy"``, ``"native"`` or ``"torch"`` engine for ``members`` copies of ``model``
    on the splits ``train = (x, y)`` and ``test`` (or ``None``), in ``dtype`` (``"float32"`` or
    ``"float64"``).

    Raises:
        ModuleNotFoundError: for ``"torch"`` where torch is not installed, with
            :data:`NEEDS_TORCH` as its message.
        ValueError: for ``"native"`` and a model or dtype it does not take (:func:`native_fits`).
        RuntimeError: for ``"native"`` where its kernel is not available (:func:`native_status`).
    """
    dt = DTYPES[dtype]
    train_split = split(*train, model, dt)
    test_split = split(*test, model, dt) if test is not None else None
    if kind == "numpy":
        return NumpyEngine(model, members, train_split, test_split, batch_size=batch_size, dtype=dt)
    if kind == "native":
        return NativeEngine(
            model, members, train_split, test_split, batch_size=batch_size, dtype=dt
        )
    try:
        from ._torch import TorchEngine
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ModuleNotFoundError(NEEDS_TORCH, name="torch") from None
    return TorchEngine(
        model, members, train_split, test_split, batch_size=batch_size, dtype=dt, device=device
    )


__all__ = [
    "DTYPES",
    "ENGINES",
    "MONITORS",
    "NATIVE_AUTO_PARAMS",
    "NATIVE_MAX_PARAMS",
    "NEEDS_TORCH",
    "NUMPY_MACS",
    "SMALL_WORK",
    "BestWeights",
    "Controls",
    "Engine",
    "NativeEngine",
    "NumpyEngine",
    "NumpyMLPKernel",
    "PopulationResult",
    "Split",
    "auto_engine",
    "blas_threads",
    "check_threads",
    "device_kind",
    "epoch_orders",
    "make_engine",
    "native_fits",
    "native_status",
    "run_cohort",
    "split",
    "step_macs",
    "step_work",
    *_TORCH,
]
