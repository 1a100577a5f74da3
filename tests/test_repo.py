"""The repository: commit, load, history, refs, diff, tags — and bad input that changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

import nbversion
from conftest import weights
from nbversion.errors import AmbiguousRefError, MetadataError, RefError, TensorError, UnknownRefError


def assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape
        assert a[name].tobytes() == b[name].tobytes(), name


def test_issue_example_commit_load_history(repo):
    w, b = np.random.rand(20, 5).astype(np.float32), np.zeros(5, np.float32)
    v1 = repo.commit({"dense/kernel": w, "dense/bias": b}, model="clf", message="first", metrics={"acc": 0.96})
    v2 = repo.commit({"dense/kernel": w + 1, "dense/bias": b}, model="clf", message="after part 2")
    assert v2.parents == (v1.cid,)
    assert_same(repo.load("clf~1"), {"dense/kernel": w, "dense/bias": b})
    history = repo.history("clf")
    assert [(v.label, v.message, v.metrics) for v in history] == [("v2", "after part 2", {}), ("v1", "first", {"acc": 0.96})]
    assert all(v.time.endswith("Z") for v in history)


def test_repo_is_found_in_parent_directories_and_created_on_first_commit(tmp_path, monkeypatch):
    monkeypatch.delenv("NBVERSION_DIR", raising=False)
    project = tmp_path / "project"
    (project / "notebooks" / "deep").mkdir(parents=True)
    monkeypatch.chdir(project)
    repo = nbversion.Repo()
    assert repo.path == project / ".nbversion" and not repo.path.exists()
    assert repo.log() == []  # reading does not create anything
    assert not repo.path.exists()
    repo.commit(weights(), model="m")
    assert (project / ".nbversion").is_dir()
    monkeypatch.chdir(project / "notebooks" / "deep")
    assert len(nbversion.Repo().log()) == 1


def test_nbversion_dir_overrides_discovery(tmp_path, monkeypatch):
    monkeypatch.setenv("NBVERSION_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.chdir(tmp_path)
    nbversion.Repo().commit(weights(), model="m")
    assert (tmp_path / "elsewhere" / "index.sqlite").exists()
    assert not (tmp_path / ".nbversion").exists()


def test_load_returns_every_dtype_and_shape_bit_for_bit(repo):
    tensors = {
        "f16": np.arange(7, dtype=np.float16),
        "f64": np.random.rand(3, 4, 5),
        "i8": np.arange(-5, 5, dtype=np.int8),
        "u64": np.arange(4, dtype=np.uint64) << np.uint64(60),
        "bool": np.array([True, False, True]),
        "c64": np.array([1 + 2j, 3 - 4j], dtype=np.complex64),
        "scalar": np.float32(3.5),
        "empty": np.zeros((0, 3), np.float32),
        "fortran": np.asfortranarray(np.random.rand(4, 6)),
        "bigendian": np.arange(6, dtype=">i4"),
        "large": np.random.rand(300_000).astype(np.float32),  # 1.2 MB: five chunks
    }
    v = repo.commit(tensors, model="m")
    loaded = repo.load(v.cid)
    for name, value in tensors.items():
        expected = np.asarray(value)
        assert loaded[name].shape == expected.shape, name
        assert np.array_equal(loaded[name], expected), name
    assert loaded["bigendian"].dtype == np.dtype("<i4")


def test_lazy_load_reads_only_the_tensors_asked_for(repo):
    v = repo.commit(weights(), model="m")
    lazy = repo.load(v.cid, lazy=True)
    assert len(lazy) == 3 and lazy._cache == {}
    assert lazy["dense/bias"].shape == (32,)
    assert list(lazy._cache) == ["dense/bias"]
    assert list(repo.load(v.cid, names=["dense/bias"])) == ["dense/bias"]


def test_unchanged_tensors_cost_nothing_in_a_new_version(repo):
    w = weights()
    v1 = repo.commit(w, model="m")
    w2 = dict(w, **{"dense/kernel": w["dense/kernel"] * 2})
    v2 = repo.commit(w2, model="m")
    assert v2.stats["new_tensors"] == 1 and v2.stats["reused_tensors"] == 2
    assert v2.stats["bytes_written"] < w["dense/kernel"].nbytes + 2000
    same = repo.commit(w2, model="m", message="no change", allow_empty=True)
    assert same.stats["new_tensors"] == 0
    m1, m2 = repo.manifest(v1).by_name(), repo.manifest(v2).by_name()
    assert m1["embed/table"].data == m2["embed/table"].data
    assert m1["dense/kernel"].data != m2["dense/kernel"].data


def test_ref_syntax(repo):
    v1 = repo.commit(weights(1), model="clf", message="one")
    v2 = repo.commit(weights(2), model="clf", message="two")
    v3 = repo.commit(weights(3), model="clf", message="three")
    repo.tag("best", "v2")
    assert repo.resolve(str(v1.cid)) == v1.cid
    assert repo.resolve(str(v1.cid)[:20]) == v1.cid
    assert repo.resolve("best") == v2.cid
    assert repo.resolve("clf") == v3.cid
    assert repo.resolve("clf~2") == v1.cid
    assert repo.resolve("clf~") == v2.cid
    assert repo.resolve("best~1") == v1.cid
    assert repo.resolve("v1") == v1.cid
    assert repo.resolve("HEAD") == v3.cid
    assert repo.resolve("HEAD~1") == v2.cid
    assert repo.resolve("main") == v3.cid
    assert repo.resolve("clf/main") == v3.cid
    assert repo.show("best").tags == ("best",)


def test_refs_are_per_model(repo):
    a1 = repo.commit(weights(1), model="a")
    b1 = repo.commit(weights(2), model="b")
    assert repo.resolve("v1", model="a") == a1.cid
    assert repo.resolve("v1", model="b") == b1.cid
    with pytest.raises(AmbiguousRefError, match="needs a model"):
        repo.resolve("v1")
    with pytest.raises(AmbiguousRefError, match="MODEL/main"):
        repo.resolve("main")


def test_unknown_ref_names_the_ref_and_the_known_tags(repo):
    repo.commit(weights(), model="clf")
    repo.tag("part1")
    with pytest.raises(UnknownRefError, match=r"Unknown ref 'part4' for model 'clf'\. Known tags: part1\.") as err:
        repo.load("part4", model="clf")
    assert isinstance(err.value, KeyError)  # except KeyError still works
    with pytest.raises(UnknownRefError, match="back past the first version"):
        repo.resolve("clf~5")
    with pytest.raises(UnknownRefError, match="no version v9"):
        repo.resolve("v9")


def test_ambiguous_cid_prefix_is_refused(repo):
    for i in range(3):
        repo.commit(weights(i), model="m")
    with pytest.raises(AmbiguousRefError, match="several versions"):
        repo.resolve("bafyrei")


def test_malformed_or_foreign_cid_is_a_clear_error(repo):
    repo.commit(weights(), model="m")
    with pytest.raises(UnknownRefError, match="Import it"):
        repo.resolve("bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
    with pytest.raises(nbversion.NbversionError):
        repo.resolve("Qm-not-a-cid")


def test_parents_and_branches_make_a_tree(repo):
    v1 = repo.commit(weights(1), model="m")
    v2 = repo.commit(weights(2), model="m")
    side = repo.commit(weights(3), model="m", parents=[v1.cid], branch="experiment")
    assert side.parents == (v1.cid,)
    assert repo.head("m") == ("experiment", side.cid)
    assert repo.branches("m") == {"m/main": v2.cid, "m/experiment": side.cid}
    assert [v.cid for v in repo.history("m")] == [side.cid, v1.cid]
    assert [v.cid for v in repo.history("m", ref="m/main")] == [v2.cid, v1.cid]
    with pytest.raises(RefError, match="not a parent"):
        repo.commit(weights(4), model="m", parents=[v1.cid], branch="main")
    merge = repo.commit(weights(5), model="m", parents=[side.cid, v2.cid], branch="main")
    assert merge.parents == (side.cid, v2.cid)


def test_checkout_moves_head_and_the_next_commit_starts_a_branch(repo):
    v1 = repo.commit(weights(1), model="m")
    v2 = repo.commit(weights(2), model="m")
    assert repo.checkout("v1").cid == v1.cid
    assert repo.head("m") == (None, v1.cid)
    assert repo.resolve("HEAD") == v1.cid
    side = repo.commit(weights(3), model="m")
    assert side.parents == (v1.cid,)
    assert repo.head("m") == ("from-v1", side.cid)
    assert repo.branches("m")["m/main"] == v2.cid  # main did not move
    again = repo.commit(weights(4), model="m", parents=[v1.cid])
    assert repo.head("m") == ("from-v1-2", again.cid)
    repo.checkout("m/main")
    assert repo.head("m") == ("main", v2.cid)
    assert repo.commit(weights(5), model="m").parents == (v2.cid,)


def test_explicit_parent_that_is_a_branch_tip_continues_that_branch(repo):
    repo.commit(weights(1), model="m")
    v2 = repo.commit(weights(2), model="m")
    repo.checkout("v1")
    v3 = repo.commit(weights(3), model="m", parents=[v2.cid])  # e.g. another kernel still at v2
    assert repo.branches("m")["m/main"] == v3.cid and repo.head("m") == ("main", v3.cid)


def test_diff_reports_per_tensor_change(repo):
    w = weights()
    v1 = repo.commit(w, model="m")
    w2 = dict(w)
    w2["dense/kernel"] = w["dense/kernel"].copy()
    w2["dense/kernel"][0, 0] += 3.0
    w2["dense/kernel"][1, 1] -= 4.0
    del w2["dense/bias"]
    w2["new"] = np.ones(3)
    v2 = repo.commit(w2, model="m")
    diffs = {d.name: d for d in repo.diff(v1.cid, v2.cid)}
    assert diffs["dense/kernel"].status == "changed"
    assert diffs["dense/kernel"].l2 == pytest.approx(5.0, rel=1e-5)
    assert diffs["dense/kernel"].max_abs == pytest.approx(4.0, rel=1e-5)
    assert diffs["embed/table"].status == "unchanged" and diffs["embed/table"].l2 == 0
    assert diffs["dense/bias"].status == "removed" and diffs["new"].status == "added"


def test_tags_do_not_move_unless_forced(repo):
    v1 = repo.commit(weights(1), model="m")
    v2 = repo.commit(weights(2), model="m")
    repo.tag("good", "v1")
    with pytest.raises(MetadataError, match="already names"):
        repo.tag("good", "v2")
    assert repo.tag("good", "v2", force=True) == v2.cid
    repo.untag("good")
    assert repo.tags() == {}
    with pytest.raises(MetadataError):
        repo.tag("v3")
    with pytest.raises(MetadataError, match="hide the model"):
        repo.tag("m")
    assert repo.resolve("v1") == v1.cid


@pytest.mark.parametrize(
    "tensors, error",
    [
        ({"w": [1.0, 2.0]}, TensorError),
        ({"w": "text"}, TensorError),
        ({"w": np.array([object()], dtype=object)}, TensorError),
        ({"w": np.array(["a", "b"])}, TensorError),
        ({"w": np.zeros(2, dtype=[("a", "i4")])}, TensorError),
        ({"": np.zeros(2)}, TensorError),
        ({}, TensorError),
    ],
    ids=["list", "str", "object-dtype", "str-dtype", "structured", "empty-name", "no-tensors"],
)
def test_non_tensor_values_are_refused_and_change_nothing(repo, tensors, error):
    v1 = repo.commit(weights(), model="m")
    with pytest.raises(error):
        repo.commit(tensors, model="m")
    assert [v.cid for v in repo.log()] == [v1.cid]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"metrics": {"loss": float("nan")}},
        {"metrics": {"acc": "high"}},
        {"context": {"when": object()}},
        {"model": "bad name"},
        {"model": "v3"},
        {"message": 42},
    ],
    ids=["nan-metric", "text-metric", "object-context", "space-in-model", "seq-like-model", "non-text-message"],
)
def test_bad_metadata_is_refused_before_anything_is_written(repo, kwargs):
    args = {"model": "m", **kwargs}
    with pytest.raises(MetadataError):
        repo.commit(weights(), **args)
    assert not repo.exists or repo.log() == []


def test_numpy_scalar_metrics_are_stored_as_numbers(repo):
    v = repo.commit(weights(), model="m", metrics={"acc": np.float32(0.5), "epoch": np.int64(3)})
    assert repo.show(v.cid).metrics == {"acc": 0.5, "epoch": 3}


def test_version_records_context_architecture_and_software(repo):
    v = repo.commit(
        weights(), model="m", author="ada", framework="keras",
        architecture={"class_name": "Sequential", "layers": [{"units": 32}]},
        context={"notebook": "train.ipynb", "cell": {"execution_count": 4}},
    )  # fmt: skip
    shown = repo.show(v.cid)
    assert shown.author == "ada" and shown.framework == "keras"
    assert shown.architecture["layers"] == [{"units": 32}]
    assert shown.context["cell"] == {"execution_count": 4}
    assert set(shown.software) >= {"python", "numpy", "nbversion"}


def test_log_lists_every_version_of_every_branch(repo):
    v1 = repo.commit(weights(1), model="m")
    repo.commit(weights(2), model="m")
    repo.commit(weights(3), model="m", parents=[v1.cid], branch="b")
    repo.commit(weights(4), model="other")
    assert [v.label for v in repo.log("m")] == ["v3", "v2", "v1"]
    assert len(repo.log()) == 4


def test_versions_are_immutable_blocks_and_only_refs_move(repo):
    v1 = repo.commit(weights(1), model="m")
    block = repo.store.get(v1.cid)
    repo.commit(weights(2), model="m")
    repo.tag("t", "v1")
    assert repo.store.get(v1.cid) == block
    assert v1.cid.verify(block)


def test_an_index_written_by_the_first_release_is_migrated_in_place(tmp_path):
    import sqlite3

    path = tmp_path / ".nbversion"
    with nbversion.Repo(path) as repo:
        v1 = repo.commit(weights(1), model="m", message="one")
        repo.tag("first", v1.cid)
    db = sqlite3.connect(path / "index.sqlite")  # back to the first schema: a `model` column, no `kind`
    db.executescript(
        "CREATE TABLE old (cid TEXT PRIMARY KEY, model TEXT NOT NULL, seq INTEGER NOT NULL, block BLOB NOT NULL,"
        " UNIQUE (model, seq)); INSERT INTO old SELECT cid, name, seq, block FROM versions;"
        " DROP TABLE versions; ALTER TABLE old RENAME TO versions; PRAGMA user_version = 0;"
    )
    db.close()
    with nbversion.Repo(path) as repo:
        assert [v.cid for v in repo.log("m")] == [v1.cid] and repo.resolve("first") == v1.cid
        v2 = repo.commit(weights(2), model="m", message="two")
        assert v2.seq == 2 and v2.kind == "weights" and repo.show("m~1").cid == v1.cid
    columns = {row[1] for row in sqlite3.connect(path / "index.sqlite").execute("PRAGMA table_info(versions)")}
    assert {"name", "kind"} <= columns and "model" not in columns


def test_a_version_of_a_kind_this_release_does_not_know_is_refused_clearly():
    from nbversion.formats import dagcbor
    from nbversion.formats.cid import CID, DAG_CBOR
    from nbversion.formats.records import Version, decode_version

    manifest = CID.hash(DAG_CBOR, b"x")
    weights_block = dagcbor.encode(Version("m", (), manifest).to_ipld())
    assert b"kind" not in weights_block  # weight versions keep the first release's encoding (and CIDs)
    assert decode_version(weights_block).kind == "weights"
    future = dagcbor.encode({**Version("m", (), manifest).to_ipld(), "kind": "hologram"})
    with pytest.raises(nbversion.NbversionError, match="kind 'hologram'"):
        decode_version(future)


def test_the_block_store_comes_from_the_registry_by_name(tmp_path):
    from nbversion.stores.pack import PackStore

    with nbversion.Repo(tmp_path / "a") as repo:
        assert isinstance(repo.store, PackStore)
    with pytest.raises(nbversion.NbversionError, match="Unknown block store 'ipfs-someday'. Known stores: local"):
        nbversion.Repo(tmp_path / "b", store="ipfs-someday").store
