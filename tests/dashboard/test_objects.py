"""The object browser: any class's objects and entries; edits with an admin token only."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge import Client
from tests.conftest import REPO
from tests.dashboard.conftest import Dashboard
from tests.gateway.conftest import Stack


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[Client]:
    with Client(stack.daemon.rpc) as opened:
        yield opened


def lodestone_get(stack: Stack, cls: str, name: str, key: str) -> Any:
    """What ``lodestone get`` prints for the key, decoded from its JSON."""
    done = subprocess.run([sys.executable, "-m", "daemon", "get", cls, name, key, "--endpoint", stack.daemon.rpc],
                          cwd=REPO, capture_output=True, text=True, timeout=30, check=True)
    return json.loads(done.stdout)


def open_object(page: Dashboard, cls: str, name: str) -> None:
    page.page.click(".tabs [data-tab=objects]")
    page.page.fill("[name=class]", cls)
    page.page.click("[data-act=class]")
    page.page.locator("[data-role=objects] li", has_text=name).click()
    page.wait(f"() => document.querySelector('[data-role=object-name]')?.textContent === '{name}'")


def test_the_browser_shows_a_plain_objects_entries_sizes_and_alarm(
        stack: Stack, client: Client, screenshots: Path, dashboards: Callable[..., Dashboard]) -> None:
    chest = client.object("Chest", "spawn-chest")
    chest.put("slots", {"0": "oak_log", "1": "torch"})
    chest.put("locked", True)
    chest.put("owner", "steve-1")
    client.call("alarm.set", {"class": "Chest", "name": "spawn-chest"}, {"at_ms": 4_102_444_800_000})
    page = dashboards(stack.gateway.url, stack.tokens["admin"])
    open_object(page, "Chest", "spawn-chest")
    rows = page.page.locator("table.kv tr.entry")
    assert [row.get_attribute("data-key") for row in rows.all()] == ["locked", "owner", "slots"]
    assert rows.nth(2).locator("td.value").inner_text() == '{"0":"oak_log","1":"torch"}'
    # msgpack sizes of key and value: "locked" is 6 bytes, true 1.
    assert rows.nth(0).locator("td.num").inner_text() == "7 B"
    assert "2100" in page.page.locator("[data-role=object-alarm]").inner_text()
    chest.put("lid", "open")  # the open object follows its changes
    page.wait("() => document.querySelector('tr[data-key=lid]')")
    rows.nth(3).click()
    page.shoot(screenshots, "object-browser")


def test_an_admin_edit_is_stored_and_lodestone_get_reads_it(
        stack: Stack, client: Client, dashboards: Callable[..., Dashboard]) -> None:
    client.object("Horse", "h1").put("saddle", "leather")
    page = dashboards(stack.gateway.url, stack.tokens["admin"])
    open_object(page, "Horse", "h1")
    assert page.page.locator("[data-role=readonly]").is_hidden()
    page.page.click("tr[data-key=saddle]")
    page.page.click("[data-act=edit]")
    page.page.fill(".editor textarea", '{"type": "diamond", "worn": true, "raw": {"$bytes": "00ff"}}')
    page.page.click("[data-act=save]")
    page.wait("() => document.querySelector('[data-role=object-message]')?.textContent.startsWith('Saved saddle')")
    assert lodestone_get(stack, "Horse", "h1", "saddle") == {"type": "diamond", "worn": True, "raw": {"$bytes": "00ff"}}
    assert client.object("Horse", "h1").get("saddle") == {"type": "diamond", "worn": True, "raw": b"\x00\xff"}

    page.page.click("[data-act=add]")
    page.page.fill("[name=new-key]", "name")
    page.page.fill(".editor textarea", '"Bucephalus"')
    page.page.click("[data-act=save]")
    page.wait("() => document.querySelector('tr[data-key=name]')")
    assert lodestone_get(stack, "Horse", "h1", "name") == "Bucephalus"

    page.page.click("tr[data-key=saddle]")
    page.page.click("[data-act=delete]")
    assert client.object("Horse", "h1").get("saddle") is not None  # the first click only asks again
    page.page.click("[data-act=delete]")
    page.wait("() => !document.querySelector('tr[data-key=saddle]')")
    assert client.object("Horse", "h1").get("saddle") is None

    page.page.click("tr[data-key=name]")
    page.page.click("[data-act=edit]")
    page.page.fill(".editor textarea", "{not json")
    page.page.click("[data-act=save]")
    page.wait("() => document.querySelector('[data-role=object-message]')?.textContent.startsWith('Not saved')")
    assert lodestone_get(stack, "Horse", "h1", "name") == "Bucephalus"


def test_a_read_token_cannot_edit(stack: Stack, client: Client, dashboards: Callable[..., Dashboard]) -> None:
    client.object("Horse", "h2").put("saddle", "leather")
    page = dashboards(stack.gateway.url, stack.tokens["reader"])
    open_object(page, "Horse", "h2")
    note = page.page.locator("[data-role=readonly]")
    assert note.is_visible()
    assert "admin" in note.inner_text()
    assert page.page.locator("[data-act=add]").is_disabled()
    page.page.click("tr[data-key=saddle]")
    assert page.page.locator("[data-act=edit]").is_disabled()
    assert page.page.locator("[data-act=delete]").is_disabled()
    forced = page.page.evaluate("""() => window.lodestone.link.call('storage.put', {class: 'Horse', name: 'h2'},
        {key: 'saddle', value: 'stolen'}).then(() => 'stored', (error) => error.code)""")
    assert forced == "FORBIDDEN"
    request = urllib.request.Request(
        f"{stack.gateway.url}/v1/call", method="POST",
        data=json.dumps({"op": "storage.put", "target": {"class": "Horse", "name": "h2"},
                         "args": {"key": "saddle", "value": "stolen"}}).encode(),
        headers={"Authorization": f"Bearer {stack.tokens['reader']}", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert json.loads(refused.value.read())["error"]["code"] == "FORBIDDEN"
    assert client.object("Horse", "h2").get("saddle") == "leather"
