"""Shared test material for the schedule tests.

``SCHEDULE_CASES`` is a list of representative schedules, at least one built by every schedule
constructor that ``lrlab.schedules.__all__`` exports (``test_schedules_arrays`` checks that it
stays so). A test that takes an argument named ``schedule_case`` runs once per case; the case is
``(constructor name, schedule)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import lrlab.schedules as sch


# -- module-level functions for custom / recurrence (they have an importable name) ---------------
def inv_sqrt_decay(t: Any) -> Any:
    """0.1 / sqrt(1 + t): works on a Python float and on NumPy / torch / JAX arrays."""
    return 0.1 * (1.0 + t) ** -0.5


def halve_every_third(epoch: int, lr: float) -> float:
    """A Keras ``LearningRateScheduler`` function: halve the rate at epochs 2, 5, 8, ..."""
    return lr * 0.5 if epoch % 3 == 2 else lr


def enable_x64(on: bool = True) -> Any:
    """A context manager that turns JAX's 64-bit mode on or off for its block.

    ``jax.enable_x64`` is the public name from JAX 0.7 on; older JAX (the lowest version lrlab
    declares, 0.6.2) has the same context manager as ``jax.experimental.enable_x64``.
    """
    import jax

    manager = getattr(jax, "enable_x64", None)
    if manager is None:
        from jax.experimental import enable_x64 as manager
    return manager(on)


def fn_name(fn: Callable[..., Any]) -> str:
    """The ``"module:qualname"`` name that custom / recurrence write for ``fn``."""
    return f"{fn.__module__}:{fn.__qualname__}"


#: the ``functions=`` mapping that reads back every custom / recurrence built in the tests
FUNCTIONS: dict[str, Callable[..., Any]] = {
    fn_name(f): f for f in (inv_sqrt_decay, halve_every_third)
}


def _cases() -> list[tuple[str, sch.Schedule]]:
    cos = sch.cosine(init=1.0, decay_steps=10)
    return [
        ("constant", sch.constant(0.1)),
        ("linear", sch.linear(init=0.1, end=0.01, steps=7)),
        ("linear", sch.linear(init=0.0, end=0.5, steps=3)),
        ("polynomial", sch.polynomial(init=1.0, decay_steps=10, power=2.0)),
        ("polynomial", sch.polynomial(init=1.0, decay_steps=10, end=0.1, power=0.5, cycle=True)),
        ("inverse_time", sch.inverse_time(init=1.0, decay_rate=0.5, decay_steps=3)),
        ("inverse_time", sch.inverse_time(init=1.0, decay_rate=0.5, decay_steps=3, staircase=True)),
        ("keras2_decay", sch.keras2_decay(lr=0.1, decay=0.01)),
        ("step_decay", sch.step_decay(init=0.1, drop=0.5, every=3)),
        ("step_decay", sch.step_decay(init=0.1, drop=0.5, every=3, offset=1)),
        ("multistep", sch.multistep(init=1.0, milestones=[2, 5, 5], factor=0.5)),
        ("multistep", sch.multistep(init=1.0, milestones=[2, 5], factor=0.5, switch="after")),
        ("piecewise_constant", sch.piecewise_constant(boundaries=[3, 6], values=[1, 0.5, 0.25])),
        (
            "piecewise_constant",
            sch.piecewise_constant(boundaries=[3, 6], values=[1, 2, 0.25], switch="after"),
        ),
        ("exponential", sch.exponential(init=1.0, decay_rate=0.9, decay_steps=2)),
        (
            "exponential",
            sch.exponential(init=1.0, decay_rate=0.9, decay_steps=2, staircase=True, end=0.3),
        ),
        ("exponential", sch.exponential(init=0.1, decay_rate=1.5, decay_steps=2, end=1.0)),
        ("cosine", sch.cosine(init=1.0, decay_steps=10, alpha=0.1)),
        ("cosine", sch.cosine(init=1.0, decay_steps=10, end=0.2, exponent=2.0)),
        ("cosine", sch.cosine(init=1.0, decay_steps=10, past_end="periodic")),
        ("cosine", sch.cosine(init=0.0, decay_steps=10, end=1.0)),
        ("cosine_restarts", sch.cosine_restarts(init=1.0, first_period=3, end=0.01)),
        (
            "cosine_restarts",
            sch.cosine_restarts(init=1.0, first_period=3, t_mul=2.0, m_mul=0.5, alpha=0.1),
        ),
        ("cyclic", sch.cyclic(base=0.1, peak=1.0, step_size_up=3, step_size_down=5)),
        ("cyclic", sch.cyclic(base=0.1, peak=1.0, step_size_up=3, mode="triangular2")),
        ("cyclic", sch.cyclic(base=0.1, peak=1.0, step_size_up=3, mode="exp_range", gamma=0.99)),
        ("inverse_sqrt", sch.inverse_sqrt(peak=1.0, warmup_steps=4)),
        ("inverse_sqrt", sch.inverse_sqrt(peak=1.0, warmup_steps=4, offset=1)),
        ("one_minus_sqrt", sch.one_minus_sqrt(init=1.0, decay_steps=10, end=0.1)),
        ("custom", sch.custom(inv_sqrt_decay)),
        ("custom", sch.custom(inv_sqrt_decay, vectorized=True)),
        ("recurrence", sch.recurrence(halve_every_third, init=0.1, horizon=8)),
        ("join", sch.join([sch.linear(init=0.0, end=1.0, steps=3), cos], [3])),
        ("join", sch.join([1.0, sch.cosine(init=1.0, decay_steps=10, alpha=0.1), 0.05], [2, 12])),
        ("warmup", sch.warmup(cos, steps=4)),
        ("warmup", sch.warmup(cos, steps=4, start=0.1, shape="exponential")),
        ("warmup", sch.warmup(cos, steps=4, start=0.2, shape="cosine")),
        ("scale", 0.5 * cos),
        ("product", cos * sch.linear(init=1.0, end=0.0, steps=20)),
        ("clip", sch.clip(sch.exponential(init=1.0, decay_rate=0.5), floor=0.1, ceiling=0.8)),
        ("shift", sch.shift(sch.linear(init=1.0, end=0.0, steps=5), 3)),
        ("shift", sch.shift(sch.linear(init=1.0, end=0.0, steps=5), -2)),
        ("by_epoch", sch.by_epoch(sch.step_decay(init=1.0, drop=0.5, every=1), 3)),
        ("by_epoch", sch.by_epoch(cos, 3, fractional=True)),
        ("by_epoch", sch.by_epoch(sch.recurrence(halve_every_third, init=0.1, horizon=6), 2)),
        ("one_cycle", sch.one_cycle(1.0, 20)),
        ("one_cycle", sch.one_cycle(1.0, 20, three_phase=True, anneal="linear")),
        ("one_cycle", sch.one_cycle(1.0, 20, convention="optax")),
        ("one_cycle", sch.one_cycle(1.0, 20, convention="fastai")),
        ("one_cycle_momentum", sch.one_cycle_momentum(20)),
        ("one_cycle_fastai", sch.one_cycle_fastai(1.0, 20)),
        ("warmup_cosine", sch.warmup_cosine(1.0, 3, 13)),
        ("wsd", sch.wsd(1.0, 20, 3, 5)),
        ("wsd", sch.wsd(1.0, 20, 3, 5, decay="1-sqrt")),
        ("wsd", sch.wsd(1.0, 20, 0, 5, decay="cosine")),
        ("noam", sch.noam(512, 4)),
        (
            "nested",
            sch.by_epoch(
                sch.clip(
                    0.5 * sch.warmup(sch.join([cos, sch.shift(0.0 * cos, 2)], [10]), 3), floor=0.01
                ),
                2,
            )
            * sch.constant(2.0),
        ),
    ]


SCHEDULE_CASES: list[tuple[str, sch.Schedule]] = _cases()


def _case_id(i: int, case: tuple[str, sch.Schedule]) -> str:
    return f"{i:02d}-{case[0]}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "schedule_case" in metafunc.fixturenames:
        metafunc.parametrize(
            "schedule_case",
            SCHEDULE_CASES,
            ids=[_case_id(i, c) for i, c in enumerate(SCHEDULE_CASES)],
        )
