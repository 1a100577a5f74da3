"""``code``, ``environment``, ``env_diff``: what a version was made by, read back.

A version committed from a notebook links the notebook's code (nbformat JSON without outputs, a
UnixFS file) with the committing cell's id, and an environment record
(:mod:`.environment`). These verbs read them; a version made before they were recorded (or
outside a notebook) has neither, and they answer None. ``env_diff`` lists what changed between
the environments of two versions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..errors import FormatError
from ..formats.cid import RAW
from ..formats.records import Version, decode_environment
from ..formats.unixfs import file_leaves
from .fetch import fetching_get, locate
from .refs import Ref

if TYPE_CHECKING:
    from . import Repo

#: The fields of an environment record other than its packages, in the order they are shown.
MACHINE_FIELDS = ("python", "implementation", "system", "release", "machine", "cpu", "cpus", "gpus", "nbversion")


def _version(repo: "Repo", ref: Ref, model: Optional[str]) -> Version:
    return ref if isinstance(ref, Version) and ref.cid is not None else locate(repo, ref, model)


def environment(repo: "Repo", ref: Ref, model: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The environment record of the version ``ref`` names (see :mod:`.environment` for its
    fields), or None when the version has none."""
    version = _version(repo, ref, model)
    if version.environment is None:
        return None
    return decode_environment(fetching_get(repo)(version.environment))


def code(repo: "Repo", ref: Ref, model: Optional[str] = None) -> Optional[Tuple[Dict[str, Any], str]]:
    """The notebook (nbformat JSON as a dict, outputs stripped) the version ``ref`` names was
    committed from, and the id of the cell that committed it; None when the version has none."""
    version = _version(repo, ref, model)
    if version.code is None:
        return None
    get, root = fetching_get(repo), version.code.notebook
    data = get(root) if root.codec == RAW else b"".join(get(leaf) for leaf, _ in file_leaves(root, get, None))
    try:
        notebook = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"The code of {version.model} {version.label} is not notebook JSON: {exc}.") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise FormatError(f"The code of {version.model} {version.label} is not a notebook (no cells).")
    return notebook, version.code.cell


def cells_upto(notebook: Dict[str, Any], cell_id: str) -> List[Dict[str, Any]]:
    """The notebook's cells up to and including the one with id ``cell_id`` (all of them when
    no cell has that id)."""
    cells = [c for c in notebook.get("cells", []) if isinstance(c, dict)]
    for at, cell in enumerate(cells):
        if cell.get("id") == cell_id:
            return cells[: at + 1]
    return cells


def cell_source(cell: Dict[str, Any]) -> str:
    """A cell's source as one text (nbformat stores it as a list of lines or a string)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


@dataclass(frozen=True)
class EnvironmentDiff:
    """What changed between the environments of versions ``a`` and ``b``. ``same``: the two
    records are one (the same CID). ``fields``: machine fields that differ, (name, old, new).
    Packages ``added`` and ``removed`` with their version, ``changed`` as (old, new).
    ``missing``: the labels of versions that recorded no environment. ``a`` or ``b`` is None for
    an environment that is no version's (this process's, compared by :func:`compare`)."""

    a: Optional[Version]
    b: Optional[Version]
    same: bool
    fields: List[Tuple[str, Any, Any]] = field(default_factory=list)
    added: Dict[str, str] = field(default_factory=dict)
    removed: Dict[str, str] = field(default_factory=dict)
    changed: Dict[str, Tuple[str, str]] = field(default_factory=dict)
    missing: Tuple[str, ...] = ()


def env_diff(repo: "Repo", a: Ref, b: Ref, model: Optional[str] = None) -> EnvironmentDiff:
    """What changed from the environment of version ``a`` to that of ``b``."""
    va, vb = _version(repo, a, model), _version(repo, b, model)
    missing = tuple(f"{v.model} {v.label}" for v in (va, vb) if v.environment is None)
    if missing:
        return EnvironmentDiff(va, vb, same=False, missing=missing)
    if va.environment == vb.environment:
        return EnvironmentDiff(va, vb, same=True)
    old, new = environment(repo, va) or {}, environment(repo, vb) or {}
    return compare(old, new, va, vb)


def compare(
    old: Dict[str, Any], new: Dict[str, Any], va: Optional[Version] = None, vb: Optional[Version] = None
) -> EnvironmentDiff:
    """The difference of two environment records (of versions ``va`` and ``vb`` when they are
    versions'; e.g. ``compare(repo.environment(ref), current_environment(), repo.show(ref))``
    says what changed since a version was made)."""
    names = list(MACHINE_FIELDS) + sorted(k for k in set(old) | set(new) if k not in MACHINE_FIELDS and k != "packages")
    fields = [(n, old.get(n), new.get(n)) for n in names if old.get(n) != new.get(n)]
    p_old, p_new = _packages(old), _packages(new)
    return EnvironmentDiff(
        va, vb, same=old == new, fields=fields,
        added={n: p_new[n] for n in sorted(set(p_new) - set(p_old))},
        removed={n: p_old[n] for n in sorted(set(p_old) - set(p_new))},
        changed={n: (p_old[n], p_new[n]) for n in sorted(set(p_old) & set(p_new)) if p_old[n] != p_new[n]},
    )  # fmt: skip


def _packages(record: Dict[str, Any]) -> Dict[str, str]:
    packages = record.get("packages")
    return {str(k): str(v) for k, v in packages.items()} if isinstance(packages, dict) else {}


__all__ = ["EnvironmentDiff", "cell_source", "cells_upto", "code", "compare", "env_diff", "environment"]
