"""Run an lrlab schedule as a ``torch.optim.lr_scheduler`` scheduler (public as :mod:`lrlab.torch`).

:class:`LrlabScheduler` is a real :class:`torch.optim.lr_scheduler.LRScheduler`, so it works
wherever torch schedulers work: a plain training loop, PyTorch Lightning's
``configure_optimizers``, the Hugging Face ``Trainer``. The learning rate of param group ``g`` is

    lr_g = schedule_g(last_epoch) * scales[g] * plateau_scale_g

where ``last_epoch`` is the scheduler's step counter (see :meth:`LrlabScheduler.step` for exactly
when it advances) and ``plateau_scale_g`` is the multiplier of an optional
:class:`lrlab.control.Plateau` (1 without one). The optimizer's own ``lr`` is overwritten, never
used.

So that a step costs no more than a torch scheduler's own, the schedule is evaluated with its
vectorised form on blocks of 512 steps (block ``b`` holds steps ``512 * b`` to
``512 * b + 511``, whatever step the run started or resumed at) and each step reads its rate
from its block. The rate is the float ``s(np.arange(n))[k]`` of the schedule's lr table, bit
for bit, and of ``s(k)`` (see :class:`lrlab.schedules.Rates`).

Example:
    >>> import torch
    >>> from lrlab.schedules import cosine
    >>> from lrlab.torch import LrlabScheduler
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=123.0)
    >>> sched = LrlabScheduler(opt, cosine(init=0.1, decay_steps=4))
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(round(opt.param_groups[0]["lr"], 6))
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [0.1, 0.085355, 0.05, 0.014645, 0.0]
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from lrlab.control import Plateau, PlateauState
from lrlab.schedules import Rates, Schedule, by_epoch

__all__ = ["LrlabScheduler"]

_OWNER = "LrlabScheduler"
#: version of the :meth:`LrlabScheduler.state_dict` layout
_FORMAT = 1
_INF = math.inf
_Tensor = torch.Tensor


class LrlabScheduler(LRScheduler):
    """A torch learning-rate scheduler that runs lrlab schedules, optionally times a plateau.

    After ``k`` counted steps (``last_epoch == k``) param group ``g`` trains with

        ``lr = schedule_g(k) * scales[g] * plateau_scale_g``

    and, with ``momentum=``, with ``momentum_g(k)`` as its ``momentum`` (SGD, RMSprop) or
    ``betas[0]`` (Adam family). ``schedule_g(k)`` is an **absolute** learning rate: the
    optimizer's ``lr`` argument is overwritten at construction and never read (per-group factors
    go in ``scales``). ``k = 0`` is the rate of the first update, as everywhere in lrlab.

    When the counter advances (``last_epoch += 1``):

    * ``step()`` — always.
    * ``step(metric)`` — feeds ``metric`` to the plateau; it advances only with
      ``interval="epoch"`` (one call per epoch does both, as torch's ``ReduceLROnPlateau``). With
      ``interval="step"`` the per-batch ``step()`` calls advance, and the epoch-end
      ``step(metric)`` updates the plateau without advancing.
    * ``step(epoch=k)`` — jumps to ``k`` (torch's deprecated form; exact here, since the schedule is
      closed-form).

    The plateau is updated with ``lr`` = the un-scaled rate ``schedule_g(k) * scales[g]`` of the
    next update (``k`` after any advance), one entry per param group: its ``min_lr`` and torch
    ``eps`` act in each group's own learning-rate units, as in torch's ``ReduceLROnPlateau``.

    Unlike torch's own schedulers, it never warns that ``lr_scheduler.step()`` ran before
    ``optimizer.step()``: a step skipped by ``torch.amp.GradScaler`` (inf gradients) is not an
    ordering mistake. A skipped optimizer step still advances the schedule, as with every torch
    scheduler.

    Args:
        optimizer: The torch optimizer whose param groups it drives.
        schedule: One :class:`lrlab.schedules.Schedule` for every param group, or a list with one
            schedule per param group. Its values are absolute learning rates. With
            ``steps_per_epoch`` it is written in epochs.
        scales: Per-group factors (``>= 0``), one per param group, e.g. ``[1.0, 0.1]`` for a
            head at the full rate and a backbone at a tenth; ``None`` means all 1.
        interval: ``"step"`` (the counter counts optimizer updates; call ``step()`` after each
            batch) or ``"epoch"`` (it counts epochs; call ``step()`` once per epoch). Use the
            same value as Lightning's ``"interval"``.
        steps_per_epoch: Batches per epoch: the schedules (learning rate and momentum) are
            written in epochs and applied per batch with :func:`lrlab.schedules.by_epoch`. Only
            with ``interval="step"``.
        fractional: With ``steps_per_epoch``: evaluate the epoch schedule at the fractional
            epoch ``k / steps_per_epoch`` instead of ``floor(k / steps_per_epoch)``.
        momentum: Optional co-schedule (one, or one per group) for ``momentum`` / ``betas[0]``,
            e.g. :func:`lrlab.schedules.one_cycle_momentum`. Not multiplied by ``scales`` or the
            plateau.
        plateau: Optional :class:`lrlab.control.Plateau` whose multiplier composes with the
            schedule; feed it with ``step(metric)``. Its state holds one entry per param group.

    Returns:
        The scheduler; constructing it sets every group's ``lr`` (and momentum) to step 0.

    Raises:
        ValueError: an argument is invalid; the message names it and the value received.

    Example:
        >>> import torch
        >>> from lrlab.control import Plateau
        >>> from lrlab.schedules import constant
        >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        >>> sched = LrlabScheduler(opt, constant(0.1), plateau=Plateau(patience=0, factor=0.5))
        >>> for loss in [1.0, 1.0]:
        ...     sched.step(loss)  # interval="step": updates the plateau, does not advance
        >>> sched.last_epoch, sched.get_last_lr()
        (0, [0.05])
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedule: Schedule | Sequence[Schedule],
        *,
        scales: Sequence[float] | None = None,
        interval: Literal["step", "epoch"] = "step",
        steps_per_epoch: int | None = None,
        fractional: bool = False,
        momentum: Schedule | Sequence[Schedule] | None = None,
        plateau: Plateau | None = None,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ValueError(
                f"{_OWNER}: optimizer must be a torch.optim.Optimizer, got {optimizer!r}"
            )
        n = len(optimizer.param_groups)
        if interval not in ("step", "epoch"):
            raise ValueError(f"{_OWNER}: interval must be 'step' or 'epoch', got {interval!r}")
        if not isinstance(fractional, bool):
            raise ValueError(f"{_OWNER}: fractional must be True or False, got {fractional!r}")
        if steps_per_epoch is not None:
            if (
                isinstance(steps_per_epoch, bool)
                or not isinstance(steps_per_epoch, numbers.Integral)
                or steps_per_epoch < 1
            ):
                raise ValueError(
                    f"{_OWNER}: steps_per_epoch must be a positive integer (batches per epoch) "
                    f"or None, got {steps_per_epoch!r}"
                )
            if interval != "step":
                raise ValueError(
                    f"{_OWNER}: steps_per_epoch applies an epoch schedule per batch, so it needs "
                    f"interval='step', got interval={interval!r}"
                )
        elif fractional:
            raise ValueError(f"{_OWNER}: fractional=True needs steps_per_epoch, got None")
        if plateau is not None and not isinstance(plateau, Plateau):
            raise ValueError(
                f"{_OWNER}: plateau must be an lrlab.control.Plateau or None, got {plateau!r}"
            )

        def per_epoch(s: Schedule) -> Schedule:
            return s if steps_per_epoch is None else by_epoch(s, int(steps_per_epoch), fractional)

        schedules = tuple(per_epoch(s) for s in _per_group("schedule", schedule, n))
        moms = None
        if momentum is not None:
            moms = tuple(per_epoch(s) for s in _per_group("momentum", momentum, n))
        keys = [_momentum_key(optimizer, g) for g in range(n)] if moms is not None else []

        self.interval: str = interval
        self.schedules: tuple[Schedule, ...] = schedules
        self.scales: tuple[float, ...] = _scales(scales, n)
        self.momentum: tuple[Schedule, ...] | None = moms
        self.plateau: Plateau | None = plateau
        self.plateau_state: PlateauState | None = None if plateau is None else plateau.init(n)
        self._momentum_keys: list[str] = keys
        # the rates of self.schedules / self.momentum, rebuilt if either attribute is replaced
        self._lr_rates: tuple[Rates, ...] = ()
        self._lr_rates_of: Any = None
        self._momentum_rates: tuple[Rates, ...] = ()
        self._momentum_rates_of: Any = None
        # the plateau multipliers of self.plateau_state (a state is never changed in place)
        self._plateau_of: Any = None
        self._plateau_list: list[float] = [1.0] * n
        # LRScheduler.__init__ records initial_lr, wraps optimizer.step and calls self.step()
        # once (the initial step): last_epoch goes from -1 to 0 and step 0's rates are applied.
        super().__init__(optimizer)
        self.base_lrs = self._unscaled(0)

    # -- stepping -----------------------------------------------------------------------------
    def step(self, metric: Any = None, epoch: int | None = None) -> None:  # type: ignore[override]
        """Advance the schedule and/or feed the plateau, then set the optimizer's rates.

        The counter rule (``last_epoch`` is the step the rates come from):

        ========================  =====================  ==================================
        call                      ``interval="step"``    ``interval="epoch"``
        ========================  =====================  ==================================
        ``step()``                advance                advance
        ``step(metric)``          update plateau only    update plateau, then advance
        ``step(epoch=k)``         set to ``k``           set to ``k``
        ========================  =====================  ==================================

        Args:
            metric: The epoch's monitored value (a number or a one-element tensor) for the
                plateau; needs ``plateau=``. Positional, as torch's ``ReduceLROnPlateau.step``
                and Lightning's ``scheduler.step(metric)``.
            epoch: Jump the counter to this step (torch's deprecated ``step(epoch)``; no warning
                here, since lrlab schedules are closed-form).

        Returns:
            None. The new rates are in ``optimizer.param_groups`` and :meth:`get_last_lr`.

        Example:
            >>> import torch
            >>> from lrlab.schedules import linear
            >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
            >>> sched = LrlabScheduler(opt, linear(init=1.0, end=0.0, steps=4))
            >>> sched.step()
            >>> sched.last_epoch, sched.get_last_lr()
            (1, [0.75])
            >>> sched.step(epoch=3)
            >>> sched.get_last_lr()
            [0.25]
        """
        if metric is None and epoch is None:  # the per-batch call: nothing else to decide
            self._step_count += 1
            self.last_epoch += 1
            self._apply()
            return
        value = None
        if metric is not None:
            if self.plateau is None:
                raise ValueError(
                    f"{_OWNER}.step: metric={metric!r} was given but this scheduler has no "
                    "plateau (build it with plateau=lrlab.control.Plateau(...)); torch's "
                    "step(epoch) is step(epoch=...) here"
                )
            value = _metric_value(metric)
        if epoch is not None:
            if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
                raise ValueError(f"{_OWNER}.step: epoch must be an integer >= 0, got {epoch!r}")
            target = epoch
        elif metric is None or self.interval == "epoch":
            target = self.last_epoch + 1
        else:
            target = self.last_epoch
        if value is not None:
            assert self.plateau is not None and self.plateau_state is not None
            self.plateau_state = self.plateau.update(
                self.plateau_state, value, self._unscaled(target)
            )
        self._step_count += 1
        self.last_epoch = target
        self._apply()

    def get_lr(self) -> list[float]:
        """The rates at the current step: ``schedule_g(last_epoch) * scales[g] * plateau_g``.

        Returns:
            One float per param group (what :meth:`step` writes to the optimizer).

        Example:
            >>> import torch
            >>> from lrlab.schedules import constant
            >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
            >>> LrlabScheduler(opt, constant(0.2), scales=[0.5]).get_lr()
            [0.1]
        """
        k = self.last_epoch
        scales, plateau = self.scales, self._plateau_scales()
        out = []
        for g, rates in enumerate(self._rates_lr()):
            v = rates.values[k - rates.lo] if rates.lo <= k < rates.hi else rates.at(k)
            if not 0.0 <= v < _INF:  # also NaN
                raise _invalid("schedule", g, v, k)
            out.append(v * scales[g] * plateau[g])
        return out

    def _get_closed_form_lr(self) -> list[float]:
        """torch's closed-form hook: the same as :meth:`get_lr` (every lrlab schedule is)."""
        return self.get_lr()

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain data (no callables) for ``torch.save``; loads with ``weights_only=True``.

        It holds the counters, the plateau state, and the configuration (each schedule's
        ``to_dict()``, the scales, the momentum schedules, the plateau's settings) that
        :meth:`load_state_dict` checks, so a checkpoint never silently resumes a different
        schedule.

        Returns:
            A dict of strings, numbers, booleans, ``None``, lists and dicts.

        Example:
            >>> import torch
            >>> from lrlab.schedules import constant
            >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
            >>> sd = LrlabScheduler(opt, constant(0.1)).state_dict()
            >>> sd["last_epoch"], sd["schedules"]
            (0, [{'type': 'constant', 'value': 0.1}])
        """
        return {
            "lrlab_scheduler": _FORMAT,
            "last_epoch": int(self.last_epoch),
            "step_count": int(self._step_count),
            "interval": self.interval,
            "schedules": [s.to_dict() for s in self.schedules],
            "scales": list(self.scales),
            "momentum": None if self.momentum is None else [s.to_dict() for s in self.momentum],
            "plateau": None if self.plateau is None else dataclasses.asdict(self.plateau),
            "plateau_state": (
                None
                if self.plateau is None or self.plateau_state is None
                else self.plateau.state_dict(self.plateau_state)
            ),
            "last_lr": [float(v) for v in self._last_lr],
        }

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        """Restore :meth:`state_dict` output and set the optimizer's rates to match.

        Resuming gives exactly the rates of an uninterrupted run, whether the optimizer's state
        is loaded before or after this.

        Args:
            state_dict: What :meth:`state_dict` returned (also after ``torch.save`` /
                ``torch.load(weights_only=True)``).
            strict: Check that the schedules, scales, interval, momentum schedules and plateau
                settings equal this scheduler's, and raise if not. ``False`` loads only the
                counters and the plateau state (to continue with a deliberately changed
                schedule).

        Returns:
            None.

        Raises:
            ValueError: ``state_dict`` is not an lrlab scheduler's, or (``strict``) it was saved
                with a different configuration; the message names the field and both values.

        Example:
            >>> import torch
            >>> from lrlab.schedules import constant
            >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
            >>> saved = LrlabScheduler(opt, constant(0.1)).state_dict()
            >>> LrlabScheduler(opt, constant(0.2)).load_state_dict(saved)
            Traceback (most recent call last):
            ...
            ValueError: LrlabScheduler.load_state_dict: schedules differ: the checkpoint has
            [constant(0.1)], this scheduler has [constant(0.2)]; build the scheduler with the
            checkpoint's configuration, or pass strict=False to load only the step and plateau
            state
        """
        owner = f"{_OWNER}.load_state_dict"
        if not isinstance(state_dict, Mapping) or state_dict.get("lrlab_scheduler") != _FORMAT:
            got = list(state_dict) if isinstance(state_dict, Mapping) else type(state_dict).__name__
            raise ValueError(
                f"{owner}: not an LrlabScheduler state dict (format {_FORMAT}), got keys {got}"
            )
        n = len(self.schedules)
        if len(state_dict["schedules"]) != n:
            raise ValueError(
                f"{owner}: the checkpoint has {len(state_dict['schedules'])} param groups, this "
                f"scheduler has {n}"
            )
        if strict:
            self._check_config(owner, state_dict)
        if (state_dict["plateau_state"] is None) != (self.plateau is None):
            raise ValueError(
                f"{owner}: the checkpoint has "
                f"{'no' if state_dict['plateau_state'] is None else 'a'} plateau state, this "
                f"scheduler has {'no' if self.plateau is None else 'a'} plateau"
            )
        for key in ("last_epoch", "step_count"):
            v = state_dict[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{owner}: {key} must be an integer >= 0, got {v!r}")
        if self.plateau is not None:
            state = self.plateau.load_state_dict(state_dict["plateau_state"])
            if state.n != n:
                raise ValueError(
                    f"{owner}: plateau_state must have one entry per param group ({n}), "
                    f"got {state.n}"
                )
            self.plateau_state = state
        self.last_epoch = state_dict["last_epoch"]
        self._step_count = state_dict["step_count"]
        self._apply()

    def _check_config(self, owner: str, saved: Mapping[str, Any]) -> None:
        """Raise unless ``saved`` was written by a scheduler configured like this one."""
        mine = self.state_dict()
        for key in ("interval", "schedules", "scales", "momentum", "plateau"):
            if _canonical(saved.get(key)) != _canonical(mine[key]):
                theirs, ours = _show(saved.get(key)), _show(mine[key])
                raise ValueError(
                    f"{owner}: {key} differ: the checkpoint has {theirs}, this scheduler has "
                    f"{ours}; build the scheduler with the checkpoint's configuration, or pass "
                    "strict=False to load only the step and plateau state"
                )

    # -- internals -----------------------------------------------------------------------------
    def _plateau_scales(self) -> list[float]:
        """The plateau multiplier of each group (all 1 without a plateau)."""
        state = self.plateau_state
        if state is not self._plateau_of:
            n = len(self.schedules)
            scales = [1.0] * n if state is None else [float(v) for v in state.scale]
            self._plateau_of, self._plateau_list = state, scales
        return self._plateau_list

    def _rates_lr(self) -> tuple[Rates, ...]:
        """The :class:`Rates` of ``self.schedules``, one per group (rebuilt if it is replaced)."""
        if self._lr_rates_of is not self.schedules:
            self._lr_rates, self._lr_rates_of = rates_of(self.schedules), self.schedules
        return self._lr_rates

    def _rates_momentum(self) -> tuple[Rates, ...]:
        """The :class:`Rates` of ``self.momentum`` (empty without momentum schedules)."""
        if self._momentum_rates_of is not self.momentum:
            moms = self.momentum or ()
            self._momentum_rates, self._momentum_rates_of = rates_of(moms), self.momentum
        return self._momentum_rates

    def _unscaled(self, k: int) -> list[float]:
        """``schedule_g(k) * scales[g]``: the rate before the plateau multiplier."""
        out = []
        for g, (rates, c) in enumerate(zip(self._rates_lr(), self.scales)):
            v = rates.at(k)
            if not 0.0 <= v < _INF:
                raise _invalid("schedule", g, v, k)
            out.append(v * c)
        return out

    def _apply(self) -> None:
        """Write the rates (and momenta) of ``last_epoch`` into the optimizer's param groups."""
        groups = self.optimizer.param_groups
        if len(groups) != len(self.schedules):
            raise ValueError(
                f"{_OWNER}: the optimizer has {len(groups)} param groups but the scheduler was "
                f"built for {len(self.schedules)}; build a new scheduler after add_param_group"
            )
        lrs: list[Any] = self.get_lr()
        tensors = False
        for group, lr in zip(groups, lrs):
            current = group["lr"]
            if isinstance(current, _Tensor):  # capturable / fused optimizers: in place
                current.fill_(lr)
                tensors = True
            else:
                group["lr"] = lr
        if self.momentum is not None:
            k = self.last_epoch
            rates = self._rates_momentum()
            for g, (group, r, key) in enumerate(zip(groups, rates, self._momentum_keys)):
                m = r.at(k)
                if not 0.0 <= m < _INF:
                    raise _invalid("momentum", g, m, k)
                if key == "betas":
                    betas = group["betas"]
                    if isinstance(betas[0], torch.Tensor):
                        betas[0].fill_(m)
                    else:
                        group["betas"] = (m, *betas[1:])
                else:
                    _set(group, "momentum", m)
        # get_last_lr(): the rates as written; a tensor rate as a copy, never the group's own
        if tensors:
            lrs = [g["lr"].clone() if isinstance(g["lr"], _Tensor) else g["lr"] for g in groups]
        self._last_lr = lrs


# -- helpers -------------------------------------------------------------------------------------
def _per_group(name: str, value: Any, n: int) -> tuple[Schedule, ...]:
    """One schedule per param group from one schedule or a list of ``n``."""
    if isinstance(value, Schedule):
        return (value,) * n
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"{_OWNER}: {name} must be one schedule or a list of {n} (one per param group), "
                f"got a list of {len(value)}: {list(value)!r}"
            )
        for i, s in enumerate(value):
            if not isinstance(s, Schedule):
                raise ValueError(
                    f"{_OWNER}: {name}[{i}] must be an lrlab schedule (e.g. "
                    f"lrlab.schedules.constant(0.1)), got {s!r}"
                )
        return tuple(value)
    raise ValueError(
        f"{_OWNER}: {name} must be an lrlab schedule (e.g. lrlab.schedules.constant(0.1)) or a "
        f"list of {n} (one per param group), got {value!r}"
    )


def _scales(value: Any, n: int) -> tuple[float, ...]:
    """Per-group factors: ``n`` finite numbers ``>= 0`` (``None``: all 1)."""
    if value is None:
        return (1.0,) * n
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise ValueError(
            f"{_OWNER}: scales must be a list of {n} numbers (one per param group) or None, "
            f"got {value!r}"
        )
    out = []
    for i, v in enumerate(value):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok or not math.isfinite(v) or v < 0:
            raise ValueError(f"{_OWNER}: scales[{i}] must be a finite number >= 0, got {v!r}")
        out.append(float(v))
    return tuple(out)


def _momentum_key(optimizer: Optimizer, g: int) -> str:
    """``"betas"`` (Adam family: beta1) or ``"momentum"`` (SGD, RMSprop) for param group ``g``."""
    group = optimizer.param_groups[g]
    if "betas" in group:
        return "betas"
    if "momentum" in group:
        return "momentum"
    raise ValueError(
        f"{_OWNER}: momentum needs param groups with 'momentum' (SGD, RMSprop) or 'betas' "
        f"(Adam family); param_groups[{g}] of {type(optimizer).__name__} has neither"
    )


def _metric_value(metric: Any) -> float:
    """The metric as a float (a number, a NumPy scalar or a one-element tensor)."""
    if isinstance(metric, torch.Tensor):
        metric = metric.detach()
    try:
        return float(metric)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(
            f"{_OWNER}.step: metric must be a number or a one-element tensor, got {metric!r}"
        ) from None


def _invalid(name: str, g: int, v: float, k: int) -> ValueError:
    """The error for a rate (or momentum) that is not finite, or negative: never applied."""
    return ValueError(f"{_OWNER}: {name}[{g}] gave {v!r} at step {k}; it must be finite, >= 0")


def _set(group: dict[str, Any], key: str, value: float) -> None:
    """Set ``group[key]``, in place when it is a tensor (capturable / fused optimizers)."""
    if isinstance(group[key], torch.Tensor):
        group[key].fill_(value)
    else:
        group[key] = value


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _show(value: Any) -> str:
    """Configuration data as text: schedules as the expressions that build them."""
    from lrlab.schedules import from_dict

    def one(v: Any) -> str:
        if isinstance(v, Mapping) and "type" in v:
            try:
                return repr(from_dict(v, allow_import=False))
            except ValueError:
                return json.dumps(v)
        return json.dumps(v) if not isinstance(v, str) else repr(v)

    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return "[" + ", ".join(one(v) for v in value) + "]"
    return one(value)


def rates_of(schedules: Sequence[Schedule]) -> tuple[Rates, ...]:
    """One :class:`Rates` per schedule; a schedule object given twice shares one."""
    made: dict[int, Rates] = {}
    out = []
    for s in schedules:
        rates = made.get(id(s))
        if rates is None:
            rates = made[id(s)] = Rates(s)
        out.append(rates)
    return tuple(out)
