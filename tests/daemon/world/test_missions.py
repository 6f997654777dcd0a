"""MissionControl: create, get, list by status, assign, objectives, completion in the same turn."""

from __future__ import annotations

from typing import Any

import pytest

from tests.daemon.world.conftest import START_MS, World

OBJECTIVES = [{"type": "mine", "target": {"block": "iron_ore", "count": 32}},
              {"type": "build", "target": "forge", "id": "forge"}]


def create(world: World, name: str = "Iron age") -> dict[str, Any]:
    mission: dict[str, Any] = world.ok("MissionControl.create", name=name, description="smelt",
                                       objectives=OBJECTIVES)
    return mission


def test_create_get_and_list_by_status(world: World) -> None:
    mission = create(world)
    assert mission == {
        "id": "m1", "name": "Iron age", "description": "smelt", "status": "planned",
        "objectives": [
            {"id": "o1", "type": "mine", "target": {"block": "iron_ore", "count": 32}, "status": "pending",
             "assignedTo": None},
            {"id": "forge", "type": "build", "target": "forge", "status": "pending", "assignedTo": None}],
        "assignedAgents": [], "createdAt": START_MS, "updatedAt": START_MS}
    assert world.ok("MissionControl.get", mission="m1") == mission
    world.clock.now += 1
    create(world, "Second")
    assert [m["id"] for m in world.ok("MissionControl.list", status="planned")["missions"]] == ["m1", "m2"]
    assert world.ok("MissionControl.list", status="active") == {"missions": []}
    assert world.error("MissionControl.get", mission="m9")[0] == "NOT_FOUND"
    assert world.topics("mission.created.") == ["mission.created.m1", "mission.created.m2"]


def test_assigning_an_agent_activates_the_mission(world: World) -> None:
    create(world)
    world.spawn("steve")
    world.ok("MissionControl.assign", mission="m1", agent="steve")
    mission = world.ok("MissionControl.assign", mission="m1", agent="steve")
    assert mission["status"] == "active" and mission["assignedAgents"] == ["steve"]
    assert [m["id"] for m in world.ok("MissionControl.list", status="active")["missions"]] == ["m1"]
    assert world.ok("MissionControl.list", status="planned") == {"missions": []}
    code, message = world.error("MissionControl.assign", mission="m1", agent="ghost")
    assert code == "NOT_FOUND" and "ghost has not spawned" in message
    assert world.ok("MissionControl.get", mission="m1")["assignedAgents"] == ["steve"]


def test_the_last_objective_completed_completes_the_mission_in_the_same_turn(world: World) -> None:
    create(world)
    world.spawn("steve")
    world.ok("MissionControl.assign", mission="m1", agent="steve")
    world.clock.now += 50
    mission = world.ok("MissionControl.objective.update", mission="m1", objective="o1", status="completed",
                       assigned_to="steve")
    assert mission["status"] == "active" and mission["objectives"][0]["assignedTo"] == "steve"
    world.notices.clear()
    mission = world.ok("MissionControl.objective.update", mission="m1", objective="forge", status="completed")
    assert mission["status"] == "completed" and mission["updatedAt"] == START_MS + 50
    assert world.notices == [("mission.completed.m1", mission)]
    assert world.ok("MissionControl.get", mission="m1") == mission
    assert [m["id"] for m in world.ok("MissionControl.list", status="completed")["missions"]] == ["m1"]
    assert world.ok("MissionControl.list", status="active") == {"missions": []}
    code, message = world.error("MissionControl.objective.update", mission="m1", objective="o1", status="pending")
    assert code == "CONFLICT" and "m1 is completed" in message
    assert world.error("MissionControl.fail", mission="m1")[0] == "CONFLICT"


def test_starting_an_objective_activates_a_planned_mission(world: World) -> None:
    create(world)
    mission = world.ok("MissionControl.objective.update", mission="m1", objective="o1", status="in_progress")
    assert mission["status"] == "active"


def test_objective_errors_change_nothing(world: World) -> None:
    create(world)
    before = world.ok("MissionControl.get", mission="m1")
    assert world.error("MissionControl.objective.update", mission="m1", objective="o7", status="completed")[0] == (
        "NOT_FOUND")
    code, message = world.error("MissionControl.objective.update", mission="m1", objective="o1",
                                status="completed", assigned_to="bob")
    assert code == "CONFLICT" and "MissionControl.assign it first" in message
    assert world.ok("MissionControl.get", mission="m1") == before


def test_a_mission_can_fail(world: World) -> None:
    create(world)
    assert world.ok("MissionControl.fail", mission="m1")["status"] == "failed"
    assert [m["id"] for m in world.ok("MissionControl.list", status="failed")["missions"]] == ["m1"]
    assert world.topics("mission.failed.") == ["mission.failed.m1"]


@pytest.mark.parametrize(
    ("op", "args", "message"),
    [
        ("MissionControl.create", {"name": "x", "objectives": []}, "objectives must be a list of 1 to 256"),
        ("MissionControl.create", {"name": "x", "objectives": [{"type": "dig", "target": 1}]},
         "MissionControl.create: objectives[0]: type must be one of mine, build, explore, defend"),
        ("MissionControl.create", {"name": "x", "objectives": [{"type": "mine", "target": 1, "id": "a"},
                                                               {"type": "mine", "target": 2, "id": "a"}]},
         "objectives[1].id 'a' is used twice"),
        ("MissionControl.create", {"name": "", "objectives": [{"type": "mine", "target": 1}]},
         "name must not be empty"),
        ("MissionControl.create", {"objectives": [{"type": "mine", "target": 1}]}, "MissionControl.create needs name"),
        ("MissionControl.list", {"status": "done"}, "status must be one of planned, active, completed, failed"),
        ("MissionControl.objective.update", {"mission": "m1", "objective": "o1", "status": "failed"},
         "status must be one of pending, in_progress, completed"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(world: World, op: str, args: dict[str, Any],
                                                     message: str) -> None:
    code, text = world.error(op, **args)
    assert code == "BAD_REQUEST" and message in text
