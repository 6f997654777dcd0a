"""The built-in classes' record types: each round-trips, refuses a wrong shape, and reads from a listed value."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.records import RecordError, RecordType
from schemas.world import (
    AGENT_DEATH,
    AGENT_EVENT,
    AGENT_TASK,
    ASSIGNMENT,
    FOREMAN_ENTRY,
    MISSION,
    TELEMETRY_EVENT,
    TELEMETRY_STATS,
)

POSITION = {"x": 1.5, "y": 64, "z": -3}
TASK = {"id": "t1", "type": "mine", "target": {"block": "coal"}, "status": "pending", "createdAt": 5, "updatedAt": 6}
EXAMPLES: list[tuple[RecordType, dict[str, Any]]] = [
    (AGENT_EVENT, {"type": "damage", "data": {"amount": 2}, "at": 7}),
    (AGENT_DEATH, {"position": POSITION, "inventory": [{"type": "torch", "count": 1, "slot": 0}], "source": "lava",
                   "at": 9}),
    (AGENT_TASK, TASK),
    (FOREMAN_ENTRY, {"name": "steve", "health": 20, "position": POSITION, "currentTask": None, "status": "idle",
                     "lastSeen": 1, "heartbeatAt": 2}),
    (ASSIGNMENT, {"seq": 1, "agent": "steve", "task": TASK, "at": 3}),
    (MISSION, {"id": "m1", "name": "n", "description": "", "status": "planned",
               "objectives": [{"id": "o1", "type": "build", "target": "hut", "status": "pending",
                               "assignedTo": None}],
               "assignedAgents": [], "createdAt": 1, "updatedAt": 1}),
    (TELEMETRY_EVENT, {"agent": "steve", "type": "mine", "data": None, "at": 4}),
    (TELEMETRY_STATS, {"count": 2, "firstSeen": 1, "lastSeen": 4}),
]


@pytest.mark.parametrize(("record_type", "value"), EXAMPLES, ids=[t.name for t, _ in EXAMPLES])
def test_round_trip_and_listed_values(record_type: RecordType, value: dict[str, Any]) -> None:
    encoded = record_type.encode(value)
    assert record_type.decode(encoded) == value
    assert record_type.from_value({"_type": record_type.name, "_v": 1, **value}) == value
    broken = {key: item for key, item in value.items() if key != next(iter(value))}
    with pytest.raises(RecordError, match="is missing"):
        record_type.encode(broken)


def test_a_foreman_entry_names_a_bad_current_task_field() -> None:
    value = dict(EXAMPLES[3][1], currentTask={"id": "t1"})
    with pytest.raises(RecordError, match=r"currentTask.type is missing"):
        FOREMAN_ENTRY.encode(value)
