"""Tests for lrlab.finder (framework-free): ramps, the driver, every rule on curves with answers
derived by hand, flags, repeats, the window, plots, and the Optax example of docs/finder.md."""

from __future__ import annotations

import inspect
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lrlab.finder as lf
from lrlab.finder import (
    FinderResult,
    Recorder,
    Suggestion,
    Suggestions,
    combine_runs,
    ramp,
    recommend_window,
    run,
    run_repeated,
    smooth,
    suggest,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"

# -- curves with known answers --------------------------------------------------------------------
# The grid: u = log10(lr) = -6, -5.9, ..., 0 (61 points), exactly what ramp(1e-6, 1.0, 61) makes.
U = np.arange(61) / 10 - 6
LRS = 10.0**U


def valley_curve(u: np.ndarray, shift: float = 0.0) -> np.ndarray:
    """1 - tanh(2 (u + 3.05)) / 2 + 2 max(u + 1, 0)**2, the whole curve moved by ``shift`` decades.

    By hand (shift 0):
    * steepest: the tanh step is centred at u = -3.05, half way between grid points, so the
      steepest forward segment is [-3.1, -3.0] and its left end is u = -3.1 (index 29);
    * minimum: the loss falls strictly until u = -1 (the quadratic is 0 there; the tanh still
      falls, by 1.4e-4 from -1.1 to -1.0) and then rises by 2 (u + 1)**2 >> the tanh's fall:
      index 50, so minimum_div10 = 10**-1 / 10 = 10**-2;
    * valley: strictly decreasing from index 0 to 50, so lds[50] = 51, start = 50 - 51 = -1,
      sections = 17, index = -1 + 17 + 8 = 24, u = -3.6;
    * turn-up: low = 1 - tanh(4.1) / 2 = 0.50027, descent = 1.49998 - low ~ 1.0, so the rise
      that counts is 0.1 * min(1.0, 0.50027) = 0.050027; 2 (u + 1)**2 exceeds it first at
      u = -0.8 (0.08; at -0.9 it is 0.02): index 52, half_divergence = 10**-0.8 / 2.
    """
    v = u - shift
    return 1.0 - 0.5 * np.tanh(2.0 * (v + 3.05)) + 2.0 * np.maximum(v + 1.0, 0.0) ** 2


CLEAN = valley_curve(U)


def exact(losses: np.ndarray, lrs: np.ndarray = LRS) -> Suggestions:
    return suggest(lrs, losses, smoothing=0.0, skip_start=0, skip_end=0)


# -- ramps ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["exp", "linear"])
@pytest.mark.parametrize(
    ("start", "end", "n"), [(1e-7, 10.0, 100), (3e-5, 7.0, 33), (0.1, 0.3, 2), (1e-8, 1.0, 250)]
)
def test_ramp_ends_exact_and_monotone(mode, start, end, n):
    r = ramp(start, end, n, mode)
    lrs = r(np.arange(n))
    assert lrs[0] == start
    assert lrs[-1] == end
    assert r(n - 1) == end and r(10 * n) == end
    assert np.all(np.diff(lrs) > 0)


def test_ramp_formulas():
    t = np.arange(100)
    np.testing.assert_allclose(ramp()(t), 1e-7 * (10.0 / 1e-7) ** (t / 99), rtol=1e-12)
    np.testing.assert_allclose(
        ramp(0.1, 1.0, 10, "linear")(np.arange(10)), 0.1 + 0.9 * np.arange(10) / 9, rtol=1e-12
    )
    np.testing.assert_allclose(ramp(1e-6, 1.0, 61)(np.arange(61)), LRS, rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start_lr": 0.0}, "start_lr"),
        ({"start_lr": -1.0}, "start_lr"),
        ({"end_lr": 1e-8}, "end_lr"),
        ({"num_steps": 1}, "num_steps"),
        ({"num_steps": 10.0}, "num_steps"),
        ({"mode": "cos"}, "mode"),
        ({"start_lr": float("nan")}, "start_lr"),
    ],
)
def test_ramp_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ramp(**kwargs)


