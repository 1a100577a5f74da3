"""Manifests of large models as trees of shards: no block over 1 MiB (what IPFS peers exchange),
a one-tensor change rewrites one small shard, readers decode only the shards they need, and
trees from strangers are checked as strictly as one-block manifests."""

from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import numpy as np
import pytest

import nbversion
from conftest import car_check
from nbversion.errors import CarError, FormatError
from nbversion.formats import dagcbor, manifests
from nbversion.formats.car import write_car
from nbversion.formats.cid import CID, DAG_CBOR, RAW
from nbversion.formats.manifests import MAX_HEIGHT, MAX_SHARD_BLOCK, SINGLE_BLOCK, ManifestTree, encode_manifest
from nbversion.formats.records import MANIFEST_FORMAT, VERSION_FORMAT, Manifest, TensorEntry, decode_manifest
from nbversion.repo import LazyTensors

MIB = 1 << 20
N = 50_000


def name(i: int) -> str:
    return f"model.layers.{i // 100:03d}.experts.{i % 100:02d}.w"


def model(n: int = N, changed: Dict[str, float] | None = None) -> Dict[str, np.ndarray]:
    """``n`` one-element tensors (quick to commit), some of them ``changed``."""
    tensors = {name(i): np.full(1, i % 7, np.float32) for i in range(n)}
    for key, value in (changed or {}).items():
        tensors[key] = np.full(1, value, np.float32)
    return tensors


def entries(n: int) -> Manifest:
    """A deterministic manifest of ``n`` one-element tensors, without a repository."""
    return Manifest(tuple(
        TensorEntry(name(i), "float32", (1,), 4, CID.hash(RAW, np.float32(i % 7).tobytes())) for i in range(n)
    ))  # fmt: skip


def new_blocks(repo: nbversion.Repo, old: nbversion.Version, new: nbversion.Version) -> List[CID]:
    """The blocks ``new`` uses that ``old`` does not."""
    return sorted(set(repo.version_blocks(new)) - set(repo.version_blocks(old)), key=str)


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Tuple[nbversion.Repo, nbversion.Version]:
    """A repository holding a 50,000-tensor model."""
    repo = nbversion.Repo(tmp_path_factory.mktemp("big") / ".nbversion")
    return repo, repo.commit(model(), model="moe")


# -- the layout ----------------------------------------------------------------------------------


def test_a_50000_tensor_model_has_no_block_over_1_mib_and_reads_back(big):
    repo, v = big
    tree = ManifestTree(v.manifest, repo.store.get)
    blocks = repo.version_blocks(v)
    assert tree.sharded and set(blocks) >= {v.cid, v.manifest, *(s.cid for s in tree.shards())}
    assert max(repo.store.size(c) for c in blocks) <= MIB
    manifest = repo.manifest(v)
    assert [e.name for e in manifest.tensors] == sorted(model())
    loaded = repo.load(v.cid, names=[name(0), name(N - 1)])
    assert loaded[name(N - 1)][0] == (N - 1) % 7


def test_a_manifest_of_at_most_256_kib_is_one_block_as_in_the_first_release():
    small = entries(1000)
    root, blocks = encode_manifest(small)
    block = dagcbor.encode(small.to_ipld())
    assert len(block) <= SINGLE_BLOCK and blocks == [(root, block)]
    assert decode_manifest(block) == small
    root, blocks = encode_manifest(entries(3000))
    assert len(blocks) > 2 and max(len(b) for _, b in blocks) <= SINGLE_BLOCK + 4096


def test_the_sharded_form_is_pinned():
    """Users hold these CIDs: the layout (where shards end, what nodes say) must never drift."""
    root, blocks = encode_manifest(entries(20_000))
    assert str(root) == SHARDED_20000_ROOT
    assert len(blocks) == SHARDED_20000_BLOCKS
    tree = ManifestTree(root, dict(blocks).__getitem__)
    assert len(tree) == 20_000 and tree.manifest() == entries(20_000)
    assert [s.count for s in tree.shards()][:5] == [83, 114, 161, 178, 47]  # where names' hashes end shards


SHARDED_20000_ROOT = "bafyreigpfk3mhal6v3zhva26u3semenqblij53zjeb5depg3kp2klrv3t4"
SHARDED_20000_BLOCKS = 120  # 119 shards and the root


