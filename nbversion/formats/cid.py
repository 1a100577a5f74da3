"""Content identifiers: the CIDv1 values that name every block, as Kubo makes them.

A :class:`CID` wraps the binary CID (version, codec, sha2-256 multihash). Its text form is base32
(``bafy...``, ``bafk...``), as Kubo prints CIDv1. Parsing accepts any multibase libipld knows,
and CIDv0 (``Qm...``) for dag-pb, and always compares by value, never by text.
"""

from __future__ import annotations

import hashlib
from typing import Tuple, Union

import libipld

from ..errors import FormatError, InvalidCIDError

Buffer = Union[bytes, bytearray, memoryview]

RAW = 0x55
DAG_PB = 0x70
DAG_CBOR = 0x71
SHA2_256 = 0x12
CODEC_NAMES = {RAW: "raw", DAG_PB: "dag-pb", DAG_CBOR: "dag-cbor"}

_SHA256_PREFIX = bytes([SHA2_256, 32])


def varint(n: int) -> bytes:
    """The unsigned LEB128 varint of ``n`` (multiformats, protobuf and CAR all use it)."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(buf: Buffer, pos: int = 0) -> Tuple[int, int]:
    """The unsigned LEB128 varint at ``buf[pos:]`` and the position after it (at most 64 bits)."""
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise FormatError("Truncated or oversized varint.")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


class CID:
    """A CIDv1 with a sha2-256 multihash (CIDv0 is read and turned into its v1 twin)."""

    __slots__ = ("codec", "digest", "_bytes")

    def __init__(self, codec: int, digest: bytes) -> None:
        if codec not in CODEC_NAMES:
            raise InvalidCIDError(f"Unsupported CID codec 0x{codec:x}: nbversion reads raw, dag-pb and dag-cbor.")
        if len(digest) != 32:
            raise InvalidCIDError("A sha2-256 CID needs a 32-byte digest.")
        self.codec = codec
        self.digest = bytes(digest)
        self._bytes = b"\x01" + varint(codec) + _SHA256_PREFIX + self.digest

    @classmethod
    def hash(cls, codec: int, data: Buffer) -> "CID":
        """The CID of ``data`` under ``codec`` (sha2-256)."""
        return cls(codec, hashlib.sha256(data).digest())

    @classmethod
    def from_bytes(cls, raw: bytes) -> "CID":
        """Parse a binary CID (as found in dag-pb links, dag-cbor tag 42 and CAR sections)."""
        raw = bytes(raw)
        if len(raw) == 36 and raw[0] == 1 and raw[1] in CODEC_NAMES and raw[2:4] == _SHA256_PREFIX:
            return cls(raw[1], raw[4:])  # the common case, without a round trip through libipld
        if len(raw) == 34 and raw[:2] == _SHA256_PREFIX:  # CIDv0: a bare sha2-256 multihash, dag-pb
            return cls(DAG_PB, raw[2:])
        try:
            info = libipld.decode_cid(raw)
        except (ValueError, TypeError) as exc:
            raise InvalidCIDError(f"Not a binary CID: {raw[:40].hex()}...") from exc
        return cls._from_info(info, raw.hex())

    @classmethod
    def parse(cls, text: Union[str, "CID"]) -> "CID":
        """Parse a CID's text form (base32 ``bafy...``, other multibases, or CIDv0 ``Qm...``)."""
        if isinstance(text, CID):
            return text
        if not isinstance(text, str) or not text.strip():
            raise InvalidCIDError(f"Malformed CID {text!r}: expected text such as 'bafy...'.")
        text = text.strip()
        try:
            info = libipld.decode_cid(text)
        except (ValueError, TypeError) as exc:
            raise InvalidCIDError(f"Malformed CID {text!r}: {exc}. A CID looks like 'bafy...' or 'Qm...'.") from exc
        return cls._from_info(info, text)

    @classmethod
    def _from_info(cls, info: dict, shown: str) -> "CID":
        mh = info["hash"]
        if mh["code"] != SHA2_256 or mh["size"] != 32:
            raise InvalidCIDError(f"CID {shown} uses hash function 0x{mh['code']:x}; nbversion verifies sha2-256 only.")
        codec = DAG_PB if info["version"] == 0 else info["codec"]
        return cls(codec, mh["digest"])

    def __bytes__(self) -> bytes:
        return self._bytes

    def __str__(self) -> str:
        return libipld.encode_cid(self._bytes)

    def __repr__(self) -> str:
        return f"CID('{self}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CID) and other._bytes == self._bytes

    def __hash__(self) -> int:
        return hash(self._bytes)

    def verify(self, data: Buffer) -> bool:
        """Whether ``data`` hashes to this CID."""
        return hashlib.sha256(data).digest() == self.digest

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES[self.codec]


EMPTY_RAW = CID.hash(RAW, b"")
