"""Typed handles on the built-in classes' ops (docs/protocol.md, "Built-in classes").

Each is a thin layer over :meth:`bridge.Client.call`: it names the op, builds
its arguments and returns its result. Writes carry an idempotency key (a
fresh one unless ``idem`` is given), so the client's retries apply them once.

    with Client() as client:
        steve = client.agent("steve-42")
        steve.init(position={"x": 100, "y": 64, "z": -200})
        steve.damage(5, "zombie")
        client.foreman().nearest(0, 64, 0, k=3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol


class Caller(Protocol):
    """What a handle calls through: the synchronous :class:`~bridge.client.Client`."""

    def call(
        self, op: str, target: dict[str, str] | None = None, args: dict[str, Any] | None = None, *,
        idem: str | None = None, timeout: float | None = None,
    ) -> Any: ...

Item = Mapping[str, Any]  # {"type": str, "count": int}
Point = Mapping[str, float]  # {"x", "y", "z"}


class _Handle:
    class_name = ""

    def __init__(self, client: Caller, name: str) -> None:
        self.client = client
        self.name = name
        self.target = {"class": self.class_name, "name": name}

    def _read(self, method: str, **args: Any) -> Any:
        return self.client.call(f"{self.class_name}.{method}", self.target, _present(args))

    def _write(self, method: str, idem: str | None, **args: Any) -> Any:
        return self.client.call(f"{self.class_name}.{method}", self.target, _present(args), idem=idem)


def _present(args: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in args.items() if value is not None}


def _items(items: Sequence[Item] | None) -> list[dict[str, Any]] | None:
    return None if items is None else [{"type": item["type"], "count": item["count"]} for item in items]


class AgentHandle(_Handle):
    """One agent (``Agent.*`` ops)."""

    class_name = "Agent"

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._read("state")
        return result

    def init(self, *, position: Point | None = None, health: float | None = None, max_health: float | None = None,
             inventory: Sequence[Item] | None = None, idem: str | None = None) -> dict[str, Any]:
        """First spawn (raises ``Conflict`` if it has spawned before); returns the state."""
        result: dict[str, Any] = self._write("init", idem, position=position, health=health,
                                             max_health=max_health, inventory=_items(inventory))
        return result

    def damage(self, amount: float, source: str, *, idem: str | None = None) -> dict[str, Any]:
        """``{health, died}`` (and ``death`` when it died and respawned)."""
        result: dict[str, Any] = self._write("damage", idem, amount=amount, source=source)
        return result

    def heal(self, amount: float, *, idem: str | None = None) -> float:
        return float(self._write("heal", idem, amount=amount)["health"])

    def move(self, x: float, y: float, z: float, *, idem: str | None = None) -> dict[str, Any]:
        """``{position, distance, distanceTraveled}``."""
        result: dict[str, Any] = self._write("move", idem, x=x, y=y, z=z)
        return result

    def blocks(self, *, mined: int = 0, placed: int = 0, idem: str | None = None) -> dict[str, Any]:
        """Count blocks mined and placed; returns the stats."""
        result: dict[str, Any] = self._write("blocks", idem, mined=mined or None, placed=placed or None)
        return result

    def add_item(self, type: str, count: int, *, slot: int | None = None,
                 idem: str | None = None) -> list[dict[str, Any]]:
        """Add items (stacking by type); returns the inventory."""
        return list(self._write("inventory.add", idem, type=type, count=count, slot=slot)["inventory"])

    def remove_item(self, type: str, count: int, *, idem: str | None = None) -> list[dict[str, Any]]:
        """Remove items; raises ``Conflict`` (and nothing changes) if fewer are held."""
        return list(self._write("inventory.remove", idem, type=type, count=count)["inventory"])

    def swap_items(self, remove: Sequence[Item] = (), add: Sequence[Item] = (), *, note: str | None = None,
                   idem: str | None = None) -> list[dict[str, Any]]:
        """Remove some items and add others, all or nothing; returns the inventory."""
        return list(self._write("inventory.swap", idem, remove=_items(remove), add=_items(add), note=note)["inventory"])

    def trade(self, partner: str, *, give: Sequence[Item] = (), receive: Sequence[Item] = (),
              idem: str | None = None) -> list[dict[str, Any]]:
        """Give items to ``partner`` and take others from it, both or neither; returns this agent's inventory."""
        result = self._write("trade", idem, partner=partner, give=_items(give), receive=_items(receive))
        return list(result["inventory"])

    def assign_task(self, type: str, target: Any, *, id: str | None = None, idem: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._write("task.assign", idem, type=type, target=target, id=id)
        return result

    def update_task(self, id: str, status: str, *, idem: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._write("task.update", idem, id=id, status=status)
        return result

    def tasks(self) -> list[dict[str, Any]]:
        """Open tasks (pending or in progress), oldest first."""
        return list(self._read("task.list")["tasks"])

    def task_history(self, limit: int = 100) -> list[dict[str, Any]]:
        """Finished tasks, newest first."""
        return list(self._read("task.history", limit=limit)["tasks"])

    def events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The agent's own event log, newest first."""
        return list(self._read("events", limit=limit)["events"])

    def deaths(self, limit: int = 100) -> list[dict[str, Any]]:
        return list(self._read("deaths", limit=limit)["deaths"])


class ForemanHandle(_Handle):
    """The Foreman (``Foreman.*`` ops)."""

    class_name = "Foreman"

    def heartbeat(self, agent: str, health: float, position: Point, *, current_task: Mapping[str, Any] | None = None,
                  status: str | None = None, last_seen: int | None = None, idem: str | None = None) -> None:
        self._write("heartbeat", idem, agent=agent, health=health, position=dict(position),
                    current_task=current_task, status=status, last_seen=last_seen)

    def agent(self, agent: str) -> dict[str, Any]:
        """The registry entry of ``agent``, with ``active``; raises ``NotFound`` if it never beat."""
        result: dict[str, Any] = self._read("agent", agent=agent)
        return result

    def active(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Agents seen within the active window, most recently seen first."""
        return list(self._read("active", limit=limit)["agents"])

    def nearest(self, x: float, y: float, z: float, *, k: int = 1,
                max_distance: float | None = None) -> list[dict[str, Any]]:
        """The ``k`` nearest active agents, nearest first, each with its ``distance``."""
        return list(self._read("nearest", x=x, y=y, z=z, k=k, max_distance=max_distance)["agents"])

    def assign(self, agent: str, type: str, target: Any, *, id: str | None = None,
               idem: str | None = None) -> dict[str, Any]:
        """Give ``agent`` a task (raises ``NotFound`` if it never spawned); returns the assignment."""
        result: dict[str, Any] = self._write("assign", idem, agent=agent, type=type, target=target, id=id)
        return result

    def assignments(self, agent: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return list(self._read("assignments", agent=agent, limit=limit)["assignments"])


class MissionControlHandle(_Handle):
    """Mission control (``MissionControl.*`` ops)."""

    class_name = "MissionControl"

    def create(self, name: str, objectives: Sequence[Mapping[str, Any]], *, description: str = "",
               idem: str | None = None) -> dict[str, Any]:
        """A planned mission; each objective is ``{type, target, id?}``."""
        result: dict[str, Any] = self._write("create", idem, name=name, description=description,
                                             objectives=[dict(objective) for objective in objectives])
        return result

    def get(self, mission: str) -> dict[str, Any]:
        result: dict[str, Any] = self._read("get", mission=mission)
        return result

    def list(self, status: str, limit: int = 100) -> list[dict[str, Any]]:
        return list(self._read("list", status=status, limit=limit)["missions"])

    def assign(self, mission: str, agent: str, *, idem: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._write("assign", idem, mission=mission, agent=agent)
        return result

    def update_objective(self, mission: str, objective: str, status: str, *, assigned_to: str | None = None,
                         idem: str | None = None) -> dict[str, Any]:
        """Returns the mission: ``completed`` once its last objective is."""
        result: dict[str, Any] = self._write("objective.update", idem, mission=mission, objective=objective,
                                             status=status, assigned_to=assigned_to)
        return result

    def fail(self, mission: str, *, idem: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._write("fail", idem, mission=mission)
        return result


class TelemetryHandle(_Handle):
    """The telemetry log (``Telemetry.*`` ops)."""

    class_name = "Telemetry"

    def log(self, agent: str, type: str, data: Any = None, *, idem: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._write("log", idem, agent=agent, type=type, data=data)
        return result

    def log_many(self, events: Sequence[Mapping[str, Any]], *, idem: str | None = None) -> int:
        """Log up to 128 ``{agent, type, data}`` events at once; returns how many."""
        return int(self._write("log_many", idem, events=[dict(event) for event in events])["logged"])

    def latest(self, agent: str, limit: int = 100) -> list[dict[str, Any]]:
        return list(self._read("latest", agent=agent, limit=limit)["events"])

    def by_type(self, type: str, *, start_ms: int | None = None, end_ms: int | None = None,
                limit: int = 1000) -> list[dict[str, Any]]:
        """Events of ``type`` with ``start_ms <= at <= end_ms``, newest first."""
        return list(self._read("by_type", type=type, start_ms=start_ms, end_ms=end_ms, limit=limit)["events"])

    def stats(self, agent: str) -> dict[str, dict[str, int]]:
        """Per type: ``{count, firstSeen, lastSeen}`` of the agent's retained events."""
        return dict(self._read("stats", agent=agent)["types"])
