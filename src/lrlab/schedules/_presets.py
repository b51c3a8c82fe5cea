"""Presets built by composition: one-cycle (torch, Optax, fastai), WSD, warmup-cosine, Noam."""

from __future__ import annotations

from ._base import Schedule, choice, real, steps
from ._compose import Join, Warmup
from ._cosine import Cosine, InverseSqrt, OneMinusSqrt
from ._families import Constant, Linear

_CONVENTIONS = ("torch", "optax", "fastai")


def _anneal(kind: str, start: float, end: float, length: float) -> Schedule:
    if kind == "cos":
        return Cosine(init=start, decay_steps=length, end=end)
    return Linear(init=start, end=end, steps=length)


def _cycle(
    values: tuple[float, ...],
    total_steps: float,
    pct_start: float,
    anneal: str,
    three_phase: bool,
    convention: str,
) -> Schedule:
    """Join the anneals between ``values`` at the one-cycle phase boundaries of ``convention``."""
    T = total_steps
    if convention == "torch":  # phases end at float(pct * T) - 1, (2 pct T) - 2 and T - 1
        ends = (
            [pct_start * T - 1, 2 * pct_start * T - 2, T - 1]
            if three_phase
            else [pct_start * T - 1, T - 1]
        )
    elif convention == "optax":  # boundaries int(pct * T) and T
        ends = [int(pct_start * T), T]
    else:  # fastai: pct * T and T on the fraction of training done
        ends = [pct_start * T, T]
    starts = [0.0, *ends[:-1]]
    if any(e <= s for s, e in zip(starts, ends)):
        raise ValueError(
            f"one_cycle: total_steps={total_steps!r} with pct_start={pct_start!r} leaves an empty "
            "phase; use more steps or another pct_start"
        )
    pieces = [
        _anneal(anneal, values[i], values[i + 1], e - s)
        for i, (s, e) in enumerate(zip(starts, ends))
    ]
    return Join(tuple(pieces), tuple(ends[:-1]))


