"""Remotes, push and pull through a real IPFS node (nbversion/repo/remotes.py, push.py, pull.py).

The node is js-ipfs 0.66.1 (tests/ipfs/node.py), an implementation independent of ours serving
Kubo's ``/api/v0``, on 127.0.0.1 only. A version pushed there is the same object any IPFS tool
sees (``cat`` of a tensor's CID gives its bytes); a second, empty repository pulls it back by
CID alone, through the node or through a second node over bitswap. Every fault a user can meet
(no daemon, the wrong port, a remote nobody added, a node that lacks a block or serves other
bytes, a node that stalls or dies half way) is an error of nbversion's own that leaves the
repository's versions and refs as they were, and a retry completes the work, fetching only
what the failed attempt had not.
"""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
from conftest import run, run_cli
from IPython.utils.capture import capture_output

import nbversion
from nbversion import present
from nbversion.errors import (
    BlockNotFoundError,
    CorruptBlockError,
    MetadataError,
    NbversionError,
    RemoteAddressError,
    RemoteError,
    RemoteTimeoutError,
    RemoteUnreachableError,
    UnknownRemoteError,
)
from nbversion.formats import dagcbor
from nbversion.formats.cid import CID, DAG_CBOR
from nbversion.formats.records import Manifest, TensorEntry, Version
from nbversion.repo.remotes import open_remote
from nbversion.stores.kubo import IpfsStore, rpc_client

pytest_plugins = ["conftest_ipfs"]

LAYER = 1 << 20  # bytes: a UnixFS file of four 256 KiB raw leaves under one dag-pb node
PER_LAYER = 5  # blocks


def layers(seed: int, n: int = 6) -> dict:
    """``n`` layers of 1 MiB each, content unique to ``seed``."""
    rng = np.random.default_rng(seed)
    return {f"layer{i}/kernel": rng.standard_normal((512, 512), dtype=np.float32) for i in range(n)}


def same(a: dict, b) -> bool:
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


def state(repo: nbversion.Repo) -> tuple:
    """What a failed pull must leave as it was: versions, refs and tags."""
    if not repo.exists:
        return (None,)
    return repo.fingerprint(), [v.cid for v in repo.log()], dict(repo.tags())


@pytest.fixture
def second(tmp_path) -> nbversion.Repo:
    """Another, empty repository (a colleague's)."""
    with nbversion.Repo(tmp_path / "colleague" / ".nbversion") as r:
        yield r


# --- remotes ---------------------------------------------------------------------------------


def test_remotes_are_named_kept_in_the_repository_and_hold_no_secret(repo, ipfs_api, monkeypatch):
    monkeypatch.setenv("NBVERSION_IPFS_AUTH", "Bearer s3cret-token")
    assert repo.remotes() == []
    repo.remote_add("lab", ipfs_api)
    repo.remote_add("team.node", "/ip4/127.0.0.1/tcp/5001")
    assert [(r.name, r.url) for r in repo.remotes()] == [("lab", ipfs_api), ("team.node", "/ip4/127.0.0.1/tcp/5001")]
    stored = (repo.path / "remotes.json").read_text()
    assert json.loads(stored) == {"lab": {"url": ipfs_api}, "team.node": {"url": "/ip4/127.0.0.1/tcp/5001"}}
    assert "s3cret" not in stored
    with pytest.raises(MetadataError, match="Remote name 'v2' is not allowed"):
        repo.remote_add("v2", ipfs_api)
    with pytest.raises(RemoteAddressError, match="Give it as a URL .* or a multiaddr"):
        repo.remote_add("bad", "127.0.0.1:5001")
    with pytest.raises(NbversionError, match="already points at"):
        repo.remote_add("lab", "http://10.0.0.1:5001")
    repo.remote_remove("team.node")
    assert [r.name for r in repo.remotes()] == ["lab"]
    with pytest.raises(UnknownRemoteError, match="No remote named 'team.node'. Known remotes: lab.") as err:
        repo.remote_remove("team.node")
    assert isinstance(err.value, KeyError)


# --- push and pull ---------------------------------------------------------------------------


