"""Figures of a stored study, as the learning-rate tutorials lay them out.

* :func:`learning_curves` — a per-epoch metric, one line per configuration, on one axes;
* :func:`curve_grid` — one small panel per configuration, training and validation together;
* :func:`sensitivity` — a final metric against a swept variable, one line per level of a second
  swept variable;
* :func:`lr_curves` — the learning rate over epochs (plateau, decay);
* :func:`optimizer_comparison` — each optimizer's best configuration, when the optimizer varies;
* :func:`study_figures` — every figure that applies, written as PNG and SVG.

A line is the mean over a configuration's seeds and its band (or error bar) the 95% Student-t
confidence interval of that mean (n stated in the legend). Diverged trials are no value on any
axis: their curves end before the epoch they diverged at, an ``x`` at the axis marks them, and
the legend counts them. Configurations are named by the variables that vary, in their short
names (``lr=0.01``, ``momentum=0.9``, ``adam``), each with a colour of its own; legends sit
outside the axes. Every text the user wrote is drawn as written (no mathtext).
"""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._text import short_name
from ..lab.stats import mean_ci, t_quantile
from ..lab.store import Store
from ..lab.summary import study_spec
from ..lab.summary import swept_value as _value
from ..lab.summary import swept_variables as _varying

__all__ = [
    "curve_grid",
    "learning_curves",
    "lr_curves",
    "numeric_variables",
    "optimizer_comparison",
    "sensitivity",
    "study_figures",
]


# -- the study's data ------------------------------------------------------------------------------
@dataclass
class _Config:
    """One configuration: its trials, their histories and its short label."""

    group: str
    records: list[dict[str, Any]]
    histories: list[dict[str, list[float | None]]]
    values: dict[str, Any] = field(default_factory=dict)  # varying variable -> value
    label: str = ""

    @property
    def diverged(self) -> int:
        return sum(bool(r["diverged"]) for r in self.records)

    def curves(self, metric: str) -> np.ndarray:
        """``[seeds, epochs]`` of ``metric``, NaN after a diverged trial's last sound epoch."""
        rows = []
        for r, h in zip(self.records, self.histories):
            c = [np.nan if v is None else float(v) for v in h.get(metric, [])]
            if r["diverged"]:
                c = c[: max(int(r["diverged_epoch"] if r["diverged_epoch"] is not None else 0), 0)]
            rows.append(c)
        n = max((len(c) for c in rows), default=0)
        grid = np.full((len(rows), n), np.nan)
        for i, c in enumerate(rows):
            grid[i, : len(c)] = c
        return grid

    def final(self, metric: str) -> list[float]:
        return [
            float(r[metric])
            for r in self.records
            if not r["diverged"] and r.get(metric) is not None and math.isfinite(r[metric])
        ]


def _short(name: str) -> str:
    return short_name(name)


def _value_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _load(store: Store, study: str) -> tuple[list[_Config], list[str]]:
    """The study's configurations (grid order) and the names of the variables that vary."""
    records = [r for r in store.records(study) if r["status"] == "done"]
    if not records:
        raise ValueError(f"study {study!r} has no finished trials in the store")
    configs: dict[str, _Config] = {}
    for r in records:
        c = configs.setdefault(r["group"], _Config(r["group"], [], []))
        c.records.append(r)
        c.histories.append(store.history(r["trial_id"]))
    out = list(configs.values())
    varying = _varying([c.records[0] for c in out], study_spec(store, study))
    for c in out:
        first = c.records[0]
        c.values = {k: _value(first, k) for k in varying}
        c.label = _label(c.values) or first["config"].get("schedule") or c.group[:8]
    return out, varying


def _label(values: dict[str, Any]) -> str:
    """``lr=0.1, momentum=0.9, adam``: short names, a name or schedule by its value alone."""
    return ", ".join(
        _value_text(v)
        if k == "schedule" or k.endswith(".name")
        else f"{_short(k)}={_value_text(v)}"
        for k, v in values.items()
        if v is not None  # a field only some tables of a section swept whole give
    )


# -- drawing helpers -------------------------------------------------------------------------------
def _figure(width: float = 7.5, height: float = 4.2) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("figures need matplotlib: pip install 'lrlab[plot]'") from exc
    return Figure(figsize=(width, height), layout="constrained")


def _colours(n: int) -> list[Any]:
    """``n`` distinct colours: tab10 / tab20, else evenly spaced on viridis."""
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["viridis"](x) for x in np.linspace(0.0, 0.95, n)]


