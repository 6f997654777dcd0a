"""Alarm delivery: a due alarm runs its class's handler as a turn, or becomes a notice.

A class with an alarm handler runs it as a turn: on success the alarm is
cleared in the same commit as the handler's writes (unless it set a new one);
on failure it is retried with backoff (:class:`RetryPolicy`), then dropped
with an ``alarm_dropped.<class>.<id>`` notice. An object without a handler
gets an ``alarm.<class>.<id>`` notice, published after the commit that clears
its alarm.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from daemon.errors import StorageError
from daemon.model import UNCHANGED, AlarmRecord, ObjectRef
from daemon.runtime.classes import AlarmInfo, ObjectClass
from daemon.runtime.residents import Residents
from daemon.runtime.session import Session
from daemon.storage import CycleTransaction

log = logging.getLogger(__name__)

Notice = tuple[bytes, Any]


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed alarm handler runs again: ``base * 2**retry``, plus jitter, ``max_retries`` times.

    The defaults are Durable Objects': 2 s doubling, 6 retries.
    """

    base_ms: int = 2000
    max_retries: int = 6
    jitter: float = 0.25

    def delay_ms(self, retry_count: int, rng: random.Random) -> int:
        """The wait before retry number ``retry_count`` (1 for the first retry)."""
        base = self.base_ms * (2 ** (retry_count - 1))
        return int(base * (1 + rng.uniform(0, self.jitter)))


def alarm_notice(kind: str, ref: ObjectRef, scheduled_ms: int, **extra: Any) -> Notice:
    """``(topic, body)`` of an alarm notice: ``kind`` is ``alarm`` or ``alarm_dropped``."""
    body = {"v": 1, "class": ref.class_name, "id": ref.id, "name": ref.name, "scheduled_ms": scheduled_ms, **extra}
    return f"{kind}.{ref.class_name}.{ref.id}".encode(), body


class Host(Protocol):
    """What delivering an alarm needs of the runtime."""

    @property
    def classes(self) -> Mapping[str, type[ObjectClass]]: ...

    residents: Residents
    counters: Counter[str]
    retry: RetryPolicy
    rng: random.Random

    def session(self, txn: CycleTransaction, now: int) -> Session: ...

    def finish(self, txn: CycleTransaction, session: Session, notices: list[Notice]) -> None: ...


def deliver(runtime: Host, txn: CycleTransaction, object_id: bytes, now: int, notices: list[Notice]) -> None:
    """Deliver the alarm of ``object_id`` if it is still due at ``now``."""
    record = txn.alarm_by_id(object_id)
    if record is None or record.at_ms > now:
        return
    ref = ObjectRef(record.class_name, object_id.hex(), record.name)
    cls = runtime.classes.get(ref.class_name)
    counters = runtime.counters
    if cls is None or not cls.handles_alarms():
        txn.write_alarm(ref, None, record)
        notices.append(alarm_notice("alarm", ref, record.scheduled_ms, fired_ms=now))
        counters["alarms.published"] += 1
        return
    session = runtime.session(txn, now)
    storage = session.storage(ref)
    storage.changes.delivering = record
    try:
        session.alarm(ref, AlarmInfo(record.scheduled_ms, record.retry_count))
    except StorageError:
        raise
    except Exception as exc:
        for touched in session.touched():
            runtime.residents.drop(touched)
        _retry_or_drop(runtime, txn, ref, record, storage.changes.alarm is None, exc, now, notices)
        return
    if storage.changes.alarm is UNCHANGED:
        storage.changes.alarm = None
    runtime.finish(txn, session, notices)
    counters["alarms.fired"] += 1


def _retry_or_drop(
    runtime: Host,
    txn: CycleTransaction,
    ref: ObjectRef,
    record: AlarmRecord,
    deleted_by_handler: bool,
    exc: Exception,
    now: int,
    notices: list[Notice],
) -> None:
    retry = record.retry_count + 1
    policy = runtime.retry
    counters = runtime.counters
    if deleted_by_handler:
        txn.write_alarm(ref, None, record)
        log.info("alarm of %s %s failed after deleting itself; not retried: %r", ref.class_name, ref.id, exc)
        counters["alarms.stopped"] += 1
    elif retry > policy.max_retries:
        txn.write_alarm(ref, None, record)
        log.warning(
            "alarm of %s %s (%s) dropped after %d retries; last error: %r",
            ref.class_name, ref.id, ref.name, policy.max_retries, exc,
        )
        notices.append(alarm_notice(
            "alarm_dropped", ref, record.scheduled_ms, retries=policy.max_retries, error=repr(exc)[:500],
        ))
        counters["alarms.dropped"] += 1
    else:
        at_ms = now + policy.delay_ms(retry, runtime.rng)
        txn.write_alarm(ref, AlarmRecord(ref.class_name, ref.name, at_ms, record.scheduled_ms, retry), record)
        log.info("alarm of %s %s failed (retry %d at %d): %r", ref.class_name, ref.id, retry, at_ms, exc)
        counters["alarms.retried"] += 1
