"""The change stream relay: one SUB socket on the daemon's XPUB, fanned out to the subscribed clients.

The SUB socket subscribes to the union of every client's prefixes, each
prefix once, counted by how many clients hold it; the last client to let a
prefix go unsubscribes it upstream. A topic finds its clients through a dict
of prefixes, probed once per distinct prefix length, never by scanning each
client's prefixes.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
from collections import Counter
from collections.abc import Collection
from typing import Protocol

import zmq
import zmq.asyncio

from daemon.gateway.frames import event_frame

log = logging.getLogger(__name__)

_HWM = 100_000


class Subscriber(Protocol):
    """A client that takes events: it buffers them, or drops them when its buffer is full."""

    def offer_event(self, frame: bytes) -> None:
        """Take one ``{"ctl": "event", ...}`` frame."""
        ...


class PrefixIndex:
    """Which subscribers hold which topic prefix; a topic's subscribers in O(distinct prefix lengths)."""

    def __init__(self) -> None:
        self._holders: dict[bytes, dict[Subscriber, None]] = {}
        self._length_counts: Counter[int] = Counter()
        self._lengths: list[int] = []

    def __len__(self) -> int:
        return len(self._holders)

    def add(self, prefix: bytes, subscriber: Subscriber) -> bool:
        """Give ``subscriber`` the prefix; True if no one held it before (subscribe upstream)."""
        holders = self._holders.get(prefix)
        if holders is not None:
            holders[subscriber] = None
            return False
        self._holders[prefix] = {subscriber: None}
        size = len(prefix)
        if self._length_counts[size] == 0:
            bisect.insort(self._lengths, size)
        self._length_counts[size] += 1
        return True

    def remove(self, prefix: bytes, subscriber: Subscriber) -> bool:
        """Take the prefix from ``subscriber``; True if no one holds it any more (unsubscribe upstream)."""
        holders = self._holders.get(prefix)
        if holders is None or subscriber not in holders:
            return False
        del holders[subscriber]
        if holders:
            return False
        del self._holders[prefix]
        size = len(prefix)
        self._length_counts[size] -= 1
        if self._length_counts[size] == 0:
            del self._length_counts[size]
            self._lengths.remove(size)
        return True

    def match(self, topic: bytes) -> Collection[Subscriber]:
        """Every subscriber holding a prefix of ``topic``, each once."""
        found: Collection[Subscriber] = ()
        merged: dict[Subscriber, None] | None = None
        holders = self._holders
        for size in self._lengths:
            if size > len(topic):
                break
            these = holders.get(topic[:size])
            if these is None:
                continue
            if not found:
                found = these.keys()
            else:
                if merged is None:
                    merged = dict.fromkeys(found)
                    found = merged.keys()
                merged.update(these)
        return found


class Stream:
    """The SUB socket, its subscriptions, and the loop that hands each event to its subscribers."""

    def __init__(self, pub: str, counters: Counter[str]) -> None:
        self.pub = pub
        self.counters = counters
        self.index = PrefixIndex()
        self._socket: zmq.asyncio.Socket | None = None
        self._reader: asyncio.Task[None] | None = None

    def start(self, context: zmq.asyncio.Context) -> None:
        """Connect to the daemon's XPUB and start relaying."""
        sock = context.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, _HWM)
        sock.connect(self.pub)
        self._socket = sock
        self._reader = asyncio.get_running_loop().create_task(self._read(sock))

    async def close(self) -> None:
        """Stop relaying and close the socket."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def subscribe(self, prefix: str, subscriber: Subscriber) -> None:
        """Deliver events whose topic starts with ``prefix`` to ``subscriber``."""
        raw = prefix.encode("utf-8")
        if self.index.add(raw, subscriber) and self._socket is not None:
            self._socket.setsockopt(zmq.SUBSCRIBE, raw)

    def unsubscribe(self, prefix: str, subscriber: Subscriber) -> None:
        """Stop delivering ``prefix``'s events to ``subscriber``."""
        raw = prefix.encode("utf-8")
        if self.index.remove(raw, subscriber) and self._socket is not None:
            self._socket.setsockopt(zmq.UNSUBSCRIBE, raw)

    async def _read(self, sock: zmq.asyncio.Socket) -> None:
        recv = sock.recv_multipart
        while True:
            frames = await recv()
            try:
                self._relay(frames)
            except Exception:  # a bug here must not stop the stream
                log.exception("relaying an event failed")

    def _relay(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self.counters["events.malformed"] += 1
            return
        topic, body = frames
        subscribers = self.index.match(topic)
        if not subscribers:
            return
        try:
            frame = event_frame(topic.decode("utf-8"), body)
        except UnicodeDecodeError:
            self.counters["events.malformed"] += 1
            return
        self.counters["events.received"] += 1
        for subscriber in tuple(subscribers):  # a copy: a subscriber may leave while this runs
            subscriber.offer_event(frame)
