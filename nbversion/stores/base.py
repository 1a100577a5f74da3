"""The block store interface every back-end implements.

A block store maps CIDs to bytes. Writes go through a :class:`BlockWriter`: blocks handed to it
become durable, and visible to readers, only when the writer closes without error; an error
(or a crash) leaves the store as it was. Every read is checked against the block's hash.

Back-ends are found by name through :mod:`nbversion.stores.registry`.
"""

from __future__ import annotations

import abc
import contextlib
import errno
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

import xxhash

from ..errors import NbversionError, StoreFullError
from ..formats.cid import CID, Buffer

#: What the kernel says when a write cannot fit: no space (or inode), a quota, a file size limit.
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def full_disk_error(exc: OSError, path: Path) -> Exception:
    """:class:`StoreFullError` (one line) for an OSError that says the disk holding ``path`` is
    full, else ``exc`` itself."""
    if exc.errno in FULL_ERRNOS and not isinstance(exc, NbversionError):
        return StoreFullError(
            exc.errno,
            f"The disk holding {path} is full; nothing was committed. Free some space "
            "(`nbversion gc` reclaims unused blocks) and try again.",
        )
    return exc


@contextlib.contextmanager
def full_disk_is_ours(path: Path) -> Iterator[None]:
    """Turn a full disk met by the file operations inside into :class:`StoreFullError`."""
    try:
        yield
    except OSError as exc:
        mine = full_disk_error(exc, path)
        if mine is exc:
            raise
        raise mine from exc


class BlockWriter(abc.ABC):
    """Collects new blocks; they land together when the ``with`` block exits cleanly."""

    @abc.abstractmethod
    def put(self, cid: CID, data: Buffer) -> None:
        """Add a block. The caller vouches that ``data`` hashes to ``cid``."""

    def put_many(self, blocks: Sequence[Tuple[CID, Buffer]]) -> None:
        """Add several blocks (a back-end may write them in parallel)."""
        for cid, data in blocks:
            self.put(cid, data)

    @abc.abstractmethod
    def has(self, cid: CID) -> bool:
        """Whether the block is in the store or already put through this writer."""

    @abc.abstractmethod
    def get(self, cid: CID) -> bytes:
        """A block from the store or from this writer's pending blocks."""

    @abc.abstractmethod
    def is_new(self, cid: CID) -> bool:
        """Whether this writer added the block (it was not stored before)."""

    @property
    @abc.abstractmethod
    def bytes_written(self) -> int:
        """How many bytes of new blocks this writer has put (duplicates skipped)."""

    def __enter__(self) -> "BlockWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    @abc.abstractmethod
    def commit(self, keep: Optional[Set[CID]] = None) -> None:
        """Make every put block (only those in ``keep``, if given) durable and visible."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Forget every put block."""


class BlockStore(abc.ABC):
    """Content-addressed block storage."""

    @classmethod
    def open(cls, location: Path, **options: Any) -> "BlockStore":
        """The store kept at ``location`` (a repository's ``blocks/`` folder), created if new."""
        return cls(location, **options)  # type: ignore[call-arg]

    @abc.abstractmethod
    def has(self, cid: CID) -> bool:
        """Whether the block is stored."""

    def missing(self, cids: Iterable[CID]) -> Set[CID]:
        """Which of ``cids`` are not stored."""
        return {c for c in cids if not self.has(c)}

    @abc.abstractmethod
    def get(self, cid: CID) -> bytes:
        """The block's bytes, verified; :class:`BlockNotFoundError` or :class:`CorruptBlockError`."""

    @abc.abstractmethod
    def size(self, cid: CID) -> int:
        """The block's length in bytes."""

    @abc.abstractmethod
    def writer(self) -> BlockWriter:
        """A writer for new blocks (use it as a context manager)."""

    @abc.abstractmethod
    def cids(self) -> Iterator[CID]:
        """Every stored block's CID."""

    def readinto(self, files: Sequence[Tuple[Sequence[Tuple[CID, int]], memoryview]],
                 after: Optional[Callable[[int, int, memoryview, Sequence[Tuple[int, bytes]]], None]] = None,
                 ) -> None:  # fmt: skip
        """For each (blocks, out): read the (CID, length) blocks in order, back to back, into
        ``out``, verifying each. Back-ends override this to read in parallel without copies.
        ``after(file index, offset, bytes, [(length, checksum) of each block in them])`` is called
        once blocks are in place and checked (on any thread, in any order; ``checksum`` is the
        XXH3-128 of the block's bytes, which the store keeps)."""
        for index, (blocks, out) in enumerate(files):
            pos = 0
            for cid, length in blocks:
                data = self.get(cid)
                if len(data) != length:
                    raise NbversionError(f"Block {cid} is {len(data)} bytes where {length} were expected.")
                out[pos : pos + length] = data
                if after is not None:
                    after(index, pos, out[pos : pos + length], [(length, xxhash.xxh3_128_digest(data))])
                pos += length

    @abc.abstractmethod
    def verify_all(self, progress: Callable[[int], None] = lambda n: None) -> Tuple[List[CID], List[CID]]:
        """Re-hash every block with sha2-256: (corrupt CIDs, missing CIDs)."""

    @abc.abstractmethod
    def retain(self, live: Set[CID], progress: Callable[[int], None] = lambda n: None) -> Tuple[int, int]:
        """Drop every block not in ``live`` and reclaim space: (blocks removed, bytes freed)."""

    def close(self) -> None:
        """Release files and connections."""
