"""What the gateway takes from aiohttp beyond its public API, on the installed aiohttp, in process.

The gateway writes to a client's transport itself and waits on aiohttp's
protocol for it to drain (``writing_paused``, ``_drain_helper``), and looks
at a WebSocket's reader buffer (``_reader._buffer``) to tell whether more
frames were read already. An aiohttp without them must fail here, loudly,
and a connection whose writer fails anyway must be closed, not left stalled.
"""

from __future__ import annotations

import asyncio
import collections
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from daemon.gateway.auth import Grant
from daemon.gateway.config import GatewayConfig
from daemon.gateway.connection import Connection, Outflow
from daemon.gateway.stream import Stream
from daemon.gateway.upstream import Upstream
from tests.gateway.conftest import run, small_receive_buffer

Handler = Callable[[web.Request, web.WebSocketResponse], Any]


@asynccontextmanager
async def serving(on_open: Handler) -> AsyncIterator[str]:
    """An aiohttp server on an ephemeral loopback port whose one route upgrades and calls ``on_open``."""

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        await on_open(request, ws)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/", websocket)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"ws://{host}:{port}/"
    finally:
        await runner.cleanup()


def test_the_aiohttp_internals_the_gateway_reads_exist() -> None:
    async def body() -> None:
        seen: asyncio.Future[tuple[Any, Any]] = asyncio.get_running_loop().create_future()

        async def on_open(request: web.Request, ws: web.WebSocketResponse) -> None:
            seen.set_result((request.protocol, ws))

        async with serving(on_open) as url, aiohttp.ClientSession() as session, session.ws_connect(url) as client:
            protocol, ws = await asyncio.wait_for(seen, 10)
            assert protocol.writing_paused is False
            assert asyncio.iscoroutinefunction(protocol._drain_helper)
            assert isinstance(ws._reader._buffer, collections.deque)
            await client.close()

    run(body)


class _BrokenDrain:
    """aiohttp's protocol as an aiohttp without ``_drain_helper`` would present it to the gateway."""

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    @property
    def writing_paused(self) -> bool:
        return bool(self._protocol.writing_paused)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"'RequestHandler' object has no attribute {name!r}")


def test_a_writer_that_fails_unforeseen_closes_its_connection() -> None:
    async def body() -> None:
        counters: Counter[str] = Counter()
        config = GatewayConfig()
        upstream = Upstream("tcp://127.0.0.1:9", 1, 10.0, 1 << 20, counters)  # never started: nothing is sent
        stream = Stream("tcp://127.0.0.1:9", counters)
        outflow = Outflow()
        made: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

        async def on_open(request: web.Request, ws: web.WebSocketResponse) -> None:
            assert request.transport is not None
            made.set_result(Connection(ws, request.transport, _BrokenDrain(request.protocol),  # type: ignore[arg-type]
                                       Grant("t", "write"), config, upstream, stream, outflow, counters))

        connector = aiohttp.TCPConnector(socket_factory=small_receive_buffer)
        async with serving(on_open) as url, aiohttp.ClientSession(connector=connector) as session:
            async with session.ws_connect(url) as client:
                connection = await asyncio.wait_for(made, 10)
                for _ in range(16):  # more than the sockets' buffers hold: the writer must wait for a drain
                    connection.send_reply(b"\xc4" + b"\x00" * 500_000)
                while not connection.closed:
                    await asyncio.sleep(0.01)  # bounded by run()'s timeout
                assert counters["connections.closed.writer_failed"] == 1
                while not client.closed:  # the client sees its connection drop
                    message = await client.receive(10)
                    if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        break
            await connection.close()

    run(body, timeout=30)
