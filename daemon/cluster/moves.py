"""Objects on the move: handoffs out and in, claims, fencing, and the requests that wait for them.

All of it runs on the server loop, between cycles; what blocks (etcd
transactions, the peer's export) runs elsewhere and comes back as an
outcome. The handoff of an object from node A to node B:

1. B holds the request and sends A ``cluster.export`` (through the courier);
2. A stops the object (requests for it wait at A), and after the cycle in
   flight has committed, writes a ``leaving`` marker (taking the alarm out
   of the schedule) and answers with the object's image and A's epoch;
3. B stores the image as ``pending`` under that epoch (fsync'd);
4. B's etcd transaction moves the owner record from ``(A, epoch)`` to B
   (:func:`~daemon.cluster.ownership.take_over`);
5. B installs the image (alarm and all) and serves what it held; A, seeing
   the record move from its epoch (the watch), drops its copy and sends
   what waited at A on to wherever the object now is.

A crash anywhere is settled by :mod:`daemon.cluster.reconcile` at start;
a handoff that stalls is ended by A fencing itself (a new epoch) after
:data:`HANDOFF_TIMEOUT_S`.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from daemon.cluster import ownership
from daemon.cluster.directory import Directory
from daemon.cluster.etcd import Etcd
from daemon.cluster.records import Keys, Owner
from daemon.cluster.tasks import Workers
from daemon.errors import BadData, Unavailable, to_wire
from daemon.model import ObjectRef, Request
from daemon.runtime import Runtime
from daemon.storage import Store, transfer

log = logging.getLogger(__name__)

HANDOFF_TIMEOUT_S = 5.0
# How long a request waits for its object to arrive before it is refused (retryable).
HOLD_LIMIT_S = 5.0
RETRY_DELAY_S = 0.05
Envelope = list[bytes]


class Waiting(NamedTuple):
    """A request waiting for its object, and when it arrived.

    ``forwarded``: a peer forwarded it here (``cluster.forward``), so it is
    never forwarded again, however long it waited; see docs/cluster.md.
    """

    envelope: Envelope
    request: Request
    arrival: float
    forwarded: bool = False


@dataclass
class Leaving:
    """An object this node exported and no longer serves, under ``epoch``, to ``to``."""

    ref: ObjectRef
    epoch: int
    to: str
    since: float
    held: list[Waiting] = field(default_factory=list)
    fencing: bool = False


@dataclass
class Arriving:
    """An object this node is taking: a claim, or a handoff from ``from_node`` at ``epoch``."""

    ref: ObjectRef
    kind: str
    since: float
    from_node: str | None = None
    epoch: int = 0
    held: list[Waiting] = field(default_factory=list)
    seq: int = 0


class Moves:
    """The moving objects of one node and what waits for them."""

    def __init__(self, node: str, store: Store, runtime: Runtime, etcd: Etcd, keys: Keys,
                 directory: Directory, workers: Workers, counters: Any, rearm: Callable[[], None],
                 wake: Callable[[], None], crash_at: str | None = None) -> None:
        self.node = node
        self._store = store
        self._runtime = runtime
        self._etcd = etcd
        self._keys = keys
        self.directory = directory
        self._workers = workers
        self._counters = counters
        self.rearm = rearm
        self._wake = wake
        self._crash_at = crash_at
        self.leaving: dict[str, Leaving] = {}
        self.arriving: dict[str, Arriving] = {}
        # Requests to route again at the next cycle, oldest first, and when.
        self.ready: list[tuple[float, Waiting]] = []
        # Objects whose move failed: when their wait list is routed again, and the list. Later
        # requests for the object join it (see busy()), so none overtakes an older one meanwhile.
        self.backing_off: dict[str, tuple[float, list[Waiting]]] = {}

    # test hook ---------------------------------------------------------------
    def step(self, name: str) -> None:
        """A named step; the test hook kills the process here (``name``) or stops it once (``stop:name``)."""
        if self._crash_at == name:
            log.warning("crashing at cluster step %s (test hook)", name)
            os.kill(os.getpid(), signal.SIGKILL)
        elif self._crash_at == f"stop:{name}":
            log.warning("stopping at cluster step %s (test hook)", name)
            self._crash_at = None
            os.kill(os.getpid(), signal.SIGSTOP)

    # waiting requests ----------------------------------------------------------
    def busy(self, object_id: str) -> list[Waiting] | None:
        """The wait list of an object on the move or backing off after a failed move; ``None`` if neither."""
        moving = self.leaving.get(object_id) or self.arriving.get(object_id)
        if moving is not None:
            return moving.held
        backing_off = self.backing_off.get(object_id)
        return None if backing_off is None else backing_off[1]

    def release(self, held: list[Waiting]) -> None:
        """Route ``held`` again at the next cycle."""
        at = time.monotonic()
        self.ready.extend((at, waiting) for waiting in held)

    def retry_later(self, object_id: str, held: list[Waiting]) -> None:
        """Route ``held`` again after :data:`RETRY_DELAY_S`, the move of ``object_id`` having failed.

        Until then the object backs off: :meth:`busy` gives its wait list, so
        a request for it that arrives meanwhile waits behind ``held`` instead
        of starting a move of its own and running first.
        """
        if not held:
            return
        self.backing_off[object_id] = (time.monotonic() + RETRY_DELAY_S, held)
        timer = threading.Timer(RETRY_DELAY_S, self._wake)
        timer.daemon = True
        timer.start()

    def take_ready(self, now: float) -> list[Waiting]:
        """The waiting requests due to be routed again now, in arrival order."""
        if not self.ready and not self.backing_off:
            return []
        due = [waiting for at, waiting in self.ready if at <= now]
        self.ready = [(at, waiting) for at, waiting in self.ready if at > now]
        for object_id, (at, held) in list(self.backing_off.items()):
            if at <= now:
                del self.backing_off[object_id]
                due.extend(held)
        due.sort(key=lambda waiting: waiting.arrival)
        return due

    # claims ---------------------------------------------------------------------
    def claim(self, ref: ObjectRef, prior: Owner | None, held: list[Waiting]) -> None:
        """Take an object nobody owns; ``held`` waits for the outcome."""
        self.arriving[ref.id] = Arriving(ref, "claim", time.monotonic(), held=held)
        etcd, keys, node = self._etcd, self._keys, self.node
        self._workers.submit(("claimed", ref.id), lambda: ownership.claim(etcd, keys, ref, node, prior))

    def claimed(self, object_id: str, outcome: Any) -> None:
        arriving = self.arriving.pop(object_id, None)
        if arriving is None:
            return
        won, owner = (False, None) if isinstance(outcome, Exception) else outcome
        if owner is not None:
            self.learn(object_id, owner)
        if won:
            self._counters["cluster.claims"] += 1
            self.release(arriving.held)
        else:
            self.retry_later(object_id, arriving.held)

    # handoff, receiving side ----------------------------------------------------------
    def arrive(self, ref: ObjectRef, owner: Owner, seq: int, held: list[Waiting]) -> None:
        """Start taking ``ref`` from its owner; the export request went out tagged ``seq``."""
        assert owner.node is not None
        self.arriving[ref.id] = Arriving(ref, "move", time.monotonic(), owner.node, owner.epoch, held, seq)

    def exported(self, object_id: str, seq: int, reply: dict[str, Any] | None) -> None:
        """The owner answered our ``cluster.export`` (``None``: it did not)."""
        arriving = self.arriving.get(object_id)
        if arriving is None or arriving.seq != seq:
            return
        if reply is None or not reply.get("ok"):
            del self.arriving[object_id]
            reason = "no answer" if reply is None else reply["error"]["message"]
            log.info("%s %s: %s did not hand it over: %s", arriving.ref.class_name, arriving.ref.id,
                     arriving.from_node, reason)
            self.retry_later(object_id, arriving.held)
            return
        result = reply["result"]
        arriving.epoch = int(result["epoch"])
        assert arriving.from_node is not None
        transfer.store_pending(self._store, result["image"], object_id, arriving.epoch, arriving.from_node)
        self.step("import.stored")
        etcd, keys, node, ref, source, epoch = (self._etcd, self._keys, self.node, arriving.ref,
                                                arriving.from_node, arriving.epoch)
        self._workers.submit(("taken", object_id), lambda: ownership.take_over(etcd, keys, ref, node, source, epoch))

    def taken(self, object_id: str, outcome: Any) -> None:
        """The take-over transaction's outcome: install the pending image, or discard it."""
        arriving = self.arriving.get(object_id)
        if arriving is None:
            return
        if isinstance(outcome, Exception):
            # Whether the transaction committed is unknown: the image stays pending until the record says.
            log.warning("%s %s: the ownership change's outcome is unknown (%s); reading the owner record",
                        arriving.ref.class_name, object_id, outcome)
            self._workers.submit(("taken", object_id), self._settle_call(arriving))
            return
        del self.arriving[object_id]
        won, owner = outcome
        if not won:
            transfer.discard_pending(self._store, object_id)
            if owner is not None:
                self.learn(object_id, owner)
            self.retry_later(object_id, arriving.held)
            return
        self.step("import.committed")
        image = transfer.install_pending(self._store, object_id)
        self._runtime.residents.drop(object_id)
        assert owner is not None
        self.learn(object_id, owner)
        self._counters["cluster.handoffs_in"] += 1
        if image is not None and image.alarm is not None:
            self.rearm()
        self.step("import.installed")
        self.release(arriving.held)

    def _settle_call(self, arriving: Arriving) -> Callable[[], tuple[bool, Owner | None]]:
        etcd, keys, node, ref, source, epoch = (self._etcd, self._keys, self.node, arriving.ref,
                                                arriving.from_node, arriving.epoch)

        def settle() -> tuple[bool, Owner | None]:
            time.sleep(RETRY_DELAY_S)
            owner = ownership.read(etcd, keys, ref)
            won = owner is not None and owner.node == node and owner.from_node == source and owner.from_epoch == epoch
            return won, owner

        return settle

    # handoff, sending side -------------------------------------------------------------
    def accept_export(self, ref: ObjectRef, to: str, writable: bool) -> None:
        """Stop serving ``ref`` for a handoff to ``to`` (the export runs before the next cycle); raise if it cannot go.

        Raises ``Unavailable`` unless this node owns ``ref``, may acknowledge
        writes, and the object is not already moving.
        """
        owner = self.directory.owners.get(ref.id)
        if not writable or owner is None or owner.node != self.node or self.busy(ref.id) is not None:
            raise Unavailable(f"node {self.node} cannot hand {ref.class_name} {ref.name or ref.id} over now "
                              f"(owner: {owner.node if owner else None}, moving: {self.busy(ref.id) is not None}); "
                              "retry")
        self.leaving[ref.id] = Leaving(ref, owner.epoch, to, time.monotonic())

    def export(self, ref: ObjectRef, request: Request, max_bytes: int) -> dict[str, Any]:
        """Write the ``leaving`` marker and return the reply carrying the image (the cycles before have committed)."""
        leaving = self.leaving.get(ref.id)
        if leaving is None:  # given up meanwhile
            return to_wire(request.id, Unavailable(f"{ref.class_name} {ref.name or ref.id} is not leaving; retry"))
        image = transfer.mark_leaving(self._store, ref.class_name, ref.id, ref.name, leaving.epoch, leaving.to)
        self._runtime.residents.drop(ref.id)
        self.step("export.marked")
        body = image.encode()
        if len(body) > max_bytes:
            self.resume(ref.id)
            return to_wire(request.id, Unavailable(
                f"{ref.class_name} {ref.name or ref.id} is {len(body)} bytes, over max_frame_bytes: it cannot move"))
        return {"v": 1, "id": request.id, "ok": True, "result": {"epoch": leaving.epoch, "image": body}}

    def resume(self, object_id: str, owner: Owner | None = None) -> None:
        """The handoff did not happen: serve the object again (its alarm back in the schedule)."""
        leaving = self.leaving.pop(object_id, None)
        if transfer.resume(self._store, object_id) is not None:
            self.rearm()
        if owner is not None:
            self.learn(object_id, owner)
        if leaving is not None:
            self.release(leaving.held)

    def expire(self, now: float) -> None:
        """Fence handoffs out that stalled; let requests that waited too long go (to be refused)."""
        lists: list[list[Waiting]] = [moving.held for moving in self.leaving.values()]
        lists += [moving.held for moving in self.arriving.values()]
        for held in lists:
            if held and now - held[0].arrival > HOLD_LIMIT_S:
                self.release([waiting for waiting in held if now - waiting.arrival > HOLD_LIMIT_S])
                held[:] = [waiting for waiting in held if now - waiting.arrival <= HOLD_LIMIT_S]
        for object_id, leaving in self.leaving.items():
            if not leaving.fencing and now - leaving.since > HANDOFF_TIMEOUT_S:
                leaving.fencing = True
                self._workers.submit(("fenced", object_id), self._fence_call(leaving))

    def _fence_call(self, leaving: Leaving) -> Callable[[], tuple[bool, Owner | None]]:
        etcd, keys, node, ref, epoch = self._etcd, self._keys, self.node, leaving.ref, leaving.epoch
        return lambda: ownership.fence(etcd, keys, ref, node, epoch)

    def fenced(self, object_id: str, outcome: Any) -> None:
        leaving = self.leaving.get(object_id)
        if leaving is None:
            return
        if isinstance(outcome, Exception):
            leaving.fencing = False
            return
        won, owner = outcome
        if won or (owner is not None and owner.node == self.node):
            log.info("%s %s: handoff to %s did not finish; serving it again under epoch %s",
                     leaving.ref.class_name, object_id, leaving.to, owner.epoch if owner else "?")
            self.resume(object_id, owner)
        elif owner is not None:
            self.learn(object_id, owner)

    # what the owner records say -------------------------------------------------------------
    def learn(self, object_id: str, owner: Owner) -> None:
        """Take a newer owner record, and act on it: a move out finished, or this node lost the object."""
        changed, old = self.directory.learn(object_id, owner)
        if not changed or owner.node == self.node:
            return
        leaving = self.leaving.get(object_id)
        if leaving is not None:
            del self.leaving[object_id]
            ref = leaving.ref
            if owner.from_node == self.node and owner.from_epoch == leaving.epoch:
                self.step("release.dropping")
                transfer.drop(self._store, ref.class_name, ref.id)
                self._counters["cluster.handoffs_out"] += 1
            else:
                self._quarantine(ref, leaving.epoch)
            self._runtime.residents.drop(object_id)
            self.release(leaving.held)
        elif old is not None and old.node == self.node and object_id not in self.arriving:
            self._quarantine(ObjectRef(old.class_name, object_id, old.name), old.epoch)
            self._runtime.residents.drop(object_id)

    def _quarantine(self, ref: ObjectRef, epoch: int) -> None:
        log.warning("%s %s: this node lost it (evicted); its copy here (epoch %d) is quarantined",
                    ref.class_name, ref.name or ref.id, epoch)
        try:
            transfer.drop(self._store, ref.class_name, ref.id, quarantine_epoch=epoch, name=ref.name)
        except BadData as exc:
            log.error("could not quarantine %s: %s", ref.id, exc)
        self._counters["cluster.quarantined"] += 1