def test_no_block_is_over_1_mib_whatever_the_names_and_shapes():
    """Names of 1,024 four-byte characters and 64 dimensions: the longest entries there are."""
    long = [
        TensorEntry(f"{i:06d}" + "\U0001f600" * 1018, "float32", (1,) * 64, 4, CID.hash(RAW, b"x")) for i in range(3000)
    ]
    root, blocks = encode_manifest(Manifest(tuple(long)))
    assert max(len(b) for _, b in blocks) <= MAX_SHARD_BLOCK
    assert ManifestTree(root, dict(blocks).__getitem__).manifest().tensors == tuple(long)


def test_a_root_too_large_for_one_block_gets_a_level_of_nodes_below_it(monkeypatch):
    """Nodes are cut as leaves are; with blocks of 8 KiB, 20,000 tensors need a root of height 2."""
    monkeypatch.setattr(manifests, "_NODE_BYTES", 8 << 10)
    root, blocks = encode_manifest(entries(20_000))
    tree = ManifestTree(root, dict(blocks).__getitem__)
    assert tree.manifest() == entries(20_000) and len(tree.nodes) > 10
    assert dagcbor.decode(blocks[-1][1])["height"] == 2
    changed = list(entries(20_000).tensors)
    changed[12_345] = TensorEntry(name(12_345), "float32", (1,), 4, CID.hash(RAW, b"\x00\x00\x80\x3f"))
    _, blocks2 = encode_manifest(Manifest(tuple(changed)))
    assert len({c for c, _ in blocks2} - {c for c, _ in blocks}) == 3  # a leaf, its node, the root


# -- what a change writes ------------------------------------------------------------------------


def test_a_one_tensor_change_writes_one_shard_and_the_root(big):
    repo, v1 = big
    v2 = repo.commit(model(changed={name(25_000): 100.0}), model="moe", branch="change")
    new = new_blocks(repo, v1, v2)
    tree = ManifestTree(v2.manifest, repo.store.get)
    changed = next(e for s in tree.shards() for e in tree.entries(s) if e.name == name(25_000))
    shards = {s.cid for s in tree.shards()}
    assert set(new) - {v2.cid, v2.manifest, changed.data} <= shards
    assert len(set(new) & shards) == 1
    assert v2.stats["bytes_written"] < 200_000  # the whole manifest is 6 MB


@pytest.mark.parametrize("edit", ["insert", "remove"])
def test_inserting_or_removing_a_tensor_in_the_middle_rewrites_a_shard_or_two(big, edit):
    repo, v1 = big
    tensors = model()
    if edit == "insert":
        tensors["model.layers.250.experts.00.w.extra"] = np.ones(1, np.float32)
    else:
        del tensors[name(25_000)]
    v2 = repo.commit(tensors, model="moe", branch=edit)
    shards = {s.cid for s in ManifestTree(v2.manifest, repo.store.get).shards()}
    assert 1 <= len(set(new_blocks(repo, v1, v2)) & shards) <= 2
    assert len(shards) > 100


def test_a_repository_of_one_block_manifests_keeps_working_and_its_next_commit_is_sharded(repo, monkeypatch):
    """A version written before shards existed: its 5,000 tensors in one block of ~600 KB."""
    with monkeypatch.context() as before_shards:
        before_shards.setattr(manifests, "SINGLE_BLOCK", 32 << 20)
        old = repo.commit(model(5000), model="m")
    assert not ManifestTree(old.manifest, repo.store.get).sharded and repo.store.size(old.manifest) > SINGLE_BLOCK
    new = repo.commit(model(5000, {name(4321): 9.0}), model="m")
    assert ManifestTree(new.manifest, repo.store.get).sharded
    assert [(d.name, d.status) for d in repo.diff(old.cid, new.cid, unchanged=False)] == [(name(4321), "changed")]
    assert repo.load(old.cid, lazy=True)[name(4321)][0] == 4321 % 7 and repo.load(new.cid)[name(4321)][0] == 9.0
    assert repo.fsck().ok and repo.gc()[0] == 0


# -- readers decode only what they need ----------------------------------------------------------


def counting_get(repo: nbversion.Repo) -> Tuple[Callable[[CID], bytes], List[CID]]:
    seen: List[CID] = []

    def get(cid: CID) -> bytes:
        seen.append(cid)
        return repo.store.get(cid)

    return get, seen


def test_a_diff_decodes_only_the_shards_the_versions_do_not_share(big, monkeypatch):
    repo, v1 = big
    v2 = repo.commit(model(changed={name(10_000): 50.0}), model="moe", branch="diff")
    read: List[CID] = []
    original = ManifestTree.entries

    def entries_of(self, shard):
        read.append(shard.cid)
        return original(self, shard)

    monkeypatch.setattr(ManifestTree, "entries", entries_of)  # counts the shards decoded, changes nothing
    diffs = repo.diff(v1.cid, v2.cid, unchanged=False)
    assert [(d.name, d.status) for d in diffs] == [(name(10_000), "changed")]
    assert diffs[0].max_abs == pytest.approx(50.0 - 10_000 % 7)
    assert len(read) == 2  # the changed shard of each version
    read.clear()
    full = repo.diff(v1.cid, v2.cid)
    assert len(full) == N and sum(d.status == "unchanged" for d in full) == N - 1
    assert [d.name for d in full] == sorted(model())
    assert len(read) == len(set(read))  # shared shards decoded once, not once per version


