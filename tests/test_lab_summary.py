"""lrlab.lab.summary: a study's results with intervals, counts, a paired ranking and learning
speed; on hand-made records with known answers and on a real small study."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrlab.lab.spec import Study
from lrlab.lab.stats import mean_ci, paired_difference
from lrlab.lab.store import Store
from lrlab.lab.study import run_study
from lrlab.lab.summary import StudyResults, summarize_study


def record(group, lr, seed, acc, *, diverged=False, loss=0.5):
    return {
        "trial_id": f"{group}-{seed}",
        "group": group,
        "seed": seed,
        "status": "done",
        "diverged": diverged,
        "stopped_epoch": -1,
        "config": {"lr": lr, "seed": seed, "model": {"n_outputs": 3, "output": "softmax"}},
        "final_val_accuracy": None if diverged else acc,
        "final_val_loss": None if diverged else loss,
    }


def curve_history(acc_curve, loss_curve):
    return {"val_accuracy": list(acc_curve), "val_loss": list(loss_curve)}


ACC = {
    "good": [0.90, 0.92, 0.91, 0.93],
    "close": [0.905, 0.915, 0.905, 0.925],  # within noise of "good", paired by seed
    "worse": [0.80, 0.82, 0.79, 0.81],
}


def records():
    recs = [
        record(g, lr, s, a)
        for (g, lr) in [("good", 0.1), ("close", 0.05), ("worse", 0.5)]
        for s, a in enumerate(ACC[g])
    ]
    recs += [record("boom", 1.0, s, None, diverged=True) for s in range(4)]
    return recs


def test_means_intervals_and_counts_are_those_of_the_seeds():
    res = summarize_study(records())
    by = {c.group: c for c in res.configs}
    for g, values in ACC.items():
        ci = by[g].metrics["final_val_accuracy"]
        ref = mean_ci(values)
        assert (ci.mean, ci.low, ci.high, ci.n) == (ref.mean, ref.low, ref.high, 4)
    boom = by["boom"]
    assert (boom.seeds, boom.diverged, boom.used, boom.rank) == (4, 4, 0, None)
    assert boom.metrics["final_val_accuracy"].n == 0
    assert [c.group for c in res.configs] == ["good", "close", "worse", "boom"]


def test_ranking_is_paired_by_seed_and_says_when_configs_cannot_be_told_apart():
    res = summarize_study(records())
    by = {c.group: c for c in res.configs}
    ref = paired_difference(dict(enumerate(ACC["close"])), dict(enumerate(ACC["good"])))
    assert by["close"].vs_best == ref
    assert by["close"].tied_with_best and ref.contains(0.0)
    assert not by["worse"].tied_with_best and by["worse"].vs_best.high < 0
    assert [c.group for c in res.tied()] == ["good", "close"]
    text = res.table()
    assert "(tie)" in text.splitlines()[2]
    assert (
        "cannot be told apart from the best (the interval of the difference holds 0): rank 2"
        in text
    )
    assert "4 of 16 trials diverged and 0 never learned" in text


def test_table_rows_and_repr():
    res = summarize_study(records())
    lines = res.table().splitlines()
    assert lines[0].split()[:4] == ["#", "lr", "n", "val_accuracy"]
    assert lines[1].split()[:5] == ["1", "0.1", "4", "0.9150", "±"]
    assert lines[4].split()[:3] == ["-", "1.0", "0"]
    assert str(res) == res.table()
    assert repr(res) == "StudyResults(4 configs, sort='final_val_accuracy', level=0.95)"
    row = res.rows()[0]
    assert row["final_val_accuracy_n"] == 4 and row["rank"] == 1 and row["tied_with_best"]
    assert (
        row["final_val_accuracy_low"]
        < row["final_val_accuracy_mean"]
        < row["final_val_accuracy_high"]
    )


def test_dataframe():
    pd = pytest.importorskip("pandas")
    df = summarize_study(records()).dataframe()
    assert isinstance(df, pd.DataFrame) and list(df["lr"]) == [0.1, 0.05, 0.5, 1.0]


def test_sort_by_a_loss_ranks_ascending_and_bad_sort_is_named():
    recs = [record("a", 0.1, s, 0.9, loss=0.3 + 0.01 * s) for s in range(3)]
    recs += [record("b", 0.2, s, 0.8, loss=0.2 + 0.01 * s) for s in range(3)]
    assert [c.group for c in summarize_study(recs, sort="val_loss").configs] == ["b", "a"]
    with pytest.raises(ValueError, match="sort: unknown metric 'speed'"):
        summarize_study(recs, sort="speed")
    with pytest.raises(ValueError, match="summarize_study: level must be in"):
        summarize_study(recs, level=1.5)


def test_dead_runs_are_counted_and_left_out_of_the_means():
    recs = [record("a", 0.1, s, 0.9) for s in range(3)] + [record("a", 0.1, 3, 0.34)]
    hist = {f"a-{s}": curve_history([0.5, 0.8, 0.9], [1.0, 0.6, 0.4]) for s in range(3)}
    hist["a-3"] = curve_history([0.33, 0.34, 0.34], [1.10, 1.10, 1.11])  # never learned
    c = summarize_study(recs, hist).configs[0]
    assert (c.seeds, c.dead, c.used) == (4, 1, 3)
    assert c.metrics["final_val_accuracy"].mean == pytest.approx(0.9)
    assert "0 of 4 trials diverged and 1 never learned" in summarize_study(recs, hist).table()


def test_one_speed_target_for_the_whole_study():
    """A configuration that plateaus far below the best never reaches the study's target: it
    is not 'fast' for reaching 95% of its own low best at once."""
    recs = [record("a", 0.1, s, 0.9) for s in range(2)] + [
        record("b", 1e-7, s, 0.3) for s in range(2)
    ]
    hist = {f"a-{s}": curve_history([0.5, 0.8, 0.9, 0.9], [1.0, 0.6, 0.4, 0.3]) for s in range(2)}
    hist |= {
        f"b-{s}": curve_history([0.3, 0.3, 0.3, 0.3], [1.1, 1.09, 1.08, 1.07]) for s in range(2)
    }
    res = summarize_study(recs, hist)
    a, b = (next(c for c in res.configs if c.group == g) for g in "ab")
    assert a.threshold == b.threshold == pytest.approx(0.855)  # 95% of a's best mean, 0.9
    assert a.metrics["epochs_to_threshold"].mean == 3.0 and a.not_reached == 0  # 1-based
    assert b.not_reached == 2 and b.metrics["epochs_to_threshold"].n == 0
    assert "95% of the best config's best mean accuracy: 0.855" in res.table()
    assert "- (2 never)" in res.table().splitlines()[2]


def test_learning_speed_by_hand():
    recs = [record("a", 0.1, s, 0.9) for s in range(2)]
    hist = {
        "a-0": curve_history([0.5, 0.9, 0.9, 0.9], [1.0, 0.5, 0.4, 0.3]),
        "a-1": curve_history([0.5, 0.7, 0.9, 0.9], [1.0, 0.7, 0.4, 0.3]),
    }
    c = summarize_study(recs, hist).configs[0]
    # best mean accuracy over epochs 0.9 -> threshold 0.855: reached at epochs 2 and 3
    assert c.threshold == pytest.approx(0.855)
    assert c.metrics["epochs_to_threshold"].mean == 2.5 and c.not_reached == 0
    assert c.metrics["auc"].mean == pytest.approx((0.8 + 0.75) / 2)
    fixed = summarize_study(recs, hist, threshold=0.95).configs[0]
    assert fixed.not_reached == 2 and fixed.metrics["epochs_to_threshold"].n == 0
    assert (
        "epochs to threshold: the first epoch at 0.95"
        in summarize_study(recs, hist, threshold=0.95).table()
    )


def test_one_seed_says_there_are_no_intervals():
    recs = [record("a", 0.1, 0, 0.9), record("b", 0.2, 0, 0.8)]
    text = summarize_study(recs).table()
    assert "one usable seed per configuration: no intervals" in text
    assert "(no CI)" in text


def test_empty():
    assert summarize_study([]).table() == "no finished trials"


def test_a_real_study_summarized_from_its_store(tmp_path):
    study = Study.from_dict(
        {
            "name": "speed",
            "data": {"name": "blobs", "n_samples": 300, "n_train": 150},
            "model": {"hidden": [16]},
            "train": {"epochs": 15, "batch_size": 30, "dtype": "float64"},
            "optimizer": {"name": "sgd"},
            "schedule": "constant({lr})",
            "grid": {"lr": [0.1, 1e-6, 1e4]},
            "seeds": [0, 1, 2, 3],
        }
    )
    run_study(study, tmp_path / "s.sqlite")
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        recs = store.records("speed")
        hist = {r["trial_id"]: store.history(r["trial_id"]) for r in recs}
    res = summarize_study(recs, hist)
    assert isinstance(res, StudyResults)
    by = {c.labels["lr"]: c for c in res.configs}
    assert res.configs[0].labels == {"lr": 0.1}
    assert by[0.1].used == 4 and by[0.1].rank == 1
    huge = by[1e4]
    assert huge.diverged == 4 and huge.rank is None  # every seed diverged: counted, unranked
    for c in res.configs:
        ci = c.metrics["final_val_accuracy"]
        if ci.n >= 2:
            assert ci.low <= ci.mean <= ci.high and not math.isnan(ci.half_width)
    finals = [r["final_val_accuracy"] for r in recs if r["group"] == res.configs[0].group]
    assert res.configs[0].metric.mean == pytest.approx(np.mean(finals))


def test_a_swept_optimizer_is_headed_optimizer():
    recs = [
        {**record(g, 0.1, s, acc), "config": {"optimizer": {"name": g}, "seed": s}}
        for g, acc in (("sgd", 0.8), ("adam", 0.9))
        for s in range(2)
    ]
    header = summarize_study(recs).table().splitlines()[0].split()
    assert header[:3] == ["#", "optimizer", "n"]
