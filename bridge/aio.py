"""The asyncio client: one DEALER socket, many requests in flight, batched per loop iteration.

Replies are matched to requests by id, so calls from many tasks pipeline over
one connection. The calls made in one iteration of the event loop go out
together, as one batch frame (docs/protocol.md), when that iteration ends:
``asyncio.gather`` over 200 ``Agent.move`` calls sends one frame. A request
with no reply within the timeout is sent again, with the same id and
idempotency key, up to ``retries`` times.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import zmq
import zmq.asyncio

from bridge._common import (
    BATCH_MAX_REQUESTS,
    DEFAULT_RPC,
    MAX_FRAME_BYTES,
    check_size,
    frames_of,
    idempotency_key,
    replies_in,
    result_of,
)
from bridge.curve import CurveKeys
from bridge.errors import LodestoneError, Timeout, Unavailable
from schemas.wire import decode, encode, request

_RETRY_BACKOFF_S = 0.05


class AsyncClient:
    """An asyncio client for the daemon's RPC endpoint. Use within one event loop."""

    def __init__(
        self,
        endpoint: str = DEFAULT_RPC,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        batch_max_requests: int = BATCH_MAX_REQUESTS,
        context: zmq.asyncio.Context | None = None,
        curve: CurveKeys | None = None,
    ) -> None:
        """``curve``: the keys for a daemon with ``[security] curve = true`` (see :class:`CurveKeys`)."""
        self.endpoint = endpoint
        self.curve = curve
        self.timeout = timeout
        self.retries = retries
        self.max_frame_bytes = max_frame_bytes
        self.batch_max_requests = batch_max_requests
        self._context = context or zmq.asyncio.Context.instance()
        self._socket: zmq.asyncio.Socket | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        # Requests of this loop iteration, sent together when it ends (one flush scheduled at a time).
        self._outbox: list[bytes] = []
        self._flush_scheduled = False
        self._sends: set[asyncio.Future[Any]] = set()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _connected(self) -> zmq.asyncio.Socket:
        if self._socket is None:
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IMMEDIATE, 1)
            if self.curve is not None:
                self.curve.apply(sock)
            sock.connect(self.endpoint)
            self._socket = sock
            self._reader = asyncio.get_running_loop().create_task(self._read(sock))
        return self._socket

    def _send(self, body: bytes) -> None:
        """Queue ``body`` for the end of this loop iteration, when the iteration's requests go out together."""
        self._outbox.append(body)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        bodies, self._outbox = self._outbox, []
        if not bodies:
            return
        sock = self._connected()
        for _, frame in frames_of(bodies, self.batch_max_requests, self.max_frame_bytes):
            # Sent at once unless the socket is busy; then pyzmq sends it, in order, when it can.
            sent = sock.send_multipart([b"", frame])
            if isinstance(sent, asyncio.Future) and not sent.done():
                self._sends.add(sent)
                sent.add_done_callback(self._sent)

    def _sent(self, sent: asyncio.Future[Any]) -> None:
        # A send that failed (the socket closed under it) is the call's timeout to report.
        self._sends.discard(sent)
        if not sent.cancelled():
            sent.exception()

    async def _read(self, sock: zmq.asyncio.Socket) -> None:
        while True:
            frames = await sock.recv_multipart()
            try:
                replies = replies_in(decode(frames[-1]))
            except ValueError:
                continue
            for reply in replies:
                try:
                    future = self._pending.get(reply["id"])
                except (KeyError, TypeError):
                    continue
                if future is not None and not future.done():
                    future.set_result(reply)

    async def close(self) -> None:
        """Close the socket; pending calls fail with ``Unavailable``."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        self._outbox.clear()
        for sent in self._sends:
            sent.cancel()
        self._sends.clear()
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(Unavailable("the client was closed"))
        self._pending.clear()

    async def call(
        self,
        op: str,
        target: dict[str, str] | None = None,
        args: dict[str, Any] | None = None,
        *,
        idem: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Send one request and return its result, or raise its typed error."""
        request_id = next(self._ids)
        idem = idempotency_key(idem, self.retries)
        body = check_size(encode(request(request_id, op, target, args, idem)), op, self.max_frame_bytes)
        wait = self.timeout if timeout is None else timeout
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        attempt = 0
        last: LodestoneError = Timeout(f"no reply to {op} from {self.endpoint} within {wait} s")
        try:
            for _ in range(self.retries + 1):
                self._send(body)
                try:
                    # The send is queued (see _send), so the timeout covers the send too: with no
                    # daemon, or one that refuses the handshake (CURVE), the call times out.
                    reply = await asyncio.wait_for(asyncio.shield(future), wait)
                except TimeoutError:
                    last = Timeout(f"no reply to {op} from {self.endpoint} within {wait} s")
                    continue
                try:
                    return result_of(reply)
                except LodestoneError as exc:
                    if not exc.retryable:
                        raise
                    last = exc
                    attempt += 1
                    await asyncio.sleep(_RETRY_BACKOFF_S * attempt)
                    future = asyncio.get_running_loop().create_future()
                    self._pending[request_id] = future
            raise last
        finally:
            self._pending.pop(request_id, None)

    async def ping(self) -> dict[str, Any]:
        """The daemon's protocol versions and software version."""
        result: dict[str, Any] = await self.call("ping")
        return result
