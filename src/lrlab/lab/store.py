"""The store: one SQLite file (stdlib ``sqlite3``, WAL mode) that holds every study's results.

The store is the truth (DESIGN.md, concept 7). A trial's row and its per-epoch metrics are
written together, and a cohort's trials in ONE transaction, so a run that is killed loses at most
the cohort in flight and never leaves a half-written trial. One process writes (it holds an OS
lock on ``<file>.lock`` while it does); any number may read at the same time.

Schema (``SCHEMA_VERSION = 1``):

* ``meta(key, value)`` — ``schema_version``, ``created_by`` (the lrlab version).
* ``studies(name, description, spec, created_at, updated_at)`` — ``spec`` is the study as JSON.
* ``study_trials(study, trial_id, position, config_group, vars, config)`` — which trials make up
  a study now (re-registering a study replaces its list), in grid order.
* ``trials(id, config, config_group, seed, status, error, device, cohort, cohort_size,
  started_at, finished_at, seconds, diverged, diverged_epoch, stopped_epoch, epochs_run,
  final_loss, final_accuracy, final_val_loss, final_val_accuracy, best_val_loss,
  best_val_accuracy, best_epoch, final_lr, lrlab_version)`` — one row per finished trial
  (``status`` is ``'done'`` or ``'failed'``; pending trials have no row). ``id`` is the config's
  id, so a trial shared by two studies is stored once. ``seconds`` is the cohort's wall time;
  ``best_epoch`` (0-based) is where ``val_loss`` (else ``loss``) was lowest. A diverged trial
  (``diverged = 1``) has NULL final and best metrics (:data:`DIVERGED_NULL`; ``final_lr``, the
  rate it diverged at, is kept).
* ``metrics(trial_id, name, epoch, value)`` — the per-epoch history in long form, one row per
  trial, metric and epoch (``name`` is ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``,
  ``lr``, ...; ``value`` is NULL for NaN).

Example:
    >>> import tempfile, pathlib
    >>> from lrlab.lab.store import Store
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "lrlab.sqlite"
    >>> with Store(path) as store:
    ...     store.write_trials([{"id": "t1", "config": {"seed": 0}, "config_group": "g",
    ...                          "seed": 0, "status": "done", "epochs_run": 2,
    ...                          "history": {"loss": [1.0, 0.5]}}])
    ...     store.history("t1"), store.done_ids()
    ({'loss': [1.0, 0.5]}, {'t1'})
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import math
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "DIVERGED_NULL",
    "SCHEMA_VERSION",
    "SUMMARY_METRICS",
    "Store",
    "StoreError",
    "flatten",
    "summarize",
    "write_csv",
]

SCHEMA_VERSION = 1
_R = TypeVar("_R")
_READS = "version 1" if SCHEMA_VERSION == 1 else f"versions 1 to {SCHEMA_VERSION}"
FILENAME = "lrlab.sqlite"
#: per-trial summary columns of the ``trials`` table
SUMMARY_METRICS = (
    "final_loss",
    "final_accuracy",
    "final_val_loss",
    "final_val_accuracy",
    "best_val_loss",
    "best_val_accuracy",
    "best_epoch",
    "final_lr",
)
_RUN_COLUMNS = (
    "error",
    "device",
    "cohort",
    "cohort_size",
    "started_at",
    "finished_at",
    "seconds",
    "diverged",
    "diverged_epoch",
    "stopped_epoch",
    "epochs_run",
)
_TRIAL_COLUMNS = (
    "id",
    "config",
    "config_group",
    "seed",
    "status",
    *_RUN_COLUMNS,
    *SUMMARY_METRICS,
    "lrlab_version",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '', spec TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS study_trials (
    study TEXT NOT NULL, trial_id TEXT NOT NULL, position INTEGER NOT NULL,
    config_group TEXT NOT NULL, vars TEXT NOT NULL, config TEXT NOT NULL,
    PRIMARY KEY (study, trial_id));
CREATE TABLE IF NOT EXISTS trials (
    id TEXT PRIMARY KEY, config TEXT NOT NULL, config_group TEXT NOT NULL,
    seed INTEGER NOT NULL, status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error TEXT, device TEXT, cohort TEXT, cohort_size INTEGER, started_at REAL,
    finished_at REAL, seconds REAL, diverged INTEGER, diverged_epoch INTEGER,
    stopped_epoch INTEGER, epochs_run INTEGER, final_loss REAL, final_accuracy REAL,
    final_val_loss REAL, final_val_accuracy REAL, best_val_loss REAL, best_val_accuracy REAL,
    best_epoch INTEGER, final_lr REAL, lrlab_version TEXT);
CREATE TABLE IF NOT EXISTS metrics (
    trial_id TEXT NOT NULL, name TEXT NOT NULL, epoch INTEGER NOT NULL, value REAL,
    PRIMARY KEY (trial_id, name, epoch)) WITHOUT ROWID;
"""


