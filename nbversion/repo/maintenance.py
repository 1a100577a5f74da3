"""``fsck`` and ``gc``: check everything the repository holds, and reclaim what no version uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Set, Tuple

from ..errors import NbversionError
from ..formats.cid import CID
from .dag import version_blocks

if TYPE_CHECKING:
    from . import Repo

Progress = Optional[Callable[[int], None]]


@dataclass
class FsckReport:
    """What ``fsck`` found: each bad block and the versions whose content uses it."""

    corrupt: Dict[CID, List[str]] = field(default_factory=dict)
    missing: Dict[CID, List[str]] = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)
    blocks_checked: int = 0
    versions_checked: int = 0

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.missing or self.problems)


def fsck(repo: "Repo", progress: Progress = None) -> FsckReport:
    """Re-hash every block (sha2-256) and check every version and ref; name what is wrong."""
    report = FsckReport()
    if not repo.exists:
        return report
    with repo.index.locked():
        corrupt, missing_rows = repo.store.verify_all(progress or (lambda n: None))
        bad = {c: "corrupt" for c in corrupt}
        bad.update({c: "missing" for c in missing_rows})
        report.blocks_checked = sum(1 for _ in repo.store.cids())
        users: Dict[CID, List[str]] = {}
        for version in repo.index.versions():
            report.versions_checked += 1
            label = f"{version.model} {version.label} ({version.cid})"
            try:
                used = version_blocks(repo, version, lambda cid: _tolerant_get(repo, cid))
            except (NbversionError, KeyError) as exc:
                report.problems.append(f"{label}: {exc}")
                continue
            for cid in used:
                if cid not in bad and not repo.store.has(cid):
                    bad[cid] = "missing"
                if cid in bad:
                    users.setdefault(cid, []).append(label)
            for parent in version.parents:
                if not repo.index.has_version(parent):
                    report.problems.append(f"{label}: parent {parent} is not in the repository.")
        for cid, state in bad.items():
            (report.corrupt if state == "corrupt" else report.missing)[cid] = users.get(cid, [])
        for kind, name, target in repo.index.rows("SELECT kind, name, target FROM refs"):
            if not target.startswith("branch:") and not repo.index.has_version(target):
                report.problems.append(f"{kind} {name} points at {target}, which is not a version here.")
    return report


def _tolerant_get(repo: "Repo", cid: CID) -> bytes:
    """``store.get`` for fsck: a tree node that fails to read raises KeyError (leaves are not read)."""
    try:
        return repo.store.get(cid)
    except NbversionError as exc:
        raise KeyError(f"block {cid} cannot be read: {exc}") from exc


def gc(repo: "Repo", progress: Progress = None) -> Tuple[int, int]:
    """Drop blocks no version uses and reclaim pack space: (blocks removed, bytes freed)."""
    if not repo.exists:
        return 0, 0
    with repo.index.locked():
        live: Set[CID] = set()
        for version in repo.index.versions():
            live.update(version_blocks(repo, version))
        return repo.store.retain(live, progress or (lambda n: None))
