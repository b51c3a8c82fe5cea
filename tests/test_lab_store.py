"""The store: round trips, one transaction per write, the writer lock, kill -9 and resume."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lrlab.lab.spec import Study
from lrlab.lab.store import DIVERGED_NULL, Store, StoreError, flatten, summarize
from lrlab.lab.study import run_study


def row(tid: str, *, seed: int = 0, status: str = "done", history=None, **extra):
    return {
        "id": tid,
        "config": {"seed": seed, "schedule": "constant(0.1)"},
        "config_group": "g",
        "seed": seed,
        "status": status,
        "history": history or {"loss": [1.0, 0.5], "val_accuracy": [0.5, float("nan")]},
        "epochs_run": 2,
        **extra,
    }


class T:  # the duck type register_study reads
    def __init__(self, tid, seed=0):
        self.id, self.config, self.vars, self.group = (
            tid,
            {"seed": seed, "lr": 0.1},
            {"lr": 0.1},
            "g",
        )


def test_round_trip(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.register_study("st", {"seeds": [0, 1]}, [T("a"), T("b", 1), T("c", 2)])
        store.write_trials(
            [
                row("a", final_val_accuracy=0.5, diverged=False),
                row("b", seed=1, status="failed", error="boom", history={}),
            ]
        )
        assert store.history("a") == {"loss": [1.0, 0.5], "val_accuracy": [0.5, None]}
        assert store.done_ids() == {"a"}
        assert store.counts("st") == {"trials": 3, "done": 1, "failed": 1, "pending": 1}
        recs = store.records("st")
        assert [(r["trial_id"], r["status"], r["seed"]) for r in recs] == [
            ("a", "done", 0),
            ("b", "failed", 1),
        ]
        assert recs[0]["config"] == {"seed": 0, "lr": 0.1} and recs[0]["vars"] == {"lr": 0.1}
        assert recs[0]["final_val_accuracy"] == 0.5 and recs[0]["diverged"] is False
        assert recs[1]["error"] == "boom"
        pending = store.records("st", include_pending=True)
        assert [r["status"] for r in pending] == ["done", "failed", "pending"]
        assert store.records("st", flat=True)[0]["lr"] == 0.1
        assert [s["name"] for s in store.studies()] == ["st"]
        long = store.histories("st")
        assert {"trial_id": "a", "name": "loss", "epoch": 1, "value": 0.5} in long
        assert store.integrity() == "ok"


def test_retry_replaces_a_failed_trial(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.write_trials([row("a", status="failed", error="boom", history={})])
        store.write_trials([row("a")])
        assert store.records()[0]["status"] == "done"
        assert store.records()[0]["study"] is None  # stored but in no study
        assert store.history("a")["loss"] == [1.0, 0.5]


def test_a_failed_write_leaves_nothing(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        bad = row("b")
        bad["seed"] = None  # violates NOT NULL: the whole batch must roll back
        with pytest.raises(sqlite3.IntegrityError):
            store.write_trials([row("a"), bad])
        assert store.done_ids() == set()
        assert store.history("a") == {}


def test_re_registering_a_study_replaces_its_trial_list(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.register_study("st", {}, [T("a"), T("b", 1)])
        store.write_trials([row("a")])
        store.register_study("st", {}, [T("b", 1)])
        assert store.counts("st")["trials"] == 1
        assert store.done_ids() == {"a"}  # results belong to trial ids and are kept


def test_csv_and_dataframe(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.register_study("st", {}, [T("a")])
        store.write_trials([row("a", final_loss=0.5)])
        buf = io.StringIO()
        assert store.to_csv(buf, "st") == 1
        header, _ = buf.getvalue().splitlines()
        assert "trial_id" in header.split(",") and "vars.lr" in header.split(",")
        assert store.to_csv(tmp_path / "h.csv", history=True) == 4
        assert (tmp_path / "h.csv").read_text().splitlines()[0] == "trial_id,name,epoch,value"
        try:
            import pandas  # noqa: F401
        except ImportError:
            with pytest.raises(ImportError, match=r"pip install 'lrlab\[pandas\]'"):
                store.dataframe()
        else:
            df = store.dataframe("st")
            assert list(df["trial_id"]) == ["a"] and df["final_loss"][0] == 0.5
            assert len(store.dataframe(history=True)) == 4


def test_dataframe_without_pandas(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with Store(tmp_path / "s.sqlite") as store, pytest.raises(ImportError, match="needs pandas"):
        store.dataframe()


def test_one_writer_many_readers(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as writer:
        writer.write_trials([row("a")])
        other = Store(path)
        with pytest.raises(StoreError, match="another process is writing"):
            other.write_trials([row("b")])
        other.close()
        with Store(path, readonly=True) as reader:
            assert reader.done_ids() == {"a"}
            with pytest.raises(StoreError, match="read-only"):
                reader.write_trials([row("c")])
    with Store(path) as again:  # the lock goes with the writer
        again.write_trials([row("b")])


def test_bad_files(tmp_path):
    with pytest.raises(StoreError, match="no lrlab store here"):
        Store(tmp_path / "missing.sqlite", readonly=True)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="not an lrlab store"):
        Store(junk)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.commit()
    with pytest.raises(StoreError, match="not an lrlab store"):
        Store(other, readonly=True)


def test_flatten_and_summarize():
    recs = [
        {
            "group": "a",
            "status": "done",
            "diverged": False,
            "stopped_epoch": -1,
            "config": {"optimizer": {"momentum": 0.9}, "schedule": "s", "seed": 0},
            "final_val_accuracy": 0.8,
            "final_val_loss": 0.5,
        },
        {
            "group": "a",
            "status": "done",
            "diverged": True,
            "stopped_epoch": -1,
            "config": {"optimizer": {"momentum": 0.9}, "schedule": "s", "seed": 1},
            "final_val_accuracy": None,
            "final_val_loss": None,
        },
        {
            "group": "b",
            "status": "done",
            "diverged": False,
            "stopped_epoch": 3,
            "config": {"optimizer": {"momentum": 0.0}, "schedule": "s", "seed": 0},
            "final_val_accuracy": 0.7,
            "final_val_loss": 0.6,
        },
        {"group": "c", "status": "failed", "config": {"seed": 0}},
    ]
    rows = summarize(recs)
    assert [r["optimizer.momentum"] for r in rows] == [0.9, 0.0]
    assert "schedule" not in rows[0]  # only what varies is a label
    assert rows[0]["seeds"] == 2 and rows[0]["diverged"] == 1
    assert rows[0]["final_val_accuracy_mean"] == 0.8 and rows[0]["final_val_accuracy_std"] is None
    assert rows[1]["stopped"] == 1
    assert [r["group"] for r in summarize(recs, sort="val_loss")] == ["a", "b"]
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        summarize(recs, sort="nope")
    assert flatten({"config": {"a": {"b": 1}}, "vars": {"x": 2}}) == {"vars.x": 2, "a.b": 1}


# -- kill -9 mid-run, then resume -----------------------------------------------------------------
KILL_STUDY = {
    "name": "killme",
    "data": {"name": "blobs"},
    "model": {"hidden": [16]},
    "train": {"epochs": 10, "batch_size": 50},
    "schedule": "constant({lr})",
    "grid": {"lr": [0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 3e-4, 1e-4]},
    "seeds": [0, 1, 2],
}
CHILD = textwrap.dedent(
    """
    import json, sys, time
    from lrlab.lab.spec import Study
    from lrlab.lab.study import run_study
    # a pause after each stored cohort keeps the run going long enough to be killed mid-way
    run_study(Study.from_dict(json.loads(sys.argv[1])), sys.argv[2], max_members=2,
              progress=lambda p: time.sleep(0.05))
    """
)


def _done(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with Store(path, readonly=True) as s:
            return len(s.done_ids())
    except (StoreError, sqlite3.OperationalError):
        return 0


def test_kill_minus_nine_then_resume(tmp_path):
    path = tmp_path / "lrlab.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(KILL_STUDY), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while _done(path) < 4 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.poll() is None, child.stderr.read().decode()  # still running: kill it mid-run
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    study = Study.from_dict(KILL_STUDY)
    total = len(study.trials())
    with Store(path) as store:
        assert store.integrity() == "ok"
        done = store.done_ids()
        assert 4 <= len(done) < total
        assert len(done) % 2 == 0  # whole cohorts of 2, never one trial of a cohort
        for rec in store.records("killme"):  # every stored trial is complete
            assert rec["status"] == "done" and rec["epochs_run"] == 10
            hist = store.history(rec["trial_id"])
            assert set(hist) == {"loss", "accuracy", "lr", "val_loss", "val_accuracy"}
            assert all(len(v) == 10 for v in hist.values())
        n_rows = store._db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
        assert n_rows == len(done) * 5 * 10  # no metrics of unfinished trials
        summary = run_study(study, store)
        assert summary.skipped == len(done)
        assert summary.ran == total - len(done)
        assert len(store.done_ids()) == total
        assert store.integrity() == "ok"


def test_a_diverged_trial_stores_no_final_or_best_metric(tmp_path):
    metrics = {"final_val_accuracy": 0.0, "final_loss": 1.99e33, "best_val_accuracy": 0.29}
    with Store(tmp_path / "s.sqlite") as store:
        store.register_study("st", {}, [T("a"), T("b", 1)])
        store.write_trials([row("a", diverged=True, final_lr=1e6, best_epoch=0, **metrics)])
        store.write_trials([row("b", seed=1, diverged=False, **metrics)])
        cols = ", ".join(DIVERGED_NULL)
        stored = store._db.execute(f"SELECT {cols}, final_lr FROM trials WHERE id = 'a'")
        assert tuple(stored.fetchone()) == (None,) * len(DIVERGED_NULL) + (1e6,)
        # a store written before diverged trials were cleared reads the same
        store._db.execute("UPDATE trials SET final_val_accuracy = 0.0 WHERE id = 'a'")
        recs = {r["trial_id"]: r for r in store.records("st")}
        assert recs["a"]["final_val_accuracy"] is None and recs["b"]["final_val_accuracy"] == 0.0


def test_summarize_leaves_diverged_trials_out_of_means_and_ranking():
    def rec(group, seed, acc, diverged):
        config = {"lr": {"a": 0.1, "b": 1e6}[group], "seed": seed}
        return {
            "group": group,
            "status": "done",
            "config": config,
            "diverged": diverged,
            "final_val_accuracy": acc,
            "final_val_loss": 1.0,
        }

    # metrics a diverged trial still carries (an old store) are in no mean
    rows = summarize(
        [
            rec("a", 0, 0.5, False),
            rec("a", 1, 0.0, True),
            rec("b", 0, 0.99, True),
            rec("b", 1, 0.98, True),
        ]
    )
    assert [(r["lr"], r["seeds"], r["diverged"]) for r in rows] == [(0.1, 2, 1), (1e6, 2, 2)]
    assert rows[0]["final_val_accuracy_mean"] == 0.5 and rows[0]["final_val_accuracy_std"] is None
    assert rows[1]["final_val_accuracy_mean"] is None and rows[1]["final_val_loss_mean"] is None
