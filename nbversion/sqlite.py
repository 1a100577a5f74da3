"""SQLite as nbversion uses it: durable (WAL, synchronous=FULL), patient with other processes, and
with one transaction helper that rolls back on any error and reports a full disk in our terms."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import StoreFullError


def connect(path: Path, schema: str) -> sqlite3.Connection:
    """Open (creating if needed) the database at ``path`` with ``schema`` applied."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=600000")  # other processes hold write transactions briefly
    db.executescript(schema)
    return db


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
        if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc):
            raise StoreFullError(28, f"The disk is full ({exc}); nothing was committed. Free some space and retry.") from exc
        raise
