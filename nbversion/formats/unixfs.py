"""UnixFS files as Kubo builds them: ``ipfs add --cid-version=1 --raw-leaves``.

Bytes are cut into fixed 262,144-byte chunks stored as raw blocks; when there is more than one
chunk, dag-pb nodes with UnixFS ``File`` data link them in a balanced tree of at most 174 links per
node. The root's CID is therefore the one Kubo (or any IPFS peer with the same settings) gives the
same bytes. Chunks are hashed on a thread pool (hashlib releases the GIL) while the caller stores the
ones already hashed, so hashing and writing overlap; files of one chunk (a model of many small
tensors is mostly these) are hashed and handed to the store thousands at a time, not one by one.

No maintained Python library builds dag-pb/UnixFS, so the protobuf here is hand-written: small,
strict, and pinned by fixtures from an independent implementation (``tests/fixtures``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import xxhash

from ..errors import FormatError
from ..pool import workers
from .cid import CID, DAG_PB, RAW, Buffer, read_varint, varint

CHUNK_SIZE = 262_144
MAX_LINKS = 174
GROUP = 16  # chunks hashed per task (4 MiB): large enough that thread hand-offs cost nothing
SMALL_FILES = 4096  # files of one chunk hashed (and looked up in the store) per task, at most
MAX_DEPTH = 16  # 174**16 chunks is far beyond any file; deeper trees are rejected as hostile

PutBlock = Callable[[CID, Buffer], None]

_UNIXFS_FILE = 2


@dataclass(frozen=True)
class FileLink:
    """A UnixFS (sub)tree: its CID, cumulative block size (dag-pb ``Tsize``) and content length."""

    cid: CID
    tsize: int
    filesize: int


# -- protobuf, the few wire forms dag-pb and UnixFS use ------------------------------------------


def protobuf_fields(buf: bytes, where: Optional[CID] = None) -> Iterator[Tuple[int, int, Union[int, bytes]]]:
    """Yield (field number, wire type, value) for varint (0) and length-delimited (2) fields, the
    only wire types dag-pb uses; :class:`FormatError` (naming the block ``where``) for others."""
    block = f"Block {where}" if where is not None else "A dag-pb block"
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
            yield field, wire, value
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            if pos + length > len(buf):
                raise FormatError(f"{block} has a truncated field.")
            yield field, wire, bytes(buf[pos : pos + length])
            pos += length
        else:
            raise FormatError(f"{block} uses protobuf wire type {wire}, which dag-pb never does.")


def encode_file_node(children: Sequence[FileLink]) -> bytes:
    """The dag-pb block of a UnixFS ``File`` node linking ``children`` in order."""
    out = bytearray()
    for child in children:
        cid = bytes(child.cid)
        link = b"\x0a" + varint(len(cid)) + cid + b"\x12\x00" + b"\x18" + varint(child.tsize)
        out += b"\x12" + varint(len(link)) + link
    data = bytearray(b"\x08" + varint(_UNIXFS_FILE))
    data += b"\x18" + varint(sum(c.filesize for c in children))
    for child in children:
        data += b"\x20" + varint(child.filesize)
    out += b"\x0a" + varint(len(data)) + data
    return bytes(out)


@dataclass(frozen=True)
class PBNode:
    """A decoded dag-pb node: its links (CID, Tsize) and UnixFS data, if any."""

    links: List[Tuple[CID, int]]
    unixfs_type: Optional[int]
    filesize: Optional[int]
    blocksizes: List[int]
    inline_data: bytes


_LINK_HEAD = b"\x0a\x24"  # field 1 (Hash), 36 bytes: a CIDv1 with a sha2-256 digest
_LINK_NAME = b"\x12\x00\x18"  # field 2 (Name) empty, then field 3 (Tsize)


def _usual_link(value: bytes) -> Optional[Tuple[CID, int]]:
    """A dag-pb link in the one form Kubo and nbversion write (36-byte CID, empty name, Tsize),
    decoded without the general parser; None for any other form (which that parser then reads)."""
    if len(value) < 42 or value[:2] != _LINK_HEAD or value[38:41] != _LINK_NAME:
        return None
    tsize, pos = read_varint(value, 41)
    return (CID.from_bytes(value[2:38]), tsize) if pos == len(value) else None


def decode_node(block: bytes) -> PBNode:
    """Decode a dag-pb block (links and UnixFS data); raises :class:`FormatError` if malformed."""
    links: List[Tuple[CID, int]] = []
    data: Optional[bytes] = None
    for field, wire, value in protobuf_fields(block):
        if field == 2 and wire == 2:
            link = _usual_link(value)  # type: ignore[arg-type]
            if link is not None:
                links.append(link)
                continue
            cid, tsize = None, 0
            for lf, lw, lv in protobuf_fields(value):  # type: ignore[arg-type]
                if lf == 1 and lw == 2:
                    cid = CID.from_bytes(lv)  # type: ignore[arg-type]
                elif lf == 3 and lw == 0:
                    tsize = lv  # type: ignore[assignment]
            if cid is None:
                raise FormatError("A dag-pb link has no hash.")
            links.append((cid, tsize))
        elif field == 1 and wire == 2:
            data = value  # type: ignore[assignment]
        else:
            raise FormatError(f"Unexpected field {field} in a dag-pb node.")
    utype = filesize = None
    blocksizes: List[int] = []
    inline = b""
    if data is not None:
        for field, wire, value in protobuf_fields(data):
            if field == 1 and wire == 0:
                utype = value  # type: ignore[assignment]
            elif field == 2 and wire == 2:
                inline = value  # type: ignore[assignment]
            elif field == 3 and wire == 0:
                filesize = value  # type: ignore[assignment]
            elif field == 4 and wire == 0:
                blocksizes.append(value)  # type: ignore[arg-type]
    return PBNode(links, utype, filesize, blocksizes, inline)


# -- building ----------------------------------------------------------------------------------


Task = Tuple[List[int], List[memoryview]]  # chunks to hash, each with the index of its file


def _hash_task(task: Task) -> Tuple[List[int], List[memoryview], List[CID]]:
    indices, views = task
    return indices, views, [CID(RAW, hashlib.sha256(view).digest()) for view in views]


def chunk_views(data: Buffer) -> List[memoryview]:
    """``data`` cut into CHUNK_SIZE views (no copies); an empty payload is one empty chunk."""
    view = memoryview(data).cast("B")
    if len(view) == 0:
        return [view]
    return [view[i : i + CHUNK_SIZE] for i in range(0, len(view), CHUNK_SIZE)]


def _is_bytes_view(data: Buffer) -> bool:
    """Whether ``data`` is already what ``memoryview(data).cast("B")`` gives (as tensor views are)."""
    return type(data) is memoryview and data.format == "B" and data.ndim == 1 and data.c_contiguous


def _tasks(buffers: Sequence[Buffer], levels: Dict[int, List[FileLink]]) -> List[Task]:
    """The hashing tasks for ``buffers``, in order: GROUP chunks of a large file each, and files
    of one chunk together (up to GROUP chunks' worth of bytes, or SMALL_FILES of them), so that
    a model of many tiny tensors costs a few tasks and a few store look-ups, not one of each a
    file. Each file of more than one chunk gets an empty list in ``levels`` for its leaves."""
    tasks: List[Task] = []
    indices: List[int] = []
    views: List[memoryview] = []
    small_bytes = 0
    for index, data in enumerate(buffers):
        view = data if _is_bytes_view(data) else memoryview(data).cast("B")
        size = len(view)
        if size <= CHUNK_SIZE:
            if len(views) >= SMALL_FILES or small_bytes + size > GROUP * CHUNK_SIZE:
                tasks.append((indices, views))
                indices, views, small_bytes = [], [], 0
            indices.append(index)
            views.append(view)
            small_bytes += size
            continue
        chunks = chunk_views(view)
        levels[index] = []
        tasks += [([index] * len(chunks[i : i + GROUP]), chunks[i : i + GROUP]) for i in range(0, len(chunks), GROUP)]
    if views:
        tasks.append((indices, views))
    return tasks


def build_files(
    buffers: Sequence[Buffer],
    put: Optional[PutBlock] = None,
    put_many: Optional[Callable[[List[Tuple[CID, memoryview]]], None]] = None,
    progress: Optional[Callable[[int], None]] = None,
) -> List[FileLink]:
    """Build the UnixFS DAG of each buffer and return their roots.

    Chunks of all buffers are hashed on the thread pool, 4 MiB per task (files of one chunk many
    to a task), and handed over in order as each task is done, so storing overlaps hashing across
    files: a task at a time to ``put_many`` if given, else one by one to ``put(cid, block)``.
    Tree nodes follow through ``put``, bottom up. ``progress(n)`` is told the bytes handled.
    """
    levels: Dict[int, List[FileLink]] = {}  # the leaves of each file of more than one chunk
    tasks = _tasks(buffers, levels)
    hashed = workers().map(_hash_task, tasks) if len(tasks) > 1 else map(_hash_task, tasks)
    roots: List[Optional[FileLink]] = [None] * len(buffers)
    for indices, views, cids in hashed:
        if put_many is not None:
            put_many(list(zip(cids, views)))
        elif put is not None:
            for cid, view in zip(cids, views):
                put(cid, view)
        for index, view, cid in zip(indices, views, cids):
            level = levels.get(index)
            if level is None:  # a file of one chunk: that chunk is its root
                roots[index] = FileLink(cid, len(view), len(view))
            else:
                level.append(FileLink(cid, len(view), len(view)))
        if progress is not None:
            progress(sum(len(view) for view in views))
    for index, level in levels.items():
        roots[index] = _tree(level, put)
    return roots  # type: ignore[return-value]  (every file has its root now)


def _tree(level: List[FileLink], put: Optional[PutBlock]) -> FileLink:
    """Link leaves into Kubo's balanced tree (at most MAX_LINKS per node); returns the root."""
    while len(level) > 1:
        parents = []
        for i in range(0, len(level), MAX_LINKS):
            children = level[i : i + MAX_LINKS]
            block = encode_file_node(children)
            cid = CID.hash(DAG_PB, block)
            if put is not None:
                put(cid, block)
            parents.append(FileLink(cid, len(block) + sum(c.tsize for c in children), sum(c.filesize for c in children)))
        level = parents
    return level[0]


def fingerprint(data: Buffer) -> bytes:
    """A fast fingerprint of a file's bytes (not cryptographic: for telling one's own values
    apart, never for content from others): the XXH3-128 of the XXH3-128s of its chunks, about
    25 GB/s. The embedded store checks each block it reads against the XXH3-128 of that block,
    so a file read from it gets its fingerprint from those checksums (:func:`combine_fingerprint`)."""
    view = data if _is_bytes_view(data) else memoryview(data).cast("B")
    if not view:
        return combine_fingerprint([])
    if len(view) <= CHUNK_SIZE:
        return xxhash.xxh3_128_digest(xxhash.xxh3_128_digest(view))
    return combine_fingerprint([xxhash.xxh3_128_digest(chunk) for chunk in chunk_views(view)])


def combine_fingerprint(chunks: Sequence[bytes]) -> bytes:
    """The fingerprint of a file whose chunks have the XXH3-128s ``chunks`` (in order)."""
    return xxhash.xxh3_128_digest(b"".join(chunks))


def build_file(data: Buffer, put: Optional[PutBlock] = None) -> FileLink:
    """The UnixFS DAG of one buffer (see :func:`build_files`); ``put`` receives every block."""
    return build_files([data], put)[0]


def file_cid(data: Buffer) -> CID:
    """The CID ``ipfs add --cid-version=1 --raw-leaves`` gives ``data``."""
    return build_file(data).cid


# -- reading -----------------------------------------------------------------------------------
#
# A file DAG from a stranger is checked without expanding it: each distinct block is fetched and
# checked once however often it is linked (a zero tensor legitimately links one chunk thousands
# of times, and a hostile one links a node to itself 174 times per level), so the work is
# proportional to the blocks that exist, never to the leaves they claim. What a file may claim is
# bounded too: every node links 1..MAX_LINKS children of at least one byte each, the tree is at
# most MAX_DEPTH deep, and a (sub)tree of N bytes has at most ceil(N / CHUNK_SIZE) leaves, which
# is exactly what Kubo's fixed-size chunker gives. Reading it in order (:func:`file_leaves`)
# then costs a step per CHUNK_SIZE bytes of content.


@dataclass(frozen=True)
class FileInfo:
    """A checked UnixFS (sub)tree: its content length (None for a raw leaf whose length is not
    known), the leaves reading it yields (duplicates each time), and its height (0 for a leaf)."""

    size: Optional[int]
    leaves: int
    height: int


SizeOf = Callable[[CID], Optional[int]]
_UNSIZED_LEAF = FileInfo(None, 1, 0)


def max_leaves(size: int) -> int:
    """The most leaves a file of ``size`` bytes may have: ceil(size / CHUNK_SIZE), at least one."""
    return max(1, -(-size // CHUNK_SIZE))


def check_file(
    root: CID,
    get: Callable[[CID], bytes],
    size_of_raw: Optional[SizeOf],
    size: Optional[int] = None,
    seen: Optional[Dict[CID, FileInfo]] = None,
    children: Optional[Dict[CID, List[Tuple[CID, int]]]] = None,
) -> FileInfo:
    """Check that ``root`` is a raw-leaves UnixFS file (of ``size`` bytes, if given) within the
    limits above, fetching and checking each distinct block once; :class:`FormatError` if not.

    Tree nodes are fetched with ``get``; raw leaves are only sized with ``size_of_raw`` (an answer
    of None: not known here, take the parent's word). ``seen`` (CID -> FileInfo) remembers checked
    subtrees across calls, so it also collects every block the file uses; ``children`` receives
    each tree node's children with their lengths. With ``size_of_raw=None`` the leaves of a tree are neither sized nor
    remembered (the quickest check, for reading them right after).
    """
    memo: Dict[CID, FileInfo] = {} if seen is None else seen

    def leaf(cid: CID) -> FileInfo:
        info = memo.get(cid)
        if info is None:
            length = size_of_raw(cid) if size_of_raw is not None else None
            info = memo[cid] = _UNSIZED_LEAF if length is None else FileInfo(length, 1, 0)
        return info

    def visit(cid: CID, depth: int) -> FileInfo:
        info = memo.get(cid)
        if info is None:
            if cid.codec == RAW:
                return leaf(cid)
            if cid.codec != DAG_PB:
                raise FormatError(f"{cid} is {cid.codec_name}, not part of a raw-leaves UnixFS file.")
            if depth >= MAX_DEPTH:
                raise FormatError(f"{cid} is more than {MAX_DEPTH} levels deep; no real file is.")
            node = decode_node(get(cid))
            _check_node(cid, node)
            leaves = height = 0
            for (child, _), declared in zip(node.links, node.blocksizes):
                if child.codec == RAW and size_of_raw is None:  # (reading: leaves are neither sized nor kept)
                    leaves += 1
                    continue
                sub = leaf(child) if child.codec == RAW else visit(child, depth + 1)
                if sub.size is not None and sub.size != declared:
                    raise FormatError(f"{child} is {sub.size} bytes where its parent {cid} says {declared}.")
                leaves += sub.leaves
                height = max(height, sub.height)
            assert node.filesize is not None  # _check_node
            if leaves > max_leaves(node.filesize):
                raise FormatError(
                    f"{cid} claims {leaves:,} chunks for {node.filesize:,} bytes (at most "
                    f"{max_leaves(node.filesize):,}); it is not a file nbversion or Kubo would write."
                )
            info = memo[cid] = FileInfo(node.filesize, leaves, height + 1)
            if children is not None:
                children[cid] = [(child, n) for (child, _), n in zip(node.links, node.blocksizes)]
        if depth + info.height > MAX_DEPTH:
            raise FormatError(f"{cid} is more than {MAX_DEPTH} levels deep; no real file is.")
        return info

    info = visit(root, 0)
    if size is not None and info.size is not None and info.size != size:
        raise FormatError(f"The file {root} is {info.size:,} bytes where {size:,} were expected.")
    return info


def _check_node(cid: CID, node: PBNode) -> None:
    """A tree node as Kubo writes them: a UnixFS File with 1..MAX_LINKS non-empty children."""
    if node.unixfs_type != _UNIXFS_FILE or node.inline_data or len(node.blocksizes) != len(node.links):
        raise FormatError(f"{cid} is not a raw-leaves UnixFS file node.")
    if not 1 <= len(node.links) <= MAX_LINKS or not all(n > 0 for n in node.blocksizes):
        raise FormatError(f"{cid} links {len(node.links)} children (1 to {MAX_LINKS} non-empty ones are allowed).")
    if node.filesize != sum(node.blocksizes):
        raise FormatError(f"{cid}: block sizes do not add up to the file size.")


def file_leaves(
    root: CID, get: Callable[[CID], bytes], size_of_raw: Optional[SizeOf], size: Optional[int] = None
) -> List[Tuple[CID, int]]:
    """The raw leaves of the UnixFS file at ``root``, in order, as (CID, length) pairs.

    The file is checked first (:func:`check_file`, each distinct block once), so the list is at
    most one pair per CHUNK_SIZE bytes of content. Raises :class:`FormatError` for anything but a
    raw-leaves UnixFS file whose sizes add up (to ``size``, if given). Leaves are sized by their
    parents; ``size_of_raw`` may be None, or answer None (not known), for any leaf but a
    one-block file whose ``size`` is not given.
    """
    nodes: Dict[CID, List[Tuple[CID, int]]] = {}
    info = check_file(root, get, size_of_raw, size, children=nodes)
    if root.codec == RAW:
        length = info.size if info.size is not None else size
        if length is None:
            raise FormatError(f"The length of {root} is not known.")
        return [(root, length)]
    leaves: List[Tuple[CID, int]] = []

    def expand(cid: CID) -> None:  # recursion at most MAX_DEPTH deep: check_file saw to it
        for pair in nodes[cid]:
            if pair[0].codec == RAW:
                leaves.append(pair)
            else:
                expand(pair[0])

    expand(root)
    return leaves


def links_of(cid: CID, block: bytes) -> List[CID]:
    """The CIDs a dag-pb block links to (empty for raw blocks)."""
    if cid.codec == DAG_PB:
        return [c for c, _ in decode_node(block).links]
    return []
