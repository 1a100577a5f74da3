"""The panel bridge: protocol v1 over a Jupyter comm, in plain Python and in a real kernel."""

from __future__ import annotations

import numpy as np
import pytest
from jupyter_client.manager import start_new_kernel

import nbversion
from nbversion.jupyter.bridge import Bridge
from nbversion.jupyter.session import KernelSession


@pytest.fixture
def bridge(tmp_path):
    namespace = {"w": {"a": np.arange(3.0)}}
    session = KernelSession(namespace, repo_dir=str(tmp_path / ".nbversion"))
    return Bridge(session), session, namespace


def ask(bridge: Bridge, **request):
    return bridge.handle({"protocol": 1, "id": 7, **request})


def test_every_request_gets_a_reply_with_its_id(bridge):
    b, session, ns = bridge
    session.commit("w", ns["w"], "one")
    ns["w"]["a"] += 1
    session.commit("w", ns["w"], "two")
    listing = ask(b, op="list")
    assert listing["ok"] and listing["id"] == 7
    assert [v["message"] for v in listing["result"]["versions"]] == ["two", "one"]
    assert listing["result"]["current"] == {"w": listing["result"]["versions"][0]["cid"]}
    reply = ask(b, op="checkout", ref="v1", model="w")
    assert reply["ok"] and reply["result"]["label"] == "v1" and reply["result"]["replaced"] == 1
    assert np.array_equal(ns["w"]["a"], np.arange(3.0))
    diff = ask(b, op="diff", a="v1", b="v2", model="w")
    assert diff["result"] == [{"name": "a", "status": "changed", "shape_a": [3], "shape_b": [3], "l2": pytest.approx(3 ** 0.5), "max_abs": 1.0}]
    assert ask(b, op="tag", name="best", ref="v2", model="w")["result"]["name"] == "best"


@pytest.mark.parametrize(
    "request_, error",
    [
        ({"op": "checkout", "ref": "nope", "model": "w"}, "Unknown ref 'nope'"),
        ({"op": "checkout", "ref": "v1", "model": "missing"}, "No variable 'missing' in the kernel"),
        ({"op": "fly"}, "Unknown request 'fly'"),
        ({"op": "checkout", "model": "w"}, "needs a 'ref'"),
        ({"op": "diff", "a": "v1", "b": "v1", "model": {"not": "text"}}, "needs a 'model'"),
        ({"op": "tag", "name": "t", "ref": "v1", "model": ["w"]}, "needs a 'model'"),
        ({"op": "tag", "name": 3, "ref": "v1"}, "needs a 'name'"),
    ],
)
def test_errors_are_structured_replies_not_silence(bridge, request_, error):
    b, session, ns = bridge
    session.commit("w", ns["w"], "one")
    reply = ask(b, **request_)
    assert reply["ok"] is False and reply["id"] == 7
    assert error in reply["error"]["message"] and reply["error"]["type"]


def test_a_wrong_protocol_version_is_refused(bridge):
    reply = bridge[0].handle({"protocol": 99, "id": 1, "op": "list"})
    assert reply["ok"] is False and "protocol" in reply["error"]["message"]


def test_checkout_refused_by_the_core_leaves_the_model_untouched(bridge):
    b, session, ns = bridge
    session.commit("w", ns["w"], "one")
    ns["w"] = {"a": np.arange(4.0)}  # a different architecture under the same name
    reply = ask(b, op="checkout", ref="v1", model="w")
    assert reply["ok"] is False and "does not fit" in reply["error"]["message"]
    assert np.array_equal(ns["w"]["a"], np.arange(4.0))


def _comm_messages(kc, timeout=30):
    out = []
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=timeout)
        except Exception:
            return out
        if msg["msg_type"].startswith("comm_"):
            out.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle" and msg["parent_header"].get("msg_type") == "execute_request":
            return out


