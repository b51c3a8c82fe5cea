"""Every suggestion rule side by side, each with flags that say when not to trust it.

:func:`suggest` is a pure function of ``(lrs, losses)``: it smooths, picks the analysed window
(skips, non-finite tail), measures the curve (drop, noise, turn-up) and applies the four rules of
:mod:`lrlab.finder._rules`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from .._checks import integer, number
from ._rules import TURN_UP, check_curve, minimum_div10, smooth, steepest, turn_up_index, valley

if TYPE_CHECKING:
    from ._window import Window

__all__ = [
    "DEFAULT_SKIP_END",
    "FLAGS",
    "FLAT_DROP",
    "MIN_POINTS",
    "NOISE_RATIO",
    "RULES",
    "Suggestion",
    "Suggestions",
    "suggest",
]

#: The rules, in the order they are reported.
RULES = ("steepest", "valley", "minimum_div10", "half_divergence")

#: Every flag a suggestion can carry.
FLAGS = ("too_short", "flat", "noisy", "no_divergence", "at_edge")

#: Fewer analysed points than this: ``too_short``.
MIN_POINTS = 10

#: ``flat`` when the smoothed loss falls by less than this fraction from the first analysed point
#: to its minimum: ``(s_0 - min s) / max(|s_0|, |min s|) < FLAT_DROP``.
FLAT_DROP = 0.05

#: ``noisy`` when the batch-to-batch noise of the raw loss exceeds this fraction of that drop
#: ``s_0 - min s``. The noise is ``1.4826 * MAD(d2) / sqrt(6)`` with ``d2`` the second
#: differences of the raw losses: the standard deviation of i.i.d. noise, estimated robustly and
#: blind to a smooth trend (raw minus smoothed is not: the smoothed curve lags the raw one by about
#: ``1 / (1 - beta)`` steps, which a clean steep descent would read as noise).
NOISE_RATIO = 0.5

#: Points left out at the end by default (fastai's ``plot_lr_find`` / ``lr_find``: ``[:-5]``).
DEFAULT_SKIP_END = 5

_TINY = 1e-12


@dataclass(frozen=True)
class Suggestion:
    """One rule's suggested learning rate, and why it may not be trusted.

    Attributes:
        lr: The suggested learning rate, or ``None`` when no point was left to analyse.
        index: The index in the run (``lrs``/``losses`` as recorded) that the rule picked; for
            ``minimum_div10`` the minimum's index, for ``half_divergence`` the turn-up's.
        rule: The rule's name (one of :data:`RULES`).
        flags: Reasons for doubt (see :data:`FLAGS`); empty when the curve looks clean.
        note: How the number was obtained, in words.

    Example:
        >>> from lrlab.finder import Suggestion
        >>> s = Suggestion(0.01, 42, "valley", ("noisy",), "about halfway along the valley")
        >>> s.ok, s.to_dict()["flags"]
        (False, ['noisy'])
    """

    lr: float | None
    index: int | None
    rule: str
    flags: tuple[str, ...] = ()
    note: str = ""

    @property
    def ok(self) -> bool:
        """``True`` when there is a suggestion and it carries no flag."""
        return self.lr is not None and not self.flags

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "lr": self.lr,
            "index": self.index,
            "rule": self.rule,
            "flags": list(self.flags),
            "note": self.note,
        }


@dataclass(frozen=True)
class Suggestions(Mapping[str, Suggestion]):
    """All rules' suggestions for one curve: a mapping ``rule -> Suggestion``.

    Rules are also attributes (``s.valley.lr``). The curve-level measurements are kept so a
    reader can judge the flags.

    Attributes:
        rules: ``rule -> Suggestion`` in :data:`RULES` order.
        start: First analysed index (after ``skip_start``).
        stop: One past the last analysed index (after ``skip_end`` and the non-finite tail).
        flags: The curve-level flags (every suggestion carries them; rules may add ``at_edge``).
        drop: ``s_start - min s`` over the analysed points (smoothed loss).
        noise: The estimated batch-to-batch noise of the raw loss (see :data:`NOISE_RATIO`).

    Example:
        >>> import numpy as np
        >>> from lrlab.finder import suggest
        >>> lrs = np.logspace(-4, 0, 41)
        >>> s = suggest(lrs, 1 / (1 + 100 * lrs) + 5 * lrs**2, smoothing=0.0, skip_start=0,
        ...             skip_end=0)
        >>> list(s), s.valley.lr == s["valley"].lr, (s.start, s.stop)
        (['steepest', 'valley', 'minimum_div10', 'half_divergence'], True, (0, 41))
    """

    rules: Mapping[str, Suggestion]
    start: int
    stop: int
    flags: tuple[str, ...] = ()
    drop: float = 0.0
    noise: float = 0.0

    def __getitem__(self, rule: str) -> Suggestion:
        return self.rules[rule]

    def __iter__(self) -> Iterator[str]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def __getattr__(self, name: str) -> Suggestion:
        rules = self.__dict__.get("rules")
        if rules is not None and name in rules:
            return rules[name]
        raise AttributeError(name)

    @property
    def window(self) -> Window | None:
        """The recommended window from this single run (see :func:`recommend_window`)."""
        from ._window import recommend_window

        return recommend_window([self])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {
            "rules": {k: v.to_dict() for k, v in self.rules.items()},
            "start": self.start,
            "stop": self.stop,
            "flags": list(self.flags),
            "drop": self.drop,
            "noise": self.noise,
        }

    def __repr__(self) -> str:
        lines = [f"{'rule':<16}{'lr':>10}  {'index':>5}  flags"]
        for s in self.rules.values():
            lr = "-" if s.lr is None else f"{s.lr:.3g}"
            idx = "-" if s.index is None else str(s.index)
            lines.append(f"{s.rule:<16}{lr:>10}  {idx:>5}  {', '.join(s.flags) or '-'}")
        return "\n".join(lines)


def _noise(raw: np.ndarray) -> float:
    if raw.size < 3:
        return 0.0
    d2 = np.diff(raw, 2)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))


def suggest(
    lrs: ArrayLike,
    losses: ArrayLike,
    *,
    smoothing: float = 0.98,
    skip_start: int | None = None,
    skip_end: int = DEFAULT_SKIP_END,
) -> Suggestions:
    """Apply every rule to one range-test curve, side by side, with flags.

    Steps:

    1. smooth the raw losses (:func:`smooth`, bias-corrected, ``beta=smoothing``);
    2. keep indices ``[skip_start, len - skip_end)`` of the run as recorded, then cut at the
       first non-finite loss (fastai ``lr_find``: slice ``[num_it // 10 : -5]``, then drop from
       the first NaN; Lightning filters non-finite points);
    3. on the smoothed losses of that window apply the rules: ``steepest`` (fastai ``steep``),
       ``valley`` (fastai ``valley``), ``minimum_div10`` (fastai ``minimum``) and
       ``half_divergence``: half the learning rate where the smoothed loss turns up
       (:func:`turn_up_index` with :data:`TURN_UP`, looked for in every finite point from
       ``skip_start`` on — ``skip_end`` does not hide the blow-up from this rule — or else the
       first non-finite loss; without either, half the last analysed rate, a lower bound,
       flagged ``no_divergence``);
    4. flag the curve: ``too_short`` (fewer than :data:`MIN_POINTS` points), ``flat``
       (:data:`FLAT_DROP`), ``noisy`` (:data:`NOISE_RATIO`), ``no_divergence`` (no turn-up
       and no non-finite loss: the top of the useful range is not bracketed); and per rule
       ``at_edge`` (``steepest``, ``valley`` or the minimum at the first or last analysed
       point).

    Args:
        lrs: Learning rates of the run, > 0 and strictly increasing.
        losses: Raw per-step losses (NaN/inf allowed: they end the analysed window).
        smoothing: ``beta`` of the smoothing, in ``[0, 1)``; 0 analyses the losses as given.
        skip_start: Points left out at the start; ``None`` means ``len(lrs) // 10`` (fastai's
            ``num_it // 10``; :meth:`FinderResult.suggest` passes the requested ``num_steps``).
        skip_end: Points left out at the end of the run as recorded (default 5, fastai).

    Returns:
        :class:`Suggestions`.

    Example:
        >>> import numpy as np
        >>> from lrlab.finder import suggest
        >>> lrs = np.logspace(-5, 0, 51)
        >>> losses = 1.0 - 0.8 / (1 + np.exp(-4 * (np.log10(lrs) + 3))) + 2 * lrs**2
        >>> s = suggest(lrs, losses, smoothing=0.0, skip_start=0, skip_end=0)
        >>> s
        rule                    lr  index  flags
        steepest          0.000794     19  -
        valley            0.000501     17  -
        minimum_div10      0.00316     35  -
        half_divergence     0.0629     41  -
        >>> s.valley.lr == float(lrs[17]), s.valley.ok
        (True, True)
    """
    owner = "suggest"
    x, raw = check_curve(owner, lrs, losses)
    beta = number(owner, "smoothing", smoothing, lo=0.0, hi=1.0, hi_open=True)
    n = x.size
    start = n // 10 if skip_start is None else integer(owner, "skip_start", skip_start, lo=0)
    start = min(start, n)
    sm = smooth(raw, beta) if beta > 0 else raw.copy()
    bad = ~(np.isfinite(raw[start:]) & np.isfinite(sm[start:]))
    finite_end = start + int(np.argmax(bad)) if bad.any() else n  # first non-finite from start
    stop = min(max(start, n - integer(owner, "skip_end", skip_end, lo=0)), finite_end)
    xw, sw, rw = x[start:stop], sm[start:stop], raw[start:stop]
    npts = stop - start

    if npts == 0:
        flags = ("too_short",)
        note = f"no finite point left in [{start}, {stop}) after skipping"
        rules = {r: Suggestion(None, None, r, flags, note) for r in RULES}
        return Suggestions(rules, start, stop, flags)

    # the turn-up is looked for in everything finite from `start` on: `skip_end` keeps the other
    # rules off the blow-up, which is exactly what this one looks for; a non-finite loss is a
    # blow-up too
    turn = turn_up_index(sm[start:finite_end], TURN_UP)
    if turn is not None:
        turn += start
        turn_note = (
            f"smoothed loss turns up (rises by more than {TURN_UP:g} x min(descent, |min|)) "
            f"at lr {x[turn]:.3g}; half of that"
        )
    elif finite_end < n:
        turn = finite_end
        turn_note = f"the loss became non-finite at lr {x[turn]:.3g}; half of that"
    low = float(sw.min())
    drop = float(sw[0] - low)
    noise = _noise(rw)
    curve_flags = []
    if npts < MIN_POINTS:
        curve_flags.append("too_short")
    if drop / max(abs(float(sw[0])), abs(low), _TINY) < FLAT_DROP:
        curve_flags.append("flat")
    if noise > NOISE_RATIO * drop:
        curve_flags.append("noisy")
    if turn is None:
        curve_flags.append("no_divergence")
    flags = tuple(curve_flags)

    def edge(i: int) -> tuple[str, ...]:
        return (*flags, "at_edge") if i in (0, npts - 1) else flags

    rules: dict[str, Suggestion] = {}
    if npts >= 2:
        lr, i = steepest(xw, sw)
        g = (sw[i + 1] - sw[i]) / math.log(xw[i + 1] / xw[i])
        note = (
            f"steepest fall of the smoothed loss, {g:.3g} per unit log(lr), "
            f"between lr {xw[i]:.3g} and {xw[i + 1]:.3g} (fastai steep)"
        )
        rules["steepest"] = Suggestion(lr, start + i, "steepest", edge(i), note)
    else:
        rules["steepest"] = Suggestion(None, None, "steepest", flags, "needs 2 points")
    lr, i = valley(xw, sw)
    rules["valley"] = Suggestion(
        lr, start + i, "valley", edge(i), "about halfway along the longest valley (fastai valley)"
    )
    lr, i = minimum_div10(xw, sw)
    rules["minimum_div10"] = Suggestion(
        lr,
        start + i,
        "minimum_div10",
        edge(i),
        f"minimum smoothed loss {low:.4g} at lr {xw[i]:.3g}, divided by 10 (fastai minimum)",
    )
    if turn is not None:
        rules["half_divergence"] = Suggestion(
            float(x[turn] / 2), turn, "half_divergence", flags, turn_note
        )
    else:
        note = "no turn-up after the minimum: half the last analysed lr, a lower bound"
        rules["half_divergence"] = Suggestion(
            float(xw[-1] / 2), stop - 1, "half_divergence", flags, note
        )
    return Suggestions(rules, start, stop, flags, drop, noise)
