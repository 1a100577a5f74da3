"""Where versions are on remotes: what each push leaves recorded in the index, for listings.

A push pins its version on the remote recursively, so the node keeps that version and its whole
history. The index records, per version and remote (:meth:`~.index.Index.set_remote_states`):

* ``pinned``: a push put this version there and pinned it;
* ``pushed``: it went there with a descendant that a push pinned (kept by that pin).

A state is never weakened (a version pinned stays pinned when a descendant is pushed). The
listing the panel reads gives each version recorded on a remote a field
``"remotes": [{"name": "lab", "state": "pinned"}]``; ``%history`` and ``nbversion log`` mark them.
Nothing here asks the node: it is what this repository did, not what the node holds today (its
owner may unpin or gc).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

from ..formats.cid import CID
from .push import PushReport
from .push import push as _push

if TYPE_CHECKING:
    from . import Repo


def record_push(repo: "Repo", report: PushReport) -> None:
    """Record what a finished push did: its version ``pinned`` on the remote, its ancestors ``pushed``."""
    root = report.version.cid
    assert root is not None
    states: Dict[str, str] = {str(root): "pinned"}
    pending: List[CID] = list(report.version.parents)
    while pending:
        cid = pending.pop()
        if str(cid) in states or not repo.index.has_version(cid):
            continue
        states[str(cid)] = "pushed"
        pending.extend(repo.index.version(cid, tags={}).parents)
    with repo.index.locked() as db:
        with repo.index.transaction(db):
            repo.index.set_remote_states(db, report.remote or report.url, states)


@functools.wraps(_push)
def push(repo: "Repo", *args: Any, **kwargs: Any) -> PushReport:
    report = _push(repo, *args, **kwargs)
    record_push(repo, report)
    return report


push.__doc__ = f"{_push.__doc__ or ''}\n\n    The index then records the version as pinned there (:func:`record_push`)."


def remote_states(repo: "Repo") -> Dict[str, List[Tuple[str, str]]]:
    """``{version CID: [(remote, state), ...]}`` for every version a push recorded on a remote."""
    return repo.index.remote_states()
