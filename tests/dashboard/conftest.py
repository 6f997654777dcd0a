"""Dashboard fixtures: a real daemon and gateway, and the page in a real headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright for Python;
Playwright's own browser downloads are never used. Without Chromium (or
Playwright) the browser tests are skipped with the reason, except under CI
(``CI`` set), where they fail instead.

Every page collects its console errors and uncaught exceptions; a test that
leaves one fails at teardown. Screenshots go to ``$LODESTONE_SCREENSHOTS``
if set, else to a temporary folder whose path is printed.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.gateway.conftest import Stack, start_stack

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, ConsoleMessage, Error, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LIVE_TIMEOUT_MS = 15_000


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


def require_browser() -> None:
    """Skip the test without a browser; under CI, fail instead."""
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the dashboard's browser tests must run under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The folder screenshots are written to (printed once)."""
    given = os.environ.get("LODESTONE_SCREENSHOTS")
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="lodestone-screenshots-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {folder}")
    return folder


# Package scope, not session: Playwright's sync API holds an asyncio loop open in this thread while it
# runs, and the tests of other folders call asyncio.run, which refuses to start inside a running loop.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """One headless Chromium with a fresh profile; each test opens its own pages in it."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
        args=CHROMIUM_ARGS, viewport={"width": 1440, "height": 900},
    )
    yield context
    context.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A daemon and a gateway with tokens (admin, reader, ...), shared by a module's tests."""
    require_browser()
    yield from start_stack(tmp_path_factory.mktemp("dashboard"))


@dataclass
class Dashboard:
    """One open page of the dashboard and the errors it has logged."""

    page: Page
    errors: list[str] = field(default_factory=list)
    # Console errors a test expects (the browser's own report of a refused connection while the
    # gateway is down); matched by substring, nothing else is forgiven.
    expected: list[str] = field(default_factory=list)

    def unexpected_errors(self) -> list[str]:
        return [error for error in self.errors if not any(allowed in error for allowed in self.expected)]

    def wait_live(self, timeout_ms: int = LIVE_TIMEOUT_MS) -> None:
        self.page.wait_for_function("window.lodestone && window.lodestone.store.phase === 'live'",
                                    timeout=timeout_ms)

    def wait(self, expression: str, arg: Any = None, timeout_ms: int = 5000) -> Any:
        """Wait until the JavaScript ``expression`` (a function of ``arg``) is truthy; return its value."""
        return self.page.wait_for_function(expression, arg=arg, timeout=timeout_ms).json_value()

    def marker(self, name: str) -> Any:
        return self.page.evaluate("(name) => window.lodestone.map.markerOf(name)", name)

    def shoot(self, folder: Path, name: str) -> Path:
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


def open_dashboard(context: BrowserContext, url: str, token: str | None,
                   viewport: dict[str, int] | None = None) -> Dashboard:
    """Open ``url`` (the gateway's ``/``) with ``token`` and wait until the page is live."""
    page = context.new_page()
    if viewport is not None:
        page.set_viewport_size({"width": viewport["width"], "height": viewport["height"]})
    dashboard = Dashboard(page)
    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            dashboard.errors.append(f"console: {message.text} ({message.location})")

    def uncaught(error: Error) -> None:
        dashboard.errors.append(f"pageerror: {error}")

    page.on("console", console)
    page.on("pageerror", uncaught)
    query = f"?access_token={token}" if token else ""
    page.goto(f"{url}/{query}")
    dashboard.wait_live()
    return dashboard


@pytest.fixture
def dashboards(browser: BrowserContext) -> Iterator[Callable[..., Dashboard]]:
    """Open dashboard pages; at teardown, close them and fail if any logged an error."""
    opened: list[Dashboard] = []

    def make(url: str, token: str | None, viewport: dict[str, int] | None = None) -> Dashboard:
        dashboard = open_dashboard(browser, url, token, viewport)
        opened.append(dashboard)
        return dashboard

    yield make
    errors = [error for dashboard in opened for error in dashboard.unexpected_errors()]
    for dashboard in opened:
        dashboard.page.close()
    assert not errors, "the page logged errors:\n" + "\n".join(errors)


def within(seconds: float, check: Callable[[], Any], step: float = 0.05) -> Any:
    """Poll ``check`` (a read of the daemon or the page) until truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(step)
