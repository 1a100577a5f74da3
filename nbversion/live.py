"""Live models: commit the weights of an in-memory framework model, check a version out into one.

This is the layer the notebook magics, the panel bridge and widgets share. It joins an adapter
(which reads and writes named tensors of a Keras, PyTorch or NumPy model) to the repository (which
stores and finds versions). Checkout validates every tensor against the live model before touching
it; if anything fails after that, the model's previous values are put back.
"""

from __future__ import annotations

import html
from dataclasses import replace
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .adapters import Adapter, Plan, adapter_for, adapter_named, check_compatible, signature
from .cid import CID
from .errors import NbversionError
from .repo import Repo
from .tensors import as_tensor
from .unixfs import file_cid
from .version import Version

OPTIMIZER_PREFIX = "optimizer/"


class NotAModelError(NbversionError, TypeError):
    """The object is not something any adapter can read weights from."""


def require_adapter(obj: Any, name: str) -> Adapter:
    adapter = adapter_for(obj)
    if adapter is None:
        raise NotAModelError(
            f"{name!r} is a {type(obj).__name__}, not a model nbversion can read: use a Keras model, "
            "a torch.nn.Module, or a dict/list of NumPy arrays."
        )
    return adapter


def metrics_from(value: Any) -> Dict[str, float]:
    """Metrics from a dict of numbers, a dict of per-epoch lists (Keras ``History.history``, last
    value taken) or a Keras ``History`` object."""
    if hasattr(value, "history") and isinstance(value.history, dict):
        value = value.history
    if not isinstance(value, Mapping):
        raise NbversionError(f"Metrics must come from a dict (or a Keras History), not a {type(value).__name__}.")
    out: Dict[str, float] = {}
    for name, v in value.items():
        if isinstance(v, (list, tuple)):
            if not v:
                continue
            v = v[-1]
        out[str(name)] = float(v) if not isinstance(v, (int, float)) else v
    return out


@dataclass
class CommitReport:
    """What ``%commit_weights`` did, shown as HTML in a notebook and as text elsewhere."""

    version: Version
    parent: Optional[Version]
    model: str

    def _fields(self) -> List[Tuple[str, str]]:
        s = self.version.stats or {}
        parent = f"{self.parent.label} {self.parent.short}" if self.parent else "none (first version)"
        return [
            ("version", f"{self.model} {self.version.label}"),
            ("cid", str(self.version.cid)),
            ("parent", parent),
            ("tensors", f"{s.get('new_tensors', 0)} new, {s.get('reused_tensors', 0)} reused"),
            ("written", f"{_size(s.get('bytes_written', 0))} (tensors: {_size(s.get('bytes', 0))})"),
            ("time", f"{s.get('seconds', 0.0):.2f} s"),
        ] + ([("tags", ", ".join(self.version.tags))] if self.version.tags else [])

    def __repr__(self) -> str:
        return "Committed " + "  ".join(f"{k}: {v}" for k, v in self._fields())

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'><code>{html.escape(v)}</code></td></tr>"
            for k, v in self._fields()
        )
        return f"<table class='nbversion-commit'>{rows}</table>"


@dataclass
class CheckoutReport:
    """What ``%checkout`` did: the version now in the model and what changed."""

    version: Version
    model: str
    replaced: int
    unchanged: int
    max_abs_change: float
    by_position: bool = False
    optimizer: bool = False

    def __repr__(self) -> str:
        text = (
            f"{self.model} is now at {self.version.label} ({self.version.cid}): {self.replaced} tensors replaced, "
            f"{self.unchanged} already equal, max abs change {self.max_abs_change:.6g}"
        )
        if self.by_position:
            text += " (tensor names differ from the version's, matched by position)"
        if self.optimizer:
            text += "; optimizer state restored"
        return text


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def commit_model(
    repo: Repo,
    obj: Any,
    name: str,
    message: str = "",
    metrics: Optional[Mapping[str, float]] = None,
    *,
    parent: Union[CID, str, None] = None,
    branch: Optional[str] = None,
    tag: Optional[str] = None,
    context: Optional[Mapping[str, Any]] = None,
    optimizer: Any = None,
) -> CommitReport:
    """Commit the live weights of ``obj`` as a new version of model ``name``.

    ``parent``: the version the model is at (default: the model's HEAD). ``optimizer``: True for
    the model's own optimizer (Keras), or an optimizer object (PyTorch), to store its state too.
    """
    adapter = require_adapter(obj, name)
    tensors = adapter.read(obj)
    if optimizer is not None and optimizer is not False:
        tensors.update(adapter.read_optimizer(obj, None if optimizer is True else optimizer))
    version = repo.commit(
        tensors,
        model=name,
        message=message,
        metrics=metrics,
        parents=[parent] if parent is not None else None,
        branch=branch,
        framework=adapter.name,
        software=adapter.versions(),
        architecture=adapter.architecture(obj),
        context=context,
    )
    if tag:
        repo.tag(tag, version.cid)
        version = _with_stats(repo.version(version.cid), version.stats)
    parent_version = repo.version(version.parents[0]) if version.parents else None
    return CommitReport(version, parent_version, name)


def _with_stats(version: Version, stats: Optional[Dict[str, Any]]) -> Version:
    return replace(version, stats=stats)


