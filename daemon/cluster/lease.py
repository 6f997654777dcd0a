"""The node's etcd lease: kept alive by a thread, and the deadline before which the node may acknowledge writes.

The lease's expiry at etcd is at least ``ttl`` after the leader received
the last successful keep-alive, so at least ``ttl`` after this node *sent*
it. The node therefore acknowledges writes only until ``sent + ttl -
margin`` (:attr:`Lease.deadline`): once renewals fail, it stops before the
lease can have expired, so before any other node could be allowed to take
its objects. The clock is ``time.monotonic``, which keeps running while the
process is stopped (SIGSTOP), so a frozen node wakes up past its deadline.

A lease that etcd reports gone (expired) is replaced by a new one and the
node record is written again under it; :attr:`Lease.generation` counts the
leases, so the node knows it must re-check what it owns before serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from daemon.cluster.etcd import Etcd, EtcdError, EtcdUnavailable

log = logging.getLogger(__name__)

_MIN_MARGIN_S = 0.5


class Lease:
    """One etcd lease, kept alive; :meth:`start` grants it (blocking), a thread renews it."""

    def __init__(self, etcd: Etcd, ttl_s: int, node_key: bytes, node_value: bytes,
                 on_change: Callable[[], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._etcd = etcd
        self.ttl_s = ttl_s
        self.margin_s = max(_MIN_MARGIN_S, ttl_s / 5)
        self._node_key = node_key
        self._node_value = node_value
        self._on_change = on_change
        self._clock = clock
        self.lease_id = 0
        self.generation = 0
        # The last moment the node may acknowledge a write; read by the server loop without a lock
        # (a float attribute is replaced whole).
        self.deadline = 0.0
        self.renewals = 0
        self.failures = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # the loop's view ---------------------------------------------------------
    def valid(self) -> bool:
        """Whether the lease cannot have expired yet (with the safety margin)."""
        return self._clock() < self.deadline

    def remaining_s(self) -> float:
        """Seconds left before the node stops acknowledging writes (negative once past)."""
        return self.deadline - self._clock()

    # lifecycle ---------------------------------------------------------------
    def start(self, attempts: int = 20) -> None:
        """Grant the lease and register the node (blocking, retrying); then keep it alive on a thread."""
        for attempt in range(attempts):
            try:
                self._grant()
                break
            except (EtcdUnavailable, EtcdError) as exc:
                self.last_error = str(exc)
                if attempt == attempts - 1:
                    raise OSError(f"cannot take a lease from etcd: {exc}") from exc
                time.sleep(0.5)
        self._thread = threading.Thread(target=self._run, name="lodestone-lease", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop renewing and revoke the lease, so other nodes see this one gone at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.lease_id:
            try:
                self._etcd.revoke(self.lease_id)
            except (EtcdUnavailable, EtcdError) as exc:
                log.warning("could not revoke the lease (it expires by itself): %s", exc)

    # internals ---------------------------------------------------------------
    def _grant(self) -> None:
        sent = self._clock()
        lease_id = self._etcd.grant(self.ttl_s)
        self._etcd.put(self._node_key, self._node_value, lease=lease_id)
        self.lease_id = lease_id
        self.generation += 1
        self.deadline = sent + self.ttl_s - self.margin_s
        log.info("holding etcd lease %x (ttl %d s), generation %d", lease_id, self.ttl_s, self.generation)

    def _run(self) -> None:
        interval = self.ttl_s / 3
        renewed = True
        while not self._stop.wait(interval if renewed else 0.2):  # after a failure, try again soon
            sent = self._clock()
            renewed = False
            try:
                ttl = self._etcd.keepalive(self.lease_id)
                if ttl > 0:
                    self.deadline = sent + ttl - self.margin_s
                    self.renewals += 1
                    renewed = True
                    continue
                log.warning("the etcd lease %x expired; taking a new one and re-checking every object owned",
                            self.lease_id)
                self.deadline = 0.0
                self._grant()
                renewed = True
                self._on_change()
            except (EtcdUnavailable, EtcdError) as exc:
                self.failures += 1
                self.last_error = str(exc)
                if self.failures % 10 == 1:
                    log.warning("cannot renew the etcd lease: %s", exc)
