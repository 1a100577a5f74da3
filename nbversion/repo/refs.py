"""Refs: the names that point at versions, and the grammar that turns a ref into a CID.

Ref syntax: a full CID or a unique prefix of one, a tag, ``MODEL`` (the version the model is at:
its HEAD), ``MODEL/BRANCH``, a branch name when the model is known, ``vN`` (the model's N-th
version), ``HEAD``, and any of those followed by ``~N`` (N first-parents back).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

from ..errors import AmbiguousRefError, InvalidCIDError, UnknownRefError
from ..formats.cid import CID, DAG_CBOR
from ..formats.names import SEQ
from ..formats.records import Version

if TYPE_CHECKING:
    from . import Repo

Ref = Union[str, CID, Version]
DEFAULT_BRANCH = "main"
_REF = re.compile(r"(?P<base>.+?)(?:~(?P<back>\d*))?")
_CID_PREFIX = re.compile(r"[a-z2-7]{4,}")


def models(repo: "Repo") -> List[str]:
    """Every model with versions in this repository."""
    return repo.index.names()


def tags(repo: "Repo") -> Dict[str, CID]:
    """Every tag and the version it names."""
    return {name: CID.parse(target) for name, target in repo.index.refs("tag").items()}


def branches(repo: "Repo", model: Optional[str] = None) -> Dict[str, CID]:
    """Branches as ``{"MODEL/BRANCH": version CID}`` (of one model if given)."""
    return {
        name: CID.parse(target)
        for name, target in repo.index.refs("branch").items()
        if model is None or name.split("/", 1)[0] == model
    }


def branch_tips(repo: "Repo", model: str) -> Dict[str, CID]:
    """A model's branches as ``{BRANCH: tip}``."""
    return {name.split("/", 1)[1]: tip for name, tip in branches(repo, model).items()}


def head(repo: "Repo", model: str) -> Tuple[Optional[str], Optional[CID]]:
    """Where ``model`` is: (its branch, or None when detached; its version, or None when new)."""
    target = repo.index.ref("head", model)
    if target is None:
        return None, None
    if target.startswith("branch:"):
        branch = target[len("branch:") :]
        tip = repo.index.ref("branch", f"{model}/{branch}")
        return branch, CID.parse(tip) if tip else None
    return None, CID.parse(target)


def fingerprint(repo: "Repo") -> str:
    """A short value that changes whenever a version is added or a ref moves (cheap to compute)."""
    rows = repo.index.rows
    state = [list(r) for r in rows("SELECT COUNT(*), COALESCE(MAX(rowid), 0) FROM versions")]
    state += [list(r) for r in rows("SELECT kind, name, target FROM refs ORDER BY kind, name")]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:32]


def resolve(repo: "Repo", ref: Ref, model: Optional[str] = None) -> CID:
    """The CID of the version ``ref`` names (see the module docstring for the syntax)."""
    if isinstance(ref, Version):
        ref = ref.cid  # type: ignore[assignment]
    if isinstance(ref, CID):
        if not repo.index.has_version(ref):
            raise UnknownRefError(f"No version {ref} in this repository.")
        return ref
    if not isinstance(ref, str) or not ref.strip():
        raise UnknownRefError(f"Unknown ref {ref!r}.")
    match = _REF.fullmatch(ref.strip())
    assert match is not None
    cid = _resolve_base(repo, match.group("base"), model)
    back = match.group("back")
    for i in range(0 if back is None else int(back or 1)):
        parents = repo.index.version(cid).parents
        if not parents:
            raise UnknownRefError(f"{ref!r} goes back past the first version ({i} steps back is the root).")
        cid = parents[0]
    return cid


def _only_model(repo: "Repo", ref: str) -> str:
    names = models(repo)
    if len(names) == 1:
        return names[0]
    if not names:
        raise UnknownRefError(f"Unknown ref {ref!r}: the repository at {repo.path} has no versions yet.")
    raise AmbiguousRefError(
        f"Ref {ref!r} needs a model: this repository has {', '.join(names)}. "
        f"Write it as MODEL~N / MODEL/BRANCH, or pass model=."
    )


def _resolve_base(repo: "Repo", ref: str, model: Optional[str]) -> CID:
    index = repo.index
    if ref == "HEAD":
        model = model or _only_model(repo, ref)
        _, cid = head(repo, model)
        if cid is None:
            raise UnknownRefError(f"Model {model!r} has no versions yet.")
        return cid
    tag = index.ref("tag", ref)
    if tag is not None:
        return CID.parse(tag)
    if ref in models(repo):
        _, cid = head(repo, ref)
        if cid is not None:
            return cid
    seq = SEQ.fullmatch(ref)
    if seq:
        model = model or _only_model(repo, ref)
        rows = index.rows("SELECT cid FROM versions WHERE name=? AND seq=?", (model, int(seq.group(1))))
        if rows:
            return CID.parse(rows[0][0])
        raise UnknownRefError(f"Model {model!r} has no version {ref}. See `nbversion log {model}`.")
    if "/" in ref:
        target = index.ref("branch", ref)
        if target is not None:
            return CID.parse(target)
    on_branch = [t for n, t in branches(repo, model).items() if n.split("/", 1)[1] == ref]
    if len(on_branch) == 1:
        return on_branch[0]
    if len(on_branch) > 1:
        raise AmbiguousRefError(f"Branch {ref!r} exists for several models; write it as MODEL/{ref}.")
    return _resolve_cid(repo, ref, model)


def _resolve_cid(repo: "Repo", ref: str, model: Optional[str]) -> CID:
    try:
        cid: Optional[CID] = CID.parse(ref)
    except InvalidCIDError:
        cid = None
    if cid is not None and cid.codec == DAG_CBOR and repo.index.has_version(cid):
        return cid
    if _CID_PREFIX.fullmatch(ref):
        rows = repo.index.rows("SELECT cid FROM versions WHERE cid LIKE ? LIMIT 11", (ref + "%",))
        if len(rows) == 1:
            return CID.parse(rows[0][0])
        if len(rows) > 1:
            shown = ", ".join(r[0][:16] + "..." for r in rows[:10])
            raise AmbiguousRefError(f"CID prefix {ref!r} matches several versions: {shown}. Give more characters.")
    if cid is not None:
        raise UnknownRefError(f"No version {cid} in this repository. Import it with `nbversion import FILE.car`.")
    known = sorted(tags(repo))
    hint = f" Known tags: {', '.join(known)}." if known else ""
    where = f" for model {model!r}" if model else ""
    see = f"`nbversion log {model}`" if model else "`nbversion log`"
    raise UnknownRefError(f"Unknown ref {ref!r}{where}.{hint} See {see}.")
