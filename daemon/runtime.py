"""The runtime: runs batches of requests, and due alarms, as cycles of turns.

It owns the :class:`~daemon.storage.Store`, the :class:`~daemon.ids.IdFactory`
and the object classes, and knows nothing of ZeroMQ: the server hands it
parsed requests (or asks it to fire due alarms) and gets back the replies,
the change events and the notices to publish, after the cycle's commit.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import lmdb

from daemon import alarms, idempotency
from daemon.classes import AlarmInfo, ObjectClass
from daemon.envelope import Request
from daemon.errors import BadRequest, NotFound, Unavailable, UnknownOp, to_wire
from daemon.ids import IdFactory, check_class_name
from daemon.objects import UNCHANGED, ChangeEvent, ObjectRef
from daemon.ops import OPS, check_args
from daemon.storage import Cycle, Store, list_objects
from daemon.telemetry import alarm_notice
from daemon.turns import Residents, Session
from schemas.wire import SUPPORTED_VERSIONS, ok_reply

log = logging.getLogger(__name__)

_NAME_CACHE_LIMIT = 100_000
_IDEM_SWEEP_EVERY_MS = 1_000
_IDEM_SWEEP_BUDGET = 1_000
_CYCLE_ATTEMPTS = 8
T = TypeVar("T")


def wall_clock_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass
class CycleResult:
    """What a committed cycle produced, in order: replies, change events, notices."""

    replies: list[dict[str, Any]] = field(default_factory=list)
    events: list[ChangeEvent] = field(default_factory=list)
    notices: list[tuple[bytes, Any]] = field(default_factory=list)
    alarm_times: list[int] = field(default_factory=list)
    more_due: bool = False
    sent_early: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class RuntimeOptions:
    """The runtime's policies, read once from the configuration."""

    declared_classes: tuple[str, ...] = ()
    allow_undeclared_classes: bool = True
    idempotency_window_ms: int = 3_600_000
    alarm_retry: alarms.RetryPolicy = field(default_factory=alarms.RetryPolicy)
    alarm_batch: int = 1024
    # A cycle fires alarms for at most this long; the rest fire in the next cycle.
    alarm_cycle_budget_s: float = 0.1
    # ... and for only this long when requests are waiting, so they wait at most about
    # this much (plus the commit) behind a burst of alarms.
    alarm_yield_after_s: float = 0.01
    class_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    resident_limit: int = 10_000
    resident_idle_s: float = 300.0


