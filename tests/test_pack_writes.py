"""How the pack store writes: direct (O_DIRECT, page-aligned buffers) where the file system allows,
through the page cache otherwise; either way the same bytes at the same offsets, durable at commit,
readable before it, and nothing left behind by an aborted writer."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from nbversion.formats.cid import CID, RAW
from nbversion.stores.pack import ALIGN, BOUNCE, PackStore

#: Lengths that straddle pages and buffers: a pack's writers start at unaligned offsets.
LENGTHS = [1, ALIGN - 1, ALIGN + 3, 262_144, 262_144 + 17, BOUNCE - 5, BOUNCE + ALIGN + 1, 12_345]


def blocks(seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for n in LENGTHS:
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        out.append((CID(RAW, hashlib.sha256(data).digest()), data))
    return out


def write_commits(store: PackStore, seeds) -> None:
    for seed in seeds:
        with store.writer() as writer:
            for cid, data in blocks(seed):
                writer.put(cid, data)


def pack_files(store: PackStore) -> dict:
    return {p.name.split("-")[0]: p.read_bytes() for p in sorted(store.packs.glob("*.pack"))}


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="O_DIRECT is Linux's")
def test_direct_writes_and_page_cache_writes_make_the_same_pack(tmp_path):
    direct, cached = PackStore(tmp_path / "direct"), PackStore(tmp_path / "cached", direct=False)
    for store in (direct, cached):
        write_commits(store, range(3))
    assert pack_files(direct) == pack_files(cached)  # back to back, no padding, whatever the alignment
    (pack,) = direct.packs.glob("*.pack")
    assert pack.stat().st_size == 3 * sum(LENGTHS)
    for seed in range(3):
        for cid, data in blocks(seed):
            assert direct.get(cid) == data
    assert direct.verify_all() == ([], [])
    direct.close()
    cached.close()


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "page-cache"])
def test_pending_blocks_read_back_before_commit_and_the_writer_goes_on(tmp_path, direct):
    store = PackStore(tmp_path / "s", direct=direct)
    write_commits(store, [0])  # the next writer starts at an unaligned offset
    first, second = blocks(1), blocks(2)
    with store.writer() as writer:
        for cid, data in first:
            writer.put(cid, data)
        assert all(writer.get(cid) == data for cid, data in first)
        writer.put_many(second)
        assert writer.get(second[3][0]) == second[3][1]
        assert not store.has(first[0][0])  # nothing is visible before the commit
    for cid, data in first + second:
        assert store.get(cid) == data
    assert store.verify_all() == ([], [])
    store.close()


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "page-cache"])
def test_an_aborted_writer_leaves_the_pack_as_it_was(tmp_path, direct):
    store = PackStore(tmp_path / "s", direct=direct)
    write_commits(store, [0])
    before = pack_files(store)
    writer = store.writer()
    for cid, data in blocks(1):
        writer.put(cid, data)
    writer.abort()
    assert pack_files(store) == before
    assert not any(store.has(cid) for cid, _ in blocks(1))
    write_commits(store, [1])
    assert all(store.get(cid) == data for cid, data in blocks(1))
    store.close()
