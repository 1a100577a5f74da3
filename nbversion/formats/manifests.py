"""Manifests as blocks: one dag-cbor block for a small manifest, a tree of shards for a large one.

IPFS peers exchange blocks of at most 1 MiB, and a manifest block grows by about 127 bytes a
tensor. So a manifest whose one block would be over :data:`SINGLE_BLOCK` (256 KiB, about 2,000
tensors) is written as a tree instead:

* *leaves* (shards) are manifests of the first release's form, ``{"format", "tensors": [...]}``,
  each a run of the entries in name order;
* *nodes* are ``{"format", "height": h, "shards": [{"first", "count", "bytes", "manifest"}, ...]}``:
  for each child, its first tensor name, how many tensors and how many tensor bytes it holds, and
  its link. A node of height 1 links leaves, of height ``h`` nodes of height ``h - 1``; the root
  is the top node, and what a version's ``manifest`` links.

Manifests of at most 256 KiB are written as before, so every CID of the first release stays.

Where leaves end is decided by the names, not by positions: a leaf ends after a name whose hash
meets a target (one name in :data:`_TARGET`), with at least :data:`_MIN_ITEMS` and at most
:data:`_MAX_ITEMS` entries and :data:`_NODE_BYTES` bytes of entries (so no block is over 1 MiB
however long the names or shapes); nodes are cut the same way over their children's first names.
A change, insertion or removal of one tensor therefore rewrites one leaf and the nodes above it,
and a reader that wants one tensor, or the tensors two versions do not share, decodes only the
leaves it needs (leaves with the same CID hold the same entries).

Trees come from strangers, so reading checks every node against the one that links it: each block
at most :data:`MAX_SHARD_BLOCK`, heights that go down one at a time to leaves (at most
:data:`MAX_HEIGHT`), names sorted and unique across leaves (each child's names from its ``first``
to the next child's), and counts and byte totals that add up. A manifest of one block is read as
the first release reads it.

Nothing here does I/O: reading takes a ``get(cid) -> bytes`` callable.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import operator
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import libipld

from ..errors import FormatError
from . import dagcbor
from .cid import CID, DAG_CBOR
from .records import MANIFEST_FORMAT, Manifest, TensorEntry, manifest_from_ipld, tensor_name_problem

GetBlock = Callable[[CID], bytes]
Block = Tuple[CID, bytes]

SINGLE_BLOCK = 256 << 10  #: a manifest that encodes to at most this is one block, as in the first release
MAX_SHARD_BLOCK = 1 << 20  #: every block of a sharded manifest: the most IPFS peers exchange
MAX_HEIGHT = 4  #: levels of nodes above the leaves (4 hold far more tensors than any model has)
_TARGET = 128  # a leaf (node) ends after about one name in this many...
_MIN_ITEMS = 16  # ...but holds at least this many entries (children)...
_MAX_ITEMS = 1024  # ...and at most this many...
_NODE_BYTES = 256 << 10  # ...and at most this many bytes of them (an upper bound of their encoding)
_ENTRY_OVERHEAD = 160  # bytes of an entry's encoding besides its name and shape (upper bound)
_REF_OVERHEAD = 128  # bytes of a child's encoding besides its first name (upper bound)


@dataclass(frozen=True)
class ShardRef:
    """One child of a node: its first tensor name, what it holds, and its link."""

    first: str
    count: int
    nbytes: int
    manifest: CID

    def to_ipld(self) -> Dict[str, Any]:
        return {"first": self.first, "count": self.count, "bytes": self.nbytes, "manifest": self.manifest}


@dataclass(frozen=True)
class Node:
    """A node of a sharded manifest: its children, leaves if ``height`` is 1."""

    height: int
    shards: Tuple[ShardRef, ...]

    def to_ipld(self) -> Dict[str, Any]:
        return {"format": MANIFEST_FORMAT, "height": self.height, "shards": [s.to_ipld() for s in self.shards]}


# -- writing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaves:
    """The leaves a sharded manifest was cut into, kept by a commit so that the model's next
    manifest takes again, without encoding it, each leaf whose span holds the very same entry
    objects (a commit takes the entries of unchanged tensors from the one before)."""

    entries: Tuple[TensorEntry, ...]
    spans: Dict[Tuple[int, int], Tuple[ShardRef, bytes]]


def encode_manifest(manifest: Manifest) -> Tuple[CID, List[Block]]:
    """The manifest's root CID and every block it needs, children before the nodes that link
    them (the root last). ``manifest.tensors`` must be sorted by name, as commits make them."""
    cid, blocks, _ = encode_manifest_leaves(manifest)
    return cid, blocks


def encode_manifest_leaves(
    manifest: Manifest, previous: Optional[Leaves] = None
) -> Tuple[CID, List[Block], Optional[Leaves]]:
    """:func:`encode_manifest`, taking unchanged leaves from ``previous`` (the same blocks as
    encoding them again), and this manifest's :class:`Leaves` (None for a one-block manifest)."""
    entries = manifest.tensors
    # An entry encodes to at least 64 bytes: skip encoding a one-block form that cannot fit.
    if len(entries) * 64 <= SINGLE_BLOCK:
        block = dagcbor.encode(manifest.to_ipld())
        if len(block) <= SINGLE_BLOCK:
            cid = CID.hash(DAG_CBOR, block)
            return cid, [(cid, block)], None
    if any(a.name >= b.name for a, b in zip(entries, entries[1:])):
        raise ValueError("A manifest's tensors must be sorted by name and unique to be sharded.")
    blocks: List[Block] = []
    sizes = [len(e.name.encode()) + 9 * len(e.shape) + _ENTRY_OVERHEAD for e in entries]
    refs: List[ShardRef] = []
    spans: Dict[Tuple[int, int], Tuple[ShardRef, bytes]] = {}
    for start, end in _cuts([e.name for e in entries], sizes, 0):
        leaf = entries[start:end]
        kept = previous.spans.get((start, end)) if previous is not None else None
        if kept is not None and all(map(operator.is_, leaf, previous.entries[start:end])):  # type: ignore[union-attr]
            ref, block = kept
        else:
            block = libipld.encode_dag_cbor({"format": MANIFEST_FORMAT, "tensors": [_entry_ipld(e) for e in leaf]})
            ref = ShardRef(leaf[0].name, end - start, sum(e.size for e in leaf), CID.hash(DAG_CBOR, block))
        blocks.append((ref.manifest, block))
        refs.append(ref)
        spans[(start, end)] = (ref, block)
    height = 1
    while sum(sizes := [len(r.first.encode()) + _REF_OVERHEAD for r in refs]) > _NODE_BYTES:
        refs = [
            _node_ref(blocks, height, refs[start:end]) for start, end in _cuts([r.first for r in refs], sizes, height)
        ]
        height += 1
    root = _put(blocks, Node(height, tuple(refs)).to_ipld())
    return root, blocks, Leaves(entries, spans)


