"""Who owns what, and which nodes are live: the node's copy of the cluster's etcd records.

The server loop reads and changes a :class:`Directory` (it is not shared
with other threads); a :class:`Watcher` thread follows etcd and posts what
changed, as a full :class:`Snapshot` after every (re)connection and as
:class:`Changes` in between, for the loop to apply between cycles.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from daemon.cluster.etcd import Etcd, EtcdError, EtcdUnavailable, KeyValue
from daemon.cluster.records import Keys, NodeInfo, Owner

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """Every owner record and live node, as of ``revision``."""

    revision: int
    owners: dict[str, Owner] = field(default_factory=dict)
    nodes: dict[str, NodeInfo] = field(default_factory=dict)


@dataclass
class Changes:
    """Owner records written and nodes come or gone since the last message, as of ``revision``."""

    revision: int
    owners: dict[str, Owner] = field(default_factory=dict)
    nodes: dict[str, NodeInfo | None] = field(default_factory=dict)


class Directory:
    """Owner records by object id, and the live nodes; changed only by the server loop."""

    def __init__(self) -> None:
        self.owners: dict[str, Owner] = {}
        self.nodes: dict[str, NodeInfo] = {}
        self.revision = 0

    def owner(self, object_id: str) -> Owner | None:
        return self.owners.get(object_id)

    def learn(self, object_id: str, owner: Owner) -> tuple[bool, Owner | None]:
        """Take ``owner`` if it is newer than the record held; return whether it did, and the record before."""
        held = self.owners.get(object_id)
        if held is not None and held.epoch >= owner.epoch:
            return False, held
        self.owners[object_id] = owner
        return True, held

    def count_by_node(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for owner in self.owners.values():
            key = owner.node or "(unowned)"
            counts[key] = counts.get(key, 0) + 1
        return counts


def read_snapshot(etcd: Etcd, keys: Keys) -> Snapshot:
    """Every owner record and node record under the cluster's root, at one revision."""
    kvs, revision = etcd.range(keys.root, prefix=True)
    snapshot = Snapshot(revision)
    for kv in kvs:
        _take(keys, kv, snapshot.owners, snapshot.nodes)
    return snapshot


def _take(keys: Keys, kv: KeyValue, owners: dict[str, Owner], nodes: dict[str, NodeInfo]) -> None:
    try:
        if kv.key.startswith(keys.owners):
            owners[keys.owner_ref(kv.key)[1]] = Owner.decode(kv.value, kv.mod_revision)
        elif kv.key.startswith(keys.nodes):
            info = NodeInfo.decode(kv.value)
            nodes[info.node] = info
    except (ValueError, KeyError) as exc:
        log.warning("ignoring etcd record %r: %s", kv.key, exc)


class Watcher:
    """A thread that follows the cluster's records and posts :class:`Snapshot` and :class:`Changes`."""

    def __init__(self, etcd: Etcd, keys: Keys, post: Callable[[Snapshot | Changes], None], revision: int) -> None:
        self._etcd = etcd
        self._keys = keys
        self._post = post
        self._revision = revision
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lodestone-watch", daemon=True)
        self.restarts = 0

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        resync = False
        while not self._stop.is_set():
            if resync:  # the history since our revision is gone (compacted): read everything again
                try:
                    snapshot = read_snapshot(self._etcd, self._keys)
                except (EtcdUnavailable, EtcdError) as exc:
                    log.debug("cannot read the cluster's records yet: %s", exc)
                    if self._stop.wait(0.5):
                        return
                    continue
                self._revision = snapshot.revision
                self._post(snapshot)
                resync = False
            try:
                for revision, events in self._etcd.watch(self._keys.root, self._revision + 1):
                    if self._stop.is_set():
                        return
                    self._deliver(revision, events)
            except (EtcdUnavailable, EtcdError) as exc:
                # A quiet watch times out and resumes where it was; a compacted one starts over.
                resync = "compact" in str(exc)
                log.debug("watch ended: %s", exc)
            self.restarts += 1
            if self._stop.wait(0.2):
                return

    def _deliver(self, revision: int, events: list[tuple[str, KeyValue]]) -> None:
        if not events:
            return
        changes = Changes(revision)
        for kind, kv in events:
            if kind == "DELETE":
                if kv.key.startswith(self._keys.nodes):
                    changes.nodes[kv.key[len(self._keys.nodes):].decode()] = None
                continue
            nodes: dict[str, NodeInfo] = {}
            _take(self._keys, kv, changes.owners, nodes)
            changes.nodes.update(nodes)
        self._revision = max(self._revision, revision)
        self._post(changes)
