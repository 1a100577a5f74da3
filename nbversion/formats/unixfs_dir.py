"""UnixFS folders as Kubo builds them: ``ipfs add -r --cid-version=1 --raw-leaves``.

A folder is a dag-pb node with UnixFS ``Directory`` data (``08 01``, no mode or mtime) and one link
per entry, sorted by the entry's name as bytes, each link's ``Tsize`` the cumulative size of the
entry's DAG (its blocks' lengths added up). Files are UnixFS files (:mod:`.unixfs`); an empty
folder is the bare ``Directory`` node, ``bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354``.

A folder whose links are estimated above :data:`SHARD_THRESHOLD` (256 KiB: each link counts its
name's UTF-8 bytes plus its CID's 36 bytes, Kubo's ``Import.UnixFSHAMTDirectorySizeThreshold`` with
the "links" estimate) is a HAMT instead, as boxo writes it: entries are placed by the murmur3-x64-64
hash of their name, 8 bits per level (fanout 256); a node's links are named by the slot in two
upper-case hex digits, followed by the entry's name for an entry, alone for a sub-shard. As in
ipfs-unixfs-importer (the independent reference in ``tests/js``), a folder is sharded only when
its estimate is strictly above the threshold.

Reading is strict, for blocks from strangers: entry names follow :func:`name_problem` (no ``/``,
``.``, ``..``, empty names or control characters), links are sorted and unique, a HAMT's slots
agree with its bitfield and its names' hashes, every claimed ``Tsize`` must equal the size the
blocks really add up to, and a folder tree is at most :data:`MAX_DEPTH` folders deep with at most
:data:`MAX_ENTRIES` entries in all, however its blocks link (a folder linked under many names is
counted each time). Symbolic links and other UnixFS node types are refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from ..errors import FormatError, InvalidCIDError
from .cid import CID, DAG_PB, RAW, varint
from .unixfs import FileLink, PutBlock, SizeOf, check_file, decode_node, protobuf_fields

SHARD_THRESHOLD = 262_144  # bytes of estimated links (Kubo's Import.UnixFSHAMTDirectorySizeThreshold)
FANOUT = 256
MURMUR3_X64_64 = 0x22
MAX_NAME_BYTES = 255  # NAME_MAX of Linux and macOS
MAX_DEPTH = 128  # folders within folders
MAX_ENTRIES = 4_000_000  # files and folders in one tree, as walked (a folder linked twice counts twice)
MAX_LINKS = 100_000  # links in one directory node (Kubo shards long before: about 7,000 links)

_DIRECTORY = 1
_FILE = 2
_SYMLINK = 4
_HAMT = 5
_DIRECTORY_DATA = b"\x08\x01"
_CID_LENGTH = 36  # a CIDv1 with a sha2-256 digest, as every link here holds


# -- names -----------------------------------------------------------------------------------


def name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot name an entry of a folder, or None when it can."""
    if not name:
        return "it is empty"
    if name in (".", ".."):
        return "it is '.' or '..'"
    if "/" in name or "\\" in name:
        return "it holds a '/' or '\\'"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        return "it holds a control character"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid UTF-8"
    if len(encoded) > MAX_NAME_BYTES:
        return f"it is {len(encoded)} bytes long; at most {MAX_NAME_BYTES} are allowed"
    return None


def _decoded_name(raw: bytes, where: CID) -> str:
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError(f"Folder {where} has an entry whose name is not UTF-8.") from None
    problem = name_problem(name)
    if problem is not None:
        raise FormatError(f"Folder {where} has an entry named {name[:60]!r}, which is not allowed: {problem}.")
    return name


# -- murmur3 (x64, 128-bit, seed 0; HAMTs use the first 64 bits) --------------------------------

_M64 = (1 << 64) - 1
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    return k ^ (k >> 33)