def _entry_ipld(e: TensorEntry) -> Dict[str, Any]:
    """``TensorEntry.to_ipld`` with the link as libipld takes it: the same bytes as
    ``dagcbor.encode`` gives, without its walk over every value (a third of a large commit's
    manifest time)."""
    return {"name": e.name, "dtype": e.dtype, "shape": list(e.shape), "byteorder": e.byteorder, "size": e.size,
            "data": bytes(e.data)}  # fmt: skip


def _put(blocks: List[Block], value: Dict[str, Any]) -> CID:
    block = dagcbor.encode(value)
    cid = CID.hash(DAG_CBOR, block)
    blocks.append((cid, block))
    return cid


def _node_ref(blocks: List[Block], height: int, children: List[ShardRef]) -> ShardRef:
    cid = _put(blocks, Node(height, tuple(children)).to_ipld())
    return ShardRef(children[0].first, sum(c.count for c in children), sum(c.nbytes for c in children), cid)


def _cuts(names: Sequence[str], sizes: Sequence[int], level: int) -> List[Tuple[int, int]]:
    """Where a sorted run of items (leaf entries, or children at ``level``) is cut into blocks:
    ``[(start, end), ...]`` (see the module docstring)."""
    cuts: List[Tuple[int, int]] = []
    start = total = 0
    for i, (name, size) in enumerate(zip(names, sizes)):
        if i > start and (i - start >= _MAX_ITEMS or total + size > _NODE_BYTES):
            cuts.append((start, i))
            start, total = i, 0
        total += size
        if i + 1 - start >= _MIN_ITEMS and _ends_run(name, level):
            cuts.append((start, i + 1))
            start, total = i + 1, 0
    if start < len(names):
        cuts.append((start, len(names)))
    return cuts


