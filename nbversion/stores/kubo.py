"""A block store on an IPFS node, through its RPC API (Kubo's ``/api/v0``; js-ipfs serves the same).

Every block nbversion writes already has the CID Kubo gives the same bytes, so a block put here is
the same object on the node, and any IPFS peer can fetch it by that CID.

Talking to the node goes through ``ipfshttpclient`` 0.7.0, handled deliberately:

* its :func:`ipfshttpclient.connect` refuses daemons outside versions 0.4.23-0.8.0 (modern Kubo
  says 0.2x+, js-ipfs 0.18), so the client is constructed directly and the store probes what it
  needs instead: ``version`` on opening (an answer without a version is not an IPFS RPC API), and,
  on first use, whether ``block/stat`` honours ``offline`` (Kubo does; js-ipfs instead waits for
  peers, so there the node's local blocks are listed with ``refs/local``);
* requests go through the client's lower-level request method, with the options each daemon
  understands: ``block/put`` takes ``cid-codec`` (Kubo) or the older ``format`` + ``version``
  (js-ipfs); the store starts with the first and moves to the second if the node answers with
  another codec for the same hash;
* CIDs the node prints are decoded before they are compared (daemons print CIDv0, base58 or base32).

Every block read is hashed and checked against its CID: a node that returns other bytes gets a
:class:`CorruptBlockError` and nothing is stored. A daemon that is down, an address where no IPFS
RPC API answers and a node too slow to answer get errors of their own
(:class:`RemoteUnreachableError`, :class:`RemoteAddressError`, :class:`RemoteTimeoutError`).

Whole DAGs move as CAR v1 streams: :meth:`IpfsStore.import_car` sends blocks in one ``dag/import``
request whose body is a CAR built while it is sent (one block in memory at a time, chunked
encoding); :meth:`IpfsStore.export` reads a ``dag/export`` as a file, straight from the connection
into the reader's buffers (the socket's receive buffer is the read-ahead: no thread, no copy).
Files' bytes come with ``cat`` (:meth:`IpfsStore.cat_files`: several files in flight, since a
node takes a few ms to start each), unchecked: the reader rebuilds each file's DAG from them and
keeps them only if its root is the file's CID. A push asks cheap questions first
(:meth:`IpfsStore.pinned_whole`, :meth:`IpfsStore.surely_absent`) before listing what the node
holds. Credentials for a node whose RPC API wants them (Kubo's
``API.Authorizations``) are sent as an ``Authorization`` header (:func:`authorization`), kept in the
HTTP session only and never shown.

Writes cannot be taken back on a node: a writer sends each new block as it is put (unpinned, so an
aborted write leaves only garbage the node's own gc removes); pinning a version is the caller's act
(:meth:`IpfsStore.pin`).
"""

from __future__ import annotations

import collections
import http.client
import io
import ipaddress
import itertools
import os
import queue
import re
import ssl
import threading
import urllib.parse
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, Iterable, Iterator, List, Optional, Set, Tuple, Union

import libipld

from ..errors import (
    BlockNotFoundError,
    CorruptBlockError,
    InvalidCIDError,
    NbversionError,
    RemoteAddressError,
    RemoteError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)
from ..formats.car import MAX_BLOCK, car_pieces
from ..formats.cid import CID, SHA2_256, Buffer
from .base import BlockStore, BlockWriter

DEFAULT_API = "http://127.0.0.1:5001"  # where Kubo serves its RPC API by default
API_ENV = "NBVERSION_IPFS_API"  # the address Repo(store="ipfs") uses when none is given
UPLOAD_CHUNK = 1 << 20  # bytes read from an upload at a time
BIG_BLOCK = 1 << 20  # Kubo refuses larger blocks unless told `allow-big-block`
CAT_AHEAD = 6  # files received at once by cat_files (a node answers each cat after a few ms: overlap those)
CAT_DEPTH = 16  # pieces (of 256 KiB, as nodes send them) received ahead of the reader, per file
QUICK_STAT = "20ms"  # what surely_absent gives a node that waits for peers
_TIMED_OUT = re.compile(r"timed? ?out|deadline exceeded", re.I)
_NOT_FOUND = re.compile(r"not found|could not find|no such block", re.I)


_NEEDS_CLIENT = 'Talking to an IPFS node needs ipfshttpclient: `pip install "nbversion[ipfs]"` (or ipfshttpclient==0.7.0).'


