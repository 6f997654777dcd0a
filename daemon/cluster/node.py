"""A cluster node: the server loop's gatekeeper, and the life cycle behind it.

Before each cycle (:meth:`ClusterNode.admit`) the node takes in what came
between cycles (owner record changes, a new lease, replies from other
nodes, finished claims and handoffs), then routes every request by its
object's owner record (:mod:`daemon.cluster.admission`): it runs here, is
refused, waits for its object to move here, or is forwarded to its owner.

After the commit, :meth:`ClusterNode.gate` is the output gate: a node whose
lease may have expired while it ran the cycle sends none of its replies.
A turn's call to another object (``Turn.call``) must find it here too
(:mod:`daemon.cluster.calls`); a call to a write op of a ``home`` object on
another node goes out after the turn commits (:mod:`daemon.cluster.outbox`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import zmq

from daemon.cluster.admission import Admission, Entry, Send, Split
from daemon.cluster.audit import Audit
from daemon.cluster.calls import Calls
from daemon.cluster.courier import Courier
from daemon.cluster.directory import Changes, Directory, Snapshot, Watcher, read_snapshot
from daemon.cluster.etcd import Etcd, EtcdError, EtcdUnavailable
from daemon.cluster.lease import Lease
from daemon.cluster.moves import Moves
from daemon.cluster.outbox import OUTBOX_CLASS, Outbox
from daemon.cluster.peers import Peers
from daemon.cluster.reconcile import settle
from daemon.cluster.records import Keys, NodeInfo
from daemon.cluster.report import cluster_report
from daemon.cluster.tasks import Workers
from daemon.config import ClusterSettings
from daemon.errors import Unavailable
from daemon.model import ObjectRef
from daemon.runtime import CycleResult, Runtime
from daemon.storage import Store

log = logging.getLogger(__name__)

_LEASE_CHANGED = "lease-changed"


class ClusterNode:
    """One node of a cluster: its lease, its view of the owner records, its moves; see the module docstring."""

    def __init__(self, settings: ClusterSettings, store: Store, runtime: Runtime, max_frame_bytes: int,
                 context: zmq.Context[Any], crash_at: str | None = None, audit: str | None = None) -> None:
        self.settings = settings
        self.node = settings.node_id
        self.keys = Keys(settings.name)
        self._store = store
        self._runtime = runtime
        self._counters = runtime.counters
        self._max_frame_bytes = max_frame_bytes
        self._context = context
        self._crash_at = crash_at
        self.etcd = Etcd(settings.etcd)
        self.directory = Directory()
        self._audit = Audit(audit, self.node, self.directory, runtime.resolve) if audit else None
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._workers = Workers(self._post)
        self._wake: Callable[[], None] = lambda: None
        self._checked_generation = 0
        self._touches_objects = False
        self._was_writable = True
        self._resolve = runtime.resolve
        self.lease: Lease | None = None
        self.moves: Moves | None = None
        self._watcher: Watcher | None = None
        self._courier: Courier | None = None
        self._peer_requests: Peers | None = None
        self._outbox: Outbox | None = None
        self._calls: Calls | None = None
        self._admission: Admission | None = None

    # lifecycle ---------------------------------------------------------------------
    def start(self, rpc: str, pub: str, wake: Callable[[], None], rearm: Callable[[], None]) -> None:
        """Join the cluster (blocking): take a lease, register, settle every move left unfinished, watch.

        Raises ``OSError`` if etcd cannot be reached.
        """
        self._wake = wake
        info = NodeInfo(self.node, self.settings.advertise_rpc or rpc, self.settings.advertise_pub or pub)
        self.lease = Lease(self.etcd, self.settings.lease_ttl_s, self.keys.node(self.node), info.encode(),
                           lambda: self._post(_LEASE_CHANGED))
        self.lease.start()
        snapshot = self._first_snapshot()
        settle(self._store, self.etcd, self.keys, self.node, snapshot)
        self.directory.owners, self.directory.nodes = snapshot.owners, snapshot.nodes
        self.directory.revision = snapshot.revision
        self._checked_generation = self.lease.generation
        self.moves = Moves(self.node, self._store, self._runtime, self.etcd, self.keys, self.directory,
                           self._workers, self._counters, rearm, wake, self._crash_at)
        self._watcher = Watcher(self.etcd, self.keys, self._post, snapshot.revision)
        self._courier = Courier(self._context, wake)
        self._peer_requests = Peers(self.node, self.settings.token, self._courier, self.directory, self.moves,
                                    self._counters)
        self._workers.start()
        self._watcher.start()
        self._courier.start()
        outbox_ref = ObjectRef(OUTBOX_CLASS, self._runtime.ids.from_name(OUTBOX_CLASS, self.node), self.node)
        self._outbox = Outbox(self.node, outbox_ref, self._store, self.directory, self._peer_requests,
                              self._counters, self.moves.step)
        self._calls = Calls(self.node, self.settings, self.directory, self.moves, self._resolve, self._outbox)
        self._runtime.call_policy = self._calls
        self._admission = Admission(self.node, self.settings, self._runtime, self.directory, self.moves,
                                    self._peer_requests, self._max_frame_bytes, wake, self.health, self._fenced)

    def _first_snapshot(self) -> Snapshot:
        for attempt in range(20):
            try:
                return read_snapshot(self.etcd, self.keys)
            except (EtcdUnavailable, EtcdError) as exc:
                if attempt == 19:
                    raise OSError(f"cannot read the cluster's records from etcd: {exc}") from exc
                time.sleep(0.5)
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Leave the cluster: stop the threads, revoke the lease (other nodes see this node down at once)."""
        for part in (self._watcher, self._courier):
            if part is not None:
                part.close()
        self._workers.close()
        if self.lease is not None:
            self.lease.close()
        if self._audit is not None:
            self._audit.close()

    def _peers(self) -> Peers:
        assert self._peer_requests is not None
        return self._peer_requests

    def _post(self, message: Any) -> None:
        self._inbox.put(message)
        self._wake()

    # the gatekeeper ------------------------------------------------------------------
    def writable(self) -> bool:
        """Whether this node may run and acknowledge turns: a valid lease, and its owner records re-checked."""
        lease = self.lease
        return lease is not None and lease.valid() and lease.generation == self._checked_generation

    def may_reply(self) -> bool:
        # A cycle that touched no object (ping, stats, id ops: all a node not writable runs) acknowledges nothing.
        return (self.lease is not None and self.lease.valid()) or not self._touches_objects

    def gate(self, result: CycleResult) -> None:
        if self._crash_at is not None and result.events and self.moves is not None:
            self.moves.step("cycle.committed")
        if self.may_reply():
            if self._audit is not None:
                self._audit.write(result)
            return
        if result.replies or result.events:
            self._counters["cluster.gated_cycles"] += 1
            log.warning("a cycle committed after this node's lease may have expired: its %d replies are withheld",
                        len(result.replies))
        result.replies = []
        result.events.clear()
        result.notices.clear()
        if self._outbox is not None:
            self._outbox.withheld()

    def admit(self, envelopes: list[list[bytes]], requests: list[Entry], due: bool, send: Send,
              split: Split) -> tuple[list[list[bytes]], list[Entry], bool]:
        """The gatekeeper's ``admit``: take in what came between cycles, then route (:meth:`Admission.admit`).

        Alarms may fire only while this node is writable; on becoming
        writable again it re-arms those that came due meanwhile.
        """
        assert self.moves is not None and self._admission is not None
        self._admission.send = self._peers().send = send
        now = time.monotonic()
        self._drain(now)
        writable = self.writable()
        if writable and not self._was_writable:
            self.moves.rearm()  # alarms that came due while this node could not fire them
        self._was_writable = writable
        run_envelopes, run, touches = self._admission.admit(envelopes, requests, writable, now, split)
        self._touches_objects = (due and writable) or touches
        if self._audit is not None:
            self._audit.tag(run)
        return run_envelopes, run, due and writable

    def _fenced(self) -> Unavailable:
        """Why this node may not acknowledge writes now: the error its refusals carry, and its health warning."""
        lease = self.lease
        detail = lease.last_error if lease is not None and lease.last_error else "its lease is being renewed"
        if lease is not None and lease.valid():
            detail = "it is re-checking the objects it owns after taking a new lease"
        return Unavailable(f"node {self.node} cannot acknowledge writes now: {detail}; retry "
                           "(it stops before its etcd lease can expire, so no two nodes serve an object)")

    # between cycles ---------------------------------------------------------------------
    def _drain(self, now: float) -> None:
        moves = self.moves
        assert moves is not None and self._courier is not None and self._admission is not None
        while True:
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                break
            self._take(message)
        while True:
            try:
                seq, body = self._courier.inbox.get_nowait()
            except queue.Empty:
                break
            self._peers().deliver(seq, body)
        self._admission.reply_exports()
        assert self._calls is not None
        pulls, self._calls.pulls = self._calls.pulls, []
        for ref in pulls:
            self._pull(ref)
        self._peers().expire(now)
        assert self._outbox is not None
        if self.writable():
            self._outbox.pump(now)
        moves.expire(now)
        if self.lease is not None:
            self._counters["cluster.lease_renewals"] = self.lease.renewals

    def _take(self, message: Any) -> None:
        moves = self.moves
        assert moves is not None
        if isinstance(message, Changes):
            self.directory.revision = max(self.directory.revision, message.revision)
            for object_id, owner in message.owners.items():
                moves.learn(object_id, owner)
            for node, info in message.nodes.items():
                if info is None:
                    self.directory.nodes.pop(node, None)
                else:
                    self.directory.nodes[node] = info
        elif isinstance(message, Snapshot):
            self._apply(message)
        elif message == _LEASE_CHANGED:
            self._recheck()
        else:
            (kind, object_id), outcome = message
            if kind == "claimed":
                moves.claimed(object_id, outcome)
            elif kind == "taken":
                moves.taken(object_id, outcome)
            elif kind == "fenced":
                moves.fenced(object_id, outcome)
            elif kind == "recheck":
                self._rechecked(object_id, outcome)

    def _apply(self, snapshot: Snapshot) -> None:
        assert self.moves is not None
        for object_id, owner in snapshot.owners.items():
            self.moves.learn(object_id, owner)
        self.directory.nodes = dict(snapshot.nodes)
        self.directory.revision = max(self.directory.revision, snapshot.revision)

    def _recheck(self) -> None:
        """A new lease: read every owner record again before serving (what this node lost, it quarantines)."""
        assert self.lease is not None
        generation = self.lease.generation
        etcd, keys = self.etcd, self.keys
        self._workers.submit(("recheck", generation), lambda: read_snapshot(etcd, keys))

    def _rechecked(self, generation: Any, outcome: Any) -> None:
        assert self.lease is not None and self.moves is not None
        if isinstance(outcome, Exception):
            threading.Timer(0.5, lambda: self._post(_LEASE_CHANGED)).start()
            return
        self._apply(outcome)
        if generation == self.lease.generation:
            self._checked_generation = generation
            log.info("owner records re-checked under lease generation %d; serving again", generation)
            self.moves.rearm()

    # calls between objects -----------------------------------------------------------------
    def _pull(self, ref: ObjectRef) -> None:
        assert self.moves is not None
        if self.moves.busy(ref.id) is not None or not self.writable():
            return
        owner = self.directory.owners.get(ref.id)
        if owner is None or owner.node is None:
            self.moves.claim(ref, owner, [])
        elif owner.node != self.node and owner.node in self.directory.nodes:
            self._peers().fetch(ref, owner, [])

    # reports -------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """The ``health`` op's report, with this node's cluster state (see :func:`cluster_report`)."""
        assert self.lease is not None and self.moves is not None
        report = self._runtime.health()
        writable = self.writable()
        report["cluster"] = cluster_report(self.settings, self.lease, self.directory, self.moves, writable)
        if not writable:
            report["status"] = "warning"
            report["warnings"].append(f"node {self.node} does not acknowledge writes: {self._fenced()}")
        return report
