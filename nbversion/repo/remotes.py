"""Remotes: IPFS nodes and pinning services a repository pushes to and pulls from, by name.

A repository keeps its remotes in ``.nbversion/remotes.json`` (``{"NAME": {"url": URL}}``; a
pinning service adds ``"kind": "pinning"`` and, optionally, ``"via": NODE``), rewritten whole and
atomically (a temporary file, fsynced, renamed over the old one). An IPFS node's URL is its RPC
API, as an http(s) URL (``http://127.0.0.1:5001``) or a multiaddr (``/ip4/127.0.0.1/tcp/5001``); a
pinning service's is its IPFS Pinning Service API endpoint (:mod:`nbversion.stores.pinning`).
Names follow the rules of model and tag names (:mod:`nbversion.formats.names`).

A pinning service holds no blocks nbversion can send it: a version reaches it through an IPFS
node, its ``via`` remote (:mod:`.pinning`). Which node: the one named for the push, else the
service's ``via``, else the repository's only IPFS node.

Secrets are never stored here nor shown: a remote that wants credentials (Kubo's
``API.Authorizations``, a pinning service's access token) gets them from the environment or the
credentials file (:mod:`.credentials`). A URL holding credentials (``https://USER:PASS@HOST``) is
refused, so that none lands in the repository.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional

from ..errors import NbversionError, RemoteAddressError, RemoteError, UnknownRefError, UnknownRemoteError
from ..formats.names import check_name
from ..stores.kubo import IpfsStore, api_multiaddr
from ..stores.pinning import PinningService, endpoint_url
from .credentials import AUTH_ENV, env_name, secret_for

if TYPE_CHECKING:
    from . import Repo

FILE = "remotes.json"
IPFS = "ipfs"  # an IPFS node's RPC API
PINNING = "pinning"  # an IPFS Pinning Service API (a pinning service, an IPFS Cluster)
KINDS = (IPFS, PINNING)
__all__ = ["AUTH_ENV", "IPFS", "KINDS", "PINNING", "Remote", "open_remote", "open_service", "remote", "remotes"]


@dataclass(frozen=True)
class Remote:
    """A named remote: an IPFS node (``kind`` ``"ipfs"``, ``url`` its RPC API, a URL or a
    multiaddr) or a pinning service (``kind`` ``"pinning"``, ``url`` its API endpoint, ``via`` the
    IPFS node remote its versions are pushed through, if one is set)."""

    name: str
    url: str
    kind: str = IPFS
    via: Optional[str] = None

    @property
    def auth_env(self) -> str:
        """The environment variable that holds this remote's own credentials."""
        return env_name(self.name)

    @property
    def named(self) -> bool:
        """Whether this remote has a name (not an address given directly)."""
        return self.name != self.url


def _path(repo: "Repo") -> Path:
    return Path(repo.path) / FILE


def _read(repo: "Repo") -> Dict[str, Remote]:
    path = _path(repo)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise NbversionError(f"{path} cannot be read as a list of remotes ({exc}); fix or delete it.") from exc
    remotes: Dict[str, Remote] = {}
    for name, entry in data.items() if isinstance(data, dict) else []:
        url = entry.get("url") if isinstance(entry, dict) else None
        if isinstance(name, str) and isinstance(url, str):
            kind = entry.get("kind", IPFS)
            via = entry.get("via")
            remotes[name] = Remote(name, url, kind if kind in KINDS else IPFS, via if isinstance(via, str) else None)
    return remotes


def _entry(remote: Remote) -> Dict[str, str]:
    entry = {"url": remote.url}
    if remote.kind != IPFS:
        entry["kind"] = remote.kind
    if remote.via:
        entry["via"] = remote.via
    return entry


