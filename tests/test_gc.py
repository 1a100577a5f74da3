"""gc: blocks no version uses are dropped and their space reclaimed; every version survives."""

from __future__ import annotations

import numpy as np

import nbversion
from conftest import weights
from nbversion.formats.car import read_car, write_car
from nbversion.formats.cid import CID, RAW


def pack_bytes(repo: nbversion.Repo) -> int:
    return sum(p.stat().st_size for p in repo.store.packs.glob("*.pack"))


def test_gc_reclaims_what_no_version_uses_and_keeps_every_version(repo, tmp_path):
    source = nbversion.Repo(tmp_path / "source")
    v = source.commit(weights(1), model="m")
    car = tmp_path / "padded.car"
    junk = np.random.default_rng(0).bytes(1 << 20)
    with open(tmp_path / "plain.car", "wb") as f:
        source.export_car("m", f.name)
    with open(tmp_path / "plain.car", "rb") as f:
        roots, blocks = read_car(f)
        with open(car, "wb") as out:  # a CAR with a 1 MiB block that nothing links to
            write_car(out, roots, [*blocks, (CID.hash(RAW, junk), junk)])
    mine = repo.commit(weights(2), model="mine")
    repo.import_car(car)
    before = pack_bytes(repo)
    removed, freed = repo.gc()
    assert freed >= len(junk) and pack_bytes(repo) <= before - len(junk)
    assert removed == 0  # the junk was never indexed, only its bytes were on disk
    assert repo.fsck().ok
    for version in (mine, v):
        loaded = repo.load(version.cid)
        assert all(isinstance(a, np.ndarray) for a in loaded.values())
    assert repo.gc() == (0, 0)  # nothing left to do


def test_a_listing_summary_that_lies_about_its_record_is_named_by_fsck_and_dropped_by_gc(repo):
    import sqlite3

    v = repo.commit(weights(1), model="m", message="the real message")
    repo.log_json()  # the listing the panel reads comes from the index's summaries
    with sqlite3.connect(repo.path / "index.sqlite") as db:  # someone edits the listing's copy only
        db.execute("UPDATE versions SET summary=replace(summary, 'the real message', 'a forged one')")
    repo.close()
    assert "a forged one" in "".join(repo.log_json())

    report = repo.fsck()
    assert not report.ok
    assert any("summary" in problem and "v1" in problem for problem in report.problems)

    repo.gc()
    assert repo.fsck().ok
    listing = "".join(repo.log_json())
    assert "the real message" in listing and "a forged one" not in listing
    assert repo.show(v.cid).message == "the real message"
