"""``nbversion reproduce REF``: re-derive a version from what it recorded, and say whether it matches.

A version committed from a notebook records its code (``Version.code``: the notebook as a UnixFS
file, outputs stripped, and the id of the committing cell). Reproducing it runs that notebook's
cells up to and including the committing cell with nbclient, in a fresh kernel, then compares the
weights the run committed for the version's model with the recorded ones: the same manifest CID
means "reproduced bit for bit"; otherwise the report lists each tensor's difference (max abs),
the metrics side by side and the differences between the two environments that may explain it.

Where the run commits: a **scratch repository**, never the user's, which is only read (so a
reproduction changes nothing there, whatever the notebook does with nbversion). The scratch
repository starts **empty**, and the run's pins bring in what the notebook asks for:

* ``NBVERSION_PINS`` = the recorded notebook's pins (``nbversion run`` writes a run's pins into
  the notebook the kernel runs, so they are part of the recorded code) with the version's model
  pinned to the version's parent (and unpinned for a root version), so a cell
  ``%checkout --pinned model`` loads the parent, as the original run started from it;
* the data versions the version links (``Version.data``) are copied in before the run, so a
  notebook that reads them by ref finds them (one that re-commits the same data gets the copied
  version back: equal data is never committed twice);
* ``NBVERSION_PINS_FROM`` = the user's repository: a pinned version the scratch repository lacks
  is copied in from there (a verified CAR export and import, with its history and the data
  versions it links) at the moment the notebook checks it out.

Why empty, rather than filled with the parent up front: a repository that holds the parent as the
model's head makes every commit that re-derives the same weights fail (``UnchangedError``) -- a
notebook that commits version 1 and then version 2 re-commits version 1 on the way to 2. Starting
empty, each cell commits exactly what it committed the first time, with the parent it had then
(the pinned checkout, or the version committed a cell earlier). Data versions the notebook
re-commits (``%commit_data``) are re-derived the same way; a notebook that only reads a data
version by ref needs that version reachable from its pin.

The notebook runs in the folder it was committed from (``context.cwd``) when that still exists,
so relative paths to data files work as they did; otherwise in the scratch folder. With
``keep``, the scratch folder (repository and executed notebook) is kept for inspection.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from ..errors import NotebookRunError, NotReproducibleError
from ..repo import Repo, TensorDiff, Version
from .pins import SOURCE_ENV, copy_version, pins_of, write_notebook
from .run import DEFAULT_TIMEOUT, FailedCell, execute, kernel_env


@dataclass
class ReproduceReport:
    """The outcome of a reproduction: the recorded version, the one the run committed (None if it
    committed none), whether their weights are the same bytes, and what explains a difference."""

    recorded: Version
    reproduced: Optional[Version]
    pins: Dict[str, str]
    notebook: Path
    scratch: Optional[Path]
    failed: Optional[FailedCell] = None
    diffs: List[TensorDiff] = field(default_factory=list)
    metrics: List[Tuple[str, Optional[float], Optional[float]]] = field(default_factory=list)
    environment: Any = None  # the repository's EnvironmentDiff (recorded -> reproduced), when both have one
    data: List[Tuple[str, str, Optional[bool]]] = field(default_factory=list)  # (role, recorded data version, same content?)

    @property
    def match(self) -> bool:
        """Whether the run re-derived exactly the recorded weights (the same manifest CID)."""
        return self.reproduced is not None and self.reproduced.manifest == self.recorded.manifest


def recorded_code(repo: Repo, version: Version) -> Tuple[Dict[str, Any], int]:
    """The notebook ``version`` was committed from, as nbformat data, and the index of its
    committing cell; :class:`NotReproducibleError` when it recorded none or the cell is missing."""
    found = repo.code(version)
    if found is None:
        raise NotReproducibleError(
            f"{version.model} {version.label} recorded no code (it was committed outside a notebook, or by an "
            "nbversion that did not record code), so there is nothing to rerun."
        )
    notebook, cell_id = found
    ids = [c.get("id") for c in notebook.get("cells", [])]
    if not cell_id or cell_id not in ids:
        raise NotReproducibleError(
            f"The code recorded with {version.model} {version.label} does not hold its committing cell "
            f"({cell_id or 'no id recorded'}), so it cannot be rerun up to it."
        )
    return notebook, ids.index(cell_id)


def reproduce(
    repo: Repo,
    ref: str,
    model: Optional[str] = None,
    *,
    keep: Union[str, Path, None] = None,
    timeout: Optional[float] = DEFAULT_TIMEOUT,
    kernel: Optional[str] = None,
    progress: bool = False,
) -> ReproduceReport:
    """Rerun the code version ``ref`` recorded, in a scratch repository, and compare (see the
    module docstring). ``repo`` is only read."""
    import nbformat

    recorded = repo.show(ref, model)
    code, at = recorded_code(repo, recorded)
    code["cells"] = code["cells"][: at + 1]
    notebook = nbformat.reads(json.dumps(code), as_version=4)  # (joins sources stored as lists of lines)
    scratch = _scratch_folder(keep)
    work = Repo(scratch / ".nbversion")
    try:
        name = Path(str(recorded.context.get("notebook") or "notebook.ipynb")).name
        path = scratch / (name if name.endswith(".ipynb") else "notebook.ipynb")
        write_notebook(notebook, path)
        for cid in sorted({str(c) for c in recorded.data.values()}):  # the data it was trained on, there to read
            copy_version(repo, work, cid)
        pins = _pins(code, recorded)
        env = kernel_env(work, pins, path, extra={SOURCE_ENV: str(repo.path)})
        cwd = _working_folder(recorded, scratch)
        failed = execute(notebook, cwd=cwd, env=env, timeout=timeout, kernel=kernel, progress=progress,
                         desc=f"reproduce {recorded.label}")  # fmt: skip
        write_notebook(notebook, path)
        report = ReproduceReport(recorded, None, pins, path, scratch if keep is not None else None, failed)
        report.reproduced = _committed_by_run(repo, work, recorded.model)
        if report.reproduced is not None:
            _explain(repo, work, report)
        return report
    finally:
        work.close()
        if keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


def _pins(code: Dict[str, Any], version: Version) -> Dict[str, str]:
    """The rerun's pins: those of the recorded notebook (a run records its own there), with the
    version's model pinned to the version's parent (unpinned for a root version)."""
    pins = pins_of(code)
    pins.pop(version.model, None)
    if version.parents:
        pins[version.model] = str(version.parents[0])
    return pins


def _scratch_folder(keep: Union[str, Path, None]) -> Path:
    if keep is None:
        return Path(tempfile.mkdtemp(prefix="nbversion-reproduce-"))
    folder = Path(keep).resolve()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise NotebookRunError(f"--keep {folder}: name a new or empty folder (the scratch repository goes there).")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _working_folder(version: Version, scratch: Path) -> Path:
    """Where the notebook ran when it committed ``version``, if that folder still exists; else ``scratch``."""
    for where in (version.context.get("cwd"), Path(str(version.context.get("notebook") or "")).parent):
        if where and str(where) not in ("", ".") and Path(str(where)).is_dir():
            return Path(str(where))
    return scratch


def _committed_by_run(repo: Repo, work: Repo, model: str) -> Optional[Version]:
    """The newest version of ``model`` the run committed in the scratch repository ``work`` (not one
    copied in from ``repo``), or None."""
    if not work.exists or model not in work.models():
        return None
    for version in work.log(model):  # newest first
        if not _has(repo, version):
            return version
    return None


def _has(repo: Repo, version: Version) -> bool:
    try:
        repo.show(str(version.cid))
        return True
    except KeyError:
        return False


def _explain(repo: Repo, work: Repo, report: ReproduceReport) -> None:
    """Fill in the metrics side by side and, when the weights differ, the tensor and environment
    differences (the recorded version is copied into the scratch repository to compare there)."""
    a, b = report.recorded, report.reproduced
    assert b is not None
    names = list(dict.fromkeys([*a.metrics, *b.metrics]))
    report.metrics = [(n, a.metrics.get(n), b.metrics.get(n)) for n in names]
    for role, cid in sorted(a.data.items()):
        linked = b.data.get(role)
        same = None if linked is None else work.show(str(linked)).manifest == repo.show(str(cid)).manifest
        report.data.append((role, f"{repo.show(str(cid)).model} {repo.show(str(cid)).label}", same))
    if report.match:
        return
    if not _has(work, a):
        copy_version(repo, work, str(a.cid))
    report.diffs = work.diff(a.cid, b.cid, unchanged=False)
    if a.environment is not None and b.environment is not None:
        found = work.env_diff(a.cid, b.cid)  # named as the user knows them: the recorded label, the rerun's CID
        report.environment = dataclasses.replace(found, a=a, b=dataclasses.replace(b, seq=None))
