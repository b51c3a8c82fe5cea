"""The recommended learning-rate window, from one run's suggestions or several runs'."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._analysis import Suggestions

__all__ = ["Window", "log_median", "recommend_window"]


@dataclass(frozen=True)
class Window:
    """A recommended range of learning rates ``[lo, hi]``.

    Attributes:
        lo: Lower end.
        hi: Upper end (``>= lo``).
        capped: Whether ``hi`` was lowered to the smallest bracketed ``half_divergence``.
        note: How the window was formed, in words.

    Example:
        >>> from lrlab.finder import Window
        >>> w = Window(1e-3, 1e-2)
        >>> 3e-3 in w, 0.1 in w
        (True, False)
    """

    lo: float
    hi: float
    capped: bool = False
    note: str = ""

    def __contains__(self, lr: object) -> bool:
        return isinstance(lr, (int, float, np.floating)) and self.lo <= float(lr) <= self.hi

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {"lo": self.lo, "hi": self.hi, "capped": self.capped, "note": self.note}


def log_median(values: Sequence[float]) -> float | None:
    """The median taken on ``log10`` (for an even count: the geometric mean of the middle two).

    Example:
        >>> from lrlab.finder import log_median
        >>> log_median([1e-3, 1e-1])
        0.01
        >>> log_median([]) is None
        True
    """
    if not len(values):
        return None
    return float(10 ** np.median(np.log10(np.asarray(values, dtype=np.float64))))


def recommend_window(runs: Sequence[Suggestions]) -> Window | None:
    """A learning-rate window from the ``steepest`` and ``valley`` suggestions of one or more runs.

    Rule: ``a`` and ``b`` are the :func:`log_median` over the runs of ``steepest`` and of
    ``valley`` (either alone if the other is missing); the window is ``[min(a, b), max(a, b)]``.
    Its top is then capped at the *smallest* ``half_divergence`` among the runs whose loss did
    turn up (no ``no_divergence`` flag): no run should be trained above half the rate where some
    run's loss turned up. If the cap falls below ``min(a, b)`` the window shrinks to the cap.

    Args:
        runs: :class:`Suggestions`, one per run.

    Returns:
        A :class:`Window`, or ``None`` when no run has a ``steepest`` or ``valley`` suggestion.

    Example:
        >>> import numpy as np
        >>> from lrlab.finder import recommend_window, suggest
        >>> lrs = np.logspace(-5, 0, 51)
        >>> losses = 1.0 - 0.8 / (1 + np.exp(-4 * (np.log10(lrs) + 3))) + 2 * lrs**2
        >>> w = recommend_window([suggest(lrs, losses, smoothing=0.0, skip_start=0, skip_end=0)])
        >>> w.lo < w.hi
        True
    """
    picks = {}
    for rule in ("steepest", "valley"):
        lrs = [s[rule].lr for s in runs if s[rule].lr is not None]
        med = log_median(lrs)  # type: ignore[arg-type]
        if med is not None:
            picks[rule] = med
    if not picks:
        return None
    lo, hi = min(picks.values()), max(picks.values())
    note = "from the median " + " and ".join(f"{k} ({v:.3g})" for k, v in picks.items())
    caps = [
        s["half_divergence"].lr
        for s in runs
        if s["half_divergence"].lr is not None and "no_divergence" not in s["half_divergence"].flags
    ]
    capped = False
    if caps:
        cap = float(min(caps))  # type: ignore[type-var]
        if hi > cap:
            hi, capped = cap, True
            lo = min(lo, hi)
            note += f", capped at the smallest half_divergence ({cap:.3g})"
    return Window(float(lo), float(hi), capped, note)
