"""A cycle in phases, driven by the server: the turns, the due alarms, the commit.

The server takes the requests that have arrived and runs them as one
:class:`Cycle`:

1. :meth:`Cycle.run_turns` runs every request as a turn and returns the
   replies the output gate lets out at once (turns that wrote nothing and ran
   before anything in the cycle was written saw only committed data);
2. :meth:`Cycle.fire_alarms` delivers due alarms, a slice at a time, so the
   server can stop when requests are waiting;
3. :meth:`Cycle.commit` commits and fsyncs everything once and returns the
   other replies, the change events and the notices, to send and publish.

A cycle whose every request is a known read (a storage or alarm read, a
global op, a class op declared ``writes=False``) and that fires no alarm
runs on a read transaction: no writer lock, no commit. If one of its turns
writes after all (a read op that calls a writing one), it starts again on a
write transaction. If the map fills up (or the environment runs out of
sub-database room) the cycle starts again on a fresh transaction, after
growing, with the turns it had run; alarms it had fired fire in a later cycle. If storage fails
otherwise, every request not answered yet gets ``UNAVAILABLE`` and nothing is
written. The runtime never holds a socket or a callback into the server.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from daemon.errors import HandlesFull, MapFull, NeedsWrite, StorageError, Unavailable, to_wire
from daemon.model import ChangeEvent, Request
from daemon.runtime.residents import Residents
from daemon.storage import CycleTransaction, Store

log = logging.getLogger(__name__)

Notice = tuple[bytes, Any]
_ATTEMPTS = 8
_IDEM_SWEEP_EVERY_MS = 1_000
_IDEM_SWEEP_BUDGET = 1_000


@dataclass
class CycleResult:
    """What a committed cycle produced, in order: replies, change events, notices."""

    replies: list[dict[str, Any]] = field(default_factory=list)
    events: list[ChangeEvent] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    alarm_times: list[int] = field(default_factory=list)
    more_due: bool = False
    sent_early: set[int] = field(default_factory=set)


class Host(Protocol):
    """What a cycle needs of the runtime."""

    store: Store
    residents: Residents
    counters: Counter[str]
    clock: Callable[[], int]
    alarm_batch: int
    last_commit_ms: int
    next_sweep_ms: int

    def turn(self, txn: CycleTransaction, request: Request, now: int, notices: list[Notice]) -> dict[str, Any]: ...

    def deliver(self, txn: CycleTransaction, object_id: bytes, now: int, notices: list[Notice]) -> None: ...

    def reads_only(self, requests: list[Request]) -> bool: ...


class Cycle:
    """One cycle: one write transaction, one fsync, for its requests and the alarms it fires (see above)."""

    def __init__(self, host: Host, requests: list[Request], fire_alarms: bool = False) -> None:
        self._host = host
        self.requests = requests
        self._headroom = len(requests) + (host.alarm_batch if fire_alarms else 0)
        self._fire_requested = fire_alarms
        self._now = host.clock()
        self._txn: CycleTransaction | None = None
        self._notices: list[Notice] = []
        self._replies: list[dict[str, Any]] = []
        self._early: set[int] = set()
        self._failed: Exception | None = None
        self._more_due = False
        self._due: list[tuple[int, bytes]] | None = None
        self._fired = 0
        self._unwritten = 0
        self._turns_done = False
        self._attempts = 0
        self._restarted = False
        self._read_only = not fire_alarms and host.reads_only(requests)
        self._begin()

    # phases ----------------------------------------------------------------
    def run_turns(self) -> list[int]:
        """Run every request as a turn; return the indices of replies that may go out now (see :meth:`reply`)."""
        self._attempt(self._run_turns)
        if self._failed is not None:
            return []
        early = [index for index in range(self._unwritten) if index not in self._early]
        self._early.update(early)
        return early

    def reply(self, index: int) -> dict[str, Any]:
        """The reply to request ``index`` as it stands (final for the ones :meth:`run_turns` let out)."""
        return self._replies[index]

    def fire_alarms(self, budget_s: float) -> bool:
        """Deliver due alarms for about ``budget_s`` seconds; True if more are due (call again, or leave them)."""
        if self._failed is not None or self._txn is None:
            return False
        txn = self._txn
        host = self._host
        try:
            if self._due is None:
                self._due = txn.due_alarms(self._now, host.alarm_batch)
            deadline = time.perf_counter() + budget_s
            due = self._due
            while self._fired < len(due):
                host.deliver(txn, due[self._fired][1], self._now, self._notices)
                self._fired += 1
                if self._fired % 16 == 0 and time.perf_counter() > deadline:
                    break
        except StorageError as exc:
            self._more_due = True
            self._restart(exc)
            return False
        self._more_due = self._fired < len(due) or len(due) >= host.alarm_batch
        return self._fired < len(due)

    def commit(self) -> CycleResult:
        """Commit (with fsync) and return the cycle's replies, change events and notices."""
        if not self._read_only:
            self._attempt(self._sweep)
        events: list[ChangeEvent] = []
        alarm_times: list[int] = []
        while self._failed is None and self._txn is not None:
            txn = self._txn
            try:
                events = txn.commit()
            except StorageError as exc:
                self._txn = None
                self._restart(exc)
                self._attempt(self._sweep)  # runs the turns again first
                continue
            alarm_times = txn.alarm_times
            self._txn = None
            break
        host = self._host
        if self._failed is not None:
            failed = [to_wire(request.id, self._failed) for request in self.requests]
            replies = [self._replies[i] if i in self._early else failed[i] for i in range(len(self.requests))]
            return CycleResult(replies, more_due=self._fire_requested, sent_early=self._early)
        if events:
            host.last_commit_ms = self._now
        host.counters["cycles"] += 1
        host.counters["requests"] += len(self.requests)
        return CycleResult(self._replies, events, self._notices, alarm_times, self._more_due, self._early)

    # internals -------------------------------------------------------------
    def _begin(self) -> None:
        try:
            self._txn = self._host.store.begin(self._headroom, write=not self._read_only)
        except StorageError as exc:
            self._fail(exc)

    def _run_turns(self, txn: CycleTransaction) -> None:
        turn = self._host.turn
        replies: list[dict[str, Any]] = []
        notices: list[Notice] = []
        unwritten = 0
        for request in self.requests:
            replies.append(turn(txn, request, self._now, notices))
            if not txn.wrote:
                unwritten += 1
        self._replies, self._notices, self._unwritten = replies, notices, unwritten
        self._turns_done = True

    def _sweep(self, txn: CycleTransaction) -> None:
        if self._now >= self._host.next_sweep_ms:
            txn.sweep_idempotency(self._now, _IDEM_SWEEP_BUDGET)
            self._host.next_sweep_ms = self._now + _IDEM_SWEEP_EVERY_MS

    def _attempt(self, phase: Callable[[CycleTransaction], None]) -> None:
        """Run ``phase``; after a restart, on a fresh transaction that has the turns run again first."""
        while self._failed is None and self._txn is not None:
            try:
                if self._restarted:
                    self._restarted = False
                    if self._turns_done and phase != self._run_turns:
                        self._run_turns(self._txn)
                phase(self._txn)
                return
            except StorageError as exc:
                self._restart(exc)

    def _restart(self, exc: StorageError) -> None:
        """Abandon the transaction, make room, and run the turns again on a fresh one."""
        host = self._host
        if self._txn is not None:
            self._txn.abort()
            self._txn = None
        host.residents.clear()  # in-memory forms may hold the abandoned turns' changes
        self._attempts += 1
        if self._attempts >= _ATTEMPTS:
            self._fail(Unavailable("storage could not make room for this cycle"))
            return
        try:
            if isinstance(exc, NeedsWrite):
                self._read_only = False
            elif isinstance(exc, MapFull):
                host.store.grow_map()
            elif isinstance(exc, HandlesFull):
                host.store.ensure_capacity(self._headroom * 4)
            else:
                log.error("storage failed; the cycle was rolled back: %s", exc)
                self._fail(Unavailable(f"storage failed: {exc}; nothing was written"))
                return
        except Unavailable as full:
            self._fail(full)
            return
        self._due, self._fired = None, 0
        self._restarted = True
        self._begin()

    def _fail(self, exc: Exception) -> None:
        if self._txn is not None:
            self._txn.abort()
            self._txn = None
        if self._fire_requested:
            log.error("alarms could not fire this time: %s", exc)
        self._failed = exc
