"""Figures of a stored study: learning curves per configuration and a sensitivity plot.

Both read a :class:`~lrlab.lab.store.Store` and group trials by configuration (everything but
the seed): a line is the mean over seeds, the band their range. Diverged trials are no value on
any axis: an ``x`` at the axis marks them, and the legend counts them. Every text the user
wrote (study name, variable, labels) is drawn as written: matplotlib's mathtext is off for it.
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


def _diverged(groups: dict[str, list[dict[str, Any]]]) -> tuple[int, int]:
    """Diverged trials and all trials of a study's groups."""
    trials = [r for members in groups.values() for r in members]
    return sum(bool(r["diverged"]) for r in trials), len(trials)


def _mark_diverged(ax: Any, xs: Sequence[float], diverged: int, trials: int) -> None:
    """An ``x`` on the x axis at each of ``xs``, one legend entry counting the trials."""
    if xs:
        ax.plot(
            xs,
            [0.0] * len(xs),
            transform=ax.get_xaxis_transform(),  # x in data, y at the axis
            linestyle="none",
            marker="x",
            markersize=9,
            markeredgewidth=2,
            color="tab:red",
            clip_on=False,
            zorder=4,
            label=f"diverged ({diverged} of {trials} trials)",
        )


def _legend(ax: Any, **kwargs: Any) -> None:
    """A legend whose labels are drawn as written (no mathtext: ``$`` is a dollar sign)."""
    legend = ax.legend(**kwargs)
    for text in legend.get_texts():
        text.set_parse_math(False)


def learning_curves(store: Store, study: str, metric: str = "val_accuracy") -> Any:
    """``metric`` against the epoch, one line per configuration (mean over seeds, range shaded).

    A diverged trial's curve ends before the epoch it diverged at (that epoch was scored on
    NaN weights); an ``x`` on the epoch axis marks where each diverged, the legend counts them
    ("diverged (2 of 10 trials)") and a configuration's label says how many of its seeds
    diverged. Labels and the title are drawn as written (no mathtext).

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
    where: list[float] = []
    for members in groups.values():
        curves = []
        for r in members:
            curve = store.history(r["trial_id"]).get(metric, [])
            if r["diverged"]:
                end = max(int(r["diverged_epoch"] if r["diverged_epoch"] is not None else 0), 0)
                curve, where = curve[:end], [*where, end + 1.0]
            curves.append(curve)
        label = _label(members[0], varying)
        k = sum(bool(r["diverged"]) for r in members)
        label += f" ({k} of {len(members)} diverged)" if k else ""
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
        (line,) = ax.plot(epochs, mean, marker="." if n == 1 else "", label=label)
        if len(curves) > 1:
            ax.fill_between(epochs, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
    _mark_diverged(ax, sorted(set(where)), *_diverged(groups))
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(metric, parse_math=False)
    if metric in ("loss", "val_loss", "lr") and ax.get_lines():
        ax.set_yscale("log")
    ax.set_title(f"{study}: {metric}", parse_math=False)
    ax.grid(alpha=0.3)
    _legend(ax, fontsize="small", ncol=2 if len(groups) > 8 else 1)
    return fig


def sensitivity(store: Store, study: str, variable: str, metric: str = "final_val_accuracy") -> Any:
    """A summary ``metric`` against a swept numeric ``variable`` (log axis when it spans decades).

    Diverged trials have no metric and are left out of the points; an ``x`` on the ``variable``
    axis marks each value where a trial diverged, with a legend entry that counts them
    ("diverged (2 of 10 trials)"). Labels and the title are drawn as written (no mathtext).

    Args:
        store: an open :class:`~lrlab.lab.store.Store`.
        study: the study's name.
        variable: a grid variable (e.g. ``"lr"``) or a config field (``"optimizer.momentum"``).
        metric: a column of the trials table, e.g. ``final_val_accuracy``, ``best_val_loss``.

    Returns:
        A matplotlib ``Figure``; seeds of a configuration give the error bar (min to max).
    """
    groups = _groups(store, study)
    points: dict[float, list[float]] = defaultdict(list)
    diverged_at: set[float] = set()
    for members in groups.values():
        r = members[0]
        x = r["vars"].get(variable, _dotted(r["config"], variable))
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            raise ValueError(f"{variable!r} is not a numeric variable of study {study!r}")
        points[float(x)] += [
            m[metric] for m in members if not m["diverged"] and m.get(metric) is not None
        ]
        if any(m["diverged"] for m in members):
            diverged_at.add(float(x))
    xs = sorted(points)
    fig = _figure()
    ax = fig.add_subplot()
    ys = [np.mean(points[x]) if points[x] else math.nan for x in xs]
    lo = [y - min(points[x]) if points[x] else 0.0 for x, y in zip(xs, ys)]
    hi = [max(points[x]) - y if points[x] else 0.0 for x, y in zip(xs, ys)]
    ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label="mean, min to max of seeds")
    _mark_diverged(ax, sorted(diverged_at), *_diverged(groups))
    positive = [x for x in xs if x > 0]
    if len(positive) == len(xs) and positive and max(positive) / min(positive) >= 100:
        ax.set_xscale("log")
    ax.set_xlabel(variable, parse_math=False)
    ax.set_ylabel(metric, parse_math=False)
    ax.set_title(f"{study}: {metric} against {variable}", parse_math=False)
    ax.grid(alpha=0.3)
    if diverged_at:
        _legend(ax, fontsize="small")
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
