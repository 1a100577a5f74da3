"""Content from strangers, part one: a CAR costs work in proportion to its bytes, is verified
before the repository lock is taken, and its manifests must be consistent; and what nbversion
exports, it can import.

Every hostile file here is built with the project's own encoders, as an attacker would build it.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import pytest

import nbversion
from conftest import weights
from nbversion.errors import CarError, FormatError, MetadataError
from nbversion.formats import dagcbor
from nbversion.formats.car import MAX_BLOCK, MAX_SECTION, read_car, write_car
from nbversion.formats.cid import CID, DAG_CBOR, DAG_PB, RAW, varint
from nbversion.formats.records import (
    MANIFEST_FORMAT,
    MAX_RECORD,
    VERSION_FORMAT,
    check_record_size,
    decode_manifest,
    tensor_name_problem,
)
from nbversion.formats.unixfs import (
    CHUNK_SIZE,
    MAX_DEPTH,
    MAX_LINKS,
    FileLink,
    build_file,
    check_file,
    encode_file_node,
    file_leaves,
)

Blocks = Dict[CID, bytes]


# -- building hostile content with our own encoders --------------------------------------------


def raw(blocks: Blocks, data: bytes) -> FileLink:
    cid = CID.hash(RAW, data)
    blocks[cid] = data
    return FileLink(cid, len(data), len(data))


def node(blocks: Blocks, children: List[FileLink]) -> FileLink:
    block = encode_file_node(children)
    cid = CID.hash(DAG_PB, block)
    blocks[cid] = block
    return FileLink(cid, len(block) + sum(c.tsize for c in children), sum(c.filesize for c in children))


def bomb(blocks: Blocks, levels: int, leaf: bytes = b"\x00", fanout: int = MAX_LINKS) -> FileLink:
    """A file whose every node links one child ``fanout`` times: fanout**levels leaves from a few blocks."""
    top = raw(blocks, leaf)
    for _ in range(levels):
        top = node(blocks, [top] * fanout)
    return top


def entry(name: str, data: CID, size: int, dtype: str = "uint8", shape: Optional[List[int]] = None, **extra) -> dict:
    return {"name": name, "dtype": dtype, "shape": [size] if shape is None else shape, "byteorder": "little",
            "size": size, "data": data, **extra}  # fmt: skip


def manifest_block(entries: List[dict]) -> bytes:
    return dagcbor.encode({"format": MANIFEST_FORMAT, "tensors": entries})


def version_car(path: Path, entries: List[dict], blocks: Blocks, model: str = "stranger") -> CID:
    """Write a CAR holding one version of ``entries`` (and ``blocks``); returns its root."""
    manifest = manifest_block(entries)
    mcid = CID.hash(DAG_CBOR, manifest)
    version = dagcbor.encode({
        "format": VERSION_FORMAT, "model": model, "parents": [], "manifest": mcid, "message": "", "metrics": {},
        "time": "", "author": "", "framework": "numpy", "software": {}, "architecture": None, "context": {}})  # fmt: skip
    vcid = CID.hash(DAG_CBOR, version)
    with open(path, "wb") as f:
        write_car(f, [vcid], [(vcid, version), (mcid, manifest), *blocks.items()])
    return vcid


def assert_nothing_changed(repo: nbversion.Repo, before: List[CID]) -> None:
    assert [v.cid for v in repo.log()] == before
    assert repo.fsck().ok
    removed, _ = repo.gc()
    assert removed == 0  # nothing of the refused file was indexed


@pytest.fixture
def mine(repo: nbversion.Repo) -> Tuple[nbversion.Repo, List[CID]]:
    """A repository that already holds a version of its own."""
    repo.commit(weights(5), model="mine")
    return repo, [v.cid for v in repo.log()]


# -- 1. DAG bombs --------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [3, 4])
def test_a_dag_bomb_car_is_refused_and_changes_nothing(mine, tmp_path, levels):
    """The reported bomb: each node links one child 174 times, 3 (26 KB) or 4 (35 KB) levels deep.
    Expanded it is 174**3 or 174**4 leaves; it is refused from the few blocks it really has."""
    repo, before = mine
    blocks: Blocks = {}
    root = bomb(blocks, levels)
    size = MAX_LINKS**levels
    car = tmp_path / "bomb.car"
    version_car(car, [entry("w", root.cid, size)], blocks)
    assert car.stat().st_size < 40_000
    with pytest.raises(CarError, match="chunks"):
        repo.import_car(car)
    assert_nothing_changed(repo, before)


def test_a_bomb_of_full_chunks_claiming_a_petabyte_is_refused(mine, tmp_path):
    repo, before = mine
    blocks: Blocks = {}
    root = bomb(blocks, 4, leaf=bytes(CHUNK_SIZE))  # 174**4 chunks: 229 TB of zeros, in 290 KB
    car = tmp_path / "bomb.car"
    version_car(car, [entry("w", root.cid, root.filesize)], blocks)
    with pytest.raises(CarError, match="TiB"):
        repo.import_car(car)
    assert_nothing_changed(repo, before)


def test_shared_blocks_are_checked_once_however_often_they_are_linked():
    """A zero tensor links one chunk thousands of times, legitimately; checking it reads each
    distinct block once, so a file's cost is its blocks, not the leaves it expands to."""
    blocks: Blocks = {}
    root = bomb(blocks, 2, leaf=bytes(CHUNK_SIZE))  # 174**2 chunks: 7.9 GB of zeros, 3 blocks
    fetched: List[CID] = []

    def get(cid: CID) -> bytes:
        fetched.append(cid)
        return blocks[cid]

    info = check_file(root.cid, get, lambda c: len(blocks[c]), MAX_LINKS**2 * CHUNK_SIZE)
    assert info.leaves == MAX_LINKS**2 and info.size == MAX_LINKS**2 * CHUNK_SIZE
    assert len(fetched) == 2  # the two tree nodes, once each


