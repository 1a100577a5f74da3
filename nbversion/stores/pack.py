"""The embedded on-disk block store: append-only pack files plus a SQLite index.

Why packs and not one file per block: a 1 GiB tensor is 4,096 chunks, so a file per block means
thousands of creates and fsyncs per commit and directories of 100,000+ entries. Here blocks are
appended to a pack file (``packs/pack-*.pack``) and located through one SQLite table
(CID -> pack, offset, length, checksum). A commit costs one sequential write, one fsync and one
small transaction, and lookups stay O(log n) however many blocks there are.

Durability and crash safety: a writer appends to a pack it holds an exclusive ``flock`` on, fsyncs
it, and only then records the blocks in the index (one transaction). A crash before that leaves
bytes no index row points at; the next writer of that pack cuts them off and ``retain`` (gc)
reclaims them. Readers see only indexed, fully durable blocks.

Integrity: a block's sha2-256 is what its CID says; the writer also records a 128-bit XXH3
checksum of the same bytes, and every read is checked against it (about 25 GB/s, so reading is
as fast as the disk). ``verify="sha256"`` (or ``NBVERSION_VERIFY=sha256``) re-hashes every read
with sha2-256 instead; :meth:`PackStore.verify_all` (``nbversion fsck``) always does.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import xxhash

try:  # POSIX advisory locks; elsewhere every writer gets a fresh pack
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from ..errors import BlockNotFoundError, CorruptBlockError, CorruptIndexError, NbversionError
from ..formats.cid import CID, Buffer
from ..pool import workers
from .base import BlockStore, BlockWriter, full_disk_error, full_disk_is_ours
from .sqlite import connect, transaction

PACK_LIMIT = 1 << 30  # start a new pack once the current one holds 1 GiB
FLUSH_EVERY = 16 << 20  # while appending, start a background fdatasync every 16 MiB
RUN_LIMIT = 4 << 20  # most bytes of back-to-back blocks one worker task reads (block by block)
_PACK_NAME = re.compile(r"pack-\d+-\d+\.pack")  # as _claim_pack names them: never a path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    cid BLOB PRIMARY KEY,
    pack TEXT NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    xxh3 BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS blocks_by_pack ON blocks(pack, offset);
"""

Row = Tuple[str, int, int, bytes]  # pack, offset, length, xxh3


_flush_pool: Optional[ThreadPoolExecutor] = None


def _flusher() -> ThreadPoolExecutor:
    global _flush_pool
    if _flush_pool is None:
        _flush_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nbversion-flush")
    return _flush_pool


def _checksum(data: Buffer) -> bytes:
    return xxhash.xxh3_128_digest(data)


def _skip(views: List[memoryview], n: int) -> List[memoryview]:
    """``views`` without their first ``n`` bytes (to resume a short vectored write)."""
    out = []
    for view in views:
        if n >= len(view):
            n -= len(view)
            continue
        out.append(view[n:])
        n = 0
    return out


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _valid(cid: object, row: Row) -> Row:
    """A block's row (pack, offset, length, checksum) as read from the index, or
    :class:`CorruptIndexError` when the values cannot be a place in a pack (a damaged index)."""
    pack, offset, length, xxh = row
    if (
        isinstance(pack, str) and _PACK_NAME.fullmatch(pack) and isinstance(offset, int) and isinstance(length, int)
        and offset >= 0 and length >= 0 and isinstance(xxh, bytes)
    ):  # fmt: skip
        return row
    try:
        shown = str(cid if isinstance(cid, CID) else CID.from_bytes(cid))  # type: ignore[arg-type]
    except (NbversionError, TypeError):
        shown = repr(cid)
    raise CorruptIndexError(f"The block store's record of block {shown} is damaged. Run `nbversion fsck`.")


