"""Push: put a version, with its history, on an IPFS node, and pin it there.

1. List every block the version reaches (its record, manifests, tensors, and its parents', back
   to the first version): tree nodes are read to follow their links, raw leaves are only named.
2. Ask the node which of them it lacks. A version the node pins recursively (pushed before) is
   there whole, and so is every ancestor it pins: their blocks are not asked about. Of the rest,
   if the node surely lacks the version's record and every unpinned ancestor's (each one quick
   ``block/stat``), it lacks all of them (a push sends a version's record first, so no earlier
   push of them got any block through); otherwise it is asked block by block (one listing of its
   blocks, or one offline ``block/stat`` each where the node answers those at once).
3. Send just those in ONE ``dag/import`` request, a CAR v1 built while it is sent, one block in
   memory at a time. An unchanged version sends nothing; a one-layer change sends that layer and
   the few small records above it.
4. Pin the version recursively there (so the node's gc keeps it; a recursive pin succeeds only
   when the node holds every block) and check the node reports the version's CID as pinned (CIDs
   compared decoded). If the pin fails, the node is asked which blocks it still lacks, to say so.

A push that fails half way leaves the blocks already sent on the node, unpinned (its gc may
remove them); the next push sends only what the node still lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Set, Tuple, Union

from ..errors import RemoteError
from ..formats.cid import CID
from ..formats.records import Version
from .dag import reachable, require_whole
from .refs import resolve
from .remotes import open_remote

if TYPE_CHECKING:
    from . import Repo

Progress = Optional[Callable[[int], None]]
PROBED = 8  # unpinned versions probed one by one before the node is asked about every block


@dataclass(frozen=True)
class PushReport:
    """What a push did: ``blocks_sent`` of ``blocks`` (the rest were on the node already), the
    bytes of those blocks and of the CAR that carried them, and where the version is pinned."""

    remote: str
    url: str
    version: Version
    blocks: int
    blocks_sent: int
    bytes_sent: int
    car_bytes: int

    @property
    def up_to_date(self) -> bool:
        return self.blocks_sent == 0


def push(
    repo: "Repo",
    ref: Union[str, CID, None] = None,
    remote: str = "",
    model: Optional[str] = None,
    progress: Progress = None,
    timeout: float = 30.0,
) -> PushReport:
    """Put the version ``ref`` (default: ``model``'s current version, or the only model's) and its
    history on the IPFS node ``remote`` (a remote's name or an RPC address) and pin it there.
    ``progress`` gets the length of each block sent."""
    root = resolve(repo, ref if ref is not None else "HEAD", model)
    require_whole(repo, root, "push it")
    version = repo.version(root)
    node = open_remote(repo, remote, timeout=timeout)
    try:
        blocks = reachable(root, repo.store.get)
        missing = _lacking(repo, node, version, blocks)
        sent: List[int] = []

        def send() -> Iterator[Tuple[CID, bytes]]:
            for cid in blocks:
                if cid in missing:
                    block = repo.store.get(cid)
                    sent.append(len(block))
                    yield cid, block

        car_bytes = node.import_car([root], send(), progress) if missing else 0
        if len(sent) != len(missing):  # pragma: no cover - the node answered before reading all
            raise RemoteError(
                f"The IPFS node at {node.api} closed the upload after {len(sent)} of {len(missing)} blocks."
            )
        try:
            node.pin(root)  # recursive: it succeeds only if the node holds every block
        except RemoteError:
            still = node.missing(blocks)
            if still:
                raise RemoteError(
                    f"The IPFS node at {node.api} took the upload but lacks {len(still)} of the version's "
                    f"{len(blocks)} blocks (e.g. {next(iter(still))}); push again."
                ) from None
            raise
    finally:
        node.close()
    target = remote.strip()
    return PushReport(target, node.api, version, len(blocks), len(sent), sum(sent), car_bytes)


def _lacking(repo: "Repo", node, version: Version, blocks: List[CID]) -> Set[CID]:
    """Which of ``blocks`` (all ``version`` reaches) the node lacks: none if it pins the version
    whole; else of those no pinned ancestor reaches, all if the node surely lacks the record of
    every unpinned version among them, else the ones it says it lacks (see the module docstring)."""
    root = version.cid
    assert root is not None
    if node.pinned_whole(root):
        return set()
    unpinned, kept, pending = [root], [], list(version.links)
    while pending and len(unpinned) <= PROBED:
        cid = pending.pop()
        if cid in unpinned or cid in kept:
            continue
        if node.pinned_whole(cid):
            kept.append(cid)
        else:
            unpinned.append(cid)
            pending.extend(repo.version(cid).links)  # parents and linked data versions
    there: Set[CID] = set()
    for cid in kept:
        there.update(reachable(cid, repo.store.get))
    candidates = [cid for cid in blocks if cid not in there]
    if not pending and all(node.surely_absent(cid) for cid in unpinned):
        return set(candidates)
    return node.missing(candidates)
