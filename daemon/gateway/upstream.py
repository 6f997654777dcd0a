"""The gateway's side of the daemon's ROUTER: a pool of DEALER sockets, ids rewritten, replies routed.

Every request forwarded gets a gateway id, unique across all the clients that
share the pool; its reply is matched by that id and handed back with the
client's own id. A client's requests all go through one DEALER, so the daemon
sees them in the order the client sent them (its per-object order holds).

Sends never wait: with ``IMMEDIATE`` set, a DEALER with no connection to the
daemon refuses at once, and the client gets ``UNAVAILABLE`` (nothing was
sent). A request sent but not answered within ``upstream_timeout_s`` gets
``TIMEOUT`` (retryable; it may or may not have run, so retry with its idem
key); a reply that comes after that is dropped and counted.

The pool's sockets are plain (not ``zmq.asyncio``) sockets watched with the
loop's ``add_reader``: a wakeup drains every reply that is ready, and a send is
one call, with no future per message. ZeroMQ's descriptor only says that the
socket's state may have changed, and a send may consume that signal while
replies wait, so every send also schedules one drain in the loop's next pass.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from typing import Any, Protocol

import zmq

from daemon.gateway.auth import Grant
from daemon.gateway.frames import (
    FIRST_GATEWAY_ID,
    error_frame,
    good_id,
    id_refusal,
    pack,
    reply_gateway_id,
    unavailable,
    with_client_id,
)
from schemas.wire import ErrorCode

log = logging.getLogger(__name__)

_NOBLOCK = int(zmq.NOBLOCK)
_NOBLOCK_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)
_POLLOUT = int(zmq.POLLOUT)
_HWM = 100_000
# Replies routed per drain before the loop gets a turn (the rest wait for the next pass).
_DRAIN_MAX = 1024
# How often connected() looks at the pool while it waits.
_CONNECT_POLL_S = 0.01


class Waiter(Protocol):
    """Where a reply goes: a WebSocket connection, a batch being assembled, an HTTP call."""

    @property
    def gone(self) -> bool:
        """Whether nobody is waiting any more (the client left)."""
        ...

    def settle(self, slot: int, reply: bytes) -> None:
        """Take the reply (with the client's id) to the request sent for ``slot``."""
        ...


class Route:
    """Which pool socket a client's requests take; it moves only when that socket has lost the daemon."""

    __slots__ = ("socket",)

    def __init__(self, socket: int) -> None:
        self.socket = socket


class _Pending:
    __slots__ = ("client_id", "deadline", "slot", "waiter")

    def __init__(self, waiter: Waiter, slot: int, client_id: bytes, deadline: float) -> None:
        self.waiter = waiter
        self.slot = slot
        self.client_id = client_id
        self.deadline = deadline


class Upstream:
    """The DEALER pool, the table of requests waiting for their replies, and its timeouts."""

    def __init__(self, rpc: str, sockets: int, timeout_s: float, daemon_max_frame: int, counters: Counter[str]) -> None:
        self.rpc = rpc
        self.timeout_s = timeout_s
        self.daemon_max_frame = daemon_max_frame
        self.counters = counters
        self._count = sockets
        self._sockets: list[zmq.Socket[bytes]] = []
        self._fds: list[int] = []
        self._drain_due: list[bool] = []
        self._outbox: list[tuple[Route, bytes, int]] = []
        self._flush_due = False
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(FIRST_GATEWAY_ID)
        self._next_socket = itertools.cycle(range(sockets))
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def in_flight(self) -> int:
        """Requests sent to the daemon and not answered yet."""
        return len(self._pending)

    def start(self, context: zmq.Context[Any]) -> None:
        """Connect the pool and start reading replies."""
        self._loop = loop = asyncio.get_running_loop()
        plain: zmq.Context[zmq.Socket[bytes]] = zmq.Context.shadow(context.underlying)
        for index in range(self._count):
            sock = plain.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IMMEDIATE, 1)
            sock.setsockopt(zmq.SNDHWM, _HWM)
            sock.setsockopt(zmq.RCVHWM, _HWM)
            sock.connect(self.rpc)
            self._sockets.append(sock)
            self._drain_due.append(False)
            fd = sock.fileno()
            self._fds.append(fd)
            loop.add_reader(fd, self._drain, index)

    async def connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every pool socket has its connection to the daemon."""
        # With IMMEDIATE set, a DEALER can send (POLLOUT) only once it has a connection.
        assert self._loop is not None
        deadline = self._loop.time() + timeout
        while not all(sock.poll(0, _POLLOUT) for sock in self._sockets):
            if self._loop.time() >= deadline:
                return False
            await asyncio.sleep(_CONNECT_POLL_S)
        return True

    async def close(self) -> None:
        """Stop reading and close the sockets; whoever still waits gets UNAVAILABLE."""
        if self._loop is not None:
            for fd in self._fds:
                self._loop.remove_reader(fd)
        self._fds.clear()
        for sock in self._sockets:
            sock.close(linger=0)
        self._sockets = []  # what is still queued finds no socket, and gets UNAVAILABLE
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            if not entry.waiter.gone:
                entry.waiter.settle(entry.slot, unavailable(entry.client_id, "the gateway is shutting down"))

    def route(self) -> Route:
        """A route for a new client: the pool's sockets in turn."""
        return Route(next(self._next_socket))

    def forward(self, message: dict[str, Any], grant: Grant, waiter: Waiter, slot: int, route: Route,
                room: bool) -> bytes | None:
        """Check one request map and queue it; return the reply to send at once instead, if any.

        ``room`` says whether the client is under its in-flight limit. The
        map is changed in place (its id, and ``readonly`` for a read token).
        The request goes out on ``route``'s socket; if that one has no
        connection to the daemon (it reconnects on its own after a restart),
        on the first that has, which becomes the route's: a client's
        requests stay on one socket, so they stay in order. Requests queued
        in one pass of the loop are sent together at its end (:meth:`_flush`).
        """
        request_id = message.get("id")
        if not good_id(request_id):
            self.counters["requests.malformed"] += 1
            return error_frame(None, ErrorCode.BAD_REQUEST, id_refusal(request_id))
        client_id = pack(request_id)
        op = message.get("op")
        if type(op) is not str or not op:
            self.counters["requests.malformed"] += 1
            return error_frame(client_id, ErrorCode.BAD_REQUEST, "request needs op, a non-empty string")
        refusal = grant.refusal(op, message.get("target"), message.get("args"))
        if refusal is not None:
            self.counters["requests.forbidden"] += 1
            return error_frame(client_id, ErrorCode.FORBIDDEN, refusal)
        if not room:
            self.counters["requests.over_in_flight"] += 1
            return unavailable(client_id, "too many requests in flight on this connection (max_in_flight); "
                               "wait for replies, then retry")
        gateway_id = next(self._ids)
        message["id"] = gateway_id
        if grant.readonly:
            message["readonly"] = True
        try:
            body = pack(message)
        except (TypeError, ValueError, OverflowError) as exc:
            return error_frame(client_id, ErrorCode.BAD_REQUEST, f"request cannot be encoded: {exc}")
        if len(body) > self.daemon_max_frame:
            self.counters["requests.too_large"] += 1
            return error_frame(client_id, ErrorCode.TOO_LARGE,
                               f"request is {len(body)} bytes; the daemon takes at most {self.daemon_max_frame}")
        loop = self._loop
        assert loop is not None
        self._pending[gateway_id] = _Pending(waiter, slot, client_id, loop.time() + self.timeout_s)
        self._outbox.append((route, body, gateway_id))
        if not self._flush_due:
            self._flush_due = True
            loop.call_soon(self._flush)
        return None

    def _flush(self) -> None:
        """Send every request queued in this pass of the loop, back to back.

        One burst wakes ZeroMQ's I/O thread once, where a send between other
        work wakes it for each request. A request no socket can take gets
        UNAVAILABLE (nothing was sent).
        """
        self._flush_due = False
        outbox, self._outbox = self._outbox, []
        counters = self.counters
        for route, body, gateway_id in outbox:
            if self._send(route, body):
                counters["requests.forwarded"] += 1
                continue
            counters["requests.unreachable"] += 1
            entry = self._pending.pop(gateway_id, None)
            if entry is not None and not entry.waiter.gone:
                entry.waiter.settle(entry.slot, unavailable(
                    entry.client_id, f"the daemon is not reachable at {self.rpc}; nothing was sent, retry"))

    def _send(self, route: Route, body: bytes) -> bool:
        """Send ``body`` on the route's socket, or else on the first other one connected; False if none is."""
        sockets = self._sockets
        count = len(sockets)
        for step in range(count):
            index = (route.socket + step) % count
            sock = sockets[index]
            try:
                sock.send(b"", _NOBLOCK_MORE)  # the delimiter; the body cannot fail once it is taken
            except zmq.Again:  # IMMEDIATE: no connection to the daemon on this one
                continue
            sock.send(body, _NOBLOCK)
            if not self._drain_due[index]:
                self._drain_due[index] = True
                assert self._loop is not None
                self._loop.call_soon(self._drain, index)
            if step:
                route.socket = index
                self.counters["requests.rerouted"] += 1
            return True
        return False

    def expire(self, now: float) -> None:
        """Answer TIMEOUT to every request sent longer than ``upstream_timeout_s`` ago."""
        pending = self._pending
        expired: list[int] = []
        for gateway_id, entry in pending.items():  # in send order, so in deadline order
            if entry.deadline > now:
                break
            expired.append(gateway_id)
        for gateway_id in expired:
            entry = pending.pop(gateway_id)
            self.counters["requests.timed_out"] += 1
            if not entry.waiter.gone:
                entry.waiter.settle(entry.slot, error_frame(
                    entry.client_id, ErrorCode.TIMEOUT,
                    f"no reply from the daemon within {self.timeout_s:g} s; the request may or may not have run: "
                    "retry with the same idem key", retryable=True))

    def _drain(self, index: int) -> None:
        """Route every reply ready on pool socket ``index`` (up to _DRAIN_MAX, then come back)."""
        self._drain_due[index] = False
        if index >= len(self._fds):  # closed meanwhile
            return
        recv, route = self._sockets[index].recv_multipart, self._route
        for _ in range(_DRAIN_MAX):
            try:
                frames = recv(_NOBLOCK)
            except zmq.Again:
                return
            try:
                route(frames[-1])
            except Exception:  # a bug here must not stop every reply after it
                log.exception("routing a reply failed")
        self._drain_due[index] = True
        assert self._loop is not None
        self._loop.call_soon(self._drain, index)

    def _route(self, reply: bytes) -> None:
        gateway_id = reply_gateway_id(reply)
        entry = self._pending.pop(gateway_id, None) if gateway_id is not None else None
        if entry is None:
            self.counters["replies.late" if gateway_id is not None else "replies.unroutable"] += 1
            return
        if entry.waiter.gone:
            self.counters["replies.discarded"] += 1
            return
        entry.waiter.settle(entry.slot, with_client_id(reply, entry.client_id))