class PackStore(BlockStore):
    """Blocks in append-only pack files under ``path``, indexed in ``path/blocks.sqlite``."""

    def __init__(self, path: os.PathLike | str, verify: Optional[str] = None) -> None:
        self.path = Path(path)
        self.packs = self.path / "packs"
        with full_disk_is_ours(self.path):
            self.packs.mkdir(parents=True, exist_ok=True)
        self.verify = verify or os.environ.get("NBVERSION_VERIFY", "checksum")
        if self.verify not in ("checksum", "sha256"):
            raise NbversionError(f"Unknown verify mode {self.verify!r}: use 'checksum' or 'sha256'.")
        self.db = connect(self.path / "blocks.sqlite", _SCHEMA, {"blocks": ("cid", "pack", "offset", "length", "xxh3")})
        self._fds: Dict[str, int] = {}

    # -- reading ---------------------------------------------------------------------------------

    def _row(self, cid: CID) -> Optional[Row]:
        row = self.db.execute("SELECT pack, offset, length, xxh3 FROM blocks WHERE cid=?", (bytes(cid),)).fetchone()
        return None if row is None else _valid(cid, row)

    def _rows(self, cids: Sequence[CID]) -> Dict[bytes, Row]:
        found: Dict[bytes, Row] = {}
        keys = list({bytes(c) for c in cids})
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            marks = ",".join("?" * len(part))
            for cid, pack, offset, length, xxh in self.db.execute(
                f"SELECT cid, pack, offset, length, xxh3 FROM blocks WHERE cid IN ({marks})", part
            ):
                found[cid] = _valid(cid, (pack, offset, length, xxh))
        return found

    def _fd(self, pack: str) -> int:
        fd = self._fds.get(pack)
        if fd is None:
            try:
                fd = os.open(self.packs / pack, os.O_RDONLY)
            except FileNotFoundError:
                raise CorruptBlockError(f"Pack file {pack} is missing from {self.packs}. Run `nbversion fsck`.")
            self._fds[pack] = fd
        return fd

    def has(self, cid: CID) -> bool:
        return self.db.execute("SELECT 1 FROM blocks WHERE cid=?", (bytes(cid),)).fetchone() is not None

    def missing(self, cids) -> Set[CID]:
        cids = list(cids)
        found = self._rows(cids)
        return {c for c in cids if bytes(c) not in found}

    def size(self, cid: CID) -> int:
        row = self._row(cid)
        if row is None:
            raise BlockNotFoundError(f"Block {cid} is not in the store at {self.path}.")
        return row[2]

    def _check(self, cid: CID, data: Buffer, xxh: bytes) -> None:
        ok = cid.verify(data) if self.verify == "sha256" else _checksum(data) == xxh
        if not ok:
            raise CorruptBlockError(
                f"Block {cid} is corrupt: its bytes on disk no longer match its hash. "
                "Run `nbversion fsck` to see which versions it affects."
            )

    def get(self, cid: CID) -> bytes:
        row = self._row(cid)
        if row is None:
            raise BlockNotFoundError(f"Block {cid} is not in the store at {self.path}.")
        pack, offset, length, xxh = row
        data = os.pread(self._fd(pack), length, offset)
        if len(data) != length:
            raise CorruptBlockError(f"Block {cid} is truncated in pack {pack}. Run `nbversion fsck`.")
        self._check(cid, data, xxh)
        return data

    def readinto(self, files: Sequence[Tuple[Sequence[Tuple[CID, int]], memoryview]]) -> None:
        rows = self._rows([c for blocks, _ in files for c, _ in blocks])
        # Blocks that sit back to back in one pack and in one output become a single read; all
        # the reads of all the files go to the thread pool together.
        runs: List[Tuple[int, int, memoryview, int, List[Tuple[CID, int, int, bytes]]]] = []
        for blocks, out in files:
            pos = 0
            first = len(runs)
            for cid, length in blocks:
                row = rows.get(bytes(cid))
                if row is None:
                    raise BlockNotFoundError(f"Block {cid} is not in the store at {self.path}.")
                pack, offset, stored_len, xxh = row
                if stored_len != length:
                    raise CorruptBlockError(f"Block {cid} is {stored_len} bytes where its file says {length}.")
                fd = self._fd(pack)
                last = runs[-1] if len(runs) > first else None
                if last is not None and last[0] == fd and last[1] + last[3] == offset and last[3] < RUN_LIMIT:
                    last[4].append((cid, last[3], length, xxh))
                    runs[-1] = (fd, last[1], last[2], last[3] + length, last[4])
                else:
                    runs.append((fd, offset, out[pos:], length, [(cid, 0, length, xxh)]))
                pos += length
            if pos != len(out):
                raise NbversionError(f"Blocks hold {pos} bytes but {len(out)} were expected.")

        def read_run(run) -> None:
            # Block by block, each checked right after it is read, while its bytes are still in
            # the CPU's cache (checking a whole run after reading it fetches it from memory again).
            fd, start, out, total, members = run
            for cid, rel, length, xxh in members:
                view = out[rel : rel + length]
                done = 0
                while done < length:
                    n = os.preadv(fd, [view[done:]], start + rel + done)
                    if n <= 0:
                        raise CorruptBlockError(f"Block {cid} is truncated on disk. Run `nbversion fsck`.")
                    done += n
                self._check(cid, view, xxh)

        if len(runs) == 1:
            read_run(runs[0])
        else:
            for _ in workers().map(read_run, runs):
                pass

    def cids(self) -> Iterator[CID]:
        for (cid,) in self.db.execute("SELECT cid FROM blocks").fetchall():
            if not isinstance(cid, bytes):
                raise CorruptIndexError(f"The block store's index {self.path / 'blocks.sqlite'} holds a damaged row (no CID).")
            yield CID.from_bytes(cid)

    def writer(self) -> "PackWriter":
        return PackWriter(self)

    # -- pack files ------------------------------------------------------------------------------

    def _indexed_end(self, pack: str) -> int:
        row = self.db.execute(
            "SELECT offset + length FROM blocks WHERE pack=? ORDER BY offset DESC LIMIT 1", (pack,)
        ).fetchone()  # the (pack, offset) index answers this without a scan
        return row[0] if row else 0

    def _lock_pack(self, fd: int) -> bool:
        if fcntl is None:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def _claim_pack(self, fresh: bool = False) -> Tuple[str, int, int]:
        """An exclusively locked pack to append to: (name, fd, offset where new blocks start)."""
        if fcntl is not None and not fresh:
            for existing in sorted(self.packs.glob("pack-*.pack"), reverse=True)[:4]:
                try:
                    fd = os.open(existing, os.O_RDWR)
                except FileNotFoundError:
                    continue
                if self._lock_pack(fd):
                    if os.path.exists(existing):  # not unlinked by gc meanwhile
                        end = self._indexed_end(existing.name)
                        if end < PACK_LIMIT:
                            os.ftruncate(fd, end)  # drop bytes an interrupted writer left
                            return existing.name, fd, end
                os.close(fd)
        name = f"pack-{time.time_ns():020d}-{os.getpid()}.pack"
        fd = os.open(self.packs / name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        self._lock_pack(fd)
        _fsync_dir(self.packs)
        return name, fd, 0

    # -- maintenance -----------------------------------------------------------------------------

    def verify_all(self, progress: Callable[[int], None] = lambda n: None) -> Tuple[List[CID], List[CID]]:
        rows = self.db.execute("SELECT cid, pack, offset, length FROM blocks ORDER BY pack, offset").fetchall()
        if not all(isinstance(row[0], bytes) for row in rows):
            raise CorruptIndexError(f"The block store's index {self.path / 'blocks.sqlite'} holds a damaged row (no CID).")

        def check(row) -> Tuple[Optional[str], CID]:
            cid_bytes, pack, offset, length = row
            cid = CID.from_bytes(cid_bytes)
            try:
                _valid(cid, (pack, offset, length, b""))
            except CorruptIndexError:  # where the block is was recorded wrongly: its bytes cannot be found
                return "corrupt", cid
            try:
                data = os.pread(self._fd(pack), length, offset)
            except CorruptBlockError:  # its pack file is gone
                return "missing", cid
            if len(data) != length:
                return "missing", cid
            return (None if cid.verify(data) else "corrupt"), cid

        corrupt: List[CID] = []
        missing: List[CID] = []
        for i in range(0, len(rows), 256):
            batch = rows[i : i + 256]
            for (state, cid), row in zip(workers().map(check, batch), batch):
                if state == "corrupt":
                    corrupt.append(cid)
                elif state == "missing":
                    missing.append(cid)
                progress(row[3])
        return corrupt, missing

    def retain(self, live: Set[CID], progress: Callable[[int], None] = lambda n: None) -> Tuple[int, int]:
        live_keys = {bytes(c) for c in live}
        dead = [k for (k,) in self.db.execute("SELECT cid FROM blocks").fetchall() if k not in live_keys]
        with transaction(self.db) as db:
            db.executemany("DELETE FROM blocks WHERE cid=?", ((k,) for k in dead))
        freed = 0
        for path in sorted(self.packs.glob("pack-*.pack")):
            fd = os.open(path, os.O_RDWR)
            try:
                if not self._lock_pack(fd):
                    continue  # a writer is appending to it: leave it for the next gc
                rows = self.db.execute(
                    "SELECT cid, offset, length, xxh3 FROM blocks WHERE pack=? ORDER BY offset", (path.name,)
                ).fetchall()
                size = os.fstat(fd).st_size
                live_bytes = sum(r[2] for r in rows)
                if live_bytes == size:
                    continue
                if rows:
                    self._repack(fd, rows, progress)
                self._forget_fd(path.name)
                os.unlink(path)
                freed += size - live_bytes
            finally:
                os.close(fd)
        _fsync_dir(self.packs)
        return len(dead), freed

    def _repack(self, old_fd: int, rows, progress: Callable[[int], None]) -> None:
        """Copy ``rows`` (the live blocks of one pack) into a fresh pack and repoint the index."""
        writer = PackWriter(self, fresh=True)
        try:
            for cid_bytes, offset, length, _ in rows:
                data = os.pread(old_fd, length, offset)  # copied as is: fsck judges corruption
                writer.moves.append((writer.pack, writer._append(data), cid_bytes))
                progress(length)
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    def _forget_fd(self, pack: str) -> None:
        fd = self._fds.pop(pack, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for pack in list(self._fds):
            self._forget_fd(pack)
        self.db.close()


class PackWriter(BlockWriter):
    """Appends blocks to one locked pack; indexes them all at :meth:`commit`."""

    def __init__(self, store: PackStore, fresh: bool = False) -> None:
        self.store = store
        with full_disk_is_ours(store.path):
            self.pack, self._fd, self._start = store._claim_pack(fresh)
        self._pos = self._start
        self._pending: Dict[bytes, Tuple[int, int, bytes]] = {}
        self.moves: List[Tuple[str, int, bytes]] = []  # (pack, offset, cid): blocks gc relocates
        self._written = 0
        self._open = True
        self._flushed = self._start
        self._flushing: Optional[Future] = None

    @property
    def bytes_written(self) -> int:
        return self._written

    def _append(self, data: Buffer) -> int:
        view = memoryview(data).cast("B")
        offset = self._pos
        done = 0
        try:
            while done < len(view):
                done += os.pwrite(self._fd, view[done:], offset + done)
        except OSError as exc:
            raise full_disk_error(exc, self.store.path) from exc
        self._pos += len(view)
        self._maybe_flush()
        return offset

    def _maybe_flush(self) -> None:
        if self._pos - self._flushed >= FLUSH_EVERY and (self._flushing is None or self._flushing.done()):
            # Start writing what we have to disk while hashing goes on, so the fsync at commit
            # only waits for the tail.
            self._flushed = self._pos
            self._flushing = _flusher().submit(os.fdatasync, self._fd)

    def put(self, cid: CID, data: Buffer) -> None:
        self.put_many([(cid, data)])

    def put_many(self, blocks: Sequence[Tuple[CID, Buffer]]) -> None:
        """Add blocks with one index lookup for all and one ``pwritev`` per run of new ones."""
        stored = self.store._rows([cid for cid, _ in blocks])
        run: List[memoryview] = []
        run_start = self._pos
        for cid, data in blocks:
            key = bytes(cid)
            if key in self._pending or key in stored:
                continue
            view = memoryview(data).cast("B")
            self._pending[key] = (self._pos, len(view), _checksum(view))
            self._pos += len(view)
            self._written += len(view)
            run.append(view)
        total = self._pos - run_start
        done = 0
        try:
            while done < total:
                done += os.pwritev(self._fd, _skip(run, done)[:512], run_start + done)  # IOV_MAX is 1024
        except OSError as exc:
            raise full_disk_error(exc, self.store.path) from exc
        self._maybe_flush()

    def has(self, cid: CID) -> bool:
        return bytes(cid) in self._pending or self.store.has(cid)

    def is_new(self, cid: CID) -> bool:
        return bytes(cid) in self._pending

    def get(self, cid: CID) -> bytes:
        entry = self._pending.get(bytes(cid))
        if entry is None:
            return self.store.get(cid)
        offset, length, xxh = entry
        data = os.pread(self._fd, length, offset)
        self.store._check(cid, data, xxh)
        return data

    def commit(self, keep: Optional[Set[CID]] = None) -> None:
        """Fsync the pack, then index its new blocks (only those in ``keep``, if given)."""
        if not self._open:
            return
        try:
            try:
                if self._flushing is not None:
                    self._flushing.result()
                os.fsync(self._fd)
            except OSError as exc:
                raise full_disk_error(exc, self.store.path) from exc
            rows = [
                (key, self.pack, offset, length, xxh)
                for key, (offset, length, xxh) in self._pending.items()
                if keep is None or CID.from_bytes(key) in keep
            ]
            with transaction(self.store.db) as db:
                db.executemany("INSERT OR IGNORE INTO blocks VALUES (?, ?, ?, ?, ?)", rows)
                db.executemany("UPDATE blocks SET pack=?, offset=? WHERE cid=?", self.moves)
        except BaseException:
            self.abort()
            raise
        self._close()

    def abort(self) -> None:
        if not self._open:
            return
        try:
            os.ftruncate(self._fd, self._start)
        except OSError:
            pass  # the bytes are unindexed either way; gc reclaims them
        self._close()

    def _close(self) -> None:
        self._open = False
        if self._flushing is not None:
            try:
                self._flushing.result()
            except OSError:
                pass
        os.close(self._fd)  # closing releases the flock
