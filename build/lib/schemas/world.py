"""Record types of the built-in object classes (``daemon.world``), besides ``AgentState``.

Each is at version 1. They sit under key ranges (an agent's event log, the
Foreman's registry, the missions, the telemetry log), are written with
``put_record`` and read back through their type, so a later version can
migrate them on read like any record.
"""

from __future__ import annotations

from schemas.agent import ITEM, POSITION, TASK, TASK_FIELDS
from schemas.records import ANY, INT, NUMBER, STR, Field, RecordType, Version, list_of, optional, shape

OBJECTIVE_TYPES = ("mine", "build", "explore", "defend")
OBJECTIVE_STATUSES = ("pending", "in_progress", "completed")
MISSION_STATUSES = ("planned", "active", "completed", "failed")


def _v1(name: str, *fields: Field) -> RecordType:
    return RecordType(name, (Version(1, fields),))


# Agent: its own event log, its deaths, its finished tasks.
AGENT_EVENT = _v1("AgentEvent", Field("type", STR), Field("data", ANY), Field("at", INT))
AGENT_DEATH = _v1(
    "AgentDeath",
    Field("position", POSITION),
    Field("inventory", list_of(ITEM)),
    Field("source", STR),
    Field("at", INT),
)
AGENT_TASK = _v1("AgentTask", *TASK_FIELDS)

# Foreman: one registry entry per agent, and the assignments it made.
FOREMAN_ENTRY = _v1(
    "ForemanEntry",
    Field("name", STR),
    Field("health", NUMBER),
    Field("position", POSITION),
    Field("currentTask", optional(TASK)),
    Field("status", STR),
    Field("lastSeen", INT),
    Field("heartbeatAt", INT),
)
ASSIGNMENT = _v1("Assignment", Field("seq", INT), Field("agent", STR), Field("task", TASK), Field("at", INT))

# MissionControl.
OBJECTIVE = shape(
    Field("id", STR),
    Field("type", STR),
    Field("target", ANY),
    Field("status", STR),
    Field("assignedTo", optional(STR), default=lambda: None),
)
MISSION = _v1(
    "Mission",
    Field("id", STR),
    Field("name", STR),
    Field("description", STR),
    Field("status", STR),
    Field("objectives", list_of(OBJECTIVE)),
    Field("assignedAgents", list_of(STR)),
    Field("createdAt", INT),
    Field("updatedAt", INT),
)

# Telemetry: the event log and the per-agent, per-type counts.
TELEMETRY_EVENT = _v1("TelemetryEvent", Field("agent", STR), Field("type", STR), Field("data", ANY), Field("at", INT))
TELEMETRY_STATS = _v1("TelemetryStats", Field("count", INT), Field("firstSeen", INT), Field("lastSeen", INT))
