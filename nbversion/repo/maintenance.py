"""``fsck`` and ``gc``: check everything the repository holds, and reclaim what no version uses."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Set, Tuple

from ..errors import CorruptIndexError, NbversionError, NbversionWarning, StoreFullError
from ..formats.cid import CID
from ..formats.records import Version
from .fetch import content_blocks
from .index import check_row, row_label, summary_of

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
    """Re-hash every block (sha2-256), check every index row against its CID and every version
    and ref; name what is wrong. Always finishes with a report, however damaged the repository
    (a full disk, which keeps it from opening what it checks, is :class:`StoreFullError`)."""
    report = FsckReport()
    if not repo.exists:
        return report
    bad: Dict[CID, str] = {}
    try:
        with repo.index.locked():
            _check_blocks(repo, report, bad, progress)
            _check_index(repo, report, bad)
    except CorruptIndexError as exc:  # the index database cannot even be opened
        report.problems.append(f"the index cannot be read: {exc}")
        if not report.blocks_checked:
            _check_blocks(repo, report, bad, progress)
    return report


def _check_blocks(repo: "Repo", report: FsckReport, bad: Dict[CID, str], progress: Progress) -> None:
    """fsck of the block store: every block re-hashed; ``bad`` gets the corrupt and missing ones."""
    try:
        corrupt, missing = repo.store.verify_all(progress or (lambda n: None))
        report.blocks_checked = sum(1 for _ in repo.store.cids())
    except StoreFullError:
        raise
    except NbversionError as exc:
        report.problems.append(f"the block store cannot be checked: {exc}")
        return
    bad.update({c: "corrupt" for c in corrupt})
    bad.update({c: "missing" for c in missing})
    for cid, state in bad.items():
        (report.corrupt if state == "corrupt" else report.missing)[cid] = []


def _check_index(repo: "Repo", report: FsckReport, bad: Dict[CID, str]) -> None:
    """fsck of the index: every row (see :func:`_check_version`), then every ref."""
    users: Dict[CID, List[str]] = {}
    try:
        rows = repo.index.rows("SELECT cid, seq, block, name, summary FROM versions ORDER BY rowid DESC")
    except StoreFullError:
        raise
    except NbversionError as exc:
        report.problems.append(f"the index's versions cannot be read: {exc}")
        rows = []
    for cid_text, seq, block, name, summary in rows:
        report.versions_checked += 1
        label = row_label(cid_text, seq, name)
        try:
            version = _check_version(repo, report, bad, users, label, cid_text, seq, block, name)
            if version is not None and summary is not None and summary != summary_of(version):
                report.problems.append(
                    f"index row {label}: the summary listings show does not match its record; `nbversion gc` rewrites it."
                )
        except StoreFullError:  # not damage: fsck cannot go on until there is space
            raise
        except NbversionError as exc:
            report.problems.append(f"{label}: {exc}")
    for cid, state in bad.items():
        (report.corrupt if state == "corrupt" else report.missing)[cid] = users.get(cid, [])
    try:
        for kind, name, target in repo.index.rows("SELECT kind, name, target FROM refs"):
            if not all(isinstance(value, str) for value in (kind, name, target)):
                report.problems.append(f"ref row ({kind!r}, {name!r}, {target!r}) is damaged: its values are not text.")
            elif not target.startswith("branch:") and not repo.index.has_version(target):
                report.problems.append(f"{kind} {name} points at {target}, which is not a version here.")
    except StoreFullError:
        raise
    except NbversionError as exc:
        report.problems.append(f"the refs cannot be read: {exc}")


def _check_version(
    repo: "Repo", report: FsckReport, bad: Dict[CID, str], users: Dict[CID, List[str]], label: str, *row: Any
) -> Optional[Version]:
    """fsck of one index row: its copy of the version block, the blocks the version uses, its parents.
    Returns the row's version when an intact copy of it exists."""
    version, damage = check_row(*row)
    if damage is not None:
        version = repo.index.intact(row[0])
        fix = "the block store holds an intact copy: `nbversion gc` rewrites it" if version else (
            "the block store holds no intact copy of it"
        )
        report.problems.append(f"index row {label}: {damage}; {fix}.")
        if version is None:
            return None
    assert version is not None
    try:
        used = content_blocks(repo, version, lambda cid: _tolerant_get(repo, cid))
    except KeyError as exc:
        report.problems.append(f"{label}: {exc}")
        return version
    for cid in used:
        if cid not in bad and not repo.store.has(cid):
            bad[cid] = "missing"
        if cid in bad:
            users.setdefault(cid, []).append(label)
    for parent in version.parents:
        if not repo.index.has_version(parent):
            report.problems.append(f"{label}: parent {parent} is not in the repository.")
    for role, linked in version.data.items():
        if not repo.index.has_version(linked):
            report.problems.append(f"{label}: its data version {role}={linked} is not in the repository.")
    return version


