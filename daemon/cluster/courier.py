"""Messages between nodes: a thread that owns one DEALER per peer's rpc endpoint.

The server loop hands a request frame to :meth:`Courier.send` (it only
queues it on an inproc socket, never waits); the courier thread sends it to
the peer and posts each reply frame back, with a wake-up for the loop.
Sockets connect with ``IMMEDIATE``, so a message for a peer that is down is
not queued for a later connection (where it would arrive stale): it fails
after :data:`CONNECT_WAIT_S` and the loop hears ``None`` for it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

log = logging.getLogger(__name__)

CONNECT_WAIT_S = 1.0
_NOBLOCK = int(zmq.NOBLOCK)

Delivery = tuple[int, bytes | None]


class Courier:
    """Sends frames to peers and posts ``(seq, reply body or None)`` to ``inbox``, then calls ``wake``."""

    def __init__(self, context: zmq.Context[Any], wake: Callable[[], None]) -> None:
        self._context = context
        self._wake = wake
        self.inbox: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        address = f"inproc://lodestone-courier-{id(self)}"
        self._pull: zmq.Socket[bytes] = context.socket(zmq.PULL)
        self._pull.bind(address)
        self._push: zmq.Socket[bytes] = context.socket(zmq.PUSH)
        self._push.setsockopt(zmq.LINGER, 0)
        self._push.connect(address)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lodestone-courier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def send(self, endpoint: str, seq: int, body: bytes) -> None:
        """Queue ``body`` for the peer at ``endpoint``; its reply (or ``None``) comes back tagged ``seq``."""
        self._push.send_multipart([endpoint.encode(), seq.to_bytes(8, "big"), body])

    def close(self) -> None:
        self._stop.set()
        self._push.send_multipart([b"", b"", b""])
        self._thread.join(5)
        self._push.close(0)

    def _run(self) -> None:
        dealers: dict[str, zmq.Socket[bytes]] = {}
        waiting: list[tuple[float, str, int, bytes]] = []
        poller = zmq.Poller()
        poller.register(self._pull, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(5 if waiting else 1000))
                if self._pull in ready:
                    while True:
                        try:
                            target, seq, body = self._pull.recv_multipart(_NOBLOCK)
                        except zmq.Again:
                            break
                        if target:
                            waiting.append((time.monotonic() + CONNECT_WAIT_S, target.decode(),
                                            int.from_bytes(seq, "big"), body))
                waiting = self._flush(waiting, dealers, poller)
                for endpoint, dealer in dealers.items():
                    if dealer in ready:
                        self._collect(endpoint, dealer)
        finally:
            for dealer in dealers.values():
                dealer.close(0)
            self._pull.close(0)

    def _flush(self, waiting: list[tuple[float, str, int, bytes]], dealers: dict[str, zmq.Socket[bytes]],
               poller: zmq.Poller) -> list[tuple[float, str, int, bytes]]:
        left = []
        now = time.monotonic()
        for item in waiting:
            deadline, endpoint, seq, body = item
            dealer = dealers.get(endpoint)
            if dealer is None:
                dealer = dealers[endpoint] = self._context.socket(zmq.DEALER)
                dealer.setsockopt(zmq.LINGER, 0)
                dealer.setsockopt(zmq.IMMEDIATE, 1)
                dealer.connect(endpoint)
                poller.register(dealer, zmq.POLLIN)
            try:
                dealer.send_multipart([b"", body], _NOBLOCK)
            except zmq.Again:
                if now < deadline:
                    left.append(item)
                else:
                    self.inbox.put((seq, None))
                    self._wake()
        return left

    def _collect(self, endpoint: str, dealer: zmq.Socket[bytes]) -> None:
        while True:
            try:
                frames = dealer.recv_multipart(_NOBLOCK)
            except zmq.Again:
                return
            if len(frames) == 2 and frames[0] == b"":
                self.inbox.put((-1, frames[1]))
                self._wake()
            else:
                log.warning("dropping a malformed reply from %s", endpoint)
