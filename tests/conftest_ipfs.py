"""Fixtures for tests against a real IPFS node (tests/ipfs/node.py): one node for the whole session
(starting one takes seconds), a factory for more nodes (peer-to-peer tests), and a store on it.

Loaded as a plugin: ``pytest_plugins = ["conftest_ipfs"]``.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest


def _load_node_module():
    """tests/ipfs/node.py, imported under a name of its own (tests/ is no package)."""
    name = "nbversion_tests_ipfs_node"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / "ipfs" / "node.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


ipfs_test_node = _load_node_module()

IpfsNode = ipfs_test_node.IpfsNode


def _start(folder: Path) -> IpfsNode:
    try:
        return ipfs_test_node.start_node(folder)
    except ipfs_test_node.NodeSetupError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def start_ipfs_node(tmp_path_factory) -> Iterator[Callable[[], IpfsNode]]:
    """Start another fresh node (all are stopped when the session ends)."""
    nodes: List[IpfsNode] = []

    def start() -> IpfsNode:
        nodes.append(_start(tmp_path_factory.mktemp("ipfs-node")))
        return nodes[-1]

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture(scope="session")
def ipfs_node(start_ipfs_node) -> IpfsNode:
    """The session's IPFS node, on 127.0.0.1 only: its RPC API is ``ipfs_node.url``."""
    return start_ipfs_node()


@pytest.fixture(scope="session")
def ipfs_api(ipfs_node) -> str:
    """The session node's RPC API address (``http://127.0.0.1:PORT``)."""
    return ipfs_node.url


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (where a stopped daemon would be)."""
    return ipfs_test_node.free_ports(1)[0]


@pytest.fixture
def ipfs_store(ipfs_api):
    """An :class:`~nbversion.stores.kubo.IpfsStore` on the session node."""
    from nbversion.stores.kubo import IpfsStore

    store = IpfsStore(ipfs_api)
    yield store
    store.close()


# --- a pinning service (the IPFS Pinning Service API) ---------------------------------------------

PINNING_SERVICE_JS = Path(__file__).parent / "ipfs" / "pinning_service.js"
PINNING_SERVICE_PACKAGE = Path(__file__).parent / "ipfs" / "node_modules" / "mock-ipfs-pinning-service"


class PinningServiceProcess:
    """The IPFS project's mock pinning service (npm ``mock-ipfs-pinning-service``, run by
    tests/ipfs/pinning_service.js on 127.0.0.1): the API as specified, pins kept in memory, nothing
    fetched or replicated; a pin's status stays ``queued`` unless its name starts ``pinned-``,
    ``pinning-`` or ``failed-``. ``url``: its endpoint; ``token``: the access token it wants."""

    def __init__(self, folder: Path, token: str) -> None:
        import subprocess
        import time

        self.token = token
        self.port = ipfs_test_node.free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "pinning-service.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(ipfs_test_node.NODE), str(PINNING_SERVICE_JS), str(self.port), token],
                cwd=PINNING_SERVICE_JS.parent, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while "Pinning service ready" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = self.log.read_text(errors="replace")[-2000:]
                pytest.fail(f"The pinning service did not start:\n{log}", pytrace=False)
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:
                self.process.kill()
                self.process.wait()


def _install_pinning_service() -> None:
    """The mock service comes with the test node's packages (tests/ipfs/package.json); a
    node_modules installed before it was added is brought up to date with ``npm ci``."""
    import os
    import shutil
    import subprocess

    ipfs_test_node.install()
    if PINNING_SERVICE_PACKAGE.is_dir():
        return
    from filelock import FileLock

    with FileLock(str(PINNING_SERVICE_JS.parent / ".install.lock")):
        if PINNING_SERVICE_PACKAGE.is_dir():
            return
        npm = shutil.which("npm")
        done = subprocess.run(
            [npm or "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PINNING_SERVICE_JS.parent,
            capture_output=True, text=True, env={**os.environ, "NO_UPDATE_NOTIFIER": "1"},
        )
        if done.returncode != 0 or not PINNING_SERVICE_PACKAGE.is_dir():
            why = done.stderr[-3000:]
            pytest.fail(f"`npm ci` in tests/ipfs failed (exit {done.returncode}):\n{why}", pytrace=False)


@pytest.fixture(scope="session")
def start_pinning_service(tmp_path_factory) -> Iterator[Callable[..., PinningServiceProcess]]:
    """Start another pinning service, ``start(token="...")`` (all are stopped when the session ends)."""
    _install_pinning_service()
    services: List[PinningServiceProcess] = []

    def start(token: str = "test-token-7f3a") -> PinningServiceProcess:
        services.append(PinningServiceProcess(tmp_path_factory.mktemp("pinning-service"), token))
        return services[-1]

    yield start
    for service in services:
        service.stop()


@pytest.fixture(scope="session")
def pinning_service(start_pinning_service) -> PinningServiceProcess:
    """The session's pinning service on 127.0.0.1: ``pinning_service.url``, ``.token``."""
    return start_pinning_service()


