"""Pull: fetch a version (and its history) from an IPFS node by CID, verify it, keep it.

How it goes:

1. **Fetch.** Walk the DAG from the version's CID. A block the local store already holds is not
   asked for (tree nodes are read locally to follow their links). Records and manifests come one
   ``block/get`` at a time. A manifest (or shard) none of whose files is here comes whole in one
   ``dag/export`` (a node spends milliseconds on every request, so one stream beats a request
   per file): each block is accepted only if a block before it links to it, tree nodes are
   checked as they arrive, raw leaves too (on two cores; with more, on the worker threads a few
   MiB at a time while the next arrive: :data:`HASH_INLINE`), the stream is read straight from
   the connection, and nothing is written before it is checked; if the node fails in the middle,
   what came and checks out is kept and the rest is asked for file by file. Other missing tensor
   files come by content: each is read with ``cat`` (several files in flight at once,
   received a few MiB ahead while the bytes already here are hashed and written), cut into
   256 KiB leaves and linked into a balanced tree as nbversion and Kubo lay files out, and kept
   only if the rebuilt root is the file's CID, which checks every block of it (the read is bounded
   by the size the manifest declares). A file laid out otherwise, or bytes the node got wrong,
   fail that check, and the walk fetches that file's blocks as they are: its root by
   ``block/get``, then what it links to in one ``dag/export`` (each block checked against its CID
   as it arrives, and accepted only if the root or a block under it links to it), or one by one
   where some are here. So a first pull streams each manifest's blocks in one request, and a
   pull of the next version of a model fetches only the changed files.
2. **Check.** Every version reached is decoded and its content checked exactly as a CAR import
   checks a stranger's file (:func:`.transfer._versions_in`): names, manifests, files, sizes.
3. **Publish.** Under the repository lock, index the versions and give a model that had none a
   ``main`` branch. An existing model's head does not move (check out the pulled CID to use it).

Resuming: fetched blocks are committed to the local store in batches as they arrive (every
:data:`CHECKPOINT` bytes, and whatever was fetched when the pull stops on an error). Until step
3 they are unreachable: no version, ref or listing names them, and ``gc`` would drop them. A pull
that is interrupted (a node that dies or stalls, a block with wrong bytes, Ctrl-C) leaves the
repository's versions and refs exactly as they were; run it again and the walk finds those
blocks locally and fetches only the rest (a file whose reading broke off is not asked for again
whole: its leaves so far, and the tree nodes over whole runs of them, were kept, so the walk finds
them under the file's root and fetches the rest block by block).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Callable, Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from ..errors import (
    CarError, CorruptBlockError, FormatError, InvalidCIDError, PullError, RemoteTimeoutError,
    RemoteUnreachableError, UnknownRefError,
)  # fmt: skip
from ..formats import dagcbor
from ..formats.car import read_car, sections
from ..formats.cid import CID, DAG_CBOR, DAG_PB, RAW
from ..formats.records import MAX_TENSOR_BYTES, Version
from ..formats.unixfs import CHUNK_SIZE, GROUP, MAX_LINKS, FileLink, decode_node, encode_file_node
from ..pool import workers
from ..stores.base import BlockWriter
from .dag import stored_size
from .remotes import open_remote
from .transfer import _publish, _versions_in

if TYPE_CHECKING:
    from . import Repo

Progress = Optional[Callable[[int], None]]
CHECKPOINT = 64 << 20  # commit fetched blocks to the local store every 64 MiB (each commit waits for an fsync)


@dataclass(frozen=True)
class PullReport:
    """What a pull did: the versions it added (parents first; empty if all were here), the
    blocks and bytes it fetched, and the blocks it found locally (from earlier pulls, commits,
    or an interrupted pull of the same version)."""

    remote: str
    root: CID
    versions: List[Version]
    blocks_fetched: int
    bytes_fetched: int
    blocks_local: int


def _root(cid: object) -> CID:
    if isinstance(cid, CID):
        return cid
    try:
        root = CID.parse(str(cid).strip())
    except InvalidCIDError:
        raise UnknownRefError(
            f"Pull takes the full CID of a version (bafy...), not {str(cid)[:80]!r}: a node knows no names."
        ) from None
    if root.codec != DAG_CBOR:
        raise PullError(f"{root} is not a version's CID (a version is a dag-cbor block; this CID names another codec).")
    return root


HASHING = 2  # groups of leaves being hashed at once (on the shared pool) while the next bytes arrive


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


#: Whether a streamed DAG's leaves are hashed as they arrive, on the thread reading the stream,
#: rather than on the worker threads. On two cores or fewer it is: a node on the same machine
#: needs one of them, so the workers cannot run beside the reader anyway, and hashing a leaf
#: while it is in the CPU's cache, without hand-offs between threads, costs a fifth less CPU
#: (256 MiB from a js-ipfs node on 2 cores: 0.44 s here against 0.55 s, and the pull 1.1 s
#: against 1.5 s). With more cores the workers hash in parallel with the reading.
HASH_INLINE = _usable_cores() <= 2


class _Rebuild:
    """A UnixFS file rebuilt from its bytes as they arrive, cut and linked as nbversion and Kubo
    (``ipfs add --cid-version=1 --raw-leaves``) make it: 256 KiB raw leaves, a balanced tree of
    at most 174 links per node. Leaves are hashed 4 MiB at a time on the shared thread pool (while
    the next bytes arrive and the last ones are written) and handed to ``put_leaves`` in order, so
    a file of any size costs a few MiB of memory; :meth:`finish` links them and says whether the
    root is the CID the bytes were asked for, which proves every block of the file right."""

    def __init__(self, cid: CID, length: int, put_leaves: Callable[[List[Tuple[CID, memoryview]]], None]) -> None:
        self.cid, self.length, self.put_leaves = cid, length, put_leaves
        self.received = 0
        self.partial = bytearray()  # the start of a leaf that came in pieces
        self.group: List[memoryview] = []  # whole leaves, not yet hashed
        self.hashing: "collections.deque[Future]" = collections.deque()  # groups being hashed, in order
        self.leaves: List[FileLink] = []  # handed over

    def feed(self, piece: bytes) -> bool:
        """Take the next piece of the file; False once more bytes came than the file has."""
        self.received += len(piece)
        if self.received > self.length:
            return False
        view = memoryview(piece)
        if self.partial:
            n = min(len(view), CHUNK_SIZE - len(self.partial))
            self.partial += view[:n]
            view = view[n:]
            if len(self.partial) == CHUNK_SIZE:
                self._leaf(memoryview(bytes(self.partial)))
                self.partial.clear()
        while len(view) >= CHUNK_SIZE:  # whole leaves are hashed where they lie, uncopied
            self._leaf(view[:CHUNK_SIZE])
            view = view[CHUNK_SIZE:]
        self.partial += view
        return True

    def _leaf(self, view: memoryview) -> None:
        self.group.append(view)
        if len(self.group) >= GROUP:
            self._hash_group()

    def _hash_group(self) -> None:
        if self.group:
            self.hashing.append(workers().submit(_raw_leaves, self.group))
            self.group = []
        while len(self.hashing) > HASHING:
            self._hand_over(self.hashing.popleft().result())

    def _hand_over(self, leaves: List[Tuple[CID, memoryview]]) -> None:
        self.put_leaves(leaves)
        self.leaves += [FileLink(cid, len(view), len(view)) for cid, view in leaves]

    def whole_subtrees(self) -> List[Tuple[CID, bytes]]:
        """The tree nodes over the leaves handed over so far that are complete (each linking
        ``MAX_LINKS`` children): what an interrupted fetch keeps besides the leaves, so that a
        retry finds them under the file's root and fetches only the rest."""
        nodes: List[Tuple[CID, bytes]] = []
        level = self.leaves
        while len(level) >= MAX_LINKS:
            whole = len(level) - len(level) % MAX_LINKS
            level = [_tree_node(level[i : i + MAX_LINKS], nodes) for i in range(0, whole, MAX_LINKS)]
        return nodes

    def finish(self) -> Optional[List[Tuple[CID, bytes]]]:
        """The file's tree nodes (bottom up) if all its bytes came and its root is the CID asked
        for, else None."""
        if self.received != self.length:
            return None
        if self.partial or not (self.leaves or self.group or self.hashing):  # the last leaf (an empty file has one)
            self._leaf(memoryview(bytes(self.partial)))
        self._hash_group()
        while self.hashing:
            self._hand_over(self.hashing.popleft().result())
        nodes: List[Tuple[CID, bytes]] = []
        level = self.leaves
        while len(level) > 1:
            level = [_tree_node(level[i : i + MAX_LINKS], nodes) for i in range(0, len(level), MAX_LINKS)]
        return nodes if level[0].cid == self.cid else None


