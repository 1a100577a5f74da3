"""A model's next commit hashes only what changed: each commit remembers its tensors' entries and
fingerprints (and its manifest's leaves), and the next commit of the model through the same Repo
takes the entry of every tensor whose bytes are the same, without hashing or storing it again.
What it makes is exactly what a commit with nothing remembered makes."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

import nbversion.formats.unixfs as unixfs
from nbversion import Repo
from nbversion.live import commit_model

N = 3000  # over one manifest block: the manifest is a tree of leaves


def model(n: int = N) -> Dict[str, np.ndarray]:
    return {f"block{i // 100:02d}/expert{i % 100:02d}/w": np.full(3, i, np.float32) for i in range(n)}


@pytest.fixture
def hashed(monkeypatch) -> List[int]:
    """The byte count of every chunk a commit hashes with SHA-256 (each is one block it stores)."""
    seen: List[int] = []
    hash_task = unixfs._hash_task

    def counting(task):
        seen.extend(len(view) for view in task[1])
        return hash_task(task)

    monkeypatch.setattr(unixfs, "_hash_task", counting)
    return seen


def fresh_manifest(tmp_path: Path, name: str, tensors: Dict[str, np.ndarray]) -> str:
    """The manifest CID a repository that remembers nothing gives ``tensors``."""
    with Repo(tmp_path / name) as other:
        return str(other.commit(tensors, model="m").manifest)


def test_a_one_tensor_change_hashes_one_tensor_and_writes_one_leaf(tmp_path, hashed):
    weights = model()
    with Repo(tmp_path / "r") as repo:
        first = repo.commit(weights, model="m")
        assert len(hashed) == N
        hashed.clear()
        weights["block15/expert07/w"] = np.array([1.5, 2.5, 3.5], np.float32)
        second = repo.commit(weights, model="m", message="one expert tuned")
        assert hashed == [12]  # that tensor alone
        assert second.stats["new_tensors"] == 1 and second.stats["reused_tensors"] == N - 1
        # one leaf of the manifest (the largest of this one holds 881 of its 3,000 entries) and its root
        assert second.stats["bytes_written"] < first.stats["bytes_written"] / 3
        [changed] = [d for d in repo.diff(first.cid, second.cid) if d.status != "unchanged"]
        assert changed.name == "block15/expert07/w"
        assert np.array_equal(repo.load(second.cid)["block15/expert07/w"], [1.5, 2.5, 3.5])
    assert str(second.manifest) == fresh_manifest(tmp_path, "fresh", weights)


def test_a_tensor_changed_in_place_is_seen(tmp_path, hashed):
    weights = model(200)
    with Repo(tmp_path / "r") as repo:
        repo.commit(weights, model="m")
        hashed.clear()
        weights["block01/expert03/w"][1] = -7.0  # the same array object, other bytes
        second = repo.commit(weights, model="m")
        assert hashed == [12]
        assert repo.load(second.cid)["block01/expert03/w"][1] == -7.0
    assert str(second.manifest) == fresh_manifest(tmp_path, "fresh", weights)


def test_the_same_bytes_under_another_shape_or_dtype_get_a_new_entry(tmp_path):
    weights = {"a": np.arange(4, dtype=np.float32), "b": np.arange(4, dtype=np.int32)}
    with Repo(tmp_path / "r") as repo:
        repo.commit(weights, model="m")
        reshaped = {"a": weights["a"].reshape(2, 2), "b": weights["b"].view(np.float32)}
        second = repo.commit(reshaped, model="m")
        entries = repo.manifest(second.cid).by_name()
        assert entries["a"].shape == (2, 2) and entries["b"].dtype == "float32"
    assert str(second.manifest) == fresh_manifest(tmp_path, "fresh", reshaped)


def test_added_and_removed_tensors_change_only_their_leaves(tmp_path, hashed):
    weights = model()
    with Repo(tmp_path / "r") as repo:
        repo.commit(weights, model="m")
        hashed.clear()
        del weights["block03/expert00/w"]
        weights["block03/expert00/w2"] = np.zeros(2, np.float64)
        second = repo.commit(weights, model="m")
        assert hashed == [16]
        assert sorted(repo.manifest(second.cid).by_name()) == sorted(weights)
    assert str(second.manifest) == fresh_manifest(tmp_path, "fresh", weights)


def test_each_model_remembers_its_own_last_commit(tmp_path, hashed):
    with Repo(tmp_path / "r") as repo:
        repo.commit(model(300), model="a")
        repo.commit({"w": np.ones(5, np.float32)}, model="b")
        hashed.clear()
        weights = model(300)
        weights["block00/expert00/w"] = np.full(3, 9.0, np.float32)
        repo.commit(weights, model="a")
        assert hashed == [12]


def test_a_live_commit_reports_the_fingerprints_the_commit_found(tmp_path):
    """The kernel's fingerprints (which let the next checkout skip unchanged tensors) come from
    the commit itself: the same as fingerprinting each live tensor again."""
    from nbversion.live import fingerprint

    weights = model(50)
    with Repo(tmp_path / "r") as repo:
        report = commit_model(repo, weights, "m")
        stored = repo.manifest(report.version).by_name()
        assert report.fingerprints == {n: (fingerprint(n, a), stored[n].data) for n, a in weights.items()}


def test_a_checkout_is_remembered_as_the_models_last_commit(tmp_path, hashed):
    """A kernel that checks a version out (here: a new Repo object, as after a restart), changes
    one layer and commits hashes that layer alone."""
    from nbversion.live import checkout_model

    weights = model(500)
    with Repo(tmp_path / "r") as first:
        v1 = first.commit(weights, model="m")
    live = {n: np.zeros_like(a) for n, a in weights.items()}
    with Repo(tmp_path / "r") as repo:
        checkout_model(repo, v1.cid, live, "m")
        hashed.clear()
        live["block02/expert50/w"] = live["block02/expert50/w"] + 1.0
        report = commit_model(repo, live, "m")
        assert hashed == [12]
        assert report.version.parents == (v1.cid,)
        assert np.array_equal(repo.load(report.version.cid)["block02/expert50/w"], weights["block02/expert50/w"] + 1.0)
    live_copy = {n: np.array(a) for n, a in live.items()}
    assert str(report.version.manifest) == fresh_manifest(tmp_path, "fresh", live_copy)
