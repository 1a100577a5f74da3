"""How a pull reads a node's ``dag/export`` stream (nbversion/stores/kubo.py, ``IpfsStore.export``).

The stream is read straight from the HTTP connection into the reader's own buffers: no receiving
thread, no chunk objects, the socket's receive buffer as the read-ahead. These tests pin that it
hands over exactly the bytes the node sent (from a real js-ipfs node, and from a small HTTP server
that sends its answer in odd-sized chunks or compressed), and that a node that stalls or breaks
off in the middle of a stream is still nbversion's timeout or broken-off error. A pull checks each
leaf either as it arrives or on the worker threads (``HASH_INLINE``, chosen by the number of
cores); both ways are run here, with a leaf the node serves wrong.
"""

from __future__ import annotations

import gzip
import http.server
import os
import threading
import time
from typing import Iterator, List, Tuple

import numpy as np
import pytest

import nbversion
from nbversion.errors import CorruptBlockError, RemoteTimeoutError, RemoteUnreachableError
from nbversion.formats import dagcbor
from nbversion.formats.car import car_pieces, read_car
from nbversion.formats.cid import CID, RAW
from nbversion.repo import pull as pull_module
from nbversion.stores.kubo import IpfsStore

pytest_plugins = ["conftest_ipfs"]

BLOCKS: List[Tuple[CID, bytes]] = [(CID.hash(RAW, data), data) for data in (os.urandom(300_000) for _ in range(4))]
CAR = b"".join(bytes(piece) for piece in car_pieces([BLOCKS[0][0]], BLOCKS))


def receiving_threads() -> List[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("nbversion-receive")]


class _Node(http.server.BaseHTTPRequestHandler):
    """Answers /version, and /dag/export with :data:`CAR` in chunks of 70,001 bytes, as the
    server's ``mode`` says: whole, gzip-compressed, stalling halfway, or cut off inside a chunk."""

    protocol_version = "HTTP/1.1"
    mode = "whole"

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        if path == "/api/v0/version":
            body = b'{"Version": "0.0.0-stub"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if path != "/api/v0/dag/export":
            self.send_error(404)
            return
        mode = self.server.mode  # type: ignore[attr-defined]
        body = gzip.compress(CAR) if mode == "gzip" else CAR
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.ipld.car")
        self.send_header("Transfer-Encoding", "chunked")
        if mode == "gzip":
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        for start in range(0, len(body), 70_001):
            piece = body[start : start + 70_001]
            if start >= len(body) // 2 and mode == "stall":
                self.wfile.flush()
                time.sleep(3)  # ...and the rest never comes in time
                return
            if start >= len(body) // 2 and mode == "cut":
                self.wfile.write(b"%x\r\n" % len(piece) + piece[:100])  # a chunk announced, then the connection drops
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Node)
    server.daemon_threads = True
    server.mode = "whole"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def url(server: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_an_export_from_a_real_node_is_read_without_a_receiving_thread_and_holds_every_block(repo, ipfs_api):
    rng = np.random.default_rng(2024)
    v = repo.commit({f"w{i}": rng.standard_normal(300_000, dtype=np.float32) for i in range(3)}, model="m", message="x")
    repo.push("m", ipfs_api)
    manifest = repo.index.version(v.cid).manifest
    node = IpfsStore(ipfs_api)
    try:
        stream = node.export(manifest, node_timeout=False)
        roots, blocks = read_car(stream)
        got = {}
        for cid, block in blocks:
            assert not receiving_threads()  # read on this thread, straight from the connection
            got[cid] = block
        stream.close()
    finally:
        node.close()
    assert roots == [manifest] and manifest in got and len(got) > 3
    assert all(repo.store.get(cid) == block for cid, block in got.items())


@pytest.mark.parametrize("mode", ["whole", "gzip"])
def test_an_export_sent_in_odd_chunks_or_compressed_is_read_back_byte_for_byte(stub, mode):
    stub.mode = mode
    node = IpfsStore(url(stub), timeout=5, fetch_timeout=5)
    try:
        stream = node.export(BLOCKS[0][0], node_timeout=False)
        roots, blocks = read_car(stream)
        assert roots == [BLOCKS[0][0]] and list(blocks) == BLOCKS  # each block checked against its CID, too
        stream.close()
    finally:
        node.close()


def test_a_node_that_stalls_in_the_middle_of_an_export_is_a_timeout(stub):
    stub.mode = "stall"
    node = IpfsStore(url(stub), timeout=0.5, fetch_timeout=0.5)
    try:
        stream = node.export(BLOCKS[0][0], node_timeout=False)
        with pytest.raises(RemoteTimeoutError, match=r"stalled in the middle of /dag/export of "):
            list(read_car(stream)[1])
        stream.close()
    finally:
        node.close()


def test_a_node_that_breaks_off_inside_a_chunk_of_an_export_is_named_as_breaking_off(stub):
    stub.mode = "cut"
    node = IpfsStore(url(stub), timeout=5, fetch_timeout=5)
    try:
        stream = node.export(BLOCKS[0][0], node_timeout=False)
        with pytest.raises(RemoteUnreachableError, match=r"broke off /dag/export of "):
            list(read_car(stream)[1])
        stream.close()
    finally:
        node.close()


@pytest.mark.parametrize("inline", [True, False], ids=["hashed-as-they-arrive", "hashed-on-workers"])
def test_a_pull_checks_every_leaf_of_the_stream_keeps_those_before_a_bad_one_and_the_retry_completes(
    repo, tmp_path, ipfs_node, monkeypatch, inline
):
    monkeypatch.setattr(pull_module, "HASH_INLINE", inline)
    rng = np.random.default_rng(31 + inline)
    w = {f"layer{i}": rng.standard_normal((512, 512), dtype=np.float32) for i in range(5)}  # 4 leaves each
    v = repo.commit(w, model="clf", message="five layers")
    repo.push("clf", ipfs_node.url)
    layer = repo.manifest(v).by_name()["layer3"].data
    target = dagcbor.block_links(layer, repo.store.get(layer))[1]  # its second leaf
    stored = ipfs_node.block_file(target.digest)
    good = stored.read_bytes()
    with nbversion.Repo(tmp_path / "colleague" / ".nbversion") as second:
        fetched: list = []
        stored.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # the node's disk rots; the node does not notice
        try:
            with pytest.raises(CorruptBlockError, match=f"{target}.* does not match its hash|block {target} that do"):
                second.pull(str(v.cid), ipfs_node.url, progress=fetched.append)
        finally:
            stored.write_bytes(good)
        assert not second.log() and not second.store.has(target)
        assert sum(fetched) >= 13 * (1 << 18)  # the leaves before the bad one (layers 0-2, layer3's first): kept
        retry = second.pull(str(v.cid), ipfs_node.url)
        assert retry.blocks_local == len(fetched)  # ...and not fetched again
        assert set(second.load(str(v.cid))) == set(w)
        assert all(np.array_equal(second.load(str(v.cid))[k], w[k]) for k in w)
        assert second.fsck().ok
