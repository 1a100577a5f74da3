"""A client of the IPFS Pinning Service API: ask a service to keep a CID, see how that goes, list pins.

The API (https://ipfs.github.io/pinning-services-api-spec/) is what pinning services and IPFS
Cluster (its ``pinsvcapi`` endpoint) serve, so one client covers both:

* ``POST /pins`` ``{cid, name, origins, meta}`` asks the service to pin ``cid``, fetching it from
  the peers ``origins`` names (the node the blocks were pushed to); the answer is a *pin status*:
  a ``requestid`` and a ``status``, one of ``queued``, ``pinning``, ``pinned``, ``failed``;
* ``GET /pins/{requestid}`` is the status now; ``GET /pins`` lists pin statuses, filtered by
  ``cid``, ``name``, ``status`` (the service shows only ``pinned`` ones unless asked for more),
  newest first, at most ``limit`` (1000) a page, older pages by ``before``;
* ``DELETE /pins/{requestid}`` stops pinning;
* every request carries ``Authorization: Bearer TOKEN``.

The service holds no blocks for nbversion: it fetches them over IPFS from ``origins``. This client
does not dial the ``delegates`` a service names (peers it suggests the origin connect to): the
origin node is told to keep the version pinned itself, so the service can reach it the usual way.

CIDs the service prints are decoded before they are compared (a service may answer in another
base or version than it was asked). Requests go through ``requests``, which honours
``REQUESTS_CA_BUNDLE`` for an HTTPS endpoint whose certificate a private CA signed. The token lives
in the HTTP session only and is never shown.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..errors import (
    InvalidCIDError,
    NbversionError,
    PinningError,
    RemoteAddressError,
    RemoteAuthError,
    RemoteError,
    RemoteTimeoutError,
    RemoteUnreachableError,
)
from ..formats.cid import CID

STATUSES = ("queued", "pinning", "pinned", "failed")
SETTLED = ("pinned", "failed")
PAGE = 1000  # the most pins the API returns at once
MAX_ORIGINS = 20  # the API takes at most 20 origins (and 20 delegates)


@dataclass(frozen=True)
class PinStatus:
    """A pin request as the service reports it: ``cid`` decoded, ``status`` one of :data:`STATUSES`."""

    requestid: str
    status: str
    cid: CID
    name: str = ""
    created: str = ""
    origins: Tuple[str, ...] = ()
    meta: Dict[str, str] = field(default_factory=dict)
    delegates: Tuple[str, ...] = ()
    info: Dict[str, str] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        """Whether the service is done with it (``pinned`` or ``failed``)."""
        return self.status in SETTLED


def endpoint_url(address: str) -> str:
    """The service's API base URL, checked (``https://HOST/PATH``, no trailing slash, no credentials)."""
    text = address.strip() if isinstance(address, str) else ""
    url = urllib.parse.urlsplit(text)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise RemoteAddressError(
            f"{address!r} is not a pinning service endpoint. Give its API URL as the service documents it "
            "(e.g. https://api.example.com/psa, or http://127.0.0.1:9097 for an IPFS Cluster)."
        )
    if url.username or url.password:
        raise RemoteAddressError(
            "A pinning service's URL must not hold credentials (they would be stored in the repository): put its "
            "token in the credentials file or the environment instead (see `nbversion remote add --help`)."
        )
    try:
        _ = url.port
    except ValueError as exc:
        raise RemoteAddressError(f"{address!r} has a port that is not a number.") from exc
    return text.rstrip("/")


