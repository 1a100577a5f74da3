"""Files and folders as content: every folder gets the CID Kubo's `ipfs add -r --cid-version=1
--raw-leaves` gives it, restores exactly (or not at all), and a local copy can be checked against it.

Reference CIDs come from independent implementations, never from nbversion: the js-ipfs
ipfs-unixfs-importer set up like Kubo (tests/js/dir_cids.mjs) and a real js-ipfs node's `add`.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests

import nbversion

from conftest import pattern, run_cli
from nbversion.errors import BlockNotFoundError, FolderError, FormatError, RestoreConflictError, UnknownRefError
from nbversion.formats.cid import CID, DAG_PB, RAW
from nbversion.formats.unixfs import CHUNK_SIZE, build_file
from nbversion.formats.unixfs_dir import (
    SHARD_THRESHOLD,
    DirLink,
    build_directory,
    decode_directory,
    encode_directory,
    murmur3_x64_64,
    walk,
)
from nbversion.repo.folders import add_path, list_path, restore_path, verify_path

EMPTY_FOLDER = "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"  # Kubo's, well known
EMPTY_FILE = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def reference(node_tools: Path, folder: Path) -> dict:
    """CIDs of ``folder`` and everything under it from ipfs-unixfs-importer (tests/js)."""
    out = subprocess.run(
        ["node", str(node_tools / "dir_cids.mjs"), str(folder)], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def store(repo, path, **options):
    with repo.store.writer() as writer:
        return add_path(writer, path, **options)


@pytest.fixture
def dataset(tmp_path) -> Path:
    """A nested folder: empty files, an empty folder, a file of several chunks, unicode names,
    and dot-files (which Kubo's `add -r` skips without --hidden)."""
    root = tmp_path / "dataset"
    (root / "labels" / "empty-folder").mkdir(parents=True)
    (root / "images" / "ünïcode ✓").mkdir(parents=True)
    (root / "README.md").write_text("digits, parts 1-3\n")
    (root / "labels" / "none.csv").write_bytes(b"")
    (root / "labels" / "train.csv").write_text("id,label\n" + "".join(f"{i},{i % 10}\n" for i in range(500)))
    (root / "images" / "big.bin").write_bytes(pattern(3 * CHUNK_SIZE + 17).tobytes())
    (root / "images" / "ünïcode ✓" / "日本.txt").write_text("こんにちは")
    (root / "images" / "ünïcode ✓" / "empty").write_bytes(b"")
    (root / ".cache").mkdir()
    (root / ".cache" / "x").write_text("not versioned")
    (root / ".hidden").write_text("not versioned")
    return root


# -- CIDs as Kubo gives them --------------------------------------------------------------------


def test_nested_folder_has_the_independent_implementations_cids(repo, dataset, node_tools):
    content = store(repo, dataset)
    ref = reference(node_tools, dataset)
    assert str(content.cid) == ref["root"]
    assert content.is_dir and content.files == 6
    assert content.size == sum(f.stat().st_size for f in dataset.rglob("*") if f.is_file() and ".cache" not in f.parts and f.name != ".hidden")
    listed = list_path(repo, content.cid)
    assert [p for p, _, _ in listed] == sorted(p for p, c in ref["cids"].items() if c.startswith("bafk") or p == "images/big.bin")
    for path, size, cid in listed:
        assert str(cid) == ref["cids"][path]
        assert size == (dataset / path).stat().st_size


def test_empty_folder_and_empty_file_get_kubos_cids(repo, tmp_path, node_tools):
    (tmp_path / "nothing").mkdir()
    (tmp_path / "zero").write_bytes(b"")
    assert str(store(repo, tmp_path / "nothing").cid) == EMPTY_FOLDER == reference(node_tools, tmp_path / "nothing")["root"]
    single = store(repo, tmp_path / "zero")
    assert str(single.cid) == EMPTY_FILE and not single.is_dir and single.files == 1


def test_a_single_file_is_its_unixfs_file(repo, tmp_path):
    data = pattern(2 * CHUNK_SIZE + 5).tobytes()
    (tmp_path / "weights.bin").write_bytes(data)
    content = store(repo, tmp_path / "weights.bin")
    assert content.cid == build_file(data).cid and content.size == len(data)
    assert list_path(repo, content.cid) == [("", len(data), content.cid)]


@pytest.mark.slow
def test_folder_above_the_threshold_is_the_same_hamt(repo, tmp_path, node_tools):
    root = tmp_path / "many"
    root.mkdir()
    for i in range(6000):  # 6,000 links of 50 bytes: above 256 KiB, so a HAMT
        (root / f"file-{i:05d}.txt").write_text(str(i))
    (root / "sub").mkdir()
    (root / "sub" / "x.bin").write_bytes(pattern(CHUNK_SIZE + 1).tobytes())
    content = store(repo, root)
    assert str(content.cid) == reference(node_tools, root)["root"]
    assert decode_directory(content.cid, repo.store.get(content.cid)).unixfs_type == 5  # HAMTShard
    listed = list_path(repo, content.cid)
    assert len(listed) == 6001 and listed[0][0] == "file-00000.txt" and listed[-1][0] == "sub/x.bin"


def test_hamt_hash_is_murmur3_x64_64_as_kubo_uses_it():
    # Kubo's sharness t0260 shards 2,000 files ("file1".."file2000", each "$i\n") to
    # QmSCJD1KYLhVVHqBK3YyXuoEqHt7vggyJhzoFYbT8v1XYL: our hash (first 64 bits of murmur3-x64-128,
    # big-endian) is the one that reproduces it; here, its known value for "hello".
    assert murmur3_x64_64(b"hello").hex() == "cbd8a7b341bd9b02"


def test_folder_matches_a_real_ipfs_nodes_add(repo, dataset, ipfs_api):
    """A second, independent reference: js-ipfs's /api/v0/add of the same folder."""
    parts = []
    for path in sorted(dataset.rglob("*")):
        rel = path.relative_to(dataset.parent).as_posix()
        if any(p.startswith(".") for p in path.relative_to(dataset).parts):
            continue
        if path.is_dir():
            parts.append(("file", (rel, b"", "application/x-directory")))
        else:
            parts.append(("file", (rel, path.read_bytes(), "application/octet-stream")))
    parts.insert(0, ("file", ("dataset", b"", "application/x-directory")))
    answer = requests.post(
        f"{ipfs_api}/api/v0/add",
        params={"cid-version": 1, "raw-leaves": "true", "cid-base": "base32", "pin": "false"},
        files=parts,
        timeout=60,
    )
    added = {e["Name"]: e["Hash"] for e in map(json.loads, answer.text.splitlines())}
    assert CID.parse(added["dataset"]) == store(repo, dataset).cid


# -- local paths nbversion refuses or skips -----------------------------------------------------


def test_symbolic_links_are_refused_with_their_path(repo, dataset):
    (dataset / "labels" / "latest.csv").symlink_to(dataset / "labels" / "train.csv")
    with pytest.raises(FolderError, match="latest.csv is a symbolic link"):
        store(repo, dataset)


def test_hidden_files_are_skipped_unless_asked_for(repo, dataset, node_tools):
    shown = store(repo, dataset)
    with_hidden = store(repo, dataset, hidden=True)
    assert with_hidden.cid != shown.cid and with_hidden.files == shown.files + 2
    assert ".hidden" in [p for p, _, _ in list_path(repo, with_hidden.cid)]


def test_names_with_control_characters_are_refused(repo, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "bad\nname").write_text("x")
    with pytest.raises(FolderError, match="control character"):
        store(repo, tmp_path / "d")


# -- restoring ----------------------------------------------------------------------------------


def tree(root: Path) -> dict:
    return {
        p.relative_to(root).as_posix() + ("/" if p.is_dir() else ""): (None if p.is_dir() else p.read_bytes())
        for p in root.rglob("*")
    }


def test_restore_round_trips_a_folder(repo, dataset, tmp_path):
    content = store(repo, dataset)
    restore_path(repo, content.cid, tmp_path / "copy")
    expected = {k: v for k, v in tree(dataset).items() if not k.startswith(".")}
    assert tree(tmp_path / "copy") == expected
    assert "labels/empty-folder/" in tree(tmp_path / "copy")
    assert store(repo, tmp_path / "copy").cid == content.cid


def test_restore_into_an_identical_copy_changes_nothing(repo, dataset, tmp_path):
    content = store(repo, dataset)
    restore_path(repo, content.cid, tmp_path / "copy")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "copy").rglob("*")}
    restore_path(repo, content.cid, tmp_path / "copy")
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "copy").rglob("*")} == before


