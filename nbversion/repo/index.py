"""The repository index: versions and refs in SQLite, and the lock every change is made under.

Blocks are the truth and never change; the index is what makes listing fast and is the only thing
that moves. ``versions`` holds each version's record (a copy of its block, so listing never
touches the block store) with its name, kind and per-name sequence number; ``refs`` holds
branches (``MODEL/BRANCH`` -> CID), tags (``NAME`` -> CID) and heads (``MODEL`` -> ``branch:NAME``
or a CID when detached). Writers hold :meth:`Index.locked` (a lock file across processes) and
change rows in one transaction.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from filelock import FileLock

from ..errors import UnknownRefError
from ..formats.cid import CID
from ..formats.records import Version, decode_version
from ..stores.sqlite import connect, transaction

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    cid TEXT PRIMARY KEY,
    name TEXT NOT NULL,      -- the model (or, for other kinds, the data set) it is a version of
    seq INTEGER NOT NULL,    -- vN: its place among that name's versions
    block BLOB NOT NULL,     -- a copy of the version's block
    kind TEXT NOT NULL DEFAULT 'weights',
    UNIQUE (name, seq)
);
CREATE TABLE IF NOT EXISTS refs (
    kind TEXT NOT NULL,      -- 'branch' (name MODEL/BRANCH), 'tag', 'head' (name MODEL)
    name TEXT NOT NULL,
    target TEXT NOT NULL,    -- a version CID, or for a head 'branch:NAME'
    PRIMARY KEY (kind, name)
);
"""


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an index written by an earlier nbversion to :data:`SCHEMA_VERSION` (once, atomically)."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    with transaction(db):
        columns = {row[1] for row in db.execute("PRAGMA table_info(versions)")}
        if "model" in columns:  # the first schema: weights only, named by model
            db.execute("ALTER TABLE versions RENAME COLUMN model TO name")
            db.execute("ALTER TABLE versions ADD COLUMN kind TEXT NOT NULL DEFAULT 'weights'")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class Index:
    """The SQLite index of one repository directory (opened on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: Optional[sqlite3.Connection] = None

    @property
    def exists(self) -> bool:
        return (self.path / "index.sqlite").exists()

    def db(self, create: bool = False) -> Optional[sqlite3.Connection]:
        """The connection, or None when there is no index yet and ``create`` is false."""
        if self._db is None:
            if not self.exists and not create:
                return None
            self.path.mkdir(parents=True, exist_ok=True)
            self._db = connect(self.path / "index.sqlite", _SCHEMA)
            _migrate(self._db)
        return self._db

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """Hold the repository lock (across processes) with the index open for writing."""
        self.path.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path / "lock")):
            db = self.db(create=True)
            assert db is not None
            yield db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- reading -------------------------------------------------------------------------------

    def rows(self, sql: str, args: Sequence[Any] = ()) -> List[Tuple]:
        db = self.db()
        return db.execute(sql, args).fetchall() if db is not None else []

    def has_version(self, cid: CID | str) -> bool:
        return bool(self.rows("SELECT 1 FROM versions WHERE cid=?", (str(cid),)))

    def tags_by_cid(self) -> Dict[str, List[str]]:
        tags: Dict[str, List[str]] = {}
        for name, target in self.rows("SELECT name, target FROM refs WHERE kind='tag' ORDER BY name"):
            tags.setdefault(target, []).append(name)
        return tags

    @staticmethod
    def to_version(cid: str, seq: int, block: bytes, tags: Dict[str, List[str]]) -> Version:
        """A version from its index row (``cid, seq, block``) and the tags by CID."""
        version = decode_version(block, CID.parse(cid))
        return replace(version, seq=seq, tags=tuple(tags.get(cid, ())))

    def version(self, cid: CID | str) -> Version:
        """The indexed version with this exact CID."""
        rows = self.rows("SELECT cid, seq, block FROM versions WHERE cid=?", (str(cid),))
        if not rows:
            raise UnknownRefError(f"No version {cid} in {self.path}.")
        return self.to_version(*rows[0], self.tags_by_cid())

    def versions(self, name: Optional[str] = None) -> List[Version]:
        """Every version (of ``name`` if given), newest first."""
        tags = self.tags_by_cid()
        if name is None:
            rows = self.rows("SELECT cid, seq, block FROM versions ORDER BY rowid DESC")
        else:
            rows = self.rows("SELECT cid, seq, block FROM versions WHERE name=? ORDER BY seq DESC", (name,))
        return [self.to_version(c, s, b, tags) for c, s, b in rows]

    def names(self) -> List[str]:
        return [n for (n,) in self.rows("SELECT DISTINCT name FROM versions ORDER BY name")]

    def refs(self, kind: str) -> Dict[str, str]:
        """``{name: target}`` of every ref of ``kind`` ('branch', 'tag' or 'head'), by name."""
        return dict(self.rows("SELECT name, target FROM refs WHERE kind=? ORDER BY name", (kind,)))

    def ref(self, kind: str, name: str) -> Optional[str]:
        rows = self.rows("SELECT target FROM refs WHERE kind=? AND name=?", (kind, name))
        return rows[0][0] if rows else None

    # -- writing (inside ``locked()`` and a transaction) ------------------------------------------

    transaction = staticmethod(transaction)

    @staticmethod
    def next_seq(db: sqlite3.Connection, name: str) -> int:
        (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM versions WHERE name=?", (name,)).fetchone()
        return last + 1

    @staticmethod
    def add_version(db: sqlite3.Connection, cid: CID, version: Version, block: bytes) -> int:
        """Index a version (once); returns its sequence number."""
        db.execute(
            "INSERT OR IGNORE INTO versions (cid, name, seq, block, kind) VALUES (?, ?, ?, ?, ?)",
            (str(cid), version.model, Index.next_seq(db, version.model), block, version.kind),
        )
        (seq,) = db.execute("SELECT seq FROM versions WHERE cid=?", (str(cid),)).fetchone()
        return seq

    @staticmethod
    def set_ref(db: sqlite3.Connection, kind: str, name: str, target: str) -> None:
        db.execute("INSERT OR REPLACE INTO refs VALUES (?, ?, ?)", (kind, name, target))

    @staticmethod
    def delete_ref(db: sqlite3.Connection, kind: str, name: str) -> None:
        db.execute("DELETE FROM refs WHERE kind=? AND name=?", (kind, name))
