"""Lodestone: a durable-state daemon for game AI agents, on LMDB and ZeroMQ.

Each object (an agent, a foreman, any entity) has a unique id, runs one turn
at a time, keeps its state in its own LMDB sub-database, and publishes what
changed. ``lodestone serve`` runs it; ``docs/`` describes it.

This package's names are the class author's API (docs/classes.md): what a
module of object classes imports. Everything else is private to the daemon.
"""

from __future__ import annotations

__version__ = "0.1.0"

from daemon.errors import (
    BadData,
    BadRequest,
    ConfigError,
    Conflict,
    Forbidden,
    InvalidId,
    LodestoneError,
    NotFound,
    TooLarge,
    Unavailable,
    UnknownOp,
)
from daemon.model import ObjectRef
from daemon.runtime.args import MAX_ITEMS, MAX_NAME_BYTES, Args, Options, check_name
from daemon.runtime.classes import AlarmInfo, ObjectClass, Turn, op
from daemon.runtime.object_storage import ObjectStorage

__all__ = [
    "MAX_ITEMS",
    "MAX_NAME_BYTES",
    "AlarmInfo",
    "Args",
    "BadData",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "InvalidId",
    "LodestoneError",
    "NotFound",
    "ObjectClass",
    "ObjectRef",
    "ObjectStorage",
    "Options",
    "TooLarge",
    "Turn",
    "Unavailable",
    "UnknownOp",
    "__version__",
    "check_name",
    "op",
]
