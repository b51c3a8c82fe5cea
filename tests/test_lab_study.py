"""Cohorting, executors, run_study and the `lrlab run` / `lrlab results` commands."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest

from lrlab.cli import main
from lrlab.lab.spec import SpecError, Study
from lrlab.lab.store import DIVERGED_NULL, Store
from lrlab.lab.study import (
    Cohort,
    CohortRunner,
    InProcessExecutor,
    Progress,
    _optimizer,
    cohort_key,
    default_max_members,
    make_cohorts,
    run_study,
)

TINY = {
    "name": "tiny",
    "data": {"name": "blobs", "n_samples": 200, "n_train": 100},
    "model": {"hidden": [8]},
    # one batch order for all seeds, so that the cohort tests see every seed in one cohort
    "train": {"epochs": 2, "batch_size": 50, "batch_order": "shared"},
    "optimizer": {"name": "sgd"},
    "schedule": "constant({lr})",
    "grid": {"lr": [0.1, 0.01]},
    "seeds": [0, 1],
}


def tiny(**changes) -> Study:
    d = copy.deepcopy(TINY)
    d.update(changes)
    return Study.from_dict(d)


# -- cohorting -----------------------------------------------------------------------------------
def sizes(study: Study, **kw) -> list[int]:
    return [len(c) for c in make_cohorts(study.trials(), **kw)]


def test_per_member_settings_share_a_cohort():
    s = tiny(
        grid={
            "lr": [0.1, 0.01],
            "optimizer.momentum": [0.0, 0.9],
            "optimizer.weight_decay": [0.0, 1e-4],
            "schedule": ["constant({lr})", "cosine(init={lr}, decay_steps={total_steps})"],
        }
    )
    assert sizes(s) == [32]  # seeds, schedules and numeric hyperparameters vary per member


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("train.batch_size", [25, 50]),
        ("train.epochs", [1, 2]),
        ("train.data_seed", [0, 1]),
        ("train.dtype", ["float32", "float64"]),
        ("model.hidden", [[4], [8]]),
        ("model.activation", ["relu", "tanh"]),
        ("data.standardize", [False, True]),
        ("optimizer.name", ["sgd", "adam"]),
        ("optimizer.nesterov", [False, True]),
        ("plateau.patience", [1, 2]),
        ("early_stopping.patience", [1, 2]),
    ],
)
def test_shared_settings_split_cohorts(field, values):
    grid = {"lr": [0.1, 0.01], field: values}
    if field == "optimizer.nesterov":
        grid["optimizer.momentum"] = [0.9]
    cohorts = make_cohorts(tiny(grid=grid).trials())
    assert [len(c) for c in cohorts] == [4, 4]
    assert len({c.key for c in cohorts}) == 2
    for c in cohorts:
        assert len({cohort_key(t) for t in c.trials}) == 1


def test_max_members_splits_into_near_equal_parts():
    s = tiny(grid={"lr": [1.0, 0.3, 0.1, 0.03, 0.01]}, seeds=[0])
    assert sizes(s, max_members=2) == [2, 2, 1]
    assert sizes(s, max_members=4) == [3, 2]
    assert sizes(s, max_members=5) == [5]
    with pytest.raises(ValueError, match="max_members must be an integer >= 1, got 0"):
        make_cohorts(s.trials(), max_members=0)


def test_default_max_members():
    small = {"n_inputs": 2, "hidden": [50], "n_outputs": 3}
    assert default_max_members(small, 32) == 1024
    mnist = {"n_inputs": 784, "hidden": [4096, 4096], "n_outputs": 10}
    assert 1 <= default_max_members(mnist, 128) < 1024
    assert default_max_members(mnist, 128, "float64") <= default_max_members(mnist, 128)


def test_per_member_optimizer_hyperparameters():
    s = tiny(
        optimizer={"name": "adam"},
        grid={
            "lr": [0.1],
            "optimizer.betas": [[0.9, 0.999], [0.5, 0.999]],
            "optimizer.eps": [1e-8, 1e-7],
        },
        seeds=[0],
    )
    (cohort,) = make_cohorts(s.trials())
    opt = _optimizer(cohort)
    assert opt.betas == ((0.9, 0.9, 0.5, 0.5), 0.999)
    assert opt.eps == (1e-8, 1e-7, 1e-8, 1e-7)


# -- results -------------------------------------------------------------------------------------
def test_run_skip_and_progress(tmp_path):
    seen: list[Progress] = []
    summary = run_study(tiny(), tmp_path / "s.sqlite", progress=seen.append)
    assert (summary.trials, summary.ran, summary.skipped, summary.failed) == (4, 4, 0, 0)
    cohort_reports = [p for p in seen if p.epoch == 0]  # the others: one per epoch trained
    assert [p.cohorts_done for p in cohort_reports] == [0, 1]
    assert [p.epoch for p in seen if p.epoch] == [1, 2]
    assert seen[-1].done == 4 and seen[-1].cohort_size == 4 and seen[-1].epoch == 0
    assert [r["seeds"] for r in summary.rows] == [2, 2]
    again = run_study(tiny(), tmp_path / "s.sqlite")
    assert (again.ran, again.skipped, again.cohorts) == (0, 4, 0)
    assert again.dropped == 0 and again.dropped_line() is None
    grown = run_study(tiny(grid={"lr": [0.1, 0.01, 0.001]}), tmp_path / "s.sqlite")
    assert (grown.ran, grown.skipped, grown.dropped) == (2, 4, 0)
    # another file under the same name: the trials it no longer lists are named, and kept
    shrunk = run_study(tiny(grid={"lr": [0.1]}), tmp_path / "s.sqlite")
    assert (shrunk.trials, shrunk.ran, shrunk.dropped) == (2, 0, 4)
    assert "4 trials it listed before are not part of it now" in str(shrunk)
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        assert store.counts()["done"] == 6  # nothing stored was lost
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        rec = store.records("tiny")[0]
        assert rec["epochs_run"] == 2 and rec["final_lr"] == pytest.approx(0.1)
        assert rec["final_val_accuracy"] == store.history(rec["trial_id"])["val_accuracy"][-1]


def test_members_do_not_depend_on_their_cohort(tmp_path):
    s = tiny(
        train={"epochs": 3, "batch_size": 20, "dtype": "float64"},
        grid={"lr": [0.3, 0.03], "optimizer.momentum": [0.0, 0.9]},
    )
    run_study(s, tmp_path / "together.sqlite")
    run_study(s, tmp_path / "alone.sqlite", max_members=1)
    with Store(tmp_path / "together.sqlite") as a, Store(tmp_path / "alone.sqlite") as b:
        for t in s.trials():
            ha, hb = a.history(t.id), b.history(t.id)
            for k in ha:
                np.testing.assert_allclose(ha[k], hb[k], rtol=1e-10, atol=1e-12)


def test_a_failing_cohort_is_stored_as_failed_and_retried(tmp_path, monkeypatch):
    import lrlab.lab.population as population

    real = population.train_population

    def boom(*args, **kwargs):
        raise RuntimeError("out of memory (pretend)")

    monkeypatch.setattr(population, "train_population", boom)
    summary = run_study(tiny(), tmp_path / "s.sqlite")
    assert summary.failed == 4
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        assert {r["error"] for r in store.records()} == {"RuntimeError: out of memory (pretend)"}
    monkeypatch.setattr(population, "train_population", real)
    again = run_study(tiny(), tmp_path / "s.sqlite")
    assert (again.ran, again.failed, again.skipped) == (4, 0, 0)


class ReversedPickledExecutor:
    """Another executor: ships the runner and cohorts through pickle, runs them in reverse."""

    def map(self, fn, cohorts):
        fn = pickle.loads(pickle.dumps(fn))
        for c in reversed(cohorts):
            yield fn(pickle.loads(pickle.dumps(c)))


def test_any_executor_with_map_works(tmp_path):
    s = tiny()
    summary = run_study(s, tmp_path / "s.sqlite", ReversedPickledExecutor(), max_members=1)
    assert (summary.ran, summary.cohorts) == (4, 4)
    runner = pickle.loads(pickle.dumps(CohortRunner(s)))
    assert runner._study is None  # a shipped runner loads its own data
    (cohort,) = make_cohorts(s.trials())
    assert isinstance(cohort, Cohort)
    result = InProcessExecutor().submit(runner, cohort)
    assert [r["status"] for r in result.rows] == ["done"] * 4


def test_device_is_checked(tmp_path):
    with pytest.raises(SpecError, match=r"train\.device: not a torch device: 'gpu0'"):
        run_study(tiny(), tmp_path / "s.sqlite", device="gpu0")


# -- the command line ----------------------------------------------------------------------------
TOML = """
name = "tiny"
schedule = "constant({lr})"
seeds = [0, 1]
[data]
name = "blobs"
n_samples = 200
n_train = 100
[model]
hidden = [8]
[train]
epochs = 2
batch_size = 50
[grid]
lr = [0.1, 0.001]
"""


def test_cli_run_and_results(tmp_path, capsys):
    f = tmp_path / "tiny.toml"
    f.write_text(TOML)
    out = tmp_path / "out"
    assert main(["run", str(f), "--out", str(out), "--max-members", "2"]) == 0
    cap = capsys.readouterr()
    lines = cap.out.splitlines()
    assert lines[0].startswith("study tiny: 4 trials (4 run now, 0 already done, 0 failed)")
    assert lines[1].split()[:5] == ["#", "lr", "n", "val_accuracy", "(95%"]
    assert lines[1].split()[-2:] == ["diverged", "dead"]
    assert lines[2].split()[:3] == ["1", "0.1", "2"] and lines[2].endswith("0/2")
    assert (out / "report" / "index.html").is_file()
    assert (out / "figures" / "sensitivity_lr.svg").is_file()
    assert "[2/2] 4/4 trials" in cap.err
    assert main(["run", str(f), "--out", str(out), "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "(0 run now, 4 already done" in cap.out and cap.err == ""

    assert main(["results", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "study tiny: 4 of 4 trials done, 0 failed, 0 pending"
    assert lines[2].split()[1] == "0.1"
    assert main(["results", str(out / "lrlab.sqlite"), "--sort", "val_loss"]) == 0
    capsys.readouterr()
    assert main(["results", str(out), "--format", "csv"]) == 0
    csv_lines = capsys.readouterr().out.splitlines()
    assert len(csv_lines) == 5 and "schedule" in csv_lines[0].split(",")
    assert main(["results", str(out), "--format", "json", "--sort", "val_accuracy"]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 4 and recs[0]["config"]["schedule"] == "constant(0.1)"
    assert recs[0]["final_val_accuracy"] >= recs[-1]["final_val_accuracy"]


def one_line_error(capsys, argv, code=2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


def test_cli_errors_are_one_line(tmp_path, capsys):
    f = tmp_path / "bad.toml"
    f.write_text(TOML.replace("lr = [0.1, 0.001]", '"optimizer.momentum" = [0.5, 1.5]\nlr = [0.1]'))
    err = one_line_error(capsys, ["run", str(f), "--out", str(tmp_path / "o")])
    assert err == 'lrlab: error: grid."optimizer.momentum"[1]: must be in [0, 1), got 1.5'
    err = one_line_error(capsys, ["run", str(tmp_path / "nope.toml"), "--out", str(tmp_path)])
    assert err == f"lrlab: error: {tmp_path / 'nope.toml'}: no such file"
    f.write_text("[data\n")
    err = one_line_error(capsys, ["run", str(f), "--out", str(tmp_path / "o")])
    assert err.startswith(f"lrlab: error: {f}: invalid TOML: ")
    err = one_line_error(capsys, ["results", str(tmp_path / "empty")])
    assert err.startswith("lrlab: error: ") and "no lrlab store here" in err
    f.write_text(TOML)
    err = one_line_error(capsys, ["run", str(f), "--out", str(f)])
    assert err == f"lrlab: error: --out: {f} exists and is not a folder"
    err = one_line_error(capsys, ["run", str(f), "--out", str(tmp_path / "o"), "--device", "gpu0"])
    assert err.startswith("lrlab: error: train.device: not a torch device: 'gpu0'")
    f.write_text(TOML.replace('schedule = "constant({lr})"', 'schedule = "linear({lr})"'))
    err = one_line_error(capsys, ["run", str(f), "--out", str(tmp_path / "o2")])
    assert err.startswith("lrlab: error: schedule: ")


def test_cli_results_unknown_study(tmp_path, capsys):
    run_study(tiny(), Store.in_dir(tmp_path))
    err = one_line_error(capsys, ["results", str(tmp_path), "--study", "nope"])
    assert (
        err
        == f"lrlab: error: --study: no study 'nope' in {tmp_path / 'lrlab.sqlite'}; stored: tiny"
    )


def test_cli_ctrl_c_keeps_finished_cohorts(tmp_path, capsys, monkeypatch):
    def interrupted(self, fn, cohorts):
        yield fn(cohorts[0])
        raise KeyboardInterrupt

    monkeypatch.setattr(InProcessExecutor, "map", interrupted)
    f = tmp_path / "tiny.toml"
    f.write_text(TOML)
    out = tmp_path / "out"
    argv = ["run", str(f), "--out", str(out), "--max-members", "1", "--quiet"]
    err = one_line_error(capsys, argv, code=130)
    assert err == (
        f"lrlab: interrupted: 1 of 4 trials are stored in {out / 'lrlab.sqlite'}; "
        "run the same command again to resume"
    )
    monkeypatch.undo()
    assert main(argv) == 0
    assert "(3 run now, 1 already done, 0 failed)" in capsys.readouterr().out


def test_cli_a_second_study_in_one_folder_says_whose_report_it_is(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    for name in ("tiny", "other"):
        f = tmp_path / f"{name}.toml"
        f.write_text(TOML.replace('name = "tiny"', f'name = "{name}"'))
        assert main(["run", str(f), "--out", str(out), "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"report: {out / 'report' / 'index.html'}" in lines
    assert lines[-1] == (
        f"report: {out / 'report' / 'index.html'} (study other; the store also holds tiny)"
    )


def test_cli_ctrl_c_while_writing_the_report_says_how_to_write_it(tmp_path, capsys, monkeypatch):
    from lrlab import _cli_studies

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli_studies, "_write_report", interrupted)
    f = tmp_path / "tiny.toml"
    f.write_text(TOML)
    out = tmp_path / "out"
    argv = ["run", str(f), "--out", str(out), "--quiet"]
    capsys.readouterr()
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert err == (
        "lrlab: interrupted while writing the figures and the report: the trials are stored in "
        f"{out / 'lrlab.sqlite'}; lrlab report {out} writes them\n"
    )


# -- diverged trials -----------------------------------------------------------------------------
def test_diverged_trials_have_no_final_metrics(tmp_path, capsys):
    s = tiny(train={"epochs": 3, "batch_size": 50}, grid={"lr": [1e6, 0.1]})
    summary = run_study(s, tmp_path / "lrlab.sqlite")
    with Store(tmp_path / "lrlab.sqlite", readonly=True) as store:
        recs = store.records("tiny")
    big = [r for r in recs if r["vars"]["lr"] == 1e6]
    assert [r["diverged"] for r in big] == [True, True]
    for r in big:  # the diverged epoch was scored on NaN weights: no metric at all
        assert all(r[m] is None for m in DIVERGED_NULL), r
        assert r["final_lr"] == pytest.approx(1e6)  # the rate it diverged at is kept
    assert all(r["final_val_accuracy"] is not None for r in recs if r["vars"]["lr"] == 0.1)
    worst = summary.rows[-1]
    assert (worst["schedule"], worst["diverged"], worst["seeds"]) == ("constant(1000000.0)", 2, 2)
    assert worst["final_val_accuracy_mean"] is None and worst["final_val_loss_mean"] is None

    assert main(["results", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.split()[1:2] == ["1000000.0"])
    assert row.split()[0] == "-" and row.split()[2:4] == ["0", "-"]  # unranked, no mean
    assert row.split()[-2:] == ["2/2", "0/2"]
    assert "2 of 4 trials diverged and 0 never learned: counted, left out of the means" in (
        "\n".join(lines)
    )
    assert main(["results", str(tmp_path), "--format", "json"]) == 0
    js = [r for r in json.loads(capsys.readouterr().out) if r["diverged"]]
    assert len(js) == 2 and all(r["final_val_accuracy"] is None for r in js)


# -- the study is checked before the store is made -----------------------------------------------
@pytest.mark.parametrize(
    ("lrs", "extra", "message"),
    [
        ("[-1.0]", [], "lrlab: error: schedule: lr = -1.0 (grid.lr[0]) gives the learning rate"),
        ("[0.1]", ["--device", "gpu0"], "lrlab: error: train.device: not a torch device"),
    ],
)
def test_a_bad_study_leaves_no_store_or_folder(tmp_path, capsys, lrs, extra, message):
    """Errors found when the trials are resolved (not when the file is read) come before the
    store is made."""
    f = tmp_path / "bad.toml"
    f.write_text(TOML.replace("lr = [0.1, 0.001]", f"lr = {lrs}"))
    out = tmp_path / "new"
    err = one_line_error(capsys, ["run", str(f), "--out", str(out), "--quiet", *extra])
    assert err.startswith(message), err
    assert not out.exists()


def test_out_needs_an_existing_parent(tmp_path, capsys):
    f = tmp_path / "tiny.toml"
    f.write_text(TOML)
    missing = tmp_path / "typo" / "results"
    err = one_line_error(capsys, ["run", str(f), "--out", str(missing), "--quiet"])
    assert err == (
        f"lrlab: error: --out: the folder {missing.parent} does not exist "
        "(lrlab makes the folder results only inside one that exists)"
    )
    assert not (tmp_path / "typo").exists()
    assert main(["run", str(f), "--out", str(tmp_path / "results"), "--quiet"]) == 0  # made


# -- float64 results across cohort sizes ---------------------------------------------------------
def test_a_resume_with_another_cohort_size_agrees_to_rounding(tmp_path):
    """Interrupted and resumed with another ``--max-members``, a float64 study's results agree
    with an uninterrupted run to rounding (not bit for bit: BLAS picks its kernels, and so its
    summation order, by the number of rows, which is the cohort size)."""
    s = tiny(
        train={"epochs": 3, "batch_size": 20, "dtype": "float64"},
        grid={"lr": [0.3, 0.1, 0.03], "optimizer.momentum": [0.0, 0.9]},
    )
    run_study(s, tmp_path / "whole.sqlite")  # one cohort of 12
    first = s.override({"grid.lr": [0.3]})
    run_study(first, tmp_path / "resumed.sqlite", max_members=3)  # cohorts of 2 (4 trials)
    again = run_study(s, tmp_path / "resumed.sqlite", max_members=5)  # the other 8, by 4
    assert (again.skipped, again.ran, again.cohorts) == (4, 8, 2)
    with Store(tmp_path / "whole.sqlite") as a, Store(tmp_path / "resumed.sqlite") as b:
        ra = {r["trial_id"]: r for r in a.records(s.name)}
        rb = {r["trial_id"]: r for r in b.records(s.name)}
        assert ra.keys() == rb.keys() and len(ra) == 12
        assert {r["cohort_size"] for r in rb.values()} == {2, 4}
        for tid in ra:
            for k, v in a.history(tid).items():
                np.testing.assert_allclose(b.history(tid)[k], v, rtol=1e-9, atol=1e-12)
            for m in ("final_val_loss", "final_val_accuracy", "best_val_loss"):
                assert rb[tid][m] == pytest.approx(ra[tid][m], rel=1e-9, abs=1e-12)


# -- seeds are independent replicates --------------------------------------------------------------
def test_by_default_a_seed_picks_its_batch_order_and_its_cohort(tmp_path):
    from lrlab.lab.data import blobs
    from lrlab.lab.models import MLP
    from lrlab.lab.optim import SGD
    from lrlab.lab.population import train_population
    from lrlab.schedules import constant

    s = tiny(train={"epochs": 3, "batch_size": 20, "dtype": "float64"}, seeds=[3, 7])
    assert {t.config["train"]["batch_order"] for t in s.trials()} == {"per_seed"}
    cohorts = make_cohorts(s.trials())
    assert sorted({t.seed for t in c.trials} for c in cohorts) == [{3}, {7}]
    run_study(s, tmp_path / "s.sqlite")
    data = blobs(n_samples=200, n_train=100)
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        for t in s.trials():
            lr = 0.1 if t.config["schedule"] == "constant(0.1)" else 0.01
            alone = train_population(
                data,
                MLP(2, (8,), 3),
                SGD(),
                [constant(lr)],
                [t.seed],
                epochs=3,
                batch_size=20,
                dtype="float64",  # per_seed by default too: data_seed 0 + the trial's seed
            )
            np.testing.assert_allclose(
                store.history(t.id)["val_loss"], alone.history["val_loss"][0], rtol=1e-12
            )


def test_a_shared_batch_order_is_available_by_name():
    s = tiny(train={"epochs": 1, "batch_size": 50, "batch_order": "shared"})
    assert len(make_cohorts(s.trials())) == 1  # every seed in one cohort, one order
    with pytest.raises(SpecError, match=r"train\.batch_order: must be one of"):
        tiny(train={"epochs": 1, "batch_size": 50, "batch_order": "random"}).trials()
