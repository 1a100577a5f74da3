"""Presentation: the one place that renders versions, histories, diffs and reports as text, HTML
and JSON, for every surface (CLI, magics, widgets, REST routes, the panel's comm).

Everything a version holds came from a person, possibly a stranger. So text output passes every
value through :func:`clean`, which shows control and invisible formatting characters as escapes
(``\\x1b``, ``\\n``, ``\\u202e``) instead of letting a terminal act on them, and HTML output also
escapes every value. JSON views are the panel's protocol (:data:`PROTOCOL`); the shell's ``--json``
uses them too (JSON escapes control characters itself).
"""

from __future__ import annotations

import html
import json
import time
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from .formats.cid import CID
from .live import CheckoutReport, CommitReport, ModelStatus
from .repo import EnvironmentDiff, FsckReport, Manifest, TensorDiff, Version, cell_source, cells_upto

if TYPE_CHECKING:
    from .repo import Repo

PROTOCOL = 1


@dataclass(frozen=True)
class Rendered:
    """Something to show: plain text for terminals, HTML for notebooks (IPython picks one)."""

    text: str
    html: str = ""

    def __repr__(self) -> str:
        return self.text

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> Optional[str]:
        return self.html or None


# -- small pieces --------------------------------------------------------------------------------


def clean(text: object) -> str:
    """``text`` safe to print in a terminal: every control or invisible formatting character
    (escape sequences, newlines, bidi overrides) shown as a Python-style escape, never sent raw."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or unicodedata.category(ch) == "Zs" else repr(ch)[1:-1] for ch in text)


def clean_lines(text: object) -> List[str]:
    """Multi-line text (a cell's source) as lines, tabs expanded, each :func:`clean`."""
    return [clean(line.expandtabs(4)) for line in str(text).replace("\r\n", "\n").rstrip("\n").split("\n")]


def message(text: object) -> str:
    """An error or warning for a terminal: its lines kept, every control character in them shown."""
    return "\n".join(clean(line) for line in str(text).split("\n"))


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Rows as left-aligned text columns under ``header``, every cell :func:`clean`."""
    rows = [[clean(c) for c in r] for r in rows]
    header = [clean(h) for h in header]
    widths = [max(len(str(r[i])) for r in [*rows, header]) for i in range(len(header))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def html_table(rows: Sequence[Sequence[str]], header: Sequence[str], css_class: str = "") -> str:
    """Rows as an HTML table, every cell escaped (control characters shown as by :func:`clean`)."""
    e = html.escape
    head = "".join(f"<th style='text-align:left'>{e(clean(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{e(clean(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table class='{e(css_class)}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def number(value: Optional[float]) -> str:
    """A metric or a norm, short: 6 significant digits for floats, integers as they are."""
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def size(n: float) -> str:
    """A byte count for people: 512 B, 3.2 MiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def when(v: Version) -> str:
    """The version's UTC time to the second, for tables."""
    return v.time[:19].replace("T", " ")


# -- versions ------------------------------------------------------------------------------------


def version_json(v: Version) -> Dict[str, Any]:
    """A version as JSON data (CIDs as base32 text)."""
    return {
        "cid": str(v.cid),
        "model": v.model,
        "kind": v.kind,
        "seq": v.seq,
        "label": v.label,
        "parents": [str(p) for p in v.parents],
        "manifest": str(v.manifest),
        "message": v.message,
        "metrics": v.metrics,
        "time": v.time,
        "author": v.author,
        "framework": v.framework,
        "software": v.software,
        "architecture": v.architecture,
        "context": v.context,
        "tags": list(v.tags),
        **({"data": {role: str(cid) for role, cid in sorted(v.data.items())}} if v.data else {}),
    }


def version_detail_json(v: Version, manifest: Manifest) -> Dict[str, Any]:
    """A version with its tensors' names, dtypes, shapes, sizes and CIDs."""
    out = version_json(v)
    out["tensors"] = [
        {"name": t.name, "dtype": t.dtype, "shape": list(t.shape), "size": t.size, "cid": str(t.data)}
        for t in manifest.tensors
    ]
    return out


def version_text(v: Version, manifest: Manifest, provenance: Optional[Sequence[str]] = None) -> str:
    """Everything a version records, for a terminal or a cell's output (every value :func:`clean`;
    the cell's source keeps its lines, tabs expanded); ``provenance``: the lines of
    :func:`provenance_lines`, shown before the tensors."""
    lines = [
        f"{v.model} {v.label}  {v.cid}",
        f"parents:   {', '.join(str(p) for p in v.parents) or 'none (first version)'}",
        f"time:      {v.time}   author: {v.author}",
        f"message:   {v.message}",
        f"metrics:   {', '.join(f'{k}={number(x)}' for k, x in v.metrics.items()) or 'none'}",
        f"tags:      {', '.join(v.tags) or 'none'}",
        f"framework: {v.framework}   software: {', '.join(f'{k} {x}' for k, x in v.software.items())}",
    ]
    lines = [clean(line) for line in lines]
    context = dict(v.context)
    if context.get("notebook"):
        lines.append(clean(f"notebook:  {context.pop('notebook')}"))
    cell = context.pop("cell", None) or {}
    if isinstance(cell, dict) and cell:
        cell_id = f" (cell id {cell['id']})" if cell.get("id") else ""
        lines.append(clean(f"cell:      [{cell.get('execution_count')}]{cell_id}"))
        source = cell.get("source") or ""
        lines += ["    " + line for line in clean_lines(source)] if source else []
    if provenance is not None:
        context.pop("code_source", None)  # (the code line says it)
    lines += [clean(f"context:   {key}: {json.dumps(value)}") for key, value in context.items()]
    lines += list(provenance or ())
    lines.append(f"tensors:   {len(manifest.tensors)}, {manifest.nbytes:,} bytes")
    rows = [[t.name, t.dtype, "x".join(map(str, t.shape)) or "scalar", f"{t.size:,}", str(t.data)] for t in manifest.tensors]
    return "\n".join(lines) + "\n\n" + table(rows, ["tensor", "dtype", "shape", "bytes", "cid"])


def version_html(v: Version) -> str:
    """A version's summary as HTML (the inline widget's details pane), every value escaped."""

    def e(value: object) -> str:
        return html.escape(clean(value))

    metrics = ", ".join(f"{e(k)}={number(x)}" for k, x in v.metrics.items()) or "none"
    cell = v.context.get("cell", {}) if isinstance(v.context, dict) else {}
    has_source = isinstance(cell, dict) and cell.get("source")
    source = f"<pre>{html.escape(chr(10).join(clean_lines(cell['source'])))}</pre>" if has_source else ""
    return (
        f"<b>{e(v.model)} {e(v.label)}</b> <code>{e(str(v.cid))}</code><br>"
        f"{e(v.time)} by {e(v.author)}<br>message: {e(v.message)}<br>metrics: {metrics}<br>"
        f"tags: {e(', '.join(v.tags)) or 'none'}{source}"
    )


def version_line(v: Version, current: Optional[CID], metric: Optional[str]) -> str:
    """One line per version for lists: current mark, label, short CID, message, tags, a metric."""
    mark = "●" if v.cid == current else "○"
    tags = f" [{', '.join(v.tags)}]" if v.tags else ""
    value = f"  {metric}={v.metrics[metric]:.4g}" if metric and metric in v.metrics else ""
    return clean(f"{mark} {v.label}  {v.short}  {v.message}{tags}{value}")


# -- provenance: the code and environment a version was made with -------------------------------

#: Packages whose versions a version's summary names when its environment has them.
KEY_PACKAGES = ("numpy", "keras", "tensorflow", "tensorflow-cpu", "torch", "jax", "nbversion")
NotebookAndCell = Optional[Tuple[Dict[str, Any], str]]


def provenance_lines(
    v: Version, code: NotebookAndCell, environment: Optional[Dict[str, Any]], source_lines: int = 5
) -> List[str]:
    """A version's code (notebook, committing cell and its first lines, code CID) and environment
    (Python, platform, CPU/GPU, packages), for :func:`version_text`; "not recorded" for either
    when the version has none."""
    lines: List[str] = []
    if code is None or v.code is None:
        lines.append("code:      not recorded")
    else:
        notebook, cell_id = code
        where = v.context.get("notebook") or "(no notebook file)"
        origin = {"history": ", from the kernel's inputs"}.get(v.context.get("code_source"), "")
        lines.append(clean(f"code:      {where}{origin}  {v.code.notebook}"))
        cells = cells_upto(notebook, cell_id)
        committing = cells[-1] if cells and cells[-1].get("id") == cell_id else None
        total = len(notebook.get("cells", []))
        lines.append(clean(f"           committed by cell {cell_id} ({len(cells)} of {total} cells)"))
        if committing is not None:
            text = clean_lines(cell_source(committing))
            lines += ["    " + line for line in text[:source_lines]]
            lines += ["    ..."] if len(text) > source_lines else []
    if environment is None or v.environment is None:
        lines.append("environment: not recorded")
        return lines
    env = environment
    packages = env.get("packages") if isinstance(env.get("packages"), dict) else {}
    gpus = ", ".join(map(str, env.get("gpus") or [])) or "none"
    known = ", ".join(f"{n} {packages[n]}" for n in KEY_PACKAGES if n in packages)
    lines += [
        clean(f"environment: {v.environment}"),
        clean(f"           python {env.get('python')} ({env.get('implementation')}), "
              f"{env.get('system')} {env.get('release')} {env.get('machine')}"),
        clean(f"           cpu {env.get('cpu')} x {env.get('cpus')}; gpus: {gpus}"),
        clean(f"           {len(packages)} packages" + (f": {known}" if known else "")),
    ]  # fmt: skip
    return lines


def provenance_json(v: Version, code: NotebookAndCell, environment: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A version's code and environment as JSON data (None where not recorded): the code's CID,
    notebook path, committing cell id and source; the environment record and its CID."""
    out: Dict[str, Any] = {"code": None, "environment": None}
    if code is not None and v.code is not None:
        notebook, cell_id = code
        cells = cells_upto(notebook, cell_id)
        source = cell_source(cells[-1]) if cells and cells[-1].get("id") == cell_id else None
        out["code"] = {"cid": str(v.code.notebook), "notebook": v.context.get("notebook"), "cell": cell_id,
                       "source": source, "origin": v.context.get("code_source")}  # fmt: skip
    if environment is not None and v.environment is not None:
        out["environment"] = {"cid": str(v.environment), **environment}
    return out


def code_text(v: Version, code: NotebookAndCell) -> str:
    """The stored notebook's cells up to the committing one, as a script in the percent format
    (``# %%`` before each code cell, markdown as comments), which editors and jupytext run."""
    if code is None or v.code is None:
        return clean(f"No code recorded for {v.model} {v.label}: it was not committed from a notebook.")
    notebook, cell_id = code
    out = [clean(f"# {v.model} {v.label}  {v.cid}"),
           clean(f"# code {v.code.notebook}, committed by cell {cell_id}")]  # fmt: skip
    for cell in cells_upto(notebook, cell_id):
        kind = cell.get("cell_type")
        text = clean_lines(cell_source(cell))
        if kind == "code":
            out += ["", clean(f"# %% id={cell.get('id', '')}"), *text]
        else:
            out += ["", clean(f"# %% [{kind}]"), *("# " + line if line else "#" for line in text)]
    return "\n".join(out)


def env_diff_text(d: EnvironmentDiff) -> str:
    """What changed between two versions' environments: machine fields, then packages added,
    removed and changed (old -> new); "same environment" when the records are one."""
    a = f"{d.a.model} {d.a.label}" if d.a is not None else "recorded"
    b = f"{d.b.model} {d.b.label}" if d.b is not None else "this environment"
    head = clean(f"{a} -> {b}: ")
    if d.missing:
        return head + clean(f"environment not recorded for {', '.join(d.missing)}.")
    if d.same:
        record = f" ({d.a.environment})" if d.a is not None and d.a.environment else ""
        return head + clean(f"same environment{record}.")
    lines = [head + f"{len(d.fields)} fields, {len(d.added)} packages added, {len(d.removed)} removed, "
             f"{len(d.changed)} changed."]  # fmt: skip
    lines += [clean(f"  {name}: {_env_value(old)} -> {_env_value(new)}") for name, old, new in d.fields]
    lines += [clean(f"  + {n} {ver}") for n, ver in d.added.items()]
    lines += [clean(f"  - {n} {ver}") for n, ver in d.removed.items()]
    lines += [clean(f"  ~ {n} {old} -> {new}") for n, (old, new) in d.changed.items()]
    return "\n".join(lines)


def env_diff_json(d: EnvironmentDiff) -> Dict[str, Any]:
    """:func:`env_diff_text` as JSON data."""
    return {
        "a": str(d.a.cid) if d.a else None, "b": str(d.b.cid) if d.b else None, "same": d.same,
        "missing": list(d.missing),
        "environments": [str(v.environment) if v and v.environment else None for v in (d.a, d.b)],
        "fields": [{"name": n, "old": old, "new": new} for n, old, new in d.fields],
        "added": d.added, "removed": d.removed, "changed": {n: {"old": o, "new": w} for n, (o, w) in d.changed.items()},
    }  # fmt: skip


def _env_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return "not recorded" if value is None else str(value)



# -- histories -----------------------------------------------------------------------------------


def with_remotes(fields: Dict[str, Any], states: Dict[str, List[Tuple[str, str]]]) -> Dict[str, Any]:
    """A version's JSON ``fields`` with ``"remotes": [{"name": ..., "state": ...}]`` when a push
    left it on a remote (the shape the panel's listing has)."""
    on = states.get(fields["cid"])
    return {**fields, "remotes": [{"name": n, "state": s} for n, s in on]} if on else fields


def remote_states_text(states: Sequence[Tuple[str, str]]) -> str:
    """Where a version is, as a history's remotes column shows it: ``lab: pinned, backup: pushed``."""
    return clean(", ".join(f"{name}: {state}" for name, state in states))


@dataclass
class HistoryTable:
    """Versions as a table, one column per metric: text, HTML (``%history``) and a DataFrame (``-o``).

    ``current`` is marked with ``*``; ``with_model`` adds a model column (the shell's ``log``);
    ``remotes`` (``Repo.remote_states()``) adds a column saying where pushes left each version
    (``lab: pinned``), when any version shown is on a remote. ``labels`` (data version CID ->
    ``digits v2``, :func:`data_labels`) names the data versions a model version links, in a
    ``data`` column (``train=digits v2``); ``items`` (data version CID -> what it holds,
    :func:`data_items`) adds an ``items`` column to a data set's history."""

    model: Optional[str]
    versions: List[Version]
    current: Optional[CID] = None
    with_model: bool = False
    metric_names: List[str] = field(default_factory=list)
    remotes: Dict[str, List[Tuple[str, str]]] = field(default_factory=dict)
    labels: Dict[str, str] = field(default_factory=dict)
    items: Dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.metric_names:
            self.metric_names = sorted({m for v in self.versions for m in v.metrics})
        self._on_remotes = any(str(v.cid) in self.remotes for v in self.versions)
        self._extra = ["data"] * any(v.data for v in self.versions) + ["items"] * any(
            str(v.cid) in self.items for v in self.versions
        )

    def header(self) -> List[str]:
        remote = ["remotes"] * self._on_remotes
        return (["model"] * self.with_model + ["version", "cid", "time (UTC)", "message", "tags"] + remote + self._extra
                + self.metric_names)  # fmt: skip

    def data_links(self, v: Version) -> str:
        """The data versions ``v`` links: ``train=digits v2, test=digits-test v1``."""
        return ", ".join(f"{role}={self.labels.get(str(cid), str(cid)[:16])}" for role, cid in sorted(v.data.items()))

    def _extra_cells(self, v: Version) -> List[str]:
        return [self.data_links(v) if c == "data" else self.items.get(str(v.cid), "") for c in self._extra]

    def cells(self, v: Version) -> List[str]:
        label = v.label if self.current is None else ("* " if v.cid == self.current else "  ") + v.label
        remote = [remote_states_text(self.remotes.get(str(v.cid), []))] * self._on_remotes
        return [v.model] * self.with_model + [label, v.short, when(v), v.message, ", ".join(v.tags)] + remote + (
            self._extra_cells(v)
        ) + [number(v.metrics.get(m)) for m in self.metric_names]

    def _empty(self) -> str:
        return clean(f"No versions of {self.model!r} yet.") if self.model else "No versions yet."

    def __repr__(self) -> str:
        if not self.versions:
            return self._empty()
        return table([self.cells(v) for v in self.versions], self.header())

    def _repr_html_(self) -> str:
        if not self.versions:
            return f"<p>{html.escape(self._empty())}</p>"
        return html_table([self.cells(v) for v in self.versions], self.header(), "nbversion-history")

    def rows(self) -> List[Dict[str, Any]]:
        """One dict per version: version, cid, time, message, tags, parents, current, then metrics."""
        out = []
        for v in self.versions:
            row: Dict[str, Any] = {
                "version": v.label, "cid": str(v.cid), "time": v.time, "message": v.message,
                "tags": ", ".join(v.tags), "parents": ", ".join(str(p) for p in v.parents),
                "current": v.cid == self.current,
            }  # fmt: skip
            if self._on_remotes:
                row["remotes"] = remote_states_text(self.remotes.get(str(v.cid), []))
            row.update(zip(self._extra, self._extra_cells(v)))
            row.update({(m if m not in row else f"metric:{m}"): x for m, x in v.metrics.items()})
            out.append(row)
        return out

    def to_dataframe(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows())


def history_json_text(repo: Optional["Repo"], limit: Optional[int] = None, offset: int = 0) -> str:
    """Every version of every model, newest first, with each model's HEAD, branches and the tags,
    as JSON text (what the panel reads; the REST route sends it as it is).

    Each version has the fields a listing shows (``Repo.log_json``: no manifest, software,
    architecture or context, which ``version_detail_json`` has), read from the index's summaries,
    so the list of 10,000 versions is put together without decoding one record.

    With ``limit``, one page: the ``limit`` versions after the newest ``offset``, and ``next``,
    the offset to ask for next (``null`` after the last page); the panel checks that every page
    has the first one's ``fingerprint`` (else the history changed between them).
    """
    paged = {} if limit is None else {"next": None}
    if repo is None or not repo.exists:
        empty = {"protocol": PROTOCOL, "repo": str(repo.path) if repo else None, "models": {}, "tags": {}, **paged,
                 "versions": []}  # fmt: skip
        return json.dumps(empty)
    fingerprint = repo.fingerprint()  # first: a change made while this is read shows at the next poll
    models: Dict[str, Any] = {}
    for model in repo.models():
        branch, head = repo.head(model)
        models[model] = {
            "head": str(head) if head else None,
            "branch": branch,
            "branches": {name.split("/", 1)[1]: str(cid) for name, cid in repo.branches(model).items()},
        }
    rest = {
        "protocol": PROTOCOL,
        "repo": str(repo.path),
        "models": models,
        "tags": {name: str(cid) for name, cid in repo.tags().items()},
        "fingerprint": fingerprint,
    }
    if limit is None:
        versions = repo.log_json()
    else:
        versions, following = repo.log_page(None, limit, offset)
        rest["next"] = None if following is None else str(following)
    return f'{json.dumps(rest)[:-1]}, "versions": [{",".join(versions)}]}}'


def history_json(repo: Optional["Repo"]) -> Dict[str, Any]:
    """:func:`history_json_text` as JSON data (the kernel's comm sends data, not text)."""
    return json.loads(history_json_text(repo))


def unchanged_json(fingerprint: str) -> Dict[str, Any]:
    """The answer to a poll when nothing changed since ``fingerprint``."""
    return {"protocol": PROTOCOL, "unchanged": True, "fingerprint": fingerprint}


# -- diffs ---------------------------------------------------------------------------------------


def diff_json(d: TensorDiff) -> Dict[str, Any]:
    return {
        "name": d.name,
        "status": d.status,
        "shape_a": list(d.shape_a) if d.shape_a is not None else None,
        "shape_b": list(d.shape_b) if d.shape_b is not None else None,
        "l2": d.l2,
        "max_abs": d.max_abs,
    }


_DIFF_HEADER = ["tensor", "status", "l2 of change", "max abs change"]


def _diff_rows(diffs: Sequence[TensorDiff]) -> List[List[str]]:
    return [[d.name, d.status, number(d.l2), number(d.max_abs)] for d in diffs]


def diff_text(diffs: Sequence[TensorDiff]) -> str:
    return table(_diff_rows(diffs), _DIFF_HEADER)


def diff_html(diffs: Sequence[TensorDiff]) -> str:
    return html_table(_diff_rows(diffs), _DIFF_HEADER, "nbversion-diff")


def diff_view(diffs: Sequence[TensorDiff]) -> Rendered:
    return Rendered(diff_text(diffs), diff_html(diffs))


# -- reports -------------------------------------------------------------------------------------


def _unchanged_since(report: CommitReport) -> Optional[str]:
    """The parent's label when the commit recorded its parent's tensors again (``allow_empty``)."""
    parent = report.parent
    return parent.label if parent is not None and parent.manifest == report.version.manifest else None


def _commit_fields(report: CommitReport) -> List[List[str]]:
    s = report.version.stats or {}
    parent = f"{report.parent.label} {report.parent.short}" if report.parent else "none (first version)"
    same = _unchanged_since(report)
    count, total = s.get("tensors", s.get("new_tensors", 0) + s.get("reused_tensors", 0)), size(s.get("bytes", 0))
    tensors = (
        f"unchanged since {same} ({count} tensors, {total})" if same
        else f"{s.get('new_tensors', 0)} new, {s.get('reused_tensors', 0)} reused ({total} in all)"
    )  # fmt: skip
    fields = [
        ["version", f"{report.model} {report.version.label}"],
        ["cid", str(report.version.cid)],
        ["parent", parent],
        ["message", report.version.message],
        ["metrics", ", ".join(f"{k}={number(x)}" for k, x in report.version.metrics.items()) or "none"],
        ["tensors", tensors],
        ["written", size(s.get("bytes_written", 0))],
        ["time", f"{s.get('seconds', 0.0):.2f} s"],
    ]
    return fields + ([["tags", ", ".join(report.version.tags)]] if report.version.tags else [])


def commit_line(report: CommitReport) -> str:
    """A commit in the one line a user scans: ``clf v3 bafy… "message" acc=0.97 [best] +16.8 MiB written``."""
    v, s = report.version, report.version.stats or {}
    same = _unchanged_since(report)
    parts = [report.model, v.label, v.short + "…"]
    parts += [f'"{v.message}"'] if v.message else []
    parts += [f"{k}={number(x)}" for k, x in v.metrics.items()]
    parts += [f"[{', '.join(v.tags)}]"] if v.tags else []
    parts.append(f"unchanged since {same}" if same else f"+{size(s.get('bytes_written', 0))} written")
    return clean(" ".join(parts))


def commit_view(report: CommitReport) -> Rendered:
    """What ``%commit_weights`` did: one line (text), and as HTML the same line whose full table
    opens on demand (a ``<details>`` element)."""
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'><code>{html.escape(clean(v))}</code></td></tr>"
        for k, v in _commit_fields(report)
    )
    line = commit_line(report)
    return Rendered(
        line,
        f"<details class='nbversion-commit'><summary><code>{html.escape(line)}</code></summary>"
        f"<table>{rows}</table></details>",
    )


def checkout_text(report: CheckoutReport) -> str:
    """What ``%checkout`` did: the version now in the model and what changed."""
    v = report.version
    text = (
        f"{report.model} is now at {v.label} ({v.cid}): {report.replaced} tensors replaced, "
        f"{report.unchanged} already equal"
    )
    if report.max_abs_change is not None:
        text += f", max abs change {report.max_abs_change:.6g}"
    if report.by_position:
        text += " (tensor names differ from the version's, matched by position)"
    if report.optimizer:
        text += "; optimizer state restored"
    return clean(text)


def checkout_json(report: CheckoutReport) -> Dict[str, Any]:
    return {
        "model": report.model,
        "cid": str(report.version.cid),
        "label": report.version.label,
        "replaced": report.replaced,
        "unchanged": report.unchanged,
        "max_abs_change": report.max_abs_change,
    }


def fsck_json(report: FsckReport) -> Dict[str, Any]:
    return {
        "ok": report.ok,
        "blocks_checked": report.blocks_checked,
        "versions_checked": report.versions_checked,
        "corrupt": {str(c): u for c, u in report.corrupt.items()},
        "missing": {str(c): u for c, u in report.missing.items()},
        "problems": report.problems,
    }


def fsck_text(report: FsckReport) -> str:
    lines = [f"Checked {report.blocks_checked} blocks and {report.versions_checked} versions."]
    for title, bad in (("corrupt", report.corrupt), ("missing", report.missing)):
        for cid, users in bad.items():
            lines.append(f"{title} block {cid}: used by {', '.join(users) or 'no version'}")
    lines += [f"problem: {p}" for p in report.problems]
    lines.append("Repository is healthy." if report.ok else "Repository has problems (see above).")
    return "\n".join(clean(line) for line in lines)


def status_text(repo_path: object, models: Sequence[ModelStatus]) -> str:
    """``%nbversion status``: the repository, and where each live model stands."""
    lines = [f"repository: {repo_path}"]
    if not models:
        lines.append("No models tracked yet: %commit_weights MODEL starts tracking one.")
    for m in models:
        if m.version is None:
            lines.append(f"{m.name}: not committed in this session")
            continue
        state = {True: "live weights equal it", False: "live weights changed since", None: "no longer in the namespace"}
        where = f"on branch {m.branch}" if m.branch else "detached"
        lines.append(f"{m.name}: at {m.version.label} {m.version.short} ({where}); {state[m.live_equal]}")
    return "\n".join(clean(line) for line in lines)


def tag_line(name: str, cid: CID) -> str:
    return clean(f"{name} -> {cid}")


def tags_text(tags: Dict[str, CID]) -> str:
    return "\n".join(clean(f"{name}  {cid}") for name, cid in tags.items()) or "No tags."


def imported_text(versions: Sequence[Version]) -> str:
    """What an import added, one version a line."""
    if not versions:
        return "Nothing new: every version in that file was already here."
    return "\n".join(clean(f"Imported {v.model} {v.label}  {v.cid}  {v.message}") for v in versions)


def error_json(exc: BaseException) -> Dict[str, Any]:
    """An error as the panel shows it: its type and its message."""
    return {"type": type(exc).__name__, "message": str(exc)}


# --- remotes, push and pull (IPFS nodes) ------------------------------------------------------


def remotes_text(remotes: Sequence[Any]) -> str:
    """``nbversion remote list``: one remote a line, its name and its node's RPC address (a pinning
    service: its endpoint, and the node its blocks go through)."""
    if not remotes:
        return "No remotes. Add one with `nbversion remote add NAME http://127.0.0.1:5001`."

    def kind(r: Any) -> str:
        if getattr(r, "kind", "ipfs") != "pinning":
            return ""
        return f"  (pinning service{f', through {r.via}' if r.via else ''})"

    return "\n".join(clean(f"{r.name}  {r.url}{kind(r)}") for r in remotes)


def remotes_json(remotes: Sequence[Any]) -> Dict[str, Any]:
    """:func:`remotes_text` as JSON data."""
    return {r.name: {"url": r.url, "kind": getattr(r, "kind", "ipfs"), "via": getattr(r, "via", None)} for r in remotes}


def push_text(report: Any) -> str:
    """What a push sent: nothing ("up to date"), or its blocks and bytes; and where it is pinned."""
    v = report.version
    what = f"{v.model} {v.label} ({v.cid})"
    if report.up_to_date:
        sent = f"up to date: the node already held all {report.blocks} blocks; sent nothing"
    else:
        sent = (
            f"sent {report.blocks_sent} of {report.blocks} blocks ({size(report.bytes_sent)}; "
            f"the rest were on the node already)"
        )
    return clean(f"Pushed {what} to {report.remote}: {sent}. Pinned there.")


def push_json(report: Any) -> Dict[str, Any]:
    return {
        "remote": report.remote, "cid": str(report.version.cid), "model": report.version.model,
        "label": report.version.label, "blocks": report.blocks, "blocks_sent": report.blocks_sent,
        "bytes_sent": report.bytes_sent, "car_bytes": report.car_bytes, "up_to_date": report.up_to_date,
    }  # fmt: skip


def pull_text(report: Any) -> str:
    """What a pull fetched (blocks, bytes; blocks found locally) and the versions it added."""
    fetched = f"fetched {report.blocks_fetched} blocks ({size(report.bytes_fetched)}) from {report.remote}"
    if report.blocks_local:
        fetched += f", {report.blocks_local} were here already"
    lines = [clean(f"Pulled {report.root}: {fetched}.")]
    if report.versions:
        lines += [clean(f"Added {v.model} {v.label}  {v.cid}  {v.message}") for v in report.versions]
    else:
        lines.append("Nothing new: every version it reaches was already here.")
    return "\n".join(lines)


def pull_json(report: Any) -> Dict[str, Any]:
    return {
        "remote": report.remote, "cid": str(report.root), "blocks_fetched": report.blocks_fetched,
        "bytes_fetched": report.bytes_fetched, "blocks_local": report.blocks_local,
        "versions": [version_json(v) for v in report.versions],
    }  # fmt: skip


class TransferProgress:
    """A push's or pull's progress as a notebook shows it while it runs: :meth:`add` is the
    transfer's byte-counting callback; :meth:`due` says when to draw (only once the transfer has
    run ``delay`` seconds, so small ones show nothing, then at most every ``interval`` seconds);
    :meth:`view` is what to draw (a line of text, and an HTML progress bar when ``total`` is known)."""

    def __init__(self, verb: str, total: Optional[int] = None, delay: float = 0.5, interval: float = 0.2,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.verb, self.total, self.delay, self.interval, self.clock = verb, total, delay, interval, clock
        self.done = 0
        self.started = clock()
        self._drawn: Optional[float] = None

    def add(self, n: int) -> None:
        self.done += n

    def due(self) -> bool:
        """Whether to draw now (and, if so, noted as drawn)."""
        now = self.clock()
        if now - self.started < self.delay or (self._drawn is not None and now - self._drawn < self.interval):
            return False
        self._drawn = now
        return True

    @property
    def drawn(self) -> bool:
        return self._drawn is not None

    def text(self, finished: bool = False) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        of = f" of {size(self.total)}" if self.total else ""
        state = "done" if finished else "…"
        return clean(f"{self.verb}: {size(self.done)}{of} ({size(self.done / elapsed)}/s) {state}")

    def view(self, finished: bool = False) -> Rendered:
        line = html.escape(self.text(finished))
        bar = ""
        if self.total:
            bar = f'<progress value="{min(self.done, self.total)}" max="{self.total}"></progress> '
        elif not finished:
            bar = "<progress></progress> "  # no total known: an indeterminate bar
        return Rendered(self.text(finished), f'<div class="nbversion-progress">{bar}{line}</div>')


# -- announcements (nbversion.repo.announce) ------------------------------------------------------


def _peer(peer_id: str) -> str:
    """A peer ID, short enough for a line: its last 8 characters (where IDs differ)."""
    return f"…{peer_id[-8:]}" if len(peer_id) > 12 else (peer_id or "an unsigned sender")


def announce_text(report: Any) -> str:
    """Where an announcement went, and whether anyone was listening."""
    v, n = report.version, len(report.peers)
    said = f"Announced {v.model} {v.label} ({v.cid}) on topic {report.topic!r} through {report.remote}"
    if n:
        return clean(f"{said}: {n} peer{'s' if n != 1 else ''} of the node subscribed.")
    return clean(
        f"{said}, but no peer of the node is subscribed to that topic right now, so nobody received it "
        "(pubsub keeps no history): announce again once a peer watches it."
    )


def announce_json(report: Any) -> Dict[str, Any]:
    return {"remote": report.remote, "topic": report.topic, "cid": str(report.version.cid), "bytes": report.size,
            "peers": list(report.peers)}  # fmt: skip


def watch_event_text(event: Any) -> str:
    """One announcement a watch handled: the version pulled and verified, or why it was refused."""
    claim = event.announcement
    if event.accepted:
        v = event.version
        metrics = "  ".join(f"{k}={number(x)}" for k, x in v.metrics.items())
        how = "pulled and verified" if event.new else "already here"
        return clean(f"{v.model} {v.label}  {v.cid}  {v.message}  {metrics}".rstrip() + f"  (from {_peer(claim.sender)}; {how})")
    return clean(f"REFUSED {claim.cid} announced by {_peer(claim.sender)} as {claim.model}: {event.reason}.")


def watch_text(report: Any) -> str:
    """A watch's summary line: versions shown, announcements refused, messages skipped."""
    n, refused = len(report.versions), len(report.refused)
    parts = [f"{n} version{'s' if n != 1 else ''} verified", f"{refused} announcement{'s' if refused != 1 else ''} refused"]
    if report.skipped:
        parts.append(f"{report.skipped} message{'s' if report.skipped != 1 else ''} skipped (not an announcement)")
    return clean(f"Watched topic {report.topic!r} on {report.remote} for {report.seconds:.1f} s: {', '.join(parts)}.")


def watch_json(report: Any) -> Dict[str, Any]:
    def event(e: Any) -> Dict[str, Any]:
        out: Dict[str, Any] = {"cid": str(e.announcement.cid), "from": e.announcement.sender, "accepted": e.accepted}
        if e.accepted:
            out.update(new=e.new, version=version_json(e.version))
        else:
            out.update(claimed_model=e.announcement.model, reason=e.reason)
        return out

    return {"remote": report.remote, "topic": report.topic, "seconds": round(report.seconds, 3), "skipped": report.skipped,
            "events": [event(e) for e in report.events]}  # fmt: skip


def watch_view(topic: str, remote: str, events: Sequence[Any], running: bool, error: str = "") -> Rendered:
    """A kernel's watch of ``topic`` as one output that is redrawn in place: a line saying whether
    it runs, then each announcement handled (:func:`watch_event_text`), the newest last."""
    verified = sum(1 for e in events if e.accepted)
    refused = len(events) - verified
    counts = f"{verified} version{'s' if verified != 1 else ''} verified, {refused} refused"
    if running:
        head = f"Watching topic {topic!r} on {remote} ({counts}); stop with %nbversion watch {topic} --stop"
    else:
        head = f"Stopped watching topic {topic!r} on {remote} ({counts})" + (f": {error}" if error else ".")
    lines = [clean(head)] + [watch_event_text(e) for e in events]
    items = "".join(
        f'<li class="{"nbversion-refused" if not e.accepted else "nbversion-verified"}">{html.escape(line)}</li>'
        for e, line in zip(events, lines[1:])
    )
    body = f'<div class="nbversion-watch"><div>{html.escape(lines[0])}</div>' + (f"<ul>{items}</ul>" if items else "")
    return Rendered("\n".join(lines), body + "</div>")


def announced_json(event: Any, topic: str, remote: str) -> Dict[str, Any]:
    """The panel's event for a version a watch verified: its summary, who announced it, where."""
    return {"event": "announced", "topic": topic, "remote": remote, "from": event.announcement.sender,
            "new": event.new, "version": version_json(event.version)}  # fmt: skip


# --- pinning services ------------------------------------------------------------------------------


def pin_report_text(report: Any, command: str = "nbversion") -> str:
    """What a push to a pinning service did: the push to its node, then the pin request's status."""
    pin, service = report.pin, report.service
    asked = f"{service} already had a pin request for it" if report.reused else f"Asked {service} to pin it"
    line = f"{asked} (request {pin.requestid}): {pin.status}"
    if pin.status == "pinned":
        line += "."
    elif report.waited:
        line += f"; not pinned yet, the service carries on. See `{command} pins {service}`."
    else:
        line += f" (not waited for). See `{command} pins {service}`."
    return "\n".join([push_text(report.pushed), clean(line)])


def pin_report_json(report: Any) -> Dict[str, Any]:
    """:func:`pin_report_text` as JSON data."""
    return {**push_json(report.pushed), "via": report.via, "service": report.service,
            "pin": pin_json(report.pin), "reused": report.reused}  # fmt: skip


def pin_json(pin: Any) -> Dict[str, Any]:
    """A pinning service's pin request (its status, CID, name, origins) as JSON data."""
    return {"requestid": pin.requestid, "status": pin.status, "cid": str(pin.cid), "name": pin.name,
            "created": pin.created, "origins": list(pin.origins), "meta": dict(pin.meta)}  # fmt: skip


# --- notebooks: pins, runs, reproductions (nbversion.notebooks) -------------------------------------


def pins_text(notebook: object, pins: Dict[str, str]) -> str:
    """A notebook's pins (``metadata.nbversion.pins``), one ``MODEL  CID`` line each."""
    if not pins:
        return clean(f"{notebook} pins no versions.")
    width = max(len(m) for m in pins)
    return "\n".join(clean(f"{model:<{width}}  {cid}") for model, cid in sorted(pins.items()))


def committed_text(versions: Sequence[Version]) -> str:
    """The versions a run committed, oldest first: model, label, full CID and metrics."""
    if not versions:
        return "It committed no versions."
    lines = [f"It committed {len(versions)} version{'s' * (len(versions) != 1)}:"]
    for v in versions:
        metrics = "  ".join(f"{name}={number(value)}" for name, value in v.metrics.items())
        lines.append(clean(f"  {v.model} {v.label}  {v.cid}  {metrics}".rstrip()))
    return "\n".join(lines)


def run_text(report: Any) -> str:
    """What ``nbversion run`` did (a :class:`nbversion.notebooks.run.RunReport`)."""
    pins = ", ".join(f"{m}={c}" for m, c in sorted(report.pins.items())) or "none"
    head = "Ran" if report.ok else "Stopped running"
    lines = [clean(f"{head} {report.source.name} (pins: {pins}); the executed notebook is {report.output}"),
             committed_text(report.committed)]  # fmt: skip
    return "\n".join(lines)


def reproduce_text(report: Any) -> str:
    """What ``nbversion reproduce`` found (a :class:`nbversion.notebooks.reproduce.ReproduceReport`)."""
    a, b = report.recorded, report.reproduced
    lines: List[str] = []
    if report.failed is not None:
        lines.append(clean(f"The rerun stopped: {report.failed}"))
    if b is None:
        lines.append(clean(f"The rerun committed no version of {a.model}, so {a.label} was not reproduced."))
    elif report.match:
        lines.append(clean(f"{a.model} {a.label} reproduced bit for bit: the rerun's weights are the recorded ones "
                           f"(manifest {a.manifest})."))  # fmt: skip
    else:
        lines.append(clean(f"{a.model} {a.label} was NOT reproduced: the rerun's weights (manifest {b.manifest}) "
                           f"differ from the recorded ones (manifest {a.manifest})."))  # fmt: skip
        if report.diffs:
            lines.append(diff_text(report.diffs))
    if report.metrics:
        rows = [[name, number(x), number(y)] for name, x, y in report.metrics]
        lines.append(table(rows, ["metric", "recorded", "rerun"]))
    for role, label, same in report.data:
        said = "not linked by the rerun" if same is None else "the same content" if same else "DIFFERENT content"
        lines.append(clean(f"Data {role}: {label} (recorded); the rerun's: {said}."))
    if report.environment is not None and not report.match:
        lines.append("Environment, recorded -> rerun: " + env_diff_text(report.environment))
    if report.scratch is not None:
        lines.append(clean(f"Kept the rerun in {report.scratch} (its repository and the executed notebook)."))
    return "\n".join(lines)


def reproduce_json(report: Any) -> Dict[str, Any]:
    """:func:`reproduce_text` as JSON data."""
    b, failed = report.reproduced, report.failed
    return {
        "recorded": str(report.recorded.cid), "reproduced": str(b.cid) if b else None, "match": report.match,
        "manifests": [str(report.recorded.manifest), str(b.manifest) if b else None], "pins": dict(report.pins),
        "failed": None if failed is None else {"index": failed.index, "id": failed.id, "error": failed.error},
        "metrics": [{"name": n, "recorded": x, "rerun": y} for n, x, y in report.metrics],
        "tensors": [diff_json(d) for d in report.diffs],
        "environment": env_diff_json(report.environment) if report.environment is not None else None,
        "data": [{"role": role, "recorded": label, "same": same} for role, label, same in report.data],
        "kept": str(report.scratch) if report.scratch else None,
    }  # fmt: skip


# -- data versions (kind "data": arrays, tables, files, folders) ---------------------------------


def data_labels(repo: "Repo", versions: Sequence[Version]) -> Dict[str, str]:
    """The data versions ``versions`` link, each as ``NAME vN`` (for :class:`HistoryTable`)."""
    out: Dict[str, str] = {}
    for cid in {c for v in versions for c in v.data.values()}:
        try:
            linked = repo.version(cid)
            out[str(cid)] = f"{linked.model} {linked.label}"
        except Exception:  # not here (a partial import): its CID is shown
            out[str(cid)] = str(cid)[:16]
    return out


def item_text(entry: Any) -> str:
    """One item of a data version in a few words: ``y int64[60] (3 classes)``."""
    summary = entry.summary or {}
    classes = summary.get("classes")
    if entry.type == "array":
        shown = f"{entry.name} {entry.dtype}{list(entry.shape)}"
        return shown + (f" ({len(classes)} classes)" if isinstance(classes, dict) else "")
    if entry.type == "table" and entry.series:
        return f"{entry.name} series[{entry.rows:,}]" + (f" ({len(classes)} classes)" if isinstance(classes, dict) else "")
    if entry.type == "table":
        return f"{entry.name} ({entry.rows:,} rows x {len(entry.columns)} cols)"
    if entry.type == "folder":
        return f"{entry.name}/ ({entry.files:,} files, {size(entry.size)})"
    return f"{entry.name} ({size(entry.size)})"


def data_items(repo: "Repo", versions: Sequence[Version]) -> Dict[str, str]:
    """What each data version among ``versions`` holds, in a few words (one manifest block read each)."""
    return {str(v.cid): clean(", ".join(item_text(e) for e in repo.open(v).entries.values()))
            for v in versions if v.kind == "data"}  # fmt: skip


def data_version_text(v: Version, entries: Sequence[Any]) -> str:
    """A data version: what it records, then one row per item with its summary."""
    lines = [clean(line) for line in (
        f"{v.model} {v.label}  {v.cid}  (data)",
        f"parents:   {', '.join(str(p) for p in v.parents) or 'none (first version)'}",
        f"time:      {v.time}   author: {v.author}",
        f"message:   {v.message}",
        f"tags:      {', '.join(v.tags) or 'none'}",
    )]  # fmt: skip
    lines += [clean(f"context:   {key}: {json.dumps(value)}") for key, value in v.context.items() if key != "cell"]
    lines.append(f"items:     {len(entries)}, {sum(e.size for e in entries):,} bytes")
    rows = [[e.name, e.type, item_text(e).split(" ", 1)[-1], f"{e.size:,}", json.dumps(e.summary or {})[:120], str(e.data)]
            for e in entries]  # fmt: skip
    return "\n".join(lines) + "\n\n" + table([[clean(c) for c in r] for r in rows], ["item", "type", "holds", "bytes", "summary", "cid"])


def data_version_json(v: Version, entries: Sequence[Any]) -> Dict[str, Any]:
    """A data version with its items (name, type, size, CID, summary and the type's own fields)."""
    out = version_json(v)
    out["items"] = [{"name": e.name, "type": e.type, "size": e.size, "cid": str(e.data), "summary": e.summary,
                     **({"dtype": e.dtype, "shape": list(e.shape)} if e.type == "array" else {}),
                     **({"rows": e.rows, "columns": list(e.columns)} if e.type == "table" else {}),
                     **({"files": e.files} if e.type == "folder" else {})} for e in entries]  # fmt: skip
    return out


def data_commit_text(v: Version) -> str:
    """What ``%commit_data`` did, in one line."""
    s = v.stats or {}
    if s.get("unchanged"):
        return clean(f"{v.model} is unchanged: its items are already {v.label} ({v.short}…); nothing was written.")
    tags = f" [{', '.join(v.tags)}]" if v.tags else ""
    message = f' "{v.message}"' if v.message else ""
    return clean(f"{v.model} {v.label} {v.short}…{message}{tags}: {s.get('items', 0)} items, "
                 f"{size(s.get('bytes', 0))}, +{size(s.get('bytes_written', 0))} written")  # fmt: skip


def data_checkout_text(restored: Sequence[Tuple[str, Version, Sequence[str]]]) -> str:
    """What ``%checkout --with-data`` restored: per role, the data version and its items."""
    return "\n".join(clean(f"with data {role}={v.model} {v.label} ({v.short}…): {', '.join(names)}")
                     for role, v, names in restored)  # fmt: skip


# -- the panel's details pane (GET nbversion/version) --------------------------------------------


def provenance_summary_json(v: Version, environment: Optional[Dict[str, Any]], error: str = "") -> Dict[str, Any]:
    """A version's code and environment in the few fields the panel's details line shows (None
    where not recorded): the notebook path and committing cell id (the notebook block is not
    read); Python, platform and the versions of :data:`KEY_PACKAGES` it has. ``error``: why a
    recorded environment could not be read (its block not here)."""
    code = None
    if v.code is not None:
        code = {"cid": str(v.code.notebook), "notebook": v.context.get("notebook"), "cell": v.code.cell}
    env: Optional[Dict[str, Any]] = None
    if v.environment is not None and (environment is not None or error):
        e = environment or {}
        packages = e.get("packages") if isinstance(e.get("packages"), dict) else {}
        platform = " ".join(str(e[k]) for k in ("system", "release", "machine") if e.get(k))
        env = {"cid": str(v.environment), "python": e.get("python"), "platform": platform, "packages": len(packages),
               "key_packages": {n: packages[n] for n in KEY_PACKAGES if n in packages},
               **({"error": error} if error else {})}  # fmt: skip
    return {"code": code, "environment": env}


def panel_details_json(v: Version, content: Any, labels: Dict[str, str], provenance: Dict[str, Any]) -> Dict[str, Any]:
    """What the panel's details pane shows of a version: ``content`` is its manifest (weights)
    or its data items (a data version: each with ``text``, its :func:`item_text`); ``labels``
    names the data versions it links (:func:`data_labels`); ``provenance``: :func:`provenance_summary_json`."""
    if v.kind == "data":
        out = data_version_json(v, content)
        for item, entry in zip(out["items"], content):
            item["text"] = clean(item_text(entry))
    else:
        out = version_detail_json(v, content)
    return {**out, "data_labels": {cid: clean(text) for cid, text in labels.items()}, **provenance}


# -- verify (a local file or folder against a stored one: nbversion.repo.folders) --------------------


def verify_text(verified: Any, path: str, ref: str) -> str:
    """One line per problem (``missing:``, ``changed:``, ``extra:`` and the path under ``path``),
    or that ``path`` matches ``ref`` and how many files it holds."""
    report = verified.report
    if report.ok:
        source = f"; item {verified.item!r} of {verified.version}" if verified.version else ""
        return clean(f"{path} matches {ref} ({report.files:,} files{source})")
    lines = [f"missing: {p}" for p in report.missing] + [f"changed: {p}" for p in report.changed]
    return "\n".join(clean(line) for line in lines + [f"extra:   {p}" for p in report.extra])