def test_reading_a_bomb_already_in_a_store_is_refused_before_expanding_it():
    """``load`` and ``cat`` read through file_leaves: a bomb that got into a store (imported by an
    older nbversion) is refused from its first node, not expanded."""
    blocks: Blocks = {}
    root = bomb(blocks, 4)
    fetched: List[CID] = []

    def get(cid: CID) -> bytes:
        fetched.append(cid)
        return blocks[cid]

    with pytest.raises(FormatError, match="chunks"):
        file_leaves(root.cid, get, lambda c: len(blocks[c]))
    assert len(fetched) <= 4


def _chain(blocks: Blocks, depth: int) -> FileLink:
    top = raw(blocks, b"x")
    for _ in range(depth):
        top = node(blocks, [top])
    return top


def _hostile_file(kind: str, blocks: Blocks) -> Tuple[CID, int]:
    """A file DAG that breaks one rule, and the size its manifest entry declares."""
    leaf = raw(blocks, b"abcd")
    if kind == "empty-nodes":  # nodes with no children: no leaves, so no size bounds them
        empty = encode_file_node([])
        cid = CID.hash(DAG_PB, empty)
        blocks[cid] = empty
        top = FileLink(cid, len(empty), 0)
        for _ in range(3):
            top = node(blocks, [top] * MAX_LINKS)
        return top.cid, 0
    if kind == "too-many-links":
        top = node(blocks, [leaf] * (MAX_LINKS + 1))
        return top.cid, top.filesize
    if kind == "too-deep":
        top = _chain(blocks, MAX_DEPTH + 1)
        return top.cid, 1
    if kind == "leaf-shorter-than-claimed":  # the parent says 4 KiB, the leaf is 4 bytes
        top = node(blocks, [FileLink(leaf.cid, 4096, 4096)])
        return top.cid, top.filesize
    if kind == "file-shorter-than-entry":
        top = node(blocks, [leaf])
        return top.cid, 16
    if kind == "raw-file-shorter-than-entry":
        return leaf.cid, 16
    if kind == "not-a-file":  # a UnixFS directory
        block = b"\x0a\x02\x08\x01"
        cid = CID.hash(DAG_PB, block)
        blocks[cid] = block
        return cid, 0
    raise AssertionError(kind)


HOSTILE_FILES = ["empty-nodes", "too-many-links", "too-deep", "leaf-shorter-than-claimed",
                 "file-shorter-than-entry", "raw-file-shorter-than-entry", "not-a-file"]  # fmt: skip


