"""The operator's view of a cluster, straight from etcd: ``lodestone cluster status | where | evict``.

These read and write the cluster's records with the same transactions the
nodes use; they need no running node.
"""

from __future__ import annotations

import time
from typing import Any

from daemon.cluster.etcd import Etcd, compare_absent, compare_mod, put
from daemon.cluster.records import Keys, NodeInfo, Owner, lost_record


class EvictRefused(Exception):
    """The node to evict is live (it holds its lease): stop it, or wait for its lease to expire."""


def status(etcd: Etcd, keys: Keys) -> dict[str, Any]:
    """Nodes (with their lease and its time to live), and how many objects each owns."""
    kvs, revision = etcd.range(keys.root, prefix=True)
    nodes: dict[str, Any] = {}
    owned: dict[str, int] = {}
    for kv in kvs:
        if kv.key.startswith(keys.nodes):
            info = NodeInfo.decode(kv.value)
            ttl = etcd.call("/v3/lease/timetolive", {"ID": str(kv.lease)}).get("TTL", 0)
            nodes[info.node] = {"rpc": info.rpc, "pub": info.pub, "lease": format(kv.lease, "x"),
                                "lease_ttl_s": int(ttl)}
        elif kv.key.startswith(keys.owners):
            owner = Owner.decode(kv.value, kv.mod_revision)
            key = owner.node if owner.node is not None else f"(evicted from {owner.evicted})"
            owned[key] = owned.get(key, 0) + 1
    for node in nodes:
        nodes[node]["objects"] = owned.get(node, 0)
    down = {node: count for node, count in owned.items() if node not in nodes}
    return {"cluster": keys.cluster, "revision": revision, "nodes": nodes, "objects_of_nodes_down": down}


def where(etcd: Etcd, keys: Keys, class_name: str, name: str) -> list[dict[str, Any]]:
    """The owner records of objects of ``class_name`` called ``name`` (one, or none if it was never used)."""
    kvs, _ = etcd.range(keys.owners + f"{class_name}/".encode(), prefix=True)
    nodes, _ = etcd.range(keys.nodes, prefix=True)
    live = {NodeInfo.decode(kv.value).node for kv in nodes}
    found = []
    for kv in kvs:
        owner = Owner.decode(kv.value, kv.mod_revision)
        if owner.name == name:
            found.append({"class": class_name, "name": name, "id": keys.owner_ref(kv.key)[1], "node": owner.node,
                          "epoch": owner.epoch, "node_live": owner.node in live, "evicted_from": owner.evicted})
    return found


def evict(etcd: Etcd, keys: Keys, node: str, now_ms: int | None = None) -> list[dict[str, Any]]:
    """Give up every object ``node`` owns: their owner records become claimable, their loss is recorded.

    Each object changes in its own transaction that also checks that the
    node still holds no lease, so a node that comes back mid-way keeps what
    was not evicted yet. Raises :class:`EvictRefused` if the node is live.
    When it returns, the node quarantines its copies of what was evicted.
    """
    at = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    if etcd.range(keys.node(node))[0]:
        raise EvictRefused(f"node {node} is live (it holds its etcd lease); stop it first, or wait until its lease "
                           "expires")
    kvs, _ = etcd.range(keys.owners, prefix=True)
    evicted = []
    for kv in kvs:
        owner = Owner.decode(kv.value, kv.mod_revision)
        if owner.node != node:
            continue
        class_name, object_id = keys.owner_ref(kv.key)
        tombstone = Owner(class_name, owner.name, None, evicted=node)
        result = etcd.txn(
            [compare_mod(kv.key, kv.mod_revision), compare_absent(keys.node(node))],
            [put(kv.key, tombstone.encode()), put(keys.lost(node, class_name, object_id),
                                                  lost_record(owner.epoch, owner.name, at))],
        )
        if result.succeeded:
            evicted.append({"class": class_name, "id": object_id, "name": owner.name, "epoch": owner.epoch})
        elif etcd.range(keys.node(node))[0]:
            raise EvictRefused(f"node {node} came back during the eviction; {len(evicted)} objects were evicted")
    return evicted
