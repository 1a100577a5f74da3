"""Remotes: IPFS nodes a repository pushes to and pulls from, by name.

A repository keeps its remotes in ``.nbversion/remotes.json`` (``{"NAME": {"url": URL}}``),
rewritten whole and atomically (a temporary file, fsynced, renamed over the old one). A remote's
URL is the node's RPC API, as an http(s) URL (``http://127.0.0.1:5001``) or a multiaddr
(``/ip4/127.0.0.1/tcp/5001``). Names follow the rules of model and tag names
(:mod:`nbversion.formats.names`).

Secrets are never stored here nor shown: a node whose RPC API wants credentials (Kubo's
``API.Authorizations``) gets them from the environment, ``NBVERSION_IPFS_AUTH_<NAME>`` for one
remote (the name upper-cased, ``.`` and ``-`` as ``_``), else ``NBVERSION_IPFS_AUTH``, holding
``Bearer TOKEN``, ``Basic BASE64`` or ``USER:PASSWORD``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List

from ..errors import NbversionError, UnknownRefError, UnknownRemoteError
from ..formats.names import check_name
from ..stores.kubo import IpfsStore, api_multiaddr

if TYPE_CHECKING:
    from . import Repo

FILE = "remotes.json"
AUTH_ENV = "NBVERSION_IPFS_AUTH"


@dataclass(frozen=True)
class Remote:
    """A named IPFS node: ``url`` is its RPC API (a URL or a multiaddr)."""

    name: str
    url: str

    @property
    def auth_env(self) -> str:
        """The environment variable that holds this remote's own credentials."""
        return f"{AUTH_ENV}_{self.name.upper().replace('.', '_').replace('-', '_')}"


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
            remotes[name] = Remote(name, url)
    return remotes


def _write(repo: "Repo", remotes: Dict[str, Remote]) -> None:
    path = _path(repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({r.name: {"url": r.url} for r in remotes.values()}, indent=2, sort_keys=True) + "\n"
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


def remote_add(repo: "Repo", name: str, url: str, force: bool = False) -> Remote:
    """Name the IPFS node whose RPC API is at ``url`` (checked as an address, not contacted).
    An existing name is refused unless ``force``."""
    check_name(name, "Remote")
    api_multiaddr(url)  # RemoteAddressError for what is no URL nor multiaddr
    known = _read(repo)
    if name in known and not force and known[name].url != url.strip():
        raise NbversionError(
            f"Remote {name!r} already points at {known[name].url}. Remove it first (`nbversion remote remove {name}`)."
        )
    known[name] = Remote(name, url.strip())
    _write(repo, known)
    return known[name]


def remote_remove(repo: "Repo", name: str) -> Remote:
    """Forget the remote ``name`` (nothing on the node changes)."""
    known = _read(repo)
    if name not in known:
        raise _unknown(name, known)
    gone = known.pop(name)
    _write(repo, known)
    return gone


def _unknown(name: str, known: Dict[str, Remote]) -> UnknownRemoteError:
    listed = f"Known remotes: {', '.join(sorted(known))}." if known else "This repository has no remotes yet."
    return UnknownRemoteError(
        f"No remote named {name!r}. {listed} Add one with `nbversion remote add NAME http://HOST:5001`."
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
    """A store on the remote's node, with its credentials from the environment (see the module
    docstring); the node is asked its version, so one that is down fails here."""
    target = remote(repo, name_or_url)
    secret = os.environ.get(target.auth_env) if target.name != target.url else None
    if secret is None:
        secret = os.environ.get(AUTH_ENV)
    return IpfsStore(target.url, timeout=timeout, fetch_timeout=fetch_timeout, auth=secret)
