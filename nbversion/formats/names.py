"""The one grammar for the names people give things: models, branches and tags.

Every source goes through :func:`check_name`: local commits and tags, and version records
decoded from a stranger's CAR (later, from IPFS). A name must read the same in a shell, a URL and
a ref (``MODEL~N``, ``MODEL/BRANCH``), and it must never read as a ref of another kind, so:

* 1 to :data:`MAX_NAME` characters from ``A-Z a-z 0-9 _ . -``, the first a letter, a digit or
  ``_`` (no ``.``/``..``, nothing a shell takes for an option). So no ``~``, ``/``, spaces,
  newlines or other control characters.
* Reserved, because each already means something in a ref: ``HEAD``; ``v`` followed by digits
  (``vN``, the model's N-th version); anything that parses as a CID in any multibase (``bafy...``,
  ``Qm...``, ``z...``); anything starting with ``bafy`` or ``bafk``, which is how a CID prefix
  starts (:data:`CID_PREFIX`). Common words such as ``best`` or ``main`` stay allowed: the
  resolver only reads ``bafy...`` as a CID prefix (see :mod:`nbversion.repo.refs`).
"""

from __future__ import annotations

import re
from typing import Optional, Type

import libipld

from ..errors import MetadataError, NbversionError

MAX_NAME = 100
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
SEQ = re.compile(r"v(\d+)", re.ASCII)
#: What the resolver reads as a prefix of a version's CID (CIDv1, base32: every one starts ``bafy``).
CID_PREFIX = re.compile(r"bafy[a-z2-7]*")
_RESERVED_STARTS = ("bafy", "bafk")


def parses_as_cid(text: str) -> bool:
    """Whether ``text`` is the text form of some CID (any codec, hash or multibase)."""
    try:
        libipld.decode_cid(text)
    except (ValueError, TypeError):  # libipld's answer to anything that is not a CID
        return False
    return True


def name_problem(name: object) -> Optional[str]:
    """Why ``name`` is not an allowed model, branch or tag name, or None when it is."""
    if not isinstance(name, str):
        return f"it must be text, not {type(name).__name__}"
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME:
        return f"it has {len(name):,} characters; at most {MAX_NAME} are allowed"
    if not NAME.fullmatch(name):
        return "use letters, digits, '_', '.' and '-', starting with a letter, a digit or '_'"
    if name == "HEAD":
        return "'HEAD' is the ref of a model's current version"
    if SEQ.fullmatch(name):
        return f"{name!r} is the ref of a model's version number {int(name[1:])}"
    if name.startswith(_RESERVED_STARTS) or parses_as_cid(name):
        return "it reads as a CID or the start of one"
    return None


def is_valid_name(name: object) -> bool:
    """Whether ``name`` may name a model, a branch or a tag."""
    return name_problem(name) is None


def shown(name: object, limit: int = 40) -> str:
    """``name`` quoted for an error message: control characters escaped, long names cut."""
    if isinstance(name, str) and len(name) > limit:
        return repr(name[:limit]) + f"... ({len(name):,} characters)"
    return repr(name)


def check_name(name: object, what: str, error: Type[NbversionError] = MetadataError) -> str:
    """``name`` if it may name a ``what`` ("Model", "Branch", "Tag"), else ``error`` saying why.

    Decoders of records from strangers pass ``error=FormatError``."""
    problem = name_problem(name)
    if problem is not None:
        raise error(f"{what} name {shown(name)} is not allowed: {problem}.")
    return name  # type: ignore[return-value]
