"""Reading versions back: a version's record, its manifest, and its tensors (eager or lazy).

Tensors are read straight into new (64-byte aligned) arrays, all in one parallel batch, every
block verified.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Dict, Iterator, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import FormatError, UnknownRefError
from ..formats.cid import CID
from ..formats.manifests import ManifestTree
from ..formats.records import Manifest, TensorEntry, Version
from ..formats.tensors import dtype_from_name, empty_aligned
from ..formats.unixfs import file_leaves
from .fetch import fetching_get, locate, read_with_remote
from .refs import Ref, resolve

if TYPE_CHECKING:
    from . import Repo


def version(repo: "Repo", cid: Union[CID, str]) -> Version:
    """The indexed version with this exact CID."""
    return repo.index.version(cid)


def show(repo: "Repo", ref: Ref, model: Optional[str] = None) -> Version:
    """The version ``ref`` names, with all it records."""
    return repo.index.version(resolve(repo, ref, model))


def manifest(repo: "Repo", ref: Ref, model: Optional[str] = None) -> Manifest:
    """The tensor manifest of the version ``ref`` names (a Version is used as it is)."""
    return manifest_tree(repo, ref, model).manifest()


def manifest_tree(repo: "Repo", ref: Ref, model: Optional[str] = None) -> ManifestTree:
    """The manifest of the version ``ref`` names, read only as far as asked (its root now, a shard
    when one of its tensors is asked for: see :mod:`nbversion.formats.manifests`)."""
    found = ref if isinstance(ref, Version) and ref.cid is not None else locate(repo, ref, model)
    if found.kind != "weights":  # a data version: a clear error, not a format one
        from .data import require_kind  # (data builds on this module)

        require_kind(found, "weights")
    return ManifestTree(found.manifest, fetching_get(repo))  # a partial version's shards: fetched (.fetch)


def read_tensors(
    repo: "Repo",
    entries: Sequence[TensorEntry],
    after: Optional[Callable[[str, int, memoryview, Sequence[Tuple[int, bytes]]], None]] = None,
) -> Dict[str, np.ndarray]:
    """Tensors' values, read straight into new arrays (all in one parallel batch) and verified.
    ``after(name, offset, bytes, [(length, checksum) of each block in them])`` is called on the
    reading threads as a tensor's blocks are in place and checked, a few MiB at a time, while
    they are still in the CPU's cache (``checksum``: the store's XXH3-128 of a block).

    Each file is checked against its entry before it is read (its tree at most one leaf per
    256 KiB of the entry's size, each distinct node decoded once), so the work is that of the
    bytes returned however the file's blocks link. Files of a partial version that are not here
    are fetched from its remote first (:mod:`.fetch`).
    """
    return read_with_remote(repo, entries, lambda: _read_tensors(repo, entries, after))


def _read_tensors(
    repo: "Repo",
    entries: Sequence[TensorEntry],
    after: Optional[Callable[[str, int, memoryview, Sequence[Tuple[int, bytes]]], None]] = None,
) -> Dict[str, np.ndarray]:
    arrays: Dict[str, np.ndarray] = {}
    files = []
    names = []
    for entry in entries:
        dtype = dtype_from_name(entry.dtype)
        if math.prod(entry.shape) * dtype.itemsize != entry.size:
            raise FormatError(f"Tensor {entry.name!r}: shape {entry.shape} of {entry.dtype} is not {entry.size} bytes.")
        # Leaves are sized by their parents (and the entry, for a one-block file); readinto checks
        # each against the store, so no per-leaf lookup is needed here.
        leaves = file_leaves(entry.data, repo.store.get, None, entry.size)
        if sum(n for _, n in leaves) != entry.size:
            raise FormatError(f"Tensor {entry.name!r}: its data is not {entry.size} bytes long.")
        array = arrays[entry.name] = empty_aligned(entry.shape, dtype)
        if entry.size:
            files.append((leaves, memoryview(array.reshape(-1).view(np.uint8))))
            names.append(entry.name)
    if after is None:
        repo.store.readinto(files)
    else:
        repo.store.readinto(files, lambda i, offset, data, blocks: after(names[i], offset, data, blocks))
    return arrays


def load(
    repo: "Repo",
    ref: Ref,
    model: Optional[str] = None,
    names: Optional[Sequence[str]] = None,
    lazy: bool = False,
) -> Mapping[str, np.ndarray]:
    """The tensors of a version as ``{name: ndarray}`` (only ``names`` if given).

    With ``lazy=True`` the mapping reads each tensor on first access instead.
    """
    tree = manifest_tree(repo, ref, model)
    if names is None:
        return LazyTensors(repo, tree) if lazy else read_tensors(repo, tree.manifest().tensors)
    found = {n: tree.find(n) for n in names}  # only the shards holding these names are read
    unknown = [n for n, e in found.items() if e is None]
    if unknown:
        raise UnknownRefError(f"No tensor {', '.join(map(repr, unknown))} in that version.")
    entries: Dict[str, TensorEntry] = found  # type: ignore[assignment]
    return LazyTensors(repo, entries) if lazy else read_tensors(repo, list(entries.values()))


class LazyTensors(Mapping[str, np.ndarray]):
    """A version's tensors, each read from the store on first access. Opened on a whole manifest,
    it reads the manifest's root only; a tensor's entry comes from the one shard that holds it,
    and every entry is read when the mapping is first listed (:attr:`entries`)."""

    def __init__(self, repo: "Repo", entries: Union[Dict[str, TensorEntry], ManifestTree]) -> None:
        self._repo = repo
        self._tree = entries if isinstance(entries, ManifestTree) else None
        self._entries = None if isinstance(entries, ManifestTree) else entries
        self._cache: Dict[str, np.ndarray] = {}

    @property
    def entries(self) -> Dict[str, TensorEntry]:
        """Every tensor's entry by name (a sharded manifest: every shard read on first use)."""
        if self._entries is None:
            assert self._tree is not None
            self._entries = self._tree.manifest().by_name()
        return self._entries

    def _entry(self, name: object) -> Optional[TensorEntry]:
        if self._entries is not None:
            return self._entries.get(name)  # type: ignore[call-overload]
        assert self._tree is not None
        return self._tree.find(name) if isinstance(name, str) else None

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._cache:
            entry = self._entry(name)
            if entry is None:
                raise KeyError(name)
            self._cache[name] = read_tensors(self._repo, [entry])[name]
        return self._cache[name]

    def __contains__(self, name: object) -> bool:
        return name in self._cache or isinstance(name, str) and self._entry(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self._tree) if self._entries is None and self._tree is not None else len(self.entries)

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}: {e.dtype}{list(e.shape)}" for n, e in self.entries.items())
        return f"LazyTensors({{{shown}}})"
