"""Listings and refs that cost the same however long the history (issue 10, point 18).

``log(limit=N)`` and ``history(limit=N)`` read only the rows they return (each still checked
against its CID), and resolving a ref is a handful of index lookups, never a scan of the versions.
"""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path
from typing import List

import numpy as np
import pytest

import nbversion
from nbversion.errors import DamagedIndexWarning


def commit_n(repo: nbversion.Repo, model: str, n: int) -> List[nbversion.Version]:
    return [repo.commit({"w": np.full(3, i, np.float32)}, model, f"{model} {i}") for i in range(n)]


def damage_index_copy(path: Path, cid: object) -> None:
    """Overwrite a version's copy in the index (the block store keeps the intact one)."""
    with sqlite3.connect(path / "index.sqlite") as db:
        db.execute("UPDATE versions SET block=? WHERE cid=?", (b"\xa1damaged", str(cid)))
    db.close()


@pytest.fixture
def two_models(repo):
    commit_n(repo, "a", 6)
    commit_n(repo, "b", 4)
    return repo


def test_log_with_a_limit_is_the_newest_versions_of_the_full_log(two_models):
    repo = two_models
    for model in ("a", "b", None):
        full = repo.log(model)
        for n in (1, 3, 10, 100):
            assert [v.cid for v in repo.log(model, limit=n)] == [v.cid for v in full[:n]]
    assert [v.label for v in repo.log("a", limit=2)] == ["v6", "v5"]
    assert [(v.model, v.label) for v in repo.log(limit=2)] == [("b", "v4"), ("b", "v3")]


def test_history_with_a_limit_is_the_start_of_the_lineage(repo):
    versions = commit_n(repo, "m", 5)
    repo.checkout("v3", model="m")
    side = repo.commit({"w": np.full(3, 99, np.float32)}, "m", "side", branch="side")
    assert [v.cid for v in repo.history("m", limit=3)] == [side.cid, versions[2].cid, versions[1].cid]
    assert [v.cid for v in repo.history("m", ref="m/main", limit=2)] == [versions[4].cid, versions[3].cid]
    assert repo.history("m", limit=100) == repo.history("m")
    assert len(repo.history("m")) == 4


def test_tags_still_come_with_limited_listings(repo):
    commit_n(repo, "m", 3)
    repo.tag("best", "v3", model="m")
    assert repo.log("m", limit=1)[0].tags == ("best",)
    assert repo.history("m", limit=1)[0].tags == ("best",)


@pytest.mark.parametrize("listing", ["log", "history"])
def test_a_limited_listing_never_reads_the_versions_past_its_limit(repo, listing):
    """A damaged copy deep in the history is noticed by the full listing, never by a short one."""
    versions = commit_n(repo, "m", 6)
    repo.close()
    damage_index_copy(repo.path, versions[0].cid)
    lister = getattr(repo, listing)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DamagedIndexWarning)
        assert [v.cid for v in lister("m", limit=3)] == [v.cid for v in reversed(versions[3:])]
    with pytest.warns(DamagedIndexWarning, match="damaged"):
        assert len(lister("m")) == 6


@pytest.mark.parametrize("listing", ["log", "history"])
def test_every_row_a_limited_listing_reads_is_still_checked_against_its_cid(repo, listing):
    versions = commit_n(repo, "m", 4)
    repo.close()
    damage_index_copy(repo.path, versions[-2].cid)
    with pytest.warns(DamagedIndexWarning, match="read from the block store"):
        listed = getattr(repo, listing)("m", limit=2)
    assert [(v.cid, v.label, v.message) for v in listed] == [(versions[3].cid, "v4", "m 3"), (versions[2].cid, "v3", "m 2")]


def full_scans(repo: nbversion.Repo, action) -> List[str]:
    """The statements ``action`` runs against the index that read the whole versions table."""
    db = repo.index.db()
    assert db is not None
    statements: List[str] = []
    db.set_trace_callback(statements.append)
    try:
        action()
    finally:
        db.set_trace_callback(None)
    plans = {sql: " / ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")) for sql in statements}
    return [f"{sql!r}: {plan}" for sql, plan in plans.items() if "SCAN versions" in plan]


@pytest.mark.parametrize("ref", ["HEAD", "v2", "a~2", "a", "a/main", "main", "best", "best~1", "CID", "PREFIX", "HEAD~3"])
def test_resolving_a_ref_never_scans_the_versions(two_models, ref):
    repo = two_models
    repo.tag("best", "v5", model="a")
    cid = str(repo.resolve("v4", model="a"))
    ref = {"CID": cid, "PREFIX": cid[:20]}.get(ref, ref)
    assert full_scans(repo, lambda: repo.resolve(ref, model="a")) == []
    assert full_scans(repo, lambda: repo.load(ref, model="a")) == []


def test_short_history_models_and_tagging_never_scan_the_versions(two_models):
    repo = two_models
    assert full_scans(repo, lambda: repo.history("a", limit=3)) == []
    assert full_scans(repo, lambda: repo.log("a", limit=3)) == []
    assert full_scans(repo, repo.models) == []
    assert full_scans(repo, lambda: repo.tag("good", "a~1")) == []


def test_models_lists_each_name_once_in_order(repo):
    for model in ("zeta", "alpha", "mid", "alpha", "zeta"):
        commit_n(repo, model, 2) if model not in repo.models() else repo.commit({"w": np.ones(3)}, model)
    assert repo.models() == ["alpha", "mid", "zeta"]


def test_the_only_model_and_an_unknown_name_still_resolve_as_before(repo):
    from nbversion.errors import AmbiguousRefError, MetadataError, UnknownRefError

    first = commit_n(repo, "m", 2)
    assert repo.resolve("v1") == first[0].cid
    with pytest.raises(UnknownRefError, match="Unknown ref 'nope'"):
        repo.resolve("nope")
    with pytest.raises(UnknownRefError, match="No version's CID starts with"):
        repo.resolve("bafyzzzzzz")
    with pytest.raises(MetadataError, match="would hide the model"):
        repo.tag("m", "v1")
    commit_n(repo, "n", 1)
    with pytest.raises(AmbiguousRefError, match="this repository has m, n"):
        repo.resolve("v1")