def _texts(value: Any) -> Tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _strings(value: Any) -> Dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class PinningService:
    """The pinning service whose API is at ``endpoint``. ``auth``: the ``Authorization`` value to
    send (``Bearer TOKEN``), kept in the session only. ``timeout``: seconds to wait for an answer."""

    def __init__(self, endpoint: str, *, auth: Optional[str] = None, timeout: float = 30.0) -> None:
        try:
            import requests
        except ImportError as exc:  # an optional dependency (it comes with ipfshttpclient)
            raise NbversionError(
                'Talking to a pinning service needs requests: `pip install "nbversion[ipfs]"`.'
            ) from exc
        self.endpoint = endpoint_url(endpoint)
        self.timeout = float(timeout)
        self._requests = requests
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        if auth:
            self._session.headers["Authorization"] = str.__str__(auth)

    def __repr__(self) -> str:
        return f"PinningService({self.endpoint!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "PinningService":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one request, its failures as nbversion's errors ------------------------------------------

    def _request(self, method: str, path: str, what: str, *, params: Optional[Mapping[str, str]] = None,
                 body: Optional[Dict[str, Any]] = None) -> Any:  # fmt: skip
        errors = self._requests.exceptions
        try:
            reply = self._session.request(method, self.endpoint + path, params=params, json=body, timeout=self.timeout)
        except errors.SSLError as exc:
            raise RemoteUnreachableError(
                f"The pinning service at {self.endpoint} did not pass the TLS check ({_reason(exc)}). If its certificate "
                "comes from a private CA, point REQUESTS_CA_BUNDLE at that CA's certificate."
            ) from None
        except errors.Timeout:
            raise RemoteTimeoutError(
                f"The pinning service at {self.endpoint} did not answer {what} within {self.timeout:g} s."
            ) from None
        except (errors.ConnectionError, errors.InvalidURL) as exc:
            raise RemoteUnreachableError(
                f"No pinning service answers at {self.endpoint} ({_reason(exc)}): is the address right, and is it up?"
            ) from None
        if reply.status_code in (401, 403):
            raise RemoteAuthError(
                f"The pinning service at {self.endpoint} refused {what} (HTTP {reply.status_code}: {_service_reason(reply)}): "
                "its access token is missing or not accepted. Put it in the credentials file (see `nbversion remote add "
                "--help`) or in NBVERSION_IPFS_AUTH_<REMOTE>; the token itself is never shown."
            )
        if reply.status_code >= 400:
            raise RemoteError(
                f"The pinning service at {self.endpoint} refused {what} (HTTP {reply.status_code}: {_service_reason(reply)})."
            )
        if reply.status_code == 202 and method == "DELETE":
            return None
        try:
            return reply.json()
        except ValueError:
            raise RemoteAddressError(
                f"{self.endpoint} answered {what} with something other than JSON: it is not an IPFS Pinning Service API "
                "endpoint (check the URL the service documents, e.g. one ending in /psa or /api/v1)."
            ) from None

    def _status(self, reply: Any, what: str) -> PinStatus:
        pin = reply.get("pin") if isinstance(reply, dict) else None
        if (
            not isinstance(pin, dict)
            or not isinstance(reply.get("requestid"), str)
            or reply.get("status") not in STATUSES
        ):
            raise PinningError(f"The pinning service at {self.endpoint} answered {what} without a valid pin status.")
        try:
            cid = CID.parse(pin.get("cid"))
        except (InvalidCIDError, TypeError):
            raise PinningError(
                f"The pinning service at {self.endpoint} answered {what} with a pin that has no valid CID."
            ) from None
        return PinStatus(
            requestid=reply["requestid"], status=reply["status"], cid=cid,
            name=pin.get("name") if isinstance(pin.get("name"), str) else "",
            created=reply.get("created") if isinstance(reply.get("created"), str) else "",
            origins=_texts(pin.get("origins")), meta=_strings(pin.get("meta")),
            delegates=_texts(reply.get("delegates")), info=_strings(reply.get("info")),
        )  # fmt: skip

    # --- the API ------------------------------------------------------------------------------------

    def add(
        self, cid: CID, name: str = "", origins: Sequence[str] = (), meta: Optional[Mapping[str, str]] = None
    ) -> PinStatus:
        """Ask the service to pin ``cid``, fetching it from ``origins`` (multiaddrs with /p2p/)."""
        body: Dict[str, Any] = {"cid": str(cid)}
        if name:
            body["name"] = name[:255]
        if origins:
            body["origins"] = list(dict.fromkeys(origins))[:MAX_ORIGINS]
        if meta:
            body["meta"] = {str(k)[:255]: str(v) for k, v in meta.items()}
        status = self._status(self._request("POST", "/pins", f"to pin {cid}", body=body), f"the pin request for {cid}")
        if status.cid != cid:
            raise PinningError(
                f"The pinning service at {self.endpoint} answered a request to pin {cid} about {status.cid}."
            )
        return status

    def status(self, requestid: str) -> PinStatus:
        """The pin request ``requestid`` as it stands now."""
        quoted = urllib.parse.quote(requestid, safe="")
        return self._status(
            self._request("GET", f"/pins/{quoted}", f"pin request {requestid}"), f"pin request {requestid}"
        )

    def remove(self, requestid: str) -> None:
        """Stop the pin request ``requestid`` (the service may then drop the blocks)."""
        self._request("DELETE", f"/pins/{urllib.parse.quote(requestid, safe='')}", f"removing pin request {requestid}")

    def pins(self, statuses: Iterable[str] = STATUSES, cids: Iterable[CID] = (), name: str = "") -> List[PinStatus]:
        """Every pin request with one of ``statuses`` (all by default; the service alone would show
        only pinned ones), for ``cids`` (compared decoded) and ``name`` when given; newest first."""
        wanted = [s for s in statuses if s in STATUSES] or list(STATUSES)
        cids = list(cids)
        if len(cids) > 10:  # the API takes at most 10 CIDs a request
            every = [p for i in range(0, len(cids), 10) for p in self.pins(wanted, cids[i : i + 10], name)]
            return sorted({p.requestid: p for p in every}.values(), key=lambda p: p.created, reverse=True)
        params = {"status": ",".join(wanted), "limit": str(PAGE)}
        if cids:
            params["cid"] = ",".join(str(c) for c in cids)
        if name:
            params["name"] = name
        found: Dict[str, PinStatus] = {}
        while True:
            reply = self._request("GET", "/pins", "the list of pins", params=params)
            results = reply.get("results") if isinstance(reply, dict) else None
            if not isinstance(results, list):
                raise PinningError(f"The pinning service at {self.endpoint} answered the list of pins without results.")
            page = [self._status(r, "the list of pins") for r in results]
            new = [p for p in page if p.requestid not in found]
            found.update((p.requestid, p) for p in new)
            count = reply.get("count") if isinstance(reply.get("count"), int) else len(found)
            oldest = min((p.created for p in page if p.created), default="")
            if not new or len(found) >= count or len(page) < PAGE or not oldest:
                break
            params["before"] = oldest
        pins = list(found.values())
        if cids:
            pins = [p for p in pins if p.cid in cids]
        return sorted(pins, key=lambda p: p.created, reverse=True)

    def wait(self, requestid: str, timeout: float, on_status: Optional[Callable[[PinStatus], None]] = None,
             interval: float = 0.25, clock: Callable[[], float] = time.monotonic) -> PinStatus:  # fmt: skip
        """Poll ``requestid`` until it is pinned or failed, or ``timeout`` seconds have passed (then
        the last status is returned as it is); ``on_status`` gets each status seen."""
        deadline = clock() + max(0.0, timeout)
        delay = interval
        while True:
            current = self.status(requestid)
            if on_status is not None:
                on_status(current)
            left = deadline - clock()
            if current.settled or left <= 0:
                return current
            time.sleep(min(delay, left))
            delay = min(delay * 1.5, 5.0)


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection failure, short, without the URL requests repeats."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc).split(": ", 1)[-1] if ": " in str(exc) else str(exc)
    return (text or type(exc).__name__)[:160]


