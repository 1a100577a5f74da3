"""Versions and manifests: the dag-cbor records nbversion writes.

A *version* links its parents and its manifest and carries what a person wants to know later:
name (``model``), message, metrics, time, author, framework and software versions, an
architecture description (data, never code) and an open ``context`` map. Its *kind* says what its
manifest lists: ``weights`` (a model's named tensors) is the one kind today; another kind (a data
manifest of files, folders and tables) adds a manifest type to :data:`KINDS` and leaves the
commit pipeline and its callers as they are. The ``kind`` field is only written for kinds other
than ``weights``, so the CIDs of weight versions are those of the format's first release.

A *weights manifest* lists tensors, each with its dtype, shape, byte order, size and the CID of
its bytes as a UnixFS file.

Blocks from strangers are decoded field by field with strict type checks; anything unexpected is
a :class:`FormatError`, never executed. The encoded form is pinned by tests, since CIDs that users
hold depend on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

from ..errors import FormatError, MetadataError
from . import dagcbor
from .cid import CID, DAG_CBOR, DAG_PB, RAW

VERSION_FORMAT = "nbversion/version@1"
MANIFEST_FORMAT = "nbversion/manifest@1"
WEIGHTS = "weights"
_JSON_SCALARS = (str, int, float, bool, type(None))


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
    cid: Optional[CID] = None
    seq: Optional[int] = None
    tags: Tuple[str, ...] = ()
    stats: Optional[Dict[str, Any]] = field(default=None, compare=False, repr=False)  # set by commit

    def to_ipld(self) -> Dict[str, Any]:
        kind = {} if self.kind == WEIGHTS else {"kind": self.kind}
        return {
            **kind,
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
    def short(self) -> str:
        """A short form of the CID for tables: a prefix that refs accept."""
        return str(self.cid)[:16] if self.cid else ""

    @property
    def label(self) -> str:
        return f"v{self.seq}" if self.seq is not None else self.short


# -- validation of what users hand in ---------------------------------------------------------


def check_metrics(metrics: Optional[Dict[str, Any]]) -> Dict[str, float]:
    """Metrics as ``{name: finite number}``; :class:`MetadataError` otherwise."""
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
        out[name] = value
    return out


def check_data(value: Any, what: str, depth: int = 0) -> Any:
    """``value`` if it is JSON-like data (dicts with string keys, lists, scalars), else an error."""
    if depth > 64:
        raise MetadataError(f"{what} is nested too deeply.")
    if isinstance(value, float) and not math.isfinite(value):
        raise MetadataError(f"{what} holds {value}; only finite numbers can be stored.")
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


# -- decoding (strict: input may come from strangers) -------------------------------------------


def _expect(obj: Dict[str, Any], key: str, kind, what: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise FormatError(f"{what}: field {key!r} is missing or of the wrong type.")
    return value


def decode_manifest(block: bytes) -> Manifest:
    """A weights manifest, checked field by field."""
    obj = dagcbor.decode(block)
    if not isinstance(obj, dict) or obj.get("format") != MANIFEST_FORMAT:
        raise FormatError("Not an nbversion weight manifest.")
    entries = []
    for item in _expect(obj, "tensors", list, "manifest"):
        if not isinstance(item, dict):
            raise FormatError("manifest: a tensor entry is not a map.")
        shape = _expect(item, "shape", list, "manifest entry")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise FormatError("manifest entry: shape must be non-negative integers.")
        data = dagcbor.as_cid(item.get("data"), "manifest entry data")
        if data.codec not in (RAW, DAG_PB):
            raise FormatError("manifest entry data must link a UnixFS file.")
        if item.get("byteorder") != "little":
            raise FormatError("manifest entry: only little-endian tensors are supported.")
        entries.append(
            TensorEntry(
                name=_expect(item, "name", str, "manifest entry"),
                dtype=_expect(item, "dtype", str, "manifest entry"),
                shape=tuple(shape),
                size=_expect(item, "size", int, "manifest entry"),
                data=data,
            )
        )
    return Manifest(tuple(entries))


def decode_version(block: bytes, cid: Optional[CID] = None) -> Version:
    """A version record, checked field by field."""
    obj = dagcbor.decode(block)
    if not isinstance(obj, dict) or obj.get("format") != VERSION_FORMAT:
        raise FormatError(f"{cid or 'Block'} is not an nbversion version.")
    what = f"version {cid}" if cid else "version"
    parents = tuple(dagcbor.as_cid(p, f"{what} parent") for p in _expect(obj, "parents", list, what))
    if any(p.codec != DAG_CBOR for p in parents):
        raise FormatError(f"{what}: parents must be dag-cbor versions.")
    manifest = dagcbor.as_cid(obj.get("manifest"), f"{what} manifest")
    metrics = _expect(obj, "metrics", dict, what)
    try:
        metrics = check_metrics(metrics)
        context = check_data(_expect(obj, "context", dict, what), f"{what} context")
        software = check_data(_expect(obj, "software", dict, what), f"{what} software")
        architecture = check_data(obj.get("architecture"), f"{what} architecture")
    except MetadataError as exc:
        raise FormatError(str(exc)) from exc
    kind = obj.get("kind", WEIGHTS)
    if kind not in KINDS:
        raise FormatError(f"{what} is of kind {kind!r}, which this nbversion does not know. Update nbversion.")
    return Version(
        model=_expect(obj, "model", str, what),
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
        cid=cid,
    )


#: What each kind of version's manifest decodes to. A new kind registers its decoder here.
KINDS: Dict[str, Callable[[bytes], Any]] = {WEIGHTS: decode_manifest}
