"""The agent's state record, and its history as the source document tells it.

v1 was ``{health, position}``; v2 added ``inventory``; v3 added ``maxHealth``
and ``stats``; v4 (Lodestone's built-in ``Agent`` class) added ``name``, the
open ``tasks``, ``createdAt`` and ``lastSeen``, and counts deaths and tasks in
``stats``. Field names are the source document's.
"""

from __future__ import annotations

from typing import Any

from schemas.records import ANY, INT, NUMBER, STR, Field, RecordType, Version, list_of, optional, shape

DEFAULT_MAX_HEALTH = 20
TASK_TYPES = ("mine", "build", "move", "attack")
TASK_STATUSES = ("pending", "in_progress", "completed", "failed")

POSITION = shape(Field("x", NUMBER), Field("y", NUMBER), Field("z", NUMBER))
ITEM = shape(Field("type", STR), Field("count", INT), Field("slot", optional(INT), default=lambda: None))
STATS = shape(
    Field("blocksMined", INT, default=lambda: 0),
    Field("blocksPlaced", INT, default=lambda: 0),
    Field("distanceTraveled", NUMBER, default=lambda: 0.0),
)
STATS_V4 = shape(
    Field("blocksMined", INT, default=lambda: 0),
    Field("blocksPlaced", INT, default=lambda: 0),
    Field("distanceTraveled", NUMBER, default=lambda: 0.0),
    Field("deaths", INT, default=lambda: 0),
    Field("tasksAssigned", INT, default=lambda: 0),
)
TASK_FIELDS = (
    Field("id", STR),
    Field("type", STR),
    Field("target", ANY),
    Field("status", STR),
    Field("createdAt", INT),
    Field("updatedAt", INT),
)
TASK = shape(*TASK_FIELDS)

_V1 = (Field("health", NUMBER), Field("position", POSITION))
_V2 = (*_V1, Field("inventory", list_of(ITEM)))
_V3 = (*_V2, Field("maxHealth", NUMBER), Field("stats", STATS))
_V4 = (
    Field("name", STR),
    *_V2,
    Field("maxHealth", NUMBER),
    Field("stats", STATS_V4),
    Field("tasks", list_of(TASK)),
    Field("createdAt", INT),
    Field("lastSeen", INT),
)


def _v1_to_v2(state: dict[str, Any]) -> dict[str, Any]:
    """v2 added the inventory: an agent from before it carries nothing."""
    return {**state, "inventory": []}


def _v2_to_v3(state: dict[str, Any]) -> dict[str, Any]:
    """v3 added max health (20, or the health if higher) and zeroed stats."""
    return {
        **state,
        "maxHealth": max(DEFAULT_MAX_HEALTH, state["health"]),
        "stats": {"blocksMined": 0, "blocksPlaced": 0, "distanceTraveled": 0.0},
    }


def _v3_to_v4(state: dict[str, Any]) -> dict[str, Any]:
    """v4 added the name (unknown before: empty, the Agent class fills in its object name),
    no open tasks, unknown (0) creation and last-seen times, and zero deaths and tasks."""
    return {
        "name": "",
        **state,
        "stats": {**state["stats"], "deaths": 0, "tasksAssigned": 0},
        "tasks": [],
        "createdAt": 0,
        "lastSeen": 0,
    }


AGENT_STATE = RecordType(
    "AgentState",
    (
        Version(1, _V1),
        Version(2, _V2, _v1_to_v2),
        Version(3, _V3, _v2_to_v3),
        Version(4, _V4, _v3_to_v4),
    ),
)