def _check_cycle(
    total_steps: float, pct_start: float, anneal: str, three_phase: bool, convention: str
) -> float:
    choice("one_cycle", "anneal", anneal, ("cos", "linear"))
    choice("one_cycle", "convention", convention, _CONVENTIONS)
    real("one_cycle", "pct_start", pct_start, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    if three_phase and convention != "torch":
        raise ValueError(
            f"one_cycle: three_phase=True exists only with convention='torch', "
            f"got convention={convention!r}"
        )
    return steps("one_cycle", "total_steps", total_steps)


def one_cycle(
    peak: float,
    total_steps: float,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal: str = "cos",
    three_phase: bool = False,
    convention: str = "torch",
) -> Schedule:
    """One-cycle (Smith & Topin 2018): up from ``peak / div_factor`` to ``peak``, then down.

    Phases, with ``T = total_steps``, ``p = pct_start``, ``init = peak / div_factor``:

    - ``convention="torch"`` (torch ``OneCycleLR``): ``init -> peak`` over steps ``[0, pT - 1]``,
      ``peak -> init / final_div_factor`` over ``[pT - 1, T - 1]``; with ``three_phase=True``:
      ``init -> peak`` to ``pT - 1``, ``peak -> init`` to ``2pT - 2``, ``init -> min`` to ``T - 1``.
    - ``convention="optax"`` (Optax ``cosine_onecycle_schedule``): boundaries ``int(pT)`` and
      ``T``; the minimum is ``peak / (div_factor * final_div_factor)``, as in torch.
    - ``convention="fastai"`` (fastai ``fit_one_cycle``): boundaries ``pT`` and ``T``; the final
      value is ``peak / final_div_factor`` (fastai's ``div_final`` divides ``lr_max``). See
      :func:`one_cycle_fastai` for fastai's defaults.

    ``anneal`` is ``"cos"`` (``end + (start - end) * (1 + cos(pi x)) / 2``) or ``"linear"``.
    Past the last phase the rate stays at its final value.

    Example:
        >>> from lrlab.schedules import one_cycle
        >>> s = one_cycle(peak=1.0, total_steps=11, pct_start=0.5)
        >>> round(float(s(0)), 6), round(float(s(4.5)), 6), float(s(10))
        (0.04, 1.0, 4e-06)
    """
    T = _check_cycle(total_steps, pct_start, anneal, three_phase, convention)
    peak = real("one_cycle", "peak", peak)
    init = peak / real("one_cycle", "div_factor", div_factor, lo=0.0, lo_open=True)
    fdiv = real("one_cycle", "final_div_factor", final_div_factor, lo=0.0, lo_open=True)
    final = peak / fdiv if convention == "fastai" else init / fdiv
    values = (init, peak, init, final) if three_phase else (init, peak, final)
    return _cycle(values, T, pct_start, anneal, three_phase, convention)


def one_cycle_momentum(
    total_steps: float,
    pct_start: float = 0.3,
    base: float = 0.85,
    high: float = 0.95,
    anneal: str = "cos",
    three_phase: bool = False,
    convention: str = "torch",
) -> Schedule:
    """The momentum (or Adam beta1) co-schedule of :func:`one_cycle`: ``high -> base -> high``.

    Same phases as :func:`one_cycle` with the same arguments; torch ``OneCycleLR``'s
    ``base_momentum=0.85, max_momentum=0.95`` by default (fastai: 0.85 and 0.95 too). With
    ``three_phase=True`` (torch) it stays at ``high`` in the third phase.

    Example:
        >>> from lrlab.schedules import one_cycle_momentum
        >>> m = one_cycle_momentum(total_steps=11, pct_start=0.5)
        >>> round(float(m(0)), 6), round(float(m(4.5)), 6), round(float(m(10)), 6)
        (0.95, 0.85, 0.95)
    """
    T = _check_cycle(total_steps, pct_start, anneal, three_phase, convention)
    base = real("one_cycle_momentum", "base", base)
    high = real("one_cycle_momentum", "high", high)
    values = (high, base, high, high) if three_phase else (high, base, high)
    return _cycle(values, T, pct_start, anneal, three_phase, convention)


def one_cycle_fastai(lr_max: float, total_steps: float) -> Schedule:
    """fastai's ``fit_one_cycle`` learning rates: ``div=25``, ``div_final=1e5``, ``pct_start=0.25``.

    Its momentum schedule is ``one_cycle_momentum(total_steps, 0.25, convention="fastai")``.

    Example:
        >>> from lrlab.schedules import one_cycle_fastai
        >>> float(one_cycle_fastai(1.0, 100)(25))
        1.0
    """
    real("one_cycle_fastai", "lr_max", lr_max)
    steps("one_cycle_fastai", "total_steps", total_steps)
    return one_cycle(lr_max, total_steps, 0.25, 25.0, 1e5, convention="fastai")


def warmup_cosine(
    peak: float,
    warmup_steps: float,
    total_steps: float,
    start: float = 0.0,
    end: float = 0.0,
    exponent: float = 1.0,
) -> Schedule:
    """Linear warmup from ``start`` to ``peak``, then cosine decay to ``end`` at ``total_steps``.

    ``total_steps`` **includes** the warmup, as in Optax ``warmup_cosine_decay_schedule``
    (its ``decay_steps``) and Hugging Face ``get_cosine_schedule_with_warmup``
    (``num_training_steps``): the cosine lasts ``total_steps - warmup_steps``. ``exponent``
    raises the cosine factor to a power, as Optax's ``exponent`` does. ``warmup_steps=0`` is
    the plain cosine (Optax allows it too).

    Example:
        >>> from lrlab.schedules import warmup_cosine
        >>> warmup_cosine(peak=1.0, warmup_steps=10, total_steps=110)([0, 5, 10, 60, 110])
        array([0. , 0.5, 1. , 0.5, 0. ])
    """
    owner = "warmup_cosine"
    peak, start, end = (
        real(owner, n, v) for n, v in (("peak", peak), ("start", start), ("end", end))
    )
    w = steps(owner, "warmup_steps", warmup_steps, positive=False)
    T = steps(owner, "total_steps", total_steps)
    if w >= T:
        raise ValueError(f"warmup_cosine: total_steps must exceed warmup_steps ({w!r}), got {T!r}")
    body = Cosine(init=peak, decay_steps=T - w, end=end, exponent=exponent)
    return Warmup(body, steps=w, start=start) if w > 0 else body


def wsd(
    peak: float,
    total_steps: float,
    warmup_steps: float,
    decay_steps: float,
    decay: str = "linear",
    start: float = 0.0,
    end: float = 0.0,
) -> Schedule:
    """Warmup-stable-decay: linear warmup, a constant ``peak``, then a cooldown to ``end``.

    The cooldown takes the last ``decay_steps`` of ``total_steps`` and is ``"linear"``,
    ``"cosine"`` or ``"1-sqrt"`` (Hägele et al. 2024, ``1 - sqrt(x)``).

    Example:
        >>> from lrlab.schedules import wsd
        >>> wsd(peak=1.0, total_steps=100, warmup_steps=10, decay_steps=20)([5, 50, 90, 100])
        array([0.5, 1. , 0.5, 0. ])
    """
    owner = "wsd"
    peak, start, end = (
        real(owner, n, v) for n, v in (("peak", peak), ("start", start), ("end", end))
    )
    T = steps(owner, "total_steps", total_steps)
    w = steps(owner, "warmup_steps", warmup_steps, positive=False)
    d = steps(owner, "decay_steps", decay_steps)
    choice(owner, "decay", decay, ("linear", "cosine", "1-sqrt"))
    stable = T - w - d
    if stable < 0:
        raise ValueError(
            f"wsd: warmup_steps + decay_steps must not exceed total_steps ({T!r}), "
            f"got {w!r} + {d!r}"
        )
    tail = {
        "linear": Linear(init=peak, end=end, steps=d),
        "cosine": Cosine(init=peak, decay_steps=d, end=end),
        "1-sqrt": OneMinusSqrt(init=peak, decay_steps=d, end=end),
    }[decay]
    body = Join((Constant(peak), tail), (stable,)) if stable > 0 else tail
    return Warmup(body, steps=w, start=start) if w > 0 else body


def noam(d_model: int, warmup_steps: float, factor: float = 1.0) -> InverseSqrt:
    """The Transformer schedule: ``factor * d_model**-0.5 * min(s**-0.5, s * warmup**-1.5)``.

    ``s = t + 1``: steps are counted from 1 as in "Attention Is All You Need" (Vaswani et al.
    2017); this is :class:`InverseSqrt` with ``peak = factor * (d_model * warmup) ** -0.5``.

    Example:
        >>> from lrlab.schedules import noam
        >>> s = noam(d_model=512, warmup_steps=4000)
        >>> round(float(s(3999)) * 1e4, 4)
        6.9877
    """
    d = real("noam", "d_model", d_model, lo=0.0, lo_open=True)
    w = steps("noam", "warmup_steps", warmup_steps)
    f = real("noam", "factor", factor, lo=0.0, lo_open=True)
    return InverseSqrt(peak=f * (d * w) ** -0.5, warmup_steps=w, offset=1)
