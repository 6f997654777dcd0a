"""The gateway's life around its clients and its daemon: leaving, restarts, caps, start and stop, TLS."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import REPO, DaemonProcess, running_daemon
from tests.gateway.conftest import GatewayProcess, Session, Stack, Ws, auth, code_of, run


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def counters(session: Session, token: str) -> dict[str, Any]:
    _, report = await session.health(token)
    gateway: dict[str, Any] = report["gateway"]
    return gateway


def test_a_client_that_leaves_mid_request(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack("upstream_timeout_s = 60\n")
    daemon = stack.daemon.process
    assert daemon is not None
    client_code = (
        "import asyncio, sys, aiohttp, msgpack\n"
        "async def main():\n"
        "    async with aiohttp.ClientSession() as s:\n"
        "        ws = await s.ws_connect(sys.argv[1], headers={'Authorization': 'Bearer ' + sys.argv[2]})\n"
        "        for n in range(5):\n"
        "            await ws.send_bytes(msgpack.packb({'v': 1, 'id': n, 'op': 'storage.put', 'target':\n"
        "                {'class': 'Chest', 'name': 'left'}, 'args': {'key': f'k{n}', 'value': n}}))\n"
        "        print('sent', flush=True)\n"
        "        await asyncio.Event().wait()\n"
        "asyncio.run(main())\n")
    admin = stack.tokens["admin"]

    async def body() -> None:
        async with Session(stack.gateway) as session:
            health_calls = 0

            async def gateway_shows(key: str, value: int) -> bool:
                nonlocal health_calls
                health_calls += 1
                return bool((await counters(session, admin))[key] == value)

            daemon.send_signal(signal.SIGSTOP)
            try:
                client = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", client_code, stack.gateway.ws_url, stack.tokens["writer"],
                    stdout=asyncio.subprocess.PIPE)
                assert client.stdout is not None
                assert await asyncio.wait_for(client.stdout.readline(), 20) == b"sent\n"
                await eventually(lambda: gateway_shows("in_flight", 5))  # its frames come on their own socket
                client.kill()
                await client.wait()
                await eventually(lambda: gateway_shows("connections", 0))
            finally:
                daemon.send_signal(signal.SIGCONT)

            # Each health call made while the daemon was stopped gave up on the daemon's answer after 2 s:
            # those replies are discarded too, like the five whose client left.
            async def discarded() -> bool:
                gateway = await counters(session, admin)
                return bool(gateway["counters"].get("replies.discarded") == 5 + health_calls
                            and gateway["in_flight"] == 0)

            await eventually(discarded)
            # The writes were made (the client left, the daemon did not know); nothing was kept for the client.
            ws = await session.ws(admin)
            listed = await ws.call("storage.list", {"class": "Chest", "name": "left"})
            assert [key for key, _ in listed["result"]["entries"]] == [f"k{n}" for n in range(5)]
            gateway = await counters(session, admin)
            assert gateway["replies_waiting"] == 0 and gateway["buffered_event_bytes"] == 0

    run(body)


async def _connections_are(session: Session, token: str, count: int) -> bool:
    return bool((await counters(session, token))["connections"] == count)


def test_a_daemon_restart_under_a_connected_client(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    daemon = stack.daemon
    token = stack.tokens["admin"]
    chest = {"class": "Chest", "name": "restart"}

    async def probe_event(ws: Ws, key: str) -> None:
        async def heard() -> bool:
            await ws.send({"v": 1, "id": key, "op": "storage.put", "target": chest, "args": {"key": key, "value": 1}})
            while True:
                frame = await ws.recv()
                if frame.get("ctl") == "event" and frame["body"]["changes"][0]["key"] == key:
                    return True
                if frame.get("ctl") != "event" and frame["id"] == key:
                    try:
                        frame = await ws.recv(0.2)
                    except TimeoutError:
                        return False
                    return bool(frame.get("ctl") == "event")

        await eventually(heard)

    async def body() -> None:
        async with Session(stack.gateway) as session:
            ws = await session.ws(token)
            await ws.send({"ctl": "subscribe", "prefix": "change.Chest."})
            assert (await ws.recv())["ctl"] == "subscribed"
            await probe_event(ws, "before")
            daemon.kill()

            async def unavailable() -> bool:
                return code_of(await ws.call("ping")) == "UNAVAILABLE"  # TIMEOUT while the gateway finds out

            await eventually(unavailable)
            put = await ws.call("storage.put", chest, {"key": "down", "value": 1})
            assert code_of(put) == "UNAVAILABLE" and put["error"]["retryable"] is True
            assert "not reachable" in put["error"]["message"]
            status, reply = await session.call(token, {"op": "ping"})
            assert status == 503 and code_of(reply) == "UNAVAILABLE"
            status, report = await session.health(token)
            assert status == 503 and report["daemon"]["reachable"] is False

            daemon.start()  # the same endpoints as before

            async def back() -> bool:
                return bool((await ws.call("ping"))["ok"])

            await eventually(back)
            assert (await ws.call("storage.put", chest, {"key": "up", "value": 2}))["ok"]
            assert (await ws.call("storage.get", chest, {"key": "up"}))["result"] == {"found": True, "value": 2}
            await probe_event(ws, "after")  # the gateway's subscriptions came back with the daemon
            status, report = await session.health(token)
            assert status == 200 and report["gateway"]["counters"]["connections.accepted"] == 1

    run(body, timeout=90)


def test_the_connection_cap(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack("max_connections = 2\n")
    token = stack.tokens["reader"]

    async def body() -> None:
        async with Session(stack.gateway) as session:
            first, second = await session.ws(token), await session.ws(token)
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws(token)
            assert refused.value.status == 503
            async with session.http.get(f"{stack.gateway.url}/v1/ws", headers=auth(token)) as response:
                assert response.status == 503
                reply = await response.json()
                assert reply["error"]["code"] == "UNAVAILABLE" and "max_connections" in reply["error"]["message"]
            assert (await first.call("ping"))["ok"] and (await second.call("ping"))["ok"]
            await first.ws.close()
            await eventually(lambda: _connections_are(session, stack.tokens["admin"], 1))
            third = await session.ws(token)
            assert (await third.call("ping"))["ok"]
            assert (await counters(session, stack.tokens["admin"]))["counters"]["connections.refused"] == 2

    run(body)


def test_without_tokens_only_loopback_is_served(daemon: DaemonProcess, tmp_path: Path) -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "daemon", "gateway", "--listen", "0.0.0.0:0", "--rpc", daemon.rpc, "--pub", daemon.pub],
        cwd=REPO, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 78
    assert "not loopback" in refused.stderr and "[[gateway.tokens]]" in refused.stderr
    config = tmp_path / "exposed.toml"
    config.write_text('[gateway]\nlisten = "0.0.0.0:8765"\n')
    serve = subprocess.run(
        [sys.executable, "-m", "daemon", "serve", "--config", str(config), "--data-dir", str(tmp_path / "d2"),
         "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*"],
        cwd=REPO, capture_output=True, text=True, timeout=30)
    assert serve.returncode == 78 and "not loopback" in serve.stderr

    # On loopback without tokens, every client is admin and needs no token.
    gateway = GatewayProcess(None, daemon.rpc, daemon.pub).start()
    try:
        async def body() -> None:
            async with Session(gateway) as session:
                ws = await session.ws(None)
                assert (await ws.call("stats"))["ok"]
                assert (await ws.call("storage.delete_all", {"class": "Chest", "name": "x"}))["ok"]
                status, _ = await session.call(None, {"op": "stats"})
                assert status == 200
                await ws.ws.close()

        run(body)
        assert gateway.stop() == 0
    finally:
        gateway.kill()


def test_the_gateway_stops_on_sigterm_and_closes_its_clients(shared_free_stack: Stack) -> None:
    stack = shared_free_stack

    async def body() -> None:
        async with Session(stack.gateway) as session:
            ws = await session.ws(stack.tokens["reader"])
            assert (await ws.call("ping"))["ok"]
            process = stack.gateway.process
            assert process is not None
            process.send_signal(signal.SIGTERM)
            closing = await ws.ws.receive(10)
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1001
            assert await asyncio.to_thread(process.wait, 20) == 0

    run(body)


@pytest.fixture
def shared_free_stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_serve_starts_and_stops_the_gateway(tmp_path: Path) -> None:
    daemons = running_daemon(tmp_path, '[gateway]\nlisten = "127.0.0.1:0"\n')
    daemon = next(daemons)
    try:
        assert daemon.process is not None
        url = daemon.announced["gateway"]
        assert url.startswith("http://127.0.0.1:")
        (gateway_pid,) = _children(daemon.process.pid)
        gateway = GatewayProcess(None, daemon.rpc, daemon.pub)
        gateway.url = url

        async def ping() -> None:
            async with Session(gateway) as session:
                status, reply = await session.call(None, {"op": "ping"})
                assert status == 200 and reply["result"]["protocol"] == [1]

        run(ping)
        assert daemon.stop() == 0
        assert not _alive(gateway_pid)

        async def refused() -> None:
            async with Session(gateway) as session:
                with pytest.raises(aiohttp.ClientConnectionError):
                    await session.call(None, {"op": "ping"})

        run(refused)
        # A daemon killed outright takes no care of its gateway: the gateway notices and stops by itself.
        daemon.start()
        (orphan,) = _children(daemon.process.pid)
        daemon.kill()
        deadline = time.monotonic() + 15
        while _alive(orphan) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(orphan)
    finally:
        for _ in daemons:  # the fixture's clean-up
            pass


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls(tmp_path: Path, daemon: DaemonProcess) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    config = tmp_path / "tls.toml"
    config.write_text(f'[gateway]\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    gateway = GatewayProcess(config, daemon.rpc, daemon.pub).start()
    try:
        assert gateway.url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(cert))

        async def body() -> None:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{gateway.url}/v1/health", ssl=trusted) as response:
                    assert response.status == 200
                ws = await http.ws_connect(gateway.ws_url, ssl=trusted)
                await ws.send_bytes(b"\x84\xa1v\x01\xa2id\x01\xa2op\xa4ping\xa4args\x80")
                message = await ws.receive(10)
                assert message.type == aiohttp.WSMsgType.BINARY and b"protocol" in message.data
                await ws.close()
                with pytest.raises(aiohttp.ClientConnectorCertificateError):
                    await http.get(f"{gateway.url}/v1/health")  # not trusted by default

        run(body)
    finally:
        gateway.kill()
