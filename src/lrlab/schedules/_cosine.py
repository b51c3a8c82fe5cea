"""Cosine, cosine with warm restarts (SGDR), cyclic (CLR), inverse square root and 1-sqrt."""

from __future__ import annotations

from dataclasses import dataclass

from ._array import Array, Ops
from ._base import Schedule, choice, real, register, setp, steps


def _floor_value(owner: str, init: float, alpha: float, end: float | None) -> float:
    if end is not None and alpha != 0.0:
        raise ValueError(f"{owner}: give alpha (a fraction of init) or end (a value), not both")
    return end if end is not None else alpha * init


@register("cosine")
@dataclass(frozen=True, repr=False)
class Cosine(Schedule):
    """Cosine decay from ``init`` to a floor over ``decay_steps``.

    ``lr(t) = floor + (init - floor) * c(t) ** exponent``,
    ``c(t) = (1 + cos(pi * min(t, T) / T)) / 2``, ``T = decay_steps``.

    The floor is ``alpha * init`` (Keras ``CosineDecay``, Optax ``cosine_decay_schedule``) or the
    absolute ``end`` (torch ``CosineAnnealingLR``'s ``eta_min``); ``end`` may exceed ``init``
    for a cosine ramp up. ``past_end="clamp"`` holds the floor after ``T`` (Keras, Optax);
    ``past_end="periodic"`` lets the cosine rise again (torch ``CosineAnnealingLR``, whose closed
    form uses ``t`` unclamped, so the rate climbs back to ``init`` at ``2T``).

    Example:
        >>> from lrlab.schedules import cosine
        >>> cosine(init=1.0, decay_steps=10, alpha=0.1)([0, 5, 10, 20])
        array([1.  , 0.55, 0.1 , 0.1 ])
        >>> cosine(init=1.0, decay_steps=10, past_end="periodic")([10, 20])
        array([0., 1.])
    """

    init: float
    decay_steps: float
    alpha: float = 0.0
    end: float | None = None
    exponent: float = 1.0
    past_end: str = "clamp"

    def __post_init__(self) -> None:
        setp(self, "init", real("cosine", "init", self.init))
        setp(self, "decay_steps", steps("cosine", "decay_steps", self.decay_steps))
        setp(self, "alpha", real("cosine", "alpha", self.alpha))
        if self.end is not None:
            setp(self, "end", real("cosine", "end", self.end))
        setp(self, "exponent", real("cosine", "exponent", self.exponent, lo=0.0, lo_open=True))
        setp(self, "past_end", choice("cosine", "past_end", self.past_end, ("clamp", "periodic")))
        _floor_value("cosine", self.init, self.alpha, self.end)

    @property
    def floor(self) -> float:
        """The value reached at ``decay_steps``."""
        return _floor_value("cosine", self.init, self.alpha, self.end)

    def _eval(self, t: Array, ops: Ops) -> Array:
        T = self.decay_steps
        x = t if self.past_end == "periodic" else ops.minimum(t, T)
        lo = self.floor
        if self.exponent == 1.0:
            # the same formula with its constants folded (6 array ops instead of 8); at x = T
            # cos rounds to exactly -1, so the floor is still reached exactly
            return lo + (0.5 * (self.init - lo)) * (1.0 + ops.cos(x * (ops.pi / T)))
        c = (0.5 * (1.0 + ops.cos(ops.pi * x / T))) ** self.exponent
        return lo + (self.init - lo) * c

    def decays_from(self) -> float | None:
        if self.past_end == "periodic":
            return None
        return 0.0 if self.floor <= self.init else None