@functools.lru_cache(maxsize=1 << 16)  # a model's next commit asks again for the same names
def _ends_run(name: str, level: int) -> bool:
    """Whether a leaf (or node at ``level``) ends after ``name``: about one name in :data:`_TARGET`."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[4 * level : 4 * level + 4], "big") % _TARGET == 0


# -- reading (strict: trees may come from strangers) ----------------------------------------------


@dataclass(frozen=True)
class Shard:
    """A leaf of a manifest and what the node that links it says of it: the name it starts at,
    the name every one of its names is below (None: no bound), how many tensors and tensor bytes
    it holds. A one-block manifest is one shard of which nothing is said."""

    cid: CID
    first: Optional[str] = None
    end: Optional[str] = None
    count: Optional[int] = None
    nbytes: Optional[int] = None

    def check(self, first: str, last: str, count: int, nbytes: int) -> None:
        """:class:`FormatError` unless a leaf holding ``count`` tensors of ``nbytes`` bytes, named
        ``first`` to ``last``, is what the node linking it says."""
        if self.first is None:
            return
        if first != self.first or (self.end is not None and last >= self.end):
            raise FormatError(
                f"Manifest shard {self.cid} holds tensors {first[:100]!r} to {last[:100]!r}, outside the range its "
                "node gives it (names must be sorted and unique across shards)."
            )
        if count != self.count or nbytes != self.nbytes:
            raise FormatError(
                f"Manifest shard {self.cid} holds {count} tensors of {nbytes} bytes where its node says "
                f"{self.count} of {self.nbytes}."
            )


class ManifestTree:
    """A stored manifest, read as far as needed: the root when opened, the nodes below it when
    :meth:`shards` is first called, a leaf's entries when asked for (see the module docstring)."""

    def __init__(self, root: CID, get: GetBlock) -> None:
        self.root, self.get = root, get
        block = get(root)
        obj = _decode_map(block)
        self._single: Optional[Manifest] = None
        self._node: Optional[Node] = None
        if "shards" in obj:
            _check_block_size(root, block)
            self._node = _node_from_ipld(obj, root)
        else:
            self._single = manifest_from_ipld(obj)
        self._shards: Optional[List[Shard]] = None
        self._nodes: List[CID] = [root]
        self._firsts: List[str] = []
        self._by_name: Optional[Dict[str, TensorEntry]] = None
        self._leaves: Dict[CID, Tuple[TensorEntry, ...]] = {}  # leaves decoded so far

    @property
    def sharded(self) -> bool:
        """Whether the manifest is a tree of shards (else one block)."""
        return self._node is not None

    def __len__(self) -> int:
        """How many tensors the manifest lists (known from the root alone)."""
        if self._node is not None:
            return sum(s.count for s in self._node.shards)
        assert self._single is not None
        return len(self._single.tensors)

    def shards(self) -> List[Shard]:
        """Every leaf, in name order; every node is decoded and checked on the first call."""
        if self._shards is None:
            if self._node is None:
                self._shards = [Shard(self.root)]
            else:
                shards: List[Shard] = []
                nodes: List[CID] = []
                self._expand(self._node, self.root, None, shards, nodes)
                self._shards, self._nodes = shards, [self.root, *nodes]  # only once every node passed
                self._firsts = [s.first for s in shards if s.first is not None]
        return self._shards

    @property
    def nodes(self) -> List[CID]:
        """The CIDs of the root and of every node that :meth:`shards` decoded."""
        return list(self._nodes)

    def entries(self, shard: Shard) -> Tuple[TensorEntry, ...]:
        """The entries of one leaf of this tree, decoded and checked against what its node says
        (once: the tree keeps the leaves it has read)."""
        if shard.first is None:
            assert self._single is not None and shard.cid == self.root
            return self._single.tensors
        if shard.cid in self._leaves:  # read before: checked against this ref too (a tree may link it twice)
            entries = self._leaves[shard.cid]
            shard.check(*summary(entries))
            return entries
        block = self.get(shard.cid)
        _check_block_size(shard.cid, block)
        obj = _decode_map(block)
        if "shards" in obj:
            raise FormatError(f"Manifest shard {shard.cid} is a node where its parent is of height 1.")
        entries = manifest_from_ipld(obj).tensors
        if not entries:
            raise FormatError(f"Manifest shard {shard.cid} lists no tensor.")
        if any(a.name >= b.name for a, b in zip(entries, entries[1:])):
            raise FormatError(f"Manifest shard {shard.cid} does not list its tensors sorted by name.")
        shard.check(*summary(entries))
        self._leaves[shard.cid] = entries
        return entries

    def manifest(self) -> Manifest:
        """Every entry (every block read and checked)."""
        if self._single is not None:
            return self._single
        return Manifest(tuple(e for shard in self.shards() for e in self.entries(shard)))

    def find(self, name: str) -> Optional[TensorEntry]:
        """The entry named ``name``, or None; only the leaf that would hold it is read."""
        if self._single is not None:
            if self._by_name is None:
                self._by_name = self._single.by_name()
            return self._by_name.get(name)
        shards = self.shards()
        i = bisect.bisect_right(self._firsts, name) - 1
        if i < 0:
            return None
        return next((e for e in self.entries(shards[i]) if e.name == name), None)

    def _expand(self, node: Node, cid: CID, end: Optional[str], shards: List[Shard], nodes: List[CID]) -> None:
        """Add the leaves below ``node`` to ``shards`` and the nodes to ``nodes``, checking each
        child node against its ref."""
        for i, ref in enumerate(node.shards):
            ref_end = node.shards[i + 1].first if i + 1 < len(node.shards) else end
            if node.height == 1:
                shards.append(Shard(ref.manifest, ref.first, ref_end, ref.count, ref.nbytes))
                continue
            block = self.get(ref.manifest)
            _check_block_size(ref.manifest, block)
            obj = _decode_map(block)
            if "shards" not in obj:
                raise FormatError(f"Manifest node {cid} of height {node.height} links a leaf.")
            child = _node_from_ipld(obj, ref.manifest)
            if child.height != node.height - 1:
                raise FormatError(f"Manifest node {cid} of height {node.height} links one of height {child.height}.")
            Shard(ref.manifest, ref.first, ref_end, ref.count, ref.nbytes).check(
                child.shards[0].first, child.shards[-1].first, sum(s.count for s in child.shards),
                sum(s.nbytes for s in child.shards),
            )  # fmt: skip
            nodes.append(ref.manifest)
            self._expand(child, ref.manifest, ref_end, shards, nodes)


