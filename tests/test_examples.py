"""Every shipped study file (lrlab/demos, described in examples/README.md) validates at full
size and runs (trimmed to 2 epochs)."""

from __future__ import annotations

from pathlib import Path

import pytest

import lrlab.demos
from lrlab.lab.spec import Study
from lrlab.lab.store import Store
from lrlab.lab.study import run_study

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FILES = sorted(lrlab.demos.HERE.glob("*.toml"))
#: full-size trial counts, and what each example sweeps
EXPECTED = {
    "blobs_lr": (40, "schedule"),
    "blobs_momentum": (20, "optimizer.momentum"),
    "blobs_lr_momentum": (24, "optimizer.momentum"),
    "blobs_decay": (20, "schedule"),
    "blobs_optimizers": (20, "optimizer.name"),
    "ionosphere_decay": (15, "schedule"),
    "ionosphere_effects": (20, "schedule"),
    "blobs_plateau": (20, "plateau.patience"),
}


def test_every_example_is_listed():
    assert {p.stem for p in FILES} == set(EXPECTED)
    readme = (EXAMPLES / "README.md").read_text()
    for p in FILES:
        assert f"`{p.name}`" in readme, f"{p.name} is not described in examples/README.md"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_example_runs(path, tmp_path):
    study = Study.from_toml(path)
    n, swept = EXPECTED[path.stem]
    assert study.name == path.stem
    assert len(study.trials()) == n
    small = study.override({"train.epochs": 2})
    with Store(tmp_path / "lrlab.sqlite") as store:
        summary = run_study(small, store)
        assert (summary.ran, summary.failed) == (n, 0)
        assert all(swept in row for row in summary.rows)
        for rec in store.records(study.name):
            assert rec["epochs_run"] == 2


def test_classic_blobs_study_matches_the_tutorial_setup():
    (first, *_rest) = Study.from_toml(lrlab.demos.path("blobs_lr")).trials()
    cfg = first.config
    assert cfg["model"]["n_inputs"] == 2 and cfg["model"]["hidden"] == [50]
    assert cfg["model"]["n_outputs"] == 3 and cfg["model"]["output"] == "softmax"
    assert cfg["optimizer"]["name"] == "sgd" and cfg["optimizer"]["momentum"] == 0.0
    assert (cfg["train"]["batch_size"], cfg["train"]["epochs"]) == (32, 200)


def test_ionosphere_study_matches_the_tutorial_setup():
    trials = Study.from_toml(lrlab.demos.path("ionosphere_decay")).trials()
    cfg = trials[0].config
    assert cfg["model"]["n_inputs"] == 34 and cfg["model"]["hidden"] == [34]
    assert cfg["model"]["n_outputs"] == 1 and cfg["model"]["output"] == "sigmoid"
    assert cfg["model"]["init"] == "normal"  # Keras 2's init='normal', as the tutorials
    assert cfg["optimizer"]["form"] == "keras"
    assert (cfg["train"]["batch_size"], cfg["train"]["epochs"]) == (28, 50)
    arms = sorted({(t.config["schedule"], t.config["optimizer"]["momentum"]) for t in trials})
    # 235 training rows (Keras' validation_split=0.33) / batch 28 -> 9 updates per epoch
    assert arms == [
        ("by_epoch(step_decay(init=0.1, drop=0.5, every=10, offset=1), steps_per_epoch=9)", 0.9),
        ("constant(0.1)", 0.0),  # the baseline: no decay, no momentum
        ("keras2_decay(lr=0.1, decay=0.002)", 0.8),
    ]


def test_ionosphere_effects_crosses_decay_and_momentum():
    trials = Study.from_toml(lrlab.demos.path("ionosphere_effects")).trials()
    arms = {(t.config["schedule"], t.config["optimizer"]["momentum"]) for t in trials}
    assert len(arms) == 4 and {m for _, m in arms} == {0.0, 0.8}
