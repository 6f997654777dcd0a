"""Gateway fixtures: a real daemon subprocess, a real gateway subprocess in front of it, real sockets.

Clients are aiohttp's WebSocket and HTTP clients, driven by ``asyncio.run``
inside plain test functions; every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import msgpack
import pytest

from daemon.gateway.config import new_token
from tests.conftest import REPO, DaemonProcess, running_daemon

T = TypeVar("T")

# name: (scope, classes)
TOKEN_SPECS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "admin": ("admin", None),
    "writer": ("write", None),
    "reader": ("read", None),
    "agents": ("write", ("Agent",)),
    "agent-reader": ("read", ("Agent",)),
}


def make_tokens() -> tuple[dict[str, str], str]:
    """A fresh token per entry of :data:`TOKEN_SPECS`, and the ``[[gateway.tokens]]`` lines that hold them."""
    tokens: dict[str, str] = {}
    blocks: list[str] = []
    for name, (scope, classes) in TOKEN_SPECS.items():
        tokens[name], lines = new_token(name, scope, classes)
        blocks.append(lines)
    return tokens, "\n\n".join(blocks) + "\n"


def run(make: Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
    """Run one async test body on a fresh loop; fail if it takes over ``timeout`` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(make(), timeout)

    return asyncio.run(bounded())


@dataclass
class GatewayProcess:
    """A real ``lodestone gateway`` subprocess; it listens on an ephemeral port unless told otherwise."""

    config: Path | None
    rpc: str
    pub: str
    listen: str = "127.0.0.1:0"
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "daemon", "gateway", "--listen", self.listen,
                   "--rpc", self.rpc, "--pub", self.pub, *self.extra_args]
        return command + (["--config", str(self.config)] if self.config is not None else [])

    def start(self, timeout: float = 20.0) -> GatewayProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(self.command(), cwd=REPO, stdout=subprocess.PIPE, env=env)
        assert self.process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                self.process.kill()
                raise TimeoutError("the gateway did not report that it listens")
        line = self.process.stdout.readline().decode()
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if "listen" not in fields:
            self.process.wait(10)
            raise RuntimeError(f"the gateway did not start (exit {self.process.returncode}): {line!r}")
        self.url = fields["listen"]
        return self

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/v1/ws"

    def stop(self) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        self.process = None
        return code

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def rss_kib(self) -> int:
        """The gateway process's resident memory, from /proc."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc")


@dataclass
class Stack:
    """A daemon and a gateway in front of it, with one token per :data:`TOKEN_SPECS` entry."""

    daemon: DaemonProcess
    gateway: GatewayProcess
    tokens: dict[str, str]


def start_stack(tmp_path: Path, gateway_table: str = "", tokens: bool = True,
                extra_args: list[str] | None = None, top_level: str = "") -> Iterator[Stack]:
    """Start a daemon and a gateway that share one configuration file; stop both after.

    ``gateway_table`` goes into its ``[gateway]`` table, ``top_level`` before it (the daemon's keys).
    """
    issued, lines = make_tokens() if tokens else ({}, "")
    timeout = "" if "upstream_timeout_s" in gateway_table else "upstream_timeout_s = 5\n"
    config_text = f"{top_level}\n[gateway]\n{timeout}{gateway_table}\n{lines}"
    daemons = running_daemon(tmp_path, config_text)
    daemon = next(daemons)
    gateway = GatewayProcess(tmp_path / "lodestone.toml", daemon.rpc, daemon.pub, extra_args=extra_args or [])
    gateway.tokens = issued
    gateway.start()
    try:
        yield Stack(daemon, gateway, issued)
    finally:
        gateway.kill()
        for _ in daemons:
            pass


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One daemon and gateway for the tests of a module that do not stop or starve them."""
    yield from start_stack(tmp_path_factory.mktemp("gateway"))


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Start daemons and gateways of the test's own (arguments as :func:`start_stack`); all stopped after."""
    started: list[Iterator[Stack]] = []

    def make(gateway_table: str = "", **options: Any) -> Stack:
        folder = tmp_path / f"stack{len(started)}"
        folder.mkdir()
        stack = start_stack(folder, gateway_table, **options)
        started.append(stack)
        return next(stack)

    yield make
    for stack in reversed(started):
        close = getattr(stack, "close", None)
        assert close is not None
        close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Ws:
    """A WebSocket client of the gateway: msgpack frames out, decoded frames in."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = iter(range(1, 1 << 62))

    async def send(self, value: Any) -> None:
        await self.ws.send_bytes(msgpack.packb(value, use_bin_type=True))

    async def recv(self, timeout: float = 10.0) -> Any:
        message = await self.ws.receive(timeout)
        assert message.type == aiohttp.WSMsgType.BINARY, message
        return msgpack.unpackb(message.data, raw=False, strict_map_key=False)

    async def recv_reply(self, timeout: float = 10.0) -> Any:
        """The next frame that is not a stream message (an event or a dropped notice)."""
        while True:
            frame = await self.recv(timeout)
            if not (isinstance(frame, dict) and frame.get("ctl") in ("event", "dropped")):
                return frame

    async def call(self, op: str, target: dict[str, str] | None = None, args: dict[str, Any] | None = None,
                   **extra: Any) -> dict[str, Any]:
        """Send one request and return its reply (stream messages in between are skipped)."""
        request_id = next(self._ids)
        request: dict[str, Any] = {"v": 1, "id": request_id, "op": op, "args": args or {}, **extra}
        if target is not None:
            request["target"] = target
        await self.send(request)
        reply: dict[str, Any] = await self.recv_reply()
        assert reply["id"] == request_id, reply
        return reply


def small_receive_buffer(address: Any) -> socket.socket:
    """A client socket whose kernel receive buffer stays small (Linux otherwise grows it to megabytes)."""
    family, kind, proto, _, _ = address
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    return sock


class Session:
    """An aiohttp client session on one gateway, for WebSocket and HTTP calls with a token.

    ``slow``: its sockets have small receive buffers, so a client that stops reading is felt at once.
    """

    def __init__(self, gateway: GatewayProcess, slow: bool = False) -> None:
        self.gateway = gateway
        connector = aiohttp.TCPConnector(socket_factory=small_receive_buffer) if slow else None
        self.http = aiohttp.ClientSession(connector=connector)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.http.close()

    async def ws(self, token: str | None, **kwargs: Any) -> Ws:
        headers = auth(token) if token is not None else {}
        return Ws(await self.http.ws_connect(self.gateway.ws_url, headers=headers, **kwargs))

    async def call(self, token: str | None, body: Any, raw: bytes | None = None) -> tuple[int, Any]:
        headers = auth(token) if token is not None else {}
        async with self.http.post(f"{self.gateway.url}/v1/call", json=body if raw is None else None,
                                  data=raw, headers=headers) as response:
            return response.status, await response.json()

    async def health(self, token: str | None) -> tuple[int, Any]:
        headers = auth(token) if token is not None else {}
        async with self.http.get(f"{self.gateway.url}/v1/health", headers=headers) as response:
            return response.status, await response.json()


def code_of(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    code: str = reply["error"]["code"]
    return code
