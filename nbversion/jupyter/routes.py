"""REST routes of the Jupyter server extension: a repository's history, read-only.

The panel uses them to draw the tree before the kernel has loaded nbversion, or after it died. The
repository is found from the notebook's folder exactly as a kernel started there finds it. Every
route sits behind the server's own authentication (and XSRF checks on anything but GET); the
repository work runs on a worker thread, never on the server's event loop; our errors map to HTTP
codes in one place (:func:`status_of`), and anything else is a bug the server logs as a 500.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, List, Tuple

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.ioloop import IOLoop

from .. import present
from ..errors import InvalidCIDError, NbversionError, RefError
from ..repo import Repo, find_repo_dir

NAMESPACE = "nbversion"


class OutsideRootError(NbversionError, PermissionError):
    """A path names something outside the Jupyter server's root directory."""


def status_of(exc: NbversionError) -> int:
    """The HTTP status for one of our errors."""
    if isinstance(exc, (RefError, FileNotFoundError)):
        return 404
    if isinstance(exc, (InvalidCIDError, ValueError, PermissionError)):
        return 400
    return 500


class NbversionHandler(APIHandler):
    """Base: finds the notebook's repository and turns our errors into JSON error replies."""

    def repo_for(self, notebook_path: str) -> Repo:
        root = Path(self.settings["server_root_dir"]).expanduser().resolve()
        folder = (root / notebook_path).resolve().parent
        if folder != root and root not in folder.parents:
            raise OutsideRootError(f"{notebook_path!r} is outside the server's root directory.")
        return Repo(find_repo_dir(folder))

    async def answer(self, produce: Callable[[], Any]) -> None:
        """Run ``produce`` on a worker thread and send its result (or our error) as JSON."""
        try:
            body = await IOLoop.current().run_in_executor(None, produce)
        except NbversionError as exc:
            self.set_status(status_of(exc))
            body = {"error": present.error_json(exc)}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


class HistoryHandler(NbversionHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        path = self.get_query_argument("path", "")
        since = self.get_query_argument("since", None)

        def produce() -> Any:
            with self.repo_for(path) as repo:
                if since is not None and repo.exists and since == repo.fingerprint():
                    return present.unchanged_json(since)  # polling is cheap
                return present.history_json(repo)

        await self.answer(produce)


class VersionHandler(NbversionHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        path = self.get_query_argument("path", "")
        cid = self.get_query_argument("cid")

        def produce() -> Any:
            with self.repo_for(path) as repo:
                version = repo.show(cid)
                return present.version_detail_json(version, repo.manifest(version))

        await self.answer(produce)


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
