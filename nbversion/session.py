"""What one kernel knows: its repository and the version each live model is at.

The magics and the panel bridge are two surfaces over the same session: a commit or checkout made
through either updates the session, and every change is announced to the listeners (the bridge
forwards them to the panel). Neither surface reaches into the other.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from .cid import CID
from .errors import NbversionError
from .live import CheckoutReport, CommitReport, checkout_model, commit_model
from .repo import Repo, find_repo_dir

Listener = Callable[[str, CID], None]


class KernelSession:
    """The repository a kernel uses and the version each of its live models is at."""

    def __init__(self, namespace: Mapping[str, Any], repo_dir: Optional[str] = None) -> None:
        self.namespace = namespace
        self.repo_dir = repo_dir
        self.current: Dict[str, CID] = {}
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

    def on_change(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _changed(self, model: str, cid: CID) -> None:
        self.current[model] = cid
        for listener in list(self._listeners):
            listener(model, cid)

    def commit(self, name: str, obj: Any, message: str = "", metrics: Optional[Mapping[str, float]] = None, **kwargs: Any) -> CommitReport:
        """Commit the live model ``obj`` (named ``name``); its parent is the version it is at."""
        report = commit_model(self.repo, obj, name, message, metrics, parent=self.current.get(name), **kwargs)
        self._changed(name, report.version.cid)
        return report

    def checkout(self, ref: Union[str, CID], name: str, obj: Any = None, optimizer: Any = None) -> CheckoutReport:
        """Load version ``ref`` into the live model ``obj`` (default: the variable ``name``)."""
        if obj is None:
            if name not in self.namespace:
                raise NbversionError(f"No variable {name!r} in the kernel: run the cell that defines the model first.")
            obj = self.namespace[name]
        report = checkout_model(self.repo, ref, obj, name, optimizer=optimizer)
        self._changed(name, report.version.cid)
        return report
