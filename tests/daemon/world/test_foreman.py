"""The Foreman: heartbeats from agents' alarms, active agents, nearest agents, atomic assignment."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.runtime.object_storage import ObjectStorage
from tests.daemon.world.conftest import START_MS, World, make_world

FOREMAN = {"class": "Foreman", "name": "global"}


def beat(world: World, agent: str, x: float, z: float, last_seen: int | None = None, y: float = 64) -> None:
    world.ok("Foreman.heartbeat", agent=agent, health=20, position={"x": x, "y": y, "z": z},
             last_seen=world.clock.now if last_seen is None else last_seen)


def test_the_heartbeat_alarm_reports_the_agent_and_sleeps_when_idle(world: World) -> None:
    world.spawn("steve", position={"x": 1, "y": 64, "z": 2})
    assert world.alarm("Agent", "steve") == START_MS  # the first beat is due at once
    world.advance(0)
    entry = world.ok("Foreman.agent", agent="steve")
    assert entry == {"name": "steve", "health": 20, "position": {"x": 1, "y": 64, "z": 2}, "currentTask": None,
                     "status": "idle", "lastSeen": START_MS, "heartbeatAt": START_MS, "active": True}
    assert world.alarm("Agent", "steve") == START_MS + 30_000
    world.clock.now += 10_000
    world.ok("Agent.move", "steve", x=10, y=64, z=2)
    task = world.ok("Agent.task.assign", "steve", type="mine", target="iron")
    world.ok("Agent.task.update", "steve", id=task["id"], status="in_progress")
    world.advance(20_000)
    entry = world.ok("Foreman.agent", agent="steve")
    assert entry["position"]["x"] == 10 and entry["lastSeen"] == START_MS + 10_000
    assert entry["status"] == "working" and entry["currentTask"]["status"] == "in_progress"
    world.advance(30_000)  # untouched since the last beat: one more beat, then it sleeps
    assert world.alarm("Agent", "steve") is None
    assert world.ok("Foreman.agent", agent="steve")["heartbeatAt"] == START_MS + 60_000
    world.advance(30_000)
    assert world.ok("Foreman.agent", agent="steve")["active"] is False
    assert world.ok("Foreman.active") == {"agents": []}
    world.ok("Agent.heal", "steve", amount=1)  # any write wakes it
    assert world.alarm("Agent", "steve") == world.clock.now
    world.advance(0)
    assert world.ok("Foreman.agent", agent="steve")["active"] is True
    world.raw("alarm.delete", {"class": "Agent", "name": "steve"})  # as an operator might
    world.ok("Agent.heal", "steve", amount=1)
    assert world.alarm("Agent", "steve") == world.clock.now


def test_agent_events_reach_telemetry_when_the_option_names_it(tmp_path: Path) -> None:
    for world in make_world(tmp_path / "t", {"Agent": {"telemetry": "global"}}):
        world.spawn("steve")
        world.ok("Agent.damage", "steve", amount=2, source="bee")
        world.ok("Agent.move", "steve", x=1, y=64, z=0)
        stats = world.ok("Telemetry.stats", agent="steve")["types"]
        assert {kind: entry["count"] for kind, entry in stats.items()} == {"spawn": 1, "damage": 1}


def test_active_agents_are_those_seen_within_the_window_newest_first(world: World) -> None:
    beat(world, "old", 0, 0, last_seen=START_MS - 61_000)
    beat(world, "a", 0, 0, last_seen=START_MS - 30_000)
    beat(world, "b", 0, 0, last_seen=START_MS - 10_000)
    beat(world, "a", 5, 5, last_seen=START_MS - 5_000)  # moves a to the front; its old index entry goes
    assert [agent["name"] for agent in world.ok("Foreman.active")["agents"]] == ["a", "b"]
    assert [agent["name"] for agent in world.ok("Foreman.active", limit=1)["agents"]] == ["a"]
    assert len(world.keys("Foreman", "global", "seen/")) == 3
    assert world.ok("Foreman.agent", agent="old")["active"] is False
    assert world.error("Foreman.agent", agent="nobody")[0] == "NOT_FOUND"


def brute_force(agents: dict[str, tuple[float, float, float]], point: tuple[float, float, float],
                k: int) -> list[tuple[float, str]]:
    return sorted((math.dist(point, position), name) for name, position in agents.items())[:k]


def test_nearest_matches_brute_force_and_skips_inactive_agents(world: World) -> None:
    rng = random.Random(7)
    agents: dict[str, tuple[float, float, float]] = {}
    for i in range(400):
        position = (rng.uniform(-2000, 2000), rng.uniform(0, 255), rng.uniform(-2000, 2000))
        active = i % 4 != 0
        beat(world, f"s{i}", position[0], position[2], y=position[1],
             last_seen=START_MS if active else START_MS - 120_000)
        if active:
            agents[f"s{i}"] = position
    for point in [(0, 64, 0), (1999, 10, -1999), (50_000, 64, 50_000), (-3.5, 100, 17.25)]:
        for k in (1, 5, 40):
            found = world.ok("Foreman.nearest", x=point[0], y=point[1], z=point[2], k=k)["agents"]
            expected = brute_force(agents, point, k)
            assert [agent["name"] for agent in found] == [name for _, name in expected]
            assert [agent["distance"] for agent in found] == pytest.approx([distance for distance, _ in expected])
            assert all(agent["lastSeen"] == START_MS for agent in found)
    near = world.ok("Foreman.nearest", x=0, y=64, z=0, k=1000, max_distance=500)["agents"]
    assert [agent["name"] for agent in near] == [
        name for distance, name in brute_force(agents, (0, 64, 0), 1000) if distance <= 500]


def test_nearest_with_no_active_agent_is_empty(world: World) -> None:
    assert world.ok("Foreman.nearest", x=0, y=0, z=0) == {"agents": []}
    beat(world, "gone", 0, 0, last_seen=START_MS - 61_000)
    assert world.ok("Foreman.nearest", x=0, y=0, z=0, k=3) == {"agents": []}


def test_the_index_is_read_from_storage_once_per_instance(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(50):
        beat(world, f"s{i}", i * 10, 0)
    world.runtime.residents.drop(world.runtime.resolve(FOREMAN).id)  # as if evicted
    scans: list[str | None] = []
    original = ObjectStorage.list

    def counting(self: ObjectStorage, **options: Any) -> Any:
        if self.ref.class_name == "Foreman":
            scans.append(options.get("prefix"))
        return original(self, **options)

    monkeypatch.setattr(ObjectStorage, "list", counting)
    for x in range(0, 500, 25):
        world.ok("Foreman.nearest", x=x, y=64, z=0, k=3)
    assert world.ok("Foreman.nearest", x=201, y=64, z=0)["agents"][0]["name"] == "s20"
    assert scans == ["agent/"]


def test_the_index_is_rebuilt_after_a_raw_write(world: World) -> None:
    beat(world, "a", 0, 0)
    beat(world, "b", 100, 0)
    world.raw("storage.delete", FOREMAN, key="agent/a")  # drops the in-memory form
    assert [agent["name"] for agent in world.ok("Foreman.nearest", x=0, y=64, z=0, k=2)["agents"]] == ["b"]


def test_assign_records_the_assignment_and_the_agents_task_together(world: World) -> None:
    world.spawn("steve")
    world.advance(0)
    assignment = world.ok("Foreman.assign", agent="steve", type="build", target={"structure": "hut"}, id="job-1")
    task = {"id": "job-1", "type": "build", "target": {"structure": "hut"}, "status": "pending",
            "createdAt": START_MS, "updatedAt": START_MS}
    assert assignment == {"seq": 1, "agent": "steve", "task": task, "at": START_MS}
    assert world.ok("Agent.task.list", "steve") == {"tasks": [task]}
    assert world.ok("Foreman.agent", agent="steve")["currentTask"] == task
    world.ok("Foreman.assign", agent="steve", type="mine", target="coal")
    assert [a["seq"] for a in world.ok("Foreman.assignments")["assignments"]] == [2, 1]
    assert [a["seq"] for a in world.ok("Foreman.assignments", agent="steve", limit=1)["assignments"]] == [2]
    assert world.ok("Foreman.assignments", agent="bob") == {"assignments": []}
    assert world.topics("foreman.assigned.") == ["foreman.assigned.steve"] * 2


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path / "c", {"Agent": {"max_open_tasks": 1}})


def test_an_assignment_that_cannot_complete_records_nothing(crowded: World) -> None:
    crowded.spawn("steve")
    crowded.ok("Foreman.assign", agent="steve", type="mine", target="coal")
    keys = crowded.keys("Foreman", "global")
    code, message = crowded.error("Foreman.assign", agent="ghost", type="mine", target="coal")
    assert code == "NOT_FOUND" and "ghost has not spawned" in message
    assert crowded.error("Foreman.assign", agent="steve", type="mine", target="iron")[0] == "TOO_LARGE"
    assert crowded.keys("Foreman", "global") == keys and crowded.keys("Agent", "ghost") == []
    assert [name for _, name in crowded.runtime.store.snapshot().list_objects("Agent", None, 10)] == ["steve"]
    assert len(crowded.ok("Agent.task.list", "steve")["tasks"]) == 1


@pytest.mark.parametrize(
    ("op", "args", "message"),
    [
        ("Foreman.heartbeat", {"agent": "a", "health": 1}, "Foreman.heartbeat needs position"),
        ("Foreman.heartbeat", {"agent": "a", "health": 1, "position": {"x": 1, "y": 2}},
         "position must be a map {x, y, z} of finite numbers"),
        ("Foreman.heartbeat", {"agent": "a", "health": 1, "position": {"x": 1, "y": 2, "z": 3}, "status": "a.b"},
         "status must be 1-64 letters, digits, _ or -"),
        ("Foreman.nearest", {"x": 0, "y": 0, "z": 0, "k": 0}, "Foreman.nearest: k must be an integer from 1 to 1000"),
        ("Foreman.nearest", {"x": 0, "y": 0, "z": 0, "max_distance": -1}, "max_distance must be a positive number"),
        ("Foreman.nearest", {"x": 0, "y": "up", "z": 0}, "Foreman.nearest: y must be a finite number"),
        ("Foreman.assign", {"agent": "a", "type": "mine"}, "Foreman.assign needs target"),
        ("Foreman.assign", {"agent": "a", "type": "sleep", "target": 1}, "Foreman.assign: type must be one of"),
        ("Foreman.active", {"limit": 10_001}, "Foreman.active: limit must be an integer from 1 to 10000"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(world: World, op: str, args: dict[str, Any],
                                                     message: str) -> None:
    code, text = world.error(op, **args)
    assert code == "BAD_REQUEST" and message in text