@pytest.mark.parametrize("kind", HOSTILE_FILES)
def test_a_file_that_breaks_the_layout_rules_is_refused_on_import(mine, tmp_path, kind):
    repo, before = mine
    blocks: Blocks = {}
    root, size = _hostile_file(kind, blocks)
    car = tmp_path / "bad.car"
    version_car(car, [entry("w", root, size)], blocks)
    with pytest.raises(CarError):
        repo.import_car(car)
    assert_nothing_changed(repo, before)


def test_files_as_kubo_lays_them_out_pass_the_checks():
    """The rules are those of the real layout: every fixture size, including fan-out boundaries."""
    for size in (0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, MAX_LINKS * CHUNK_SIZE + 1, 2 * MAX_LINKS * CHUNK_SIZE + 5):
        blocks: Blocks = {}
        root = build_file(bytes(size), lambda c, b: blocks.setdefault(c, bytes(b)))
        leaves = file_leaves(root.cid, blocks.__getitem__, lambda c: len(blocks[c]), size)
        assert sum(n for _, n in leaves) == size and len(leaves) == max(1, math.ceil(size / CHUNK_SIZE))


# -- 2. verified in a staging area; the lock only to publish ------------------------------------


COMMIT_ELSEWHERE = (
    "import sys, numpy as np, nbversion\n"
    "nbversion.Repo(sys.argv[1]).commit({'w': np.ones(3)}, model='mine', message='while importing')\n"
)
GC_ELSEWHERE = "import sys, nbversion\nprint(nbversion.Repo(sys.argv[1]).gc()[0])\n"


class SlowImport:
    """An import reading a CAR from a FIFO that the test feeds, in a thread with its own Repo."""

    def __init__(self, target: Path, fifo: Path) -> None:
        os.mkfifo(fifo)
        self.fifo = fifo
        self.result: Dict[str, Any] = {}
        self.read = 0
        self.progressed = threading.Condition()
        self.thread = threading.Thread(target=self._run, args=(target, fifo))
        self.thread.start()

    def _progress(self, n: int) -> None:
        with self.progressed:
            self.read += n
            self.progressed.notify_all()

    def _run(self, target: Path, fifo: Path) -> None:
        with nbversion.Repo(target) as r:
            try:
                self.result["imported"] = r.import_car(fifo, progress=self._progress)
            except BaseException as exc:  # handed to the test
                self.result["error"] = exc

    def feed(self):
        """The FIFO's writing end, once the import has opened it for reading."""
        while True:
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until a reader is there
                break
            except OSError:
                assert self.thread.is_alive(), self.result
                self.thread.join(0.01)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "wb")

    def wait_for(self, nbytes: int) -> None:
        with self.progressed:
            assert self.progressed.wait_for(lambda: self.read >= nbytes, timeout=60)

    def join(self) -> Dict[str, Any]:
        self.thread.join(timeout=120)
        assert not self.thread.is_alive()
        return self.result


