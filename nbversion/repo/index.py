"""The repository index: versions and refs in SQLite, and the lock every change is made under.

Blocks are the truth and never change; the index is what makes listing fast and is the only thing
that moves. ``versions`` holds each version's record (a copy of its block, so listing never
touches the block store) with its name, kind and per-name sequence number; ``refs`` holds
branches (``MODEL/BRANCH`` -> CID), tags (``NAME`` -> CID) and heads (``MODEL`` -> ``branch:NAME``
or a CID when detached). Writers hold :meth:`Index.locked` (a lock file across processes) and
change rows in one transaction.

The copies are checked on every read: a row's block must hash to its CID (sha2-256 of a few
hundred bytes: about a microsecond) and name the model its ``name`` column says. A damaged copy is
replaced by the block store's own (which is verified too) with a :class:`DamagedIndexWarning`
(``gc`` rewrites the row); where the store holds none, reading that version raises
:class:`CorruptIndexError` and listings leave it out, with a warning naming it.

Each row also keeps a *summary*: the JSON text of the fields a listing shows (:data:`SUMMARY_FIELDS`),
written from the verified record when the version is indexed, or, for rows indexed before
summaries existed, the first time a listing reads them (:meth:`Index.listing`). It is a rendering
cache: the panel's list of 10,000 versions is read from it in milliseconds, while every version
that is acted on (shown, checked out, diffed) is read through the verified path above. A summary
that is missing or does not belong to its row is recomputed from the verified record.
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from filelock import FileLock

from ..errors import CorruptIndexError, DamagedIndexWarning, FormatError, InvalidCIDError, NbversionError, StoreFullError, UnknownRefError
from ..formats.cid import CID, DAG_CBOR
from ..formats.records import Version, decode_version
from ..stores.base import full_disk_is_ours
from ..stores.sqlite import connect, transaction

#: Reads a block from the block store, verified (``BlockStore.get``).
GetBlock = Callable[[CID], bytes]

SCHEMA_VERSION = 3  # 3: remote_state and partial_versions (made by _SCHEMA on open)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    cid TEXT PRIMARY KEY,
    name TEXT NOT NULL,      -- the model (or, for other kinds, the data set) it is a version of
    seq INTEGER NOT NULL,    -- vN: its place among that name's versions
    block BLOB NOT NULL,     -- a copy of the version's block
    kind TEXT NOT NULL DEFAULT 'weights',
    summary TEXT,            -- JSON of the listing's fields (SUMMARY_FIELDS), from the verified record
    UNIQUE (name, seq)
);
CREATE TABLE IF NOT EXISTS refs (
    kind TEXT NOT NULL,      -- 'branch' (name MODEL/BRANCH), 'tag', 'head' (name MODEL)
    name TEXT NOT NULL,
    target TEXT NOT NULL,    -- a version CID, or for a head 'branch:NAME'
    PRIMARY KEY (kind, name)
);
CREATE TABLE IF NOT EXISTS remote_state (
    cid TEXT NOT NULL,       -- a version
    remote TEXT NOT NULL,    -- a remote's name (or the RPC address it was pushed to)
    state TEXT NOT NULL,     -- 'pinned': a push pinned it there; 'pushed': sent with a descendant pinned there
    PRIMARY KEY (cid, remote)
);
CREATE TABLE IF NOT EXISTS partial_versions (
    cid TEXT PRIMARY KEY,    -- a version indexed before its content was fetched (repo/fetch.py)
    remote TEXT NOT NULL     -- the remote its content is fetched from, on demand
);
"""

# Each step finds the next name after the last in the (name, seq) index: SELECT DISTINCT would
# read every row (SQLite has no skip-scan without ANALYZE statistics).
_NAMES = """
WITH RECURSIVE names(name) AS (
    SELECT MIN(name) FROM versions
    UNION ALL
    SELECT (SELECT MIN(name) FROM versions WHERE name > names.name) FROM names WHERE names.name IS NOT NULL
)
SELECT name FROM names WHERE name IS NOT NULL
"""

_TABLES = {"versions": ("cid", "name", "seq", "block", "kind", "summary"), "refs": ("kind", "name", "target")}

