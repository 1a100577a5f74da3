"""Which block store a repository uses, by name: built-in back-ends and ``nbversion.stores``
entry points (as papermill finds its I/O handlers).

``local`` is the embedded pack store; ``ipfs`` keeps blocks on an IPFS node through its RPC API
(``Repo(store="ipfs")`` uses ``$NBVERSION_IPFS_API``, else http://127.0.0.1:5001).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Dict, Type

from ..errors import NbversionError
from .base import BlockStore

BUILTIN: Dict[str, str] = {
    "local": "nbversion.stores.pack:PackStore",
    "ipfs": "nbversion.stores.kubo:IpfsStore",  # an IPFS node's RPC API (needs ipfshttpclient)
}
DEFAULT = "local"


def store_class(name: str) -> Type[BlockStore]:
    """The block store class registered as ``name`` (built in, or an ``nbversion.stores`` entry point)."""
    target = BUILTIN.get(name)
    if target is not None:
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)
    found = [ep for ep in entry_points(group="nbversion.stores") if ep.name == name]
    if not found:
        plugins = {ep.name for ep in entry_points(group="nbversion.stores")} - set(BUILTIN)
        known = [*BUILTIN, *sorted(plugins)]  # the default first
        raise NbversionError(f"Unknown block store {name!r}. Known stores: {', '.join(known)}.")
    return found[0].load()


def open_store(name: str, location: Path, **options: Any) -> BlockStore:
    """Open the store named ``name`` kept at ``location``."""
    return store_class(name).open(location, **options)
