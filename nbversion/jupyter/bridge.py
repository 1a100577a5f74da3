"""The kernel side of the JupyterLab panel: a Jupyter comm speaking nbversion's JSON protocol.

The kernel opens a comm with target ``nbversion`` when the extension loads. Protocol version 1:

* open data: ``{"protocol": 1, "event": "hello", "current": {MODEL: CID}}``
* events: ``{"protocol": 1, "event": "changed", "model": MODEL, "current": CID}`` after every
  commit or checkout in this kernel; ``"pin"`` (:meth:`Bridge.send_pin`); every event the session
  reports (:meth:`KernelSession.notify`: ``"watch"`` and ``"announced"`` from ``%nbversion watch``,
  see :mod:`.watching`), with ``"protocol"`` added; ``{"protocol": 1, "event": "progress", "id": N, "done": BYTES, "total":
  BYTES, "remote": NAME}`` while a ``checkout`` request fetches a version's tensors from a remote
  (``total``: the bytes of the tensors not here; ``remote``: when known), at most every :data:`PROGRESS_INTERVAL` seconds
* requests: ``{"protocol": 1, "id": N, "op": "list"|"checkout"|"diff"|"tag"|"attach", ...}`` (``attach``:
  the panel says it listens, on every comm it takes up)
* replies: ``{"protocol": 1, "id": N, "ok": true, "result": ...}`` or
  ``{"protocol": 1, "id": N, "ok": false, "error": {"type", "message"}}``

Every request gets a reply: errors of our own become structured errors the panel shows as they
are; anything else is a bug in nbversion, logged with its traceback and answered as an
``InternalError`` (so the panel never waits forever, and a bug never poses as a user's mistake).
:meth:`Bridge.handle` is plain Python, testable without a kernel.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Dict, Optional, Tuple

from .. import present
from ..errors import NbversionError, UnknownRefError
from ..present import PROTOCOL
from ..repo import CID
from .session import KernelSession

TARGET = "nbversion"
PROGRESS_INTERVAL = 0.1  # seconds between two progress events of one request
log = logging.getLogger(__name__)


class RequestError(NbversionError, ValueError):
    """A request from the panel is malformed (a field missing or of the wrong type)."""


class Bridge:
    """Answers the panel's requests against a kernel session, and tells it about changes."""

    def __init__(self, session: KernelSession) -> None:
        self.session = session
        self.comm: Any = None
        self.unsubscribe: Callable[[], None] = session.on_change(self._announce)
        self.unsubscribe_events: Callable[[], None] = session.on_event(self._forward)

    def open(self) -> None:
        """Open the comm (the panel registers the target on each notebook's kernel)."""
        from comm import create_comm

        self.comm = create_comm(target_name=TARGET, data=self._hello())
        self.comm.on_msg(self._on_msg)

    def _hello(self) -> Dict[str, Any]:
        current = {name: str(cid) for name, cid in self.session.current.items()}
        return {"protocol": PROTOCOL, "event": "hello", "current": current}

    def _announce(self, model: str, cid: CID) -> None:
        if self.comm is not None:
            self.comm.send({"protocol": PROTOCOL, "event": "changed", "model": model, "current": str(cid)})

    def _forward(self, event: Dict[str, Any]) -> None:
        if self.comm is not None:
            self.comm.send({"protocol": PROTOCOL, **event})

    def _watching(self) -> Dict[str, Any]:
        """The watches running (topic -> remote) and the versions they verified so far."""
        watches = list(self.session.watches.values())
        return {"watches": {w.topic: w.remote for w in watches}, "announced": [e for w in watches for e in w.announced()]}

    def _on_msg(self, msg: Dict[str, Any]) -> None:
        self.attached = True  # a panel is listening: it has asked something
        self.comm.send(self.handle(msg["content"]["data"]))

    attached = False  # whether a panel has sent this kernel a request (so events reach a document)

    def send_pin(self, model: str, cid: CID, notebook: Optional[str]) -> bool:
        """Ask the panel to pin ``model`` to ``cid`` in the open notebook (``metadata.nbversion.pins``,
        then saved): ``{"protocol": 1, "event": "pin", "model", "cid", "notebook"}``. False (nothing
        sent) when no panel has spoken to this kernel."""
        if self.comm is None or not self.attached:
            return False
        self.comm.send({"protocol": PROTOCOL, "event": "pin", "model": model, "cid": str(cid), "notebook": notebook})
        return True

    def handle(self, request: Dict[str, Any]) -> Dict[str, Any]:
        """The reply to one request."""
        request_id: Optional[Any] = request.get("id") if isinstance(request, dict) else None
        try:
            if not isinstance(request, dict) or request.get("protocol") != PROTOCOL:
                raise NbversionError(f"The panel speaks a protocol this kernel does not ({PROTOCOL} expected). Update nbversion.")
            op = request.get("op")
            handler = getattr(self, f"_op_{op}", None) if isinstance(op, str) else None
            if handler is None:
                raise NbversionError(f"Unknown request {op!r}.")
            result = handler(request)
        except NbversionError as exc:
            return {"protocol": PROTOCOL, "id": request_id, "ok": False, "error": present.error_json(exc)}
        except Exception as exc:  # a bug of ours: still answer, and say it is one
            log.exception("nbversion: the panel's %r request failed", request.get("op") if isinstance(request, dict) else None)
            error = {"type": "InternalError", "message": f"nbversion hit a bug ({type(exc).__name__}: {exc}); see the kernel's log."}
            return {"protocol": PROTOCOL, "id": request_id, "ok": False, "error": error}
        return {"protocol": PROTOCOL, "id": request_id, "ok": True, "result": result}

    def _op_attach(self, request: Dict[str, Any]) -> Dict[str, Any]:
        """A panel took up the comm (it says so on every comm it takes up): what it cannot read
        from the server, the live models' versions and the watches running."""
        return {"current": {name: str(cid) for name, cid in self.session.current.items()}, **self._watching()}

    def _op_list(self, request: Dict[str, Any]) -> Dict[str, Any]:
        out = present.history_json(self.session.repo)
        out["current"] = {name: str(cid) for name, cid in self.session.current.items()}
        out.update(self._watching())
        return out

    def _op_checkout(self, request: Dict[str, Any]) -> Dict[str, Any]:
        model, ref = _text(request, "model"), _text(request, "ref")
        progress = _ProgressEvents(request.get("id"), self._forward)
        repo = self.session.repo
        with repo.fetch_progress(progress.add):  # a version only on a remote: its tensors come now
            progress.expect(*self._missing_bytes(ref, model))
            report = self.session.checkout(ref, model)
        return present.checkout_json(report)

    def _missing_bytes(self, ref: str, model: str) -> Tuple[int, Optional[str]]:
        """The bytes of the tensors of version ``ref`` that are not here, and the remote they come
        from (its record and manifest are fetched from the remote, as the checkout would, when it
        is only there)."""
        repo = self.session.repo
        try:
            version = repo.locate(ref, model)
        except UnknownRefError:
            remote = repo.default_remote()
            if remote is None:
                return 0, None  # the checkout says what is unknown
            version = repo.locate(ref, model, remote=remote)
        missing = sum(t.size for t in repo.manifest(version).tensors if not repo.store.has(t.data))
        return missing, repo.content_remote(version) if missing else None

    def _op_diff(self, request: Dict[str, Any]) -> Any:
        diffs = self.session.repo.diff(_text(request, "a"), _text(request, "b"), _text(request, "model", optional=True))
        return [present.diff_json(d) for d in diffs]

    def _op_tag(self, request: Dict[str, Any]) -> Dict[str, Any]:
        name = _text(request, "name")
        cid = self.session.repo.tag(name, _text(request, "ref"), _text(request, "model", optional=True))
        return {"name": name, "cid": str(cid)}


