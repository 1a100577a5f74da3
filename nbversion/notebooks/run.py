"""``nbversion run``: execute a notebook headlessly with nbclient, starting from pinned versions.

Before any kernel starts, every pin (the notebook's ``metadata.nbversion.pins``, overridden by
``--pin MODEL=REF``) is resolved to a full CID in the repository; an unknown ref stops the run
with nothing executed. The kernel then gets, in its environment:

* ``NBVERSION_PINS``: the run's pins as JSON (``%checkout --pinned`` loads them);
* ``NBVERSION_DIR``: the repository, so the kernel commits where the run looks for new versions;
* ``JPY_SESSION_NAME``: the path of the notebook it runs, as Jupyter's server tells a kernel.
  That is the output file, written before the first cell runs (the parameters injected, the run's
  pins in its metadata) and again when the run ends: each version the run commits then records
  as its code exactly what ran, parameters and pins included, so ``nbversion reproduce`` reruns
  it faithfully; ``metadata.nbversion.run.source`` names the source notebook.

It runs in the notebook's folder (relative paths in the notebook work as they do in Jupyter).
Parameters follow papermill: a cell tagged ``parameters`` is followed by an injected cell tagged
``injected-parameters`` that assigns the values (each read with :func:`ast.literal_eval`, else
kept as text); without such a cell the injected one comes first.

The source file is never written. The executed notebook goes to ``-o OUT`` (default: the
source's name with ``.out.ipynb``, next to it), with ``metadata.nbversion.run`` = ``{pins,
parameters, source, committed, ok}`` and ``metadata.nbversion.pins`` = the run's pins, so the
output says what it started from. A failing cell stops the run; what ran so far is saved all
the same, and :class:`RunReport.failed` names the cell. A run whose kernel cannot start (an
unknown ``--kernel``, or a kernel that dies before its first cell) leaves no output behind (an earlier run's output is kept as it was).

Cells are sent with their id in the request's metadata (``cellId``), as JupyterLab sends them,
so a commit made by a cell records which cell made it even in a headless run.
"""

from __future__ import annotations

import ast
import atexit
import functools
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from ..errors import NbversionError, NotebookRunError, PinError
from ..repo import Repo, Version
from .pins import NBFORMAT, PINS_ENV, SOURCE_ENV, pins_of, write_notebook

PathLike = Union[str, os.PathLike]
PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
#: Seconds one cell may run by default.
DEFAULT_TIMEOUT = 600


@dataclass(frozen=True)
class FailedCell:
    """The cell a run stopped at: its index in the executed notebook, its id, its first source
    line and the last line of its error."""

    index: int
    id: str
    first_line: str
    error: str

    def __str__(self) -> str:
        return f"cell {self.index} (id {self.id}: {self.first_line!r}) failed: {self.error}"


@dataclass
class RunReport:
    """What a run did: where it saved the executed notebook, the pins and parameters it used, the
    versions it committed (oldest first) and, if it stopped, the failing cell."""

    source: Path
    output: Path
    pins: Dict[str, str]
    parameters: Dict[str, Any]
    committed: List[Version] = field(default_factory=list)
    failed: Optional[FailedCell] = None

    @property
    def ok(self) -> bool:
        return self.failed is None


def parse_assignments(items: Sequence[str], what: str) -> Dict[str, str]:
    """``["a=1", "b=x"]`` as ``{"a": "1", "b": "x"}``; :class:`NotebookRunError` for an item
    without ``=`` (``what`` names the option, e.g. ``--pin MODEL=REF``)."""
    out: Dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise NotebookRunError(f"{what} wants NAME=VALUE, got {item!r}.")
        out[name.strip()] = value
    return out


