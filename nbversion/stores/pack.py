"""The embedded on-disk block store: append-only pack files plus a SQLite index.

Why packs and not one file per block: a 1 GiB tensor is 4,096 chunks, so a file per block means
thousands of creates and fsyncs per commit and directories of 100,000+ entries. Here blocks are
appended to a pack file (``packs/pack-*.pack``) and located through one SQLite table
(CID -> pack, offset, length, checksum). A commit costs one sequential write, one fsync and one
small transaction, and lookups stay O(log n) however many blocks there are. The write bypasses the
page cache where the file system allows (``O_DIRECT``, see :class:`_Appender`): a commit's bytes
are seldom read again soon, and filling new page cache can cost more than the disk write.

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

import collections
import errno
import mmap
import os
import re
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Deque, Dict, Iterator, List, Optional, Sequence, Set, Tuple

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
FLUSH_EVERY = 16 << 20  # appending through the page cache: start a background fdatasync every 16 MiB
ALIGN = 4096  # direct writes: file offset, length and memory are multiples of this (any sector size divides it)
BOUNCE = 4 << 20  # direct writes: bytes gathered per buffer before it is written
BOUNCES = 3  # direct writes: buffers per writer (one filling while the others are written)
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
#: readinto's ``after(file index, offset in the file, bytes, [(length, XXH3-128) of each block in them])``
AfterRead = Callable[[int, int, memoryview, Sequence[Tuple[int, bytes]]], None]


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


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    done = 0
    while done < len(view):
        done += os.pwrite(fd, view[done:], offset + done)


_spare: List[mmap.mmap] = []  # direct-write buffers, kept for the next writer (see _Appender)
_spare_lock = threading.Lock()


class _Appender:
    """Appends bytes to one pack file from ``start`` on; :meth:`sync` makes them durable.

    Direct (Linux): bytes are gathered into page-aligned buffers that the flush thread writes with
    ``O_DIRECT`` while the caller goes on hashing, so the kernel neither copies them nor allocates
    page cache for them. Filling page cache costs more than the disk write itself where memory is
    new to the kernel (on virtual machines that hand freed memory back to the host, about 3 ms per
    MiB against 1 ms for the write), and a commit's bytes are not read again soon. Only the
    unaligned edges (at most a page at each end) go through the page cache; no page is ever written
    both ways. The buffers are kept for the next writer, for the same reason. Where ``O_DIRECT``
    is refused (a file system without it, other systems), bytes go through the page cache with a
    background ``fdatasync`` every FLUSH_EVERY bytes, so the fsync at :meth:`sync` waits only for
    the tail.
    """

    def __init__(self, fd: int, path: Path, start: int, direct: bool = True) -> None:
        self.fd = fd
        self.end = start  # where the next byte goes
        self._dfd: Optional[int] = None
        if direct and hasattr(os, "O_DIRECT"):
            try:
                self._dfd = os.open(path, os.O_WRONLY | os.O_DIRECT)
            except OSError:
                pass
        # Direct: the current buffer holds file offsets [_base, end); bytes from _done on are not
        # handed to the flush thread yet.
        self._buf: Optional[mmap.mmap] = None
        self._base = start - start % ALIGN
        self._done = start
        self._free: List[mmap.mmap] = []
        self._taken = 0
        self._inflight: Deque[Tuple[Future, Optional[mmap.mmap]]] = collections.deque()
        self._flushed = start  # through the page cache: where the last background fdatasync began

    @property
    def direct(self) -> bool:
        return self._dfd is not None

    def append(self, views: Sequence[memoryview]) -> None:
        """Append ``views`` back to back (an OSError of an earlier write may surface here)."""
        if self._dfd is None and self._buf is None:
            total = sum(len(v) for v in views)
            done = 0
            while done < total:
                done += os.pwritev(self.fd, _skip(list(views), done)[:512], self.end + done)  # IOV_MAX is 1024
            self.end += total
            if self.end - self._flushed >= FLUSH_EVERY and (not self._inflight or self._inflight[-1][0].done()):
                self._flushed = self.end
                self._inflight.append((_flusher().submit(os.fdatasync, self.fd), None))
            return
        for view in views:
            while len(view):
                if self._buf is None:
                    self._buf = self._take()
                used = self.end - self._base
                n = min(BOUNCE - used, len(view))
                self._buf[used : used + n] = view[:n]
                self.end += n
                view = view[n:]
                if self.end - self._base == BOUNCE:
                    job = _flusher().submit(self._write, self._buf, self._base, self._done, self.end)
                    self._inflight.append((job, self._buf))
                    self._buf, self._base, self._done = None, self.end, self.end

    def _take(self) -> mmap.mmap:
        """A free buffer: a spare one, a new one, or the oldest in flight once it is written."""
        if self._free:
            return self._free.pop()
        if self._taken < BOUNCES:
            self._taken += 1
            with _spare_lock:
                if _spare:
                    return _spare.pop()
            return mmap.mmap(-1, BOUNCE)
        while True:
            future, buf = self._inflight.popleft()
            future.result()
            if buf is not None:
                return buf

    def _write(self, buf: mmap.mmap, base: int, lo: int, hi: int) -> None:
        """Write file offsets [lo, hi) from ``buf`` (which starts at ``base``): the aligned middle
        directly, the partial pages at either end through the page cache."""
        view = memoryview(buf)
        head = min(-(-lo // ALIGN) * ALIGN, hi)
        tail = max(hi - hi % ALIGN, head)
        _pwrite_all(self.fd, view[lo - base : head - base], lo)
        done = head
        while done < tail:
            dfd = self._dfd
            if dfd is None:
                _pwrite_all(self.fd, view[done - base : tail - base], done)
                break
            try:
                done += os.pwrite(dfd, view[done - base : tail - base], done)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                self._dfd = None  # refused here: the page cache from now on
                os.close(dfd)
        _pwrite_all(self.fd, view[tail - base : hi - base], tail)

    def drain(self) -> None:
        """Write out every byte appended so far and wait for all writes (after this, pending
        blocks can be read back from the file)."""
        while self._inflight:
            future, buf = self._inflight.popleft()
            if buf is not None:
                self._free.append(buf)
            future.result()
        if self._buf is not None and self.end > self._done:
            self._write(self._buf, self._base, self._done, self.end)
            # Bytes before _done are never written again, so the buffer may start over at the
            # last partial page (the one later bytes join).
            self._base, self._done = self.end - self.end % ALIGN, self.end

    def sync(self) -> None:
        """Make every appended byte durable (the pack's size included)."""
        self.drain()
        os.fsync(self.fd)

    def close(self) -> None:
        """Wait for writes still under way (errors dropped: the caller is giving up or done) and
        keep the buffers for the next writer."""
        while self._inflight:
            future, buf = self._inflight.popleft()
            if buf is not None:
                self._free.append(buf)
            try:
                future.result()
            except OSError:
                pass
        if self._buf is not None:
            self._free.append(self._buf)
            self._buf = None
        with _spare_lock:
            _spare.extend(self._free[: max(0, BOUNCES - len(_spare))])
        self._free = []
        if self._dfd is not None:
            os.close(self._dfd)
            self._dfd = None


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

    def __init__(self, path: os.PathLike | str, verify: Optional[str] = None, direct: bool = True) -> None:
        self.path = Path(path)
        self.packs = self.path / "packs"
        with full_disk_is_ours(self.path):
            self.packs.mkdir(parents=True, exist_ok=True)
        self.verify = verify or os.environ.get("NBVERSION_VERIFY", "checksum")
        if self.verify not in ("checksum", "sha256"):
            raise NbversionError(f"Unknown verify mode {self.verify!r}: use 'checksum' or 'sha256'.")
        self.db = connect(self.path / "blocks.sqlite", _SCHEMA, {"blocks": ("cid", "pack", "offset", "length", "xxh3")})
        self._fds: Dict[str, int] = {}
        self.direct = direct  # write with O_DIRECT where the file system allows (see _Appender)

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
            ).fetchall():  # (one call: iterating the cursor costs a wrapped call a row)
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

    def readinto(
        self, files: Sequence[Tuple[Sequence[Tuple[CID, int]], memoryview]], after: Optional[AfterRead] = None
    ) -> None:
        rows = self._rows([c for blocks, _ in files for c, _ in blocks])
        # Blocks that sit back to back in one pack and in one output become a single read; all
        # the reads of all the files go to the thread pool together.
        runs: List[Tuple[int, int, memoryview, int, List[Tuple[CID, int, int, bytes]], int, int]] = []
        for index, (blocks, out) in enumerate(files):
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
                    runs[-1] = (fd, last[1], last[2], last[3] + length, last[4], index, last[6])
                else:
                    runs.append((fd, offset, out[pos:], length, [(cid, 0, length, xxh)], index, pos))
                pos += length
            if pos != len(out):
                raise NbversionError(f"Blocks hold {pos} bytes but {len(out)} were expected.")

        def read_run(run) -> None:
            # Block by block, each checked right after it is read, while its bytes are still in
            # the CPU's cache (checking a whole run after reading it fetches it from memory again).
            fd, start, out, total, members, index, base = run
            for cid, rel, length, xxh in members:
                view = out[rel : rel + length]
                done = 0
                while done < length:
                    n = os.preadv(fd, [view[done:]], start + rel + done)
                    if n <= 0:
                        raise CorruptBlockError(f"Block {cid} is truncated on disk. Run `nbversion fsck`.")
                    done += n
                self._check(cid, view, xxh)
            if after is not None:  # once per run: each call costs hand-overs of the interpreter lock
                after(index, base, out[:total], [(length, xxh) for _, _, length, xxh in members])

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
            self._out = _Appender(self._fd, store.packs / self.pack, self._start, store.direct)
        self._pending: Dict[bytes, Tuple[int, int, bytes]] = {}
        self.moves: List[Tuple[str, int, bytes]] = []  # (pack, offset, cid): blocks gc relocates
        self._written = 0
        self._open = True

    @property
    def bytes_written(self) -> int:
        return self._written

    def _append(self, data: Buffer) -> int:
        offset = self._out.end
        try:
            self._out.append([memoryview(data).cast("B")])
        except OSError as exc:
            raise full_disk_error(exc, self.store.path) from exc
        return offset

    def put(self, cid: CID, data: Buffer) -> None:
        self.put_many([(cid, data)])

    def put_many(self, blocks: Sequence[Tuple[CID, Buffer]]) -> None:
        """Add blocks with one index lookup for all; the new ones are appended in order."""
        stored = self.store._rows([cid for cid, _ in blocks])
        run: List[memoryview] = []
        first = offset = self._out.end
        try:
            for cid, data in blocks:
                key = bytes(cid)
                if key in self._pending or key in stored:
                    continue
                view = memoryview(data).cast("B")
                if self._out.direct:
                    self._out.append([view])  # copied first: the checksum then reads it from the CPU's cache
                else:
                    run.append(view)
                self._pending[key] = (offset, len(view), _checksum(view))
                offset += len(view)
            self._out.append(run)
        except OSError as exc:
            raise full_disk_error(exc, self.store.path) from exc
        self._written += offset - first

    def has(self, cid: CID) -> bool:
        return bytes(cid) in self._pending or self.store.has(cid)

    def is_new(self, cid: CID) -> bool:
        return bytes(cid) in self._pending

    def get(self, cid: CID) -> bytes:
        entry = self._pending.get(bytes(cid))
        if entry is None:
            return self.store.get(cid)
        offset, length, xxh = entry
        try:
            self._out.drain()
        except OSError as exc:
            raise full_disk_error(exc, self.store.path) from exc
        data = os.pread(self._fd, length, offset)
        self.store._check(cid, data, xxh)
        return data

    def commit(self, keep: Optional[Set[CID]] = None) -> None:
        """Fsync the pack, then index its new blocks (only those in ``keep``, if given)."""
        if not self._open:
            return
        try:
            try:
                self._out.sync()
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
        self._out.close()  # no write may land after the cut
        try:
            os.ftruncate(self._fd, self._start)
        except OSError:
            pass  # the bytes are unindexed either way; gc reclaims them
        self._close()

    def _close(self) -> None:
        self._open = False
        self._out.close()
        os.close(self._fd)  # closing releases the flock