def test_a_pushed_version_pulls_by_cid_into_an_empty_repository_with_identical_tensors(
    repo, second, ipfs_api, ipfs_node
):
    first = layers(seed=101)
    v1 = repo.commit(first, model="clf", message="first")
    changed = dict(first, **{"layer0/kernel": first["layer0/kernel"] * 2})
    v2 = repo.commit(changed, model="clf", message="second", metrics={"acc": 0.9})
    repo.remote_add("lab", ipfs_api)
    pushed = repo.push("clf", "lab")
    assert pushed.version.cid == v2.cid and pushed.blocks_sent == pushed.blocks > 7 + 2
    node = IpfsStore(ipfs_api)
    assert node.pinned(v2.cid) and node.pinned(v1.cid)  # its history, through the version's parent link

    ipfs = rpc_client(ipfs_api)
    for name, entry in repo.manifest(v2).by_name().items():  # `ipfs cat` of a tensor's CID: its bytes
        assert ipfs.cat(str(entry.data)) == changed[name].tobytes()
    record = dagcbor.decode(ipfs.block.get(str(v2.cid)))  # (js-ipfs's dag/get fails on links; block/get works)
    assert record["message"] == "second" and [CID.from_bytes(bytes(p)) for p in record["parents"]] == [v1.cid]

    pulled = second.pull(str(v2.cid), ipfs_api)
    assert [v.cid for v in pulled.versions] == [v1.cid, v2.cid]
    assert pulled.blocks_fetched == pushed.blocks and pulled.blocks_local == 0
    assert same(changed, second.load(str(v2.cid))) and same(first, second.load("clf~1"))
    assert second.head("clf") == ("main", v2.cid)  # a model new here gets a main branch at the version
    assert second.version(v2.cid).metrics == {"acc": 0.9}
    assert second.fsck().ok

    again = second.pull(str(v2.cid), ipfs_api)
    assert again.versions == [] and again.blocks_fetched == 0


def test_an_unchanged_push_sends_nothing_and_a_one_layer_change_sends_about_that_layer(repo, ipfs_api):
    w = layers(seed=202, n=8)
    repo.commit(w, model="clf", message="eight layers")
    first = repo.push("clf", ipfs_api)
    assert first.blocks_sent == first.blocks == 8 * PER_LAYER + 2 and first.bytes_sent > 8 * LAYER
    again = repo.push("clf", ipfs_api)
    assert again.up_to_date and again.blocks_sent == 0 and again.bytes_sent == 0 and again.car_bytes == 0
    w["layer3/kernel"] = w["layer3/kernel"] + 1
    repo.commit(w, model="clf", message="one layer changed")
    one = repo.push("clf", ipfs_api)
    assert one.blocks_sent == PER_LAYER + 2  # the layer's file, the new manifest, the new version record
    assert LAYER < one.bytes_sent < LAYER + 16_384
    assert one.car_bytes < LAYER + 17_000  # one streamed CAR, a few bytes of framing per block


def test_pulling_a_version_of_an_existing_model_does_not_move_its_head(repo, second, ipfs_api):
    base = layers(seed=303, n=2)
    v1 = repo.commit(base, model="clf", message="shared start")
    repo.push("clf", ipfs_api)
    assert second.pull(str(v1.cid), ipfs_api).versions[0].cid == v1.cid
    mine = second.commit(dict(base, **{"layer1/kernel": base["layer1/kernel"] + 3}), model="clf", message="mine")
    theirs = repo.commit(dict(base, **{"layer0/kernel": base["layer0/kernel"] - 1}), model="clf", message="theirs")
    repo.push("clf", ipfs_api)
    pulled = second.pull(str(theirs.cid), ipfs_api)
    assert [v.cid for v in pulled.versions] == [theirs.cid]
    assert pulled.blocks_local >= 2  # v1's blocks were here: only the new layer and records came
    assert second.head("clf") == ("main", mine.cid)  # not moved: check out the pulled CID to use it
    second.checkout(str(theirs.cid), "clf")
    assert second.head("clf")[1] == theirs.cid


def test_a_version_another_client_put_on_the_node_pulls_and_loads(repo, second, ipfs_node, tmp_path):
    w = layers(seed=404, n=3)
    v = repo.commit(w, model="other", message="imported by ipfs dag import")
    car = tmp_path / "v.car"
    repo.export_car(v.cid, car)
    imported = rpc_client(ipfs_node.api).dag.imprt(car)  # not through nbversion
    assert CID.parse(imported["Root"]["Cid"]["/"]) == v.cid
    assert second.pull(v.cid, ipfs_node.url).versions[0].cid == v.cid
    assert same(w, second.load("other"))


