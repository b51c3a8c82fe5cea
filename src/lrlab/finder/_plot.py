"""Range-test figures: loss against learning rate on a log axis, every suggestion marked.

matplotlib is imported only here, only when a figure is asked for, and never ``pyplot``: the
functions build a :class:`matplotlib.figure.Figure` directly (no global state, no GUI backend).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._analysis import RULES, Suggestions
from ._window import Window

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ._repeats import RepeatedResult
    from ._result import FinderResult

__all__ = ["plot_repeated", "plot_result", "save_output"]

_MARKERS = {"steepest": "v", "valley": "o", "minimum_div10": "s", "half_divergence": "D"}
_COLORS = {
    "steepest": "tab:red",
    "valley": "tab:green",
    "minimum_div10": "tab:purple",
    "half_divergence": "tab:orange",
}
_UNSET: Any = object()


def _axes(ax: Axes | None, title: str | None) -> tuple[Figure, Axes]:
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(7.0, 4.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.get_figure()  # type: ignore[assignment]
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title, parse_math=False)  # drawn as written: a "$" is a dollar sign
    return fig, ax


def _ylim(ax: Axes, curves: Sequence[np.ndarray]) -> None:
    """Keep the descent readable: cut the plot a little above the highest starting loss and
    below the lowest minimum of ``curves`` (each seed's smoothed loss: none is cut off)."""
    tops, lows = [], []
    for smoothed in curves:
        s = smoothed[np.isfinite(smoothed)]
        if s.size < 2:
            continue
        m = int(np.argmin(s))
        tops.append(float(np.max(s[: m + 1])))
        lows.append(float(s[m]))
    if not tops:
        return
    top, low = max(tops), min(lows)
    span = top - low
    if span > 0:
        ax.set_ylim(low - 0.15 * span, top + 0.35 * span)


def _curve_at(lrs: np.ndarray, smoothed: np.ndarray, lr: float) -> float:
    ok = np.isfinite(smoothed)
    return float(np.interp(np.log(lr), np.log(lrs[ok]), smoothed[ok]))


def _mark(ax: Axes, rule: str, lr: float, y: float, flags: tuple[str, ...], label: str) -> None:
    ax.plot(
        [lr],
        [y],
        linestyle="none",
        marker=_MARKERS.get(rule, "o"),
        markersize=8,
        color=_COLORS.get(rule),
        markeredgecolor="black" if not flags else "none",
        label=label + (f" [{', '.join(flags)}]" if flags else ""),
        zorder=3,
    )


def _shade(ax: Axes, window: Window | None) -> None:
    if window is not None:
        ax.axvspan(
            window.lo,
            window.hi,
            color="tab:green",
            alpha=0.15,
            label=f"window {window.lo:.2g} .. {window.hi:.2g}",
        )


def plot_result(
    result: FinderResult,
    *,
    suggestions: Suggestions | None = None,
    window: Window | None = _UNSET,
    ax: Axes | None = None,
    raw: bool = True,
    title: str | None = None,
) -> Figure:
    """Plot one range test: raw loss (faint), smoothed loss, each rule marked, the window shaded.

    A marker with a black edge is an unflagged suggestion; the legend lists each rule's value
    and its flags. The y-axis is cut a third of the descent above the starting loss so that the
    explosion at the end does not flatten the interesting part.

    Args:
        result: The :class:`FinderResult`.
        suggestions: What to mark (default ``result.suggest()``).
        window: The window to shade (default ``suggestions.window``; ``None``: none).
        ax: Draw into these axes (default: a new :class:`~matplotlib.figure.Figure`).
        raw: Also draw the raw batch losses.
        title: Optional title, drawn as written (no mathtext).

    Returns:
        The :class:`matplotlib.figure.Figure`.

    Example:
        >>> import numpy as np
        >>> from lrlab.finder import ramp, run
        >>> res = run(lambda lr: 1 / (1 + 100 * lr) + 50 * lr**2, ramp(1e-4, 1.0, 60), 60)
        >>> fig = res.plot()
        >>> fig.axes[0].get_xscale()
        'log'
    """
    fig, ax = _axes(ax, title)
    sugg = result.suggest() if suggestions is None else suggestions
    win = sugg.window if window is _UNSET else window
    lrs, smoothed = result.lrs, result.smoothed
    if raw:
        ax.plot(lrs, result.losses, color="tab:blue", alpha=0.3, linewidth=1, label="raw loss")
    ax.plot(lrs, smoothed, color="tab:blue", linewidth=2, label="smoothed loss")
    if result.eval_steps.size:
        ax.plot(
            lrs[result.eval_steps],
            result.eval_losses,
            color="tab:gray",
            marker=".",
            label="eval loss",
        )
    for rule in RULES:
        s = sugg.get(rule)
        if s is None or s.lr is None or not np.isfinite(smoothed).any():
            continue
        _mark(ax, rule, s.lr, _curve_at(lrs, smoothed, s.lr), s.flags, f"{rule}: {s.lr:.2e}")
    _shade(ax, win)
    _ylim(ax, [smoothed])
    ax.legend(loc="best", fontsize="small")
    return fig


def plot_repeated(
    rep: RepeatedResult,
    *,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Plot repeated range tests: each run's smoothed loss, the median suggestions, the window.

    Args:
        rep: The :class:`RepeatedResult`.
        ax: Draw into these axes (default: a new figure).
        title: Optional title, drawn as written (no mathtext).

    Returns:
        The :class:`matplotlib.figure.Figure`.

    Example:
        >>> from lrlab.finder import ramp, run_repeated
        >>> rep = run_repeated(lambda seed: (lambda lr: 1 / (1 + 10**seed * lr) + lr**2),
        ...                    ramp(1e-4, 10.0, 50), 50, repeats=2, seed=1)
        >>> len(rep.plot().axes[0].get_lines()) >= 2
        True
    """
    fig, ax = _axes(ax, title)
    for k, (res, seed) in enumerate(zip(rep.results, rep.seeds)):
        ax.plot(
            res.lrs,
            res.smoothed,
            color="tab:blue",
            alpha=0.5,
            linewidth=1.5,
            label="smoothed loss per seed" if k == 0 else None,
            gid=f"seed {seed}",
        )
    first = rep.results[0]
    for rule in RULES:
        r = rep.suggestions[rule]
        if r.median is None or not np.isfinite(first.smoothed).any():
            continue
        y = _curve_at(first.lrs, first.smoothed, r.median)
        flags = tuple(r.flag_counts)
        label = f"{rule}: {r.median:.2e} (x{r.ratio:.2g} spread)"
        _mark(ax, rule, r.median, y, flags, label)
    _shade(ax, rep.window)
    _ylim(ax, [r.smoothed for r in rep.results])
    ax.legend(loc="best", fontsize="small")
    return fig


def save_output(obj: FinderResult | RepeatedResult, path: str | Path, **kwargs: Any) -> Path:
    """Save ``obj`` by extension: ``.png`` / ``.svg`` figure, or ``.json`` data."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".json":
        if kwargs:
            raise ValueError(f"save: plot options {sorted(kwargs)} make no sense for {p.name!r}")
        p.write_text(obj.to_json())
    elif ext in (".png", ".svg"):
        obj.plot(**kwargs).savefig(p, format=ext[1:])
    else:
        raise ValueError(f"save: path must end in .png, .svg or .json, got {str(path)!r}")
    return p