def murmur3_x64_64(data: bytes) -> bytes:
    """The HAMT hash of a name: the first 64 bits of murmur3-x64-128 (seed 0), big-endian, as
    boxo's ``murmur3.New64().Sum(nil)`` gives it."""
    h1 = h2 = 0
    n = len(data) // 16
    for i in range(n):
        k1, k2 = struct.unpack_from("<QQ", data, 16 * i)
        k1 = (_rotl((k1 * _C1) & _M64, 31) * _C2) & _M64
        h1 = ((_rotl(h1 ^ k1, 27) + h2) * 5 + 0x52DCE729) & _M64
        k2 = (_rotl((k2 * _C2) & _M64, 33) * _C1) & _M64
        h2 = ((_rotl(h2 ^ k2, 31) + h1) * 5 + 0x38495AB5) & _M64
    tail = data[16 * n :]
    k1 = int.from_bytes(tail[:8], "little")
    k2 = int.from_bytes(tail[8:], "little")
    if k2:
        h2 ^= (_rotl((k2 * _C2) & _M64, 33) * _C1) & _M64
    if tail:
        h1 ^= (_rotl((k1 * _C1) & _M64, 31) * _C2) & _M64
    h1 ^= len(data)
    h2 ^= len(data)
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & _M64
    return h1.to_bytes(8, "big")


# -- encoding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirLink:
    """One entry of a folder: its name, its CID and its DAG's cumulative size (``Tsize``)."""

    name: str
    cid: CID
    tsize: int


def _link(name: bytes, cid: CID, tsize: int) -> bytes:
    raw = bytes(cid)
    body = b"\x0a" + varint(len(raw)) + raw + b"\x12" + varint(len(name)) + name + b"\x18" + varint(tsize)
    return b"\x12" + varint(len(body)) + body


def _node(links: Sequence[Tuple[bytes, CID, int]], data: bytes) -> bytes:
    """A dag-pb block: links (already in order) first, then the UnixFS data, as dag-pb encodes."""
    out = bytearray()
    for name, cid, tsize in links:
        out += _link(name, cid, tsize)
    out += b"\x0a" + varint(len(data)) + data
    return bytes(out)


def encode_directory(entries: Sequence[DirLink]) -> bytes:
    """The block of a basic (unsharded) UnixFS folder holding ``entries``, sorted by name bytes."""
    links = sorted((e.name.encode("utf-8"), e.cid, e.tsize) for e in entries)
    return _node(links, _DIRECTORY_DATA)


def estimated_size(entries: Sequence[DirLink]) -> int:
    """Kubo's estimate of a folder's size, which decides when it becomes a HAMT."""
    return sum(len(e.name.encode("utf-8")) + len(bytes(e.cid)) for e in entries)


def build_directory(entries: Sequence[DirLink], put: Optional[PutBlock] = None) -> FileLink:
    """The folder holding ``entries`` (names unique): a basic folder, or a HAMT above
    :data:`SHARD_THRESHOLD`. ``put`` receives every block; returns the root's CID, its Tsize and
    the total length of the files under it (``filesize``, summed by the caller's entries: 0 here)."""
    if estimated_size(entries) > SHARD_THRESHOLD:
        keyed = [(murmur3_x64_64(e.name.encode("utf-8")), e) for e in entries]
        cid, tsize = _build_shard(keyed, 0, put)
        return FileLink(cid, tsize, 0)
    block = encode_directory(entries)
    cid = CID.hash(DAG_PB, block)
    if put is not None:
        put(cid, block)
    return FileLink(cid, len(block) + sum(e.tsize for e in entries), 0)


