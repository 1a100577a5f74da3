"""CAR v1 (Content Addressable aRchive): the file format IPFS tools exchange DAGs in.

A CAR is a varint-prefixed dag-cbor header ``{"roots": [CID...], "version": 1}`` followed by
sections, each ``varint(len(cid) + len(block)) || cid || block``. Both directions stream: the
writer never holds more than one block, and the reader yields blocks as it reads them and checks
each against its CID, so a CAR from a stranger can at worst be rejected.

Limits, consistent with what nbversion writes: a block is at most :data:`MAX_BLOCK` bytes, the
largest record a commit accepts (:data:`nbversion.formats.records.MAX_RECORD`, 32 MiB; raw leaves
are 256 KiB and tree nodes about 9 KB), so every CAR nbversion exports can be imported. A section
that claims more (:data:`MAX_SECTION`, the block and its CID) is refused from its length prefix,
before anything of it is read, and a section is read in pieces of at most 1 MiB, so a length
prefix that lies costs no memory: memory follows the bytes actually in the file.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Callable, Iterable, Iterator, List, Optional, Tuple

from ..errors import CarError, FormatError, InvalidCIDError
from . import dagcbor
from .cid import CID, Buffer, read_varint, varint
from .records import MAX_RECORD

MAX_BLOCK = MAX_RECORD  # the largest block nbversion writes (see the module docstring)
MAX_SECTION = MAX_BLOCK + 64  # and its CID (36 bytes for sha2-256)
MAX_HEADER = 1 << 20  # a header is a roots list: a few CIDs
_READ_STEP = 1 << 20


def _readvarint(stream: BinaryIO) -> int | None:
    """A varint from ``stream``, or None at a clean end of file."""
    raw = bytearray()
    while True:
        byte = stream.read(1)
        if not byte:
            if not raw:
                return None
            raise CarError("The CAR file is truncated (it ends inside a length prefix).")
        raw += byte
        if not byte[0] & 0x80:
            break
        if len(raw) > 9:
            raise CarError("The CAR file has an oversized length prefix.")
    return read_varint(raw)[0]


def car_pieces(roots: List[CID], blocks: Iterable[Tuple[CID, Buffer]]) -> Iterator[Buffer]:
    """A CAR v1 with ``roots`` and ``blocks``, as the pieces to write one after another (the
    header, then each block's length prefix and CID, then the block itself, uncopied)."""
    header = dagcbor.encode({"roots": list(roots), "version": 1})
    yield varint(len(header)) + header
    for cid, block in blocks:
        raw = bytes(cid)
        yield varint(len(raw) + len(block)) + raw
        yield block


def write_car(stream: BinaryIO, roots: List[CID], blocks: Iterable[Tuple[CID, Buffer]]) -> int:
    """Write a CAR v1 with ``roots`` and ``blocks`` to ``stream``; returns the bytes written."""
    return sum(stream.write(piece) for piece in car_pieces(roots, blocks))


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    """``n`` bytes from ``stream``, read in pieces so that a length that lies costs no memory."""
    data = stream.read(min(n, _READ_STEP))
    if len(data) == n:
        return data
    buf = bytearray(data)
    while len(buf) < n:
        piece = stream.read(min(n - len(buf), _READ_STEP))
        if not piece:
            raise CarError(f"The CAR file is truncated: a section wanted {n} bytes, {len(buf)} remained.")
        buf += piece
    return bytes(buf)


def _split_cid(section: bytes) -> Tuple[CID, bytes]:
    if section[:1] == b"\x12":  # CIDv0: a bare 34-byte multihash
        return CID.from_bytes(section[:34]), section[34:]
    # CIDv1: version, codec, hash code and digest length are varints; then the digest.
    pos = 0
    values = []
    try:
        for _ in range(4):
            value, pos = read_varint(section, pos)
            values.append(value)
    except FormatError:
        raise CarError("A CAR section ends inside its CID.") from None
    end = pos + values[3]
    if end > len(section):
        raise CarError("A CAR section ends inside its CID.")
    try:
        return CID.from_bytes(section[:end]), section[end:]
    except InvalidCIDError as exc:
        raise CarError(f"A CAR section holds an unusable CID: {exc}") from exc


def sections(stream: BinaryIO, read: Optional[Callable[[BinaryIO, int], Any]] = None) -> Iterator[Tuple[CID, Any]]:
    """The ``(CID, block)`` sections after a CAR's header, each bounded by :data:`MAX_SECTION` but
    NOT verified: for a reader that checks every block itself (as :func:`read_car` does, or on
    other threads). ``read(stream, n)`` reads one section (default: in bounded pieces, as bytes)."""
    read = read or _read_exact
    while True:
        size = _readvarint(stream)
        if size is None:
            return
        if size > MAX_SECTION:
            raise CarError(
                f"A CAR section claims {size:,} bytes; blocks over {MAX_BLOCK:,} bytes are refused "
                "(nbversion never writes one)."
            )
        yield _split_cid(read(stream, size))


def read_car(stream: BinaryIO) -> Tuple[List[CID], Iterator[Tuple[CID, bytes]]]:
    """The roots of the CAR on ``stream`` and an iterator over its verified blocks."""
    length = _readvarint(stream)
    if length is None:
        raise CarError("The file is empty, not a CAR.")
    if length > MAX_HEADER:
        raise CarError("The CAR header is implausibly large; this is not a CAR file.")
    try:
        header = dagcbor.decode(_read_exact(stream, length))
    except FormatError as exc:
        raise CarError(f"The CAR header is not valid dag-cbor: {exc}") from exc
    if not isinstance(header, dict) or header.get("version") != 1 or not isinstance(header.get("roots"), list):
        raise CarError("Only CAR version 1 files with a roots list are supported.")
    try:
        roots = [dagcbor.as_cid(r, "A CAR root") for r in header["roots"]]
    except FormatError as exc:
        raise CarError(str(exc)) from exc

    def blocks() -> Iterator[Tuple[CID, bytes]]:
        for cid, block in sections(stream):
            if not cid.verify(block):
                raise CarError(f"Block {cid} in the CAR does not match its hash; the file is corrupt or forged.")
            yield cid, block

    return roots, blocks()
