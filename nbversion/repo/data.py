"""Data versions: ``commit_data``, ``open`` (a lazy browser) and ``load_data``.

A data version (kind ``data``, :mod:`nbversion.formats.datasets`) goes through the same commit
pipeline as weights (:func:`.commit.record`): NumPy arrays are stored as weights tensors are (raw
bytes in UnixFS files, so an array shared with a model or another data version is stored once);
pandas DataFrames as Parquet files written the same way every time (the same frame gives the same
CID); files and folders as UnixFS files and directories (:mod:`.folders`). Each item gets a
summary (shape and dtype; rows and columns; the class distribution of 1-D labels).

Committing what the data set's current version already holds is not an error here (a notebook
is re-run top to bottom): the current version is returned, marked unchanged in its ``stats``.

:class:`DataVersion` reads only the version record and its manifest when opened; an item's bytes
are read (and verified) when it is asked for. Readers of one kind refuse a version of the other
with :class:`~nbversion.errors.WrongKindError`.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import (
    MetadataError,
    NbversionError,
    TensorError,
    UnchangedError,
    UnknownRefError,
    WrongKindError,
)
from ..formats.cid import CID, DAG_CBOR
from ..formats.datasets import (
    ARRAY,
    FILE,
    FOLDER,
    TABLE,
    DataEntry,
    DataManifest,
    decode_data_manifest,
    encode_data_manifest,
)  # fmt: skip
from ..formats.records import DATA, TensorEntry, Version, tensor_name_problem
from ..formats.tensors import as_tensor, difference, dtype_name, tensor_bytes
from ..formats.unixfs import build_file, build_files
from ..stores.base import BlockWriter
from .commit import Content, record
from .fetch import fetching_get, locate
from .read import read_tensors
from .refs import Ref, head

if TYPE_CHECKING:
    from . import Repo

MAX_CLASSES = 1000  #: a label array with more distinct values than this gets no class distribution
_LABEL_COLUMNS = 16  #: at most this many columns of a table are summarised as labels


def commit_data(
    repo: "Repo",
    name: str,
    items: Mapping[str, Any],
    message: str = "",
    metrics: Optional[Mapping[str, float]] = None,
    *,
    tag: Optional[str] = None,
    branch: Optional[str] = None,
    parents: Optional[Sequence[Union[str, CID]]] = None,
    author: Optional[str] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    context: Optional[Mapping[str, Any]] = None,
    code: Optional[Tuple[bytes, str]] = None,
    environment: Optional[Mapping[str, Any]] = None,
    known: Optional[Mapping[str, CID]] = None,
) -> Version:
    """Store ``items`` (item name -> NumPy array, pandas DataFrame, or path of a file or folder)
    as a new version of data set ``name``; its parent is the data set's current version.

    If the items are exactly what that version holds, nothing is written and that version is
    returned with ``stats["unchanged"] = True`` (a ``tag`` asked for is then added to it).
    ``metadata`` is kept in the version's context (``context["metadata"]``), with the paths that
    files and folders came from (``context["paths"]``). ``code`` and ``environment``: the notebook
    and machine it was made with, as :meth:`Repo.commit` records them.

    ``known``: item name -> a data version the caller knows holds that item exactly as it is now
    (a kernel remembers what it committed, with a fingerprint of its bytes): the item's entry is
    taken from that version's manifest instead of hashing the value again (``stats["known_items"]``
    counts them). One that does not fit (not here, another type, shape, dtype or row count) is ignored.
    """
    prepared = _prepare(items)
    reuse = _known_entries(repo, prepared, known or {}) if known and repo.exists else {}
    context = dict(context or {})
    if metadata is not None:
        context["metadata"] = dict(metadata)
    paths = {n: os.fspath(v) for n, kind, v in prepared if kind in (FILE, FOLDER)}
    if paths:
        context["paths"] = paths
    _, current = head(repo, name) if repo.exists else (None, None)
    current_version = repo.index.version(current) if current is not None else None
    if current_version is not None and current_version.kind != DATA:
        raise WrongKindError(
            f"{name!r} is a model (its versions hold weights), so data cannot be committed under that name; "
            "choose another name for the data set."
        )
    retag = tag is not None and current is not None and repo.index.ref("tag", tag) == str(current)
    try:
        version = record(
            repo, name, DATA,
            _writer(prepared, current_version if parents is None else None, tag if retag else None, reuse),
            message, metrics, parents=parents, branch=branch, tag=None if retag else tag, author=author,
            framework="data", context=context, code=code, environment=environment,
        )  # fmt: skip
    except UnchangedError:
        if parents is not None or current is None:
            raise
        if tag is not None and not retag:
            repo.tag(tag, current)
        found = repo.index.version(current)
        stats = {"unchanged": True, "items": len(prepared), "bytes_written": 0, "known_items": len(reuse)}
        return replace(found, stats=stats)
    return version


Prepared = List[Tuple[str, str, Any]]  # (item name, type, value: array, Parquet bytes or path)


def _prepare(items: Mapping[str, Any]) -> Prepared:
    """Every item checked and made ready to store, sorted by name (nothing is written yet)."""
    if not isinstance(items, Mapping) or not items:
        raise MetadataError("commit_data wants a mapping of item name -> array, DataFrame or path, with at least one item.")
    out: Prepared = []
    for name in sorted(items):
        problem = tensor_name_problem(name)
        if problem is not None:
            raise MetadataError(f"Item name {name!r:.100}: {problem.replace('tensor names', 'item names')}.")
        value = items[name]
        if isinstance(value, (str, os.PathLike)):
            path = os.fspath(value)
            if not os.path.exists(path):
                raise MetadataError(f"Item {name!r}: {path!r} is not a file or folder here.")
            out.append((name, FOLDER if os.path.isdir(path) else FILE, path))
        elif _is_frame(value) or _is_series(value):
            out.append((name, TABLE, value))
        elif type(value).__module__.startswith("pandas"):
            raise MetadataError(f"Item {name!r} is a pandas {type(value).__name__}; commit a DataFrame or a Series.")
        else:
            try:
                out.append((name, ARRAY, as_tensor(name, value)))
            except (TensorError, TypeError, ValueError) as exc:
                raise MetadataError(
                    f"Item {name!r} is a {type(value).__name__}: data versions hold NumPy arrays of numbers, "
                    f"pandas DataFrames, and paths of files or folders ({exc})"
                ) from None
    return out


def _is_frame(value: Any) -> bool:
    return type(value).__module__.startswith("pandas") and type(value).__name__ == "DataFrame"


def _is_series(value: Any) -> bool:
    return type(value).__module__.startswith("pandas") and type(value).__name__ == "Series"


_UNNAMED = "__series__"  # the column of a Series without a name


def _as_frame(value: Any) -> Any:
    """A DataFrame as it is; a Series as a one-column DataFrame (its name, or :data:`_UNNAMED`)."""
    return value.to_frame(name=_UNNAMED if value.name is None else value.name) if _is_series(value) else value


def parquet_bytes(frame: Any) -> bytes:
    """A DataFrame as the bytes of a Parquet file, the same bytes for the same frame (with the
    same pandas and pyarrow: pyarrow writes no time or random value)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise MetadataError("Committing a DataFrame needs pyarrow: pip install 'nbversion[data]'.") from None
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame), sink, compression="zstd", write_statistics=True)
    return sink.getvalue()


