"""The ``cluster`` map of the ``health`` op: this node's lease, what it knows, what is moving."""

from __future__ import annotations

from typing import Any

from daemon.cluster.directory import Directory
from daemon.cluster.lease import Lease
from daemon.cluster.moves import Moves
from daemon.config import ClusterSettings


def cluster_report(settings: ClusterSettings, lease: Lease, directory: Directory, moves: Moves,
                   writable: bool) -> dict[str, Any]:
    """The node's cluster state, as docs/cluster.md lists it."""
    return {
        "name": settings.name, "node": settings.node_id, "writable": writable,
        "lease": {"id": format(lease.lease_id, "x"), "ttl_s": lease.ttl_s,
                  "remaining_ms": int(lease.remaining_s() * 1000), "generation": lease.generation,
                  "renewals": lease.renewals, "failures": lease.failures, "last_error": lease.last_error},
        "nodes_live": sorted(directory.nodes),
        "objects_owned": sum(1 for owner in directory.owners.values() if owner.node == settings.node_id),
        "objects_known": len(directory.owners), "leaving": len(moves.leaving), "arriving": len(moves.arriving),
        "revision": directory.revision,
    }