def test_a_version_whose_files_another_tool_cut_otherwise_is_fetched_block_by_block_and_loads(second, ipfs_node):
    """A pull reads each tensor file's bytes and keeps them when cutting them as nbversion does
    (256 KiB leaves) gives the file's CID back. Files `ipfs add` cut into 512 KiB pieces do not:
    their blocks are fetched as they are, each checked against its CID."""
    w = layers(seed=505, n=2)
    client = rpc_client(ipfs_node.api)
    entries = []
    for name in sorted(w):
        cut = {"cid-version": 1, "raw-leaves": True, "chunker": "size-524288"}
        added = client.add_bytes(w[name].tobytes(), opts=cut)
        entries.append(TensorEntry(name, "float32", w[name].shape, w[name].nbytes, CID.parse(added)))
    manifest = dagcbor.encode(Manifest(tuple(entries)).to_ipld())
    record = dagcbor.encode(Version("cut", (), CID.hash(DAG_CBOR, manifest)).to_ipld())
    root = CID.hash(DAG_CBOR, record)
    with IpfsStore(ipfs_node.url).writer() as node:
        node.put_many([(CID.hash(DAG_CBOR, manifest), manifest), (root, record)])
    pulled = second.pull(str(root), ipfs_node.url)
    assert pulled.versions[0].cid == root  # and each file as the other tool cut it: two 512 KiB leaves
    assert all(len(dagcbor.block_links(e.data, second.store.get(e.data))) == 2 for e in entries)
    assert same(w, second.load(str(root))) and second.fsck().ok


def test_a_version_pushed_to_one_node_reaches_another_repository_through_a_second_node_over_bitswap(
    repo, second, ipfs_node, start_ipfs_node
):
    w = layers(seed=505, n=3)
    v = repo.commit(w, model="clf", message="for a colleague")
    repo.push("clf", ipfs_node.url)
    other = start_ipfs_node()
    try:
        rpc_client(other.api)._client.request("/swarm/connect", (ipfs_node.swarm_addr,), decoder="json")
        assert IpfsStore(other.url).missing([v.cid]) == {v.cid}  # node B has never seen it
        pulled = second.pull(str(v.cid), other.url)
        assert pulled.versions[0].cid == v.cid and same(w, second.load(str(v.cid)))
    finally:
        other.stop()


# --- faults ----------------------------------------------------------------------------------


def test_a_daemon_that_is_down_a_wrong_port_and_an_unknown_remote_are_clear_errors(
    repo, tmp_path, ipfs_node, closed_port
):
    repo.commit(layers(seed=606, n=1), model="clf", message="one")
    down = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(RemoteUnreachableError, match="No IPFS node answers at .* is the daemon running"):
        repo.push("clf", down)
    fresh = nbversion.Repo(tmp_path / "fresh" / ".nbversion")
    with pytest.raises(RemoteUnreachableError, match="is the daemon running"):
        fresh.pull(str(repo.head("clf")[1]), down)
    assert not fresh.exists and not (tmp_path / "fresh" / ".nbversion" / "blocks").exists()
    with pytest.raises(RemoteAddressError, match="not an IPFS RPC API .*port 8080 is the read-only gateway"):
        repo.push("clf", f"http://127.0.0.1:{ipfs_node.gateway_port}")
    with pytest.raises(UnknownRemoteError, match="No remote named 'lab'. This repository has no remotes yet"):
        repo.push("clf", "lab")
    with pytest.raises(KeyError, match="full CID of a version"):
        fresh.pull("clf", ipfs_node.url)


def test_a_node_missing_a_block_fails_the_pull_changing_nothing_and_a_retry_after_a_push_completes(
    repo, second, ipfs_api
):
    w = layers(seed=707, n=4)
    v = repo.commit(w, model="clf", message="partly on the node")
    lacking = repo.manifest(v).by_name()["layer2/kernel"].data
    with IpfsStore(ipfs_api).writer() as node:  # every block but one tensor's, unpinned
        node.put_many([(c, repo.store.get(c)) for c in repo.store.cids() if c != lacking])
    second.commit(layers(seed=708, n=1), model="mine", message="already here")
    before = state(second)
    fetched = []
    with pytest.raises(BlockNotFoundError, match=f"Block {lacking} is not on the IPFS node"):
        second.pull(str(v.cid), ipfs_api, fetch_timeout=1, progress=fetched.append)
    assert state(second) == before and not second.store.has(lacking)
    assert fetched  # blocks verified before the missing one: kept, unreachable, for the retry
    pushed = repo.push("clf", ipfs_api)
    retry = second.pull(str(v.cid), ipfs_api)
    assert retry.blocks_local == len(fetched) and retry.blocks_fetched == pushed.blocks - len(fetched)
    assert same(w, second.load(str(v.cid)))


