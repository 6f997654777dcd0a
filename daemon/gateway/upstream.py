"""The gateway's side of the daemon's ROUTER: a pool of DEALER sockets, ids rewritten, requests sent and timed out.

Every request forwarded gets a gateway id, unique across all the clients that
share the pool; its reply is matched by that id and handed back with the
client's own id (:mod:`daemon.gateway.replies` routes the replies). A
client's requests all go through one DEALER, so the daemon sees them in the
order the client sent them (its per-object order holds).

Sends never wait: with ``IMMEDIATE`` set, a DEALER with no connection to the
daemon refuses at once, and the client gets ``UNAVAILABLE`` (nothing was
sent). A request sent but not answered within ``upstream_timeout_s`` gets
``TIMEOUT`` (retryable; it may or may not have run, so retry with its idem
key); a reply that comes after that is dropped and counted.

Requests queued in one pass of the loop (a client's batch frame, single
frames from any number of clients) go to the daemon as batch frames
(docs/protocol.md), one per socket and kind, within the daemon's
``batch_max_requests`` and ``max_frame_bytes``: the daemon then reads,
parses and answers them as one frame, and its reply array is split into
the requests' replies (:mod:`daemon.gateway.replies`). Requests that only
read (known read ops, or a read token's) are never put in one batch frame
with requests that may write: the daemon answers a batch frame once all of
it may be answered, and reads would wait for the writes' commit. Once the
daemon refuses a batch frame, the gateway sends one frame per request from
then on.

The pool's sockets are plain (not ``zmq.asyncio``) sockets watched with the
loop's ``add_reader``: a wakeup drains every reply that is ready, and a send is
one call, with no future per message. ZeroMQ's descriptor only says that the
socket's state may have changed, and a send may consume that signal while
replies wait, so after sending, the sockets sent on are asked whether a reply
is ready (and drained in the next pass if one is).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import Counter
from typing import Any, Protocol

import zmq

from daemon.gateway.auth import Grant
from daemon.gateway.batching import READ_OPS, Queued, Route, frames_of
from daemon.gateway.frames import (
    FIRST_GATEWAY_ID,
    batch_frame,
    error_frame,
    good_id,
    id_refusal,
    is_array,
    pack,
    unavailable,
)
from daemon.gateway.pending import Pending, SentBatches, Waiter
from daemon.gateway.replies import Replies
from schemas.wire import ErrorCode

log = logging.getLogger(__name__)

_NOBLOCK = int(zmq.NOBLOCK)
_NOBLOCK_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)
_POLLOUT = int(zmq.POLLOUT)
_POLLIN = int(zmq.POLLIN)
_EVENTS = int(zmq.EVENTS)
_HWM = 100_000
# Replies routed per drain before the loop gets a turn (the rest wait for the next pass).
_DRAIN_MAX = 1024
# How often connected() looks at the pool while it waits.
_CONNECT_POLL_S = 0.01


def _readable(sock: zmq.Socket[bytes]) -> bool:
    """Whether a message waits on ``sock`` (asking also resets its descriptor's signal)."""
    events: int = sock.get(_EVENTS)  # type: ignore[assignment]  # an int option
    return bool(events & _POLLIN)


class Outflow(Protocol):
    """Where the clients' writes wait while replies are routed: held, then flushed."""

    def hold(self) -> None:
        """Take marks without scheduling a write: :meth:`flush` follows."""
        ...

    def flush(self) -> None:
        """Write everything marked."""
        ...


class Upstream:
    """The DEALER pool, the table of requests waiting for their replies, and its timeouts."""

    def __init__(self, rpc: str, sockets: int, timeout_s: float, daemon_max_frame: int, counters: Counter[str],
                 daemon_batch_max: int = 1024, outflow: Outflow | None = None) -> None:
        self.rpc = rpc
        self.timeout_s = timeout_s
        self.daemon_max_frame = daemon_max_frame
        self.daemon_batch_max = daemon_batch_max
        self.counters = counters
        # Held while replies are routed, and flushed after: the clients' writes go out at once.
        self._outflow = outflow
        # Whether requests of one pass go as batch frames; off for good once the daemon refuses one.
        self.batching = daemon_batch_max > 1
        self._count = sockets
        self._sockets: list[zmq.Socket[bytes]] = []
        self._fds: list[int] = []
        self._drain_due: list[bool] = []
        self._batches = SentBatches()
        self._outbox: list[Queued] = []
        self._flush_due = False
        self._sent: set[int] = set()
        self._pending: dict[int, Pending] = {}
        self._replies = Replies(self._pending, self._batches, counters, self._send_alone, self._stop_batching)
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
            self._batches.add_socket()
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
        waiting = list(self._pending.values())
        self._pending.clear()  # emptied in place: the replies' router holds this same table
        for entry in waiting:
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
        requests stay on one socket, so they stay in order. The request is
        queued: the caller then calls :meth:`send_now` or :meth:`send_soon`.
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
        self._pending[gateway_id] = Pending(waiter, slot, client_id, loop.time() + self.timeout_s, route,
                                            message.get("target"))
        reads = grant.readonly or op in READ_OPS
        idem = message.get("idem")
        self._outbox.append(Queued(route, body, gateway_id, reads, reads or (type(idem) is str and idem != "")))
        return None

    def send_now(self) -> None:
        """Send what is queued at once: a client has no more frames waiting to be read."""
        outbox, self._outbox = self._outbox, []
        self._send_all(outbox)

    def send_soon(self) -> None:
        """Send what is queued at the end of this pass of the loop, with whatever is queued after it."""
        if not self._flush_due:
            self._flush_due = True
            assert self._loop is not None
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        outbox, self._outbox = self._outbox, []
        self._send_all(outbox)

    def _send_all(self, outbox: list[Queued]) -> None:
        """Send ``outbox``: per socket, in batch frames where it may.

        One burst wakes ZeroMQ's I/O thread once, and a batch frame is one
        message for both sides instead of one per request. A request no
        socket can take gets UNAVAILABLE (nothing was sent).
        """
        if len(outbox) == 1 or not self.batching:
            for queued in outbox:
                self._send_frame([queued], queued.body)
        elif outbox:
            by_socket: dict[int, list[Queued]] = {}
            for queued in outbox:  # a route's requests keep their order within their socket's list
                by_socket.setdefault(queued.route.socket, []).append(queued)
            for queue in by_socket.values():
                for chunk in frames_of(queue, self.daemon_max_frame, self.daemon_batch_max):
                    if len(chunk) == 1:
                        self._send_frame(chunk, chunk[0].body)
                    else:
                        self._send_frame(chunk, batch_frame([queued.body for queued in chunk]))
        self._check_sent()

    def _check_sent(self) -> None:
        """Drain the sockets just sent on whose replies are ready: ZeroMQ's descriptor says only that
        something changed, and a send may have taken that signal while a reply came in."""
        sent, self._sent = self._sent, set()
        for index in sent:
            if not self._drain_due[index] and _readable(self._sockets[index]):
                self._drain_due[index] = True
                assert self._loop is not None
                self._loop.call_soon(self._drain, index)

    def _send_frame(self, requests: list[Queued], body: bytes) -> None:
        """Send one frame holding ``requests`` on their socket, or answer each UNAVAILABLE."""
        counters = self.counters
        index = self._send(requests[0].route.socket, body)
        if index is not None:
            counters["requests.forwarded"] += len(requests)
            if len(requests) > 1:
                counters["upstream.batch_frames"] += 1
                assert self._loop is not None
                self._batches.add(index, requests, self._loop.time() + 2 * self.timeout_s)
            for queued in requests:
                if queued.route.socket != index:
                    queued.route.socket = index
                    counters["requests.rerouted"] += 1
            return
        counters["requests.unreachable"] += len(requests)
        for queued in requests:
            self._replies.answer_unavailable(queued.gateway_id,
                                             f"the daemon is not reachable at {self.rpc}; nothing was sent, retry")

    def _send_alone(self, queued: Queued) -> None:
        """Send again, in a frame of its own, a request whose reply was crowded out of a batch frame's."""
        self._send_frame([queued], queued.body)

    def _stop_batching(self, reason: str | None) -> None:
        """The daemon refused a batch frame (for ``reason``): send one frame per request from now on."""
        if self.batching:
            self.batching = False
            log.warning("the daemon refused a batch frame (%s); sending one frame per request from now on", reason)

    def _send(self, first: int, body: bytes) -> int | None:
        """Send ``body`` on socket ``first``, or else on the first other one connected; its index, None if none is."""
        sockets = self._sockets
        count = len(sockets)
        for step in range(count):
            index = (first + step) % count
            sock = sockets[index]
            try:
                sock.send(b"", _NOBLOCK_MORE)  # the delimiter; the body cannot fail once it is taken
            except zmq.Again:  # IMMEDIATE: no connection to the daemon on this one
                continue
            sock.send(body, _NOBLOCK)
            self._sent.add(index)
            return index
        return None

    def expire(self, now: float) -> None:
        """Answer TIMEOUT to every request sent longer than ``upstream_timeout_s`` ago."""
        pending = self._pending
        expired: list[int] = []
        for gateway_id, entry in pending.items():  # in send order, so in deadline order
            if entry.deadline > now:
                break
            expired.append(gateway_id)
        self._batches.forget(now)
        for gateway_id in expired:
            entry = pending.pop(gateway_id)
            self.counters["requests.timed_out"] += 1
            if not entry.waiter.gone:
                entry.waiter.settle(entry.slot, error_frame(
                    entry.client_id, ErrorCode.TIMEOUT,
                    f"no reply from the daemon within {self.timeout_s:g} s; the request may or may not have run: "
                    "retry with the same idem key", retryable=True))

    def _drain(self, index: int) -> None:
        """Route every reply ready on pool socket ``index``; then have the clients' writes go out, together."""
        self._drain_due[index] = False
        if index >= len(self._fds):  # closed meanwhile
            return
        outflow = self._outflow
        if outflow is None:
            self._receive(index)
            return
        outflow.hold()
        try:
            self._receive(index)
        finally:
            outflow.flush()

    def _receive(self, index: int) -> None:
        """Route the replies ready on socket ``index``, up to _DRAIN_MAX (then come back in the next pass)."""
        sock = self._sockets[index]
        recv, route, route_batch = sock.recv, self._replies.route, self._replies.route_batch
        for _ in range(_DRAIN_MAX):
            if not _readable(sock):
                return
            try:
                recv(_NOBLOCK)  # the empty delimiter a DEALER gets before each reply
                body = recv(_NOBLOCK)
            except zmq.Again:  # a reply of one frame (not the daemon's): the next one starts clean
                continue
            try:
                if is_array(body):
                    route_batch(index, body)
                    self._check_sent()  # replies crowded out of the array may have been sent again alone
                else:
                    route(body, index)
            except Exception:  # a bug here must not stop every reply after it
                log.exception("routing a reply failed")
        self._drain_due[index] = True
        assert self._loop is not None
        self._loop.call_soon(self._drain, index)
