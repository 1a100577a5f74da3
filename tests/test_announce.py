"""Announcements over IPFS pubsub (nbversion/repo/announce.py, nbversion/stores/pubsub.py).

``nbversion push --announce TOPIC`` tells peers on a pubsub topic that a version is on the node;
``nbversion watch TOPIC`` lists what peers announce, but only after fetching each version's record,
checking it bears the claim out, and pulling and verifying the whole version. The nodes are two
js-ipfs 0.66.1 daemons on 127.0.0.1, swarm-connected (tests/ipfs/node.py): the announcer pushes
to node A, the watcher watches through node B, and the version crosses over bitswap. A forged
claim is refused without pulling anything; messages that are no announcement are skipped and
counted; a node with pubsub off is a clear error naming the setting to turn on.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import run_cli
from conftest_ipfs import wait_until_subscribed

import nbversion
from nbversion import present
from nbversion.errors import FormatError, PubsubUnavailableError, RemoteError
from nbversion.formats.cid import CID, DAG_CBOR
from nbversion.repo.announce import MAX_ANNOUNCEMENT, decode_announcement, encode_announcement, mismatch
from nbversion.stores.kubo import IpfsStore
from nbversion.stores.pubsub import Pubsub, decode_message, topic_arg

pytest_plugins = ["conftest_ipfs"]


def layers(seed: int, n: int = 2) -> dict:
    rng = np.random.default_rng(seed)
    return {f"layer{i}/kernel": rng.standard_normal((256, 256), dtype=np.float32) for i in range(n)}


def same(a: dict, b) -> bool:
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture
def second_repo(tmp_path) -> nbversion.Repo:
    """Another, empty repository (a colleague's)."""
    with nbversion.Repo(tmp_path / "colleague" / ".nbversion") as r:
        yield r


# --- the message -----------------------------------------------------------------------------


def test_an_announcement_is_small_json_with_a_format_and_version_and_pins_its_fields(repo):
    v1 = repo.commit(layers(1), model="clf", message="first")
    v2 = repo.commit(layers(2), model="clf", message="second", metrics={"acc": 0.97, "loss": 0.1})
    data = encode_announcement(repo.version(v2.cid))
    assert json.loads(data) == {
        "format": "nbversion-announcement", "version": 1, "cid": str(v2.cid), "model": "clf", "label": "v2",
        "message": "second", "metrics": {"acc": 0.97, "loss": 0.1}, "parents": [str(v1.cid)],
    }  # fmt: skip
    claim = decode_announcement(data, sender="12D3KooWpeer")
    assert claim.cid == v2.cid and claim.parents == (v1.cid,) and claim.sender == "12D3KooWpeer"
    assert mismatch(claim, repo.version(v2.cid)) is None

    wordy = repo.commit(layers(3), model="clf", message="é" * 5000, metrics={f"m{i:03d}": i / 7 for i in range(200)})
    big = encode_announcement(repo.version(wordy.cid))
    assert len(big) <= MAX_ANNOUNCEMENT
    claim = decode_announcement(big)
    assert claim.message.endswith("…") and len(claim.message) <= 280 and len(claim.metrics) <= 20
    assert mismatch(claim, repo.version(wordy.cid)) is None  # a cut message and a few metrics still bear out
    assert "claims model 'clf'" in mismatch(claim, dataclasses.replace(repo.version(wordy.cid), model="other"))


@pytest.mark.parametrize(
    "data, why",
    [
        (b"\xff\xfe not even text", "not JSON"),
        (b'["a list"]', "not an nbversion announcement"),
        (b'{"format": "nbversion-announcement", "version": 2}', "version 2 of the format"),
        (json.dumps({"format": "nbversion-announcement", "version": 1, "pad": "x" * 5000}).encode(), "over the 4,096"),
        (b'{"format":"nbversion-announcement","version":1,"cid":"bafy-not","model":"clf","label":"",'
         b'"message":"","metrics":{},"parents":[]}', "cid is not a CID"),
        (b'{"format":"nbversion-announcement","version":1,"cid":"x","model":"../../etc","label":"",'
         b'"message":"","metrics":{},"parents":[]}', "Model name"),
        (b'{"format":"nbversion-announcement","version":1,"cid":"x","model":"clf","label":"",'
         b'"message":"","metrics":{"acc":"high"},"parents":[]}', "metrics"),
    ],
)  # fmt: skip
def test_a_message_that_is_no_announcement_is_refused_saying_why(data, why):
    with pytest.raises(FormatError, match=why):
        decode_announcement(data)


def test_topics_and_messages_use_the_multibase_forms_modern_daemons_speak():
    assert topic_arg("nbv-test") == "ubmJ2LXRlc3Q"  # as js-ipfs 0.66 lists it in a message's topicIDs
    message = decode_message({"from": "12D3KooWA", "data": "ueyJoZWxsbyI6IDB9", "seqno": "u1hfEiRT4OI4",
                              "topicIDs": ["ubmJ2LXRlc3Q"]})  # fmt: skip
    assert message.data == b'{"hello": 0}' and message.sender == "12D3KooWA" and message.topics == ("nbv-test",)
    assert decode_message({}) is None and decode_message({"data": "!not multibase"}) is None
    with pytest.raises(nbversion.NbversionError, match="not a pubsub topic"):
        topic_arg("")


# --- between two nodes -----------------------------------------------------------------------


def test_a_version_pushed_with_announce_to_node_a_is_pulled_verified_and_listed_by_a_watcher_on_node_b(
    tmp_path, ipfs_node, peer_node
):
    here, there = tmp_path / "mine" / ".nbversion", tmp_path / "theirs" / ".nbversion"
    w1, w2 = layers(11), layers(12)
    with nbversion.Repo(here) as r:
        v1 = r.commit(w1, model="clf", message="first")
        v2 = r.commit(w2, model="clf", message="better", metrics={"acc": 0.93})
    topic = "nbversion-test-announce"
    watcher = subprocess.Popen(
        [sys.executable, "-m", "nbversion.cli", "--repo", str(there), "watch", topic, "--from", peer_node.url,
         "--count", "1", "--timeout", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until_subscribed(ipfs_node.url, peer_node, topic)
        pushed = run_cli("--repo", str(here), "push", "clf", "--to", ipfs_node.url, "--announce", topic)
        assert pushed.returncode == 0, pushed.stderr
        assert f"Pushed clf v2 ({v2.cid})" in pushed.stdout
        assert f"Announced clf v2 ({v2.cid}) on topic '{topic}' through {ipfs_node.url}: 1 peer of the node subscribed." in pushed.stdout
        out, err = watcher.communicate(timeout=150)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, err
    listed, summary = out.strip().splitlines()
    assert listed.startswith(f"clf v2  {v2.cid}  better  acc=0.93  (from …{ipfs_node.peer_id[-8:]}; pulled and verified)")
    assert summary.startswith(f"Watched topic '{topic}' on {peer_node.url} for ")
    assert summary.endswith(": 1 version verified, 0 announcements refused.")
    with nbversion.Repo(there) as r:  # B fetched it from A over bitswap; the watcher's repository holds it whole
        assert [v.cid for v in r.log()] == [v2.cid, v1.cid]
        assert same(w2, r.load(str(v2.cid))) and same(w1, r.load("clf~1")) and r.fsck().ok


def test_forged_and_malformed_announcements_are_refused_or_skipped_and_pull_nothing(repo, second_repo, ipfs_node, peer_node):
    v1 = repo.commit(layers(21), model="clf", message="first")
    v2 = repo.commit(layers(22), model="clf", message="second")
    repo.push("clf", ipfs_node.url)
    v1, v2 = repo.version(v1.cid), repo.version(v2.cid)
    topic = "nbversion-test-forgeries"
    nowhere = CID.hash(DAG_CBOR, b"a version no node holds")
    messages = [
        b"not json at all",
        json.dumps({"format": "nbversion-announcement", "version": 1, "pad": "x" * 5000}).encode(),  # oversized
        b'{"format": "someone-elses"}',
        encode_announcement(dataclasses.replace(v1, model="official")),  # v1 under another model's name
        encode_announcement(dataclasses.replace(v2, parents=())),  # v2 claimed to have no history
        encode_announcement(dataclasses.replace(v1, cid=nowhere)),  # a version nobody can fetch
        encode_announcement(dataclasses.replace(v1, model="official")),  # the same forgery again: refused once
        encode_announcement(v2),  # the true announcement, after all that
    ]

    def forger() -> None:
        wait_until_subscribed(ipfs_node.url, peer_node, topic)
        node = IpfsStore(ipfs_node.url)
        for data in messages:
            Pubsub(node).publish(topic, data)
            time.sleep(0.05)
        node.close()

    publisher = threading.Thread(target=forger, daemon=True)
    publisher.start()
    held = []  # the versions the watcher's repository held when each announcement was handled
    report = second_repo.watch(
        topic, peer_node.url, count=4, timeout=120, fetch_timeout=3,
        on_event=lambda e: held.append([v.cid for v in second_repo.log()] if second_repo.exists else []),
    )  # fmt: skip
    publisher.join(timeout=30)
    assert [e.accepted for e in report.events] == [False, False, False, True]
    assert held[:3] == [[], [], []]  # nothing pulled on a refused claim
    model, parents, fetch = (e.reason for e in report.refused)
    assert model == "it claims model 'official', but the version is of model 'clf'"
    assert parents == f"it claims parents none, but the version's parents are {v1.cid}"
    assert fetch.startswith(f"its record could not be fetched and checked: Block {nowhere} is not on the IPFS node")
    assert report.skipped == 3
    assert report.versions[0].cid == v2.cid and report.events[-1].new
    assert [v.cid for v in second_repo.log()] == [v2.cid, v1.cid] and second_repo.fsck().ok
    shown = present.watch_event_text(report.events[0])
    assert shown == f"REFUSED {v1.cid} announced by …{ipfs_node.peer_id[-8:]} as official: {model}."


# --- what is refused ---------------------------------------------------------------------------


def test_a_node_with_pubsub_off_is_a_clear_error_naming_the_daemon_setting(tmp_path, ipfs_node_without_pubsub):
    here = tmp_path / ".nbversion"
    with nbversion.Repo(here) as r:
        v = r.commit(layers(31), model="clf", message="first")
    out = run_cli("--repo", str(here), "push", "clf", "--to", ipfs_node_without_pubsub.url, "--announce", "lab")
    assert out.returncode == 1
    assert f"Pushed clf v1 ({v.cid})" in out.stdout  # the push itself happened, and says so
    assert "has pubsub turned off" in out.stderr and "--enable-pubsub-experiment" in out.stderr
    assert "Pubsub.Enabled" in out.stderr
    with nbversion.Repo(here) as r, pytest.raises(PubsubUnavailableError, match="enable-pubsub-experiment") as err:
        r.watch("lab", ipfs_node_without_pubsub.url, timeout=5)
    assert isinstance(err.value, RemoteError)


def test_announcing_a_version_the_node_lacks_or_that_nobody_watches_says_so(repo, ipfs_node):
    v = repo.commit(layers(41), model="clf", message="not pushed yet")
    with pytest.raises(RemoteError, match=r"is not pinned on .*Push it first: `nbversion push bafy"):
        repo.announce("clf", "nbversion-test-lonely", ipfs_node.url)
    repo.push("clf", ipfs_node.url)
    report = repo.announce("clf", "nbversion-test-lonely", ipfs_node.url)
    assert report.version.cid == v.cid and report.peers == []
    assert "nobody received it (pubsub keeps no history)" in present.announce_text(report)
    out = run_cli("--repo", str(repo.path), "push", "--to", ipfs_node.url, "--announce", "nbversion-test-lonely", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["announced"] == {"remote": ipfs_node.url, "topic": "nbversion-test-lonely",
                                                   "cid": str(v.cid), "bytes": report.size, "peers": []}  # fmt: skip
    out = run_cli("--repo", str(repo.path), "watch", "nbversion-test-lonely", "--timeout", "1")
    assert out.returncode == 1 and "Name it with --from REMOTE (this repository's remotes: none yet)" in out.stderr
    repo.remote_add("lab", ipfs_node.url)  # a pinning service's versions are announced through its node
    repo.remote_add("svc", "http://127.0.0.1:9/pins-api", kind="pinning", via="lab")
    assert repo.announce("clf", "nbversion-test-lonely", "svc").remote == "lab"


def test_a_node_that_stops_mid_watch_ends_the_watch_with_a_clear_error(second_repo, start_ipfs_node):
    node = start_ipfs_node()

    def stop_once_watched() -> None:
        store = IpfsStore(node.url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "lab" not in Pubsub(store).subscriptions():
            time.sleep(0.1)
        store.close()
        node.stop()

    threading.Thread(target=stop_once_watched, daemon=True).start()
    with pytest.raises(RemoteError, match=f"The IPFS node at {node.url} (ended|broke off) the subscription to 'lab'"):
        second_repo.watch("lab", node.url, timeout=60)


def test_a_watch_on_a_thread_says_when_it_is_subscribed_and_ends_when_told(second_repo, peer_node):
    """What a kernel's `%nbversion watch` runs on: ``on_subscribed`` once the node took the
    subscription, and a ``stop`` event that ends the watch without an announcement or a timeout."""
    stop, subscribed, reports = threading.Event(), threading.Event(), []
    watcher = threading.Thread(target=lambda: reports.append(second_repo.watch(
        "nbversion-test-stop", peer_node.url, stop=stop, on_subscribed=subscribed.set)), daemon=True)  # fmt: skip
    watcher.start()
    assert subscribed.wait(60)
    node = IpfsStore(peer_node.url)
    assert "nbversion-test-stop" in Pubsub(node).subscriptions()
    node.close()
    stop.set()
    watcher.join(30)
    assert not watcher.is_alive() and reports[0].events == [] and not reports[0].interrupted
