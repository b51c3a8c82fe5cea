"""The statistics of a study: means with Student-t confidence intervals over seeds, paired
differences between configurations, and how fast and how steadily a run learns.

A study's seeds are independent replicates, so a configuration's final metric over ``n`` seeds is
a sample of size ``n``; its mean gets the two-sided Student-t interval

    mean ± t(1 - (1 - level) / 2, n - 1) · s / sqrt(n)

with ``s`` the sample standard deviation (``ddof=1``). Two configurations run on the same seeds
share initial weights and batch order seed by seed, so they are compared by the paired
differences ``d_i = a_i - b_i`` over their common seeds, with the same interval on ``mean(d)``.
Diverged runs carry no final metric (``NaN``) and are counted, never averaged.

Pure NumPy; the t quantile is computed here (no SciPy needed) and agrees with
``scipy.stats.t.ppf`` to 1e-9 relative (tested).

Example:
    >>> ci = mean_ci([0.80, 0.82, 0.79, 0.81])
    >>> ci.n, round(ci.mean, 4), round(ci.low, 4), round(ci.high, 4)
    (4, 0.805, 0.7845, 0.8255)
    >>> print(ci)
    0.8050 ± 0.0205 (95% CI, n=4)
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrlab._checks import number_in

__all__ = [
    "MeanCI",
    "Ranked",
    "WelchTest",
    "area_under_curve",
    "epochs_to_reach",
    "is_dead",
    "mean_ci",
    "paired_difference",
    "rank_configs",
    "t_quantile",
    "volatility",
    "welch_test",
]


# -- the Student t quantile ------------------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny = 1e-300

    def floor(v: float) -> float:
        return v if abs(v) > tiny else tiny

    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 / floor(1.0 - qab * x / qap)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 / floor(1.0 + aa * d)
            c = floor(1.0 + aa / c)
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float, y: float) -> float:
    """The regularized incomplete beta function ``I_x(a, b)``, ``0 <= x <= 1``, with
    ``y = 1 - x`` given separately (exact where ``x`` is within rounding of 1)."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x)
    front = math.exp(log_front + b * math.log(y))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, y) / b


def _t_sf(t: float, df: float) -> float:
    """``P(T > t)`` for ``t >= 0`` and Student's t with ``df`` degrees of freedom."""
    return 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t), t * t / (df + t * t))