@register("cosine_restarts")
@dataclass(frozen=True, repr=False)
class CosineRestarts(Schedule):
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017).

    Period ``i`` lasts ``T_i = first_period * t_mul ** i`` steps and starts at
    ``S_i = first_period * (t_mul ** i - 1) / (t_mul - 1)`` (``i * first_period`` when
    ``t_mul == 1``). Within it, with ``x = (t - S_i) / T_i``:

    ``lr(t) = floor + (init - floor) * m_mul ** i * (1 + cos(pi * x)) / 2``.

    This is Keras ``CosineDecayRestarts`` (``floor = alpha * init``, which ``m_mul`` does not
    scale) and torch ``CosineAnnealingWarmRestarts(T_0, T_mult, eta_min)`` (``end = eta_min``,
    ``m_mul = 1``).

    Exactness: with ``t_mul == 1`` the period index is ``floor(t / first_period)`` by the exact
    helper ``Ops.floordiv``, so restarts land on their steps on every backend (also where XLA
    divides as ``t * (1 / k)``). With ``t_mul != 1`` the index comes from
    ``log(1 + t / T0 * (t_mul - 1)) / log(t_mul)`` and is then moved by one where the products
    ``t * (t_mul - 1)`` and ``T0 * (t_mul ** i - 1)`` say it is off (no division): exact when
    ``first_period`` and ``t_mul`` are integers or dyadic (``1.5``) and ``t_mul ** i`` is exact
    in the dtype, else as exact as the backend's ``log`` and ``pow`` (torch counts restarts with
    integers; Keras' float32 ``log`` may put one on either side).

    Example:
        >>> from lrlab.schedules import cosine_restarts
        >>> s = cosine_restarts(init=1.0, first_period=10, t_mul=2.0)
        >>> s([0, 5, 10, 20, 30])
        array([1. , 0.5, 1. , 0.5, 1. ])
    """

    init: float
    first_period: float
    t_mul: float = 1.0
    m_mul: float = 1.0
    alpha: float = 0.0
    end: float | None = None

    def __post_init__(self) -> None:
        owner = "cosine_restarts"
        setp(self, "init", real(owner, "init", self.init))
        setp(self, "first_period", steps(owner, "first_period", self.first_period))
        setp(self, "t_mul", real(owner, "t_mul", self.t_mul, lo=1.0))
        setp(self, "m_mul", real(owner, "m_mul", self.m_mul, lo=0.0))
        setp(self, "alpha", real(owner, "alpha", self.alpha))
        if self.end is not None:
            setp(self, "end", real(owner, "end", self.end))
        _floor_value(owner, self.init, self.alpha, self.end)

    def _eval(self, t: Array, ops: Ops) -> Array:
        T0, q = self.first_period, self.t_mul
        if q == 1.0:
            i = ops.floordiv(t, T0)
            start, length = i * T0, ops.full_like(t, T0)
        else:
            i = ops.floor(ops.log(1.0 + t / T0 * (q - 1.0)) / ops.log(q))
            # move i by one where log rounded across a restart: t >= S_i is tested as
            # t * (q - 1) >= T0 * (q**i - 1), products without a division (see the docstring)
            tq = t * (q - 1.0)
            for _ in range(2):
                qi = q**i
                i = ops.where(
                    tq < T0 * (qi - 1.0), i - 1.0, ops.where(tq >= T0 * (qi * q - 1.0), i + 1.0, i)
                )
            qi = q**i
            start, length = T0 * (qi - 1.0) / (q - 1.0), T0 * qi
        x = ops.minimum(ops.maximum((t - start) / length, 0.0), 1.0)
        lo = _floor_value("cosine_restarts", self.init, self.alpha, self.end)
        amp = self.m_mul**i if self.m_mul != 1.0 else 1.0
        return lo + (self.init - lo) * amp * 0.5 * (1.0 + ops.cos(ops.pi * x))


@register("cyclic")
@dataclass(frozen=True, repr=False)
class Cyclic(Schedule):
    """Cyclical learning rate (Smith 2017), as torch ``CyclicLR``.

    With ``L = step_size_up + step_size_down`` and ``r = step_size_up / L``:
    ``cycle = floor(1 + t / L)``, ``x = 1 + t / L - cycle``,
    ``h = x / r`` if ``x <= r`` else ``(x - 1) / (r - 1)``,
    ``lr(t) = base + (peak - base) * h * g``, where ``g`` is 1 (``"triangular"``),
    ``1 / 2 ** (cycle - 1)`` (``"triangular2"``) or ``gamma ** t`` (``"exp_range"``).
    ``step_size_down`` defaults to ``step_size_up``.

    Example:
        >>> from lrlab.schedules import cyclic
        >>> cyclic(base=0.1, peak=1.0, step_size_up=2)([0, 1, 2, 3, 4])
        array([0.1 , 0.55, 1.  , 0.55, 0.1 ])
    """

    base: float
    peak: float
    step_size_up: float
    step_size_down: float | None = None
    mode: str = "triangular"
    gamma: float = 1.0

    def __post_init__(self) -> None:
        owner = "cyclic"
        setp(self, "base", real(owner, "base", self.base))
        setp(self, "peak", real(owner, "peak", self.peak))
        setp(self, "step_size_up", steps(owner, "step_size_up", self.step_size_up))
        if self.step_size_down is not None:
            setp(self, "step_size_down", steps(owner, "step_size_down", self.step_size_down))
        modes = ("triangular", "triangular2", "exp_range")
        setp(self, "mode", choice(owner, "mode", self.mode, modes))
        setp(self, "gamma", real(owner, "gamma", self.gamma, lo=0.0, lo_open=True))

    def _eval(self, t: Array, ops: Ops) -> Array:
        up = float(self.step_size_up)
        down = float(self.step_size_down if self.step_size_down is not None else up)
        total = up + down
        ratio = up / total
        done = ops.floordiv(t, total)  # whole cycles before t; cycle = done + 1
        x = (t - done * total) / total  # = 1 + t / total - cycle, exact at cycle starts
        cycle = done + 1.0
        h = ops.where(x <= ratio, x / ratio, (x - 1.0) / (ratio - 1.0))
        height = (self.peak - self.base) * h
        if self.mode == "triangular2":
            height = height * 0.5 ** (cycle - 1.0)  # = / 2 ** (cycle - 1), without overflow
        elif self.mode == "exp_range":
            height = height * self.gamma**t
        return self.base + height


@register("inverse_sqrt")
@dataclass(frozen=True, repr=False)
class InverseSqrt(Schedule):
    """Linear warmup to ``peak``, then decay with the inverse square root of the step.

    With ``s = t + offset`` and ``w = warmup_steps``:
    ``lr(t) = peak * min(s / w, sqrt(w / s))`` (0 at ``s = 0``), the Transformer ("Noam")
    schedule; :func:`~lrlab.schedules.noam` gives it in the paper's parameters.
    ``offset=1`` counts steps from 1 as the paper and its reference code do.

    Example:
        >>> from lrlab.schedules import inverse_sqrt
        >>> inverse_sqrt(peak=1.0, warmup_steps=4)([0, 2, 4, 16])
        array([0. , 0.5, 1. , 0.5])
    """

    peak: float
    warmup_steps: float
    offset: float = 0

    def __post_init__(self) -> None:
        setp(self, "peak", real("inverse_sqrt", "peak", self.peak))
        setp(self, "warmup_steps", steps("inverse_sqrt", "warmup_steps", self.warmup_steps))
        setp(self, "offset", steps("inverse_sqrt", "offset", self.offset, positive=False))

    def _eval(self, t: Array, ops: Ops) -> Array:
        w = self.warmup_steps
        s = t + self.offset
        return self.peak * ops.where(s < w, s / w, ops.sqrt(w / ops.maximum(s, w)))

    def decays_from(self) -> float | None:
        return max(self.warmup_steps - self.offset, 0.0)


@register("one_minus_sqrt")
@dataclass(frozen=True, repr=False)
class OneMinusSqrt(Schedule):
    """The "1-sqrt" cooldown of warmup-stable-decay schedules (Hägele et al. 2024).

    ``lr(t) = end + (init - end) * (1 - sqrt(min(t, T) / T))``, ``T = decay_steps``.

    Example:
        >>> from lrlab.schedules import one_minus_sqrt
        >>> one_minus_sqrt(init=1.0, decay_steps=100)([0, 25, 100])
        array([1. , 0.5, 0. ])
    """

    init: float
    decay_steps: float
    end: float = 0.0

    def __post_init__(self) -> None:
        setp(self, "init", real("one_minus_sqrt", "init", self.init))
        setp(self, "decay_steps", steps("one_minus_sqrt", "decay_steps", self.decay_steps))
        setp(self, "end", real("one_minus_sqrt", "end", self.end))

    def _eval(self, t: Array, ops: Ops) -> Array:
        frac = ops.minimum(t / self.decay_steps, 1.0)  # clamped after dividing (see Polynomial)
        return self.end + (self.init - self.end) * (1.0 - ops.sqrt(frac))

    def decays_from(self) -> float | None:
        return 0.0 if self.end <= self.init else None