class StoreError(Exception):
    """The store cannot be opened or written: not an lrlab store, damaged, locked by a writer,
    read-only, full disk, ... The message starts with the file's path."""


def _version() -> str:
    try:
        from .. import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover
        return "unknown"


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


#: the summary columns a diverged trial stores as NULL (its rate, ``final_lr``, is kept)
DIVERGED_NULL = tuple(m for m in SUMMARY_METRICS if m != "final_lr")
#: the columns each table must have (what :data:`_SCHEMA` creates)
_COLUMNS = {
    "meta": ("key", "value"),
    "studies": ("name", "description", "spec", "created_at", "updated_at"),
    "study_trials": ("study", "trial_id", "position", "config_group", "vars", "config"),
    "trials": _TRIAL_COLUMNS,
    "metrics": ("trial_id", "name", "epoch", "value"),
}
#: the JSON cells, each a JSON object: (table, key column, JSON column)
_JSON_CELLS = (
    ("studies", "name", "spec"),
    ("study_trials", "study || ' / ' || trial_id", "vars"),
    ("study_trials", "study || ' / ' || trial_id", "config"),
    ("trials", "id", "config"),
)


def _why(exc: sqlite3.Error) -> str:
    """What an SQLite error means for the user of a store."""
    msg = str(exc)
    if "not a database" in msg:
        return f"not an lrlab store ({msg})"
    if "malformed" in msg or "corrupt" in msg:
        return f"the store is damaged ({msg}); restore a copy or start a new store"
    if "full" in msg:
        return f"cannot write: the disk is full ({msg}); nothing of this write was stored"
    if "readonly" in msg or "read-only" in msg or "unable to open" in msg:
        return f"cannot write: the file or its folder is read-only ({msg})"
    if "no such" in msg:
        return f"not an lrlab store, or a damaged one ({msg})"
    return f"SQLite error: {msg}"


