"""Damaged, foreign and read-only stores: one ``lrlab: error:`` line naming the file, and a
store that fails its checks is left untouched (``lrlab run`` checks before it writes)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import lrlab.lab.store as store_module
from lrlab.cli import main
from lrlab.lab.spec import Study
from lrlab.lab.store import Store, StoreError
from lrlab.lab.study import run_study

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
epochs = 1
batch_size = 50
[grid]
lr = [0.1, 0.001]
"""


def row(tid: str, history: dict[str, list[float]] | None = None) -> dict[str, object]:
    """A finished trial for :meth:`Store.write_trials`."""
    return {
        "id": tid,
        "config": {"seed": 0, "schedule": "constant(0.1)"},
        "config_group": "g",
        "seed": 0,
        "status": "done",
        "history": history or {"loss": [1.0, 0.5]},
    }


class T:
    """The duck type :meth:`Store.register_study` reads."""

    def __init__(self, tid: str) -> None:
        self.id, self.config, self.vars, self.group = tid, {"seed": 0}, {}, "g"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def good_store(folder: Path) -> Path:
    """A sound store with the study of ``TOML`` run into it."""
    import tomllib

    run_study(Study.from_dict(tomllib.loads(TOML)), folder / "lrlab.sqlite")
    return folder / "lrlab.sqlite"


def sql(path: Path, *statements: str) -> None:
    db = sqlite3.connect(path)
    for s in statements:
        db.execute(s)
    db.commit()
    db.close()


def corrupt_page(path: Path) -> None:
    """Overwrite the root page of the ``metrics`` table with garbage (the rest stays sound)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'metrics'").fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * size)
        f.write(b"\xa5" * size)


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "corrupt page": (corrupt_page, "damaged"),
    "missing table": (lambda p: sql(p, "DROP TABLE trials"), "table trials is missing"),
    "missing column": (
        lambda p: sql(p, "ALTER TABLE metrics DROP COLUMN value"),
        "table metrics lacks column value",
    ),
    "schema version abc": (
        lambda p: sql(p, "UPDATE meta SET value = 'abc' WHERE key = 'schema_version'"),
        "schema_version 'abc'",
    ),
    "schema version 0": (
        lambda p: sql(p, "UPDATE meta SET value = '0' WHERE key = 'schema_version'"),
        "schema_version '0'",
    ),
    "no schema version": (
        lambda p: sql(p, "DELETE FROM meta WHERE key = 'schema_version'"),
        "no schema_version",
    ),
    "spec not JSON": (
        lambda p: sql(p, "UPDATE studies SET spec = '{not json'"),
        "studies 'tiny': spec is not JSON",
    ),
    "spec null": (
        lambda p: sql(p, "UPDATE studies SET spec = 'null'"),
        "studies 'tiny': spec is not a JSON object",
    ),
    "config null": (
        lambda p: sql(p, "UPDATE study_trials SET config = 'null'"),
        "study_trials 'tiny / ",
    ),
    "trial config not JSON": (
        lambda p: sql(p, "UPDATE trials SET config = '[1,'"),
        "trials '",
    ),
}


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_damaged_store_is_one_line_from_run_and_results(damage, tmp_path, capsys):
    make, words = DAMAGES[damage]
    path = good_store(tmp_path / "out")
    make(path)
    before = sha(path)
    study = tmp_path / "tiny.toml"
    study.write_text(TOML.replace("lr = [0.1, 0.001]", "lr = [0.1, 0.003]"))  # new trials too
    for argv in (["results", str(path.parent)], ["run", str(study), "--out", str(path.parent)]):
        assert main([*argv, "--quiet"] if argv[0] == "run" else argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert err.startswith(f"lrlab: error: {path}: ") and words in err, err
    assert sha(path) == before  # run checked first and wrote nothing
    with pytest.raises(StoreError, match=str(path)):
        Store(path).close()


def test_foreign_database_is_refused_untouched(tmp_path, capsys):
    path = tmp_path / "out" / "lrlab.sqlite"
    path.parent.mkdir()
    sql(path, "CREATE TABLE customers (name TEXT)", "INSERT INTO customers VALUES ('ada')")
    before = sha(path)
    study = tmp_path / "tiny.toml"
    study.write_text(TOML)
    assert main(["run", str(study), "--out", str(path.parent), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lrlab: error: {path}: not an lrlab store") and "customers" in err
    assert sha(path) == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["lrlab.sqlite"]
    assert main(["results", str(path.parent)]) == 2
    assert "not an lrlab store" in capsys.readouterr().err


def test_non_sqlite_file_is_refused_untouched(tmp_path, capsys):
    path = tmp_path / "lrlab.sqlite"
    path.write_bytes(b"a spreadsheet, not a database\n" * 200)
    before = sha(path)
    study = tmp_path / "tiny.toml"
    study.write_text(TOML)
    assert main(["run", str(study), "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"lrlab: error: {path}: not an lrlab store") and err.count("\n") == 1
    assert sha(path) == before


def test_an_empty_file_becomes_a_store(tmp_path):
    (tmp_path / "lrlab.sqlite").touch()
    with Store(tmp_path / "lrlab.sqlite") as store:
        assert store.integrity() == "ok" and store.studies() == []


# -- disk full -----------------------------------------------------------------------------------
class FullAtCommit(sqlite3.Connection):
    """A connection whose COMMIT of a transaction that wrote metrics fails as on a full disk."""

    armed = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.wrote_metrics = False

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT" and self.wrote_metrics and FullAtCommit.armed:
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)

    def executemany(self, sql: str, *args: object) -> sqlite3.Cursor:
        self.wrote_metrics |= sql.startswith("INSERT INTO metrics")
        return super().executemany(sql, *args)


@pytest.fixture
def full_at_commit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A mocked SQLITE_FULL at COMMIT (what a full disk gives when the journal is flushed)."""
    monkeypatch.setattr(
        store_module.sqlite3, "connect", functools.partial(sqlite3.connect, factory=FullAtCommit)
    )
    yield


