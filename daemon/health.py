"""The ``health`` op: is the daemon serving, and is its storage in good shape.

A reply at all means the server loop is running; its fields say how storage
is doing, for a probe, a dashboard or an operator. Requests wait in ZeroMQ's
queue until the next cycle takes them (all of them, up to
``cycle_max_requests``), so there is no other queue to report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daemon.objects import ObjectStorage

if TYPE_CHECKING:
    from daemon.runtime import Runtime

# Above this share of max_map_size_mb, health warns: the map cannot grow much more.
_MAP_WARN_RATIO = 0.9


def health(runtime: Runtime, _: ObjectStorage | None, args: dict[str, Any]) -> Any:
    """The health report (docs/protocol.md, ``health``); raises ``Unavailable`` if storage is closed."""
    storage = runtime.store.stats()
    last_commit = runtime.last_commit_ms
    max_map = runtime.store.options.max_map_size
    warnings = []
    if storage["map_used"] > _MAP_WARN_RATIO * max_map:
        warnings.append(
            f"the data map uses {storage['map_used'] >> 20} MiB of max_map_size_mb {max_map >> 20}; raise it"
        )
    return {
        "status": "warning" if warnings else "ok",
        "warnings": warnings,
        "version": runtime.version,
        "storage_open": True,
        "commit_seq": storage["commit_seq"],
        "last_commit_ms": last_commit,
        "last_commit_age_ms": runtime.clock() - last_commit if last_commit else None,
        "objects_stored": storage["objects_stored"],
        "objects_resident": storage["object_handles"],
        "alarms_stored": storage.get("alarms_stored", 0),
        "map_used_bytes": storage["map_used"],
        "map_size_bytes": storage["map_size"],
        "requests": runtime.counters["requests"],
        "cycles": runtime.counters["cycles"],
    }