def _service_reason(reply: Any) -> str:
    """The ``error.reason`` the API puts in a refusal (its ``details`` may be long: cut short)."""
    try:
        error = reply.json().get("error", {})
    except (ValueError, AttributeError):
        return reply.reason or "no reason given"
    reason = str(error.get("reason", "")) if isinstance(error, dict) else ""
    details = (
        str(error.get("details", "")).splitlines()[0][:160] if isinstance(error, dict) and error.get("details") else ""
    )
    return ": ".join(x for x in (reason, details) if x) or (reply.reason or "no reason given")


def node_origins(peer: Mapping[str, Any]) -> List[str]:
    """The multiaddrs (each ending in ``/p2p/PEER``) of a node from its ``id`` answer (``ID`` and
    ``Addresses``), as ``origins`` for a pin request; at most :data:`MAX_ORIGINS`."""
    peer_id = peer.get("ID") if isinstance(peer.get("ID"), str) else ""
    out: List[str] = []
    for address in peer.get("Addresses") or []:
        if not isinstance(address, str) or not address.startswith("/"):
            continue
        if "/p2p/" not in address and "/ipfs/" not in address:
            if not peer_id:
                continue
            address = f"{address}/p2p/{peer_id}"
        out.append(address)
    return list(dict.fromkeys(out))[:MAX_ORIGINS]
