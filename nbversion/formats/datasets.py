"""Data manifests: what a data version (kind ``data``) holds, as one dag-cbor record.

A data version is a :class:`~.records.Version` of kind :data:`~.records.DATA` whose ``model``
field names the data set (data sets and models share one namespace of names) and whose
``manifest`` links a *data manifest*::

    {"format": "nbversion/data@1", "entries": [ENTRY, ...]}   # entries sorted by name, unique

Each entry has a ``name`` (the rule tensor names follow, :func:`.records.tensor_name_problem`), a
``type``, a ``size`` (bytes of its content), a ``data`` link, and optionally a ``summary`` (any
JSON-like map: shape and dtype, rows and columns, the class distribution of labels, ...):

* ``"array"``: a NumPy array stored as a weights tensor is (raw little-endian C-order bytes in a
  UnixFS file): ``dtype``, ``shape``, ``byteorder``; ``size == prod(shape) * itemsize``;
* ``"table"``: a pandas DataFrame as the bytes of a Parquet file (a UnixFS file): ``rows`` and
  ``columns`` (the column names as text); ``"series": true`` (written only then) for a pandas
  Series, stored as a one-column table and read back as a Series;
* ``"file"``: a file's bytes (a UnixFS file, as ``ipfs add --cid-version=1 --raw-leaves`` gives);
* ``"folder"``: a folder (a UnixFS directory, as ``ipfs add -r`` gives): ``files`` (how many).

A data manifest is one block of at most :data:`MAX_DATA_BLOCK` (1 MiB, what IPFS peers exchange),
so at most a few thousand entries (a folder of many files is one entry); writing more is refused
with what to do instead. Blocks from strangers are decoded field by field with strict checks, as
weight manifests are; anything unexpected is a :class:`FormatError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..errors import FormatError, MetadataError
from . import dagcbor
from .cid import CID, DAG_PB, RAW
from .records import ITEMSIZE, MAX_DIMS, MAX_TENSOR_BYTES, TensorEntry, check_data, tensor_name_problem

DATA_FORMAT = "nbversion/data@1"
ARRAY, TABLE, FILE, FOLDER = "array", "table", "file", "folder"
TYPES = (ARRAY, TABLE, FILE, FOLDER)
MAX_DATA_BLOCK = 1 << 20  #: bytes of a data manifest's block
MAX_ENTRIES = 100_000  #: entries a data manifest may list (the block size bounds it well below this)
MAX_COLUMNS = 100_000  #: columns a table entry may name
MAX_FILES = 1 << 40  #: files a folder entry may count


@dataclass(frozen=True)
class DataEntry:
    """One item of a data version: an array, a table, a file or a folder."""

    name: str
    type: str
    size: int
    data: CID
    dtype: Optional[str] = None  # array
    shape: Optional[Tuple[int, ...]] = None  # array
    rows: Optional[int] = None  # table
    columns: Optional[Tuple[str, ...]] = None  # table
    files: Optional[int] = None  # folder
    series: bool = False  # table: a pandas Series (one column)
    summary: Optional[Dict[str, Any]] = field(default=None, compare=False)

    def to_ipld(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"name": self.name, "type": self.type, "size": self.size, "data": self.data}
        if self.type == ARRAY:
            out.update(dtype=self.dtype, shape=list(self.shape or ()), byteorder="little")
        elif self.type == TABLE:
            out.update(format="parquet", rows=self.rows, columns=list(self.columns or ()))
            if self.series:
                out["series"] = True
        elif self.type == FOLDER:
            out["files"] = self.files
        if self.summary is not None:
            out["summary"] = self.summary
        return out

    def tensor(self) -> TensorEntry:
        """An array entry as the tensor entry the weights readers take."""
        assert self.type == ARRAY and self.dtype is not None and self.shape is not None
        return TensorEntry(self.name, self.dtype, self.shape, self.size, self.data)

    @property
    def description(self) -> str:
        """A few words on what the entry holds, for tables and listings."""
        if self.type == ARRAY:
            return f"array {self.dtype}{list(self.shape or ())}"
        if self.type == TABLE and self.series:
            return f"series of {self.rows:,} rows"
        if self.type == TABLE:
            return f"table {self.rows:,} rows x {len(self.columns or ())} columns"
        if self.type == FOLDER:
            return f"folder of {self.files:,} files, {self.size:,} bytes"
        return f"file of {self.size:,} bytes"


@dataclass(frozen=True)
class DataManifest:
    """A data version's entries, sorted by name."""

    entries: Tuple[DataEntry, ...]

    def to_ipld(self) -> Dict[str, Any]:
        return {"format": DATA_FORMAT, "entries": [e.to_ipld() for e in self.entries]}

    def by_name(self) -> Dict[str, DataEntry]:
        return {e.name: e for e in self.entries}

    @property
    def nbytes(self) -> int:
        return sum(e.size for e in self.entries)


