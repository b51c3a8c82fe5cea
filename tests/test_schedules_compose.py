"""Composition (join, warmup, scale/product, clip, shift, by_epoch) and the presets built on it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrlab.schedules import (
    ByEpoch,
    Clip,
    Join,
    Product,
    Scale,
    Shift,
    Warmup,
    by_epoch,
    clip,
    constant,
    cosine,
    custom,
    exponential,
    inverse_sqrt,
    join,
    linear,
    noam,
    one_cycle,
    one_cycle_fastai,
    one_cycle_momentum,
    one_minus_sqrt,
    recurrence,
    shift,
    step_decay,
    warmup,
    warmup_cosine,
    wsd,
)


def assert_values(s, steps, expected, tol=1e-12):
    np.testing.assert_allclose(s(np.asarray(steps, dtype=np.float64)), expected, rtol=tol, atol=tol)


def assert_continuous_at(s, boundary, eps=1e-10, tol=1e-5):
    left, mid, right = s(boundary - eps), s(boundary), s(boundary + eps)
    assert left == pytest.approx(mid, abs=tol), (boundary, left, mid)
    assert right == pytest.approx(mid, abs=tol), (boundary, mid, right)


def never_negative(t: float) -> float:
    assert t >= 0, f"a piece saw step {t}"
    return 1.0 / (1.0 + t)


def keras_time_based(epoch: int, lr: float) -> float:
    return lr / (1.0 + 0.5 * epoch)


# -- join -------------------------------------------------------------------------------------
def test_join_docstring_example():
    s = join([linear(init=0.0, end=1.0, steps=2), constant(0.5)], boundaries=[2])
    assert_values(s, [0, 1, 2, 3], [0, 0.5, 0.5, 0.5])


def test_join_pieces_count_steps_from_their_boundary():
    s = join([constant(1.0), linear(init=1.0, end=0.0, steps=10)], [5])
    assert_values(s, [0, 4, 5, 10, 15, 100], [1, 1, 1, 0.5, 0, 0])


def test_join_boundary_step_belongs_to_the_next_piece():
    # Optax join_schedules: the piece starting at b is used from t = b on
    s = join([constant(1.0), constant(2.0), constant(3.0)], [3, 7.5])
    assert_values(s, [2.999, 3, 7.499, 7.5, 8], [1, 2, 2, 3, 3])


def test_join_turns_numbers_into_constants():
    assert join([0.1, 0.2], [4]) == join([constant(0.1), constant(0.2)], [4])
    assert join([0.1, 0.2], [4]).schedules == (constant(0.1), constant(0.2))


def test_join_pieces_never_see_a_negative_step():
    s = join([constant(1.0), custom(never_negative)], [5])
    assert_values(s, [0, 4, 5, 7], [1, 1, 1, 1 / 3])


def test_join_boundary_zero_skips_the_first_piece():
    s = join([constant(9.0), constant(1.0)], [0])
    assert_values(s, [0, 1], [1, 1])


# -- warmup -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "start", "expected"),
    [
        ("linear", 0.0, [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]),
        ("linear", 0.2, [0.2, 0.4, 0.6, 0.8, 1.0, 1.0]),
        (
            "cosine",
            0.0,
            [0.0, (1 - math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(math.pi / 4)) / 2, 1.0, 1.0],
        ),
        ("exponential", 0.01, [0.01, 0.01 * 100**0.25, 0.1, 0.01 * 100**0.75, 1.0, 1.0]),
    ],
)
def test_warmup_shapes_by_hand(shape, start, expected):
    s = warmup(constant(1.0), steps=4, start=start, shape=shape)
    assert_values(s, [0, 1, 2, 3, 4, 9], expected)


@pytest.mark.parametrize("shape", ["linear", "cosine", "exponential"])
@pytest.mark.parametrize(
    "inner",
    [
        cosine(init=0.5, decay_steps=20),
        constant(0.3),
        exponential(init=0.2, decay_rate=0.9),
        recurrence(keras_time_based, init=0.7, horizon=5),
    ],
    ids=["cosine", "constant", "exponential", "recurrence"],
)
def test_warmup_reaches_schedule_at_zero_on_its_last_step(inner, shape):
    w = 8
    target = inner(0)
    s = warmup(inner, steps=w, start=0.01 * target, shape=shape)
    ramp = s(np.arange(w + 1.0))
    assert ramp[w] == target
    assert np.all(np.diff(ramp) > 0)  # rises all the way, peaks at the boundary
    assert int(np.argmax(ramp)) == w
    assert_continuous_at(s, w)
    # after the warmup the wrapped schedule runs on its own clock
    for t in (w, w + 3, w + 30):
        assert s(t) == inner(t - w)


def test_warmup_horizon_excludes_the_warmup():
    # Keras 3 CosineDecay(warmup_steps=...): decay_steps counts after the warmup
    s = warmup(cosine(init=1.0, decay_steps=10), steps=5)
    assert_values(s, [0, 5, 10, 15, 30], [0, 1, 0.5, 0, 0])
    assert s.decays_from() == 5


def test_warmup_accepts_a_number():
    assert warmup(0.1, steps=4) == warmup(constant(0.1), steps=4)
    assert isinstance(warmup(0.1, steps=4), Warmup)


# -- scale / product ----------------------------------------------------------------------------
def test_scale_by_a_number_every_way():
    s = cosine(init=1.0, decay_steps=10)
    t = np.arange(15.0)
    for scaled in (0.5 * s, s * 0.5, s / 2, s * np.float32(0.5), np.float64(0.5) * s):
        assert isinstance(scaled, Scale) and scaled.factor == 0.5
        assert type(scaled.factor) is float
        np.testing.assert_allclose(scaled(t), 0.5 * s(t), rtol=1e-15)
    assert 0.5 * s == s * 0.5 == s / 2
    assert (2 * (3 * s))(0) == 6.0


def test_product_multiplies_pointwise():
    a, b = cosine(init=1.0, decay_steps=10), linear(init=1.0, end=0.0, steps=20)
    p = a * b
    assert isinstance(p, Product) and p.left == a and p.right == b
    t = np.arange(25.0)
    np.testing.assert_allclose(p(t), a(t) * b(t), rtol=1e-15)
    assert_values(constant(0.1) * linear(init=1.0, end=0.0, steps=10), [0, 5], [0.1, 0.05])


def test_bad_operands():
    s = constant(1.0)
    with pytest.raises(TypeError):
        s * "x"
    with pytest.raises(TypeError):
        s * True
    with pytest.raises(TypeError):
        2 / s
    with pytest.raises(TypeError):
        s + s
    with pytest.raises(ZeroDivisionError, match="divide a schedule by 0"):
        s / 0


# -- clip / shift / by_epoch ---------------------------------------------------------------------
def test_clip_floor_ceiling_and_both():
    e = exponential(init=1.0, decay_rate=0.1)
    assert_values(clip(e, floor=0.05), [0, 1, 2, 9], [1, 0.1, 0.05, 0.05])
    assert_values(clip(e, ceiling=0.5), [0, 1, 2], [0.5, 0.1, 0.01])
    assert_values(clip(e, floor=0.05, ceiling=0.5), [0, 1, 5], [0.5, 0.1, 0.05])
    assert isinstance(clip(e, floor=0.1), Clip)


def test_shift_positive_holds_the_first_value():
    s = shift(linear(init=1.0, end=0.0, steps=4), 2)
    assert isinstance(s, Shift)
    assert_values(s, [0, 1, 2, 4, 6, 9], [1, 1, 1, 0.5, 0, 0])


def test_shift_negative_starts_part_way():
    s = shift(linear(init=1.0, end=0.0, steps=4), -2)
    assert_values(s, [0, 1, 2, 3], [0.5, 0.25, 0, 0])
    assert_values(shift(constant(1.0), 2.5), [0, 2.5], [1, 1])


def test_by_epoch_floor_and_fractional():
    s = by_epoch(step_decay(init=1.0, drop=0.5, every=1), steps_per_epoch=10)
    assert isinstance(s, ByEpoch)
    assert_values(s, [0, 9, 10, 25], [1, 1, 0.5, 0.25])
    f = by_epoch(linear(init=1.0, end=0.0, steps=2), steps_per_epoch=10, fractional=True)
    assert_values(f, [0, 5, 10, 15, 20], [1, 0.75, 0.5, 0.25, 0])
    floor = by_epoch(linear(init=1.0, end=0.0, steps=2), steps_per_epoch=10)
    assert_values(floor, [0, 5, 10, 15, 20], [1, 1, 0.5, 0.5, 0])


def test_by_epoch_applies_a_keras_epoch_function_per_batch():
    steps_per_epoch = 7
    s = by_epoch(recurrence(keras_time_based, init=1.0), steps_per_epoch)
    lr, expected = 1.0, []
    for epoch in range(6):
        lr = keras_time_based(epoch, lr)
        expected += [lr] * steps_per_epoch
    np.testing.assert_allclose(s(np.arange(6.0 * steps_per_epoch)), expected, rtol=1e-15)


# -- decays_from of compositions ----------------------------------------------------------------
COS = cosine(init=1.0, decay_steps=10)
UP = linear(init=0.0, end=1.0, steps=10)
ISQ = inverse_sqrt(peak=1.0, warmup_steps=2.5)

DECAYS_FROM = [
    ("warmup", warmup(COS, steps=10), 10),
    ("warmup-inner-late", warmup(inverse_sqrt(peak=1.0, warmup_steps=4), steps=3), 7),
    ("warmup-rising", warmup(UP, steps=3), None),
    ("join-up-then-down", join([UP, COS], [10]), 10),
    ("join-down-down", join([COS, 0.01], [10]), 0),
    ("join-down-then-up", join([COS, UP], [10]), None),
    ("join-late-piece", join([COS, ISQ], [10]), 12.5),
    ("shift-decaying", shift(COS, 5), 0),
    ("shift-late", shift(ISQ, 3), 5.5),
    ("shift-back", shift(ISQ, -2), 0.5),
    ("shift-back-past", shift(ISQ, -5), 0),
    ("by_epoch", by_epoch(ISQ, 10), 30),
    ("by_epoch-fractional", by_epoch(ISQ, 10, fractional=True), 25),
    ("scale", 2.0 * ISQ, 2.5),
    ("scale-negative", -1.0 * COS, None),
    ("product", COS * ISQ, 2.5),
    ("product-rising", COS * UP, None),
    ("clip", clip(ISQ, floor=0.1), 2.5),
    ("warmup_cosine", warmup_cosine(1.0, 10, 100), 10),
    ("wsd", wsd(1.0, 100, 10, 20), 10),
    ("wsd-no-warmup", wsd(1.0, 100, 0, 20), 0),
    ("one_cycle-torch", one_cycle(1.0, 100), 29),
    ("one_cycle-optax", one_cycle(1.0, 100, convention="optax"), 30),
    ("one_cycle-fastai", one_cycle(1.0, 100, convention="fastai"), 30),
    ("one_cycle-three_phase", one_cycle(1.0, 100, three_phase=True), 29),
    ("one_cycle_momentum", one_cycle_momentum(100), None),
    ("noam", noam(512, 4000), 3999),
]


@pytest.mark.parametrize(
    ("s", "expected"), [c[1:] for c in DECAYS_FROM], ids=[c[0] for c in DECAYS_FROM]
)
def test_decays_from(s, expected):
    assert s.decays_from() == expected
    if expected is not None:
        start = math.ceil(expected)
        lr = s(np.arange(start, start + 300.0))
        assert np.all(np.diff(lr) <= 1e-15)


def test_by_epoch_decays_from_rounds_up_to_a_whole_epoch():
    # inverse_sqrt peaks at epoch 2.5; per whole epoch the rate still rises from epoch 2 to 3
    s = by_epoch(ISQ, 10)
    lr = s(np.arange(60.0))
    assert lr[30] > lr[29]
    assert s.decays_from() == 30


# -- presets ------------------------------------------------------------------------------------
def test_warmup_cosine_total_includes_warmup():
    s = warmup_cosine(peak=1.0, warmup_steps=10, total_steps=110)
    assert_values(s, [0, 5, 10, 60, 110, 500], [0, 0.5, 1, 0.5, 0, 0])


def test_warmup_cosine_is_the_hugging_face_formula():
    # get_cosine_schedule_with_warmup: t / w during warmup, then 0.5 (1 + cos(pi progress))
    peak, w, total = 3e-4, 7, 50
    s = warmup_cosine(peak=peak, warmup_steps=w, total_steps=total)
    for t in range(total + 1):
        if t < w:
            want = peak * t / w
        else:
            want = peak * 0.5 * (1.0 + math.cos(math.pi * (t - w) / (total - w)))
        assert s(t) == pytest.approx(want, rel=1e-12, abs=1e-18), t


def test_warmup_cosine_start_end_peak_and_continuity():
    s = warmup_cosine(peak=1.0, warmup_steps=10, total_steps=50, start=0.1, end=0.05)
    assert s(0) == 0.1 and s(10) == 1.0 and s(50) == 0.05 and s(80) == 0.05
    assert int(np.argmax(s(np.arange(60.0)))) == 10
    assert_continuous_at(s, 10)
    assert_continuous_at(s, 50)


def test_warmup_cosine_without_warmup_is_plain_cosine():
    s = warmup_cosine(peak=1.0, warmup_steps=0, total_steps=10)
    t = np.arange(15.0)
    np.testing.assert_allclose(s(t), cosine(init=1.0, decay_steps=10)(t))


@pytest.mark.parametrize(
    ("decay", "probe", "value"),
    [
        ("linear", 90, 0.5),
        ("cosine", 90, 0.5),
        ("1-sqrt", 85, 0.5),
        ("1-sqrt", 95, 1 - math.sqrt(0.75)),
    ],
)
def test_wsd_by_hand(decay, probe, value):
    s = wsd(peak=1.0, total_steps=100, warmup_steps=10, decay_steps=20, decay=decay)
    assert_values(s, [0, 5, 10, 50, 80, probe, 100, 150], [0, 0.5, 1, 1, 1, value, 0, 0])
    # continuous where the pieces meet: end of warmup, start of the cooldown
    assert_continuous_at(s, 10)
    assert_continuous_at(s, 80)
    assert_continuous_at(s, 100)


def test_wsd_cooldown_shapes():
    t = np.linspace(80, 100, 201)
    lin = wsd(1.0, 100, 10, 20)(t)
    cos = wsd(1.0, 100, 10, 20, decay="cosine")(t)
    sq = wsd(1.0, 100, 10, 20, decay="1-sqrt")(t)
    assert np.all(np.diff(lin) <= 0) and np.all(np.diff(cos) <= 0) and np.all(np.diff(sq) <= 0)
    # 1-sqrt drops fastest at first, cosine slowest
    assert sq[50] < lin[50] < cos[50]
    one_minus = one_minus_sqrt(init=1.0, decay_steps=20)
    np.testing.assert_allclose(sq, one_minus(t - 80), rtol=1e-12, atol=1e-15)


def test_wsd_without_warmup_or_stable_phase():
    s = wsd(peak=2.0, total_steps=50, warmup_steps=0, decay_steps=20, start=0.0, end=0.2)
    assert s(0) == 2.0 and s(30) == 2.0
    assert s(40) == pytest.approx(1.1) and s(50) == pytest.approx(0.2)
    d = wsd(peak=2.0, total_steps=20, warmup_steps=0, decay_steps=20)
    assert d == linear(init=2.0, end=0.0, steps=20)


def test_noam_is_inverse_sqrt_counted_from_one():
    s = noam(d_model=512, warmup_steps=4000, factor=2.0)
    assert s == inverse_sqrt(peak=2.0 * (512 * 4000) ** -0.5, warmup_steps=4000, offset=1)
    lr = s(np.arange(8000.0))
    assert int(np.argmax(lr)) == 3999


ONE_CYCLES = [
    # (id, schedule, peak step, last phase end, final value)
    ("torch", one_cycle(1.0, 100), 29, 99, 1 / 25 / 1e4),
    ("torch-linear", one_cycle(1.0, 100, anneal="linear"), 29, 99, 1 / 25 / 1e4),
    ("optax", one_cycle(1.0, 100, convention="optax"), 30, 100, 1 / 25 / 1e4),
    ("fastai", one_cycle(1.0, 100, convention="fastai"), 30, 100, 1 / 1e4),
    ("fastai-preset", one_cycle_fastai(1.0, 100), 25, 100, 1e-5),
]


@pytest.mark.parametrize(
    ("s", "peak_step", "last", "final"), [c[1:] for c in ONE_CYCLES], ids=[c[0] for c in ONE_CYCLES]
)
def test_one_cycle_peaks_at_the_phase_boundary(s, peak_step, last, final):
    lr = s(np.arange(last + 50.0))
    assert lr[0] == pytest.approx(1 / 25)
    assert int(np.argmax(lr)) == peak_step and lr[peak_step] == 1.0
    assert np.all(np.diff(lr[: peak_step + 1]) > 0)
    assert np.all(np.diff(lr[peak_step:]) <= 0)
    assert lr[last] == pytest.approx(final, rel=1e-12)
    assert np.all(lr[last:] == lr[last])  # holds the final value
    assert_continuous_at(s, peak_step)
    assert_continuous_at(s, last)


def test_one_cycle_torch_cosine_by_hand():
    # phase 1: 0.04 -> 1 over 29 steps; its middle (14.5) is the average of the ends
    s = one_cycle(1.0, 100)
    assert s(14.5) == pytest.approx((0.04 + 1.0) / 2, rel=1e-12)
    # phase 2: 1 -> 4e-6 over steps 29 .. 99 (70 steps); middle at 64
    assert s(64) == pytest.approx((1.0 + 4e-6) / 2, rel=1e-12)
    lin = one_cycle(1.0, 100, anneal="linear")
    assert lin(10) == pytest.approx(0.04 + (1.0 - 0.04) * 10 / 29, rel=1e-12)


def test_one_cycle_three_phase():
    s = one_cycle(1.0, 100, three_phase=True)
    lr = s(np.arange(150.0))
    assert int(np.argmax(lr)) == 29
    assert lr[58] == pytest.approx(0.04)  # back at the initial rate at 2 pT - 2
    assert lr[99] == pytest.approx(0.04 / 1e4)
    for b in (29, 58, 99):
        assert_continuous_at(s, b)


def test_one_cycle_momentum_mirrors_the_rate():
    lr = one_cycle(1.0, 100)
    m = one_cycle_momentum(100)
    t = np.arange(120.0)
    assert m(0) == 0.95 and m(29) == 0.85 and m(99) == pytest.approx(0.95)
    assert int(np.argmin(m(t))) == int(np.argmax(lr(t))) == 29
    three = one_cycle_momentum(100, three_phase=True)
    assert three(58) == pytest.approx(0.95) and three(80) == pytest.approx(0.95)
    assert_continuous_at(m, 29)


def test_presets_are_plain_compositions():
    assert isinstance(warmup_cosine(1.0, 10, 100), Warmup)
    assert isinstance(one_cycle(1.0, 100), Join)
    assert isinstance(wsd(1.0, 100, 10, 20), Warmup)
