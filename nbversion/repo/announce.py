"""Announcements: tell peers on a pubsub topic about a pushed version, and watch a topic for the
versions peers announce.

An announcement is one pubsub message: a JSON object of at most :data:`MAX_ANNOUNCEMENT` bytes,

``{"format": "nbversion-announcement", "version": 1, "cid": CID, "model": NAME, "label": "vN",
"message": TEXT, "metrics": {NAME: NUMBER}, "parents": [CID, ...]}``

where ``message`` is cut at :data:`MAX_MESSAGE` characters (ending ``…``) and ``metrics`` keeps at
most :data:`MAX_METRICS` of the version's finite metrics. The label is the announcer's own
numbering (a peer numbers the version by its own history), shown, never checked.

An announcement is a claim, and anyone on the topic can make one. :func:`watch` therefore shows
nothing on its word: it fetches the version's record from its own node (hash-checked), compares
it with the claim (model, parents, message, metrics), refuses the announcement on any difference
(nothing is pulled), and otherwise pulls the whole version (:func:`.pull.pull`: every block
hash-checked, every record and manifest checked) before it is shown. Messages that are no
announcement (not JSON, another format, too large, wrong fields) are skipped and counted.
Pubsub keeps no history: a watcher sees what is announced while it runs.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple, Union

from ..errors import FormatError, InvalidCIDError, NbversionError, RemoteError
from ..formats.cid import CID, DAG_CBOR
from ..formats.names import check_name
from ..formats.records import Version, decode_version
from ..stores.pubsub import Pubsub, topic_arg
from .pull import pull
from .refs import resolve
from .pinning import via_node as pinning_node
from .remotes import PINNING, open_remote
from .remotes import remote as remote_named

if TYPE_CHECKING:
    from . import Repo

FORMAT = "nbversion-announcement"
FORMAT_VERSION = 1
MAX_ANNOUNCEMENT = 4096  # bytes of one announcement's JSON
MAX_MESSAGE = 280  # characters of the commit message an announcement carries
MAX_METRICS = 20
MAX_PARENTS = 16
STOP_POLL = 0.25  # seconds between two looks at a watch's stop event
ELLIPSIS = "…"


@dataclass(frozen=True)
class Announcement:
    """What a peer claims about a version (``sender``: its peer ID, as its node names it)."""

    cid: CID
    model: str
    label: str = ""
    message: str = ""
    metrics: Dict[str, float] = field(default_factory=dict)
    parents: Tuple[CID, ...] = ()
    sender: str = ""


@dataclass(frozen=True)
class AnnounceReport:
    """An announcement sent: on ``topic`` through ``remote``; ``peers``: the peer IDs the node
    knew to be subscribed to the topic when it was sent (none: nobody received it; pubsub keeps
    no history)."""

    remote: str
    topic: str
    version: Version
    size: int
    peers: List[str]


@dataclass(frozen=True)
class WatchEvent:
    """One announcement a watch handled: ``accepted`` with the pulled, verified ``version`` (``new``
    when the pull added it, False when it was here already), or refused for ``reason``."""

    announcement: Announcement
    accepted: bool
    version: Optional[Version] = None
    new: bool = False
    reason: str = ""


@dataclass(frozen=True)
class WatchReport:
    """What a watch saw on ``topic`` through ``remote`` in ``seconds``: the announcements it handled
    (each once), and how many messages it skipped as no announcement."""

    remote: str
    topic: str
    events: List[WatchEvent]
    skipped: int
    seconds: float
    interrupted: bool = False

    @property
    def versions(self) -> List[Version]:
        return [e.version for e in self.events if e.accepted and e.version is not None]

    @property
    def refused(self) -> List[WatchEvent]:
        return [e for e in self.events if not e.accepted]


# --- the message ---------------------------------------------------------------------------------


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def encode_announcement(version: Version) -> bytes:
    """The announcement of ``version`` (a version of this repository: it has a CID), at most
    :data:`MAX_ANNOUNCEMENT` bytes: metrics are dropped, then the message shortened, until it fits."""
    if version.cid is None:
        raise NbversionError("Only a stored version (one with a CID) can be announced.")
    metrics = {k: v for k, v in sorted(version.metrics.items()) if math.isfinite(v)}
    obj: Dict[str, Any] = {
        "format": FORMAT, "version": FORMAT_VERSION, "cid": str(version.cid), "model": version.model,
        "label": version.label, "message": _cut(version.message, MAX_MESSAGE),
        "metrics": dict(list(metrics.items())[:MAX_METRICS]), "parents": [str(p) for p in version.parents[:MAX_PARENTS]],
    }  # fmt: skip
    while True:
        data = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
        if len(data) <= MAX_ANNOUNCEMENT:
            return data
        if obj["metrics"]:
            obj["metrics"] = dict(list(obj["metrics"].items())[:-1])
        elif len(obj["message"]) > 1:
            obj["message"] = _cut(obj["message"], max(1, len(obj["message"]) // 2))
        else:  # a name and parents alone cannot be this long: a record nbversion would not write
            raise NbversionError(f"{version.cid} cannot be announced in {MAX_ANNOUNCEMENT:,} bytes.")


def _cid(value: Any, what: str) -> CID:
    if not isinstance(value, str) or len(value) > 200:
        raise FormatError(f"its {what} is not a CID")
    try:
        cid = CID.parse(value)
    except InvalidCIDError as exc:
        raise FormatError(f"its {what} is not a CID") from exc
    if cid.codec != DAG_CBOR:
        raise FormatError(f"its {what} names no version (not a dag-cbor CID)")
    return cid


def decode_announcement(data: bytes, sender: str = "") -> Announcement:
    """The claim in one message; :class:`FormatError` saying why a message is no announcement
    (too large, not JSON, another format or a newer version of this one, a field of the wrong kind)."""
    if len(data) > MAX_ANNOUNCEMENT:
        raise FormatError(f"it is {len(data):,} bytes, over the {MAX_ANNOUNCEMENT:,} an announcement may have")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError("it is not JSON") from exc
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise FormatError("it is not an nbversion announcement")
    if obj.get("version") != FORMAT_VERSION:
        raise FormatError(f"it is version {obj.get('version')!r:.20} of the format; this nbversion reads {FORMAT_VERSION}")
    model = obj.get("model")
    if not isinstance(model, str):
        raise FormatError("its model is not a name")
    check_name(model, "Model", FormatError)
    label, message, metrics, parents = (obj.get(k) for k in ("label", "message", "metrics", "parents"))
    if not isinstance(label, str) or len(label) > 100 or not isinstance(message, str) or len(message) > MAX_MESSAGE:
        raise FormatError("its label or message is not short text")
    if not isinstance(metrics, dict) or len(metrics) > MAX_METRICS or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        for k, v in metrics.items()
    ):  # fmt: skip
        raise FormatError("its metrics are not a few named numbers")
    if not isinstance(parents, list) or len(parents) > MAX_PARENTS:
        raise FormatError("its parents are not a short list")
    return Announcement(
        cid=_cid(obj.get("cid"), "cid"), model=model, label=label, message=message,
        metrics={k: float(v) for k, v in metrics.items()},
        parents=tuple(_cid(p, "parent") for p in parents), sender=sender,
    )  # fmt: skip


def mismatch(claim: Announcement, record: Version) -> Optional[str]:
    """How the version's own record contradicts the announcement, or None when it bears it out."""
    if record.model != claim.model:
        return f"it claims model {claim.model!r}, but the version is of model {record.model!r}"
    if tuple(record.parents[:MAX_PARENTS]) != claim.parents:
        said = ", ".join(map(str, claim.parents)) or "none"
        really = ", ".join(map(str, record.parents)) or "none"
        return f"it claims parents {said}, but the version's parents are {really}"
    message = claim.message
    if message != record.message and not (message.endswith(ELLIPSIS) and record.message.startswith(message[:-1])):
        return f"it claims the message {message!r:.100}, but the version's message is {record.message!r:.100}"
    for name, value in claim.metrics.items():
        if record.metrics.get(name) != value:
            return f"it claims {name}={value:g}, but the version records {name}={record.metrics.get(name)}"
    return None


