"""The runtime: turns their requests and due alarms into turns, each along one dispatch path.

It owns the :class:`~daemon.storage.Store`, the :class:`~daemon.ids.IdFactory`
and the object classes, and knows nothing of ZeroMQ: the server hands it
parsed requests as a :class:`~daemon.runtime.cycle.Cycle` and gets back the
replies, the change events and the notices to publish, after the cycle's
commit. Every request is one turn: its target resolved, its arguments
checked, its idempotency key looked up, then a storage op, a class op or an
alarm delivery run in a :class:`~daemon.runtime.session.Session`, whose
change sets the cycle's transaction applies only if the turn finishes.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from daemon.errors import BadRequest, Forbidden, NotFound, StorageError, UnknownOp, shown, to_wire
from daemon.ids import IdFactory, check_class_name
from daemon.model import ObjectRef, Request
from daemon.runtime import alarms, held_notices
from daemon.runtime.args import Args
from daemon.runtime.classes import ObjectClass
from daemon.runtime.cycle import Cycle, CycleResult, Notice
from daemon.runtime.health import health_report
from daemon.runtime.object_storage import ObjectStorage
from daemon.runtime.ops import GLOBAL_OPS, OBJECT_OPS, ObjectOp
from daemon.runtime.residents import Residents
from daemon.runtime.session import CallPolicy, Session
from daemon.storage import CycleTransaction, Store
from schemas.wire import SUPPORTED_VERSIONS, ok_reply

log = logging.getLogger(__name__)

# The refs cache of targets named by class and name starts over past either limit: names are up
# to 2 KiB, so a count alone would let a client that names many objects hold ~200 MB.
_NAME_CACHE_LIMIT = 65_536
_NAME_CACHE_BYTES = 16 << 20


def wall_clock_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class RuntimeOptions:
    """The runtime's policies, read once from the configuration."""

    declared_classes: tuple[str, ...] = ()
    allow_undeclared_classes: bool = True
    idempotency_window_ms: int = 3_600_000
    alarm_retry: alarms.RetryPolicy = field(default_factory=alarms.RetryPolicy)
    alarm_batch: int = 1024
    class_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    resident_limit: int = 10_000
    resident_idle_s: float = 300.0


