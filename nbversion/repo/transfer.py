"""Moving versions between repositories: CAR v1 files now (push and pull to IPFS nodes next).

Export writes a version and every block it reaches; import verifies every block, checks that the
file holds every block its versions need, and only then stores the blocks and indexes the
versions, under the repository lock: a bad file changes nothing.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Set, Tuple, Union

from ..errors import CarError
from ..formats.car import read_car, write_car
from ..formats.cid import CID, DAG_CBOR, RAW
from ..formats.records import Version, decode_manifest, decode_version
from ..formats.tensors import dtype_from_name
from .dag import topological, version_blocks, walk
from .refs import DEFAULT_BRANCH, resolve

if TYPE_CHECKING:
    from . import Repo

Progress = Optional[Callable[[int], None]]


def export_car(
    repo: "Repo", ref: Union[str, CID], path: Union[str, os.PathLike], model: Optional[str] = None, progress: Progress = None
) -> Tuple[CID, int]:
    """Write the version ``ref`` and every block it reaches (its history too) as a CAR v1.

    Returns (root CID, bytes written). The file appears only when complete.
    """
    root = resolve(repo, ref, model)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")

    def blocks() -> Iterator[Tuple[CID, bytes]]:
        for cid, block in walk(root, repo.store.get):
            if progress is not None:
                progress(len(block))
            yield cid, block

    try:
        with open(tmp, "wb") as out:
            size = write_car(out, [root], blocks())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return root, size


def import_car(repo: "Repo", path: Union[str, os.PathLike], progress: Progress = None) -> List[Version]:
    """Add the versions in a CAR file (every block verified; nothing changes if any is bad).

    A model that had no versions gets a ``main`` branch at the imported root; an existing
    model's refs do not move (tag or check out the imported CID to use it).
    """
    imported: List[Version] = []
    with repo.index.locked() as db, open(path, "rb") as stream:
        roots, blocks = read_car(stream)
        if not roots:
            raise CarError(f"{path} names no root version.")
        writer = repo.store.writer()
        try:
            for cid, block in blocks:
                writer.put(cid, block)
                if progress is not None:
                    progress(len(block))
            versions, reach = _versions_in(repo, roots, writer.has, writer.get, path)
            writer.commit(keep=reach)
        except BaseException:
            writer.abort()
            raise
        with repo.index.transaction(db):
            for cid in topological(versions):  # parents first, so sequence numbers follow history
                if repo.index.has_version(cid):
                    continue
                seq = repo.index.add_version(db, cid, versions[cid], repo.store.get(cid))
                imported.append(replace(versions[cid], seq=seq))
            for root in roots:
                model = versions[root].model
                if repo.index.ref("head", model) is None:
                    repo.index.set_ref(db, "branch", f"{model}/{DEFAULT_BRANCH}", str(root))
                    repo.index.set_ref(db, "head", model, f"branch:{DEFAULT_BRANCH}")
    return imported


def _versions_in(
    repo: "Repo", roots: List[CID], has: Callable[[CID], bool], get: Callable[[CID], bytes], path: object
) -> Tuple[Dict[CID, Version], Set[CID]]:
    """The versions reachable from ``roots`` and every block they use, or :class:`CarError`
    naming what is missing."""
    reach: Set[CID] = set()
    versions: Dict[CID, Version] = {}
    pending = list(roots)
    while pending:
        cid = pending.pop()
        if cid in versions:
            continue
        if cid.codec != DAG_CBOR or not has(cid):
            raise CarError(f"{path} lacks version {cid} that its history needs.")
        version = decode_version(get(cid), cid)
        try:
            used = version_blocks(repo, version, get)
        except KeyError as exc:
            raise CarError(f"{path} is incomplete: {exc}") from exc
        missing = [c for c in used if c.codec == RAW and not has(c)]
        if missing:
            raise CarError(f"{path} is incomplete: block {missing[0]} of version {cid} is absent.")
        for entry in decode_manifest(get(version.manifest)).tensors:
            dtype_from_name(entry.dtype)
        reach.update(used)
        versions[cid] = version
        pending.extend(version.parents)
    return versions, reach
