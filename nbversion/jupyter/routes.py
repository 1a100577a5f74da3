"""REST routes of the Jupyter server extension: a repository's history, read-only.

The panel uses them to draw the tree before the kernel has loaded nbversion, or after it died. The
repository is found from the notebook's folder as a kernel started there finds it, except that the
search never leaves the server's root directory (a ``.nbversion`` above the root, or a link to one
outside it, is not served); ``NBVERSION_DIR`` in the server's environment names a repository
explicitly. Every route sits behind the server's own authentication (and XSRF checks on anything
but GET), and the repository work runs on a worker thread, never on the server's event loop.

Every reply is JSON; an error is ``{"error": {"type": ..., "message": ...}}`` with the status
:func:`status_of` gives (one place for the whole mapping):

* 404: an unknown ref or version, no repository where one was named;
* 400: a bad request: a malformed CID, a path outside the root, a missing argument;
* 507: the server's disk is full;
* 500: the repository itself is damaged (a corrupt block or index: the message says which and
  what to run), and any other error, ours or a bug (logged with its traceback).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop

from .. import present
from ..errors import (
    BadArgumentError,
    CorruptBlockError,
    FormatError,
    InvalidCIDError,
    NbversionError,
    OutsideRootError,
    RefError,
    StoreFullError,
)
from ..repo import Repo, find_repo_dir

NAMESPACE = "nbversion"

def status_of(exc: BaseException) -> int:
    """The HTTP status for an error (see the module docstring)."""
    if isinstance(exc, (RefError, FileNotFoundError)):
        return 404
    if isinstance(exc, tornado.web.MissingArgumentError):
        return 400
    if not isinstance(exc, NbversionError):
        return 500
    if isinstance(exc, StoreFullError):
        return 507
    if isinstance(exc, (CorruptBlockError, FormatError)):  # stored data that is damaged: not the request's fault
        return 500
    if isinstance(exc, (InvalidCIDError, ValueError, PermissionError)):
        return 400
    return 500


class NbversionHandler(APIHandler):
    """Base: finds the notebook's repository and turns every error into a JSON error reply."""

    def repo_for(self, notebook_path: str) -> Repo:
        root = Path(self.settings["server_root_dir"]).expanduser().resolve()
        folder = (root / notebook_path).resolve().parent
        if folder != root and root not in folder.parents:
            raise OutsideRootError(f"{notebook_path!r} is outside the server's root directory.")
        return Repo(find_repo_dir(folder, stop=root))

    async def answer(self, produce: Callable[[], Any]) -> None:
        """Run ``produce`` on a worker thread and send its result (or the error) as JSON
        (a :class:`JSONText` as it is)."""
        try:
            body = await IOLoop.current().run_in_executor(None, produce)
            text = body.text if isinstance(body, JSONText) else json.dumps(body)
        except (NbversionError, tornado.web.MissingArgumentError) as exc:
            self.set_status(status_of(exc))
            text = json.dumps({"error": _error_json(exc)})
        except Exception as exc:  # a bug: logged in full, answered in one line
            self.log.exception("nbversion: %s %s failed", self.request.method, self.request.uri)
            self.set_status(500)
            error = {"type": type(exc).__name__, "message": f"nbversion failed unexpectedly ({exc}); see the server log."}
            text = json.dumps({"error": error})
        self.set_header("Content-Type", "application/json")
        self.finish(text)


class JSONText:
    """A reply that is JSON text already (the history: put together from the index's summaries)."""

    def __init__(self, text: str) -> None:
        self.text = text


def _error_json(exc: BaseException) -> Dict[str, Any]:
    if isinstance(exc, tornado.web.MissingArgumentError):
        return {"type": "MissingArgument", "message": f"The request lacks the {exc.arg_name!r} argument."}
    return present.error_json(exc)


class HistoryHandler(NbversionHandler):
    """``GET history?path=P``: the whole history (``present.history_json_text``); with ``since=F``,
    maybe just "unchanged"; with ``limit=N`` (and ``cursor=C``, a page's ``next``), one page of it,
    newest first: the panel paints the first page, then reads the rest."""

    @tornado.web.authenticated
    async def get(self) -> None:
        def produce() -> Any:
            path = self.get_query_argument("path", "")
            since = self.get_query_argument("since", None)
            limit = _whole_number(self.get_query_argument("limit", None), "limit", smallest=1)
            offset = _whole_number(self.get_query_argument("cursor", None), "cursor", smallest=0) or 0
            with self.repo_for(path) as repo:
                if since is not None and repo.exists and since == repo.fingerprint():
                    return present.unchanged_json(since)  # polling is cheap
                return JSONText(present.history_json_text(repo, limit, offset))

        await self.answer(produce)


def _whole_number(text: Optional[str], name: str, smallest: int) -> Optional[int]:
    """A query argument that is a whole number (``limit``, or the ``cursor`` a page gave), or None."""
    if text is None:
        return None
    if not text.isdigit() or int(text) < smallest:
        raise BadArgumentError(f"The {name!r} argument must be a whole number of at least {smallest}, not {text!r}.")
    return int(text)


class VersionHandler(NbversionHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        def produce() -> Any:
            path = self.get_query_argument("path", "")
            cid = self.get_query_argument("cid")
            with self.repo_for(path) as repo:
                version = repo.show(cid)
                data = version.kind == "data"
                content = list(repo.open(version).entries.values()) if data else repo.manifest(version)
                return present.panel_details_json(version, content, present.data_labels(repo, [version]),
                                                  _provenance(repo, version))  # fmt: skip

        await self.answer(produce)


def _provenance(repo: Repo, version: Any) -> Dict[str, Any]:
    """The version's code and environment for the details pane; an environment block that is
    not here (a partial import) is said so, and the rest of the details still shown."""
    try:
        return present.provenance_summary_json(version, repo.environment(version))
    except NbversionError as exc:
        return present.provenance_summary_json(version, None, error=str(exc))


def handlers(base_url: str) -> List[Tuple[str, Any]]:
    return [
        (url_path_join(base_url, NAMESPACE, "history"), HistoryHandler),
        (url_path_join(base_url, NAMESPACE, "version"), VersionHandler),
    ]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Register the routes with a running Jupyter server."""
    web_app = server_app.web_app
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"]))
    server_app.log.info("nbversion: serving version history under /%s/", NAMESPACE)