def api_multiaddr(address: str) -> Tuple[str, str]:
    """(multiaddr, URL base path) of an RPC API given as an http(s) URL or a multiaddr.

    ``http://127.0.0.1:5001`` -> ``/ip4/127.0.0.1/tcp/5001/http``; a multiaddr such as
    ``/ip4/127.0.0.1/tcp/5001`` (as Kubo's ``Addresses.API`` holds it) is kept as it is.
    """
    text = address.strip() if isinstance(address, str) else ""
    hint = (
        f"{address!r} is not an IPFS RPC API address. Give it as a URL (http://127.0.0.1:5001) "
        "or a multiaddr (/ip4/127.0.0.1/tcp/5001)."
    )
    if text.startswith("/"):
        try:
            from ipfshttpclient.http_common import multiaddr_to_url_data
        except ImportError as exc:  # an optional dependency
            raise NbversionError(_NEEDS_CLIENT) from exc
        try:
            multiaddr_to_url_data(text, "api/v0")
        except Exception as exc:  # ipfshttpclient's AddressError, multiaddr's parse errors
            raise RemoteAddressError(hint) from exc
        return text, "api/v0"
    url = urllib.parse.urlsplit(text)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise RemoteAddressError(hint)
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError as exc:
        raise RemoteAddressError(hint) from exc
    try:
        ip = ipaddress.ip_address(url.hostname)
        host = f"/ip{ip.version}/{ip}"
    except ValueError:
        host = f"/dns/{url.hostname}"
    base = url.path.strip("/")
    if not base.endswith("api/v0"):
        base = f"{base}/api/v0".lstrip("/")
    return f"{host}/tcp/{port}/{url.scheme}", base


def _caused_by(exc: Optional[BaseException], kinds: Tuple[type, ...]) -> bool:
    """Whether ``exc`` or anything in its chain of causes is one of ``kinds``."""
    for _ in range(10):
        if exc is None:
            return False
        if isinstance(exc, kinds):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _cut_off(api: str, what: str, exc: BaseException) -> NbversionError:
    """The error for an answer that stopped coming in the middle of ``what``: stalled (a
    timeout) or broken off."""
    if _timed_out(exc):
        return RemoteTimeoutError(f"The IPFS node at {api} stalled in the middle of {what}.")
    return RemoteUnreachableError(f"The IPFS node at {api} broke off {what}: {exc}")