class Runtime:
    """Runs turns against storage; single-threaded, driven by the server loop."""

    def __init__(
        self,
        store: Store,
        ids: IdFactory,
        version: str,
        options: RuntimeOptions | None = None,
        classes: Mapping[str, type[ObjectClass]] | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.ids = ids
        self.version = version
        self.options = options or RuntimeOptions()
        self.classes = dict(classes or {})
        self.clock = clock
        self.protocols = SUPPORTED_VERSIONS
        self.counters: Counter[str] = Counter()
        self.last_commit_ms = 0
        self._declared = frozenset(self.options.declared_classes) | frozenset(self.classes)
        self.retired: dict[str, str] = {}
        self.residents = Residents(self.options.class_options, self.options.resident_limit,
                                   self.options.resident_idle_s)
        self._rng = rng or random.Random()
        # Refs of targets named by class and name, checked once: the hot path's shortcut.
        self._refs: dict[tuple[str, str], ObjectRef] = {}
        self._next_sweep_ms = 0

    # targets ---------------------------------------------------------------
    def resolve(self, target: Any) -> ObjectRef:
        """The object a request's ``target`` names; raises on a malformed target or id."""
        if type(target) is dict and len(target) == 2:
            class_name, name = target.get("class"), target.get("name")
            if type(class_name) is str and type(name) is str:
                known = self._refs.get((class_name, name))
                if known is not None:
                    return known
        if not isinstance(target, dict):
            raise BadRequest('this op needs a target: {"class", "name"} or {"class", "id"}')
        class_name = check_class_name(target.get("class"))
        if class_name in self.retired:
            raise NotFound(self.retired[class_name])
        if not self.options.allow_undeclared_classes and class_name not in self._declared:
            raise NotFound(
                f"class {class_name!r} is not declared; add it to [classes] declared in the "
                "config, or set allow_undeclared = true"
            )
        if ("name" in target) == ("id" in target) or len(target) != 2:
            raise BadRequest('a target is {"class", "name"} or {"class", "id"}, exactly one of name or id')
        if "id" in target:
            return ObjectRef(class_name, self.ids.from_string(class_name, target["id"]))
        name = target["name"]
        ref = ObjectRef(class_name, self.ids.from_name(class_name, name), name)
        if len(self._refs) >= _NAME_CACHE_LIMIT:
            self._refs.clear()
        self._refs[(class_name, name)] = ref
        return ref

    # cycles ----------------------------------------------------------------
    def _in_cycle(self, size: int, work: Callable[[Cycle, int, CycleResult], None]) -> CycleResult | Exception:
        """Run ``work`` in one write transaction and commit it (with fsync).

        If the map is full it grows and ``work`` runs again from the start, on
        a fresh result; if storage fails otherwise, the error is returned and
        nothing is written.
        """
        for _ in range(_CYCLE_ATTEMPTS):
            now = self.clock()
            result = CycleResult()
            cycle = self.store.begin(size)
            try:
                work(cycle, now, result)
                if now >= self._next_sweep_ms:
                    idempotency.sweep(cycle.txn, cycle.system, now, _IDEM_SWEEP_BUDGET)
                    self._next_sweep_ms = now + _IDEM_SWEEP_EVERY_MS
                result.events = cycle.commit()
            except lmdb.MapFullError:
                cycle.abort()
                self.residents.clear()  # in-memory forms may hold the abandoned turns' changes
                try:
                    self.store.grow_map()
                except Unavailable as exc:
                    return exc
                continue
            except lmdb.DbsFullError:
                cycle.abort()
                self.residents.clear()
                self.store.ensure_capacity(size * 4)
                continue
            except lmdb.Error as exc:
                log.error("storage failed; the cycle was rolled back: %s", exc)
                _abort_quietly(cycle)
                self.residents.clear()
                return Unavailable(f"storage failed: {exc}; nothing was written")
            result.alarm_times = cycle.alarm_times
            if result.events:
                self.last_commit_ms = now
            self.counters["cycles"] += 1
            return result
        return Unavailable("storage could not make room for this cycle")

    def run_cycle(
        self,
        requests: list[Request],
        fire_alarms: bool = False,
        early: Callable[[int, dict[str, Any]], None] | None = None,
        requests_waiting: Callable[[], bool] | None = None,
    ) -> CycleResult:
        """Run every request as a turn, then (if asked) the due alarms, in one transaction; commit once.

        Replies come back in request order, after the commit (with fsync) that
        makes their writes durable. The one exception is the output gate's: a
        turn that wrote nothing, run before anything in the cycle was written,
        saw only committed data, so its reply is handed to ``early(index,
        reply)`` once the requests' turns have run, before alarms fire and the
        commit (and marked in ``result.sent_early``). If storage
        fails, every other request gets ``UNAVAILABLE`` and nothing is
        written. Alarms and requests share the cycle so they share its fsync;
        firing stops early when ``requests_waiting()`` says more requests have
        arrived. See :meth:`run_alarms`.
        """
        self.residents.evict_idle()
        sent_early: set[int] = set()

        def work(cycle: Cycle, now: int, result: CycleResult) -> None:
            replies = result.replies
            unwritten = 0  # how many turns ran before the cycle's first write
            for request in requests:
                replies.append(self._turn(cycle, request, now, result.notices))
                if not cycle.wrote:
                    unwritten += 1
            if early is not None:  # in one burst, which the socket sends in fewer writes than one by one
                for index in range(unwritten):
                    if index not in sent_early:
                        early(index, replies[index])
                        sent_early.add(index)
            result.sent_early = sent_early
            if fire_alarms:
                self._fire_due(cycle, now, result, requests_waiting)

        outcome = self._in_cycle(len(requests) + (self.options.alarm_batch if fire_alarms else 0), work)
        if isinstance(outcome, Exception):
            if fire_alarms:
                log.error("alarms could not fire this time: %s", outcome)
            failed = CycleResult([to_wire(request.id, outcome) for request in requests], more_due=fire_alarms)
            failed.sent_early = sent_early
            return failed
        self.counters["requests"] += len(requests)
        return outcome

    def _turn(self, cycle: Cycle, request: Request, now: int, notices: list[tuple[bytes, Any]]) -> dict[str, Any]:
        op = OPS.get(request.op)
        if op is None:
            return self._class_turn(cycle, request, now, notices)
        try:
            check_args(request.op, request.args, op.args)
            if not op.takes_target:
                return ok_reply(request.id, op.run(self, None, request.args))
            ref = self.resolve(request.target)
            idem = request.idem if op.writes else None
            if idem is not None:
                seen, result = idempotency.lookup(cycle.txn, cycle.system, ref.id, idem, now)
                if seen:
                    self.counters["idempotent_replays"] += 1
                    return ok_reply(request.id, result)
            storage = cycle.storage(ref)
            result = op.run(self, storage, request.args)
        except lmdb.Error:
            raise
        except Exception as exc:
            reply = to_wire(request.id, exc)
            self.counters[f"errors.{reply['error']['code']}"] += 1
            return reply
        cycle.apply(storage.changes)
        if op.writes:
            self.residents.drop(ref.id)  # its storage changed under its in-memory form
        if idem is not None:
            expires = now + self.options.idempotency_window_ms
            cycle.wrote = True
            idempotency.remember(cycle.txn, cycle.system, ref.id, idem, result, expires)
        return ok_reply(request.id, result)

    def _class_turn(
        self, cycle: Cycle, request: Request, now: int, notices: list[tuple[bytes, Any]]
    ) -> dict[str, Any]:
        """Run a class op (``<Class>.<method>``) as a turn, with the calls it makes."""
        session: Session | None = None
        try:
            class_name, _, method = request.op.partition(".")
            cls = self.classes.get(class_name)
            if cls is None or method not in cls.ops:
                known = sorted([*OPS, *(f"{name}.{m}" for name, c in self.classes.items() for m in c.ops)])
                raise UnknownOp(f"unknown op {request.op!r}; known ops are {', '.join(known)}")
            ref = self.resolve(request.target)
            if ref.class_name != class_name:
                raise BadRequest(f"{request.op} needs a {class_name} target, got a {ref.class_name}")
            idem = request.idem if cls.ops[method][1] else None
            if idem is not None:
                seen, result = idempotency.lookup(cycle.txn, cycle.system, ref.id, idem, now)
                if seen:
                    self.counters["idempotent_replays"] += 1
                    return ok_reply(request.id, result)
            session = self._session(cycle, now)
            result = session.invoke(ref, method, request.args)
        except lmdb.Error:
            raise
        except Exception as exc:
            if session is not None:
                for object_id in session.touched():
                    self.residents.drop(object_id)
            reply = to_wire(request.id, exc)
            self.counters[f"errors.{reply['error']['code']}"] += 1
            return reply
        session.commit_to_cycle()
        notices.extend(session.notices)
        if idem is not None:
            expires = now + self.options.idempotency_window_ms
            cycle.wrote = True
            idempotency.remember(cycle.txn, cycle.system, ref.id, idem, result, expires)
        return ok_reply(request.id, result)

    def _session(self, cycle: Cycle, now: int) -> Session:
        return Session(cycle, now, self.classes, self.residents, self.resolve)

    # alarms ----------------------------------------------------------------
    def run_alarms(self) -> CycleResult:
        """Fire the alarms due now in one cycle of their own; commit once.

        A class with an alarm handler runs it as a turn: on success the alarm is
        cleared in the same commit as the handler's writes (unless it set a new
        one); on failure it is retried with backoff, then dropped. An object
        without a handler gets an ``alarm.<class>.<id>`` notice, published
        after the commit that clears its alarm. At most ``alarm_batch`` fire,
        for at most ``alarm_cycle_budget_s``; ``more_due`` says whether
        alarms were left for another cycle.
        """
        return self.run_cycle([], fire_alarms=True)

    def _fire_due(
        self, cycle: Cycle, now: int, result: CycleResult, requests_waiting: Callable[[], bool] | None
    ) -> None:
        due = alarms.due(cycle.txn, cycle.system, now, self.options.alarm_batch)
        started = time.perf_counter()
        yield_at = started + self.options.alarm_yield_after_s
        deadline = started + self.options.alarm_cycle_budget_s
        for fired, (_, object_id) in enumerate(due, 1):
            self._fire(cycle, object_id, now, result.notices)
            if fired % 16 == 0:
                clock = time.perf_counter()
                if clock > deadline or (clock > yield_at and requests_waiting is not None and requests_waiting()):
                    result.more_due = fired < len(due) or len(due) >= self.options.alarm_batch
                    return
        result.more_due = len(due) >= self.options.alarm_batch

    def _fire(self, cycle: Cycle, object_id: bytes, now: int, notices: list[tuple[bytes, Any]]) -> None:
        record = alarms.read(cycle.txn, cycle.system, object_id)
        if record is None or record.at_ms > now:
            return
        ref = ObjectRef(record.class_name, object_id.hex(), record.name)
        cls = self.classes.get(ref.class_name)
        if cls is None or not cls.handles_alarms():
            cycle.write_alarm(ref, None, record)
            notices.append(alarm_notice("alarm", ref.class_name, ref.id, ref.name, record.scheduled_ms, fired_ms=now))
            self.counters["alarms.published"] += 1
            return
        session = self._session(cycle, now)
        storage = session.storage(ref)
        storage.changes.delivering = record
        try:
            session.alarm(ref, AlarmInfo(record.scheduled_ms, record.retry_count))
        except lmdb.Error:
            raise
        except Exception as exc:
            for touched in session.touched():
                self.residents.drop(touched)
            self._retry_or_drop(cycle, ref, record, storage.changes.alarm is None, exc, now, notices)
            return
        if storage.changes.alarm is UNCHANGED:
            storage.changes.alarm = None
        session.commit_to_cycle()
        notices.extend(session.notices)
        self.counters["alarms.fired"] += 1

    def _retry_or_drop(
        self,
        cycle: Cycle,
        ref: ObjectRef,
        record: alarms.AlarmRecord,
        deleted_by_handler: bool,
        exc: Exception,
        now: int,
        notices: list[tuple[bytes, Any]],
    ) -> None:
        retry = record.retry_count + 1
        policy = self.options.alarm_retry
        if deleted_by_handler:
            cycle.write_alarm(ref, None, record)
            log.info("alarm of %s %s failed after deleting itself; not retried: %r", ref.class_name, ref.id, exc)
            self.counters["alarms.stopped"] += 1
        elif retry > policy.max_retries:
            cycle.write_alarm(ref, None, record)
            log.warning(
                "alarm of %s %s (%s) dropped after %d retries; last error: %r",
                ref.class_name, ref.id, ref.name, policy.max_retries, exc,
            )
            notices.append(alarm_notice(
                "alarm_dropped", ref.class_name, ref.id, ref.name, record.scheduled_ms,
                retries=policy.max_retries, error=repr(exc)[:500],
            ))
            self.counters["alarms.dropped"] += 1
        else:
            at_ms = now + policy.delay_ms(retry, self._rng)
            retried = alarms.AlarmRecord(ref.class_name, ref.name, at_ms, record.scheduled_ms, retry)
            cycle.write_alarm(ref, retried, record)
            log.info("alarm of %s %s failed (retry %d at %d): %r", ref.class_name, ref.id, retry, at_ms, exc)
            self.counters["alarms.retried"] += 1

    def alarm_due_times(self, after_ms: int, until_ms: int, limit: int) -> list[int]:
        """Distinct due times in ``(after_ms, until_ms]``, earliest first, at most ``limit``."""
        with self.store.env.begin() as txn:
            return alarms.due_times(txn, self.store.system, after_ms, until_ms, limit)

    def list_alarms(self, until_ms: int | None, limit: int) -> list[dict[str, Any]]:
        """Stored alarms in due order (those due by ``until_ms`` if given)."""
        with self.store.env.begin() as txn:
            due = alarms.due(txn, self.store.system, until_ms if until_ms is not None else alarms.MAX_AT_MS, limit)
            records = [(object_id, alarms.read(txn, self.store.system, object_id)) for _, object_id in due]
        return [
            {"class": record.class_name, "id": object_id.hex(), "name": record.name, "at_ms": record.at_ms,
             "scheduled_ms": record.scheduled_ms, "retry_count": record.retry_count}
            for object_id, record in records if record is not None
        ]

    # queries ---------------------------------------------------------------
    def list_objects(self, class_name: str, after: str | None, limit: int) -> list[tuple[str, str | None]]:
        with self.store.env.begin() as txn:
            return list_objects(txn, self.store, class_name, after, limit)

    def stats(self) -> dict[str, Any]:
        return {
            "storage": self.store.stats(),
            "objects_resident": len(self.residents),
            "objects_evicted": self.residents.evicted,
            "counters": dict(self.counters),
            "last_commit_ms": self.last_commit_ms,
        }


def _abort_quietly(cycle: Cycle) -> None:
    try:
        cycle.abort()
    except lmdb.Error:
        log.debug("abort after a failed commit raised", exc_info=True)