def read_parquet(data: bytes) -> Any:
    """The DataFrame a table item's Parquet bytes hold."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MetadataError("Reading a table needs pyarrow: pip install 'nbversion[data]'.") from None
    return pq.read_table(io.BytesIO(data)).to_pandas()


def _known_entries(repo: "Repo", prepared: Prepared, known: Mapping[str, CID]) -> Dict[str, DataEntry]:
    """The manifest entries of the arrays and tables ``known`` names a data version for, where that
    version is here, holds an item of that name, type, shape and dtype (rows, for a table) and
    its content's root block is in the store."""
    out: Dict[str, DataEntry] = {}
    manifests: Dict[CID, Dict[str, DataEntry]] = {}
    for name, kind, value in prepared:
        cid = known.get(name)
        if cid is None or kind not in (ARRAY, TABLE) or not repo.index.has_version(cid):
            continue
        if cid not in manifests:
            version = repo.index.version(cid)
            try:
                manifests[cid] = data_manifest(repo, version).by_name() if version.kind == DATA else {}
            except NbversionError:  # its manifest cannot be read now: the items are hashed as usual
                manifests[cid] = {}
        entry = manifests[cid].get(name)
        if entry is None or entry.type != kind or not repo.store.has(entry.data):
            continue
        if kind == ARRAY and (entry.dtype != dtype_name(value.dtype) or entry.shape != tuple(value.shape)):
            continue
        if kind == TABLE and (entry.rows != len(value) or bool(entry.series) != _is_series(value)):
            continue
        out[name] = entry
    return out


