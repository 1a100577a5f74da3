"""The stored formats, pinned byte for byte: users hold CIDs, so these must never drift."""

from __future__ import annotations

import numpy as np

from nbversion.formats import dagcbor
from nbversion.formats.cid import CID, DAG_CBOR
from nbversion.formats.manifests import ManifestTree, Node, ShardRef, encode_manifest
from nbversion.formats.unixfs import file_cid
from nbversion.formats.records import Manifest, TensorEntry, Version, decode_manifest, decode_version

BIAS_CID = "bafkreicmtrhtkttucu63aerstvy4qvroyi7etakic5fsyso6ld2f2r6nxy"
MANIFEST_HEX = (
    "a266666f726d6174746e6276657273696f6e2f6d616e696665737440316774656e736f727381a66464617461d82a5825"
    "00015512204c9c4f354e74153db012329d71c8562ec23e498148174b2c49de58f45d47cdbe646e616d656a64656e7365"
    "2f626961736473697a651065647479706567666c6f61743332657368617065810469627974656f72646572666c697474"
    "6c65"
)
MANIFEST_CID = "bafyreihzmhrjwhnv4qrwnwbtton5pk5o3rsrutdr53gzatpsqd5xwchxxe"
VERSION_HEX = (
    "ac6474696d65781b323032362d31312d32335431363a30303a30302e3030303030305a656d6f64656c63636c66666175"
    "74686f726361646166666f726d6174736e6276657273696f6e2f76657273696f6e403167636f6e74657874a0676d6573"
    "73616765656669727374676d657472696373a263616363fb3feeb851eb851eb86565706f63680367706172656e747380"
    "686d616e6966657374d82a58250001711220f961e29b1db5e42366d8339b9bd7abaedc651a4c71eecd904df280fb7b08"
    "f7b968736f667477617265a166707974686f6e66332e31312e37696672616d65776f726b656e756d70796c6172636869"
    "74656374757265f6"
)
VERSION_CID = "bafyreidtb6yeus6bynszvyqyjbkh4ghbz2uax2fffz67fs2suzj3lijfmq"


def test_tensor_bytes_are_c_order_little_endian():
    assert str(file_cid(np.arange(4, dtype="<f4").tobytes())) == BIAS_CID


def test_manifest_dag_cbor_is_pinned():
    entry = TensorEntry("dense/bias", "float32", (4,), 16, CID.parse(BIAS_CID))
    block = dagcbor.encode(Manifest((entry,)).to_ipld())
    assert block.hex() == MANIFEST_HEX
    assert str(CID.hash(DAG_CBOR, block)) == MANIFEST_CID
    assert decode_manifest(block).tensors == (entry,)


def test_version_dag_cbor_is_pinned():
    version = Version(
        model="clf", parents=(), manifest=CID.parse(MANIFEST_CID), message="first",
        metrics={"acc": 0.96, "epoch": 3}, time="2026-11-23T16:00:00.000000Z", author="ada",
        framework="numpy", software={"python": "3.11.7"}, architecture=None, context={},
    )  # fmt: skip
    block = dagcbor.encode(version.to_ipld())
    assert block.hex() == VERSION_HEX
    assert str(CID.hash(DAG_CBOR, block)) == VERSION_CID
    decoded = decode_version(block, CID.parse(VERSION_CID))
    assert decoded.to_ipld() == version.to_ipld() and decoded.metrics == {"acc": 0.96, "epoch": 3}


def test_version_links_are_real_ipld_links():
    """Tag 42 (d82a) marks the manifest link, so any IPLD tool walks from a version to its tensors."""
    assert "d82a58250001711220" in VERSION_HEX
    links = list(dagcbor.cbor_links(dagcbor.decode(bytes.fromhex(VERSION_HEX))))
    assert links == [CID.parse(MANIFEST_CID)]


NODE_HEX = (
    "a366666f726d6174746e6276657273696f6e2f6d616e6966657374403166686569676874016673686172647381a4656279"
    "746573188865636f756e74026566697273746a64656e73652f62696173686d616e6966657374d82a582500017112209f91"
    "161f43433e49a6de6db680d79f60159f2e4ac9172621a12846428158440b"
)


def test_a_small_manifest_is_written_as_one_block_with_its_first_release_cid():
    entry = TensorEntry("dense/bias", "float32", (4,), 16, CID.parse(BIAS_CID))
    root, blocks = encode_manifest(Manifest((entry,)))
    assert str(root) == MANIFEST_CID and blocks == [(root, bytes.fromhex(MANIFEST_HEX))]


def test_a_manifest_node_dag_cbor_is_pinned():
    """A node of a sharded manifest: per shard its first name, tensor count, tensor bytes and link."""
    leaf = CID.hash(DAG_CBOR, b"leaf")
    block = dagcbor.encode(Node(1, (ShardRef("dense/bias", 2, 136, leaf),)).to_ipld())
    assert block.hex() == NODE_HEX
    assert str(CID.hash(DAG_CBOR, block)) == "bafyreidicro2owxmqjowhggqefd634vexswoqb3grt4jdyqjq2ppcglcoq"
    tree = ManifestTree(CID.hash(DAG_CBOR, block), {CID.hash(DAG_CBOR, block): block}.__getitem__)
    assert tree.sharded and len(tree) == 2 and [s.cid for s in tree.shards()] == [leaf]
