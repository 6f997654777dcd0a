"""A realistic session through the Python client against a daemon process: fifty agents spawn,
move, take damage (some die), trade and heartbeat; a mission is completed; the Foreman's and
Telemetry's answers are checked against what was sent."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import Client, Conflict, NotFound, Subscriber, Timeout
from tests.conftest import DaemonProcess, running_daemon, wait_for

AGENTS = 50
DEAD = 5  # agents 0..4 take a fatal blow
CONFIG = """
[classes.options.Agent]
heartbeat_s = 0.2
telemetry = "global"
spawn = { x = 0, y = 64, z = 0 }
"""


@pytest.fixture
def world_daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    yield from running_daemon(tmp_path, CONFIG)



def subscribed(client: Client, sub: Subscriber) -> None:
    """Wait until the subscription reaches the publisher (telemetry.probe events are logged until one arrives)."""
    for attempt in range(100):
        client.telemetry("probe").log("probe", "probe", attempt)
        try:
            sub.recv(timeout=0.1)
            return
        except Timeout:
            continue
    raise AssertionError("the subscription never took")


def test_fifty_agents_end_to_end(world_daemon: DaemonProcess) -> None:
    names = [f"steve-{i}" for i in range(AGENTS)]
    with Client(world_daemon.rpc) as client, Subscriber(world_daemon.pub, topics=("telemetry.probe.",)) as sub:
        subscribed(client, sub)
        sub.subscribe("mission.completed.")
        sub.subscribe("telemetry.death.")
        sub.unsubscribe("telemetry.probe.")

        # Spawn, then walk each agent three legs.
        final: dict[str, dict[str, float]] = {}
        travelled: dict[str, float] = {}
        for i, name in enumerate(names):
            stock = {"type": "emerald", "count": 10} if i % 2 == 0 else {"type": "bread", "count": 20}
            start = {"x": float(i * 100), "y": 64.0, "z": 0.0}
            assert client.agent(name).init(position=start, inventory=[stock])["name"] == name
            here, walked = start, 0.0
            for leg in range(1, 4):
                there = {"x": start["x"] + leg * 3, "y": 64.0, "z": float(leg * 4 + i)}
                walked += math.dist(list(here.values()), list(there.values()))
                assert client.agent(name).move(there["x"], there["y"], there["z"])["distanceTraveled"] == (
                    pytest.approx(walked))
                here = there
            final[name], travelled[name] = here, walked
        with pytest.raises(Conflict):
            client.agent(names[0]).init()

        # Damage: three scratches each; the first five then die and respawn at the spawn point.
        for i, name in enumerate(names):
            for _ in range(3):
                client.agent(name).damage(5, "zombie")
            if i < DEAD:
                died = client.agent(name).damage(100, "creeper")
                assert died["died"] and died["death"]["position"] == final[name]
                final[name] = {"x": 0, "y": 64, "z": 0}
        health = {name: 20 if i < DEAD else 5 for i, name in enumerate(names)}

        # Trades: each even agent sells two emeralds for five bread to its odd neighbour.
        for i in range(0, AGENTS, 2):
            seller, buyer = names[i], names[i + 1]
            if i < DEAD:  # a dead agent lost its emeralds: the trade fails and changes neither side
                before = (client.agent(seller).state(), client.agent(buyer).state())
                with pytest.raises(Conflict):
                    client.agent(seller).trade(buyer, give=[{"type": "emerald", "count": 2}],
                                               receive=[{"type": "bread", "count": 5}])
                assert (client.agent(seller).state()["inventory"], client.agent(buyer).state()["inventory"]) == (
                    before[0]["inventory"], before[1]["inventory"])
                continue
            inventory = client.agent(seller).trade(buyer, give=[{"type": "emerald", "count": 2}],
                                                   receive=[{"type": "bread", "count": 5}])
            assert {item["type"]: item["count"] for item in inventory} == {"emerald": 8, "bread": 5}
            assert {item["type"]: item["count"] for item in client.agent(buyer).state()["inventory"]} == {
                "bread": 15, "emerald": 2}

        # The Foreman hears every agent's heartbeat: positions and health as sent.
        foreman = client.foreman()

        def registry_matches() -> bool:
            entries = {agent["name"]: agent for agent in foreman.active()}
            return len(entries) == AGENTS and all(
                entries[name]["position"] == final[name] and entries[name]["health"] == health[name]
                for name in names)

        wait_for(registry_matches, timeout=20.0)
        for name in (names[7], names[31], names[49]):
            point = final[name]
            nearest = foreman.nearest(point["x"], point["y"], point["z"], k=1)
            assert [(agent["name"], agent["distance"]) for agent in nearest] == [(name, 0.0)]
        at_spawn = foreman.nearest(0, 64, 0, k=DEAD)
        assert sorted(agent["name"] for agent in at_spawn) == names[:DEAD]
        assert all(agent["distance"] == 0 for agent in at_spawn)
        assignment = foreman.assign(names[10], "build", {"structure": "forge"}, id="forge-1")
        assert client.agent(names[10]).tasks() == [assignment["task"]]
        with pytest.raises(NotFound):
            foreman.assign("nobody", "mine", "coal")
        assert [a["agent"] for a in foreman.assignments()] == [names[10]]

        # A mission: two agents, two objectives, completed when the last one is.
        missions = client.missions()
        mission = missions.create("Forge", [{"type": "mine", "target": "iron_ore"},
                                            {"type": "build", "target": "forge"}], description="smelt")
        missions.assign(mission["id"], names[10])
        missions.assign(mission["id"], names[11])
        missions.update_objective(mission["id"], "o1", "completed", assigned_to=names[11])
        done = missions.update_objective(mission["id"], "o2", "completed", assigned_to=names[10])
        assert done["status"] == "completed" and done["assignedAgents"] == [names[10], names[11]]
        assert [m["id"] for m in missions.list("completed")] == [mission["id"]]

        # Telemetry holds what the agents did, counted per agent and type.
        telemetry = client.telemetry()
        for i, name in enumerate(names):
            counts = {kind: entry["count"] for kind, entry in telemetry.stats(name).items()}
            expected = {"spawn": 1, "damage": 3}
            if i < DEAD:
                expected["death"] = 1
            if i % 2 == 0 and i >= DEAD:
                expected["trade"] = 1
            if i % 2 == 1 and i > DEAD:
                expected["inventory_swap"] = 1
            if name == names[10]:
                expected["task_assigned"] = 1
            assert counts == expected, name
        deaths = telemetry.by_type("death")
        assert sorted(event["agent"] for event in deaths) == names[:DEAD]
        assert all(event["data"]["source"] == "creeper" for event in deaths)
        assert telemetry.latest(names[0], limit=1)[0]["type"] == "death"

        # What was published: the five deaths and the mission's completion.
        topics = sorted(sub.recv(timeout=10).topic for _ in range(DEAD + 1))
        assert topics == sorted([f"mission.completed.{mission['id']}", *(f"telemetry.death.{n}" for n in names[:DEAD])])
