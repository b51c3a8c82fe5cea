"""describe, lint and plot."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure

from lrlab.schedules import (
    Description,
    LintWarning,
    by_epoch,
    constant,
    cosine,
    custom,
    describe,
    exponential,
    join,
    keras2_decay,
    linear,
    lint,
    one_cycle,
    plot,
    shift,
    step_decay,
    warmup,
    warmup_cosine,
    wsd,
)


# -- describe ------------------------------------------------------------------------------------
def test_describe_cosine_by_hand():
    d = describe(cosine(init=1.0, decay_steps=100), 101)
    assert isinstance(d, Description)
    assert d.steps == 101 and d.first == 1.0 and d.final == 0.0
    assert (d.max, d.max_step) == (1.0, 0)
    assert (d.min, d.min_step) == (0.0, 100)
    # sum of (1 + cos(pi t / 100)) / 2 over t = 0..100 is 50.5 (the cosines cancel in pairs)
    assert d.area == pytest.approx(50.5)
    assert d.mean == pytest.approx(0.5)
    # (1 + cos(pi t / 100)) / 2 < 0.01 from t = 94 on: cos(0.94 pi) = -0.9823 -> 0.0089
    assert d.below_1pct_step == 94


def test_describe_warmup_peak_and_linear_area():
    d = describe(warmup(linear(init=1.0, end=0.0, steps=10), steps=10), 21)
    assert d.max_step == 10 and d.max == 1.0
    assert d.first == 0.0 and d.final == 0.0
    assert d.area == pytest.approx(10.0)  # two triangles of height 1 and base 10
    assert d.below_1pct_step == 20


def test_describe_never_below_and_str():
    d = describe(constant(0.1), 50)
    assert d.below_1pct_step is None
    text = str(d)
    for row in ("steps", "first", "max", "min", "final", "mean", "area", "below 1% of peak"):
        assert row in text
    assert "never" in text
    assert "step 94" in str(describe(cosine(init=1.0, decay_steps=100), 101))


# -- lint ------------------------------------------------------------------------------------------
def codes(warns):
    return [w.code for w in warns]


def test_lint_non_finite():
    s = exponential(init=1.0, decay_rate=1e200)  # 1e400 at step 2 overflows to inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # lint reports the overflow instead of raising
        warns = lint(s, 10)
    (w,) = [w for w in warns if w.code == "non-finite"]
    assert w.step == 2 and w.value == math.inf
    assert "inf" in w.message


def test_lint_negative():
    s = linear(init=0.1, end=-0.1, steps=10)  # 0.1 - 0.02 t: 0 at t = 5, negative from 6
    warns = lint(s, 10)
    assert codes(warns) == ["decays-early", "negative"]  # sorted by step: 5, then 6
    w = warns[1]
    assert w.step == 6
    assert w.value == pytest.approx(-0.02)
    assert "-0.02" in w.message


def test_lint_negative_constant_is_not_also_an_upward_jump():
    assert codes(lint(constant(-0.1), 20)) == ["negative"]


def test_lint_upward_jump_at_a_join():
    restart = join([cosine(init=1.0, decay_steps=10), cosine(init=1.0, decay_steps=10)], [10])
    (w,) = lint(restart, 20)
    assert w.code == "upward-jump" and w.step == 10 and w.value == 1.0
    assert "from step 0" in w.message


def test_lint_upward_jump_after_warmup_counts_from_the_decay_step():
    # a warmup rises by design; the jump at 15 (5 steps into the decay) is the mistake
    s = warmup(join([constant(0.5), constant(1.0)], [5]), steps=10)
    (w,) = lint(s, 30)
    assert w.code == "upward-jump" and w.step == 15 and w.value == 1.0


def test_lint_decays_early():
    s = cosine(init=1.0, decay_steps=10)  # 0 from step 10 of 100
    (w,) = lint(s, 100)
    assert w.code == "decays-early" and w.step == 10 and w.value == 0.0
    assert "90 steps" in w.message


def test_lint_periodic_past_horizon():
    s = cosine(init=1.0, decay_steps=10, past_end="periodic")
    (w,) = lint(s, 30)
    assert w.code == "periodic-past-horizon"
    assert w.step == 11  # the floor is at 10; from 11 the rate climbs again
    assert w.value == pytest.approx((1 + math.cos(math.pi * 11 / 10)) / 2)
    assert "past_end='clamp'" in w.message


@pytest.mark.parametrize(
    ("s", "step"),
    [
        (warmup(cosine(init=1.0, decay_steps=10, past_end="periodic"), steps=50), 61),
        (join([constant(1.0), cosine(init=1.0, decay_steps=10, past_end="periodic")], [20]), 31),
        (shift(cosine(init=1.0, decay_steps=10, past_end="periodic"), 5), 16),
        (0.5 * cosine(init=1.0, decay_steps=10, past_end="periodic"), 11),
        (by_epoch(cosine(init=1.0, decay_steps=10, past_end="periodic"), 3), 33),
    ],
    ids=["warmup", "join", "shift", "scale", "by_epoch"],
)
def test_lint_periodic_inside_a_composition_reports_the_outer_step(s, step):
    (w,) = [w for w in lint(s, 100) if w.code == "periodic-past-horizon"]
    assert w.step == step
    lr = s(np.arange(100.0))
    assert w.value == lr[step]
    assert lr[step] > lr[step - 1]


def test_lint_keras2_decay_per_epoch():
    s = keras2_decay(lr=0.1, decay=0.1 / 50)  # decay = lr / epochs, the classic per-epoch choice
    for kwargs in ({"steps_per_epoch": 9}, {}):
        (w,) = lint(s, 450, **kwargs)
        assert w.code == "keras2-decay-per-epoch" and w.step == 449
        assert w.value == pytest.approx(0.1 / (1 + 0.002 * 449))
        assert "decay=0.002" in w.message


def test_lint_keras2_decay_per_update_is_clean():
    s = keras2_decay(lr=0.1, decay=0.1 / 450)  # per update: lr / total updates
    assert lint(s, 450, steps_per_epoch=9) == []
    assert lint(s, 450) == []
    # one update per epoch: per-epoch and per-update decay are the same thing
    assert lint(keras2_decay(lr=0.1, decay=0.1 / 50), 50, steps_per_epoch=1) == []


CLEAN = [
    constant(0.1),
    cosine(init=1.0, decay_steps=100),
    cosine(init=1.0, decay_steps=10, past_end="periodic"),  # periodic, but only 10 steps run
    warmup_cosine(1.0, 10, 100),
    wsd(1.0, 100, 10, 20),
    one_cycle(1.0, 100),
    step_decay(init=0.1, drop=0.5, every=30),
    exponential(init=1.0, decay_rate=0.5, decay_steps=30),
    custom(math.exp),
]


@pytest.mark.parametrize("s", CLEAN, ids=repr)
def test_lint_clean_schedules(s):
    n = 10 if "periodic" in repr(s) else 100
    assert lint(s, n) == []


def test_lint_sorts_by_step_and_formats():
    s = join([linear(init=1.0, end=-1.0, steps=10), constant(1.0)], [10])
    warns = lint(s, 40)
    assert codes(warns) == ["negative", "upward-jump"]
    assert [w.step for w in warns] == [6, 10]
    assert str(warns[1]).startswith("[upward-jump] step 10: ")
    assert isinstance(warns[0], LintWarning)


@pytest.mark.parametrize("fn", [describe, lint])
def test_inspection_checks_its_arguments(fn):
    with pytest.raises(TypeError, match="expected a schedule"):
        fn("cosine", 10)
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="steps must be a positive integer"):
            fn(constant(0.1), bad)


# -- plot ------------------------------------------------------------------------------------------
def test_plot_one_schedule():
    s = cosine(init=0.1, decay_steps=100)
    fig = plot(s, 100)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), np.arange(100))
    np.testing.assert_allclose(line.get_ydata(), s(np.arange(100.0)))
    assert line.get_label() == repr(s)
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "learning rate"


def test_plot_list_and_mapping_one_line_each():
    a, b, c = constant(0.1), cosine(init=0.1, decay_steps=50), one_cycle(0.1, 50)
    fig = plot([a, b, c], 50)
    assert len(fig.axes[0].get_lines()) == 3
    fig = plot({"flat": a, "cos": b}, 50, log=True, title="two")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["flat", "cos"]
    assert ax.get_yscale() == "log" and ax.get_title() == "two"
    assert ax.get_legend() is None  # a figure of its own: the legend under the axes
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["flat", "cos"]


def test_plot_shortens_long_labels_and_draws_into_a_given_axes():
    fig = Figure()
    ax = fig.add_subplot()
    s = one_cycle(0.1, 50)
    assert plot(s, 50, ax=ax) is fig
    (line,) = ax.get_lines()
    assert len(line.get_label()) == 60 and line.get_label().endswith("...")