class Fetcher:
    """Walks a DAG into the local store, fetching only what it lacks, committing in batches.
    ``fetch_block``, ``fetch_dag`` and ``fetch_files`` fetch one block, one streamed DAG, or
    whole tensor files (for callers that choose what to fetch themselves, e.g. loading one
    version's tensors on demand)."""

    def __init__(self, repo: "Repo", node, progress: Progress) -> None:
        self.repo, self.node, self.progress = repo, node, progress
        self.writer: BlockWriter = repo.store.writer()
        self.fetched = self.fetched_bytes = self.local = 0
        self.stored: Set[CID] = set()  # the blocks this pull fetched
        self._since_checkpoint = 0
        self.complete: Set[CID] = set()  # files this pull rebuilt whole: every block under them is here
        self.not_rebuilt: Set[CID] = set()  # files whose bytes did not rebuild them: fetched block by block
        self.links: Dict[CID, List[CID]] = {}  # what the (checked) non-raw blocks this pull fetched link to

    def _checkpoint(self) -> None:
        self.writer.commit()
        self.writer = self.repo.store.writer()
        self._since_checkpoint = 0

    def fetch_block(self, cid: CID) -> bytes:
        block = self.node.get(cid)  # checked against its CID: other bytes are refused
        if cid.codec != RAW:
            self.links[cid] = dagcbor.block_links(cid, block)
        self._store(cid, block)
        return block

    def _store(self, cid: CID, block: bytes) -> None:
        self._store_many([(cid, block)])
        if self._since_checkpoint >= CHECKPOINT:
            self._checkpoint()

    def _store_many(self, blocks: Sequence[Tuple[CID, "bytes | memoryview"]]) -> None:
        """Write checked blocks (those not here yet), count them and report each to ``progress``."""
        offered = [(cid, block) for cid, block in blocks if cid not in self.stored and not self.writer.is_new(cid)]
        if not offered:
            return
        self.writer.put_many(offered)  # skips what the store holds already
        for cid, block in offered:
            if cid in self.stored or not self.writer.is_new(cid):
                continue  # here before, or twice in this lot (a file that repeats a leaf)
            self.stored.add(cid)
            self.fetched += 1
            self.fetched_bytes += len(block)
            self._since_checkpoint += len(block)
            if self.progress is not None:
                self.progress(len(block))

    def fetch_dag(self, cid: CID, node_timeout: bool = True) -> None:
        """Fetch the DAG under ``cid`` in one streamed ``dag/export``: each block checked against
        its CID as it arrives, accepted only if ``cid`` or a block under it links to it, and
        written unless it is here already. The walk then goes through the subtree as usual (now
        locally), fetching one by one whatever a stream that ended early left out."""
        try:
            with contextlib.closing(self.node.export(cid, node_timeout)) as stream:
                self._read_export(cid, stream)
        except CarError as exc:
            raise CorruptBlockError(
                f"The IPFS node at {self.node.api} sent a CAR of {cid} that was refused: {exc} Nothing was published."
            ) from exc

    def _read_export(self, cid: CID, stream: BinaryIO) -> None:
        """Take the blocks of a ``dag/export`` of ``cid``: each must be linked from ``cid`` or a
        block before it (exports come depth first). Tree nodes and records are checked at once
        (their links say what may follow); raw leaves as they arrive or on the worker threads
        (:data:`HASH_INLINE`), and each is written only once checked. If the stream breaks off,
        the leaves that came and check out are kept too."""
        expected = {cid}
        read_car(stream)  # the header (its roots are not trusted: ``cid`` is what was asked for)
        leaves = _CheckedLeaves(self._store_checked, inline=HASH_INLINE)
        try:
            for got, block in sections(stream, _read_section):
                if got not in expected:
                    raise PullError(f"The IPFS node at {self.node.api} sent block {got}, which {cid} does not link to.")
                if got.codec == RAW:
                    leaves.add(got, block)
                    continue
                block = bytes(block)
                if not got.verify(block):
                    raise CarError(f"Block {got} in the CAR does not match its hash; the file is corrupt or forged.")
                links = dagcbor.block_links(got, block)
                expected.update(links)
                self.links[got] = links
                if not self.writer.is_new(got):
                    self._store_checked([(got, block)])
        except (RemoteTimeoutError, RemoteUnreachableError):
            with contextlib.suppress(Exception):  # the node's failure is the error to see
                leaves.finish()
            raise
        except BaseException:
            leaves.abandon()
            raise
        leaves.finish()

    def _store_checked(self, blocks: Sequence[Tuple[CID, "bytes | memoryview"]]) -> None:
        """:meth:`_store_many`, committing to the local store every :data:`CHECKPOINT` bytes."""
        self._store_many(blocks)
        if self._since_checkpoint >= CHECKPOINT:
            self._checkpoint()

    def fetch_files(self, files: Sequence[Tuple[CID, int]]) -> List[CID]:
        """Fetch tensor files, given as (file CID, length in bytes), by their content: one ``cat``
        each (as fast as the node serves a file), received a few MiB ahead while the bytes already
        here are cut into 256 KiB leaves, hashed and written, and the file's tree rebuilt. A file
        is kept only if the rebuilt root is its CID (which checks every block of it); the files
        that were not (made with other settings, or bytes the node got wrong) are returned, for
        the caller to fetch block by block. Leaves written before a file fails its check are
        blocks under their own CIDs, unreachable until something links them."""
        failed = [cid for cid, length in files if not 0 <= length <= MAX_TENSOR_BYTES]
        files = [(cid, length) for cid, length in files if 0 <= length <= MAX_TENSOR_BYTES]
        current: Optional[_Rebuild] = None
        try:
            with contextlib.closing(self.node.cat_files(files)) as pieces:
                for index, piece in pieces:
                    cid, length = files[index]
                    if current is None or current.cid != cid:
                        current = _Rebuild(cid, length, self._store_many)
                    if piece is not None:
                        if not current.feed(piece):
                            raise PullError(
                                f"The IPFS node at {self.node.api} sent more than the {length:,} bytes of {cid} it was "
                                "asked for. Nothing was published."
                            )
                        continue
                    nodes = current.finish()
                    if nodes is None:
                        failed.append(cid)
                        self.not_rebuilt.add(cid)
                    else:
                        self._store_many(nodes)
                        self.complete.add(cid)
                        if self._since_checkpoint >= CHECKPOINT:
                            self._checkpoint()
                    current = None
        except BaseException:
            if current is not None:
                with contextlib.suppress(Exception):  # the error that stopped the fetch is the one to see
                    self._store_many(current.whole_subtrees())
            raise
        return failed

    def _stream_whole(self, cid: CID, links: List[CID]) -> bool:
        """Whether to fetch what ``cid`` links to in one stream: a manifest (or shard) none of
        whose tensors' files is here, or a file (a dag-pb node) none of whose pieces is here.
        Where some are here, the others come one by one, so nothing here is fetched twice."""
        data = [link for link in links if link.codec in (DAG_PB, RAW)]
        return len(data) > 1 and not any(self.writer.has(link) for link in data)

    def _fetch_under(self, cid: CID, block: bytes, links: List[CID]) -> None:
        """Fetch in bulk what a block just fetched links to, where that pays: the files of a
        manifest (or shard) that are not here, by content (:meth:`fetch_files`); a file's pieces,
        none of which is here, the same way. What that leaves out the walk fetches one by one."""
        if cid.codec == DAG_CBOR:
            sizes = dict(_manifest_files(block))
            absent = self.repo.store.missing(sizes)  # one query for all
            missing = [(data, size) for data, size in sizes.items() if data in absent and not self.writer.is_new(data)]
            if len(missing) > 1 and self._stream_whole(cid, links):
                # None here: one stream of all of it beats a request per file (a node spends
                # milliseconds on each request). If the node fails in the middle, what came is
                # kept and the files still missing are asked for one by one, which names the
                # block the node lacks.
                try:
                    self.fetch_dag(cid, node_timeout=False)  # (a node that lacks a block stalls: asked again below)
                except (RemoteTimeoutError, RemoteUnreachableError):
                    rest = self.repo.store.missing(sizes)
                    missing = [(data, size) for data, size in missing if data in rest and not self.writer.is_new(data)]
                else:
                    missing = []
            if missing:
                self.fetch_files(missing)
        elif cid.codec == DAG_PB and self._stream_whole(cid, links):
            size = decode_node(block).filesize if cid not in self.not_rebuilt else None
            if size is None or self.fetch_files([(cid, size)]):
                self.fetch_dag(cid)  # not laid out as nbversion lays files out: its blocks as they are

    def walk(self, root: CID) -> None:
        seen: Set[CID] = set()
        stack = [root]
        try:
            while stack:
                cid = stack.pop()
                if cid in seen:
                    continue
                seen.add(cid)
                if cid in self.complete:
                    continue  # rebuilt from its bytes here: all of it is stored
                if cid in self.stored and (cid.codec == RAW or cid in self.links):
                    stack.extend(reversed(self.links.get(cid, [])))  # fetched and checked here: not read back
                    continue
                if self.writer.has(cid):
                    if cid not in self.stored:
                        self.local += 1
                    if cid.codec != RAW:
                        stack.extend(reversed(dagcbor.block_links(cid, self.writer.get(cid))))
                    continue
                block = self.fetch_block(cid)
                if cid.codec == RAW:
                    continue
                links = dagcbor.block_links(cid, block)
                self._fetch_under(cid, block, links)
                stack.extend(reversed(links))
        except BaseException:
            self._keep()
            raise
        self._checkpoint()

    def _keep(self) -> None:
        """Keep the verified blocks fetched so far (unreachable until a pull publishes them)."""
        try:
            self.writer.commit()
        except Exception:
            self.writer.abort()