def _tolerant_get(repo: "Repo", cid: CID) -> bytes:
    """``store.get`` for fsck: a tree node that fails to read raises KeyError (leaves are not read)."""
    try:
        return repo.store.get(cid)
    except StoreFullError:
        raise
    except NbversionError as exc:
        raise KeyError(f"block {cid} cannot be read: {exc}") from exc


def gc(repo: "Repo", progress: Progress = None) -> Tuple[int, int]:
    """Drop blocks no version uses and reclaim pack space: (blocks removed, bytes freed).

    Index rows whose copy of a version block is damaged are first rewritten from the block store;
    where the store holds no intact copy, nothing is removed (:class:`CorruptIndexError`), since
    the blocks of that version could no longer be told from unused ones. Listing summaries that
    do not match their records are dropped (the next listing writes them again from the records)."""
    if not repo.exists:
        return 0, 0
    with repo.index.locked() as db:
        live: Set[CID] = set()
        repairs: List[Tuple[bytes, str, str, str]] = []
        stale: List[Tuple[str]] = []  # rows whose listing summary is not their record's
        for cid_text, seq, block, name, summary in repo.index.rows("SELECT cid, seq, block, name, summary FROM versions"):
            version, damage = check_row(cid_text, seq, block, name)
            if damage is not None:
                version = repo.index.intact(cid_text)
                if version is None:
                    raise CorruptIndexError(
                        f"The index row of {row_label(cid_text, seq, name)} is damaged ({damage}) and the block store "
                        "holds no intact copy; gc removed nothing. Run `nbversion fsck`."
                    )
                repairs.append((repo.store.get(version.cid), version.model, version.kind, cid_text))
            assert version is not None
            if summary is not None and (damage is not None or summary != summary_of(version)):
                stale.append((cid_text,))
            live.update(content_blocks(repo, version))
        if repairs:
            _repair(repo, db, repairs)
        if stale:  # the next listing writes them again from the verified records
            with repo.index.transaction(db):
                db.executemany("UPDATE versions SET summary=NULL WHERE cid=?", stale)
        return repo.store.retain(live, progress or (lambda n: None))


def _repair(repo: "Repo", db: Any, repairs: List[Tuple[bytes, str, str, str]]) -> None:
    """Rewrite damaged index rows ``(block, name, kind, cid)`` from the block store's copies. A name
    or number that would clash with another row's is left for fsck to go on reporting."""
    with repo.index.transaction(db):
        db.executemany("UPDATE versions SET block=?, kind=? WHERE cid=?", [(b, k, c) for b, _, k, c in repairs])
        db.executemany("UPDATE OR IGNORE versions SET name=? WHERE cid=?", [(n, c) for _, n, _, c in repairs])
        db.executemany(  # a lost number: the smallest one the model's other versions leave free
            "UPDATE OR IGNORE versions SET seq=(SELECT MIN(s) FROM (SELECT 1 AS s UNION SELECT seq + 1 FROM versions "
            "WHERE name=?1) WHERE s NOT IN (SELECT seq FROM versions WHERE name=?1)) "
            "WHERE cid=?2 AND typeof(seq) != 'integer'",
            [(n, c) for _, n, _, c in repairs],
        )
    for *_, cid_text in repairs:
        warnings.warn(f"Rewrote the index's damaged copy of version {cid_text} from the block store.", NbversionWarning)
