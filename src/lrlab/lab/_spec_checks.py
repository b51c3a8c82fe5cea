"""Study spec checks whose cost must stay bounded: the nesting, keys and integers of the raw
spec, the trial count before any trial is built, the optimizer-step count and the learning
rates of a trial, and the resolution of relative data paths against the study file's folder.

Private: import the public names from :mod:`lrlab.lab.spec`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..schedules import Schedule
from ._spec_fields import MAX_NESTING, MAX_TOTAL_STEPS, MAX_TRIALS, SpecError, _join

#: steps per block when a trial's learning rates are checked (512 KiB of float64)
RATE_BLOCK = 65536
#: loader arguments that name files or folders (resolved against a study file's folder)
PATH_ARGS = ("path", "cache_dir")


# -- the shape of the raw spec -------------------------------------------------------------------
def _path_of(chain: tuple[Any, ...] | None) -> str:
    """The field path of a ``(parent_chain, key)`` linked list built by :func:`check_structure`."""
    keys: list[str | int] = []
    while chain is not None:
        chain, key = chain
        keys.append(key)
    path = ""
    for key in reversed(keys):
        path = _join(path, key)
    return path


def check_structure(raw: Mapping[str, Any]) -> None:
    """Tables and arrays nest at most :data:`MAX_NESTING` levels, every key is a string and
    every integer fits in 64 bits.

    The depth of a value is the number of tables and arrays that enclose it, not counting the
    top-level table (the ``1`` in ``a = [[1]]`` is at depth 2). The walk is iterative, so a
    deeply nested or cyclic dict is reported instead of exhausting the interpreter's stack.
    Integers must be in TOML's range, ``-2**63 .. 2**63 - 1`` (``tomllib`` reads any size):
    a larger one would overflow the float or the SQLite INTEGER it becomes.

    Args:
        raw: The spec, shaped like the TOML file.

    Raises:
        SpecError: naming the path of the first value nested too deep, or of the table that
            has a key that is not a string.

    Example:
        >>> check_structure({"grid": {"lr": [[[0.1]]]}})
        >>> check_structure({"grid": {1: [0.1]}})
        Traceback (most recent call last):
        ...
        lrlab.lab.spec.SpecError: grid: keys must be strings, got 1
        >>> try:
        ...     check_structure({"seeds": [2**64]})
        ... except SpecError as exc:
        ...     print(exc)
        seeds[0]: must be an integer from -2**63 to 2**63 - 1, got an integer of 65 bits
    """
    stack: list[tuple[Any, tuple[Any, ...] | None, int]] = [(raw, None, 0)]
    while stack:
        obj, chain, depth = stack.pop()
        if depth > MAX_NESTING:
            raise SpecError(
                _path_of(chain), f"nested more than {MAX_NESTING} levels of tables and arrays"
            )
        if isinstance(obj, Mapping):
            for k, v in reversed(list(obj.items())):
                if not isinstance(k, str):
                    raise SpecError(_path_of(chain), f"keys must be strings, got {k!r}")
                stack.append((v, (chain, k), depth + 1))
        elif isinstance(obj, (list, tuple)):
            for i in range(len(obj) - 1, -1, -1):
                stack.append((obj[i], (chain, i), depth + 1))
        elif isinstance(obj, int) and not -(2**63) <= obj < 2**63:
            raise SpecError(  # its bit count: a long int's repr may be refused or megabytes long
                _path_of(chain),
                f"must be an integer from -2**63 to 2**63 - 1, "
                f"got an integer of {abs(obj).bit_length()} bits",
            )


def count_trials(raw: Mapping[str, Any], n_seeds: int) -> None:
    """Refuse a spec whose grid points × seeds exceed :data:`MAX_TRIALS`, from list sizes alone.

    Only the lengths of the ``[grid]`` lists and of each ``[[zip]]``'s lists are read, so the
    check costs nothing per value; malformed entries count 1 here and are reported by the full
    checks that follow (a zip whose lists differ in length counts its shortest list).

    Args:
        raw: The spec.
        n_seeds: The number of seeds.

    Raises:
        SpecError: ``grid: expands to N trials (C configs x S seeds), more than the limit``.

    Example:
        >>> count_trials({"grid": {"lr": [0.1, 0.01]}, "zip": [{"a": [1, 2, 3]}]}, 2)  # 12
        >>> try:
        ...     count_trials({"grid": {"lr": list(range(1000))}}, 101)
        ... except SpecError as exc:
        ...     print(exc.problem)
        expands to 101000 trials (1000 configs x 101 seeds), more than the limit of 100000
    """

    def size(v: Any) -> int:
        return len(v) if isinstance(v, list) and v else 1

    configs = 1
    grid = raw.get("grid")
    if isinstance(grid, Mapping):
        configs *= math.prod(size(v) for v in grid.values())
    zips = raw.get("zip")
    if isinstance(zips, list):
        for z in zips:
            if isinstance(z, Mapping) and z:
                configs *= min(size(v) for v in z.values())
    n = configs * n_seeds
    if n > MAX_TRIALS:
        c = f"{configs} config{'s' if configs != 1 else ''}"
        s = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}"
        raise SpecError(
            "grid", f"expands to {n} trials ({c} x {s}), more than the limit of {MAX_TRIALS}"
        )


# -- relative paths ------------------------------------------------------------------------------
def _resolved(value: Any, folder: Path) -> Any:
    if not isinstance(value, str) or not value:
        return value
    p = Path(os.path.expanduser(value))
    if p.is_absolute():
        return value
    try:
        return str((folder / p).resolve())
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a symlink loop: the loader says
        return str(folder / p)


def resolve_paths(raw: dict[str, Any], folder: Path) -> None:
    """Make the relative path arguments of the data loader (:data:`PATH_ARGS`) absolute.

    ``[data]`` values and the ``"data.path"``/``"data.cache_dir"`` lists of ``[grid]`` and
    ``[[zip]]`` are joined to ``folder`` (the study file's folder) and resolved
    (``Path.resolve``: symlinks and ``..`` removed); ``~`` is expanded; absolute paths and
    values of other types are left as they are. ``raw`` is changed in place.

    Args:
        raw: The spec read from the file.
        folder: The study file's folder.

    Example:
        >>> raw = {"data": {"name": "csv", "path": "rows.csv"}, "grid": {"data.path": ["/x.csv"]}}
        >>> resolve_paths(raw, Path("/studies"))
        >>> raw["data"]["path"], raw["grid"]["data.path"]
        ('/studies/rows.csv', ['/x.csv'])
    """
    data = raw.get("data")
    if isinstance(data, dict):
        for k in PATH_ARGS:
            if k in data:
                data[k] = _resolved(data[k], folder)
    sweeps = [raw.get("grid")]
    if isinstance(raw.get("zip"), list):
        sweeps += raw["zip"]
    for table in sweeps:
        if not isinstance(table, dict):
            continue
        for k in PATH_ARGS:
            values = table.get(f"data.{k}")
            if isinstance(values, list):
                table[f"data.{k}"] = [_resolved(v, folder) for v in values]


# -- optimizer steps and learning rates ----------------------------------------------------------
def check_steps(epochs: int, steps_per_epoch: int, path: str) -> int:
    """A trial's optimizer steps, ``epochs × steps_per_epoch``, at most :data:`MAX_TOTAL_STEPS`.

    Args:
        epochs: ``train.epochs``.
        steps_per_epoch: ``ceil(n_train / batch_size)``.
        path: Where ``epochs`` came from (named in the error).

    Returns:
        The total step count.

    Raises:
        SpecError: naming ``path``, the product and the limit.

    Example:
        >>> check_steps(200, 16, "train.epochs")
        3200
    """
    total = epochs * steps_per_epoch
    if total > MAX_TOTAL_STEPS:
        raise SpecError(
            path,
            f"{epochs} epochs x {steps_per_epoch} steps per epoch = {total} optimizer steps, "
            f"more than the limit of {MAX_TOTAL_STEPS}",
        )
    return total


def _check_rates(
    s: Schedule,
    total: int,
    path: str,
    variables: Mapping[str, Any],
    sources: Mapping[str, str] | None = None,
) -> None:
    """A trial's learning rates must be finite and >= 0 at every step ``0 .. total - 1``.

    Steps are evaluated in blocks of :data:`RATE_BLOCK`, stopping at the block that holds the
    first bad step, so memory stays bounded and a bad schedule is found early. Every step is
    still checked, with the same values as one call on all steps: schedules are elementwise,
    and ``Schedule.__call__`` itself evaluates long NumPy arrays in blocks of ``EVAL_BLOCK``
    (16384) steps, of which :data:`RATE_BLOCK` is a multiple: each block splits into the same
    sub-blocks as one call on all steps would.

    Args:
        s: The filled schedule.
        total: The trial's optimizer steps.
        path: Where the schedule came from.
        variables: The trial's variables (named in the error).
        sources: Where each variable's value came from (``{"lr": "grid.lr[1]"}``), named
            with the value in the error.

    Raises:
        SpecError: naming the schedule, the variables, the first bad rate and its step.

    Example:
        >>> from lrlab.schedules import constant
        >>> try:
        ...     _check_rates(constant(-0.01), 10, "schedule", {"lr": -0.01}, {"lr": "grid.lr[1]"})
        ... except SpecError as exc:
        ...     print(exc)
        schedule: lr = -0.01 (grid.lr[1]) gives the learning rate -0.01 at step 0 in
        constant(-0.01) (learning rates must be finite and >= 0)
    """
    for lo in range(0, total, RATE_BLOCK):
        # an overflow is reported below as the non-finite rate it makes, not as NumPy's warning
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            lr = np.asarray(s(np.arange(lo, min(lo + RATE_BLOCK, total))), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(lr) | (lr < 0))
        if not bad.size:
            continue
        i = int(bad[0])
        rate = f"gives the learning rate {float(lr[i])!r} at step {lo + i}"
        rule = "(learning rates must be finite and >= 0)"
        sources = sources or {}
        named = ", ".join(
            f"{k} = {v!r}" + (f" ({sources[k]})" if k in sources else "")
            for k, v in variables.items()
        )
        if named:  # the values the user wrote, where they wrote them, first
            raise SpecError(path, f"{named} {rate} in {s!r} {rule}")
        raise SpecError(path, f"{s!r} {rate} {rule}")
