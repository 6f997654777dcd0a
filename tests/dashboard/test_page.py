"""The dashboard in a real Chromium against a real daemon and gateway: the map, agents, missions, events.

Writes go to the daemon through the Python client; the page must show them
from its change stream, each within a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge import Client
from tests.dashboard.conftest import Dashboard
from tests.gateway.conftest import Stack


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[Client]:
    with Client(stack.daemon.rpc) as opened:
        yield opened


def populate(client: Client) -> None:
    """A few agents around spawn, hurt to various degrees, some at work, for the screenshot."""
    spots = [(-180, -120), (-60, -150), (90, -95), (160, -20), (-140, 40), (-30, 70), (50, 30), (130, 120),
             (-90, 150), (10, -40), (200, 60)]
    for index, (x, z) in enumerate(spots):
        agent = client.agent(f"steve-{index + 1:02d}")
        agent.init(position={"x": x, "y": 64, "z": z}, inventory=[{"type": "cobblestone", "count": 8 * index + 1}])
        if index % 3:
            agent.damage(1 + (index * 5) % 18, "zombie")
        if index % 2:
            task = agent.assign_task("mine", {"x": x + 10, "y": 12, "z": z})
            agent.update_task(task["id"], "in_progress")


def test_an_agent_appears_moves_is_hurt_and_dies(stack: Stack, client: Client, screenshots: Path,
                                                  dashboards: Callable[..., Dashboard]) -> None:
    page = dashboards(stack.gateway.url, stack.tokens["admin"])
    assert page.marker("scout") is None
    steve = client.agent("scout")
    steve.init(position={"x": 40, "y": 64, "z": -30})
    page.wait("() => window.lodestone.map.markerOf('scout') && document.querySelector('tr[data-name=scout]')")
    assert page.page.locator("tr[data-name=scout]").is_visible()
    assert {k: page.marker("scout")[k] for k in ("x", "z", "health", "stale")} == {
        "x": 40, "z": -30, "health": "full", "stale": False}

    started = time.monotonic()
    steve.move(120, 70, -85)
    page.wait("() => { const m = window.lodestone.map.markerOf('scout'); return m.x === 120 && m.z === -85; }",
              timeout_ms=1000)
    assert time.monotonic() - started < 1.0
    page.wait("() => document.querySelector('tr[data-name=scout] td.pos').textContent === '120, 70, -85'")

    steve.damage(13, "creeper")
    page.wait("() => document.querySelector('tr[data-name=scout] .hp-text')?.textContent === '7/20'")
    assert page.page.locator("tr[data-name=scout] .hp").get_attribute("class") == "hp hp-hurt"
    page.wait("() => window.lodestone.map.markerOf('scout').health === 'hurt'")
    populate(client)
    page.wait("() => window.lodestone.store.agents.size >= 12")
    page.page.evaluate("window.lodestone.map.fitAll()")
    page.shoot(screenshots, "map")

    steve.damage(50, "lava")
    page.wait("() => document.querySelector('tr[data-name=scout] td.deaths')?.textContent === '1'")
    page.wait("() => { const m = window.lodestone.map.markerOf('scout'); return m.x === 0 && m.z === 0; }")
    page.wait("() => document.querySelector('tr[data-name=scout] .hp-text').textContent === '20/20'")
    assert page.page.locator(".death-mark").count() >= 1
    page.page.click(".tabs [data-tab=events]")
    page.wait("() => document.querySelector('.tail').textContent.includes('killed by lava')")


def test_the_agent_detail_shows_state_events_history_and_alarm(stack: Stack, client: Client, screenshots: Path,
                                                               dashboards: Callable[..., Dashboard]) -> None:
    miner = client.agent("miner")
    miner.init(position={"x": -20, "y": 12, "z": 33}, inventory=[{"type": "iron_ore", "count": 12}])
    task = miner.assign_task("mine", {"x": -25, "y": 11, "z": 40})
    miner.update_task(task["id"], "completed")
    miner.assign_task("build", "shelter")
    miner.blocks(mined=31, placed=4)
    page = dashboards(stack.gateway.url, stack.tokens["admin"])
    page.wait("() => window.lodestone.map.markerOf('miner')")
    page.page.evaluate("window.lodestone.map.center(window.lodestone.store.agentByName('miner').id)")
    spot = page.marker("miner")
    page.page.mouse.click(spot["pageX"], spot["pageY"])  # a click on the agent's dot opens it
    detail = page.page.locator("[data-role=agent-detail]")
    page.wait("() => document.querySelector('[data-role=agent-events]')?.textContent.includes('mined 31, placed 4')")
    assert detail.locator("[data-role=agent-name]").inner_text() == "miner"
    assert detail.locator("[data-role=position]").inner_text() == "-20, 12, 33"
    text = detail.inner_text()
    assert "12 iron_ore" in text.replace("\n", " ")
    assert "build shelter" in text  # the open task
    page.wait("() => document.querySelector('[data-role=agent-detail]').textContent.includes('mine -25, 11, 40')")
    page.wait("() => !document.querySelector('[data-role=alarm]').textContent.startsWith('none')")
    page.shoot(screenshots, "agent-detail")

    miner.damage(3, "skeleton")  # the open detail follows the stream
    page.wait("() => document.querySelector('[data-role=agent-events]').textContent.includes('from skeleton')")
    page.page.click("[data-act=follow]")
    page.wait("() => window.lodestone.map.following === window.lodestone.store.agentByName('miner').id")
    miner.move(500, 64, 500)
    page.wait("() => { const c = window.lodestone.map.map.getCenter(); "
              "return Math.abs(c.lng - 500) < 1 && Math.abs(c.lat + 500) < 1; }")


def test_a_mission_shows_its_objectives_completing(stack: Stack, client: Client,
                                                   dashboards: Callable[..., Dashboard]) -> None:
    client.agent("builder").init()
    page = dashboards(stack.gateway.url, stack.tokens["admin"])
    page.page.click(".tabs [data-tab=missions]")
    missions = client.missions()
    mission = missions.create("Wall the village", [{"type": "mine", "target": "cobblestone"},
                                                   {"type": "build", "target": {"x": 1, "z": 2}}])
    card = f"[data-mission={mission['id']}]"
    page.wait(f"() => document.querySelector('{card}')?.dataset.status === 'planned'")
    missions.assign(mission["id"], "builder")
    missions.update_objective(mission["id"], "o1", "completed", assigned_to="builder")
    page.wait(f"() => document.querySelector('{card} [data-role=progress]')?.textContent === '1/2 objectives'")
    assert page.page.locator(f"{card}").get_attribute("data-status") == "active"
    assert "builder" in page.page.locator(f"{card} [data-objective=o1]").inner_text()
    missions.update_objective(mission["id"], "o2", "completed", assigned_to="builder")
    page.wait(f"() => document.querySelector('{card}')?.dataset.status === 'completed'", timeout_ms=1000)
    assert page.page.locator(f"{card} [data-role=mission-status]").inner_text().lower() == "completed"
    assert page.page.locator(f"{card} [data-role=progress]").inner_text() == "2/2 objectives"


def test_the_event_tail_filters_and_pauses(stack: Stack, client: Client,
                                           dashboards: Callable[..., Dashboard]) -> None:
    client.agent("tailed").init()
    page = dashboards(stack.gateway.url, stack.tokens["admin"])
    page.page.click(".tabs [data-tab=events]")
    client.agent("tailed").heal(1)
    client.object("Barrel", "b1").put("wine", 3)
    page.wait("() => document.querySelector('.tail').textContent.includes('Barrel b1')")
    page.page.fill("[name=event-class]", "Barrel")
    rows = page.page.locator(".tail li")
    page.wait("() => [...document.querySelectorAll('.tail li')].every((li) => li.textContent.includes('Barrel'))")
    assert rows.count() >= 1
    page.page.fill("[name=event-class]", "")
    page.page.fill("[name=event-type]", "heal")
    page.wait("() => [...document.querySelectorAll('.tail li .type')].every((t) => t.textContent === 'heal')")
    page.page.click("[data-act=pause]")
    client.agent("tailed").heal(1)
    page.wait("() => window.lodestone.tail.newWhilePaused >= 1")
    page.wait("() => document.querySelector('.view[data-view=events] .summary').textContent.includes('new not shown')")
    assert rows.count() == 1
    page.page.click("[data-act=pause]")
    page.wait("() => document.querySelectorAll('.tail li').length === 2")


def test_changes_older_than_the_snapshot_are_dropped(stack: Stack, client: Client,
                                                     dashboards: Callable[..., Dashboard]) -> None:
    client.agent("anchor").init(position={"x": 5, "y": 64, "z": 5})
    page = dashboards(stack.gateway.url, stack.tokens["admin"])
    snapshot = page.page.evaluate("window.lodestone.store.snapshotCommit")
    health = client.call("health")
    assert 0 < snapshot <= health["commit_seq"]
    # A change the snapshot holds already (commit <= the snapshot's), as the stream would bring it late.
    inject = """([commit, x]) => {
        const store = window.lodestone.store;
        const agent = store.agentByName('anchor');
        const state = {...agent.state, position: {x, y: 64, z: 5}};
        window.lodestone.link.onEvent('change.Agent.' + agent.id, {v: 1, class: 'Agent', id: agent.id, name: 'anchor',
            commit, cleared: false, changes: [{key: 'state', value: state}]});
        return store.counts.olderThanSnapshot;
    }"""
    before = page.page.evaluate("window.lodestone.store.counts.olderThanSnapshot")
    assert page.page.evaluate(inject, [snapshot, 999]) == before + 1
    page.page.evaluate("() => new Promise(requestAnimationFrame)")
    assert page.marker("anchor")["x"] == 5
    assert page.page.evaluate(inject, [snapshot + 10**9, 777]) == before + 1
    page.wait("() => window.lodestone.map.markerOf('anchor').x === 777")


def test_a_phone_sized_screen_shows_one_pane_at_a_time(stack: Stack, client: Client, screenshots: Path,
                                                       dashboards: Callable[..., Dashboard]) -> None:
    client.agent("pocket").init(position={"x": 8, "y": 64, "z": 8})
    page = dashboards(stack.gateway.url, stack.tokens["reader"], viewport={"width": 390, "height": 844})
    page.wait("() => document.querySelector('tr[data-name=pocket]')")
    assert page.page.locator("#map").is_hidden()
    assert page.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.shoot(screenshots, "phone-agents")
    page.page.click(".tabs [data-tab=map]")
    assert page.page.locator("#map").is_visible()
    page.page.evaluate("window.lodestone.map.center(window.lodestone.store.agentByName('pocket').id)")
    spot = page.marker("pocket")
    box = page.page.locator("#map").bounding_box()
    assert box is not None
    assert box["x"] < spot["pageX"] < box["x"] + box["width"] and box["y"] < spot["pageY"] < box["y"] + box["height"]
    assert page.page.locator("[data-view=agents]").is_hidden()
    page.shoot(screenshots, "phone-map")


def test_a_token_limited_to_agents_shows_them_and_says_what_it_leaves_out(
        stack: Stack, client: Client, dashboards: Callable[..., Dashboard]) -> None:
    client.agent("limited").init()
    client.missions().create("Hidden", [{"type": "explore", "target": "north"}])
    page = dashboards(stack.gateway.url, stack.tokens["agent-reader"])
    page.wait("() => document.querySelector('tr[data-name=limited]')")
    banner = page.page.locator("[data-role=banner]")
    page.wait("() => document.querySelector('[data-role=banner]').textContent.includes('limited to some classes')")
    assert "MissionControl" in banner.inner_text()
    assert page.page.evaluate("window.lodestone.store.missions.size") == 0
    assert page.page.locator("[data-role=status]").inner_text() == "Live"


def test_the_agent_list_sorts_and_filters(stack: Stack, client: Client, dashboards: Callable[..., Dashboard]) -> None:
    for name, damage in (("sort-a", 0), ("sort-b", 15), ("sort-c", 8), ("sort-10", 1)):
        client.agent(name).init()
        if damage:
            client.agent(name).damage(damage, "zombie")
    page = dashboards(stack.gateway.url, stack.tokens["reader"])
    page.page.fill("[name=agent-filter]", "sort-")
    names = "() => [...document.querySelectorAll('table.agents tbody tr')].map((tr) => tr.dataset.name).join(' ')"
    page.wait(f"() => ({names})() === 'sort-10 sort-a sort-b sort-c'")  # by name, numbers first
    page.page.click("th[data-sort=health]")
    page.wait(f"() => ({names})() === 'sort-b sort-c sort-10 sort-a'")
    page.page.click("th[data-sort=health]")
    page.wait(f"() => ({names})() === 'sort-a sort-10 sort-c sort-b'")
    page.page.fill("[name=agent-filter]", "sort-1")
    page.wait(f"() => ({names})() === 'sort-10'")
    page.page.select_option("[name=agent-show]", "stale")
    page.wait(f"() => ({names})() === ''")


def test_an_agent_not_seen_within_the_active_window_is_greyed(
        stack: Stack, client: Client, dashboards: Callable[..., Dashboard]) -> None:
    client.agent("sleepy").init(position={"x": -7, "y": 64, "z": 7})
    page = dashboards(stack.gateway.url, stack.tokens["reader"])
    page.wait("() => window.lodestone.map.markerOf('sleepy')")
    assert page.marker("sleepy")["stale"] is False
    window = page.page.locator(".window-setting input")
    window.fill("2")  # seconds: the Foreman's active_window_s, as this deployment would set it
    window.dispatch_event("change")
    try:
        page.wait("() => window.lodestone.map.markerOf('sleepy').stale === true", timeout_ms=6000)
        page.wait("() => document.querySelector('tr[data-name=sleepy]').classList.contains('stale')")
        client.agent("sleepy").heal(1)  # any write is a sign of life
        page.wait("() => window.lodestone.map.markerOf('sleepy').stale === false")
    finally:  # the setting is kept in the browser's localStorage, which later tests share
        window.fill("60")
        window.dispatch_event("change")