#: The fields of a version a listing shows, in its summary (``seq``, ``label`` and ``tags`` are
#: added when the listing is read: a number can be repaired and tags move). The rest of a record
#: (manifest, software, architecture, context) is in the version's own JSON view.
SUMMARY_FIELDS = ("cid", "model", "kind", "parents", "message", "metrics", "time", "author", "framework")


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an index written by an earlier nbversion to :data:`SCHEMA_VERSION` (once, atomically)."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    with transaction(db):
        columns = {row[1] for row in db.execute("PRAGMA table_info(versions)")}
        if "model" in columns:  # the first schema: weights only, named by model
            db.execute("ALTER TABLE versions RENAME COLUMN model TO name")
            db.execute("ALTER TABLE versions ADD COLUMN kind TEXT NOT NULL DEFAULT 'weights'")
        if "summary" not in columns:  # schema 1: summaries are filled in by the first listing
            db.execute("ALTER TABLE versions ADD COLUMN summary TEXT")
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def check_row(cid: Any, seq: Any, block: Any, name: Any = None) -> Tuple[Optional[Version], Optional[str]]:
    """An index row read back: (its version, None), or (None, what is wrong with the row) when its
    copy of the version block does not hash to its CID or names another model than ``name``."""
    if not isinstance(cid, str):
        return None, "its CID is not text"
    try:
        parsed = CID.parse(cid)
    except InvalidCIDError:
        return None, "its CID is malformed"
    if parsed.codec != DAG_CBOR:
        return None, "its CID is not a version's"
    if not isinstance(block, bytes) or not parsed.verify(block):
        return None, "its copy of the version block does not match the CID"
    if not isinstance(seq, int) or isinstance(seq, bool):
        return None, "its sequence number is not a number"
    version = decode_version(block, parsed)
    if name is not None and version.model != name:
        return None, f"its name column says {name!r} but the version is of {version.model!r}"
    return version, None


def summary_of(version: Version) -> str:
    """The summary of a (verified) version: its :data:`SUMMARY_FIELDS` as compact JSON text,
    beginning ``{"cid":"<its CID>",`` (which :meth:`Index.listing` checks against the row)."""
    fields = {
        "cid": str(version.cid),
        "model": version.model,
        "kind": version.kind,
        "parents": [str(p) for p in version.parents],
        "message": version.message,
        "metrics": version.metrics,
        "time": version.time,
        "author": version.author,
        "framework": version.framework,
    }
    if version.data:  # the data versions it links, by role (only when there are some: older summaries stay valid)
        fields["data"] = {role: str(cid) for role, cid in sorted(version.data.items())}
    return json.dumps(fields, separators=(",", ":"))


def _belongs(summary: Any, cid: Any) -> bool:
    """Whether ``summary`` is a whole summary of the version ``cid`` (a cheap check of its ends)."""
    return isinstance(summary, str) and summary.startswith(f'{{"cid":"{cid}",') and summary.endswith("}")


def row_label(cid: Any, seq: Any, name: Any = None) -> str:
    """An index row as messages name it: ``MODEL vN (CID)``, each part quoted where it is not plain."""
    model = "" if name is None else f"{name} " if isinstance(name, str) and name.isprintable() else f"{name!r} "
    number = f"v{seq}" if isinstance(seq, int) else f"v{seq!r}"
    return f"{model}{number} ({cid if isinstance(cid, str) and cid.isprintable() else repr(cid)})"


