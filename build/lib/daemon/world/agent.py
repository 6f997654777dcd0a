"""The ``Agent`` class: one Steve's body, inventory, tasks and event log, and its heartbeat.

Keys of an agent object:

========================  ==========================================================
``state``                 the ``AgentState`` record (schemas/agent.py)
``event/<seq>``           ``AgentEvent``: the agent's own event log, newest ``event_log_size``
``death/<seq>``           ``AgentDeath``: position, inventory, source and time of a death
``history/<seq>``         ``AgentTask``: finished (completed or failed) tasks, newest first
========================  ==========================================================

Every write publishes ``agent.<type>.<name>`` with ``{agent, type, data, at}``
after it commits. The alarm sends a heartbeat to the Foreman (through
``turn.call``) every ``heartbeat_s``; an agent no op has touched since the
last heartbeat sends one more and sleeps, and its next write wakes it again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from daemon import (
    AlarmInfo,
    Args,
    BadRequest,
    Conflict,
    NotFound,
    ObjectClass,
    ObjectRef,
    Options,
    TooLarge,
    Turn,
    check_name,
    op,
)
from daemon.world import _inventory, _logs
from schemas.agent import AGENT_STATE, TASK_STATUSES, TASK_TYPES
from schemas.records import RecordType
from schemas.world import AGENT_DEATH, AGENT_EVENT, AGENT_TASK

DEATHS_KEPT = 100
FINISHED = ("completed", "failed")


@dataclass(frozen=True)
class AgentOptions:
    """``[classes.options.Agent]``: see docs/classes.md."""

    heartbeat_ms: int = 30_000
    foreman: str = "global"
    telemetry: str = ""
    spawn: Mapping[str, float] = field(default_factory=lambda: {"x": 0, "y": 64, "z": 0})
    max_health: float = 20
    event_log_size: int = 1000
    task_history_size: int = 1000
    max_open_tasks: int = 64

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> AgentOptions:
        read = Options("Agent", options, "heartbeat_s", "foreman", "telemetry", "spawn", "max_health",
                       "event_log_size", "task_history_size", "max_open_tasks")
        return cls(
            heartbeat_ms=max(1, round(read.number("heartbeat_s", 30) * 1000)),
            foreman=read.name("foreman", "global"),
            telemetry=read.name("telemetry", "", allow_empty=True),
            spawn=read.position("spawn", {"x": 0, "y": 64, "z": 0}),
            max_health=read.number("max_health", 20),
            event_log_size=read.integer("event_log_size", 1000),
            task_history_size=read.integer("task_history_size", 1000),
            max_open_tasks=read.integer("max_open_tasks", 64),
        )


class Agent(ObjectClass):
    """A Steve. Address agents by name: the Foreman and trades reach them by it."""

    name = "Agent"
    records: ClassVar[Mapping[str, RecordType]] = {"state": AGENT_STATE}

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        AgentOptions.parse(options)

    def __init__(self, ref: ObjectRef, options: Mapping[str, Any]) -> None:
        super().__init__(ref, options)
        self.settings = AgentOptions.parse(options)
        # True once this instance knows the alarm is set. Only the alarm handler clears an alarm
        # without dropping the instance (raw alarm.* and storage.* writes, failed turns drop it).
        self._beating = False

    # state -----------------------------------------------------------------
    def _load(self, turn: Turn) -> dict[str, Any]:
        state = turn.storage.get_record("state", AGENT_STATE)
        if state is None:
            raise NotFound(f"agent {self.ref.name or self.ref.id} has not spawned; call Agent.init first")
        if not state["name"] and self.ref.name:
            state["name"] = self.ref.name  # a record from before v4 did not know it
        return state

    def _save(self, turn: Turn, state: dict[str, Any], kind: str, data: dict[str, Any], log: bool = True) -> None:
        """Store ``state``, wake the heartbeat if it sleeps, log the event and publish it."""
        state["lastSeen"] = turn.now_ms
        turn.storage.put_record("state", AGENT_STATE, state)
        if not self._beating:
            if turn.storage.get_alarm() is None:
                turn.storage.set_alarm(turn.now_ms)
            self._beating = True
        if log:
            event = {"type": kind, "data": data, "at": turn.now_ms}
            _logs.append(turn.storage, "event/", AGENT_EVENT, event, self.settings.event_log_size)
            if self.settings.telemetry:
                turn.call("Telemetry", self.settings.telemetry, "log", agent=state["name"], type=kind, data=data)
        turn.publish(f"agent.{kind}.{state['name']}", {"agent": state["name"], "type": kind, "data": data,
                                                        "at": turn.now_ms})

    @op(writes=False)
    def state(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        Args("Agent.state", args)
        return self._load(turn)

    @op()
    def init(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """First spawn: ``CONFLICT`` if the agent has spawned before."""
        a = Args("Agent.init", args, "position", "health", "max_health", "inventory")
        if self.ref.name is None:
            raise BadRequest("Agent.init: address the agent by name; the Foreman and trades reach it by name")
        check_name(self.ref.name, "Agent.init: an agent's name (it goes into the Foreman's and Telemetry's keys)")
        max_health = a.number("max_health", self.settings.max_health, positive=True)
        health = a.number("health", max_health, positive=True)
        if health > max_health:
            raise a.fail(f"health ({health}) must not exceed max_health ({max_health})")
        position = a.position("position", dict(self.settings.spawn))
        inventory: list[dict[str, Any]] = []
        for item in a.items("inventory", allow_empty=True):
            _inventory.add(inventory, item["type"], item["count"])
        if turn.storage.get_packed("state") is not None:
            raise Conflict(f"agent {self.ref.name} has already spawned; Agent.state reads it")
        state = {
            "name": self.ref.name, "health": health, "maxHealth": max_health,
            "position": position, "inventory": inventory,
            "stats": {"blocksMined": 0, "blocksPlaced": 0, "distanceTraveled": 0.0, "deaths": 0, "tasksAssigned": 0},
            "tasks": [], "createdAt": turn.now_ms, "lastSeen": turn.now_ms,
        }
        self._save(turn, state, "spawn", {"position": state["position"], "health": health})
        return state

    # body ------------------------------------------------------------------
    @op()
    def damage(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Lose health; at 0 record a death and respawn at the spawn point, healed, empty-handed."""
        a = Args("Agent.damage", args, "amount", "source")
        amount, source = a.number("amount", positive=True), a.name("source")
        state = self._load(turn)
        health = state["health"] - amount
        if health > 0:
            state["health"] = health
            self._save(turn, state, "damage", {"amount": amount, "source": source, "health": health})
            return {"health": health, "died": False}
        death = {"position": state["position"], "inventory": state["inventory"], "source": source, "at": turn.now_ms}
        _logs.append(turn.storage, "death/", AGENT_DEATH, death, DEATHS_KEPT)
        state.update(health=state["maxHealth"], position=dict(self.settings.spawn), inventory=[])
        state["stats"]["deaths"] += 1
        self._save(turn, state, "death", {"amount": amount, "source": source, "position": death["position"],
                                          "inventory": death["inventory"], "respawn": state["position"]})
        return {"health": state["health"], "died": True, "death": death}

    @op()
    def heal(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        a = Args("Agent.heal", args, "amount")
        amount = a.number("amount", positive=True)
        state = self._load(turn)
        state["health"] = min(state["maxHealth"], state["health"] + amount)
        self._save(turn, state, "heal", {"amount": amount, "health": state["health"]})
        return {"health": state["health"]}

    @op()
    def move(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Move to ``x, y, z``; the straight-line distance is added to the stats (not logged: 20 Hz)."""
        position = Args("Agent.move", args, "x", "y", "z").point()
        state = self._load(turn)
        old = state["position"]
        distance = math.dist((old["x"], old["y"], old["z"]), (position["x"], position["y"], position["z"]))
        state["position"] = position
        state["stats"]["distanceTraveled"] += distance
        self._save(turn, state, "move", {"position": position, "distance": distance}, log=False)
        return {"position": position, "distance": distance, "distanceTraveled": state["stats"]["distanceTraveled"]}

    @op()
    def blocks(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Count blocks mined and placed."""
        a = Args("Agent.blocks", args, "mined", "placed")
        mined, placed = a.integer("mined", 0), a.integer("placed", 0)
        if mined + placed == 0:
            raise a.fail("give mined or placed, a positive count")
        state = self._load(turn)
        state["stats"]["blocksMined"] += mined
        state["stats"]["blocksPlaced"] += placed
        self._save(turn, state, "blocks", {"mined": mined, "placed": placed})
        return state["stats"]  # type: ignore[no-any-return]

    # inventory -------------------------------------------------------------
    @op("inventory.add")
    def inventory_add(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        a = Args("Agent.inventory.add", args, "type", "count", "slot")
        kind, count = a.name("type", max_bytes=128), a.integer("count", minimum=1, maximum=2**31)
        slot = a.integer("slot", None, maximum=4095) if a.has("slot") else None
        state = self._load(turn)
        stack = _inventory.add(state["inventory"], kind, count, slot)
        self._save(turn, state, "inventory_add", {"type": kind, "count": count, "held": stack["count"]})
        return {"inventory": state["inventory"]}

    @op("inventory.remove")
    def inventory_remove(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Remove items; more than is held is ``CONFLICT`` and nothing changes."""
        a = Args("Agent.inventory.remove", args, "type", "count")
        kind, count = a.name("type", max_bytes=128), a.integer("count", minimum=1, maximum=2**31)
        state = self._load(turn)
        _inventory.remove(state["inventory"], [{"type": kind, "count": count}], state["name"])
        held = _inventory.held(state["inventory"], kind)
        self._save(turn, state, "inventory_remove", {"type": kind, "count": count, "held": held})
        return {"inventory": state["inventory"]}

    @op("inventory.swap")
    def inventory_swap(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Remove some items and add others at once (crafting, one side of a trade); all or nothing."""
        a = Args("Agent.inventory.swap", args, "remove", "add", "note")
        remove, add = a.items("remove", allow_empty=True), a.items("add", allow_empty=True)
        note = a.text("note", "", max_chars=512)
        if not remove and not add:
            raise a.fail("give items to remove or to add")
        state = self._load(turn)
        _inventory.remove(state["inventory"], remove, state["name"])
        for item in add:
            _inventory.add(state["inventory"], item["type"], item["count"])
        self._save(turn, state, "inventory_swap", {"removed": remove, "added": add, "note": note})
        return {"inventory": state["inventory"]}

    @op()
    def trade(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Give items to ``partner`` and receive others from it, in one turn: both change or neither."""
        a = Args("Agent.trade", args, "partner", "give", "receive")
        partner = a.name("partner", max_bytes=2048)
        give, receive = a.items("give", allow_empty=True), a.items("receive", allow_empty=True)
        if not give and not receive:
            raise a.fail("give or receive at least one item")
        state = self._load(turn)
        if partner == state["name"]:
            raise a.fail("an agent cannot trade with itself")
        _inventory.remove(state["inventory"], give, state["name"])
        for item in receive:
            _inventory.add(state["inventory"], item["type"], item["count"])
        turn.call("Agent", partner, "inventory.swap", remove=receive, add=give, note=f"trade with {state['name']}")
        self._save(turn, state, "trade", {"partner": partner, "gave": give, "received": receive})
        return {"inventory": state["inventory"]}

    # tasks -----------------------------------------------------------------
    @op("task.assign")
    def task_assign(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Add a pending task (``id`` defaults to ``t<n>``); ``CONFLICT`` if an open task has that id."""
        a = Args("Agent.task.assign", args, "type", "target", "id")
        kind, target = a.choice("type", TASK_TYPES), a.value("target")
        task_id = a.name("id", None, max_bytes=128) if a.has("id") else None
        state = self._load(turn)
        if len(state["tasks"]) >= self.settings.max_open_tasks:
            raise TooLarge(f"agent {state['name']} has {len(state['tasks'])} open tasks, the most it takes "
                           "(max_open_tasks); finish some first")
        state["stats"]["tasksAssigned"] += 1
        task_id = task_id or f"t{state['stats']['tasksAssigned']}"
        if any(task["id"] == task_id for task in state["tasks"]):
            raise Conflict(f"agent {state['name']} already has an open task {task_id!r}")
        task = {"id": task_id, "type": kind, "target": target, "status": "pending",
                "createdAt": turn.now_ms, "updatedAt": turn.now_ms}
        state["tasks"].append(task)
        self._save(turn, state, "task_assigned", {"task": task})
        return task

    @op("task.update")
    def task_update(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Set an open task's status; a completed or failed task moves to the history."""
        a = Args("Agent.task.update", args, "id", "status")
        task_id, status = a.name("id"), a.choice("status", TASK_STATUSES)
        state = self._load(turn)
        task = next((task for task in state["tasks"] if task["id"] == task_id), None)
        if task is None:
            raise NotFound(f"agent {state['name']} has no open task {task_id!r}; finished ones are in "
                           "Agent.task.history")
        task.update(status=status, updatedAt=turn.now_ms)
        if status in FINISHED:
            state["tasks"].remove(task)
            _logs.append(turn.storage, "history/", AGENT_TASK, task, self.settings.task_history_size)
        self._save(turn, state, "task_updated", {"task": task})
        return task  # type: ignore[no-any-return]

    @op("task.list", writes=False)
    def task_list(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        Args("Agent.task.list", args)
        return {"tasks": self._load(turn)["tasks"]}

    @op("task.history", writes=False)
    def task_history(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        limit = Args("Agent.task.history", args, "limit").limit(100, 1000)
        self._load(turn)
        return {"tasks": _logs.newest(turn.storage, "history/", AGENT_TASK, limit)}

    # logs ------------------------------------------------------------------
    @op(writes=False)
    def events(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        limit = Args("Agent.events", args, "limit").limit(100, 1000)
        self._load(turn)
        return {"events": _logs.newest(turn.storage, "event/", AGENT_EVENT, limit)}

    @op(writes=False)
    def deaths(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        limit = Args("Agent.deaths", args, "limit").limit(DEATHS_KEPT, DEATHS_KEPT)
        self._load(turn)
        return {"deaths": _logs.newest(turn.storage, "death/", AGENT_DEATH, limit)}

    # heartbeat -------------------------------------------------------------
    def on_alarm(self, turn: Turn, alarm: AlarmInfo) -> None:
        """Send a heartbeat to the Foreman; keep beating while ops touch the agent."""
        self._beating = False
        state = turn.storage.get_record("state", AGENT_STATE)
        if state is None:
            return  # deleted since the alarm was set: nothing to report
        if not state["name"] and self.ref.name:
            state["name"] = self.ref.name
        working = [task for task in state["tasks"] if task["status"] == "in_progress"]
        current = (working or state["tasks"] or [None])[0]
        turn.call("Foreman", self.settings.foreman, "heartbeat", agent=state["name"], health=state["health"],
                  position=state["position"], current_task=current, status="working" if working else "idle",
                  last_seen=state["lastSeen"])
        if state["lastSeen"] > alarm.scheduled_ms - self.settings.heartbeat_ms:
            turn.storage.set_alarm(turn.now_ms + self.settings.heartbeat_ms)
            self._beating = True