def test_restore_refuses_to_clobber_changed_files_and_changes_nothing(repo, dataset, tmp_path):
    content = store(repo, dataset)
    copy = tmp_path / "copy"
    restore_path(repo, content.cid, copy)
    (copy / "labels" / "train.csv").write_text("id,label\n0,7\n")
    (copy / "images" / "big.bin").unlink()
    (copy / "mine.txt").write_text("my notes")
    before = tree(copy)
    with pytest.raises(RestoreConflictError, match=r"(?s)1 file\(s\) differ.*train\.csv"):
        restore_path(repo, content.cid, copy)
    assert tree(copy) == before  # not even the missing file came back
    restore_path(repo, content.cid, copy, force=True)
    assert (copy / "labels" / "train.csv").read_bytes() == (dataset / "labels" / "train.csv").read_bytes()
    assert (copy / "images" / "big.bin").read_bytes() == (dataset / "images" / "big.bin").read_bytes()
    assert (copy / "mine.txt").read_text() == "my notes"  # what the version does not hold is left alone
    assert not [p for p in copy.rglob("*nbversion-part*")]


def test_restore_refuses_a_file_where_a_folder_goes(repo, dataset, tmp_path):
    content = store(repo, dataset)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "labels").write_text("in the way")
    with pytest.raises(RestoreConflictError, match="folder"):
        restore_path(repo, content.cid, copy, force=True)
    assert tree(copy) == {"labels": b"in the way"}


