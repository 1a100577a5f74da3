"""Files and folders on disk as content: add one, list it, restore it, check a copy against it.

A path is stored as ``ipfs add -r --cid-version=1 --raw-leaves PATH`` would store it (Kubo's
defaults): a file is a UnixFS file (:mod:`..formats.unixfs`), a folder a UnixFS directory
(:mod:`..formats.unixfs_dir`), so its CID is the one Kubo gives the same folder. As Kubo does
without ``--hidden``, entries whose names start with ``.`` are skipped (the path given itself
is always taken). Symbolic links, and anything that is neither a file nor a folder, are refused
with a message naming them: Kubo would store a link as a link, which nbversion does not restore.

Files are streamed through the store's block writer a batch at a time (each mapped, never read
whole), so a folder never has to fit in memory. Restoring checks everything first (the version's
blocks, and that no file would be overwritten with different bytes unless ``force``), writes every
file under a temporary name beside its place, and only then renames them in; on any failure
the folder is left as it was.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import secrets
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

from ..errors import FolderError, FormatError, NbversionError, RestoreConflictError, UnknownRefError
from ..formats.cid import CID, DAG_CBOR
from ..formats.unixfs import FileLink, build_files, file_leaves
from ..formats.unixfs_dir import MAX_DEPTH, DirLink, Entry, build_directory, name_problem, walk
from ..stores.base import BlockWriter
from .files import file_cid

if TYPE_CHECKING:
    from . import Repo

PathLike = Union[str, "os.PathLike[str]"]
BATCH_BYTES = 64 << 20  # files hashed together: enough to keep the hashing pool busy
BATCH_FILES = 256  # files open (mapped) at once
SMALL_FILE = 1 << 20  # read into memory rather than mapped


@dataclass(frozen=True)
class PathContent:
    """What :func:`add_path` stored: the root CID, the bytes of every file added up, how many
    files, and whether the path was a folder."""

    cid: CID
    size: int
    files: int
    is_dir: bool


@dataclass(frozen=True)
class VerifyReport:
    """How a local path differs from a stored one, as paths relative to it ('/'-separated;
    folders end in '/'). ``files``: how many files the stored version holds."""

    missing: List[str] = field(default_factory=list)
    extra: List[str] = field(default_factory=list)
    changed: List[str] = field(default_factory=list)
    files: int = 0

    @property
    def ok(self) -> bool:
        """Whether the local path holds exactly the stored files and folders."""
        return not (self.missing or self.extra or self.changed)


# -- adding --------------------------------------------------------------------------------------


def _kind(path: str) -> str:
    """'file' or 'dir' for what add_path takes, else :class:`FolderError` naming the path."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise FolderError(f"{path}: no such file or folder.") from None
    if stat.S_ISLNK(mode):
        raise FolderError(
            f"{path} is a symbolic link; nbversion stores files and folders only (Kubo would store the "
            "link itself, not what it points to). Replace it with a copy, or move it out of the folder."
        )
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    raise FolderError(f"{path} is neither a file nor a folder (a device, socket or pipe); it cannot be stored.")


def _listing(folder: str, hidden: bool) -> List[Tuple[str, str, str]]:
    """(name, path, 'file'|'dir') of a folder's entries, dot-files skipped unless ``hidden``."""
    out = []
    for name in os.listdir(folder):
        if name.startswith(".") and not hidden:
            continue
        path = os.path.join(folder, name)
        problem = name_problem(name)
        if problem is not None:
            raise FolderError(f"{path}: the name {name!r} cannot be stored: {problem}. Rename it.")
        out.append((name, path, _kind(path)))
    return out