# -- smoothing ------------------------------------------------------------------------------------
def test_smoothing_equals_a_hand_loop():
    rng = np.random.default_rng(3)
    losses = rng.uniform(0.5, 2.0, 50)
    beta, avg, expected = 0.9, 0.0, []
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        expected.append(avg / (1 - beta ** (i + 1)))
    np.testing.assert_allclose(smooth(losses, beta), expected, rtol=1e-14)
    assert smooth(losses, beta)[0] == losses[0]  # bias correction: the first value is the loss
    np.testing.assert_array_equal(smooth(losses, 0.0), losses)
    it = iter(losses)
    res = run(lambda lr: next(it), ramp(1e-3, 1.0, 50), 50, smoothing=beta, diverge_factor=None)
    np.testing.assert_allclose(res.smoothed, expected, rtol=1e-14)
    np.testing.assert_array_equal(res.losses, losses)


def test_smoothing_propagates_non_finite():
    s = smooth([1.0, float("nan"), 1.0])
    assert math.isfinite(s[0]) and not np.isfinite(s[1:]).any()


# -- the rules on the clean valley ----------------------------------------------------------------
def test_clean_valley_every_rule_matches_the_hand_derivation():
    s = exact(CLEAN)
    assert list(s) == ["steepest", "valley", "minimum_div10", "half_divergence"]
    assert (s.steepest.index, s.steepest.lr) == (29, LRS[29])
    assert s.steepest.lr == pytest.approx(10**-3.1, rel=1e-12)
    assert (s.valley.index, s.valley.lr) == (24, LRS[24])
    assert s.valley.lr == pytest.approx(10**-3.6, rel=1e-12)
    assert s.minimum_div10.index == 50
    assert s.minimum_div10.lr == pytest.approx(10**-2, rel=1e-12)
    assert s.half_divergence.index == 52
    assert s.half_divergence.lr == pytest.approx(10**-0.8 / 2, rel=1e-12)
    for sug in s.values():
        assert sug.flags == () and sug.ok, sug
        assert sug.note
    assert (s.start, s.stop, s.flags) == (0, 61, ())


def test_rules_as_plain_functions():
    assert lf.steepest(LRS, CLEAN) == (LRS[29], 29)
    assert lf.valley(LRS, CLEAN) == (LRS[24], 24)
    assert lf.minimum_div10(LRS, CLEAN) == (LRS[50] / 10, 50)
    assert lf.turn_up_index(CLEAN) == 52


def test_steepest_is_the_log_lr_slope_not_the_lr_slope():
    # equal drops per decade, but the later ones are steeper per unit log(lr): the answer is the
    # left end of the steepest segment, in log(lr)
    lrs = np.array([1e-4, 1e-3, 1e-2, 3e-2, 1e-1])
    losses = np.array([1.0, 0.9, 0.8, 0.7, 0.6])
    lr, i = lf.steepest(lrs, losses)
    g = np.diff(losses) / np.diff(np.log(lrs))
    assert i == int(np.argmin(g)) == 2 and lr == 1e-2


def test_valley_matches_fastai_on_a_curve_with_a_bump():
    # fastai's loop, written as it is in fastai/callback/schedule.py
    def fastai_valley(lrs, losses):
        n = len(losses)
        max_start, max_end = 0, 0
        lds = [1] * n
        for i in range(1, n):
            for j in range(0, i):
                if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                    lds[i] = lds[j] + 1
                if lds[max_end] < lds[i]:
                    max_end = i
                    max_start = max_end - lds[max_end]
        sections = (max_end - max_start) / 3
        idx = max_start + int(sections) + int(sections / 2)
        return float(lrs[idx]), idx

    rng = np.random.default_rng(0)
    for _ in range(20):
        losses = np.cumsum(rng.normal(-0.05, 0.2, 40)) + 5
        lrs = np.logspace(-5, 0, 40)
        expected = fastai_valley(lrs, losses)
        if expected[1] >= 0:  # fastai's index -1 (reads the last lr) is clipped to 0 here
            assert lf.valley(lrs, losses) == expected


def test_valley_clips_fastais_negative_index():
    assert lf.valley([1.0, 2.0], [1.0, 2.0]) == (1.0, 0)  # fastai: index -1, i.e. lr 2.0


def test_turn_up_measures_the_rise_against_the_smaller_of_descent_and_minimum():
    # from 100 down to 0.1: a rise to 0.12 counts (0.02 > 0.1 * min(99.9, 0.1))
    assert lf.turn_up_index([100.0, 10.0, 0.1, 0.105, 0.12]) == 4
    # never fell: any rise counts
    assert lf.turn_up_index([1.0, 1.0, 1.5]) == 2
    assert lf.turn_up_index([1.0, 1.0, 1.0]) is None