def _t_quantile_expansion(p: float, df: float) -> float:
    """The Cornish-Fisher expansion of the t quantile in ``1/df`` around the normal quantile
    (Abramowitz & Stegun 26.7.5), to the fourth order: error ``O(df**-5)``."""
    z = statistics.NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t distribution with ``df`` degrees of freedom.

    Solved by bisection on the survival function (through the regularized incomplete beta
    function), or above ``df = 1e5`` by its Cornish-Fisher expansion; equal to
    ``scipy.stats.t.ppf(p, df)`` to 1e-9 relative (1e-12 up to ``df = 1000``).

    Args:
        p: The probability, in ``(0, 1)``.
        df: Degrees of freedom, ``> 0`` (``n - 1`` for a mean over ``n`` values).

    Returns:
        ``t`` with ``P(T <= t) = p``.

    Example:
        >>> round(t_quantile(0.975, 4), 4), round(t_quantile(0.975, 1e9), 4)
        (2.7764, 1.96)
    """
    p = number_in("t_quantile", "p", p, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    df = number_in("t_quantile", "df", df, lo=0.0, lo_open=True)
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    if df > 1e5:  # lgamma's cancellation would cost digits; the expansion is exact here
        return _t_quantile_expansion(p, df)
    tail = 1.0 - p
    lo, hi = 0.0, 1.0
    while _t_sf(hi, df) > tail:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if _t_sf(mid, df) > tail:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# -- means and differences -------------------------------------------------------------------------
@dataclass(frozen=True)
class MeanCI:
    """A mean over ``n`` independent values with its two-sided confidence interval.

    ``low`` and ``high`` are ``NaN`` when ``n < 2`` (no interval from one value); ``mean`` is
    ``NaN`` when ``n == 0``. ``excluded`` counts the values left out (``NaN``: diverged runs).
    """

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95
    excluded: int = 0

    @property
    def half_width(self) -> float:
        """``(high - low) / 2``: the ``±`` of the interval."""
        return (self.high - self.low) / 2.0

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in ``[low, high]`` (``False`` without an interval)."""
        return bool(self.low <= value <= self.high)

    def __str__(self) -> str:
        if self.n == 0:
            return f"- (n=0, {self.excluded} excluded)" if self.excluded else "- (n=0)"
        pct = f"{100 * self.level:g}% CI"
        if self.n < 2:
            return f"{self.mean:.4f} (n=1, no CI)"
        return f"{self.mean:.4f} ± {self.half_width:.4f} ({pct}, n={self.n})"

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain Python values (``None`` for ``NaN``), for JSON."""
        out: dict[str, Any] = {}
        for k in ("mean", "low", "high"):
            v = getattr(self, k)
            out[k] = None if math.isnan(v) else v
        out.update(n=self.n, level=self.level, excluded=self.excluded)
        return out


def _values(owner: str, values: Any) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{owner}: values must be 1-D, got shape {x.shape}")
    if np.isinf(x).any():
        raise ValueError(
            f"{owner}: values must be finite or NaN (diverged), got {x[np.isinf(x)][0]}"
        )
    return x


def mean_ci(values: Sequence[float] | np.ndarray, level: float = 0.95) -> MeanCI:
    """The mean of ``values`` and its two-sided Student-t confidence interval.

    ``mean ± t(1 - (1 - level)/2, n - 1) · s / sqrt(n)``, ``s`` the sample standard deviation.
    ``NaN`` values (diverged runs) are left out and counted in ``excluded``.

    Args:
        values: One number per seed; ``NaN`` for a run without a value.
        level: Coverage of the interval, in ``(0, 1)`` (default 0.95).

    Returns:
        A :class:`MeanCI`.

    Example:
        >>> ci = mean_ci([1.0, 2.0, 3.0, float("nan")])
        >>> ci.n, ci.excluded, ci.mean, round(ci.half_width, 4)
        (3, 1, 2.0, 2.4841)
    """
    level = number_in("mean_ci", "level", level, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    x = _values("mean_ci", values)
    kept = x[~np.isnan(x)]
    n, excluded = int(kept.size), int(x.size - kept.size)
    if n == 0:
        return MeanCI(math.nan, math.nan, math.nan, 0, level, excluded)
    mean = float(kept.mean())
    if n < 2:
        return MeanCI(mean, math.nan, math.nan, 1, level, excluded)
    half = t_quantile(1.0 - (1.0 - level) / 2.0, n - 1) * float(kept.std(ddof=1)) / math.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, n, level, excluded)


def paired_difference(
    a: Mapping[int, float], b: Mapping[int, float], level: float = 0.95
) -> MeanCI:
    """``a - b`` paired by seed: the mean of ``a[s] - b[s]`` over the seeds both have a value
    for, with its Student-t interval.

    Seeds missing from either side, or ``NaN`` on either side (a diverged run), are left out
    and counted in ``excluded``.

    Args:
        a: ``{seed: value}`` of one configuration.
        b: ``{seed: value}`` of the other.
        level: Coverage of the interval.

    Returns:
        A :class:`MeanCI` of the differences.

    Example:
        >>> d = paired_difference({0: 0.9, 1: 0.8, 2: 0.85}, {0: 0.82, 1: 0.73, 2: 0.78})
        >>> round(d.mean, 4), d.n, d.low > 0
        (0.0733, 3, True)
    """
    seeds = sorted(set(a) | set(b))
    diffs = [a.get(s, math.nan) - b.get(s, math.nan) for s in seeds]
    return mean_ci(np.asarray(diffs, dtype=np.float64), level)


@dataclass(frozen=True)
class WelchTest:
    """Welch's two-sample t-test: ``t``, its degrees of freedom and the two-sided p-value."""

    t: float
    df: float
    p: float
    difference: float
    n: tuple[int, int]

    def __str__(self) -> str:
        return (
            f"difference {self.difference:+.4f}, Welch t = {self.t:.3f}, df = {self.df:.1f}, "
            f"p = {self.p:.3g} (n = {self.n[0]}, {self.n[1]})"
        )