def _guarded(method: Callable[..., _R]) -> Callable[..., _R]:
    """Report SQLite errors of a :class:`Store` method as :class:`StoreError` naming the file
    (an ``IntegrityError``, a bad row from the caller, passes unchanged)."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {_why(exc)}") from None

    return wrapper


class Store:
    """An lrlab results store in one SQLite file; see the module docstring for the schema.

    Opening checks the file before anything is written to it: a file that is not an lrlab
    store (another SQLite database, any other file), a schema version other than 1 .. the
    current one, a missing table or column, a failed ``PRAGMA quick_check`` or a JSON cell that
    is not a JSON object raise :class:`StoreError`, and the file is left byte for byte as it
    was. An empty or missing file becomes a new store (unless ``readonly``).

    Reading needs no write access: ``readonly`` opens the file with SQLite's ``mode=ro``; where
    the folder cannot be written (so SQLite cannot make its ``-shm`` file) and no writer left a
    write-ahead log, it reads the file as ``immutable=1``.

    Args:
        path: The database file (created with its folder unless ``readonly``).
        readonly: Open for reading only; many readers may run beside the one writer.
        timeout: Seconds to wait for a lock held by another connection.

    Raises:
        StoreError: the file cannot be used, as above; or (``readonly``) does not exist; or
            (not ``readonly``) the file exists and cannot be opened for writing.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, readonly: bool = False, timeout: float = 30.0
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock_fd: int | None = None
        self._db: sqlite3.Connection | None = None
        try:
            self._db = self._connect_ro(timeout) if readonly else self._connect_rw(timeout)
            self._db.row_factory = sqlite3.Row
            self._setup()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"{self.path}: {_why(exc)}") from None
        except BaseException:
            self.close()
            raise

    @classmethod
    def in_dir(cls, directory: str | os.PathLike[str], *, readonly: bool = False) -> Store:
        """The store ``DIR/lrlab.sqlite`` (what ``lrlab run --out DIR`` writes)."""
        return cls(Path(directory) / FILENAME, readonly=readonly)

    def _connect_ro(self, timeout: float) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreError(f"{self.path}: no lrlab store here")
        uri = self.path.resolve().as_uri()
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout, isolation_level=None)
        try:
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:  # WAL without a -shm file, in a folder we cannot write
            db.close()
            wal = Path(f"{self.path}-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise
        # no writer has a log open: the file alone is the whole store, read it as it is
        return sqlite3.connect(
            f"{uri}?mode=ro&immutable=1", uri=True, timeout=timeout, isolation_level=None
        )

    def _connect_rw(self, timeout: float) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"{self.path.parent}: cannot create the folder: {exc.strerror}"
            ) from None
        if self.path.exists():
            try:
                os.close(os.open(self.path, os.O_RDWR))
            except OSError as exc:
                raise StoreError(
                    f"{self.path}: cannot write the store ({exc.strerror}); "
                    "lrlab results can still read it"
                ) from None
        return sqlite3.connect(self.path, timeout=timeout, isolation_level=None)

    def _tables(self) -> dict[str, set[str]]:
        db = self._conn
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: {r[1] for r in db.execute(f'PRAGMA table_info("{n}")')} for n in names}

    def _setup(self) -> None:
        tables = self._tables()
        if not tables:
            if self.readonly:
                raise StoreError(f"{self.path}: not an lrlab store (an empty database)")
            self._create()
            return
        if "meta" not in tables:
            found = ", ".join(sorted(tables)[:8])
            raise StoreError(
                f"{self.path}: not an lrlab store (an SQLite database with the tables {found} "
                "and no meta table); lrlab leaves it untouched: give lrlab run another --out"
            )
        self._check_version()
        for name, columns in _COLUMNS.items():
            if name not in tables:
                raise StoreError(f"{self.path}: a damaged lrlab store: table {name} is missing")
            lacking = [c for c in columns if c not in tables[name]]
            if lacking:
                raise StoreError(
                    f"{self.path}: a damaged lrlab store: table {name} lacks column "
                    f"{', '.join(lacking)}"
                )
        check = [str(r[0]) for r in self._conn.execute("PRAGMA quick_check(5)")]
        if check != ["ok"]:
            raise StoreError(
                f"{self.path}: the store is damaged (quick_check: {'; '.join(check)}); "
                "restore a copy or start a new store"
            )
        for table, key, column in _JSON_CELLS:
            for k, text in self._conn.execute(f"SELECT {key}, {column} FROM {table}"):
                self._loads(text, table, k, column)
        if not self.readonly:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")

    def _check_version(self) -> None:
        row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            raise StoreError(f"{self.path}: not an lrlab store (meta has no schema_version)")
        found = row[0]
        if not (isinstance(found, str) and found.isdigit() and found.isascii()):
            raise StoreError(
                f"{self.path}: a damaged lrlab store: schema_version {found!r} is not a version "
                f"number (this lrlab reads {_READS})"
            )
        if not 1 <= int(found) <= SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema_version {found!r} is not supported by this lrlab "
                f"(it reads {_READS})"
            )

    def _create(self) -> None:
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self.transaction():
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self._conn.execute(stmt)
            self._conn.executemany(
                "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("created_by", f"lrlab {_version()}")],
            )

    def _loads(self, text: Any, table: str, key: Any, column: str) -> dict[str, Any]:
        """A JSON cell, which must hold a JSON object; else :class:`StoreError` naming it."""
        where = f"{self.path}: a damaged lrlab store: {table} {key!r}: {column}"
        try:
            value = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"{where} is not JSON ({exc}): {str(text)[:40]!r}") from None
        if not isinstance(value, dict):
            raise StoreError(f"{where} is not a JSON object: {str(text)[:40]!r}")
        return value

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self._db

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection and release the writer lock."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _writer(self) -> None:
        """Hold the OS lock that makes this connection the one writer.

        ``flock`` needs no write access, so a lock file this user may only read (another
        user's) still serves.
        """
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only")
        if self._lock_fd is not None or sys.platform == "win32":
            return
        import fcntl

        lock = f"{self.path}.lock"
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            try:
                fd = os.open(lock, os.O_RDONLY)
            except OSError as exc:
                raise StoreError(
                    f"{lock}: cannot open the writer lock ({exc.strerror}); if no lrlab run "
                    "is writing this store, remove the file or ask its owner to"
                ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError(
                f"{self.path}: another process is writing to this store; wait "
                "for it to finish (readers need no lock)"
            ) from None
        self._lock_fd = fd

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; any exception (Ctrl-C too, or a failed
        ``COMMIT`` such as a full disk) rolls back."""
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @_guarded
    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a sound file."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    # -- writing -----------------------------------------------------------------------------
    @_guarded
    def register_study(
        self, name: str, spec: Mapping[str, Any], trials: Sequence[Any], description: str = ""
    ) -> None:
        """Record a study and the trials that make it up (replacing a previous list).

        ``trials`` are :class:`~lrlab.lab.spec.Trial` objects (``id``, ``config``, ``vars``,
        ``group``). Results already stored are kept: they belong to the trial ids.
        """
        from .spec import canonical_json

        self._writer()
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO studies VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE "
                "SET description=excluded.description, spec=excluded.spec, "
                "updated_at=excluded.updated_at",
                (name, description, json.dumps(spec, default=repr), now, now),
            )
            db.execute("DELETE FROM study_trials WHERE study = ?", (name,))
            db.executemany(
                "INSERT OR IGNORE INTO study_trials VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (name, t.id, i, t.group, canonical_json(t.vars), canonical_json(t.config))
                    for i, t in enumerate(trials)
                ],
            )

    @_guarded
    def write_trials(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write finished trials and their histories in ONE transaction.

        Each row has ``id``, ``config`` (dict), ``config_group``, ``seed``, ``status``
        (``"done"`` or ``"failed"``), optionally the run columns and summary metrics of the
        ``trials`` table, and ``history`` (metric name -> list per epoch, ``None`` for NaN). A
        trial written again (a failed one retried) replaces its old row and history.
        """
        from .spec import canonical_json

        self._writer()
        trial_rows, metric_rows, ids = [], [], []
        for r in rows:
            cfg = r["config"]
            row = {
                **{c: r.get(c) for c in _TRIAL_COLUMNS},
                "lrlab_version": _version(),
                "config": cfg if isinstance(cfg, str) else canonical_json(cfg),
            }
            row["diverged"] = None if row["diverged"] is None else int(bool(row["diverged"]))
            for c in SUMMARY_METRICS:
                row[c] = _num(row[c]) if c != "best_epoch" else row[c]
            if row["diverged"]:  # no final or best metric: NaN weights score nothing
                row.update(dict.fromkeys(DIVERGED_NULL))
            trial_rows.append(tuple(row[c] for c in _TRIAL_COLUMNS))
            ids.append((r["id"],))
            for name, values in (r.get("history") or {}).items():
                metric_rows += [(r["id"], name, e, _num(v)) for e, v in enumerate(values)]
        marks = ", ".join("?" * len(_TRIAL_COLUMNS))
        with self.transaction() as db:
            db.executemany("DELETE FROM metrics WHERE trial_id = ?", ids)
            db.executemany(
                f"INSERT OR REPLACE INTO trials ({', '.join(_TRIAL_COLUMNS)}) VALUES ({marks})",
                trial_rows,
            )
            db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)", metric_rows)

    # -- reading -----------------------------------------------------------------------------
    @_guarded
    def studies(self) -> list[dict[str, Any]]:
        """Every study: ``name``, ``description``, ``spec`` (dict), times and trial counts."""
        out = []
        for r in self._conn.execute("SELECT * FROM studies ORDER BY created_at"):
            d = dict(r)
            d["spec"] = self._loads(d["spec"], "studies", d["name"], "spec")
            d.update(self.counts(d["name"]))
            out.append(d)
        return out

    @_guarded
    def counts(self, study: str | None = None) -> dict[str, int]:
        """``{"trials", "done", "failed", "pending"}`` for a study (or every stored trial)."""
        if study is None:
            rows = self._conn.execute("SELECT status, COUNT(*) FROM trials GROUP BY status")
            c = dict(rows.fetchall())
            total = sum(c.values())
        else:
            rows = self._conn.execute(
                "SELECT t.status, COUNT(*) FROM study_trials s LEFT JOIN trials t "
                "ON t.id = s.trial_id WHERE s.study = ? GROUP BY t.status",
                (study,),
            )
            c = dict(rows.fetchall())
            total = sum(c.values())
        done, failed = c.get("done", 0), c.get("failed", 0)
        return {"trials": total, "done": done, "failed": failed, "pending": total - done - failed}

    @_guarded
    def done_ids(self, ids: Iterable[str] | None = None) -> set[str]:
        """The ids (of ``ids``, or all) whose trials are stored with status ``done``."""
        done = {r[0] for r in self._conn.execute("SELECT id FROM trials WHERE status = 'done'")}
        return done if ids is None else done & set(ids)

    @_guarded
    def records(
        self, study: str | None = None, *, include_pending: bool = False, flat: bool = False
    ) -> list[dict[str, Any]]:
        """Trials as dicts: ``study``, ``trial_id``, ``group``, ``seed``, ``status``, ``vars``,
        ``config`` and the run and summary columns of the ``trials`` table.

        Args:
            study: One study's trials, in grid order; ``None`` for every study (trials stored
                but in no study are listed with ``study = None``).
            include_pending: Also list the study's trials not run yet (``status="pending"``).
            flat: Replace ``config`` and ``vars`` by dotted columns (``"optimizer.momentum"``,
                ``"schedule"``, ``"vars.lr"``), as in the DataFrame and CSV.
        """
        where, args = ("WHERE s.study = ?", (study,)) if study is not None else ("", ())
        cols = ", ".join(f"t.{c}" for c in ("status", *_RUN_COLUMNS, *SUMMARY_METRICS))
        sql = (
            f"SELECT s.study, s.position, s.trial_id, s.config_group, s.vars, s.config, "
            f"{cols} FROM study_trials s LEFT JOIN trials t ON t.id = s.trial_id {where} "
            f"ORDER BY s.study, s.position"
        )
        rows = [dict(r) for r in self._conn.execute(sql, args)]
        if study is None:
            sql = (
                f"SELECT NULL AS study, NULL AS position, t.id AS trial_id, t.config_group, "
                f"'{{}}' AS vars, t.config, {cols} FROM trials t WHERE t.id NOT IN "
                f"(SELECT trial_id FROM study_trials) ORDER BY t.finished_at"
            )
            rows += [dict(r) for r in self._conn.execute(sql)]
        out = []
        for r in rows:
            if r["status"] is None and not include_pending:
                continue
            key = r["trial_id"] if r["study"] is None else f"{r['study']} / {r['trial_id']}"
            table = "study_trials" if r["study"] is not None else "trials"
            config = self._loads(r.pop("config"), table, key, "config")
            rec = {
                "study": r.pop("study"),
                "position": r.pop("position"),
                "trial_id": r.pop("trial_id"),
                "group": r.pop("config_group"),
                "seed": config.get("seed"),
                "status": r.pop("status") or "pending",
                **r,
                "vars": self._loads(r.pop("vars"), table, key, "vars"),
                "config": config,
            }
            if rec["diverged"] is not None:
                rec["diverged"] = bool(rec["diverged"])
            if rec["diverged"]:  # a store written before diverged trials were cleared
                rec.update(dict.fromkeys(DIVERGED_NULL))
            out.append(flatten(rec) if flat else rec)
        return out

    @_guarded
    def history(self, trial_id: str) -> dict[str, list[float | None]]:
        """One trial's per-epoch metrics: ``name -> [value per epoch]`` (``None`` for NaN)."""
        out: dict[str, list[float | None]] = {}
        for name, _epoch, value in self._conn.execute(
            "SELECT name, epoch, value FROM metrics WHERE trial_id = ? ORDER BY name, epoch",
            (trial_id,),
        ):
            out.setdefault(name, []).append(value)
        return out

    @_guarded
    def histories(self, study: str | None = None) -> list[dict[str, Any]]:
        """Per-epoch metrics in long form: dicts with ``trial_id``, ``name``, ``epoch``,
        ``value``, for one study's trials or for all."""
        if study is None:
            cur = self._conn.execute("SELECT * FROM metrics ORDER BY trial_id, name, epoch")
        else:
            cur = self._conn.execute(
                "SELECT m.* FROM metrics m JOIN study_trials s ON s.trial_id = m.trial_id "
                "WHERE s.study = ? ORDER BY s.position, m.name, m.epoch",
                (study,),
            )
        return [dict(r) for r in cur]

    @_guarded
    def dataframe(self, study: str | None = None, *, history: bool = False) -> Any:
        """:meth:`records` (flat) or, with ``history=True``, :meth:`histories` as a pandas
        DataFrame. Needs pandas (``pip install 'lrlab[pandas]'``)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "Store.dataframe needs pandas, which is not installed: pip "
                "install 'lrlab[pandas]' (or pip install pandas)"
            ) from None
        rows = self.histories(study) if history else self.records(study, flat=True)
        return pd.DataFrame(rows)

    @_guarded
    def to_csv(
        self,
        path: str | os.PathLike[str] | io.TextIOBase | Any,
        study: str | None = None,
        *,
        history: bool = False,
    ) -> int:
        """Write :meth:`records` (flat; lists as JSON) or :meth:`histories` as CSV.

        Args:
            path: A file name or an open text file.
            study: One study, or ``None`` for all.
            history: Write the per-epoch metrics instead of one row per trial.

        Returns:
            The number of data rows written.
        """
        rows = self.histories(study) if history else self.records(study, flat=True)
        if hasattr(path, "write"):
            write_csv(rows, path)
        else:
            with open(path, "w", newline="", encoding="utf-8") as f:
                write_csv(rows, f)
        return len(rows)


def write_csv(rows: Sequence[Mapping[str, Any]], file: Any) -> None:
    """Write dicts as CSV to an open text file: the union of their keys as the header, lists
    and tables as JSON, ``None`` as an empty cell."""
    columns: dict[str, None] = {}
    for r in rows:
        columns.update(dict.fromkeys(r))

    def cell(v: Any) -> Any:
        return json.dumps(v) if isinstance(v, (list, dict)) else ("" if v is None else v)

    w = csv.writer(file, lineterminator="\n")
    w.writerow(columns)
    w.writerows([cell(r.get(c)) for c in columns] for r in rows)


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record with ``config`` and ``vars`` spread into dotted columns.

    Example:
        >>> flatten({"trial_id": "t", "vars": {"lr": 0.1},
        ...          "config": {"optimizer": {"momentum": 0.9}, "plateau": None}})
        {'trial_id': 't', 'vars.lr': 0.1, 'optimizer.momentum': 0.9, 'plateau': None}
    """
    out = {k: v for k, v in record.items() if k not in ("config", "vars")}
    out.update({f"vars.{k}": v for k, v in (record.get("vars") or {}).items()})

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = value

    walk("", record.get("config") or {})
    return out


