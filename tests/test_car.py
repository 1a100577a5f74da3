"""CAR export/import: readable by independent IPFS tools, and hostile files are refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import nbversion
from conftest import car_check, weights
from nbversion.formats.car import read_car, write_car
from nbversion.formats.cid import CID, DAG_CBOR, RAW
from nbversion.errors import CarError


def test_exported_car_reads_back_in_an_independent_ipfs_implementation(repo, tmp_path, node_tools):
    w = weights()
    w["big"] = np.random.rand(200_000).astype(np.float64)  # 1.6 MB: a dag-pb tree
    v1 = repo.commit(w, model="m", message="one")
    w2 = dict(w, **{"dense/kernel": w["dense/kernel"] + 1})
    v2 = repo.commit(w2, model="m", message="two")
    car = tmp_path / "m.car"
    root, size = repo.export_car("m", car)
    assert root == v2.cid and car.stat().st_size == size
    entries = repo.manifest(v2).tensors
    report = car_check(node_tools, car, *(str(e.data) for e in entries))
    assert report["version"] == 1 and report["roots"] == [str(v2.cid)]
    assert report["bad_hashes"] == [] and report["missing"] == [] and report["duplicates"] == 0
    assert report.get("undecodable", []) == []
    for entry in entries:
        data = repo.load(v2.cid, names=[entry.name])[entry.name].tobytes()
        assert report["files"][str(entry.data)] == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    # the history travels too: v1 and its manifest are in the CAR
    reachable = {str(c) for c in repo.version_blocks(v1)} | {str(c) for c in repo.version_blocks(v2)}
    assert report["blocks"] == len(reachable)


def test_import_round_trip_into_another_repository(repo, tmp_path):
    v1 = repo.commit(weights(1), model="m", message="one", metrics={"acc": 0.5})
    v2 = repo.commit(weights(2), model="m", message="two")
    car = tmp_path / "m.car"
    repo.export_car("m", car)
    other = nbversion.Repo(tmp_path / "other")
    imported = other.import_car(car)
    assert [(v.cid, v.label) for v in imported] == [(v1.cid, "v1"), (v2.cid, "v2")]
    assert other.resolve("m") == v2.cid
    for name, value in repo.load(v1.cid).items():
        assert np.array_equal(other.load("m~1")[name], value)
    assert other.show("v1").metrics == {"acc": 0.5}
    assert other.import_car(car) == []  # importing again adds nothing
    assert other.fsck().ok


def test_import_does_not_move_an_existing_models_refs(repo, tmp_path):
    repo.commit(weights(1), model="m")
    car = tmp_path / "m.car"
    repo.export_car("m", car)
    other = nbversion.Repo(tmp_path / "other")
    mine = other.commit(weights(9), model="m")
    theirs = other.import_car(car)
    assert other.resolve("m") == mine.cid
    assert other.resolve(str(theirs[0].cid)) == theirs[0].cid


def _rewrite(src: Path, dst: Path, change) -> None:
    with open(src, "rb") as f:
        roots, blocks = read_car(f)
        items = [change(cid, block) for cid, block in blocks]
    with open(dst, "wb") as f:
        write_car(f, roots, [i for i in items if i is not None])


@pytest.mark.parametrize("damage", ["truncated", "forged-block", "missing-block", "empty", "not-a-car"])
def test_hostile_or_broken_car_is_refused_and_changes_nothing(repo, tmp_path, damage):
    v = repo.commit(weights(), model="m")
    good = tmp_path / "good.car"
    repo.export_car("m", good)
    bad = tmp_path / "bad.car"
    table = repo.manifest(v).by_name()["embed/table"].data
    leaf = next(c for c in repo.version_blocks(v) if c.codec == RAW and c != table and repo.store.size(c) > 1000)
    if damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "forged-block":
        _rewrite(good, bad, lambda c, b: (c, b[:-1] + bytes([b[-1] ^ 1])) if c == leaf else (c, b))
    elif damage == "missing-block":
        _rewrite(good, bad, lambda c, b: None if c == leaf else (c, b))
    elif damage == "empty":
        bad.write_bytes(b"")
    else:
        bad.write_bytes(b"PK\x03\x04 this is a zip file" * 10)
    other = nbversion.Repo(tmp_path / "other")
    other.commit(weights(5), model="mine")
    before = [x.cid for x in other.log()]
    with pytest.raises(CarError):
        other.import_car(bad)
    assert [x.cid for x in other.log()] == before
    assert other.fsck().ok
    removed, _ = other.gc()
    assert removed == 0  # nothing of the bad file was indexed


def test_car_with_a_version_whose_fields_are_wrong_is_refused(repo, tmp_path):
    from nbversion.formats import dagcbor

    block = dagcbor.encode({"format": "nbversion/version@1", "model": "m", "parents": "nope"})
    cid = CID.hash(DAG_CBOR, block)
    car = tmp_path / "x.car"
    with open(car, "wb") as f:
        write_car(f, [cid], [(cid, block)])
    with pytest.raises(nbversion.NbversionError, match="parents"):
        repo.import_car(car)


def test_manifest_with_an_object_dtype_is_refused_on_import(repo, tmp_path):
    from nbversion.formats import dagcbor
    from nbversion.formats.unixfs import build_file

    blocks = {}
    data = build_file(b"\x80\x04N.", lambda c, b: blocks.setdefault(c, bytes(b))).cid  # a pickle of None
    manifest = dagcbor.encode({"format": "nbversion/manifest@1", "tensors": [
        {"name": "w", "dtype": "object", "shape": [1], "byteorder": "little", "size": 4, "data": data}]})  # fmt: skip
    mcid = CID.hash(DAG_CBOR, manifest)
    version = dagcbor.encode({
        "format": "nbversion/version@1", "model": "m", "parents": [], "manifest": mcid, "message": "",
        "metrics": {}, "time": "", "author": "", "framework": "", "software": {}, "architecture": None, "context": {}})  # fmt: skip
    vcid = CID.hash(DAG_CBOR, version)
    car = tmp_path / "evil.car"
    with open(car, "wb") as f:
        write_car(f, [vcid], [(vcid, version), (mcid, manifest), *blocks.items()])
    with pytest.raises(nbversion.NbversionError, match="dtype"):
        repo.import_car(car)
    assert repo.log() == []