def parse_value(text: str) -> Any:
    """A parameter's value: a Python literal (``0.1``, ``[1, 2]``, ``'x'``, ``True``) where the text
    is one, else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def resolve_pins(repo: Repo, pins: Mapping[str, str]) -> Dict[str, str]:
    """Each pin's ref (a tag, ``vN``, a CID...) as the full CID it names for that model, or
    :class:`PinError` naming the first that does not resolve."""
    out: Dict[str, str] = {}
    for model, ref in sorted(pins.items()):
        try:
            version = repo.show(ref, model)
        except NbversionError as exc:
            raise PinError(f"Pin {model}={ref}: {exc} Nothing was run.") from None
        if version.model != model:
            raise PinError(f"Pin {model}={ref}: {ref} is a version of {version.model!r}, not of {model!r}. Nothing was run.")
        out[model] = str(version.cid)
    return out


def inject_parameters(notebook: Any, parameters: Mapping[str, Any]) -> Optional[int]:
    """Insert a cell assigning ``parameters`` after the cell tagged ``parameters`` (or first, if
    none is); its index, or None when there are no parameters."""
    import nbformat

    if not parameters:
        return None
    source = "# Parameters (injected by nbversion run)\n" + "".join(f"{name} = {value!r}\n" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [INJECTED_TAG]})
    tagged = [i for i, c in enumerate(notebook.cells) if PARAMETERS_TAG in c.get("metadata", {}).get("tags", [])]
    at = tagged[0] + 1 if tagged else 0
    notebook.cells.insert(at, cell)
    return at


def default_output(source: PathLike) -> Path:
    """Where a run saves the executed notebook unless told: ``NAME.out.ipynb`` next to ``NAME.ipynb``."""
    source = Path(source)
    stem = source.name[: -len(".ipynb")] if source.name.endswith(".ipynb") else source.name
    return source.with_name(f"{stem}.out.ipynb")


def kernel_env(repo: Repo, pins: Mapping[str, str], notebook: PathLike, extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The environment a run's kernel starts with: this process's, plus the run's pins, the
    repository and the notebook's path."""
    env = {k: v for k, v in os.environ.items() if k != SOURCE_ENV}  # (only a reproduction copies pins in)
    env.update({PINS_ENV: json.dumps(dict(pins), sort_keys=True), "NBVERSION_DIR": str(repo.path),
                "JPY_SESSION_NAME": str(Path(notebook).resolve())})  # fmt: skip
    env.update(extra or {})
    return env


def execute(
    notebook: Any,
    *,
    cwd: PathLike,
    env: Mapping[str, str],
    timeout: Optional[float] = DEFAULT_TIMEOUT,
    kernel: Optional[str] = None,
    progress: bool = False,
    desc: str = "cells",
) -> Optional[FailedCell]:
    """Execute ``notebook`` (an nbformat node, filled in place with outputs) in a fresh kernel
    running in ``cwd`` with environment ``env``; the failing cell, or None when every cell ran.
    With ``progress``, a bar of code cells is drawn on stderr."""
    try:
        from jupyter_client.kernelspec import NoSuchKernel
        from nbclient.exceptions import CellControlSignal, CellExecutionError, DeadKernelError
    except ImportError as exc:
        raise NotebookRunError(f"Running notebooks needs nbclient ({exc}): pip install nbclient nbformat ipykernel") from None

    client = _client_class()(
        notebook, timeout=timeout, kernel_name=kernel or notebook.metadata.get("kernelspec", {}).get("name") or "python3",
        resources={"metadata": {"path": str(cwd)}},
    )  # fmt: skip
    total = sum(1 for c in notebook.cells if c.cell_type == "code" and c.source.strip())
    bar = _bar(total, desc) if progress else None
    if bar is not None:
        client.on_cell_executed = lambda **kw: bar.update(1)
    try:
        client.execute(env=dict(env))
    except NoSuchKernel:
        raise NotebookRunError(f"No Jupyter kernel named {client.kernel_name!r}; see `jupyter kernelspec list`.") from None
    except (CellExecutionError, CellControlSignal, DeadKernelError, TimeoutError, RuntimeError) as exc:
        if client.running is None:  # the kernel died (or never answered) before a cell was sent
            atexit.unregister(client._cleanup_kernel)  # (nbclient's exit hook would fail on the kernel it dropped)
            raise NotebookRunError(f"The kernel {client.kernel_name!r} stopped before the first cell ran: {exc}") from None
        if isinstance(exc, RuntimeError) and not isinstance(exc, (CellExecutionError, DeadKernelError)):
            raise
        return _failed(notebook, client.running, exc)
    finally:
        if bar is not None:
            bar.close()
    return None


