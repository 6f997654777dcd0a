"""Python clients for Lodestone: synchronous, asyncio, and a change-stream subscriber."""

from __future__ import annotations

from bridge._common import DEFAULT_PUB, DEFAULT_RPC, target
from bridge.aio import AsyncClient
from bridge.client import Client, ObjectClient
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

__all__ = [
    "DEFAULT_PUB",
    "DEFAULT_RPC",
    "AsyncClient",
    "BadRequest",
    "Client",
    "Conflict",
    "Event",
    "Internal",
    "InvalidId",
    "LodestoneError",
    "NotFound",
    "ObjectClient",
    "Subscriber",
    "Timeout",
    "TooLarge",
    "Unavailable",
    "UnknownOp",
    "UnsupportedVersion",
    "target",
]
