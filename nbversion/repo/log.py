"""``history``, ``log`` and ``log_json``: versions listed from the index alone (no block is read).

``log_json`` is the log as the panel lists it, from the summaries the index keeps of each version
(no record is decoded: 10,000 versions in milliseconds). ``history`` and ``log`` read only the rows
they return: ``history`` follows first parents with one primary-key
lookup per step, ``log`` walks the index newest first and stops at ``limit``. So ``log -n 10``
costs the same at 50,000 versions as at 10. Every row read is checked against its CID
(:meth:`~nbversion.repo.index.Index.to_version`)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, List, Optional, Tuple, Union

from ..errors import CorruptIndexError, DamagedIndexWarning
from ..formats.cid import CID
from ..formats.records import Version
from .refs import resolve

if TYPE_CHECKING:
    from . import Repo


def history(
    repo: "Repo", model: Optional[str] = None, ref: Union[str, CID, None] = None, limit: Optional[int] = None
) -> List[Version]:
    """The lineage of ``model`` (or of ``ref``): its current version, then first parents to the
    root; the first ``limit`` of them only, if given."""
    start = resolve(repo, ref if ref is not None else "HEAD", model)
    tags = repo.index.tags_by_cid()
    out: List[Version] = []
    cid: Optional[CID] = start
    while cid is not None and (limit is None or len(out) < limit):
        row = repo.index.row(cid)
        if row is None:  # a parent that is not here (a partial import): the lineage ends
            break
        try:
            version = repo.index.to_version(str(cid), row[1], row[2], tags)
        except CorruptIndexError as exc:  # a damaged row that the block store cannot repair
            warnings.warn(f"{exc} The lineage stops here.", DamagedIndexWarning, stacklevel=2)
            break
        out.append(version)
        cid = version.parents[0] if version.parents else None
    return out


def log(repo: "Repo", model: Optional[str] = None, limit: Optional[int] = None) -> List[Version]:
    """Every version (of ``model`` if given), newest first; the newest ``limit`` only, if given."""
    return repo.index.versions(model, limit)


def log_json(repo: "Repo", model: Optional[str] = None, limit: Optional[int] = None, offset: int = 0) -> List[str]:
    """Every version (of ``model`` if given), newest first, each as the JSON text of an object with
    its cid, model, kind, seq, label, parents, message, metrics, time, author, framework and tags
    (what a listing shows; :meth:`show` has the rest), read from the index's summaries; with
    ``limit``, the ``limit`` of them after the newest ``offset`` only (one page)."""
    return repo.index.listing(model, limit, offset)


def log_page(repo: "Repo", model: Optional[str], limit: int, offset: int = 0) -> Tuple[List[str], Optional[int]]:
    """One page of :func:`log_json`, and the offset of the next page (None after the last). Pages
    count the index's rows, so a damaged row left out of a page does not end the listing early."""
    versions = repo.index.listing(model, limit, offset)
    return versions, offset + limit if offset + limit < repo.index.count(model) else None
