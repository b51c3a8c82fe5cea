"""Progress of lrlab run: epoch reports from the cohort in training, the share done and the time
left, a bar on a terminal, plain lines elsewhere, nothing with --quiet."""

from __future__ import annotations

import io
import itertools

import pytest

from lrlab._cli_base import ProgressDisplay
from lrlab.lab.spec import Study
from lrlab.lab.study import Progress, run_study

STUDY = {
    "name": "p",
    "data": {"name": "blobs", "n_samples": 100, "n_train": 50},
    "model": {"hidden": [4]},
    "train": {"epochs": 3, "batch_size": 25},
    "schedule": "constant({lr})",
    "grid": {"lr": [0.1, 0.01, 0.001, 0.0001]},
}


def test_epoch_reports_come_between_the_cohort_reports(tmp_path):
    seen: list[Progress] = []
    run_study(Study.from_dict(STUDY), tmp_path / "s.sqlite", progress=seen.append, max_members=2)
    kinds = [(p.cohorts_done, p.epoch) for p in seen]
    assert kinds == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3), (2, 0)]
    assert [p.epochs for p in seen if p.epoch] == [3] * 6
    assert [p.fraction for p in seen] == pytest.approx(
        [0.0, 1 / 6, 1 / 3, 0.5, 0.5, 2 / 3, 5 / 6, 1.0, 1.0]
    )
    assert all(b.elapsed >= a.elapsed for a, b in itertools.pairwise(seen))


def test_fraction_and_remaining():
    p = Progress(done=4, total=8, skipped=0, cohort_size=4, epoch=5, epochs=10, elapsed=30.0)
    assert p.fraction == pytest.approx(0.75)
    assert p.remaining == pytest.approx(10.0)
    assert Progress(0, 8, 0).remaining is None
    assert Progress(0, 0, 3).fraction == 1.0


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_on_a_terminal(monkeypatch):
    pytest.importorskip("rich")
    term = FakeTerminal()
    monkeypatch.setattr("sys.stderr", term)
    with ProgressDisplay("study", quiet=False) as show:
        show(Progress(0, 8, 0, cohorts=2))
        show(Progress(0, 8, 0, cohort_size=4, cohorts=2, epoch=2, epochs=4, elapsed=1.0))
    text = term.getvalue()
    assert "0/8 trials" in text and "cohort 1/2, epoch 2/4" in text and "s left" in text


def test_plain_lines_elsewhere_and_nothing_when_quiet(capsys):
    with ProgressDisplay("study", quiet=False) as show:  # pytest's stderr is no terminal
        show(Progress(0, 8, 0, cohorts=2))
        show(Progress(0, 8, 0, cohort_size=4, cohorts=2, epoch=2, epochs=4))  # not printed
        show(Progress(4, 8, 0, cohort_size=4, seconds=1.0, cohorts_done=1, cohorts=2))
    assert capsys.readouterr().err.splitlines() == [
        "study: 8 trials to run in 2 cohort(s) (0 already done)",
        "[1/2] 4/8 trials; cohort of 4 1.0 s",
    ]
    with ProgressDisplay("study", quiet=True) as show:
        show(Progress(0, 8, 0, cohorts=2))
    assert capsys.readouterr().err == ""
