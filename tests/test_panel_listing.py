"""The panel's history listing comes from the index's summaries (issue 10, point 19).

Each index row keeps a summary of its version (the fields a listing shows), written from the
verified record, so listing 10,000 versions decodes no record. The listing is the same as the
one rendered from the records themselves; a summary that is missing (a repository indexed before
summaries existed) or does not belong to its row is made again from the verified record.
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

import nbversion
from nbversion import present
from nbversion.errors import DamagedIndexWarning

LISTED_ELSEWHERE = ("manifest", "software", "architecture", "context")  # in the version's own view


def from_records(repo: nbversion.Repo) -> List[Dict[str, Any]]:
    """The listing as rendered from every version's record (decoded and checked)."""
    out = []
    for v in repo.log():
        item = present.version_json(v)
        for key in LISTED_ELSEWHERE:
            del item[key]
        out.append(item)
    return out


def index_rows(path: Path, sql: str, args: tuple = ()) -> List[tuple]:
    with sqlite3.connect(path / "index.sqlite") as db:
        rows = db.execute(sql, args).fetchall()
    db.close()
    return rows


def index_write(path: Path, sql: str, args: tuple = ()) -> None:
    with sqlite3.connect(path / "index.sqlite") as db:
        db.execute(sql, args)
    db.close()


@pytest.fixture
def branched(repo):
    """Two models; a branch, a merge, tags, a message with quotes and a newline, a cell context."""
    w = lambda x: {"w": np.full(3, x, np.float32)}  # noqa: E731
    a1 = repo.commit(w(1), "a", 'first "one"\nline two', metrics={"acc": 0.5, "loss": 2})
    a2 = repo.commit(w(2), "a", "second", metrics={"acc": 0.75}, context={"cell": {"source": "fit()"}})
    side = repo.commit(w(3), "a", "side", parents=[a1.cid], branch="side")
    repo.commit(w(4), "a", "merge", parents=[a2.cid, side.cid], branch="main")
    repo.commit(w(5), "b", "other model")
    repo.tag("best", a2.cid)
    repo.tag("also-best", a2.cid)
    repo.tag("first", a1.cid)
    return repo


def test_a_page_of_the_listing_is_that_slice_of_the_whole_newest_first(branched):
    repo = branched
    whole = repo.log_json()
    assert repo.log_json(None, 2) == whole[:2]
    assert repo.log_json(None, 2, 2) == whole[2:4]
    assert repo.log_json(None, 10, 4) == whole[4:] and repo.log_json(None, 10, 5) == []
    assert repo.log_json("a", 2, 1) == repo.log_json("a")[1:3]
    pages, offset = [], 0
    while True:  # the pages the panel reads, each naming the next until the last
        page = json.loads(present.history_json_text(repo, limit=2, offset=offset))
        pages += page["versions"]
        if page["next"] is None:
            break
        offset = int(page["next"])
    assert pages == json.loads(present.history_json_text(repo))["versions"]


def test_the_listing_from_the_index_equals_the_listing_from_the_records(branched):
    repo = branched
    listed = json.loads(present.history_json_text(repo))
    assert listed["versions"] == from_records(repo)
    assert [v["label"] for v in listed["versions"]] == ["v1", "v4", "v3", "v2", "v1"]
    assert {v["cid"]: v["tags"] for v in listed["versions"] if v["tags"]} == {
        str(repo.resolve("best")): ["also-best", "best"], str(repo.resolve("first")): ["first"]}  # fmt: skip
    assert [json.loads(v) for v in repo.log_json("a")] == [v for v in from_records(repo) if v["model"] == "a"]
    assert present.history_json(repo) == listed  # the comm's data is the same listing
    assert listed["fingerprint"] == repo.fingerprint()


def test_the_listing_leaves_the_cell_to_the_versions_own_view(branched):
    listed = present.history_json(branched)["versions"]
    assert all(key not in v for v in listed for key in LISTED_ELSEWHERE)
    assert branched.show("a/main~1").context["cell"]["source"] == "fit()"


