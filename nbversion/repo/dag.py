"""Walking DAGs: the blocks a version's content uses (checked), and every block reachable from a root
(with its bytes, ``walk``, or only its CID, ``reachable``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Set, Tuple, cast

from ..errors import BlockNotFoundError, FormatError, NbversionError
from ..formats import dagcbor
from ..formats.cid import CID, RAW
from ..formats.manifests import ManifestTree, summary
from ..formats.datasets import FOLDER, decode_data_manifest
from ..formats.records import DATA, Version, decode_environment
from ..formats.unixfs import FileInfo, SizeOf, check_file
from ..formats.unixfs_dir import walk as walk_folder

if TYPE_CHECKING:
    from . import Repo

GetBlock = Callable[[CID], bytes]
_FOLDER_BLOCK = FileInfo(None, 0, 0)  # a block of a folder item (UnixFS directory), listed, not sized


class ContentCheck:
    """Checks the content of versions, each distinct block once however many versions, tensors
    or links share it: every manifest decoded (each shard of a sharded one once, formats.manifests)
    and its entries checked (formats.records), every tensor's file checked against its entry's
    size without expanding it (formats.unixfs).

    Tree nodes are read with ``get``; raw blocks are only sized with ``size`` (None: absent, for
    the caller to report): every leaf with ``leaves=True`` (an import: a stranger's parent nodes
    may lie about them), else only files of one block (the store's own leaves were checked when
    they came in, and every read checks them again). :attr:`blocks` lists every block the checked
    versions use.
    """

    def __init__(self, get: GetBlock, size: SizeOf, leaves: bool = True) -> None:
        self.get, self.size = get, size
        self._leaf_size: SizeOf = size if leaves else (lambda cid: None)
        self._leaves = leaves
        self._records: Dict[CID, None] = {}  # versions and manifests, as an ordered set
        self._files: Dict[CID, FileInfo] = {}  # every block of every file checked
        self._manifests: Set[CID] = set()
        self._shards: Dict[CID, Tuple[str, str, int, int]] = {}  # checked shards: what their nodes must say

    def version(self, version: Version) -> None:
        """Check one version's content; :class:`FormatError` (or KeyError for an absent node) if bad."""
        assert version.cid is not None
        self._records.update({version.cid: None, version.manifest: None})
        self._attachments(version)
        if version.manifest in self._manifests:
            return
        if version.kind == DATA:
            self._data(version.manifest)
            return
        tree = ManifestTree(version.manifest, self.get)
        shards = tree.shards()
        self._records.update(dict.fromkeys(tree.nodes))
        for shard in shards:
            self._records[shard.cid] = None
            known = self._shards.get(shard.cid)
            if known is not None:  # a shard other versions share: checked once, placed by each
                shard.check(*known)
                continue
            entries = tree.entries(shard)
            for entry in entries:
                check_file(entry.data, self.get, self._leaf_size, entry.size, self._files)
                length = self.size(entry.data) if entry.data.codec == RAW else None
                if length is not None and length != entry.size:
                    raise FormatError(
                        f"Tensor {entry.name!r} is {length:,} bytes where its manifest says {entry.size:,}."
                    )
            if shard.first is not None:
                self._shards[shard.cid] = summary(entries)
        self._manifests.add(version.manifest)

    def _data(self, manifest: CID) -> None:
        """A data manifest (formats.datasets) and every item's content: files checked as tensors'
        are; a folder's blocks all listed (its nodes read, its leaves sized where they are kept)."""
        for entry in decode_data_manifest(self.get(manifest)).entries:
            if entry.type == FOLDER:
                found = walk_folder(entry.data, self.get, self.size) if self._leaves else None  # a stranger's: checked
                files = sum(not e.is_dir for e in found or ())
                if found is not None and (found[0].size != entry.size or files != entry.files):
                    raise FormatError(
                        f"Folder item {entry.name!r} holds {files:,} files of {found[0].size:,} bytes where its data "
                        f"manifest says {entry.files:,} of {entry.size:,}."
                    )
                self._files.update((cid, _FOLDER_BLOCK) for cid in reachable(entry.data, self.get) if cid not in self._files)
                continue
            check_file(entry.data, self.get, self._leaf_size, entry.size, self._files)
            length = self.size(entry.data) if entry.data.codec == RAW else None
            if length is not None and length != entry.size:
                raise FormatError(f"Item {entry.name!r} is {length:,} bytes where its data manifest says {entry.size:,}.")
        self._manifests.add(manifest)

    def _attachments(self, version: Version) -> None:
        """The notebook code (a UnixFS file) and environment record a version links, if any."""
        if version.code is not None:
            check_file(version.code.notebook, self.get, self._leaf_size, None, self._files)
        if version.environment is not None and version.environment not in self._records:
            decode_environment(self.get(version.environment))
            self._records[version.environment] = None

    @property
    def blocks(self) -> List[CID]:
        """Every block the versions checked so far use, each once."""
        return list(self._records) + [c for c in self._files if c not in self._records]