def _timed_out(exc: BaseException) -> bool:
    """Whether a failed request failed for want of time: a timeout anywhere in its chain of
    causes, or a message saying so (not merely a URL with a ``timeout=`` option in it)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
            return True
        if re.search(r"timed out|deadline exceeded", str(exc), re.I):
            return True
        exc, seen = (exc.__cause__ or exc.__context__), seen + 1  # type: ignore[assignment]
    return False


def _sha256_digest(text: str) -> Optional[bytes]:
    """The sha2-256 digest a CID the node printed names (None for other hash functions)."""
    try:
        info = libipld.decode_cid(text)
    except (ValueError, TypeError):
        return None
    mh = info["hash"]
    return bytes(mh["digest"]) if mh["code"] == SHA2_256 and mh["size"] == 32 else None


def authorization(secret: Optional[str]) -> Optional[str]:
    """The ``Authorization`` header for a secret as Kubo's ``API.Authorizations`` takes it:
    ``Bearer TOKEN`` and ``Basic BASE64`` are sent as they are, ``USER:PASSWORD`` as HTTP Basic."""
    if secret is None or not secret.strip():
        return None
    secret = secret.strip()
    if re.match(r"(?i)(bearer|basic)\s+\S", secret):
        return secret
    if ":" in secret:
        import base64

        return "Basic " + base64.b64encode(secret.encode("utf-8")).decode("ascii")
    raise RemoteError(
        "The IPFS credentials in the environment are neither `Bearer TOKEN`, `Basic BASE64` nor `USER:PASSWORD` "
        "(the secret itself is not shown)."
    )


def rpc_client(api: str, timeout: float = 30.0, auth: Optional[str] = None) -> Any:
    """An ``ipfshttpclient.Client`` on the RPC API at ``api`` (a URL or a multiaddr), with one
    kept-alive session, built directly: ``ipfshttpclient.connect()`` would refuse every daemon
    newer than 0.8.0. ``auth``: a secret for :func:`authorization`, sent with every request."""
    try:
        import ipfshttpclient
    except ImportError as exc:  # an optional dependency
        raise NbversionError(_NEEDS_CLIENT) from exc
    multiaddr, base = api_multiaddr(api)
    header = authorization(auth)
    headers = {"Authorization": header} if header else None
    client = ipfshttpclient.Client(multiaddr, base, timeout=timeout, session=True, headers=headers)
    # ipfshttpclient 0.7.0 hands urllib3 a `strict` argument urllib3 2 warns about on every request.
    session = getattr(client._client, "_session", None)
    for adapter in getattr(session, "adapters", {}).values():
        getattr(getattr(adapter, "poolmanager", None), "connection_pool_kw", {}).pop("strict", None)
    return client


class IpfsStore(BlockStore):
    """Blocks kept on an IPFS node, reached through its RPC API at ``api`` (a URL or a multiaddr).

    ``timeout``: seconds to wait for the node to connect and to send each part of an answer.
    ``fetch_timeout``: seconds the node may spend fetching a block it lacks from its peers.
    ``auth``: a secret the node's RPC API wants (:func:`authorization`); kept in the HTTP session
    only, never shown.
    """

    def __init__(self, api: str = DEFAULT_API, *, timeout: float = 30.0, fetch_timeout: float = 60.0,
                 auth: Optional[str] = None) -> None:  # fmt: skip
        self.api = api
        self.timeout = float(timeout)
        self.fetch_timeout = float(fetch_timeout)
        self._client = rpc_client(api, timeout=self.timeout, auth=auth)  # says how to install ipfshttpclient if missing
        import ipfshttpclient

        self._errors = ipfshttpclient.exceptions
        self._multipart = ipfshttpclient.multipart
        self._cid_codec_option = True  # False once the node shows it wants `format` (js-ipfs)
        self._offline_stat: Optional[bool] = None  # whether block/stat honours `offline`
        self.node_version = self._probe()

    @classmethod
    def open(cls, location: Union[Path, str, None] = None, api: Optional[str] = None, **options: Any) -> "IpfsStore":
        """The store on the node at ``api`` (else ``location`` if it is an address, else
        ``$NBVERSION_IPFS_API``, else Kubo's default ``http://127.0.0.1:5001``). Reads are always
        checked with sha2-256, so a ``verify`` option is accepted and has nothing to change."""
        options.pop("verify", None)
        if api is None and isinstance(location, str) and (location.startswith("/") or "://" in location):
            api = location
        return cls(api or os.environ.get(API_ENV) or DEFAULT_API, **options)

    def __repr__(self) -> str:
        return f"IpfsStore({self.api!r})"

    # --- talking to the node -------------------------------------------------------------

    def _request(self, path: str, *args: str, opts: Optional[Dict[str, str]] = None, data: Optional[Buffer] = None,
                 decoder: str = "json", stream: bool = False, timeout: Optional[float] = None,
                 upload: Optional[BinaryIO] = None) -> Any:  # fmt: skip
        """One RPC call, its failures turned into nbversion's errors (a refusal the node explains
        stays an ``ErrorResponse`` for the caller to read). ``data`` (bytes) or ``upload`` (a file
        read as it is sent, in chunked encoding) is sent as the request's file."""
        kwargs: Dict[str, Any] = {}
        if data is not None or upload is not None:
            source = upload if upload is not None else io.BytesIO(bytes(data or b""))
            body, headers = self._multipart.stream_files(source, chunk_size=UPLOAD_CHUNK)
            kwargs = {"data": body, "headers": headers}
        if timeout is not None:
            kwargs["timeout"] = (self.timeout, timeout)
        try:
            return self._client._client.request(path, args, opts=opts or {}, decoder=decoder, stream=stream, **kwargs)
        except self._errors.ErrorResponse:
            raise
        except self._errors.TimeoutError as exc:
            raise RemoteTimeoutError(
                f"The IPFS node at {self.api} did not answer {path} within {timeout or self.timeout:g} s."
            ) from exc
        except self._errors.ProtocolError as exc:
            if _timed_out(exc):  # the node stopped reading what was sent, or answering
                raise RemoteTimeoutError(f"The IPFS node at {self.api} stalled in the middle of {path}.") from exc
            # Once /version was answered over HTTP, a connection cut is the node breaking off.
            if path != "/version" and _caused_by(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
                raise RemoteUnreachableError(f"The IPFS node at {self.api} broke off {path}.") from exc
            raise RemoteAddressError(
                f"Something answers at {self.api}, but not over HTTP: is that the node's swarm port rather than its "
                "RPC API (Kubo's `Addresses.API`, usually port 5001)?"
            ) from exc
        except self._errors.ConnectionError as exc:
            if _timed_out(exc):  # a send the node stopped reading
                raise RemoteTimeoutError(f"The IPFS node at {self.api} stalled in the middle of {path}.") from exc
            if _caused_by(exc, (ssl.SSLError,)):
                raise RemoteUnreachableError(
                    f"The IPFS node at {self.api} did not pass the TLS check. If its certificate comes from a private "
                    "CA, point REQUESTS_CA_BUNDLE at that CA's certificate."
                ) from exc
            raise RemoteUnreachableError(
                f"No IPFS node answers at {self.api}: is the daemon running (`ipfs daemon`), and is this the "
                "address of its RPC API (Kubo's `Addresses.API`, usually http://127.0.0.1:5001)?"
            ) from exc
        except self._errors.StatusError as exc:
            status = getattr(getattr(exc.original, "response", None), "status_code", "an error")
            if status in (401, 403):
                raise RemoteError(
                    f"The IPFS node at {self.api} refused {path} (HTTP {status}): it wants credentials "
                    "(Kubo's `API.Authorizations`) that were not given or not accepted."
                ) from exc
            raise RemoteAddressError(
                f"{self.api} answers {path} with HTTP {status}: it is not an IPFS RPC API (the RPC API is Kubo's "
                "`Addresses.API`, usually port 5001; port 8080 is the read-only gateway)."
            ) from exc
        except self._errors.Error as exc:
            raise RemoteError(f"The IPFS node at {self.api} gave an answer nbversion cannot read on {path}: {exc}") from exc

    def _call(self, path: str, *args: str, **kwargs: Any) -> Any:
        """:meth:`_request`, a refusal included among nbversion's errors."""
        try:
            return self._request(path, *args, **kwargs)
        except self._errors.ErrorResponse as exc:
            raise RemoteError(f"The IPFS node at {self.api} refused {path}: {exc}") from exc

    def _stream(self, items: Iterable[Any], path: str) -> Iterator[Any]:
        """The parts of a streamed answer, a connection lost or stalled on the way included
        among nbversion's errors."""
        try:
            with items:  # type: ignore[attr-defined]
                yield from items
        except self._errors.ErrorResponse:
            raise  # the node explained itself: the caller reads why
        except (self._errors.Error, OSError) as exc:  # requests' errors are OSErrors
            if isinstance(exc, NbversionError):
                raise
            raise _cut_off(self.api, path, exc) from exc

    def _refs_local(self) -> Iterator[str]:
        """The CIDs the node lists as its own blocks, as it prints them."""
        for item in self._stream(self._call("/refs/local", stream=True), "/refs/local"):
            if isinstance(item, dict) and isinstance(item.get("Ref"), str):
                yield item["Ref"]

    @staticmethod
    def _one(reply: Any) -> Dict[str, Any]:
        item = reply[-1] if isinstance(reply, list) and reply else reply
        return item if isinstance(item, dict) else {}

    def _probe(self) -> Dict[str, Any]:
        """The node's ``version`` answer, or an error saying why this is no IPFS RPC API."""
        reply = self._one(self._call("/version"))
        if not isinstance(reply.get("Version"), str):
            raise RemoteAddressError(f"{self.api} answers /api/v0/version without a version: it is not an IPFS RPC API.")
        return reply

    def _node_cid(self, text: Any, what: str) -> CID:
        try:
            return CID.parse(text)
        except InvalidCIDError as exc:
            raise RemoteError(f"The IPFS node at {self.api} answered {what} with {text!r}, which is not a CID.") from exc

    # --- reading -------------------------------------------------------------------------

    def _offline(self) -> bool:
        """Whether the node answers ``block/stat`` for a block it lacks at once when asked to stay
        offline (Kubo), rather than waiting for peers (js-ipfs). Probed once."""
        if self._offline_stat is None and "Golang" in self.node_version:
            self._offline_stat = True  # Kubo (a Go node) has honoured `offline` since 0.5
        if self._offline_stat is None and "ipfs-core" in self.node_version:
            self._offline_stat = False  # js-ipfs (it names its core) waits for peers instead
        if self._offline_stat is None:
            nothing = CID.hash(0x55, b"nbversion probe: a block no node holds " + os.urandom(16))
            try:  # the node's own timeout, so a daemon that waits for peers costs only that
                self._request("/block/stat", str(nothing), opts={"offline": "true", "timeout": "100ms"}, timeout=5.0)
                self._offline_stat = False  # it has a random block? then it cannot be trusted to say
            except self._errors.ErrorResponse as exc:
                self._offline_stat = bool(_NOT_FOUND.search(str(exc))) and not _TIMED_OUT.search(str(exc))
            except RemoteTimeoutError:
                self._offline_stat = False
        return self._offline_stat

    def _local_digests(self) -> Set[bytes]:
        """The sha2-256 digests of every block the node holds (``refs/local``)."""
        return {d for d in map(_sha256_digest, self._refs_local()) if d is not None}

    def _has_offline(self, cid: CID) -> bool:
        try:
            self._request("/block/stat", str(cid), opts={"offline": "true"})
            return True
        except self._errors.ErrorResponse as exc:
            if _NOT_FOUND.search(str(exc)):
                return False
            raise RemoteError(f"The IPFS node at {self.api} refused /block/stat of {cid}: {exc}") from exc

    def has(self, cid: CID) -> bool:
        """Whether the node itself holds the block (its peers are not asked)."""
        if self._offline():
            return self._has_offline(cid)
        return cid.digest in self._local_digests()

    def surely_absent(self, cid: CID) -> bool:
        """Whether the node says at once that it lacks the block: on a node that answers offline
        (Kubo) exactly :meth:`has`; on one that waits for peers instead (js-ipfs), a ``block/stat``
        it must answer within :data:`QUICK_STAT` (a block it holds it answers at once), so True is
        cheap and sure, and False may also mean the node was slow. Its peers are not waited for."""
        if self._offline():
            return not self._has_offline(cid)
        try:
            self._request("/block/stat", str(cid), opts={"timeout": QUICK_STAT}, timeout=self.timeout)
            return False
        except self._errors.ErrorResponse as exc:
            return bool(_TIMED_OUT.search(str(exc)) or _NOT_FOUND.search(str(exc)))
        except RemoteTimeoutError:
            return False

    def missing(self, cids: Iterable[CID]) -> Set[CID]:
        cids = list(cids)
        if self._offline():
            return {c for c in cids if not self._has_offline(c)}
        local = self._local_digests()
        return {c for c in cids if c.digest not in local}

    def _not_found(self, cid: CID, exc: Exception) -> BlockNotFoundError:
        return BlockNotFoundError(
            f"Block {cid} is not on the IPFS node at {self.api}, and no peer of it served it within "
            f"{self.fetch_timeout:g} s ({exc})."
        )

    def _refused(self, path: str, cid: CID, exc: Exception) -> NbversionError:
        """The error for the node's refusal of ``path`` about ``cid``: not found (nor by its peers
        in time), or another refusal."""
        if _TIMED_OUT.search(str(exc)) or _NOT_FOUND.search(str(exc)):
            return self._not_found(cid, exc)
        return RemoteError(f"The IPFS node at {self.api} refused {path} of {cid}: {exc}")

    def _streamed(self, path: str, cid: CID, node_timeout: bool = True, **opts: str) -> Any:
        """The answer to ``path`` of ``cid`` (``/dag/export``, ``/cat``), its body not read yet; the
        node may take ``fetch_timeout`` to find it among its peers (``node_timeout``: the node is
        told so and answers "not found" after it; else the wait for its next bytes is bounded here)."""
        if node_timeout:
            opts = {"timeout": f"{self.fetch_timeout:g}s", **opts}
        try:
            return self._request(path, str(cid), opts=opts, decoder="none", stream=True,
                                 timeout=self.fetch_timeout + (self.timeout if node_timeout else 0))  # fmt: skip
        except self._errors.ErrorResponse as exc:
            raise self._refused(path, cid, exc) from exc

    def _fetch_stream(self, path: str, cid: CID, node_timeout: bool = True, **opts: str) -> Iterator[bytes]:
        """:meth:`_streamed`, as the pieces the node sends."""
        return self._stream(self._streamed(path, cid, node_timeout, **opts), f"{path} of {cid}")

    def get(self, cid: CID) -> bytes:
        """The block, from the node (which fetches it from its peers if it lacks it), verified."""
        opts = {"timeout": f"{self.fetch_timeout:g}s"}
        try:
            chunks = self._request("/block/get", str(cid), opts=opts, decoder="none", stream=True,
                                   timeout=self.fetch_timeout + self.timeout)  # fmt: skip
            data = bytearray()
            for chunk in self._stream(chunks, f"/block/get of {cid}"):
                data += chunk
                if len(data) > MAX_BLOCK:
                    raise CorruptBlockError(
                        f"The IPFS node at {self.api} sent more than {MAX_BLOCK:,} bytes for block {cid}; "
                        "nbversion never writes blocks that large, so the answer was refused."
                    )
        except self._errors.ErrorResponse as exc:
            raise self._refused("/block/get", cid, exc) from exc
        if not cid.verify(data):
            raise CorruptBlockError(
                f"The IPFS node at {self.api} returned {len(data):,} bytes for block {cid} that do not hash to "
                "that CID; they were refused and nothing was stored. The node's copy is damaged, or the node "
                "cannot be trusted."
            )
        return bytes(data)

    def export(self, cid: CID, node_timeout: bool = True) -> BinaryIO:
        """The DAG under ``cid`` as a CAR v1 stream (``dag/export``), read as it arrives: a file
        whose reads raise nbversion's errors if the node stalls or breaks off. The blocks are
        not checked here: read it with :func:`nbversion.formats.car.read_car`, which checks each.
        ``node_timeout=False``: the node is not given the time limit (js-ipfs spends about twice
        the CPU on an export it must time); a node that lacks a block then stalls, and the wait
        for its next bytes ends after ``fetch_timeout`` with :class:`RemoteTimeoutError`, not
        with its word that the block is not found."""
        return self._open_stream("/dag/export", cid, node_timeout)

    def _open_stream(self, path: str, cid: CID, node_timeout: bool = True) -> BinaryIO:
        """``path`` of ``cid`` as a file. Where the answer is a plain (unencoded) HTTP body, its
        reads go straight to the connection: each lands in the reader's own buffer, with the
        socket's receive buffer as the read-ahead (no thread, no copy, no chunk objects). Else
        it is received on a thread of its own a few MiB ahead of the reader (:class:`Prefetched`)."""
        items = self._streamed(path, cid, node_timeout)
        body = _http_body(items)
        if body is None:
            return _ChunkReader(Prefetched(self._stream(items, f"{path} of {cid}")))  # type: ignore[return-value]
        return _DirectReader(body, items, self.api, f"{path} of {cid}")  # type: ignore[return-value]

    def cat(self, cid: CID, length: int) -> Iterator[bytes]:
        """The content of the UnixFS file ``cid`` (``/cat``), at most ``length`` bytes of it (the
        node is told so; a reader must still count), in the pieces the node sends. Nothing here is
        checked: the reader rebuilds the file's DAG from these bytes and keeps them only if its
        root is ``cid`` (:class:`nbversion.repo.pull.Fetcher`)."""
        return self._fetch_stream("/cat", cid, **({"length": str(length)} if length > 0 else {}))  # js-ipfs refuses 0

    def cat_files(self, files: List[Tuple[CID, int]], ahead: int = CAT_AHEAD) -> Iterator[Tuple[int, Optional[bytes]]]:
        """:meth:`cat` of each file (CID, length) in turn, as ``(index, piece)`` pairs with a
        ``(index, None)`` after each file's last piece. Up to ``ahead`` files are received at once,
        each on a thread of its own a few MiB ahead of the reader, so the node starts on the next
        file while the reader hashes and writes this one. Close it to stop early."""

        def receive(cid: CID, length: int) -> Iterator[bytes]:  # runs on the receiving thread
            yield from self.cat(cid, length)

        started: "collections.deque[Prefetched]" = collections.deque()
        upcoming = iter(enumerate(files))
        try:
            for index, _ in enumerate(files):
                for _, (cid, length) in itertools.islice(upcoming, max(1, ahead) - len(started)):
                    started.append(Prefetched(receive(cid, length), depth=CAT_DEPTH))
                stream = started.popleft()
                try:
                    for piece in stream:
                        yield index, piece
                finally:
                    stream.close(wait=0.1)
                yield index, None
        finally:
            for stream in started:  # files not reached: stop them all at once, waiting for none
                stream.close(wait=0)

    def size(self, cid: CID) -> int:
        opts = {"timeout": f"{self.fetch_timeout:g}s"}
        try:
            reply = self._one(self._request("/block/stat", str(cid), opts=opts, timeout=self.fetch_timeout + self.timeout))
        except self._errors.ErrorResponse as exc:
            raise self._refused("/block/stat", cid, exc) from exc
        got = self._node_cid(reply.get("Key"), f"/block/stat of {cid}")
        if got.digest != cid.digest or not isinstance(reply.get("Size"), int):
            raise RemoteError(f"The IPFS node at {self.api} answered /block/stat of {cid} about another block ({got}).")
        return reply["Size"]

    def cids(self) -> Iterator[CID]:
        """Every block on the node that nbversion can name. The node keeps blocks by hash alone, so
        a CID here may carry another codec than the one the block was put with (Kubo says raw)."""
        for text in self._refs_local():
            try:
                yield CID.parse(text)
            except InvalidCIDError:
                continue  # another hash function: not nbversion's

    # --- writing -------------------------------------------------------------------------

    def _put(self, cid: CID, data: Buffer) -> None:
        """``block/put`` one block, and check the node names it as we do."""
        for _ in range(2):
            opts = {"mhtype": "sha2-256", "pin": "false"}
            if self._cid_codec_option:
                opts["cid-codec"] = cid.codec_name
            else:
                opts.update({"format": cid.codec_name, "version": "1"})
            if len(data) > BIG_BLOCK:
                opts["allow-big-block"] = "true"
            reply = self._one(self._call("/block/put", opts=opts, data=data))
            got = self._node_cid(reply.get("Key"), f"/block/put of {cid}")
            if got.digest != cid.digest:
                raise CorruptBlockError(
                    f"The IPFS node at {self.api} stored block {cid} as {got}: it hashed other bytes than were sent."
                )
            if got == cid:
                return
            if not self._cid_codec_option:
                break
            self._cid_codec_option = False  # the node ignored `cid-codec`: an older daemon (js-ipfs)
        raise RemoteError(
            f"The IPFS node at {self.api} stored block {cid} as {got}, with codec {hex(got.codec)} where "
            f"{cid.codec_name} was asked for."
        )

    def writer(self) -> "IpfsWriter":
        return IpfsWriter(self)

    def import_car(self, roots: List[CID], blocks: Iterable[Tuple[CID, Buffer]],
                   progress: Optional[Callable[[int], None]] = None) -> int:  # fmt: skip
        """Send ``blocks`` to the node in one ``dag/import`` request: a CAR v1 built while it is
        sent (one block in memory at a time, chunked encoding). Nothing is pinned. Returns the
        bytes of the CAR sent; ``progress`` gets the length of each block as it goes."""
        car = _car_upload(roots, blocks, progress)
        self._call("/dag/import", opts={"pin-roots": "false"}, upload=car, decoder="none",
                   timeout=self.timeout + self.fetch_timeout)  # fmt: skip
        return car.taken  # all of it, once the node has answered

    # --- pins and maintenance ------------------------------------------------------------

    def pin(self, cid: CID, recursive: bool = True) -> None:
        """Pin ``cid`` on the node (with every block it links to, when ``recursive``), fetching
        what the node lacks from its peers, and check the node pinned that CID."""
        opts = {"recursive": "true" if recursive else "false", "timeout": f"{self.fetch_timeout:g}s"}
        reply = self._one(self._call("/pin/add", str(cid), opts=opts, timeout=self.fetch_timeout + self.timeout))
        pins = reply.get("Pins")
        if not isinstance(pins, list) or not any(_sha256_digest(str(p)) == cid.digest for p in pins):
            raise RemoteError(f"The IPFS node at {self.api} did not report pinning {cid} (it answered {reply}).")

    def unpin(self, cid: CID, recursive: bool = True) -> None:
        """Unpin ``cid`` on the node (its blocks become garbage there unless something else pins them)."""
        self._call("/pin/rm", str(cid), opts={"recursive": "true" if recursive else "false"})

    def pinned(self, cid: CID) -> bool:
        """Whether the node pins ``cid`` (directly, recursively, or as part of a pinned DAG)."""
        return any(True for _ in self._pins_of(cid, {}))

    def pinned_whole(self, cid: CID) -> bool:
        """Whether the node pins ``cid`` recursively, so that it surely holds all it links to.
        (Only recursive pins are asked about: to find an indirect one, a node walks every DAG it
        pins.)"""
        return any(kind.startswith("recursive") for kind in self._pins_of(cid, {"type": "recursive"}))

    def _pins_of(self, cid: CID, opts: Dict[str, str]) -> Iterator[str]:
        """The type of each pin ``/pin/ls`` (with ``opts``) reports for ``cid`` (CIDs compared
        decoded: nodes print other bases); nothing if it is not pinned."""
        try:
            reply = self._request("/pin/ls", str(cid), opts=opts)
        except self._errors.ErrorResponse as exc:
            if re.search(r"not pinned", str(exc), re.I):
                return
            raise RemoteError(f"The IPFS node at {self.api} refused /pin/ls of {cid}: {exc}") from exc
        for item in reply if isinstance(reply, list) else [reply]:
            if not isinstance(item, dict):
                continue
            keys = item.get("Keys")
            for key, info in (keys.items() if isinstance(keys, dict) else []):
                if _sha256_digest(key) == cid.digest:
                    yield str(info.get("Type", "")) if isinstance(info, dict) else ""
            if _sha256_digest(str(item.get("Cid", ""))) == cid.digest:
                yield str(item.get("Type", ""))

    def verify_all(self, progress: Callable[[int], None] = lambda n: None) -> Tuple[List[CID], List[CID]]:
        """Fetch and re-hash every block on the node: (corrupt CIDs, [])."""
        corrupt: List[CID] = []
        for cid in self.cids():
            try:
                self.get(cid)
            except CorruptBlockError:
                corrupt.append(cid)
            progress(1)
        return corrupt, []

    def retain(self, live: Set[CID], progress: Callable[[int], None] = lambda n: None) -> Tuple[int, int]:
        raise RemoteError(
            f"nbversion does not delete blocks from the IPFS node at {self.api}: other users' blocks live there "
            "too. Unpin what you no longer need and run the node's own gc (`ipfs repo gc`)."
        )

    def close(self) -> None:
        self._client.close()


class IpfsWriter(BlockWriter):
    """Sends each new block to the node as it is put (blocks the node already holds are skipped).

    Nothing is pinned, so ``abort`` has nothing to undo: blocks sent by an aborted writer stay on
    the node unpinned until its gc removes them.
    """

    def __init__(self, store: IpfsStore) -> None:
        self._store = store
        self._seen: Set[CID] = set()  # on the node: sent by this writer or found there
        self._new: Dict[CID, int] = {}
        self._local: Optional[Set[bytes]] = None  # the node's blocks, listed once (js-ipfs)

    @property
    def bytes_written(self) -> int:
        return sum(self._new.values())

    def _on_node(self, cid: CID) -> bool:
        if self._store._offline():
            return self._store._has_offline(cid)
        if self._local is None:
            self._local = self._store._local_digests()
        return cid.digest in self._local

    def put(self, cid: CID, data: Buffer) -> None:
        if cid in self._seen:
            return
        if not self._on_node(cid):
            self._store._put(cid, data)
            self._new[cid] = len(data)
        self._seen.add(cid)

    def has(self, cid: CID) -> bool:
        return cid in self._seen or self._store.has(cid)

    def get(self, cid: CID) -> bytes:
        return self._store.get(cid)

    def is_new(self, cid: CID) -> bool:
        return cid in self._new

    def commit(self, keep: Optional[Set[CID]] = None) -> None:
        """Nothing left to do: every block is on the node already (pin versions to keep them)."""

    def abort(self) -> None:
        """Nothing can be taken back from the node; the blocks sent stay there unpinned."""


def _car_upload(roots: List[CID], blocks: Iterable[Tuple[CID, Buffer]],
                progress: Optional[Callable[[int], None]]) -> "_ChunkReader":  # fmt: skip
    """A CAR v1 of ``roots`` and ``blocks``, readable as a file and written as it is read: the
    body of a streamed ``dag/import``. Its :attr:`~_ChunkReader.taken` counts the CAR's bytes."""

    def reported() -> Iterator[Tuple[CID, Buffer]]:
        for cid, block in blocks:
            yield cid, block
            if progress is not None:
                progress(len(block))

    upload = _ChunkReader(car_pieces(roots, reported()))
    upload.name = "nbversion.car"
    return upload


class Prefetched:
    """Receives a streamed answer on a thread of its own, up to ``depth`` chunks ahead, so that
    receiving overlaps with what the reader does with each chunk (hashing, writing to disk).
    Errors reach the reader in order; :meth:`close` stops the thread and closes the answer."""

    _END = object()

    def __init__(self, chunks: Iterator[bytes], depth: int = 64) -> None:
        self._queue: "queue.Queue[Any]" = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(chunks,), name="nbversion-receive", daemon=True)
        self._thread.start()

    def _offer(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, chunks: Iterator[bytes]) -> None:
        end: Any = self._END
        try:
            for chunk in chunks:
                if not self._offer(chunk):
                    break
        except BaseException as exc:  # handed to the reader, raised there
            end = exc
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        self._offer(end)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self, wait: float = 5.0) -> None:
        """Stop receiving; wait up to ``wait`` seconds for the thread (one blocked on a stalled
        node ends by itself at the request's timeout)."""
        self._stop.set()
        self._thread.join(timeout=wait)


