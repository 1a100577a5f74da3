"""Fixtures for tests against a real IPFS node (tests/ipfs/node.py): one node for the whole session
(starting one takes seconds), a factory for more nodes (peer-to-peer tests), and a store on it.

Loaded as a plugin: ``pytest_plugins = ["conftest_ipfs"]``.
"""

from __future__ import annotations

import importlib.util
import sys
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
