"""The JavaScript client (``bridge/js``) in a real browser, against a real gateway and daemon.

The client is built from ``bridge/js/src`` in a scratch folder (``npm ci`` of the committed
lockfile, then ``tsc -p tsconfig.build.json``, what ``npm run build`` runs), so the test needs no
build in the source tree and always loads the current source. A small HTTP server on 127.0.0.1
serves a page, the built ``dist/*.js`` and ``@msgpack/msgpack``'s ESM build; the page's import map
names those two packages and nothing else, so a client that reached for the ``ws`` package would
fail to load it. Before the client loads, the page replaces the browser's ``WebSocket`` by a
subclass that counts sockets and frames; the tests check that the client's socket is one of them.

Headless Chromium is Debian's, driven by Playwright for Python, as in ``tests/dashboard``; without
it (or without npm) the tests are skipped, except under CI, where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bridge import Client
from tests.conftest import REPO
from tests.dashboard.conftest import require_browser
from tests.gateway.conftest import Stack, start_stack

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

PACKAGE = REPO / "bridge" / "js"
# The files `npm run build` reads.
BUILD_INPUTS = ("package.json", "package-lock.json", "tsconfig.base.json", "tsconfig.build.json", "src")

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


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of the package with its dependencies installed and ``dist/`` built."""
    require_browser()
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI"):
            pytest.fail("npm is needed to build the JavaScript client under CI (apt-get install -y npm)")
        pytest.skip("npm is not installed")
    folder = tmp_path_factory.mktemp("js-client")
    for name in BUILD_INPUTS:
        source = PACKAGE / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy(source, folder / name)
    # No scripts and no optional packages: the build needs TypeScript and @msgpack/msgpack, not Bun.
    subprocess.run([npm, "ci", "--ignore-scripts", "--omit=optional", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=folder, check=True, timeout=300, capture_output=True)
    subprocess.run(["node", "node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"],
                   cwd=folder, check=True, timeout=300, capture_output=True)
    return folder


class Handler(SimpleHTTPRequestHandler):
    """The page at ``/``, the built client under ``/client/``, msgpack's ESM build under ``/msgpack/``."""

    def __init__(self, *args: Any, package: Path, **kwargs: Any) -> None:
        self.package = package
        # Module scripts must come as JavaScript. (The base class serves the request in __init__.)
        self.extensions_map = {**self.extensions_map, ".js": "text/javascript", ".mjs": "text/javascript"}
        super().__init__(*args, directory=str(package), **kwargs)

    def do_GET(self) -> None:
        if self.path in ("/", "/index.html"):
            body = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def translate_path(self, path: str) -> str:
        for prefix, folder in (("/client/", "dist"), ("/msgpack/", "node_modules/@msgpack/msgpack/dist.esm")):
            if path.startswith(prefix):
                return super().translate_path("/" + folder + "/" + path[len(prefix):])
        return str(self.package / "nothing-here")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def static_url(built: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 for the page and the modules."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, package=built))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture(scope="module")
def stack(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(tmp_path_factory.mktemp("js-browser"))


@pytest.fixture(scope="module")
def daemon_client(stack: Stack) -> Iterator[Client]:
    """A Python client of the same daemon, to check what the browser wrote."""
    with Client(stack.daemon.rpc) as opened:
        yield opened


@pytest.fixture(scope="module")
def sockets() -> list[str]:
    """The URLs of the WebSockets the page opened, as Chromium reports them."""
    return []


@pytest.fixture(scope="module")
def page(browser: BrowserContext, static_url: str, stack: Stack, sockets: list[str]) -> Iterator[Page]:
    """The page, with the client loaded and ``window.client`` connected with the writer's token."""
    opened = browser.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("websocket", lambda socket: sockets.append(socket.url))
    opened.goto(f"{static_url}/")
    opened.wait_for_function("() => window.lodestone !== undefined", timeout=15_000)
    opened.evaluate("(options) => { window.client = new lodestone.LodestoneClient(options); }",
                    {"url": stack.gateway.url, "token": stack.tokens["writer"]})
    yield opened
    opened.evaluate("() => client.close()")
    opened.close()
    assert not errors, "the page logged errors:\n" + "\n".join(errors)


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
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.evaluate("""async () => {
        window.heard = [];
        window.changes = client.subscribe("change.Chest.");
        (async () => { for await (const event of changes) heard.push(event.body); })();
        await changes.ready;
    }""")
    name = unique("chest")
    # The gateway's subscription reaches the daemon asynchronously after `ready`: write until heard.
    for attempt in range(50):
        daemon_client.object("Chest", name).put("lid", attempt)
        try:
            page.wait_for_function("(name) => heard.some((body) => body.name === name)", arg=name, timeout=200)
            break
        except PlaywrightTimeout:
            continue
    else:
        raise AssertionError("the page heard no change within 10 s")
    body = page.evaluate("(name) => { changes.close(); return heard.find((body) => body.name === name); }", name)
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