def _http_body(items: Any) -> Any:
    """The ``http.client`` response under a streamed answer of ipfshttpclient (on requests and
    urllib3), where its body can be read as it is sent: not compressed, nothing read from it yet.
    None where the answer is not built so (another client version): then it is read as chunks."""
    closables = getattr(items, "_closables", None)
    response = closables[0] if isinstance(closables, list) and closables else None
    raw = getattr(response, "raw", None)
    body = getattr(raw, "_fp", None)
    headers = getattr(raw, "headers", None)
    if body is None or headers is None or not callable(getattr(body, "readinto", None)):
        return None
    if headers.get("content-encoding", "identity") not in ("", "identity") or getattr(raw, "_fp_bytes_read", 0):
        return None
    return body


class _DirectReader(io.RawIOBase):
    """A streamed HTTP answer read as a file straight from its connection (``http.client`` undoes
    the chunked encoding into the caller's buffer). A node that stalls or breaks off gets
    nbversion's errors; :meth:`close` closes the answer (the connection is not reused)."""

    def __init__(self, body: Any, items: Any, api: str, what: str) -> None:
        super().__init__()
        self._body, self._items, self._api, self._what = body, items, api, what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._body.readinto(buffer) or 0
        except (OSError, http.client.HTTPException) as exc:  # (IncompleteRead: cut inside a chunk)
            raise _cut_off(self._api, self._what, exc) from exc

    def close(self) -> None:
        if not self.closed:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()
        super().close()


class _ChunkReader(io.RawIOBase):
    """A stream of chunks (a streamed answer, an upload being built), readable as a file (closing it
    stops the stream). :attr:`taken` counts the bytes of the chunks taken from it so far."""

    def __init__(self, chunks: Any) -> None:
        super().__init__()
        self._source = chunks
        self._chunks = map(self._count, chunks)
        self._pending = memoryview(b"")
        self.taken = 0

    def _count(self, chunk: Buffer) -> Buffer:
        self.taken += len(chunk)
        return chunk

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None and not self.closed:
            close()
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join([bytes(self._pending), *self._chunks])
        if len(self._pending) >= size:  # the common case: no copy beyond the slice
            piece, self._pending = self._pending[:size], self._pending[size:]
            return bytes(piece)
        return super().read(size) or b""
