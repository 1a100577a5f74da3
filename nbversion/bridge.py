"""The kernel side of the JupyterLab panel: a Jupyter comm speaking nbversion's JSON protocol.

The kernel opens a comm with target ``nbversion`` when the extension loads. Protocol version 1:

* open data: ``{"protocol": 1, "event": "hello", "current": {MODEL: CID}}``
* events: ``{"protocol": 1, "event": "changed", "model": MODEL, "current": CID}`` after every
  commit or checkout in this kernel
* requests: ``{"protocol": 1, "id": N, "op": "list"|"checkout"|"diff"|"tag", ...}``
* replies: ``{"protocol": 1, "id": N, "ok": true, "result": ...}`` or
  ``{"protocol": 1, "id": N, "ok": false, "error": {"type", "message"}}``

Every request gets a reply; errors of our own become structured errors the panel shows as they
are. :meth:`Bridge.handle` is plain Python, testable without a kernel.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .cid import CID
from .errors import NbversionError
from .serialize import PROTOCOL, diff_json, history_json
from .session import KernelSession

TARGET = "nbversion"


class Bridge:
    """Answers the panel's requests against a kernel session, and tells it about changes."""

    def __init__(self, session: KernelSession) -> None:
        self.session = session
        self.comm: Any = None
        session.on_change(self._announce)

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
        except (NbversionError, KeyError, TypeError, ValueError) as exc:
            return {
                "protocol": PROTOCOL,
                "id": request_id,
                "ok": False,
                "error": {"type": type(exc).__name__, "message": str(exc)},
            }
        return {"protocol": PROTOCOL, "id": request_id, "ok": True, "result": result}

    def _op_list(self, request: Dict[str, Any]) -> Dict[str, Any]:
        out = history_json(self.session.repo)
        out["current"] = {name: str(cid) for name, cid in self.session.current.items()}
        return out

    def _op_checkout(self, request: Dict[str, Any]) -> Dict[str, Any]:
        model = _text(request, "model")
        report = self.session.checkout(_text(request, "ref"), model)
        return {
            "model": model,
            "cid": str(report.version.cid),
            "label": report.version.label,
            "replaced": report.replaced,
            "max_abs_change": report.max_abs_change,
        }

    def _op_diff(self, request: Dict[str, Any]) -> Any:
        diffs = self.session.repo.diff(_text(request, "a"), _text(request, "b"), request.get("model"))
        return [diff_json(d) for d in diffs]

    def _op_tag(self, request: Dict[str, Any]) -> Dict[str, Any]:
        cid = self.session.repo.tag(_text(request, "name"), _text(request, "ref"), request.get("model"))
        return {"name": request["name"], "cid": str(cid)}


def _text(request: Dict[str, Any], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str) or not value:
        raise NbversionError(f"The request needs a {key!r}.")
    return value