def welch_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> WelchTest:
    """Welch's t-test of ``mean(a) == mean(b)`` for two independent samples (unequal variances).

    ``t = (mean(a) - mean(b)) / sqrt(s_a²/n_a + s_b²/n_b)`` with the Welch-Satterthwaite
    degrees of freedom; ``p`` is two-sided. ``NaN`` values are left out. Equal to
    ``scipy.stats.ttest_ind(a, b, equal_var=False)`` (tested).

    Example:
        >>> r = welch_test([0.80, 0.82, 0.81, 0.79], [0.83, 0.84, 0.82, 0.85])
        >>> round(r.t, 3), r.p < 0.05
        (-3.286, True)
    """
    x = _values("welch_test", a)
    y = _values("welch_test", b)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if x.size < 2 or y.size < 2:
        raise ValueError(
            f"welch_test: each sample needs 2 values or more, got {x.size} and {y.size}"
        )
    va, vb = float(x.var(ddof=1)) / x.size, float(y.var(ddof=1)) / y.size
    diff = float(x.mean() - y.mean())
    if va + vb == 0:
        p = 1.0 if diff == 0 else 0.0
        return WelchTest(
            math.copysign(math.inf, diff) if diff else 0.0, math.nan, p, diff, (x.size, y.size)
        )
    t = diff / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    return WelchTest(t, df, min(1.0, 2.0 * _t_sf(abs(t), df)), diff, (x.size, y.size))


# -- ranking ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ranked:
    """One configuration in :func:`rank_configs`' order.

    ``rank`` is 1 for the best; ``None`` for a configuration without any value (every seed
    diverged). ``vs_best`` is the paired difference from the best (``value - best``; ``None``
    for the best itself and for configurations without values), and ``tied_with_best`` is
    whether its interval contains 0: the two cannot be told apart at this level with these
    seeds.
    """

    key: Any
    rank: int | None
    summary: MeanCI
    vs_best: MeanCI | None
    tied_with_best: bool


def rank_configs(
    values: Mapping[Any, Mapping[int, float]],
    *,
    higher_is_better: bool,
    level: float = 0.95,
) -> list[Ranked]:
    """Rank configurations by their mean over seeds and compare each with the best, paired.

    The best is the configuration with the highest (or lowest) mean; every other one gets its
    paired difference from the best and is ``tied_with_best`` when that interval contains 0 (or
    when it has fewer than 2 common seeds, so that nothing tells them apart). Configurations
    without a value come last, without a rank.

    Args:
        values: ``{config key: {seed: final metric}}``; ``NaN`` for a diverged run.
        higher_is_better: ``True`` for an accuracy, ``False`` for a loss.
        level: Coverage of the intervals.

    Returns:
        A :class:`Ranked` per configuration, best first.

    Example:
        >>> r = rank_configs({"a": {0: 0.9, 1: 0.91, 2: 0.92}, "b": {0: 0.89, 1: 0.915, 2: 0.9},
        ...                   "c": {0: 0.5, 1: 0.52, 2: 0.49}}, higher_is_better=True)
        >>> [(x.key, x.rank, x.tied_with_best) for x in r]
        [('a', 1, True), ('b', 2, True), ('c', 3, False)]
    """
    summaries = {
        k: mean_ci(np.asarray(list(v.values()), dtype=np.float64), level) for k, v in values.items()
    }
    sign = -1.0 if higher_is_better else 1.0
    have = sorted(
        (k for k, s in summaries.items() if s.n > 0), key=lambda k: sign * summaries[k].mean
    )
    empty = [k for k, s in summaries.items() if s.n == 0]
    out: list[Ranked] = []
    best = have[0] if have else None
    for i, k in enumerate(have, 1):
        if k == best:
            out.append(Ranked(k, i, summaries[k], None, True))
            continue
        diff = paired_difference(values[k], values[best], level)
        tied = diff.n < 2 or diff.contains(0.0)
        out.append(Ranked(k, i, summaries[k], diff, tied))
    out.extend(Ranked(k, None, summaries[k], None, False) for k in empty)
    return out


