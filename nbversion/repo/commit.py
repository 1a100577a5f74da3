"""``commit``: store content as a new version and move its branch (and any tags) to it.

The pipeline is the same for every kind of version: validate everything, then under the
repository lock write the content's blocks and the version record through one block writer
(durable when it closes), and only then index the version and move its refs in one
transaction. A crash or an error at any point leaves the repository as it was. Each kind brings
only a :data:`ContentWriter` (weights: :class:`WeightsWriter`).
"""

from __future__ import annotations

import getpass
import os
import platform
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .._version import __version__
from ..errors import MetadataError, RefError, UnchangedError, WrongKindError
from ..formats import dagcbor
from ..formats.cid import CID, DAG_CBOR
from ..formats.manifests import encode_manifest_leaves
from ..formats.names import check_name
from ..formats.records import (
    DATA, WEIGHTS, Code, Manifest, TensorEntry, Version, check_data, check_metrics, check_record_size, encode_environment,
)
from ..formats.tensors import dtype_name, prepare, tensor_bytes
from ..formats.unixfs import build_file, build_files, fingerprint
from ..pool import workers
from ..stores.base import BlockWriter
from .recent import Recent, recall, remember
from .refs import DEFAULT_BRANCH, branch_tips, check_model_name_free, check_tag_name_free, head, resolve

if TYPE_CHECKING:
    from . import Repo

Progress = Optional[Callable[[int], None]]


@dataclass(frozen=True)
class Content:
    """What a content writer stored: the manifest's CID and counts for the commit's report."""

    manifest: CID
    stats: Dict[str, int]


ContentWriter = Callable[[BlockWriter], Content]


class WeightsWriter:
    """The content writer of a weights version: each tensor a UnixFS file, then the manifest.

    Tensors that ``previous`` (the model's last commit, :mod:`.recent`) holds with the same
    fingerprint take its entry without being hashed or stored again, and manifest leaves whose
    entries are all taken are not encoded again. ``made`` is what this commit leaves for the next."""

    def __init__(self, items: Sequence[Tuple[str, np.ndarray]], progress: Progress = None,
                 previous: Optional[Recent] = None) -> None:  # fmt: skip
        self.items, self.progress, self.previous = items, progress, previous
        self.made: Optional[Recent] = None

    def __call__(self, writer: BlockWriter) -> Content:
        items, previous = self.items, self.previous
        views = [tensor_bytes(array) for _, array in items]
        fingerprinting = _fingerprints(views)  # (large tensors on the pool, beside the hashing below)
        dtypes = [dtype_name(array.dtype) for _, array in items]
        shapes = [tuple(array.shape) for _, array in items]
        taken: List[Optional[TensorEntry]] = [None] * len(items)
        if previous is not None:
            taken = previous.taken([n for n, _ in items], dtypes, shapes, fingerprinting())
        todo = [i for i, entry in enumerate(taken) if entry is None]
        if self.progress is not None and len(todo) < len(items):
            self.progress(sum(len(views[i]) for i, entry in enumerate(taken) if entry is not None))
        roots = build_files([views[i] for i in todo], writer.put, writer.put_many, self.progress)
        entries: List[Optional[TensorEntry]] = list(taken)
        for i, root in zip(todo, roots):
            name, array = items[i]
            entries[i] = TensorEntry(name, dtypes[i], shapes[i], array.nbytes, root.cid)
        new = sum(writer.is_new(root.cid) for root in roots)
        manifest = Manifest(tuple(entries))  # type: ignore[arg-type]  (every entry is made now)
        # One block, or a tree of shards of at most 1 MiB each (unchanged leaves taken as they were).
        cid, blocks, leaves = encode_manifest_leaves(manifest, previous.leaves if previous is not None else None)
        writer.put_many(blocks)
        self.made = Recent(None, manifest.tensors, tuple(fingerprinting()), leaves)
        return Content(cid, {"tensors": len(entries), "new_tensors": new, "reused_tensors": len(entries) - new,
                             "bytes": manifest.nbytes})  # fmt: skip


def _fingerprints(views: Sequence[memoryview]) -> Callable[[], List[bytes]]:
    """A function giving each tensor's fingerprint (:func:`..formats.unixfs.fingerprint`): small
    tensors' are worked out now, large ones' on the pool meanwhile (the function waits for them)."""
    prints = [fingerprint(view) if len(view) <= _LARGE else b"" for view in views]
    large = [i for i, view in enumerate(views) if len(view) > _LARGE]
    futures = [workers().submit(fingerprint, views[i]) for i in large]

    def result() -> List[bytes]:
        for i, future in zip(large, futures):
            prints[i] = future.result()
        futures.clear()
        return prints

    return result


