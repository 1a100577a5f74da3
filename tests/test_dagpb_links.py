"""dag-pb links decode the same whether they take the one form Kubo and nbversion write (read by a
short path) or any other form a peer may send (read by the general protobuf parser)."""

from __future__ import annotations

import hashlib

from nbversion.formats.cid import CID, DAG_PB, RAW, varint
from nbversion.formats.unixfs import FileLink, decode_node, encode_file_node


def link(cid: CID, tsize: int, name: bytes = b"", order: str = "hash,name,tsize") -> bytes:
    raw = bytes(cid)
    fields = {"hash": b"\x0a" + varint(len(raw)) + raw, "name": b"\x12" + varint(len(name)) + name,
              "tsize": b"\x18" + varint(tsize)}  # fmt: skip
    body = b"".join(fields[f] for f in order.split(","))
    return b"\x12" + varint(len(body)) + body


def test_usual_and_unusual_links_decode_alike():
    leaves = [CID(RAW, hashlib.sha256(bytes([i])).digest()) for i in range(3)]
    usual = encode_file_node([FileLink(c, 262_144, 262_144) for c in leaves])
    node = decode_node(usual)
    assert node.links == [(c, 262_144) for c in leaves] and node.filesize == 3 * 262_144
    links = b"".join(link(c, 262_144) for c in leaves)
    assert usual.startswith(links)  # the usual form: hash, empty name, tsize
    data = usual[len(links) :]  # the node's UnixFS data field
    named = b"".join(link(c, 262_144, b"x") for c in leaves) + data
    reordered = b"".join(link(c, 262_144, order="tsize,hash") for c in leaves) + data
    v0 = CID(DAG_PB, hashlib.sha256(b"v0").digest())
    multihash = bytes(v0)[2:]  # a CIDv0 link: the bare sha2-256 multihash
    body = b"\x0a" + varint(len(multihash)) + multihash + b"\x18" + varint(7)
    with_v0 = b"\x12" + varint(len(body)) + body + data
    for block in (named, reordered):
        assert decode_node(block).links == node.links
    assert decode_node(with_v0).links == [(v0, 7)]
