"""The page through a gateway restart and a daemon restart: it says it is disconnected, then catches up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge import Client
from tests.dashboard.conftest import Dashboard, require_browser
from tests.gateway.conftest import Stack, start_stack

BACK_MS = 25_000  # the page's backoff reaches 8 s by its fifth try; a restart takes one or two


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    require_browser()
    yield from start_stack(tmp_path)


def marker_at(page: Dashboard, name: str, x: int, z: int, timeout_ms: int) -> None:
    page.wait("([name, x, z]) => { const m = window.lodestone.map.markerOf(name); "
              "return m && m.x === x && m.z === z; }", [name, x, z], timeout_ms=timeout_ms)


def test_the_page_shows_a_restart_reconnects_and_catches_up(
        own_stack: Stack, screenshots: Path, dashboards: Callable[..., Dashboard]) -> None:
    daemon, gateway = own_stack.daemon, own_stack.gateway
    with Client(daemon.rpc) as client:
        client.agent("runner").init(position={"x": 0, "y": 64, "z": 0})
    page = dashboards(gateway.url, own_stack.tokens["admin"])
    marker_at(page, "runner", 0, 0, 5000)
    banner = page.page.locator("[data-role=banner]")
    assert banner.is_hidden()

    port = gateway.url.rsplit(":", 1)[1]
    # Chromium itself logs each refused reconnection attempt; the page's own code must log nothing.
    page.expected = ["net::ERR_CONNECTION_REFUSED"]
    gateway.kill()
    page.wait("() => document.querySelector('[data-role=banner]').dataset.phase === 'gateway-down'")
    assert "Disconnected from the gateway" in banner.inner_text()
    assert page.page.locator("[data-role=status]").inner_text() == "Disconnected"
    page.shoot(screenshots, "disconnected")
    with Client(daemon.rpc) as client:
        client.agent("runner").move(50, 64, 50)  # while the page cannot hear of it
    gateway.listen = f"127.0.0.1:{port}"
    gateway.start()
    page.wait_live(BACK_MS)
    marker_at(page, "runner", 50, 50, 5000)
    assert "Reconnected" in banner.inner_text()

    daemon.kill()
    page.wait("() => document.querySelector('[data-role=banner]').dataset.phase === 'daemon-down'", timeout_ms=10_000)
    assert "The daemon is not answering" in banner.inner_text()
    daemon.start()
    with Client(daemon.rpc) as client:
        client.agent("runner").move(-70, 64, 90)
        page.wait_live(BACK_MS)
        marker_at(page, "runner", -70, 90, 10_000)
        client.agent("runner").move(3, 64, 4)  # the change stream flows again, not only the re-read
        marker_at(page, "runner", 3, 4, 5000)
    assert page.page.evaluate("window.lodestone.store.counts.resyncs") >= 3