def test_a_lazy_load_reads_the_root_and_the_shard_it_needs(big):
    repo, v = big
    get, seen = counting_get(repo)
    lazy = LazyTensors(repo, ManifestTree(v.manifest, get))
    assert len(lazy) == N and seen == [v.manifest]
    assert lazy[name(33_333)][0] == 33_333 % 7
    assert len([c for c in seen if c.codec == DAG_CBOR]) == 2  # the root and the shard holding the name
    assert name(1) in lazy and "nope" not in lazy and len(seen) < 10
    eager = repo.load(v.cid, lazy=True)
    assert len(eager) == N and eager[name(7)][0] == 0 and sorted(eager) == sorted(model())


# -- moving, keeping and checking shards ---------------------------------------------------------


def test_a_sharded_version_exports_and_imports_and_an_ipfs_tool_reads_it(big, tmp_path, node_tools):
    repo, v = big
    car = tmp_path / "moe.car"
    repo.export_car(v.cid, car)
    report = car_check(node_tools, car)
    assert report["bad_hashes"] == [] and report["missing"] == [] and report.get("undecodable", []) == []
    assert report["blocks"] == len(repo.version_blocks(v))
    with nbversion.Repo(tmp_path / "other") as other:
        assert [x.cid for x in other.import_car(car)] == [v.cid]
        assert other.fsck().ok
        assert other.load(v.cid, names=[name(N - 1)])[name(N - 1)][0] == (N - 1) % 7
        assert set(other.version_blocks(v)) == set(repo.version_blocks(v))


def test_gc_keeps_every_shard_and_fsck_finds_a_missing_one(tmp_path):
    with nbversion.Repo(tmp_path / "r") as repo:
        v = repo.commit(model(5000), model="m")
        repo.commit(model(5000, {name(1): 9.0}), model="m")
        repo.gc()
        assert repo.fsck().ok
        assert repo.load(v.cid)[name(4999)][0] == 4999 % 7
        shard = ManifestTree(v.manifest, repo.store.get).shards()[3].cid
        repo.store.retain(set(repo.version_blocks(v)) - {shard}, lambda n: None)
        report = repo.fsck()
        assert not report.ok and str(shard) in "\n".join(report.problems)


# -- trees from strangers ------------------------------------------------------------------------

Blocks = Dict[CID, bytes]


def put(blocks: Blocks, value: dict) -> CID:
    block = dagcbor.encode(value)
    cid = CID.hash(DAG_CBOR, block)
    blocks[cid] = block
    return cid


def leaf(blocks: Blocks, names: List[str]) -> Tuple[CID, dict]:
    """A leaf of one-byte tensors and the ref a node would give it."""
    data = CID.hash(RAW, b"\x01")
    tensors = [
        {"name": n, "dtype": "uint8", "shape": [1], "byteorder": "little", "size": 1, "data": data} for n in names
    ]
    cid = put(blocks, {"format": MANIFEST_FORMAT, "tensors": tensors})
    return cid, {"first": names[0], "count": len(names), "bytes": len(names), "manifest": cid}


def node(blocks: Blocks, refs: List[dict], height: int = 1) -> CID:
    return put(blocks, {"format": MANIFEST_FORMAT, "height": height, "shards": refs})