def test_the_listing_reads_summaries_not_the_records(branched):
    """A damaged copy of a record in the index: reading the record notices, the listing has no need to."""
    repo = branched
    before = repo.log_json()
    target = repo.resolve("best")
    index_write(repo.path, "UPDATE versions SET block=? WHERE cid=?", (b"\xa1damaged", str(target)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert repo.log_json() == before
    with pytest.warns(DamagedIndexWarning):
        repo.log()


def test_a_repository_indexed_before_summaries_gets_them_at_its_first_listing(branched):
    repo = branched
    expected = from_records(repo)
    repo.close()
    index_write(repo.path, "UPDATE versions SET summary=NULL")
    index_write(repo.path, "PRAGMA user_version = 1")
    with nbversion.Repo(repo.path) as again:
        assert [json.loads(v) for v in again.log_json()] == expected
    assert all(summary is not None for (summary,) in index_rows(repo.path, "SELECT summary FROM versions"))


def test_the_first_schema_is_migrated_with_summaries(tmp_path):
    path = tmp_path / ".nbversion"
    with nbversion.Repo(path) as repo:
        repo.commit({"w": np.zeros(2)}, "m", "one")
    index_write(path, "ALTER TABLE versions DROP COLUMN summary")
    index_write(path, "PRAGMA user_version = 1")
    with nbversion.Repo(path) as repo:
        assert [json.loads(v)["message"] for v in repo.log_json()] == ["one"]
        repo.commit({"w": np.ones(2)}, "m", "two")
        assert from_records(repo) == [json.loads(v) for v in repo.log_json()]


def test_a_summary_that_is_not_its_rows_is_made_again_from_the_record(branched):
    repo = branched
    expected = from_records(repo)
    cids = [v["cid"] for v in expected]
    (other,) = index_rows(repo.path, "SELECT summary FROM versions WHERE cid=?", (cids[1],))[0]
    index_write(repo.path, "UPDATE versions SET summary=? WHERE cid=?", (other, cids[0]))  # another row's
    index_write(repo.path, "UPDATE versions SET summary=? WHERE cid=?", (other[:40], cids[2]))  # cut short
    assert [json.loads(v) for v in repo.log_json()] == expected
    (fixed,) = index_rows(repo.path, "SELECT summary FROM versions WHERE cid=?", (cids[0],))[0]
    assert json.loads(fixed)["cid"] == cids[0]  # written back


def test_a_row_without_summary_or_intact_record_is_left_out_with_a_warning(branched):
    repo = branched
    expected = from_records(repo)
    gone = expected[2]["cid"]
    repo.close()
    index_write(repo.path, "UPDATE versions SET summary=NULL, block=? WHERE cid=?", (b"\xa1damaged", gone))
    with sqlite3.connect(repo.path / "blocks" / "blocks.sqlite") as db:  # and the block store has no copy
        db.execute("DELETE FROM blocks WHERE cid=?", (bytes(nbversion.CID.parse(gone)),))
    db.close()
    with pytest.warns(DamagedIndexWarning, match="left out"):
        listed = [json.loads(v) for v in repo.log_json()]
    assert listed == [v for v in expected if v["cid"] != gone]


def test_a_damaged_row_inside_a_page_does_not_end_the_listing_early(branched):
    """Pages count the index's rows: a page short of a damaged row still names the next page."""
    repo = branched
    expected = from_records(repo)
    gone = expected[1]["cid"]
    repo.close()
    index_write(repo.path, "UPDATE versions SET summary=NULL, block=? WHERE cid=?", (b"\xa1damaged", gone))
    with sqlite3.connect(repo.path / "blocks" / "blocks.sqlite") as db:
        db.execute("DELETE FROM blocks WHERE cid=?", (bytes(nbversion.CID.parse(gone)),))
    db.close()
    listed, offset = [], 0
    with pytest.warns(DamagedIndexWarning):
        while offset is not None:
            page = json.loads(present.history_json_text(repo, limit=2, offset=offset))
            listed += page["versions"]
            offset = None if page["next"] is None else int(page["next"])
    assert [v["cid"] for v in listed] == [v["cid"] for v in expected if v["cid"] != gone]
