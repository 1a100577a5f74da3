"""The version tree inline, as ipywidgets, for front ends without the JupyterLab panel
(Notebook 7, VS Code, Colab): ``%history model --widget``.

A list of the model's versions (every branch, newest first, the current one marked), the chosen
version's details, and **Load into model** / **Compare with current** buttons that do what
``%checkout`` and ``%nbversion diff`` do. Everything from a version is rendered by
:mod:`nbversion.present` (escaped). Closing the widget unsubscribes it from the session.
"""

from __future__ import annotations

import html
from typing import List, Optional

import ipywidgets as widgets

from .. import present
from ..errors import NbversionError
from ..repo import CID, Version
from .session import KernelSession


class VersionTree(widgets.VBox):
    """A model's versions with load and compare actions, over a kernel session."""

    def __init__(self, session: KernelSession, model: str, metric: Optional[str] = None) -> None:
        self.session = session
        self.model = model
        self.metric = metric
        self.versions: List[Version] = []
        self.list = widgets.Select(rows=10, layout=widgets.Layout(width="100%"))
        self.details = widgets.HTML()
        self.status = widgets.HTML()
        self.load_button = widgets.Button(description="Load into model", icon="download")
        self.compare_button = widgets.Button(description="Compare with current", icon="exchange")
        self.load_button.on_click(lambda _: self.load())
        self.compare_button.on_click(lambda _: self.compare())
        self.list.observe(lambda change: self._show(), names="value")
        super().__init__([self.list, widgets.HBox([self.load_button, self.compare_button]), self.status, self.details])
        self._unsubscribe = session.on_change(self._on_change)
        self.refresh()

    def _on_change(self, model: str, cid: CID) -> None:
        if model == self.model:
            self.refresh()

    def close(self) -> None:
        """Close the widget and stop listening to the session."""
        self._unsubscribe()
        super().close()

    @property
    def current(self) -> Optional[CID]:
        return self.session.current.get(self.model) or self.session.repo.head(self.model)[1]

    def refresh(self) -> None:
        """Re-read the versions (after a commit or checkout)."""
        selected = self.list.value
        self.versions = self.session.repo.log(self.model)
        current = self.current
        metric = self.metric or next((m for v in self.versions for m in v.metrics), None)
        self.list.options = [(present.version_line(v, current, metric), str(v.cid)) for v in self.versions]
        values = [str(v.cid) for v in self.versions]
        self.list.value = selected if selected in values else (str(current) if current and str(current) in values else (values[0] if values else None))
        self._show()

    def select(self, ref: str) -> None:
        self.list.value = str(self.session.repo.resolve(ref, self.model))

    def _selected(self) -> Optional[Version]:
        return next((v for v in self.versions if str(v.cid) == self.list.value), None)

    def _show(self) -> None:
        v = self._selected()
        if v is None:
            self.details.value = "<p>No versions yet.</p>"
            return
        self.details.value = present.version_html(v)

    def _error(self, exc: Exception) -> None:
        self.status.value = f"<span style='color:#c00'>{html.escape(str(exc))}</span>"

    def load(self) -> None:
        """Load the selected version into the live model (as %checkout)."""
        v = self._selected()
        if v is None:
            return
        try:
            report = self.session.checkout(str(v.cid), self.model)
        except NbversionError as exc:
            self._error(exc)
            return
        self.status.value = html.escape(present.checkout_text(report))

    def compare(self) -> None:
        """Diff the selected version against the model's current one."""
        v, current = self._selected(), self.current
        if v is None or current is None:
            return
        try:
            diffs = self.session.repo.diff(current, v.cid, self.model)
        except NbversionError as exc:
            self._error(exc)
            return
        self.status.value = present.diff_html(diffs)
