"""The store's schema (tables, columns, version) and the checks a file passes before a
:class:`~lrlab.lab.store.Store` uses it; the module docstring of :mod:`lrlab.lab.store`
describes each table.

Private: import the public names from :mod:`lrlab.lab.store`.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

from ._store_errors import StoreError

SCHEMA_VERSION = 1
#: the schema versions this lrlab reads, in words
READS = "version 1" if SCHEMA_VERSION == 1 else f"versions 1 to {SCHEMA_VERSION}"
#: the store's file name in a ``--out`` folder
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
#: the summary columns a diverged trial stores as NULL (its rate, ``final_lr``, is kept)
DIVERGED_NULL = tuple(m for m in SUMMARY_METRICS if m != "final_lr")
#: how a trial ran: the ``trials`` columns between its identity and its summary metrics
RUN_COLUMNS = (
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
#: every column of the ``trials`` table, in order
TRIAL_COLUMNS = (
    "id",
    "config",
    "config_group",
    "seed",
    "status",
    *RUN_COLUMNS,
    *SUMMARY_METRICS,
    "lrlab_version",
)
#: the statements that create a new store's tables
SCHEMA = """
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
#: the columns each table must have (what :data:`SCHEMA` creates)
COLUMNS = {
    "meta": ("key", "value"),
    "studies": ("name", "description", "spec", "created_at", "updated_at"),
    "study_trials": ("study", "trial_id", "position", "config_group", "vars", "config"),
    "trials": TRIAL_COLUMNS,
    "metrics": ("trial_id", "name", "epoch", "value"),
}
#: the JSON cells, each a JSON object: (table, key column, JSON column)
JSON_CELLS = (
    ("studies", "name", "spec"),
    ("study_trials", "study || ' / ' || trial_id", "vars"),
    ("study_trials", "study || ' / ' || trial_id", "config"),
    ("trials", "id", "config"),
)


def lrlab_version() -> str:
    """The installed lrlab's version, as written in ``meta`` and ``trials.lrlab_version``."""
    try:
        from .. import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover
        return "unknown"


def finite_or_none(v: Any) -> float | None:
    """``v`` as a float, or ``None`` where it is ``None``, NaN or infinite (stored as NULL).

    Example:
        >>> finite_or_none(1), finite_or_none(float("nan")), finite_or_none(None)
        (1.0, None, None)
    """
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def table_columns(db: sqlite3.Connection) -> dict[str, set[str]]:
    """Each table of the database and the names of its columns."""
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return {n: {r[1] for r in db.execute(f'PRAGMA table_info("{n}")')} for n in names}


def create_schema(db: sqlite3.Connection) -> None:
    """Create the tables and the ``meta`` rows of a new store (inside the caller's
    transaction)."""
    for stmt in SCHEMA.split(";"):
        if stmt.strip():
            db.execute(stmt)
    db.executemany(
        "INSERT OR IGNORE INTO meta VALUES (?, ?)",
        [("schema_version", str(SCHEMA_VERSION)), ("created_by", f"lrlab {lrlab_version()}")],
    )


def check_store(db: sqlite3.Connection, path: Path, tables: dict[str, set[str]]) -> None:
    """Check an existing database, whose tables are ``tables``, before it is used as a store:
    lrlab's ``meta`` table, a schema version this lrlab reads, every table and column,
    ``PRAGMA quick_check`` and every JSON cell. Writes nothing.

    Raises:
        StoreError: the first check that fails, naming ``path``.
    """
    if "meta" not in tables:
        found = ", ".join(sorted(tables)[:8])
        raise StoreError(
            f"{path}: not an lrlab store (an SQLite database with the tables {found} "
            "and no meta table); lrlab leaves it untouched: give lrlab run another --out"
        )
    check_version(db, path)
    for name, columns in COLUMNS.items():
        if name not in tables:
            raise StoreError(f"{path}: a damaged lrlab store: table {name} is missing")
        lacking = [c for c in columns if c not in tables[name]]
        if lacking:
            raise StoreError(
                f"{path}: a damaged lrlab store: table {name} lacks column {', '.join(lacking)}"
            )
    check = [str(r[0]) for r in db.execute("PRAGMA quick_check(5)")]
    if check != ["ok"]:
        raise StoreError(
            f"{path}: the store is damaged (quick_check: {'; '.join(check)}); "
            "restore a copy or start a new store"
        )
    for table, key, column in JSON_CELLS:
        for k, text in db.execute(f"SELECT {key}, {column} FROM {table}"):
            load_json_object(text, path, table, k, column)


def check_version(db: sqlite3.Connection, path: Path) -> None:
    """Check ``meta.schema_version``: a version number from 1 to :data:`SCHEMA_VERSION`.

    Raises:
        StoreError: it is missing, not a number, or a version this lrlab does not read.
    """
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        raise StoreError(f"{path}: not an lrlab store (meta has no schema_version)")
    found = row[0]
    if not (isinstance(found, str) and found.isdigit() and found.isascii()):
        raise StoreError(
            f"{path}: a damaged lrlab store: schema_version {found!r} is not a version "
            f"number (this lrlab reads {READS})"
        )
    if not 1 <= int(found) <= SCHEMA_VERSION:
        raise StoreError(
            f"{path}: store schema_version {found!r} is not supported by this lrlab "
            f"(it reads {READS})"
        )


def load_json_object(text: Any, path: Path, table: str, key: Any, column: str) -> dict[str, Any]:
    """A JSON cell, which must hold a JSON object; else :class:`StoreError` naming it.

    Example:
        >>> load_json_object('{"lr": 0.1}', Path("s.sqlite"), "trials", "t1", "config")
        {'lr': 0.1}
    """
    where = f"{path}: a damaged lrlab store: {table} {key!r}: {column}"
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{where} is not JSON ({exc}): {str(text)[:40]!r}") from None
    if not isinstance(value, dict):
        raise StoreError(f"{where} is not a JSON object: {str(text)[:40]!r}")
    return value
