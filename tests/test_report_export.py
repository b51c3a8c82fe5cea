"""lrlab export: TensorBoard runs read back with TensorBoard's own event reader, CSV and JSON
files, and the command's errors."""

from __future__ import annotations

import csv
import json
import os
import stat

import pytest

from lrlab.cli import main
from lrlab.lab.spec import Study
from lrlab.lab.store import Store
from lrlab.lab.study import run_study

STUDY = {
    "name": "exp",
    "data": {"name": "blobs", "n_samples": 200, "n_train": 100},
    "model": {"hidden": [8]},
    "train": {"epochs": 4, "batch_size": 25},
    "schedule": "step_decay(init={lr}, drop=0.5, every=8)",
    "grid": {"lr": [0.1, 1e6]},
    "seeds": [0, 1],
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp")
    run_study(Study.from_dict(STUDY), out / "lrlab.sqlite")
    return out


def test_tensorboard_runs_read_back_with_tensorboards_reader(folder, tmp_path, capsys):
    pytest.importorskip("tensorboardX")
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    logdir = tmp_path / "tb"
    assert main(["export", str(folder), "--tensorboard", str(logdir)]) == 0
    assert "tensorboard: 4 runs in" in capsys.readouterr().out
    runs = sorted((logdir / "exp").iterdir())
    assert [r.name.split(",")[:2] for r in runs] == [
        ["lr=0.1", "seed=0"],
        ["lr=0.1", "seed=1"],
        ["lr=1000000.0", "seed=0"],
        ["lr=1000000.0", "seed=1"],
    ]
    with Store(folder / "lrlab.sqlite", readonly=True) as store:
        by_seed = {(r["vars"]["lr"], r["seed"]): r for r in store.records("exp")}
        for run in runs:
            lr = float(run.name.split(",")[0].split("=")[1])
            seed = int(run.name.split(",")[1].split("=")[1])
            rec = by_seed[(lr, seed)]
            hist = store.history(rec["trial_id"])
            acc = accumulator.EventAccumulator(str(run))
            acc.Reload()
            for metric in ("loss", "val_accuracy", "lr"):
                events = acc.Scalars(metric)
                want = [(e, v) for e, v in enumerate(hist[metric], 1) if v is not None]
                assert [e.step for e in events] == [e for e, _ in want]
                assert [e.value for e in events] == pytest.approx([v for _, v in want], rel=1e-6)
            if not rec["diverged"]:  # the step decay's rate per epoch, halved every 2 epochs
                assert [e.value for e in acc.Scalars("lr")] == pytest.approx(
                    [lr, lr, lr / 2, lr / 2], rel=1e-6
                )
            assert "config/text_summary" in acc.Tags()["tensors"]


def test_csv_and_json_files(folder, tmp_path, capsys):
    c, j = tmp_path / "t.csv", tmp_path / "t.json"
    assert main(["export", str(folder), "--csv", str(c), "--json", str(j)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"wrote {c}", f"wrote {j}"]
    rows = list(csv.DictReader(c.open()))
    records = json.loads(j.read_text())
    assert len(rows) == len(records) == 4
    assert rows[0]["vars.lr"] == "0.1" and records[0]["vars"] == {"lr": 0.1}
    assert not list(tmp_path.glob("*.part"))
    umask = os.umask(0o022)
    os.umask(umask)
    for f in (c, j):  # as open() makes files, not mkstemp's owner-only mode
        assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~umask


def test_an_exported_file_keeps_its_own_mode_and_a_new_one_follows_the_umask(
    folder, tmp_path, capsys
):
    kept = tmp_path / "kept.csv"
    kept.write_text("old")
    kept.chmod(0o600)
    old = os.umask(0o027)
    try:
        assert main(["export", str(folder), "--csv", str(kept), "--json", str(tmp_path / "n")]) == 0
        assert os.umask(0o027) == 0o027  # (the umask is as it was)
    finally:
        os.umask(old)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "n").stat().st_mode) == 0o640
    assert kept.read_text() != "old"


def test_a_file_that_is_a_folder_is_named_in_the_error(folder, tmp_path, capsys):
    (tmp_path / "t.csv").mkdir()
    assert main(["export", str(folder), "--csv", str(tmp_path / "t.csv")]) == 2
    err = capsys.readouterr().err
    assert err == f"lrlab: error: cannot write: {tmp_path / 't.csv'}: Is a directory\n"
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--csv", "/nonexistent/dir/x.csv"], "--csv/--json: the folder of /nonexistent/dir/x.csv"),
        (["--study", "nope", "--csv", "x.csv"], "--study: no study 'nope'"),
        ([], "export: give --csv FILE, --json FILE or --tensorboard LOGDIR"),
        (["--tensorboard", "/nonexistent/dir/tb"], "--tensorboard: the folder /nonexistent/dir"),
    ],
)
def test_errors_are_one_line(folder, argv, message, capsys):
    assert main(["export", str(folder), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lrlab: error: {message}") and err.count("\n") == 1