def stored_size(repo: "Repo") -> SizeOf:
    """The length of a stored block, or None if it is not stored."""

    def size(cid: CID) -> Optional[int]:
        try:
            return repo.store.size(cid)
        except BlockNotFoundError:
            return None

    return size


def version_blocks(repo: "Repo", version: Version, get: Optional[GetBlock] = None) -> List[CID]:
    """The blocks a version's own content uses, each once: its block, its manifest, every tensor's
    DAG. The content is checked on the way (see :class:`ContentCheck`: one-block files are sized
    in the store; leaves of trees are sized by their parents)."""
    check = ContentCheck(get or repo.store.get, stored_size(repo), leaves=False)
    check.version(version)
    return check.blocks


def _traverse(root: CID, get: GetBlock, read_raw: bool) -> Iterator[Tuple[CID, Optional[bytes]]]:
    """Every block reachable from ``root``, depth first in link order, each once, with its bytes
    (None for a raw block when ``read_raw`` is false: raw blocks have no links to follow)."""
    seen: Set[CID] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid in seen:
            continue
        seen.add(cid)
        block = get(cid) if read_raw or cid.codec != RAW else None
        yield cid, block
        if block is not None:
            stack.extend(reversed(dagcbor.block_links(cid, block)))


def walk(root: CID, get: GetBlock) -> Iterator[Tuple[CID, bytes]]:
    """Every block reachable from ``root``, depth first in link order, each once, with its bytes."""
    for cid, block in _traverse(root, get, read_raw=True):
        yield cid, cast(bytes, block)  # read_raw: every block is read


def reachable(root: CID, get: GetBlock) -> List[CID]:
    """The CIDs :func:`walk` yields, in its order (as a CAR of the DAG lists them), reading only the
    blocks that have links."""
    return [cid for cid, _ in _traverse(root, get, read_raw=False)]


def topological(versions: "dict[CID, Version]") -> List[CID]:
    """The CIDs of ``versions`` with every parent (and linked data version) before its children."""
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
            stack.extend((p, False) for p in versions[cid].links if p not in done)
    return order


def ancestry(repo: "Repo", root: CID) -> List[CID]:
    """``root`` and every ancestor of it indexed here (parents and linked data versions)."""
    out: List[CID] = []
    seen: Set[CID] = set()
    pending = [root]
    while pending:
        cid = pending.pop()
        if cid in seen or not repo.index.has_version(cid):
            continue
        seen.add(cid)
        out.append(cid)
        pending.extend(repo.index.version(cid, tags={}).links)
    return out


def require_whole(repo: "Repo", root: CID, doing: str) -> None:
    """Refuse, with what to do instead, to ``doing`` (e.g. "push it") a version when it or one of
    its ancestors was opened from a remote without all its content (:mod:`.fetch`): the blocks it
    lacks are on that remote, not here. Costs one query when no version is partial."""
    if repo.index.last_partial_remote() is None:
        return
    for cid in ancestry(repo, root):
        remote = repo.index.partial_remote(cid)
        if remote is not None:
            version = repo.index.version(cid, tags={})
            raise NbversionError(
                f"{version.model} {version.label} ({cid}) was opened from remote {remote} without all its tensors, "
                f"so this repository cannot {doing} yet. Fetch the rest first: `nbversion pull {cid} --from {remote}`."
            )