class _Batch:
    """Files waiting to be hashed and stored together (one build_files call)."""

    def __init__(self, writer: BlockWriter) -> None:
        self.writer = writer
        self.paths: List[str] = []
        self.buffers: List[object] = []
        self.maps: List[mmap.mmap] = []
        self.bytes = 0
        self.done: Dict[str, FileLink] = {}

    def add(self, path: str) -> None:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size >= SMALL_FILE:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                self.maps.append(mapped)
                self.buffers.append(memoryview(mapped))
            else:
                self.buffers.append(f.read())
        self.paths.append(path)
        self.bytes += size
        if self.bytes >= BATCH_BYTES or len(self.paths) >= BATCH_FILES:
            self.flush()

    def flush(self) -> None:
        if not self.paths:
            return
        try:
            roots = build_files(self.buffers, self.writer.put, self.writer.put_many)  # type: ignore[arg-type]
            self.done.update(zip(self.paths, roots))
        finally:
            for buffer in self.buffers:
                if isinstance(buffer, memoryview):
                    buffer.release()
            for mapped in self.maps:
                try:
                    mapped.close()
                except BufferError:  # a writer still holds a view: the map closes when it lets go
                    pass
            self.paths, self.buffers, self.maps, self.bytes = [], [], [], 0


def add_path(writer: BlockWriter, path: PathLike, *, hidden: bool = False) -> PathContent:
    """Store the file or folder at ``path`` through ``writer``, as Kubo's ``ipfs add -r
    --cid-version=1 --raw-leaves`` would (dot-files skipped unless ``hidden``)."""
    top = os.fspath(path)
    kind = _kind(top)
    batch = _Batch(writer)
    if kind == "file":
        batch.add(top)
        batch.flush()
        root = batch.done[top]
        return PathContent(root.cid, root.filesize, 1, False)
    # Two passes over the tree: files first (batched across folders), then folders bottom up.
    order: List[Tuple[str, List[Tuple[str, str, str]]]] = []  # folders, parents before children
    pending = [(top, 0)]
    while pending:
        folder, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise FolderError(f"{folder} is nested more than {MAX_DEPTH} folders deep; nbversion stores no deeper.")
        entries = _listing(folder, hidden)
        order.append((folder, entries))
        for _, sub, sub_kind in entries:
            if sub_kind == "file":
                batch.add(sub)
            else:
                pending.append((sub, depth + 1))
    batch.flush()
    roots = batch.done
    for folder, entries in reversed(order):  # children before parents
        links = [DirLink(name, roots[sub].cid, roots[sub].tsize) for name, sub, _ in entries]
        made = build_directory(links, writer.put)
        roots[folder] = FileLink(made.cid, made.tsize, sum(roots[sub].filesize for _, sub, _ in entries))
    files = sum(1 for _, entries in order for _, _, k in entries if k == "file")
    return PathContent(roots[top].cid, roots[top].filesize, files, True)


# -- reading -------------------------------------------------------------------------------------


def _entries(repo: "Repo", cid: Union[str, CID]) -> List[Entry]:
    return walk(CID.parse(cid), repo.store.get, repo.store.size)


def list_path(repo: "Repo", cid: Union[str, CID]) -> List[Tuple[str, int, CID]]:
    """Every file under a stored folder (or the one stored file, with path '') as (relative
    path, length, file CID), in path order; checked as :func:`..formats.unixfs_dir.walk` says."""
    return [(e.path, e.size, e.cid) for e in _entries(repo, cid) if not e.is_dir]


def _local(path: str, hidden: bool = False) -> Dict[str, str]:
    """What is at ``path``, as add_path would see it: {relative path: 'file'|'dir'|'other'}, folders
    with a trailing '/' ('other': a link, a device, a socket or a pipe)."""
    found: Dict[str, str] = {}
    pending = [("", path)]
    while pending:
        rel, folder = pending.pop()
        for name in sorted(os.listdir(folder)):
            if name.startswith(".") and not hidden:
                continue
            full = os.path.join(folder, name)
            sub = f"{rel}{name}"
            mode = os.lstat(full).st_mode
            if stat.S_ISDIR(mode):
                found[sub + "/"] = "dir"
                pending.append((sub + "/", full))
            else:
                found[sub] = "file" if stat.S_ISREG(mode) else "other"
    return found


