"""The pure pieces of range-test analysis: smoothing and the suggestion rules.

Every function here takes plain arrays and returns numbers; none knows about frameworks, runs or
flags (:func:`lrlab.finder.suggest` adds those). The rules take the *smoothed* loss, as fastai
and Lightning do (their recorders store the smoothed loss and their rules read it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .._checks import number

__all__ = [
    "TURN_UP",
    "minimum_div10",
    "smooth",
    "steepest",
    "turn_up_index",
    "valley",
]

#: The smoothed loss has *turned up* once it rises above its minimum by this fraction of the
#: smaller of its descent and its minimum's size (see :func:`turn_up_index`); used by
#: ``half_divergence`` and the ``no_divergence`` flag.
TURN_UP = 0.1


def check_curve(owner: str, lrs: Any, losses: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check a range-test curve: 1-D, same length, learning rates finite, > 0 and increasing.

    Losses may hold NaN or inf (the analysis trims a non-finite tail).
    """
    x = np.asarray(lrs, dtype=np.float64)
    y = np.asarray(losses, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"{owner}: lrs and losses must be 1-D, got shapes {x.shape} and {y.shape}")
    if x.shape != y.shape:
        raise ValueError(
            f"{owner}: lrs and losses must have the same length, got {x.size} and {y.size}"
        )
    if x.size and (not np.all(np.isfinite(x)) or np.any(x <= 0)):
        bad = x[~(np.isfinite(x) & (x > 0))][0]
        raise ValueError(f"{owner}: learning rates must be finite and > 0, got {bad!r}")
    if x.size > 1 and np.any(np.diff(x) <= 0):
        i = int(np.argmax(np.diff(x) <= 0))
        raise ValueError(
            f"{owner}: learning rates must increase strictly, got lrs[{i}]={x[i]!r} and "
            f"lrs[{i + 1}]={x[i + 1]!r}"
        )
    return x, y


def smooth(losses: ArrayLike, beta: float = 0.98) -> np.ndarray:
    """Bias-corrected exponential moving average of the losses.

    ``avg_i = beta * avg_{i-1} + (1 - beta) * loss_i`` with ``avg_{-1} = 0``, and
    ``smoothed_i = avg_i / (1 - beta ** (i + 1))`` — Lightning's ``_LRCallback`` (``beta=0.98``)
    and fastai's ``AvgSmoothLoss`` (same ``beta``). The correction makes ``smoothed_0`` the first
    loss itself. ``beta=0`` returns the losses unchanged. A NaN or inf loss makes every later
    smoothed value non-finite, so the analysis trims from the first one.

    Args:
        losses: Raw per-step losses.
        beta: Smoothing factor in ``[0, 1)``; larger is smoother (and lags more:
            about ``1 / (1 - beta)`` steps).

    Returns:
        The smoothed losses, float64, same length.

    Example:
        >>> from lrlab.finder import smooth
        >>> smooth([1.0, 0.0], beta=0.5)  # avg: 0.5, 0.25; corrected by 1/0.5, 1/0.75
        array([1.        , 0.33333333])
    """
    b = number("smooth", "beta", beta, lo=0.0, hi=1.0, hi_open=True)
    y = np.asarray(losses, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"smooth: losses must be 1-D, got shape {y.shape}")
    out = np.empty_like(y)
    avg = 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        for i, loss in enumerate(y):
            avg = b * avg + (1.0 - b) * loss
            out[i] = avg / (1.0 - b ** (i + 1))
    return out


def steepest(lrs: ArrayLike, losses: ArrayLike) -> tuple[float, int]:
    """The learning rate where the loss falls fastest per unit of ``log(lr)``.

    fastai ``steep`` exactly: forward differences
    ``g_i = (loss_{i+1} - loss_i) / (log lr_{i+1} - log lr_i)``, ``i = argmin(g)`` (the first on a
    tie), and the suggestion is ``lrs[i]``, the left end of the steepest segment.
    (Lightning's ``suggestion()`` differs: ``torch.gradient(losses, spacing=[lrs])`` is a central
    difference with respect to ``lr`` itself, which on an exponential ramp divides the log-slope
    by ``lr`` and so favours small rates; pytorch-lr-finder's ``np.gradient(losses)`` ignores the
    spacing altogether.)

    Args:
        lrs: Learning rates, > 0 and increasing, at least 2.
        losses: The (smoothed) losses at those rates, finite.

    Returns:
        ``(lr, index)``.

    Example:
        >>> from lrlab.finder import steepest
        >>> steepest([1e-3, 1e-2, 1e-1, 1.0], [1.0, 0.9, 0.5, 0.4])
        (0.01, 1)
    """
    x, y = check_curve("steepest", lrs, losses)
    if x.size < 2:
        raise ValueError(f"steepest: needs at least 2 points, got {x.size}")
    g = np.diff(y) / np.diff(np.log(x))
    i = int(np.argmin(g))
    return float(x[i]), i


