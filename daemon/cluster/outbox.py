"""Calls from a turn to a ``home`` object on another node: written in the caller's commit, delivered after.

A turn's ``Turn.call`` to a write op of a ``home`` object that another node
owns does not run in the turn (one turn cannot change objects on two
nodes): the runtime writes it into this node's outbox object
(``LodestoneOutbox``, named after the node) in the same commit as the rest
of the turn, and ``Turn.call`` returns ``None``. After the commit the node
sends each entry to the object's owner (``cluster.forward``) under the
idempotency key the entry carries, which names the calling turn; the entry
is deleted once the owner answered. A node that crashes first sends it
again, and the owner's idempotency record makes it apply once (within
``idempotency_window_s``). Delivery is at least once and not atomic with
the caller: the caller's writes are durable before the call runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from daemon.cluster.directory import Directory
from daemon.cluster.peers import Peers
from daemon.model import ObjectRef
from daemon.storage import Store, transfer

log = logging.getLogger(__name__)

OUTBOX_CLASS = "LodestoneOutbox"
RETRY_S = 1.0


class Outbox:
    """This node's outbox object and the deliveries in flight."""

    def __init__(self, node: str, ref: ObjectRef, store: Store, directory: Directory, peers: Peers,
                 counters: Any, step: Callable[[str], None]) -> None:
        self.node = node
        self.ref = ref
        self._store = store
        self._directory = directory
        self._peers = peers
        self._counters = counters
        self._step = step
        self.dirty = True  # entries left by a previous run go out first
        self._in_flight: set[str] = set()
        self._retry_at = 0.0
        # Keys read so far, and whether entries not read yet come from a cycle whose replies the
        # output gate withheld: those were written by a node that may have lost its objects.
        self._seen: set[str] = set()
        self.discard_unseen = False

    def withheld(self) -> None:
        """The output gate withheld a cycle: the entries it wrote are not sent, but discarded."""
        self.discard_unseen = True
        self.dirty = True

    def pump(self, now: float) -> None:
        """Send the entries not in flight yet (after a turn queued one, or when a retry is due)."""
        if not self.dirty and not (self._retry_at and now >= self._retry_at):
            return
        self.dirty, self._retry_at = False, 0.0
        entries = transfer.entries(self._store, self.ref.id)
        if self.discard_unseen:
            self.discard_unseen = False
            stale = [key for key, _ in entries if key not in self._seen]
            if stale:
                log.warning("discarding %d queued calls written after this node's lease may have expired", len(stale))
                self._counters["cluster.outbox_discarded"] += len(stale)
                transfer.delete_entries(self._store, self.ref.id, stale)
                entries = [(key, entry) for key, entry in entries if key in self._seen]
        for key, entry in entries:
            self._seen.add(key)
            if key in self._in_flight:
                continue
            owner = self._directory.owners.get(entry["id"])
            node = owner.node if owner is not None and owner.node is not None else self.node
            info = self._directory.nodes.get(node)
            if info is None:  # its owner is down: it waits for it
                self._retry_at = now + RETRY_S
                continue
            target = {"class": entry["class"], "name": entry["name"]} if entry["name"] is not None else \
                {"class": entry["class"], "id": entry["id"]}
            request = {"op": f"{entry['class']}.{entry['method']}", "target": target, "args": entry["args"],
                       "idem": entry["idem"]}
            self._in_flight.add(key)
            self._peers.call(info.rpc, request, self._on_answer(key))

    def _on_answer(self, key: str) -> Callable[[dict[str, Any] | None], None]:
        return lambda reply: self._answered(key, reply)

    def _answered(self, key: str, reply: dict[str, Any] | None) -> None:
        self._in_flight.discard(key)
        if reply is None or (not reply["ok"] and reply["error"]["retryable"]):
            self._retry_at = time.monotonic() + RETRY_S
            return
        if reply["ok"]:
            self._counters["cluster.outbox_delivered"] += 1
        else:
            log.warning("a queued call was refused by its object's owner and is dropped: %s", reply["error"])
            self._counters["cluster.outbox_refused"] += 1
        self._step("outbox.delivered")
        transfer.delete_entries(self._store, self.ref.id, [key])
        self._seen.discard(key)
