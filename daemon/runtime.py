"""The runtime: runs a batch of requests as one cycle of turns, then commits once.

It owns the :class:`~daemon.storage.Store` and the :class:`~daemon.ids.IdFactory`
and knows nothing of ZeroMQ: the server hands it parsed requests and gets back
one reply per request plus the change events to publish, after the commit.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import lmdb

from daemon.envelope import Request
from daemon.errors import BadRequest, NotFound, Unavailable, UnknownOp, to_wire
from daemon.ids import IdFactory, check_class_name
from daemon.objects import ChangeEvent, ObjectRef
from daemon.ops import OPS, check_args
from daemon.storage import Cycle, Store, list_objects, now_ms
from schemas.wire import SUPPORTED_VERSIONS, ErrorCode, ok_reply

log = logging.getLogger(__name__)

_NAME_CACHE_LIMIT = 100_000
_IDEM_SWEEP_EVERY_MS = 1_000
_IDEM_SWEEP_BUDGET = 1_000
_CYCLE_ATTEMPTS = 8


@dataclass
class CycleResult:
    """One reply per request, in order, and the committed changes to publish."""

    replies: list[dict[str, Any]]
    events: list[ChangeEvent] = field(default_factory=list)
    wrote: bool = False


class Runtime:
    """Runs turns against storage; single-threaded, driven by the server loop."""

    def __init__(
        self,
        store: Store,
        ids: IdFactory,
        version: str,
        declared_classes: tuple[str, ...] = (),
        allow_undeclared_classes: bool = True,
    ) -> None:
        self.store = store
        self.ids = ids
        self.version = version
        self.protocols = SUPPORTED_VERSIONS
        self.counters: Counter[str] = Counter()
        self._declared = frozenset(declared_classes)
        self._allow_undeclared = allow_undeclared_classes
        self._name_ids: dict[tuple[str, str], str] = {}
        self._next_sweep_ms = 0
        self.last_commit_ms = 0

    # targets ---------------------------------------------------------------
    def resolve(self, target: Any) -> ObjectRef:
        """The object a request's ``target`` names; raises on a malformed target or id."""
        if not isinstance(target, dict):
            raise BadRequest('this op needs a target: {"class", "name"} or {"class", "id"}')
        class_name = check_class_name(target.get("class"))
        if not self._allow_undeclared and class_name not in self._declared:
            raise NotFound(
                f"class {class_name!r} is not declared; add it to [classes] declared in the "
                "config, or set allow_undeclared = true"
            )
        if ("name" in target) == ("id" in target) or len(target) != 2:
            raise BadRequest('a target is {"class", "name"} or {"class", "id"}, exactly one of name or id')
        if "id" in target:
            return ObjectRef(class_name, self.ids.from_string(class_name, target["id"]))
        name = target["name"]
        if isinstance(name, str):
            object_id = self._name_ids.get((class_name, name))
            if object_id is not None:
                return ObjectRef(class_name, object_id, name)
        object_id = self.ids.from_name(class_name, name)
        if len(self._name_ids) >= _NAME_CACHE_LIMIT:
            self._name_ids.clear()
        self._name_ids[(class_name, name)] = object_id
        return ObjectRef(class_name, object_id, name)

    # cycles ----------------------------------------------------------------
    def run_cycle(self, requests: list[Request]) -> CycleResult:
        """Run every request as a turn in one write transaction; commit once.

        Replies come back in request order. No reply is returned before the
        commit (with fsync) that makes its writes durable. If the map is full,
        it grows and the whole cycle runs again from the start; if storage
        fails otherwise, every request gets ``UNAVAILABLE`` and nothing is written.
        """
        self.store.ensure_capacity(len(requests))
        for _ in range(_CYCLE_ATTEMPTS):
            now = now_ms()
            cycle = self.store.begin()
            try:
                replies = [self._turn(cycle, request, now) for request in requests]
                if now >= self._next_sweep_ms:
                    cycle.idem_sweep(now, _IDEM_SWEEP_BUDGET)
                    self._next_sweep_ms = now + _IDEM_SWEEP_EVERY_MS
                events = cycle.commit()
            except lmdb.MapFullError:
                cycle.abort()
                try:
                    self.store.grow_map()
                except Unavailable as exc:
                    return self._fail_all(requests, exc)
                continue
            except lmdb.DbsFullError:
                cycle.abort()
                self.store.ensure_capacity(len(requests) * 4)
                continue
            except lmdb.Error as exc:
                log.error("storage failed; the cycle was rolled back: %s", exc)
                _abort_quietly(cycle)
                return self._fail_all(requests, Unavailable(f"storage failed: {exc}; nothing was written"))
            if events:
                self.last_commit_ms = now
            self.counters["cycles"] += 1
            self.counters["requests"] += len(requests)
            return CycleResult(replies, events, bool(events))
        return self._fail_all(requests, Unavailable("storage could not make room for this cycle"))

    def _turn(self, cycle: Cycle, request: Request, now: int) -> dict[str, Any]:
        op = OPS.get(request.op)
        try:
            if op is None:
                raise UnknownOp(f"unknown op {request.op!r}; known ops are {', '.join(sorted(OPS))}")
            check_args(request.op, op, request.args)
            if not op.takes_target:
                return ok_reply(request.id, op.run(self, None, request.args))
            ref = self.resolve(request.target)
            idem = request.idem if op.writes else None
            if idem is not None:
                seen, result = cycle.idem_lookup(ref, idem, now)
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
        if idem is not None:
            cycle.idem_record(ref, idem, result, now)
        return ok_reply(request.id, result)

    def _fail_all(self, requests: list[Request], exc: Exception) -> CycleResult:
        return CycleResult([to_wire(request.id, exc) for request in requests])

    # queries ---------------------------------------------------------------
    def list_objects(self, class_name: str, after: str | None, limit: int) -> list[tuple[str, str | None]]:
        with self.store.env.begin() as txn:
            return list_objects(txn, self.store, class_name, after, limit)

    def stats(self) -> dict[str, Any]:
        return {
            "storage": self.store.stats(),
            "counters": dict(self.counters),
            "last_commit_ms": self.last_commit_ms,
        }


def _abort_quietly(cycle: Cycle) -> None:
    try:
        cycle.abort()
    except lmdb.Error:
        log.debug("abort after a failed commit raised", exc_info=True)


__all__ = ["CycleResult", "ErrorCode", "Runtime"]
