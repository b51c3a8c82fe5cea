"""How a store reports trouble: :class:`StoreError`, the plain-words reading of an SQLite error,
and the decorator that turns the SQLite errors of a store method into :class:`StoreError`.

Private: import the public names from :mod:`lrlab.lab.store`.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

_R = TypeVar("_R")


class StoreError(Exception):
    """The store cannot be opened or written: not an lrlab store, damaged, locked by a writer,
    read-only, full disk, ... The message starts with the file's path."""


# Present it as part of the public module, where it lived before: tracebacks and pickles name
# lrlab.lab.store.StoreError.
StoreError.__module__ = "lrlab.lab.store"


class _HasPath(Protocol):
    """What :func:`guarded` needs of the object whose method it wraps: the store's file."""

    path: Path


def describe_sqlite_error(exc: sqlite3.Error) -> str:
    """What an SQLite error means for the user of a store.

    Example:
        >>> describe_sqlite_error(sqlite3.DatabaseError("file is not a database"))
        'not an lrlab store (file is not a database)'
    """
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


def guarded(method: Callable[..., _R]) -> Callable[..., _R]:
    """Report SQLite errors of a :class:`~lrlab.lab.store.Store` method as :class:`StoreError`
    naming the file (an ``IntegrityError``, a bad row from the caller, passes unchanged)."""

    @functools.wraps(method)
    def wrapper(self: _HasPath, *args: Any, **kwargs: Any) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: {describe_sqlite_error(exc)}") from None

    return wrapper
