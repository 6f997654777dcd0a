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
write transaction.

If the map fills up (or the environment runs out of sub-database room) the
cycle starts again on a fresh transaction, after growing, with the turns it
had run; alarms it had fired fire in a later cycle. When the map cannot grow
(``max_map_size_mb``, or a full disk), only the writes that do not fit fail:
the turn whose write hit the full map is answered ``UNAVAILABLE`` and the
cycle runs again without it, so the reads of the cycle, and its writes that
fit, still succeed (a full map at commit, which no one turn caused, fails the
cycle's last write; a full disk there fails every write). If storage fails
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

from daemon.errors import (
    DiskFull,
    HandlesFull,
    MapFull,
    NeedsWrite,
    StorageError,
    Unavailable,
    storage_failure,
    to_wire,
)
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
        # Turns answered UNAVAILABLE because their writes do not fit (by request index), kept across reruns.
        self._refused: dict[int, dict[str, Any]] = {}
        self._running: int | None = None  # the turn running now, to blame for a full map
        self._writers: list[int] = []  # the turns that wrote, in the last run of the turns
        self._sweeping = True
        self._alarms_on = True
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
        if self._failed is not None or self._txn is None or not self._alarms_on:
            self._more_due = self._more_due or not self._alarms_on
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
            self._restart(exc, "alarms")
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
                self._restart(exc, "commit")
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
        writers: list[int] = []
        unwritten = 0
        refused = self._refused
        for index, request in enumerate(self.requests):
            if index in refused:
                replies.append(refused[index])
            else:
                writes = txn.writes
                self._running = index
                replies.append(turn(txn, request, self._now, notices))
                if txn.writes != writes:
                    writers.append(index)
            if not txn.wrote:
                unwritten += 1
        self._running = None
        self._replies, self._notices, self._unwritten = replies, notices, unwritten
        self._writers = writers
        self._turns_done = True

    def _sweep(self, txn: CycleTransaction) -> None:
        if self._sweeping and self._now >= self._host.next_sweep_ms:
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
                self._restart(exc, "sweep" if phase == self._sweep and self._running is None else "turns")

    def _restart(self, exc: StorageError, phase: str = "turns") -> None:
        """Abandon the transaction, make room (or do without what does not fit), and run the turns again."""
        host = self._host
        blamed, self._running = self._running, None
        if self._txn is not None:
            self._txn.abort()
            self._txn = None
        host.residents.clear()  # in-memory forms may hold the abandoned turns' changes
        try:
            self._make_room(exc)
        except (Unavailable, DiskFull) as full:
            if not self._do_without(phase, blamed, full):
                self._fail(full if isinstance(full, Unavailable) else Unavailable(str(full)))
                return
        except StorageError as other:
            log.error("storage failed; the cycle was rolled back: %s", other)
            self._fail(storage_failure(other))
            return
        self._more_due = self._more_due or self._fired > 0  # the alarms it fired fire again later
        self._due, self._fired = None, 0
        self._restarted = True
        self._begin()

    def _make_room(self, exc: StorageError) -> None:
        """Grow what ``exc`` says is full.

        Raises ``Unavailable`` or ``DiskFull`` if it cannot, and ``exc`` itself if it is not about room.
        """
        self._attempts += 1
        if self._attempts >= _ATTEMPTS:
            raise Unavailable("storage could not make room for this cycle")
        if isinstance(exc, NeedsWrite):
            self._read_only = False  # a turn of a read-only cycle wrote: run it again on a write transaction
        elif isinstance(exc, MapFull):
            self._host.store.grow_map()
        elif isinstance(exc, HandlesFull):
            self._host.store.ensure_capacity(self._headroom * 4)
        else:
            raise exc

    def _do_without(self, phase: str, blamed: int | None, full: Exception) -> bool:
        """Drop from the cycle what does not fit, so the rest can run; False if nothing is left to drop.

        The turn whose write hit the full map (``blamed``) is answered
        ``UNAVAILABLE``; alarms wait for a later cycle; a full map at commit
        drops the idempotency sweep and the last write, a full disk every write.
        """
        self._attempts -= 1  # dropping something is progress, not another try at making room
        if phase == "alarms" and self._alarms_on:
            log.error("alarms wait for a later cycle: %s", full)
            self._alarms_on = False
            return True
        if phase == "sweep" and self._sweeping:
            self._sweeping = False
            return True
        writers = [index for index in self._writers if index not in self._refused]
        if blamed is not None and blamed not in self._refused:
            doomed = [blamed]
        elif phase == "commit" and writers:
            self._sweeping = False
            doomed = writers if isinstance(full, DiskFull) else writers[-1:]
        else:
            return False
        refusal = full if isinstance(full, Unavailable) else Unavailable(str(full))
        for index in doomed:
            reply = to_wire(self.requests[index].id, refusal)
            self._refused[index] = reply
            self._host.counters[f"errors.{reply['error']['code']}"] += 1
        return True

    def _fail(self, exc: Exception) -> None:
        if self._txn is not None:
            self._txn.abort()
            self._txn = None
        if self._fire_requested:
            log.error("alarms could not fire this time: %s", exc)
        self._failed = exc