def run(
    repo: Repo,
    source: PathLike,
    *,
    pins: Optional[Mapping[str, str]] = None,
    parameters: Optional[Mapping[str, Any]] = None,
    output: Optional[PathLike] = None,
    timeout: Optional[float] = DEFAULT_TIMEOUT,
    kernel: Optional[str] = None,
    progress: bool = False,
) -> RunReport:
    """Run the notebook ``source`` with ``pins`` ({model: ref}, over the notebook's own) and
    ``parameters``; save the executed notebook; report what it committed (see the module docstring)."""
    import nbformat

    source = Path(source).resolve()
    if not source.is_file():
        raise NotebookRunError(f"No notebook at {source}.")
    try:
        notebook = nbformat.read(str(source), as_version=NBFORMAT)
    except Exception as exc:  # nbformat's reader and validator raise many types
        raise NotebookRunError(f"{source} is not a notebook nbformat can read ({type(exc).__name__}: {exc}).") from None
    out = Path(output).resolve() if output is not None else default_output(source)
    if out == source:
        raise NotebookRunError(f"The output would overwrite the notebook {source}; name another with -o.")
    if not out.parent.is_dir():
        raise NotebookRunError(f"Cannot save the executed notebook to {out}: no folder {out.parent}.")
    wanted = {**pins_of(notebook), **dict(pins or {})}
    resolved = resolve_pins(repo, wanted) if wanted else {}  # before any kernel starts
    values = dict(parameters or {})
    inject_parameters(notebook, values)
    meta = notebook.metadata.setdefault("nbversion", {})
    meta["pins"] = dict(resolved)
    meta.pop("run", None)  # (a notebook that is itself a run's output)
    previous = out.read_bytes() if out.is_file() else None  # (an earlier run's output, put back if none runs)
    write_notebook(notebook, out)  # what the kernel runs, so what each commit records as its code
    before = {v.cid for v in repo.log()} if repo.exists else set()
    try:
        failed = execute(notebook, cwd=source.parent, env=kernel_env(repo, resolved, out), timeout=timeout,
                         kernel=kernel, progress=progress, desc=source.name)  # fmt: skip
    except NotebookRunError:  # no kernel to run it in: nothing ran, so no output is left
        if previous is None:
            out.unlink(missing_ok=True)
        else:
            out.write_bytes(previous)
        raise
    committed = [v for v in reversed(repo.log()) if v.cid not in before] if repo.exists else []
    report = RunReport(source, out, resolved, values, committed, failed)
    meta["run"] = {
        "source": str(source), "pins": dict(resolved), "parameters": {k: _jsonable(v) for k, v in values.items()},
        "committed": [{"model": v.model, "cid": str(v.cid), "label": v.label, "metrics": dict(v.metrics)} for v in committed],
        "ok": failed is None,
    }  # fmt: skip
    if failed is not None:
        meta["run"]["failed"] = {"index": failed.index, "id": failed.id, "error": failed.error}
    write_notebook(notebook, out)
    return report


def _jsonable(value: Any) -> Any:
    """A parameter's value as JSON can hold it (its ``repr`` otherwise)."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _failed(notebook: Any, index: int, exc: BaseException) -> FailedCell:
    cell = notebook.cells[index]
    lines = [line for line in cell.source.splitlines() if line.strip()]
    error = next((f"{o.get('ename', 'Error')}: {o.get('evalue', '')}".rstrip(": ")
                  for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)  # fmt: skip
    if error is None and getattr(exc, "ename", None):  # nbclient's CellExecutionError carries the reply's error
        error = f"{exc.ename}: {getattr(exc, 'evalue', '')}".rstrip(": ")
    if error is None:
        text = str(exc).strip().splitlines()
        error = f"{type(exc).__name__}: {text[-1] if text else ''}".rstrip(": ")
    return FailedCell(index, cell.get("id", ""), lines[0] if lines else "", error)


def _bar(total: int, desc: str) -> Any:
    """A tqdm bar of cells on stderr, when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="cell", file=sys.stderr, leave=False)


@functools.lru_cache(maxsize=None)
def _client_class() -> Any:
    """nbclient's client class with cell ids (built on first use: nbclient is imported only when a
    notebook runs)."""
    from nbclient import NotebookClient

    class CellIdClient(NotebookClient):  # type: ignore[misc,valid-type]
        """nbclient's client, sending each cell's id in its execute request's metadata (``cellId``,
        as JupyterLab does), and remembering which cell is running."""

        running: Optional[int] = None

        async def async_execute_cell(self, cell: Any, cell_index: int, *args: Any, **kwargs: Any) -> Any:
            self.running = cell_index
            self._cell_id = cell.get("id")
            return await super().async_execute_cell(cell, cell_index, *args, **kwargs)

        async def async_start_new_kernel_client(self) -> Any:
            kc = await super().async_start_new_kernel_client()
            _send_cell_ids(kc, lambda: getattr(self, "_cell_id", None))
            return kc

    return CellIdClient


def _send_cell_ids(kc: Any, cell_id: Callable[[], Optional[str]]) -> None:
    """Make ``kc.execute`` put the running cell's id in each request's metadata."""

    def execute(code: str, silent: bool = False, store_history: bool = True, user_expressions: Optional[dict] = None,
                allow_stdin: Optional[bool] = None, stop_on_error: bool = True) -> str:  # fmt: skip
        content = {"code": code, "silent": silent, "store_history": store_history, "user_expressions": user_expressions or {},
                   "allow_stdin": kc.allow_stdin if allow_stdin is None else allow_stdin, "stop_on_error": stop_on_error}  # fmt: skip
        ident = cell_id()
        msg = kc.session.msg("execute_request", content, metadata={"cellId": ident} if ident else {})
        kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    kc.execute = execute