# --- the verbs -----------------------------------------------------------------------------------


def announce(repo: "Repo", ref: Union[str, CID, None], topic: str, remote: str, model: Optional[str] = None,
             via: Optional[str] = None) -> AnnounceReport:  # fmt: skip
    """Announce the version ``ref`` (already pushed to ``remote``, which must pin it, so peers can
    fetch it) on the pubsub ``topic`` through that node; for a pinning service, through the node
    its versions go through (``via``, as :func:`.pinning.pin_remote` picks it). A node without
    pubsub is a :class:`~nbversion.errors.PubsubUnavailableError` naming the setting to turn on."""
    version = repo.version(resolve(repo, ref if ref is not None else "HEAD", model))
    target = remote_named(repo, remote)
    if target.kind == PINNING:
        remote = pinning_node(repo, target, via)
    topic_arg(topic)  # a bad topic is refused before the node is asked anything
    data = encode_announcement(version)
    node = open_remote(repo, remote)
    try:
        pubsub = Pubsub(node)
        pubsub.check()
        if not node.pinned(version.cid):  # type: ignore[arg-type]
            raise RemoteError(
                f"{version.model} {version.label} ({version.cid}) is not pinned on {remote}, so peers could not fetch "
                f"it. Push it first: `nbversion push {version.cid} --to {remote} --announce {topic}`."
            )
        peers = pubsub.peers(topic)
        if not pubsub.publish(topic, data):  # the node found no subscribed peer to send it to
            peers = []
    finally:
        node.close()
    return AnnounceReport(remote.strip(), topic, version, len(data), peers)


