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
import io
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

# The store's parts live in private siblings, by concept; Store (below) puts them together.
from ._store_connect import acquire_writer_lock, connect_readonly, connect_readwrite
from ._store_errors import StoreError as StoreError
from ._store_errors import describe_sqlite_error, guarded
from ._store_schema import DIVERGED_NULL as DIVERGED_NULL
from ._store_schema import FILENAME as FILENAME
from ._store_schema import (
    RUN_COLUMNS,
    TRIAL_COLUMNS,
    check_store,
    create_schema,
    finite_or_none,
    load_json_object,
    lrlab_version,
    table_columns,
)
from ._store_schema import SCHEMA_VERSION as SCHEMA_VERSION
from ._store_schema import SUMMARY_METRICS as SUMMARY_METRICS
from ._store_summary import flatten as flatten
from ._store_summary import summarize as summarize
from ._store_summary import write_csv as write_csv

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
            connect = connect_readonly if readonly else connect_readwrite
            self._db = connect(self.path, timeout)
            self._db.row_factory = sqlite3.Row
            self._setup()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"{self.path}: {describe_sqlite_error(exc)}") from None
        except BaseException:
            self.close()
            raise

    @classmethod
    def in_dir(cls, directory: str | os.PathLike[str], *, readonly: bool = False) -> Store:
        """The store ``DIR/lrlab.sqlite`` (what ``lrlab run --out DIR`` writes)."""
        return cls(Path(directory) / FILENAME, readonly=readonly)

    def _setup(self) -> None:
        """Make an empty file a new store, or check an existing one (:func:`check_store`)."""
        tables = table_columns(self._conn)
        if not tables:
            if self.readonly:
                raise StoreError(f"{self.path}: not an lrlab store (an empty database)")
            self._create()
            return
        check_store(self._conn, self.path, tables)
        if not self.readonly:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")

    def _create(self) -> None:
        """Turn on the write-ahead log and create the tables, in one transaction."""
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self.transaction():
            create_schema(self._conn)

    def _loads(self, text: Any, table: str, key: Any, column: str) -> dict[str, Any]:
        """A JSON cell, which must hold a JSON object; else :class:`StoreError` naming it."""
        return load_json_object(text, self.path, table, key, column)

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
        """Hold the OS lock (:func:`acquire_writer_lock`) that makes this connection the one
        writer.

        ``flock`` needs no write access, so a lock file this user may only read (another
        user's) still serves.
        """
        if self.readonly:
            raise StoreError(f"{self.path}: opened read-only")
        if self._lock_fd is not None or sys.platform == "win32":
            return
        self._lock_fd = acquire_writer_lock(self.path)

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

    @guarded
    def integrity(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a sound file."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    # -- writing -----------------------------------------------------------------------------
    @guarded
    def register_study(
        self, name: str, spec: Mapping[str, Any], trials: Sequence[Any], description: str = ""
    ) -> int:
        """Record a study and the trials that make it up (replacing a previous list).

        ``trials`` are :class:`~lrlab.lab.spec.Trial` objects (``id``, ``config``, ``vars``,
        ``group``). Results already stored are kept: they belong to the trial ids.

        Returns:
            How many trials the study listed before and no longer lists (its file changed:
            other epochs, another grid); what they stored stays in the store.
        """
        from .spec import canonical_json

        self._writer()
        now = time.time()
        with self.transaction() as db:
            before = {
                row[0]
                for row in db.execute("SELECT trial_id FROM study_trials WHERE study = ?", (name,))
            }
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
        return len(before - {t.id for t in trials})

    @guarded
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
                **{c: r.get(c) for c in TRIAL_COLUMNS},
                "lrlab_version": lrlab_version(),
                "config": cfg if isinstance(cfg, str) else canonical_json(cfg),
            }
            row["diverged"] = None if row["diverged"] is None else int(bool(row["diverged"]))
            for c in SUMMARY_METRICS:
                row[c] = finite_or_none(row[c]) if c != "best_epoch" else row[c]
            if row["diverged"]:  # no final or best metric: NaN weights score nothing
                row.update(dict.fromkeys(DIVERGED_NULL))
            trial_rows.append(tuple(row[c] for c in TRIAL_COLUMNS))
            ids.append((r["id"],))
            for name, values in (r.get("history") or {}).items():
                metric_rows += [(r["id"], name, e, finite_or_none(v)) for e, v in enumerate(values)]
        marks = ", ".join("?" * len(TRIAL_COLUMNS))
        with self.transaction() as db:
            db.executemany("DELETE FROM metrics WHERE trial_id = ?", ids)
            db.executemany(
                f"INSERT OR REPLACE INTO trials ({', '.join(TRIAL_COLUMNS)}) VALUES ({marks})",
                trial_rows,
            )
            db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?)", metric_rows)

    # -- reading -----------------------------------------------------------------------------
    @guarded
    def studies(self) -> list[dict[str, Any]]:
        """Every study: ``name``, ``description``, ``spec`` (dict), times and trial counts."""
        out = []
        for r in self._conn.execute("SELECT * FROM studies ORDER BY created_at"):
            d = dict(r)
            d["spec"] = self._loads(d["spec"], "studies", d["name"], "spec")
            d.update(self.counts(d["name"]))
            out.append(d)
        return out

    @guarded
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

    @guarded
    def done_ids(self, ids: Iterable[str] | None = None) -> set[str]:
        """The ids (of ``ids``, or all) whose trials are stored with status ``done``."""
        done = {r[0] for r in self._conn.execute("SELECT id FROM trials WHERE status = 'done'")}
        return done if ids is None else done & set(ids)

    @guarded
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
        cols = ", ".join(f"t.{c}" for c in ("status", *RUN_COLUMNS, *SUMMARY_METRICS))
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

    @guarded
    def history(self, trial_id: str) -> dict[str, list[float | None]]:
        """One trial's per-epoch metrics: ``name -> [value per epoch]`` (``None`` for NaN)."""
        out: dict[str, list[float | None]] = {}
        for name, _epoch, value in self._conn.execute(
            "SELECT name, epoch, value FROM metrics WHERE trial_id = ? ORDER BY name, epoch",
            (trial_id,),
        ):
            out.setdefault(name, []).append(value)
        return out

    @guarded
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

    @guarded
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

    @guarded
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