# -- how fast and how steadily a run learns --------------------------------------------------------
def _curve(owner: str, curve: Any) -> np.ndarray:
    y = np.asarray(curve, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"{owner}: curve must be 1-D (one value per epoch), got shape {y.shape}")
    return y


def epochs_to_reach(
    curve: Sequence[float] | np.ndarray, threshold: float, *, higher_is_better: bool = True
) -> int | None:
    """The first epoch (1-based) at which ``curve`` reaches ``threshold``; ``None`` if never.

    ``curve[i]`` is the metric after epoch ``i + 1``; "reaches" is ``>=`` for an accuracy and
    ``<=`` for a loss (``higher_is_better=False``). A ``NaN`` epoch never reaches it.

    Example:
        >>> epochs_to_reach([0.5, 0.7, 0.9, 0.95], 0.9)
        3
        >>> epochs_to_reach([1.0, 0.6, 0.4], 0.5, higher_is_better=False)
        3
    """
    y = _curve("epochs_to_reach", curve)
    t = number_in("epochs_to_reach", "threshold", threshold)
    with np.errstate(invalid="ignore"):
        hit = y >= t if higher_is_better else y <= t
    idx = np.flatnonzero(hit)
    return int(idx[0]) + 1 if idx.size else None


def area_under_curve(curve: Sequence[float] | np.ndarray) -> float:
    """The mean of ``curve`` over its epochs: the area under the learning curve per epoch.

    For an accuracy it lies in ``[0, 1]`` and rewards learning early as much as learning well;
    ``NaN`` if any epoch is ``NaN`` (a diverged run).

    Example:
        >>> area_under_curve([0.5, 0.7, 0.9])
        0.7
    """
    y = _curve("area_under_curve", curve)
    return float(y.mean()) if y.size else math.nan


def volatility(curve: Sequence[float] | np.ndarray) -> float:
    """How much ``curve`` oscillates at the end: the standard deviation (``ddof=1``) of its
    epoch-to-epoch changes over the last half of the epochs.

    ``NaN`` with fewer than 3 changes in the last half (fewer than about 6 epochs).

    Example:
        >>> round(volatility([0.1, 0.5, 0.6, 0.9, 0.6, 0.9, 0.6, 0.9]), 4)
        0.3464
    """
    y = _curve("volatility", curve)
    diffs = np.diff(y[y.size // 2 :])
    if diffs.size < 3:
        return math.nan
    return float(diffs.std(ddof=1))


def is_dead(
    accuracy: Sequence[float] | np.ndarray,
    loss: Sequence[float] | np.ndarray,
    *,
    chance: float,
    margin: float = 0.02,
) -> bool:
    """Whether a run never learned: its final accuracy is within ``margin`` of ``chance`` and
    its final loss is not below its first.

    Such a run (a learning rate far too small, or dead units) did not diverge, but its numbers
    say nothing about the configuration's quality beyond "does not train"; summaries count it
    and keep it out of means.

    Args:
        accuracy: Accuracy per epoch.
        loss: Loss per epoch.
        chance: The accuracy of always predicting the most frequent class.
        margin: How far above ``chance`` still counts as chance.

    Example:
        >>> is_dead([0.34, 0.33, 0.34], [1.10, 1.10, 1.11], chance=1 / 3)
        True
        >>> is_dead([0.34, 0.6, 0.8], [1.10, 0.9, 0.5], chance=1 / 3)
        False
    """
    acc = _curve("is_dead", accuracy)
    los = _curve("is_dead", loss)
    chance = number_in("is_dead", "chance", chance, lo=0.0, hi=1.0)
    margin = number_in("is_dead", "margin", margin, lo=0.0, hi=1.0)
    if acc.size == 0 or los.size == 0 or not np.isfinite(acc[-1]) or not np.isfinite(los[-1]):
        return False
    return bool(acc[-1] <= chance + margin and los[-1] >= los[0])
