"""dag-cbor blocks: encoding Python data with CID links, and finding the links in any block.

libipld (Rust) does the dag-cbor work; it is strict (canonical key order, 64-bit floats, no NaN)
and fast. It represents a CID link as the CID's bytes on both sides, so nbversion keeps byte strings
out of its own metadata (it is JSON-like data only) and every byte string in a block is a link.
"""

from __future__ import annotations

from typing import Any, Iterator, List

import libipld

from ..errors import FormatError, InvalidCIDError
from .cid import CID, DAG_CBOR, DAG_PB
from .unixfs import links_of


def _to_ipld(value: Any) -> Any:
    if isinstance(value, CID):
        return bytes(value)
    if isinstance(value, dict):
        return {k: _to_ipld(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_ipld(v) for v in value]
    return value


def encode(value: Any) -> bytes:
    """The dag-cbor bytes of ``value`` (dicts, lists, str, int, float, bool, None, CID)."""
    try:
        return libipld.encode_dag_cbor(_to_ipld(value))
    except (ValueError, TypeError, OverflowError) as exc:
        raise FormatError(f"Cannot encode as dag-cbor: {exc}") from exc


def decode(block: bytes) -> Any:
    """Decode a dag-cbor block; links come back as CID bytes (see :func:`as_cid`)."""
    try:
        return libipld.decode_dag_cbor(bytes(block))
    except (ValueError, TypeError, RecursionError) as exc:
        raise FormatError(f"Not a valid dag-cbor block: {exc}") from exc


def as_cid(value: Any, what: str) -> CID:
    """``value`` (a decoded link) as a CID, or a :class:`FormatError` naming ``what``."""
    if isinstance(value, CID):
        return value
    if not isinstance(value, (bytes, bytearray)):
        raise FormatError(f"{what} should be a CID link, found {type(value).__name__}.")
    try:
        return CID.from_bytes(value)
    except InvalidCIDError as exc:
        raise FormatError(f"{what} is not a usable CID link: {exc}") from exc


def cbor_links(value: Any) -> Iterator[CID]:
    """Every CID link inside decoded dag-cbor data, depth first, in encoded order."""
    stack: List[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (bytes, bytearray)):
            try:
                yield CID.from_bytes(item)
            except InvalidCIDError:
                continue
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


def block_links(cid: CID, block: bytes) -> List[CID]:
    """The CIDs that the block ``cid`` links to, whatever its codec."""
    if cid.codec == DAG_CBOR:
        return list(cbor_links(decode(block)))
    if cid.codec == DAG_PB:
        return links_of(cid, block)
    return []