def test_restore_with_a_missing_block_writes_nothing(repo, dataset, tmp_path):
    content = store(repo, dataset)
    lost = next(c for p, _, c in list_path(repo, content.cid) if p == "labels/train.csv")
    with nbversion.Repo(tmp_path / "partial" / ".nbversion") as partial:  # a copy lacking one block
        with partial.store.writer() as writer:
            writer.put_many([(c, repo.store.get(c)) for c in repo.store.cids() if c != lost])
        target = tmp_path / "target"
        target.mkdir()
        (target / "keep.txt").write_text("x")
        with pytest.raises(BlockNotFoundError):
            restore_path(partial, content.cid, target)
    assert tree(target) == {"keep.txt": b"x"}


# -- verify -------------------------------------------------------------------------------------


def test_verify_reports_missing_extra_and_changed_paths(repo, dataset, tmp_path):
    content = store(repo, dataset)
    assert verify_path(repo, content.cid, dataset).ok
    (dataset / "labels" / "train.csv").write_text("tampered")
    (dataset / "README.md").unlink()
    (dataset / "labels" / "empty-folder").rmdir()
    (dataset / "new.txt").write_text("extra")
    (dataset / ".ignored").write_text("dot-files are not compared")
    report = verify_path(repo, content.cid, dataset)
    assert not report.ok
    assert report.missing == ["README.md", "labels/empty-folder/"]
    assert report.extra == ["new.txt"]
    assert report.changed == ["labels/train.csv"]
    assert report.files == 6


def test_verify_cli_checks_a_folder_against_a_data_version(repo, dataset, tmp_path):
    """`nbversion verify REF DIR`: one line per problem and exit status 1, else a one-line all clear.
    REF is a data version (its folder item named like DIR, or its only folder) or a folder's CID."""
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\n")
    version = repo.commit_data("digits", {"dataset": dataset, "labels": labels}, "raw files")
    folder = next(e for e in repo.open(version.cid).entries.values() if e.name == "dataset")
    assert folder.data == store(repo, dataset).cid
    repo_dir = str(repo.path)
    ok = run_cli("--repo", repo_dir, "verify", "digits", str(dataset))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == f"{dataset} matches digits (6 files; item 'dataset' of digits v1)"
    by_cid = run_cli("--repo", repo_dir, "verify", str(folder.data), str(dataset))
    assert by_cid.stdout.strip() == f"{dataset} matches {folder.data} (6 files)"
    (dataset / "README.md").write_text("changed")
    (dataset / "new.txt").write_text("extra")
    (dataset / "labels" / "none.csv").unlink()
    bad = run_cli("--repo", repo_dir, "verify", "digits", str(dataset))
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == ["missing: labels/none.csv", "changed: README.md", "extra:   new.txt"]
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    only_folder = run_cli("--repo", repo_dir, "verify", "digits", str(elsewhere))  # no item 'copy': the only folder
    assert only_folder.returncode == 1 and "missing: README.md" in only_folder.stdout.splitlines()
    restore_path(repo, folder.data, elsewhere)
    assert run_cli("--repo", repo_dir, "verify", "digits", str(elsewhere), "--item", "dataset").returncode == 0


def test_verify_asks_which_item_when_a_data_version_has_several_folders(repo, dataset, tmp_path):
    (tmp_path / "other").mkdir()
    repo.commit_data("two", {"dataset": dataset, "other": tmp_path / "other"})
    assert repo.verify("two", dataset).report.ok  # named like the folder
    with pytest.raises(UnknownRefError, match="no item named 'elsewhere'.*'dataset', 'other'.*--item"):
        repo.verify("two", tmp_path / "elsewhere")


# -- hostile folders from strangers ---------------------------------------------------------------


