"""The repository: versions of models, the refs that point at them, and the verbs on them.

A repository is a ``.nbversion/`` directory holding a block store (``blocks/``) and an index
(``index.sqlite``) of versions and refs. Blocks are the truth and are immutable; the index is what
makes listing fast and is the only thing that changes. Every change happens under one
repository lock, and a ref only moves after every block it reaches is durable, so a crash at any
point leaves earlier versions intact and no ref pointing at a missing block.

Ref syntax: a full CID or a unique prefix of one, a tag, ``MODEL`` (its HEAD), ``MODEL/BRANCH``,
a branch name when the model is known, ``vN`` (the model's N-th version), ``HEAD``, and any of
those followed by ``~N`` (N first-parents back).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import math
import os
import platform
import re
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

import numpy as np
from filelock import FileLock

from . import __version__, ipld
from .car import read_car, write_car
from .cid import CID, DAG_CBOR, RAW
from .errors import (
    AmbiguousRefError,
    CarError,
    FormatError,
    InvalidCIDError,
    MetadataError,
    NbversionError,
    RefError,
    UnknownRefError,
)
from .packstore import PackStore
from .sqlite import connect, transaction
from .store import BlockStore
from .tensors import dtype_from_name, dtype_name, prepare
from .unixfs import build_files, file_leaves
from .version import Manifest, TensorEntry, Version, check_data, check_metrics, decode_manifest, decode_version

Progress = Optional[Callable[[int], None]]
_REF_RE = re.compile(r"^(?P<base>.+?)(?:~(?P<back>\d*))?$")
_SEQ_RE = re.compile(r"^v(\d+)$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.\-]*$")
DEFAULT_BRANCH = "main"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    cid TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    seq INTEGER NOT NULL,
    block BLOB NOT NULL,
    UNIQUE (model, seq)
);
CREATE TABLE IF NOT EXISTS refs (
    kind TEXT NOT NULL,      -- 'branch' (name MODEL/BRANCH), 'tag', 'head' (name MODEL)
    name TEXT NOT NULL,
    target TEXT NOT NULL,    -- a version CID, or for a head 'branch:NAME'
    PRIMARY KEY (kind, name)
);
"""


def find_repo_dir(start: Union[str, os.PathLike, None] = None) -> Path:
    """The repository directory to use: ``NBVERSION_DIR``, else the nearest ``.nbversion/`` in
    ``start`` (default: the working directory) or its parents, else ``start/.nbversion``."""
    env = os.environ.get("NBVERSION_DIR")
    if env:
        return Path(env).expanduser().resolve()
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".nbversion").is_dir():
            return folder / ".nbversion"
    return here / ".nbversion"


