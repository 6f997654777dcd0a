"""The ``health`` op: is the daemon serving, and is its storage in good shape.

A reply at all means the server loop is running; its fields say how storage
is doing, for a probe, a dashboard or an operator. Requests wait in ZeroMQ's
queue until the next cycle takes them (all of them, up to
``cycle_max_requests``), so there is no other queue to report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.storage import Store

# Above this share of max_map_size_mb, health warns: the map cannot grow much more.
_MAP_WARN_RATIO = 0.9


def health_report(
    store: Store, version: str, counters: Mapping[str, int], last_commit: int, now_ms: int
) -> dict[str, Any]:
    """The health report (docs/protocol.md, ``health``); raises ``Unavailable`` if storage is closed."""
    storage = store.stats()
    max_map = store.options.max_map_size
    warnings = []
    if storage["map_used"] > _MAP_WARN_RATIO * max_map:
        warnings.append(
            f"the data map uses {storage['map_used'] >> 20} MiB of max_map_size_mb {max_map >> 20}; raise it"
        )
    return {
        "status": "warning" if warnings else "ok",
        "warnings": warnings,
        "version": version,
        "storage_open": True,
        "commit_seq": storage["commit_seq"],
        "last_commit_ms": last_commit,
        "last_commit_age_ms": now_ms - last_commit if last_commit else None,
        "objects_stored": storage["objects_stored"],
        "objects_resident": storage["object_handles"],
        "alarms_stored": storage.get("alarms_stored", 0),
        "map_used_bytes": storage["map_used"],
        "map_size_bytes": storage["map_size"],
        "requests": counters.get("requests", 0),
        "cycles": counters.get("cycles", 0),
    }