class Index:
    """The SQLite index of one repository directory (opened on first use).

    ``blocks`` reads a block from the repository's block store: where the index's copy of a
    version is damaged, the version is read from there instead."""

    def __init__(self, path: Path, blocks: Optional[GetBlock] = None) -> None:
        self.path = path
        self.blocks = blocks
        self._db: Optional[sqlite3.Connection] = None

    @property
    def exists(self) -> bool:
        return (self.path / "index.sqlite").exists()

    def db(self, create: bool = False) -> Optional[sqlite3.Connection]:
        """The connection, or None when there is no index yet and ``create`` is false."""
        if self._db is None:
            if not self.exists and not create:
                return None
            with full_disk_is_ours(self.path):
                self.path.mkdir(parents=True, exist_ok=True)
            self._db = connect(self.path / "index.sqlite", _SCHEMA, _TABLES, _migrate)
        return self._db

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """Hold the repository lock (across processes) with the index open for writing."""
        with full_disk_is_ours(self.path):
            self.path.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.path / "lock"))
            lock.acquire()
        try:
            db = self.db(create=True)
            assert db is not None
            yield db
        finally:
            lock.release()

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

    def has_name(self, name: str) -> bool:
        """Whether ``name`` has versions (one lookup in the ``(name, seq)`` index, not a scan)."""
        return bool(self.rows("SELECT 1 FROM versions WHERE name=? LIMIT 1", (name,)))

    def row(self, cid: CID | str) -> Optional[Tuple]:
        """The index row ``(cid, seq, block, name)`` of the version ``cid`` (one primary-key lookup)."""
        rows = self.rows("SELECT cid, seq, block, name FROM versions WHERE cid=?", (str(cid),))
        return rows[0] if rows else None

    def tags_by_cid(self) -> Dict[str, List[str]]:
        tags: Dict[str, List[str]] = {}
        for name, target in self._text_rows("SELECT name, target FROM refs WHERE kind='tag' ORDER BY name"):
            tags.setdefault(target, []).append(name)
        return tags

    def _text_rows(self, sql: str, args: Sequence[Any] = ()) -> List[Tuple]:
        """``rows`` whose every value is text (a row with anything else is damaged: fsck names it)."""
        return [row for row in self.rows(sql, args) if all(isinstance(value, str) for value in row)]

    def intact(self, cid: Any) -> Optional[Version]:
        """The version ``cid`` as the block store holds it, or None when it holds no intact copy."""
        if self.blocks is None or not isinstance(cid, str):
            return None
        try:
            parsed = CID.parse(cid)
            block = self.blocks(parsed)
            return decode_version(block, parsed) if parsed.verify(block) else None
        except StoreFullError:  # the store cannot be opened: that says nothing about the copy
            raise
        except (NbversionError, KeyError):
            return None

    def to_version(self, cid: str, seq: int, block: bytes, tags: Dict[str, List[str]], name: Optional[str] = None) -> Version:
        """A version from its index row (``cid, seq, block``, and ``name`` when known) and the tags
        by CID, checked (see the module docstring): :class:`CorruptIndexError` if it cannot be had."""
        version, problem = check_row(cid, seq, block, name)
        if problem is not None:
            version = self.intact(cid)
            what = f"The index's copy of version {row_label(cid, seq, name)} is damaged: {problem}"
            if version is None:
                raise CorruptIndexError(f"{what}, and the block store holds no intact copy. Run `nbversion fsck`.")
            warnings.warn(
                f"{what}; it was read from the block store instead (`nbversion gc` rewrites the copy).",
                DamagedIndexWarning,
                stacklevel=2,
            )
        assert version is not None
        return replace(version, seq=seq if isinstance(seq, int) else None, tags=tuple(tags.get(cid, ())))

    def version(self, cid: CID | str, tags: Optional[Dict[str, List[str]]] = None) -> Version:
        """The indexed version with this exact CID (``tags``: the tags by CID, if already read)."""
        row = self.row(cid)
        if row is None:
            raise UnknownRefError(f"No version {cid} in {self.path}.")
        cid_text, seq, block, name = row
        return self.to_version(cid_text, seq, block, self.tags_by_cid() if tags is None else tags, name)

    def versions(self, name: Optional[str] = None, limit: Optional[int] = None) -> List[Version]:
        """Every version (of ``name`` if given), newest first; the newest ``limit`` only, if given.
        Rows are read lazily in index order, so a limit reads about ``limit`` rows whatever the
        history's length. A row that cannot be read (see :meth:`to_version`) is left out, with a
        :class:`DamagedIndexWarning` naming it (and the next row takes its place)."""
        db = self.db()
        if db is None or (limit is not None and limit <= 0):
            return []
        tags = self.tags_by_cid()
        if name is None:
            cursor = db.execute("SELECT cid, seq, block, name FROM versions ORDER BY rowid DESC")
        else:
            cursor = db.execute("SELECT cid, seq, block, name FROM versions WHERE name=? ORDER BY seq DESC", (name,))
        out: List[Version] = []
        try:
            for row in cursor:
                if limit is not None and len(out) >= limit:
                    break
                try:
                    out.append(self.to_version(*row[:3], tags, row[3]))
                except CorruptIndexError as exc:
                    warnings.warn(f"{exc} It is left out of this list.", DamagedIndexWarning, stacklevel=2)
        finally:
            cursor.close()
        return out

    def listing(self, name: Optional[str] = None, limit: Optional[int] = None, offset: int = 0) -> List[str]:
        """Every version (of ``name`` if given), newest first, as the JSON text of an object with
        its :data:`SUMMARY_FIELDS`, ``seq``, ``label``, ``tags`` (and ``remotes`` for a version a push
        left on a remote: :meth:`remote_states_json`): the rows' summaries, so no
        block is decoded. A row without a summary of its own (indexed before summaries, or
        damaged) is read the verified way (:meth:`to_version`; left out with a warning when it
        cannot be) and its summary written back, so the next listing finds it. With ``limit``
        and ``offset``, one page of that list: the ``limit`` versions after the newest ``offset``
        (the panel reads the first screenful, then the rest)."""
        db = self.db()
        if db is None:
            return []
        tags = self.tags_by_cid()
        tags_json = {cid: json.dumps(names) for cid, names in tags.items()}
        remotes = {cid: f',"remotes":{states}' for cid, states in self.remote_states_json().items()}  # where pushed
        page = (-1 if limit is None else max(0, limit), max(0, offset))  # SQLite: LIMIT -1 is none
        if name is None:
            rows = db.execute("SELECT cid, seq, summary FROM versions ORDER BY rowid DESC LIMIT ? OFFSET ?", page).fetchall()
        else:
            rows = db.execute("SELECT cid, seq, summary FROM versions WHERE name=? ORDER BY seq DESC LIMIT ? OFFSET ?",
                              (name, *page)).fetchall()  # fmt: skip
        out: List[str] = []
        missing: List[Tuple[str, str]] = []
        for cid, seq, summary in rows:
            if not (type(seq) is int and _belongs(summary, cid)):
                row = self.rows("SELECT cid, seq, block, name FROM versions WHERE cid=?", (cid,))
                try:
                    version = self.to_version(*row[0][:3], tags, row[0][3])
                except CorruptIndexError as exc:
                    warnings.warn(f"{exc} It is left out of this list.", DamagedIndexWarning, stacklevel=2)
                    continue
                summary = summary_of(version)
                missing.append((summary, cid))
                seq = version.seq
            number = f'"seq":{seq},"label":"v{seq}"' if seq is not None else f'"seq":null,"label":"{cid[:16]}"'
            out.append(f'{{{number},"tags":{tags_json.get(cid, "[]")}{remotes.get(cid, "")},{summary[1:]}')
        if missing:
            self._write_summaries(db, missing)
        return out

    def count(self, name: Optional[str] = None) -> int:
        """How many rows the versions table has (of ``name`` if given), damaged ones included: what
        pages of :meth:`listing` are counted in."""
        query, args = ("SELECT COUNT(*) FROM versions WHERE name=?", (name,)) if name else ("SELECT COUNT(*) FROM versions", ())
        rows = self.rows(query, args)
        return int(rows[0][0]) if rows else 0

    def _write_summaries(self, db: sqlite3.Connection, summaries: List[Tuple[str, str]]) -> None:
        """Store computed ``(summary, cid)`` pairs; a cache, so a repository that cannot be written
        to (read-only, disk full) is listed all the same."""
        try:
            with transaction(db):
                db.executemany("UPDATE versions SET summary=? WHERE cid=?", summaries)
        except (NbversionError, sqlite3.Error):
            pass

    def names(self) -> List[str]:
        """Every name with versions, sorted. A loose scan of the ``(name, seq)`` index: one lookup
        per name, so the cost grows with the number of models, not with their histories."""
        return [n for (n,) in self._text_rows(_NAMES)]

    def refs(self, kind: str) -> Dict[str, str]:
        """``{name: target}`` of every ref of ``kind`` ('branch', 'tag' or 'head'), by name."""
        return dict(self._text_rows("SELECT name, target FROM refs WHERE kind=? ORDER BY name", (kind,)))

    def ref(self, kind: str, name: str) -> Optional[str]:
        rows = self._text_rows("SELECT target FROM refs WHERE kind=? AND name=?", (kind, name))
        return rows[0][0] if rows else None

    # -- writing (inside ``locked()`` and a transaction) ------------------------------------------

    transaction = staticmethod(transaction)

    @staticmethod
    def next_seq(db: sqlite3.Connection, name: str) -> int:
        (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM versions WHERE name=?", (name,)).fetchone()
        return last + 1

    @staticmethod
    def add_version(db: sqlite3.Connection, cid: CID, version: Version, block: bytes) -> int:
        """Index a version (once), with the summary of its block; returns its sequence number."""
        try:
            record, _ = check_row(str(cid), 0, block, version.model)
        except FormatError:  # a record this release refuses (an older import's): listings say so the checked way
            record = None
        summary = summary_of(record) if record is not None else None  # a bad block: listings read it the checked way
        db.execute(
            "INSERT OR IGNORE INTO versions (cid, name, seq, block, kind, summary) VALUES (?, ?, ?, ?, ?, ?)",
            (str(cid), version.model, Index.next_seq(db, version.model), block, version.kind, summary),
        )
        (seq,) = db.execute("SELECT seq FROM versions WHERE cid=?", (str(cid),)).fetchone()
        return seq

    @staticmethod
    def set_ref(db: sqlite3.Connection, kind: str, name: str, target: str) -> None:
        db.execute("INSERT OR REPLACE INTO refs VALUES (?, ?, ?)", (kind, name, target))

    @staticmethod
    def delete_ref(db: sqlite3.Connection, kind: str, name: str) -> None:
        db.execute("DELETE FROM refs WHERE kind=? AND name=?", (kind, name))

    # -- remotes: where versions were pushed, and versions whose content is fetched on demand ---------

    #: A version's state on a remote, weakest first: a state never replaces a stronger one.
    REMOTE_STATES = ("pushed", "pinned")

    @staticmethod
    def set_remote_states(db: sqlite3.Connection, remote: str, states: Dict[str, str]) -> None:
        """Record ``{version CID: state}`` on ``remote`` ('pinned' stays 'pinned')."""
        db.executemany(
            "INSERT INTO remote_state (cid, remote, state) VALUES (?, ?, ?) ON CONFLICT (cid, remote) "
            "DO UPDATE SET state = CASE WHEN remote_state.state = 'pinned' THEN 'pinned' ELSE excluded.state END",
            [(cid, remote, state) for cid, state in states.items()],
        )

    def remote_states(self) -> Dict[str, List[Tuple[str, str]]]:
        """``{version CID: [(remote, state), ...]}`` for every version recorded on a remote."""
        out: Dict[str, List[Tuple[str, str]]] = {}
        sql = "SELECT cid, remote, state FROM remote_state ORDER BY remote"
        for cid, remote, state in self._text_rows(sql):
            if state in self.REMOTE_STATES:
                out.setdefault(cid, []).append((remote, state))
        return out

    def remote_states_json(self) -> Dict[str, str]:
        """:meth:`remote_states` as the JSON text a listing entry's ``remotes`` field holds:
        ``[{"name": "lab", "state": "pinned"}, ...]``."""
        return {
            cid: json.dumps([{"name": remote, "state": state} for remote, state in states])
            for cid, states in self.remote_states().items()
        }

    @staticmethod
    def set_partial(db: sqlite3.Connection, cid: str, remote: str) -> None:
        """Record that the version ``cid`` was indexed before its content was here (from ``remote``)."""
        db.execute("INSERT OR REPLACE INTO partial_versions (cid, remote) VALUES (?, ?)", (cid, remote))

    @staticmethod
    def set_whole(db: sqlite3.Connection, cids: Sequence[str]) -> None:
        """Record that the versions ``cids`` have all their content here now (a pull brought it)."""
        db.executemany("DELETE FROM partial_versions WHERE cid=?", [(cid,) for cid in cids])

    def partial_remote(self, cid: CID | str) -> Optional[str]:
        """The remote the content of version ``cid`` is fetched from, or None if it was indexed whole."""
        rows = self._text_rows("SELECT remote FROM partial_versions WHERE cid=?", (str(cid),))
        return rows[0][0] if rows else None

    def last_partial_remote(self) -> Optional[str]:
        """The remote of the version most recently indexed before its content (None: there is none)."""
        rows = self._text_rows("SELECT remote FROM partial_versions ORDER BY rowid DESC LIMIT 1")
        return rows[0][0] if rows else None
