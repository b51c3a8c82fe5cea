"""The study and range-test figures: diverged trials are marked, never plotted as a value, and
user text is drawn as written (no mathtext)."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from lrlab.lab.spec import Study
from lrlab.lab.store import Store
from lrlab.lab.study import run_study
from lrlab.report import (
    curve_grid,
    learning_curves,
    lr_curves,
    optimizer_comparison,
    sensitivity,
    study_figures,
)

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


def legend_texts(fig) -> list[str]:
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_sensitivity_marks_diverged_trials_at_the_axis(diverged_store):
    fig = sensitivity(diverged_store, "div", "lr")
    ax = fig.axes[0]
    (points,) = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    ys = dict(zip(points.get_xdata(), points.get_ydata()))
    assert 1e6 not in ys  # no value where every seed diverged
    assert np.isfinite([ys[0.1], ys[0.01]]).all()
    (marks,) = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert list(marks.get_xdata()) == [1e6] and list(marks.get_ydata()) == [0.0]
    assert "diverged (2 of 6 trials)" in legend_texts(fig)
    assert "mean, 95% CI (n=2)" in legend_texts(fig)
    assert ax.get_xscale() == "log"
    assert png(fig)[:4] == b"\x89PNG"


def test_sensitivity_error_bars_are_the_student_t_interval(diverged_store):
    from lrlab.lab.stats import mean_ci

    fig = sensitivity(diverged_store, "div", "lr")
    finals = [
        r["final_val_accuracy"] for r in diverged_store.records("div") if r["vars"]["lr"] == 0.1
    ]
    ci = mean_ci(finals)
    (points,) = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "o"]
    ys = dict(zip(points.get_xdata(), points.get_ydata()))
    assert ys[0.1] == pytest.approx(ci.mean)
    bars = fig.axes[0].collections[0].get_segments()
    spans = sorted(abs(seg[1][1] - seg[0][1]) for seg in bars)
    assert any(span == pytest.approx(2 * ci.half_width) for span in spans)


def test_learning_curves_end_before_divergence(diverged_store):
    fig = learning_curves(diverged_store, "div", "val_accuracy")
    ax = fig.axes[0]
    labels = legend_texts(fig)
    assert "diverged (2 of 6 trials)" in labels
    assert "lr=1e+06 (n=2, 2 diverged)" in labels
    curves = {ln.get_label(): ln for ln in ax.get_lines() if ln.get_marker() != "x"}
    # lr = 1e6 diverged in its second epoch, which was scored on NaN weights: one point
    assert list(curves["lr=1e+06 (n=2, 2 diverged)"].get_xdata()) == [1]
    assert len(curves["lr=0.1 (n=2)"].get_xdata()) == 3
    (marks,) = [ln for ln in ax.get_lines() if ln.get_marker() == "x"]
    assert list(marks.get_xdata()) == [2.0]
    colours = {
        ln.get_color() if isinstance(ln.get_color(), str) else tuple(ln.get_color())
        for ln in curves.values()
    }
    assert len(colours) == 3  # a colour per configuration
    assert png(fig)[:4] == b"\x89PNG"


def test_legends_sit_outside_the_axes(diverged_store):
    for fig in (learning_curves(diverged_store, "div"), sensitivity(diverged_store, "div", "lr")):
        fig.canvas.draw() if hasattr(fig, "canvas") and fig.canvas else None
        png(fig)  # lays the figure out
        renderer = fig._get_renderer()
        legend = fig.legends[0].get_window_extent(renderer)
        axes = fig.axes[0].get_window_extent(renderer)
        assert legend.x0 >= axes.x1 - 1  # to the right of the data, never over it


def test_curve_grid_has_a_panel_per_configuration(diverged_store):
    fig = curve_grid(diverged_store, "div", "accuracy")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in visible) == [
        "lr=0.01",
        "lr=0.1",
        "lr=1e+06 (2/2 diverged)",
    ]
    assert legend_texts(fig) == ["train", "validation"]
    assert png(fig)[:4] == b"\x89PNG"


def test_study_figures_writes_png_and_svg(diverged_store, tmp_path):
    written = study_figures(diverged_store, "div", tmp_path)
    names = [p.name for p in written]
    assert names == [
        "curves_val_accuracy.png",
        "curves_val_accuracy.svg",
        "grid_accuracy.png",
        "grid_accuracy.svg",
        "sensitivity_lr.png",
        "sensitivity_lr.svg",
    ]
    assert all(p.stat().st_size > 1000 for p in written)
    assert (tmp_path / "sensitivity_lr.svg").read_text().lstrip().startswith("<?xml")


def test_an_earlier_run_s_figures_that_do_not_apply_now_are_removed(diverged_store, tmp_path):
    """Only the files an earlier call listed as its own: a user's files stay, whatever their
    names, and nothing outside the folder is touched."""
    folder = tmp_path / "figures"
    folder.mkdir()
    stale = [folder / "sensitivity_momentum.png", folder / "optimizers.svg"]
    mine = [folder / "lr.png", folder / "grid_search.svg", folder / "notes.png"]
    for f in (*stale, *mine):
        f.write_bytes(b"old")
    (folder / ".lrlab-figures").write_text(
        "sensitivity_momentum.png\noptimizers.svg\ncurves_val_accuracy.png\n../outside.png\n"
    )
    (tmp_path / "outside.png").write_bytes(b"not in the folder")
    written = study_figures(diverged_store, "div", folder)
    manifest = folder / ".lrlab-figures"
    assert sorted(folder.iterdir()) == sorted([*written, *mine, manifest])
    assert manifest.read_text().splitlines() == [p.name for p in written]
    assert (tmp_path / "outside.png").exists()


LR_X_MOMENTUM = {
    "name": "lrmom",
    "data": {"name": "blobs", "n_samples": 200, "n_train": 100},
    "model": {"hidden": [8]},
    "train": {"epochs": 3, "batch_size": 50},
    "schedule": "constant({lr})",
    "optimizer": {"name": "sgd"},
    "grid": {"lr": [0.1, 0.01], "optimizer.momentum": [0.0, 0.9]},
    "seeds": [0, 1],
}


def test_sensitivity_has_a_line_per_level_of_the_second_variable(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        run_study(Study.from_dict(LR_X_MOMENTUM), store)
        fig = sensitivity(store, "lrmom", "lr")
        assert legend_texts(fig) == ["momentum=0 (n=2)", "momentum=0.9 (n=2)"]
        fig = learning_curves(store, "lrmom")
        assert "lr=0.1, momentum=0.9 (n=2)" in legend_texts(fig)


def test_lr_curves_and_optimizer_comparison(tmp_path):
    study = {
        "name": "opts",
        "data": {"name": "blobs", "n_samples": 200, "n_train": 100},
        "model": {"hidden": [8]},
        "train": {"epochs": 4, "batch_size": 50},
        "schedule": "step_decay(init={lr}, drop=0.5, every=4)",  # 2 steps per epoch
        "grid": {"lr": [0.1, 0.01], "optimizer.name": ["sgd", "adam"]},
        "seeds": [0],
    }
    with Store(tmp_path / "s.sqlite") as store:
        run_study(Study.from_dict(study), store)
        fig = lr_curves(store, "opts")
        for line in fig.axes[0].get_lines():  # halved every 2 epochs: two levels in 4 epochs
            ys = line.get_ydata()
            assert ys.max() == pytest.approx(2 * ys.min()) and ys[0] == ys.max()
        fig = optimizer_comparison(store, "opts")
        assert {t.split(":")[0] for t in legend_texts(fig)} == {"sgd", "adam"}
        names = [p.name for p in study_figures(store, "opts", tmp_path, formats=("png",))]
        assert names[-2:] == ["lr.png", "optimizers.png"]
        # one configuration per optimizer: the comparison would be the learning curves again
        one_each = {**study, "name": "one", "grid": {"optimizer.name": ["sgd", "adam"]}}
        one_each["schedule"] = "constant(0.1)"
        run_study(Study.from_dict(one_each), store)
        names = [p.name for p in study_figures(store, "one", tmp_path, formats=("png",))]
        assert "optimizers.png" not in names and "curves_val_accuracy.png" in names


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


def test_a_grid_whose_first_configuration_diverged_keeps_its_legend(tmp_path):
    """lr = 1e30 comes first and diverges in the first epoch on every seed: its panel has no
    curve and says why, and the legend comes from the first panel with curves."""
    study = Study.from_dict({**DIVERGING, "name": "boom", "grid": {"lr": [1e30, 0.1]}})
    with Store(tmp_path / "s.sqlite") as store:
        run_study(study, store)
        fig = curve_grid(store, "boom")
        first = fig.axes[0]
        assert first.get_title().startswith("lr=1e+30") and not first.get_lines()
        assert [t.get_text() for t in first.texts] == ["every seed diverged"]
        assert legend_texts(fig) == ["train", "validation"]


def test_accuracy_intervals_are_drawn_within_0_and_1(tmp_path):
    """Two seeds far apart: the Student-t interval (t = 12.7) reaches past 1 and below 0; the
    bar stops at the bounds an accuracy has."""
    from lrlab.lab.stats import mean_ci

    study = Study.from_dict({**DIVERGING, "name": "wide", "grid": {"lr": [3.0, 0.1]}})
    with Store(tmp_path / "s.sqlite") as store:
        run_study(study, store)
        fig = sensitivity(store, "wide", "lr")
        bars = [c for c in fig.axes[0].collections if c.get_segments()]
        tops = [seg[:, 1].max() for c in bars for seg in c.get_segments()]
        lows = [seg[:, 1].min() for c in bars for seg in c.get_segments()]
        assert max(tops) <= 1.0 and min(lows) >= 0.0
        finals = [r["final_val_accuracy"] for r in store.records("wide") if r["vars"]["lr"] == 0.1]
        ci = mean_ci(finals)
        want = pytest.approx(min(1.0, ci.high))  # lr = 0.1's interval, where it is in bounds
        assert any(top == want for top in tops)


def test_many_configurations_are_lines_alone_and_the_title_says_where_the_bands_are(tmp_path):
    from lrlab.report._figures import MAX_BANDS

    rates = [0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005]
    assert len(rates) > MAX_BANDS
    with Store(tmp_path / "s.sqlite") as store:
        study = {**DIVERGING, "name": "many", "grid": {"lr": rates}, "seeds": [0, 1, 2]}
        run_study(Study.from_dict(study), store)
        ax = learning_curves(store, "many").axes[0]
        assert len(ax.get_lines()) == len(rates) and not ax.collections
        assert "95% CIs are in the grid figure" in ax.get_title()
        few = {**study, "name": "few", "grid": {"lr": rates[:MAX_BANDS]}}
        run_study(Study.from_dict(few), store)
        ax = learning_curves(store, "few").axes[0]
        assert len(ax.collections) == MAX_BANDS and "band: 95% CI" in ax.get_title()


def test_the_lr_figure_leaves_rates_of_0_out_and_says_so(tmp_path):
    study = {
        **DIVERGING,
        "name": "warm",
        "schedule": "warmup(constant({lr}), steps=4)",  # 2 steps per epoch: epoch 1 starts at 0
        "grid": {"lr": [0.1, 0.01]},
    }
    with Store(tmp_path / "s.sqlite") as store:
        run_study(Study.from_dict(study), store)
        fig = lr_curves(store, "warm")
        assert fig.axes[0].get_title().endswith("(rates of 0 not drawn)")
        assert fig.axes[0].get_yscale() == "log"