def _read_section(stream: BinaryIO, size: int) -> memoryview:
    """The next ``size`` bytes of a CAR (one copy, into memory of their own, not zeroed first)."""
    view = memoryview(np.empty(size, dtype=np.uint8))
    done = 0
    while done < size:
        n = stream.readinto(view[done:])  # type: ignore[attr-defined]
        if not n:
            raise CarError(f"The CAR is truncated: a section wanted {size} bytes, {size - done} were missing.")
        done += n
    return view


class _CheckedLeaves:
    """Raw leaves of a CAR being read, handed to ``put`` in order, a group at a time, once each is
    found to be what its CID says. ``inline``: each is hashed as it is added, on this thread, while
    its bytes are still in the CPU's cache; else groups are hashed on the worker threads while the
    next arrive (see :data:`HASH_INLINE`)."""

    def __init__(self, put: Callable[[List[Tuple[CID, memoryview]]], None], inline: bool = False) -> None:
        self.put, self.inline = put, inline
        self.group: List[Tuple[CID, memoryview]] = []
        self.size = 0
        self.hashing: "collections.deque[Future]" = collections.deque()

    def add(self, cid: CID, block: memoryview) -> None:
        if self.inline:
            try:
                _checked([(cid, block)])
            except _BadLeaf:
                self._submit()  # the leaves before it are right: kept for a retry
                raise
        self.group.append((cid, block))
        self.size += len(block)
        if self.size >= GROUP * CHUNK_SIZE:
            self._submit()
        while len(self.hashing) > HASHING:
            self._hand_over()

    def _hand_over(self) -> None:
        try:
            leaves = self.hashing.popleft().result()
        except _BadLeaf as bad:
            self.abandon()
            self.put(bad.good)  # the leaves before it are right: kept for a retry
            raise
        self.put(leaves)

    def _submit(self) -> None:
        if self.group:
            group, self.group, self.size = self.group, [], 0
            if self.inline:
                self.put(group)  # checked as each came
            else:
                self.hashing.append(workers().submit(_checked, group))

    def finish(self) -> None:
        """Check and hand over every leaf taken (the first that does not check out raises)."""
        self._submit()
        while self.hashing:
            self._hand_over()

    def abandon(self) -> None:
        """Hand over nothing more (the leaves not handed over yet are dropped)."""
        self.group = []
        for future in self.hashing:
            future.cancel()
        self.hashing.clear()