_LARGE = 1 << 20  # tensors fingerprinted on the pool


def commit(
    repo: "Repo",
    tensors: Mapping[str, Any],
    model: str,
    message: str = "",
    metrics: Optional[Mapping[str, float]] = None,
    *,
    parents: Optional[Sequence[Union[str, CID]]] = None,
    branch: Optional[str] = None,
    tag: Optional[str] = None,
    author: Optional[str] = None,
    framework: str = "numpy",
    software: Optional[Mapping[str, str]] = None,
    architecture: Any = None,
    context: Optional[Mapping[str, Any]] = None,
    progress: Progress = None,
    allow_empty: bool = False,
    data: Optional[Mapping[str, Union[str, CID]]] = None,
    code: Optional[Tuple[bytes, str]] = None,
    environment: Optional[Mapping[str, Any]] = None,
) -> Version:
    """Store ``tensors`` as a new version of ``model`` and move its branch to it.

    The parent is the model's current version unless ``parents`` says otherwise. ``tag`` names
    the new version in the same transaction (a tag that is taken refuses the commit before
    anything is written). Everything is validated before anything is written; blocks are durable
    before any ref moves.
    """
    items = prepare(tensors)
    write = WeightsWriter(items, progress, recall(repo, model))
    version = record(
        repo, model, WEIGHTS, write, message, metrics,
        parents=parents, branch=branch, tag=tag, author=author, framework=framework, software=software,
        architecture=architecture, context=context, allow_empty=allow_empty, data=data, code=code,
        environment=environment,
    )  # fmt: skip
    if write.made is not None:
        remember(repo, model, replace(write.made, version=version.cid))
    return version


def record(
    repo: "Repo",
    name: str,
    kind: str,
    content: ContentWriter,
    message: str = "",
    metrics: Optional[Mapping[str, float]] = None,
    *,
    parents: Optional[Sequence[Union[str, CID]]] = None,
    branch: Optional[str] = None,
    tag: Optional[str] = None,
    author: Optional[str] = None,
    framework: str = "",
    software: Optional[Mapping[str, str]] = None,
    architecture: Any = None,
    context: Optional[Mapping[str, Any]] = None,
    allow_empty: bool = False,
    data: Optional[Mapping[str, Union[str, CID]]] = None,
    code: Optional[Tuple[bytes, str]] = None,
    environment: Optional[Mapping[str, Any]] = None,
) -> Version:
    """The pipeline every kind of version is committed through (see the module docstring).

    Model, branch and tag names follow :mod:`nbversion.formats.names`; a tag and a model never
    share a name. Content equal to the first parent's (the same manifest CID) is refused with
    :class:`UnchangedError` before the version is written, unless ``allow_empty`` (as git's
    ``--allow-empty``).

    Links: ``data`` maps a role (``train``) to a data version (a ref or CID); ``code`` is the
    notebook that made the version (nbformat JSON bytes, outputs stripped) and the committing
    cell's id; ``environment`` a JSON-like map of the machine and software. Both are stored as
    blocks of their own, so versions made in the same notebook or environment share them."""
    check_name(name, "Model")
    if not isinstance(message, str):
        raise MetadataError(f"The message must be text, got {type(message).__name__}.")
    if branch is not None:
        check_name(branch, "Branch")
    if tag is not None:
        check_name(tag, "Tag")
        if tag == name:
            raise MetadataError(f"Tag {tag!r} would hide the model of the same name; nothing was committed.")
    fields = dict(
        message=message,
        metrics=check_metrics(dict(metrics or {})),
        author=author if author is not None else os.environ.get("NBVERSION_AUTHOR") or _user(),
        framework=framework,
        software=check_data(
            {"python": platform.python_version(), "numpy": np.__version__, "nbversion": __version__, **(software or {})},
            "software",
        ),
        architecture=check_data(architecture, "architecture"),
        context=check_data(dict(context or {}), "context"),
        kind=kind,
    )
    env_block = encode_environment(environment) if environment is not None else None
    if code is not None and not isinstance(code[0], (bytes, bytearray)):
        raise MetadataError("The code must be the notebook's JSON as bytes.")
    started = time.perf_counter()
    with repo.index.locked() as db:
        check_model_name_free(repo, name)
        links = {role: _data_version(repo, role, ref) for role, ref in (data or {}).items()}
        if tag is not None:
            _check_tag_free(repo, tag)
        head_branch, head_cid = head(repo, name)
        if head_cid is not None and repo.index.version(head_cid, tags={}).kind != kind:  # one name, one kind
            raise WrongKindError(
                f"{name!r} names a {'data set' if kind == WEIGHTS else 'model'}; a {kind} version cannot join its "
                "history. Choose another name."
            )
        parent_cids = [resolve(repo, p, name) for p in parents] if parents is not None else [head_cid] if head_cid is not None else []
        target_branch = choose_branch(repo, name, parent_cids, branch, head_branch)
        with repo.store.writer() as writer:
            stored = content(writer)
            if parent_cids and not allow_empty:
                _check_changed(repo, name, parent_cids[0], stored.manifest)
            attached = _attach(writer, code, env_block)
            version = Version(
                model=name, parents=tuple(parent_cids), manifest=stored.manifest, time=_now(), data=links,
                **attached, **fields,
            )  # fmt: skip
            block = dagcbor.encode(version.to_ipld())
            check_record_size(block, "version")
            cid = CID.hash(DAG_CBOR, block)
            writer.put(cid, block)
            written = writer.bytes_written
        # Every block is durable now; only then do the index and refs change (atomically).
        with repo.index.transaction(db):
            seq = repo.index.add_version(db, cid, version, block)
            repo.index.set_ref(db, "branch", f"{name}/{target_branch}", str(cid))
            repo.index.set_ref(db, "head", name, f"branch:{target_branch}")
            if tag is not None:
                repo.index.set_ref(db, "tag", tag, str(cid))
    stats = {**stored.stats, "bytes_written": written, "seconds": time.perf_counter() - started}
    return replace(version, cid=cid, seq=seq, tags=(tag,) if tag else (), stats=stats)


