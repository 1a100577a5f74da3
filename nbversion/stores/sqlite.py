"""SQLite as nbversion uses it: durable (WAL, synchronous=FULL), patient with other processes, and
speaking our errors: every statement on a connection from :func:`connect` (opening it included)
turns a full disk into :class:`StoreFullError` and a damaged database file into
:class:`CorruptIndexError`, each with a one-line message; :func:`transaction` rolls back on any
error.
"""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Collection, Iterable, Iterator, Mapping, NoReturn, Optional

from ..errors import CorruptIndexError, StoreFullError

# SQLite's primary result codes (the low byte of an extended code, ``exc.sqlite_errorcode``).
SQLITE_ERROR, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = 1, 10, 11, 13, 14, 26
#: Below this much free space, an I/O error SQLite reports (it says SQLITE_IOERR, not SQLITE_FULL,
#: when creating or growing its WAL files fails) is taken for a full disk.
FULL_MARGIN = 1 << 20


def disk_is_full(folder: Path) -> bool:
    """Whether the filesystem holding ``folder`` has (almost) no free space or no free inodes."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < FULL_MARGIN or (st.f_files > 0 and st.f_favail == 0)


def _primary_code(exc: sqlite3.Error) -> Optional[int]:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF
    if str(exc) == "database or disk is full":  # SQLite's own text for SQLITE_FULL (Python 3.10)
        return SQLITE_FULL
    return None


def is_disk_full(exc: BaseException, path: Optional[Path] = None) -> bool:
    """Whether SQLite failed because the disk is full: SQLITE_FULL, or (for the database at
    ``path``) an I/O or open error while that disk really has no space left."""
    if not isinstance(exc, sqlite3.Error):
        return False
    code = _primary_code(exc)
    if code == SQLITE_FULL:
        return True
    return path is not None and code in (SQLITE_IOERR, SQLITE_CANTOPEN) and disk_is_full(path.parent)


def ours(exc: Exception, path: Path) -> BaseException:
    """Our error for an SQLite error on the database at ``path`` (or ``exc`` itself). A
    :class:`UnicodeDecodeError` means SQLite handed back text (a message quoting the schema, a
    column name) that is not UTF-8, which nbversion never writes: the file is damaged."""
    if is_disk_full(exc, path):
        return StoreFullError(
            errno.ENOSPC, f"The disk holding {path.parent} is full; nothing was committed. Free some space and retry."
        )
    if isinstance(exc, UnicodeDecodeError) or isinstance(exc, sqlite3.Error) and _primary_code(exc) in (
        SQLITE_CORRUPT,
        SQLITE_NOTADB,
    ):
        return _damaged(path, f"it cannot be read ({_one_line(str(exc))})")
    return exc


def _one_line(text: str, limit: int = 160) -> str:
    """``text`` (which may quote a damaged file) on one line, control characters escaped, cut short."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


def _damaged(path: Path, what: str) -> CorruptIndexError:
    return CorruptIndexError(f"The database {path} is damaged: {what}. Restore it from a backup.")


def _raise(exc: Exception, path: Path) -> NoReturn:
    mine = ours(exc, path)
    if mine is exc:
        raise exc
    raise mine from exc


def _ours_on_error(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: "Cursor", *args: Any) -> Any:
        try:
            return method(self, *args)
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            _raise(exc, self.connection.path)

    return wrapper


class Cursor(sqlite3.Cursor):
    """A cursor whose errors are ours (see :func:`ours`), however its rows are fetched."""

    connection: "Database"


for _name in ("execute", "executemany", "executescript", "fetchone", "fetchmany", "fetchall", "__next__"):
    setattr(Cursor, _name, _ours_on_error(getattr(sqlite3.Cursor, _name)))


class Database(sqlite3.Connection):
    """A connection (made by :func:`connect`) whose statements go through :class:`Cursor`."""

    path: Path

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or Cursor)

    def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq: Iterable[Any]) -> Cursor:
        return self.cursor().executemany(sql, seq)

    def executescript(self, script: str) -> Cursor:
        return self.cursor().executescript(script)


#: Text columns as ``str``; bytes that are not UTF-8 (a damaged file) come back with U+FFFD, for the
#: checks on what was read (a CID that does not parse, a name that does not match) to catch.
_text = functools.partial(bytes.decode, encoding="utf-8", errors="replace")


def connect(
    path: Path,
    schema: str,
    tables: Optional[Mapping[str, Collection[str]]] = None,
    migrate: Optional[Callable[[Database], None]] = None,
) -> Database:
    """Open (creating if needed) the database at ``path`` with ``schema`` applied (and ``migrate``
    run on it). ``tables``: the tables the schema makes and the columns each must have, so that a
    damaged schema is :class:`CorruptIndexError`, not a missing column in some later query."""
    try:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, factory=Database)
    except (sqlite3.Error, UnicodeDecodeError) as exc:
        _raise(exc, path)
    db.path = path
    db.text_factory = _text
    tables = tables or {}
    try:
        db.execute("PRAGMA busy_timeout=600000")  # other processes hold write transactions briefly
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        present = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if present and not set(tables) <= present:
            raise _damaged(path, f"it lacks the table(s) {', '.join(sorted(set(tables) - present))}")
        db.executescript(schema)
        if migrate is not None:
            migrate(db)
        for table, columns in tables.items():
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if not set(columns) <= have:
                raise _damaged(path, f"its table {table} lacks the column(s) {', '.join(sorted(set(columns) - have))}")
    except sqlite3.Error as exc:
        db.close()
        if _primary_code(exc) == SQLITE_ERROR:  # our setup statements are fixed: the file is not what they expect
            raise _damaged(path, f"it cannot be opened ({_one_line(str(exc))})") from exc
        raise
    except BaseException:
        db.close()
        raise
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
        if is_disk_full(exc):  # a plain sqlite3 connection (ours already raised StoreFullError)
            raise StoreFullError(28, f"The disk is full ({exc}); nothing was committed. Free some space and retry.") from exc
        raise