def read_manifest(root: CID, get: GetBlock) -> Manifest:
    """The whole manifest linked as ``root`` (one block or a tree), every block checked."""
    return ManifestTree(root, get).manifest()


def summary(entries: Sequence[TensorEntry]) -> Tuple[str, str, int, int]:
    """What a node says of a leaf: first and last names, how many tensors, how many bytes."""
    return entries[0].name, entries[-1].name, len(entries), sum(e.size for e in entries)


def _check_block_size(cid: CID, block: bytes) -> None:
    if len(block) > MAX_SHARD_BLOCK:
        raise FormatError(
            f"Manifest block {cid} is {len(block):,} bytes; the blocks of a sharded manifest are at most "
            f"{MAX_SHARD_BLOCK:,}."
        )


def _decode_map(block: bytes) -> Dict[str, Any]:
    obj = dagcbor.decode(block)
    if not isinstance(obj, dict) or obj.get("format") != MANIFEST_FORMAT:
        raise FormatError("Not an nbversion weight manifest.")
    return obj


def _node_from_ipld(obj: Dict[str, Any], cid: CID) -> Node:
    """A node of a sharded manifest, checked field by field (its children are checked when read)."""
    height, shards = obj.get("height"), obj.get("shards")
    if not isinstance(height, int) or isinstance(height, bool) or not 1 <= height <= MAX_HEIGHT:
        raise FormatError(f"Manifest node {cid}: its height must be 1 to {MAX_HEIGHT}.")
    if not isinstance(shards, list) or not shards:
        raise FormatError(f"Manifest node {cid}: field 'shards' is missing, empty or of the wrong type.")
    refs = tuple(_ref_from_ipld(item, cid) for item in shards)
    if any(a.first >= b.first for a, b in zip(refs, refs[1:])):
        raise FormatError(f"Manifest node {cid}: its shards are not sorted by first name.")
    return Node(height, refs)


def _ref_from_ipld(item: Any, cid: CID) -> ShardRef:
    if not isinstance(item, dict):
        raise FormatError(f"Manifest node {cid}: a shard is not a map.")
    first, count, nbytes = item.get("first"), item.get("count"), item.get("bytes")
    if not isinstance(first, str) or tensor_name_problem(first) is not None:
        raise FormatError(f"Manifest node {cid}: a shard's first name is missing or not a tensor name.")
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (count, nbytes)) or count < 1 or nbytes < 0:
        raise FormatError(f"Manifest node {cid}: a shard's count or bytes is missing or not a count.")
    link = dagcbor.as_cid(item.get("manifest"), f"manifest node {cid} shard")
    if link.codec != DAG_CBOR:
        raise FormatError(f"Manifest node {cid}: its shards must link dag-cbor blocks.")
    return ShardRef(first, count, nbytes, link)
