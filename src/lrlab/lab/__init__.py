"""The lab: datasets, models, vectorised optimizers, population training, studies and the store.

One canonical namespace per concept: :mod:`lrlab.lab.data`, :mod:`lrlab.lab.models`,
:mod:`lrlab.lab.optim`, :mod:`lrlab.lab.population`, :mod:`lrlab.lab.spec`,
:mod:`lrlab.lab.store`, :mod:`lrlab.lab.study`, :mod:`lrlab.lab.weights` (kept weights in torch
and Keras), :mod:`lrlab.lab.range_test` and :mod:`lrlab.lab.validation` (the range test on the
population engine). The most used names are re-exported here and imported on first use, so
``import lrlab.lab`` does not import torch.

Example:
    >>> import lrlab.lab as lab
    >>> lab.load("blobs").n_train
    500
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Dataset": "data",
    "load": "data",
    "MLP": "models",
    "TorchModule": "models",
    "optimizer_from_config": "optim",
    "PopulationResult": "population",
    "train_population": "population",
    "SpecError": "spec",
    "Study": "spec",
    "Trial": "spec",
    "Store": "store",
    "InProcessExecutor": "study",
    "run_study": "study",
    "TrialWeights": "weights",
    "load_weights": "weights",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'lrlab.lab' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
