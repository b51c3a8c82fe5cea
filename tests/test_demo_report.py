"""``lrlab demo`` (the shipped classic experiments) and the study figures."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

import lrlab.demos
from lrlab.cli import main
from lrlab.lab.spec import Study
from lrlab.lab.store import Store
from lrlab.lab.study import run_study
from lrlab.report import learning_curves, numeric_variables, sensitivity


def test_demo_runs_the_default_and_saves_figures(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "3", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "study blobs_lr: 40 trials (40 run now" in text
    for name in ("curves_val_accuracy.png", "grid_accuracy.png", "sensitivity_lr.png"):
        assert (out / "figures" / name).read_bytes()[:4] == b"\x89PNG"
        assert (out / "figures" / name).with_suffix(".svg").is_file()
    assert "&lt;" not in (out / "report" / "index.html").read_text()[:200]
    assert f"report: {out / 'report' / 'index.html'}" in text
    # a second run resumes: nothing left to train
    assert main(["demo", "--out", str(out), "--epochs", "3", "--quiet", "--no-plots"]) == 0
    assert "(0 run now, 40 already done" in capsys.readouterr().out


def test_demo_list_and_export(tmp_path, capsys):
    assert main(["demo", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in lrlab.demos.names():
        assert name in listed
    target = tmp_path / "mine.toml"
    assert main(["demo", "ionosphere_decay", "--export", str(target)]) == 0
    assert Study.from_toml(target).name == "ionosphere_decay"
    assert main(["demo", "ionosphere_decay", "--export", str(target)]) == 2


def test_unknown_demo_is_one_line(capsys):
    assert main(["demo", "blobs_l"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lrlab: error: no demo 'blobs_l' (did you mean 'blobs_lr'?)")
    assert "\n" not in err


def test_figures_of_a_study(tmp_path):
    study = Study.from_toml(lrlab.demos.path("blobs_lr_momentum")).override({"train.epochs": 2})
    with Store(tmp_path / "s.sqlite") as store:
        run_study(study, store)
        assert numeric_variables(store, study.name) == ["lr", "optimizer.momentum"]
        fig = learning_curves(store, study.name, "val_loss")
        assert fig.axes[0].get_yscale() == "log"
        assert len(fig.axes[0].get_lines()) == 12  # 3 lr x 4 momentum, seeds averaged
        fig = sensitivity(store, study.name, "optimizer.momentum", "best_val_accuracy")
        assert fig.axes[0].get_xlabel() == "optimizer.momentum"
        with pytest.raises(ValueError, match="not a numeric variable"):
            sensitivity(store, study.name, "schedule")


def test_a_variable_zipped_with_another_gets_no_sensitivity_plot(tmp_path):
    """ionosphere_decay zips each momentum with its own schedule: momentum has no effect of its
    own to draw (it would be one point per schedule)."""
    study = Study.from_toml(lrlab.demos.path("ionosphere_decay")).override({"train.epochs": 1})
    with Store(tmp_path / "s.sqlite") as store:
        run_study(study, store)
        assert numeric_variables(store, study.name) == []


def test_demo_makes_its_default_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--epochs", "1", "--quiet", "--no-plots"]) == 0
    assert (tmp_path / "lrlab-demo" / "blobs_lr" / "lrlab.sqlite").is_file()
    assert "results in lrlab-demo/blobs_lr/lrlab.sqlite" in capsys.readouterr().out
    err = "--out: the folder"
    assert main(["demo", "--out", str(tmp_path / "no" / "such"), "--quiet"]) == 2
    assert err in capsys.readouterr().err and not (tmp_path / "no").exists()


def test_the_cli_says_when_the_native_engine_is_not_available_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """A study on the CPU without the native engine trains on the slower engines: one line on
    stderr says so, with the reason and what to install (not with --quiet, not where
    LRLAB_NO_NATIVE turned it off, not for a network the engine would not have taken)."""
    from lrlab.lab import engine

    why = 'no C compiler found (set CC, install gcc or clang, or pip install "lrlab[native]")'
    monkeypatch.setattr(engine, "native_status", lambda: why)
    args = ["demo", "--epochs", "1", "--no-plots", "--no-report"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    note = "lrlab's native engine, several times faster for small MLPs on the CPU, is not"
    assert f"{note} available here: {why}" in err
    assert main([*args, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert "native engine" not in capsys.readouterr().err
    monkeypatch.setenv("LRLAB_NO_NATIVE", "1")
    assert main([*args, "--out", str(tmp_path / "c")]) == 0
    assert "native engine" not in capsys.readouterr().err
    monkeypatch.delenv("LRLAB_NO_NATIVE")
    wide = tmp_path / "wide.toml"  # 2-300-300-3: more than engine="auto" gives the kernel
    wide.write_text(
        'name = "wide"\nseeds = [0]\nschedule = "constant(0.1)"\n[data]\nname = "blobs"\n'
        "[model]\nhidden = [300, 300]\n[train]\nepochs = 1\nbatch_size = 100\n"
    )
    assert main(["run", str(wide), "--out", str(tmp_path / "w"), "--no-report"]) == 0
    assert "native engine" not in capsys.readouterr().err
    monkeypatch.setattr(engine, "native_status", lambda: "available")
    assert main([*args, "--out", str(tmp_path / "d")]) == 0
    assert "native engine" not in capsys.readouterr().err
