"""Reduce-on-plateau as immutable state plus a pure, vectorised update.

The plateau controller does not own a learning rate: it owns a **multiplier** ``scale`` (1 at the
start) that composes with any schedule, ``effective_lr = schedule(step) * scale``. One code path
(``np.where``) serves a single run (Python scalars) and a population of ``C`` members (arrays of
shape ``[C]``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from .._checks import either, integer, number_in
from ._common import (
    Field,
    StateBase,
    check_n,
    dump_state,
    field,
    finish,
    load_state,
    state_shape,
    values,
)

__all__ = ["Plateau", "PlateauState"]

_OWNER = "Plateau"


@dataclasses.dataclass(frozen=True, eq=False)
class PlateauState(StateBase):
    """State of a :class:`Plateau` controller: Python scalars for one run, ``[C]`` arrays for C.

    Never mutate a state in place; :meth:`Plateau.update` returns a new one.

    Attributes:
        best: Best metric seen so far (``inf`` in ``"min"`` mode / ``-inf`` in ``"max"`` mode
            before the first improvement; torch's ``best``, Keras' ``best``).
        num_bad: Bad epochs counted toward ``patience`` (torch ``num_bad_epochs``, Keras
            ``wait``).
        cooldown_counter: Updates left in the cooldown after a reduction.
        scale: The learning-rate multiplier, 1.0 at the start.
        num_reductions: How many times ``scale`` was reduced.
        epoch: How many updates this state has seen.
        last_reduced: Whether the most recent update reduced ``scale``.
    """

    best: Field
    num_bad: Field
    cooldown_counter: Field
    scale: Field
    num_reductions: Field
    epoch: Field
    last_reduced: Field


_DTYPES: dict[str, type] = {
    "best": np.float64,
    "num_bad": np.int64,
    "cooldown_counter": np.int64,
    "scale": np.float64,
    "num_reductions": np.int64,
    "epoch": np.int64,
    "last_reduced": np.bool_,
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Plateau:
    """Reduce the learning rate when a metric stops improving (ReduceLROnPlateau), as a multiplier.

    ``state = plateau.init()`` (or ``init(C)`` for a population), then once per epoch
    ``state = plateau.update(state, metric, lr)``; train with ``lr * state.scale``.

    Improvement test (``a`` is the metric, ``best`` the best so far, ``t`` the ``threshold``):

    * ``threshold_mode="rel"``: ``a < best * (1 - t)`` (min) / ``a > best * (1 + t)`` (max);
    * ``threshold_mode="abs"``: ``a < best - t`` (min) / ``a > best + t`` (max).

    A reduction sets ``old_lr = lr * scale``, ``new_lr = max(old_lr * factor, min_lr,
    min_scale * lr)`` and ``scale = new_lr / lr`` (``lr=None`` counts as ``lr = 1``, so the rule
    acts on the multiplier itself; the keras convention rounds the rates to float32, below).
    The two conventions order the counters as their frameworks do, and were read from (and are
    tested against) these sources:

    * ``convention="torch"`` — ``torch/optim/lr_scheduler.py``, ``ReduceLROnPlateau.step`` and
      ``_reduce_lr`` (torch 2.13): if improved, ``best = a, num_bad = 0``, else
      ``num_bad += 1``; then if in cooldown, ``cooldown_counter -= 1, num_bad = 0``; then if
      ``num_bad > patience`` (strictly: ``patience + 1`` bad epochs), reduce — applied only if
      ``old_lr - new_lr > eps`` — and, reduced or not, ``cooldown_counter = cooldown,
      num_bad = 0``. The comparison runs in float64 and ``best`` starts at ``±inf``, as in torch.
    * ``convention="keras"`` — ``keras/src/callbacks/reduce_lr_on_plateau.py``,
      ``ReduceLROnPlateau.on_epoch_end`` and ``_reduce_optimizer_lr``, with
      ``monitor_callback.py`` ``_is_improvement`` (Keras 3.15): if in cooldown,
      ``cooldown_counter -= 1, wait = 0``; if improved (the first metric always is), ``best = a,
      wait = 0``; elif no longer in cooldown, ``wait += 1`` and if ``wait >= patience`` and
      ``old_lr > min_lr`` (and ``scale > min_scale``), reduce and set ``cooldown_counter =
      cooldown, wait = 0``. When the floor is reached nothing is reset, so ``wait`` keeps
      growing, exactly as in Keras. Keras knows only an absolute ``min_delta`` (here
      ``threshold`` with ``threshold_mode="abs"``); ``eps`` is unused. Keras' float32
      arithmetic (default ``floatx``) is mirrored at the three places where it decides
      something: the improvement test compares ``float32(a - min_delta)`` with
      ``float32(best)`` (``ops.less`` / ``ops.greater`` convert Python floats to ``floatx``);
      the rate is the value of the optimizer's float32 ``learning_rate`` variable, so
      ``old_lr = float32(lr * scale)`` and the floor test is ``old_lr > float32(min_lr)``; and
      a reduction stores ``float32(max(old_lr * factor, min_lr))`` (the product and the ``max``
      in float64, as Keras computes them in Python, then rounded to nearest by the variable's
      ``assign``), with ``scale = that / lr``. So ``float32(lr * scale)`` is, bit for bit, the
      rate Keras holds, and a rate such as ``float32(1e-3) * 0.1``, one float32 step above
      ``float32(1e-4)``, makes the extra near no-op reduction (a counter reset and a cooldown)
      that Keras makes with ``min_lr=1e-4``. ``best`` is kept in float64, as Keras keeps the
      Python float it was given.

    A NaN metric is never an improvement: it counts as a bad epoch in both conventions. (Keras
    itself would adopt a NaN first metric as its ``best``; lrlab does not.) ``min_scale`` is
    lrlab's own floor, which neither framework has; when it binds, ``scale = min_scale``.

    Args:
        mode: ``"min"`` (a loss) or ``"max"`` (an accuracy).
        factor: Multiplier applied at each reduction, in ``(0, 1)``.
        patience: Bad epochs tolerated. torch reduces after ``patience + 1`` bad epochs
            (``num_bad > patience``); Keras after ``patience`` (``wait >= patience``).
        threshold: Minimal improvement that counts, ``>= 0`` (``< 1`` when relative). Keras
            calls it ``min_delta``.
        threshold_mode: ``"rel"`` or ``"abs"``; ``None`` picks the convention's own: ``"rel"``
            for torch, ``"abs"`` for Keras (which has no relative mode, so ``"rel"`` with
            ``convention="keras"`` is rejected).
        cooldown: Updates after a reduction during which bad epochs are not counted.
        min_lr: Floor on the effective learning rate ``lr * scale``, in learning-rate units;
            when it is positive, :meth:`update` needs ``lr``.
        min_scale: Floor on the multiplier itself, in ``[0, 1)``.
        eps: torch only: a reduction smaller than ``eps`` (in learning-rate units) is skipped.
        convention: ``"torch"`` or ``"keras"``: which framework's state machine to reproduce.

    Returns:
        A frozen controller; its :meth:`init` and :meth:`update` produce :class:`PlateauState`.

    Example:
        >>> plateau = Plateau(factor=0.5, patience=1)
        >>> state = plateau.init()
        >>> for loss in [1.0, 0.9, 0.9, 0.9, 0.9]:
        ...     state = plateau.update(state, loss)
        >>> state.scale, state.num_reductions
        (0.5, 1)
        >>> plateau.lr(state, 0.1)
        0.05
    """

    mode: Literal["min", "max"] = "min"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: Literal["rel", "abs"] | None = None
    cooldown: int = 0
    min_lr: float = 0.0
    min_scale: float = 0.0
    eps: float = 1e-8
    convention: Literal["torch", "keras"] = "torch"

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        convention = either(_OWNER, "convention", self.convention, ("torch", "keras"))
        either(_OWNER, "mode", self.mode, ("min", "max"))
        threshold_mode = self.threshold_mode
        if threshold_mode is None:
            threshold_mode = "rel" if convention == "torch" else "abs"
        either(_OWNER, "threshold_mode", threshold_mode, ("rel", "abs"))
        if convention == "keras" and threshold_mode == "rel":
            raise ValueError(
                "Plateau: threshold_mode must be 'abs' with convention='keras' (Keras has only "
                "an absolute min_delta), got 'rel'"
            )
        put("threshold_mode", threshold_mode)
        put(
            "factor",
            number_in(_OWNER, "factor", self.factor, lo=0, hi=1, lo_open=True, hi_open=True),
        )
        put("patience", integer(_OWNER, "patience", self.patience, lo=0))
        threshold = number_in(_OWNER, "threshold", self.threshold, lo=0)
        if threshold_mode == "rel" and threshold >= 1:
            raise ValueError(
                f"Plateau: threshold must be in [0, 1) with threshold_mode='rel', "
                f"got {self.threshold!r}"
            )
        put("threshold", threshold)
        put("cooldown", integer(_OWNER, "cooldown", self.cooldown, lo=0))
        put("min_lr", number_in(_OWNER, "min_lr", self.min_lr, lo=0))
        put(
            "min_scale",
            number_in(_OWNER, "min_scale", self.min_scale, lo=0, hi=1, hi_open=True),
        )
        put("eps", number_in(_OWNER, "eps", self.eps, lo=0))

    # -- state machine ------------------------------------------------------------------------
    @property
    def _worst(self) -> float:
        return math.inf if self.mode == "min" else -math.inf

    def init(self, n: int | None = None) -> PlateauState:
        """Start a fresh state: ``scale = 1``, no best yet, all counters at zero.

        Args:
            n: ``None`` for one run (fields are Python scalars) or the population size ``C``
                (fields are NumPy arrays of shape ``[C]``, one entry per member).

        Returns:
            The initial :class:`PlateauState`.

        Example:
            >>> Plateau().init().scale
            1.0
            >>> Plateau().init(3).scale
            array([1., 1., 1.])
        """
        shape = check_n(f"{_OWNER}.init", n)

        def full(value: object, dtype: type) -> Field:
            return finish(np.full(shape, value, dtype=dtype))

        return PlateauState(
            best=full(self._worst, np.float64),
            num_bad=full(0, np.int64),
            cooldown_counter=full(0, np.int64),
            scale=full(1.0, np.float64),
            num_reductions=full(0, np.int64),
            epoch=full(0, np.int64),
            last_reduced=full(False, np.bool_),
        )

    def update(
        self, state: PlateauState, metric: ArrayLike, lr: ArrayLike | None = None
    ) -> PlateauState:
        """Feed one epoch's metric; return the next state (``state`` is left untouched).

        The rule is the convention's (see :class:`Plateau`), applied to every member at once.

        Args:
            state: The current state, from :meth:`init`, :meth:`update` or
                :meth:`load_state_dict`.
            metric: This epoch's metric: a number for one run; a number or an array ``[C]`` for
                a population. NaN is never an improvement.
            lr: The current un-scaled (base or scheduled) learning rate, a number or ``[C]``,
                ``>= 0``. Needed only for ``min_lr`` and for torch's ``eps`` rule, which act in
                learning-rate units; ``None`` means 1.

        Returns:
            The new :class:`PlateauState`.

        Example:
            >>> plateau = Plateau(patience=0, factor=0.5)
            >>> state = plateau.update(plateau.init(2), [1.0, 1.0])
            >>> plateau.update(state, [0.5, 2.0]).scale
            array([1. , 0.5])
        """
        owner = f"{_OWNER}.update"
        shape = state_shape(state)
        a = values(owner, "metric", metric, shape)
        if lr is None:
            if self.min_lr > 0:
                raise ValueError(
                    f"{owner}: lr is required when min_lr > 0 (min_lr={self.min_lr}), got None"
                )
            base = np.ones(shape)
        else:
            base = values(owner, "lr", lr, shape)
            if not np.all(np.isfinite(base) & (base >= 0)):
                raise ValueError(f"{owner}: lr must be finite and >= 0, got {lr!r}")

        with np.errstate(over="ignore"):  # a float32 overflow is inf, handled by the rule
            out = plateau_rule(
                self,
                np,
                best=field(state.best, np.float64),
                num_bad=field(state.num_bad, np.int64),
                cooldown_counter=field(state.cooldown_counter, np.int64),
                scale=field(state.scale, np.float64),
                first=field(state.epoch, np.int64) == 0,
                metric=a,
                lr=base,
            )
        reduced = out["reduced"]
        return PlateauState(
            best=finish(out["best"]),
            num_bad=finish(out["num_bad"]),
            cooldown_counter=finish(out["cooldown_counter"]),
            scale=finish(out["scale"]),
            num_reductions=finish(field(state.num_reductions, np.int64) + reduced),
            epoch=finish(field(state.epoch, np.int64) + 1),
            last_reduced=finish(np.asarray(reduced)),
        )

    # -- helpers --------------------------------------------------------------------------------
    def lr(self, state: PlateauState, base_lr: ArrayLike) -> Any:
        """The effective learning rate ``base_lr * state.scale``.

        Args:
            state: A :class:`PlateauState`.
            base_lr: The un-scaled learning rate: a number, or an array that broadcasts with
                ``state.scale`` (``[C]`` for a population).

        Returns:
            A float for one run with a numeric ``base_lr``, otherwise an array.

        Example:
            >>> Plateau().lr(Plateau().init(), 0.1)
            0.1
        """
        return finish(np.asarray(base_lr, dtype=np.float64) * field(state.scale, np.float64))

    def state_dict(self, state: PlateauState) -> dict[str, Any]:
        """Plain-Python dict of ``state`` (floats, ints, bools, lists): ``json.dumps`` takes it.

        ``best`` is ``None`` while no metric has improved yet (as Keras' ``best``); a
        population's fields become lists of length ``C``.

        Args:
            state: A :class:`PlateauState` of this controller.

        Returns:
            A dict with one key per :class:`PlateauState` field.

        Example:
            >>> Plateau().state_dict(Plateau().init())["best"] is None
            True
        """
        return dump_state(state, self._worst)

    def load_state_dict(self, data: Mapping[str, Any]) -> PlateauState:
        """Rebuild a state from :meth:`state_dict` output (also after a JSON round trip).

        Args:
            data: The dict; its keys must be exactly the :class:`PlateauState` fields, all
                numbers (one run) or all lists of one length (a population).

        Returns:
            The :class:`PlateauState`, equal to the one that was saved.

        Example:
            >>> plateau = Plateau(patience=0)
            >>> state = plateau.update(plateau.init(2), [1.0, 2.0])
            >>> plateau.load_state_dict(plateau.state_dict(state)) == state
            True
        """
        return load_state(f"{_OWNER}.load_state_dict", PlateauState, data, _DTYPES, self._worst)


# -- the rule, written once: NumPy (Plateau.update) and jax.numpy (lrlab.optax.plateau) ----------
def plateau_rule(
    plateau: Plateau,
    xp: Any,
    *,
    best: Any,
    num_bad: Any,
    cooldown_counter: Any,
    scale: Any,
    first: Any,
    metric: Any,
    lr: Any,
) -> dict[str, Any]:
    """One plateau update of the convention's state machine, in the array namespace ``xp``.

    :meth:`Plateau.update` calls it with ``xp = numpy`` and float64 arrays;
    :func:`lrlab.integrations.optax.plateau` with ``xp = jax.numpy`` inside ``jax.jit``. It uses
    only functions the two namespaces share (``where``, ``maximum``, ``isnan``, ``isfinite``,
    ``asarray``), so both run the same rule in the dtype of the arrays they pass.

    Args:
        plateau: The controller whose settings apply.
        xp: ``numpy`` or ``jax.numpy``.
        best: Best metric so far (``±inf`` before the first improvement).
        num_bad: Bad epochs counted so far (integer array).
        cooldown_counter: Updates left in the cooldown (integer array).
        scale: The current multiplier.
        first: Whether this is the first update (Keras adopts any first metric).
        metric: This update's metric.
        lr: The un-scaled learning rate (1 when the rule acts on the multiplier).

    Returns:
        The new ``best``, ``num_bad``, ``cooldown_counter`` and ``scale``, and ``reduced``
        (whether ``scale`` was reduced), as arrays of ``xp``.

    Example:
        >>> import numpy as np
        >>> out = plateau_rule(Plateau(patience=0), np, best=np.array(1.0), num_bad=np.array(0),
        ...     cooldown_counter=np.array(0), scale=np.array(1.0), first=np.array(False),
        ...     metric=np.array(2.0), lr=np.array(1.0))
        >>> float(out["scale"]), bool(out["reduced"])
        (0.1, True)
    """
    improved = _improved(plateau, xp, metric, best, first)
    new_scale, can_reduce = _reduced_scale(plateau, xp, scale, lr)
    cooldown = cooldown_counter
    in_cooldown = cooldown > 0
    if plateau.convention == "torch":  # ReduceLROnPlateau.step
        num_bad = xp.where(improved, 0, num_bad + 1)
        cooldown = xp.where(in_cooldown, cooldown - 1, cooldown)
        num_bad = xp.where(in_cooldown, 0, num_bad)
        trigger = num_bad > plateau.patience
        reduced = trigger & can_reduce
        reset = trigger  # torch resets counters whether or not the lr moved
    else:  # ReduceLROnPlateau.on_epoch_end
        cooldown = xp.where(in_cooldown, cooldown - 1, cooldown)
        num_bad = xp.where(in_cooldown, 0, num_bad)
        counting = ~improved & (cooldown <= 0)
        num_bad = xp.where(improved, 0, xp.where(counting, num_bad + 1, num_bad))
        trigger = counting & (num_bad >= plateau.patience)
        reduced = trigger & can_reduce
        reset = reduced  # Keras resets only when the lr actually moved
    return {
        "best": xp.where(improved, metric, best),
        "num_bad": xp.where(reset, 0, num_bad),
        "cooldown_counter": xp.where(reset, plateau.cooldown, cooldown),
        "scale": xp.where(reduced, new_scale, scale),
        "reduced": reduced,
    }


def _improved(plateau: Plateau, xp: Any, a: Any, best: Any, first: Any) -> Any:
    """The convention's improvement test of metric ``a`` against ``best``; NaN never wins.

    ``first`` marks the first update, where Keras (``best is None``) takes any metric.
    """
    t = plateau.threshold
    if plateau.convention == "torch":  # ReduceLROnPlateau._is_better, in the arrays' float
        if plateau.threshold_mode == "rel":
            ref = best * (1.0 - t) if plateau.mode == "min" else best * (1.0 + t)
        else:
            ref = best - t if plateau.mode == "min" else best + t
        return a < ref if plateau.mode == "min" else a > ref
    # MonitorCallback._is_improvement: op(a - min_delta, best) in float32; best=None wins
    f32 = xp.float32
    if plateau.mode == "min":
        better = xp.asarray(a + t, dtype=f32) < xp.asarray(best, dtype=f32)
    else:
        better = xp.asarray(a - t, dtype=f32) > xp.asarray(best, dtype=f32)
    return ~xp.isnan(a) & (first | better)


def _held(xp: Any, x: Any) -> Any:
    """``x`` as a float32 variable holds it (round to nearest), back in ``x``'s dtype.

    A value beyond float32's range (which Keras could not hold either) is kept as is.
    """
    x32 = xp.asarray(x, dtype=xp.float32)
    return xp.where(xp.isfinite(x32), xp.asarray(x32, dtype=x.dtype), x)


def _reduced_scale(plateau: Plateau, xp: Any, scale: Any, base: Any) -> tuple[Any, Any]:
    """The multiplier after a reduction, and whether the convention lets it happen.

    torch (``_reduce_lr``): ``new_lr = max(old_lr * factor, min_lr, min_scale * lr)``, applied
    only if ``old_lr - new_lr > eps``, all in the arrays' float. Keras
    (``_reduce_optimizer_lr``): the rate lives in a float32 variable, so ``old_lr`` is
    ``float32(lr * scale)``, the test is ``old_lr > float32(min_lr)`` and the new rate is
    ``float32(max(old_lr * factor, min_lr))``, the product taken in the arrays' float (Python's
    float64 in Keras). lrlab's own ``min_scale`` floor, when it binds, sets ``scale =
    min_scale`` exactly, so the float32 rounding never leaves the multiplier a hair above it.
    """
    old_lr = base * scale
    keras = plateau.convention == "keras"
    if keras:
        old_lr = _held(xp, old_lr)
    cand = xp.maximum(old_lr * plateau.factor, plateau.min_lr)
    floor = plateau.min_scale * base
    positive = base > 0
    safe_base = xp.where(positive, base, 1.0)
    if keras:
        above = cand > floor
        new_scale = xp.where(above, _held(xp, cand) / safe_base, plateau.min_scale)
        can = (xp.asarray(old_lr, dtype=xp.float32) > xp.float32(plateau.min_lr)) & (
            scale > plateau.min_scale
        )
    else:
        new_lr = xp.maximum(cand, floor)
        new_scale = new_lr / safe_base
        can = old_lr - new_lr > plateau.eps
    new_scale = xp.where(positive, xp.maximum(new_scale, plateau.min_scale), scale)
    return new_scale, can
