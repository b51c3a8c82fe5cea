"""The classic learning-rate experiments, shipped as study files: ``lrlab demo NAME`` runs one.

``blobs_lr`` (the default) is the eight-learning-rate sensitivity study on the blobs problem;
``blobs_momentum``, ``blobs_plateau`` and ``ionosphere_decay`` are the others.

Example:
    >>> from lrlab.demos import names, path
    >>> names()  # doctest: +NORMALIZE_WHITESPACE
    ['blobs_decay', 'blobs_lr', 'blobs_lr_momentum', 'blobs_momentum', 'blobs_optimizers',
     'blobs_plateau', 'ionosphere_decay', 'ionosphere_effects']
    >>> path("blobs_lr").name
    'blobs_lr.toml'
"""

from __future__ import annotations

import difflib
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = "blobs_lr"


def names() -> list[str]:
    """The demo studies shipped with lrlab."""
    return sorted(p.stem for p in HERE.glob("*.toml"))


def path(name: str = DEFAULT) -> Path:
    """The study file of demo ``name``; a ``ValueError`` with a suggestion if there is none."""
    target = HERE / f"{name}.toml"
    if not target.is_file():
        close = difflib.get_close_matches(name, names(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"no demo {name!r}{hint}; demos: {', '.join(names())}")
    return target


__all__ = ["DEFAULT", "names", "path"]