def encode_data_manifest(manifest: DataManifest) -> bytes:
    """The manifest's block; :class:`MetadataError` if its entries are not sorted and unique, a
    summary is not JSON-like, or the block would be over :data:`MAX_DATA_BLOCK`."""
    names = [e.name for e in manifest.entries]
    if any(a >= b for a, b in zip(names, names[1:])):
        raise MetadataError("A data manifest's entries must be sorted by name and unique.")
    if len(names) > MAX_ENTRIES:
        raise MetadataError(f"A data version holds at most {MAX_ENTRIES:,} items; put files in folders.")
    for entry in manifest.entries:
        if entry.summary is not None:
            check_data(entry.summary, f"the summary of {entry.name!r}")
    block = dagcbor.encode(manifest.to_ipld())
    if len(block) > MAX_DATA_BLOCK:
        raise MetadataError(
            f"The data manifest of these {len(names):,} items would be {len(block) / 2**20:.1f} MiB; at most "
            f"{MAX_DATA_BLOCK >> 20} MiB can be stored, so nothing was committed. Put the files in a folder "
            "(one item), or commit the items as several data sets."
        )
    return block


def decode_data_manifest(block: bytes) -> DataManifest:
    """A data manifest, checked field by field and entry by entry (see the module docstring)."""
    if len(block) > MAX_DATA_BLOCK:
        raise FormatError(f"A data manifest is at most {MAX_DATA_BLOCK:,} bytes; this one is {len(block):,}.")
    obj = dagcbor.decode(block)
    if not isinstance(obj, dict) or obj.get("format") != DATA_FORMAT:
        raise FormatError("Not an nbversion data manifest.")
    items = obj.get("entries")
    if not isinstance(items, list) or len(items) > MAX_ENTRIES:
        raise FormatError(f"data manifest: field 'entries' must be a list of at most {MAX_ENTRIES:,} entries.")
    entries: List[DataEntry] = []
    for item in items:
        if not isinstance(item, dict):
            raise FormatError("data manifest: an entry is not a map.")
        try:
            entry = _decode_entry(item)
        except FormatError as exc:
            name = item.get("name")
            shown = repr(name[:100] if isinstance(name, str) else name)
            raise FormatError(f"Item {shown} in the data manifest: {exc}") from None
        if entries and entry.name <= entries[-1].name:
            raise FormatError(f"The data manifest does not list its items sorted by name and unique ({entry.name[:100]!r}).")
        entries.append(entry)
    return DataManifest(tuple(entries))


def _count(item: Dict[str, Any], key: str, limit: int) -> int:
    value = item.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
        raise FormatError(f"field {key!r} must be a count from 0 to {limit:,}.")
    return value


def _decode_entry(item: Dict[str, Any]) -> DataEntry:
    name = item.get("name")
    if not isinstance(name, str):
        raise FormatError("field 'name' is missing or not text.")
    problem = tensor_name_problem(name)
    if problem is not None:
        raise FormatError(f"{problem.replace('tensor names', 'names')}.")
    kind = item.get("type")
    if kind not in TYPES:
        raise FormatError(f"its type {kind!r:.100} is not one of {', '.join(TYPES)}.")
    size = _count(item, "size", MAX_TENSOR_BYTES)
    data = dagcbor.as_cid(item.get("data"), "its data")
    summary = item.get("summary")
    if summary is not None:
        if not isinstance(summary, dict):
            raise FormatError("its summary must be a map.")
        try:
            summary = check_data(summary, "its summary")
        except MetadataError as exc:
            raise FormatError(str(exc)) from exc
    if kind == FOLDER:
        if data.codec != DAG_PB:
            raise FormatError("its data must link a UnixFS directory.")
        return DataEntry(name, kind, size, data, files=_count(item, "files", MAX_FILES), summary=summary)
    if data.codec not in (RAW, DAG_PB):
        raise FormatError("its data must link a UnixFS file.")
    if kind == FILE:
        return DataEntry(name, kind, size, data, summary=summary)
    if kind == TABLE:
        if item.get("format") != "parquet":
            raise FormatError("a table must be stored as Parquet.")
        columns = item.get("columns")
        if not isinstance(columns, list) or len(columns) > MAX_COLUMNS or not all(isinstance(c, str) for c in columns):
            raise FormatError(f"its columns must be at most {MAX_COLUMNS:,} names.")
        series = item.get("series", False)
        if series is not False and (series is not True or len(columns) != 1):
            raise FormatError("field 'series' must be true for a one-column table, or absent.")
        return DataEntry(name, kind, size, data, rows=_count(item, "rows", MAX_TENSOR_BYTES), columns=tuple(columns),
                         series=series, summary=summary)  # fmt: skip
    dtype = item.get("dtype")
    itemsize = ITEMSIZE.get(dtype) if isinstance(dtype, str) else None
    if itemsize is None:
        raise FormatError(f"dtype {str(dtype)[:100]!r} is not one nbversion stores.")
    shape = item.get("shape")
    if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise FormatError(f"its shape must be at most {MAX_DIMS} non-negative integers.")
    if size != math.prod(shape) * itemsize:
        raise FormatError(f"it says {size} bytes for shape {shape[:8]} of {dtype}, which is {math.prod(shape) * itemsize}.")
    if item.get("byteorder") != "little":
        raise FormatError("only little-endian arrays are supported.")
    return DataEntry(name, kind, size, data, dtype=dtype, shape=tuple(shape), summary=summary)