def _run_elsewhere(code: str, target: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in another process; if it waited on the repository lock it would time out."""
    return subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=60)


def _exported(tmp_path: Path) -> Tuple[bytes, List[Tuple[CID, bytes]]]:
    src = nbversion.Repo(tmp_path / "src")
    src.commit(weights(), model="theirs")
    car = tmp_path / "theirs.car"
    src.export_car("theirs", car)
    src.close()
    with open(car, "rb") as f:
        return car.read_bytes(), list(read_car(f)[1])


def test_a_commit_from_another_process_completes_while_an_import_is_in_progress(tmp_path):
    data, _ = _exported(tmp_path)
    target = tmp_path / "target" / ".nbversion"
    with nbversion.Repo(target) as r:
        r.commit(weights(1), model="mine")
    slow = SlowImport(target, tmp_path / "slow.car")
    with slow.feed() as feed:
        feed.write(data[: len(data) // 2])
        feed.flush()
        done = _run_elsewhere(COMMIT_ELSEWHERE, target)  # the import waits for the rest meanwhile
        assert done.returncode == 0, done.stderr
        assert slow.thread.is_alive() and "imported" not in slow.result
        feed.write(data[len(data) // 2 :])
    result = slow.join()
    assert "error" not in result, result
    with nbversion.Repo(target) as r:
        assert [v.message for v in r.history("mine")] == ["while importing", ""]
        assert [v.cid for v in result["imported"]] == [r.resolve("theirs")]
        assert r.fsck().ok


def test_a_gc_during_an_import_neither_waits_nor_loses_what_the_import_staged(tmp_path):
    data, blocks = _exported(tmp_path)
    target = tmp_path / "target" / ".nbversion"
    with nbversion.Repo(target) as r:
        r.commit(weights(1), model="mine")
    slow = SlowImport(target, tmp_path / "slow.car")
    with slow.feed() as feed:
        feed.write(data[:-1])
        feed.flush()
        slow.wait_for(sum(len(b) for _, b in blocks[:-1]))  # every block but the last is staged
        done = _run_elsewhere(GC_ELSEWHERE, target)
        assert done.returncode == 0, done.stderr
        feed.write(data[-1:])
    result = slow.join()
    assert "error" not in result, result
    with nbversion.Repo(target) as r:
        assert r.fsck().ok
        assert np.array_equal(r.load("theirs")["embed/table"], weights()["embed/table"])


def test_an_import_whose_already_stored_block_a_gc_removed_meanwhile_changes_nothing(tmp_path):
    """A block the store held unused (a killed commit leaves such) is not copied by the import;
    if a gc removes it before the import publishes, the import says so instead of publishing a
    version with a hole in it, and importing again works."""
    data, blocks = _exported(tmp_path)
    target = tmp_path / "target" / ".nbversion"
    kernel = weights()["dense/kernel"].tobytes()
    orphan = next((c, b) for c, b in blocks[:-1] if b == kernel)
    with nbversion.Repo(target) as r:
        r.commit(weights(1), model="mine")
        with r.store.writer() as w:  # what a commit killed after writing its blocks leaves
            w.put(*orphan)
    slow = SlowImport(target, tmp_path / "slow.car")
    with slow.feed() as feed:
        feed.write(data[:-1])
        feed.flush()
        slow.wait_for(sum(len(b) for _, b in blocks[:-1]))
        done = _run_elsewhere(GC_ELSEWHERE, target)
        assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr
        feed.write(data[-1:])
    result = slow.join()
    assert isinstance(result.get("error"), CarError) and "import it again" in str(result["error"])
    with nbversion.Repo(target) as r:
        assert r.models() == ["mine"] and r.fsck().ok
        (tmp_path / "again.car").write_bytes(data)
        r.import_car(tmp_path / "again.car")
        assert np.array_equal(r.load("theirs")["dense/kernel"], weights()["dense/kernel"])
        assert r.fsck().ok


# -- 3. manifests checked on import, by fsck and by load ----------------------------------------


def _manifest_case(case: str, data: CID) -> List[dict]:
    """A manifest that breaks one rule; ``data`` is a 16-byte file."""
    ok = dict(name="w", data=data, size=16, dtype="float32", shape=[4])
    cases: Dict[str, List[dict]] = {
        "size-is-not-shape-times-itemsize": [entry(**{**ok, "shape": [2, 4]})],
        "size-is-not-the-file-size": [entry(**{**ok, "size": 32, "shape": [8]})],
        "huge-shape": [entry(**{**ok, "shape": [2**40, 2**40]})],
        "huge-but-consistent": [entry(**{**ok, "shape": [2**40], "size": 2**42})],
        "duplicate-names": [entry(**ok), entry(**ok)],
        "negative-dimension": [entry(**{**ok, "shape": [-4], "size": 16})],
        "too-many-dimensions": [entry(**{**ok, "shape": [1] * 65 + [4]})],
        "object-dtype": [entry(**{**ok, "dtype": "object", "shape": [2]})],
        "big-endian-dtype-name": [entry(**{**ok, "dtype": ">f4"})],
        "big-endian": [entry(**ok, **{"byteorder": "big"})],
    }
    names = {
        "parent-path": "../../evil", "absolute-path": "/etc/passwd", "backslash": "..\\..\\evil",
        "nul": "a\x00b", "empty": "", "empty-segment": "a//b", "dot-segment": "a/./b", "trailing-slash": "a/",
        "newline": "best\n", "ansi-escape": "w\x1b[2J", "osc-title": "w\x1b]0;pwned\x07", "bidi-override": "a\u202eb",
        "line-separator": "a\u2028b", "long": "w" * 1025,
    }  # fmt: skip
    cases.update({f"name-{k}": [entry(**{**ok, "name": v})] for k, v in names.items()})
    return cases[case]


MANIFEST_CASES = [
    "size-is-not-shape-times-itemsize", "size-is-not-the-file-size", "huge-shape", "huge-but-consistent",
    "duplicate-names", "negative-dimension", "too-many-dimensions", "object-dtype", "big-endian-dtype-name",
    "big-endian", "name-parent-path", "name-absolute-path", "name-backslash", "name-nul", "name-empty",
    "name-empty-segment", "name-dot-segment", "name-trailing-slash", "name-newline", "name-ansi-escape",
    "name-osc-title", "name-bidi-override", "name-line-separator", "name-long",
]  # fmt: skip


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_an_inconsistent_manifest_is_refused_on_import(mine, tmp_path, case):
    repo, before = mine
    blocks: Blocks = {}
    data = raw(blocks, np.arange(4, dtype="<f4").tobytes()).cid
    car = tmp_path / "bad.car"
    version_car(car, _manifest_case(case, data), blocks)
    with pytest.raises(CarError):
        repo.import_car(car)
    assert_nothing_changed(repo, before)


def _index_as_an_older_nbversion_would(repo: nbversion.Repo, car: Path) -> CID:
    """Store and index a CAR's blocks unchecked, as imports did before manifests were checked."""
    from nbversion.formats.records import Version

    with open(car, "rb") as f:
        roots, blocks = read_car(f)
        blocks = list(blocks)
    with repo.store.writer() as w:
        for cid, block in blocks:
            w.put(cid, block)
    found = dict(blocks)[roots[0]]
    fields = dagcbor.decode(found)
    version = Version(model=fields["model"], parents=(), manifest=CID.from_bytes(fields["manifest"]))
    with repo.index.locked() as db, repo.index.transaction(db):
        repo.index.add_version(db, roots[0], version, found)
    return roots[0]


@pytest.mark.parametrize("case", ["size-is-not-the-file-size", "duplicate-names", "name-parent-path", "huge-shape"])
def test_fsck_names_an_inconsistent_manifest_and_load_refuses_it(mine, tmp_path, case):
    repo, _ = mine
    blocks: Blocks = {}
    data = raw(blocks, np.arange(4, dtype="<f4").tobytes()).cid
    car = tmp_path / "bad.car"
    version_car(car, _manifest_case(case, data), blocks)
    root = _index_as_an_older_nbversion_would(repo, car)
    report = repo.fsck()
    assert not report.ok
    assert any(str(root) in problem for problem in report.problems), report.problems
    with pytest.raises(nbversion.NbversionError):  # FormatError, or the store's length check for a one-block file
        repo.load(root)


@pytest.mark.parametrize("case", [c for c in MANIFEST_CASES if c != "size-is-not-the-file-size"])
def test_decode_manifest_refuses_what_no_commit_writes(case):
    with pytest.raises(FormatError):
        decode_manifest(manifest_block(_manifest_case(case, CID.hash(RAW, b""))))


@pytest.mark.parametrize("name", [
    "dense/kernel", "dense_1/kernel#2", "model.layers.0.self_attn.q_proj.weight", "optimizer/fc.weight/exp_avg",
    "0", "kernel:0", "a b", "名前/ünïcode", ".hidden", "w" * 1024,
])  # fmt: skip
def test_tensor_names_real_models_use_are_allowed(repo, name):
    assert tensor_name_problem(name) is None
    v = repo.commit({name: np.arange(3.0)}, model="m")
    assert list(repo.load(v.cid)) == [name]


def test_an_allowed_tensor_name_is_a_relative_path_inside_any_folder(tmp_path):
    inside = (tmp_path / "out").resolve()
    for name in ["a/b", "..a/b..", "a/.../b", " / ", "a:b/c"]:
        assert tensor_name_problem(name) is None
        assert (inside / f"{name}.npy").resolve().is_relative_to(inside)


# -- 4. what we export we can import; sections over the cap are refused unread ------------------


def test_a_10_mb_message_commits_exports_and_imports(repo, tmp_path):
    message = "long notes. " * 900_000  # 10.8 MB, over the old 8 MiB section cap
    v = repo.commit(weights(), model="m", message=message)
    car = tmp_path / "m.car"
    repo.export_car("m", car)
    other = nbversion.Repo(tmp_path / "other")
    assert [x.cid for x in other.import_car(car)] == [v.cid]
    assert other.show(v.cid).message == message


def test_a_model_of_66000_tensors_exports_and_imports(repo, tmp_path):
    """A one-block manifest of it would be over 8 MiB (the old cap), so its own export could not be
    imported; sharded, every block of it is at most 1 MiB, what IPFS peers exchange."""
    name = "model.layers.{:03d}.mlp.experts.{:03d}.w"
    tensors = {name.format(i // 256, i % 256): np.full(1, i % 7, np.float32) for i in range(66_000)}
    v = repo.commit(tensors, model="moe")
    assert max(repo.store.size(c) for c in repo.version_blocks(v)) <= 1 << 20
    car = tmp_path / "moe.car"
    repo.export_car("moe", car)
    other = nbversion.Repo(tmp_path / "other")
    assert [x.cid for x in other.import_car(car)] == [v.cid]
    last = "model.layers.257.mlp.experts.207.w"
    assert other.load("moe", names=[last])[last][0] == 65_999 % 7


def test_a_commit_whose_version_record_would_be_over_the_cap_is_refused(repo):
    """So nothing nbversion writes is over what a CAR may hold."""
    with pytest.raises(MetadataError, match="MiB"):
        repo.commit(weights(), model="m", message="x" * (MAX_RECORD + 1))
    assert repo.log() == []


def test_records_up_to_the_cap_fit_in_a_car_section():
    check_record_size(bytes(MAX_RECORD), "manifest")
    with pytest.raises(MetadataError):
        check_record_size(bytes(MAX_RECORD + 1), "manifest")
    assert MAX_BLOCK >= MAX_RECORD and MAX_SECTION >= MAX_BLOCK + 36


def _car_claiming(tmp_path: Path, claimed: int, present: bytes) -> Tuple[Path, int]:
    header = dagcbor.encode({"roots": [CID.hash(RAW, b"")], "version": 1})
    prefix = varint(len(header)) + header + varint(claimed)
    car = tmp_path / "liar.car"
    car.write_bytes(prefix + present)
    return car, len(prefix)


def test_a_section_over_the_cap_is_refused_before_any_of_it_is_read(tmp_path):
    car, prefix = _car_claiming(tmp_path, MAX_SECTION + 1, bytes(1 << 20))
    with open(car, "rb") as f:
        _, blocks = read_car(f)
        with pytest.raises(CarError, match="refused"):
            next(blocks)
        assert f.tell() == prefix  # the reader stopped at the length prefix


def test_a_section_whose_length_lies_costs_no_memory(tmp_path):
    car, _ = _car_claiming(tmp_path, MAX_SECTION, b"\x01\x55\x12\x20" + bytes(100))
    tracemalloc.start()
    try:
        with open(car, "rb") as f:
            _, blocks = read_car(f)
            with pytest.raises(CarError, match="truncated"):
                next(blocks)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20  # not the 32 MiB the section claimed


# -- smaller: -0.0 ----------------------------------------------------------------------------------


def test_a_negative_zero_metric_is_stored_as_zero_and_the_commit_says_so(repo):
    """DAG-CBOR as libipld implements it has no -0.0 (it writes 0.0 and refuses to read -0.0), so
    the commit's own answer is what every later read gives."""
    v = repo.commit(weights(), model="m", metrics={"loss_delta": -0.0, "acc": 0.5}, context={"x": [-0.0]})
    again = repo.show(v.cid)
    assert again.metrics == v.metrics and again.context == v.context
    assert math.copysign(1, v.metrics["loss_delta"]) == math.copysign(1, again.metrics["loss_delta"]) == 1
    assert math.copysign(1, v.context["x"][0]) == 1
    with pytest.raises(FormatError):
        dagcbor.decode(bytes.fromhex("a16161fb8000000000000000"))  # {"a": -0.0}: refused, not misread
