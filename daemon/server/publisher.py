"""The change stream's sending side: what subscribers want, and how much one may hold up.

ZeroMQ queues a subscriber's messages until its connection takes them, and
bounds each queue in *messages* (``SNDHWM``), not bytes: one subscriber that
stops reading while values of a megabyte flow would hold a megabyte per
queued message. So the publisher keeps ``SNDHWM`` at ``pub_buffer_bytes``
divided by the largest message published lately (re-set on every socket's
queue when it changes, lowered before a larger message is sent, raised again
only after a quiet window): a stuck subscriber holds about
``pub_buffer_bytes`` (a little more while sizes shrink), plus what the
kernel's socket buffer holds.

A full queue drops the message for that subscriber only; the others get it.
The socket runs with ``XPUB_NODROP`` so that ZeroMQ says when a message would
be dropped for someone: the publisher counts it and sends it again without
the flag, which delivers it to every subscriber with room. The drop
counters, by reason, are ``pub_dropped.slow_subscriber`` (a queue was full),
``pub_dropped.too_large`` (one message over the whole budget, published to
no one) and ``pub_dropped.encode_failed``. The change stream is at most once
under back-pressure.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

import zmq

from daemon.model import ChangeEvent
from daemon.runtime import CycleResult
from daemon.server.encoder import Encoder
from daemon.server.stream import change_body, change_topic
from daemon.server.subscriptions import Subscriptions
from schemas.wire import encode

log = logging.getLogger(__name__)

_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE_NOBLOCK = int(zmq.SNDMORE) | _NOBLOCK
# The most messages queued for one subscriber, whatever their size...
MAX_QUEUED_MESSAGES = 100_000
# ... and the message size the budget is divided by while only smaller ones flow.
_SMALLEST_SIZE = 1024
# A raised SNDHWM waits until no larger message was published for a window this long.
_WINDOW_S = 10.0
_REPEAT_LOG_S = 60.0


class Publisher:
    """Owns the XPUB socket once bound: tracks subscriptions, publishes each cycle's messages."""

    def __init__(self, socket: zmq.Socket[bytes], subscriptions: Subscriptions, buffer_bytes: int,
                 counters: Counter[str], encoder: Encoder, clock: Callable[[], float] = time.monotonic) -> None:
        self.socket = socket
        self.subscriptions = subscriptions
        self.buffer_bytes = buffer_bytes
        self.counters = counters
        self._encoder = encoder
        self._clock = clock
        self._window_start = clock()
        self._window_max = 0
        self._previous_max = 0
        self._next_log = 0.0
        socket.setsockopt(zmq.XPUB_NODROP, 1)
        self.hwm = self._hwm_for(0)
        socket.setsockopt(zmq.SNDHWM, self.hwm)

    def track(self) -> list[bytes]:
        """Read subscribe (1) and unsubscribe (0) messages waiting on the socket into the index.

        Returns the prefixes subscribed to, in order (XPUB passes a prefix's first subscription only).
        """
        recv = self.socket.recv
        subscribed: list[bytes] = []
        while True:
            try:
                message = recv(_NOBLOCK)
            except zmq.Again:
                return subscribed
            if message[:1] == b"\x01":
                self.subscriptions.subscribe(message[1:])
                subscribed.append(message[1:])
            elif message[:1] == b"\x00":
                self.subscriptions.unsubscribe(message[1:])

    def wants(self, topic: bytes) -> bool:
        """Whether a message on ``topic`` would be sent to some subscriber now."""
        return bool(self.subscriptions) and self.subscriptions.wanted(topic)

    def publish(self, result: CycleResult) -> None:
        """Send the cycle's change events and notices that some subscriber wants."""
        wanted = self.subscriptions.wanted
        if not self.subscriptions:
            return
        messages: list[tuple[bytes, bytes]] = []
        for event in result.events:
            topic = change_topic(event.ref.class_name, event.ref.id)
            if wanted(topic):
                body = self._encoder.message(_change_body, event)
                if body is not None:
                    messages.append((topic, body))
        for topic, notice in result.notices:
            if wanted(topic):
                body = self._encoder.message(encode, notice)
                if body is not None:
                    messages.append((topic, body))
        if not messages:
            return
        self._fit_queue(max(len(topic) + len(body) for topic, body in messages))
        sent = 0
        for topic, body in messages:
            sent += self._send(topic, body)
        self.counters["published"] += sent

    def _send(self, topic: bytes, body: bytes) -> int:
        size = len(topic) + len(body)
        if size > self.buffer_bytes:
            self._dropped("too_large", f"a {size}-byte message on {topic[:80]!r} is over pub_buffer_bytes "
                                       f"({self.buffer_bytes}); it was published to no one")
            return 0
        send = self.socket.send
        try:
            send(topic, _SNDMORE_NOBLOCK)
        except zmq.Again:
            # Some subscriber that wants it has a full queue: it misses this one, the others get it.
            self._dropped("slow_subscriber", "a subscriber is not keeping up; messages are dropped for it "
                                             "(the change stream is at most once under back-pressure)")
            self.socket.setsockopt(zmq.XPUB_NODROP, 0)
            try:
                send(topic, _SNDMORE_NOBLOCK)
                send(body, _NOBLOCK)
            finally:
                self.socket.setsockopt(zmq.XPUB_NODROP, 1)
            return 1
        send(body, _NOBLOCK)
        return 1

    def _fit_queue(self, largest: int) -> None:
        """Set SNDHWM for messages as large as ``largest`` and those of the recent window."""
        now = self._clock()
        if now - self._window_start >= _WINDOW_S:
            self._previous_max, self._window_max, self._window_start = self._window_max, 0, now
        self._window_max = max(self._window_max, largest)
        hwm = self._hwm_for(max(self._window_max, self._previous_max))
        if hwm != self.hwm:
            self.hwm = hwm
            self.socket.setsockopt(zmq.SNDHWM, hwm)  # libzmq applies it to every open queue too

    def _hwm_for(self, largest: int) -> int:
        return max(1, min(MAX_QUEUED_MESSAGES, self.buffer_bytes // max(largest, _SMALLEST_SIZE)))

    def _dropped(self, reason: str, text: str) -> None:
        self.counters[f"pub_dropped.{reason}"] += 1
        now = self._clock()
        if now >= self._next_log:
            self._next_log = now + _REPEAT_LOG_S
            log.warning("%s (counted in stats as pub_dropped.%s)", text, reason)


def _change_body(event: ChangeEvent) -> bytes:
    return change_body(event).data
