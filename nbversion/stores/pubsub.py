"""Pubsub on an IPFS node: publish a message on a topic, and subscribe to a topic.

The node's RPC API (Kubo's ``/api/v0/pubsub/*``; js-ipfs serves the same) is reached through an
:class:`~.kubo.IpfsStore`'s client, so a daemon that is down, a wrong address or refused
credentials get the same errors as every other call. ``ipfshttpclient`` 0.7.0's own
``pubsub.publish``/``pubsub.subscribe`` send the older form of these calls, which daemons since
Kubo 0.11 refuse, so the requests are written here, through the client's lower-level request:

* the topic is sent multibase-encoded: ``"u"`` + URL-safe base64 without padding (:func:`topic_arg`);
* a message's payload is sent as a multipart file (not as a second argument);
* each message arrives as JSON whose ``data``, ``seqno`` and ``topicIDs`` are multibase-encoded
  and whose ``from`` is the sender's peer ID as text (Kubo and js-ipfs 0.66 alike); the first item
  of every subscription is an empty ``{}`` (the daemon's acknowledgement), skipped here.

A node without pubsub answers ``pubsub/ls`` with an error (Kubo: started without
``--enable-pubsub-experiment`` / ``Pubsub.Enabled``; js-ipfs: ``Pubsub.Enabled`` false) but may
accept a subscription and end it at once, so :meth:`Pubsub.check` asks first and raises
:class:`PubsubUnavailableError` naming the setting to change.

A subscription is read on a thread of its own, so a reader can wait with a deadline
(:meth:`Subscription.get`); closing it ends the request.
"""

from __future__ import annotations

import base64
import binascii
import math
import queue
import re
import socket
import threading
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from ..errors import NbversionError, PubsubUnavailableError, RemoteAddressError, RemoteError
from .kubo import IpfsStore

MAX_TOPIC = 1024  # bytes of a topic name (Kubo sets no limit; a longer one is surely a mistake)
_NO_PEERS = re.compile(r"insufficient ?peers|no peers", re.I)
_DISABLED = re.compile(r"not enabled|disabled|enable-pubsub|unknown command|command not found", re.I)


def topic_arg(topic: str) -> str:
    """The topic as daemons since Kubo 0.11 take it: ``u`` + URL-safe base64 of its UTF-8, unpadded."""
    if not isinstance(topic, str) or not topic or not topic.isprintable() or len(topic.encode("utf-8")) > MAX_TOPIC:
        raise NbversionError(
            f"{str(topic)[:80]!r} is not a pubsub topic nbversion can use: give 1-{MAX_TOPIC} bytes of "
            "printable text, e.g. `nbversion-lab`."
        )
    return "u" + base64.urlsafe_b64encode(topic.encode("utf-8")).decode("ascii").rstrip("=")


def multibase_decode(text: str) -> bytes:
    """The bytes of a multibase string as daemons print them: ``u`` (base64url, Kubo and js-ipfs),
    ``m`` (base64), ``b`` (base32) or ``f`` (base16). ValueError for anything else."""
    if not isinstance(text, str) or not text:
        raise ValueError("not a multibase string")
    prefix, body = text[0], text[1:]
    try:
        if prefix in "uU":
            return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if prefix in "mM":
            return base64.b64decode(body + "=" * (-len(body) % 4))
        if prefix == "b":
            return base64.b32decode(body.upper() + "=" * (-len(body) % 8))
        if prefix == "f":
            return bytes.fromhex(body)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not valid multibase: {exc}") from exc
    raise ValueError(f"unknown multibase prefix {prefix!r}")


@dataclass(frozen=True)
class Message:
    """One pubsub message: its payload, the sender's peer ID as the node names it ('' when the
    message is unsigned), its sequence number and the topics it was sent on."""

    data: bytes
    sender: str = ""
    seqno: bytes = b""
    topics: Tuple[str, ...] = ()


def decode_message(item: Any) -> Optional[Message]:
    """A message from one item of a subscription's answer; None when the item is no message
    (the empty ``{}`` that opens a subscription, or something malformed)."""
    if not isinstance(item, dict) or not isinstance(item.get("data"), str):
        return None
    try:
        data = multibase_decode(item["data"])
        seqno = multibase_decode(item["seqno"]) if isinstance(item.get("seqno"), str) else b""
        topics = tuple(
            multibase_decode(t).decode("utf-8", "replace") for t in item.get("topicIDs") or [] if isinstance(t, str)
        )
    except ValueError:
        return None
    sender = item.get("from") if isinstance(item.get("from"), str) else ""
    return Message(data=data, sender=sender, seqno=seqno, topics=topics)


