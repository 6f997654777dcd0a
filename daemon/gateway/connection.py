"""One WebSocket client: its frames in, its replies and events out, within its limits.

Frames are read one at a time and answered without waiting: a request is
checked and sent on, and its reply is written when the daemon's comes back.
Everything for the client goes through one outbox. The :class:`Outflow`
writes every outbox that got frames once per pass of the loop (and at once
after the replies the daemon sent have been routed): a connection's frames
in one write to its socket, not one write (and one await) per frame. While
the socket's buffers are full, the connection's writer task waits for them
to drain and writes the rest. Replies are never dropped; events are, once
the events waiting in the outbox take ``subscriber_buffer_bytes``: the next
event that fits is preceded by ``{"ctl": "dropped", "count": n}``. A client
that stops reading is cut off: when a write has waited ``write_timeout_s``,
or when more than twice ``max_in_flight`` replies wait to be written. Once
a close frame has gone out, what waits is dropped (no frame may follow it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from typing import Any

from aiohttp import web
from aiohttp.base_protocol import BaseProtocol

from daemon.gateway.auth import Grant
from daemon.gateway.config import GatewayConfig
from daemon.gateway.frames import batch_frame, ctl_error, ctl_frame, error_frame, websocket_frames
from daemon.gateway.stream import Stream
from daemon.gateway.upstream import Upstream
from schemas.wire import ErrorCode, decode

log = logging.getLogger(__name__)

MAX_PREFIX_BYTES = 1024
# Room kept in the event buffer for the dropped notice that goes before the next event.
_NOTICE_BYTES = 32
_REPLY = False
_EVENT = True
# One write to a client's socket takes frames up to about this many bytes: while the client reads, the
# socket's buffer holds no more than its high-water mark and one such write.
_WRITE_BYTES = 64 * 1024
# Whether a writer has failed in a way not foreseen (logged with its traceback the first time only).
_writer_failure_logged = False


class Outflow:
    """The connections with frames waiting, written once per pass of the loop (or sooner: :meth:`flush`)."""

    def __init__(self) -> None:
        self._marked: list[Connection] = []
        self._due = False
        self._held = False

    def hold(self) -> None:
        """Until the next :meth:`flush`, which the caller promises, schedule none for marked connections."""
        self._held = True

    def mark(self, connection: Connection) -> None:
        """Have ``connection`` written by the next :meth:`flush` (one is scheduled if none is, or held)."""
        self._marked.append(connection)
        if not self._due and not self._held:
            self._due = True
            asyncio.get_running_loop().call_soon(self._scheduled)

    def flush(self) -> None:
        """Write every marked connection's outbox."""
        self._held = False
        marked, self._marked = self._marked, []
        for connection in marked:
            connection.flush()

    def _scheduled(self) -> None:
        self._due = False
        self.flush()


