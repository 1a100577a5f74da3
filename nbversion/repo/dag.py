"""Walking DAGs: the blocks a version's content uses, and every block reachable from a root."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Set, Tuple

from ..formats import dagcbor
from ..formats.cid import CID
from ..formats.records import Version, decode_manifest
from ..formats.unixfs import file_leaves

if TYPE_CHECKING:
    from . import Repo

GetBlock = Callable[[CID], bytes]


def version_blocks(repo: "Repo", version: Version, get: Optional[GetBlock] = None) -> List[CID]:
    """The blocks a version's own content uses: its block, its manifest, every tensor's DAG."""
    get = get or repo.store.get
    assert version.cid is not None
    blocks = [version.cid, version.manifest]
    for entry in decode_manifest(get(version.manifest)).tensors:
        nodes: List[CID] = []
        leaves = file_leaves(entry.data, get, lambda c: 0, nodes)
        blocks += nodes + [c for c, _ in leaves]
    return blocks


def walk(root: CID, get: GetBlock) -> Iterator[Tuple[CID, bytes]]:
    """Every block reachable from ``root``, depth first in link order, each once."""
    seen: Set[CID] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid in seen:
            continue
        seen.add(cid)
        block = get(cid)
        yield cid, block
        stack.extend(reversed(dagcbor.block_links(cid, block)))


def topological(versions: "dict[CID, Version]") -> List[CID]:
    """The CIDs of ``versions`` with every parent before its children."""
    order: List[CID] = []
    done: Set[CID] = set()
    for start in versions:
        stack = [(start, False)]
        while stack:
            cid, expanded = stack.pop()
            if cid in done or cid not in versions:
                continue
            if expanded:
                done.add(cid)
                order.append(cid)
                continue
            stack.append((cid, True))
            stack.extend((p, False) for p in versions[cid].parents if p not in done)
    return order