def verify_path(repo: "Repo", cid: Union[str, CID], path: PathLike) -> VerifyReport:
    """Compare the local file or folder at ``path`` with the stored one, file by file: each local
    file is hashed as the store would hash it and its CID compared (sizes first, so a file of
    another length is not hashed). Dot-files are ignored, as :func:`add_path` skips them."""
    local_path = os.fspath(path)
    entries = _entries(repo, cid)
    files = sum(1 for e in entries if not e.is_dir)
    if len(entries) == 1 and not entries[0].is_dir:  # a stored file
        entry = entries[0]
        if not os.path.lexists(local_path):
            return VerifyReport(missing=[local_path], files=1)
        same = os.path.isfile(local_path) and not os.path.islink(local_path) and _same(local_path, entry)
        return VerifyReport(changed=[] if same else [local_path], files=1)
    if not os.path.isdir(local_path) or os.path.islink(local_path):
        return VerifyReport(missing=[local_path + "/"], files=files)
    stored = {(e.path + "/" if e.is_dir else e.path): e for e in entries if e.path}
    local = _local(local_path)
    report = VerifyReport(files=files)
    for rel, entry in stored.items():
        kind = local.get(rel)
        if kind is None:
            twin = rel[:-1] if entry.is_dir else rel + "/"
            (report.changed if twin in local else report.missing).append(rel)
        elif not entry.is_dir and (kind != "file" or not _same(os.path.join(local_path, rel), entry)):
            report.changed.append(rel)
    for rel in local:
        twin = rel[:-1] if rel.endswith("/") else rel + "/"
        if rel not in stored and twin not in stored:
            report.extra.append(rel)
    for part in (report.missing, report.extra, report.changed):
        part.sort()
    return report


def _same(path: str, entry: Entry) -> bool:
    return os.path.getsize(path) == entry.size and file_cid(path) == entry.cid


# -- restoring -----------------------------------------------------------------------------------


def restore_path(repo: "Repo", cid: Union[str, CID], dest: PathLike, *, force: bool = False) -> None:
    """Write the stored file or folder ``cid`` at ``dest``; files already there with the same
    bytes are left alone, files that differ are refused (:class:`RestoreConflictError`, nothing
    written) unless ``force``. Files in ``dest`` the version does not hold are left alone.
    Everything is checked first (:func:`check_restore_path`) and written under temporary names,
    then renamed into place."""
    to_make, files = _restore_plan(repo, cid, dest, force)
    _apply(repo, to_make, files)


def check_restore_path(repo: "Repo", cid: Union[str, CID], dest: PathLike, *, force: bool = False) -> None:
    """Raise now what :func:`restore_path` would refuse, writing nothing: a file there that
    differs (unless ``force``), a file where a folder goes or the reverse, a symbolic link, no
    folder to put it in, or a block of it missing (so a caller can check every item before
    changing any)."""
    _restore_plan(repo, cid, dest, force)


def _restore_plan(
    repo: "Repo", cid: Union[str, CID], dest: PathLike, force: bool
) -> Tuple[List[str], List[Tuple[str, List[Tuple[CID, int]], int]]]:
    """The folders to make and the files to write (place, leaves, size), every block found."""
    target = os.fspath(dest)
    entries = _entries(repo, CID.parse(cid))
    places = {e.path: os.path.join(target, *e.path.split("/")) if e.path else target for e in entries}
    if not os.path.isdir(os.path.dirname(os.path.abspath(target))):
        raise RestoreConflictError(f"Cannot write {target}: the folder it goes in does not exist.")
    to_make, to_write = _plan(entries, places, force)
    leaves = {e.cid: file_leaves(e.cid, repo.store.get, repo.store.size, e.size) for e in to_write}  # all here?
    return to_make, [(places[e.path], leaves[e.cid], e.size) for e in to_write]


def _plan(entries: List[Entry], places: Dict[str, str], force: bool) -> Tuple[List[str], List[Entry]]:
    """The folders to make and the files to write; :class:`RestoreConflictError` for a file that
    differs (unless ``force``), a file where a folder goes or the reverse, or a symbolic link."""
    to_make: List[str] = []
    to_write: List[Entry] = []
    conflicts: List[str] = []
    for entry in entries:
        place = places[entry.path]
        if os.path.islink(place):
            raise RestoreConflictError(f"{place} is a symbolic link; nbversion does not write through links.")
        if not os.path.lexists(place) and entry.is_dir:
            to_make.append(place)
        elif not os.path.lexists(place):
            to_write.append(entry)
        elif entry.is_dir != os.path.isdir(place):
            there, wanted = ("file", "folder") if entry.is_dir else ("folder", "file")
            raise RestoreConflictError(f"{place} is a {there} where the version has a {wanted}; move it away first.")
        elif not entry.is_dir and not _same(place, entry):
            conflicts.append(place)
            to_write.append(entry)
    if conflicts and not force:
        more = f"\n  ... and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
        raise RestoreConflictError(
            f"{len(conflicts)} file(s) differ from the version and would be overwritten (nothing was written):"
            + "".join(f"\n  {c}" for c in conflicts[:10]) + f"{more}\nUse force=True (--force) to overwrite them."
        )
    return to_make, to_write