def _writer(
    prepared: Prepared, current: Optional[Version], tag_on_current: Optional[str], reuse: Mapping[str, DataEntry]
) -> Callable[[BlockWriter], Content]:
    """The content writer of a data version. ``current``: the data set's current version, whose
    content equal to this one's is :class:`UnchangedError`; ``tag_on_current``: a tag that already
    names it (asked for again), refused if the content changed; ``reuse``: entries known to hold
    items as they are (:func:`_known_entries`), taken without hashing."""

    def write(writer: BlockWriter) -> Content:
        entries: List[DataEntry] = []
        arrays = [(n, v) for n, kind, v in prepared if kind == ARRAY and n not in reuse]
        roots = build_files([tensor_bytes(a) for _, a in arrays], writer.put, writer.put_many)
        files = {n: root.cid for (n, _), root in zip(arrays, roots)}
        new = sum(writer.is_new(root.cid) for root in roots)
        for name, kind, value in prepared:
            if name in reuse:
                entries.append(reuse[name])
            elif kind == ARRAY:
                entries.append(DataEntry(name, ARRAY, value.nbytes, files[name], dtype=dtype_name(value.dtype),
                                         shape=tuple(value.shape), summary=array_summary(value)))  # fmt: skip
            elif kind == TABLE:
                table = _as_frame(value)
                data = parquet_bytes(table)
                link = build_file(data, writer.put)
                new += writer.is_new(link.cid)
                entries.append(DataEntry(name, TABLE, len(data), link.cid, rows=len(table), series=_is_series(value),
                                         columns=tuple(str(c) for c in table.columns), summary=table_summary(value)))  # fmt: skip
            else:
                content = _folders().add_path(writer, value)
                entries.append(DataEntry(name, FOLDER if content.is_dir else FILE, content.size, content.cid,
                                         files=content.files if content.is_dir else None))  # fmt: skip
        block = encode_data_manifest(DataManifest(tuple(entries)))
        cid = CID.hash(DAG_CBOR, block)
        if current is not None and current.manifest == cid:
            raise UnchangedError(f"{current.model} is unchanged since {current.label}.")
        if tag_on_current is not None:
            raise MetadataError(
                f"Tag {tag_on_current!r} already names {current.label if current else 'another version'} of this data set, "
                "whose items differ from these; nothing was committed. Choose another tag."
            )
        writer.put(cid, block)
        stats = {"items": len(entries), "new_items": new, "known_items": len(reuse)}
        return Content(cid, {**stats, "bytes": sum(e.size for e in entries)})

    return write


def _folders() -> Any:
    """:mod:`.folders` (files and folders as UnixFS), or a clear error where it is not there yet."""
    try:
        from . import folders
    except ImportError:
        raise MetadataError("Files and folders cannot be versioned by this nbversion yet; commit arrays or DataFrames.") from None
    return folders


def array_summary(array: np.ndarray) -> Dict[str, Any]:
    """Shape and dtype; for a 1-D integer or boolean array of at most :data:`MAX_CLASSES` distinct
    values (labels), how many times each occurs."""
    out: Dict[str, Any] = {"shape": list(array.shape), "dtype": dtype_name(array.dtype)}
    if array.ndim == 1 and array.dtype.kind in "iub" and array.size:
        values, counts = np.unique(array, return_counts=True)
        if len(values) <= MAX_CLASSES:
            out["classes"] = {str(v.item()): int(c) for v, c in zip(values, counts)}
    return out