def _data_version(repo: "Repo", role: str, ref: Union[str, CID]) -> CID:
    """The CID of the data version ``ref`` names, linked as ``role``; an error if it is not one."""
    check_name(role, "Data link")
    cid = resolve(repo, ref)
    linked = repo.index.version(cid, tags={})
    if linked.kind != DATA:
        raise MetadataError(
            f"Data link {role}={ref} names {linked.model} {linked.label}, a {linked.kind} version, not a data version."
        )
    return cid


def _attach(writer: BlockWriter, code: Optional[Tuple[bytes, str]], env_block: Optional[bytes]) -> Dict[str, Any]:
    """Store the notebook's code (a UnixFS file) and the environment record; their links."""
    out: Dict[str, Any] = {}
    if code is not None:
        notebook, cell = code
        out["code"] = Code(build_file(bytes(notebook), writer.put).cid, cell or "")
    if env_block is not None:
        cid = CID.hash(DAG_CBOR, env_block)
        writer.put(cid, env_block)
        out["environment"] = cid
    return out


def _check_changed(repo: "Repo", name: str, parent: CID, manifest: CID) -> None:
    """Refuse a version whose content is its parent's (the writer then forgets every block)."""
    previous = repo.index.version(parent)
    if previous.manifest == manifest:
        raise UnchangedError(
            f"{name!r} is unchanged since {previous.label} ({previous.short}): the same weights are "
            "already that version, so nothing was committed. To record it anyway, commit with "
            "allow_empty=True (%commit_weights --allow-empty)."
        )


def _check_tag_free(repo: "Repo", tag: str) -> None:
    taken = repo.index.ref("tag", tag)
    if taken is not None:
        raise MetadataError(f"Tag {tag!r} already names {taken}; nothing was committed. Choose another tag.")
    check_tag_name_free(repo, tag)


def choose_branch(
    repo: "Repo", model: str, parents: Sequence[CID], requested: Optional[str], head_branch: Optional[str]
) -> str:
    """The branch a new version goes on: the one asked for, else the branch whose tip is its
    first parent (the HEAD's first), else a new branch named after that parent."""
    tips = branch_tips(repo, model)
    if requested is not None:
        tip = tips.get(requested)
        if tip is not None and tip not in parents:
            raise RefError(
                f"Branch {requested!r} of {model!r} is at {tip}, which is not a parent of this "
                "commit; moving it would leave that version off the branch. Commit to a new branch."
            )
        return requested
    if not tips:
        return DEFAULT_BRANCH
    first = parents[0] if parents else None
    if head_branch is not None and tips.get(head_branch) == first:
        return head_branch
    for branch_name in sorted(tips, key=lambda n: (n != DEFAULT_BRANCH, n)):
        if tips[branch_name] == first:
            return branch_name
    base = f"from-{repo.index.version(first).label}" if first is not None else "root"
    candidate, n = base, 2
    while candidate in tips:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"