def _apply(repo: "Repo", to_make: List[str], files: List[Tuple[str, List[Tuple[CID, int]], int]]) -> None:
    """Make the folders, write each file under a temporary name beside its place, then rename them
    all in (what was there kept aside until the end); on any failure, undo it all."""
    made: List[str] = []
    parts: List[Tuple[str, str]] = []
    moved: List[Tuple[str, str, Optional[str]]] = []  # (part, place, what was there, set aside)
    try:
        for place in to_make:
            os.mkdir(place)
            made.append(place)
        for place, leaves, size in files:
            folder, name = os.path.split(place)
            part = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.nbversion-part")
            parts.append((part, place))
            _write(repo, part, leaves, size)
        for part, place in parts:
            aside = part + "-old" if os.path.lexists(place) else None
            if aside is not None:
                os.replace(place, aside)
            moved.append((part, place, aside))
            os.replace(part, place)
    except BaseException:
        for part, place, aside in reversed(moved):
            if os.path.lexists(place):
                os.replace(place, part)
            if aside is not None:
                os.replace(aside, place)
        for part, _ in parts:
            if os.path.lexists(part):
                os.unlink(part)
        for place in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(place)
        raise
    for _, _, aside in moved:
        if aside is not None:
            os.unlink(aside)


def _write(repo: "Repo", part: str, leaves: List[Tuple[CID, int]], size: int) -> None:
    """A file's content at ``part`` (created new), each block verified by the store as read."""
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as out:
        written = 0
        for cid, length in leaves:
            data = repo.store.get(cid)
            if len(data) != length:
                raise FormatError(f"Block {cid} is {len(data):,} bytes where its file says {length:,}.")
            out.write(data)
            written += length
        if written != size:
            raise FormatError(f"A file of {size:,} bytes read back as {written:,}.")


# -- the verify verb -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    """What :func:`verify` compared: the stored content (its CID, and the data version and item
    it came from, if any) and the report."""

    report: VerifyReport
    cid: CID
    version: Optional[str] = None  # the data version's label, e.g. "digits v2"
    item: Optional[str] = None


def verify(repo: "Repo", ref: Union[str, CID], path: PathLike, item: Optional[str] = None) -> Verified:
    """Check the local file or folder ``path`` against a stored one, file by file (``quilt3
    verify``). ``ref`` names a data version, or is the CID of a UnixFS file or folder itself. Of a
    data version's file and folder items, the one checked is ``item`` if given, else the one named
    like ``path``'s last part, else the only folder item (or the only file or folder item)."""
    text = str(ref).strip()
    try:
        cid: Optional[CID] = CID.parse(text)
    except NbversionError:
        cid = None
    if cid is not None and cid.codec != DAG_CBOR:  # a UnixFS file or folder, named by its CID
        return Verified(verify_path(repo, cid, path), cid)
    from .data import data_manifest, data_version  # (data's items use this module)

    found = data_version(repo, ref)
    entries = [e for e in data_manifest(repo, found).entries if e.type in ("file", "folder")]
    base = os.path.basename(os.path.normpath(os.fspath(path)))
    folders = [e for e in entries if e.type == "folder"]
    chosen = [e for e in entries if e.name == (item or base)]
    if not chosen and not item:
        chosen = folders if len(folders) == 1 else entries if len(entries) == 1 else []
    label = f"{found.model} {found.label}"
    if len(chosen) != 1:
        names = ", ".join(repr(e.name) for e in entries) or "none"
        wanted = f"no file or folder item {item!r}" if item else f"no item named {base!r} and not exactly one folder"
        raise UnknownRefError(f"{label} has {wanted}; its file and folder items: {names}. Name one with --item.")
    return Verified(verify_path(repo, chosen[0].data, path), chosen[0].data, label, chosen[0].name)
