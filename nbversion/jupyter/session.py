"""What one kernel knows: its repository and the version each live model is at.

The magics, the panel bridge and the widgets are surfaces over the same session: a commit or
checkout made through any of them updates the session, and every change is announced to the
listeners (the bridge forwards them to the panel, a widget redraws). Listeners unsubscribe with the
function :meth:`KernelSession.on_change` returns; none of the surfaces reaches into another.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from ..errors import NbversionError
from ..live import CheckoutReport, CommitReport, Fingerprints, ModelStatus, checkout_model, commit_model, live_matches
from ..repo import CID, Repo, find_repo_dir

Listener = Callable[[str, CID], None]


class KernelSession:
    """The repository a kernel uses and the version each of its live models is at."""

    def __init__(self, namespace: Mapping[str, Any], repo_dir: Optional[str] = None) -> None:
        self.namespace = namespace
        self.repo_dir = repo_dir
        self.current: Dict[str, CID] = {}
        self.fingerprints: Dict[str, Fingerprints] = {}
        self._listeners: List[Listener] = []
        self._repo: Optional[Repo] = None

    @property
    def repo(self) -> Repo:
        """The repository: ``repo_dir`` if set, else the nearest ``.nbversion/`` from the working directory."""
        path = os.path.abspath(self.repo_dir or find_repo_dir(os.getcwd()))
        if self._repo is None or str(self._repo.path) != path:
            if self._repo is not None:
                self._repo.close()
            self._repo = Repo(path)
        return self._repo

    def on_change(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(model, cid)`` after every commit and checkout; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    @property
    def listeners(self) -> int:
        """How many listeners are subscribed."""
        return len(self._listeners)

    def _changed(self, model: str, cid: CID, fingerprints: Fingerprints) -> None:
        self.current[model] = cid
        self.fingerprints[model] = fingerprints
        for listener in list(self._listeners):
            listener(model, cid)

    def model(self, name: str) -> Any:
        """The live model held by the variable ``name``."""
        if name not in self.namespace:
            raise NbversionError(f"No variable {name!r} in the kernel: run the cell that defines the model first.")
        return self.namespace[name]

    def commit(self, name: str, obj: Any, message: str = "", metrics: Optional[Mapping[str, float]] = None, **kwargs: Any) -> CommitReport:
        """Commit the live model ``obj`` (named ``name``); its parent is the version it is at."""
        report = commit_model(self.repo, obj, name, message, metrics, parent=self.current.get(name), **kwargs)
        self._changed(name, report.version.cid, report.fingerprints)
        return report

    def checkout(self, ref: Union[str, CID], name: str, obj: Any = None, optimizer: Any = None) -> CheckoutReport:
        """Load version ``ref`` into the live model ``obj`` (default: the variable ``name``)."""
        obj = self.model(name) if obj is None else obj
        report = checkout_model(self.repo, ref, obj, name, optimizer=optimizer, known=self.fingerprints.get(name))
        self._changed(name, report.version.cid, report.fingerprints)
        return report

    def matches(self, name: str, obj: Any, ref: Union[str, CID]) -> bool:
        """Whether the live model holds exactly the weights of ``ref``."""
        return live_matches(self.repo, obj, name, ref, known=self.fingerprints.get(name))

    def status(self, names: List[str]) -> List[ModelStatus]:
        """Where each named model stands (the version it is at, its branch, whether it changed since)."""
        out = []
        for name in names:
            cid = self.current.get(name)
            if cid is None:
                out.append(ModelStatus(name))
                continue
            obj = self.namespace.get(name)
            same = None if obj is None else self.matches(name, obj, cid)
            out.append(ModelStatus(name, self.repo.version(cid), self.repo.head(name)[0], same))
        return out
