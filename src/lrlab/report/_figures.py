"""Figures of a stored study: learning curves per configuration and a sensitivity plot.

Both read a :class:`~lrlab.lab.store.Store` and group trials by configuration (everything but
the seed): a line is the mean over seeds, the band their range.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..lab.store import Store


def _figure(width: float = 7.5, height: float = 4.2) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("figures need matplotlib: pip install 'lrlab[plot]'") from exc
    return Figure(figsize=(width, height), layout="constrained")


def _label(record: dict[str, Any], varying: Sequence[str]) -> str:
    parts = []
    for key in varying:
        value = record["vars"].get(key) if key in record["vars"] else record["config"].get(key)
        parts.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(parts) or record["group"][:8]


def _varying(records: list[dict[str, Any]]) -> list[str]:
    """The variables (or top-level config fields) that differ between configurations."""
    keys: list[str] = []
    for source in ("vars", "config"):
        names = sorted({k for r in records for k in r[source]})
        for k in names:
            values = {repr(r[source].get(k)) for r in records}
            if len(values) > 1 and k not in keys:
                keys.append(k)
        if keys:
            break
    return keys


def _groups(store: Store, study: str) -> dict[str, list[dict[str, Any]]]:
    records = [r for r in store.records(study) if r["status"] == "done"]
    if not records:
        raise ValueError(f"study {study!r} has no finished trials in the store")
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["group"]].append(r)
    return groups


def learning_curves(store: Store, study: str, metric: str = "val_accuracy") -> Any:
    """``metric`` against the epoch, one line per configuration (mean over seeds, range shaded).

    Args:
        store: an open :class:`~lrlab.lab.store.Store`.
        study: the study's name.
        metric: a per-epoch metric: ``val_accuracy``, ``val_loss``, ``accuracy``, ``loss``,
            ``lr`` ...

    Returns:
        A matplotlib ``Figure``.
    """
    groups = _groups(store, study)
    varying = _varying([g[0] for g in groups.values()])
    fig = _figure()
    ax = fig.add_subplot()
    for members in groups.values():
        curves = [store.history(r["trial_id"]).get(metric, []) for r in members]
        n = max((len(c) for c in curves), default=0)
        if n == 0:
            continue
        grid = np.full((len(curves), n), np.nan)
        for i, c in enumerate(curves):
            grid[i, : len(c)] = [np.nan if v is None else v for v in c]
        epochs = np.arange(1, n + 1)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # epochs no seed reached
            mean = np.nanmean(grid, axis=0)
            lo, hi = np.nanmin(grid, axis=0), np.nanmax(grid, axis=0)
        (line,) = ax.plot(epochs, mean, label=_label(members[0], varying))
        if len(curves) > 1:
            ax.fill_between(epochs, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    if metric in ("loss", "val_loss", "lr"):
        ax.set_yscale("log")
    ax.set_title(f"{study}: {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2 if len(groups) > 8 else 1)
    return fig


def sensitivity(store: Store, study: str, variable: str, metric: str = "final_val_accuracy") -> Any:
    """A summary ``metric`` against a swept numeric ``variable`` (log axis when it spans decades).

    Args:
        store: an open :class:`~lrlab.lab.store.Store`.
        study: the study's name.
        variable: a grid variable (e.g. ``"lr"``) or a config field (``"optimizer.momentum"``).
        metric: a column of the trials table, e.g. ``final_val_accuracy``, ``best_val_loss``.

    Returns:
        A matplotlib ``Figure``; seeds of a configuration give the error bar (min to max).
    """
    points: dict[float, list[float]] = defaultdict(list)
    for members in _groups(store, study).values():
        r = members[0]
        x = r["vars"].get(variable, _dotted(r["config"], variable))
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            raise ValueError(f"{variable!r} is not a numeric variable of study {study!r}")
        points[float(x)] += [m[metric] for m in members if m.get(metric) is not None]
    xs = sorted(points)
    fig = _figure()
    ax = fig.add_subplot()
    ys = [np.mean(points[x]) if points[x] else math.nan for x in xs]
    lo = [y - min(points[x]) if points[x] else 0.0 for x, y in zip(xs, ys)]
    hi = [max(points[x]) - y if points[x] else 0.0 for x, y in zip(xs, ys)]
    ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3)
    positive = [x for x in xs if x > 0]
    if len(positive) == len(xs) and positive and max(positive) / min(positive) >= 100:
        ax.set_xscale("log")
    ax.set_xlabel(variable)
    ax.set_ylabel(metric)
    ax.set_title(f"{study}: {metric} against {variable}")
    ax.grid(alpha=0.3)
    return fig


def numeric_variables(store: Store, study: str) -> list[str]:
    """The swept grid variables of a study whose values are numbers."""
    groups = _groups(store, study)
    firsts = [g[0] for g in groups.values()]
    return [
        k
        for k in _varying(firsts)
        if all(isinstance(r["vars"].get(k), (int, float)) for r in firsts)
    ]


def _dotted(config: dict[str, Any], path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
