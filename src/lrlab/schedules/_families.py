"""Monotone schedule families: constant, linear, polynomial, inverse-time, step and exponential.

Each class is a frozen dataclass of its parameters; its body is branch-free in the step so it
runs on NumPy, torch and traced JAX alike. Conventions where frameworks disagree are parameters
with the framework named in the docstring and pinned by the golden tests in
``tests/test_schedules_golden.py``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from ._array import Array, Ops
from ._base import Schedule, choice, flag, real, register, setp, steps


@register("constant")
@dataclass(frozen=True, repr=False)
class Constant(Schedule):
    """The same learning rate at every step: ``lr(t) = value``.

    Example:
        >>> from lrlab.schedules import constant
        >>> constant(0.01)([0, 10, 10**10])
        array([0.01, 0.01, 0.01])
    """

    value: float
    positional = 1

    def __post_init__(self) -> None:
        setp(self, "value", real("constant", "value", self.value))

    def _eval(self, t: Array, ops: Ops) -> Array:
        return ops.full_like(t, self.value)

    def decays_from(self) -> float | None:
        return 0.0


@register("linear")
@dataclass(frozen=True, repr=False)
class Linear(Schedule):
    """Linear interpolation from ``init`` to ``end`` over ``steps``, then ``end``.

    ``lr(t) = init + (end - init) * min(t, steps) / steps`` — Optax ``linear_schedule`` and torch
    ``LinearLR`` (with ``init = base * start_factor``, ``end = base * end_factor``).

    Example:
        >>> from lrlab.schedules import linear
        >>> linear(init=1.0, end=0.0, steps=4)([0, 1, 4, 8])
        array([1.  , 0.75, 0.  , 0.  ])
    """

    init: float
    end: float
    steps: float

    def __post_init__(self) -> None:
        setp(self, "init", real("linear", "init", self.init))
        setp(self, "end", real("linear", "end", self.end))
        setp(self, "steps", steps("linear", "steps", self.steps))

    def _eval(self, t: Array, ops: Ops) -> Array:
        # min(t / steps, 1), not min(t, steps) / steps: XLA may turn the division into a
        # multiplication by 1 / steps, which can land a hair above 1 at t = steps under jax.jit
        return self.init + (self.end - self.init) * ops.minimum(t / self.steps, 1.0)

    def decays_from(self) -> float | None:
        return 0.0 if self.end <= self.init else None


@register("polynomial")
@dataclass(frozen=True, repr=False)
class Polynomial(Schedule):
    """Polynomial decay from ``init`` to ``end`` over ``decay_steps``.

    ``lr(t) = (init - end) * (1 - min(t, T) / T) ** power + end`` with ``T = decay_steps``:
    Keras ``PolynomialDecay``, Optax ``polynomial_schedule`` and torch ``PolynomialLR``
    (``end = 0``). With ``cycle=True`` (Keras): past ``T`` the decay restarts with a horizon
    ``T * ceil(t / T)`` (``T`` at step 0), so the rate jumps up at each multiple of ``T``.

    Example:
        >>> from lrlab.schedules import polynomial
        >>> polynomial(init=1.0, decay_steps=10, power=2.0)([0, 5, 10, 20])
        array([1.  , 0.25, 0.  , 0.  ])
    """

    init: float
    decay_steps: float
    end: float = 0.0
    power: float = 1.0
    cycle: bool = False

    def __post_init__(self) -> None:
        setp(self, "init", real("polynomial", "init", self.init))
        setp(self, "decay_steps", steps("polynomial", "decay_steps", self.decay_steps))
        setp(self, "end", real("polynomial", "end", self.end))
        setp(self, "power", real("polynomial", "power", self.power, lo=0.0, lo_open=True))
        setp(self, "cycle", flag("polynomial", "cycle", self.cycle))

    def _eval(self, t: Array, ops: Ops) -> Array:
        T = self.decay_steps
        if self.cycle:
            horizon = T * ops.maximum(ops.ceildiv(t, T), 1.0)
            frac = ops.minimum(t / horizon, 1.0)
        else:
            frac = ops.minimum(t / T, 1.0)
        # frac is clamped to 1 *after* the division: under jax.jit XLA may compute t / T as
        # t * (1 / T), a hair above 1 at t = T, and a negative base to a fractional power is NaN
        return (self.init - self.end) * (1.0 - frac) ** self.power + self.end

    def decays_from(self) -> float | None:
        return None if self.cycle or self.end > self.init else 0.0


@register("inverse_time")
@dataclass(frozen=True, repr=False)
class InverseTime(Schedule):
    """Time-based (inverse-time) decay: ``lr(t) = init / (1 + decay_rate * t / decay_steps)``.

    Keras ``InverseTimeDecay``; with ``staircase=True`` the ratio ``t / decay_steps`` is floored.
    For the ``decay=`` argument of Keras 2 optimizers use :func:`keras2_decay`.

    Example:
        >>> from lrlab.schedules import inverse_time
        >>> inverse_time(init=1.0, decay_rate=1.0, decay_steps=10)([0, 10, 30])
        array([1.  , 0.5 , 0.25])
    """

    init: float
    decay_rate: float
    decay_steps: float = 1
    staircase: bool = False

    def __post_init__(self) -> None:
        setp(self, "init", real("inverse_time", "init", self.init))
        setp(self, "decay_rate", real("inverse_time", "decay_rate", self.decay_rate, lo=0.0))
        setp(self, "decay_steps", steps("inverse_time", "decay_steps", self.decay_steps))
        setp(self, "staircase", flag("inverse_time", "staircase", self.staircase))

    def _eval(self, t: Array, ops: Ops) -> Array:
        p = ops.floordiv(t, self.decay_steps) if self.staircase else t / self.decay_steps
        return self.init / (1.0 + self.decay_rate * p)

    def decays_from(self) -> float | None:
        return 0.0


@register("keras2_decay")
@dataclass(frozen=True, repr=False)
class Keras2Decay(Schedule):
    """The ``decay=`` argument of Keras 2 optimizers: ``lr(t) = lr / (1 + decay * t)``.

    Keras 2 applied it at every optimizer **update** (batch), with ``t = optimizer.iterations``,
    not per epoch. The classic ``decay = lr / epochs`` therefore decays far faster than its
    authors meant when an epoch has many batches; :func:`~lrlab.schedules.lint` warns when
    ``decay`` looks chosen per epoch.

    Example:
        >>> from lrlab.schedules import keras2_decay
        >>> s = keras2_decay(lr=0.1, decay=0.002)
        >>> round(s(500), 6)
        0.05
    """

    lr: float
    decay: float

    def __post_init__(self) -> None:
        setp(self, "lr", real("keras2_decay", "lr", self.lr))
        setp(self, "decay", real("keras2_decay", "decay", self.decay, lo=0.0))

    def _eval(self, t: Array, ops: Ops) -> Array:
        return self.lr / (1.0 + self.decay * t)

    def decays_from(self) -> float | None:
        return 0.0


@register("step_decay")
@dataclass(frozen=True, repr=False)
class StepDecay(Schedule):
    """Step (drop) decay: ``lr(t) = init * drop ** floor((t + offset) / every)``.

    ``offset=0`` is torch ``StepLR(step_size=every, gamma=drop)`` and Keras' staircase
    ``ExponentialDecay``: the first drop happens at ``t = every``. ``offset=1`` is the form of
    the classic Keras tutorials, ``init * drop ** floor((1 + epoch) / epochs_drop)``, whose first
    drop happens one step earlier, at ``t = every - 1``. The floor is exact on every backend
    (``Ops.floordiv``): the drops land on the multiples of ``every`` also under ``jax.jit``.

    Example:
        >>> from lrlab.schedules import step_decay
        >>> step_decay(init=0.1, drop=0.5, every=10)([0, 9, 10, 25])
        array([0.1  , 0.1  , 0.05 , 0.025])
        >>> step_decay(init=0.1, drop=0.5, every=10, offset=1)([0, 8, 9])
        array([0.1 , 0.1 , 0.05])
    """

    init: float
    drop: float
    every: float
    offset: float = 0

    def __post_init__(self) -> None:
        setp(self, "init", real("step_decay", "init", self.init))
        setp(self, "drop", real("step_decay", "drop", self.drop, lo=0.0))
        setp(self, "every", steps("step_decay", "every", self.every))
        setp(self, "offset", steps("step_decay", "offset", self.offset, positive=False))

    def _eval(self, t: Array, ops: Ops) -> Array:
        t = t + self.offset if self.offset else t
        return self.init * self.drop ** ops.floordiv(t, self.every)

    def decays_from(self) -> float | None:
        return 0.0 if self.drop <= 1 else None


_SWITCH = ("at", "after")


def _passed(t: Array, boundary: float, switch: str) -> Array:
    return t >= boundary if switch == "at" else t > boundary


def _check_boundaries(owner: str, name: str, values: object) -> tuple[float, ...]:
    if not isinstance(values, (tuple, list)):
        raise ValueError(f"{owner}: {name} must be a list of steps, got {values!r}")
    out = tuple(steps(owner, f"{name}[{i}]", v, positive=False) for i, v in enumerate(values))
    if any(b < a for a, b in itertools.pairwise(out)):
        raise ValueError(f"{owner}: {name} must be non-decreasing, got {list(values)!r}")
    return out


@register("multistep")
@dataclass(frozen=True, repr=False)
class MultiStep(Schedule):
    """Multiply by ``factor`` at each milestone: ``lr(t) = init * factor ** n(t)``.

    ``n(t)`` counts the milestones passed. ``switch="at"`` (torch ``MultiStepLR``, Optax
    ``piecewise_constant_schedule``): milestone ``m`` counts from ``t = m`` on. ``switch="after"``
    (Keras ``PiecewiseConstantDecay``): only from ``t = m + 1``. A milestone listed twice
    multiplies twice, as in torch.

    Example:
        >>> from lrlab.schedules import multistep
        >>> multistep(init=1.0, milestones=[2, 4], factor=0.1)([1, 2, 4])
        array([1.  , 0.1 , 0.01])
        >>> multistep(init=1.0, milestones=[2, 4], factor=0.1, switch="after")([2, 3])
        array([1. , 0.1])
    """

    init: float
    milestones: tuple[float, ...]
    factor: float = 0.1
    switch: str = "at"

    def __post_init__(self) -> None:
        setp(self, "init", real("multistep", "init", self.init))
        setp(self, "milestones", _check_boundaries("multistep", "milestones", self.milestones))
        setp(self, "factor", real("multistep", "factor", self.factor, lo=0.0))
        setp(self, "switch", choice("multistep", "switch", self.switch, _SWITCH))

    def _eval(self, t: Array, ops: Ops) -> Array:
        out = ops.full_like(t, self.init)
        for i, m in enumerate(self.milestones, start=1):
            out = ops.where(_passed(t, m, self.switch), self.init * self.factor**i, out)
        return out

    def decays_from(self) -> float | None:
        return 0.0 if self.factor <= 1 else None


@register("piecewise_constant")
@dataclass(frozen=True, repr=False)
class PiecewiseConstant(Schedule):
    """``values[i]`` once ``i`` boundaries are passed (``len(values) == len(boundaries) + 1``).

    ``switch="at"``: boundary ``b`` is passed from ``t = b`` on (torch, Optax).
    ``switch="after"``: from ``t = b + 1`` on, Keras ``PiecewiseConstantDecay``
    (``values[0]`` for ``t <= boundaries[0]``).

    Example:
        >>> from lrlab.schedules import piecewise_constant
        >>> s = piecewise_constant(boundaries=[10, 20], values=[0.1, 0.01, 0.001], switch="after")
        >>> s([10, 11, 21])
        array([0.1  , 0.01 , 0.001])
    """

    boundaries: tuple[float, ...]
    values: tuple[float, ...]
    switch: str = "at"

    def __post_init__(self) -> None:
        owner = "piecewise_constant"
        setp(self, "boundaries", _check_boundaries(owner, "boundaries", self.boundaries))
        if not isinstance(self.values, (tuple, list)):
            raise ValueError(f"{owner}: values must be a list of numbers, got {self.values!r}")
        vals = tuple(real(owner, f"values[{i}]", v) for i, v in enumerate(self.values))
        if len(vals) != len(self.boundaries) + 1:
            raise ValueError(
                f"{owner}: values must have one more entry than boundaries "
                f"({len(self.boundaries)}), got {len(vals)}"
            )
        setp(self, "values", vals)
        setp(self, "switch", choice(owner, "switch", self.switch, _SWITCH))

    def _eval(self, t: Array, ops: Ops) -> Array:
        out = ops.full_like(t, self.values[0])
        for b, v in zip(self.boundaries, self.values[1:]):
            out = ops.where(_passed(t, b, self.switch), v, out)
        return out

    def decays_from(self) -> float | None:
        ok = all(b <= a for a, b in zip(self.values, self.values[1:]))
        return 0.0 if ok else None


@register("exponential")
@dataclass(frozen=True, repr=False)
class Exponential(Schedule):
    """Exponential decay: ``lr(t) = init * decay_rate ** (t / decay_steps)``.

    Keras ``ExponentialDecay`` and Optax ``exponential_decay``; torch ``ExponentialLR(gamma)`` is
    ``decay_steps=1``. ``staircase=True`` floors ``t / decay_steps``. ``end``, if given, bounds
    the rate as Optax's ``end_value`` does: a floor when ``decay_rate < 1``, a ceiling when
    ``decay_rate > 1``. The staircase floor is exact on every backend, as torch ``StepLR`` and
    Keras count; Optax's own staircase floors XLA's ``t * (1 / k)`` and can switch one step
    late (``decay_steps=41`` in float32).

    Example:
        >>> from lrlab.schedules import exponential
        >>> exponential(init=1.0, decay_rate=0.5, decay_steps=10)([0, 10, 15])
        array([1.        , 0.5       , 0.35355339])
        >>> exponential(init=1.0, decay_rate=0.5, decay_steps=1, end=0.2)([0, 1, 2, 3])
        array([1. , 0.5 , 0.25, 0.2 ])
    """

    init: float
    decay_rate: float
    decay_steps: float = 1
    staircase: bool = False
    end: float | None = None

    def __post_init__(self) -> None:
        owner = "exponential"
        setp(self, "init", real(owner, "init", self.init))
        setp(self, "decay_rate", real(owner, "decay_rate", self.decay_rate, lo=0.0, lo_open=True))
        setp(self, "decay_steps", steps(owner, "decay_steps", self.decay_steps))
        setp(self, "staircase", flag(owner, "staircase", self.staircase))
        if self.end is not None:
            setp(self, "end", real(owner, "end", self.end))

    def _eval(self, t: Array, ops: Ops) -> Array:
        p = ops.floordiv(t, self.decay_steps) if self.staircase else t / self.decay_steps
        if self.end is not None and self.init > 0 and self.end > 0 and self.decay_rate != 1:
            # stop the exponent where the bound is reached, so decay_rate ** p never overflows
            p = ops.minimum(p, math.log(self.end / self.init) / math.log(self.decay_rate))
        lr = self.init * self.decay_rate**p
        if self.end is not None:
            lr = ops.maximum(lr, self.end) if self.decay_rate < 1 else ops.minimum(lr, self.end)
        return lr

    def decays_from(self) -> float | None:
        return 0.0 if self.decay_rate <= 1 else None