def _checked(leaves: List[Tuple[CID, memoryview]]) -> List[Tuple[CID, memoryview]]:
    """``leaves`` if each hashes to its CID, else :class:`CarError` naming the first that does
    not (the leaves before it are handed over first). On the thread pool: hashlib lets go of the GIL."""
    for i, (cid, block) in enumerate(leaves):
        if hashlib.sha256(block).digest() != cid.digest:
            raise _BadLeaf(leaves[:i], cid)
    return leaves


class _BadLeaf(CarError):
    def __init__(self, good: List[Tuple[CID, memoryview]], cid: CID) -> None:
        super().__init__(f"Block {cid} in the CAR does not match its hash; the file is corrupt or forged.")
        self.good = good


def _tree_node(children: List[FileLink], out: List[Tuple[CID, bytes]]) -> FileLink:
    """The tree node (as Kubo writes them) linking ``children``; its block is appended to ``out``."""
    block = encode_file_node(children)
    cid = CID.hash(DAG_PB, block)
    out.append((cid, block))
    return FileLink(cid, len(block) + sum(c.tsize for c in children), sum(c.filesize for c in children))


def _raw_leaves(views: List[memoryview]) -> List[Tuple[CID, memoryview]]:
    """Each view as a raw leaf: (its CID, it). On the thread pool: hashlib lets go of the GIL."""
    return [(CID(RAW, hashlib.sha256(view).digest()), view) for view in views]