def _write(repo: "Repo", remotes: Dict[str, Remote]) -> None:
    path = _path(repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({r.name: _entry(r) for r in remotes.values()}, indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{FILE}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remotes(repo: "Repo") -> List[Remote]:
    """The repository's remotes, by name."""
    return sorted(_read(repo).values(), key=lambda r: r.name)


def _no_credentials_in(url: str) -> None:
    if "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        raise RemoteAddressError(
            "A remote's URL must not hold credentials (they would be stored in the repository): put them in the "
            "credentials file or the environment instead (`nbversion remote add --help` says how)."
        )


def remote_add(repo: "Repo", name: str, url: str, force: bool = False, kind: str = IPFS,
               via: Optional[str] = None) -> Remote:  # fmt: skip
    """Name the IPFS node whose RPC API is at ``url``, or (``kind="pinning"``) the pinning service
    whose API endpoint is ``url``, to be reached through the IPFS node remote ``via``; checked as
    an address, not contacted. An existing name is refused unless ``force``."""
    check_name(name, "Remote")
    if kind not in KINDS:
        raise NbversionError(f"A remote is an IPFS node ({IPFS!r}) or a pinning service ({PINNING!r}), not {kind!r}.")
    _no_credentials_in(url.strip())
    known = _read(repo)
    if kind == PINNING:
        url = endpoint_url(url)  # RemoteAddressError for what is no http(s) URL
        if via is not None:
            node = known.get(via)
            if node is None or node.kind != IPFS:
                raise _unknown(via, {k: r for k, r in known.items() if r.kind == IPFS}, what="IPFS node remote")
    else:
        if via is not None:
            raise NbversionError(
                "Only a pinning service goes through another remote (`via`); an IPFS node is reached directly."
            )
        api_multiaddr(url)  # RemoteAddressError for what is no URL nor multiaddr
    new = Remote(name, url.strip(), kind, via)
    if name in known and not force and known[name] != new:
        raise NbversionError(
            f"Remote {name!r} already points at {known[name].url}. Remove it first (`nbversion remote remove {name}`)."
        )
    known[name] = new
    _write(repo, known)
    return new


def remote_remove(repo: "Repo", name: str) -> Remote:
    """Forget the remote ``name`` (nothing on the node changes)."""
    known = _read(repo)
    if name not in known:
        raise _unknown(name, known)
    gone = known.pop(name)
    _write(repo, known)
    return gone


def _unknown(name: str, known: Dict[str, Remote], what: str = "remote") -> UnknownRemoteError:
    listed = f"Known {what}s: {', '.join(sorted(known))}." if known else f"This repository has no {what}s yet."
    return UnknownRemoteError(
        f"No {what} named {name!r}. {listed} Add one with `nbversion remote add NAME http://HOST:5001`."
    )


def remote(repo: "Repo", name_or_url: str) -> Remote:
    """The remote named ``name_or_url``, or an unnamed one for an address given directly."""
    if not isinstance(name_or_url, str) or not name_or_url.strip():
        raise UnknownRefError("Which remote? Give a remote's name or an IPFS node's RPC address.")
    text = name_or_url.strip()
    if "://" in text or text.startswith("/"):
        api_multiaddr(text)
        return Remote(text, text)
    known = _read(repo)
    if text not in known:
        raise _unknown(text, known)
    return known[text]


def open_remote(repo: "Repo", name_or_url: str, timeout: float = 30.0, fetch_timeout: float = 60.0) -> IpfsStore:
    """A store on the remote's node, with its credentials from the environment or the credentials
    file (:mod:`.credentials`); the node is asked its version, so one that is down fails here."""
    target = remote(repo, name_or_url)
    if target.kind == PINNING:
        raise RemoteError(
            f"{target.name!r} is a pinning service, not an IPFS node: blocks go to an IPFS node, then the service is "
            f"asked to pin the version (`nbversion push REF --to {target.name} --via NODE`, or `repo.pin_remote(REF, "
            f"{target.name!r}, via=NODE)`)."
        )
    secret = secret_for(target.name if target.named else None, target.url)
    return IpfsStore(target.url, timeout=timeout, fetch_timeout=fetch_timeout, auth=secret.reveal() if secret else None)


def open_service(repo: "Repo", name_or_url: str, timeout: float = 30.0) -> PinningService:
    """A client of the pinning service ``name_or_url`` (a pinning remote's name, or an endpoint
    URL), with its token from the environment or the credentials file (:mod:`.credentials`)."""
    text = name_or_url.strip() if isinstance(name_or_url, str) else ""
    if "://" in text:
        target = Remote(endpoint_url(text), endpoint_url(text), PINNING)
    else:
        target = remote(repo, text)
        if target.kind != PINNING:
            raise RemoteError(
                f"{target.name!r} is an IPFS node, not a pinning service; add the service with "
                "`nbversion remote add NAME URL --pinning-service`."
            )
    secret = secret_for(target.name if target.named else None, target.url, shared=False)
    auth = secret.reveal() if secret else None
    if auth and not auth.lower().startswith(("bearer ", "basic ")):
        auth = f"Bearer {auth}"  # a pinning service takes a bare access token as a bearer token
    return PinningService(target.url, auth=auth, timeout=timeout)
