"""What a study expands into: canonical JSON, config ids, :class:`Trial`, and the grid points
with their schedule templates.

Private: import the public names from :mod:`lrlab.lab.spec`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..schedules import Schedule, parse
from ._spec_fields import SpecError, _canon, _join


# -- canonical JSON and ids ----------------------------------------------------------------------
def canonical_json(obj: Any) -> str:
    """The canonical JSON text of plain data: sorted keys, no spaces, floats as ``repr``.

    Ints stay ints, floats are written in Python's shortest round-trip form (``0.1``,
    ``1e-07``), ``-0.0`` becomes ``0.0``; NaN and infinity are rejected.

    Example:
        >>> canonical_json({"b": [1, 0.1, -0.0], "a": None})
        '{"a":null,"b":[1,0.1,0.0]}'
    """
    return json.dumps(
        _canon(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )


def config_id(config: Mapping[str, Any]) -> str:
    """A config's id: the first 16 hex digits of the sha256 of its :func:`canonical_json`.

    Example:
        >>> config_id({"seed": 0})
        'bd0488843468e63c'
    """
    return hashlib.sha256(canonical_json(config).encode("ascii")).hexdigest()[:16]


# -- trials --------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Trial:
    """One fully resolved run: a plain JSON config, its id and the variables that made it.

    Attributes:
        id: :func:`config_id` of ``config``.
        config: ``data``, ``model`` (with ``n_inputs``, ``n_outputs`` and ``output`` resolved),
            ``train``, ``optimizer`` (every hyperparameter, defaults included), ``schedule``
            (canonical text), ``plateau`` and ``early_stopping`` (``None`` when off) and
            ``seed``. Treat it as read-only.
        vars: The variables the schedule was filled from (not part of the id), and, where the
            study sweeps the schedule, its template as written under ``"schedule"``
            (``"constant({lr})"``: results group and name configurations by it).
    """

    id: str
    config: dict[str, Any]
    vars: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def seed(self) -> int:
        """The member's initialisation seed."""
        return int(self.config["seed"])

    @property
    def group(self) -> str:
        """The id of the config without its seed: the trials that differ only by seed."""
        return config_id({k: v for k, v in self.config.items() if k != "seed"})

    def schedule(self) -> Schedule:
        """The learning-rate schedule, parsed from ``config["schedule"]``."""
        return parse(self.config["schedule"])


# Present it as part of the public module, where it lived before: its type prints and pickles
# as lrlab.lab.spec.Trial.
Trial.__module__ = "lrlab.lab.spec"


@dataclasses.dataclass(frozen=True)
class _Point:
    """One grid point, before the data set is known."""

    sections: dict[str, dict[str, Any] | None]
    template: str
    vars: dict[str, Any]
    sources: dict[str, str]
    var_paths: dict[str, str]  # where each variable's value was written: grid.lr[1], vars.lr

    def where(self, section: str) -> Callable[[str], str]:
        """Where a field of ``section`` came from: its sweep, the table swept whole that held it
        (``grid.optimizer[1].eps``), or the section itself."""

        def path(field: str) -> str:
            if f"{section}.{field}" in self.sources:
                return self.sources[f"{section}.{field}"]
            if section in self.sources:
                return f"{self.sources[section]}.{field}"
            return _join(section, field)

        return path


def _template(value: Any, path: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    if not isinstance(value, str) or not value.strip():
        raise SpecError(
            path, f"must be a schedule in text form such as 'constant({{lr}})', got {value!r}"
        )
    return value


def _fill(
    template: str, values: Mapping[str, Any], path: str, allow_import: bool = False
) -> Schedule:
    try:
        text = template.format_map(dict(values))
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise SpecError(path, f"cannot fill {template!r}: {exc}") from None
    try:
        return parse(text, allow_import=allow_import)
    except ValueError as exc:
        message = str(exc).splitlines()[0]
        if "is not known" in message and not allow_import:
            message = re.sub(r": pass functions=.*$", "", message) + (
                ": a study imports a function by its 'module:name' only when allowed: "
                "lrlab run --allow-import (Study(..., allow_import=True)), which runs that "
                "module's code"
            )
        raise SpecError(path, f"{message} (in {text!r})") from None
