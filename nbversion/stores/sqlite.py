"""SQLite as nbversion uses it: durable (WAL, synchronous=FULL), patient with other processes, and
with one transaction helper that rolls back on any error and reports a full disk in our terms."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import StoreFullError


def connect(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating if needed) the database at ``path`` with ``schema`` applied."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=600000")  # other processes hold write transactions briefly
    db.executescript(schema)
    return db


def is_disk_full(exc: BaseException) -> bool:
    """Whether SQLite failed because the disk is full (SQLITE_FULL), judged by its error code."""
    if not isinstance(exc, sqlite3.Error):
        return False
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_FULL
    return str(exc) == "database or disk is full"  # SQLite's own text for SQLITE_FULL (Python 3.10)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction: all of it is durable on exit, or none of it on any error."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
        db.execute("COMMIT")
    except BaseException as exc:
        if db.in_transaction:  # (SQLite has already rolled back after some errors, a full disk among them)
            db.execute("ROLLBACK")
        if is_disk_full(exc):
            raise StoreFullError(28, f"The disk is full ({exc}); nothing was committed. Free some space and retry.") from exc
        raise