def _shard_data(bitfield: int) -> bytes:
    bits = bitfield.to_bytes((bitfield.bit_length() + 7) // 8, "big")
    return (
        b"\x08" + varint(_HAMT) + b"\x12" + varint(len(bits)) + bits
        + b"\x28" + varint(MURMUR3_X64_64) + b"\x30" + varint(FANOUT)
    )  # fmt: skip


def _build_shard(keyed: List[Tuple[bytes, DirLink]], level: int, put: Optional[PutBlock]) -> Tuple[CID, int]:
    """One HAMT node for the entries whose hashes share the first ``level`` bytes."""
    slots: Dict[int, List[Tuple[bytes, DirLink]]] = {}
    for item in keyed:
        slots.setdefault(item[0][level], []).append(item)
    links: List[Tuple[bytes, CID, int]] = []
    bitfield = 0
    for slot in sorted(slots):
        bitfield |= 1 << slot
        members = slots[slot]
        label = b"%02X" % slot
        if len(members) == 1:
            entry = members[0][1]
            links.append((label + entry.name.encode("utf-8"), entry.cid, entry.tsize))
        else:
            if level + 1 >= 8:
                raise FormatError("Two names in one folder have the same 64-bit hash; a HAMT cannot hold both.")
            cid, tsize = _build_shard(members, level + 1, put)
            links.append((label, cid, tsize))
    block = _node(links, _shard_data(bitfield))
    cid = CID.hash(DAG_PB, block)
    if put is not None:
        put(cid, block)
    return cid, len(block) + sum(t for _, _, t in links)


# -- decoding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PBDir:
    """A decoded directory-like dag-pb node: its links (raw name, CID, Tsize) and UnixFS fields."""

    links: List[Tuple[bytes, CID, int]]
    unixfs_type: int
    bitfield: bytes
    hash_type: Optional[int]
    fanout: Optional[int]


def decode_directory(cid: CID, block: bytes) -> PBDir:
    """Decode a folder node (basic or HAMT); :class:`FormatError` for anything else or malformed."""
    if cid.codec != DAG_PB:
        raise FormatError(f"{cid} is {cid.codec_name}, not a UnixFS folder.")
    links: List[Tuple[bytes, CID, int]] = []
    data: Optional[bytes] = None
    for field, wire, value in protobuf_fields(block, cid):
        if field == 2 and wire == 2 and data is None:
            if len(links) >= MAX_LINKS:
                raise FormatError(f"Folder {cid} links more than {MAX_LINKS:,} entries.")
            links.append(_decode_link(value, cid))  # type: ignore[arg-type]
        elif field == 1 and wire == 2 and data is None:
            data = value  # type: ignore[assignment]
        else:
            raise FormatError(f"Block {cid} is not a dag-pb node as Kubo writes one (field {field}).")
    if data is None:
        raise FormatError(f"Block {cid} has no UnixFS data; it is not a UnixFS folder.")
    utype: Optional[int] = None
    bitfield, hash_type, fanout = b"", None, None
    for field, wire, value in protobuf_fields(data, cid):
        if field == 1 and wire == 0 and utype is None:
            utype = value  # type: ignore[assignment]
        elif field == 2 and wire == 2:
            bitfield = value  # type: ignore[assignment]
        elif field == 5 and wire == 0:
            hash_type = value  # type: ignore[assignment]
        elif field == 6 and wire == 0:
            fanout = value  # type: ignore[assignment]
        elif field in (7, 8):  # mode, mtime (Kubo's --preserve-mode/-mtime): read, not kept
            continue
        else:
            raise FormatError(f"Folder {cid} has an unexpected UnixFS field {field}.")
    if utype == _SYMLINK:
        raise FormatError(f"{cid} is a symbolic link; nbversion does not restore links.")
    if utype not in (_DIRECTORY, _HAMT):
        raise FormatError(f"{cid} is not a UnixFS folder (UnixFS type {utype}).")
    if utype == _DIRECTORY and (bitfield or hash_type is not None or fanout is not None):
        raise FormatError(f"Folder {cid} carries HAMT fields without being a HAMT.")
    return PBDir(links, utype, bytes(bitfield), hash_type, fanout)


def _decode_link(body: bytes, where: CID) -> Tuple[bytes, CID, int]:
    cid: Optional[CID] = None
    name: Optional[bytes] = None
    tsize: Optional[int] = None
    for field, wire, value in protobuf_fields(body, where):
        if field == 1 and wire == 2 and cid is None and name is None and tsize is None:
            try:
                cid = CID.from_bytes(value)  # type: ignore[arg-type]
            except InvalidCIDError as exc:
                raise FormatError(f"Folder {where} links something that is not a CID nbversion reads: {exc}") from None
        elif field == 2 and wire == 2 and name is None and tsize is None:
            name = bytes(value)  # type: ignore[arg-type]
        elif field == 3 and wire == 0 and tsize is None:
            tsize = value  # type: ignore[assignment]
        else:
            raise FormatError(f"Folder {where} has a malformed link.")
    if cid is None or name is None or tsize is None:
        raise FormatError(f"Folder {where} has a link without a hash, a name or a size.")
    return name, cid, tsize


# -- reading a folder ------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A file or folder under a folder's root, as walked: its path ('/'-separated, '' for the
    root itself), CID, and length (a file's content; a folder's files added up)."""

    path: str
    cid: CID
    is_dir: bool
    size: int


class _Reader:
    """Checks folder and file DAGs, each distinct block once; remembers what it learnt."""

    def __init__(self, get: Callable[[CID], bytes], size_of_raw: SizeOf) -> None:
        self.get = get
        self.size_of_raw = size_of_raw
        self.files: Dict[CID, Tuple[int, int]] = {}  # file CID -> (content length, Tsize)
        self.dirs: Dict[CID, Tuple[List[DirLink], int]] = {}  # folder CID -> (entries, Tsize)

    def file(self, cid: CID) -> Tuple[int, int]:
        """(content length, cumulative size) of a raw-leaves UnixFS file, checked."""
        known = self.files.get(cid)
        if known is None:
            if cid.codec == RAW:
                length = self.size_of_raw(cid)
                if length is None:
                    raise FormatError(f"The length of {cid} is not known.")
                known = (length, length)
            else:
                nodes: Dict[CID, List[Tuple[CID, int]]] = {}
                info = check_file(cid, self.get, self.size_of_raw, children=nodes)
                assert info.size is not None
                known = (info.size, self._tsize(cid, nodes, {}))
            self.files[cid] = known
        return known

    def _tsize(self, cid: CID, nodes: Dict[CID, List[Tuple[CID, int]]], memo: Dict[CID, int]) -> int:
        if cid not in memo:  # depth at most unixfs.MAX_DEPTH: check_file saw to it
            total = len(self.get(cid))
            for child, length in nodes[cid]:
                total += length if child.codec == RAW else self._tsize(child, nodes, memo)
            memo[cid] = total
        return memo[cid]

    def directory(self, cid: CID) -> Tuple[List[DirLink], int]:
        """A folder's entries (sorted by name bytes) and its cumulative size; HAMTs flattened."""
        known = self.dirs.get(cid)
        if known is None:
            block = self.get(cid)
            node = decode_directory(cid, block)
            entries: List[DirLink] = []
            if node.unixfs_type == _DIRECTORY:
                tsize = len(block) + self._basic(cid, node, entries)
            else:
                tsize = self._shard(cid, block, node, entries, b"", set())
                entries.sort(key=lambda e: e.name.encode("utf-8"))
            known = self.dirs[cid] = (entries, tsize)
        return known

    def _basic(self, cid: CID, node: PBDir, out: List[DirLink]) -> int:
        previous: Optional[bytes] = None
        for raw, child, tsize in node.links:
            if previous is not None and raw <= previous:
                raise FormatError(f"Folder {cid} lists its entries out of order or twice ({raw[:60]!r}).")
            previous = raw
            out.append(DirLink(_decoded_name(raw, cid), child, tsize))
        return sum(t for _, _, t in node.links)

    def _shard(self, cid: CID, block: bytes, node: PBDir, out: List[DirLink], prefix: bytes, seen: Set[CID]) -> int:
        """Add a HAMT node's entries to ``out``; its cumulative size. ``prefix``: the hash bytes
        every name under this node starts with (one per level)."""
        if node.unixfs_type != _HAMT or node.hash_type != MURMUR3_X64_64 or node.fanout != FANOUT:
            raise FormatError(f"{cid} is not a HAMT folder node as Kubo writes it (murmur3-x64-64, fanout {FANOUT}).")
        if cid in seen or len(prefix) >= 8:
            raise FormatError(f"HAMT folder {cid} is nested deeper than its 64-bit hash allows, or links itself.")
        seen = seen | {cid}
        if len(out) + len(node.links) > MAX_ENTRIES:
            raise FormatError(f"Folder {cid} holds more than {MAX_ENTRIES:,} entries.")
        bitfield = int.from_bytes(node.bitfield, "big")
        if not node.links:
            raise FormatError(f"HAMT folder {cid} is empty; Kubo never writes an empty shard.")
        if node.bitfield[:1] == b"\x00" or bitfield >> FANOUT:
            raise FormatError(f"HAMT folder {cid} has a malformed bitfield.")
        slots = 0
        previous = -1
        total = len(block)
        for raw, child, tsize in node.links:
            try:
                slot = int(raw[:2], 16)
            except ValueError:
                slot = -1
            if len(raw) < 2 or slot <= previous or raw[:2] != b"%02X" % max(slot, 0):
                raise FormatError(f"HAMT folder {cid} has a link named {raw[:60]!r} out of place.")
            previous = slot
            slots |= 1 << slot
            if len(raw) == 2:  # a sub-shard
                sub_block = self.get(child)
                sub = decode_directory(child, sub_block)
                real = self._shard(child, sub_block, sub, out, prefix + bytes([slot]), seen)
            else:
                name = _decoded_name(raw[2:], cid)
                if murmur3_x64_64(raw[2:])[: len(prefix) + 1] != prefix + bytes([slot]):
                    raise FormatError(f"HAMT folder {cid} holds {name[:60]!r} in a slot its hash does not lead to.")
                out.append(DirLink(name, child, tsize))
                real = tsize  # checked when the entry itself is read
            if real != tsize:
                raise FormatError(f"HAMT folder {cid} claims {tsize:,} bytes under {raw[:60]!r}; there are {real:,}.")
            total += tsize
        if slots != bitfield:
            raise FormatError(f"HAMT folder {cid}: its bitfield does not match its links.")
        return total


