"""Pinning a version on a pinning service (or an IPFS Cluster): durable copies kept by others.

A pinning service speaks the IPFS Pinning Service API (:mod:`nbversion.stores.pinning`) and holds
no blocks nbversion could send it; it fetches a CID over IPFS. So :func:`pin_remote`

1. pushes the version and its history to an IPFS node (:func:`.push.push`: only what the node
   lacks, pinned there, so the node keeps serving it): the node named ``via``, else the
   service's own ``via`` remote, else the repository's only IPFS node remote;
2. asks the service to pin the version's root by CID, naming the node's addresses as ``origins``
   (where to fetch it from) and the model in ``meta``; a version the service already has a pin
   request for (queued, pinning or pinned; CIDs compared decoded) is not asked for twice;
3. polls the request's status until it is ``pinned`` or ``failed``, or ``wait_timeout`` seconds
   have passed (``wait=False`` skips this): a ``failed`` pin is a :class:`PinningError`; a pin
   still under way when the time is up is reported as it stands (the service carries on).

:func:`remote_pins` lists a service's pins, with the repository's version for each CID it knows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Union

from ..errors import NbversionError, PinningError, RemoteError
from ..formats.cid import CID
from ..formats.records import Version
from ..stores.pinning import STATUSES, PinStatus, node_origins
from .push import PushReport, push
from .refs import resolve
from .remotes import IPFS, PINNING, Remote, open_remote, open_service, remote, remotes

if TYPE_CHECKING:
    from . import Repo

__all__ = ["PinReport", "PinnedVersion", "pin_remote", "remote_pins", "via_node"]


@dataclass(frozen=True)
class PinReport:
    """What a push to a pinning service did: the push to the node (``pushed``), and the pin
    request as it stood last (``pin``); ``waited``: whether its status was polled."""

    service: str
    url: str
    via: str
    pushed: PushReport
    pin: PinStatus
    waited: bool
    reused: bool  # the service already had a pin request for this version

    @property
    def version(self) -> Version:
        return self.pushed.version

    @property
    def pinned(self) -> bool:
        return self.pin.status == "pinned"


@dataclass(frozen=True)
class PinnedVersion:
    """One of a service's pins, with this repository's version of that CID (None if unknown here)."""

    pin: PinStatus
    version: Optional[Version]


def via_node(repo: "Repo", service: Remote, via: Optional[str] = None) -> str:
    """The name of the IPFS node a pinning service's versions go through: ``via``, else the
    service's own ``via``, else the repository's only IPFS node remote."""
    if via:
        return via
    if service.via:
        return service.via
    nodes = [r.name for r in remotes(repo) if r.kind == IPFS]
    if len(nodes) == 1:
        return nodes[0]
    listed = (
        f"This repository's IPFS nodes: {', '.join(nodes)}."
        if nodes
        else "This repository has no IPFS node remote yet."
    )
    raise NbversionError(
        f"Which IPFS node should the blocks go through before {service.name} pins them? {listed} Name one with "
        f"`--via NODE` (or once: `nbversion remote add {service.name} {service.url} --pinning-service --via NODE --force`)."
    )




def _origins(repo: "Repo", node_name: str, timeout: float) -> List[str]:
    """The node's addresses (its ``id`` answer), where the service fetches the version from."""
    node = open_remote(repo, node_name, timeout=timeout)
    try:
        reply = node._call("/id")  # IpfsStore has no public `id` yet
    finally:
        node.close()
    return node_origins(reply[-1] if isinstance(reply, list) and reply else reply if isinstance(reply, dict) else {})


def _pin_name(version: Version) -> str:
    cid = str(version.cid)
    return f"{version.model} {cid[:10]}...{cid[-6:]}" if version.model else cid


def pin_remote(
    repo: "Repo",
    ref: Union[str, CID, None] = None,
    service: str = "",
    via: Optional[str] = None,
    model: Optional[str] = None,
    name: Optional[str] = None,
    wait: bool = True,
    wait_timeout: float = 300.0,
    progress: Optional[Callable[[int], None]] = None,
    on_status: Optional[Callable[[PinStatus], None]] = None,
    timeout: float = 30.0,
) -> PinReport:
    """Push the version ``ref`` (default: ``model``'s current one) to an IPFS node, then have the
    pinning service ``service`` (a pinning remote's name, or an endpoint URL) pin it, fetching it
    from that node; see the module docstring. ``name``: the pin's name at the service (default:
    the model and the CID, shortened). ``on_status`` gets each status polled."""
    target = remote(repo, service) if "://" not in service else Remote(service, service, PINNING)
    if target.kind != PINNING:
        raise RemoteError(f"{target.name!r} is an IPFS node, not a pinning service: push to it with `repo.push`.")
    node_name = via_node(repo, target, via)
    root = resolve(repo, ref if ref is not None else "HEAD", model)
    with open_service(repo, service, timeout=timeout) as svc:
        known = [p for p in svc.pins(statuses=("queued", "pinning", "pinned"), cids=[root]) if p.cid == root]
        pushed = push(repo, root, node_name, progress=progress, timeout=timeout)
        if known:
            status, reused = known[0], True
        else:
            origins = _origins(repo, node_name, timeout)
            meta: Dict[str, str] = {"app": "nbversion", "model": pushed.version.model}
            status, reused = svc.add(root, name or _pin_name(pushed.version), origins, meta), False
        if wait and not status.settled:
            status = svc.wait(status.requestid, wait_timeout, on_status=on_status)
    if status.status == "failed":
        reason = status.info.get("status_details") or status.info.get("reason") or "it gave no reason"
        raise PinningError(
            f"{target.name} could not pin {root} (pin request {status.requestid} failed: {reason}). The version is on "
            f"{node_name}, pinned; check that the service can reach that node, then push again."
        )
    return PinReport(target.name, svc.endpoint, node_name, pushed, status, wait, reused)


def remote_pins(repo: "Repo", service: str, status: Optional[List[str]] = None) -> List[PinnedVersion]:
    """The pins of the pinning service ``service`` (every status unless ``status`` names some),
    newest first, each with this repository's version of its CID when it has one."""
    unknown = [s for s in status or () if s not in STATUSES]
    if unknown:
        raise NbversionError(f"A pin's status is one of {', '.join(STATUSES)}, not {', '.join(unknown)}.")
    with open_service(repo, service) as svc:
        pins = svc.pins(statuses=status or STATUSES)
    out = []
    for pin in pins:
        try:
            version: Optional[Version] = repo.version(pin.cid) if repo.exists else None
        except NbversionError:  # not a version this repository has
            version = None
        out.append(PinnedVersion(pin, version))
    return out