class Connection:
    """A connected WebSocket client; the app's handler feeds it frames and closes it."""

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, protocol: BaseProtocol,
                 grant: Grant, config: GatewayConfig, upstream: Upstream, stream: Stream, outflow: Outflow,
                 counters: Counter[str]) -> None:
        self.ws = ws
        self.grant = grant
        self.config = config
        self.upstream = upstream
        self.stream = stream
        self.counters = counters
        self.in_flight = 0
        self.closed = False
        self.prefixes: dict[str, None] = {}
        self.event_bytes = 0
        self.replies_waiting = 0
        self.sending_since = 0.0
        self._dropped = 0
        self._transport = transport
        self._protocol = protocol
        self._outflow = outflow
        self._marked = False
        self._route = upstream.route()
        self._outbox: deque[tuple[bytes, bool]] = deque()
        self._wake = asyncio.Event()
        self._writer = asyncio.get_running_loop().create_task(self._write())

    # Waiter (upstream) ------------------------------------------------------
    @property
    def gone(self) -> bool:
        return self.closed

    def settle(self, slot: int, reply: bytes) -> None:
        """A reply came back for one of this client's requests."""
        self.in_flight -= 1
        self.send_reply(reply)

    # Subscriber (stream) ----------------------------------------------------
    def offer_event(self, frame: bytes) -> None:
        """Queue an event, or drop it (counted) when the event buffer is full."""
        if self.closed:
            return
        notice = _NOTICE_BYTES if self._dropped else 0
        if self.event_bytes + len(frame) + notice > self.config.subscriber_buffer_bytes:
            self._dropped += 1
            self.counters["events.dropped.buffer_full"] += 1
            return
        if self._dropped:
            self._push(ctl_frame("dropped", count=self._dropped), _EVENT)
            self._dropped = 0
        self._push(frame, _EVENT)
        self.counters["events.delivered"] += 1

    # frames in --------------------------------------------------------------
    def receive(self, data: bytes, more: bool) -> None:
        """Handle one binary frame: a request, a batch, or a control message.

        ``more``: whether more frames of this client have been read already.
        The requests of a run of frames go to the daemon together once its
        last frame is handled (or at the end of the loop's pass, whichever
        comes first); a client that waits for each reply gets its request
        sent at once.
        """
        if len(data) > self.config.max_frame_bytes:
            self.counters["frames.too_large"] += 1
            self.send_reply(error_frame(None, ErrorCode.TOO_LARGE, (
                f"frame is {len(data)} bytes; the limit is {self.config.max_frame_bytes} (max_frame_bytes); "
                "it was not decoded")))
            return
        try:
            value = decode(data)
        except Exception as exc:  # msgpack raises several unrelated types on bad bytes
            self.counters["frames.malformed"] += 1
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.send_reply(error_frame(None, ErrorCode.BAD_REQUEST, f"frame is not valid msgpack ({detail})"))
            return
        if type(value) is dict:
            if "ctl" in value:
                self.send_reply(self._control(value))
            else:
                reply = self._forward(value, self, -1)
                if reply is not None:
                    self.send_reply(reply)
        elif type(value) is list:
            self._batch(value)
        else:
            self.counters["frames.malformed"] += 1
            self.send_reply(error_frame(None, ErrorCode.BAD_REQUEST, (
                "a frame is a msgpack map (a request, or a control message with ctl) or an array of "
                f"request maps (a batch), got {type(value).__name__}")))
        if more:  # at the end of the pass at the latest: aiohttp may hold only pings after this frame
            self.upstream.send_soon()
        else:
            self.upstream.send_now()

    def receive_text(self) -> None:
        """A text frame: answered with an error, otherwise ignored."""
        self.counters["frames.text"] += 1
        self.send_reply(error_frame(None, ErrorCode.BAD_REQUEST, (
            "text frames are not read; send each request as msgpack in a binary frame")))

    def _forward(self, message: dict[str, Any], waiter: Any, slot: int) -> bytes | None:
        room = self.in_flight < self.config.max_in_flight
        reply = self.upstream.forward(message, self.grant, waiter, slot, self._route, room)
        if reply is None:
            self.in_flight += 1
        return reply

    def _batch(self, items: list[Any]) -> None:
        limit = self.config.batch_max_requests
        if not items or len(items) > limit:
            self.counters["frames.malformed" if not items else "frames.too_large"] += 1
            self.send_reply(error_frame(None, ErrorCode.BAD_REQUEST, "a batch holds at least one request")
                            if not items else error_frame(None, ErrorCode.TOO_LARGE, (
                                f"a batch of {len(items)} requests; the limit is {limit} (batch_max_requests)")))
            return
        if any(type(item) is list for item in items):
            self.counters["frames.malformed"] += 1
            self.send_reply(error_frame(None, ErrorCode.BAD_REQUEST, "a batch holds request maps, not arrays"))
            return
        batch = _Batch(self, len(items))
        for slot, item in enumerate(items):
            if type(item) is not dict:
                reply: bytes | None = error_frame(None, ErrorCode.BAD_REQUEST, (
                    f"batch element {slot} is not a request map (got {type(item).__name__})"))
            elif "ctl" in item:
                reply = error_frame(None, ErrorCode.BAD_REQUEST, (
                    f"batch element {slot} is a control message; send those in frames of their own"))
            else:
                reply = self._forward(item, batch, slot)
            if reply is not None:
                batch.settle(slot, reply, counted=False)

    def _control(self, message: dict[str, Any]) -> bytes:
        ctl, prefix = message.get("ctl"), message.get("prefix")
        if ctl not in ("subscribe", "unsubscribe"):
            return ctl_error(ErrorCode.BAD_REQUEST, f"unknown ctl {ctl!r}; a client sends subscribe or unsubscribe")
        if type(prefix) is not str:
            return ctl_error(ErrorCode.BAD_REQUEST, f'{ctl} needs prefix, a string ("" for every topic)')
        if len(prefix.encode("utf-8")) > MAX_PREFIX_BYTES:
            return ctl_error(ErrorCode.TOO_LARGE, f"a prefix is at most {MAX_PREFIX_BYTES} bytes", prefix)
        if ctl == "unsubscribe":
            if prefix in self.prefixes:
                del self.prefixes[prefix]
                self.stream.unsubscribe(prefix, self)
            return ctl_frame("unsubscribed", prefix=prefix)
        refusal = self.grant.prefix_refusal(prefix)
        if refusal is not None:
            self.counters["subscriptions.forbidden"] += 1
            return ctl_error(ErrorCode.FORBIDDEN, refusal, prefix)
        if prefix not in self.prefixes:
            if len(self.prefixes) >= self.config.max_prefixes:
                return ctl_error(ErrorCode.TOO_LARGE, (
                    f"this connection holds {len(self.prefixes)} prefixes, the most it may (max_prefixes); "
                    "unsubscribe one first"), prefix)
            self.prefixes[prefix] = None
            self.stream.subscribe(prefix, self)
        return ctl_frame("subscribed", prefix=prefix)

    # frames out -------------------------------------------------------------
    def send_reply(self, frame: bytes) -> None:
        """Queue a reply (never dropped); cut the client off if it has stopped reading them."""
        if self.closed:
            return
        if self.replies_waiting >= 2 * self.config.max_in_flight:
            self.abort("connections.closed.not_reading")
            return
        self._push(frame, _REPLY)

    def _push(self, frame: bytes, is_event: bool) -> None:
        if is_event:
            self.event_bytes += len(frame)
        else:
            self.replies_waiting += 1
        self._outbox.append((frame, is_event))
        if not self._marked:
            self._marked = True
            self._outflow.mark(self)

    def flush(self) -> None:
        """Write what waits, a few frames to a write; once the socket's buffers are full, leave the rest to
        the writer task, which waits for them to drain."""
        self._marked = False
        outbox = self._outbox
        while outbox and not self.closed:
            if self._protocol.writing_paused:
                self._wake.set()
                return
            if self.ws.closed or self._transport.is_closing():  # a close frame went out: no frame may follow
                outbox.clear()
                self.event_bytes = self.replies_waiting = 0
                return
            payloads: list[bytes] = []
            size = 0
            while outbox and size < _WRITE_BYTES:
                frame, is_event = outbox.popleft()
                if is_event:
                    self.event_bytes -= len(frame)
                else:
                    self.replies_waiting -= 1
                payloads.append(frame)
                size += len(frame)
            self._transport.write(websocket_frames(payloads))

    async def _write(self) -> None:
        wake, loop, protocol = self._wake, asyncio.get_running_loop(), self._protocol
        try:
            while not self.closed:
                await wake.wait()
                # Cleared before the flush below, not after: a flush that fills the socket again sets it, and
                # the frames it leaves must be written on the next drain, not when another frame comes.
                wake.clear()
                while protocol.writing_paused and not self.closed:
                    self.sending_since = loop.time()
                    await protocol._drain_helper()
                self.sending_since = 0.0
                self.flush()
        except (ConnectionError, RuntimeError):  # the client went away mid-write
            self.abort(None)
        except Exception:  # e.g. aiohttp without the internals used here: a dead writer would stall the client
            global _writer_failure_logged
            if not _writer_failure_logged:
                _writer_failure_logged = True
                log.exception("a connection's writer failed; closing such connections (logged once)")
            self.abort("connections.closed.writer_failed")

    def check_writes(self, now: float) -> None:
        """Cut the client off if one write has waited ``write_timeout_s`` (it stopped reading)."""
        if self.sending_since and now - self.sending_since > self.config.write_timeout_s:
            self.abort("connections.closed.write_timeout")

    def abort(self, reason: str | None) -> None:
        """Drop the connection at once, and everything queued for it."""
        if self.closed:
            return
        self.closed = True
        if reason is not None:
            self.counters[reason] += 1
            log.info("closing a connection of token %r: %s", self.grant.name, reason)
        self._outbox.clear()
        self.event_bytes = self.replies_waiting = 0
        self._wake.set()
        self._transport.abort()

    async def close(self) -> None:
        """Release what the connection holds: its subscriptions and its writer."""
        self.closed = True
        self._outbox.clear()
        self.event_bytes = self.replies_waiting = 0
        for prefix in self.prefixes:
            self.stream.unsubscribe(prefix, self)
        self.prefixes.clear()
        self._wake.set()
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


class _Batch:
    """A batch frame's replies, assembled in order and sent as one array when the last comes in."""

    __slots__ = ("_connection", "_left", "_replies")

    def __init__(self, connection: Connection, size: int) -> None:
        self._connection = connection
        self._replies: list[bytes] = [b""] * size
        self._left = size

    @property
    def gone(self) -> bool:
        return self._connection.closed

    def settle(self, slot: int, reply: bytes, counted: bool = True) -> None:
        if counted:
            self._connection.in_flight -= 1
        self._replies[slot] = reply
        self._left -= 1
        if self._left == 0:
            self._connection.send_reply(batch_frame(self._replies))
