"""Many small tensors: files of one chunk are hashed and stored many to a batch, with the CIDs
and blocks each file gets alone (Kubo's), so a model of 50,000 tiny tensors costs a few store
look-ups instead of one a tensor."""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np
import pytest

from conftest import pattern
from nbversion.formats.cid import CID
from nbversion.formats.unixfs import CHUNK_SIZE, GROUP, SMALL_FILES, FileLink, build_files

EMPTY = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # Kubo's CID of no bytes


def alone(payloads: List[bytes]) -> Tuple[List[FileLink], Dict[CID, bytes]]:
    """Each payload built on its own: the roots and every block they need."""
    blocks: Dict[CID, bytes] = {}
    roots = [build_files([p], lambda cid, data: blocks.setdefault(cid, bytes(data)))[0] for p in payloads]
    return roots, blocks


def together(payloads: List[bytes]) -> Tuple[List[FileLink], Dict[CID, bytes], List[int]]:
    """The payloads built in one call: the roots, every block, and the size of each batch stored."""
    blocks: Dict[CID, bytes] = {}
    batches: List[int] = []

    def put_many(leaves: List[Tuple[CID, memoryview]]) -> None:
        batches.append(len(leaves))
        for cid, view in leaves:
            blocks.setdefault(cid, bytes(view))

    roots = build_files(payloads, lambda cid, data: blocks.setdefault(cid, bytes(data)), put_many)
    return roots, blocks, batches


SIZES = [0, 1, 4, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 0, 3 * CHUNK_SIZE + 7, 2, CHUNK_SIZE, 0]


def test_files_around_the_chunk_boundary_get_the_cids_and_blocks_they_get_alone():
    payloads = [bytes(pattern(n))[::-1] if i % 2 else bytes(pattern(n)) for i, n in enumerate(SIZES)]
    roots, blocks, _ = together(payloads)
    expected, expected_blocks = alone(payloads)
    assert roots == expected
    assert blocks == expected_blocks
    assert together([memoryview(np.arange(6, dtype=np.uint8).reshape(2, 3))])[0] == alone([bytes(range(6))])[0]
    assert [r.filesize for r in roots] == SIZES
    assert str(roots[0].cid) == str(roots[6].cid) == EMPTY


def test_ten_thousand_tiny_tensors_are_stored_in_a_few_batches_in_order():
    arrays = [np.full(1, i, np.float32) for i in range(10_000)]
    roots, blocks, batches = together([memoryview(a.view(np.uint8)) for a in arrays])
    assert len(batches) == -(-10_000 // SMALL_FILES)  # not one a tensor
    assert [r.filesize for r in roots] == [4] * 10_000
    assert all(blocks[r.cid] == a.tobytes() for r, a in zip(roots, arrays))  # each root is its own bytes
    assert roots[1234] == alone([arrays[1234].tobytes()])[0][0]


def test_a_batch_of_small_files_holds_at_most_group_chunks_of_bytes():
    payloads = [pattern(CHUNK_SIZE - i) for i in range(GROUP + 3)]  # about GROUP + 3 chunks of bytes
    roots, blocks, batches = together(payloads)
    assert len(batches) == 2 and sum(batches) == len(payloads)
    assert (roots, blocks) == alone(payloads)


@pytest.mark.parametrize("layout", ["small-big-small", "big-small-big"])
def test_small_and_large_files_interleaved_keep_their_order(layout):
    small, big = pattern(10), pattern(2 * CHUNK_SIZE + 1)
    payloads = [small if part == "small" else big for part in layout.split("-")]
    payloads = [bytes(p)[::-1] if i == len(payloads) - 1 else bytes(p) for i, p in enumerate(payloads)]
    roots, blocks, _ = together(payloads)
    assert (roots, blocks) == alone(payloads)


def test_a_one_tensor_change_in_many_tiny_tensors_stores_only_that_tensor_and_its_shards(tmp_path):
    from nbversion.repo import Repo

    weights = {f"layer.{i:05d}.w": np.full(1, i % 7, np.float32) for i in range(5_000)}
    with Repo(tmp_path / ".nbversion") as repo:
        first = repo.commit(weights, model="m")
        weights["layer.02500.w"] = np.full(1, 100.0, np.float32)
        second = repo.commit(weights, model="m")
        assert first.stats["new_tensors"] == 5_000
        assert (second.stats["new_tensors"], second.stats["reused_tensors"]) == (1, 4_999)
        assert second.stats["bytes_written"] < first.stats["bytes_written"] / 10
        loaded = repo.load(second.cid)
        assert all(np.array_equal(loaded[k], v) for k, v in weights.items())