def walk(root: CID, get: Callable[[CID], bytes], size_of_raw: SizeOf) -> List[Entry]:
    """Every file and folder under ``root`` (a folder or a file), depth first in name order,
    checked as the module's docstring says; :class:`FormatError` if anything is off.

    The tree is first counted over its distinct folders (each read and checked once), so a tree
    that claims too many entries or too deep a nesting is refused before it is expanded."""
    reader = _Reader(get, size_of_raw)
    if _is_file(root, get):
        size, _ = reader.file(root)
        return [Entry("", root, False, size)]
    shape: Dict[CID, Tuple[int, int]] = {}  # folder CID -> (entries under it, folders deep)

    def count(cid: CID, ancestors: Set[CID]) -> Tuple[int, int]:
        if cid in ancestors:
            raise FormatError(f"Folder {cid} contains itself.")
        if cid not in shape:
            if len(ancestors) > MAX_DEPTH:
                raise FormatError(f"Folder {root} nests folders more than {MAX_DEPTH} deep.")
            entries, _ = reader.directory(cid)
            inner = ancestors | {cid}
            n = height = 0
            for entry in entries:
                n += 1
                if entry.cid not in reader.files and not _is_file(entry.cid, get):
                    sub, sub_height = count(entry.cid, inner)
                    n, height = n + sub, max(height, sub_height + 1)
                if n > MAX_ENTRIES:
                    raise FormatError(f"Folder {root} holds more than {MAX_ENTRIES:,} files and folders.")
            shape[cid] = (n, height)
        n, height = shape[cid]
        if len(ancestors) + height > MAX_DEPTH:
            raise FormatError(f"Folder {root} nests folders more than {MAX_DEPTH} deep.")
        return n, height

    if count(root, set())[0] > MAX_ENTRIES:
        raise FormatError(f"Folder {root} holds more than {MAX_ENTRIES:,} files and folders.")
    out: List[Entry] = []

    def visit(cid: CID, path: str) -> Tuple[int, int]:  # (content length, Tsize), checked
        entries, tsize = reader.directory(cid)
        here = len(out)
        out.append(Entry(path, cid, True, 0))
        total = 0
        for entry in entries:
            sub = f"{path}/{entry.name}" if path else entry.name
            if entry.cid in shape:
                size, real = visit(entry.cid, sub)
            else:
                size, real = reader.file(entry.cid)
                out.append(Entry(sub, entry.cid, False, size))
            if real != entry.tsize:
                shown = entry.name[:60]
                raise FormatError(f"Folder {cid} claims {entry.tsize:,} bytes for {shown!r}; there are {real:,}.")
            total += size
        out[here] = Entry(path, cid, True, total)
        return total, tsize

    visit(root, "")
    return out


def _is_file(cid: CID, get: Callable[[CID], bytes]) -> bool:
    """Whether ``cid`` is a UnixFS file (a raw leaf, or a dag-pb node of UnixFS type File)."""
    return cid.codec == RAW or decode_node(get(cid)).unixfs_type == _FILE