def valley(lrs: ArrayLike, losses: ArrayLike) -> tuple[float, int]:
    """fastai's ``valley``: a point along the longest valley of the loss curve.

    Exactly fastai ``callback/schedule.py`` ``valley`` (from ESRI's ``arcgis.learn``):

    1. ``lds[i]`` = length of the longest strictly decreasing subsequence of the losses that
       ends at ``i`` (``lds[i] = 1 + max(lds[j] for j < i if losses[j] > losses[i])``, else 1);
    2. ``end`` = the first ``i`` with the largest ``lds``; ``start = end - lds[end]``;
    3. ``sections = (end - start) / 3``; the index is
       ``start + int(sections) + int(sections / 2)`` — about halfway along the valley
       (a third plus a sixth of its length), not two thirds of the way down.

    One deviation: when the valley begins at the first point, fastai's ``start`` is ``-1`` and a
    very short valley gives index ``-1``, which Python reads as the *last* rate; here the index is
    clipped to 0.

    Args:
        lrs: Learning rates, > 0 and increasing, at least 1.
        losses: The (smoothed) losses at those rates, finite.

    Returns:
        ``(lr, index)``.

    Example:
        >>> from lrlab.finder import valley
        >>> valley([1, 2, 3, 4, 5, 6, 7], [5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 2.0])
        (3.0, 2)
    """
    x, y = check_curve("valley", lrs, losses)
    n = y.size
    if n < 1:
        raise ValueError("valley: needs at least 1 point, got 0")
    lds = np.ones(n, dtype=np.int64)
    for i in range(1, n):
        higher = y[:i] > y[i]
        if higher.any():
            lds[i] = lds[:i][higher].max() + 1
    end = int(np.argmax(lds))  # the first maximum, as fastai's strict `<` update keeps
    start = end - int(lds[end])
    sections = (end - start) / 3
    idx = max(start + int(sections) + int(sections / 2), 0)
    return float(x[idx]), idx


def minimum_div10(lrs: ArrayLike, losses: ArrayLike) -> tuple[float, int]:
    """One tenth of the learning rate at the minimum loss (fastai ``minimum``).

    ``i = argmin(losses)`` (the first on a tie); the suggestion is ``lrs[i] / 10`` and the index
    returned is ``i``, the minimum the rule is anchored on (the suggestion itself is off the
    grid, one decade lower).

    Args:
        lrs: Learning rates, > 0 and increasing, at least 1.
        losses: The (smoothed) losses at those rates, finite.

    Returns:
        ``(lr, index of the minimum)``.

    Example:
        >>> from lrlab.finder import minimum_div10
        >>> minimum_div10([0.01, 0.1, 1.0], [1.0, 0.5, 3.0])
        (0.01, 1)
    """
    x, y = check_curve("minimum_div10", lrs, losses)
    if y.size < 1:
        raise ValueError("minimum_div10: needs at least 1 point, got 0")
    i = int(np.argmin(y))
    return float(x[i] / 10.0), i


def turn_up_index(losses: ArrayLike, fraction: float = TURN_UP) -> int | None:
    """Where the loss *turns up*: the first point after the minimum that rises clearly above it.

    With ``m = argmin(losses)``, ``low = losses[m]`` and ``descent = max(losses[:m + 1]) - low``
    (how far the curve fell to reach its minimum), the turn-up is the first ``i > m`` with
    ``losses[i] - low > fraction * min(descent, |low|)``. The rise is measured against the
    smaller of the descent and the size of the minimum, so that:

    * the rule does not depend on the sign of the loss (negative losses work);
    * a rise that the driver's stop rule (``smoothed - best > (factor - 1) * |best|``) calls a
      divergence is always a turn-up, for any ``diverge_factor >= 1 + fraction``;
    * a curve that falls from 100 to 0.1 turns up at about 0.11, not at 10.

    Where both are 0 (the loss never fell, or its minimum is exactly 0) any rise counts.

    Args:
        losses: The (smoothed) losses, finite.
        fraction: The rise that counts, as a fraction of ``min(descent, |low|)``
            (default :data:`TURN_UP`).

    Returns:
        The index, or ``None`` when the curve never turns up (the divergence is not bracketed).

    Example:
        >>> from lrlab.finder import turn_up_index
        >>> turn_up_index([1.0, 0.5, 0.4, 0.45, 0.5, 1.0])  # rise > 0.1 * min(0.6, 0.4) at 3
        3
        >>> turn_up_index([-0.5, -1.0, -0.97, -0.8])  # rise > 0.1 * min(0.5, 1.0) at 3
        3
        >>> turn_up_index([1.0, 0.5, 0.2]) is None
        True
    """
    f = number("turn_up_index", "fraction", fraction, lo=0.0)
    y = np.asarray(losses, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"turn_up_index: losses must be 1-D, got shape {y.shape}")
    if y.size == 0:
        return None
    m = int(np.argmin(y))
    low = float(y[m])
    descent = float(np.max(y[: m + 1])) - low
    above = np.flatnonzero(y[m + 1 :] - low > f * min(descent, abs(low)))
    return int(m + 1 + above[0]) if above.size else None