def node(links, data=b"\x08\x01"):
    """A dag-pb folder block with links exactly as given (names unchecked, order kept)."""
    from nbversion.formats.unixfs_dir import _node

    return _node([(n.encode() if isinstance(n, str) else n, c, t) for n, c, t in links], data)


def put(blocks, block):
    cid = CID.hash(DAG_PB, block)
    blocks[cid] = block
    return cid


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "tab\there"])
def test_a_folder_entry_with_a_forbidden_name_is_a_format_error(name):
    blocks = {CID.hash(RAW, b"x"): b"x"}
    root = put(blocks, node([(name, CID.hash(RAW, b"x"), 1)]))
    with pytest.raises(FormatError, match="not allowed"):
        walk(root, blocks.__getitem__, lambda c: len(blocks[c]))


def test_a_folder_that_contains_itself_is_a_format_error():
    # Content addressing makes a real loop impossible; a store that lies about a block must not hang us.
    blocks = {}
    fake = CID.hash(DAG_PB, b"loop")
    blocks[fake] = node([("again", fake, 10)])
    with pytest.raises(FormatError, match="contains itself"):
        walk(fake, blocks.__getitem__, lambda c: len(blocks[c]))


def test_a_folder_linking_one_folder_exponentially_often_is_bounded():
    blocks = {}
    leaf = CID.hash(RAW, b"x")
    blocks[leaf] = b"x"
    cid, tsize = leaf, 1
    for _ in range(40):  # 2**40 files claimed with 41 blocks
        block = node([("a", cid, tsize), ("b", cid, tsize)])
        cid, tsize = put(blocks, block), len(block) + 2 * tsize
    with pytest.raises(FormatError, match="more than"):
        walk(cid, blocks.__getitem__, lambda c: len(blocks[c]))


def test_a_huge_claimed_tsize_is_a_format_error():
    blocks = {CID.hash(RAW, b"x"): b"x"}
    root = put(blocks, node([("file", CID.hash(RAW, b"x"), 2**62)]))
    with pytest.raises(FormatError, match="claims"):
        walk(root, blocks.__getitem__, lambda c: len(blocks[c]))


def test_out_of_order_or_duplicate_entries_are_a_format_error():
    blocks = {CID.hash(RAW, b"x"): b"x"}
    x = CID.hash(RAW, b"x")
    for links in ([("b", x, 1), ("a", x, 1)], [("a", x, 1), ("a", x, 1)]):
        root = put(blocks, node(links))
        with pytest.raises(FormatError, match="out of order or twice"):
            walk(root, blocks.__getitem__, lambda c: len(blocks[c]))


def test_symlinks_and_malformed_blocks_are_format_errors():
    blocks = {}
    symlink = put(blocks, node([], b"\x08\x04\x12\x04/etc"))
    with pytest.raises(FormatError, match="symbolic link"):
        walk(symlink, blocks.__getitem__, len)
    with pytest.raises(FormatError):
        decode_directory(CID.hash(DAG_PB, b"\x12\xff\xff"), b"\x12\xff\xff")


def test_encoding_sorts_entries_by_name_bytes_and_round_trips():
    x = CID.hash(RAW, b"")
    entries = [DirLink("é", x, 0), DirLink("Z", x, 0), DirLink("a", x, 0)]
    block = encode_directory(entries)
    assert [n for n, _, _ in decode_directory(CID.hash(DAG_PB, block), block).links] == [b"Z", b"a", "é".encode()]
    assert build_directory([]).cid == CID.parse(EMPTY_FOLDER)
    assert SHARD_THRESHOLD == 256 * 1024


def test_hamt_entries_in_the_wrong_slot_or_empty_shards_are_format_errors():
    from nbversion.formats.unixfs_dir import _shard_data

    x = CID.hash(RAW, b"x")
    blocks = {x: b"x"}
    slot = murmur3_x64_64(b"name")[0]
    wrong = (slot + 1) % 256
    misplaced = put(blocks, node([(b"%02Xname" % wrong, x, 1)], _shard_data(1 << wrong)))
    with pytest.raises(FormatError, match="slot its hash does not lead to"):
        walk(misplaced, blocks.__getitem__, lambda c: len(blocks[c]))
    placed = put(blocks, node([(b"%02Xname" % slot, x, 1)], _shard_data(1 << slot)))
    assert [e.path for e in walk(placed, blocks.__getitem__, lambda c: len(blocks[c]))] == ["", "name"]
    empty = put(blocks, node([], _shard_data(0)))
    fanned = put(blocks, node([(b"%02X" % i, empty, len(blocks[empty])) for i in range(256)], _shard_data((1 << 256) - 1)))
    with pytest.raises(FormatError, match="empty"):
        walk(fanned, blocks.__getitem__, lambda c: len(blocks[c]))
