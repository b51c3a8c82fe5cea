"""lrlab.lab.stats: Student-t intervals against SciPy, coverage by simulation, paired differences,
ranking with ties, and the learning-speed measures on hand-derived curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrlab.lab.stats import (
    MeanCI,
    area_under_curve,
    epochs_to_reach,
    is_dead,
    mean_ci,
    paired_difference,
    rank_configs,
    t_quantile,
    volatility,
    welch_test,
)

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 9, 19, 29, 99, 1000, 0.5, 2.5])
@pytest.mark.parametrize("p", [0.5, 0.6, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995, 0.999999, 0.025])
def test_t_quantile_matches_scipy(p, df):
    assert t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-12, abs=1e-12)


def test_t_quantile_large_df_tends_to_the_normal():
    assert t_quantile(0.975, 1e6) == pytest.approx(scipy_stats.t.ppf(0.975, 1e6), rel=1e-12)
    assert t_quantile(0.975, 1e9) == pytest.approx(scipy_stats.t.ppf(0.975, 1e9), rel=1e-12)
    assert t_quantile(0.95, 1e5) == pytest.approx(scipy_stats.t.ppf(0.95, 1e5), rel=1e-9)


@pytest.mark.parametrize(
    "p, df, match",
    [
        (0.0, 3, "p must be in"),
        (1.0, 3, "p must be in"),
        (0.5, 0, "df must be in"),
        (float("nan"), 3, "p must be"),
        ("0.9", 3, "p must be a number"),
    ],
)
def test_t_quantile_refuses_bad_arguments(p, df, match):
    with pytest.raises(ValueError, match=f"t_quantile: {match}"):
        t_quantile(p, df)


@pytest.mark.parametrize("n", [2, 3, 5, 20])
def test_mean_ci_matches_scipy(n):
    x = np.random.default_rng(n).normal(0.8, 0.05, size=n)
    ci = mean_ci(x)
    lo, hi = scipy_stats.t.interval(0.95, n - 1, loc=x.mean(), scale=scipy_stats.sem(x))
    assert (ci.n, ci.excluded) == (n, 0)
    assert ci.mean == pytest.approx(x.mean(), rel=1e-14)
    assert (ci.low, ci.high) == (pytest.approx(lo, rel=1e-10), pytest.approx(hi, rel=1e-10))


def test_mean_ci_covers_the_true_mean_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    trials, n = 4000, 5
    hits = sum(mean_ci(rng.normal(1.0, 2.0, size=n)).contains(1.0) for _ in range(trials))
    # binomial(4000, 0.95): sd 0.0034; 4 sd either side
    assert abs(hits / trials - 0.95) < 0.014


def test_mean_ci_leaves_out_and_counts_diverged_runs():
    ci = mean_ci([0.9, math.nan, 0.8, math.nan])
    assert (ci.n, ci.excluded, ci.mean) == (2, 2, pytest.approx(0.85))
    one = mean_ci([0.7, math.nan])
    assert (one.n, one.mean) == (1, 0.7) and math.isnan(one.low) and math.isnan(one.high)
    assert str(one) == "0.7000 (n=1, no CI)"
    none = mean_ci([math.nan, math.nan])
    assert none.n == 0 and none.excluded == 2 and math.isnan(none.mean)
    assert str(none) == "- (n=0, 2 excluded)"
    assert none.to_dict() == {
        "mean": None,
        "low": None,
        "high": None,
        "n": 0,
        "level": 0.95,
        "excluded": 2,
    }


def test_mean_ci_level_and_bad_input():
    x = [1.0, 2.0, 4.0]
    assert mean_ci(x, level=0.99).half_width > mean_ci(x, level=0.9).half_width
    with pytest.raises(ValueError, match="mean_ci: level must be in"):
        mean_ci(x, level=1.0)
    with pytest.raises(ValueError, match="mean_ci: values must be 1-D"):
        mean_ci([[1.0, 2.0]])
    with pytest.raises(ValueError, match="mean_ci: values must be finite or NaN"):
        mean_ci([1.0, math.inf])


def test_paired_difference_is_the_paired_t_interval():
    rng = np.random.default_rng(1)
    a = rng.normal(0.8, 0.05, size=10)
    b = a - 0.01 + rng.normal(0, 0.005, size=10)  # strongly paired: a small, clear difference
    d = paired_difference(dict(enumerate(a)), dict(enumerate(b)))
    lo, hi = scipy_stats.t.interval(0.95, 9, loc=(a - b).mean(), scale=scipy_stats.sem(a - b))
    assert (d.low, d.high) == (pytest.approx(lo, rel=1e-10), pytest.approx(hi, rel=1e-10))
    assert d.low > 0  # the unpaired intervals of a and b overlap; the paired one does not
    assert mean_ci(a).contains(float(b.mean()))


def test_paired_difference_uses_common_seeds_only():
    d = paired_difference({0: 1.0, 1: 2.0, 2: math.nan, 3: 5.0}, {0: 0.5, 1: 1.0, 2: 1.0, 4: 9.0})
    assert (d.n, d.excluded, d.mean) == (2, 3, pytest.approx(0.75))


def test_rank_configs_best_first_with_ties_and_empty_last():
    values = {
        "lr=0.1": {0: 0.90, 1: 0.92, 2: 0.91},
        "lr=0.05": {0: 0.905, 1: 0.91, 2: 0.905},  # within noise of the best
        "lr=1": {0: math.nan, 1: math.nan, 2: math.nan},  # all diverged
        "lr=1e-4": {0: 0.40, 1: 0.42, 2: 0.41},
    }
    ranked = rank_configs(values, higher_is_better=True)
    assert [(r.key, r.rank, r.tied_with_best) for r in ranked] == [
        ("lr=0.1", 1, True),
        ("lr=0.05", 2, True),
        ("lr=1e-4", 3, False),
        ("lr=1", None, False),
    ]
    assert ranked[0].vs_best is None
    assert ranked[2].vs_best is not None and ranked[2].vs_best.high < 0
    assert ranked[3].summary.excluded == 3


def test_rank_configs_for_a_loss_sorts_ascending():
    ranked = rank_configs({"a": {0: 0.5, 1: 0.6}, "b": {0: 0.2, 1: 0.25}}, higher_is_better=False)
    assert [r.key for r in ranked] == ["b", "a"]
    assert isinstance(ranked[0].summary, MeanCI)


def test_epochs_to_reach_area_and_volatility_by_hand():
    acc = [0.2, 0.5, 0.8, 0.9, 0.95]
    assert epochs_to_reach(acc, 0.8) == 3
    assert epochs_to_reach(acc, 0.99) is None
    assert epochs_to_reach([math.nan, 0.9], 0.5) == 2
    assert epochs_to_reach([2.0, 1.0, 0.5], 0.9, higher_is_better=False) == 3
    assert area_under_curve(acc) == pytest.approx(0.67)
    assert math.isnan(area_under_curve([0.5, math.nan]))
    # last half of 8 epochs: [0.6, 0.9, 0.6, 0.9]: changes +0.3, -0.3, +0.3
    assert volatility([0.1, 0.5, 0.6, 0.9, 0.6, 0.9, 0.6, 0.9]) == pytest.approx(
        np.std([0.3, -0.3, 0.3], ddof=1)
    )
    assert volatility(np.linspace(0, 1, 20)) == pytest.approx(0.0, abs=1e-15)  # steady
    assert math.isnan(volatility([0.1, 0.2, 0.3]))


def test_is_dead():
    assert is_dead([0.5, 0.5], [0.69, 0.70], chance=0.5)
    assert not is_dead([0.5, 0.5], [0.69, 0.60], chance=0.5)  # loss fell: it learns, slowly
    assert not is_dead([0.5, 0.9], [0.69, 0.70], chance=0.5)
    assert not is_dead([0.5, math.nan], [0.69, math.nan], chance=0.5)  # diverged, not dead
    with pytest.raises(ValueError, match="is_dead: chance must be in"):
        is_dead([0.5], [0.5], chance=1.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_test_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.80, 0.02, size=12), rng.normal(0.82, 0.04, size=20)
    ours = welch_test(a, b)
    ref = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert ours.t == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours.n == (12, 20) and ours.difference == pytest.approx(a.mean() - b.mean())
    assert str(ours).startswith(f"difference {ours.difference:+.4f}, Welch t = ")


def test_welch_test_edges():
    assert welch_test([1.0, 1.0], [1.0, 1.0]).p == 1.0
    assert welch_test([1.0, 1.0], [2.0, 2.0]).p == 0.0
    assert welch_test([1.0, 2.0, math.nan], [1.0, 2.0]).n == (2, 2)
    with pytest.raises(ValueError, match="welch_test: each sample needs 2 values or more"):
        welch_test([1.0], [1.0, 2.0])
