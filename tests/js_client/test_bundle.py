"""The JavaScript client bundled for the browser by esbuild, as an app ships it, in headless Chromium.

A small app (``app.js``) imports ``@lodestone/client`` by its package name from its own folder,
where ``node_modules/@lodestone/client`` is a link to the scratch build (what ``npm install
/path/to/bridge/js`` makes). esbuild, the lockfile's, bundles it for the browser into one
minified ES module in a temporary folder, which a page loads against a real gateway and daemon.
This is where the package's ``"browser": {"ws": false}`` field, its ``"sideEffects": false`` (the
app imports a few names, so the rest is shaken out) and the client's choice of the global
``WebSocket`` take effect; the tests check that the bundle holds none of the ``ws`` package and
that the bundled client works. The page may log no error (``conftest.opened_page``).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bridge import Client
from tests.gateway.conftest import Stack
from tests.js_client.conftest import opened_page, serving, unique, write_until_heard

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

APP = """\
import { AgentHandle, LodestoneClient, LodestoneError, NotFoundError } from "@lodestone/client";

window.lodestone = { AgentHandle, LodestoneClient, LodestoneError, NotFoundError };
"""

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>bundled @lodestone/client</title>
<link rel="icon" href="data:,">
<script type="module" src="/app/app.js"></script>
"""


@pytest.fixture(scope="module")
def bundle(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder holding the bundle, ``app.js``, and esbuild's metafile beside it (not served)."""
    app = tmp_path_factory.mktemp("js-app")
    (app / "app.js").write_text(APP)
    (app / "node_modules" / "@lodestone").mkdir(parents=True)
    (app / "node_modules" / "@lodestone" / "client").symlink_to(built, target_is_directory=True)
    out = app / "out"
    esbuild = built / "node_modules" / "esbuild" / "bin" / "esbuild"
    subprocess.run(["node", str(esbuild), "app.js", "--bundle", "--platform=browser", "--format=esm", "--minify",
                    f"--outfile={out / 'app.js'}", f"--metafile={app / 'meta.json'}", "--log-level=warning"],
                   cwd=app, check=True, timeout=120, capture_output=True)
    return out


@pytest.fixture(scope="module")
def page(browser: BrowserContext, bundle: Path, stack: Stack) -> Iterator[Page]:
    """The page, with the bundle loaded and ``window.client`` connected with the writer's token."""
    with serving(PAGE, {"/app/": bundle}) as url, opened_page(browser, f"{url}/") as opened:
        opened.evaluate("(options) => { window.client = new lodestone.LodestoneClient(options); }",
                        {"url": stack.gateway.url, "token": stack.tokens["writer"]})
        yield opened
        opened.evaluate("() => client.close()")


def test_the_bundle_is_one_file_without_the_ws_package(bundle: Path) -> None:
    assert [path.name for path in bundle.iterdir()] == ["app.js"]
    meta: dict[str, Any] = json.loads((bundle.parent / "meta.json").read_text())
    inputs = list(meta["inputs"])
    # The client came in by its package name, through the app's node_modules, with msgpack.
    assert any(re.search(r"(^|/)dist/client\.js$", path) for path in inputs), inputs
    assert any("node_modules/@msgpack/msgpack/" in path for path in inputs), inputs
    # The browser field maps ws to an empty module: esbuild lists it as "(disabled):<path>".
    assert all(path.startswith("(disabled):") for path in inputs if "node_modules/ws/" in path), inputs
    text = (bundle / "app.js").read_text()
    # No import of ws left for the page to resolve, and none of ws's code (its browser stub's message).
    assert not re.search(r"""(require\(|import\(|from\s*)["']ws["']""", text)
    assert "ws does not work in the browser" not in text


def test_the_bundled_client_calls_on_the_browsers_websocket(page: Page, stack: Stack) -> None:
    result = page.evaluate("""async () => {
        const pong = await client.ping();
        return {protocol: pong.protocol, onBrowserSocket: client.ws instanceof WebSocket, url: client.ws.url};
    }""")
    assert result["protocol"] == [1]
    assert result["onBrowserSocket"] is True
    assert result["url"].startswith(stack.gateway.url.replace("http", "ws", 1) + "/v1/ws?")


def test_a_bundled_agent_write_is_what_the_daemon_then_holds(page: Page, daemon_client: Client) -> None:
    name = unique("alex")
    result = page.evaluate("""async (name) => {
        const alex = client.agent(name);
        await alex.init({position: {x: 1, y: 70, z: 1}});
        const hit = await alex.damage(4, "skeleton");
        return {health: hit.health, handle: alex instanceof lodestone.AgentHandle};
    }""", name)
    assert result == {"health": 16, "handle": True}
    state = daemon_client.call("Agent.state", {"class": "Agent", "name": name})
    assert state["health"] == 16
    assert state["position"] == {"x": 1, "y": 70, "z": 1}


def test_a_bundled_client_throws_typed_errors(page: Page) -> None:
    result = page.evaluate("""async (name) => {
        try { await client.agent(name).state(); return null; }
        catch (e) {
            return {code: e.code, notFound: e instanceof lodestone.NotFoundError,
                    typed: e instanceof lodestone.LodestoneError, name: e.name};
        }
    }""", unique("never-spawned"))
    # The name survives minifying, which renames the classes: a log line still says what failed.
    assert result == {"code": "NOT_FOUND", "notFound": True, "typed": True, "name": "NotFoundError"}


def test_a_bundled_subscription_hears_a_change_another_client_writes(page: Page, daemon_client: Client) -> None:
    page.evaluate("""async () => {
        window.heard = [];
        window.chests = client.subscribe("change.Chest.");
        (async () => { for await (const event of chests) heard.push(event.body); })();
        await chests.ready;
    }""")
    body = write_until_heard(page, daemon_client, "chests")
    assert body["class"] == "Chest"
    assert body["changes"][0]["key"] == "lid"
