"""lrlab in Optax: schedules as ``optax.Schedule``, a plateau as a gradient transformation.

* :func:`to_optax` turns any traceable lrlab schedule into an Optax schedule (``count -> lr``),
  for ``optax.sgd(learning_rate=...)`` and for ``optax.inject_hyperparams``.
* :func:`plateau` (alias :func:`reduce_on_plateau`) is reduce-on-plateau as a
  ``GradientTransformationExtraArgs`` that multiplies the updates by the multiplier of
  :class:`lrlab.control.Plateau` (torch or Keras convention), fed like
  ``optax.contrib.reduce_on_plateau``: ``update(updates, state, params, value=loss)``.
* :func:`current_lr`, :func:`plateau_state`, :func:`plateau_scale` and :func:`effective_lr` read
  the rate and the multiplier back from an optimizer state, for logging.

Read from and matched against optax 0.2.8: ``optax/schedules/_inject.py`` (``inject_hyperparams``
evaluates a schedule on its ``int32`` ``count`` and stores the result in ``state.hyperparams``),
``optax/contrib/_reduce_on_plateau.py`` (the ``value=`` extra argument, the accumulation window,
the scale applied to the update that closes a window) and ``optax/_src/base.py`` (``Schedule``,
``GradientTransformationExtraArgs``). This module imports JAX and Optax; nothing else in lrlab
does unless asked.

Example:
    >>> import jax.numpy as jnp, optax
    >>> from lrlab.schedules import warmup_cosine
    >>> from lrlab.integrations.optax import to_optax
    >>> opt = optax.sgd(learning_rate=to_optax(warmup_cosine(0.1, 10, 100)))
    >>> state = opt.init(jnp.zeros(3))
    >>> updates, state = opt.update(jnp.ones(3), state)
    >>> updates  # s(0) = 0: the first update of a warmup from 0
    Array([-0., -0., -0.], dtype=float32)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from lrlab._checks import integer
from lrlab.control import Plateau, PlateauState, plateau_rule
from lrlab.schedules import Custom, Recurrence, Schedule, constant, parse

__all__ = [
    "OptaxSchedule",
    "ReduceOnPlateauState",
    "current_lr",
    "effective_lr",
    "plateau",
    "plateau_scale",
    "plateau_state",
    "reduce_on_plateau",
    "to_optax",
]


# -- schedules -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class OptaxSchedule:
    """An lrlab schedule as an ``optax.Schedule``: call it on Optax's step ``count``.

    Made by :func:`to_optax`; ``schedule`` is the lrlab schedule it runs, ``dtype`` the optional
    output dtype. ``OptaxSchedule(s)(k) == s(k)``: the rate of the ``(k+1)``-th update, which is
    what Optax uses when the transformation's ``count == k``.
    """

    schedule: Schedule
    dtype: Any = None

    def __call__(self, count: jax.typing.ArrayLike) -> jax.Array:
        """The learning rate at ``count`` (a number or an integer array, also traced).

        Args:
            count: Optax's update counter (``int32`` in Optax's states) or any array of steps.

        Returns:
            A JAX float array of ``count``'s shape: JAX's default float (float32, float64 with
            ``jax_enable_x64``) for an integer count, or ``dtype`` when one was given.
        """
        out = self.schedule(jnp.asarray(count))
        return out if self.dtype is None else out.astype(self.dtype)

    def __repr__(self) -> str:
        extra = "" if self.dtype is None else f", dtype={jnp.dtype(self.dtype).name!r}"
        return f"to_optax({self.schedule!r}{extra})"


def _as_schedule(owner: str, schedule: object) -> Schedule:
    if isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        return parse(schedule)
    if isinstance(schedule, (int, float, np.integer, np.floating)) and not isinstance(
        schedule, bool
    ):
        return constant(float(schedule))
    raise ValueError(
        f"{owner}: schedule must be an lrlab Schedule, its text form or a number, got {schedule!r}"
    )


def _check_traceable(owner: str, schedule: Schedule) -> None:
    """Raise lrlab's own ``TypeError`` for the parts of ``schedule`` that JAX cannot trace.

    ``custom(vectorized=False)`` calls its function on Python floats and ``recurrence`` without
    ``horizon`` sizes its table from the step's value: evaluating such a node on a concrete JAX
    array raises lrlab's message, which is re-raised here before any tracing happens.
    """
    for node in schedule.walk():
        untraceable = (isinstance(node, Custom) and not node.vectorized) or (
            isinstance(node, Recurrence) and node.horizon is None
        )
        if untraceable:
            try:
                node(jnp.zeros((), jnp.float32))
            except TypeError as exc:
                raise TypeError(f"{owner}: {node!r} cannot run under jax.jit: {exc}") from None


def to_optax(schedule: Schedule | float | str, *, dtype: Any = None) -> OptaxSchedule:
    """Make an lrlab schedule an Optax schedule: ``count -> schedule(count)``, jit-compatible.

    ``to_optax(s)(k) == s(k)`` for Optax's ``count == k``, i.e. the rate of the ``(k+1)``-th
    update (lrlab's step-0 convention is Optax's). It takes a traced ``count`` under
    ``jax.jit``, so it works as ``optax.sgd(learning_rate=to_optax(s))`` and with
    ``optax.inject_hyperparams(optax.sgd)(learning_rate=to_optax(s))``, whose state then holds
    the current rate (:func:`current_lr`).

    The value is a JAX float array: for Optax's ``int32`` count, JAX's default float (float32,
    or float64 under ``jax_enable_x64``), as lrlab evaluates any integer JAX step. That array is
    strongly typed, so ``inject_hyperparams`` keeps it as is (its ``_convert_floats`` casts only
    weakly typed values to the parameters' dtype): with x64 enabled and float32 parameters, pass
    ``dtype=jnp.float32`` to get float32 updates. A float32 count is exact up to ``2**24``.

    Args:
        schedule: An lrlab schedule, its text form (read by :func:`lrlab.schedules.parse`) or a
            number (a constant rate).
        dtype: Cast every value to this dtype; ``None`` keeps the rule above.

    Returns:
        An :class:`OptaxSchedule`, a callable ``count -> lr`` that satisfies ``optax.Schedule``.

    Raises:
        TypeError: for a schedule JAX cannot trace: ``custom(fn)`` with ``vectorized=False`` or
            ``recurrence`` without ``horizon`` (lrlab's message, before any tracing).
        ValueError: for something that is not a schedule.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from lrlab.schedules import cosine, warmup
        >>> lr = to_optax(warmup(cosine(init=0.1, decay_steps=90), steps=10))
        >>> lr
        to_optax(warmup(cosine(init=0.1, decay_steps=90), steps=10))
        >>> jax.jit(lr)(jnp.asarray(5, jnp.int32))
        Array(0.05, dtype=float32)
    """
    s = _as_schedule("to_optax", schedule)
    _check_traceable("to_optax", s)
    if dtype is not None:
        dtype = jnp.dtype(dtype)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"to_optax: dtype must be a floating dtype, got {dtype.name!r}")
    return OptaxSchedule(s, dtype)


# -- reduce on plateau -----------------------------------------------------------------------------
class ReduceOnPlateauState(NamedTuple):
    """State of :func:`plateau`: 0-d JAX arrays, so it jits, scans and checkpoints.

    The first seven fields are those of :class:`lrlab.control.PlateauState`
    (:meth:`control_state` converts); the rest drive the accumulation window.

    Attributes:
        scale: The multiplier applied to the updates (1 at the start).
        best: Best window metric so far (``inf`` / ``-inf`` before the first improvement).
        num_bad: Bad windows counted toward ``patience`` (``int32``).
        cooldown_counter: Windows left in the cooldown (``int32``).
        num_reductions: How many times ``scale`` was reduced (``int32``).
        epoch: Windows completed (``int32``).
        last_reduced: Whether the last completed window reduced ``scale``.
        last_value: The metric of the last completed window (NaN before the first one).
        window_count: Values accumulated in the current window (``int32``).
        window_sum: Their sum.
        step: Updates seen (``int32``); ``learning_rate`` is evaluated at it.
    """

    scale: jax.Array
    best: jax.Array
    num_bad: jax.Array
    cooldown_counter: jax.Array
    num_reductions: jax.Array
    epoch: jax.Array
    last_reduced: jax.Array
    last_value: jax.Array
    window_count: jax.Array
    window_sum: jax.Array
    step: jax.Array

    def control_state(self) -> PlateauState:
        """The same plateau as a :class:`lrlab.control.PlateauState` of Python scalars.

        Returns:
            A state that :class:`lrlab.control.Plateau` can keep updating, and whose
            ``state_dict`` goes through ``json``.
        """
        return PlateauState(
            best=float(self.best),
            num_bad=int(self.num_bad),
            cooldown_counter=int(self.cooldown_counter),
            scale=float(self.scale),
            num_reductions=int(self.num_reductions),
            epoch=int(self.epoch),
            last_reduced=bool(self.last_reduced),
        )


def _learning_rate(owner: str, learning_rate: object) -> Callable[[jax.Array], jax.Array] | None:
    if learning_rate is None:
        return None
    if isinstance(learning_rate, (Schedule, str)):
        return to_optax(learning_rate)
    if callable(learning_rate):
        return learning_rate  # an optax.Schedule
    if isinstance(learning_rate, (int, float, np.integer, np.floating)) and not isinstance(
        learning_rate, bool
    ):
        value = float(learning_rate)
        if math.isfinite(value) and value >= 0:
            return lambda step: jnp.asarray(value)
    raise ValueError(
        f"{owner}: learning_rate must be None, a number >= 0, an lrlab schedule or an Optax "
        f"schedule, got {learning_rate!r}"
    )


def _window(
    cfg: Plateau, st: ReduceOnPlateauState, a: jax.Array, base: jax.Array
) -> dict[str, jax.Array]:
    """One :meth:`lrlab.control.Plateau.update` in ``jax.numpy``: the very same rule."""
    out = plateau_rule(
        cfg,
        jnp,
        best=st.best,
        num_bad=st.num_bad,
        cooldown_counter=st.cooldown_counter,
        scale=st.scale,
        first=st.epoch == 0,
        metric=a,
        lr=base,
    )
    reduced = out["reduced"]
    return {
        "best": out["best"],
        "num_bad": out["num_bad"].astype(jnp.int32),
        "cooldown_counter": out["cooldown_counter"].astype(jnp.int32),
        "scale": out["scale"].astype(st.scale.dtype),
        "num_reductions": st.num_reductions + reduced.astype(jnp.int32),
        "epoch": optax.safe_increment(st.epoch),
        "last_reduced": reduced,
        "last_value": a,
    }


def plateau(
    *,
    mode: Literal["min", "max"] = "min",
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: Literal["rel", "abs"] | None = None,
    cooldown: int = 0,
    min_lr: float = 0.0,
    min_scale: float = 0.0,
    eps: float = 1e-8,
    convention: Literal["torch", "keras"] = "torch",
    accumulation_size: int = 1,
    learning_rate: float | Schedule | Callable[[jax.Array], jax.Array] | None = None,
) -> optax.GradientTransformationExtraArgs:
    """Reduce-on-plateau as an Optax transformation: updates times a plateau multiplier.

    Chain it after an optimizer, ``optax.chain(optax.sgd(lr), plateau(...))``, and pass the
    monitored value to every update: ``tx.update(grads, state, params, value=loss)`` (as
    ``optax.contrib.reduce_on_plateau``). The values are averaged over windows of
    ``accumulation_size`` updates (an "epoch"); when a window closes, its mean ``m`` goes
    through exactly ``Plateau(...).update(state, m, lr)`` (the one rule of
    :mod:`lrlab.control`, run on ``jax.numpy`` so it jits), and the update that closed the
    window is already scaled by the new multiplier, as in Optax. The output is
    ``updates * scale`` in each update's own dtype.

    Conventions are those of :class:`lrlab.control.Plateau`: ``convention="torch"`` reduces
    after ``patience + 1`` bad windows, ``"keras"`` after ``patience`` (see ``docs/control.md``).
    Unlike ``optax.contrib.reduce_on_plateau`` (``rtol``/``atol``, ``plateau_count ==
    patience``), ``threshold``/``threshold_mode`` and ``patience`` mean what they mean in torch
    or Keras. The metric, ``best`` and ``scale`` use JAX's default float: enable
    ``jax_enable_x64`` to reproduce the framework bit for bit. torch compares in float64; Keras
    computes ``old_lr * factor`` in float64 before rounding the new rate to float32, and the
    keras convention's ``float32(lr * scale)`` is Keras' rate exactly only with a float64
    ``scale``. In float32 the rate can be one float32 step off, so where the rate sits within
    a step of ``min_lr`` the last reduction can come one window earlier or later than Keras'.

    Args:
        mode: ``"min"`` (a loss) or ``"max"`` (an accuracy).
        factor: Multiplier applied at each reduction, in ``(0, 1)``.
        patience: Bad windows tolerated (torch: ``num_bad > patience``; Keras: ``>=``).
        threshold: Minimal improvement that counts (Keras' ``min_delta``).
        threshold_mode: ``"rel"`` or ``"abs"``; ``None`` picks the convention's own.
        cooldown: Windows after a reduction during which bad windows are not counted.
        min_lr: Floor on ``learning_rate * scale``; needs ``learning_rate``.
        min_scale: Floor on the multiplier, in ``[0, 1)``.
        eps: torch only: a reduction smaller than ``eps`` (in lr units) is skipped.
        convention: ``"torch"`` or ``"keras"``.
        accumulation_size: Updates per window, ``>= 1``: the batches per epoch to act on the
            epoch's mean training loss, 1 to act on every value fed (as Optax's default).
        learning_rate: The un-scaled rate, for ``min_lr`` and torch's ``eps`` in lr units: a
            number, an lrlab schedule or an Optax schedule, evaluated at the update that closes
            the window (``state.step``). ``None`` makes them act on the multiplier (``lr = 1``).

    Returns:
        An ``optax.GradientTransformationExtraArgs`` whose state is a
        :class:`ReduceOnPlateauState`.

    Raises:
        ValueError: for a bad setting (the message of :class:`lrlab.control.Plateau`), a bad
            ``accumulation_size`` or ``learning_rate``, or ``min_lr > 0`` without
            ``learning_rate``; at update time, for a missing or non-scalar ``value``.

    Example:
        >>> import jax.numpy as jnp
        >>> tx = plateau(factor=0.5, patience=1)
        >>> state = tx.init(jnp.zeros(2))
        >>> for loss in [1.0, 1.0, 1.0]:
        ...     updates, state = tx.update(jnp.ones(2), state, value=loss)
        >>> updates, state.num_reductions
        (Array([0.5, 0.5], dtype=float32), Array(1, dtype=int32))
    """
    cfg = Plateau(
        mode=mode,
        factor=factor,
        patience=patience,
        threshold=threshold,
        threshold_mode=threshold_mode,
        cooldown=cooldown,
        min_lr=min_lr,
        min_scale=min_scale,
        eps=eps,
        convention=convention,
    )
    size = integer("plateau", "accumulation_size", accumulation_size, lo=1)
    lr_fn = _learning_rate("plateau", learning_rate)
    if lr_fn is None and cfg.min_lr > 0:
        raise ValueError(
            f"plateau: learning_rate is required when min_lr > 0 (min_lr={cfg.min_lr}), got None"
        )

    def init_fn(params: optax.Params) -> ReduceOnPlateauState:
        del params
        return _initial_state(cfg)

    def update_fn(
        updates: optax.Updates,
        state: ReduceOnPlateauState,
        params: optax.Params | None = None,
        *,
        value: jax.typing.ArrayLike | None = None,
        **extra_args: Any,
    ) -> tuple[optax.Updates, ReduceOnPlateauState]:
        del params, extra_args
        return _plateau_update(cfg, size, lr_fn, updates, state, value)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _initial_state(cfg: Plateau) -> ReduceOnPlateauState:
    """The state before the first update: scale 1, no best yet, an empty window."""
    dt = jnp.result_type(float)  # JAX's default float
    zero = jnp.zeros((), jnp.int32)
    return ReduceOnPlateauState(
        scale=jnp.ones((), dt),
        best=jnp.full((), math.inf if cfg.mode == "min" else -math.inf, dt),
        num_bad=zero,
        cooldown_counter=zero,
        num_reductions=zero,
        epoch=zero,
        last_reduced=jnp.zeros((), bool),
        last_value=jnp.full((), math.nan, dt),
        window_count=zero,
        window_sum=jnp.zeros((), dt),
        step=zero,
    )


def _plateau_update(
    cfg: Plateau,
    size: int,
    lr_fn: Callable[[jax.Array], jax.Array] | None,
    updates: optax.Updates,
    state: ReduceOnPlateauState,
    value: jax.typing.ArrayLike | None,
) -> tuple[optax.Updates, ReduceOnPlateauState]:
    """One update of :func:`plateau`: add ``value`` to the window, close the window every
    ``size`` updates through the plateau rule, and scale ``updates`` by the new multiplier."""
    if value is None:
        raise ValueError(
            "plateau: update needs the monitored value, as "
            "tx.update(updates, state, params, value=loss); got no value"
        )
    if jnp.shape(value) != ():
        raise ValueError(
            f"plateau: value must be a scalar, got an array of shape {jnp.shape(value)}"
        )
    dt = state.window_sum.dtype
    total = state.window_sum + jnp.asarray(value).astype(dt)
    count = state.window_count + 1
    closing = count >= size
    mean = total / count.astype(dt)
    base = jnp.ones((), dt) if lr_fn is None else jnp.asarray(lr_fn(state.step)).astype(dt)
    closed = state._replace(**_window(cfg, state, mean, base))
    new = jax.tree.map(lambda c, o: jnp.where(closing, c, o), closed, state)
    new = new._replace(
        window_count=jnp.where(closing, 0, count).astype(jnp.int32),
        window_sum=jnp.where(closing, jnp.zeros((), dt), total),
        step=optax.safe_increment(state.step),
    )
    scaled = jax.tree.map(lambda g: new.scale.astype(g.dtype) * g, updates)
    return scaled, new


#: the same function, named like ``optax.contrib.reduce_on_plateau`` (lrlab's parameters)
reduce_on_plateau = plateau


# -- reading states back, for logging --------------------------------------------------------------
_INJECT = (optax.InjectStatefulHyperparamsState, optax.InjectHyperparamsState)


def _find(opt_state: optax.OptState, types: tuple[type, ...]) -> list[Any]:
    leaves = jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: isinstance(x, types))
    return [x for x in leaves if isinstance(x, types)]


def current_lr(opt_state: optax.OptState, name: str = "learning_rate") -> jax.Array:
    """The rate held by the ``optax.inject_hyperparams`` state inside ``opt_state``.

    ``inject_hyperparams`` stores ``schedule(count)`` at each update before incrementing
    ``count``: after ``init`` it holds ``s(0)``, after the ``n``-th update ``s(n - 1)``, the
    rate that update used. The plateau multiplier is not included (see :func:`effective_lr`).

    Args:
        opt_state: An optimizer state, e.g. of ``optax.chain(inject_hyperparams(...), ...)``.
        name: The injected hyperparameter to read.

    Returns:
        The 0-d JAX array stored for ``name`` (``float(...)`` it to log it).

    Raises:
        ValueError: if no inject_hyperparams state holds ``name``, or several do.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> from lrlab.schedules import linear
        >>> opt = optax.inject_hyperparams(optax.sgd)(learning_rate=to_optax(linear(0.1, 0.0, 10)))
        >>> state = opt.init(jnp.zeros(2))
        >>> _, state = opt.update(jnp.ones(2), state)
        >>> _, state = opt.update(jnp.ones(2), state)
        >>> current_lr(state)  # the rate of the second update, s(1)
        Array(0.09, dtype=float32)
    """
    found = [s.hyperparams[name] for s in _find(opt_state, _INJECT) if name in s.hyperparams]
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise ValueError(
            f"current_lr: {what} optax.inject_hyperparams state holds {name!r}; wrap the "
            f"optimizer once, as optax.inject_hyperparams(optax.sgd)(learning_rate=...)"
        )
    return found[0]


def plateau_state(opt_state: optax.OptState) -> ReduceOnPlateauState:
    """The :class:`ReduceOnPlateauState` inside ``opt_state`` (e.g. of an ``optax.chain``).

    Args:
        opt_state: An optimizer state that contains exactly one :func:`plateau` state.

    Returns:
        That state; its ``scale``, ``num_reductions``, ``last_value`` ... are worth logging.

    Raises:
        ValueError: if there is none, or more than one.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> opt = optax.chain(optax.sgd(0.1), plateau())
        >>> plateau_state(opt.init(jnp.zeros(2))).epoch
        Array(0, dtype=int32)
    """
    found = _find(opt_state, (ReduceOnPlateauState,))
    if len(found) != 1:
        raise ValueError(
            f"plateau_state: expected one lrlab plateau state in the optimizer state, "
            f"found {len(found)}"
        )
    return found[0]


def plateau_scale(opt_state: optax.OptState) -> jax.Array:
    """The plateau multiplier applied by the most recent update (1 after ``init``).

    Args:
        opt_state: An optimizer state that contains one :func:`plateau` state.

    Returns:
        ``plateau_state(opt_state).scale``, a 0-d JAX array.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> opt = optax.chain(optax.sgd(0.1), plateau())
        >>> plateau_scale(opt.init(jnp.zeros(2)))
        Array(1., dtype=float32)
    """
    return plateau_state(opt_state).scale


def effective_lr(opt_state: optax.OptState, name: str = "learning_rate") -> jax.Array:
    """The rate the most recent update used: :func:`current_lr` times :func:`plateau_scale`.

    Without a plateau in ``opt_state`` this is :func:`current_lr`.

    Args:
        opt_state: A state with an ``inject_hyperparams`` state and at most one plateau.
        name: The injected hyperparameter holding the un-scaled rate.

    Returns:
        A 0-d JAX array.

    Example:
        >>> import jax.numpy as jnp, optax
        >>> sgd = optax.inject_hyperparams(optax.sgd)(learning_rate=to_optax(0.1))
        >>> opt = optax.chain(sgd, plateau(factor=0.5, patience=0))
        >>> state = opt.init(jnp.zeros(2))
        >>> for loss in [1.0, 2.0]:
        ...     _, state = opt.update(jnp.ones(2), state, value=loss)
        >>> effective_lr(state)
        Array(0.05, dtype=float32)
    """
    lr = current_lr(opt_state, name)
    if not _find(opt_state, (ReduceOnPlateauState,)):
        return lr
    return lr * plateau_scale(opt_state).astype(lr.dtype)