class Pubsub:
    """Pubsub on the IPFS node ``node`` (an :class:`IpfsStore`, whose client and error handling
    the calls go through)."""

    def __init__(self, node: IpfsStore) -> None:
        self.node = node

    @property
    def api(self) -> str:
        return self.node.api

    def _unavailable(self, detail: object) -> PubsubUnavailableError:
        return PubsubUnavailableError(
            f"The IPFS node at {self.api} has pubsub turned off ({detail}), so nothing can be announced or "
            "watched there. Start Kubo with `ipfs daemon --enable-pubsub-experiment` (or set `Pubsub.Enabled` "
            "to true in its config: `ipfs config --json Pubsub.Enabled true`, then restart it); on js-ipfs set "
            "`Pubsub.Enabled` to true in its config."
        )

    def _ask(self, path: str, *args: str, **kwargs: Any) -> Any:
        """One pubsub call; a node that refuses it for want of pubsub is a :class:`PubsubUnavailableError`."""
        errors = self.node._errors
        try:
            return self.node._request(path, *args, **kwargs)
        except errors.ErrorResponse as exc:
            if _DISABLED.search(str(exc)):
                raise self._unavailable(exc) from exc
            raise RemoteError(f"The IPFS node at {self.api} refused {path}: {exc}") from exc
        except RemoteAddressError as exc:  # it answered /version, so an HTTP error here is a missing command
            raise self._unavailable(f"it does not serve {path}") from exc

    def subscriptions(self) -> List[str]:
        """The topics the node is subscribed to (``pubsub/ls``; a node without pubsub is a
        :class:`PubsubUnavailableError`)."""
        reply = self._ask("/pubsub/ls")
        item = reply[-1] if isinstance(reply, list) and reply else reply
        topics = []
        for text in (item.get("Strings") if isinstance(item, dict) else None) or []:
            try:
                topics.append(multibase_decode(text).decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                continue  # a topic of raw bytes: none nbversion subscribes to
        return topics

    def check(self) -> None:
        """Raise :class:`PubsubUnavailableError` unless the node serves pubsub (``pubsub/ls``)."""
        self.subscriptions()

    def publish(self, topic: str, data: bytes) -> bool:
        """Send ``data`` (non-empty) on ``topic`` to the node's peers subscribed to it. False when
        the node says no peer is (js-ipfs refuses to publish then; Kubo sends it to nobody)."""
        if not data:
            raise NbversionError("A pubsub message cannot be empty (daemons refuse one).")
        try:
            self._ask("/pubsub/pub", topic_arg(topic), data=data, decoder="none")
        except RemoteError as exc:
            if isinstance(exc.__cause__, self.node._errors.ErrorResponse) and _NO_PEERS.search(str(exc.__cause__)):
                return False
            raise
        return True

    def peers(self, topic: str) -> List[str]:
        """The peer IDs the node knows to be subscribed to ``topic``."""
        reply = self._ask("/pubsub/peers", topic_arg(topic))
        item = reply[-1] if isinstance(reply, list) and reply else reply
        strings = item.get("Strings") if isinstance(item, dict) else None
        return [s for s in strings or [] if isinstance(s, str)]

    def subscribe(self, topic: str) -> "Subscription":
        """A subscription to ``topic`` (checked first: a node without pubsub is refused here)."""
        arg = topic_arg(topic)
        self.check()
        return Subscription(self, topic, arg)


class Subscription:
    """Messages on one topic as the node passes them on, received on a thread of its own.
    :meth:`get` waits for the next; :attr:`skipped` counts items that were no message. Close it
    (or use it as a context manager) to end the request."""

    _END = object()

    def __init__(self, pubsub: Pubsub, topic: str, arg: str) -> None:
        self.topic, self.api = topic, pubsub.api
        self.skipped = 0
        self._queue: "queue.Queue[Any]" = queue.Queue()
        self._closed = threading.Event()
        # No read timeout: a quiet topic is no stalled node. The request is made here, so a
        # refusal is raised to the caller; the answer is then read on the thread.
        self._answer = pubsub._ask("/pubsub/sub", arg, stream=True, timeout=math.inf)
        self._thread = threading.Thread(target=self._run, name="nbversion-pubsub", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        end: Any = self._END
        try:
            for item in self._answer:
                if self._closed.is_set():
                    break
                message = decode_message(item)
                if message is not None:
                    self._queue.put(message)
                elif item != {}:  # the empty acknowledgement opens every subscription
                    self.skipped += 1
        except BaseException as exc:  # handed to the reader
            end = exc
        self._queue.put(end)

    def get(self, timeout: Optional[float] = None) -> Optional[Message]:
        """The next message, or None if none came within ``timeout`` seconds (None: wait as long
        as it takes). A subscription the node ends, or a connection lost, is a :class:`RemoteError`."""
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, Message):
            return item
        self._queue.put(item)  # later calls see the end too
        if self._closed.is_set():
            raise RemoteError(f"The subscription to {self.topic!r} on {self.api} was closed.")
        if isinstance(item, BaseException):
            raise RemoteError(f"The IPFS node at {self.api} broke off the subscription to {self.topic!r}: {item}") from item
        raise RemoteError(
            f"The IPFS node at {self.api} ended the subscription to {self.topic!r} (it stopped, or has pubsub off)."
        )

    def close(self) -> None:
        """End the request. A thread blocked reading it is woken by shutting the socket down
        (closing it alone would not wake a read in progress on Linux)."""
        if self._closed.is_set():
            return
        self._closed.set()
        response = next(iter(getattr(self._answer, "_closables", [])), None)  # ipfshttpclient's requests.Response
        sock = getattr(getattr(getattr(response, "raw", None), "connection", None), "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        try:
            self._answer.close()
        except Exception:  # already broken off: nothing left to release
            pass

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