def test_a_block_served_with_wrong_bytes_is_refused_and_a_retry_after_repair_completes(repo, second, ipfs_node):
    w = layers(seed=808, n=3)
    v = repo.commit(w, model="clf", message="to be damaged on the node")
    repo.push("clf", ipfs_node.url)
    tensor = repo.manifest(v).by_name()["layer1/kernel"].data
    target = dagcbor.block_links(tensor, repo.store.get(tensor))[2]  # the third of its four leaves
    stored = ipfs_node.block_file(target.digest)
    good = stored.read_bytes()
    stored.write_bytes(b"\xff" + good[1:])  # the node's disk rots; the node does not notice
    before = state(second)
    try:
        with pytest.raises(
            CorruptBlockError, match=f"{target}.* does not match its hash|for block {target} that do not hash"
        ):
            second.pull(str(v.cid), ipfs_node.url)
        assert state(second) == before and not second.store.has(target)
    finally:
        stored.write_bytes(good)
    retry = second.pull(str(v.cid), ipfs_node.url)
    assert retry.versions[0].cid == v.cid and same(w, second.load("clf"))
    assert second.fsck().ok


def test_a_node_that_stalls_or_dies_mid_pull_leaves_the_repository_as_it_was_and_the_retry_fetches_only_the_rest(
    repo, second, ipfs_api, start_ipfs_node
):
    """A real node, frozen (SIGSTOP) after three blocks: the pull times out. Resumed, it is killed
    after three more: the pull breaks off. The retry, from the session's node, fetches only what
    neither attempt had kept: every block the attempts had received (and counted) was kept."""
    w = layers(seed=909, n=10)
    v = repo.commit(w, model="clf", message="ten layers")
    flaky = start_ipfs_node()
    try:
        total = repo.push("clf", flaky.url)
        repo.push("clf", ipfs_api)
        before = state(second)
        got = []

        def freeze_after_three(n: int) -> None:
            got.append(n)
            if len(got) == 3:
                os.kill(flaky.process.pid, signal.SIGSTOP)

        try:
            with pytest.raises(
                RemoteTimeoutError,
                match=f"The IPFS node at {flaky.url} (stalled in the middle of|did not answer) /(block/get|dag/export|cat)",  # noqa: E501
            ):
                second.pull(str(v.cid), flaky.url, progress=freeze_after_three, timeout=2, fetch_timeout=1)
        finally:
            os.kill(flaky.process.pid, signal.SIGCONT)
        assert state(second) == before
        kept = len(got)
        got.clear()

        def kill_after_three(n: int) -> None:
            got.append(n)
            if len(got) == 3:
                flaky.process.kill()
                flaky.process.wait()

        with pytest.raises(RemoteUnreachableError, match=f"{flaky.url}"):
            second.pull(str(v.cid), flaky.url, progress=kill_after_three)
        assert state(second) == before
        kept += len(got)
    finally:
        flaky.stop()
    retry = second.pull(str(v.cid), ipfs_api)
    assert 6 <= kept < total.blocks
    assert retry.blocks_local == kept and retry.blocks_fetched == total.blocks - kept
    assert same(w, second.load(str(v.cid)))


@pytest.mark.slow
def test_a_pull_that_breaks_off_inside_a_large_file_keeps_what_came_and_the_retry_fetches_only_the_rest(
    repo, second, ipfs_api, start_ipfs_node
):
    """A 96 MiB tensor is one file of 384 leaves under three tree nodes of up to 174. The node dies
    after 180 leaves were written here: those leaves are kept, and so is the tree node over the
    first 174 (rebuilt here), so the retry finds them under the file's root and fetches only the
    rest, nothing twice."""
    w = {"big": np.random.default_rng(1212).standard_normal(24 << 20, dtype=np.float32)}
    v = repo.commit(w, model="big", message="one large tensor")
    flaky = start_ipfs_node()
    try:
        total = repo.push("big", flaky.url)
        repo.push("big", ipfs_api)
        before, got = state(second), []

        def kill_inside_the_file(n: int) -> None:
            got.append(n)
            if len(got) == 2 + 180:  # the record, the manifest, then leaves
                flaky.process.kill()
                flaky.process.wait()

        with pytest.raises(RemoteUnreachableError, match=f"{flaky.url}"):
            second.pull(str(v.cid), flaky.url, progress=kill_inside_the_file)
        assert state(second) == before
    finally:
        flaky.stop()
    kept = len(got)
    assert 2 + 180 < kept < total.blocks - 2  # what had come when the node died, and one tree node
    file = repo.manifest(v).by_name()["big"].data
    first, *rest = dagcbor.block_links(file, repo.store.get(file))
    assert second.store.has(first) and not second.store.has(file) and not any(map(second.store.has, rest))
    retry = second.pull(str(v.cid), ipfs_api)
    assert retry.blocks_local == kept and retry.blocks_fetched == total.blocks - kept
    assert retry.bytes_fetched + sum(got) == total.bytes_sent
    assert same(w, second.load(str(v.cid)))