_AGGREGATED = (
    "final_val_accuracy",
    "final_val_loss",
    "final_accuracy",
    "final_loss",
    "best_val_accuracy",
    "best_val_loss",
)


def _sort_column(key: str) -> str:
    return key if key.startswith(("final_", "best_")) else f"final_{key}"


def summarize(
    records: Sequence[Mapping[str, Any]], sort: str | None = None
) -> list[dict[str, Any]]:
    """Aggregate done trials over seeds: one row per distinct config (``group``), best first.

    Each row has ``group``, the config fields that vary across the records (dotted paths; the
    ``schedule`` when nothing varies),
    ``seeds`` (trials aggregated), ``diverged`` and ``stopped`` counts, and
    ``<metric>_mean`` / ``<metric>_std`` (sample std, ``None`` for one seed) of
    ``final_val_accuracy``, ``final_val_loss``, ``final_accuracy``, ``final_loss``,
    ``best_val_accuracy`` and ``best_val_loss`` over the trials that did not diverge and where
    they are finite. A diverged trial counts in ``seeds`` and ``diverged`` only: its metrics,
    even from a store written before they were cleared, are in no mean and no ranking, and a
    config whose every seed diverged has no means and ranks last.

    Args:
        records: From :meth:`Store.records` (not flat).
        sort: A metric: ``val_accuracy`` (default when there is one), ``val_loss``, ``loss``,
            ``accuracy``, ``best_val_loss``, ... Losses sort ascending, others descending;
            missing values last.

    Example:
        >>> recs = [{"group": g, "status": "done", "config": {"lr": lr, "seed": s},
        ...          "final_val_accuracy": a, "diverged": False}
        ...         for g, lr, s, a in [("a", 0.1, 0, 0.8), ("a", 0.1, 1, 0.9),
        ...                             ("b", 1.0, 0, 0.95)]]
        >>> [(r["lr"], r["seeds"], r["final_val_accuracy_mean"]) for r in summarize(recs)]
        [(1.0, 1, 0.95), (0.1, 2, 0.85)]
    """
    done = [r for r in records if r.get("status") == "done"]
    flat = [
        flatten({"config": {k: v for k, v in r["config"].items() if k != "seed"}}) for r in done
    ]
    keys: dict[str, None] = {}
    for f in flat:
        keys.update(dict.fromkeys(f))
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
    if not varying and "schedule" in keys:
        varying = ["schedule"]  # one config: name it by its schedule
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(done):
        groups.setdefault(r["group"], []).append(i)
    rows = []
    for g, idx in groups.items():
        row: dict[str, Any] = {"group": g, **{k: flat[idx[0]].get(k) for k in varying}}
        row["seeds"] = len(idx)
        row["diverged"] = sum(bool(done[i].get("diverged")) for i in idx)
        row["stopped"] = sum((done[i].get("stopped_epoch") or -1) >= 0 for i in idx)
        for m in _AGGREGATED:
            vals = [
                float(done[i][m])
                for i in idx
                if not done[i].get("diverged") and _num(done[i].get(m)) is not None
            ]
            mean = sum(vals) / len(vals) if vals else None
            std = None
            if len(vals) > 1 and mean is not None:
                std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
            row[f"{m}_mean"], row[f"{m}_std"] = mean, std
        rows.append(row)
    if sort is None:
        has_acc = any(r["final_val_accuracy_mean"] is not None for r in rows)
        has_val = any(r["final_val_loss_mean"] is not None for r in rows)
        sort = "val_accuracy" if has_acc else ("val_loss" if has_val else "loss")
    col = f"{_sort_column(sort)}_mean"
    if rows and col not in rows[0]:
        known = ", ".join(m.removeprefix("final_") for m in _AGGREGATED)
        raise ValueError(f"sort: unknown metric {sort!r}; known: {known}")
    sign = 1.0 if "loss" in sort else -1.0
    tie = (
        "final_val_loss_mean"
        if rows and rows[0]["final_val_loss_mean"] is not None
        else ("final_loss_mean")
    )

    def key(r: Mapping[str, Any]) -> tuple[Any, ...]:
        t = r[tie] if r[tie] is not None else math.inf
        return (r[col] is None, sign * r[col] if r[col] is not None else 0.0, t)

    rows.sort(key=key)
    return rows
