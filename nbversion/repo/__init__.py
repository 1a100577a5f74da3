"""The repository: versions, the refs that point at them, and the verbs on them.

A repository is a ``.nbversion/`` directory holding a block store (``blocks/``) and an index
(``index.sqlite``, :mod:`.index`) of versions and refs. :class:`Repo` is a table of contents:
each verb is a function in a module of its own, taking the repository first (as DVC's ``Repo``
does), bound here as a method.

=================  ==============================================================
module             verbs
=================  ==============================================================
``refs``           resolve, models, tags, branches, head, fingerprint
``commit``         commit (and ``record``, the pipeline every kind goes through)
``data``           commit_data, open, load_data (data versions: arrays, tables, files, folders)
``folders``        verify (and add_path, list_path, restore_path: files and folders as UnixFS)
``checkout``       checkout (moves a model's HEAD)
``tag``            tag, untag
``read``           version, show, manifest, load, read_tensors
``log``            history, log, log_json, log_page
``diff``           diff
``transfer``       export_car, import_car
``remotes``        remotes, remote, remote_add, remote_remove
``pinning``        pin_remote, remote_pins (a pinning service, an IPFS Cluster)
``push``           push (to an IPFS node)
``pull``           pull (from an IPFS node)
``fetch``          locate, default_remote, fetch_progress, pull (a version only on a remote, its
                   content fetched as read; ``pull.pull``, then marking what it made whole)
``remote_state``   remote_states (where pushes left versions; ``push`` records it)
``announce``       announce, watch (versions on an IPFS node's pubsub topic)
``maintenance``    fsck, gc
``files``          cat (and file_cid, tensor_cid)
``dag``            version_blocks
``provenance``     code, environment, env_diff (the notebook and environment a version was made in;
                   ``environment.current_environment`` describes this process's)
=================  ==============================================================
"""

from __future__ import annotations

import os
from typing import Any, Optional, Union

from ..formats.cid import CID
from ..formats.records import Manifest, TensorEntry, Version
from ..stores.base import BlockStore
from ..stores.registry import DEFAULT, open_store
from .diff import TensorDiff
from .discovery import find_repo_dir, repo_dir
from .environment import current_environment
from .files import file_cid, output_file, tensor_cid
from .index import Index
from .maintenance import FsckReport
from .provenance import EnvironmentDiff, cell_source, cells_upto, compare as compare_environments
from .data import DataVersion, StoredFolder
from .read import LazyTensors

__all__ = [
    "CID", "EnvironmentDiff", "FsckReport", "LazyTensors", "Manifest", "Repo", "TensorDiff", "TensorEntry", "Version",
    "file_cid", "find_repo_dir", "output_file", "repo_dir", "tensor_cid",
    "cell_source", "cells_upto", "compare_environments", "current_environment",
    "DataVersion", "StoredFolder",
]  # fmt: skip


class Repo:
    """A repository of versions. ``Repo()`` finds or (on first commit) creates ``./.nbversion``."""

    from .announce import announce, watch
    from .checkout import checkout
    from .commit import commit
    from .data import commit_data, load_data, open  # data versions (kind "data")
    from .folders import verify  # a local file or folder checked against a stored one (UnixFS)
    from .dag import version_blocks
    from .diff import diff
    from .fetch import content_remote, default_remote, fetch_progress, locate, pull  # pull.pull, marking what it made whole
    from .files import cat
    from .log import history, log, log_json, log_page
    from .maintenance import fsck, gc
    from .remote_state import push, remote_states  # push.push, recording where it left the version
    from .read import load, manifest, read_tensors, show, version
    from .refs import branches, fingerprint, head, models, resolve, tags
    from .pinning import pin_remote, remote_pins
    from .provenance import code, env_diff, environment
    from .recent import fingerprints as committed_fingerprints, remember_fingerprints
    from .remotes import remote, remote_add, remote_remove, remotes
    from .tag import tag, untag
    from .transfer import export_car, import_car

    def __init__(
        self,
        path: Union[str, os.PathLike, None] = None,
        *,
        verify: Optional[str] = None,
        store: Union[BlockStore, str] = DEFAULT,
        remote: Optional[str] = None,
    ) -> None:
        """``path``: the repository directory, or a project folder holding a ``.nbversion`` one
        (default: :func:`find_repo_dir`). ``verify``: how the embedded store checks reads
        ('checksum' or 'sha256'). ``store``: a block store, or the name of a registered back-end
        to keep blocks in (the index and refs stay under ``path``). ``remote``: a remote's name or
        an RPC address that versions not here are loaded from, fetching only what is read
        (:mod:`.fetch`; default: none, and a CID not here is unknown)."""
        self.path = repo_dir(path) if path is not None else find_repo_dir()
        self.index = Index(self.path, blocks=lambda cid: self.store.get(cid))
        self._store_name = store if isinstance(store, str) else None
        self._store: Optional[BlockStore] = None if isinstance(store, str) else store
        self._verify = verify
        self.loads_from = remote.strip() if remote and remote.strip() else None  # (Repo.remote is a verb)
        self._source: Any = None  # the fetch.RemoteSource content is fetched through, once used
        self._recent: dict[str, Any] = {}  # model -> recent.Recent: its last commit, for the next one

    def __repr__(self) -> str:
        return f"Repo('{self.path}')"

    @property
    def exists(self) -> bool:
        """Whether the repository has been created (by a first commit or import)."""
        return self.index.exists

    @property
    def store(self) -> BlockStore:
        """The block store (opened on first use)."""
        if self._store is None:
            assert self._store_name is not None
            options: dict[str, Any] = {"verify": self._verify} if self._verify else {}
            self._store = open_store(self._store_name, self.path / "blocks", **options)
        return self._store

    def close(self) -> None:
        """Release the index and the block store (a closed Repo reopens them on next use)."""
        self.index.close()
        if self._source is not None:
            self._source.close()
            self._source = None
        if self._store is not None:
            self._store.close()
            if self._store_name is not None:
                self._store = None

    def __enter__(self) -> "Repo":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
