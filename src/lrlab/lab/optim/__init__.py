"""Vectorised optimizers for a population of ``C`` models trained at once (see ``_base``)."""

from ._base import (
    OPTIMIZERS,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    PopulationOptimizer,
    RMSprop,
    optimizer_from_config,
)
from ._base import Coef as Coef
from ._base import Flag as Flag
from ._base import Form as Form
from ._base import Hyper as Hyper
from ._base import Value as Value

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "PopulationOptimizer",
    "RMSprop",
    "optimizer_from_config",
]
