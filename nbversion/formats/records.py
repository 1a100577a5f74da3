"""Versions and manifests: the dag-cbor records nbversion writes.

A *version* links its parents and its manifest and carries what a person wants to know later:
name (``model``), message, metrics, time, author, framework and software versions, an
architecture description (data, never code) and an open ``context`` map. Its *kind* says what its
manifest lists: ``weights`` (a model's named tensors) or ``data`` (a data set's arrays, tables,
files and folders: :mod:`.datasets`); each kind registers its manifest's decoder in :data:`KINDS`
and goes through the same commit pipeline. The ``kind`` field is only written for kinds other
than ``weights``, so the CIDs of weight versions are those of the format's first release.

A *weights manifest* lists tensors, each with its dtype, shape, byte order, size and the CID of
its bytes as a UnixFS file.

Blocks from strangers are decoded field by field with strict type checks; anything unexpected is
a :class:`FormatError`, never executed. The encoded form is pinned by tests, since CIDs that users
hold depend on it. A large manifest is stored as a tree of shards, each a manifest of this form
(:mod:`.manifests`); every reader (import, fsck, load, diff) reads manifests through
:class:`nbversion.formats.manifests.ManifestTree`, which decodes each block with
:func:`manifest_from_ipld` (as :func:`decode_manifest` does a one-block manifest), which also
checks that each entry is consistent:

* the dtype is one nbversion stores (:mod:`.tensors`), the shape at most :data:`MAX_DIMS`
  non-negative integers, and ``size == prod(shape) * itemsize <= MAX_TENSOR_BYTES`` (1 TiB: no
  real tensor is that large, and a size is what reading a file is bounded by);
* names are unique and follow :func:`tensor_name_problem`: 1 to :data:`MAX_TENSOR_NAME`
  printable characters (``str.isprintable``: no control, format, private-use or unassigned
  characters, no separator but the space), no backslash, ``/``-separated parts none of which is
  empty, ``.`` or ``..``. A tensor name is therefore always a relative path that stays
  inside the folder it is joined to (on POSIX, and as a zip member name); a writer for Windows
  must still refuse ``:`` (drive letters, streams), which names like ``dense/kernel:0`` use.

Whether each file is as long as its entry says is checked where the blocks are
(:func:`nbversion.formats.unixfs.check_file`).

*Size of records.* A version block is at most :data:`MAX_RECORD` bytes (32 MiB: a message,
architecture and context of that size together); commits check it with :func:`check_record_size`,
and the CAR reader accepts sections up to that, so what nbversion writes it can read back. Kubo's
bitswap moves blocks of up to 2 MiB, so a record above that travels by CAR file only. Manifests
are written in blocks of at most 1 MiB however many tensors (:mod:`.manifests`); a one-block
manifest written before shards existed may be up to :data:`MAX_RECORD`.

*Negative zero.* DAG-CBOR as libipld implements it has no ``-0.0`` (the encoder writes ``0.0``,
the decoder refuses ``-0.0``, as strict DAG-CBOR says), so metrics and other metadata store
``-0.0`` as ``0.0``; :func:`check_metrics` and :func:`check_data` say so up front, so a commit
returns what a later read gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import FormatError, MetadataError
from . import dagcbor
from .cid import CID, DAG_CBOR, DAG_PB, RAW
from .names import check_name
from .tensors import ML_DTYPES, NUMPY_DTYPES

VERSION_FORMAT = "nbversion/version@1"
MANIFEST_FORMAT = "nbversion/manifest@1"
ENVIRONMENT_FORMAT = "nbversion/environment@1"
WEIGHTS = "weights"
DATA = "data"
_JSON_SCALARS = (str, int, float, bool, type(None))

MAX_RECORD = 32 << 20  # bytes in a version or manifest block (see the module docstring)
MAX_TENSOR_BYTES = 1 << 40  # one tensor's bytes: 1 TiB, far beyond any real tensor
MAX_DIMS = 64  # NumPy 2's own limit on dimensions
MAX_TENSOR_NAME = 1024  # characters
#: Bytes per element of each dtype a manifest may name (the ml_dtypes ones without importing it).
ITEMSIZE: Dict[str, int] = {
    **{name: np.dtype(name).itemsize for name in NUMPY_DTYPES},
    **{name: 2 if name == "bfloat16" else 1 for name in ML_DTYPES},  # int4/uint4: one value per byte
}


@dataclass(frozen=True)
class TensorEntry:
    """One tensor in a manifest."""

    name: str
    dtype: str
    shape: Tuple[int, ...]
    size: int
    data: CID
    byteorder: str = "little"

    def to_ipld(self) -> Dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "byteorder": self.byteorder,
            "size": self.size,
            "data": self.data,
        }


@dataclass(frozen=True)
class Manifest:
    """A model's tensors, sorted by name."""

    tensors: Tuple[TensorEntry, ...]

    def to_ipld(self) -> Dict[str, Any]:
        return {"format": MANIFEST_FORMAT, "tensors": [t.to_ipld() for t in self.tensors]}

    def by_name(self) -> Dict[str, TensorEntry]:
        return {t.name: t for t in self.tensors}

    @property
    def nbytes(self) -> int:
        return sum(t.size for t in self.tensors)


