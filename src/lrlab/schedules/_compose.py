"""Composition: join, warmup, scale, product, clip, shift and epoch-based schedules."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from ._array import Array, Ops
from ._base import Schedule, choice, flag, real, register, schedule, setp, steps


def _shifted(s: Schedule, t: Array, ops: Ops, by: float) -> Array:
    """``s`` at ``max(t - by, 0)``: a piece never sees a negative step."""
    return s._eval(ops.maximum(t - by, 0.0) if by else t, ops)


@register("join")
@dataclass(frozen=True, repr=False)
class Join(Schedule):
    """Pieces one after another; each piece counts its steps from its own boundary.

    With boundaries ``b_1 < ... < b_{n-1}``: ``lr(t) = s_k(t - b_k)`` for ``b_k <= t < b_{k+1}``
    (``b_0 = 0``): a boundary step belongs to the next piece, as in Optax ``join_schedules``.

    Example:
        >>> from lrlab.schedules import constant, join, linear
        >>> s = join([linear(init=0.0, end=1.0, steps=2), constant(0.5)], boundaries=[2])
        >>> s([0, 1, 2, 3])
        array([0. , 0.5, 0.5, 0.5])
    """

    schedules: tuple[Schedule, ...]
    boundaries: tuple[float, ...]
    positional = 1

    def __post_init__(self) -> None:
        if not isinstance(self.schedules, (tuple, list)) or not self.schedules:
            raise ValueError(f"join: schedules must be a non-empty list, got {self.schedules!r}")
        pieces = tuple(schedule("join", f"schedules[{i}]", s) for i, s in enumerate(self.schedules))
        if not isinstance(self.boundaries, (tuple, list)):
            raise ValueError(f"join: boundaries must be a list of steps, got {self.boundaries!r}")
        bounds = tuple(
            steps("join", f"boundaries[{i}]", b, positive=False)
            for i, b in enumerate(self.boundaries)
        )
        if len(bounds) != len(pieces) - 1:
            raise ValueError(
                f"join: {len(pieces)} schedule(s) need {len(pieces) - 1} boundaries, "
                f"got {len(bounds)}: {list(bounds)!r}"
            )
        if any(b <= a for a, b in itertools.pairwise(bounds)):
            raise ValueError(f"join: boundaries must be increasing, got {list(bounds)!r}")
        setp(self, "schedules", pieces)
        setp(self, "boundaries", bounds)

    def _eval(self, t: Array, ops: Ops) -> Array:
        out = self.schedules[0]._eval(t, ops)
        for b, s in zip(self.boundaries, self.schedules[1:]):
            out = ops.where(t >= b, _shifted(s, t, ops, b), out)
        return out

    def decays_from(self) -> float | None:
        starts = (0.0, *self.boundaries)
        result: float | None = None
        for start, piece in zip(reversed(starts), reversed(self.schedules)):
            d = piece.decays_from()
            if d is None:
                break
            result = start + d
            if d > 0:
                break
        return result


def join(schedules: Sequence[Schedule | float], boundaries: Sequence[float]) -> Join:
    """Pieces one after another; each counts its steps from its own boundary (see :class:`Join`)."""
    return Join(tuple(schedules), tuple(boundaries))  # type: ignore[arg-type]


@register("warmup")
@dataclass(frozen=True, repr=False)
class Warmup(Schedule):
    """A warmup ramp from ``start`` to the first value of ``schedule``, then ``schedule``.

    For ``t < steps``, with ``p = t / steps`` and ``v = schedule(0)``:
    ``"linear"``: ``start + (v - start) * p``;
    ``"cosine"``: ``start + (v - start) * (1 - cos(pi p)) / 2``;
    ``"exponential"``: ``start * (v / start) ** p`` (needs ``start > 0``).
    From ``t = steps`` on: ``schedule(t - steps)``: the wrapped schedule's own horizon does
    **not** include the warmup (Keras 3 ``CosineDecay(warmup_steps=...)``; for the Optax /
    Hugging Face convention where the total includes warmup see
    :func:`~lrlab.schedules.warmup_cosine`).

    Example:
        >>> from lrlab.schedules import constant, warmup
        >>> warmup(constant(1.0), steps=4)([0, 2, 4, 9])
        array([0. , 0.5, 1. , 1. ])
    """

    schedule: Schedule
    steps: float
    start: float = 0.0
    shape: str = "linear"
    positional = 1

    def __post_init__(self) -> None:
        setp(self, "schedule", schedule("warmup", "schedule", self.schedule))
        setp(self, "steps", steps("warmup", "steps", self.steps))
        setp(self, "start", real("warmup", "start", self.start))
        shapes = ("linear", "cosine", "exponential")
        setp(self, "shape", choice("warmup", "shape", self.shape, shapes))
        if self.shape == "exponential" and self.start <= 0:
            raise ValueError(
                f"warmup: start must be > 0 for shape='exponential', got {self.start!r}"
            )

    def _eval(self, t: Array, ops: Ops) -> Array:
        target = float(self.schedule(0))  # one value, not the schedule over every step
        p = ops.minimum(t / self.steps, 1.0)
        if self.shape == "linear":
            ramp = self.start + (target - self.start) * p
        elif self.shape == "cosine":
            ramp = self.start + (target - self.start) * 0.5 * (1.0 - ops.cos(ops.pi * p))
        else:
            ramp = self.start * (target / self.start) ** p
        return ops.where(t < self.steps, ramp, _shifted(self.schedule, t, ops, self.steps))

    def decays_from(self) -> float | None:
        d = self.schedule.decays_from()
        return None if d is None else self.steps + d


def warmup(
    schedule: Schedule | float, steps: float, start: float = 0.0, shape: str = "linear"
) -> Warmup:
    """Put a warmup ramp of ``steps`` steps in front of ``schedule`` (see :class:`Warmup`)."""
    return Warmup(schedule, steps, start, shape)  # type: ignore[arg-type]


@register("scale")
@dataclass(frozen=True, repr=False)
class Scale(Schedule):
    """A schedule times a constant factor: ``lr(t) = factor * schedule(t)``; written ``factor * s``.

    Example:
        >>> from lrlab.schedules import constant
        >>> 0.5 * constant(0.2)
        0.5 * constant(0.2)
    """

    schedule: Schedule
    factor: float

    def __post_init__(self) -> None:
        setp(self, "schedule", schedule("scale", "schedule", self.schedule))
        setp(self, "factor", real("scale", "factor", self.factor))

    def _eval(self, t: Array, ops: Ops) -> Array:
        return self.factor * self.schedule._eval(t, ops)

    def __repr__(self) -> str:
        inner = repr(self.schedule)
        if isinstance(self.schedule, (Scale, Product)):
            inner = f"({inner})"
        return f"{self.factor!r} * {inner}"

    def decays_from(self) -> float | None:
        return self.schedule.decays_from() if self.factor >= 0 else None


@register("product")
@dataclass(frozen=True, repr=False)
class Product(Schedule):
    """The pointwise product of two schedules: ``lr(t) = left(t) * right(t)``; written ``a * b``.

    Example:
        >>> from lrlab.schedules import constant, linear
        >>> (constant(0.1) * linear(init=1.0, end=0.0, steps=10))([0, 5])
        array([0.1 , 0.05])
    """

    left: Schedule
    right: Schedule

    def __post_init__(self) -> None:
        setp(self, "left", schedule("product", "left", self.left))
        setp(self, "right", schedule("product", "right", self.right))

    def _eval(self, t: Array, ops: Ops) -> Array:
        return self.left._eval(t, ops) * self.right._eval(t, ops)

    def __repr__(self) -> str:
        right = repr(self.right)
        if isinstance(self.right, (Scale, Product)):
            right = f"({right})"
        return f"{self.left!r} * {right}"

    def decays_from(self) -> float | None:
        a, b = self.left.decays_from(), self.right.decays_from()
        return None if a is None or b is None else max(a, b)


@register("clip")
@dataclass(frozen=True, repr=False)
class Clip(Schedule):
    """Bound a schedule: ``lr(t) = min(max(schedule(t), floor), ceiling)``.

    Example:
        >>> from lrlab.schedules import clip, exponential
        >>> clip(exponential(init=1.0, decay_rate=0.1), floor=0.05)([0, 1, 2])
        array([1.  , 0.1 , 0.05])
    """

    schedule: Schedule
    floor: float | None = None
    ceiling: float | None = None
    positional = 1

    def __post_init__(self) -> None:
        setp(self, "schedule", schedule("clip", "schedule", self.schedule))
        if self.floor is not None:
            setp(self, "floor", real("clip", "floor", self.floor))
        if self.ceiling is not None:
            setp(self, "ceiling", real("clip", "ceiling", self.ceiling))
        if self.floor is None and self.ceiling is None:
            raise ValueError("clip: give floor, ceiling or both, got neither")
        if self.floor is not None and self.ceiling is not None and self.floor > self.ceiling:
            raise ValueError(f"clip: floor {self.floor!r} is above ceiling {self.ceiling!r}")

    def _eval(self, t: Array, ops: Ops) -> Array:
        out = self.schedule._eval(t, ops)
        if self.floor is not None:
            out = ops.maximum(out, self.floor)
        if self.ceiling is not None:
            out = ops.minimum(out, self.ceiling)
        return out

    def decays_from(self) -> float | None:
        return self.schedule.decays_from()


def clip(schedule: Schedule, floor: float | None = None, ceiling: float | None = None) -> Clip:
    """Bound ``schedule`` below by ``floor`` and/or above by ``ceiling`` (see :class:`Clip`)."""
    return Clip(schedule, floor, ceiling)


@register("shift")
@dataclass(frozen=True, repr=False)
class Shift(Schedule):
    """Delay a schedule: ``lr(t) = schedule(max(t - steps, 0))``.

    A positive ``steps`` holds ``schedule(0)`` for that many steps first (Optax's
    ``transition_begin``); a negative one starts ``schedule`` part-way through.

    Example:
        >>> from lrlab.schedules import linear, shift
        >>> shift(linear(init=1.0, end=0.0, steps=4), steps=2)([0, 2, 4])
        array([1. , 1. , 0.5])
    """

    schedule: Schedule
    steps: float
    positional = 1

    def __post_init__(self) -> None:
        setp(self, "schedule", schedule("shift", "schedule", self.schedule))
        v = real("shift", "steps", self.steps)
        setp(self, "steps", int(v) if v.is_integer() else v)

    def _eval(self, t: Array, ops: Ops) -> Array:
        return _shifted(self.schedule, t, ops, self.steps)

    def decays_from(self) -> float | None:
        d = self.schedule.decays_from()
        if d is None:
            return None
        # holding schedule(0) first does not rise, so a schedule that decays from 0 still does
        return 0.0 if d == 0 else max(d + self.steps, 0.0)


def shift(schedule: Schedule, steps: float) -> Shift:
    """Delay ``schedule`` by ``steps`` (see :class:`Shift`)."""
    return Shift(schedule, steps)


@register("by_epoch")
@dataclass(frozen=True, repr=False)
class ByEpoch(Schedule):
    """A schedule written in epochs, evaluated per step (batch).

    ``lr(t) = schedule(e)`` with ``e = floor(t / steps_per_epoch)`` (``fractional=False``: the
    rate changes at epoch starts, as Keras' ``LearningRateScheduler`` and torch epoch-level
    schedulers do) or ``e = t / steps_per_epoch`` (``fractional=True``: a smooth per-batch
    version of the same curve).

    Example:
        >>> from lrlab.schedules import by_epoch, step_decay
        >>> s = by_epoch(step_decay(init=1.0, drop=0.5, every=1), steps_per_epoch=10)
        >>> s([0, 9, 10, 25])
        array([1.  , 1.  , 0.5 , 0.25])
    """

    schedule: Schedule
    steps_per_epoch: float
    fractional: bool = False
    positional = 1

    def __post_init__(self) -> None:
        setp(self, "schedule", schedule("by_epoch", "schedule", self.schedule))
        spe = steps("by_epoch", "steps_per_epoch", self.steps_per_epoch)
        setp(self, "steps_per_epoch", spe)
        setp(self, "fractional", flag("by_epoch", "fractional", self.fractional))

    def _eval(self, t: Array, ops: Ops) -> Array:
        spe = self.steps_per_epoch
        e = t / spe if self.fractional else ops.floordiv(t, spe)
        return self.schedule._eval(e, ops)

    def decays_from(self) -> float | None:
        d = self.schedule.decays_from()
        if d is None:
            return None
        # whole epochs only: epoch floor(d) < d may still be below epoch ceil(d)
        return (d if self.fractional else math.ceil(d)) * self.steps_per_epoch


def by_epoch(schedule: Schedule, steps_per_epoch: float, fractional: bool = False) -> ByEpoch:
    """Apply an epoch-based ``schedule`` per step (see :class:`ByEpoch`)."""
    return ByEpoch(schedule, steps_per_epoch, fractional)
