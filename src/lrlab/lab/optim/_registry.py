"""The optimizers by name, for study files: :data:`OPTIMIZERS` and
:func:`optimizer_from_config`."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from ._adagrad import Adadelta, Adagrad
from ._adam import Adam, AdamW
from ._base import PopulationOptimizer
from ._rmsprop import RMSprop
from ._sgd import SGD

__all__ = ["OPTIMIZERS", "optimizer_from_config"]

#: optimizer name -> class, as :func:`optimizer_from_config` reads it
OPTIMIZERS: dict[str, type[PopulationOptimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
}


def optimizer_from_config(name: str, **hyper: Any) -> PopulationOptimizer:
    """Build an optimizer from its name and hyperparameters (a study file's ``optimizer`` table).

    Args:
        name: ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"adagrad"`` or
            ``"adadelta"`` (case-insensitive).
        **hyper: The class's keyword arguments (numbers or one value per member); the learning
            rate is not one of them (it comes from the schedule).

    Returns:
        The optimizer; ``optimizer_from_config(**opt.to_config())`` rebuilds ``opt``.

    Raises:
        ValueError: an unknown name or hyperparameter (with the closest valid one), or a bad
            value (naming the hyperparameter and the value).

    Example:
        >>> opt = optimizer_from_config("sgd", momentum=[0.0, 0.9], nesterov=[False, True])
        >>> opt.momentum, opt.nesterov
        ((0.0, 0.9), (False, True))
        >>> optimizer_from_config("adma")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: unknown optimizer 'adma'; did you mean 'adam'? Known: sgd, adam, ...
    """
    key = name.lower() if isinstance(name, str) else name
    cls = OPTIMIZERS.get(key) if isinstance(key, str) else None
    if cls is None:
        close = difflib.get_close_matches(str(key), list(OPTIMIZERS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ";"
        raise ValueError(f"unknown optimizer {name!r}{hint} Known: {', '.join(OPTIMIZERS)}")
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for k in hyper:
        if k in fields:
            continue
        if k in ("lr", "learning_rate"):
            raise ValueError(
                f"{cls.__name__}: {k!r} is not an optimizer hyperparameter here; the learning "
                f"rate comes from the schedule (got {k}={hyper[k]!r})"
            )
        close = difflib.get_close_matches(k, fields, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ";"
        raise ValueError(
            f"{cls.__name__}: unknown hyperparameter {k!r} (= {hyper[k]!r}){hint} "
            f"Known: {', '.join(fields)}"
        )
    return cls(**hyper)
