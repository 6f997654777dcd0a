"""Fixtures of the JavaScript client's browser tests: the dashboard tests' headless Chromium, the
client built in a scratch folder, a real daemon and gateway, and a small HTTP server for the pages.

The client is built from ``bridge/js/src`` in a scratch folder (``npm ci`` of the committed
lockfile, then ``tsc -p tsconfig.build.json``, what ``npm run build`` runs), so the tests need no
build in the source tree and always load the current source. Without Chromium, Playwright or npm
the tests are skipped, except under CI, where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bridge import Client
from tests.conftest import REPO
from tests.dashboard.conftest import browser, playwright, require_browser
from tests.gateway.conftest import Stack, start_stack

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

__all__ = ["browser", "playwright"]

PACKAGE = REPO / "bridge" / "js"
# The files `npm run build` reads.
BUILD_INPUTS = ("package.json", "package-lock.json", "tsconfig.base.json", "tsconfig.build.json", "src")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="package")
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
    # No install scripts: the build needs TypeScript and @msgpack/msgpack, the bundle test esbuild,
    # whose binary is the optional package of this platform (npm installs Bun's beside it, unused).
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=folder, check=True, timeout=300, capture_output=True)
    subprocess.run(["node", "node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"],
                   cwd=folder, check=True, timeout=300, capture_output=True)
    return folder


@pytest.fixture(scope="package")
def stack(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(tmp_path_factory.mktemp("js-browser"))


@pytest.fixture(scope="package")
def daemon_client(stack: Stack) -> Iterator[Client]:
    """A Python client of the same daemon, to check what the browser wrote."""
    with Client(stack.daemon.rpc) as opened:
        yield opened


class Handler(SimpleHTTPRequestHandler):
    """``page`` at ``/``; under each prefix of ``routes``, the files of its folder; nothing else."""

    def __init__(self, *args: Any, page: str, routes: Mapping[str, Path], **kwargs: Any) -> None:
        self.page = page
        self.routes = routes
        # Module scripts must come as JavaScript. (The base class serves the request in __init__.)
        self.extensions_map = {**self.extensions_map, ".js": "text/javascript", ".mjs": "text/javascript"}
        super().__init__(*args, directory="/nonexistent", **kwargs)

    def do_GET(self) -> None:
        if self.path in ("/", "/index.html"):
            body = self.page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def translate_path(self, path: str) -> str:
        for prefix, folder in self.routes.items():
            if path.startswith(prefix):
                self.directory = str(folder)
                return super().translate_path("/" + path[len(prefix):])
        return "/nonexistent/nothing-here"

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(page: str, routes: Mapping[str, Path]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 for ``page`` and the files under ``routes``; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, page=page, routes=routes))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def opened_page(browser: BrowserContext, url: str, sockets: list[str] | None = None) -> Iterator[Page]:
    """``url`` in a new page once ``window.lodestone`` is set; after, no console errors may remain."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    if sockets is not None:
        page.on("websocket", lambda socket: sockets.append(socket.url))
    page.goto(url)
    page.wait_for_function("() => window.lodestone !== undefined", timeout=15_000)
    try:
        yield page
    finally:
        page.close()
    assert not errors, "the page logged errors:\n" + "\n".join(errors)


def write_until_heard(page: Page, daemon_client: Client, subscription: str) -> dict[str, Any]:
    """Write a new Chest through ``daemon_client`` until the page's ``heard`` list has its change.

    The page must be collecting the bodies of ``window[subscription]`` into ``window.heard``; the
    gateway's subscription reaches the daemon asynchronously after ``ready``, hence the retries.
    Closes the subscription and returns the body heard.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    name = unique("chest")
    for attempt in range(50):
        daemon_client.object("Chest", name).put("lid", attempt)
        try:
            page.wait_for_function("(name) => heard.some((body) => body.name === name)", arg=name, timeout=200)
            break
        except PlaywrightTimeout:
            continue
    else:
        raise AssertionError("the page heard no change within 10 s")
    body: dict[str, Any] = page.evaluate(
        "([name, subscription]) => { window[subscription].close(); return heard.find((body) => body.name === name); }",
        [name, subscription])
    return body