def table_summary(frame: Any) -> Dict[str, Any]:
    """Rows, columns and their dtypes; for each column of labels (text, categories, booleans, or
    the integers of a one-column table) with at most :data:`MAX_CLASSES` distinct values, how
    many times each occurs. A Series: its rows, dtype and classes."""
    if _is_series(frame):
        whole = table_summary(_as_frame(frame))
        column = next(iter(whole["dtypes"]))
        classes = whole.get("classes", {}).get(column)
        return {"rows": whole["rows"], "dtype": whole["dtypes"][column], **({"classes": classes} if classes else {})}
    out: Dict[str, Any] = {"rows": len(frame), "columns": len(frame.columns),
                           "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()}}  # fmt: skip
    classes: Dict[str, Dict[str, int]] = {}
    for column in list(frame.columns)[:_LABEL_COLUMNS]:
        series = frame[column]
        kind = getattr(series.dtype, "kind", "O")
        if kind in "OSUb" or str(series.dtype) in ("category", "string") or (kind in "iu" and len(frame.columns) == 1):
            if series.nunique(dropna=False) <= MAX_CLASSES:
                counts = series.value_counts(dropna=False, sort=False)
                classes[str(column)] = {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))}
    if classes:
        out["classes"] = classes
    return out


# -- reading ---------------------------------------------------------------------------------------


def diff_data(repo: "Repo", a: Version, b: Version, unchanged: bool = True) -> List[Any]:
    """Per item, how data version ``b`` differs from ``a`` (as ``Repo.diff`` reports tensors):
    items with the same CID are unchanged without reading a byte; arrays of the same shape and
    dtype that differ are read and compared (L2 and max abs of the change); other items that
    differ are 'changed' (or 'retyped' when their type or shape changed). Shapes: an array's, a
    table's (rows, columns), a file's (bytes,), a folder's (files,)."""
    from .diff import TensorDiff  # (diff dispatches data versions here)

    ea, eb = data_manifest(repo, a).by_name(), data_manifest(repo, b).by_name()
    out: List[Any] = []
    for name in sorted(set(ea) | set(eb)):
        x, y = ea.get(name), eb.get(name)
        sx, sy = _shape(x), _shape(y)
        if x is None or y is None:
            out.append(TensorDiff(name, "added" if x is None else "removed", sx, sy))
        elif x.data == y.data and x.type == y.type and sx == sy:
            if unchanged:
                out.append(TensorDiff(name, "unchanged", sx, sy, 0.0, 0.0))
        elif x.type != y.type or (x.type == ARRAY and (sx != sy or x.dtype != y.dtype)):
            out.append(TensorDiff(name, "retyped", sx, sy))
        elif x.type == ARRAY:
            l2, max_abs = difference(read_tensors(repo, [x.tensor()])[name], read_tensors(repo, [y.tensor()])[name])
            out.append(TensorDiff(name, "changed", sx, sy, l2, max_abs))
        else:
            out.append(TensorDiff(name, "changed", sx, sy))
    return out


def _shape(entry: Optional[DataEntry]) -> Optional[Tuple[int, ...]]:
    if entry is None:
        return None
    if entry.type == ARRAY:
        return entry.shape
    if entry.type == TABLE:
        return (entry.rows or 0, len(entry.columns or ()))
    return (entry.files or 0,) if entry.type == FOLDER else (entry.size,)



def data_version(repo: "Repo", ref: Ref, name: Optional[str] = None) -> Version:
    """The data version ``ref`` names; :class:`WrongKindError` for a version of another kind."""
    found = ref if isinstance(ref, Version) and ref.cid is not None else locate(repo, ref, name)
    require_kind(found, DATA)
    return found


def require_kind(version: Version, kind: str) -> None:
    """:class:`WrongKindError` unless ``version`` is of ``kind`` (weights or data), naming what to use instead."""
    if version.kind == kind:
        return
    if version.kind == DATA:
        raise WrongKindError(
            f"{version.model} {version.label} is a data version, not a model's weights: open it with "
            f"`repo.open('{version.short}')`, or load it with `%checkout ... --with-data` / `repo.load_data`."
        )
    raise WrongKindError(
        f"{version.model} {version.label} is a {version.kind} version (a model's weights), not a data version; "
        f"load it with `repo.load('{version.short}')` or `%checkout`."
    )


def data_manifest(repo: "Repo", version: Version) -> DataManifest:
    """The manifest of a data version (one block, read and checked)."""
    require_kind(version, DATA)
    return decode_data_manifest(fetching_get(repo)(version.manifest))


def open(repo: "Repo", ref: Ref, name: Optional[str] = None) -> "DataVersion":
    """A data version to browse: its record and manifest are read now, each item's bytes when
    it is asked for (``ds["X"]``)."""
    version = data_version(repo, ref, name)
    return DataVersion(repo, version, data_manifest(repo, version))


