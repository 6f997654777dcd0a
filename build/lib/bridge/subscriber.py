"""A subscriber for the daemon's PUB change stream, filtered by topic prefix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import zmq

from bridge._common import DEFAULT_PUB
from bridge.errors import Timeout
from schemas.wire import decode


@dataclass(frozen=True)
class Event:
    """One published message: its topic and decoded body."""

    topic: str
    body: dict[str, Any]


class Subscriber:
    """Receives published events whose topics start with the subscribed prefixes.

    ZeroMQ subscriptions take a moment to reach the publisher: events published
    right after :meth:`subscribe` may be missed.
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_PUB,
        topics: tuple[str, ...] = ("",),
        context: zmq.Context[Any] | None = None,
    ) -> None:
        self._socket: zmq.Socket[bytes] = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.connect(endpoint)
        for topic in topics:
            self.subscribe(topic)

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def subscribe(self, prefix: str) -> None:
        """Also receive topics starting with ``prefix`` ("" for everything)."""
        self._socket.setsockopt(zmq.SUBSCRIBE, prefix.encode())

    def unsubscribe(self, prefix: str) -> None:
        """Stop receiving topics starting with ``prefix``."""
        self._socket.setsockopt(zmq.UNSUBSCRIBE, prefix.encode())

    def recv(self, timeout: float | None = None) -> Event:
        """The next event; raises ``Timeout`` if none comes within ``timeout`` seconds."""
        if timeout is not None and not self._socket.poll(int(timeout * 1000), zmq.POLLIN):
            raise Timeout(f"no event within {timeout} s")
        topic, body = self._socket.recv_multipart()
        return Event(topic.decode(), decode(body))

    def close(self) -> None:
        """Close the socket."""
        self._socket.close(linger=0)