def test_credentials_come_from_the_environment_are_sent_and_never_shown(repo, monkeypatch, node_wanting_auth):
    url = node_wanting_auth("Bearer s3cret")
    repo.commit(layers(seed=1010, n=1), model="clf", message="one")
    repo.remote_add("secure", url)
    monkeypatch.setenv("NBVERSION_IPFS_AUTH", "Bearer wrong-one")
    with pytest.raises(RemoteError, match=r"refused /version \(HTTP 403\): it wants credentials") as err:
        repo.push("clf", "secure")
    assert "wrong-one" not in str(err.value)
    monkeypatch.setenv("NBVERSION_IPFS_AUTH_SECURE", "Bearer s3cret")  # this remote's own, preferred
    open_remote(repo, "secure").close()
    assert node_wanting_auth.seen[-1] == "Bearer s3cret"
    monkeypatch.setenv("NBVERSION_IPFS_AUTH_SECURE", "alice:pw")
    with pytest.raises(RemoteError, match="HTTP 403"):
        open_remote(repo, "secure")
    assert node_wanting_auth.seen[-1] == "Basic YWxpY2U6cHc="
    assert "s3cret" not in (repo.path / "remotes.json").read_text()


# --- the command line ------------------------------------------------------------------------


def test_remote_push_and_pull_from_the_command_line(tmp_path, ipfs_api):
    here, there = tmp_path / "mine" / ".nbversion", tmp_path / "theirs" / ".nbversion"
    w = layers(seed=1111, n=2)
    with nbversion.Repo(here) as r:
        v = r.commit(w, model="clf", message="shared from a shell")

    def cli(repo, *args):
        out = run_cli("--repo", str(repo), *args)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert "Added remote lab -> " + ipfs_api in cli(here, "remote", "add", "lab", ipfs_api)
    assert cli(here, "remote", "list").split() == ["lab", ipfs_api]
    assert f"Pushed clf v1 ({v.cid}) to lab: sent 12 of 12 blocks" in cli(here, "push", "clf", "--to", "lab")
    assert "up to date" in cli(here, "push", "--to", "lab")
    quiet = run_cli("--repo", str(here), "push", "clf", "--to", "lab")  # stderr is no terminal: no bar
    assert quiet.returncode == 0 and quiet.stderr == ""
    shown = run_cli("--repo", str(there), "pull", str(v.cid), "--from", ipfs_api, "--progress")  # a bar, forced
    assert shown.returncode == 0 and "pull: " in shown.stderr and "B/s]" in shown.stderr
    pulled = shown.stdout
    assert f"Pulled {v.cid}: fetched 12 blocks" in pulled and f"Added clf v1  {v.cid}" in pulled
    with nbversion.Repo(there) as r:
        assert same(w, r.load("clf"))
    report = json.loads(cli(there, "pull", str(v.cid), "--from", ipfs_api, "--json"))
    assert report["blocks_fetched"] == 0 and report["versions"] == []
    with nbversion.Repo(there) as r:  # the colleague trains on; then a newer version is shared
        r.commit(dict(w, **{"layer0/kernel": w["layer0/kernel"] + 1}), model="clf", message="theirs")
    with nbversion.Repo(here) as r:
        v2 = r.commit(dict(w, **{"layer1/kernel": w["layer1/kernel"] + 1}), model="clf", message="mine, newer")
    assert "sent 7 of 19 blocks (1.0 MiB; the rest were on the node already)" in cli(here, "push", "--to", "lab")
    pulled = cli(there, "pull", str(v2.cid), "--from", "http://" + ipfs_api.split("://")[1])
    assert f"Added clf v3  {v2.cid}" in pulled
    assert "clf did not move: it is still at v2" in pulled and "checkout v3 --model clf" in pulled
    wrong = run_cli("--repo", str(here), "push", "--to", "nowhere")
    assert wrong.returncode == 1 and "No remote named 'nowhere'. Known remotes: lab." in wrong.stderr
    assert "remotes.json" in os.listdir(here) and cli(here, "remote", "remove", "lab")
    assert "No remotes" in cli(here, "remote", "list")