@dataclass(frozen=True)
class Code:
    """The code a version was made by: the notebook (nbformat JSON, outputs stripped, stored as a
    UnixFS file so any IPFS tool can ``cat`` it) and the id of the cell that committed it."""

    notebook: CID
    cell: str = ""

    def to_ipld(self) -> Dict[str, Any]:
        return {"notebook": self.notebook, "cell": self.cell}


@dataclass(frozen=True)
class Version:
    """One immutable version (of a model's weights, for kind ``weights``). ``cid`` and
    ``seq``/``tags`` come from the repository, ``stats`` from the commit that made it."""

    model: str
    parents: Tuple[CID, ...]
    manifest: CID
    message: str = ""
    metrics: Dict[str, float] = field(default_factory=dict)
    time: str = ""
    author: str = ""
    framework: str = ""
    software: Dict[str, str] = field(default_factory=dict)
    architecture: Any = None
    context: Dict[str, Any] = field(default_factory=dict)
    kind: str = WEIGHTS
    data: Dict[str, CID] = field(default_factory=dict)
    code: Optional[Code] = None
    environment: Optional[CID] = None
    cid: Optional[CID] = None
    seq: Optional[int] = None
    tags: Tuple[str, ...] = ()
    stats: Optional[Dict[str, Any]] = field(default=None, compare=False, repr=False)  # set by commit

    def to_ipld(self) -> Dict[str, Any]:
        kind = {} if self.kind == WEIGHTS else {"kind": self.kind}
        links: Dict[str, Any] = {}  # written only when present, so older versions keep their CIDs
        if self.data:
            links["data"] = dict(sorted(self.data.items()))
        if self.code is not None:
            links["code"] = self.code.to_ipld()
        if self.environment is not None:
            links["environment"] = self.environment
        return {
            **kind,
            **links,
            "format": VERSION_FORMAT,
            "model": self.model,
            "parents": list(self.parents),
            "manifest": self.manifest,
            "message": self.message,
            "metrics": dict(self.metrics),
            "time": self.time,
            "author": self.author,
            "framework": self.framework,
            "software": dict(self.software),
            "architecture": self.architecture,
            "context": dict(self.context),
        }

    @property
    def links(self) -> Tuple[CID, ...]:
        """The versions this one depends on: its parents, then the data versions it links. A DAG
        walk that follows history (push, pull, export, gc) follows these."""
        return tuple(dict.fromkeys(self.parents + tuple(self.data.values())))  # each once

    @property
    def extra_blocks(self) -> Tuple[CID, ...]:
        """Blocks of this version beyond its manifest: its notebook code (a UnixFS file) and its
        environment record."""
        return tuple(c for c in (self.code.notebook if self.code else None, self.environment) if c is not None)

    @property
    def short(self) -> str:
        """A short form of the CID for tables: a prefix that refs accept."""
        return str(self.cid)[:16] if self.cid else ""

    @property
    def label(self) -> str:
        return f"v{self.seq}" if self.seq is not None else self.short