class _ProgressEvents:
    """A checkout's fetch progress as events for request ``request_id``: bytes counted once the
    total is known (:meth:`expect`), sent at most every :data:`PROGRESS_INTERVAL` seconds (and when
    the total is reached); none when nothing is to be fetched."""

    def __init__(self, request_id: Any, send: Callable[[Dict[str, Any]], None]) -> None:
        self.request_id, self.send = request_id, send
        self.total = self.done = 0
        self.remote: Optional[str] = None
        self.sent = -math.inf

    def expect(self, total: int, remote: Optional[str] = None) -> None:
        self.total, self.done, self.remote = total, 0, remote

    def add(self, n: int) -> None:
        if not self.total:
            return
        before, self.done = self.done, min(self.done + n, self.total)
        now = time.monotonic()
        if self.done > before and (now - self.sent >= PROGRESS_INTERVAL or self.done == self.total):
            self.sent = now
            event = {"event": "progress", "id": self.request_id, "done": self.done, "total": self.total}
            self.send({**event, "remote": self.remote} if self.remote else event)


def _text(request: Dict[str, Any], key: str, optional: bool = False) -> Any:
    """The request's text field ``key`` (None when ``optional`` and absent), or :class:`RequestError`."""
    value = request.get(key)
    if optional and value is None:
        return None
    if not isinstance(value, str) or not value:
        raise RequestError(f"The request needs a {key!r} as text.")
    return value