# --- pubsub (tests/test_announce.py) ---------------------------------------------------------


def swarm_connect(node: IpfsNode, peer: IpfsNode) -> None:
    """Connect ``node`` to ``peer`` over loopback, through the client's lower-level request
    (ipfshttpclient 0.7.0's ``swarm.connect`` splits the address into characters)."""
    from nbversion.stores.kubo import rpc_client

    client = rpc_client(node.api)
    try:
        client._client.request("/swarm/connect", (peer.swarm_addr,), decoder="json")
    finally:
        client.close()


@pytest.fixture(scope="module")
def peer_node(ipfs_node, start_ipfs_node):
    """Node B, swarm-connected to the session's node A (both on 127.0.0.1)."""
    node = start_ipfs_node()
    swarm_connect(node, ipfs_node)
    return node


def wait_until_subscribed(announcer_url: str, watcher, topic: str, timeout: float = 60.0) -> None:
    """Until the announcer's node knows the watcher's node is subscribed to ``topic`` (pubsub keeps
    no history: what is published before that reaches nobody)."""
    from nbversion.stores.kubo import IpfsStore
    from nbversion.stores.pubsub import Pubsub

    node = IpfsStore(announcer_url)
    try:
        deadline = time.monotonic() + timeout
        while watcher.peer_id not in Pubsub(node).peers(topic):
            assert time.monotonic() < deadline, f"node B never subscribed to {topic!r}"
            time.sleep(0.1)
    finally:
        node.close()


@pytest.fixture
def ipfs_node_without_pubsub(tmp_path_factory) -> Iterator[IpfsNode]:
    """A fresh node started with ``Pubsub.Enabled`` false (stopped after the test)."""
    plain = ipfs_test_node.loopback_config

    def without_pubsub(*ports: int) -> dict:
        return {**plain(*ports), "Pubsub": {"Enabled": False}}

    ipfs_test_node.loopback_config = without_pubsub  # what start_node writes into the node's config
    try:
        node = _start(tmp_path_factory.mktemp("ipfs-node-no-pubsub"))
    finally:
        ipfs_test_node.loopback_config = plain
    yield node
    node.stop()


@pytest.fixture
def node_wanting_auth() -> Iterator[Callable[..., str]]:
    """Starts an RPC API that answers ``/version`` only to the ``Authorization`` values given and
    refuses others as Kubo does, HTTP 403 in plain text (js-ipfs has no ``API.Authorizations``);
    returns its URL. The values it was sent are in ``node_wanting_auth.seen``."""
    servers: List[http.server.ThreadingHTTPServer] = []
    seen: List[str] = []

    def start(*accepted: str) -> str:
        class WantsAuth(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                seen.append(self.headers.get("Authorization"))
                ok = self.headers.get("Authorization") in accepted
                body = json.dumps({"Version": "0.0.0-stub"}).encode() if ok else b"403 - Forbidden"
                self.send_response(200 if ok else 403)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WantsAuth)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    start.seen = seen  # type: ignore[attr-defined]
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