# -- validation of what users hand in ---------------------------------------------------------


def check_metrics(metrics: Optional[Dict[str, Any]]) -> Dict[str, float]:
    """Metrics as ``{name: finite number}`` (``-0.0`` as ``0.0``, as it is stored); :class:`MetadataError`
    otherwise."""
    out: Dict[str, float] = {}
    for name, value in (metrics or {}).items():
        if not isinstance(name, str) or not name:
            raise MetadataError(f"Metric names must be non-empty strings, got {name!r}.")
        if hasattr(value, "item") and not isinstance(value, (int, float)):
            value = value.item()  # NumPy / framework scalars
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MetadataError(f"Metric {name!r} must be a number, got {type(value).__name__} {value!r}.")
        if isinstance(value, float) and not math.isfinite(value):
            raise MetadataError(f"Metric {name!r} is {value}; only finite numbers can be stored.")
        out[name] = value + 0.0 if isinstance(value, float) else value  # -0.0 + 0.0 is 0.0
    return out


def check_data(value: Any, what: str, depth: int = 0) -> Any:
    """``value`` if it is JSON-like data (dicts with string keys, lists, scalars), else an error."""
    if depth > 64:
        raise MetadataError(f"{what} is nested too deeply.")
    if isinstance(value, float) and not math.isfinite(value):
        raise MetadataError(f"{what} holds {value}; only finite numbers can be stored.")
    if isinstance(value, float):
        return value + 0.0  # -0.0 is stored as 0.0 (see the module docstring)
    if isinstance(value, _JSON_SCALARS):
        return value
    if isinstance(value, (list, tuple)):
        return [check_data(v, what, depth + 1) for v in value]
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise MetadataError(f"{what} has a non-string key {k!r}.")
        return {k: check_data(v, what, depth + 1) for k, v in value.items()}
    raise MetadataError(f"{what} holds a {type(value).__name__}; only JSON-like data can be stored.")


def check_record_size(block: bytes, what: str) -> None:
    """:class:`MetadataError` if an encoded record (``what``: "version" or "manifest") is over
    :data:`MAX_RECORD` bytes, so that nothing is committed that a CAR could not carry."""
    if len(block) > MAX_RECORD:
        fix = _RECORD_FIX.get(what, "")
        raise MetadataError(
            f"The {what} record would be {len(block) / 2**20:.1f} MiB; at most {MAX_RECORD >> 20} MiB can be "
            f"stored (and imported from a CAR), so nothing was committed.{fix}"
        )


_RECORD_FIX = {
    "version": " Shorten the message, or the architecture or context passed with it.",
    "manifest": " Commit the model's tensors as several models.",
}


def tensor_name_problem(name: str) -> Optional[str]:
    """What is wrong with a tensor name, or None if it is allowed (see the module docstring)."""
    if not isinstance(name, str) or not name:
        return "tensor names must be non-empty text"
    if len(name) > MAX_TENSOR_NAME:
        return f"tensor names are at most {MAX_TENSOR_NAME} characters"
    if not name.isprintable():
        return "tensor names cannot hold control, invisible or unassigned characters"
    if "\\" in name:
        return "tensor names cannot hold a backslash"
    bounded = f"/{name}/"
    if "//" in bounded or "/./" in bounded or "/../" in bounded:
        return "tensor names are '/'-separated parts, none of them empty, '.' or '..'"
    return None


# -- decoding (strict: input may come from strangers) -------------------------------------------


