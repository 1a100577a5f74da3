"""Pull: fetch a version (and its history) from an IPFS node by CID, verify it, keep it.

How it goes:

1. **Fetch.** Walk the DAG from the version's CID. A block the local store already holds is not
   asked for (tree nodes are read locally to follow their links). Records come one ``block/get``
   at a time; tensor data comes in streams: a manifest (or shard) none of whose files is here
   comes whole in one ``dag/export``, a tensor's file none of whose pieces is here in one
   ``dag/export`` of that file, so a first pull costs a few requests and a pull of the next version of a model
   fetches only the changed files. Every block is checked against its CID as it arrives (a
   stream's blocks must also be linked from what was asked for) and written to the local store.
2. **Check.** Every version reached is decoded and its content checked exactly as a CAR import
   checks a stranger's file (:func:`.transfer._versions_in`): names, manifests, files, sizes.
3. **Publish.** Under the repository lock, index the versions and give a model that had none a
   ``main`` branch. An existing model's head does not move (check out the pulled CID to use it).

Resuming: fetched blocks are committed to the local store in batches as they arrive (every
:data:`CHECKPOINT` bytes, and whatever was fetched when the pull stops on an error). Until step
3 they are unreachable: no version, ref or listing names them, and ``gc`` would drop them. A pull
that is interrupted (a node that dies or stalls, a block with wrong bytes, Ctrl-C) leaves the
repository's versions and refs exactly as they were; run it again and the walk finds those
blocks locally and fetches only the rest (a stream that broke off is not asked for again whole:
the walk finds its first blocks here and fetches the rest of that subtree file by file).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, Callable, List, Optional, Set

from ..errors import CarError, CorruptBlockError, FormatError, InvalidCIDError, PullError, UnknownRefError
from ..formats import dagcbor
from ..formats.car import read_car
from ..formats.cid import CID, DAG_CBOR, DAG_PB, RAW
from ..formats.records import Version
from ..stores.base import BlockWriter
from .dag import stored_size
from .remotes import open_remote
from .transfer import _publish, _versions_in

if TYPE_CHECKING:
    from . import Repo

Progress = Optional[Callable[[int], None]]
CHECKPOINT = 32 << 20  # commit fetched blocks to the local store every 32 MiB


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


class Fetcher:
    """Walks a DAG into the local store, fetching only what it lacks, committing in batches.
    ``fetch_block`` and ``fetch_dag`` fetch one block or one streamed DAG (for callers that
    choose what to fetch themselves, e.g. loading one version's tensors on demand)."""

    def __init__(self, repo: "Repo", node, progress: Progress) -> None:
        self.repo, self.node, self.progress = repo, node, progress
        self.writer: BlockWriter = repo.store.writer()
        self.fetched = self.fetched_bytes = self.local = 0
        self.stored: Set[CID] = set()  # the blocks this pull fetched
        self._since_checkpoint = 0

    def _checkpoint(self) -> None:
        self.writer.commit()
        self.writer = self.repo.store.writer()
        self._since_checkpoint = 0

    def fetch_block(self, cid: CID) -> bytes:
        block = self.node.get(cid)  # checked against its CID: other bytes are refused
        self._store(cid, block)
        return block

    def _store(self, cid: CID, block: bytes) -> None:
        self.writer.put(cid, block)
        self.stored.add(cid)
        self.fetched += 1
        self.fetched_bytes += len(block)
        self._since_checkpoint += len(block)
        if self.progress is not None:
            self.progress(len(block))
        if self._since_checkpoint >= CHECKPOINT:
            self._checkpoint()

    def fetch_dag(self, cid: CID) -> None:
        """Fetch the DAG under ``cid`` in one streamed ``dag/export``: each block checked against
        its CID as it arrives, accepted only if ``cid`` or a block under it links to it, and
        written unless it is here already. The walk then goes through the subtree as usual (now
        locally), fetching one by one whatever a stream that ended early left out."""
        try:
            with contextlib.closing(self.node.export(cid)) as stream:
                self._read_export(cid, stream)
        except CarError as exc:
            raise CorruptBlockError(
                f"The IPFS node at {self.node.api} sent a CAR of {cid} that was refused: {exc} Nothing was published."
            ) from exc

    def _read_export(self, cid: CID, stream: BinaryIO) -> None:
        expected = {cid}
        _, blocks = read_car(stream)
        for got, block in blocks:
            if got not in expected:
                raise PullError(f"The IPFS node at {self.node.api} sent block {got}, which {cid} does not link to.")
            if got.codec != RAW:
                expected.update(dagcbor.block_links(got, block))
            if not self.writer.has(got):
                self._store(got, block)

    def _stream_whole(self, cid: CID, links: List[CID]) -> bool:
        """Whether to fetch what ``cid`` links to in one stream: a manifest (or shard) none of
        whose tensors' files is here, or a file (a dag-pb node) none of whose pieces is here.
        Where some are here, the others come one by one, so nothing here is fetched twice."""
        data = [link for link in links if link.codec in (DAG_PB, RAW)]
        return len(data) > 1 and not any(self.writer.has(link) for link in data)

    def walk(self, root: CID) -> None:
        seen: Set[CID] = set()
        stack = [root]
        try:
            while stack:
                cid = stack.pop()
                if cid in seen:
                    continue
                seen.add(cid)
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
                if self._stream_whole(cid, links):
                    self.fetch_dag(cid)
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