def _examine(repo: "Repo", node: Any, claim: Announcement, remote: str, fetch_timeout: float) -> WatchEvent:
    """Check an announcement against the version's record, and pull the version if it holds."""
    here = repo.exists and repo.index.has_version(claim.cid)
    try:
        record = repo.version(claim.cid) if here else decode_version(node.get(claim.cid), claim.cid)
    except NbversionError as exc:
        return WatchEvent(claim, False, reason=f"its record could not be fetched and checked: {exc}")
    problem = mismatch(claim, record)
    if problem is not None:
        return WatchEvent(claim, False, reason=problem)
    if not here:
        try:
            pull(repo, claim.cid, remote, fetch_timeout=fetch_timeout)
        except NbversionError as exc:
            return WatchEvent(claim, False, reason=f"it could not be pulled and verified: {exc}")
    return WatchEvent(claim, True, version=repo.version(claim.cid), new=not here)


def watch(
    repo: "Repo",
    topic: str,
    remote: str,
    count: Optional[int] = None,
    timeout: Optional[float] = None,
    on_event: Optional[Callable[[WatchEvent], None]] = None,
    fetch_timeout: float = 30.0,
    stop: Optional[threading.Event] = None,
    on_subscribed: Optional[Callable[[], None]] = None,
) -> WatchReport:
    """Subscribe to ``topic`` on the node ``remote`` and handle each version announced there (each
    CID once): refuse it if its record contradicts the claim, else pull and verify it (see the
    module docstring). Stops after ``count`` announcements handled, after ``timeout`` seconds, or
    at Ctrl-C; ``on_event`` gets each as it is handled. ``fetch_timeout``: seconds the node may
    spend fetching one announced version's record or blocks from its peers. ``stop``: an event
    that ends the watch once set (a watch on a thread of its own; checked at least every
    :data:`STOP_POLL` seconds between announcements); ``on_subscribed`` is called once the node
    has taken the subscription (every refusal, e.g. a node without pubsub, is raised before)."""
    node = open_remote(repo, remote, fetch_timeout=fetch_timeout)
    events: List[WatchEvent] = []
    shown: Set[CID] = set()
    refused: Set[bytes] = set()
    skipped, interrupted = 0, False
    began = time.monotonic()
    try:
        with Pubsub(node).subscribe(topic) as subscription:
            if on_subscribed is not None:
                on_subscribed()
            try:
                while count is None or len(events) < count:
                    if stop is not None and stop.is_set():
                        break
                    left = None if timeout is None else timeout - (time.monotonic() - began)
                    if left is not None and left <= 0:
                        break
                    wait = left if stop is None else min(STOP_POLL, STOP_POLL if left is None else left)
                    message = subscription.get(wait)
                    if message is None:
                        if stop is not None:
                            continue  # a slice of the wait is over: look at the stop event and the clock
                        break
                    try:
                        claim = decode_announcement(message.data, message.sender)
                    except FormatError:
                        skipped += 1
                        continue
                    # Each version is shown once, and each refused claim refused once; a refused
                    # claim does not keep a true announcement of the same CID from being heard.
                    if claim.cid in shown or message.data in refused:
                        continue
                    events.append(_examine(repo, node, claim, remote, fetch_timeout))
                    if events[-1].accepted:
                        shown.add(claim.cid)
                    else:
                        refused.add(message.data)
                    if on_event is not None:
                        on_event(events[-1])
            except KeyboardInterrupt:
                interrupted = True
            skipped += subscription.skipped
    finally:
        node.close()
    return WatchReport(remote.strip(), topic, events, skipped, time.monotonic() - began, interrupted)
