"""Data versions (nbversion/formats/datasets.py, nbversion/repo/data.py) and the links from model versions
to them: the data manifest's exact encoding, commit_data / open / load_data, unchanged data, lazy
reading, and every walk that follows history (export and import, push and pull, gc and fsck)
following data links too."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from hypothesis import given, settings
from hypothesis import strategies as st

import nbversion
from nbversion.errors import FormatError, MetadataError, WrongKindError
from nbversion.formats import dagcbor
from nbversion.formats.cid import CID, DAG_CBOR, DAG_PB
from nbversion.formats.datasets import (
    ARRAY,
    FILE,
    MAX_DATA_BLOCK,
    TABLE,
    DataEntry,
    DataManifest,
    decode_data_manifest,
    encode_data_manifest,
)  # fmt: skip
from nbversion.formats.records import DATA, KINDS, Version, decode_version
from nbversion.formats.unixfs import file_cid

pytest_plugins = ["conftest_ipfs"]


def digits(n: int = 60, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"X": rng.normal(size=(n, 8)).astype(np.float32), "y": (np.arange(n) % 3).astype(np.int64)}


def frame(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame({"id": np.arange(n), "label": ["cat", "dog", "cat", "cat", "dog"][:n]})


# --- the format --------------------------------------------------------------------------------


def small_manifest() -> DataManifest:
    y = np.array([0, 1, 1], dtype=np.int64)
    return DataManifest((
        DataEntry("labels", ARRAY, 24, file_cid(y.tobytes()), dtype="int64", shape=(3,),
                  summary={"classes": {"0": 1, "1": 2}}),
        DataEntry("notes.txt", FILE, 5, file_cid(b"hello")),
        DataEntry("table", TABLE, 4, file_cid(b"PAR1"), rows=2, columns=("a", "b")),
    ))  # fmt: skip


def test_a_data_manifest_and_a_data_version_encode_to_pinned_cids():
    block = encode_data_manifest(small_manifest())
    assert block.hex().startswith("a266666f726d6174706e6276657273696f6e2f64617461403167656e747269657383")  # format, 3 entries
    assert str(CID.hash(DAG_CBOR, block)) == "bafyreiefwt7iveep64jme5ytruaxetxrzcm2jbudsiu24zlrzzkl6sh6vq"
    assert decode_data_manifest(block) == small_manifest()
    assert decode_data_manifest(block).entries[0].summary == {"classes": {"0": 1, "1": 2}}
    version = Version(model="digits", parents=(), manifest=CID.hash(DAG_CBOR, block), message="m",
                      time="2026-01-01T00:00:00Z", author="a", framework="data", kind=DATA)  # fmt: skip
    record = dagcbor.encode(version.to_ipld())
    assert str(CID.hash(DAG_CBOR, record)) == "bafyreiddvruybvw4aqlbjvceboghkzxp7tk74oiibwlsnnfjfppdizpgju"
    assert decode_version(record).kind == DATA and KINDS[DATA](block) == small_manifest()


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda e: e.update(name="../x"), "names are '/'-separated parts"),
        (lambda e: e.update(type="model"), "is not one of array, table, file, folder"),
        (lambda e: e.update(size=25), "says 25 bytes for shape"),
        (lambda e: e.update(shape=[-1]), "non-negative integers"),
        (lambda e: e.update(dtype="object"), "not one nbversion stores"),
        (lambda e: e.update(data=CID.hash(DAG_CBOR, b"x")), "must link a UnixFS file"),
        (lambda e: e.update(summary=[1]), "summary must be a map"),
        (lambda e: e.update(byteorder="big"), "little-endian"),
    ],
)
def test_a_data_manifest_from_a_stranger_is_checked_entry_by_entry(change, problem):
    obj = small_manifest().to_ipld()
    change(obj["entries"][0])
    with pytest.raises(FormatError, match=problem):
        decode_data_manifest(dagcbor.encode(obj))


def test_a_data_manifest_lists_its_items_sorted_and_once_and_stays_within_one_mib():
    obj = small_manifest().to_ipld()
    obj["entries"].reverse()
    with pytest.raises(FormatError, match="sorted by name and unique"):
        decode_data_manifest(dagcbor.encode(obj))
    folder = small_manifest().to_ipld()
    folder["entries"][1].update(type="folder", files=2, data=CID.hash(DAG_PB, b"d"))
    assert decode_data_manifest(dagcbor.encode(folder)).entries[1].files == 2
    many = DataManifest(tuple(DataEntry(f"file{i:06d}" + "x" * 200, FILE, 1, file_cid(b"a")) for i in range(5000)))
    with pytest.raises(MetadataError, match="at most 1 MiB can be stored, so nothing was committed. Put the files in a folder"):
        encode_data_manifest(many)
    with pytest.raises(FormatError, match="at most"):
        decode_data_manifest(b"\xa0" * (MAX_DATA_BLOCK + 1))


FIELDS = ["name", "type", "size", "data", "dtype", "shape", "byteorder", "rows", "columns", "files", "format", "summary"]
_FIELD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64), st.text(max_size=8), st.lists(st.integers(-2, 300), max_size=4),
    st.sampled_from([file_cid(b"a"), CID.hash(DAG_CBOR, b"x"), CID.hash(DAG_PB, b"d")]),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 2),
    st.dictionaries(st.sampled_from(FIELDS), _FIELD_VALUES, max_size=6),
)
def test_a_data_manifest_with_any_field_changed_decodes_checked_or_is_a_format_error(which, changes):
    obj = small_manifest().to_ipld()
    obj["entries"][which].update(changes)
    try:
        decoded = decode_data_manifest(dagcbor.encode(obj))
    except FormatError:
        return
    entry = decoded.entries[which]  # what decodes is consistent
    assert entry.size >= 0 and entry.data.codec in (0x55, 0x70) and entry.type in ("array", "table", "file", "folder")


# --- commit, lineage, unchanged data -----------------------------------------------------------


def test_arrays_and_a_dataframe_commit_as_a_data_version_with_summaries_and_load_back_equal(repo):
    data = digits()
    v1 = repo.commit_data("digits", {**data, "meta": frame()}, "digits, part 1", tag="d1", metadata={"source": "sklearn"})
    assert (v1.kind, v1.model, v1.label, v1.tags, v1.message) == (DATA, "digits", "v1", ("d1",), "digits, part 1")
    assert v1.context["metadata"] == {"source": "sklearn"} and v1.stats["items"] == 3
    loaded = repo.load_data("d1")
    assert np.array_equal(loaded["X"], data["X"]) and loaded["X"].dtype == np.float32
    assert np.array_equal(loaded["y"], data["y"])
    pd.testing.assert_frame_equal(loaded["meta"], frame())
    entries = repo.open("digits").entries
    assert entries["y"].summary == {"shape": [60], "dtype": "int64", "classes": {"0": 20, "1": 20, "2": 20}}
    assert entries["X"].summary == {"shape": [60, 8], "dtype": "float32"}  # not labels: no classes
    assert entries["meta"].rows == 5 and entries["meta"].columns == ("id", "label")
    assert entries["meta"].summary["classes"] == {"label": {"cat": 3, "dog": 2}}
    # The same arrays are stored once, whether in a data version or a model's weights.
    weights = repo.commit({"X": data["X"]}, model="clf")
    assert repo.manifest(weights).by_name()["X"].data == repo.open("digits").entries["X"].data
    more = digits(90, seed=1)
    v2 = repo.commit_data("digits", more, "digits, parts 1-2")
    assert v2.parents == (v1.cid,) and [v.label for v in repo.history("digits")] == ["v2", "v1"]
    assert set(repo.load_data("digits")) == {"X", "y"} and np.array_equal(repo.load_data("digits~1")["y"], data["y"])


def test_a_series_is_a_one_column_table_read_back_as_a_series_with_its_labels_counted(repo):
    labels = frame()["label"]
    v = repo.commit_data("labels", {"named": labels, "unnamed": pd.Series([3, 1, 3])})
    back = repo.load_data(v)
    pd.testing.assert_series_equal(back["named"], labels)
    pd.testing.assert_series_equal(back["unnamed"], pd.Series([3, 1, 3]))
    entry = repo.open(v).entries["unnamed"]
    assert entry.series and entry.summary == {"rows": 3, "dtype": "int64", "classes": {"1": 1, "3": 2}}
    assert entry.to_ipld()["series"] is True and "series" not in small_manifest().entries[2].to_ipld()


def test_two_data_versions_diff_item_by_item(repo):
    data = digits()
    repo.commit_data("digits", {**data, "meta": frame(), "old": np.zeros(2)})
    changed = {"X": data["X"] + 1, "y": data["y"], "meta": frame(4), "new": np.ones(2), "old": np.zeros(3)}
    repo.commit_data("digits", changed)
    found = {d.name: (d.status, d.shape_a, d.shape_b) for d in repo.diff("digits~1", "digits")}
    assert found == {
        "X": ("changed", (60, 8), (60, 8)), "y": ("unchanged", (60,), (60,)), "meta": ("changed", (5, 2), (4, 2)),
        "new": ("added", None, (2,)), "old": ("retyped", (2,), (3,)),
    }  # fmt: skip
    x = next(d for d in repo.diff("digits~1", "digits") if d.name == "X")
    assert x.max_abs == pytest.approx(1.0) and x.l2 == pytest.approx(np.sqrt(60 * 8))
    assert [d.name for d in repo.diff("digits~1", "digits", unchanged=False)] == ["X", "meta", "new", "old"]


def test_the_same_dataframe_is_the_same_parquet_bytes_so_the_same_cid(repo):
    a = repo.commit_data("one", {"t": frame()})
    b = repo.commit_data("two", {"t": frame().copy()})
    assert repo.open(a).entries["t"].data == repo.open(b).entries["t"].data
    assert repo.open(a).manifest == repo.open(b).manifest
    elsewhere = subprocess.run(  # another process (another time, another hash seed) writes the same bytes
        [sys.executable, "-c", "import numpy as np, pandas as pd; from nbversion.repo.data import parquet_bytes; "
         "from nbversion.formats.unixfs import file_cid; import sys; sys.stdout.write(str(file_cid(parquet_bytes("
         "pd.DataFrame({'id': np.arange(5), 'label': ['cat', 'dog', 'cat', 'cat', 'dog']})))))"],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "123"},
    )  # fmt: skip
    assert elsewhere.stdout == str(repo.open(a).entries["t"].data)


def test_committing_the_data_the_data_set_already_holds_returns_that_version_unchanged(repo):
    v1 = repo.commit_data("digits", digits(), "first", tag="d1")
    blocks = sorted(map(str, repo.store.cids()))
    again = repo.commit_data("digits", digits(), "first", tag="d1")  # a notebook re-run top to bottom
    assert again.cid == v1.cid and again.stats["unchanged"] is True
    assert sorted(map(str, repo.store.cids())) == blocks and len(repo.log("digits")) == 1
    tagged = repo.commit_data("digits", digits(), tag="first-digits")  # a new tag goes on that version
    assert tagged.cid == v1.cid and repo.tags()["first-digits"] == v1.cid
    with pytest.raises(MetadataError, match="Tag 'd1' already names v1 of this data set, whose items differ"):
        repo.commit_data("digits", digits(seed=5), tag="d1")
    assert len(repo.log("digits")) == 1


def test_bad_items_are_refused_before_anything_is_written(repo):
    with pytest.raises(MetadataError, match="Item 'names' is a list"):
        repo.commit_data("d", {"names": ["a", object()]})
    with pytest.raises(MetadataError, match="is a pandas Index; commit a DataFrame or a Series"):
        repo.commit_data("d", {"s": frame().columns})
    with pytest.raises(MetadataError, match="item names are '/'-separated"):
        repo.commit_data("d", {"a//b": np.zeros(2)})
    with pytest.raises(MetadataError, match="is not a file or folder here"):
        repo.commit_data("d", {"f": "/no/such/path"})
    assert not repo.exists or repo.log() == []


# --- kinds never mix -----------------------------------------------------------------------------


def test_a_data_version_where_weights_are_expected_and_the_reverse_are_clear_errors(repo):
    repo.commit({"w": np.ones(3, np.float32)}, model="clf")
    repo.commit_data("digits", digits())
    for read in (lambda: repo.load("digits"), lambda: repo.manifest("digits"), lambda: repo.diff("digits", "clf")):
        with pytest.raises(WrongKindError, match=r"digits v1 is a data version, not a model's weights: open it with `repo.open"):
            read()
    with pytest.raises(WrongKindError, match="clf v1 is a weights version .* not a data version"):
        repo.open("clf")
    with pytest.raises(WrongKindError, match="'clf' is a model .* choose another name for the data set"):
        repo.commit_data("clf", digits())
    with pytest.raises(MetadataError, match="names clf v1, a weights version, not a data version"):
        repo.commit({"w": np.zeros(3, np.float32)}, model="clf", data={"train": "clf"})


# --- open: the manifest first, bytes on demand ---------------------------------------------------


def test_open_reads_the_manifest_only_and_each_item_when_asked(repo):
    v = repo.commit_data("digits", {**digits(20000), "meta": frame()})  # X: 640 KB, a file of three leaves
    read: list = []
    store = repo.store
    get, readinto = store.get, store.readinto
    store.get = lambda cid: read.append(cid) or get(cid)  # type: ignore[method-assign]
    store.readinto = lambda files: read.extend(c for leaves, _ in files for c, _ in leaves) or readinto(files)  # type: ignore[method-assign]
    try:
        ds = repo.open("digits")
        assert read == [v.manifest]  # the record is in the index; only the manifest block is read
        assert ds.entries["X"].summary["shape"] == [20000, 8] and len(ds) == 3
        x_file = ds.entries["X"].data
        del read[:]
        y = ds["y"]
        assert np.array_equal(y, digits(20000)["y"]) and x_file not in read and len(read) == 1
        del read[:]
        assert ds["X"].shape == (20000, 8) and x_file in read and len(read) == 4  # its node and three leaves
        del read[:]
        ds["X"]
        assert read == []  # kept once read
    finally:
        del store.get, store.readinto
    assert "DataVersion(digits v1: X: array float32[20000, 8], meta: table 5 rows x 2 columns" in repr(ds)


# --- links: export and import, gc and fsck, push and pull ----------------------------------------


def test_a_model_version_links_its_data_versions_and_the_listing_shows_them(repo):
    d1 = repo.commit_data("digits", digits(), tag="d1")
    m = repo.commit({"w": np.ones(3, np.float32)}, model="clf", data={"train": "digits", "test": "d1"})
    assert m.data == {"train": d1.cid, "test": d1.cid} and m.links == (d1.cid,)
    listed = json.loads(repo.log_json("clf")[0])
    assert listed["data"] == {"test": str(d1.cid), "train": str(d1.cid)}
    assert "data" not in json.loads(repo.log_json("digits")[0])


def test_an_exported_model_version_brings_its_data_versions_into_another_repository(repo, tmp_path):
    d1 = repo.commit_data("digits", {**digits(), "meta": frame()}, "part 1")
    d2 = repo.commit_data("digits", digits(90, seed=1), "parts 1-2")
    repo.commit({"w": np.ones(3, np.float32)}, model="clf", data={"train": d1.cid})
    m2 = repo.commit({"w": np.full(3, 2, np.float32)}, model="clf", data={"train": d2.cid})
    root, _ = repo.export_car("clf", tmp_path / "clf.car")
    with nbversion.Repo(tmp_path / "other" / ".nbversion") as other:
        imported = other.import_car(tmp_path / "clf.car")
        assert {v.cid for v in imported} == {root, m2.parents[0], d1.cid, d2.cid}
        assert other.head("digits")[1] == d2.cid  # a data set new here starts at the newest version linked
        assert [v.cid for v in other.history("digits")] == [d2.cid, d1.cid]
        pd.testing.assert_frame_equal(other.load_data(d1.cid)["meta"], frame())
        assert other.fsck().ok


def test_gc_keeps_linked_data_versions_and_fsck_checks_their_items(repo):
    d1 = repo.commit_data("digits", digits())
    repo.commit({"w": np.ones(3, np.float32)}, model="clf", data={"train": "digits"})
    assert repo.gc() == (0, 0) and repo.fsck().ok
    assert np.array_equal(repo.load_data(d1.cid)["y"], digits()["y"])
    x = repo.open(d1.cid).entries["X"].data
    repo.store.retain(set(repo.store.cids()) - {x})  # the array's file vanishes (as a disk fault would lose it)
    report = repo.fsck()
    assert not report.ok and report.missing.get(x) == [f"digits v1 ({d1.cid})"]


def test_a_pushed_model_version_brings_its_data_versions_to_the_node_and_a_pull_gets_them(repo, tmp_path, ipfs_api):
    d1 = repo.commit_data("digits", {**digits(), "meta": frame()})
    m = repo.commit({"w": np.ones(3, np.float32)}, model="clf", data={"train": "digits"})
    repo.remote_add("lab", ipfs_api)
    pushed = repo.push("clf", "lab")
    assert pushed.blocks_sent == pushed.blocks
    with nbversion.Repo(tmp_path / "colleague" / ".nbversion") as other:
        pulled = other.pull(str(m.cid), ipfs_api)
        assert {v.cid for v in pulled.versions} == {m.cid, d1.cid}
        assert other.version(m.cid).data == {"train": d1.cid}
        pd.testing.assert_frame_equal(other.load_data(d1.cid)["meta"], frame())
        assert other.fsck().ok


# --- files and folders (UnixFS, nbversion/repo/folders.py) ----------------------------------------


def test_files_and_folders_are_items_listed_restored_verified_and_carried_by_a_car(repo, tmp_path):
    (tmp_path / "images" / "cats").mkdir(parents=True)
    (tmp_path / "images" / "cats" / "1.png").write_bytes(b"\x89PNG one")
    (tmp_path / "images" / "readme.txt").write_text("two images")
    (tmp_path / "labels.csv").write_text("id,label\n1,cat\n")
    v = repo.commit_data("pets", {"images": tmp_path / "images", "labels.csv": tmp_path / "labels.csv", "y": np.arange(3)})
    ds = repo.open(v)
    assert ds.entries["images"].type == "folder" and ds.entries["images"].files == 2 and ds.entries["images"].size == 18
    assert ds["labels.csv"] == b"id,label\n1,cat\n" and ds.paths["images"] == str(tmp_path / "images")
    assert [p for p, _, _ in ds["images"].list()] == ["cats/1.png", "readme.txt"]
    ds.restore("images", tmp_path / "copy")
    assert (tmp_path / "copy" / "cats" / "1.png").read_bytes() == b"\x89PNG one"
    assert ds.verify("images", tmp_path / "copy").changed == []
    (tmp_path / "copy" / "readme.txt").write_text("changed")
    assert ds.verify("images", tmp_path / "copy").changed == ["readme.txt"]
    again = repo.commit_data("pets", {"images": tmp_path / "images", "labels.csv": tmp_path / "labels.csv", "y": np.arange(3)})
    assert again.cid == v.cid and again.stats["unchanged"]
    assert repo.fsck().ok and repo.gc() == (0, 0)
    repo.export_car(v.cid, tmp_path / "pets.car")
    with nbversion.Repo(tmp_path / "other" / ".nbversion") as other:
        other.import_car(tmp_path / "pets.car")
        assert other.open("pets")["images"].list() == ds["images"].list() and other.fsck().ok


def test_the_command_line_logs_and_shows_data_versions_with_their_items(repo, tmp_path):
    repo.commit_data("digits", {**digits(), "meta": frame()}, "part 1", tag="d1")
    repo.commit({"w": np.ones(3, np.float32)}, model="clf", data={"train": "d1"}, metrics={"acc": 0.9})
    cli = lambda *args: run_cli("--repo", str(repo.path), *args)
    shown = cli("show", "d1")
    assert shown.returncode == 0, shown.stderr
    assert "digits v1" in shown.stdout and "(data)" in shown.stdout
    assert '"classes": {"0": 20, "1": 20, "2": 20}' in shown.stdout and "meta  table" in shown.stdout
    items = json.loads(cli("show", "d1", "--json").stdout)["items"]
    assert [(i["name"], i["type"]) for i in items] == [("X", "array"), ("meta", "table"), ("y", "array")]
    log = cli("log", "--all").stdout
    assert "train=digits v1" in log and "y int64[60] (3 classes)" in log
    model = json.loads(cli("show", "clf", "--json").stdout)
    assert model["data"] == {"train": str(repo.resolve("d1"))}


def test_a_model_version_opened_from_a_node_brings_its_data_versions_records_and_their_items_on_demand(
    repo, tmp_path, ipfs_api
):
    d1 = repo.commit_data("digits", {**digits(), "meta": frame()})
    m = repo.commit({"w": np.ones(3, np.float32)}, model="clf", data={"train": "digits"})
    repo.push("clf", ipfs_api)
    with nbversion.Repo(tmp_path / "colleague" / ".nbversion", remote=ipfs_api) as other:
        assert other.locate(str(m.cid)).data == {"train": d1.cid}
        assert other.version(d1.cid).kind == DATA  # its record came with the model's
        pd.testing.assert_frame_equal(other.open(d1.cid)["meta"], frame())  # fetched when read
        assert np.array_equal(other.load_data(d1.cid)["y"], digits()["y"])