def test_disk_full_at_commit_stores_nothing_of_the_write(tmp_path, full_at_commit):
    with Store(tmp_path / "s.sqlite") as store:
        store.register_study("st", {}, [T("a")])
        with pytest.raises(StoreError, match=r"s\.sqlite: cannot write: the disk is full"):
            store.write_trials([row("a")])
        FullAtCommit.armed = False
        try:
            assert store.done_ids() == set() and store.history("a") == {}
            store.write_trials([row("a")])  # the connection is usable again
        finally:
            FullAtCommit.armed = True
        assert store.done_ids() == {"a"}


def test_disk_full_at_commit_from_the_cli(tmp_path, capsys, full_at_commit):
    study = tmp_path / "tiny.toml"
    study.write_text(TOML)
    argv = ["run", str(study), "--out", str(tmp_path / "out"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write: the disk is full" in err, err
    FullAtCommit.armed = False
    try:
        assert main(argv) == 0
    finally:
        FullAtCommit.armed = True
    assert "(4 run now, 0 already done" in capsys.readouterr().out


def test_a_real_full_database_rolls_back(tmp_path):
    """SQLite's ``max_page_count`` makes the file full for real."""
    with Store(tmp_path / "s.sqlite") as store:
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages + 2}")
        big = {"loss": [float(i) for i in range(20000)]}
        with pytest.raises(StoreError, match="disk is full"):
            store.write_trials([row("a", history=big)])
        assert store.done_ids() == set()


# -- read-only files, folders and lock files -----------------------------------------------------
def denied(path: Path) -> bool:
    """Whether writing ``path`` (a file, or a new file in a folder) is refused."""
    try:
        if path.is_dir():
            (path / ".probe").touch()
            (path / ".probe").unlink()
        else:
            os.close(os.open(path, os.O_WRONLY))
    except OSError:
        return True
    return False


@contextlib.contextmanager
def unwritable(*paths: Path) -> Iterator[None]:
    """Make files and folders unwritable: ``chmod``, or where that binds nobody (root),
    ``chattr +i`` (immutable, which binds root too); skip where neither takes effect."""
    modes = {p: p.stat().st_mode for p in paths}
    immutable: list[Path] = []
    try:
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        if not all(denied(p) for p in paths):
            for p in paths:
                r = subprocess.run(["chattr", "+i", str(p)], capture_output=True)
                if r.returncode != 0:
                    pytest.skip(f"chmod does not bind this user and chattr +i fails: {r.stderr!r}")
                immutable.append(p)
        assert all(denied(p) for p in paths)
        yield
    finally:
        for p in immutable:
            subprocess.run(["chattr", "-i", str(p)], check=True)
        for p, m in modes.items():
            p.chmod(m)


def test_results_reads_a_store_in_an_unwritable_folder(tmp_path, capsys):
    path = good_store(tmp_path / "out")
    assert not Path(f"{path}-wal").exists()  # closed cleanly
    with unwritable(path, path.parent):
        assert main(["results", str(path.parent)]) == 0
        assert capsys.readouterr().out.startswith("study tiny: 4 of 4 trials done")
        with Store(path, readonly=True) as s:
            assert len(s.done_ids()) == 4


def test_run_into_a_read_only_store_is_one_line(tmp_path, capsys):
    path = good_store(tmp_path / "out")
    before = sha(path)
    study = tmp_path / "tiny.toml"
    study.write_text(TOML.replace("lr = [0.1, 0.001]", "lr = [0.1, 0.003]"))
    with unwritable(path):
        assert main(["run", str(study), "--out", str(path.parent), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"lrlab: error: {path}: cannot write") and err.count("\n") == 1
        assert main(["results", str(path.parent)]) == 0  # reading still works
    assert sha(path) == before


def test_a_lock_file_that_cannot_be_opened_is_one_line(tmp_path, capsys, monkeypatch):
    """A lock file of another user that this one may not open: the OS error is mocked (root
    may open any file)."""
    path = good_store(tmp_path / "out")
    lock = f"{path}.lock"
    real_open = os.open

    def denied(file: str, flags: int, *args: int) -> int:
        if str(file) == lock:
            raise PermissionError(13, "Permission denied", file)
        return real_open(file, flags, *args)

    monkeypatch.setattr(store_module.os, "open", denied)
    study = tmp_path / "tiny.toml"
    study.write_text(TOML.replace("lr = [0.1, 0.001]", "lr = [0.1, 0.003]"))
    assert main(["run", str(study), "--out", str(path.parent), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"lrlab: error: {lock}: cannot open the writer lock") and "Permission" in err
    )
    assert err.count("\n") == 1


def test_a_read_only_lock_file_still_locks(tmp_path):
    """A lock file this user may read but not write (another user's) still serves: ``flock``
    needs no write access."""
    path = good_store(tmp_path)
    lock = Path(f"{path}.lock")
    with unwritable(lock), Store(path) as store:
        store.write_trials([row("x")])
        with Store(path) as other, pytest.raises(StoreError, match="another process is writing"):
            other.write_trials([row("y")])
        assert "x" in store.done_ids()
