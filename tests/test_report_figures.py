"""The study and range-test figures: diverged trials are marked, never plotted as a value, and
user text is drawn as written (no mathtext)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from lrlab.lab.spec import Study
from lrlab.lab.store import Store
from lrlab.lab.study import run_study
from lrlab.report import learning_curves, sensitivity

DIVERGING = {
    "name": "div",
    "data": {"name": "blobs", "n_samples": 200, "n_train": 100},
    "model": {"hidden": [8]},
    "train": {"epochs": 3, "batch_size": 50},
    "schedule": "constant({lr})",
    "grid": {"lr": [1e6, 0.1, 0.01]},
    "seeds": [0, 1],
}


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    return buf.getvalue()


@pytest.fixture(scope="module")
def diverged_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("div") / "lrlab.sqlite"
    run_study(Study.from_dict(DIVERGING), path)
    with Store(path, readonly=True) as store:
        assert sum(r["diverged"] for r in store.records("div")) == 2  # lr = 1e6, both seeds
        yield store


def test_sensitivity_marks_diverged_trials_at_the_axis(diverged_store):
    fig = sensitivity(diverged_store, "div", "lr")
    ax = fig.axes[0]
    (points,) = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    ys = dict(zip(points.get_xdata(), points.get_ydata()))
    assert math.isnan(ys[1e6])  # no value where every seed diverged
    assert np.isfinite([ys[0.1], ys[0.01]]).all()
    (marks,) = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert list(marks.get_xdata()) == [1e6] and list(marks.get_ydata()) == [0.0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "diverged (2 of 6 trials)" in labels
    assert png(fig)[:4] == b"\x89PNG"


def test_learning_curves_end_before_divergence(diverged_store):
    fig = learning_curves(diverged_store, "div", "val_accuracy")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "diverged (2 of 6 trials)" in labels
    assert "lr=1e+06 (2 of 2 diverged)" in labels
    curves = {ln.get_label(): ln for ln in ax.get_lines() if ln.get_marker() != "x"}
    # lr = 1e6 diverged in its second epoch, which was scored on NaN weights: one point
    assert list(curves["lr=1e+06 (2 of 2 diverged)"].get_xdata()) == [1]
    assert len(curves["lr=0.1"].get_xdata()) == 3
    (marks,) = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert list(marks.get_xdata()) == [2.0]
    assert png(fig)[:4] == b"\x89PNG"


def test_a_study_name_with_mathtext_is_drawn_literally(tmp_path):
    name = r"a $\frac{$ b"
    study = Study.from_dict({**DIVERGING, "name": name, "grid": {"lr": [0.1, 0.01]}})
    with Store(tmp_path / "s.sqlite") as store:
        run_study(study, store)
        for fig in (learning_curves(store, name), sensitivity(store, name, "lr")):
            assert fig.axes[0].get_title().startswith(name)
            assert png(fig)[:4] == b"\x89PNG"  # mathtext would fail to parse it


def test_a_range_test_title_with_mathtext_is_drawn_literally():
    from lrlab.finder import ramp, run

    res = run(lambda lr: 1 / (1 + 100 * lr) + 50 * lr**2, ramp(1e-4, 1.0, 60), 60)
    fig = res.plot(title=r"net $\frac{$")
    assert fig.axes[0].get_title() == r"net $\frac{$"
    assert png(fig)[:4] == b"\x89PNG"