def _band(grid: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds per epoch and the Student-t interval (NaN where fewer than 3 seeds)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        n = np.sum(~np.isnan(grid), axis=0)
        mean = np.nanmean(grid, axis=0)
        sd = np.nanstd(grid, axis=0, ddof=1)
    # no band from fewer than 3 seeds: with 2, t(0.975, 1) = 12.7 covers the whole axis
    t = np.array([t_quantile(0.5 + level / 2, k - 1) if k >= 3 else np.nan for k in n])
    half = t * sd / np.sqrt(np.maximum(n, 1))
    return mean, mean - half, mean + half


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


def _legend(owner: Any, handles: Any = None, **kwargs: Any) -> None:
    """A legend whose labels are drawn as written (no mathtext: ``$`` is a dollar sign)."""
    legend = owner.legend(handles=handles, **kwargs) if handles else owner.legend(**kwargs)
    for text in legend.get_texts():
        text.set_parse_math(False)


def _outside_legend(fig: Any, ax: Any, count: int) -> None:
    """The legend of ``ax`` outside the axes, never over the data: to the right, or below when
    its labels are long (a schedule's text) so that the axes keep their width."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    long = max(len(label) for label in labels) > 40
    _legend(
        fig,
        handles=handles,
        loc="outside lower center" if long else "outside right upper",
        fontsize="small",
        ncols=1 if long else (2 if count > 16 else 1),
    )


def _title(ax: Any, text: str) -> None:
    """The axes title, wrapped to the axes' width, drawn as written (no mathtext)."""
    ax.set_title(textwrap.fill(text, 56), parse_math=False)


def _fit_y(ax: Any, means: list[np.ndarray], metric: str) -> None:
    """Y limits around the mean lines (bands may reach past them); accuracies stay in [0, 1]."""
    values = np.concatenate([m[np.isfinite(m)] for m in means]) if means else np.array([])
    if values.size == 0 or ax.get_yscale() == "log":
        return
    lo, hi = float(values.min()), float(values.max())
    pad = 0.08 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1e-3)
    lo, hi = lo - pad, hi + pad
    if "accuracy" in metric:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    ax.set_ylim(lo, hi)


