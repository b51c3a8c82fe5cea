"""Opening a store's file: the read-only and read-write SQLite connections, and the OS lock
that makes one process the store's writer.

Private: the public face is :class:`lrlab.lab.store.Store`.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ._store_errors import StoreError


def connect_readonly(path: Path, timeout: float) -> sqlite3.Connection:
    """A ``mode=ro`` connection to ``path``; where SQLite cannot make its ``-shm`` file (a
    folder we cannot write) and no writer left a write-ahead log, an ``immutable=1`` one.

    Raises:
        StoreError: ``path`` is no file.
        sqlite3.OperationalError: the file cannot be read, or a log is there we cannot use.
    """
    if not path.is_file():
        raise StoreError(f"{path}: no lrlab store here")
    uri = path.resolve().as_uri()
    db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout, isolation_level=None)
    try:
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:  # WAL without a -shm file, in a folder we cannot write
        db.close()
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise
    # no writer has a log open: the file alone is the whole store, read it as it is
    return sqlite3.connect(
        f"{uri}?mode=ro&immutable=1", uri=True, timeout=timeout, isolation_level=None
    )


def connect_readwrite(path: Path, timeout: float) -> sqlite3.Connection:
    """A read-write connection to ``path``, made with its folder if need be.

    Raises:
        StoreError: the folder cannot be made, or the file exists and cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{path.parent}: cannot create the folder: {exc.strerror}") from None
    if path.exists():
        try:
            os.close(os.open(path, os.O_RDWR))
        except OSError as exc:
            raise StoreError(
                f"{path}: cannot write the store ({exc.strerror}); lrlab results can still read it"
            ) from None
    return sqlite3.connect(path, timeout=timeout, isolation_level=None)


def acquire_writer_lock(path: Path) -> int:
    """Take the exclusive ``flock`` on ``<path>.lock`` without waiting; return its descriptor
    (the caller closes it to let go). POSIX only.

    ``flock`` needs no write access, so a lock file this user may only read (another user's)
    still serves.

    Raises:
        StoreError: the lock file cannot be opened, or another process holds the lock.
    """
    import fcntl

    lock = f"{path}.lock"
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
            f"{path}: another process is writing to this store; wait "
            "for it to finish (readers need no lock)"
        ) from None
    return fd