class Runtime:
    """Runs turns against storage; single-threaded, driven by the server loop.

    ``counters`` may be shared with the server: each key has one writer.
    """

    def __init__(
        self,
        store: Store,
        ids: IdFactory,
        version: str,
        options: RuntimeOptions | None = None,
        classes: Mapping[str, type[ObjectClass]] | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        rng: random.Random | None = None,
        counters: Counter[str] | None = None,
    ) -> None:
        self.store = store
        self.ids = ids
        self.version = version
        self.options = options or RuntimeOptions()
        self.classes = dict(classes or {})
        self.clock = clock
        self.protocols = SUPPORTED_VERSIONS
        self.counters: Counter[str] = Counter() if counters is None else counters
        self.last_commit_ms = 0
        self.next_sweep_ms = 0
        self.alarm_batch = self.options.alarm_batch
        self.retry = self.options.alarm_retry
        self.rng = rng or random.Random()
        self._declared = frozenset(self.options.declared_classes) | frozenset(self.classes)
        self.retired: dict[str, str] = {}
        self.residents = Residents(self.options.class_options, self.options.resident_limit,
                                   self.options.resident_idle_s)
        # Refs of targets named by class and name, checked once: the hot path's shortcut.
        self._refs: dict[tuple[str, str], ObjectRef] = {}
        # Plain objects' alarms that came due while the daemon was down (see hold_overdue_notices).
        self.hold: held_notices.Hold | None = None
        self._refs_bytes = 0
        # Where a turn's calls to other objects go, when a cluster node decides (see Session).
        self.call_policy: CallPolicy | None = None
        # Whether a notice's topic has a subscriber now (the server sets it; subscriptions change only
        # between cycles): a turn keeps only the notices someone will be sent. None keeps them all.
        self.notice_wanted: Callable[[bytes], bool] | None = None

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
        if len(self._refs) >= _NAME_CACHE_LIMIT or self._refs_bytes >= _NAME_CACHE_BYTES:
            self._refs.clear()
            self._refs_bytes = 0
        self._refs[(class_name, name)] = ref
        self._refs_bytes += len(name)
        return ref

    # cycles ----------------------------------------------------------------
    def cycle(self, requests: list[Request], fire_alarms: bool = False) -> Cycle:
        """Begin a cycle for ``requests`` (and, if asked, the due alarms); the caller drives its phases."""
        self.residents.evict_idle()
        return Cycle(self, requests, fire_alarms)

    def run_cycle(self, requests: list[Request], fire_alarms: bool = False) -> CycleResult:
        """Run every phase of a cycle in order: the turns, the due alarms (if asked), the commit."""
        cycle = self.cycle(requests, fire_alarms)
        cycle.run_turns()
        if fire_alarms:
            cycle.fire_alarms(budget_s=0.1)
        return cycle.commit()

    def run_alarms(self) -> CycleResult:
        """Fire the alarms due now in one cycle of their own; commit once (see :mod:`daemon.runtime.alarms`)."""
        return self.run_cycle([], fire_alarms=True)

    # one turn ----------------------------------------------------------------
    def turn(self, txn: CycleTransaction, request: Request, now: int, notices: list[Notice]) -> dict[str, Any]:
        """Run ``request`` as one turn in ``txn``; return its reply. Only ``StorageError`` escapes."""
        object_op = OBJECT_OPS.get(request.op)
        if object_op is not None:
            return self._storage_turn(txn, request, object_op, now)
        session: Session | None = None
        try:
            global_op = GLOBAL_OPS.get(request.op)
            if global_op is not None:
                Args(request.op, request.args, *global_op.args)
                return ok_reply(request.id, global_op.run(self, txn, request.args))
            class_name, method, writes = self._class_op(request.op)
            ref = self.resolve(request.target)
            if ref.class_name != class_name:
                raise BadRequest(f"{request.op} needs a {class_name} target, got a {ref.class_name}")
            idem = self._idem(request, writes)
            if idem is not None:
                seen, result = txn.remembered(ref, idem, now)
                if seen:
                    self.counters["idempotent_replays"] += 1
                    return ok_reply(request.id, result)
            session = self.session(txn, now)
            result = session.invoke(ref, method, request.args)
        except StorageError:
            raise
        except Exception as exc:
            if session is not None:
                for object_id in session.touched():
                    self.residents.drop(object_id)
            return self._refused(request, exc)
        self.finish(txn, session, notices)
        if idem is not None:
            txn.remember(ref, idem, result, now + self.options.idempotency_window_ms)
        return ok_reply(request.id, result)

    def _storage_turn(self, txn: CycleTransaction, request: Request, object_op: ObjectOp, now: int) -> dict[str, Any]:
        """A storage or alarm op's turn: one object's storage view, no session (nothing else is reached)."""
        view: ObjectStorage | None = None
        try:
            if not object_op.arg_names.issuperset(request.args):
                Args(request.op, request.args, *object_op.args)  # raises, naming the unknown argument
            ref = self.resolve(request.target)
            idem = self._idem(request, object_op.writes)
            if idem is not None:
                seen, result = txn.remembered(ref, idem, now)
                if seen:
                    self.counters["idempotent_replays"] += 1
                    return ok_reply(request.id, result)
            view = ObjectStorage(txn, ref)
            result = object_op.run(view, request.args)
        except StorageError:
            raise
        except Exception as exc:
            if view is not None:
                self.residents.drop(view.ref.id)
            return self._refused(request, exc)
        if object_op.writes:
            self.residents.drop(ref.id)  # its storage changed under its in-memory form
            txn.apply(view.changes)
            if idem is not None:
                txn.remember(ref, idem, result, now + self.options.idempotency_window_ms)
        return ok_reply(request.id, result)

    @staticmethod
    def _idem(request: Request, writes: bool) -> str | None:
        """The idempotency key a request's turn uses: its own if the op may write (after the readonly check)."""
        if writes and request.readonly:
            raise Forbidden(f"{request.op} writes; this request may only read")
        return request.idem if writes else None

    def _refused(self, request: Request, exc: Exception) -> dict[str, Any]:
        reply = to_wire(request.id, exc)
        self.counters[f"errors.{reply['error']['code']}"] += 1
        return reply

    def reads_only(self, requests: list[Request]) -> bool:
        """Whether every request is a known read: a global op, a storage or alarm read, a class op that reads.

        An unknown op (its reply is an error) writes nothing either.
        """
        for request in requests:
            op = request.op
            if op in GLOBAL_OPS:
                continue
            object_op = OBJECT_OPS.get(op)
            if object_op is not None:
                if object_op.writes:
                    return False
                continue
            class_name, _, method = op.partition(".")
            cls = self.classes.get(class_name)
            if cls is not None and cls.ops.get(method, ("", False))[1]:
                return False
        return True

    def _class_op(self, op: str) -> tuple[str, str, bool]:
        """``(class, method, writes)`` of the class op ``op`` (``<Class>.<method>``); raises ``UnknownOp``."""
        class_name, _, method = op.partition(".")
        cls = self.classes.get(class_name)
        if cls is None or method not in cls.ops:
            class_ops = (f"{name}.{m}" for name, c in self.classes.items() for m in c.ops)
            known = sorted([*GLOBAL_OPS, *OBJECT_OPS, *class_ops])
            raise UnknownOp(f"unknown op {shown(op)}; known ops are {', '.join(known)}")
        return class_name, method, cls.ops[method][1]

    def session(self, txn: CycleTransaction, now: int) -> Session:
        """A fresh session (one top-level turn) over ``txn``."""
        return Session(txn, now, self.classes, self.residents, self.resolve, self.call_policy, self.notice_wanted)

    def finish(self, txn: CycleTransaction, session: Session, notices: list[Notice]) -> None:
        """The turn finished: apply every object's change set to ``txn``, keep its notices."""
        for changes in session.change_sets():
            txn.apply(changes)
        notices.extend(session.notices)

    def deliver(self, txn: CycleTransaction, object_id: bytes, now: int, notices: list[Notice]) -> None:
        """Deliver the alarm of ``object_id`` if it is due (see :mod:`daemon.runtime.alarms`)."""
        alarms.deliver(self, txn, object_id, now, notices)

    # held notices (daemon/runtime/held_notices.py) ----------------------------
    def hold_overdue_notices(self, grace_ms: int) -> int:
        """At start, before alarms are armed: hold plain objects' overdue alarms for ``grace_ms``.

        Returns how many were held. Writes their new due times; if storage fails, holds none.
        """
        try:
            self.hold = held_notices.hold_overdue(self, self.clock(), grace_ms, self.alarm_batch)
        except StorageError as exc:  # they fire at once then, as they would without a grace period
            log.error("could not hold the notices of alarms that came due while the daemon was down: %s", exc)
            self.hold = None
        return 0 if self.hold is None else self.hold.remaining

    def release_held(self, prefix: bytes) -> int:
        """A subscriber subscribed to ``prefix``: make the held alarms it would hear due now; return how many.

        Call between cycles; then fire the due alarms.
        """
        if self.hold is None:
            return 0
        return held_notices.release(self, self.hold, prefix, self.clock(), self.alarm_batch)

    # queries ---------------------------------------------------------------
    def alarm_due_times(self, after_ms: int, until_ms: int, limit: int) -> list[int]:
        """Distinct due times in ``(after_ms, until_ms]``, earliest first, at most ``limit``."""
        with self.store.snapshot() as snapshot:
            return snapshot.alarm_due_times(after_ms, until_ms, limit)

    def stats(self) -> dict[str, Any]:
        """The ``stats`` op's report: storage figures, resident objects, counters."""
        return {
            "storage": self.store.stats(),
            "objects_resident": len(self.residents),
            "objects_evicted": self.residents.evicted,
            "counters": dict(self.counters),
            "last_commit_ms": self.last_commit_ms,
        }

    def health(self) -> dict[str, Any]:
        """The ``health`` op's report (docs/protocol.md)."""
        return health_report(self.store, self.version, self.counters, self.last_commit_ms, self.clock())


__all__ = ["CycleResult", "Runtime", "RuntimeOptions", "wall_clock_ms"]
