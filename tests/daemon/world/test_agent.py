"""The Agent class: body, death and respawn, inventory, tasks, event log, trade, heartbeat."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from daemon.model import Request
from schemas.agent import AGENT_STATE
from tests.daemon.world.conftest import START_MS, World, make_world

FIXTURES = Path(__file__).resolve().parents[3] / "schemas" / "fixtures" / "AgentState"
SPAWN = {"x": -40, "y": 70, "z": 12}


@pytest.fixture
def sized(tmp_path: Path) -> Iterator[World]:
    """Agents with a spawn point, 30 health, short logs and few open tasks."""
    yield from make_world(tmp_path / "sized", {"Agent": {"spawn": SPAWN, "max_health": 30, "event_log_size": 3,
                                                         "task_history_size": 2, "max_open_tasks": 2}})


def test_init_spawns_once_with_defaults_and_publishes(world: World) -> None:
    state = world.spawn("steve", inventory=[{"type": "dirt", "count": 3}, {"type": "dirt", "count": 2}])
    assert state["name"] == "steve" and state["health"] == state["maxHealth"] == 20
    assert state["position"] == {"x": 0, "y": 64, "z": 0}
    assert state["inventory"] == [{"type": "dirt", "count": 5, "slot": 0}]
    assert state["tasks"] == [] and state["createdAt"] == state["lastSeen"] == START_MS
    assert world.ok("Agent.state", "steve") == state
    assert world.error("Agent.init", "steve")[0] == "CONFLICT"
    assert world.topics("agent.spawn.") == ["agent.spawn.steve"]


@pytest.mark.parametrize(
    ("op", "args"),
    [("Agent.state", {}), ("Agent.damage", {"amount": 1, "source": "x"}), ("Agent.move", {"x": 1, "y": 2, "z": 3}),
     ("Agent.task.list", {}), ("Agent.events", {}), ("Agent.inventory.add", {"type": "dirt", "count": 1})],
)
def test_an_agent_that_never_spawned_is_not_found_and_nothing_is_written(world: World, op: str,
                                                                         args: dict[str, Any]) -> None:
    code, message = world.error(op, "ghost", **args)
    assert code == "NOT_FOUND" and "has not spawned; call Agent.init first" in message
    assert world.keys("Agent", "ghost") == [] and world.alarm("Agent", "ghost") is None


def test_init_needs_a_name_and_sane_health(world: World) -> None:
    by_id = world.runtime.ids.from_name("Agent", "x")
    reply = world.runtime.run_cycle([Request(1, "Agent.init", {"class": "Agent", "id": by_id}, {}, None)]).replies[0]
    assert reply["error"]["code"] == "BAD_REQUEST" and "address the agent by name" in reply["error"]["message"]
    assert world.error("Agent.init", "x", health=25) == (
        "BAD_REQUEST", "Agent.init: health (25) must not exceed max_health (20)")
    assert world.error("Agent.init", "bad\nname")[1].startswith("Agent.init: an agent's name")


def test_damage_then_death_records_it_and_respawns_at_the_spawn_point(sized: World) -> None:
    sized.spawn("steve", position={"x": 5, "y": 64, "z": 5}, inventory=[{"type": "torch", "count": 4}])
    assert sized.ok("Agent.damage", "steve", amount=12.5, source="zombie") == {"health": 17.5, "died": False}
    sized.clock.now += 1000
    died = sized.ok("Agent.damage", "steve", amount=40, source="creeper")
    death = {"position": {"x": 5, "y": 64, "z": 5}, "inventory": [{"type": "torch", "count": 4, "slot": 0}],
             "source": "creeper", "at": START_MS + 1000}
    assert died == {"health": 30, "died": True, "death": death}
    state = sized.ok("Agent.state", "steve")
    assert state["position"] == SPAWN and state["health"] == 30 and state["inventory"] == []
    assert state["stats"]["deaths"] == 1
    assert sized.ok("Agent.deaths", "steve") == {"deaths": [death]}
    assert sized.topics("agent.d") == ["agent.damage.steve", "agent.death.steve"]
    assert [event["type"] for event in sized.ok("Agent.events", "steve")["events"]] == ["death", "damage", "spawn"]


def test_heal_is_capped_at_max_health(world: World) -> None:
    world.spawn("steve")
    world.ok("Agent.damage", "steve", amount=15, source="fall")
    assert world.ok("Agent.heal", "steve", amount=4) == {"health": 9}
    assert world.ok("Agent.heal", "steve", amount=400) == {"health": 20}


def test_move_adds_the_distance_and_is_published_but_not_logged(world: World) -> None:
    world.spawn("steve")
    assert world.ok("Agent.move", "steve", x=3, y=64, z=4) == {
        "position": {"x": 3, "y": 64, "z": 4}, "distance": 5.0, "distanceTraveled": 5.0}
    assert world.ok("Agent.move", "steve", x=3, y=76, z=9)["distanceTraveled"] == 18.0
    assert world.topics("agent.move.") == ["agent.move.steve"] * 2
    assert [event["type"] for event in world.ok("Agent.events", "steve")["events"]] == ["spawn"]


def test_inventory_stacks_by_type_and_takes_free_slots(world: World) -> None:
    world.spawn("steve")
    world.ok("Agent.inventory.add", "steve", type="oak_log", count=5)
    world.ok("Agent.inventory.add", "steve", type="torch", count=2, slot=7)
    inventory = world.ok("Agent.inventory.add", "steve", type="oak_log", count=3)["inventory"]
    assert inventory == [{"type": "oak_log", "count": 8, "slot": 0}, {"type": "torch", "count": 2, "slot": 7}]
    assert world.error("Agent.inventory.add", "steve", type="dirt", count=1, slot=7)[0] == "CONFLICT"
    inventory = world.ok("Agent.inventory.remove", "steve", type="torch", count=2)["inventory"]
    assert inventory == [{"type": "oak_log", "count": 8, "slot": 0}]


def test_removing_more_than_is_held_is_an_error_and_changes_nothing(world: World) -> None:
    world.spawn("steve", inventory=[{"type": "oak_log", "count": 3}])
    before, events = world.ok("Agent.state", "steve"), world.ok("Agent.events", "steve")
    world.clock.now += 5
    code, message = world.error("Agent.inventory.remove", "steve", type="oak_log", count=4)
    assert code == "CONFLICT" and message == "steve holds 3 oak_log, cannot remove 4; nothing was changed"
    assert world.error("Agent.inventory.remove", "steve", type="diamond", count=1)[0] == "CONFLICT"
    swap = {"remove": [{"type": "oak_log", "count": 1}, {"type": "stick", "count": 1}],
            "add": [{"type": "torch", "count": 4}]}
    assert world.error("Agent.inventory.swap", "steve", **swap)[0] == "CONFLICT"
    assert world.ok("Agent.state", "steve") == before and world.ok("Agent.events", "steve") == events


def test_swap_removes_and_adds_at_once(world: World) -> None:
    world.spawn("steve", inventory=[{"type": "oak_log", "count": 3}])
    inventory = world.ok("Agent.inventory.swap", "steve", remove=[{"type": "oak_log", "count": 3}],
                         add=[{"type": "oak_planks", "count": 12}], note="crafting")["inventory"]
    assert inventory == [{"type": "oak_planks", "count": 12, "slot": 0}]


def test_blocks_mined_and_placed_are_counted(world: World) -> None:
    world.spawn("steve")
    world.ok("Agent.blocks", "steve", mined=3)
    stats = world.ok("Agent.blocks", "steve", mined=2, placed=7)
    assert (stats["blocksMined"], stats["blocksPlaced"]) == (5, 7)
    assert world.error("Agent.blocks", "steve") == (
        "BAD_REQUEST", "Agent.blocks: give mined or placed, a positive count")


def test_tasks_assign_update_list_and_history(sized: World) -> None:
    sized.spawn("steve")
    first = sized.ok("Agent.task.assign", "steve", type="mine", target={"block": "iron_ore", "count": 8})
    assert first == {"id": "t1", "type": "mine", "target": {"block": "iron_ore", "count": 8}, "status": "pending",
                     "createdAt": START_MS, "updatedAt": START_MS}
    sized.ok("Agent.task.assign", "steve", type="build", target="hut", id="hut-1")
    assert sized.error("Agent.task.assign", "steve", type="move", target=[1, 2, 3])[0] == "TOO_LARGE"
    sized.clock.now += 10
    assert sized.ok("Agent.task.update", "steve", id="t1", status="in_progress")["updatedAt"] == START_MS + 10
    assert sized.error("Agent.task.assign", "steve", type="move", target="x", id="t1")[0] == "TOO_LARGE"
    sized.ok("Agent.task.update", "steve", id="hut-1", status="failed")
    assert sized.error("Agent.task.assign", "steve", type="attack", target="zombie", id="t1")[0] == "CONFLICT"
    sized.ok("Agent.task.update", "steve", id="t1", status="completed")
    assert sized.ok("Agent.task.list", "steve") == {"tasks": []}
    history = sized.ok("Agent.task.history", "steve")["tasks"]
    assert [(task["id"], task["status"]) for task in history] == [("t1", "completed"), ("hut-1", "failed")]
    code, message = sized.error("Agent.task.update", "steve", id="t1", status="completed")
    assert code == "NOT_FOUND" and "Agent.task.history" in message
    assert sized.ok("Agent.task.assign", "steve", type="move", target=[0, 64, 0])["id"] == "t3"
    sized.ok("Agent.task.update", "steve", id="t3", status="completed")
    assert len(sized.keys("Agent", "steve", "history/")) == 2  # task_history_size


def test_the_event_log_keeps_the_newest_entries(sized: World) -> None:
    sized.spawn("steve")
    for amount in (1, 2, 3, 4):
        sized.ok("Agent.damage", "steve", amount=amount, source="cactus")
    events = sized.ok("Agent.events", "steve", limit=10)["events"]
    assert [event["data"]["amount"] for event in events] == [4, 3, 2]
    assert sized.keys("Agent", "steve", "event/") == ["event/000000000003", "event/000000000004",
                                                      "event/000000000005"]


def test_a_trade_moves_items_both_ways(world: World) -> None:
    world.spawn("ann", inventory=[{"type": "emerald", "count": 5}])
    world.spawn("bob", inventory=[{"type": "bread", "count": 10}])
    inventory = world.ok("Agent.trade", "ann", partner="bob", give=[{"type": "emerald", "count": 2}],
                         receive=[{"type": "bread", "count": 6}])["inventory"]
    assert inventory == [{"type": "emerald", "count": 3, "slot": 0}, {"type": "bread", "count": 6, "slot": 1}]
    assert world.ok("Agent.state", "bob")["inventory"] == [{"type": "bread", "count": 4, "slot": 0},
                                                          {"type": "emerald", "count": 2, "slot": 1}]
    assert world.topics("agent.trade.") == ["agent.trade.ann"]
    assert world.topics("agent.inventory_swap.") == ["agent.inventory_swap.bob"]


@pytest.mark.parametrize(
    ("partner", "give", "receive", "code"),
    [
        ("bob", [{"type": "emerald", "count": 6}], [], "CONFLICT"),  # ann lacks
        ("bob", [{"type": "emerald", "count": 1}], [{"type": "bread", "count": 11}], "CONFLICT"),  # bob lacks
        ("nobody", [{"type": "emerald", "count": 1}], [], "NOT_FOUND"),  # never spawned
        ("ann", [{"type": "emerald", "count": 1}], [], "BAD_REQUEST"),  # with itself
    ],
)
def test_a_trade_that_cannot_complete_changes_neither_agent(world: World, partner: str, give: list[Any],
                                                            receive: list[Any], code: str) -> None:
    world.spawn("ann", inventory=[{"type": "emerald", "count": 5}])
    world.spawn("bob", inventory=[{"type": "bread", "count": 10}])
    before = [world.ok(op, name) for op in ("Agent.state", "Agent.events") for name in ("ann", "bob")]
    world.notices.clear()
    world.clock.now += 1
    assert world.error("Agent.trade", "ann", partner=partner, give=give, receive=receive)[0] == code
    assert [world.ok(op, name) for op in ("Agent.state", "Agent.events") for name in ("ann", "bob")] == before
    assert world.notices == [] and world.keys("Agent", "nobody") == []


@pytest.mark.parametrize(
    ("op", "args", "message"),
    [
        ("Agent.damage", {"amount": -3, "source": "x"}, "Agent.damage: amount must be a positive number, got -3"),
        ("Agent.damage", {"amount": True, "source": "x"}, "Agent.damage: amount must be a positive number"),
        ("Agent.damage", {"amount": float("nan"), "source": "x"}, "amount must be a positive number"),
        ("Agent.damage", {"amount": 1}, "Agent.damage needs source"),
        ("Agent.damage", {"amount": 1, "source": "x", "sauce": 1}, "Agent.damage does not take sauce; it takes"),
        ("Agent.heal", {"amount": "lots"}, "Agent.heal: amount must be a positive number"),
        ("Agent.move", {"x": 1, "y": 2}, "Agent.move needs z"),
        ("Agent.move", {"x": 1, "y": 2, "z": float("inf")}, "Agent.move: z must be a finite number"),
        ("Agent.inventory.add", {"type": "", "count": 1}, "Agent.inventory.add: type must be a non-empty string"),
        ("Agent.inventory.add", {"type": "dirt", "count": 0}, "Agent.inventory.add: count must be an integer"),
        ("Agent.inventory.remove", {"type": "dirt", "count": 1.5}, "count must be an integer from 1"),
        ("Agent.inventory.swap", {}, "Agent.inventory.swap: give items to remove or to add"),
        ("Agent.inventory.swap", {"add": [{"type": "x"}]}, "add[0] must be a map {type, count}"),
        ("Agent.trade", {"partner": "bob"}, "Agent.trade: give or receive at least one item"),
        ("Agent.trade", {"give": [{"type": "x", "count": 1}]}, "Agent.trade needs partner"),
        ("Agent.task.assign", {"type": "dance", "target": 1}, "type must be one of mine, build, move, attack"),
        ("Agent.task.assign", {"type": "mine"}, "Agent.task.assign needs target"),
        ("Agent.task.update", {"id": "t1", "status": "done"}, "status must be one of pending, in_progress"),
        ("Agent.events", {"limit": 0}, "Agent.events: limit must be an integer from 1 to 1000"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(world: World, op: str, args: dict[str, Any],
                                                     message: str) -> None:
    world.spawn("steve")
    code, text = world.error(op, "steve", **args)
    assert code == "BAD_REQUEST" and message in text


def test_a_v3_state_reads_as_v4_with_its_name_and_is_stored_as_v4_on_write(world: World) -> None:
    v3 = msgpack.unpackb((FIXTURES / "v3.msgpack").read_bytes())
    world.raw("storage.put", {"class": "Agent", "name": "old-steve"}, key="state", value=v3)
    state = world.ok("Agent.state", "old-steve")
    assert state["name"] == "old-steve" and state["stats"]["blocksMined"] == 31 and state["tasks"] == []
    world.ok("Agent.heal", "old-steve", amount=1)
    stored = world.raw("storage.get", {"class": "Agent", "name": "old-steve"}, key="state")["value"]
    assert stored["_v"] == AGENT_STATE.current and stored["name"] == "old-steve"
