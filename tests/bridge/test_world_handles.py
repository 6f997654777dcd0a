"""Every typed handle method of bridge/world.py, once, against a daemon process with the built-in classes."""

from __future__ import annotations

import pytest

from bridge import BadRequest, Client, Conflict, NotFound
from tests.conftest import DaemonProcess


def test_every_handle_method_reaches_its_op(daemon: DaemonProcess) -> None:
    with Client(daemon.rpc) as client:
        ann, bob = client.agent("ann"), client.agent("bob")
        assert ann.init(position={"x": 1, "y": 64, "z": 1}, max_health=30, health=25)["health"] == 25
        bob.init(inventory=[{"type": "bread", "count": 3}])
        assert ann.heal(10) == 30
        assert ann.damage(4, "bee") == {"health": 26, "died": False}
        assert ann.move(4, 64, 5)["distance"] == 5
        assert ann.blocks(mined=2)["blocksMined"] == 2
        assert ann.add_item("oak_log", 4, slot=3) == [{"type": "oak_log", "count": 4, "slot": 3}]
        assert ann.remove_item("oak_log", 1)[0]["count"] == 3
        with pytest.raises(Conflict):
            ann.remove_item("oak_log", 9)
        assert ann.swap_items(remove=[{"type": "oak_log", "count": 3}], add=[{"type": "charcoal", "count": 3}],
                              note="smelting")[0]["type"] == "charcoal"
        assert ann.trade("bob", give=[{"type": "charcoal", "count": 1}], receive=[{"type": "bread", "count": 2}])
        task = ann.assign_task("mine", {"block": "coal"})
        assert ann.tasks() == [task]
        assert ann.update_task(task["id"], "completed")["status"] == "completed"
        assert ann.task_history(limit=1)[0]["id"] == task["id"]
        assert ann.events(limit=2)[0]["type"] == "task_updated"
        assert ann.deaths() == []
        assert ann.state()["stats"]["tasksAssigned"] == 1

        foreman = client.foreman()
        foreman.heartbeat("carl", 20, {"x": 500, "y": 64, "z": 500}, status="idle")  # an agent without an object
        assert foreman.agent("carl")["active"] is True
        assert "carl" in [a["name"] for a in foreman.active()]  # ann and bob beat on their own
        assert [a["name"] for a in foreman.nearest(500, 64, 501, k=1, max_distance=10)] == ["carl"]
        assert foreman.assign("bob", "build", "hut")["agent"] == "bob"
        assert [a["agent"] for a in foreman.assignments(agent="bob")] == ["bob"]
        with pytest.raises(NotFound):
            foreman.agent("dave")

        missions = client.missions()
        mission = missions.create("Hut", [{"type": "build", "target": "hut"}])
        assert missions.get(mission["id"]) == mission
        assert missions.assign(mission["id"], "bob")["status"] == "active"
        assert missions.update_objective(mission["id"], "o1", "in_progress", assigned_to="bob")["status"] == "active"
        assert missions.fail(mission["id"])["status"] == "failed"
        assert [m["id"] for m in missions.list("failed")] == [mission["id"]]

        telemetry = client.telemetry()
        event = telemetry.log("bob", "chat", {"text": "hi"})
        assert telemetry.log_many([{"agent": "bob", "type": "chat"}, {"agent": "ann", "type": "mine"}]) == 2
        assert [e["type"] for e in telemetry.latest("bob")] == ["chat", "chat"]
        assert len(telemetry.by_type("chat", start_ms=event["at"], end_ms=event["at"] + 60_000)) == 2
        assert telemetry.stats("ann")["mine"]["count"] == 1
        with pytest.raises(BadRequest, match="type must be 1-64 letters"):
            telemetry.log("bob", "no spaces")
