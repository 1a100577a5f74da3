"""The kernel side of the JupyterLab panel: a Jupyter comm speaking nbversion's JSON protocol.

The kernel opens a comm with target ``nbversion`` when the extension loads. Protocol version 1:

* open data: ``{"protocol": 1, "event": "hello", "current": {MODEL: CID}}``
* events: ``{"protocol": 1, "event": "changed", "model": MODEL, "current": CID}`` after every
  commit or checkout in this kernel
* requests: ``{"protocol": 1, "id": N, "op": "list"|"checkout"|"diff"|"tag", ...}``
* replies: ``{"protocol": 1, "id": N, "ok": true, "result": ...}`` or
  ``{"protocol": 1, "id": N, "ok": false, "error": {"type", "message"}}``

Every request gets a reply: errors of our own become structured errors the panel shows as they
are; anything else is a bug in nbversion, logged with its traceback and answered as an
``InternalError`` (so the panel never waits forever, and a bug never poses as a user's mistake).
:meth:`Bridge.handle` is plain Python, testable without a kernel.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Optional

from .. import present
from ..errors import NbversionError
from ..present import PROTOCOL
from ..repo import CID
from .session import KernelSession

TARGET = "nbversion"
log = logging.getLogger(__name__)


class RequestError(NbversionError, ValueError):
    """A request from the panel is malformed (a field missing or of the wrong type)."""


class Bridge:
    """Answers the panel's requests against a kernel session, and tells it about changes."""

    def __init__(self, session: KernelSession) -> None:
        self.session = session
        self.comm: Any = None
        self.unsubscribe: Callable[[], None] = session.on_change(self._announce)

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

    def _on_msg(self, msg: Dict[str, Any]) -> None:
        self.comm.send(self.handle(msg["content"]["data"]))

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

    def _op_list(self, request: Dict[str, Any]) -> Dict[str, Any]:
        out = present.history_json(self.session.repo)
        out["current"] = {name: str(cid) for name, cid in self.session.current.items()}
        return out

    def _op_checkout(self, request: Dict[str, Any]) -> Dict[str, Any]:
        model = _text(request, "model")
        report = self.session.checkout(_text(request, "ref"), model)
        return present.checkout_json(report)

    def _op_diff(self, request: Dict[str, Any]) -> Any:
        diffs = self.session.repo.diff(_text(request, "a"), _text(request, "b"), _text(request, "model", optional=True))
        return [present.diff_json(d) for d in diffs]

    def _op_tag(self, request: Dict[str, Any]) -> Dict[str, Any]:
        name = _text(request, "name")
        cid = self.session.repo.tag(name, _text(request, "ref"), _text(request, "model", optional=True))
        return {"name": name, "cid": str(cid)}


def _text(request: Dict[str, Any], key: str, optional: bool = False) -> Any:
    """The request's text field ``key`` (None when ``optional`` and absent), or :class:`RequestError`."""
    value = request.get(key)
    if optional and value is None:
        return None
    if not isinstance(value, str) or not value:
        raise RequestError(f"The request needs a {key!r} as text.")
    return value
