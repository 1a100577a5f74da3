"""Live models without a kernel: commit and checkout through nbversion.live, on NumPy models."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import nbversion
from nbversion.errors import MetadataError
from nbversion.live import checkout_model, commit_model, live_matches


def pack_of(repo: nbversion.Repo, cid) -> tuple:
    pack, offset, length = repo.store.db.execute("SELECT pack, offset, length FROM blocks WHERE cid=?", (bytes(cid),)).fetchone()
    return repo.store.packs / pack, offset, length


def corrupt(repo: nbversion.Repo, entry) -> None:
    """Flip a byte of every raw block of a stored tensor, on disk."""
    from nbversion.formats.unixfs import file_leaves

    for leaf, _ in file_leaves(entry.data, repo.store.get, repo.store.size):
        path, offset, _ = pack_of(repo, leaf)
        with open(path, "r+b") as f:
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0xFF]))


def test_a_taken_tag_refuses_the_commit_before_anything_is_written(repo):
    model = {"w": np.zeros(4)}
    first = commit_model(repo, model, "m", "one", tag="best")
    model["w"] += 1
    with pytest.raises(MetadataError, match="already names"):
        commit_model(repo, model, "m", "two", parent=first.version.cid, tag="best")
    assert [v.message for v in repo.log("m")] == ["one"]  # no version was written
    blocks = set(repo.store.cids())
    second = commit_model(repo, model, "m", "two", parent=first.version.cid, tag="second")
    assert second.version.parents == (first.version.cid,) and repo.head("m")[0] == "main"  # no from-v1 fork
    assert second.version.tags == ("second",) and repo.resolve("second") == second.version.cid
    assert blocks < set(repo.store.cids())


def test_checkout_of_what_the_model_already_holds_reads_no_tensor(repo):
    model = {"big": np.arange(100_000, dtype=np.float32), "small": np.ones(3)}
    v1 = commit_model(repo, model, "m", "one")
    model["small"] += 1
    v2 = commit_model(repo, model, "m", "two", parent=v1.version.cid)
    # The shared tensor's blocks are now unreadable: a checkout that read them would fail.
    corrupt(repo, repo.manifest(v1.version).by_name()["big"])
    report = checkout_model(repo, "v1", model, "m", known=v2.fingerprints)
    assert report.replaced == 1 and report.unchanged == 1
    assert np.array_equal(model["small"], np.ones(3))
    with pytest.raises(nbversion.NbversionError):  # without what it knew, it must read (and sees the damage)
        checkout_model(repo, "v2", {"big": np.zeros(100_000, np.float32), "small": np.ones(3)}, "m")


def test_fingerprints_never_vouch_for_changed_weights(repo):
    model = {"w": np.zeros(1000)}
    v1 = commit_model(repo, model, "m", "one")
    model["w"][7] = 3.0  # trained since the commit: the fingerprint no longer matches
    report = checkout_model(repo, "v1", model, "m", known=v1.fingerprints, measure_change=True)
    assert report.replaced == 1 and report.max_abs_change == 3.0
    assert not model["w"].any()
    assert live_matches(repo, model, "m", "v1", known=report.fingerprints)
    model["w"][0] = 1.0
    assert not live_matches(repo, model, "m", "v1", known=report.fingerprints)


def test_checkout_summary_makes_no_full_size_float64_copy(repo):
    n = 8 << 20  # 32 MiB of float32
    model = {"w": np.zeros(n, np.float32)}
    commit_model(repo, model, "m", "zeros")
    model["w"] = np.ones(n, np.float32)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        report = checkout_model(repo, "v1", model, "m", measure_change=True)
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert report.replaced == 1 and report.max_abs_change == 1.0
    # the stored values and the backup of the live ones are needed (2 x 32 MiB); a float64 copy is 64 MiB more
    assert peak < 2 * 32 * 2**20 + 40 * 2**20, f"{peak / 2**20:.0f} MiB"


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (np.array([1, 2, 3], np.int8), np.array([-128, 2, 127], np.int8), 129.0),  # no int8 wrap-around
        (np.array([1.0, 2.0], np.float16), np.array([60000.0, -60000.0], np.float16), 60002.0),  # no float16 overflow
        (np.zeros(3, bool), np.array([False, True, False]), 1.0),
        (np.array([1 + 1j]), np.array([1 - 1j]), 2.0),
        (np.arange(3_000_000, dtype=np.float32), np.arange(3_000_000, dtype=np.float32) * 2, 2_999_999.0),  # several slices
    ],
)
def test_the_max_change_summary_is_exact_for_every_dtype(a, b, expected):
    from nbversion.formats.tensors import max_abs_difference

    assert max_abs_difference(a, b) == expected
