"""Loading straight from IPFS, and seeing where versions are (nbversion/repo/fetch.py, remote_state.py).

A version that is only on a remote opens by CID (``Repo(remote=...)``, ``%checkout CID model``,
``nbversion checkout CID --from REMOTE``): its record and its history's records are indexed at
once, its tensors are fetched as they are read and kept, and its parents' tensors never are.
Every block is checked as a pull checks it. A push records where it left each version, and the
history (``%history``, ``nbversion log``, the panel's listing) shows it.

Against the real js-ipfs node of tests/conftest_ipfs.py, on 127.0.0.1 only.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run, run_cli

import nbversion
from nbversion import present
from nbversion.errors import CorruptBlockError, PullError, UnknownRefError
from nbversion.formats import dagcbor
from nbversion.formats.cid import CID, DAG_CBOR
from nbversion.formats.records import Manifest, TensorEntry
from nbversion.stores.kubo import IpfsStore, rpc_client

pytest_plugins = ["conftest_ipfs"]

LAYER = 1 << 20  # bytes: a UnixFS file of four 256 KiB raw leaves under one dag-pb node


def layers(seed: int, n: int = 6) -> dict:
    """``n`` layers of 1 MiB each, content unique to ``seed``."""
    rng = np.random.default_rng(seed)
    return {f"layer{i}/kernel": rng.standard_normal((512, 512), dtype=np.float32) for i in range(n)}


def same(a: dict, b) -> bool:
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture
def shared(repo, ipfs_api):
    """A model of six 1 MiB layers, v1 then v2 (one layer changed), pushed to the node: (v1, v2, tensors of v2)."""
    first = layers(seed=9001)
    v1 = repo.commit(first, model="clf", message="first")
    second = dict(first, **{"layer0/kernel": first["layer0/kernel"] * 2})
    v2 = repo.commit(second, model="clf", message="second", metrics={"acc": 0.9})
    repo.push("clf", ipfs_api)
    return v1, v2, second


@pytest.fixture
def colleague(tmp_path, ipfs_api):
    """Another repository, with the node as its one remote ``lab``."""
    with nbversion.Repo(tmp_path / "colleague" / ".nbversion") as r:
        r.remote_add("lab", ipfs_api)
        yield r


def stored(repo: nbversion.Repo, cids) -> set:
    return {c for c in cids if repo.store.has(c)}


# --- loading a version that is only on the remote --------------------------------------------------


def test_a_version_only_on_the_remote_loads_fetching_just_the_tensors_read(repo, shared, colleague):
    v1, v2, tensors = shared
    entries = repo.manifest(v2).by_name()
    files = {name: e.data for name, e in entries.items()}
    fetched = []
    with nbversion.Repo(colleague.path, remote="lab") as there:
        lazy = there.load(str(v2.cid), lazy=True)
        assert stored(there, files.values()) == set()  # the record and manifest only, so far
        assert np.array_equal(lazy["layer3/kernel"], tensors["layer3/kernel"])
        assert stored(there, files.values()) == {files["layer3/kernel"]}
        picked = there.load(str(v2.cid), names=["layer0/kernel", "layer5/kernel"])
        assert same({k: tensors[k] for k in picked}, picked) and set(picked) == {"layer0/kernel", "layer5/kernel"}
        assert stored(there, files.values()) == {files[k] for k in ("layer0/kernel", "layer3/kernel", "layer5/kernel")}
        assert there.history("clf")[0].message == "second"  # indexed at once, with its history's records
        assert [v.cid for v in there.history("clf")] == [v2.cid, v1.cid]
        assert there.head("clf") == ("main", v2.cid)  # a model new here gets a main branch, as a pull gives it
        assert there.show("clf~1").message == "first" and there.version(v2.cid).metrics == {"acc": 0.9}

        with there.fetch_progress(fetched.append):  # (what a progress bar is given)
            assert same(tensors, there.load("clf"))  # the other three layers now, in one request per file
        assert LAYER * 3 < sum(fetched) < LAYER * 3 + 16_384
    v1_only = repo.manifest(v1).by_name()["layer0/kernel"].data
    assert not colleague.store.has(v1_only)  # a parent's tensors are never fetched
    fetched.clear()
    with nbversion.Repo(colleague.path) as later, later.fetch_progress(fetched.append):  # a later session
        assert same(tensors, later.load(str(v2.cid)))
    assert fetched == []  # all was here


def test_a_version_loads_by_cid_alone_through_a_second_node_that_fetches_it_over_bitswap(
    repo, shared, tmp_path, ipfs_node, start_ipfs_node
):
    _, v2, tensors = shared
    other = start_ipfs_node()
    try:
        rpc_client(other.api)._client.request("/swarm/connect", (ipfs_node.swarm_addr,), decoder="json")
        assert IpfsStore(other.url).missing([v2.cid]) == {v2.cid}  # node B has never seen it
        with nbversion.Repo(tmp_path / "far" / ".nbversion", remote=other.url) as far:
            assert np.array_equal(
                far.load(str(v2.cid), names=["layer4/kernel"])["layer4/kernel"], tensors["layer4/kernel"]
            )
            assert same(tensors, far.load(str(v2.cid)))
    finally:
        other.stop()


def test_a_parent_of_a_loaded_version_is_fetched_from_the_remote_it_came_from_when_read(repo, shared, colleague):
    v1, _, _ = shared
    with nbversion.Repo(colleague.path, remote="lab") as there:
        there.locate(str(shared[1].cid))
    with nbversion.Repo(colleague.path) as later:  # a plain Repo: the partial v1 knows its remote
        assert same(repo.load(v1), later.load("clf~1"))


def test_a_pull_after_a_lazy_load_completes_the_version(repo, shared, colleague):
    _, v2, tensors = shared
    colleague.locate(v2.cid, remote="lab")
    report = colleague.pull(str(v2.cid), "lab")
    assert report.versions == [] and report.blocks_fetched > 0  # both versions were indexed already
    assert same(tensors, colleague.load("clf")) and colleague.fsck().ok


def test_an_unknown_cid_without_a_remote_stays_unknown_and_one_the_node_lacks_is_a_clear_error(tmp_path, ipfs_api):
    nowhere = CID.hash(DAG_CBOR, dagcbor.encode({"format": "nowhere", "n": 42}))
    with nbversion.Repo(tmp_path / "plain" / ".nbversion") as plain:
        plain.commit({"a": np.ones(2)}, model="m")
        with pytest.raises(UnknownRefError, match=f"No version {nowhere} in this repository"):
            plain.load(str(nowhere))
        plain.remote_add("lab", ipfs_api)  # a remote, but not named: a hint how to name it
        with pytest.raises(UnknownRefError, match="It may be on remote lab: .*--from lab"):
            plain.load(str(nowhere))
        before = plain.fingerprint()
        with pytest.raises(
            UnknownRefError, match=f"Version {nowhere} is not in this repository, and remote lab did not find it"
        ):
            plain.locate(str(nowhere), remote="lab", fetch_timeout=1)
        assert plain.fingerprint() == before


def test_a_tensor_the_node_serves_with_wrong_bytes_is_refused_and_loads_once_repaired(repo, colleague, ipfs_node):
    w = layers(seed=9101, n=2)
    v = repo.commit(w, model="clf", message="to be damaged on the node")
    repo.push("clf", ipfs_node.url)
    tensor = repo.manifest(v).by_name()["layer1/kernel"].data
    target = dagcbor.block_links(tensor, repo.store.get(tensor))[1]  # the second of its four leaves
    disk = ipfs_node.block_file(target.digest)
    good = disk.read_bytes()
    disk.write_bytes(b"\xff" + good[1:])  # the node's disk rots; the node does not notice
    try:
        with nbversion.Repo(colleague.path, remote="lab") as there:
            assert np.array_equal(there.load(v.cid, names=["layer0/kernel"])["layer0/kernel"], w["layer0/kernel"])
            with pytest.raises(CorruptBlockError, match=f"{target}|do not hash"):
                there.load(v.cid, names=["layer1/kernel"])
            assert not there.store.has(target)
    finally:
        disk.write_bytes(good)
    with nbversion.Repo(colleague.path, remote="lab") as there:  # a retry fetches what is still missing
        assert same(w, there.load(v.cid))


def test_a_file_larger_than_its_manifest_entry_says_is_refused_before_it_is_all_fetched(repo, colleague, ipfs_api):
    """A version crafted by hand (as a stranger could) whose entry says 16 bytes for a 1 MiB file."""
    big = repo.commit(layers(seed=9201, n=1), model="big", message="1 MiB")
    file_cid = repo.manifest(big).tensors[0].data
    lying = Manifest((TensorEntry("w", "float32", (4,), 16, file_cid),))
    manifest_block = dagcbor.encode(lying.to_ipld())
    manifest_cid = CID.hash(DAG_CBOR, manifest_block)
    record = dict(dagcbor.decode(repo.store.get(big.cid)), manifest=manifest_cid, model="liar", parents=[])
    version_block = dagcbor.encode(record)
    version_cid = CID.hash(DAG_CBOR, version_block)
    with IpfsStore(ipfs_api).writer() as node:
        node.put_many([(c, repo.store.get(c)) for c in repo.store.cids()])
        node.put_many([(manifest_cid, manifest_block), (version_cid, version_block)])
    fetched = []
    with nbversion.Repo(colleague.path, remote="lab") as there:
        there.locate(version_cid, progress=fetched.append)
        with pytest.raises(PullError, match="more bytes for a tensor's file than its manifest entry says"):
            there.load(version_cid)
    assert sum(fetched) < LAYER // 2  # refused as soon as it went past what the entry allows


# --- from a notebook and a shell ---------------------------------------------------------------


def test_checkout_of_a_cid_in_a_notebook_loads_it_from_the_repositorys_remote(ip, repo, shared, tmp_path, ipfs_api):
    v1, v2, tensors = shared
    elsewhere = tmp_path / "elsewhere" / ".nbversion"  # another notebook's repository
    with nbversion.Repo(elsewhere) as r:
        r.commit({"bias": np.zeros(3)}, model="other", message="unrelated")
        r.remote_add("lab", ipfs_api)
    magics = ip.magics_manager.registry["NbversionMagics"]
    magics.repo_dir = str(elsewhere)
    magics.current.clear()
    ip.user_ns["clf"] = {k: np.zeros_like(a) for k, a in tensors.items()}
    run(ip, f"%checkout {v2.cid} clf")  # its only remote: no --from needed
    assert same(tensors, ip.user_ns["clf"])
    with nbversion.Repo(elsewhere) as r:
        assert r.head("clf") == ("main", v2.cid) and [v.cid for v in r.history("clf")] == [v2.cid, v1.cid]
        r.remote_add("backup", "http://127.0.0.1:9")  # two remotes: which one must be said
    run(ip, f"%checkout {v1.cid} clf --from lab")  # the parent: fetched now, only its one other layer
    assert same(repo.load(v1), ip.user_ns["clf"])
    run(ip, "clf['layer1/kernel'] += 1")
    run(ip, "%commit_weights clf -m 'mine, on top of v1'")  # a partial parent takes commits as any other
    with nbversion.Repo(elsewhere) as r:
        mine = r.show("clf")
        assert mine.parents == (v1.cid,) and same(ip.user_ns["clf"], r.load(mine))


def test_checkout_from_the_command_line_writes_a_version_only_on_the_remote(repo, shared, colleague, tmp_path):
    _, v2, tensors = shared
    out = tmp_path / "weights.npz"
    done = run_cli("--repo", str(colleague.path), "checkout", str(v2.cid), "--from", "lab", "-o", str(out))
    assert done.returncode == 0, done.stderr
    with np.load(out) as written:
        assert same(tensors, {k: written[k] for k in written.files})


# --- where versions are: recorded by push, shown in histories -----------------------------------


def test_a_push_records_where_versions_are_and_histories_and_the_panel_listing_show_it(repo, ipfs_api, tmp_path):
    w = layers(seed=9301, n=1)
    v1 = repo.commit(w, model="clf", message="one")
    v2 = repo.commit({"layer0/kernel": w["layer0/kernel"] + 1}, model="clf", message="two")
    assert repo.remote_states() == {}
    repo.remote_add("lab", ipfs_api)
    repo.push("clf", "lab")
    assert repo.remote_states() == {str(v2.cid): [("lab", "pinned")], str(v1.cid): [("lab", "pushed")]}
    repo.push(v1.cid, "lab")  # v1 pushed itself: pinned too
    v3 = repo.commit({"layer0/kernel": w["layer0/kernel"] + 2}, model="clf", message="three")
    repo.push("clf", "lab")  # a descendant's push never weakens a pin
    assert repo.remote_states() == {str(c): [("lab", "pinned")] for c in (v1.cid, v2.cid, v3.cid)}
    v4 = repo.commit({"layer0/kernel": w["layer0/kernel"] + 3}, model="clf", message="not pushed")

    listing = {e["cid"]: e for e in map(json.loads, repo.log_json())}
    assert listing[str(v3.cid)]["remotes"] == [{"name": "lab", "state": "pinned"}]
    assert "remotes" not in listing[str(v4.cid)]
    table = present.HistoryTable("clf", repo.history("clf"), remotes=repo.remote_states())
    lines = repr(table).splitlines()
    assert "remotes" in lines[0] and "lab: pinned" in lines[2] and "lab" not in lines[1]  # v4, then v3
    assert table.rows()[1]["remotes"] == "lab: pinned"
    shell = run_cli("--repo", str(repo.path), "log")
    assert shell.returncode == 0 and "lab: pinned" in shell.stdout
    logged = {e["cid"]: e for e in json.loads(run_cli("--repo", str(repo.path), "log", "--json").stdout)}
    assert (
        logged[str(v3.cid)]["remotes"] == [{"name": "lab", "state": "pinned"}] and "remotes" not in logged[str(v4.cid)]
    )


def test_history_in_a_notebook_marks_the_versions_on_a_remote(ip, tmp_path, ipfs_api, capsys):
    run(ip, "import numpy as np\nw = {'a': np.arange(4, dtype='float32')}")
    run(ip, "%commit_weights w -m first")
    with nbversion.Repo(tmp_path / ".nbversion") as r:
        r.remote_add("lab", ipfs_api)
    run(ip, "%nbversion push --to lab")
    run(ip, "w['a'] += 1")
    run(ip, "%commit_weights w -m second")
    capsys.readouterr()
    run(ip, "%history w")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["version", "cid", "time", "(UTC)", "message", "tags"] and "remotes" in lines[0]
    assert lines[1].startswith("* v2") and "lab" not in lines[1]
    assert lines[2].startswith("  v1") and "lab: pinned" in lines[2]


# --- gc and fsck with partial versions ----------------------------------------------------------


def test_gc_keeps_what_a_lazy_load_fetched_and_fsck_does_not_count_the_rest_as_missing(repo, shared, colleague):
    v2 = shared[1]
    with nbversion.Repo(colleague.path, remote="lab") as there:
        there.load(v2.cid, names=["layer2/kernel"])
        assert there.gc() == (0, 0)
        assert there.fsck().ok
        kept = there.manifest(v2).by_name()["layer2/kernel"].data
        assert there.store.has(kept)


def test_gc_keeps_the_code_and_environment_a_remote_version_fetched(repo, colleague, ipfs_api):
    v = repo.commit(layers(seed=9002, n=1), model="nb", code=(b'{"cells": []}', "c1"), environment={"python": "3.x"})
    repo.push("nb", ipfs_api)
    with nbversion.Repo(colleague.path, remote="lab") as there:
        assert there.environment(v.cid) == {"python": "3.x"} and there.code(v.cid) is not None
        assert there.gc() == (0, 0)
        assert there.store.has(v.environment) and there.store.has(v.code.notebook)


def test_a_partly_loaded_version_is_not_pushed_or_exported_until_pulled_whole(repo, shared, colleague, tmp_path):
    v2 = shared[1]
    with nbversion.Repo(colleague.path, remote="lab") as there:
        there.load(v2.cid, names=["layer2/kernel"])
        for attempt in (lambda: there.push(v2.cid, "lab"), lambda: there.export_car(v2.cid, tmp_path / "v2.car")):
            with pytest.raises(nbversion.NbversionError, match=f"without all its tensors.*nbversion pull {v2.cid} --from lab"):
                attempt()
        assert not (tmp_path / "v2.car").exists()
        there.pull(v2.cid, "lab")
        there.export_car(v2.cid, tmp_path / "v2.car")
        assert there.push(v2.cid, "lab").up_to_date
