"""Refs: the names that point at versions, and the grammar that turns a ref into a CID.

Ref syntax: a full CID or a prefix of one, a tag, ``MODEL`` (the version the model is at: its
HEAD), ``MODEL/BRANCH``, a branch name, ``vN`` (the model's N-th version), ``HEAD``, and any of
those followed by ``~N`` (N first-parents back; ``~`` alone is ``~1``).

Resolution order: the first rule that applies decides, and a later rule is never consulted.

1. ``HEAD``: the current version of the model (the one given, else the only one).
2. ``vN``: the model's N-th version (the model given, else the only one).
3. Text that parses as a CID: that version, or an error if it is not here.
4. ``bafy...`` (lowercase base32): the one version whose CID starts with it; an error when
   none or several do. Only text starting ``bafy`` is read as a prefix (every version CID
   starts so), which leaves everyday words like ``best`` or ``main`` free for names.
5. A tag, or a model name (its HEAD). A name that is both is refused as ambiguous.
6. ``MODEL/BRANCH``.
7. A branch name: of the model given, else of the only model that has such a branch.

Every rule is a lookup in an index (a CID, a ``(name, seq)``, a ref), never a scan of the
versions, so resolving costs the same however long the history is.

Names (:mod:`nbversion.formats.names`) can never be ``HEAD``, ``vN``, a CID or start with
``bafy``, and rules 1 to 4 come first anyway, so no tag, model or branch, even one from an older
repository, can shadow a CID or change what ``vN`` and ``HEAD`` mean. A tag and a model never
share a name: :func:`check_tag_name_free` and :func:`check_model_name_free` keep it so.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

from ..errors import AmbiguousRefError, InvalidCIDError, MetadataError, UnknownRefError
from ..formats.cid import CID, DAG_CBOR
from ..formats.names import CID_PREFIX, SEQ, parses_as_cid
from ..formats.records import Version

if TYPE_CHECKING:
    from . import Repo

Ref = Union[str, CID, Version]
DEFAULT_BRANCH = "main"
_REF = re.compile(r"(?P<base>.+?)(?:~(?P<back>\d*))?", re.DOTALL | re.ASCII)
_MAX_NUMBER = 10**15  # far beyond any history; larger numbers in a ref name nothing


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
    """A short value that changes whenever a version is added, a ref moves or a push records where
    a version is (cheap to compute)."""
    rows = repo.index.rows
    state = [list(r) for r in rows("SELECT COUNT(*), COALESCE(MAX(rowid), 0) FROM versions")]
    state += [list(r) for r in rows("SELECT kind, name, target FROM refs ORDER BY kind, name")]
    state += [list(r) for r in rows("SELECT COUNT(*), COALESCE(SUM(state='pinned'), 0) FROM remote_state")]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:32]


def resolve(repo: "Repo", ref: Ref, model: Optional[str] = None) -> CID:
    """The CID of the version ``ref`` names (see the module docstring for the syntax)."""
    if isinstance(ref, Version):
        ref = ref.cid  # type: ignore[assignment]
    if isinstance(ref, CID):
        if not repo.index.has_version(ref):
            raise UnknownRefError(f"No version {ref} in this repository.")
        return ref
    if not isinstance(ref, str) or not ref.strip() or not _is_text(ref):
        raise UnknownRefError(f"Unknown ref {ref[:80] if isinstance(ref, str) else ref!r}.")
    if model is not None and (not isinstance(model, str) or not model or not _is_text(model)):
        raise UnknownRefError(f"Unknown model {model!r}.")
    match = _REF.fullmatch(ref.strip())
    assert match is not None  # the pattern matches any non-empty text
    cid = _resolve_base(repo, match.group("base"), model)
    back = match.group("back")
    for i in range(0 if back is None else _number(back or "1", ref)):
        parents = repo.index.version(cid, tags={}).parents  # one lookup; tags are not needed
        if not parents:
            raise UnknownRefError(f"{ref!r} goes back past the first version ({i} steps back is the root).")
        cid = parents[0]
    return cid


def _is_text(text: str) -> bool:
    """Whether ``text`` is storable text (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _number(digits: str, ref: str) -> int:
    """The count or version number in a ref, or :class:`UnknownRefError` when no history is that long."""
    if len(digits) > 15 or int(digits) > _MAX_NUMBER:
        raise UnknownRefError(f"Unknown ref {ref[:80]!r}: no history is {digits[:20]}... versions long.")
    return int(digits)


def _only_model(repo: "Repo", ref: str) -> str:
    names = models(repo)
    if len(names) == 1:
        return names[0]
    if not names:
        raise UnknownRefError(f"Unknown ref {ref!r}: the repository at {repo.path} has no versions yet.")
    raise AmbiguousRefError(
        f"Ref {ref!r} needs a model: this repository has {', '.join(names)}. "
        f"Write it as MODEL~N / MODEL/BRANCH, or name the model "
        "(model= in Python, --model MODEL on the command line)."
    )


def _resolve_base(repo: "Repo", ref: str, model: Optional[str]) -> CID:
    index = repo.index
    if ref == "HEAD":
        model = model or _only_model(repo, ref)
        _, cid = head(repo, model)
        if cid is None:
            raise UnknownRefError(f"Model {model!r} has no versions yet.")
        return cid
    seq = SEQ.fullmatch(ref)
    if seq:
        model = model or _only_model(repo, ref)
        rows = index.rows("SELECT cid FROM versions WHERE name=? AND seq=?", (model, _number(seq.group(1), ref)))
        if rows:
            return CID.parse(rows[0][0])
        raise UnknownRefError(f"Model {model!r} has no version {ref}. See `nbversion log {model}`.")
    if parses_as_cid(ref):
        return _resolve_cid(repo, ref)
    if CID_PREFIX.fullmatch(ref):
        return _resolve_prefix(repo, ref)
    tag = index.ref("tag", ref)
    is_model = index.has_name(ref)
    if tag is not None and is_model:
        raise AmbiguousRefError(
            f"{ref!r} is both a tag (of {tag}) and a model. Write {ref}/BRANCH, or HEAD with "
            f"model={ref!r} (--model {ref}) for the model, or the CID for the tag."
        )
    if tag is not None:
        return CID.parse(tag)
    if is_model:
        _, cid = head(repo, ref)
        if cid is not None:
            return cid
    if "/" in ref:
        target = index.ref("branch", ref)
        if target is not None:
            return CID.parse(target)
    on_branch = [t for n, t in branches(repo, model).items() if n.split("/", 1)[1] == ref]
    if len(on_branch) == 1:
        return on_branch[0]
    if len(on_branch) > 1:
        raise AmbiguousRefError(f"Branch {ref!r} exists for several models; write it as MODEL/{ref}.")
    known = sorted(tags(repo))
    hint = f" Known tags: {', '.join(known)}." if known else ""
    where = f" for model {model!r}" if model else ""
    see = f"`nbversion log {model}`" if model else "`nbversion log`"
    raise UnknownRefError(f"Unknown ref {ref!r}{where}.{hint} See {see}.")


def _resolve_cid(repo: "Repo", ref: str) -> CID:
    try:
        cid = CID.parse(ref)
    except InvalidCIDError as exc:
        raise UnknownRefError(f"No version {ref} can be here: {exc}") from exc
    if cid.codec == DAG_CBOR and repo.index.has_version(cid):
        return cid
    raise UnknownRefError(f"No version {cid} in this repository. Import it with `nbversion import FILE.car`.")


def _resolve_prefix(repo: "Repo", ref: str) -> CID:
    # A range of the primary key (a prefix is lowercase base32, and "{" sorts after "z"), not
    # LIKE: SQLite's LIKE ignores case and so cannot use the index, and would read every row.
    rows = repo.index.rows("SELECT cid FROM versions WHERE cid >= ? AND cid < ? ORDER BY cid LIMIT 11", (ref, ref + "{"))
    if len(rows) == 1:
        return CID.parse(rows[0][0])
    if len(rows) > 1:
        shown = ", ".join(r[0][:16] + "..." for r in rows[:10])
        raise AmbiguousRefError(f"CID prefix {ref!r} matches several versions: {shown}. Give more characters.")
    raise UnknownRefError(f"No version's CID starts with {ref!r}. See `nbversion log --all`.")


def check_tag_name_free(repo: "Repo", name: str) -> None:
    """Refuse a tag named like a model: the two would hide each other."""
    if repo.index.has_name(name):
        raise MetadataError(f"Tag {name!r} would hide the model of the same name; choose another.")


def check_model_name_free(repo: "Repo", name: str) -> None:
    """Refuse a new model named like a tag: the two would hide each other."""
    tag = repo.index.ref("tag", name)
    if tag is not None and not repo.index.has_name(name):
        raise MetadataError(
            f"Model name {name!r} is already a tag (of {tag}); a model and a tag of one name would hide "
            f"each other. Choose another model name, or delete the tag (`nbversion tag -d {name}`)."
        )
