"""Python clients for Lodestone: synchronous, asyncio, and a change-stream subscriber."""

from __future__ import annotations

from bridge._common import DEFAULT_PUB, DEFAULT_RPC, target
from bridge.aio import AsyncClient
from bridge.batch import Batch, BatchCall
from bridge.client import Client, ObjectClient
from bridge.curve import CurveKeys
from bridge.errors import (
    BadRequest,
    Conflict,
    Internal,
    InvalidId,
    LodestoneError,
    NotFound,
    Timeout,
    TooLarge,
    Unavailable,
    UnknownOp,
    UnsupportedVersion,
)
from bridge.subscriber import Event, Subscriber
from bridge.world import AgentHandle, ForemanHandle, MissionControlHandle, TelemetryHandle

__all__ = [
    "DEFAULT_PUB",
    "DEFAULT_RPC",
    "AgentHandle",
    "AsyncClient",
    "BadRequest",
    "Batch",
    "BatchCall",
    "Client",
    "Conflict",
    "CurveKeys",
    "Event",
    "ForemanHandle",
    "Internal",
    "InvalidId",
    "LodestoneError",
    "MissionControlHandle",
    "NotFound",
    "ObjectClient",
    "Subscriber",
    "TelemetryHandle",
    "Timeout",
    "TooLarge",
    "Unavailable",
    "UnknownOp",
    "UnsupportedVersion",
    "target",
]