def test_real_kernel_opens_the_comm_answers_and_announces_commits(tmp_path, monkeypatch):
    monkeypatch.setenv("NBVERSION_DIR", str(tmp_path / ".nbversion"))
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        kc.execute("%load_ext nbversion\nimport numpy as np\nw = {'a': np.zeros(2)}")
        opened = [m for m in _comm_messages(kc) if m["msg_type"] == "comm_open"]
        assert len(opened) == 1 and opened[0]["content"]["target_name"] == "nbversion"
        assert opened[0]["content"]["data"] == {"protocol": 1, "event": "hello", "current": {}}
        comm_id = opened[0]["content"]["comm_id"]
        kc.execute("%commit_weights w -m one")
        events = [m["content"]["data"] for m in _comm_messages(kc) if m["msg_type"] == "comm_msg"]
        assert events and events[0]["event"] == "changed" and events[0]["model"] == "w"
        assert events[0]["current"].startswith("bafyrei")
        msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {"protocol": 1, "id": 1, "op": "list"}})
        kc.shell_channel.send(msg)
        replies = []
        for _ in range(50):
            m = kc.get_iopub_msg(timeout=10)
            if m["msg_type"] == "comm_msg" and m["content"]["data"].get("id") == 1:
                replies.append(m["content"]["data"])
                break
        assert replies and replies[0]["ok"] and replies[0]["result"]["versions"][0]["message"] == "one"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_bug_still_gets_an_answer_and_is_called_a_bug(bridge, monkeypatch, caplog):
    b, session, ns = bridge
    session.commit("w", ns["w"], "one")
    monkeypatch.setattr(type(session.repo), "diff", lambda *a, **k: 1 / 0)  # a bug of ours, on purpose
    reply = ask(b, op="diff", a="v1", b="v1", model="w")
    assert reply["ok"] is False and reply["id"] == 7
    assert reply["error"]["type"] == "InternalError" and "ZeroDivisionError" in reply["error"]["message"]
    assert "ZeroDivisionError" in caplog.text  # logged with its traceback


class Comm:
    """Stands in for the Jupyter comm in plain-Python tests: what the bridge sends, in order."""

    def __init__(self):
        self.sent = []

    def send(self, data):
        self.sent.append(data)


def test_events_the_session_reports_reach_the_panel_with_the_protocol_version(bridge):
    b, session, ns = bridge
    b.comm = Comm()
    watch = {"event": "watch", "topic": "lab", "remote": "http://127.0.0.1:5001", "running": True}
    session.notify(watch)  # what a `%nbversion watch` reports, from its thread
    assert b.comm.sent == [{"protocol": 1, **watch}]
    listing = ask(b, op="list")["result"]
    assert listing["watches"] == {} and listing["announced"] == []  # no watch runs in this kernel
    b.unsubscribe_events()
    session.notify(watch)
    assert len(b.comm.sent) == 1  # unsubscribed: nothing more is forwarded


def test_a_panel_that_takes_up_the_comm_says_so_and_gets_what_the_server_cannot_tell_it(bridge):
    b, session, ns = bridge
    b.comm = Comm()
    session.commit("w", ns["w"], "one")
    assert b.send_pin("w", session.current["w"], None) is False  # nobody listens yet: the magic writes the file
    b._on_msg({"content": {"data": {"protocol": 1, "id": 0, "op": "attach"}}})
    reply = b.comm.sent[-1]
    assert reply["ok"] and reply["id"] == 0
    assert reply["result"] == {"current": {"w": str(session.current["w"])}, "watches": {}, "announced": []}
    assert b.send_pin("w", session.current["w"], "train.ipynb") is True
    assert b.comm.sent[-1] == {"protocol": 1, "event": "pin", "model": "w", "cid": str(session.current["w"]),
                               "notebook": "train.ipynb"}  # fmt: skip


def test_loading_a_version_only_on_the_remote_reports_progress_then_replies(tmp_path, ipfs_api):
    """The panel's Load of a CID the kernel's repository lacks: the bridge fetches it from the
    repository's only remote and, while the tensors come, sends progress events for the request
    (bytes of the tensors not here as the total, and the remote they come from); then the reply.
    A second Load fetches nothing."""
    rng = np.random.default_rng(5)
    weights = {f"layer{i}": rng.standard_normal((512, 512)).astype(np.float32) for i in range(3)}  # 1 MiB each
    with nbversion.Repo(tmp_path / "theirs" / ".nbversion") as theirs:
        v1 = theirs.commit(weights, model="w", message="shared")
        theirs.push("w", ipfs_api)
    namespace = {"w": {k: np.zeros_like(a) for k, a in weights.items()}}
    session = KernelSession(namespace, repo_dir=str(tmp_path / "mine" / ".nbversion"))
    session.repo.remote_add("lab", ipfs_api)
    b = Bridge(session)
    b.comm = Comm()
    reply = ask(b, op="checkout", ref=str(v1.cid), model="w")
    assert reply["ok"], reply
    progress = [m for m in b.comm.sent if m.get("event") == "progress"]
    assert progress and all(m["id"] == 7 and m["protocol"] == 1 and m["remote"] == "lab" for m in progress)
    assert {m["total"] for m in progress} == {3 * (1 << 20)}
    done = [m["done"] for m in progress]
    assert done == sorted(done) and done[-1] == 3 * (1 << 20)
    assert all(np.array_equal(namespace["w"][k], weights[k]) for k in weights)
    b.comm.sent.clear()
    namespace["w"] = {k: np.zeros_like(a) for k, a in weights.items()}
    assert ask(b, op="checkout", ref=str(v1.cid), model="w")["ok"]
    assert [m for m in b.comm.sent if m.get("event") == "progress"] == []  # all here now: nothing to show
