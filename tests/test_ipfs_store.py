"""The IPFS store: blocks kept on a real IPFS node through its RPC API (nbversion/stores/kubo.py).

The node is js-ipfs 0.66.1, an implementation independent of ours serving Kubo's ``/api/v0``,
started by the tests on 127.0.0.1 only (tests/ipfs/node.py). Blocks our embedded store writes get
the same CIDs there, every block read back is hash-checked, and each way of failing (no daemon,
the wrong port, a node too slow, a node serving other bytes) is an error of nbversion's own.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time

import ipfshttpclient
import numpy as np
import pytest

import nbversion
from conftest import weights
from nbversion.errors import (
    BlockNotFoundError,
    CorruptBlockError,
    RemoteAddressError,
    RemoteError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)
from nbversion.formats.cid import CID, DAG_CBOR, DAG_PB, RAW
from nbversion.stores.kubo import IpfsStore, api_multiaddr, rpc_client
from nbversion.stores.registry import store_class

pytest_plugins = ["conftest_ipfs"]


def client(node) -> ipfshttpclient.Client:
    """ipfshttpclient on the node, as nbversion builds it (connect() refuses daemons past 0.8.0)."""
    return rpc_client(node.api)


def node_cid(text: str) -> CID:
    return CID.parse(text)  # daemons print CIDv0, base58 or base32: compare decoded


def test_the_test_node_listens_on_loopback_only_and_knows_only_loopback_peers(ipfs_node):
    ports = ipfs_node.listening()
    if ports is None:
        pytest.skip("`ss` is not installed")
    assert ports and all(p.startswith("127.0.0.1:") for p in ports), ports
    assert f"127.0.0.1:{ipfs_node.api_port}" in ports
    peers = client(ipfs_node).swarm.peers()["Peers"] or []  # only the test nodes other tests connected to it
    assert all(peer["Addr"].startswith("/ip4/127.0.0.1/") for peer in peers), peers


def test_the_store_is_registered_as_ipfs():
    assert store_class("ipfs") is IpfsStore


def test_api_addresses_are_urls_or_multiaddrs():
    assert api_multiaddr("http://127.0.0.1:5001") == ("/ip4/127.0.0.1/tcp/5001/http", "api/v0")
    assert api_multiaddr("http://[::1]:5001/") == ("/ip6/::1/tcp/5001/http", "api/v0")
    assert api_multiaddr("https://ipfs.example.org/team/") == ("/dns/ipfs.example.org/tcp/443/https", "team/api/v0")
    assert api_multiaddr("/ip4/127.0.0.1/tcp/5001") == ("/ip4/127.0.0.1/tcp/5001", "api/v0")
    for wrong in ["127.0.0.1:5001", "ftp://127.0.0.1:5001", "/ip4/127.0.0.1/udp/5001", "", "http://"]:
        with pytest.raises(RemoteAddressError, match="URL .*or a multiaddr"):
            api_multiaddr(wrong)


INLINE_FILE = b"\x0a\x1b\x08\x02\x12\x17test_ipfs_store's block"  # PBNode{Data: UnixFS{File, "..."}}


def test_blocks_put_through_the_store_come_back_verified(ipfs_store):
    blocks = [
        (CID.hash(RAW, b"raw leaf " * 100), b"raw leaf " * 100),
        (CID.hash(DAG_CBOR, b"\xa1aa\x01"), b"\xa1aa\x01"),  # {"a": 1}
        # a UnixFS file with its data inline, which no other test (nor a raw-leaves writer) makes: the
        # test node is shared by the session, so a block another test stored would not be missing
        (CID.hash(DAG_PB, INLINE_FILE), INLINE_FILE),
    ]
    assert ipfs_store.missing([c for c, _ in blocks]) == {c for c, _ in blocks}
    with ipfs_store.writer() as w:
        for cid, data in blocks:
            w.put(cid, data)
        assert all(w.is_new(c) and w.has(c) for c, _ in blocks)
        assert w.bytes_written == sum(len(d) for _, d in blocks)
    for cid, data in blocks:
        assert ipfs_store.has(cid)
        assert ipfs_store.get(cid) == data
        assert ipfs_store.size(cid) == len(data)
    with ipfs_store.writer() as again:  # the node has them: nothing is sent twice
        for cid, data in blocks:
            again.put(cid, data)
        assert again.bytes_written == 0 and not any(again.is_new(c) for c, _ in blocks)


def test_every_block_a_local_commit_writes_has_the_same_cid_on_the_node(repo, ipfs_node, tmp_path):
    v = repo.commit(weights(), model="clf", message="first")
    car = tmp_path / "clf.car"
    repo.export_car("clf", car)
    ipfs = client(ipfs_node)
    imported = ipfs.dag.imprt(car)
    assert node_cid(imported["Root"]["Cid"]["/"]) == v.cid
    ours = list(repo.store.cids())
    assert len(ours) > 5  # version, manifest, three tensors, one a dag-pb file over two leaves
    for cid in ours:
        stat = ipfs.block.stat(str(cid))
        assert node_cid(stat["Key"]).digest == cid.digest and stat["Size"] == repo.store.size(cid)
        assert ipfs.block.get(str(cid)) == repo.store.get(cid)
    for name, tensor in repo.load("clf").items():  # `ipfs cat` of a tensor's CID: its exact bytes
        entry = repo.manifest("clf").by_name()[name]
        assert ipfs.cat(str(entry.data)) == np.ascontiguousarray(tensor).tobytes()


def test_blocks_put_one_by_one_are_named_by_the_node_as_by_us(repo, ipfs_store):
    """block/put with the codec options the node understands: the CID the node answers is ours
    (the store checks it on every put, and refuses a node that names a block otherwise)."""
    repo.commit(weights(seed=7), model="clf", message="seven")
    blocks = [(cid, repo.store.get(cid)) for cid in repo.store.cids()]
    assert {c.codec for c, _ in blocks} == {RAW, DAG_PB, DAG_CBOR}
    with ipfs_store.writer() as w:
        w.put_many(blocks)
    for cid, data in blocks:
        assert ipfs_store.get(cid) == data


def test_a_repository_can_keep_its_blocks_on_the_node(tmp_path, ipfs_api, monkeypatch):
    monkeypatch.setenv("NBVERSION_IPFS_API", ipfs_api)
    with nbversion.Repo(tmp_path / ".nbversion", store="ipfs") as r:
        assert isinstance(r.store, IpfsStore)
        first = weights(seed=3)
        r.commit(first, model="clf", message="on the node")
        second = dict(first, **{"dense/bias": np.ones(32, np.float32)})
        r.commit(second, model="clf", message="bias changed")
        for ref, expected in [("clf~1", first), ("clf", second)]:
            loaded = r.load(ref)
            assert all(np.array_equal(loaded[k], expected[k]) for k in expected)
        with pytest.raises(RemoteError, match="does not delete blocks from the IPFS node"):
            r.gc()
    assert not (tmp_path / ".nbversion" / "blocks").exists()  # no block was kept locally


def test_pinning_a_version_keeps_every_block_it_reaches_through_the_nodes_gc(repo, ipfs_store, ipfs_node):
    v = repo.commit(weights(seed=11), model="clf", message="to pin")
    with ipfs_store.writer() as w:
        w.put_many([(cid, repo.store.get(cid)) for cid in repo.store.cids()])
    tensor = repo.manifest("clf").by_name()["dense/kernel"].data
    ipfs_store.pin(v.cid)
    assert ipfs_store.pinned(v.cid) and ipfs_store.pinned(tensor)  # the tensor: pinned through the version
    ipfs = client(ipfs_node)
    ipfs.repo.gc()
    assert not ipfs_store.missing(repo.store.cids())
    ipfs_store.unpin(v.cid)
    assert not ipfs_store.pinned(v.cid)
    ipfs.repo.gc()
    assert {v.cid, tensor} <= ipfs_store.missing(repo.store.cids())  # (blocks other versions pin stay)


def test_a_daemon_that_is_down_is_a_clear_error(closed_port):
    port = closed_port
    with pytest.raises(RemoteUnreachableError, match=r"No IPFS node answers at http://127\.0\.0\.1:\d+: is the daemon running"):
        IpfsStore(f"http://127.0.0.1:{port}")
    with pytest.raises(ConnectionError):  # the built-in it resembles
        IpfsStore(f"/ip4/127.0.0.1/tcp/{port}")


def test_the_gateway_or_the_swarm_port_is_named_as_not_the_rpc_api(ipfs_node):
    with pytest.raises(RemoteAddressError, match="HTTP 404: it is not an IPFS RPC API .*port 8080 is the read-only gateway"):
        IpfsStore(f"http://127.0.0.1:{ipfs_node.gateway_port}")
    with pytest.raises(RemoteAddressError, match="not over HTTP: is that the node's swarm port"):
        IpfsStore(f"http://127.0.0.1:{ipfs_node.swarm_port}")


def test_a_node_that_does_not_answer_in_time_is_a_timeout():
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        with pytest.raises(RemoteTimeoutError, match=r"did not answer /version within 0\.5 s"):
            IpfsStore(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)


def test_a_block_the_node_does_not_have_is_not_found(ipfs_api):
    store = IpfsStore(ipfs_api, fetch_timeout=0.5)
    absent = CID.hash(RAW, b"no node holds this block")
    assert not store.has(absent)
    with pytest.raises(BlockNotFoundError, match="not on the IPFS node at .* no peer of it served it within 0.5 s"):
        store.get(absent)


def test_a_block_the_node_serves_with_other_bytes_is_refused(ipfs_node, ipfs_store, tmp_path):
    """Damage the node's own copy on its disk (as bit rot would): the node serves the wrong bytes
    without noticing, and the store refuses them."""
    data = b"a block the node's disk will damage"
    cid = CID.hash(RAW, data)
    with ipfs_store.writer() as w:
        w.put(cid, data)
    stored = ipfs_node.block_file(cid.digest)
    assert stored.read_bytes() == data
    stored.write_bytes(b"A" + data[1:])
    try:
        assert client(ipfs_node).block.get(str(cid)) == b"A" + data[1:]  # the node itself does not check
        with pytest.raises(CorruptBlockError, match=f"returned {len(data)} bytes for block {cid} that do not hash"):
            ipfs_store.get(cid)
        corrupt, _ = ipfs_store.verify_all()
        assert [c.digest for c in corrupt] == [cid.digest]
    finally:
        stored.write_bytes(data)


def test_a_second_node_fetches_a_block_only_the_first_holds_over_bitswap_and_once_stopped_is_unreachable(
    ipfs_node, ipfs_store, start_ipfs_node
):
    data = b"only the first node holds this block"
    cid = CID.hash(RAW, data)
    with ipfs_store.writer() as w:
        w.put(cid, data)
    other = start_ipfs_node()
    try:
        # ipfshttpclient 0.7.0's swarm.connect splits the address into characters: the lower-level call works
        client(other)._client.request("/swarm/connect", (ipfs_node.swarm_addr,), decoder="json")
        remote = IpfsStore(other.url, fetch_timeout=30)
        assert not remote.has(cid)
        assert remote.get(cid) == data
        assert remote.has(cid)
    finally:
        other.stop()
    with pytest.raises(RemoteUnreachableError, match="is the daemon running"):
        remote.get(cid)


class _Stub(http.server.BaseHTTPRequestHandler):
    """An HTTP server that speaks just enough of the RPC API to misbehave in ways a real node
    cannot be made to: stall in the middle of a block, name a block it was sent by another hash."""

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        if path == "/api/v0/version":
            self._json({"Version": "0.0.0-stub"})
        elif path == "/api/v0/block/get":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            self.wfile.flush()
            time.sleep(2)  # ...and the other 990 bytes never come
        elif path == "/api/v0/block/stat":  # as Kubo answers with `offline` for a block it lacks
            self._json({"Message": "block was not found locally (offline)", "Code": 0, "Type": "error"}, 500)
        elif path == "/api/v0/block/put":
            self._read_chunked()
            self._json({"Key": str(CID.hash(RAW, b"something else")), "Size": 14})
        else:
            self.send_error(404)

    def _read_chunked(self) -> None:
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            self.rfile.read(size + 2)
            if size == 0:
                return

    def _json(self, obj: dict, status: int = 200) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def lying_node():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_node_that_stalls_in_the_middle_of_a_block_is_a_timeout(lying_node):
    store = IpfsStore(lying_node, timeout=0.5, fetch_timeout=0.5)
    with pytest.raises(RemoteTimeoutError, match="stalled in the middle of /block/get"):
        store.get(CID.hash(RAW, b"any block"))


def test_a_node_that_names_a_block_it_was_sent_by_another_hash_is_refused(lying_node):
    store = IpfsStore(lying_node)
    with pytest.raises(CorruptBlockError, match="it hashed other bytes than were sent"), store.writer() as w:
        w.put(CID.hash(RAW, b"the bytes sent"), b"the bytes sent")
