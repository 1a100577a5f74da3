"""``%nbversion watch TOPIC``: a watch of a pubsub topic that runs in the kernel while cells do.

A :class:`Watch` runs :meth:`nbversion.Repo.watch` on a thread of its own (with its own
:class:`~nbversion.Repo` on the session's repository, so the thread never shares the cells'
connection to the index). Each version a peer announces is shown once it has been fetched and
verified (a refused claim as ``REFUSED`` with the reason), in one output redrawn in place, and the
panel is told through the session's events:

* ``{"event": "watch", "topic": T, "remote": R, "running": true|false[, "error": MESSAGE]}`` when
  the watch starts and ends;
* ``{"event": "announced", "topic": T, "remote": R, "from": PEER, "new": BOOL, "version": {...}}``
  for each version verified (it is in the repository by then; :func:`.present.announced_json`).

:meth:`Watch.start` returns once the node has taken the subscription, so a node without pubsub, a
node that is down or a bad topic is an error in the cell, not on the thread. :meth:`Watch.stop`
(``--stop``, loading the extension again) ends it; a kernel that stops ends its threads with it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from .. import present
from ..errors import NbversionError
from ..repo import Repo
from .session import KernelSession

log = logging.getLogger(__name__)

#: Seconds :meth:`Watch.start` waits for the node to take the subscription.
SUBSCRIBE_TIMEOUT = 60.0


class Watch:
    """A watch of ``topic`` on the IPFS node ``remote``, for the kernel session ``session``."""

    def __init__(self, session: KernelSession, topic: str, remote: str, fetch_timeout: float = 30.0) -> None:
        self.session, self.topic, self.remote, self.fetch_timeout = session, topic, remote, fetch_timeout
        self.events: List[Any] = []  # the announcements handled (nbversion.repo.announce.WatchEvent)
        self.error: Optional[BaseException] = None
        self._path = str(session.repo.path)
        self._show: Optional[Callable[[Any], None]] = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"nbversion-watch-{topic}", daemon=True)

    @property
    def running(self) -> bool:
        return self._subscribed.is_set() and not self._done.is_set()

    def start(self, timeout: float = SUBSCRIBE_TIMEOUT) -> None:
        """Start watching; returns once the node has taken the subscription, and raises what kept
        it from doing so (the session lists the watch only then)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._subscribed.wait(0.05):
            if self._done.is_set():
                break
            if time.monotonic() > deadline:
                self._stop.set()
                raise NbversionError(
                    f"The IPFS node {self.remote} did not take a subscription to {self.topic!r} within {timeout:g} s."
                )
        if not self._subscribed.is_set():
            self._thread.join()
            assert self.error is not None
            raise self.error

    def attach(self, show: Callable[[Any], None]) -> None:
        """Redraw with ``show(view)`` from now on (a display handle's ``update``), starting now."""
        with self._lock:
            self._show = show
            show(self.view())

    def view(self) -> present.Rendered:
        error = "" if self.error is None else str(self.error)
        return present.watch_view(self.topic, self.remote, list(self.events), not self._done.is_set(), error)

    def stop(self, wait: float = 5.0) -> None:
        """End the watch (within :data:`~nbversion.repo.announce.STOP_POLL` seconds, or once the
        version being pulled is in); waits up to ``wait`` seconds for the thread."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait)

    def _run(self) -> None:
        try:
            with Repo(self._path) as repo:
                repo.watch(self.topic, self.remote, on_event=self._handle, fetch_timeout=self.fetch_timeout,
                           stop=self._stop, on_subscribed=self._on_subscribed)  # fmt: skip
        except NbversionError as exc:
            self.error = exc
        except Exception as exc:  # a bug of ours: the cell that started it is long done, so log it
            log.exception("nbversion: the watch of %r failed", self.topic)
            self.error = NbversionError(f"nbversion hit a bug ({type(exc).__name__}: {exc}); see the kernel's log.")
        finally:
            self._done.set()
            if self._subscribed.is_set():
                self._ended()

    def _on_subscribed(self) -> None:
        self.session.watches[self.topic] = self
        self.session.notify({"event": "watch", "topic": self.topic, "remote": self.remote, "running": True})
        self._subscribed.set()

    def _ended(self) -> None:
        if self.session.watches.get(self.topic) is self:
            del self.session.watches[self.topic]
        event: Dict[str, Any] = {"event": "watch", "topic": self.topic, "remote": self.remote, "running": False}
        if self.error is not None:
            event["error"] = str(self.error)
        self.session.notify(event)
        self._redraw()

    def _handle(self, event: Any) -> None:
        self.events.append(event)
        self._redraw()
        if event.accepted:
            self.session.notify(present.announced_json(event, self.topic, self.remote))

    def _redraw(self) -> None:
        with self._lock:
            if self._show is not None:
                try:
                    self._show(self.view())
                except Exception:  # the output is gone (e.g. the cell was cleared): the watch goes on
                    log.debug("nbversion: cannot redraw the watch of %r", self.topic, exc_info=True)

    def announced(self) -> List[Dict[str, Any]]:
        """The panel's events for the versions verified so far (a page opened later asks for them)."""
        return [present.announced_json(e, self.topic, self.remote) for e in self.events if e.accepted]