def _log_axis(values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and len(positive) == len(values) and max(positive) / min(positive) >= 100


#: configurations above which the learning curves are lines alone: their bands would cover one
#: another (the per-configuration grid draws each band in its own panel)
MAX_BANDS = 6


# -- the figures -----------------------------------------------------------------------------------
def learning_curves(store: Store, study: str, metric: str = "val_accuracy") -> Any:
    """``metric`` against the epoch, one line per configuration (mean over seeds, 95% CI band;
    lines alone above :data:`MAX_BANDS` configurations, and the title says where the bands are).

    A diverged trial's curve ends before the epoch it diverged at (that epoch was scored on
    NaN weights); an ``x`` on the epoch axis marks where each diverged, the legend counts them
    ("diverged (2 of 10 trials)") and a configuration's label says how many of its seeds
    diverged.

    Args:
        store: an open :class:`~lrlab.lab.store.Store`.
        study: the study's name.
        metric: a per-epoch metric: ``val_accuracy``, ``val_loss``, ``accuracy``, ``loss``,
            ``lr`` ...

    Returns:
        A matplotlib ``Figure``.
    """
    configs, _ = _load(store, study)
    fig = _figure(8.5, 4.4)
    ax = fig.add_subplot()
    where: list[float] = []
    means: list[np.ndarray] = []
    bands = len(configs) <= MAX_BANDS
    for c, colour in zip(configs, _colours(len(configs))):
        grid = c.curves(metric)
        where += [max(int(r["diverged_epoch"] or 0), 0) + 1.0 for r in c.records if r["diverged"]]
        if grid.shape[1] == 0 or np.all(np.isnan(grid)):
            continue
        mean, lo, hi = _band(grid)
        means.append(mean)
        epochs = np.arange(1, grid.shape[1] + 1)
        label = f"{c.label} (n={len(c.records)}"
        label += f", {c.diverged} diverged)" if c.diverged else ")"
        ax.plot(epochs, mean, color=colour, marker="." if len(epochs) == 1 else "", label=label)
        if bands:
            ax.fill_between(epochs, lo, hi, color=colour, alpha=0.15, linewidth=0)
    trials = sum(len(c.records) for c in configs)
    _mark_diverged(ax, sorted(set(where)), sum(c.diverged for c in configs), trials)
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(metric, parse_math=False)
    if metric in ("loss", "val_loss", "lr") and ax.get_lines():
        ax.set_yscale("log")
    _fit_y(ax, means, metric)
    where_bands = (
        "band: 95% CI where n >= 3"
        if bands
        else f"{len(configs)} configurations; their 95% CIs are in the grid figure"
    )
    _title(ax, f"{study}: {metric}, mean over seeds ({where_bands})")
    ax.grid(alpha=0.3)
    _outside_legend(fig, ax, len(configs))
    return fig


def curve_grid(store: Store, study: str, metric: str = "accuracy") -> Any:
    """One small panel per configuration: training ``metric`` and validation ``val_<metric>``
    over epochs (mean over seeds, 95% CI band), on shared axes so panels compare at a glance.

    Args:
        store: an open :class:`~lrlab.lab.store.Store`.
        study: the study's name.
        metric: ``accuracy`` or ``loss``.

    Returns:
        A matplotlib ``Figure``.
    """
    configs, _ = _load(store, study)
    cols = min(4, len(configs))
    rows = math.ceil(len(configs) / cols)
    fig = _figure(2.6 * cols + 0.6, 2.0 * rows + 0.9)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    names = [(metric, "train", "tab:blue"), (f"val_{metric}", "validation", "tab:orange")]
    means: list[np.ndarray] = []
    for ax, c in zip(axes.flat, configs):
        drawn = 0
        for name, label, colour in names:
            grid = c.curves(name)
            if grid.shape[1] == 0 or np.all(np.isnan(grid)):
                continue
            mean, lo, hi = _band(grid)
            means.append(mean)
            epochs = np.arange(1, grid.shape[1] + 1)
            ax.plot(epochs, mean, color=colour, label=label, linewidth=1.2)
            ax.fill_between(epochs, lo, hi, color=colour, alpha=0.2, linewidth=0)
            drawn += 1
        if not drawn:  # say why the panel is empty
            why = "every seed diverged" if c.diverged == len(c.records) else "no values"
            ax.text(
                0.5,
                0.5,
                why,
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize="small",
                color="0.4",
            )
        title = c.label + (f" ({c.diverged}/{len(c.records)} diverged)" if c.diverged else "")
        ax.set_title(textwrap.fill(title, 34), fontsize="small", parse_math=False)
        ax.grid(alpha=0.3)
        if metric == "loss":
            ax.set_yscale("log")
    for ax in list(axes.flat)[len(configs) :]:
        ax.set_visible(False)
    _fit_y(axes.flat[0], means, metric)  # shared y: one call sets every panel
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel(metric)
    seeds = sorted({len(c.records) for c in configs})
    n_text = f"n={seeds[0]}" if len(seeds) == 1 else f"n={seeds[0]}-{seeds[-1]}"
    fig.suptitle(
        f"{study}: {metric} per configuration (mean of {n_text} seeds; band: 95% CI, n >= 3)",
        parse_math=False,
    )
    # the legend from the first panel with curves (a first configuration may have none)
    handles = next((h for ax in axes.flat if (h := ax.get_legend_handles_labels()[0])), [])
    if handles:
        _legend(fig, handles=handles, loc="outside lower center", ncols=2, fontsize="small")
    return fig


def sensitivity(
    store: Store,
    study: str,
    variable: str,
    metric: str = "final_val_accuracy",
    by: str | None = None,
) -> Any:
    """A final ``metric`` against a swept numeric ``variable``: the mean over seeds with its 95%
    Student-t interval (drawn within [0, 1] for an accuracy), one line per level of a second
    swept variable ``by`` (default: the one other variable that varies, if there is exactly
    one). Log axis when ``variable`` spans two decades or more. Diverged trials have no
    metric: an ``x`` on the axis marks each value where a trial diverged, with a legend entry
    that counts them.

    Args:
        store: an open :class:`~lrlab.lab.store.Store`.
        study: the study's name.
        variable: a grid variable (e.g. ``"lr"``) or a config field (``"optimizer.momentum"``).
        metric: a column of the trials table, e.g. ``final_val_accuracy``, ``best_val_loss``.
        by: a second variable: one line per level of it.

    Returns:
        A matplotlib ``Figure``.
    """
    configs, varying = _load(store, study)
    others = [k for k in varying if k != variable] if by is None else [by]
    lines: dict[Any, list[tuple[float, _Config]]] = {}
    names: dict[Any, str] = {}
    for c in configs:
        first = c.records[0]
        x = _value(first, variable)
        if not isinstance(x, (int, float)) or isinstance(x, bool):
            raise ValueError(f"{variable!r} is not a numeric variable of study {study!r}")
        level = tuple(repr(_value(first, k)) for k in others)  # one line per level
        lines.setdefault(level, []).append((float(x), c))
        names[level] = _label({k: _value(first, k) for k in others})
    fig = _figure(8.0, 4.4)
    ax = fig.add_subplot()
    diverged_at: set[float] = set()
    for (level, points), colour in zip(lines.items(), _colours(len(lines))):
        points.sort(key=lambda p: p[0])
        xs, ys, below, above, ns = [], [], [], [], []
        for x, c in points:
            ci = mean_ci(c.final(metric))
            if c.diverged:
                diverged_at.add(x)
            if ci.n == 0:
                continue
            half = 0.0 if ci.n < 2 else ci.half_width
            # an accuracy's interval drawn within [0, 1], where accuracies lie
            low, high = (0.0, 1.0) if "accuracy" in metric else (-math.inf, math.inf)
            xs.append(x)
            ys.append(ci.mean)
            below.append(ci.mean - max(low, ci.mean - half))
            above.append(min(high, ci.mean + half) - ci.mean)
            ns.append(ci.n)
        err = [below, above]
        n_text = (
            f"n={min(ns)}"
            if ns and min(ns) == max(ns)
            else f"n={min(ns, default=0)}-{max(ns, default=0)}"
        )
        label = names[level] or "mean, 95% CI"
        ax.errorbar(
            xs, ys, yerr=err, marker="o", capsize=3, color=colour, label=f"{label} ({n_text})"
        )
    trials = sum(len(c.records) for c in configs)
    _mark_diverged(ax, sorted(diverged_at), sum(c.diverged for c in configs), trials)
    if _log_axis([x for pts in lines.values() for x, _ in pts]):
        ax.set_xscale("log")
    ax.set_xlabel(variable, parse_math=False)
    ax.set_ylabel(metric, parse_math=False)
    _title(ax, f"{study}: {metric} against {variable}")
    ax.grid(alpha=0.3)
    _outside_legend(fig, ax, len(lines))
    return fig


def lr_curves(store: Store, study: str) -> Any:
    """The learning rate over epochs, one line per configuration (its first seed; a plateau's
    reductions differ by seed, so every seed is drawn thin in the same colour)."""
    configs, _ = _load(store, study)
    fig = _figure(8.5, 4.2)
    ax = fig.add_subplot()
    zeros = False  # a rate of 0 (a warmup's first epoch) has no place on the log axis
    for c, colour in zip(configs, _colours(len(configs))):
        grid = c.curves("lr")
        if grid.shape[1] == 0:
            continue
        zeros |= bool(np.any(grid <= 0))
        epochs = np.arange(1, grid.shape[1] + 1)
        for i, row in enumerate(grid):
            ax.plot(
                epochs,
                row,
                color=colour,
                linewidth=1.4 if i == 0 else 0.6,
                alpha=1.0 if i == 0 else 0.5,
                label=c.label if i == 0 else None,
            )
    ax.set_yscale("log", nonpositive="mask")  # a 0 is a gap in the line, not a drop to the axis
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("learning rate")
    _title(ax, f"{study}: learning rate per epoch" + (" (rates of 0 not drawn)" if zeros else ""))
    ax.grid(alpha=0.3)
    _outside_legend(fig, ax, len(configs))
    return fig


def optimizer_comparison(store: Store, study: str, metric: str = "val_accuracy") -> Any:
    """Each optimizer's best configuration (by the mean final ``metric``): its ``metric`` over
    epochs, mean over seeds with the 95% CI band. Needs a study where ``optimizer.name``
    varies."""
    configs, _ = _load(store, study)
    best: dict[str, tuple[float, _Config]] = {}
    final = f"final_{metric}"
    sign = -1.0 if "loss" in metric else 1.0
    for c in configs:
        name = str(_value(c.records[0], "optimizer.name"))
        ci = mean_ci(c.final(final))
        score = sign * ci.mean if ci.n else -math.inf
        if name not in best or score > best[name][0]:
            best[name] = (score, c)
    if len(best) < 2:
        raise ValueError(f"study {study!r} has one optimizer: nothing to compare")
    fig = _figure(8.5, 4.4)
    ax = fig.add_subplot()
    means: list[np.ndarray] = []
    for (name, (_, c)), colour in zip(best.items(), _colours(len(best))):
        grid = c.curves(metric)
        if grid.shape[1] == 0 or np.all(np.isnan(grid)):
            continue
        mean, lo, hi = _band(grid)
        epochs = np.arange(1, grid.shape[1] + 1)
        means.append(mean)
        rest = _label({k: v for k, v in c.values.items() if k != "optimizer.name"})
        ax.plot(epochs, mean, color=colour, label=f"{name}: {rest} (n={len(c.records)})")
        ax.fill_between(epochs, lo, hi, color=colour, alpha=0.15, linewidth=0)
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(metric, parse_math=False)
    _fit_y(ax, means, metric)
    _title(ax, f"{study}: each optimizer at its best configuration (band: 95% CI where n >= 3)")
    ax.grid(alpha=0.3)
    _outside_legend(fig, ax, len(best))
    return fig


def numeric_variables(store: Store, study: str) -> list[str]:
    """The swept variables of a study whose values are numbers and that take two values or more
    while the other swept variables stay the same: a variable swept together with another (a
    ``[[zip]]`` of momentum and schedule) has no effect of its own to draw, only one point per
    level of the other."""
    configs, varying = _load(store, study)
    out = []
    for k in varying:
        if not all(_is_number(c.values.get(k)) for c in configs):
            continue
        others = [o for o in varying if o != k]
        levels: dict[tuple[str, ...], set[Any]] = {}
        for c in configs:
            level = tuple(repr(c.values.get(o)) for o in others)
            levels.setdefault(level, set()).add(c.values.get(k))
        if any(len(values) > 1 for values in levels.values()):
            out.append(k)
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: the file in which :func:`study_figures` lists the figures it wrote in a folder
FIGURES_WRITTEN = ".lrlab-figures"


def study_figures(
    store: Store, study: str, out: str | Path, formats: Sequence[str] = ("png", "svg")
) -> list[Path]:
    """Write every figure that applies to ``study`` into the folder ``out`` (which must exist).

    Always the learning curves (validation accuracy, else validation loss, else loss) and the
    per-configuration grid; a sensitivity plot per numeric swept variable that varies on its
    own (:func:`numeric_variables`; one line per level of the other variable when two vary);
    the learning rate over epochs when it changes during
    training; the optimizer comparison when the optimizer varies and some optimizer has several
    configurations (with one each, it would be the learning curves again). The files written
    are listed in ``out/.lrlab-figures``; those an earlier call listed there that do not apply
    now (another study's, a variable no longer swept) are removed, and no other file.

    Returns:
        The files written, in that order, each in every one of ``formats``.
    """
    out = Path(out)
    configs, _ = _load(store, study)
    hist = configs[0].histories[0]
    metric = next((m for m in ("val_accuracy", "val_loss", "loss") if hist.get(m)), "loss")
    grid_metric = "accuracy" if hist.get("accuracy") or hist.get("val_accuracy") else "loss"
    figures: list[tuple[str, Any]] = [
        (f"curves_{metric}", learning_curves(store, study, metric)),
        (f"grid_{grid_metric}", curve_grid(store, study, grid_metric)),
    ]
    final = f"final_{metric}"
    for var in numeric_variables(store, study):
        figures.append((f"sensitivity_{_short(var)}", sensitivity(store, study, var, final)))
    lrs = [c.curves("lr") for c in configs]
    if any(g.shape[1] > 1 and np.nanmax(g) > np.nanmin(g) for g in lrs if g.size):
        figures.append(("lr", lr_curves(store, study)))
    names = [str(_value(c.records[0], "optimizer.name")) for c in configs]
    if 1 < len(set(names)) < len(names):  # (one config each: the curves figure already is it)
        figures.append(("optimizers", optimizer_comparison(store, study, metric)))
    written: list[Path] = []
    for name, fig in figures:
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            fig.savefig(path, dpi=110)
            written.append(path)
    # an earlier run's figures that do not apply now: those it listed, never a file of another
    manifest = out / FIGURES_WRITTEN
    before = manifest.read_text(encoding="utf-8").splitlines() if manifest.is_file() else []
    for name in before:
        old = out / name
        if name and Path(name).name == name and old not in written and old.is_file():
            old.unlink()
    manifest.write_text("".join(f"{p.name}\n" for p in written), encoding="utf-8")
    return written
