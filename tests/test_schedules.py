"""Schedule families: hand-derived values, named conventions, invariants and validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrlab.schedules import (
    Product,
    Scale,
    Schedule,
    by_epoch,
    clip,
    constant,
    cosine,
    cosine_restarts,
    custom,
    cyclic,
    exponential,
    inverse_sqrt,
    inverse_time,
    join,
    keras2_decay,
    linear,
    multistep,
    noam,
    one_cycle,
    one_cycle_fastai,
    one_cycle_momentum,
    one_minus_sqrt,
    piecewise_constant,
    polynomial,
    recurrence,
    shift,
    step_decay,
    warmup,
    warmup_cosine,
    wsd,
)

SQ2 = math.sqrt(2.0)

# -- hand-derived values ----------------------------------------------------------------------
# (id, schedule, steps, expected): every number here can be checked with pencil and paper.
HAND = [
    ("constant", constant(0.25), [0, 7, 1e10], [0.25, 0.25, 0.25]),
    (
        "linear-down",
        linear(init=1.0, end=0.5, steps=4),
        [0, 1, 2, 4, 10],
        [1, 0.875, 0.75, 0.5, 0.5],
    ),
    ("linear-up", linear(init=0.0, end=2.0, steps=4), [0, 1, 4, 5], [0, 0.5, 2, 2]),
    ("polynomial-power1", polynomial(init=1.0, decay_steps=10), [0, 5, 10, 20], [1, 0.5, 0, 0]),
    (
        "polynomial-power2-end",
        polynomial(init=1.0, decay_steps=10, power=2.0, end=0.1),
        [0, 5, 10, 30],
        [1, 0.325, 0.1, 0.1],
    ),
    ("polynomial-sqrt", polynomial(init=1.0, decay_steps=4, power=0.5), [0, 3, 4], [1, 0.5, 0]),
    # Keras cycle=True: horizon T * ceil(t / T) (T at step 0), so the rate jumps up after T
    (
        "polynomial-cycle",
        polynomial(init=1.0, decay_steps=10, cycle=True),
        [0, 5, 10, 11, 15, 20, 21, 35],
        [1, 0.5, 0, 0.45, 0.25, 0, 0.3, 0.125],
    ),
    (
        "inverse_time",
        inverse_time(init=1.0, decay_rate=0.5, decay_steps=2),
        [0, 1, 2, 4, 12],
        [1, 0.8, 2 / 3, 0.5, 0.25],
    ),
    (
        "inverse_time-staircase",
        inverse_time(init=1.0, decay_rate=0.5, decay_steps=2, staircase=True),
        [0, 1, 2, 3, 4, 5],
        [1, 1, 2 / 3, 2 / 3, 0.5, 0.5],
    ),
    ("keras2_decay", keras2_decay(lr=0.1, decay=0.01), [0, 100, 300], [0.1, 0.05, 0.025]),
    # offset=0: torch StepLR, first drop at t = every
    (
        "step_decay-offset0",
        step_decay(init=0.1, drop=0.5, every=10),
        [0, 9, 10, 19, 20, 25],
        [0.1, 0.1, 0.05, 0.05, 0.025, 0.025],
    ),
    # offset=1: the Keras tutorials' floor((1 + epoch) / epochs_drop), first drop at t = every - 1
    (
        "step_decay-offset1",
        step_decay(init=0.1, drop=0.5, every=10, offset=1),
        [0, 8, 9, 18, 19],
        [0.1, 0.1, 0.05, 0.05, 0.025],
    ),
    (
        "multistep-at",
        multistep(init=1.0, milestones=[2, 4], factor=0.1),
        [0, 1, 2, 3, 4, 9],
        [1, 1, 0.1, 0.1, 0.01, 0.01],
    ),
    (
        "multistep-after",
        multistep(init=1.0, milestones=[2, 4], factor=0.1, switch="after"),
        [2, 3, 4, 5],
        [1, 0.1, 0.1, 0.01],
    ),
    (
        "multistep-repeated-milestone",
        multistep(init=1.0, milestones=[3, 3], factor=0.5),
        [2, 3],
        [1, 0.25],
    ),
    (
        "piecewise-at",
        piecewise_constant(boundaries=[10, 20], values=[1, 0.5, 0.25]),
        [9, 10, 19, 20],
        [1, 0.5, 0.5, 0.25],
    ),
    (
        "piecewise-after",
        piecewise_constant(boundaries=[10, 20], values=[1, 0.5, 0.25], switch="after"),
        [10, 11, 20, 21],
        [1, 0.5, 0.5, 0.25],
    ),
    (
        "exponential",
        exponential(init=1.0, decay_rate=0.5, decay_steps=2),
        [0, 1, 2, 4],
        [1, 1 / SQ2, 0.5, 0.25],
    ),
    (
        "exponential-staircase",
        exponential(init=1.0, decay_rate=0.5, decay_steps=2, staircase=True),
        [1, 2, 3, 4],
        [1, 0.5, 0.5, 0.25],
    ),
    (
        "exponential-end-is-floor",
        exponential(init=1.0, decay_rate=0.5, end=0.2),
        [0, 1, 2, 3, 50],
        [1, 0.5, 0.25, 0.2, 0.2],
    ),
    (
        "exponential-end-is-ceiling",
        exponential(init=0.1, decay_rate=2.0, end=0.5),
        [0, 1, 2, 3, 10],
        [0.1, 0.2, 0.4, 0.5, 0.5],
    ),
    ("cosine", cosine(init=1.0, decay_steps=10), [0, 5, 10, 20], [1, 0.5, 0, 0]),
    ("cosine-quarters", cosine(init=1.0, decay_steps=8), [2, 6], [0.5 + SQ2 / 4, 0.5 - SQ2 / 4]),
    # alpha: a fraction of init (Keras, Optax); end: an absolute floor (torch eta_min)
    (
        "cosine-alpha",
        cosine(init=2.0, decay_steps=10, alpha=0.1),
        [0, 5, 10, 15],
        [2, 1.1, 0.2, 0.2],
    ),
    ("cosine-end", cosine(init=2.0, decay_steps=10, end=0.1), [5, 10, 15], [1.05, 0.1, 0.1]),
    (
        "cosine-periodic",
        cosine(init=1.0, decay_steps=10, past_end="periodic"),
        [10, 15, 20, 30],
        [0, 0.5, 1, 0],
    ),
    ("cosine-exponent", cosine(init=1.0, decay_steps=10, exponent=2.0), [5], [0.25]),
    (
        "cosine-ramp-up",
        cosine(init=0.0, decay_steps=10, end=1.0),
        [0, 5, 10, 11],
        [0, 0.5, 1, 1],
    ),
    (
        "cosine_restarts",
        cosine_restarts(init=1.0, first_period=10),
        [0, 5, 10, 15, 20],
        [1, 0.5, 1, 0.5, 1],
    ),
    (
        "cosine_restarts-t_mul",
        cosine_restarts(init=1.0, first_period=10, t_mul=2.0),
        [10, 20, 30, 50, 70],
        [1, 0.5, 1, 0.5, 1],
    ),
    (
        "cosine_restarts-m_mul",
        cosine_restarts(init=1.0, first_period=10, t_mul=2.0, m_mul=0.5),
        [0, 10, 20, 30, 50],
        [1, 0.5, 0.25, 0.25, 0.125],
    ),
    # Keras: m_mul does not scale the floor alpha * init
    (
        "cosine_restarts-alpha",
        cosine_restarts(init=1.0, first_period=10, m_mul=0.5, alpha=0.1),
        [10, 15],
        [0.55, 0.325],
    ),
    (
        "cosine_restarts-end",
        cosine_restarts(init=1.0, first_period=10, end=0.1),
        [5, 10],
        [0.55, 1],
    ),
    (
        "cyclic-triangular",
        cyclic(base=0.1, peak=1.0, step_size_up=2),
        [0, 1, 2, 3, 4, 5],
        [0.1, 0.55, 1, 0.55, 0.1, 0.55],
    ),
    (
        "cyclic-asymmetric",
        cyclic(base=0.1, peak=1.0, step_size_up=2, step_size_down=4),
        [2, 4, 6, 8],
        [1, 0.55, 0.1, 1],
    ),
    (
        "cyclic-triangular2",
        cyclic(base=0.1, peak=1.0, step_size_up=2, mode="triangular2"),
        [2, 6, 10],
        [1, 0.55, 0.325],
    ),
    (
        "cyclic-exp_range",
        cyclic(base=0.1, peak=1.0, step_size_up=2, mode="exp_range", gamma=0.5),
        [1, 2, 3],
        [0.325, 0.325, 0.15625],
    ),
    (
        "inverse_sqrt",
        inverse_sqrt(peak=1.0, warmup_steps=4),
        [0, 2, 4, 16, 64],
        [0, 0.5, 1, 0.5, 0.25],
    ),
    (
        "inverse_sqrt-offset1",
        inverse_sqrt(peak=1.0, warmup_steps=4, offset=1),
        [0, 3, 15],
        [0.25, 1, 0.5],
    ),
    (
        "one_minus_sqrt",
        one_minus_sqrt(init=1.0, decay_steps=100),
        [0, 25, 64, 100, 200],
        [1, 0.5, 0.2, 0, 0],
    ),
    ("one_minus_sqrt-end", one_minus_sqrt(init=1.0, decay_steps=100, end=0.1), [25], [0.55]),
]


@pytest.mark.parametrize(
    ("schedule", "steps", "expected"), [h[1:] for h in HAND], ids=[h[0] for h in HAND]
)
def test_hand_values(schedule, steps, expected):
    got = schedule(np.asarray(steps, dtype=np.float64))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    for t, want in zip(steps, expected):
        assert schedule(t) == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_step_decay_offset1_is_the_keras_tutorial_formula():
    # lrate = initial_lrate * math.pow(drop, math.floor((1 + epoch) / epochs_drop))
    s = step_decay(init=0.1, drop=0.5, every=10, offset=1)
    for epoch in range(60):
        assert s(epoch) == pytest.approx(0.1 * math.pow(0.5, math.floor((1 + epoch) / 10)))


def test_step_decay_offset0_is_torch_steplr_formula():
    s = step_decay(init=0.1, drop=0.1, every=30)
    for t in range(100):
        assert s(t) == pytest.approx(0.1 * 0.1 ** (t // 30), rel=1e-12)


def test_keras2_decay_is_applied_per_update():
    # Keras 2: lr_t = lr * 1 / (1 + decay * iterations), iterations counting batches
    s = keras2_decay(lr=0.01, decay=0.01 / 50)
    for it in (0, 1, 7, 50, 500, 5000):
        assert s(it) == pytest.approx(0.01 / (1 + 0.01 / 50 * it), rel=1e-12)


def test_noam_is_the_paper_formula():
    d, w = 512, 4000
    s = noam(d_model=d, warmup_steps=w)
    for t in (0, 1, 100, 3998, 3999, 4000, 10_000, 10**6):
        n = t + 1  # the paper counts steps from 1
        assert s(t) == pytest.approx(d**-0.5 * min(n**-0.5, n * w**-1.5), rel=1e-12)
    assert s(w - 1) == max(s(np.arange(3 * w)))


def test_cosine_alpha_and_end_reach_the_same_floor_differently():
    a = cosine(init=2.0, decay_steps=10, alpha=0.25)
    e = cosine(init=2.0, decay_steps=10, end=0.25)
    assert a.floor == 0.5 and e.floor == 0.25
    assert a(10) == 0.5 and e(10) == 0.25


# -- invariants ---------------------------------------------------------------------------------
GRID = np.linspace(0.0, 60.0, 6001)

DECAYING = [
    constant(0.3),
    linear(init=1.0, end=0.1, steps=17),
    polynomial(init=1.0, decay_steps=13, power=0.7, end=0.05),
    polynomial(init=1.0, decay_steps=13, power=3.0),
    inverse_time(init=1.0, decay_rate=2.0, decay_steps=3),
    inverse_time(init=1.0, decay_rate=2.0, decay_steps=3, staircase=True),
    keras2_decay(lr=0.1, decay=0.3),
    step_decay(init=1.0, drop=0.7, every=4),
    step_decay(init=1.0, drop=0.7, every=4, offset=1),
    multistep(init=1.0, milestones=[3, 9, 9, 20], factor=0.3),
    multistep(init=1.0, milestones=[3, 9, 20], factor=0.3, switch="after"),
    piecewise_constant(boundaries=[5, 15], values=[1.0, 0.4, 0.4]),
    exponential(init=1.0, decay_rate=0.8, decay_steps=3),
    exponential(init=1.0, decay_rate=0.8, decay_steps=3, staircase=True, end=0.3),
    cosine(init=1.0, decay_steps=20),
    cosine(init=1.0, decay_steps=20, alpha=0.2, exponent=1.7),
    cosine(init=1.0, decay_steps=20, end=0.3, exponent=0.5),
    one_minus_sqrt(init=1.0, decay_steps=20),
    one_minus_sqrt(init=1.0, decay_steps=20, end=0.4),
]


@pytest.mark.parametrize("s", DECAYING, ids=repr)
def test_decaying_families_never_rise(s):
    lr = s(GRID)
    assert np.all(np.diff(lr) <= 1e-15), np.max(np.diff(lr))
    assert s.decays_from() == 0.0


@pytest.mark.parametrize("decay_steps", [7, 20, 33.5])
def test_cosine_clamp_holds_the_floor_and_periodic_rises_again(decay_steps):
    clamp = cosine(init=1.0, decay_steps=decay_steps, alpha=0.1)
    periodic = cosine(init=1.0, decay_steps=decay_steps, alpha=0.1, past_end="periodic")
    before = np.linspace(0, decay_steps, 101)
    after = np.linspace(decay_steps, 3 * decay_steps, 301)
    np.testing.assert_array_equal(clamp(before), periodic(before))
    assert np.all(clamp(after) == pytest.approx(0.1, abs=1e-15))
    assert periodic(2 * decay_steps) == pytest.approx(1.0)
    assert np.all(np.diff(periodic(np.linspace(decay_steps, 2 * decay_steps, 101))) > 0)


def test_cosine_stays_between_floor_and_init():
    for s in (cosine(init=1.0, decay_steps=9, alpha=0.2), cosine(init=0.1, decay_steps=9, end=1.0)):
        lr = s(GRID)
        lo, hi = sorted((s.floor, s.init))
        assert lo - 1e-15 <= lr.min() and lr.max() <= hi + 1e-15


def test_one_minus_sqrt_is_monotone_and_hits_both_ends():
    s = one_minus_sqrt(init=2.0, decay_steps=50, end=0.5)
    t = np.linspace(0, 80, 8001)
    assert np.all(np.diff(s(t)) <= 0)
    assert s(0) == 2.0 and s(50) == 0.5 and s(80) == 0.5


def test_polynomial_cycle_jumps_up_right_after_each_horizon():
    s = polynomial(init=1.0, decay_steps=10, cycle=True)
    for k in (1, 2, 5):
        assert s(10 * k) == pytest.approx(0.0, abs=1e-15)
        assert s(10 * k + 1) > s(10 * k)
    assert s.decays_from() is None


@pytest.mark.parametrize("t_mul", [2.0, 3.0])
def test_cosine_restarts_land_on_exact_integer_steps(t_mul):
    # restarts at S_i = (t_mul**i - 1) / (t_mul - 1) for first_period=1: exactly init there
    s = cosine_restarts(init=1.0, first_period=1, t_mul=t_mul)
    q = int(t_mul)
    for i in range(1, 25 if q == 2 else 16):
        start = (q**i - 1) // (q - 1)
        assert s(start) == 1.0, (i, start)
        # the step before is the last of the previous period, of length q**(i-1)
        length = q ** (i - 1)
        last = 0.5 * (1.0 + math.cos(math.pi * (length - 1) / length))
        assert s(start - 1) == pytest.approx(last, rel=1e-9, abs=1e-15), (i, start)


def test_cyclic_repeats_and_stays_in_range():
    s = cyclic(base=0.2, peak=1.0, step_size_up=3, step_size_down=5)
    t = np.arange(0, 80, dtype=np.float64)
    lr = s(t)
    assert lr.min() == pytest.approx(0.2) and lr.max() == pytest.approx(1.0)
    np.testing.assert_allclose(s(t + 8), lr, rtol=1e-12)
    assert s.decays_from() is None


def test_inverse_sqrt_peaks_at_the_end_of_warmup():
    for offset, peak_step in ((0, 25), (1, 24)):
        s = inverse_sqrt(peak=0.5, warmup_steps=25, offset=offset)
        lr = s(np.arange(200.0))
        assert int(np.argmax(lr)) == peak_step and lr[peak_step] == 0.5
        assert s.decays_from() == peak_step
        assert np.all(np.diff(lr[peak_step:]) <= 0)


DECAYS_FROM = [
    (constant(1.0), 0.0),
    (linear(init=1.0, end=0.0, steps=4), 0.0),
    (linear(init=0.0, end=1.0, steps=4), None),
    (polynomial(init=1.0, decay_steps=10, end=2.0), None),
    (polynomial(init=1.0, decay_steps=10, cycle=True), None),
    (step_decay(init=1.0, drop=2.0, every=3), None),
    (multistep(init=1.0, milestones=[3], factor=10.0), None),
    (piecewise_constant(boundaries=[3], values=[1.0, 2.0]), None),
    (piecewise_constant(boundaries=[3], values=[2.0, 1.0]), 0.0),
    (exponential(init=1.0, decay_rate=1.1), None),
    (exponential(init=1.0, decay_rate=1.0), 0.0),
    (cosine(init=1.0, decay_steps=10, past_end="periodic"), None),
    (cosine(init=0.1, decay_steps=10, end=1.0), None),
    (cosine_restarts(init=1.0, first_period=10), None),
    (cyclic(base=0.1, peak=1.0, step_size_up=5), None),
    (inverse_sqrt(peak=1.0, warmup_steps=4), 4),
    (inverse_sqrt(peak=1.0, warmup_steps=4, offset=1), 3),
    (inverse_sqrt(peak=1.0, warmup_steps=4, offset=9), 0),
    (one_minus_sqrt(init=1.0, decay_steps=10, end=2.0), None),
    (custom(math.exp), None),
]


@pytest.mark.parametrize(("s", "expected"), DECAYS_FROM, ids=[repr(s) for s, _ in DECAYS_FROM])
def test_family_decays_from(s, expected):
    assert s.decays_from() == expected


def test_decays_from_is_a_promise_the_schedule_keeps(schedule_case):
    """Every representative schedule that says it decays from ``d`` never rises after ``d``."""
    _, s = schedule_case
    d = s.decays_from()
    if d is None:
        return
    start = math.ceil(d)
    t = np.concatenate([np.arange(start, start + 300.0), np.linspace(start, start + 60, 6001)])
    t.sort()
    lr = s(t)
    assert np.all(np.diff(lr) <= 1e-12 * np.abs(lr[:-1]) + 1e-300), s


# -- validation ---------------------------------------------------------------------------------
def _cos():
    return cosine(init=1.0, decay_steps=10)


# (id, constructor, args, kwargs, the parameter the message must name, the value it must show)
BAD = [
    ("constant-str", constant, ("x",), {}, "value", "'x'"),
    ("constant-nan", constant, (math.nan,), {}, "value", "nan"),
    ("constant-inf", constant, (math.inf,), {}, "value", "inf"),
    ("constant-bool", constant, (True,), {}, "value", "True"),
    ("linear-steps0", linear, (), {"init": 1.0, "end": 0.0, "steps": 0}, "steps", "0"),
    ("linear-init-nan", linear, (), {"init": math.nan, "end": 0.0, "steps": 3}, "init", "nan"),
    (
        "polynomial-power0",
        polynomial,
        (),
        {"init": 1.0, "decay_steps": 5, "power": 0},
        "power",
        "0",
    ),
    (
        "polynomial-decay_steps",
        polynomial,
        (),
        {"init": 1.0, "decay_steps": -5},
        "decay_steps",
        "-5",
    ),
    (
        "polynomial-cycle",
        polynomial,
        (),
        {"init": 1.0, "decay_steps": 5, "cycle": "yes"},
        "cycle",
        "'yes'",
    ),
    (
        "inverse_time-rate",
        inverse_time,
        (),
        {"init": 1.0, "decay_rate": -0.1},
        "decay_rate",
        "-0.1",
    ),
    (
        "inverse_time-staircase",
        inverse_time,
        (),
        {"init": 1.0, "decay_rate": 0.1, "staircase": 1},
        "staircase",
        "1",
    ),
    ("keras2_decay-decay", keras2_decay, (), {"lr": 0.1, "decay": -1e-3}, "decay", "-0.001"),
    ("keras2_decay-lr", keras2_decay, (), {"lr": "0.1", "decay": 1e-3}, "lr", "'0.1'"),
    ("step_decay-drop", step_decay, (), {"init": 1.0, "drop": -0.5, "every": 3}, "drop", "-0.5"),
    ("step_decay-every", step_decay, (), {"init": 1.0, "drop": 0.5, "every": 0}, "every", "0"),
    (
        "step_decay-offset",
        step_decay,
        (),
        {"init": 1.0, "drop": 0.5, "every": 3, "offset": -1},
        "offset",
        "-1",
    ),
    (
        "multistep-order",
        multistep,
        (),
        {"init": 1.0, "milestones": [5, 2]},
        "milestones",
        "[5, 2]",
    ),
    ("multistep-negative", multistep, (), {"init": 1.0, "milestones": [-1]}, "milestones[0]", "-1"),
    ("multistep-not-list", multistep, (), {"init": 1.0, "milestones": 5}, "milestones", "5"),
    (
        "multistep-factor",
        multistep,
        (),
        {"init": 1.0, "milestones": [2], "factor": -1},
        "factor",
        "-1",
    ),
    (
        "multistep-switch",
        multistep,
        (),
        {"init": 1.0, "milestones": [2], "switch": "before"},
        "switch",
        "'before'",
    ),
    (
        "piecewise-lengths",
        piecewise_constant,
        (),
        {"boundaries": [5], "values": [1.0]},
        "values",
        "1",
    ),
    (
        "piecewise-order",
        piecewise_constant,
        (),
        {"boundaries": [5, 1], "values": [1, 2, 3]},
        "boundaries",
        "[5, 1]",
    ),
    (
        "piecewise-value",
        piecewise_constant,
        (),
        {"boundaries": [5], "values": [1, "a"]},
        "values[1]",
        "'a'",
    ),
    ("exponential-rate0", exponential, (), {"init": 1.0, "decay_rate": 0}, "decay_rate", "0"),
    (
        "exponential-steps",
        exponential,
        (),
        {"init": 1.0, "decay_rate": 0.5, "decay_steps": 0},
        "decay_steps",
        "0",
    ),
    (
        "exponential-end",
        exponential,
        (),
        {"init": 1.0, "decay_rate": 0.5, "end": math.nan},
        "end",
        "nan",
    ),
    ("cosine-decay_steps", cosine, (), {"init": 1.0, "decay_steps": 0}, "decay_steps", "0"),
    (
        "cosine-exponent",
        cosine,
        (),
        {"init": 1.0, "decay_steps": 5, "exponent": 0.0},
        "exponent",
        "0.0",
    ),
    (
        "cosine-past_end",
        cosine,
        (),
        {"init": 1.0, "decay_steps": 5, "past_end": "wrap"},
        "past_end",
        "'wrap'",
    ),
    (
        "cosine-alpha-and-end",
        cosine,
        (),
        {"init": 1.0, "decay_steps": 5, "alpha": 0.1, "end": 0.1},
        "alpha",
        "end",
    ),
    ("cosine-init-inf", cosine, (), {"init": math.inf, "decay_steps": 5}, "init", "inf"),
    (
        "cosine_restarts-t_mul",
        cosine_restarts,
        (),
        {"init": 1.0, "first_period": 5, "t_mul": 0.5},
        "t_mul",
        "0.5",
    ),
    (
        "cosine_restarts-m_mul",
        cosine_restarts,
        (),
        {"init": 1.0, "first_period": 5, "m_mul": -1.0},
        "m_mul",
        "-1.0",
    ),
    (
        "cosine_restarts-first_period",
        cosine_restarts,
        (),
        {"init": 1.0, "first_period": 0},
        "first_period",
        "0",
    ),
    (
        "cyclic-mode",
        cyclic,
        (),
        {"base": 0.1, "peak": 1.0, "step_size_up": 2, "mode": "tri"},
        "mode",
        "'tri'",
    ),
    (
        "cyclic-gamma",
        cyclic,
        (),
        {"base": 0.1, "peak": 1.0, "step_size_up": 2, "gamma": 0},
        "gamma",
        "0",
    ),
    (
        "cyclic-step_size_down",
        cyclic,
        (),
        {"base": 0.1, "peak": 1.0, "step_size_up": 2, "step_size_down": -1},
        "step_size_down",
        "-1",
    ),
    (
        "inverse_sqrt-warmup",
        inverse_sqrt,
        (),
        {"peak": 1.0, "warmup_steps": 0},
        "warmup_steps",
        "0",
    ),
    (
        "inverse_sqrt-offset",
        inverse_sqrt,
        (),
        {"peak": 1.0, "warmup_steps": 3, "offset": -2},
        "offset",
        "-2",
    ),
    (
        "one_minus_sqrt-decay_steps",
        one_minus_sqrt,
        (),
        {"init": 1.0, "decay_steps": -5},
        "decay_steps",
        "-5",
    ),
    ("custom-str", custom, ("math:cos",), {}, "fn", "'math:cos'"),
    ("custom-number", custom, (3,), {}, "fn", "3"),
    ("custom-vectorized", custom, (math.cos,), {"vectorized": "yes"}, "vectorized", "'yes'"),
    ("recurrence-init", recurrence, (math.pow,), {"init": math.nan}, "init", "nan"),
    ("recurrence-horizon", recurrence, (math.pow,), {"init": 0.1, "horizon": 0}, "horizon", "0"),
    ("recurrence-fn", recurrence, (None,), {"init": 0.1}, "fn", "None"),
    ("join-empty", join, ([], []), {}, "schedules", "()"),
    ("join-count", join, ([_cos(), _cos()], [1, 2]), {}, "boundaries", "2"),
    ("join-order", join, ([_cos(), _cos(), _cos()], [5, 5]), {}, "boundaries", "[5, 5]"),
    ("join-negative", join, ([_cos(), _cos()], [-1]), {}, "boundaries[0]", "-1"),
    ("join-piece", join, ([_cos(), "x"], [3]), {}, "schedules[1]", "'x'"),
    ("warmup-steps", warmup, (_cos(),), {"steps": 0}, "steps", "0"),
    ("warmup-shape", warmup, (_cos(),), {"steps": 3, "shape": "quadratic"}, "shape", "'quadratic'"),
    (
        "warmup-exponential-start",
        warmup,
        (_cos(),),
        {"steps": 3, "shape": "exponential"},
        "start",
        "0.0",
    ),
    ("warmup-schedule", warmup, ("x",), {"steps": 3}, "schedule", "'x'"),
    ("clip-order", clip, (_cos(),), {"floor": 0.5, "ceiling": 0.1}, "floor", "0.5"),
    ("clip-neither", clip, (_cos(),), {}, "floor", "neither"),
    ("clip-nan", clip, (_cos(),), {"floor": math.nan}, "floor", "nan"),
    ("shift-nan", shift, (_cos(), math.nan), {}, "steps", "nan"),
    ("shift-str", shift, (_cos(), "3"), {}, "steps", "'3'"),
    ("by_epoch-spe", by_epoch, (_cos(), 0), {}, "steps_per_epoch", "0"),
    ("by_epoch-fractional", by_epoch, (_cos(), 10), {"fractional": 1}, "fractional", "1"),
    ("scale-factor", Scale, (_cos(), math.nan), {}, "factor", "nan"),
    ("product-right", Product, (_cos(), "x"), {}, "right", "'x'"),
    ("one_cycle-pct1", one_cycle, (1.0, 100), {"pct_start": 1.0}, "pct_start", "1.0"),
    ("one_cycle-pct0", one_cycle, (1.0, 100), {"pct_start": 0}, "pct_start", "0"),
    ("one_cycle-total", one_cycle, (1.0, 0), {}, "total_steps", "0"),
    ("one_cycle-div", one_cycle, (1.0, 100), {"div_factor": 0}, "div_factor", "0"),
    (
        "one_cycle-final_div",
        one_cycle,
        (1.0, 100),
        {"final_div_factor": -1},
        "final_div_factor",
        "-1",
    ),
    ("one_cycle-anneal", one_cycle, (1.0, 100), {"anneal": "cosine"}, "anneal", "'cosine'"),
    (
        "one_cycle-convention",
        one_cycle,
        (1.0, 100),
        {"convention": "keras"},
        "convention",
        "'keras'",
    ),
    (
        "one_cycle-three_phase",
        one_cycle,
        (1.0, 100),
        {"three_phase": True, "convention": "optax"},
        "convention",
        "'optax'",
    ),
    ("one_cycle-peak", one_cycle, (math.nan, 100), {}, "peak", "nan"),
    ("one_cycle-empty-phase", one_cycle, (1.0, 2), {}, "total_steps", "2"),
    ("one_cycle_momentum-base", one_cycle_momentum, (100,), {"base": "x"}, "base", "'x'"),
    ("one_cycle_momentum-high", one_cycle_momentum, (100,), {"high": math.nan}, "high", "nan"),
    (
        "warmup_cosine-order",
        warmup_cosine,
        (1.0,),
        {"warmup_steps": 10, "total_steps": 10},
        "total_steps",
        "10",
    ),
    (
        "warmup_cosine-end",
        warmup_cosine,
        (1.0,),
        {"warmup_steps": 1, "total_steps": 10, "end": math.nan},
        "end",
        "nan",
    ),
    (
        "wsd-decay",
        wsd,
        (1.0, 100, 10, 20),
        {"decay": "exp"},
        "decay",
        "'exp'",
    ),
    ("wsd-too-long", wsd, (1.0, 100, 50, 60), {}, "decay_steps", "60"),
    ("noam-d_model", noam, (0, 4000), {}, "d_model", "0"),
    ("noam-warmup", noam, (512, 0), {}, "warmup_steps", "0"),
    ("noam-factor", noam, (512, 4000), {"factor": -1.0}, "factor", "-1.0"),
    pytest.param(
        "warmup_cosine-peak",
        warmup_cosine,
        ("x",),
        {"warmup_steps": 1, "total_steps": 10},
        "peak",
        "'x'",
        id="warmup_cosine-peak",
    ),
    pytest.param("wsd-peak", wsd, ("x", 100, 10, 20), {}, "peak", "'x'", id="wsd-peak"),
    pytest.param(
        "one_cycle_fastai-lr_max",
        one_cycle_fastai,
        ("x", 100),
        {},
        "lr_max",
        "'x'",
        id="one_cycle_fastai-lr_max",
    ),
]


def _ids(rows):
    return [r.id if hasattr(r, "marks") else r[0] for r in rows]


@pytest.mark.parametrize(("name", "ctor", "args", "kwargs", "param", "shown"), BAD, ids=_ids(BAD))
def test_constructors_reject_bad_parameters(name, ctor, args, kwargs, param, shown):
    with pytest.raises(ValueError) as info:
        ctor(*args, **kwargs)
    message = str(info.value)
    assert param in message, message
    assert shown in message, message


def test_warmup_cosine_without_warmup_is_plain_cosine():
    s = warmup_cosine(peak=1.0, warmup_steps=0, total_steps=10)
    t = np.arange(15.0)
    np.testing.assert_allclose(s(t), cosine(init=1.0, decay_steps=10)(t))


def test_schedules_are_immutable_and_hashable():
    s = cosine(init=1.0, decay_steps=10)
    with pytest.raises(AttributeError):
        s.init = 2.0  # type: ignore[misc]
    assert hash(s) == hash(cosine(init=1.0, decay_steps=10))
    assert isinstance(s, Schedule)
    assert {s, cosine(init=1.0, decay_steps=10)} == {s}
