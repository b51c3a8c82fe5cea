"""Schedules that name a function as 'module:function' in a study file: refused unless imports
are allowed (lrlab run --allow-import), since importing runs the module's code."""

from __future__ import annotations

import pytest

from lrlab.cli import main
from lrlab.lab.spec import SpecError, Study
from lrlab.lab.store import Store
from lrlab.lab.study import run_study

MODULE = '''
def step_down(epoch, lr):
    """Keras-style: halve the rate every 2 epochs."""
    return lr * 0.5 if epoch > 0 and epoch % 2 == 0 else lr
'''

FN = "recurrence(fn='lrlab_test_sched:step_down', init=0.1, horizon=6)"
STUDY = f"""
name = "imports"
schedule = "by_epoch({FN}, {{steps_per_epoch}})"
[data]
name = "blobs"
n_samples = 100
n_train = 50
[model]
hidden = [4]
[train]
epochs = 5
batch_size = 25
"""


@pytest.fixture
def module(tmp_path, monkeypatch):
    (tmp_path / "lrlab_test_sched.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    f = tmp_path / "s.toml"
    f.write_text(STUDY)
    return f


def test_refused_by_default_with_the_flag_named(module):
    with pytest.raises(SpecError, match="lrlab run --allow-import") as exc:
        Study.from_toml(module).trials()  # the schedule is read with the data's sizes
    assert str(exc.value).startswith("schedule: ")


def test_allowed_studies_train_with_the_function(module, tmp_path):
    study = Study.from_toml(module, allow_import=True)
    assert study.allow_import and study.override({"train.epochs": 4}).allow_import
    run_study(study, tmp_path / "s.sqlite")
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        (rec,) = store.records("imports")
        lrs = store.history(rec["trial_id"])["lr"]
    assert lrs[0] == pytest.approx(0.1) and lrs[-1] == pytest.approx(0.025)


def test_the_cli_flag(module, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(module), "--out", str(out), "--quiet", "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "--allow-import" in err and err.count("\n") == 1
    assert not out.exists()  # refused before the store was made
    argv = ["run", str(module), "--out", str(out), "--quiet", "--no-report", "--allow-import"]
    assert main(argv) == 0
    assert "study imports: 1 trials (1 run now" in capsys.readouterr().out
