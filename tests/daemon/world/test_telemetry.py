"""Telemetry: the event log, its three queries, its topics, and retention by its own alarm."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.world.conftest import START_MS, World, make_world

DAY_MS = 24 * 3600 * 1000


def log(world: World, agent: str, kind: str, data: Any = None) -> dict[str, Any]:
    event: dict[str, Any] = world.ok("Telemetry.log", agent=agent, type=kind, data=data)
    return event


def test_log_query_and_publish(world: World) -> None:
    assert log(world, "steve", "damage", {"amount": 3}) == {
        "agent": "steve", "type": "damage", "data": {"amount": 3}, "at": START_MS}
    world.clock.now += 10
    log(world, "steve", "mine", {"block": "coal"})
    log(world, "alex", "damage", {"amount": 1})
    world.clock.now += 10
    world.ok("Telemetry.log_many", events=[{"agent": "steve", "type": "damage", "data": {"amount": 5}},
                                           {"agent": "steve", "type": "chat"}])
    latest = world.ok("Telemetry.latest", agent="steve", limit=3)["events"]
    assert [(e["type"], e["at"]) for e in latest] == [("chat", START_MS + 20), ("damage", START_MS + 20),
                                                      ("mine", START_MS + 10)]
    damage = world.ok("Telemetry.by_type", type="damage", start_ms=START_MS + 10, end_ms=START_MS + 20)["events"]
    assert [(e["agent"], e["data"]["amount"]) for e in damage] == [("steve", 5), ("alex", 1)]
    assert len(world.ok("Telemetry.by_type", type="damage")["events"]) == 3
    assert world.ok("Telemetry.by_type", type="damage", end_ms=START_MS - 1) == {"events": []}
    assert world.ok("Telemetry.stats", agent="steve") == {"agent": "steve", "types": {
        "chat": {"count": 1, "firstSeen": START_MS + 20, "lastSeen": START_MS + 20},
        "damage": {"count": 2, "firstSeen": START_MS, "lastSeen": START_MS + 20},
        "mine": {"count": 1, "firstSeen": START_MS + 10, "lastSeen": START_MS + 10}}}
    assert world.ok("Telemetry.stats", agent="nobody") == {"agent": "nobody", "types": {}}
    assert world.topics("telemetry.") == ["telemetry.damage.steve", "telemetry.mine.steve", "telemetry.damage.alex",
                                          "telemetry.damage.steve", "telemetry.chat.steve"]
    assert world.topics("telemetry_by_agent.steve.") == ["telemetry_by_agent.steve.damage",
                                                          "telemetry_by_agent.steve.mine",
                                                          "telemetry_by_agent.steve.damage",
                                                          "telemetry_by_agent.steve.chat"]
    assert world.notices[0][1] == {"agent": "steve", "type": "damage", "data": {"amount": 3}, "at": START_MS}


def test_agent_names_that_prefix_each_other_stay_apart(world: World) -> None:
    log(world, "steve", "damage")
    log(world, "steve-2", "damage")
    log(world, "steve", "damage_taken")
    assert [e["agent"] for e in world.ok("Telemetry.latest", agent="steve")["events"]] == ["steve", "steve"]
    assert set(world.ok("Telemetry.stats", agent="steve")["types"]) == {"damage", "damage_taken"}
    assert [e["agent"] for e in world.ok("Telemetry.by_type", type="damage")["events"]] == ["steve-2", "steve"]


@pytest.fixture
def short(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path / "r", {"Telemetry": {"retention_s": 24 * 3600, "sweep_batch": 2}})


def test_retention_deletes_old_events_by_the_objects_own_alarm(short: World) -> None:
    for agent, kind in [("steve", "damage"), ("steve", "damage"), ("alex", "mine"), ("steve", "mine"),
                        ("alex", "mine")]:
        log(short, agent, kind)
    assert short.alarm("Telemetry", "global") == START_MS + DAY_MS
    short.clock.now += DAY_MS // 2
    log(short, "steve", "damage")
    log(short, "alex", "chat")
    short.advance(DAY_MS // 2 - 1)
    assert len(short.keys("Telemetry", "global", "e/")) == 7  # nothing is due yet
    short.advance(1)  # the first five expire: batches of two, carried on by the alarm
    assert short.ok("Telemetry.latest", agent="steve") == {"events": [
        {"agent": "steve", "type": "damage", "data": None, "at": START_MS + DAY_MS // 2}]}
    assert short.ok("Telemetry.stats", agent="steve")["types"] == {
        "damage": {"count": 1, "firstSeen": START_MS + DAY_MS // 2, "lastSeen": START_MS + DAY_MS // 2}}
    assert set(short.ok("Telemetry.stats", agent="alex")["types"]) == {"chat"}
    assert short.ok("Telemetry.by_type", type="mine") == {"events": []}
    assert len(short.keys("Telemetry", "global", "e/")) == 2
    assert len(short.keys("Telemetry", "global", "a/")) == len(short.keys("Telemetry", "global", "t/")) == 2
    assert short.alarm("Telemetry", "global") == START_MS + DAY_MS // 2 + DAY_MS
    short.advance(DAY_MS)
    assert short.keys("Telemetry", "global") == [] and short.alarm("Telemetry", "global") is None
    log(short, "steve", "damage")
    assert short.alarm("Telemetry", "global") == short.clock.now + DAY_MS


def test_stamps_stay_unique_and_ordered_when_the_clock_steps_back(world: World) -> None:
    log(world, "steve", "a")
    world.clock.now -= 5_000
    log(world, "steve", "b")
    assert [e["type"] for e in world.ok("Telemetry.latest", agent="steve")["events"]] == ["b", "a"]
    assert len(world.keys("Telemetry", "global", "e/")) == 2


@pytest.mark.parametrize(
    ("op", "args", "message"),
    [
        ("Telemetry.log", {"agent": "steve", "type": "mine.iron"}, "Telemetry.log: type must be 1-64 letters"),
        ("Telemetry.log", {"agent": "st\x00eve", "type": "mine"}, "agent must not contain control characters"),
        ("Telemetry.log", {"type": "mine"}, "Telemetry.log needs agent"),
        ("Telemetry.log_many", {"events": []}, "events must be a list of 1 to 128"),
        ("Telemetry.log_many", {"events": [{"agent": "a", "type": "x", "when": 1}]},
         "Telemetry.log_many: events[0] does not take when"),
        ("Telemetry.by_type", {"type": "x", "start_ms": 10, "end_ms": 5}, "end_ms (5) is before start_ms (10)"),
        ("Telemetry.by_type", {"type": "x", "start_ms": -1}, "start_ms must be an integer from 0"),
        ("Telemetry.latest", {"agent": "a", "limit": 1001}, "limit must be an integer from 1 to 1000"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(world: World, op: str, args: dict[str, Any],
                                                     message: str) -> None:
    code, text = world.error(op, **args)
    assert code == "BAD_REQUEST" and message in text
    assert world.keys("Telemetry", "global") == []