def load_data(repo: "Repo", ref: Ref, name: Optional[str] = None, names: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """The items of a data version as ``{name: value}`` (only ``names`` if given): arrays as
    NumPy arrays, tables as DataFrames, files as bytes, folders as :class:`StoredFolder`."""
    opened = open(repo, ref, name)
    wanted = list(opened) if names is None else list(names)
    unknown = [n for n in wanted if n not in opened]
    if unknown:
        raise UnknownRefError(f"No item {', '.join(map(repr, unknown))} in {opened.version.model} {opened.version.label}.")
    arrays = read_tensors(repo, [opened.entries[n].tensor() for n in wanted if opened.entries[n].type == ARRAY])
    return {n: arrays[n] if n in arrays else opened[n] for n in wanted}


def read_bytes(repo: "Repo", entry: DataEntry) -> bytes:
    """The content of a table or file item, every block verified."""
    raw = read_tensors(repo, [TensorEntry(entry.name, "uint8", (entry.size,), entry.size, entry.data)])
    return raw[entry.name].tobytes()


@dataclass(frozen=True)
class StoredFolder:
    """A folder item of a data version: list its files, or restore it onto disk."""

    repo: "Repo"
    entry: DataEntry

    def list(self) -> List[Tuple[str, int, CID]]:
        """Every file: (relative path, size, CID)."""
        return _folders().list_path(self.repo, self.entry.data)

    def restore(self, dest: Union[str, os.PathLike], force: bool = False) -> None:
        """Write the folder at ``dest`` (checked first; never half done)."""
        _folders().restore_path(self.repo, self.entry.data, dest, force=force)


class DataVersion(Mapping[str, Any]):
    """A data version opened lazily: ``ds.version`` and ``ds.entries`` (each item's type, size and
    summary) are known at once; ``ds["X"]`` reads that item (an array, a DataFrame, a file's bytes,
    or a :class:`StoredFolder`), verified, and keeps it."""

    def __init__(self, repo: "Repo", version: Version, manifest: DataManifest) -> None:
        self.repo, self.version, self.manifest = repo, version, manifest
        self.entries: Dict[str, DataEntry] = manifest.by_name()
        self._cache: Dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._cache:
            entry = self.entries.get(name)
            if entry is None:
                raise KeyError(name)
            self._cache[name] = self._read(entry)
        return self._cache[name]

    def _read(self, entry: DataEntry) -> Any:
        if entry.type == ARRAY:
            return read_tensors(self.repo, [entry.tensor()])[entry.name]
        if entry.type == TABLE:
            table = read_parquet(read_bytes(self.repo, entry))
            if not entry.series:
                return table
            series = table.iloc[:, 0]
            return series.rename(None) if series.name == _UNNAMED else series
        if entry.type == FILE:
            return read_bytes(self.repo, entry)
        return StoredFolder(self.repo, entry)

    def restore(self, name: str, dest: Union[str, os.PathLike], force: bool = False) -> None:
        """Write a file or folder item at ``dest`` (checked first; never half done)."""
        _folders().restore_path(self.repo, self._path_item(name).data, dest, force=force)

    def check_restore(self, name: str, dest: Union[str, os.PathLike], force: bool = False) -> None:
        """Raise now what :meth:`restore` would refuse, writing nothing: a file there that differs
        (unless ``force``), a file where a folder goes or the reverse, a symbolic link, no folder
        to put it in, or a block of it missing (so a caller can check every item before changing any)."""
        _folders().check_restore_path(self.repo, self._path_item(name).data, dest, force=force)

    def _path_item(self, name: str) -> DataEntry:
        entry = self.entries[name]
        if entry.type not in (FILE, FOLDER):
            raise MetadataError(f"Item {name!r} is {entry.description}, not a file or folder.")
        return entry

    def verify(self, name: str, path: Union[str, os.PathLike]) -> Any:
        """Check a file or folder on disk against an item, file by file (:func:`.folders.verify_path`)."""
        return _folders().verify_path(self.repo, self.entries[name].data, path)

    @property
    def paths(self) -> Dict[str, str]:
        """The paths files and folders were committed from."""
        paths = self.version.context.get("paths")
        return {k: v for k, v in paths.items() if isinstance(v, str)} if isinstance(paths, dict) else {}

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}: {e.description}" for n, e in self.entries.items())
        return f"DataVersion({self.version.model} {self.version.label}: {shown})"


