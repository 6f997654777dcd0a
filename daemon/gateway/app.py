"""The gateway's HTTP side: ``/v1/ws``, ``/v1/call``, ``/v1/health`` and the static files at ``/``.

:class:`Gateway` holds what every route shares (the upstream pool, the stream
relay, the connections, the counters); :func:`serve` runs it until SIGTERM or
SIGINT. The daemon's own loop never sees any of this: the gateway is a
process of its own, a ZeroMQ client like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
from collections import Counter
from pathlib import Path
from typing import Any

import zmq.asyncio
from aiohttp import WSMsgType, web

from daemon.errors import ConfigError
from daemon.gateway import origin
from daemon.gateway.auth import Authenticator, Grant, bearer
from daemon.gateway.config import GatewayConfig
from daemon.gateway.connection import Connection, Outflow
from daemon.gateway.frames import decode_reply
from daemon.gateway.jsonvalues import dumps, from_json
from daemon.gateway.stream import Stream
from daemon.gateway.upstream import Upstream
from schemas.wire import ErrorCode, error_reply

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
# WebSocket pings: a client that answers none for this long is closed (and its requests' replies dropped).
HEARTBEAT_S = 30.0
# A frame over max_frame_bytes gets TOO_LARGE and the connection goes on; one over this many times it
# is refused by the WebSocket layer itself, which closes the connection (code 1009).
HARD_FRAME_FACTOR = 2
COOKIE = "lodestone_access_token"
_TICK_S = 0.1
# How long the gateway waits at start for its sockets to reach the daemon before it listens anyway.
CONNECT_WAIT_S = 5.0
# How long /v1/health waits for the daemon's health before it answers 503.
HEALTH_TIMEOUT_S = 2.0
HTTP_STATUS: dict[str, int] = {
    ErrorCode.BAD_REQUEST: 400, ErrorCode.UNSUPPORTED_VERSION: 400, ErrorCode.UNKNOWN_OP: 400,
    ErrorCode.INVALID_ID: 400, ErrorCode.UNAUTHENTICATED: 401, ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404, ErrorCode.CONFLICT: 409, ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNAVAILABLE: 503, ErrorCode.TIMEOUT: 504, ErrorCode.INTERNAL: 500,
}


class Gateway:
    """The routes and the state they share."""

    def __init__(self, config: GatewayConfig, rpc: str, pub: str, daemon_max_frame: int,
                 static_dir: Path = STATIC_DIR, daemon_batch_max: int = 1024) -> None:
        self.config = config
        self.counters: Counter[str] = Counter()
        self.auth = Authenticator(config)
        self.outflow = Outflow()
        self.upstream = Upstream(rpc, config.upstream_sockets, config.upstream_timeout_s, daemon_max_frame,
                                 self.counters, daemon_batch_max, self.outflow)
        self.stream = Stream(pub, self.counters)
        self.connections: set[Connection] = set()
        self.http_in_flight = 0
        self.static_dir = static_dir.resolve()
        self._context: zmq.asyncio.Context | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.stopping = asyncio.Event()

    def application(self) -> web.Application:
        """The aiohttp application; start the gateway with :meth:`start` first."""
        app = web.Application(client_max_size=self.config.max_frame_bytes,
                              middlewares=[origin.guard(lambda: self.auth.open)])
        app.router.add_get("/v1/ws", self.websocket)
        app.router.add_post("/v1/call", self.call)
        app.router.add_get("/v1/health", self.health)
        app.router.add_get("/{path:.*}", self.static)
        return app

    async def start(self, parent_pid: int | None = None) -> None:
        """Connect to the daemon (waiting up to CONNECT_WAIT_S for it) and start the timers."""
        self._context = zmq.asyncio.Context()
        self.upstream.start(self._context)
        self.stream.start(self._context)
        if not await self.upstream.connected(CONNECT_WAIT_S):
            log.warning("no connection to the daemon at %s yet; requests get UNAVAILABLE until it answers",
                        self.upstream.rpc)
        self._ticker = asyncio.get_running_loop().create_task(self._tick(parent_pid))

    async def stop(self) -> None:
        """Close every connection (1001, going away), then the daemon's sockets."""
        for connection in list(self.connections):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.ws.close(code=1001, message=b"the gateway is stopping"), 2)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.upstream.close()
        await self.stream.close()
        if self._context is not None:
            self._context.term()

    async def _tick(self, parent_pid: int | None) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(_TICK_S)
            now = loop.time()
            self.upstream.expire(now)
            for connection in list(self.connections):
                connection.check_writes(now)
            if parent_pid is not None and os.getppid() != parent_pid:
                log.warning("the daemon that started the gateway is gone; stopping")
                self.stopping.set()

    # routes -----------------------------------------------------------------
    async def websocket(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/ws``: authenticate, then relay frames until the client leaves."""
        grant = self._grant(bearer(request.headers.get("Authorization")) or request.query.get("access_token"))
        if grant is None:
            return self._unauthenticated()
        if len(self.connections) >= self.config.max_connections:
            self.counters["connections.refused"] += 1
            return _error(None, ErrorCode.UNAVAILABLE, (
                f"the gateway holds {len(self.connections)} connections, its most (max_connections); retry later"),
                retryable=True)
        ws = web.WebSocketResponse(max_msg_size=HARD_FRAME_FACTOR * self.config.max_frame_bytes,
                                   heartbeat=HEARTBEAT_S, compress=False)
        await ws.prepare(request)
        transport = request.transport
        if transport is None:  # the client left during the upgrade
            return ws
        connection = Connection(ws, transport, request.protocol, grant, self.config, self.upstream, self.stream,
                                self.outflow, self.counters)
        self.connections.add(connection)
        self.counters["connections.accepted"] += 1
        try:
            async for message in ws:
                if message.type == WSMsgType.BINARY:
                    connection.receive(message.data, _more_read(ws))
                elif message.type == WSMsgType.TEXT:
                    connection.receive_text()
        finally:
            self.connections.discard(connection)
            await connection.close()
        return ws

    async def call(self, request: web.Request) -> web.Response:
        """``POST /v1/call``: one request map as JSON; its reply map as JSON."""
        grant = self._grant(bearer(request.headers.get("Authorization")))
        if grant is None:
            return self._unauthenticated()
        try:
            text = await request.text()
        except web.HTTPRequestEntityTooLarge:
            self.counters["frames.too_large"] += 1
            return _error(None, ErrorCode.TOO_LARGE, f"the body is over {self.config.max_frame_bytes} bytes "
                          "(max_frame_bytes)")
        try:
            message = from_json(json.loads(text))
        except ValueError as exc:
            self.counters["frames.malformed"] += 1
            return _error(None, ErrorCode.BAD_REQUEST, f"the body is not a JSON request: {exc}")
        if not isinstance(message, dict):
            self.counters["frames.malformed"] += 1
            return _error(None, ErrorCode.BAD_REQUEST,
                          f"the body must be one JSON object, got {type(message).__name__}")
        reply = await self.relay(message, grant)
        return web.Response(text=dumps(reply), status=200 if reply.get("ok") else _status(reply),
                            content_type="application/json")

    async def relay(self, message: dict[str, Any], grant: Grant) -> dict[str, Any]:
        """Send one request map to the daemon (``v`` defaults to 1, ``id`` is optional); its decoded reply."""
        message.setdefault("v", 1)
        given = "id" in message
        if not given:
            message["id"] = 0
        waiter = _Call()
        room = self.http_in_flight < self.config.max_in_flight
        sent = self.upstream.forward(message, grant, waiter, -1, self.upstream.route(), room)
        self.upstream.send_soon()
        if sent is None:
            self.http_in_flight += 1
            try:
                sent = await waiter.future
            finally:
                self.http_in_flight -= 1
        reply = decode_reply(sent)
        if not given:
            reply["id"] = None
        return reply

    async def health(self, request: web.Request) -> web.Response:
        """``GET /v1/health``: the gateway's own figures and the daemon's ``health``; 503 if it did not answer."""
        grant = self._grant(bearer(request.headers.get("Authorization")))
        if grant is None:
            return self._unauthenticated()
        gateway = {
            "connections": len(self.connections),
            "max_connections": self.config.max_connections,
            "in_flight": self.upstream.in_flight,
            "http_in_flight": self.http_in_flight,
            "buffered_event_bytes": sum(c.event_bytes for c in self.connections),
            "replies_waiting": sum(c.replies_waiting for c in self.connections),
            "prefixes": len(self.stream.index),
            "counters": dict(sorted(self.counters.items())),
        }
        try:
            reply = await asyncio.wait_for(self.relay({"op": "health"}, grant), HEALTH_TIMEOUT_S)
        except TimeoutError:
            reply = error_reply(None, ErrorCode.TIMEOUT, f"the daemon did not answer within {HEALTH_TIMEOUT_S:g} s",
                                True)
        report = {
            "gateway": gateway,
            "daemon": {"reachable": bool(reply.get("ok")), "health": reply.get("result"),
                       "error": reply.get("error")},
        }
        return web.Response(text=dumps(report), status=200 if reply.get("ok") else 503,
                            content_type="application/json")

    async def static(self, request: web.Request) -> web.StreamResponse:
        """The files under ``static/``; ``/`` is ``index.html``. Any token will do."""
        query_token = request.query.get("access_token")
        token = bearer(request.headers.get("Authorization")) or query_token or request.cookies.get(COOKIE)
        if self._grant(token) is None:
            return self._unauthenticated()
        relative = request.match_info["path"] or "index.html"
        path = (self.static_dir / relative).resolve()
        if not path.is_relative_to(self.static_dir) or not path.is_file():
            return _error(None, ErrorCode.NOT_FOUND, f"no file {relative!r} here")
        response = web.FileResponse(path)
        if query_token and not self.auth.open:  # so the page's own files load without the query
            response.set_cookie(COOKIE, query_token, httponly=True, samesite="Strict", path="/",
                                secure=self.config.tls_cert is not None)
        return response

    def _grant(self, token: str | None) -> Grant | None:
        grant = self.auth.grant(token)
        if grant is None:
            self.counters["requests.unauthenticated"] += 1
        return grant

    def _unauthenticated(self) -> web.Response:
        response = _error(None, ErrorCode.UNAUTHENTICATED, (
            "a token is needed: Authorization: Bearer <token> (or ?access_token=<token> for a WebSocket); "
            "the one given is missing or unknown"))
        response.headers["WWW-Authenticate"] = 'Bearer realm="lodestone"'
        return response


def _more_read(ws: web.WebSocketResponse) -> bool:
    """Whether aiohttp has read more of this client's frames already (False when that cannot be seen)."""
    # aiohttp keeps the frames it has parsed in its reader's buffer and has no public way to ask about
    # them; without one, every frame is sent on at once (correct, only less often together).
    return bool(getattr(getattr(ws, "_reader", None), "_buffer", None))


class _Call:
    """An HTTP call waiting for its reply."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    @property
    def gone(self) -> bool:
        return self.future.done()

    def settle(self, slot: int, reply: bytes) -> None:
        self.future.set_result(reply)


def _status(reply: dict[str, Any]) -> int:
    error = reply.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return HTTP_STATUS.get(code, 500) if isinstance(code, str) else 500


def _error(request_id: Any, code: ErrorCode, message: str, retryable: bool = False) -> web.Response:
    reply = error_reply(request_id, code.value, message, retryable)
    return web.Response(text=dumps(reply), status=HTTP_STATUS[code], content_type="application/json")


def tls_context(config: GatewayConfig) -> ssl.SSLContext | None:
    """The server's TLS context from ``tls_cert`` and ``tls_key``; None without them."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"gateway.tls_cert/tls_key cannot be loaded: {exc}") from exc
    return context


async def serve(config: GatewayConfig, rpc: str, pub: str, daemon_max_frame: int,
                parent_pid: int | None = None, daemon_batch_max: int = 1024) -> int:
    """Run the gateway until SIGTERM or SIGINT (or the parent's exit, with ``parent_pid``); return 0.

    Prints one line once it listens: ``lodestone gateway serving listen=URL rpc=... pub=...``.
    """
    context = tls_context(config)
    gateway = Gateway(config, rpc, pub, daemon_max_frame, daemon_batch_max=daemon_batch_max)
    await gateway.start(parent_pid)
    runner = web.AppRunner(gateway.application(), access_log=None, handle_signals=False)
    await runner.setup()
    host, port = config.address
    try:
        site = web.TCPSite(runner, host, port, ssl_context=context, backlog=1024)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        url = f"{'https' if context else 'http'}://{shown}:{bound_port}"
        print(f"lodestone gateway serving listen={url} rpc={rpc} pub={pub}", flush=True)
        log.info("gateway listening on %s for the daemon at %s / %s", url, rpc, pub)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, gateway.stopping.set)
        await gateway.stopping.wait()
        log.info("gateway stopping")
    finally:
        await gateway.stop()
        await runner.cleanup()
    return 0