def hostile(case: str, blocks: Blocks) -> CID:
    """The root of a sharded manifest that breaks one rule."""
    _, a = leaf(blocks, ["a", "b"])
    _, c = leaf(blocks, ["c", "d"])
    if case == "unsorted shards":
        return node(blocks, [c, a])
    if case == "overlapping ranges":
        _, b = leaf(blocks, ["b", "c"])
        return node(blocks, [a, b])
    if case == "a name in two shards":
        _, b = leaf(blocks, ["b", "e"])
        return node(blocks, [{**a, "first": "a"}, {**b, "first": "b"}])
    if case == "a shard linked twice":
        return node(blocks, [a, {**a, "first": "c"}])
    if case == "wrong count":
        return node(blocks, [{**a, "count": 3}, c])
    if case == "wrong bytes":
        return node(blocks, [a, {**c, "bytes": 7}])
    if case == "wrong first name":
        return node(blocks, [a, {**c, "first": "bb"}])
    if case == "unsorted leaf":
        _, x = leaf(blocks, ["d", "c"])
        return node(blocks, [a, {**x, "first": "d"}])
    if case == "empty node":
        return node(blocks, [])
    if case == "zero count":
        return node(blocks, [{**a, "count": 0}])
    if case == "raw link":
        return node(blocks, [{**a, "manifest": CID.hash(RAW, b"x")}])
    if case == "too deep":
        root = node(blocks, [a, c])
        for height in range(2, MAX_HEIGHT + 2):
            root = node(blocks, [{"first": "a", "count": 4, "bytes": 4, "manifest": root}], height)
        return root
    if case == "height skips a level":
        inner = node(blocks, [a, c])
        return node(blocks, [{"first": "a", "count": 4, "bytes": 4, "manifest": inner}], 3)
    if case == "height 2 linking a leaf":
        return node(blocks, [a, c], 2)
    if case == "height 1 linking a node":
        inner = node(blocks, [a, c])
        return node(blocks, [{"first": "a", "count": 4, "bytes": 4, "manifest": inner}])
    if case == "a leaf over 1 MiB":
        names = [f"{i:05d}" + "x" * 1000 for i in range(1100)]
        _, big_leaf = leaf(blocks, names)
        return node(blocks, [big_leaf])
    raise AssertionError(case)


HOSTILE = [
    "unsorted shards", "overlapping ranges", "a name in two shards", "a shard linked twice", "wrong count", "wrong bytes", "wrong first name",
    "unsorted leaf", "empty node", "zero count", "raw link", "too deep", "height skips a level",
    "height 2 linking a leaf", "height 1 linking a node", "a leaf over 1 MiB",
]  # fmt: skip


@pytest.mark.parametrize("case", HOSTILE)
def test_a_sharded_manifest_that_breaks_a_rule_is_refused(case):
    blocks: Blocks = {}
    root = hostile(case, blocks)
    with pytest.raises(FormatError):
        ManifestTree(root, blocks.__getitem__).manifest()


@pytest.mark.parametrize("change", ["count", "bytes", "first", "swap", "height", "link"])
def test_a_real_sharded_manifest_with_one_field_of_its_root_changed_is_refused(change):
    root, written = encode_manifest(entries(5000))
    blocks = dict(written)
    obj = dagcbor.decode(blocks[root])
    refs = obj["shards"]
    if change in ("count", "bytes"):
        refs[3][change] += 1
    elif change == "first":
        refs[3]["first"] = name(sum(r["count"] for r in refs[:3]) - 1)  # the last name of the shard before
    elif change == "swap":
        refs[2], refs[3] = refs[3], refs[2]
    elif change == "height":
        obj["height"] = 2
    else:
        refs[3]["manifest"] = refs[4]["manifest"]
    bad = put(blocks, obj)
    with pytest.raises(FormatError):
        ManifestTree(bad, blocks.__getitem__).manifest()


def test_the_hostile_builder_makes_a_valid_tree_when_it_breaks_nothing():
    blocks: Blocks = {}
    _, a = leaf(blocks, ["a", "b"])
    _, c = leaf(blocks, ["c", "d"])
    root = node(blocks, [{"first": "a", "count": 4, "bytes": 4, "manifest": node(blocks, [a, c])}], 2)
    assert [e.name for e in ManifestTree(root, blocks.__getitem__).manifest().tensors] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("case", ["overlapping ranges", "wrong count", "too deep"])
def test_a_car_holding_a_bad_sharded_manifest_is_refused_and_changes_nothing(repo, tmp_path, case):
    mine = repo.commit({"w": np.ones(3, np.float32)}, model="mine")
    blocks: Blocks = {CID.hash(RAW, b"\x01"): b"\x01"}
    root = hostile(case, blocks)
    fields = {"model": "stranger", "parents": [], "manifest": root, "message": "", "metrics": {}, "time": "",
              "author": "", "framework": "numpy", "software": {}, "architecture": None, "context": {}}  # fmt: skip
    version = dagcbor.encode({"format": VERSION_FORMAT, **fields})
    vcid = CID.hash(DAG_CBOR, version)
    car = tmp_path / "bad.car"
    with open(car, "wb") as f:
        write_car(f, [vcid], [(vcid, version), *blocks.items()])
    with pytest.raises(CarError):
        repo.import_car(car)
    assert [v.cid for v in repo.log()] == [mine.cid]
    assert repo.fsck().ok and repo.gc()[0] == 0
