"""Moving versions between repositories: CAR v1 files now (push and pull to IPFS nodes next).

Export writes a version and every block it reaches. Import reads the whole file first, outside
the repository lock: every block is verified against its CID and written to a staging pack (a
block writer's pack, locked by that writer alone and invisible until it commits), then every
version it holds is checked, manifests and files included, each distinct block once (so a hostile
file costs work in proportion to its bytes, not to what it claims). Only then is the repository
lock taken, to publish: index the blocks the versions use, the versions and refs. A slow or
hostile file never blocks commits, and a bad one changes nothing.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Set, Tuple, Union

from ..errors import BlockNotFoundError, CarError, FormatError, NbversionError, StoreFullError
from ..formats.car import MAX_BLOCK, read_car, write_car
from ..formats.cid import CID, DAG_CBOR, RAW
from ..formats.records import Version, decode_version
from ..stores.base import FULL_ERRNOS, BlockWriter
from .dag import ContentCheck, require_whole, stored_size, topological, walk
from .files import input_file, output_file
from .refs import DEFAULT_BRANCH, resolve

if TYPE_CHECKING:
    from . import Repo

Progress = Optional[Callable[[int], None]]


def export_car(
    repo: "Repo", ref: Union[str, CID], path: Union[str, os.PathLike], model: Optional[str] = None, progress: Progress = None
) -> Tuple[CID, int]:
    """Write the version ``ref`` and every block it reaches (its history too) as a CAR v1.

    Returns (root CID, bytes written). The file appears only when complete; a full disk is a
    :class:`StoreFullError` and leaves nothing behind.
    """
    path = Path(output_file(path))
    root = resolve(repo, ref, model)
    require_whole(repo, root, "export it")
    tmp = path.with_name(f".{path.name}.partial")

    def blocks() -> Iterator[Tuple[CID, bytes]]:
        for cid, block in walk(root, repo.store.get):
            if len(block) > MAX_BLOCK:  # committed before commits were capped: no reader would take it
                raise CarError(
                    f"Block {cid} is {len(block):,} bytes, over the {MAX_BLOCK:,} a CAR may hold, so "
                    "nothing could import this file; nothing was written."
                )
            if progress is not None:
                progress(len(block))
            yield cid, block

    try:
        with open(tmp, "wb") as out:
            size = write_car(out, [root], blocks())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS and not isinstance(exc, NbversionError):
            raise StoreFullError(
                exc.errno, f"The disk holding {path} is full; no CAR was written. Free some space and export again."
            ) from exc
        raise
    return root, size


def import_car(repo: "Repo", path: Union[str, os.PathLike], progress: Progress = None) -> List[Version]:
    """Add the versions in a CAR file (every block verified; nothing changes if any is bad).

    A model that had no versions gets a ``main`` branch at the imported root; an existing
    model's refs do not move (tag or check out the imported CID to use it). The repository lock
    is held only while publishing what was verified (see the module docstring).
    """
    input_file(path)  # before the store is touched: a mistyped name creates no repository
    writer = repo.store.writer()
    try:
        roots, carried = _stage(writer, path, progress)
        versions, reach = _versions_in(roots, writer, stored_size(repo), carried, path)
        with repo.index.locked() as db:
            return _publish(repo, db, writer, roots, versions, reach, path)
    except BaseException:
        writer.abort()
        raise


def _stage(writer: BlockWriter, path: Union[str, os.PathLike], progress: Progress) -> Tuple[List[CID], Dict[CID, int]]:
    """Read the CAR at ``path`` into ``writer``: its roots and the length of each block it carries."""
    carried: Dict[CID, int] = {}
    with open(path, "rb") as stream:
        roots, blocks = read_car(stream)
        if not roots:
            raise CarError(f"{path} names no root version.")
        for cid, block in blocks:
            writer.put(cid, block)
            carried[cid] = len(block)
            if progress is not None:
                progress(len(block))
    return roots, carried


def _gone(cid: CID, path: object) -> CarError:
    """A block the file carried but the writer did not copy (the store had it) is gone since."""
    return CarError(f"Block {cid} was removed (by a gc) while {path} was imported; import it again.")


def _publish(
    repo: "Repo",
    db: sqlite3.Connection,
    writer: BlockWriter,
    roots: List[CID],
    versions: Dict[CID, Version],
    reach: Set[CID],
    path: object,
) -> List[Version]:
    """Under the repository lock: make the blocks ``reach`` durable, index the versions, set refs."""
    # Blocks the file did not carry because the store had them: a gc may have dropped one since.
    gone = repo.store.missing([c for c in reach if not writer.is_new(c)])
    if gone:
        raise _gone(next(iter(gone)), path)
    writer.commit(keep=reach)
    imported: List[Version] = []
    with repo.index.transaction(db):
        for cid in topological(versions):  # parents first, so sequence numbers follow history
            if repo.index.has_version(cid):
                continue
            seq = repo.index.add_version(db, cid, versions[cid], repo.store.get(cid))
            imported.append(replace(versions[cid], seq=seq))
        linked = {c for v in versions.values() for c in v.data.values()}  # a data set new here starts at
        newest = {versions[c].model: c for c in topological(versions) if c in linked}  # its newest version linked
        for root in roots + [c for c in newest.values() if c not in roots]:
            model = versions[root].model
            if repo.index.ref("head", model) is None:
                repo.index.set_ref(db, "branch", f"{model}/{DEFAULT_BRANCH}", str(root))
                repo.index.set_ref(db, "head", model, f"branch:{DEFAULT_BRANCH}")
    return imported


def _versions_in(
    roots: List[CID], writer: BlockWriter, stored: Callable[[CID], Optional[int]], carried: Dict[CID, int], path: object
) -> Tuple[Dict[CID, Version], Set[CID]]:
    """The versions reachable from ``roots`` and every block they use, all checked (each distinct
    block once), or :class:`CarError` naming what is missing or wrong. ``carried``: the length
    of each block in the file."""

    def get(cid: CID) -> bytes:
        try:
            return writer.get(cid)
        except BlockNotFoundError:
            if cid in carried:
                raise _gone(cid, path) from None
            raise

    check = ContentCheck(get, lambda c: carried[c] if c in carried else stored(c))
    versions: Dict[CID, Version] = {}
    pending = list(roots)
    while pending:
        cid = pending.pop()
        if cid in versions:
            continue
        if cid.codec != DAG_CBOR or not writer.has(cid):
            raise CarError(f"{path} lacks version {cid} that its history needs.")
        try:
            version = decode_version(get(cid), cid)
            check.version(version)
        except CarError:
            raise
        except KeyError as exc:
            raise CarError(f"{path} is incomplete: {exc}") from exc
        except FormatError as exc:
            raise CarError(f"{path} holds a version that cannot be used ({cid}): {exc}") from exc
        versions[cid] = version
        pending.extend(version.links)  # parents and linked data versions
    reach = set(check.blocks)
    missing = next((c for c in reach if c.codec == RAW and not writer.has(c)), None)
    if missing in carried:
        raise _gone(missing, path)
    if missing is not None:
        raise CarError(f"{path} is incomplete: block {missing} that one of its versions uses is absent.")
    return versions, reach