def _manifest_files(block: bytes) -> List[Tuple[CID, int]]:
    """The (file CID, length) of each tensor a manifest block (or a shard of one) lists; empty for
    any other block. Not checked here: a length that is wrong only makes that file's rebuilt root
    differ, and the whole version is checked before anything is published."""
    try:
        obj = dagcbor.decode(block)
    except FormatError:
        return []
    tensors = obj.get("tensors") if isinstance(obj, dict) else None
    files: List[Tuple[CID, int]] = []
    for entry in tensors if isinstance(tensors, list) else []:
        if not isinstance(entry, dict):
            continue
        size = entry.get("size")
        try:
            data = dagcbor.as_cid(entry.get("data"), "a tensor's data")
        except FormatError:
            continue
        if data.codec in (RAW, DAG_PB) and isinstance(size, int) and not isinstance(size, bool):
            files.append((data, size))
    return files


def pull(
    repo: "Repo",
    cid: "CID | str",
    remote: str = "",
    progress: Progress = None,
    timeout: float = 30.0,
    fetch_timeout: float = 60.0,
) -> PullReport:
    """Fetch the version ``cid`` and its history from the IPFS node ``remote`` (a remote's name or
    an RPC address), verify all of it, and add it to the repository (see the module docstring).
    ``progress`` gets the length of each block fetched."""
    root = _root(cid)
    node = open_remote(repo, remote, timeout=timeout, fetch_timeout=fetch_timeout)
    try:
        fetcher = Fetcher(repo, node, progress)
        try:
            fetcher.walk(root)
        except FormatError as exc:  # a block that hashes right but does not decode
            raise PullError(f"{root} on {node.api} holds a block that is not valid IPLD: {exc}") from exc
    finally:
        node.close()
    source = f"the version pulled from {remote.strip()}"
    writer = repo.store.writer()
    try:
        try:
            versions, reach = _versions_in([root], writer, stored_size(repo), {}, source)
        except CarError as exc:
            raise PullError(str(exc)) from exc
        with repo.index.locked() as db:
            added = _publish(repo, db, writer, [root], versions, reach, source)
    except BaseException:
        writer.abort()
        raise
    return PullReport(remote.strip(), root, added, fetcher.fetched, fetcher.fetched_bytes, fetcher.local)
