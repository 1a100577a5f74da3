"""``%nbversion watch TOPIC [--from REMOTE] [--stop]`` in a real kernel (nbversion/jupyter/watching.py).

The watch runs on a thread of the kernel while cells run: each version a peer announces is shown,
once fetched and verified, in one output the kernel redraws in place (``display_id``), a refused
claim as ``REFUSED`` with the reason, and the panel is told on the comm (``"announced"`` with the
version's summary, ``"watch"`` when it starts and ends). ``--stop`` and loading the extension again
end it; a node without pubsub is an error in the cell, at once. The nodes are two js-ipfs daemons
on 127.0.0.1, swarm-connected: the announcer pushes to node A, the kernel watches through node B.
"""

from __future__ import annotations

import dataclasses
import queue
import time

import pytest
from conftest_ipfs import wait_until_subscribed
from jupyter_client.manager import start_new_kernel
from test_announce import layers

import nbversion
from nbversion.repo.announce import encode_announcement
from nbversion.stores.kubo import IpfsStore
from nbversion.stores.pubsub import Pubsub

pytest_plugins = ["conftest_ipfs"]


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A real IPython kernel with nbversion loaded, its repository in ``tmp_path/kernel``."""
    monkeypatch.setenv("NBVERSION_DIR", str(tmp_path / "kernel" / ".nbversion"))
    km, kc = start_new_kernel(kernel_name="python3")
    k = Kernel(kc)
    k.run("%load_ext nbversion")
    try:
        yield k
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


class Kernel:
    """Runs cells and collects what the kernel sends on iopub (outputs, display updates, comm events)."""

    def __init__(self, kc) -> None:
        self.kc = kc
        self.seen: list = []
        self.asked = 100  # the ids of the requests sent as the panel

    def _pump(self, timeout: float) -> dict:
        msg = self.kc.get_iopub_msg(timeout=timeout)
        self.seen.append(msg)
        return msg

    def run(self, code: str, timeout: float = 120) -> dict:
        """Run ``code``; its stdout, its error (a traceback or what went to stderr; None when
        there is none) and the messages it sent, once it is idle."""
        msg_id = self.kc.execute(code)
        out, error, start = [], None, len(self.seen)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._pump(max(0.1, deadline - time.monotonic()))
            mine = msg["parent_header"].get("msg_id") == msg_id
            if mine and msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
                out.append(msg["content"]["text"])
            if mine and msg["msg_type"] == "stream" and msg["content"]["name"] == "stderr":
                error = (error or "") + msg["content"]["text"]  # IPython prints a UsageError there
            if mine and msg["msg_type"] == "error":
                error = "\n".join(msg["content"]["traceback"]) + msg["content"]["evalue"]
            if mine and msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return {"out": "".join(out), "error": error, "messages": self.seen[start:]}

    def ask(self, request: dict) -> dict:
        """Send the panel's ``request`` on the nbversion comm, as the panel does; the kernel's reply."""
        opened = self.wait_for(lambda m: m["msg_type"] == "comm_open" and m["content"]["target_name"] == "nbversion")
        self.asked += 1
        data = {"protocol": 1, "id": self.asked, **request}
        content = {"comm_id": opened["content"]["comm_id"], "data": data}
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", content))
        reply = self.wait_for(lambda m: m["msg_type"] == "comm_msg" and m["content"]["data"].get("id") == data["id"]
                              and "ok" in m["content"]["data"], timeout=30)  # fmt: skip
        return reply["content"]["data"]

    def wait_for(self, predicate, timeout: float = 120) -> dict:
        """The first message (seen already or to come) for which ``predicate`` holds."""
        for msg in self.seen:
            if predicate(msg):
                return msg
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self._pump(max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if predicate(msg):
                return msg
        raise AssertionError(f"no such message within {timeout} s; seen: {[m['msg_type'] for m in self.seen]}")


def event(name: str, **fields):
    """A predicate: a comm message from the kernel with this event and these fields."""

    def match(msg: dict) -> bool:
        data = msg["content"].get("data") if msg["msg_type"] == "comm_msg" else None
        return isinstance(data, dict) and data.get("event") == name and all(data.get(k) == v for k, v in fields.items())

    return match


def display_update(display_id: str, text: str):
    def match(msg: dict) -> bool:
        return (msg["msg_type"] == "update_display_data" and msg["content"]["transient"]["display_id"] == display_id
                and text in msg["content"]["data"]["text/plain"])  # fmt: skip

    return match


def test_a_watch_lists_verified_versions_and_refused_claims_in_one_updating_output_and_tells_the_panel(
    tmp_path, kernel, ipfs_node, peer_node
):
    topic = "nbversion-test-watch-magic"
    with nbversion.Repo(tmp_path / "announcer" / ".nbversion") as theirs:
        v1 = theirs.commit(layers(61), model="clf", message="first")
        v2 = theirs.commit(layers(62), model="clf", message="better", metrics={"acc": 0.93})
        theirs.push("clf", ipfs_node.url)
        v1, v2 = theirs.version(v1.cid), theirs.version(v2.cid)

    started = kernel.run(f"%nbversion watch {topic} --from {peer_node.url}")
    assert started["error"] is None, started["error"]
    shown = [m for m in started["messages"] if m["msg_type"] == "display_data"]
    assert len(shown) == 1 and shown[0]["content"]["data"]["text/plain"].startswith(
        f"Watching topic '{topic}' on {peer_node.url} (0 versions verified, 0 refused)")  # fmt: skip
    display_id = shown[0]["content"]["transient"]["display_id"]
    kernel.wait_for(event("watch", topic=topic, remote=peer_node.url, running=True), timeout=5)

    # cells run while it watches; a forged claim, then the true announcement
    wait_until_subscribed(ipfs_node.url, peer_node, topic)
    assert kernel.run("x = 1 + 1")["error"] is None
    node = IpfsStore(ipfs_node.url)
    try:
        Pubsub(node).publish(topic, encode_announcement(dataclasses.replace(v1, model="official")))
        time.sleep(0.05)
        Pubsub(node).publish(topic, encode_announcement(v2))
    finally:
        node.close()

    verified = kernel.wait_for(display_update(display_id, "pulled and verified"))
    lines = verified["content"]["data"]["text/plain"].splitlines()
    assert lines[0].startswith(f"Watching topic '{topic}' on {peer_node.url} (1 version verified, 1 refused)")
    assert lines[1] == (f"REFUSED {v1.cid} announced by …{ipfs_node.peer_id[-8:]} as official: it claims model "
                        "'official', but the version is of model 'clf'.")  # fmt: skip
    peer = ipfs_node.peer_id[-8:]
    assert lines[2].startswith(f"clf v2  {v2.cid}  better  acc=0.93  (from …{peer}; pulled and verified)")
    assert "&lt;" not in lines[2] and "<li" in verified["content"]["data"]["text/html"]
    told = kernel.wait_for(event("announced", topic=topic), timeout=10)["content"]["data"]
    assert told["protocol"] == 1 and told["remote"] == peer_node.url and told["new"] is True
    assert told["version"]["cid"] == str(v2.cid) and told["version"]["label"] == "v2"
    assert told["version"]["metrics"] == {"acc": 0.93} and told["version"]["parents"] == [str(v1.cid)]
    with nbversion.Repo(tmp_path / "kernel" / ".nbversion") as mine:  # it is in the kernel's repository, whole
        assert [v.cid for v in mine.log()] == [v2.cid, v1.cid] and mine.fsck().ok
    attached = kernel.ask({"op": "attach"})  # a page opened now learns of the watch and what it verified
    assert attached["ok"] and attached["result"]["watches"] == {topic: peer_node.url}
    assert [a["version"]["cid"] for a in attached["result"]["announced"]] == [str(v2.cid)]
    loaded = kernel.ask({"op": "checkout", "ref": str(v2.cid), "model": "clf"})  # the panel's Load of it
    assert not loaded["ok"], loaded
    assert "No variable 'clf' in the kernel" in loaded["error"]["message"]

    stopped = kernel.run(f"%nbversion watch {topic} --stop")
    assert stopped["error"] is None and stopped["out"].strip() == (
        f"Stopped watching topic '{topic}' on {peer_node.url} (1 version verified, 1 refused).")  # fmt: skip
    kernel.wait_for(event("watch", topic=topic, running=False), timeout=10)
    kernel.wait_for(display_update(display_id, "Stopped watching"), timeout=10)
    again = kernel.run(f"%nbversion watch {topic} --stop")
    assert "No watch of topic" in again["error"] and "(running: none)" in again["error"]


def test_loading_the_extension_again_ends_the_watch(kernel, peer_node):
    assert kernel.run(f"%nbversion watch nbversion-test-reload --from {peer_node.url}")["error"] is None
    kernel.wait_for(event("watch", topic="nbversion-test-reload", running=True), timeout=10)
    assert kernel.run("%reload_ext nbversion")["error"] is None
    kernel.wait_for(event("watch", topic="nbversion-test-reload", running=False), timeout=10)


def test_a_node_without_pubsub_is_an_error_in_the_cell_at_once(kernel, ipfs_node_without_pubsub):
    done = kernel.run(f"%nbversion watch lab --from {ipfs_node_without_pubsub.url}", timeout=60)
    assert done["error"] is not None
    assert "has pubsub turned off" in done["error"] and "--enable-pubsub-experiment" in done["error"]
    assert not [m for m in done["messages"] if m["msg_type"] == "display_data"]  # nothing shown as watching
    assert "(running: none)" in kernel.run("%nbversion watch lab --stop")["error"]


def test_a_watch_with_no_node_named_and_none_to_pick_says_how_to_name_one(kernel):
    done = kernel.run("%nbversion watch lab")
    assert "Name it with --from REMOTE (this repository's remotes: none yet)" in done["error"]