def checkout_model(
    repo: Repo, ref: Union[str, CID], obj: Any, name: str, *, optimizer: Any = None, move_head: bool = True
) -> CheckoutReport:
    """Load the version ``ref`` into the live model ``obj``, in place, all or nothing."""
    adapter = require_adapter(obj, name)
    cid = repo.resolve(ref, name)
    version = repo.version(cid)
    entries = repo.manifest(version).by_name()
    weights = {n: e for n, e in entries.items() if not n.startswith(OPTIMIZER_PREFIX)}
    live = adapter.read(obj)
    plan: Plan = check_compatible(signature(live), {n: (e.shape, e.dtype) for n, e in weights.items()})
    opt_plan: Optional[Plan] = None
    live_opt: Dict[str, np.ndarray] = {}
    if optimizer is not None and optimizer is not False:
        stored_opt = {n: (e.shape, e.dtype) for n, e in entries.items() if n.startswith(OPTIMIZER_PREFIX)}
        if not stored_opt:
            raise NbversionError(f"{version.label} of {name!r} was committed without optimizer state.")
        live_opt = adapter.read_optimizer(obj, None if optimizer is True else optimizer)
        opt_plan = check_compatible(signature(live_opt), stored_opt)
    # Everything fits: read the stored tensors (hash-checked) before touching the model.
    stored = repo.load(cid, names=list(plan.pairs.values()))
    new = {live_name: stored[stored_name] for live_name, stored_name in plan.pairs.items()}
    changed = {n: v for n, v in new.items() if not np.array_equal(live[n], v)}
    max_abs = max((float(np.max(np.abs(v.astype(np.float64) - live[n]))) for n, v in changed.items() if v.size), default=0.0)
    backup = {n: np.array(live[n], copy=True) for n in changed}
    try:
        adapter.write(obj, changed)
        if opt_plan is not None:
            opt_stored = repo.load(cid, names=list(opt_plan.pairs.values()))
            adapter.write_optimizer(
                obj, {ln: opt_stored[sn] for ln, sn in opt_plan.pairs.items()}, None if optimizer is True else optimizer
            )
    except BaseException:
        adapter.write(obj, backup)  # put back what was there
        raise
    if move_head:
        repo.checkout(cid)
    return CheckoutReport(version, name, len(changed), len(new) - len(changed), max_abs, plan.by_position, opt_plan is not None)


def open_model(repo: Repo, ref: Union[str, CID], model: Optional[str] = None) -> Any:
    """A new live model rebuilt from a version's recorded architecture, holding its weights.

    Keras only: its architecture is recorded as Keras's own serialized config (data, not code).
    """
    version = repo.show(ref, model)
    obj = adapter_named(version.framework).rebuild(version.architecture)
    checkout_model(repo, version.cid, obj, version.model, move_head=False)
    return obj


def live_matches(repo: Repo, obj: Any, name: str, ref: Union[str, CID]) -> bool:
    """Whether the live weights are bit-for-bit those of version ``ref`` (compared by CID, no disk read)."""
    adapter = require_adapter(obj, name)
    stored = {n: e.data for n, e in repo.manifest(ref, name).by_name().items() if not n.startswith(OPTIMIZER_PREFIX)}
    live = adapter.read(obj)
    if set(stored) != set(live):
        return False
    for n, array in live.items():
        canonical = as_tensor(n, array)  # the bytes a commit would store
        if file_cid(canonical.reshape(-1).view(np.uint8)) != stored[n]:
            return False
    return True


def history_rows(versions: Sequence[Version], current: Optional[CID] = None) -> List[Dict[str, Any]]:
    """One row per version for tables and DataFrames: version, cid, time, message, tags, metrics."""
    rows = []
    for v in versions:
        row: Dict[str, Any] = {
            "version": v.label,
            "cid": str(v.cid),
            "time": v.time,
            "message": v.message,
            "tags": ", ".join(v.tags),
            "parents": ", ".join(str(p) for p in v.parents),
            "current": v.cid == current,
        }
        for metric, value in v.metrics.items():
            row[f"metric:{metric}"] = value
        rows.append(row)
    return rows


@dataclass
class HistoryTable:
    """A model's versions as an HTML table (text twin for terminals), one column per metric."""

    model: str
    versions: List[Version]
    current: Optional[CID] = None
    metric_names: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.metric_names:
            self.metric_names = sorted({m for v in self.versions for m in v.metrics})

    def _cells(self, v: Version) -> List[str]:
        return [
            ("* " if v.cid == self.current else "  ") + v.label,
            v.short,
            v.time[:19].replace("T", " "),
            v.message,
            ", ".join(v.tags),
        ] + [f"{v.metrics[m]:.6g}" if m in v.metrics else "" for m in self.metric_names]

    def _header(self) -> List[str]:
        return ["version", "cid", "time (UTC)", "message", "tags"] + self.metric_names

    def __repr__(self) -> str:
        if not self.versions:
            return f"No versions of {self.model!r} yet."
        rows = [self._cells(v) for v in self.versions]
        header = self._header()
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self.versions:
            return f"<p>No versions of <code>{html.escape(self.model)}</code> yet.</p>"
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self._header())
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in self._cells(v)) + "</tr>"
            for v in self.versions
        )
        return f"<table class='nbversion-history'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def to_dataframe(self) -> Any:
        import pandas as pd

        frame = pd.DataFrame(history_rows(self.versions, self.current))
        return frame.rename(columns=lambda c: c[len("metric:") :] if c.startswith("metric:") else c)

