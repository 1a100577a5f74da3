"""The code a commit from a kernel records: the notebook, outputs stripped, and the committing cell.

:func:`notebook_code` gives the notebook's nbformat JSON without outputs, execution counts or
what a run writes into metadata (JupyterLab's cell timings, widget state, the ``language_info``
a kernel reports), written deterministically (nbformat's sorted, indented JSON), so the same
code gives the same bytes, hence the same CID, stored once. Its source:

* ``"notebook"``: the notebook file the kernel runs for (its path as the kernel knows it), when
  it exists and holds the committing cell: the cell with the id the front end sent (JupyterLab),
  or, when none was sent (nbclient; VS Code sends a URI, not the cell's id), the code cell whose
  source is what ran (the k-th such cell the k-th time the same source runs). The committing
  cell's source is what ran, even if the file holds an older, unsaved one.
* ``"history"``: otherwise (no file, the cell not saved yet, a plain IPython shell), a notebook of
  the kernel's executed inputs in order (``In[1..n]``, cell ids ``in-1``...), the committing cell
  last with its own id.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

#: Cell metadata that records a run, not the code (JupyterLab's timing, the output area's state).
_RUN_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")
#: Notebook metadata that records a run (the widgets' live state; the kernel's language, written
#: when it runs, which the environment record holds).
_NOTEBOOK_RUN_METADATA = ("widgets", "language_info")


_CELL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # nbformat 4.5's cell ids


@dataclass(frozen=True)
class NotebookCode:
    """A notebook's code as stored with a version: nbformat JSON bytes, the committing cell's id,
    and where it came from (``"notebook"`` or ``"history"``)."""

    notebook: bytes
    cell: str
    source: str


def notebook_code(
    inputs: Sequence[str], path: Optional[str], cell_id: Optional[str], cwd: Optional[str] = None
) -> Optional[NotebookCode]:
    """The code of a commit made by the last of ``inputs`` (the kernel's ``In[1..n]``), from the
    notebook file at ``path`` (relative to ``cwd``) when it holds the committing cell, else from
    ``inputs``; None when there is neither (nothing was run through the history).

    ``cell_id`` is what the front end sent; one that is no nbformat cell id (VS Code sends a cell's
    URI) is treated as none."""
    cell_id = cell_id if cell_id and _CELL_ID.fullmatch(cell_id) else None
    found = _from_file(inputs, path, cell_id, cwd or os.getcwd()) if path else None
    if found is not None:
        return found
    if not inputs:
        return None
    return _from_history(inputs, cell_id)


def _resolve(path: str, cwd: str) -> Optional[str]:
    """The notebook file: ``path`` (relative to the kernel's working directory), else a file of
    that name in the working directory (a server path relative to its root, a kernel started
    in the notebook's folder)."""
    for candidate in (os.path.join(cwd, path), os.path.join(cwd, os.path.basename(path))):
        if os.path.isfile(candidate):
            return candidate
    return None


def _from_file(inputs: Sequence[str], path: str, cell_id: Optional[str], cwd: str) -> Optional[NotebookCode]:
    where = _resolve(path, cwd)
    nb = _stripped(where) if where is not None else None
    if nb is None:
        return None
    ran = inputs[-1] if inputs else None
    committing = _committing_cell(nb["cells"], inputs, cell_id)
    if committing is None:
        return None
    if ran is not None and _text(committing.get("source")) != ran:
        committing["source"] = ran  # what ran, not an older saved text
    return NotebookCode(_write(nb), str(committing["id"]), "notebook")


#: path -> ((mtime, size), the notebook without outputs as JSON): a file is parsed again only when it changed.
_cache: Dict[str, Tuple[Tuple[int, int], str]] = {}


def _stripped(where: str) -> Optional[Dict[str, Any]]:
    """The notebook at ``where`` without outputs, execution counts and run metadata, every cell
    with an id; None when it is not a notebook we can read (the history then says what ran)."""
    try:
        stat = os.stat(where)
        key = (stat.st_mtime_ns, stat.st_size)
        cached = _cache.get(where)
        if cached is None or cached[0] != key:
            with open(where, "rb") as f:
                text = f.read().decode("utf-8")
            nb = json.loads(text)
            if not isinstance(nb, dict) or nb.get("nbformat") != 4:
                nb = _converted(text)
            if not isinstance(nb.get("cells"), list) or not all(isinstance(c, dict) for c in nb["cells"]):
                return None
            _strip(nb)
            if len(_cache) > 16:
                _cache.clear()
            cached = _cache[where] = (key, json.dumps(nb))
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        return None
    return json.loads(cached[1])


def _converted(text: str) -> Dict[str, Any]:
    """An older notebook (nbformat 3) as version 4, its cells given ids by position (converting
    draws random ones, and the same code must give the same bytes)."""
    import nbformat

    nb = nbformat.reads(text, as_version=4)
    for at, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{at}"
    return nb


def _strip(nb: Dict[str, Any]) -> None:
    """Remove outputs, execution counts and run metadata in place; give cells without an id
    (nbformat < 4.5) one by position (upgrading would draw random ones)."""
    for at, cell in enumerate(nb["cells"]):
        if not cell.get("id"):
            cell["id"] = f"cell-{at}"
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        for key in _RUN_METADATA:
            (cell.get("metadata") or {}).pop(key, None)
    for key in _NOTEBOOK_RUN_METADATA:
        (nb.get("metadata") or {}).pop(key, None)
    nb["nbformat_minor"] = max(int(nb.get("nbformat_minor") or 0), 5)


def _committing_cell(cells: List[Any], inputs: Sequence[str], cell_id: Optional[str]) -> Any:
    """The cell with id ``cell_id``; without an id, the code cell whose source is the last input
    (the k-th such cell when the same source ran k-1 times before)."""
    if cell_id:
        return next((c for c in cells if c.get("id") == cell_id), None)
    if not inputs:
        return None
    ran = inputs[-1].rstrip()
    matching = [c for c in cells if c.get("cell_type") == "code" and _text(c.get("source")).rstrip() == ran]
    if not matching:
        return None
    before = sum(1 for text in inputs[:-1] if text.rstrip() == ran)
    return matching[min(before, len(matching) - 1)]


def _from_history(inputs: Sequence[str], cell_id: Optional[str]) -> NotebookCode:
    import nbformat

    n = len(inputs)
    last = cell_id or f"in-{n}"
    cells = [nbformat.v4.new_code_cell(text, id=last if i == n else f"in-{i}") for i, text in enumerate(inputs, 1)]
    nb = nbformat.v4.new_notebook(cells=cells)
    _strip(nb)
    return NotebookCode(_write(nb), last, "history")


def _write(nb: Dict[str, Any]) -> bytes:
    """The notebook as nbformat writes it (keys sorted, one-space indents, sources split in
    lines), as UTF-8."""
    import nbformat

    return nbformat.v4.nbjson.writes(nbformat.from_dict(nb)).encode("utf-8")


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")
