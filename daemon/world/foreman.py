"""The ``Foreman`` class: a registry of agents kept by their heartbeats, and task assignment.

Keys of a Foreman object (one is enough: agents beat to ``global`` unless
their ``foreman`` option names another):

================================  ============================================================
``agent/<name>``                  ``ForemanEntry``: health, position, current task, status, last seen
``seen/<last seen ms>/<name>``    empty: the registry by last-seen time, so active agents are a range
``assignment/<seq>``              ``Assignment``: every assignment in order (newest 100,000 kept)
``assigned/<agent>\\0<seq>``       the same assignment, by agent
================================  ============================================================

An agent's ``lastSeen`` is the time of the last op that changed it, as its
heartbeat reports; it is active while that is within ``active_window_s``.
The in-memory form holds every registry entry in a :class:`~daemon.world._grid.Grid`,
built from ``agent/`` on first use and kept current by each heartbeat, so
``nearest`` reads no storage and walks only the cells near the point.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon import Args, NotFound, ObjectClass, ObjectRef, Options, Turn, op
from daemon.world._grid import Grid
from schemas.agent import TASK_TYPES
from schemas.world import ASSIGNMENT, FOREMAN_ENTRY

ASSIGNMENTS_KEPT = 100_000
_SEEN = "seen/"


def _seen_key(last_seen: int, name: str) -> str:
    return f"{_SEEN}{last_seen:013d}/{name}"


@dataclass(frozen=True)
class ForemanOptions:
    """``[classes.options.Foreman]``: see docs/classes.md."""

    active_window_ms: int = 60_000
    cell_size: float = 32.0

    @classmethod
    def parse(cls, options: Mapping[str, Any]) -> ForemanOptions:
        read = Options("Foreman", options, "active_window_s", "cell_size")
        return cls(round(read.number("active_window_s", 60) * 1000), read.number("cell_size", 32))


class Foreman(ObjectClass):
    """Knows every agent that has sent a heartbeat; finds the nearest; assigns tasks."""

    name = "Foreman"

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> None:
        ForemanOptions.parse(options)

    def __init__(self, ref: ObjectRef, options: Mapping[str, Any]) -> None:
        super().__init__(ref, options)
        self.settings = ForemanOptions.parse(options)
        self._grid: Grid | None = None

    def _index(self, turn: Turn) -> Grid:
        """The registry in memory, read from storage the first time."""
        if self._grid is None:
            grid = Grid(self.settings.cell_size)
            for _, value in turn.storage.list(prefix="agent/"):
                entry = FOREMAN_ENTRY.from_value(value)
                grid.put(entry["name"], entry)
            self._grid = grid
        return self._grid

    def _store(self, turn: Turn, entry: dict[str, Any]) -> None:
        """Write ``entry`` to the registry, its last-seen index and the grid."""
        grid = self._index(turn)
        name = entry["name"]
        turn.storage.put_record(f"agent/{name}", FOREMAN_ENTRY, entry)
        old = grid.entries.get(name)
        if old is None or old["lastSeen"] != entry["lastSeen"]:
            if old is not None:
                turn.storage.delete(_seen_key(old["lastSeen"], name))
            turn.storage.put(_seen_key(entry["lastSeen"], name), "")
        grid.put(name, entry)

    def _active(self, turn: Turn) -> Any:
        cutoff = turn.now_ms - self.settings.active_window_ms
        return lambda entry: entry["lastSeen"] >= cutoff

    @op()
    def heartbeat(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Record what an agent reports about itself (its alarm calls this)."""
        a = Args("Foreman.heartbeat", args, "agent", "health", "position", "current_task", "status", "last_seen")
        entry = {
            "name": a.name("agent"), "health": a.number("health"), "position": a.position("position"),
            "currentTask": a.value("current_task", None), "status": a.token("status", "idle"),
            "lastSeen": a.integer("last_seen", turn.now_ms, maximum=10**13 - 1), "heartbeatAt": turn.now_ms,
        }
        self._store(turn, entry)
        return {}

    @op(writes=False)
    def agent(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """One agent's registry entry, with whether it is active."""
        name = Args("Foreman.agent", args, "agent").name("agent")
        entry = self._index(turn).entries.get(name)
        if entry is None:
            raise NotFound(f"the Foreman {self.ref.name or self.ref.id} has had no heartbeat from agent {name}")
        return {**entry, "active": self._active(turn)(entry)}

    @op(writes=False)
    def active(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Agents seen within the active window, most recently seen first."""
        limit = Args("Foreman.active", args, "limit").limit(1000, 10_000)
        cutoff = turn.now_ms - self.settings.active_window_ms
        rows = turn.storage.list(start=_seen_key(max(cutoff, 0), ""), prefix=_SEEN, reverse=True, limit=limit)
        entries = self._index(turn).entries
        names = [key[len(_SEEN) + 14:] for key, _ in rows]
        return {"agents": [entries[name] for name in names if name in entries]}

    @op(writes=False)
    def nearest(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """The ``k`` active agents nearest to ``x, y, z`` (within ``max_distance``), nearest first."""
        a = Args("Foreman.nearest", args, "x", "y", "z", "k", "max_distance")
        point, k = a.point(), a.integer("k", 1, minimum=1, maximum=1000)
        max_distance = a.number("max_distance", positive=True) if a.has("max_distance") else None
        found = self._index(turn).nearest(point, k, self._active(turn), max_distance)
        return {"agents": [{**entry, "distance": distance} for distance, entry in found]}

    @op()
    def assign(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Give an agent a task: the agent's task list and the assignment record change together.

        The agent must have spawned (``NOT_FOUND`` otherwise, and nothing is
        recorded). Returns the assignment ``{seq, agent, task, at}``.
        """
        a = Args("Foreman.assign", args, "agent", "type", "target", "id")
        name, kind, target = a.name("agent"), a.choice("type", TASK_TYPES), a.value("target")
        task_args = {"type": kind, "target": target, **({"id": a.name("id", max_bytes=128)} if a.has("id") else {})}
        task = turn.call("Agent", name, "task.assign", **task_args)
        last = turn.storage.list(prefix="assignment/", reverse=True, limit=1)
        seq = int(last[0][0][len("assignment/"):]) + 1 if last else 1
        assignment = {"seq": seq, "agent": name, "task": task, "at": turn.now_ms}
        turn.storage.put_record(f"assignment/{seq:012d}", ASSIGNMENT, assignment)
        turn.storage.put_record(f"assigned/{name}\x00{seq:012d}", ASSIGNMENT, assignment)
        if seq > ASSIGNMENTS_KEPT:
            dropped = turn.storage.get_record(f"assignment/{seq - ASSIGNMENTS_KEPT:012d}", ASSIGNMENT)
            if dropped is not None:
                turn.storage.delete(f"assignment/{dropped['seq']:012d}")
                turn.storage.delete(f"assigned/{dropped['agent']}\x00{dropped['seq']:012d}")
        entry = self._index(turn).entries.get(name)
        if entry is not None and entry["currentTask"] is None:
            self._store(turn, {**entry, "currentTask": task})
        turn.publish(f"foreman.assigned.{name}", {"agent": name, "task": task, "seq": seq, "at": turn.now_ms})
        return assignment

    @op(writes=False)
    def assignments(self, turn: Turn, args: dict[str, Any]) -> dict[str, Any]:
        """Assignments made, newest first; with ``agent``, only that agent's."""
        a = Args("Foreman.assignments", args, "agent", "limit")
        limit = a.limit(100, 1000)
        prefix = f"assigned/{a.name('agent')}\x00" if a.has("agent") else "assignment/"
        rows = turn.storage.list(prefix=prefix, reverse=True, limit=limit)
        return {"assignments": [ASSIGNMENT.from_value(value) for _, value in rows]}
