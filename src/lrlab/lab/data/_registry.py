"""Loading a dataset by name, for study files and the command line."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

from ._blobs import blobs
from ._builtin import digits, ionosphere
from ._dataset import Dataset
from ._mnist import fashion_mnist, mnist
from ._user import from_csv

__all__ = ["available", "load"]

_LOADERS: dict[str, Callable[..., Dataset]] = {
    "blobs": blobs,
    "ionosphere": ionosphere,
    "digits": digits,
    "fashion_mnist": fashion_mnist,
    "mnist": mnist,
    "csv": from_csv,
}


def available() -> tuple[str, ...]:
    """The dataset names :func:`load` accepts.

    Example:
        >>> available()
        ('blobs', 'ionosphere', 'digits', 'fashion_mnist', 'mnist', 'csv')
    """
    return tuple(_LOADERS)


def load(name: str, **kwargs: Any) -> Dataset:
    """Load a dataset by name, passing ``kwargs`` to its loader.

    Names: ``"blobs"`` (:func:`blobs`), ``"ionosphere"`` (:func:`ionosphere`), ``"digits"``
    (:func:`digits`), ``"fashion_mnist"`` (:func:`fashion_mnist`), ``"mnist"`` (:func:`mnist`)
    and ``"csv"`` (:func:`from_csv`, with ``path=``). Case and ``-`` versus ``_`` do not
    matter.

    Args:
        name: The dataset's name.
        **kwargs: Arguments of that loader.

    Returns:
        The :class:`Dataset`.

    Raises:
        ValueError: An unknown name (with the closest known names) or an argument the loader
            does not take (with the ones it does).

    Example:
        >>> load("ionosphere", split="classic").n_train
        200
        >>> load("ionosphre")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: load: unknown dataset 'ionosphre' (did you mean 'ionosphere'?); known: ...
    """
    if not isinstance(name, str):
        raise ValueError(f"load: name must be a string, got {name!r}")
    key = name.strip().lower().replace("-", "_")
    loader = _LOADERS.get(key)
    if loader is None:
        close = difflib.get_close_matches(key, _LOADERS, n=1, cutoff=0.7)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"load: unknown dataset {name!r}{hint}; known: {', '.join(_LOADERS)}")
    params = inspect.signature(loader).parameters
    unknown = [k for k in kwargs if k not in params]
    if unknown:
        raise ValueError(
            f"load: {key} does not take {', '.join(map(repr, unknown))}; it takes "
            f"{', '.join(params)}"
        )
    try:
        inspect.signature(loader).bind(**kwargs)
    except TypeError as exc:
        raise ValueError(f"load: {key}: {exc}") from None
    return loader(**kwargs)