def _expect(obj: Dict[str, Any], key: str, kind, what: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise FormatError(f"{what}: field {key!r} is missing or of the wrong type.")
    return value


def decode_manifest(block: bytes) -> Manifest:
    """A weights manifest of one block, checked field by field and entry by entry (see the module
    docstring). A manifest of several blocks (:mod:`.manifests`) is read with
    :func:`nbversion.formats.manifests.read_manifest`."""
    obj = dagcbor.decode(block)
    if not isinstance(obj, dict) or obj.get("format") != MANIFEST_FORMAT:
        raise FormatError("Not an nbversion weight manifest.")
    return manifest_from_ipld(obj)


def manifest_from_ipld(obj: Dict[str, Any]) -> Manifest:
    """The manifest of a decoded ``{"format": ..., "tensors": [...]}`` map, checked."""
    entries: List[TensorEntry] = []
    names = set()
    for item in _expect(obj, "tensors", list, "manifest"):
        if not isinstance(item, dict):
            raise FormatError("manifest: a tensor entry is not a map.")
        try:
            entry = _decode_entry(item)
        except FormatError as exc:  # named here, so that the common case formats nothing
            name = item.get("name")
            shown = repr(name[:100] if isinstance(name, str) else name)
            raise FormatError(f"Tensor {shown} in the manifest: {exc}") from None
        if entry.name in names:
            raise FormatError(f"The manifest lists tensor {entry.name!r} twice.")
        names.add(entry.name)
        entries.append(entry)
    return Manifest(tuple(entries))


def _decode_entry(item: Dict[str, Any]) -> TensorEntry:
    """One manifest entry, checked; the :class:`FormatError` says what is wrong, not which entry."""
    name = _expect(item, "name", str, "manifest entry")
    problem = tensor_name_problem(name)
    if problem is not None:
        raise FormatError(f"{problem}.")
    dtype = _expect(item, "dtype", str, "manifest entry")
    itemsize = ITEMSIZE.get(dtype)
    if itemsize is None:
        raise FormatError(f"dtype {dtype[:100]!r} is not one nbversion stores.")
    shape = _expect(item, "shape", list, "manifest entry")
    if len(shape) > MAX_DIMS or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise FormatError(f"its shape must be at most {MAX_DIMS} non-negative integers.")
    size = _expect(item, "size", int, "manifest entry")
    if size != math.prod(shape) * itemsize or size > MAX_TENSOR_BYTES:
        raise FormatError(
            f"it says {size} bytes for shape {shape[:8]} of {dtype}, which is {math.prod(shape) * itemsize} "
            f"bytes (and at most {MAX_TENSOR_BYTES >> 40} TiB can be stored)."
        )
    data = dagcbor.as_cid(item.get("data"), "its data")
    if data.codec not in (RAW, DAG_PB):
        raise FormatError("its data must link a UnixFS file.")
    if item.get("byteorder") != "little":
        raise FormatError("only little-endian tensors are supported.")
    return TensorEntry(name=name, dtype=dtype, shape=tuple(shape), size=size, data=data)


def decode_version(block: bytes, cid: Optional[CID] = None) -> Version:
    """A version record, checked field by field; its model name by the rule local names follow
    (:mod:`.names`)."""
    obj = dagcbor.decode(block)
    if not isinstance(obj, dict) or obj.get("format") != VERSION_FORMAT:
        raise FormatError(f"{cid or 'Block'} is not an nbversion version.")
    what = f"version {cid}" if cid else "version"
    parents = tuple(dagcbor.as_cid(p, f"{what} parent") for p in _expect(obj, "parents", list, what))
    if any(p.codec != DAG_CBOR for p in parents):
        raise FormatError(f"{what}: parents must be dag-cbor versions.")
    manifest = dagcbor.as_cid(obj.get("manifest"), f"{what} manifest")
    if manifest.codec != DAG_CBOR:
        raise FormatError(f"{what}: its manifest must be a dag-cbor record.")
    metrics = _expect(obj, "metrics", dict, what)
    try:
        metrics = check_metrics(metrics)
        context = check_data(_expect(obj, "context", dict, what), f"{what} context")
        software = check_data(_expect(obj, "software", dict, what), f"{what} software")
        architecture = check_data(obj.get("architecture"), f"{what} architecture")
    except MetadataError as exc:
        raise FormatError(str(exc)) from exc
    data, code, environment = _decode_links(obj, what)
    kind = obj.get("kind", WEIGHTS)
    if not isinstance(kind, str) or kind not in KINDS:
        raise FormatError(f"{what} is of kind {kind!r:.100}, which this nbversion does not know. Update nbversion.")
    return Version(
        model=check_name(_expect(obj, "model", str, what), "Model", FormatError),
        parents=parents,
        manifest=manifest,
        message=_expect(obj, "message", str, what),
        metrics=metrics,
        time=_expect(obj, "time", str, what),
        author=_expect(obj, "author", str, what),
        framework=_expect(obj, "framework", str, what),
        software=software,
        architecture=architecture,
        context=context,
        kind=kind,
        data=data,
        code=code,
        environment=environment,
        cid=cid,
    )


MAX_CELL_ID = 256  # characters; nbformat's cell ids are at most 64


def _decode_links(obj: Dict[str, Any], what: str) -> Tuple[Dict[str, CID], Optional[Code], Optional[CID]]:
    """A version's optional links: data versions by role, its code, its environment record."""
    data: Dict[str, CID] = {}
    raw = obj.get("data", {})
    if not isinstance(raw, dict):
        raise FormatError(f"{what}: field 'data' must map names to data versions.")
    for role, link in raw.items():
        check_name(role, "Data link", FormatError)
        cid = dagcbor.as_cid(link, f"{what} data link {role!r}")
        if cid.codec != DAG_CBOR:
            raise FormatError(f"{what}: data link {role!r} must link a version.")
        data[role] = cid
    code = None
    if "code" in obj:
        raw = obj["code"]
        if not isinstance(raw, dict):
            raise FormatError(f"{what}: field 'code' must be a map.")
        notebook = dagcbor.as_cid(raw.get("notebook"), f"{what} code")
        if notebook.codec not in (RAW, DAG_PB):
            raise FormatError(f"{what}: its code must link a UnixFS file.")
        cell = raw.get("cell", "")
        if not isinstance(cell, str) or len(cell) > MAX_CELL_ID or not cell.isprintable():
            raise FormatError(f"{what}: its code's cell id is not a short printable text.")
        code = Code(notebook, cell)
    environment = None
    if "environment" in obj:
        environment = dagcbor.as_cid(obj["environment"], f"{what} environment")
        if environment.codec != DAG_CBOR:
            raise FormatError(f"{what}: its environment must link a dag-cbor record.")
    return data, code, environment


def encode_environment(environment: Dict[str, Any]) -> bytes:
    """The environment record of a version (the machine and software it was made with: any
    JSON-like map, e.g. ``{"python": ..., "platform": ..., "packages": {name: version}}``)."""
    fields = check_data(dict(environment), "environment")
    fields.pop("format", None)
    return dagcbor.encode({"format": ENVIRONMENT_FORMAT, **fields})


def decode_environment(block: bytes) -> Dict[str, Any]:
    """An environment record (without its ``format`` field), checked to be JSON-like data."""
    obj = dagcbor.decode(block)
    if not isinstance(obj, dict) or obj.get("format") != ENVIRONMENT_FORMAT:
        raise FormatError("Not an nbversion environment record.")
    try:
        fields = check_data(obj, "environment")
    except MetadataError as exc:
        raise FormatError(str(exc)) from exc
    fields.pop("format")
    return fields


def _decode_data_manifest(block: bytes) -> Any:
    from .datasets import decode_data_manifest  # (datasets builds on this module)

    return decode_data_manifest(block)


#: What each kind of version's manifest decodes to. A new kind registers its decoder here.
KINDS: Dict[str, Callable[[bytes], Any]] = {WEIGHTS: decode_manifest, DATA: _decode_data_manifest}
