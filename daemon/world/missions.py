"""The ``MissionControl`` class: missions, their objectives and the agents on them.

Keys of a MissionControl object (``global`` by default):

==========================================  ==================================================
``mission/<id>``                            ``Mission``: name, description, status, objectives,
                                            assigned agents, created and updated times
``status/<status>/<created ms>/<id>``       empty: missions by status, oldest first
``seq``                                     the number of missions created (ids are ``m<n>``)
==========================================  ==================================================

A mission is ``planned`` until an agent is assigned or an objective starts
(``active``); when its last objective is completed it is ``completed`` in the
same turn, and ``mission.completed.<id>`` is published after that commits.
``completed`` and ``failed`` are final. Every change is published as
``mission.<event>.<id>`` with the mission as body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon import Args, ConfigError, Conflict, NotFound, ObjectClass, Turn, op
from schemas.world import MISSION, MISSION_STATUSES, OBJECTIVE_STATUSES, OBJECTIVE_TYPES

MAX_OBJECTIVES = 256
FINAL = ("completed", "failed")


def _status_key(mission: dict[str, Any], status: str | None = None) -> str:
    return f"status/{status or mission['status']}/{mission['createdAt']:013d}/{mission['id']}"


class MissionControl(ObjectClass):
    """Plans missions and completes them when their objectives are done."""

    name = "MissionControl"

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        if options:
            raise ConfigError("[classes.options.MissionControl] takes no options")

    def _load(self, turn: Turn, mission_id: str) -> dict[str, Any]:
        mission = turn.storage.get_record(f"mission/{mission_id}", MISSION)
        if mission is None:
            raise NotFound(f"MissionControl {self.ref.name or self.ref.id} has no mission {mission_id!r}")
        return mission

    def _open(self, turn: Turn, mission_id: str) -> dict[str, Any]:
        mission = self._load(turn, mission_id)
        if mission["status"] in FINAL:
            raise Conflict(f"mission {mission_id} is {mission['status']}; it changes no more")
        return mission

    def _save(self, turn: Turn, mission: dict[str, Any], event: str, old_status: str | None) -> dict[str, Any]:
        mission["updatedAt"] = turn.now_ms
        turn.storage.put_record(f"mission/{mission['id']}", MISSION, mission)
        if old_status != mission["status"]:
            if old_status is not None:
                turn.storage.delete(_status_key(mission, old_status))
            turn.storage.put(_status_key(mission), "")
        turn.publish(f"mission.{event}.{mission['id']}", mission)
        return mission

    @op()
    def create(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """A planned mission; ``objectives`` is a list of ``{type, target, id?}`` (ids default to o1, o2, ...)."""
        a = Args("MissionControl.create", args, "name", "description", "objectives")
        name, description = a.text("name", max_chars=256), a.text("description", "")
        raw = a.value("objectives")
        if not isinstance(raw, list) or not 0 < len(raw) <= MAX_OBJECTIVES:
            raise a.fail(f"objectives must be a list of 1 to {MAX_OBJECTIVES} {{type, target, id?}} maps")
        objectives: list[dict[str, Any]] = []
        for index, item in enumerate(raw):
            where = f"objectives[{index}]"
            if not isinstance(item, dict):
                raise a.fail(f"{where} must be a map {{type, target, id?}}")
            each = Args(f"MissionControl.create: {where}", item, "type", "target", "id")
            objective_id = each.name("id", f"o{index + 1}", max_bytes=128)
            if any(objective["id"] == objective_id for objective in objectives):
                raise a.fail(f"{where}.id {objective_id!r} is used twice")
            objectives.append({"id": objective_id, "type": each.choice("type", OBJECTIVE_TYPES),
                               "target": each.value("target"), "status": "pending", "assignedTo": None})
        if not name:
            raise a.fail("name must not be empty")
        _, count = turn.storage.get("seq")
        seq = (count or 0) + 1
        turn.storage.put("seq", seq)
        mission = {"id": f"m{seq}", "name": name, "description": description, "status": "planned",
                   "objectives": objectives, "assignedAgents": [], "createdAt": turn.now_ms,
                   "updatedAt": turn.now_ms}
        return self._save(turn, mission, "created", None)

    @op(writes=False)
    def get(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        return self._load(turn, Args("MissionControl.get", args, "mission").name("mission"))

    @op("list", writes=False)
    def list_missions(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Missions with ``status``, oldest first."""
        a = Args("MissionControl.list", args, "status", "limit")
        status, limit = a.choice("status", MISSION_STATUSES), a.limit(100, 1000)
        rows = turn.storage.list(prefix=f"status/{status}/", limit=limit)
        return {"missions": [self._load(turn, key.rsplit("/", 1)[1]) for key, _ in rows]}

    @op()
    def assign(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Put a spawned agent on the mission (``NOT_FOUND`` if it has not spawned); a planned one becomes active."""
        a = Args("MissionControl.assign", args, "mission", "agent")
        mission_id, agent = a.name("mission"), a.name("agent")
        mission = self._open(turn, mission_id)
        turn.call("Agent", agent, "state")  # raises NOT_FOUND for an agent that never spawned
        old = mission["status"]
        if agent not in mission["assignedAgents"]:
            mission["assignedAgents"].append(agent)
        mission["status"] = "active"
        return self._save(turn, mission, "assigned", old)

    @op("objective.update")
    def objective_update(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Set an objective's status (and who works on it); the last one completed completes the mission."""
        a = Args("MissionControl.objective.update", args, "mission", "objective", "status", "assigned_to")
        mission_id, objective_id = a.name("mission"), a.name("objective")
        status = a.choice("status", OBJECTIVE_STATUSES)
        agent = a.name("assigned_to") if a.has("assigned_to") else None
        mission = self._open(turn, mission_id)
        objective = next((o for o in mission["objectives"] if o["id"] == objective_id), None)
        if objective is None:
            raise NotFound(f"mission {mission['id']} has no objective {objective_id!r}")
        if agent is not None:
            if agent not in mission["assignedAgents"]:
                raise Conflict(f"agent {agent} is not on mission {mission['id']}; MissionControl.assign it first")
            objective["assignedTo"] = agent
        objective["status"] = status
        old = mission["status"]
        if all(o["status"] == "completed" for o in mission["objectives"]):
            mission["status"] = "completed"
        elif status != "pending":
            mission["status"] = "active"
        return self._save(turn, mission, "completed" if mission["status"] == "completed" else "updated", old)

    @op()
    def fail(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Mark a mission that is not finished as failed (final)."""
        mission = self._open(turn, Args("MissionControl.fail", args, "mission").name("mission"))
        old = mission["status"]
        mission["status"] = "failed"
        return self._save(turn, mission, "failed", old)
