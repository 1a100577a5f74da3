"""Content addressing: every CID must equal what Kubo's `ipfs add --cid-version=1 --raw-leaves` gives."""

from __future__ import annotations

import json

import pytest

from conftest import HERE, pattern
from nbversion.formats.cid import CID, DAG_PB, RAW
from nbversion.errors import FormatError, InvalidCIDError
from nbversion.formats.unixfs import CHUNK_SIZE, MAX_LINKS, build_file, decode_node, file_cid, file_leaves

VECTORS = json.loads((HERE / "fixtures" / "unixfs_cids.json").read_text())["vectors"]


def test_empty_payload_has_kubos_known_cid():
    assert str(file_cid(b"")) == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: str(v["size"]))
def test_cid_matches_independent_implementation(vector):
    """Fixtures from js-ipfs's ipfs-unixfs-importer set to Kubo's defaults (tests/js)."""
    blocks = {}
    root = build_file(pattern(vector["size"]), lambda cid, data: blocks.setdefault(cid, bytes(data)))
    assert str(root.cid) == vector["cid"]
    assert len(blocks) == vector["blocks"]
    assert root.filesize == vector["size"]


def test_fixtures_cover_chunk_and_fanout_boundaries():
    sizes = {v["size"] for v in VECTORS}
    assert {0, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1} <= sizes
    assert {MAX_LINKS * CHUNK_SIZE, MAX_LINKS * CHUNK_SIZE + 1} <= sizes
    assert max(sizes) > 2 * MAX_LINKS * CHUNK_SIZE  # a two-level tree with a third subtree


def test_single_chunk_is_its_raw_leaf_and_more_is_dag_pb():
    assert file_cid(pattern(CHUNK_SIZE)).codec == RAW
    assert file_cid(pattern(CHUNK_SIZE + 1)).codec == DAG_PB


def test_tree_reads_back_leaf_by_leaf_in_order():
    data = pattern(3 * CHUNK_SIZE + 17).tobytes()
    blocks = {}
    root = build_file(data, lambda cid, block: blocks.setdefault(cid, bytes(block)))
    leaves = file_leaves(root.cid, blocks.__getitem__, lambda c: len(blocks[c]))
    assert b"".join(blocks[c] for c, _ in leaves) == data
    node = decode_node(blocks[root.cid])
    assert node.filesize == len(data) and node.blocksizes == [CHUNK_SIZE] * 3 + [17]


def test_two_level_tree_links_at_most_174_per_node():
    blocks = {}
    root = build_file(pattern((MAX_LINKS + 1) * CHUNK_SIZE), lambda c, b: blocks.setdefault(c, bytes(b)))
    top = decode_node(blocks[root.cid])
    assert len(top.links) == 2
    assert [len(decode_node(blocks[c]).links) for c, _ in top.links] == [MAX_LINKS, 1]


def test_cid_text_round_trips_and_compares_by_value():
    cid = file_cid(b"hello")
    assert CID.parse(str(cid)) == cid
    assert CID.from_bytes(bytes(cid)) == cid
    assert str(cid).startswith("bafkrei")


@pytest.mark.parametrize("text", ["", "hello", "bafy", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk"])
def test_malformed_cids_are_refused_with_our_error(text):
    with pytest.raises(InvalidCIDError):
        CID.parse(text)


def test_hostile_dag_pb_is_a_format_error_not_a_crash():
    with pytest.raises(FormatError):
        decode_node(b"\x12\xff\xff\xff")
    with pytest.raises(FormatError):
        decode_node(b"\x0b")  # wire type 3 (groups) is not dag-pb
