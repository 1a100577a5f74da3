"""``history`` and ``log``: versions listed from the index alone (no block is read)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, List, Optional, Union

from ..errors import CorruptIndexError, DamagedIndexWarning
from ..formats.cid import CID
from ..formats.records import Version
from .refs import resolve

if TYPE_CHECKING:
    from . import Repo


def history(repo: "Repo", model: Optional[str] = None, ref: Union[str, CID, None] = None) -> List[Version]:
    """The lineage of ``model`` (or of ``ref``): its current version, then first parents to the root."""
    start = resolve(repo, ref if ref is not None else "HEAD", model)
    rows = {c: (s, b) for c, s, b in repo.index.rows("SELECT cid, seq, block FROM versions")}
    tags = repo.index.tags_by_cid()
    out: List[Version] = []
    cid: Optional[CID] = start
    while cid is not None and str(cid) in rows:
        try:
            version = repo.index.to_version(str(cid), *rows[str(cid)], tags)
        except CorruptIndexError as exc:  # a damaged row that the block store cannot repair
            warnings.warn(f"{exc} The lineage stops here.", DamagedIndexWarning, stacklevel=2)
            break
        out.append(version)
        cid = version.parents[0] if version.parents else None
    return out


def log(repo: "Repo", model: Optional[str] = None) -> List[Version]:
    """Every version (of ``model`` if given), newest first."""
    return repo.index.versions(model)