# -- flags ----------------------------------------------------------------------------------------
def test_flat_curve_is_flagged():
    s = exact(1.0 - 0.01 * (U + 6) / 6)  # falls by 1 %, never turns up
    assert "flat" in s.flags and "no_divergence" in s.flags
    assert all("flat" in sug.flags and not sug.ok for sug in s.values())


def test_noisy_curve_is_flagged_and_the_clean_one_is_not():
    rng = np.random.default_rng(0)
    noisy = CLEAN + rng.normal(0.0, 0.6, CLEAN.size)  # noise sd 0.6 > 0.5 * drop (about 1.0)
    s = suggest(LRS, noisy, skip_start=0, skip_end=0)
    assert "noisy" in s.flags and s.noise > lf.NOISE_RATIO * s.drop
    mild = CLEAN + rng.normal(0.0, 0.05, CLEAN.size)
    s = suggest(LRS, mild, skip_start=0, skip_end=0)
    assert "noisy" not in s.flags
    assert s.noise == pytest.approx(0.05, rel=0.35)  # the estimator reads the noise level
    assert exact(CLEAN).noise < 0.01 * exact(CLEAN).drop  # curvature alone reads as almost none


def test_no_divergence_when_the_run_ends_still_falling():
    s = exact(valley_curve(U[:45]), LRS[:45])  # stops before the minimum at index 50
    assert "no_divergence" in s.flags
    assert s.half_divergence.lr == LRS[44] / 2 and s.half_divergence.index == 44
    assert "at_edge" in s.minimum_div10.flags


def test_too_short_and_empty():
    s = exact(CLEAN[20:25], LRS[20:25])
    assert "too_short" in s.flags and s.steepest.lr is not None
    one = exact(CLEAN[:1], LRS[:1])
    assert one.steepest.lr is None and one.valley.lr == LRS[0]
    none = suggest(LRS[:8], CLEAN[:8])  # skip_start 0 + skip_end 5 leave 3 points
    assert none.stop - none.start == 3 and "too_short" in none.flags
    empty = suggest(LRS[:4], CLEAN[:4])  # nothing left after skip_end = 5
    assert all(sug.lr is None and sug.index is None for sug in empty.values())
    assert empty.flags == ("too_short",)


def test_nan_tail_is_trimmed_and_brackets_the_divergence():
    losses = valley_curve(U[:45]).tolist() + [float("nan")] * 16
    s = suggest(LRS, losses, smoothing=0.0, skip_start=0, skip_end=0)
    assert s.stop == 45
    assert "no_divergence" not in s.flags  # the NaN is the blow-up
    assert s.half_divergence.index == 45 and s.half_divergence.lr == LRS[45] / 2
    for sug in s.values():
        assert math.isfinite(sug.lr)
    # fastai's order: skip_end counts the recorded steps, the NaN among them
    s = suggest(LRS[:46], losses[:46], smoothing=0.0, skip_start=0, skip_end=1)
    assert s.stop == 45


