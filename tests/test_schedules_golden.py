"""Golden tests: lrlab schedules against the frameworks' own implementations.

Every case below pairs a framework schedule (class or function name + keyword arguments, the
way a user would write it) with the lrlab text (read by :func:`lrlab.schedules.parse`) that is
meant to give the same learning rate at every step. Step ``k`` is the rate of the ``(k+1)``-th
optimizer update: torch after ``k`` calls of ``scheduler.step()``, Keras at
``optimizer.iterations == k``, Optax at ``count == k``.

What was matched (the sources read for the conventions):

- torch (``pytorch/pytorch`` ``torch/optim/lr_scheduler.py``, torch 2.13): a real SGD optimizer is
  stepped and ``optimizer.param_groups[0]['lr']`` (``'momentum'`` for ``OneCycleLR``'s
  ``cycle_momentum``) is read after each ``scheduler.step()``. This is torch's *recursive*
  ("chainable") form, in float64, so the pin is rtol 1e-12.
- Keras 3.15 (``keras-team/keras`` ``keras/src/optimizers/schedules/learning_rate_schedule.py``,
  torch backend): the schedule is called on each integer step in Keras' float32 (rtol 2e-6,
  plus an absolute 2e-7 of the largest rate where ``1 + cos`` cancels). A float64 Keras pin is
  not possible there: see ``DTYPES``. Where Keras finds a restart with a float32 ``log``
  (``CosineDecayRestarts`` with ``t_mul != 1``), the side of the restart it lands on depends on
  the last bit of that ``log`` on the CPU at hand, so either side is accepted there: see
  ``test_keras_float32_restart_boundaries``.
- Optax 0.2.8 (``google-deepmind/optax`` ``optax/schedules/_schedule.py`` and ``_join.py``):
  the schedule is called on integer steps, once under ``jax.enable_x64`` (rtol 1e-12) and once
  in JAX's default float32.
- Keras 2 ``decay=`` (removed in Keras 3), hand-derived: ``lr * (1. / (1. + decay *
  iterations))``, from ``keras-team/keras`` ``keras/optimizers.py`` (Keras 2.2/2.3,
  ``SGD.get_updates``) and ``keras/optimizer_v2/optimizer_v2.py`` (``OptimizerV2._decayed_lr``:
  ``lr_t / (1. + decay_t * local_step)`` with ``local_step = iterations``), i.e. applied per
  update (batch), with the iteration count *before* the update.
- fastai ``fit_one_cycle`` (``fastai/fastai`` ``fastai/callback/schedule.py``; fastai is not a
  dependency), hand-derived by re-implementing ``sched_cos``, ``combine_scheds`` and
  ``combined_cos`` and the ``pct_train`` counter of ``TrainEvalCallback``
  (``fastai/callback/core.py``: ``pct_train = epoch / n_epoch`` before each epoch, then
  ``+= 1 / (n_iter * n_epoch)`` after each batch; ``ParamScheduler.before_batch`` sets the
  hyper-parameters from it). fastai keeps the phase fractions in a tensor of torch's default
  dtype (float32 unless changed): the float32 run reproduces that.

The same cases are frozen in ``tests/reference/schedules.json`` (regenerate it with
``python tests/reference/make_schedules.py``); ``tests/test_schedules_reference.py`` checks lrlab
against those numbers without any framework installed.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import enable_x64
from lrlab.schedules import CosineRestarts, parse

REFERENCE = Path(__file__).parent / "reference" / "schedules.json"

# Keras' torch backend trips NumPy 2's __array__(copy=...) deprecation when converting tensors.
keras_warnings = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

#: tolerances for a framework computing in float32: relative, plus absolute relative to the
#: largest value of the case (where ``1 + cos(pi x)`` cancels near the floor of a cosine)
F32_RTOL = 2e-6
F32_ATOL = 2e-7


@dataclass(frozen=True)
class Case:
    """One framework schedule and the lrlab schedule that must give the same numbers."""

    id: str
    framework: str  # torch | keras | optax | keras2 | fastai
    call: str  # the framework's class or function
    kwargs: dict[str, Any]  # its keyword arguments (JSON data)
    lrlab: str  # lrlab text form, read by ``parse``
    steps: tuple[int, ...]
    optim: dict[str, Any] = field(default_factory=dict)  # torch: SGD arguments
    read: str = "lr"  # torch: the param_group entry read ('lr' or 'momentum'); fastai: lr/mom
    rtol: float = 1e-12  # against the framework in float64
    atol: float = 0.0
    note: str = ""

    @property
    def f32_either_side(self) -> tuple[int, ...]:
        """Steps where a float32 computation may land on either side of a jump.

        The restarts of ``cosine_restarts`` with ``t_mul != 1``: Keras finds the period with
        ``floor(log(1 - t/T0 * (1 - t_mul)) / log(t_mul))``, and at a restart that ratio is an
        integer in exact arithmetic, so whether float32 rounds it to the integer or just below
        depends on the last bit of ``log`` on the CPU at hand (lrlab's own float32 restarts
        are as exact as the backend's ``pow``). There a float32 value is accepted on either side
        of the jump: lrlab's value or its left limit.
        """
        s = parse(self.lrlab)
        if not isinstance(s, CosineRestarts) or s.t_mul == 1.0:
            return ()
        return restart_steps(s.first_period, s.t_mul, self.steps)

    def to_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["steps"] = list(self.steps)
        out["f32_either_side"] = list(self.f32_either_side)
        return out


def restart_steps(first: float, t_mul: float, steps: tuple[int, ...]) -> tuple[int, ...]:
    """The steps of ``steps`` where period ``i >= 1`` starts: ``first * (t_mul**i - 1) /
    (t_mul - 1)``, in exact rational arithmetic."""
    f, q, top = Fraction(first), Fraction(t_mul), max(steps)
    starts, i = set(), 1
    while (b := f * (q**i - 1) / (q - 1)) <= top:
        starts.add(b)
        i += 1
    return tuple(k for k in steps if k in starts)


def span(n: int, *far: int) -> tuple[int, ...]:
    """Steps ``0..n`` and some far steps."""
    return (*range(n + 1), *far)


# -- torch --------------------------------------------------------------------------------------

TORCH = "torch"
TORCH_CASES = [
    Case(
        "StepLR-7-0.5",
        TORCH,
        "StepLR",
        {"step_size": 7, "gamma": 0.5},
        "step_decay(init=0.1, drop=0.5, every=7)",
        span(60, 100, 333, 500),
        {"lr": 0.1},
    ),
    Case(
        "StepLR-1-0.9",
        TORCH,
        "StepLR",
        {"step_size": 1, "gamma": 0.9},
        "step_decay(init=1.0, drop=0.9, every=1)",
        span(40, 200),
        {"lr": 1.0},
    ),
    Case(
        "MultiStepLR-repeated",
        TORCH,
        "MultiStepLR",
        {"milestones": [10, 25, 25, 40], "gamma": 0.1},
        "multistep(init=0.5, milestones=[10, 25, 25, 40], factor=0.1, switch='at')",
        span(50, 100),
        {"lr": 0.5},
    ),
    Case(
        "MultiStepLR-from-0",
        TORCH,
        "MultiStepLR",
        {"milestones": [0, 3, 3, 8], "gamma": 0.5},
        "multistep(init=2.0, milestones=[0, 3, 3, 8], factor=0.5, switch='at')",
        span(12),
        {"lr": 2.0},
    ),
    Case(
        "ExponentialLR-0.95",
        TORCH,
        "ExponentialLR",
        {"gamma": 0.95},
        "exponential(init=0.1, decay_rate=0.95, decay_steps=1)",
        span(100, 250, 500),
        {"lr": 0.1},
    ),
    Case(
        "ExponentialLR-1.02",
        TORCH,
        "ExponentialLR",
        {"gamma": 1.02},
        "exponential(init=1e-4, decay_rate=1.02, decay_steps=1)",
        span(60, 300),
        {"lr": 1e-4},
    ),
    Case(
        "CosineAnnealingLR-50",
        TORCH,
        "CosineAnnealingLR",
        {"T_max": 50},
        "cosine(init=0.1, decay_steps=50, end=0.0, past_end='periodic')",
        span(160, 201, 499, 500, 777),
        {"lr": 0.1},
        atol=1e-15,
        note="periodic past T_max: torch's recursion climbs back to the base lr at 2*T_max",
    ),
    Case(
        "CosineAnnealingLR-17-eta_min",
        TORCH,
        "CosineAnnealingLR",
        {"T_max": 17, "eta_min": 0.01},
        "cosine(init=0.2, decay_steps=17, end=0.01, past_end='periodic')",
        span(80),
        {"lr": 0.2},
    ),
    Case(
        "CosineAnnealingWarmRestarts-10",
        TORCH,
        "CosineAnnealingWarmRestarts",
        {"T_0": 10},
        "cosine_restarts(init=0.1, first_period=10, end=0.0)",
        span(45, 99, 100, 101, 1000),
        {"lr": 0.1},
        atol=1e-15,
    ),
    Case(
        "CosineAnnealingWarmRestarts-5-x2-eta_min",
        TORCH,
        "CosineAnnealingWarmRestarts",
        {"T_0": 5, "T_mult": 2, "eta_min": 0.001},
        "cosine_restarts(init=0.1, first_period=5, t_mul=2.0, end=0.001)",
        span(160, 314, 315, 316, 634, 635, 636),
        {"lr": 0.1},
    ),
    Case(
        "CosineAnnealingWarmRestarts-3-x3",
        TORCH,
        "CosineAnnealingWarmRestarts",
        {"T_0": 3, "T_mult": 3},
        "cosine_restarts(init=1.0, first_period=3, t_mul=3.0, end=0.0)",
        span(130, 362, 363, 364),
        {"lr": 1.0},
        atol=1e-15,
    ),
    Case(
        "CyclicLR-triangular",
        TORCH,
        "CyclicLR",
        {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5, "cycle_momentum": False},
        "cyclic(base=0.01, peak=0.1, step_size_up=5)",
        span(50, 101),
        {"lr": 0.5},
    ),
    Case(
        "CyclicLR-triangular2",
        TORCH,
        "CyclicLR",
        {
            "base_lr": 0.001,
            "max_lr": 0.1,
            "step_size_up": 4,
            "mode": "triangular2",
            "cycle_momentum": False,
        },
        "cyclic(base=0.001, peak=0.1, step_size_up=4, mode='triangular2')",
        span(50),
        {"lr": 0.5},
    ),
    Case(
        "CyclicLR-exp_range",
        TORCH,
        "CyclicLR",
        {
            "base_lr": 0.01,
            "max_lr": 0.2,
            "step_size_up": 6,
            "mode": "exp_range",
            "gamma": 0.98,
            "cycle_momentum": False,
        },
        "cyclic(base=0.01, peak=0.2, step_size_up=6, mode='exp_range', gamma=0.98)",
        span(60),
        {"lr": 0.5},
    ),
    Case(
        "CyclicLR-asymmetric",
        TORCH,
        "CyclicLR",
        {
            "base_lr": 0.01,
            "max_lr": 0.1,
            "step_size_up": 3,
            "step_size_down": 7,
            "cycle_momentum": False,
        },
        "cyclic(base=0.01, peak=0.1, step_size_up=3, step_size_down=7)",
        span(45),
        {"lr": 0.5},
    ),
    Case(
        "CyclicLR-asymmetric-triangular2",
        TORCH,
        "CyclicLR",
        {
            "base_lr": 0.01,
            "max_lr": 0.1,
            "step_size_up": 2,
            "step_size_down": 5,
            "mode": "triangular2",
            "cycle_momentum": False,
        },
        "cyclic(base=0.01, peak=0.1, step_size_up=2, step_size_down=5, mode='triangular2')",
        span(40),
        {"lr": 0.5},
    ),
]

_ONE_CYCLE = [  # (id, OneCycleLR kwargs, one_cycle kwargs shared by lr and momentum)
    (
        "cos-100-0.3",
        {"max_lr": 0.1, "total_steps": 100},
        {"total_steps": 100, "pct_start": 0.3},
        {},
    ),
    (
        "linear-37-0.25",
        {
            "max_lr": 1.0,
            "total_steps": 37,
            "pct_start": 0.25,
            "anneal_strategy": "linear",
            "div_factor": 10.0,
            "final_div_factor": 100.0,
        },
        {"total_steps": 37, "pct_start": 0.25, "anneal": "linear"},
        {"div_factor": 10.0, "final_div_factor": 100.0},
    ),
    (
        "cos-3phase-60-0.3",
        {"max_lr": 0.05, "total_steps": 60, "three_phase": True},
        {"total_steps": 60, "pct_start": 0.3, "three_phase": True},
        {},
    ),
    (
        "linear-3phase-45-0.4",
        {
            "max_lr": 0.2,
            "total_steps": 45,
            "pct_start": 0.4,
            "anneal_strategy": "linear",
            "three_phase": True,
            "base_momentum": 0.8,
            "max_momentum": 0.9,
        },
        {"total_steps": 45, "pct_start": 0.4, "anneal": "linear", "three_phase": True},
        {},
    ),
    (
        "cos-1000-0.1",
        {
            "max_lr": 3.0,
            "total_steps": 1000,
            "pct_start": 0.1,
            "div_factor": 30.0,
            "final_div_factor": 1000.0,
        },
        {"total_steps": 1000, "pct_start": 0.1},
        {"div_factor": 30.0, "final_div_factor": 1000.0},
    ),
]


def _kw(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in d.items())


for _name, _torch, _shared, _lr_only in _ONE_CYCLE:
    _T = _torch["total_steps"]
    _steps = tuple(range(_T)) if _T <= 100 else (*range(0, _T, 7), _T - 1)
    _mom = {k: v for k, v in _torch.items() if k in ("base_momentum", "max_momentum")}
    _mom_lrlab = {"base": _mom.get("base_momentum", 0.85), "high": _mom.get("max_momentum", 0.95)}
    TORCH_CASES.append(
        Case(
            f"OneCycleLR-{_name}",
            TORCH,
            "OneCycleLR",
            _torch,
            f"one_cycle({_kw({'peak': _torch['max_lr'], **_shared, **_lr_only})}, "
            "convention='torch')",
            _steps,
            {"lr": 0.1, "momentum": 0.9},
            note="steps 0..total_steps-1; torch extrapolates its last phase at "
            "step total_steps (and raises after it), lrlab holds the final value",
        )
    )
    TORCH_CASES.append(
        Case(
            f"OneCycleLR-{_name}-momentum",
            TORCH,
            "OneCycleLR",
            _torch,
            f"one_cycle_momentum({_kw(_shared)}, {_kw(_mom_lrlab)}, convention='torch')",
            _steps,
            {"lr": 0.1, "momentum": 0.9},
            read="momentum",
        )
    )

TORCH_CASES += [
    Case(
        "PolynomialLR-20-1",
        TORCH,
        "PolynomialLR",
        {"total_iters": 20},
        "polynomial(init=0.1, decay_steps=20, end=0.0)",
        span(30, 100),
        {"lr": 0.1},
    ),
    Case(
        "PolynomialLR-30-2",
        TORCH,
        "PolynomialLR",
        {"total_iters": 30, "power": 2.0},
        "polynomial(init=0.3, decay_steps=30, end=0.0, power=2.0)",
        span(40),
        {"lr": 0.3},
    ),
    Case(
        "PolynomialLR-25-0.5",
        TORCH,
        "PolynomialLR",
        {"total_iters": 25, "power": 0.5},
        "polynomial(init=0.3, decay_steps=25, end=0.0, power=0.5)",
        span(30),
        {"lr": 0.3},
    ),
    Case(
        "LinearLR-defaults",
        TORCH,
        "LinearLR",
        {},
        f"linear(init={0.1 * (1.0 / 3)!r}, end=0.1, steps=5)",
        span(10, 100),
        {"lr": 0.1},
    ),
    Case(
        "LinearLR-down",
        TORCH,
        "LinearLR",
        {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 40},
        "linear(init=0.5, end=0.05, steps=40)",
        span(50),
        {"lr": 0.5},
    ),
    Case(
        "LambdaLR-noam-64-40",
        TORCH,
        "LambdaLR",
        {"lr_lambda": {"noam": [64, 40]}},
        "noam(d_model=64, warmup_steps=40, factor=2.0)",
        span(120, 399, 1000),
        {"lr": 2.0},
        note="lr_lambda = lambda t: d**-0.5 * min((t+1)**-0.5, (t+1) * w**-1.5)",
    ),
    Case(
        "LambdaLR-noam-512-4000",
        TORCH,
        "LambdaLR",
        {"lr_lambda": {"noam": [512, 4000]}},
        "noam(d_model=512, warmup_steps=4000)",
        (*range(0, 6001, 250), 3998, 3999, 4000),
        {"lr": 1.0},
    ),
]

# -- Keras 3 ------------------------------------------------------------------------------------

KERAS = "keras"
KERAS_CASES = [
    Case(
        "ExponentialDecay",
        KERAS,
        "ExponentialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.96},
        "exponential(init=0.1, decay_rate=0.96, decay_steps=10)",
        span(60, 100, 1000, 12345),
    ),
    Case(
        "ExponentialDecay-staircase",
        KERAS,
        "ExponentialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5, "staircase": True},
        "exponential(init=0.1, decay_rate=0.5, decay_steps=7, staircase=True)",
        span(60, 300),
    ),
    Case(
        "PiecewiseConstantDecay",
        KERAS,
        "PiecewiseConstantDecay",
        {"boundaries": [10, 20, 35], "values": [0.1, 0.05, 0.01, 0.001]},
        "piecewise_constant(boundaries=[10, 20, 35], values=[0.1, 0.05, 0.01, 0.001], "
        "switch='after')",
        span(45, 1000),
    ),
    Case(
        "PolynomialDecay",
        KERAS,
        "PolynomialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 30, "end_learning_rate": 0.001},
        "polynomial(init=0.1, decay_steps=30, end=0.001)",
        span(50, 100),
    ),
    Case(
        "PolynomialDecay-cycle-power",
        KERAS,
        "PolynomialDecay",
        {
            "initial_learning_rate": 0.1,
            "decay_steps": 10,
            "end_learning_rate": 0.01,
            "power": 2.5,
            "cycle": True,
        },
        "polynomial(init=0.1, decay_steps=10, end=0.01, power=2.5, cycle=True)",
        span(45, 99, 100, 101),
    ),
    Case(
        "PolynomialDecay-sqrt",
        KERAS,
        "PolynomialDecay",
        {"initial_learning_rate": 0.2, "decay_steps": 25, "end_learning_rate": 0.0, "power": 0.5},
        "polynomial(init=0.2, decay_steps=25, end=0.0, power=0.5)",
        span(40),
        atol=1e-15,
    ),
    Case(
        "InverseTimeDecay",
        KERAS,
        "InverseTimeDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5},
        "inverse_time(init=0.1, decay_rate=0.5, decay_steps=5)",
        span(50, 1000),
    ),
    Case(
        "InverseTimeDecay-staircase",
        KERAS,
        "InverseTimeDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 1.0, "staircase": True},
        "inverse_time(init=0.1, decay_rate=1.0, decay_steps=4, staircase=True)",
        span(40, 999),
    ),
    Case(
        "CosineDecay",
        KERAS,
        "CosineDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 40},
        "cosine(init=0.1, decay_steps=40)",
        span(60, 1000),
        atol=1e-15,
    ),
    Case(
        "CosineDecay-alpha",
        KERAS,
        "CosineDecay",
        {"initial_learning_rate": 0.3, "decay_steps": 33, "alpha": 0.1},
        "cosine(init=0.3, decay_steps=33, alpha=0.1)",
        span(50),
    ),
    Case(
        "CosineDecay-warmup",
        KERAS,
        "CosineDecay",
        {
            "initial_learning_rate": 0.0,
            "decay_steps": 40,
            "alpha": 0.05,
            "warmup_target": 0.1,
            "warmup_steps": 10,
        },
        "warmup(cosine(init=0.1, decay_steps=40, alpha=0.05), steps=10, start=0.0)",
        span(60, 1000),
        note="Keras' decay_steps excludes the warmup: lrlab's warmup(...) counts the wrapped "
        "schedule from the end of the warmup",
    ),
    Case(
        "CosineDecay-warmup-from-0.01",
        KERAS,
        "CosineDecay",
        {"initial_learning_rate": 0.01, "decay_steps": 25, "warmup_target": 0.2, "warmup_steps": 7},
        "warmup(cosine(init=0.2, decay_steps=25), steps=7, start=0.01)",
        span(40),
        atol=1e-15,
    ),
    Case(
        "CosineDecayRestarts-x2",
        KERAS,
        "CosineDecayRestarts",
        {"initial_learning_rate": 0.1, "first_decay_steps": 10},
        "cosine_restarts(init=0.1, first_period=10, t_mul=2.0)",
        span(160, 309, 310, 311, 630),
        atol=1e-15,
    ),
    Case(
        "CosineDecayRestarts-x1-m_mul-alpha",
        KERAS,
        "CosineDecayRestarts",
        {
            "initial_learning_rate": 0.1,
            "first_decay_steps": 12,
            "t_mul": 1.0,
            "m_mul": 0.8,
            "alpha": 0.1,
        },
        "cosine_restarts(init=0.1, first_period=12, t_mul=1.0, m_mul=0.8, alpha=0.1)",
        span(75),
    ),
    Case(
        "CosineDecayRestarts-x1.5-m_mul-alpha",
        KERAS,
        "CosineDecayRestarts",
        {
            "initial_learning_rate": 0.2,
            "first_decay_steps": 8,
            "t_mul": 1.5,
            "m_mul": 0.9,
            "alpha": 0.05,
        },
        "cosine_restarts(init=0.2, first_period=8, t_mul=1.5, m_mul=0.9, alpha=0.05)",
        span(110),
    ),
    Case(
        "CosineDecayRestarts-x3",
        KERAS,
        "CosineDecayRestarts",
        {"initial_learning_rate": 1.0, "first_decay_steps": 4, "t_mul": 3.0, "m_mul": 0.5},
        "cosine_restarts(init=1.0, first_period=4, t_mul=3.0, m_mul=0.5)",
        span(170, 484),
        atol=1e-15,
    ),
]

# -- Keras 2 decay= (hand-derived) ---------------------------------------------------------------

KERAS2_CASES = [
    Case(
        "keras2-decay-1e-3",
        "keras2",
        "decay",
        {"lr": 0.01, "decay": 1e-3},
        "keras2_decay(lr=0.01, decay=0.001)",
        span(100, 1000, 10000, 123456),
    ),
    Case(
        "keras2-decay-lr-over-epochs",
        "keras2",
        "decay",
        {"lr": 0.1, "decay": 0.1 / 50},
        "keras2_decay(lr=0.1, decay=0.002)",
        span(60, 500, 5000),
        note="the classic tutorial choice decay = lr / epochs, applied per batch",
    ),
]

# -- Optax --------------------------------------------------------------------------------------

OPTAX = "optax"


def _opt(call: str, **kwargs: Any) -> dict[str, Any]:
    """A nested Optax schedule (for ``join_schedules``)."""
    return {"optax": call, "kwargs": kwargs}


OPTAX_CASES = [
    Case(
        "constant_schedule",
        OPTAX,
        "constant_schedule",
        {"value": 0.01},
        "constant(0.01)",
        span(5, 10**6),
    ),
    Case(
        "linear_schedule-up",
        OPTAX,
        "linear_schedule",
        {"init_value": 0.0, "end_value": 0.1, "transition_steps": 20},
        "linear(init=0.0, end=0.1, steps=20)",
        span(30, 1000),
    ),
    Case(
        "linear_schedule-begin",
        OPTAX,
        "linear_schedule",
        {"init_value": 0.1, "end_value": 0.001, "transition_steps": 20, "transition_begin": 5},
        "shift(linear(init=0.1, end=0.001, steps=20), steps=5)",
        span(40),
    ),
    Case(
        "polynomial_schedule",
        OPTAX,
        "polynomial_schedule",
        {
            "init_value": 0.1,
            "end_value": 0.001,
            "power": 2.0,
            "transition_steps": 30,
            "transition_begin": 10,
        },
        "shift(polynomial(init=0.1, decay_steps=30, end=0.001, power=2.0), steps=10)",
        span(50),
    ),
    Case(
        "exponential_decay",
        OPTAX,
        "exponential_decay",
        {"init_value": 0.1, "transition_steps": 10, "decay_rate": 0.5},
        "exponential(init=0.1, decay_rate=0.5, decay_steps=10)",
        span(60, 300),
    ),
    Case(
        "exponential_decay-staircase-begin",
        OPTAX,
        "exponential_decay",
        {
            "init_value": 0.1,
            "transition_steps": 6,
            "decay_rate": 0.7,
            "transition_begin": 7,
            "staircase": True,
        },
        "shift(exponential(init=0.1, decay_rate=0.7, decay_steps=6, staircase=True), steps=7)",
        span(60),
    ),
    Case(
        "exponential_decay-floor",
        OPTAX,
        "exponential_decay",
        {"init_value": 0.1, "transition_steps": 5, "decay_rate": 0.5, "end_value": 0.01},
        "exponential(init=0.1, decay_rate=0.5, decay_steps=5, end=0.01)",
        span(40, 1000),
    ),
    Case(
        "exponential_decay-ceiling",
        OPTAX,
        "exponential_decay",
        {
            "init_value": 0.01,
            "transition_steps": 4,
            "decay_rate": 1.5,
            "end_value": 0.1,
            "transition_begin": 3,
        },
        "shift(exponential(init=0.01, decay_rate=1.5, decay_steps=4, end=0.1), steps=3)",
        span(40, 1000),
    ),
    Case(
        "cosine_decay_schedule-alpha",
        OPTAX,
        "cosine_decay_schedule",
        {"init_value": 0.1, "decay_steps": 50, "alpha": 0.1},
        "cosine(init=0.1, decay_steps=50, alpha=0.1)",
        span(60, 10**5),
    ),
    Case(
        "cosine_decay_schedule-exponent",
        OPTAX,
        "cosine_decay_schedule",
        {"init_value": 0.2, "decay_steps": 30, "exponent": 2.0},
        "cosine(init=0.2, decay_steps=30, exponent=2.0)",
        span(40),
        atol=1e-15,
    ),
    Case(
        "warmup_cosine_decay_schedule",
        OPTAX,
        "warmup_cosine_decay_schedule",
        {
            "init_value": 0.0,
            "peak_value": 0.1,
            "warmup_steps": 10,
            "decay_steps": 100,
            "end_value": 0.001,
        },
        "warmup_cosine(peak=0.1, warmup_steps=10, total_steps=100, end=0.001)",
        span(120, 1000),
        note="Optax's decay_steps includes the warmup (lrlab's total_steps)",
    ),
    Case(
        "warmup_cosine_decay_schedule-exponent",
        OPTAX,
        "warmup_cosine_decay_schedule",
        {
            "init_value": 0.01,
            "peak_value": 0.3,
            "warmup_steps": 7,
            "decay_steps": 40,
            "exponent": 1.5,
        },
        "warmup_cosine(peak=0.3, warmup_steps=7, total_steps=40, start=0.01, exponent=1.5)",
        span(50),
        atol=1e-15,
    ),
    Case(
        "warmup_cosine_decay_schedule-no-warmup",
        OPTAX,
        "warmup_cosine_decay_schedule",
        {"init_value": 0.0, "peak_value": 0.1, "warmup_steps": 0, "decay_steps": 30},
        "warmup_cosine(peak=0.1, warmup_steps=0, total_steps=30)",
        span(40),
        atol=1e-15,
    ),
    Case(
        "piecewise_constant_schedule-multistep",
        OPTAX,
        "piecewise_constant_schedule",
        {"init_value": 0.1, "boundaries_and_scales": {"10": 0.1, "25": 0.1}},
        "multistep(init=0.1, milestones=[10, 25], factor=0.1, switch='at')",
        span(40),
    ),
    Case(
        "piecewise_constant_schedule-values",
        OPTAX,
        "piecewise_constant_schedule",
        {"init_value": 0.1, "boundaries_and_scales": {"5": 0.5, "15": 2.0, "30": 0.1}},
        "piecewise_constant(boundaries=[5, 15, 30], values=[0.1, 0.05, 0.1, 0.01], switch='at')",
        span(40),
    ),
    Case(
        "join_schedules",
        OPTAX,
        "join_schedules",
        {
            "schedules": [
                _opt("linear_schedule", init_value=0.0, end_value=0.1, transition_steps=10),
                _opt("cosine_decay_schedule", init_value=0.1, decay_steps=40),
                _opt("constant_schedule", value=0.001),
            ],
            "boundaries": [10, 50],
        },
        "join([linear(init=0.0, end=0.1, steps=10), cosine(init=0.1, decay_steps=40), "
        "constant(0.001)], boundaries=[10, 50])",
        span(70),
        atol=1e-15,
    ),
    Case(
        "cosine_onecycle_schedule",
        OPTAX,
        "cosine_onecycle_schedule",
        {"transition_steps": 100, "peak_value": 0.1},
        "one_cycle(peak=0.1, total_steps=100, pct_start=0.3, convention='optax')",
        span(120, 1000),
    ),
    Case(
        "cosine_onecycle_schedule-37",
        OPTAX,
        "cosine_onecycle_schedule",
        {
            "transition_steps": 37,
            "peak_value": 1.0,
            "pct_start": 0.25,
            "div_factor": 10.0,
            "final_div_factor": 100.0,
        },
        "one_cycle(peak=1.0, total_steps=37, pct_start=0.25, div_factor=10.0, "
        "final_div_factor=100.0, convention='optax')",
        span(45),
    ),
    Case(
        "sgdr_schedule",
        OPTAX,
        "sgdr_schedule",
        {
            "cosine_kwargs": [
                {
                    "init_value": 0.0,
                    "peak_value": 0.1,
                    "warmup_steps": 5,
                    "decay_steps": 30,
                    "end_value": 0.001,
                },
                {
                    "init_value": 0.001,
                    "peak_value": 0.05,
                    "warmup_steps": 3,
                    "decay_steps": 40,
                    "end_value": 0.0,
                },
                {"init_value": 0.0, "peak_value": 0.02, "warmup_steps": 10, "decay_steps": 20},
            ]
        },
        "join([warmup_cosine(peak=0.1, warmup_steps=5, total_steps=30, end=0.001), "
        "warmup_cosine(peak=0.05, warmup_steps=3, total_steps=40, start=0.001), "
        "warmup_cosine(peak=0.02, warmup_steps=10, total_steps=20)], boundaries=[30, 70])",
        span(100),
        atol=1e-15,
    ),
    Case(
        "warmup_exponential_decay_schedule",
        OPTAX,
        "warmup_exponential_decay_schedule",
        {
            "init_value": 0.0,
            "peak_value": 0.1,
            "warmup_steps": 10,
            "transition_steps": 5,
            "decay_rate": 0.8,
            "transition_begin": 3,
            "staircase": True,
            "end_value": 0.01,
        },
        "warmup(shift(exponential(init=0.1, decay_rate=0.8, decay_steps=5, staircase=True, "
        "end=0.01), steps=3), steps=10)",
        span(80, 1000),
    ),
]

# -- fastai fit_one_cycle (hand-derived) ---------------------------------------------------------

FASTAI = "fastai"
FASTAI_CASES = [
    Case(
        "fit_one_cycle-5x20",
        FASTAI,
        "fit_one_cycle",
        {"n_epoch": 5, "n_iter": 20, "lr_max": 0.01},
        "one_cycle_fastai(lr_max=0.01, total_steps=100)",
        span(99),
    ),
    Case(
        "fit_one_cycle-5x20-mom",
        FASTAI,
        "fit_one_cycle",
        {"n_epoch": 5, "n_iter": 20, "lr_max": 0.01},
        "one_cycle_momentum(total_steps=100, pct_start=0.25, convention='fastai')",
        span(99),
        read="mom",
    ),
    Case(
        "fit_one_cycle-3x17",
        FASTAI,
        "fit_one_cycle",
        {"n_epoch": 3, "n_iter": 17, "lr_max": 0.5},
        "one_cycle_fastai(lr_max=0.5, total_steps=51)",
        span(50),
    ),
    Case(
        "fit_one_cycle-3x17-mom",
        FASTAI,
        "fit_one_cycle",
        {"n_epoch": 3, "n_iter": 17, "lr_max": 0.5},
        "one_cycle_momentum(total_steps=51, pct_start=0.25, convention='fastai')",
        span(50),
        read="mom",
    ),
    Case(
        "fit_one_cycle-4x25-custom",
        FASTAI,
        "fit_one_cycle",
        {
            "n_epoch": 4,
            "n_iter": 25,
            "lr_max": 0.1,
            "div": 10.0,
            "div_final": 1e4,
            "pct_start": 0.3,
            "moms": [0.9, 0.8, 0.9],
        },
        "one_cycle(peak=0.1, total_steps=100, pct_start=0.3, div_factor=10.0, "
        "final_div_factor=10000.0, convention='fastai')",
        span(99),
    ),
    Case(
        "fit_one_cycle-4x25-custom-mom",
        FASTAI,
        "fit_one_cycle",
        {
            "n_epoch": 4,
            "n_iter": 25,
            "lr_max": 0.1,
            "div": 10.0,
            "div_final": 1e4,
            "pct_start": 0.3,
            "moms": [0.9, 0.8, 0.9],
        },
        "one_cycle_momentum(total_steps=100, pct_start=0.3, base=0.8, high=0.9, "
        "convention='fastai')",
        span(99),
        read="mom",
    ),
]

CASES: list[Case] = TORCH_CASES + KERAS_CASES + KERAS2_CASES + OPTAX_CASES + FASTAI_CASES


# -- the frameworks' values ---------------------------------------------------------------------


def _noam_lambda(d: int, w: int) -> Callable[[int], float]:
    """The Transformer schedule as people write it for torch ``LambdaLR`` (steps from 1)."""
    return lambda t: d**-0.5 * min((t + 1) ** -0.5, (t + 1) * w**-1.5)


def torch_values(case: Case, dtype: str = "float64") -> np.ndarray:
    """Step a real SGD optimizer; read ``param_groups[0][case.read]`` after each step."""
    import torch

    kwargs = dict(case.kwargs)
    if "lr_lambda" in kwargs:
        kwargs["lr_lambda"] = _noam_lambda(*kwargs["lr_lambda"]["noam"])
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([param], **case.optim)
    sched = getattr(torch.optim.lr_scheduler, case.call)(opt, **kwargs)
    want, out = set(case.steps), {}
    for k in range(max(case.steps) + 1):
        if k:
            opt.step()  # no gradient: a no-op, but keeps torch's order-of-calls check quiet
            sched.step()
        if k in want:
            out[k] = float(opt.param_groups[0][case.read])
    return np.array([out[k] for k in case.steps])


def keras_values(case: Case, dtype: str = "float32") -> np.ndarray:
    """Call the Keras 3 schedule on each integer step, computing in ``dtype`` (Keras' floatx).

    One step at a time, as the optimizer calls it with its scalar ``iterations``: under the
    torch backend ``PiecewiseConstantDecay`` (in-place ``+=`` on a scalar) and the warmup of
    ``CosineDecay`` (``ops.cond`` on the step) do not accept a vector of steps; on the JAX
    backend ``jax.vmap`` maps the scalar call over the steps.
    """
    import keras

    old = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        sched = getattr(keras.optimizers.schedules, case.call)(**case.kwargs)
        if keras.backend.backend() == "jax":
            # all steps in one vectorised eager call (op by op, eager JAX takes seconds per
            # case); not under jax.jit, where XLA's t * (1 / k) for a constant k leaves
            # PolynomialDecay's 1 - t / k at 1e-9 instead of 0 past decay_steps
            import jax

            steps = keras.ops.convert_to_tensor(np.asarray(case.steps, dtype=np.int64))
            vals = list(keras.ops.convert_to_numpy(jax.vmap(sched)(steps)))
        else:
            vals = [
                keras.ops.convert_to_numpy(sched(keras.ops.convert_to_tensor(np.int64(k))))
                for k in case.steps
            ]
    finally:
        keras.config.set_floatx(old)
    assert {v.dtype for v in vals} == {np.dtype(dtype)}, {v.dtype for v in vals}
    return np.array(vals, dtype=np.float64)


def keras2_values(case: Case, dtype: str = "float64") -> np.ndarray:
    """Keras 2's ``decay=``: ``lr * (1. / (1. + decay * iterations))`` in ``dtype``."""
    f = np.dtype(dtype).type
    it = np.asarray(case.steps, dtype=dtype)
    lr, decay = f(case.kwargs["lr"]), f(case.kwargs["decay"])
    return np.asarray(lr * (f(1.0) / (f(1.0) + decay * it)), dtype=np.float64)


def _optax_schedule(call: str, kwargs: dict[str, Any]) -> Callable[[Any], Any]:
    import optax

    kw = dict(kwargs)
    if call == "join_schedules":
        kw["schedules"] = [_optax_schedule(s["optax"], s["kwargs"]) for s in kw["schedules"]]
    if "boundaries_and_scales" in kw:  # JSON keys are strings
        kw["boundaries_and_scales"] = {int(b): v for b, v in kw["boundaries_and_scales"].items()}
    return getattr(optax, call)(**kw)


def optax_values(case: Case, dtype: str = "float64") -> np.ndarray:
    """Call the Optax schedule on integer steps (``jit(vmap(schedule))``), in float64
    (``jax.enable_x64``) or float32."""
    import jax
    import jax.numpy as jnp

    with enable_x64(dtype == "float64"):
        fn = _optax_schedule(case.call, case.kwargs)
        # vmap: piecewise_interpolate_schedule, behind the one-cycle schedules, only accepts a
        # scalar count; jit: as inside a training step (and far faster than eager dispatch)
        one = jax.jit(jax.vmap(lambda c: jnp.asarray(fn(c), dtype=dtype)))
        out = np.asarray(one(jnp.asarray(case.steps)))
        assert out.dtype == np.dtype(dtype), out.dtype
    return np.asarray(out, dtype=np.float64)


def fastai_values(case: Case, dtype: str = "float64") -> np.ndarray:
    """fastai ``fit_one_cycle`` re-implemented from ``fastai/callback/schedule.py``.

    ``sched_cos(start, end, pos) = start + (1 + cos(pi * (1 - pos))) * (end - start) / 2``;
    ``combine_scheds(pcts, scheds)`` keeps ``pcts = cumsum(tensor([0] + pcts))`` in torch's
    default dtype (``dtype`` here), picks ``idx = min(max{i: pos >= pcts[i]}, len - 2)`` and
    calls ``scheds[idx]((pos - pcts[idx]) / (pcts[idx+1] - pcts[idx]))``, that ratio computed in
    the tensor's dtype; ``combined_cos(pct, a, b, c)`` is ``combine_scheds([pct, 1 - pct],
    [SchedCos(a, b), SchedCos(b, c)])``. ``fit_one_cycle`` uses ``combined_cos(pct_start,
    lr_max / div, lr_max, lr_max / div_final)`` for the lr and ``combined_cos(pct_start, *moms)``
    for the momentum. ``pos`` is ``pct_train``, as ``TrainEvalCallback`` accumulates it.
    """
    kw = case.kwargs
    n_epoch, n_iter, lr_max = kw["n_epoch"], kw["n_iter"], kw["lr_max"]
    div, div_final = kw.get("div", 25.0), kw.get("div_final", 1e5)
    pct_start, moms = kw.get("pct_start", 0.25), kw.get("moms", (0.95, 0.85, 0.95))
    ftype = np.dtype(dtype).type
    pcts = np.cumsum(np.array([0.0, pct_start, 1 - pct_start], dtype=dtype))
    assert float(pcts[-1]) == 1.0  # combine_scheds asserts sum(pcts) == 1

    def sched_cos(start: float, end: float, pos: float) -> float:
        return start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2

    def combined_cos(a: float, b: float, c: float, pos: float) -> float:
        idx = min(int(np.nonzero(pos >= pcts)[0].max()), len(pcts) - 2)
        actual = (ftype(pos) - pcts[idx]) / (pcts[idx + 1] - pcts[idx])
        start, end = ((a, b), (b, c))[idx]
        return sched_cos(start, end, float(actual))

    lr = (lr_max / div, lr_max, lr_max / div_final)
    values = []
    for epoch in range(n_epoch):
        pct_train = epoch / n_epoch  # TrainEvalCallback.before_train
        for _ in range(n_iter):
            values.append(combined_cos(*(lr if case.read == "lr" else moms), pct_train))
            pct_train += 1.0 / (n_iter * n_epoch)  # TrainEvalCallback.after_batch
    return np.array(values)[list(case.steps)]


RUNNERS: dict[str, Callable[[Case, str], np.ndarray]] = {
    "torch": torch_values,
    "keras": keras_values,
    "keras2": keras2_values,
    "optax": optax_values,
    "fastai": fastai_values,
}
NEEDS = {"torch": ("torch",), "keras": ("keras",), "optax": ("jax", "optax")}


#: the precisions each framework is compared in (the first is the one frozen in the JSON file).
#: torch schedulers compute in Python floats. Keras only in float32: under its torch backend,
#: ``floatx="float64"`` still runs ``ops.floor``, ``ops.ceil`` and ``ops.minimum`` in float32
#: (``keras.src.backend.common.dtypes.result_type("float64", float)`` is ``"float32"``), so a
#: float64 Keras pin would pin Keras' own rounding.
DTYPES = {
    "torch": ("float64",),
    "keras": ("float32",),
    "keras2": ("float64", "float32"),
    "optax": ("float64", "float32"),
    "fastai": ("float64", "float32"),
}


def tolerance(case: Case, dtype: str, want: np.ndarray) -> tuple[float, float]:
    """``(rtol, atol)`` for comparing lrlab with the framework computing in ``dtype``."""
    if dtype == "float64":
        return case.rtol, case.atol
    return F32_RTOL, F32_ATOL * float(np.max(np.abs(want)))


def framework_values(case: Case, dtype: str) -> np.ndarray:
    """The framework's numbers for ``case`` (skips the test if the framework is absent)."""
    for module in NEEDS.get(case.framework, ()):
        pytest.importorskip(module)
    return RUNNERS[case.framework](case, dtype)


def lrlab_values(case: Case) -> np.ndarray:
    """lrlab's numbers for ``case``, in float64."""
    return np.asarray(parse(case.lrlab)(np.asarray(case.steps)), dtype=np.float64)


def lrlab_left_limits(case: Case) -> np.ndarray:
    """lrlab's numbers, with the left limit at the steps of ``case.f32_either_side``."""
    out = lrlab_values(case)
    either = case.f32_either_side
    if either:
        idx = [case.steps.index(k) for k in either]
        out[idx] = parse(case.lrlab)(np.asarray(either, dtype=np.float64) - 1e-9)
    return out


def agreement(case: Case, dtype: str, want: np.ndarray) -> np.ndarray:
    """Per step: does lrlab (float64) match the framework computing in ``dtype``?

    In float32, at the steps of ``case.f32_either_side`` lrlab's left limit is accepted too:
    the framework may land on either side of the jump there.
    """
    rtol, atol = tolerance(case, dtype, want)
    ok = np.abs(lrlab_values(case) - want) <= atol + rtol * np.abs(want)
    if dtype == "float32" and case.f32_either_side:
        ok |= np.abs(lrlab_left_limits(case) - want) <= atol + rtol * np.abs(want)
    return ok


def assert_close(got: np.ndarray, want: np.ndarray, rtol: float, atol: float, what: str) -> None:
    bad = ~(np.abs(got - want) <= atol + rtol * np.abs(want))
    report_bad(bad, got, want, what)


def report_bad(bad: np.ndarray, got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Fail with the first differing entries, if any."""
    if bad.any():
        i = np.flatnonzero(bad)[:8]
        rows = "\n".join(f"  i={j}: lrlab {got[j]!r}  framework {want[j]!r}" for j in i)
        raise AssertionError(f"{what}: {bad.sum()} of {bad.size} differ\n{rows}")


def _ids(cases: list[Case]) -> list[str]:
    return [f"{c.framework}:{c.id}" for c in cases]


# -- the tests ----------------------------------------------------------------------------------


def test_case_ids_are_unique():
    assert len({c.id for c in CASES}) == len(CASES)


def _golden_params() -> list[Any]:
    out = []
    for c in CASES:
        marks = [keras_warnings] if c.framework == "keras" else []
        for dtype in DTYPES[c.framework]:
            out.append(pytest.param(c, dtype, id=f"{c.framework}:{c.id}:{dtype}", marks=marks))
    return out


@pytest.mark.parametrize(("case", "dtype"), _golden_params())
def test_golden(case: Case, dtype: str):
    """lrlab (float64) == the framework computing in ``dtype``."""
    want = framework_values(case, dtype)
    ok = agreement(case, dtype, want)
    report_bad(~ok, lrlab_values(case), want, f"{case.lrlab} vs {case.call} in {dtype}")


@keras_warnings
def test_keras_float32_restart_boundaries():
    """Keras' float32 ``floor(log(1 - t/T0 * (1 - t_mul)) / log(t_mul))`` may land on either side.

    ``CosineDecayRestarts(0.2, first_decay_steps=8, t_mul=1.5, m_mul=0.9, alpha=0.05)`` restarts
    at steps 8, 20, 38, 65, 105.5 ... At step 20, ``log(2.25) / log(1.5)`` is exactly 2; in
    float32 it is exactly 2 on some CPUs (Keras restarts: rate
    ``alpha * init + (1 - alpha) * init * m_mul**2 = 0.1639``) and just under 2 on others
    (Keras is still at the *end* of the period that began at 8: rate ``alpha * init = 0.01``),
    depending on the last bit of the float32 ``log`` there. The test accepts either value at the
    restart, because that bit is Keras' (and the CPU's) and not lrlab's; the steps around it
    must agree. lrlab restarts exactly at 20, as Keras' formula does in exact arithmetic and as
    torch does with its integer counter (pinned in ``test_golden`` against
    ``CosineAnnealingWarmRestarts``).
    """
    keras = pytest.importorskip("keras")
    old = keras.config.floatx()
    keras.config.set_floatx("float32")
    try:
        s = keras.optimizers.schedules.CosineDecayRestarts(
            0.2, first_decay_steps=8, t_mul=1.5, m_mul=0.9, alpha=0.05
        )
        got = [float(keras.ops.convert_to_numpy(s(np.int64(k)))) for k in (18, 19, 20, 21, 22)]
    finally:
        keras.config.set_floatx(old)
    lr = parse("cosine_restarts(init=0.2, first_period=8, t_mul=1.5, m_mul=0.9, alpha=0.05)")
    restart = 0.05 * 0.2 + 0.95 * 0.2 * 0.9**2
    assert lr(20) == pytest.approx(restart, rel=1e-12)  # lrlab: exactly the restart
    np.testing.assert_allclose(got[:2] + got[3:], lr(np.array([18, 19, 21, 22])), rtol=1e-5)
    either = (restart, float(lr(19.999999)))  # the restart, or the end of the period before
    assert either[1] == pytest.approx(0.01, rel=1e-6)
    assert any(got[2] == pytest.approx(v, rel=1e-5) for v in either), (got[2], either)


def test_either_side_steps_are_the_log_restarts():
    """The steps accepted on either side are exactly the integer restarts with ``t_mul != 1``."""
    by_id = {c.id: c for c in CASES}
    assert by_id["CosineDecayRestarts-x1.5-m_mul-alpha"].f32_either_side == (8, 20, 38, 65)
    assert by_id["CosineDecayRestarts-x2"].f32_either_side == (10, 30, 70, 150, 310, 630)
    assert by_id["CosineDecayRestarts-x1-m_mul-alpha"].f32_either_side == ()
    assert by_id["StepLR-7-0.5"].f32_either_side == ()
    assert restart_steps(8, 1.5, tuple(range(200))) == (8, 20, 38, 65)  # 105.5 is no step


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_lrlab_on_torch_tensors(case: Case):
    """The same schedule on a torch tensor of steps equals the NumPy result (float64)."""
    torch = pytest.importorskip("torch")
    got = parse(case.lrlab)(torch.as_tensor(np.asarray(case.steps)))
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), lrlab_values(case), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_lrlab_under_jax_jit(case: Case):
    """Under ``jax.jit`` (a traced step) the schedule equals the NumPy result: to 1e-13 with
    ``jax_enable_x64``, to float32 precision in JAX's default float32."""
    jax = pytest.importorskip("jax")
    s, want, steps = parse(case.lrlab), lrlab_values(case), np.asarray(case.steps)
    with enable_x64(True):
        got64 = np.asarray(jax.jit(s)(jax.numpy.asarray(steps)))
    assert got64.dtype == np.float64
    np.testing.assert_allclose(got64, want, rtol=1e-13, atol=1e-300)
    got32 = np.asarray(jax.jit(s)(jax.numpy.asarray(steps, dtype=jax.numpy.int32)))
    assert got32.dtype == np.float32
    atol = 1e-6 * float(np.max(np.abs(want)))
    # float32 restarts with t_mul != 1 are as exact as XLA's float32 pow: either side there
    close = np.abs(got32 - want) <= atol + 1e-5 * np.abs(want)
    either = np.abs(got32 - lrlab_left_limits(case)) <= atol + 1e-5 * np.abs(want)
    report_bad(~(close | either), got32.astype(np.float64), want, f"{case.lrlab} (jit, float32)")


def test_torch_one_cycle_past_the_end():
    """torch ``OneCycleLR`` at step ``total_steps`` extrapolates its last phase, then raises.

    Its last phase ends at ``total_steps - 1``; at step ``total_steps`` (one step past the
    ``total_steps`` updates it was built for) ``pct > 1`` and the cosine climbs back up a little,
    and one step later ``get_lr`` raises. lrlab holds the final value from ``total_steps - 1``
    on, so the golden cases stop at ``total_steps - 1``.
    """
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=20)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(20):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    s = parse("one_cycle(peak=0.1, total_steps=20, convention='torch')")
    np.testing.assert_allclose(lrs[:20], s(np.arange(20)), rtol=1e-12)
    final = 0.1 / 25 / 1e4
    assert s(20) == pytest.approx(final, rel=1e-12) and s(10**6) == s(20)
    assert lrs[20] > 1.01 * final  # torch: past the end of its last phase
    opt.step()
    with pytest.raises(ValueError, match="Tried to step 21 times"):
        sched.step()


def test_reference_file_matches_cases():
    """``tests/reference/schedules.json`` holds exactly these cases (regenerate it if not)."""
    data = json.loads(REFERENCE.read_text())
    stored = {c["id"]: c for c in data["cases"]}
    assert sorted(stored) == sorted(c.id for c in CASES), (
        "run python tests/reference/make_schedules.py"
    )
    keys = ("framework", "call", "kwargs", "lrlab", "steps", "optim", "read", "f32_either_side")
    for case in CASES:
        mine = case.to_json()
        assert {k: stored[case.id][k] for k in keys} == {k: mine[k] for k in keys}, case.id
