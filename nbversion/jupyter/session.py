"""What one kernel knows: its repository and the version each live model is at.

The magics, the panel bridge and the widgets are surfaces over the same session: a commit or
checkout made through any of them updates the session, and every change is announced to the
listeners (the bridge forwards them to the panel, a widget redraws). Listeners unsubscribe with the
function :meth:`KernelSession.on_change` returns; none of the surfaces reaches into another.
"""

from __future__ import annotations

import os
import weakref
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import xxhash

from ..errors import NbversionError
from ..live import CheckoutReport, CommitReport, Fingerprints, ModelStatus, checkout_model, commit_model, live_matches
from ..repo import CID, Repo, Version, find_repo_dir

Listener = Callable[[str, CID], None]
EventListener = Callable[[Dict[str, Any]], None]


class KernelSession:
    """The repository a kernel uses and the version each of its live models is at."""

    def __init__(self, namespace: Mapping[str, Any], repo_dir: Optional[str] = None) -> None:
        self.namespace = namespace
        self.repo_dir = repo_dir
        self.current: Dict[str, CID] = {}
        self.fingerprints: Dict[str, Fingerprints] = {}
        self._listeners: List[Listener] = []
        self._event_listeners: List[EventListener] = []
        self.watches: Dict[str, Any] = {}  # topic -> the watch running on it (.watching.Watch)
        self._repo: Optional[Repo] = None
        # id(value) -> (weakref, data version, fingerprint, item name)
        self.committed_data: Dict[int, Tuple[Any, CID, bytes, str]] = {}

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

    def on_event(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener(event)`` for each other event a surface reports (a version a watch
        verified, a watch started or stopped, a pin to write into the notebook); ``event`` is a
        JSON-like dict with an ``"event"`` name. Returns the unsubscribe function."""
        self._event_listeners.append(listener)
        return lambda: self._event_listeners.remove(listener) if listener in self._event_listeners else None

    def notify(self, event: Dict[str, Any]) -> None:
        """Tell the event listeners (the panel's bridge) about ``event`` (any thread may call it)."""
        for listener in list(self._event_listeners):
            listener(event)

    def stop_watches(self) -> None:
        """End every watch this session runs (the extension is unloaded or loaded again)."""
        for watch in list(self.watches.values()):
            watch.stop()

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

    # -- data committed in this kernel (%commit_data; --data ROLE=VAR resolves through it) ---------

    def commit_data(self, name: str, items: Mapping[str, Any], message: str = "", **kwargs: Any) -> Version:
        """Commit ``items`` as a version of data set ``name``; remember which version each
        in-memory item (array, DataFrame) went into, with a fingerprint of its bytes. An item
        this kernel committed (or restored) under the same name, unchanged since by its
        fingerprint, is not hashed again: its entry comes from that version (``known``)."""
        prints = {item: _data_print(item, v) for item, v in items.items() if not isinstance(v, (str, os.PathLike))}
        known = {}
        for item, print_ in prints.items():
            remembered = self.committed_data.get(id(items[item]))  # the same object, the same bytes, the same name
            if print_ and remembered and remembered[0]() is items[item] and remembered[2:] == (print_, item):
                known[item] = remembered[1]
        version = self.repo.commit_data(name, items, message, known=known, **kwargs)
        self.remember_data(items, version.cid, prints)
        return version

    def remember_data(self, items: Mapping[str, Any], cid: CID, prints: Optional[Mapping[str, bytes]] = None) -> None:
        """Remember that the in-memory ``items`` (arrays, DataFrames) hold data version ``cid``'s
        (committed, or restored by ``%checkout --with-data``); ``prints``: their fingerprints, if
        already worked out."""
        for item, value in items.items():
            if not isinstance(value, (str, os.PathLike)):
                print_ = prints[item] if prints is not None and item in prints else _data_print(item, value)
                try:
                    self.committed_data[id(value)] = (weakref.ref(value), cid, print_, item)
                except TypeError:  # a value without weak references: not remembered
                    pass

    def data_version_of(self, value: Any) -> Optional[CID]:
        """The data version a variable's value was committed into in this kernel, if its bytes are
        unchanged since; None otherwise."""
        known = self.committed_data.get(id(value))
        if known is None or known[0]() is not value:
            return None
        return known[1] if _data_print("", value) == known[2] else None

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


def _data_print(item: str, value: Any) -> bytes:
    """XXH3-128 of a data item's content: an array's bytes with its dtype and shape, a DataFrame's
    rows (pandas' own row hashes), columns and dtypes."""
    if type(value).__name__ in ("DataFrame", "Series") and type(value).__module__.startswith("pandas"):
        import pandas as pd

        rows = pd.util.hash_pandas_object(value, index=True).to_numpy()
        frame = value.to_frame() if type(value).__name__ == "Series" else value
        return xxhash.xxh3_128_digest(rows.tobytes() + repr((list(frame.columns), list(map(str, frame.dtypes)))).encode())
    array = value if hasattr(value, "dtype") and hasattr(value, "shape") else None
    if array is None or getattr(array.dtype, "hasobject", True):
        return b""
    import numpy as np

    data = np.ascontiguousarray(array)
    return xxhash.xxh3_128_digest(data.view(np.uint8).reshape(-1).data if data.size else b"") + str((data.dtype, data.shape)).encode()

