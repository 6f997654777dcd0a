"""The JavaScript client (``bridge/js``) in a real browser, against a real gateway and daemon.

The client is built in a scratch folder (``conftest.built``). A small HTTP server on 127.0.0.1
serves a page, the built ``dist/*.js`` and ``@msgpack/msgpack``'s ESM build; the page's import map
names those two packages and nothing else, so a client that reached for the ``ws`` package would
fail to load it. Before the client loads, the page replaces the browser's ``WebSocket`` by a
subclass that counts sockets and frames; the tests check that the client's socket is one of them.
(``test_bundle.py`` loads the client the other way apps do, bundled by esbuild.)

Headless Chromium is Debian's, driven by Playwright for Python, as in ``tests/dashboard``; without
it (or without npm) the tests are skipped, except under CI, where they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bridge import Client
from tests.gateway.conftest import Stack
from tests.js_client.conftest import opened_page, serving, unique, write_until_heard

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>@lodestone/client</title>
<link rel="icon" href="data:,">
<script type="importmap">
{"imports": {"@lodestone/client": "/client/index.js", "@msgpack/msgpack": "/msgpack/index.mjs"}}
</script>
<script>
  // Every socket and frame made through the browser's own WebSocket, counted.
  window.counted = {sockets: 0, frames: 0};
  window.CountingWebSocket = class extends WebSocket {
    constructor(...args) { super(...args); counted.sockets += 1; }
    send(data) { counted.frames += 1; super.send(data); }
  };
  window.WebSocket = window.CountingWebSocket;
</script>
<script type="module">
  import * as lodestone from "@lodestone/client";
  window.lodestone = lodestone;
</script>
"""


@pytest.fixture(scope="module")
def static_url(built: Path) -> Iterator[str]:
    """The page, the built client under ``/client/``, msgpack's ESM build under ``/msgpack/``."""
    routes = {"/client/": built / "dist", "/msgpack/": built / "node_modules" / "@msgpack" / "msgpack" / "dist.esm"}
    with serving(PAGE, routes) as url:
        yield url


@pytest.fixture(scope="module")
def sockets() -> list[str]:
    """The URLs of the WebSockets the page opened, as Chromium reports them."""
    return []


@pytest.fixture(scope="module")
def page(browser: BrowserContext, static_url: str, stack: Stack, sockets: list[str]) -> Iterator[Page]:
    """The page, with the client loaded and ``window.client`` connected with the writer's token."""
    with opened_page(browser, f"{static_url}/", sockets) as opened:
        opened.evaluate("(options) => { window.client = new lodestone.LodestoneClient(options); }",
                        {"url": stack.gateway.url, "token": stack.tokens["writer"]})
        yield opened
        opened.evaluate("() => client.close()")


def test_the_client_calls_through_the_browsers_own_websocket(page: Page, stack: Stack, sockets: list[str]) -> None:
    result = page.evaluate("""async () => {
        const pong = await client.ping();
        const called = await client.call("ping");
        return {protocol: pong.protocol, called: called.protocol, sockets: counted.sockets,
                onBrowserSocket: client.ws instanceof CountingWebSocket};
    }""")
    assert result == {"protocol": [1], "called": [1], "sockets": 1, "onBrowserSocket": True}
    # A browser's WebSocket cannot set headers: the token travels in the URL.
    assert len(sockets) == 1
    assert sockets[0].startswith(stack.gateway.url.replace("http", "ws", 1) + "/v1/ws?")
    assert f"access_token={stack.tokens['writer']}" in sockets[0]


def test_an_agent_handle_writes_what_the_daemon_then_holds(page: Page, daemon_client: Client) -> None:
    name = unique("steve")
    result = page.evaluate("""async (name) => {
        const steve = client.agent(name);
        await steve.init({position: {x: 0, y: 64, z: 0}});
        const hit = await steve.damage(5, "zombie");
        const moved = await steve.move(3, 64, 4);
        return {health: hit.health, distance: moved.distanceTraveled};
    }""", name)
    assert result == {"health": 15, "distance": 5}
    state = daemon_client.call("Agent.state", {"class": "Agent", "name": name})
    assert state["health"] == 15
    assert state["position"] == {"x": 3, "y": 64, "z": 4}


def test_calls_made_in_one_tick_go_out_as_one_frame(page: Page) -> None:
    result = page.evaluate("""async (name) => {
        const steve = client.agent(name);
        await steve.init();
        const before = counted.frames;
        const moves = await Promise.all(Array.from({length: 100}, (_, i) => steve.move(i + 1, 64, 0)));
        return {frames: counted.frames - before, moves: moves.length, last: (await steve.state()).position};
    }""", unique("steve"))
    assert result == {"frames": 1, "moves": 100, "last": {"x": 100, "y": 64, "z": 0}}


def test_a_subscription_hears_a_change_another_client_writes(page: Page, daemon_client: Client) -> None:
    page.evaluate("""async () => {
        window.heard = [];
        window.changes = client.subscribe("change.Chest.");
        (async () => { for await (const event of changes) heard.push(event.body); })();
        await changes.ready;
    }""")
    body = write_until_heard(page, daemon_client, "changes")
    assert body["class"] == "Chest"
    assert body["changes"][0]["key"] == "lid"


def test_errors_come_as_their_classes(page: Page) -> None:
    result = page.evaluate("""async (name) => {
        const caught = async (promise) => {
            try { await promise; return null; }
            catch (e) {
                return {class: e.constructor.name, code: e.code, typed: e instanceof lodestone.LodestoneError};
            }
        };
        return {
            notFound: await caught(client.agent(name).state()),
            badRequest: await caught(client.call("storage.put", {class: "Chest", name: "c"}, {key: 7})),
        };
    }""", unique("never-spawned"))
    assert result == {
        "notFound": {"class": "NotFoundError", "code": "NOT_FOUND", "typed": True},
        "badRequest": {"class": "BadRequestError", "code": "BAD_REQUEST", "typed": True},
    }
