"""Other web sites cannot use a gateway without tokens through a visitor's browser.

Browsers send ``Origin`` on WebSocket upgrades and cross-site POSTs; a page's
own gateway and server-side clients are unaffected. These run a real gateway
(and daemon) and speak raw HTTP with the headers a browser would send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from daemon.gateway.origin import is_loopback_host, refusal
from tests.conftest import running_daemon
from tests.gateway.conftest import GatewayProcess, Stack, run, start_stack

CALL = '{"op": "storage.put", "target": {"class": "Chest", "name": "origin"}, "args": {"key": "k", "value": 1}}'


@pytest.fixture(scope="module")
def open_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A gateway with no tokens, on loopback, in front of a real daemon."""
    daemons = running_daemon(tmp_path_factory.mktemp("origin"), "")
    daemon = next(daemons)
    gateway = GatewayProcess(None, daemon.rpc, daemon.pub).start()
    try:
        yield gateway
    finally:
        gateway.kill()
        for _ in daemons:
            pass


async def upgrade(url: str, headers: dict[str, str]) -> int:
    """The status of a WebSocket upgrade sent with ``headers`` (101 when it is taken)."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, headers=headers) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status


async def post(url: str, headers: dict[str, str]) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.post(url, data=CALL, headers=headers) as response:
        return response.status, await response.json()


def test_pages_of_other_sites_are_refused_and_the_gateways_own_and_scripts_are_not(
        open_gateway: GatewayProcess) -> None:
    own = open_gateway.url
    port = own.rsplit(":", 1)[1]

    async def body() -> None:
        assert await upgrade(open_gateway.ws_url, {"Origin": "https://evil.example"}) == 403
        assert await upgrade(open_gateway.ws_url, {"Origin": "null"}) == 403  # a sandboxed or file: page
        assert await upgrade(open_gateway.ws_url, {"Origin": f"http://localhost:{port}"}) == 403  # another origin
        assert await upgrade(open_gateway.ws_url, {"Origin": own}) == 101  # the dashboard's own page
        assert await upgrade(open_gateway.ws_url, {}) == 101  # a script, curl, a server-side client
        status, reply = await post(own + "/v1/call", {"Origin": "https://evil.example", "Content-Type": "text/plain"})
        error = reply["error"]
        assert status == 403 and isinstance(error, dict) and error["code"] == "FORBIDDEN"
        assert "https://evil.example" in error["message"]
        status, reply = await post(own + "/v1/call", {})
        assert status == 200 and reply["ok"] is True

    run(body)


def test_a_name_made_to_resolve_to_loopback_reaches_nothing(open_gateway: GatewayProcess) -> None:
    """DNS rebinding: the page's own origin, but a Host that is not this machine's name."""
    port = open_gateway.url.rsplit(":", 1)[1]
    rebound = {"Host": f"rebind.example:{port}", "Origin": f"http://rebind.example:{port}"}

    async def body() -> None:
        assert await upgrade(open_gateway.ws_url, rebound) == 403
        status, reply = await post(open_gateway.url + "/v1/call", rebound)
        assert status == 403 and "loopback" in str(reply["error"])
        async with aiohttp.ClientSession() as session, session.get(open_gateway.url + "/", headers=rebound) as page:
            assert page.status == 403  # nor the dashboard's page and the data it would show

    run(body)


def test_with_tokens_a_page_anywhere_may_use_its_token(tmp_path: Path) -> None:
    stacks = start_stack(tmp_path)
    stack: Stack = next(stacks)
    try:
        token = stack.tokens["writer"]
        headers = {"Origin": "https://agents.example", "Authorization": f"Bearer {token}"}
        status, reply = asyncio.run(post(stack.gateway.url + "/v1/call", headers))
        assert status == 200 and reply["ok"] is True
        assert asyncio.run(upgrade(stack.gateway.ws_url + f"?access_token={token}",
                                   {"Origin": "https://agents.example"})) == 101
    finally:
        for _ in stacks:
            pass


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1:8765", True), ("127.1.2.3", True), ("[::1]:8765", True), ("localhost:80", True),
    ("app.localhost", True), ("10.0.0.5:8765", False), ("evil.example", False), ("", False),
    ("127.0.0.1.evil.example", False), ("[::ffff:8.8.8.8]", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_a_missing_host_is_refused() -> None:
    assert refusal(None, None, "http") is not None
    assert refusal(None, "127.0.0.1:1", "http") is None
    assert refusal("http://127.0.0.1:1", "127.0.0.1:1", "http") is None
    assert refusal("http://127.0.0.1:1", "127.0.0.1:1", "https") is not None