def test_skips():
    s = suggest(LRS, CLEAN, smoothing=0.0)
    assert (s.start, s.stop) == (61 // 10, 56)
    s = suggest(LRS, CLEAN, smoothing=0.0, skip_start=30, skip_end=0)
    assert s.start == 30 and s.steepest.index >= 30
    with pytest.raises(ValueError, match="skip_end"):
        suggest(LRS, CLEAN, skip_end=-1)


def test_suggest_rejects_bad_curves():
    with pytest.raises(ValueError, match="same length"):
        suggest([1e-3, 1e-2], [1.0])
    with pytest.raises(ValueError, match="increase strictly"):
        suggest([1e-2, 1e-3], [1.0, 2.0])
    with pytest.raises(ValueError, match="> 0"):
        suggest([0.0, 1e-3], [1.0, 2.0])
    with pytest.raises(ValueError, match="smoothing"):
        suggest(LRS, CLEAN, smoothing=1.0)


def test_negative_losses_give_the_same_rules():
    s, t = exact(CLEAN), exact(CLEAN - 5.0)
    for rule in ("steepest", "valley", "minimum_div10"):
        assert s[rule].index == t[rule].index
    # low = -4.5: the rise that counts is 0.1 * min(1.0, 4.5) = 0.1, first at u = -0.7
    assert t.half_divergence.index == 53 and t.flags == ()


# -- the driver -----------------------------------------------------------------------------------
def _curve_step(curve=valley_curve):
    return lambda lr: float(curve(np.log10(lr)))


def test_driver_completes_and_records_the_ramp():
    res = run(_curve_step(), ramp(1e-6, 1.0, 61), 61, smoothing=0.0, diverge_factor=None)
    assert res.stop_reason == "completed" and res.lrs.size == 61 and res.num_steps == 61
    np.testing.assert_allclose(res.lrs, LRS, rtol=1e-12)
    np.testing.assert_allclose(res.losses, CLEAN, rtol=1e-12)
    assert res.suggest(skip_start=0, skip_end=0).steepest.index == 29


def test_driver_stops_on_divergence_fastai_rule():
    res = run(_curve_step(), ramp(1e-6, 1.0, 61), 61, smoothing=0.0)
    # best 0.50027 at index 50; 2 (u + 1)**2 > 3 * best first at u = -0.1 (1.62 > 1.5008)
    assert res.stop_reason == "diverged" and res.lrs.size == 60
    assert res.losses[-1] > 4 * res.losses.min() >= res.losses[-2]


def test_driver_divergence_is_safe_for_negative_losses():
    def step(lr):
        return float(valley_curve(np.log10(lr))) - 5.0 + 1e3 * lr**2

    res = run(step, ramp(1e-6, 1.0, 61), 61, smoothing=0.0)
    # the naive rule (loss > 4 * best, best < 0) would stop at the second step
    best = res.losses[:-1].min()
    assert res.stop_reason == "diverged" and res.lrs.size > 40
    assert res.losses[-1] - best > 3 * abs(best)
    assert np.all(res.losses[:-1] - best <= 3 * abs(best))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_driver_stops_on_non_finite(bad):
    res = run(lambda lr: bad if lr > 1e-2 else 1.0 - lr, ramp(1e-4, 1.0, 50), 50)
    assert res.stop_reason == "non-finite"
    assert res.lrs[-2] <= 1e-2 < res.lrs[-1] and not np.isfinite(res.losses[-1])
    assert np.isfinite(res.losses[:-1]).all()


def test_driver_min_steps():
    losses = iter([1.0, 0.1, 5.0] + [0.1] * 20)  # a spike at step 2
    res = run(lambda lr: next(losses), ramp(1e-3, 1.0, 20), 20, smoothing=0.0)
    assert res.stop_reason == "diverged" and res.lrs.size == 3
    losses = iter([1.0, 0.1, 5.0] + [0.1] * 20)
    res = run(lambda lr: next(losses), ramp(1e-3, 1.0, 20), 20, smoothing=0.0, min_steps=3)
    assert res.stop_reason == "completed"


def test_driver_eval_every_and_eval_rules():
    calls = []

    def eval_fn():
        calls.append(1)
        return float(valley_curve(np.log10(LRS[len(calls) * 3 - 1])))

    res = run(
        _curve_step(), ramp(1e-6, 1.0, 61), 61, eval_fn=eval_fn, eval_every=3, diverge_factor=None
    )
    assert res.eval_steps.tolist() == list(range(2, 61, 3))
    assert len(res.eval_losses) == 20
    s = res.suggest(source="eval")
    assert s.minimum_div10.lr == pytest.approx(LRS[50] / 10)  # eval at index 50 = step 16 * 3 + 2
    with pytest.raises(ValueError, match="eval_fn"):
        run(_curve_step(), ramp(), 10, eval_every=2)


def test_driver_does_not_evaluate_after_a_diverged_step():
    res = run(_curve_step(), ramp(1e-6, 1.0, 61), 61, smoothing=0.0, eval_fn=lambda: 1.0)
    assert res.stop_reason == "diverged" and res.eval_steps[-1] == res.lrs.size - 2


def test_driver_accepts_functions_sequences_and_tensors_like_losses():
    res = run(lambda lr: np.float32(1.0 / lr), lambda i: 1e-3 * 2.0**i, 5, diverge_factor=None)
    np.testing.assert_allclose(res.lrs, 1e-3 * 2.0 ** np.arange(5))
    res = run(lambda lr: np.array(1.0), [0.1, 0.2, 0.3], 3)
    assert res.lrs.tolist() == [0.1, 0.2, 0.3]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"smoothing": 1.0}, "smoothing"),
        ({"diverge_factor": 1.0}, "diverge_factor"),
        ({"num_steps": 0}, "num_steps"),
        ({"min_steps": -1}, "min_steps"),
        ({"eval_fn": lambda: 0.0, "eval_every": 0}, "eval_every"),
    ],
)
def test_driver_rejects_bad_input(kwargs, match):
    args = {"num_steps": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        run(lambda lr: 1.0, ramp(), **args)


def test_driver_errors_name_the_problem():
    with pytest.raises(TypeError, match="batch loss as a number"):
        run(lambda lr: None, ramp(), 10)
    with pytest.raises(ValueError, match="step 1"):
        run(lambda lr: 1.0, [0.1, -0.1], 2)


def test_recorder_push_style():
    rec = Recorder(ramp(1e-3, 1.0, 3), 3, smoothing=0.0)
    assert rec.lr == 1e-3
    assert rec.record(1.0) is False
    rec.record_eval(2.0)
    assert rec.record(0.9) is False and rec.record(0.8) is True
    assert rec.done and rec.result().stop_reason == "completed"
    with pytest.raises(RuntimeError, match="over"):
        rec.record(0.7)


def test_result_round_trips_and_saves(tmp_path):
    res = run(_curve_step(), ramp(1e-6, 1.0, 61), 61)
    back = FinderResult.from_dict(json.loads(res.to_json()))
    np.testing.assert_array_equal(back.losses, res.losses)
    assert back.stop_reason == res.stop_reason and back.schedule == res.schedule
    assert "FinderResult(steps=" in repr(res)
    assert res.save(tmp_path / "r.json").read_text() == res.to_json()
    with pytest.raises(ValueError, match="missing key"):
        FinderResult.from_dict({"lrs": []})


# -- repeats and the window -----------------------------------------------------------------------
def test_run_repeated_median_spread_and_window():
    def make(seed):  # seed s moves the whole curve by s / 10 decades: 1 grid step
        return lambda lr: float(valley_curve(np.log10(lr), shift=seed / 10))

    rep = run_repeated(
        make,
        ramp(1e-6, 1.0, 61),
        61,
        repeats=3,
        smoothing=0.0,
        diverge_factor=None,
        skip_start=0,
        skip_end=0,
    )
    assert rep.seeds == (0, 1, 2) and len(rep.results) == 3 and len(rep.runs) == 3
    st = rep.suggestions["steepest"]
    np.testing.assert_allclose(st.lrs, [LRS[29], LRS[30], LRS[31]], rtol=1e-12)
    assert st.median == pytest.approx(10**-3.0, rel=1e-9)
    assert st.min == pytest.approx(10**-3.1, rel=1e-9) and st.max == pytest.approx(10**-2.9)
    assert st.ratio == pytest.approx(10**0.2, rel=1e-9)
    assert st.log10_iqr == pytest.approx(0.1, abs=1e-9)
    # the valley starts at the first point whatever the shift and the minimum moves by one
    # index per seed: lds = 51, 52, 53, sections = 17, 17.3, 17.7, index -1 + 17 + 8 = 24 each
    va = rep.suggestions["valley"]
    np.testing.assert_allclose(va.lrs, [LRS[24]] * 3, rtol=1e-12)
    assert va.ratio == 1.0 and va.log10_iqr == 0.0
    assert rep.suggestions["half_divergence"].min == pytest.approx(10**-0.8 / 2, rel=1e-9)
    # window: [valley median, steepest median]; the smallest half_divergence (0.079) is above it
    w = rep.window
    assert (w.lo, w.hi) == (pytest.approx(10**-3.6), pytest.approx(10**-3.0)) and not w.capped
    assert 10**-3.2 in w and 1.0 not in w
    assert "window" in repr(rep) and "steepest" in repr(rep)
    assert json.loads(rep.to_json())["window"]["hi"] == pytest.approx(10**-3.0)


def _sugg(steep, val, half, half_flags=()):
    rules = {
        "steepest": Suggestion(steep, 0, "steepest"),
        "valley": Suggestion(val, 0, "valley"),
        "minimum_div10": Suggestion(None, None, "minimum_div10"),
        "half_divergence": Suggestion(half, 0, "half_divergence", half_flags),
    }
    return Suggestions(rules, 0, 1)


def test_window_is_capped_by_the_smallest_bracketed_half_divergence():
    runs = [
        _sugg(1e-2, 1e-1, 0.05),
        _sugg(1e-2, 1e-1, 0.2),
        _sugg(1e-2, 1e-1, 1e-3, ("no_divergence",)),
    ]
    w = recommend_window(runs)
    assert (w.lo, w.hi, w.capped) == (1e-2, 0.05, True)  # the flagged 1e-3 does not cap
    w = recommend_window([_sugg(1e-2, 1e-1, 1e-3)])  # the cap is below both: the window shrinks
    assert (w.lo, w.hi) == (1e-3, 1e-3)
    assert recommend_window([_sugg(None, None, 0.1)]) is None
    assert recommend_window([_sugg(None, 1e-2, 1.0)]).lo == 1e-2


def test_summarize_checks_its_input():
    with pytest.raises(ValueError, match="empty"):
        combine_runs([])
    res = run(_curve_step(), ramp(1e-6, 1.0, 61), 61)
    with pytest.raises(ValueError, match="seeds"):
        combine_runs([res], seeds=[1, 2])


# -- plots ----------------------------------------------------------------------------------------
def test_plot_has_the_expected_artists(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    res = run(_curve_step(), ramp(1e-6, 1.0, 61), 61)
    fig = res.plot(title="test")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_title() == "test"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["raw loss", "smoothed loss"]
    s = res.suggest()
    for rule in lf.RULES:
        assert any(lab.startswith(f"{rule}: {s[rule].lr:.2e}") for lab in labels), labels
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("window") for t in legend)
    assert any(p.get_label().startswith("window") for p in ax.patches)
    for ext in ("png", "svg"):
        path = res.save(tmp_path / f"finder.{ext}")
        assert path.stat().st_size > 1000
    assert (tmp_path / "finder.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"\.png"):
        res.save(tmp_path / "finder.jpg")
    # no window, no raw curve
    fig = res.plot(window=None, raw=False)
    assert not fig.axes[0].patches
    assert fig.axes[0].get_lines()[0].get_label() == "smoothed loss"


def test_plot_repeated(tmp_path):
    pytest.importorskip("matplotlib")
    rep = run_repeated(
        lambda seed: lambda lr: float(valley_curve(np.log10(lr), shift=seed / 10)),
        ramp(1e-6, 1.0, 61),
        61,
        repeats=3,
    )
    fig = rep.plot()
    ax = fig.axes[0]
    seeds = [line for line in ax.get_lines() if (line.get_gid() or "").startswith("seed")]
    assert len(seeds) == 3 and ax.get_xscale() == "log"
    assert rep.save(tmp_path / "rep.svg").exists()


def test_finder_imports_no_framework():
    code = (
        "import sys, lrlab.finder as f; "
        "f.run(lambda lr: 1.0, f.ramp(), 20).suggest(); "
        "names = ('torch', 'keras', 'jax', 'matplotlib', 'tensorflow'); "
        "print([m for m in names if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the Optax example in docs/finder.md ----------------------------------------------------------
def test_docs_optax_example_runs():
    pytest.importorskip("optax")
    text = (DOCS / "finder.md").read_text()
    block = re.search(r"<!-- optax-example -->\s*```python\n(.*?)```", text, re.S)
    assert block, "docs/finder.md lost its Optax example"
    namespace: dict = {}
    exec(compile(block.group(1), "docs/finder.md (Optax example)", "exec"), namespace)
    result = namespace["result"]
    assert result.stop_reason in ("diverged", "non-finite")
    s = result.suggest()
    assert all(math.isfinite(sug.lr) for sug in s.values())
    assert 1e-4 < s.valley.lr < 1.0


# -- documentation --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", lf.__all__)
def test_every_public_name_is_documented(name):
    assert f"`{name}" in (DOCS / "finder.md").read_text(), f"{name} not in docs/finder.md"
    obj = getattr(lf, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert inspect.getdoc(obj), f"{name} has no docstring"


def test_docs_keep_the_which_rule_section_for_the_benchmark():
    text = (DOCS / "finder.md").read_text()
    assert "## Which rule to trust" in text and "benchmarks/finder_quality.py" in text


def test_the_repeated_plot_shows_every_seeds_descent():
    """The y range covers each seed's starting loss and minimum, not only the first seed's."""
    pytest.importorskip("matplotlib")
    rep = run_repeated(
        lambda seed: lambda lr: (1 + 2 * seed) / (1 + 10 * lr) + lr**2,
        ramp(1e-4, 10.0, 60),
        60,
        repeats=3,
    )
    low, high = rep.plot().axes[0].get_ylim()
    for res in rep.results:
        s = res.smoothed[np.isfinite(res.smoothed)]
        m = int(np.argmin(s))
        assert low <= s[m] and high >= s[: m + 1].max()