def test_a_node_that_stalls_mid_push_is_a_timeout_and_the_retry_completes_the_push(repo, start_ipfs_node):
    """The node freezes (SIGSTOP) while the CAR streams to it: the push times out, nothing is
    pinned; once it runs again, pushing again completes, sending only what it still lacks."""
    w = layers(seed=1212, n=24)
    v = repo.commit(w, model="clf", message="24 MiB")
    node = start_ipfs_node()
    try:
        sent = []

        def freeze_after_four(n: int) -> None:
            sent.append(n)
            if len(sent) == 4:
                os.kill(node.process.pid, signal.SIGSTOP)

        try:
            with pytest.raises(RemoteTimeoutError, match=f"The IPFS node at {node.url} .*/dag/import"):
                repo.push("clf", node.url, progress=freeze_after_four, timeout=3)
        finally:
            os.kill(node.process.pid, signal.SIGCONT)
        assert not IpfsStore(node.url).pinned(v.cid)
        retry = repo.push("clf", node.url)
        assert 0 < retry.blocks_sent <= retry.blocks
        assert IpfsStore(node.url).pinned(v.cid)
        assert repo.push("clf", node.url).up_to_date
    finally:
        node.stop()


def test_push_and_pull_from_a_notebook(ip, ipfs_api, tmp_path):
    """``%nbversion push --to REMOTE`` sends the version the live model is at; ``%nbversion pull``
    brings a version into the kernel's repository, which ``%checkout`` then loads."""
    run(ip, "import numpy as np\nw = {'a': np.arange(4, dtype='float32')}")
    run(ip, "%commit_weights w -m first")
    run(ip, f"%nbversion push --to {ipfs_api}   # the version w is at")
    pushed = nbversion.Repo(tmp_path / ".nbversion").show("w").cid
    elsewhere = tmp_path / "elsewhere"  # another notebook's repository, empty
    magics = ip.magics_manager.registry["NbversionMagics"]
    magics.repo_dir = str(elsewhere / ".nbversion")
    magics.current.clear()
    html, was = ip.display_formatter.formatters["text/html"], ip.display_formatter.formatters["text/html"].enabled
    html.enabled = True  # as in a notebook's kernel (a terminal shell shows text only)
    try:
        with capture_output() as shown:
            run(ip, f"%nbversion pull {pushed} --from {ipfs_api} --progress")  # shown at once, updated in place
    finally:
        html.enabled = was
    texts = [o.data["text/plain"] for o in shown.outputs]
    assert texts[0].startswith("pull: ") and "<progress" in shown.outputs[0].data["text/html"]
    assert texts[-1].startswith("pull: ") and texts[-1].endswith(" done") and f"Pulled {pushed}" in shown.stdout
    run(ip, "w = {'a': np.zeros(4, dtype='float32')}")
    run(ip, f"%checkout {pushed} w")
    assert np.array_equal(ip.user_ns["w"]["a"], np.arange(4, dtype="float32"))
    assert nbversion.Repo(elsewhere / ".nbversion").show(pushed).message == "first"


def test_a_transfers_progress_shows_only_after_half_a_second_then_redraws_at_most_five_times_a_second():
    now = [0.0]
    shown = present.TransferProgress("pull", clock=lambda: now[0])
    shown.add(3 << 20)
    assert not shown.due() and not shown.drawn  # a quick pull shows nothing
    now[0] = 0.6
    assert shown.due() and not shown.due()  # drawn now; not again at once
    now[0] = 0.7
    assert not shown.due()
    now[0] = 0.81
    assert shown.due()
    assert shown.text() == "pull: 3.0 MiB (3.7 MiB/s) …" and "<progress></progress>" in shown.view().html
    assert shown.view(finished=True).text.endswith(" done") and "<progress" not in shown.view(finished=True).html
    sized = present.TransferProgress("push", total=4 << 20, clock=lambda: now[0])
    sized.add(1 << 20)
    assert 'value="1048576" max="4194304"' in sized.view().html and "of 4.0 MiB" in sized.text()