def check_name(name: str, what: str) -> str:
    """A model, branch or tag name, or :class:`MetadataError` saying what is wrong with it."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name == "HEAD" or _SEQ_RE.match(name):
        raise MetadataError(
            f"{what} name {name!r} is not allowed: use letters, digits, '_', '.', '-' "
            "(not 'HEAD', not 'v' followed by digits)."
        )
    return name


@dataclass(frozen=True)
class TensorDiff:
    """How one tensor differs between two versions."""

    name: str
    status: str  # 'unchanged', 'changed', 'added', 'removed', 'retyped' (shape or dtype changed)
    shape_a: Optional[Tuple[int, ...]]
    shape_b: Optional[Tuple[int, ...]]
    l2: Optional[float] = None  # L2 norm of (b - a)
    max_abs: Optional[float] = None  # max |b - a|


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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Repo:
    """A repository of model versions. ``Repo()`` finds or (on first commit) creates ``./.nbversion``."""

    def __init__(
        self,
        path: Union[str, os.PathLike, None] = None,
        *,
        verify: Optional[str] = None,
        store: Optional[BlockStore] = None,
    ) -> None:
        """``path``: the repository directory (default: :func:`find_repo_dir`). ``verify``: how the
        embedded store checks reads ('checksum' or 'sha256'). ``store``: another block store to
        keep blocks in (the index and refs stay under ``path``)."""
        self.path = Path(path).expanduser().resolve() if path is not None else find_repo_dir()
        self._verify = verify
        self._db: Optional[sqlite3.Connection] = None
        self._store: Optional[BlockStore] = store

    def __repr__(self) -> str:
        return f"Repo('{self.path}')"

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return (self.path / "index.sqlite").exists()

    def _index(self, create: bool = False) -> Optional[sqlite3.Connection]:
        if self._db is None:
            if not self.exists and not create:
                return None
            self.path.mkdir(parents=True, exist_ok=True)
            self._db = connect(self.path / "index.sqlite", _SCHEMA)
        return self._db

    @property
    def store(self) -> BlockStore:
        if self._store is None:
            self._store = PackStore(self.path / "blocks", verify=self._verify)
        return self._store

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """Hold the repository lock (across processes) with the index open for writing."""
        self.path.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path / "lock")):
            db = self._index(create=True)
            assert db is not None
            yield db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> "Repo":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> List[Tuple]:
        db = self._index()
        return db.execute(sql, args).fetchall() if db is not None else []

    def _tags_by_cid(self) -> Dict[str, List[str]]:
        tags: Dict[str, List[str]] = {}
        for name, target in self._rows("SELECT name, target FROM refs WHERE kind='tag' ORDER BY name"):
            tags.setdefault(target, []).append(name)
        return tags

    def _version_from_row(self, cid: str, seq: int, block: bytes, tags: Dict[str, List[str]]) -> Version:
        version = decode_version(block, CID.parse(cid))
        return replace(version, seq=seq, tags=tuple(tags.get(cid, ())))

    def version(self, cid: Union[CID, str]) -> Version:
        """The indexed version with this exact CID."""
        rows = self._rows("SELECT cid, seq, block FROM versions WHERE cid=?", (str(cid),))
        if not rows:
            raise UnknownRefError(f"No version {cid} in {self.path}.")
        return self._version_from_row(*rows[0], self._tags_by_cid())

    # -- refs ----------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """A short value that changes whenever a version is added or a ref moves (cheap to compute)."""
        state = [list(r) for r in self._rows("SELECT COUNT(*), COALESCE(MAX(rowid), 0) FROM versions")]
        state += [list(r) for r in self._rows("SELECT kind, name, target FROM refs ORDER BY kind, name")]
        return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:32]

    def models(self) -> List[str]:
        """Every model with versions in this repository."""
        return [m for (m,) in self._rows("SELECT DISTINCT model FROM versions ORDER BY model")]

    def tags(self) -> Dict[str, CID]:
        """Every tag and the version it names."""
        return {n: CID.parse(t) for n, t in self._rows("SELECT name, target FROM refs WHERE kind='tag' ORDER BY name")}

    def branches(self, model: Optional[str] = None) -> Dict[str, CID]:
        """Branches as ``{"MODEL/BRANCH": version CID}`` (of one model if given)."""
        rows = self._rows("SELECT name, target FROM refs WHERE kind='branch' ORDER BY name")
        return {n: CID.parse(t) for n, t in rows if model is None or n.split("/", 1)[0] == model}

    def head(self, model: str) -> Tuple[Optional[str], Optional[CID]]:
        """Where ``model`` is: (its branch, or None when detached; its version, or None when new)."""
        rows = self._rows("SELECT target FROM refs WHERE kind='head' AND name=?", (model,))
        if not rows:
            return None, None
        target = rows[0][0]
        if target.startswith("branch:"):
            branch = target[len("branch:") :]
            tip = self._rows("SELECT target FROM refs WHERE kind='branch' AND name=?", (f"{model}/{branch}",))
            return branch, CID.parse(tip[0][0]) if tip else None
        return None, CID.parse(target)

    def _only_model(self, ref: str) -> str:
        models = self.models()
        if len(models) == 1:
            return models[0]
        if not models:
            raise UnknownRefError(f"Unknown ref {ref!r}: the repository at {self.path} has no versions yet.")
        raise AmbiguousRefError(
            f"Ref {ref!r} needs a model: this repository has {', '.join(models)}. "
            f"Write it as MODEL~N / MODEL/BRANCH, or pass model=."
        )

    def _resolve_base(self, ref: str, model: Optional[str]) -> CID:
        if ref == "HEAD":
            model = model or self._only_model(ref)
            _, cid = self.head(model)
            if cid is None:
                raise UnknownRefError(f"Model {model!r} has no versions yet.")
            return cid
        tag = self._rows("SELECT target FROM refs WHERE kind='tag' AND name=?", (ref,))
        if tag:
            return CID.parse(tag[0][0])
        if ref in self.models():
            _, cid = self.head(ref)
            if cid is not None:
                return cid
        seq = _SEQ_RE.match(ref)
        if seq:
            model = model or self._only_model(ref)
            rows = self._rows("SELECT cid FROM versions WHERE model=? AND seq=?", (model, int(seq.group(1))))
            if rows:
                return CID.parse(rows[0][0])
            raise UnknownRefError(f"Model {model!r} has no version {ref}. See `nbversion log {model}`.")
        if "/" in ref:
            rows = self._rows("SELECT target FROM refs WHERE kind='branch' AND name=?", (ref,))
            if rows:
                return CID.parse(rows[0][0])
        branches = [t for n, t in self.branches(model).items() if n.split("/", 1)[1] == ref]
        if len(branches) == 1:
            return branches[0]
        if len(branches) > 1:
            raise AmbiguousRefError(f"Branch {ref!r} exists for several models; write it as MODEL/{ref}.")
        return self._resolve_cid(ref, model)

    def _resolve_cid(self, ref: str, model: Optional[str]) -> CID:
        try:
            cid = CID.parse(ref)
        except InvalidCIDError:
            cid = None
        if cid is not None and cid.codec == DAG_CBOR and self._rows("SELECT 1 FROM versions WHERE cid=?", (str(cid),)):
            return cid
        if len(ref) >= 4 and re.fullmatch(r"[a-z2-7]+", ref):
            rows = self._rows("SELECT cid FROM versions WHERE cid LIKE ? LIMIT 11", (ref + "%",))
            if len(rows) == 1:
                return CID.parse(rows[0][0])
            if len(rows) > 1:
                shown = ", ".join(r[0][:16] + "..." for r in rows[:10])
                raise AmbiguousRefError(f"CID prefix {ref!r} matches several versions: {shown}. Give more characters.")
        if cid is not None:
            raise UnknownRefError(f"No version {cid} in this repository. Import it with `nbversion import FILE.car`.")
        known = sorted(self.tags())
        hint = f" Known tags: {', '.join(known)}." if known else ""
        where = f" for model {model!r}" if model else ""
        see = f"`nbversion log {model}`" if model else "`nbversion log`"
        raise UnknownRefError(f"Unknown ref {ref!r}{where}.{hint} See {see}.")

    def resolve(self, ref: Union[str, CID, Version], model: Optional[str] = None) -> CID:
        """The CID of the version ``ref`` names (see the module docstring for the syntax)."""
        if isinstance(ref, Version):
            ref = ref.cid  # type: ignore[assignment]
        if isinstance(ref, CID):
            if not self._rows("SELECT 1 FROM versions WHERE cid=?", (str(ref),)):
                raise UnknownRefError(f"No version {ref} in this repository.")
            return ref
        if not isinstance(ref, str) or not ref.strip():
            raise UnknownRefError(f"Unknown ref {ref!r}.")
        match = _REF_RE.match(ref.strip())
        assert match is not None
        base, back = match.group("base"), match.group("back")
        cid = self._resolve_base(base, model)
        steps = 0 if back is None else int(back or 1)
        for i in range(steps):
            parents = self.version(cid).parents
            if not parents:
                raise UnknownRefError(f"{ref!r} goes back past the first version ({i} steps back is the root).")
            cid = parents[0]
        return cid

    def show(self, ref: Union[str, CID, Version], model: Optional[str] = None) -> Version:
        """The version ``ref`` names, with all it records."""
        return self.version(self.resolve(ref, model))

    def manifest(self, ref: Union[str, CID, Version], model: Optional[str] = None) -> Manifest:
        """The tensor manifest of the version ``ref`` names."""
        version = ref if isinstance(ref, Version) and ref.cid is not None else self.show(ref, model)
        return decode_manifest(self.store.get(version.manifest))

    # -- commit --------------------------------------------------------------------------------

    def commit(
        self,
        tensors: Mapping[str, Any],
        model: str,
        message: str = "",
        metrics: Optional[Mapping[str, float]] = None,
        *,
        parents: Optional[Sequence[Union[str, CID]]] = None,
        branch: Optional[str] = None,
        author: Optional[str] = None,
        framework: str = "numpy",
        software: Optional[Mapping[str, str]] = None,
        architecture: Any = None,
        context: Optional[Mapping[str, Any]] = None,
        progress: Progress = None,
    ) -> Version:
        """Store ``tensors`` as a new version of ``model`` and move its branch to it.

        The parent is the model's current version unless ``parents`` says otherwise. Everything
        is validated before anything is written; blocks are durable before any ref moves.
        """
        check_name(model, "Model")
        if not isinstance(message, str):
            raise MetadataError(f"The message must be text, got {type(message).__name__}.")
        clean_metrics = check_metrics(dict(metrics or {}))
        clean_context = check_data(dict(context or {}), "context")
        clean_arch = check_data(architecture, "architecture")
        clean_software = check_data(
            {"python": platform.python_version(), "numpy": np.__version__, "nbversion": __version__, **(software or {})},
            "software",
        )
        items = prepare(tensors)
        if branch is not None:
            check_name(branch, "Branch")
        started = time.perf_counter()
        with self._locked() as db:
            head_branch, head_cid = self.head(model)
            parent_cids = (
                [self.resolve(p, model) for p in parents]
                if parents is not None
                else ([head_cid] if head_cid is not None else [])
            )
            target_branch = self._choose_branch(model, parent_cids, branch, head_branch)
            entries: List[TensorEntry] = []
            new_tensors = 0
            with self.store.writer() as writer:
                roots = build_files(
                    [array.reshape(-1).view(np.uint8) for _, array in items], writer.put, writer.put_many, progress
                )
                for (name, array), root in zip(items, roots):
                    new_tensors += writer.is_new(root.cid)
                    entries.append(TensorEntry(name, dtype_name(array.dtype), tuple(array.shape), array.nbytes, root.cid))
                manifest = Manifest(tuple(entries))
                manifest_block = ipld.encode(manifest.to_ipld())
                manifest_cid = CID.hash(DAG_CBOR, manifest_block)
                writer.put(manifest_cid, manifest_block)
                (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM versions WHERE model=?", (model,)).fetchone()
                version = Version(
                    model=model,
                    parents=tuple(parent_cids),
                    manifest=manifest_cid,
                    message=message,
                    metrics=clean_metrics,
                    time=_now(),
                    author=author if author is not None else os.environ.get("NBVERSION_AUTHOR") or _user(),
                    framework=framework,
                    software=clean_software,
                    architecture=clean_arch,
                    context=clean_context,
                )
                block = ipld.encode(version.to_ipld())
                cid = CID.hash(DAG_CBOR, block)
                writer.put(cid, block)
                written = writer.bytes_written
            # Every block is durable now; only then do the index and refs change (atomically).
            with transaction(db):
                db.execute("INSERT OR IGNORE INTO versions VALUES (?, ?, ?, ?)", (str(cid), model, last + 1, block))
                (seq,) = db.execute("SELECT seq FROM versions WHERE cid=?", (str(cid),)).fetchone()
                self._set_ref(db, "branch", f"{model}/{target_branch}", str(cid))
                self._set_ref(db, "head", model, f"branch:{target_branch}")
        return replace(
            version,
            cid=cid,
            seq=seq,
            stats={
                "tensors": len(entries),
                "new_tensors": new_tensors,
                "reused_tensors": len(entries) - new_tensors,
                "bytes": manifest.nbytes,
                "bytes_written": written,
                "seconds": time.perf_counter() - started,
            },
        )

    def _choose_branch(
        self, model: str, parents: Sequence[CID], requested: Optional[str], head_branch: Optional[str]
    ) -> str:
        """The branch a new version goes on: the one asked for, else the branch whose tip is its
        first parent (the HEAD's first), else a new branch named after that parent."""
        tips = {name.split("/", 1)[1]: tip for name, tip in self.branches(model).items()}
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
        for name in sorted(tips, key=lambda n: (n != DEFAULT_BRANCH, n)):
            if tips[name] == first:
                return name
        base = f"from-{self.version(first).label}" if first is not None else "root"
        name, n = base, 2
        while name in tips:
            name, n = f"{base}-{n}", n + 1
        return name

    def checkout(self, ref: Union[str, CID, Version], model: Optional[str] = None) -> Version:
        """Make ``ref`` the model's current version: the parent of its next commit.

        HEAD follows a branch when ``ref`` names one or is the tip of one; otherwise it is
        detached, and the next commit starts a new branch (``from-vN``).
        """
        cid = self.resolve(ref, model)
        version = self.version(cid)
        model = version.model
        with self._locked() as db:
            head_branch, _ = self.head(model)
            tips = {name.split("/", 1)[1]: tip for name, tip in self.branches(model).items()}
            named = ref.split("/", 1)[1] if isinstance(ref, str) and ref.startswith(model + "/") else ref
            if isinstance(named, str) and tips.get(named) == cid:
                target = f"branch:{named}"
            elif head_branch is not None and tips.get(head_branch) == cid:
                target = f"branch:{head_branch}"
            else:
                on = [n for n in sorted(tips, key=lambda n: (n != DEFAULT_BRANCH, n)) if tips[n] == cid]
                target = f"branch:{on[0]}" if on else str(cid)
            self._set_ref(db, "head", model, target)
        return version

    @staticmethod
    def _set_ref(db: sqlite3.Connection, kind: str, name: str, target: str) -> None:
        db.execute("INSERT OR REPLACE INTO refs VALUES (?, ?, ?)", (kind, name, target))

    # -- reading -------------------------------------------------------------------------------

    def read_tensors(self, entries: Sequence[TensorEntry]) -> Dict[str, np.ndarray]:
        """Tensors' values, read straight into new arrays (all in one parallel batch) and verified."""
        arrays: Dict[str, np.ndarray] = {}
        files = []
        for entry in entries:
            dtype = dtype_from_name(entry.dtype)
            if math.prod(entry.shape) * dtype.itemsize != entry.size:
                raise FormatError(f"Tensor {entry.name!r}: shape {entry.shape} of {entry.dtype} is not {entry.size} bytes.")
            leaves = file_leaves(entry.data, self.store.get, self.store.size)
            if sum(n for _, n in leaves) != entry.size:
                raise FormatError(f"Tensor {entry.name!r}: its data is not {entry.size} bytes long.")
            array = arrays[entry.name] = np.empty(entry.shape, dtype=dtype)
            if entry.size:
                files.append((leaves, memoryview(array.reshape(-1).view(np.uint8))))
        self.store.readinto(files)
        return arrays

    def load(
        self,
        ref: Union[str, CID, Version],
        model: Optional[str] = None,
        names: Optional[Sequence[str]] = None,
        lazy: bool = False,
    ) -> Mapping[str, np.ndarray]:
        """The tensors of a version as ``{name: ndarray}`` (only ``names`` if given).

        With ``lazy=True`` the mapping reads each tensor on first access instead.
        """
        manifest = self.manifest(ref, model)
        entries = manifest.by_name()
        if names is not None:
            unknown = [n for n in names if n not in entries]
            if unknown:
                raise UnknownRefError(f"No tensor {', '.join(map(repr, unknown))} in that version.")
            entries = {n: entries[n] for n in names}
        return LazyTensors(self, entries) if lazy else self.read_tensors(list(entries.values()))

    def history(self, model: Optional[str] = None, ref: Union[str, CID, None] = None) -> List[Version]:
        """The lineage of ``model`` (or of ``ref``): its current version, then first parents to the root."""
        start = self.resolve(ref if ref is not None else "HEAD", model)
        rows = {c: (s, b) for c, s, b in self._rows("SELECT cid, seq, block FROM versions")}
        tags = self._tags_by_cid()
        out: List[Version] = []
        cid: Optional[CID] = start
        while cid is not None and str(cid) in rows:
            seq, block = rows[str(cid)]
            version = self._version_from_row(str(cid), seq, block, tags)
            out.append(version)
            cid = version.parents[0] if version.parents else None
        return out

    def log(self, model: Optional[str] = None) -> List[Version]:
        """Every version (of ``model`` if given), newest first, from the index alone."""
        tags = self._tags_by_cid()
        if model is None:
            rows = self._rows("SELECT cid, seq, block FROM versions ORDER BY rowid DESC")
        else:
            rows = self._rows("SELECT cid, seq, block FROM versions WHERE model=? ORDER BY seq DESC", (model,))
        return [self._version_from_row(c, s, b, tags) for c, s, b in rows]

    def diff(self, a: Union[str, CID], b: Union[str, CID], model: Optional[str] = None) -> List[TensorDiff]:
        """Per tensor, how version ``b`` differs from version ``a``."""
        ma, mb = self.manifest(a, model).by_name(), self.manifest(b, model).by_name()
        out: List[TensorDiff] = []
        for name in sorted(set(ma) | set(mb)):
            ea, eb = ma.get(name), mb.get(name)
            if ea is None or eb is None:
                status = "added" if ea is None else "removed"
                out.append(TensorDiff(name, status, ea and ea.shape, eb and eb.shape))
            elif ea.data == eb.data and ea.dtype == eb.dtype and ea.shape == eb.shape:
                out.append(TensorDiff(name, "unchanged", ea.shape, eb.shape, 0.0, 0.0))
            elif ea.shape != eb.shape or ea.dtype != eb.dtype:
                out.append(TensorDiff(name, "retyped", ea.shape, eb.shape))
            else:
                pair = self.read_tensors([ea]), self.read_tensors([eb])
                l2, max_abs = _change(pair[0][name], pair[1][name])
                out.append(TensorDiff(name, "changed", ea.shape, eb.shape, l2, max_abs))
        return out

    # -- tags ----------------------------------------------------------------------------------

    def tag(
        self, name: str, ref: Union[str, CID] = "HEAD", model: Optional[str] = None, *, force: bool = False
    ) -> CID:
        """Name a version (default: the model's current one). Tags do not move unless ``force``."""
        check_name(name, "Tag")
        with self._locked() as db:
            if name in self.models():
                raise MetadataError(f"Tag {name!r} would hide the model of the same name; choose another.")
            cid = self.resolve(ref, model)
            old = self.tags().get(name)
            if old is not None and old != cid and not force:
                raise MetadataError(f"Tag {name!r} already names {old}; use force=True (--force) to move it.")
            self._set_ref(db, "tag", name, str(cid))
        return cid

    def untag(self, name: str) -> None:
        """Remove a tag (the version stays)."""
        with self._locked() as db:
            if name not in self.tags():
                raise UnknownRefError(f"No tag {name!r}. Known tags: {', '.join(self.tags()) or 'none'}.")
            db.execute("DELETE FROM refs WHERE kind='tag' AND name=?", (name,))

    # -- walking DAGs --------------------------------------------------------------------------

    def version_blocks(self, version: Version, get: Optional[Callable[[CID], bytes]] = None) -> List[CID]:
        """The blocks a version's own content uses: its block, its manifest, every tensor's DAG."""
        get = get or self.store.get
        assert version.cid is not None
        blocks = [version.cid, version.manifest]
        for entry in decode_manifest(get(version.manifest)).tensors:
            nodes: List[CID] = []
            leaves = file_leaves(entry.data, get, lambda c: 0, nodes)
            blocks += nodes + [c for c, _ in leaves]
        return blocks

    def _dag(self, root: CID, get: Callable[[CID], bytes]) -> Iterator[Tuple[CID, bytes]]:
        """Every block reachable from ``root``, depth first in link order, each once."""
        seen: Set[CID] = set()
        stack = [root]
        while stack:
            cid = stack.pop()
            if cid in seen:
                continue
            seen.add(cid)
            block = get(cid)
            yield cid, block
            stack.extend(reversed(ipld.block_links(cid, block)))

    # -- CAR -----------------------------------------------------------------------------------

    def export_car(
        self, ref: Union[str, CID], path: Union[str, os.PathLike], model: Optional[str] = None, progress: Progress = None
    ) -> Tuple[CID, int]:
        """Write the version ``ref`` and every block it reaches (its history too) as a CAR v1.

        Returns (root CID, bytes written). The file appears only when complete.
        """
        root = self.resolve(ref, model)
        path = Path(path)
        tmp = path.with_name(f".{path.name}.partial")

        def blocks() -> Iterator[Tuple[CID, bytes]]:
            for cid, block in self._dag(root, self.store.get):
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

    def import_car(self, path: Union[str, os.PathLike], progress: Progress = None) -> List[Version]:
        """Add the versions in a CAR file (every block verified; nothing changes if any is bad).

        A model that had no versions gets a ``main`` branch at the imported root; an existing
        model's refs do not move (tag or check out the imported CID to use it).
        """
        imported: List[Version] = []
        with self._locked() as db, open(path, "rb") as stream:
            roots, blocks = read_car(stream)
            if not roots:
                raise CarError(f"{path} names no root version.")
            writer = self.store.writer()
            try:
                for cid, block in blocks:
                    writer.put(cid, block)
                    if progress is not None:
                        progress(len(block))
                reach: Set[CID] = set()
                versions: Dict[CID, Version] = {}
                pending = list(roots)
                while pending:
                    cid = pending.pop()
                    if cid in versions:
                        continue
                    if cid.codec != DAG_CBOR or not writer.has(cid):
                        raise CarError(f"{path} lacks version {cid} that its history needs.")
                    version = decode_version(writer.get(cid), cid)
                    try:
                        blocks_used = self.version_blocks(version, writer.get)
                    except KeyError as exc:
                        raise CarError(f"{path} is incomplete: {exc}") from exc
                    missing = [c for c in blocks_used if c.codec == RAW and not writer.has(c)]
                    if missing:
                        raise CarError(f"{path} is incomplete: block {missing[0]} of version {cid} is absent.")
                    for entry in decode_manifest(writer.get(version.manifest)).tensors:
                        dtype_from_name(entry.dtype)
                    reach.update(blocks_used)
                    versions[cid] = version
                    pending.extend(version.parents)
                writer.commit(keep=reach)
            except BaseException:
                writer.abort()
                raise
            # Index parents before children so sequence numbers follow history.
            order = _topological(versions)
            with transaction(db):
                for cid in order:
                    version = versions[cid]
                    if db.execute("SELECT 1 FROM versions WHERE cid=?", (str(cid),)).fetchone():
                        continue
                    (last,) = db.execute(
                        "SELECT COALESCE(MAX(seq), 0) FROM versions WHERE model=?", (version.model,)
                    ).fetchone()
                    db.execute(
                        "INSERT INTO versions VALUES (?, ?, ?, ?)",
                        (str(cid), version.model, last + 1, self.store.get(cid)),
                    )
                    imported.append(replace(version, seq=last + 1))
                for root in roots:
                    model = versions[root].model
                    if not db.execute("SELECT 1 FROM refs WHERE kind='head' AND name=?", (model,)).fetchone():
                        self._set_ref(db, "branch", f"{model}/{DEFAULT_BRANCH}", str(root))
                        self._set_ref(db, "head", model, f"branch:{DEFAULT_BRANCH}")
        return imported

    def cat(self, cid: Union[str, CID]) -> Iterator[bytes]:
        """The content of a UnixFS file (or the bytes of any other block), verified, in pieces."""
        cid = CID.parse(cid)
        if cid.codec == DAG_CBOR:
            yield self.store.get(cid)
            return
        for leaf, _ in file_leaves(cid, self.store.get, self.store.size):
            yield self.store.get(leaf)

    # -- maintenance ---------------------------------------------------------------------------

    def fsck(self, progress: Progress = None) -> FsckReport:
        """Re-hash every block (sha2-256) and check every version and ref; name what is wrong."""
        report = FsckReport()
        if not self.exists:
            return report
        with self._locked():
            corrupt, missing_rows = self.store.verify_all(progress or (lambda n: None))
            bad = {c: "corrupt" for c in corrupt}
            bad.update({c: "missing" for c in missing_rows})
            report.blocks_checked = sum(1 for _ in self.store.cids())
            users: Dict[CID, List[str]] = {}
            for version in self.log():
                report.versions_checked += 1
                label = f"{version.model} {version.label} ({version.cid})"
                try:
                    used = self.version_blocks(version, self._tolerant_get)
                except (NbversionError, KeyError) as exc:
                    report.problems.append(f"{label}: {exc}")
                    continue
                for cid in used:
                    if cid not in bad and not self.store.has(cid):
                        bad[cid] = "missing"
                    if cid in bad:
                        users.setdefault(cid, []).append(label)
                for parent in version.parents:
                    if not self._rows("SELECT 1 FROM versions WHERE cid=?", (str(parent),)):
                        report.problems.append(f"{label}: parent {parent} is not in the repository.")
            for cid, state in bad.items():
                (report.corrupt if state == "corrupt" else report.missing)[cid] = users.get(cid, [])
            for kind, name, target in self._rows("SELECT kind, name, target FROM refs"):
                if not target.startswith("branch:") and not self._rows("SELECT 1 FROM versions WHERE cid=?", (target,)):
                    report.problems.append(f"{kind} {name} points at {target}, which is not a version here.")
        return report

    def _tolerant_get(self, cid: CID) -> bytes:
        """``store.get`` for fsck: tree nodes that fail to read raise KeyError, leaves are skipped."""
        try:
            return self.store.get(cid)
        except NbversionError as exc:
            raise KeyError(f"block {cid} cannot be read: {exc}") from exc

    def gc(self, progress: Progress = None) -> Tuple[int, int]:
        """Drop blocks no version uses and reclaim pack space: (blocks removed, bytes freed)."""
        if not self.exists:
            return 0, 0
        with self._locked():
            live: Set[CID] = set()
            for version in self.log():
                live.update(self.version_blocks(version))
            return self.store.retain(live, progress or (lambda n: None))


class LazyTensors(Mapping[str, np.ndarray]):
    """A version's tensors, each read from the store on first access."""

    def __init__(self, repo: Repo, entries: Dict[str, TensorEntry]) -> None:
        self._repo = repo
        self.entries = entries
        self._cache: Dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self._repo.read_tensors([self.entries[name]])[name]
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}: {e.dtype}{list(e.shape)}" for n, e in self.entries.items())
        return f"LazyTensors({{{shown}}})"


def _change(a: np.ndarray, b: np.ndarray) -> Tuple[float, float]:
    """L2 norm and max abs of ``b - a``, computed in float64 slices to bound memory."""
    fa, fb = a.reshape(-1), b.reshape(-1)
    total = 0.0
    peak = 0.0
    step = 1 << 20
    for i in range(0, fa.size, step):
        d = fb[i : i + step].astype(np.complex128 if np.iscomplexobj(fa) else np.float64) - fa[i : i + step]
        mag = np.abs(d)
        total += float(np.dot(mag, mag))
        if mag.size:
            peak = max(peak, float(mag.max()))
    return math.sqrt(total), peak


def _topological(versions: Dict[CID, Version]) -> List[CID]:
    order: List[CID] = []
    done: Set[CID] = set()
    for start in versions:
        stack = [(start, False)]
        while stack:
            cid, expanded = stack.pop()
            if cid in done or cid not in versions:
                continue
            if expanded:
                done.add(cid)
                order.append(cid)
                continue
            stack.append((cid, True))
            stack.extend((p, False) for p in versions[cid].parents if p not in done)
    return order


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
