"""The agent's state record, and its history as the source document tells it.

v1 was ``{health, position}``; v2 added ``inventory``; v3 added ``maxHealth``
and ``stats``. Field names are the source document's.
"""

from __future__ import annotations

from typing import Any

from schemas.records import INT, NUMBER, STR, Field, RecordType, Version, list_of, optional, shape

DEFAULT_MAX_HEALTH = 20

POSITION = shape(Field("x", NUMBER), Field("y", NUMBER), Field("z", NUMBER))
ITEM = shape(Field("type", STR), Field("count", INT), Field("slot", optional(INT), default=lambda: None))
STATS = shape(
    Field("blocksMined", INT, default=lambda: 0),
    Field("blocksPlaced", INT, default=lambda: 0),
    Field("distanceTraveled", NUMBER, default=lambda: 0.0),
)

_V1 = (Field("health", NUMBER), Field("position", POSITION))
_V2 = (*_V1, Field("inventory", list_of(ITEM)))
_V3 = (*_V2, Field("maxHealth", NUMBER), Field("stats", STATS))


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


AGENT_STATE = RecordType(
    "AgentState",
    (
        Version(1, _V1),
        Version(2, _V2, _v1_to_v2),
        Version(3, _V3, _v2_to_v3),
    ),
)
