"""Look at a schedule before training with it: ``describe``, ``lint`` and ``plot``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._base import Schedule
from ._cosine import Cosine
from ._families import Keras2Decay


def _curve(s: Schedule, steps: int) -> np.ndarray:
    if not isinstance(s, Schedule):
        raise TypeError(f"expected a schedule, got {s!r}")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    # overflow to inf or nan is what lint reports, not a reason to stop (e.g. under -W error)
    with np.errstate(all="ignore"):
        return np.asarray(s(np.arange(int(steps), dtype=np.float64)), dtype=np.float64)


@dataclass(frozen=True)
class Description:
    """Summary numbers of a schedule over ``steps`` steps (see :func:`describe`)."""

    steps: int
    first: float
    final: float
    min: float
    min_step: int
    max: float
    max_step: int
    mean: float
    area: float
    below_1pct_step: int | None

    def __str__(self) -> str:
        below = "never" if self.below_1pct_step is None else f"step {self.below_1pct_step}"
        rows = [
            ("steps", f"{self.steps}"),
            ("first", f"{self.first:.6g}"),
            ("max", f"{self.max:.6g} at step {self.max_step}"),
            ("min", f"{self.min:.6g} at step {self.min_step}"),
            ("final", f"{self.final:.6g}"),
            ("mean", f"{self.mean:.6g}"),
            ("area (sum of lr)", f"{self.area:.6g}"),
            ("below 1% of peak", below),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def describe(s: Schedule, steps: int) -> Description:
    """Summary of ``s`` over steps ``0 .. steps-1``.

    ``area`` is ``sum_t lr(t)``, the total "distance budget" of SGD; ``below_1pct_step`` is the
    first step after the peak from which the rate stays below 1% of the peak (``None`` if it
    never does).

    Example:
        >>> from lrlab.schedules import cosine, describe
        >>> d = describe(cosine(init=1.0, decay_steps=100), 101)
        >>> d.max, d.final, d.below_1pct_step
        (1.0, 0.0, 94)
    """
    lr = _curve(s, steps)
    finite = np.where(np.isfinite(lr), lr, np.nan)
    peak_step = int(np.nanargmax(finite)) if np.isfinite(finite).any() else 0
    return Description(
        steps=int(steps),
        first=float(lr[0]),
        final=float(lr[-1]),
        min=float(np.nanmin(finite)) if np.isfinite(finite).any() else math.nan,
        min_step=int(np.nanargmin(finite)) if np.isfinite(finite).any() else 0,
        max=float(lr[peak_step]),
        max_step=peak_step,
        mean=float(np.mean(lr)),
        area=float(np.sum(lr)),
        below_1pct_step=_stays_below(lr, peak_step, 0.01),
    )


def _stays_below(lr: np.ndarray, peak_step: int, fraction: float) -> int | None:
    peak = lr[peak_step]
    if not np.isfinite(peak) or peak <= 0:
        return None
    above = np.nonzero(lr[peak_step:] >= fraction * peak)[0]
    first_below = peak_step + int(above[-1]) + 1
    return first_below if first_below < len(lr) else None


@dataclass(frozen=True)
class LintWarning:
    """One problem :func:`lint` found: a code, the step, the rate there and a sentence."""

    code: str
    step: int
    value: float
    message: str

    def __str__(self) -> str:
        return f"[{self.code}] step {self.step}: {self.message}"


def lint(s: Schedule, steps: int, steps_per_epoch: int | None = None) -> list[LintWarning]:
    """Check a schedule for common mistakes over steps ``0 .. steps-1``.

    Codes: ``non-finite`` and ``negative`` values; ``upward-jump``, a rise after the step from
    which the schedule is meant to decay (:meth:`Schedule.decays_from`); ``decays-early``, the
    rate stays below 1% of its peak for the last 20% of the run or more; ``periodic-past-horizon``,
    a ``cosine(past_end='periodic')`` (torch ``CosineAnnealingLR``) climbing again after its
    ``decay_steps``; ``keras2-decay-per-epoch``, a Keras 2 ``decay`` equal to ``lr / epochs``,
    the classic per-epoch choice, although Keras 2 applied it at every update.

    Args:
        s: the schedule.
        steps: how many steps (updates) the run has.
        steps_per_epoch: updates per epoch, if known; sharpens the Keras 2 check.

    Returns:
        The warnings, in order of step.

    Example:
        >>> from lrlab.schedules import keras2_decay, lint
        >>> for w in lint(keras2_decay(lr=0.1, decay=0.002), steps=450, steps_per_epoch=9):
        ...     print(w.code, w.step)
        keras2-decay-per-epoch 449
    """
    lr = _curve(s, steps)
    out: list[LintWarning] = []
    bad = np.nonzero(~np.isfinite(lr))[0]
    if bad.size:
        i = int(bad[0])
        out.append(LintWarning("non-finite", i, float(lr[i]), f"the rate is {lr[i]!r}"))
    neg = np.nonzero(lr < 0)[0]
    if neg.size:
        i = int(neg[0])
        out.append(LintWarning("negative", i, float(lr[i]), f"the rate is negative ({lr[i]:.6g})"))
    out.extend(_upward_jumps(s, lr))
    out.extend(_decays_early(lr))
    out.extend(_periodic(s, lr))
    out.extend(_keras2(s, lr, steps_per_epoch))
    return sorted(out, key=lambda w: w.step)


def _first_rise(lr: np.ndarray, start: int) -> int | None:
    seg = lr[start:]
    prev = seg[:-1]
    with np.errstate(invalid="ignore"):
        rise = np.nonzero(seg[1:] > prev + 1e-9 * np.abs(prev) + 1e-300)[0]
    return start + int(rise[0]) + 1 if rise.size else None


def _upward_jumps(s: Schedule, lr: np.ndarray) -> list[LintWarning]:
    d = s.decays_from()
    if d is None or d >= len(lr) - 1:
        return []
    i = _first_rise(lr, math.ceil(d))
    if i is None:
        return []
    return [
        LintWarning(
            "upward-jump",
            i,
            float(lr[i]),
            f"the rate rises from {lr[i - 1]:.6g} to {lr[i]:.6g} although the "
            f"schedule is meant to decay from step {d:g}",
        )
    ]


def _decays_early(lr: np.ndarray) -> list[LintWarning]:
    finite = np.isfinite(lr)
    if not finite.all() or len(lr) < 10:
        return []
    peak_step = int(np.argmax(lr))
    i = _stays_below(lr, peak_step, 0.01)
    if i is None or i > 0.8 * len(lr):
        return []
    share = 100 * (len(lr) - i) / len(lr)
    return [
        LintWarning(
            "decays-early",
            i,
            float(lr[i]),
            f"the rate is below 1% of its peak ({lr[peak_step]:.6g}) from here on: "
            f"the last {len(lr) - i} steps ({share:.0f}% of the run) barely train",
        )
    ]


def _periodic(s: Schedule, lr: np.ndarray) -> list[LintWarning]:
    """The first step where a periodic cosine differs from its clamped twin.

    The cosine may sit anywhere in the tree (after a warmup, as a later piece of a join, per
    epoch), so its own step count is not the schedule's: comparing the whole schedule with the
    cosine clamped finds the step in the schedule's own clock.
    """
    for node in s.walk():
        if not (isinstance(node, Cosine) and node.past_end == "periodic"):
            continue
        clamped = _substitute(s, node, dataclasses.replace(node, past_end="clamp"))
        ref = _curve(clamped, len(lr))
        same = (lr == ref) | (np.isnan(lr) & np.isnan(ref))
        differs = np.nonzero(~same)[0]
        if differs.size:
            i = int(differs[0])
            return [
                LintWarning(
                    "periodic-past-horizon",
                    i,
                    float(lr[i]),
                    f"{node!r} rises again after its decay_steps={node.decay_steps:g}: "
                    "torch CosineAnnealingLR is periodic; "
                    "use past_end='clamp' to hold the floor",
                )
            ]
    return []


def _substitute(s: Schedule, old: Schedule, new: Schedule) -> Schedule:
    """``s`` with the node ``old`` (by identity) replaced by ``new``."""
    if s is old:
        return new

    def sub(value: Any) -> Any:
        if isinstance(value, Schedule):
            return _substitute(value, old, new)
        if isinstance(value, tuple):
            return tuple(sub(v) for v in value)
        return value

    changes = {k: sub(v) for k, v in s.params().items()}
    if all(changes[k] is v for k, v in s.params().items()):
        return s
    return dataclasses.replace(s, **changes)  # type: ignore[type-var]


def _keras2(s: Schedule, lr: np.ndarray, steps_per_epoch: int | None) -> list[LintWarning]:
    out = []
    n = len(lr)
    for node in s.walk():
        if not isinstance(node, Keras2Decay) or node.decay == 0:
            continue
        epochs_guess = node.lr / node.decay
        if steps_per_epoch:
            epochs = n / steps_per_epoch
            looks = abs(epochs_guess - epochs) <= 0.05 * epochs and steps_per_epoch > 1
        else:
            e = round(epochs_guess)
            looks = abs(epochs_guess - e) < 1e-6 * max(e, 1) and 2 <= e < n
        if looks:
            per_epoch_end = node.lr / (1 + node.decay * epochs_guess)
            out.append(
                LintWarning(
                    "keras2-decay-per-epoch",
                    n - 1,
                    float(lr[-1]),
                    f"decay={node.decay:g} equals lr/{epochs_guess:g}, the per-epoch choice, but "
                    "Keras "
                    f"2 applied decay at every update: after {n} updates the rate is {lr[-1]:.6g} "
                    f"({100 * lr[-1] / node.lr:.0f}% of lr), not {per_epoch_end:.6g}; "
                    "for per-epoch "
                    f"decay divide decay by the updates per epoch",
                )
            )
    return out


def plot(
    schedules: Schedule | Sequence[Schedule] | Mapping[str, Schedule],
    steps: int,
    *,
    ax: Any = None,
    log: bool = False,
    title: str | None = None,
) -> Any:
    """Plot one or several schedules over steps ``0 .. steps-1``; returns the matplotlib Figure.

    Labels and the title are drawn as written: a ``$`` is escaped, so matplotlib does not read
    ``$...$`` as mathtext.

    Args:
        schedules: a schedule, a list of them, or a mapping ``label -> schedule``.
        steps: how many steps to draw.
        ax: an existing matplotlib Axes to draw into (default: a new Figure).
        log: logarithmic rate axis.
        title: figure title.

    Example:
        >>> from lrlab.schedules import cosine, plot
        >>> fig = plot(cosine(init=0.1, decay_steps=100), 100)
        >>> fig.axes[0].get_ylabel()
        'learning rate'
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plot needs matplotlib: pip install 'lrlab[plot]'") from exc
    if isinstance(schedules, Schedule):
        items = [(repr(schedules), schedules)]
    elif isinstance(schedules, Mapping):
        items = list(schedules.items())
    else:
        items = [(repr(x), x) for x in schedules]
    curves = [(label, _curve(sched, steps)) for label, sched in items]  # checks steps first
    own = ax is None
    if ax is None:
        fig = Figure(figsize=(7, 4), layout="constrained")
        ax = fig.add_subplot()
    x = np.arange(int(steps))
    for label, lr in curves:
        short = label if len(label) <= 60 else label[:57] + "..."
        ax.plot(x, lr, label=_literal(short))
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    if log:
        ax.set_yscale("log")
    if title:
        ax.set_title(_literal(title))
    ax.grid(alpha=0.3)
    if own:  # a figure of its own: the legend under the axes, never over the curves
        ax.figure.legend(fontsize="small", loc="outside lower center")
    else:
        ax.legend(fontsize="small")
    return ax.figure


def _literal(text: str) -> str:
    r"""``text`` with ``$`` escaped (``\$``), so matplotlib draws it instead of mathtext.

    Example:
        >>> print(_literal("lr $x$"))
        lr \$x\$
    """
    return str(text).replace("$", r"\$")
