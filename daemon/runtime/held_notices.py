"""Held notices: plain objects' alarms that came due while the daemon was down wait for a listener.

A plain object's alarm becomes an ``alarm.<class>.<id>`` notice on the PUB
socket, and PUB drops what no connected subscriber wants. At start-up no
subscriber has reconnected yet, so such alarms fired at once were all lost.
So at start, before alarms are armed, every stored alarm of a plain object
(a class with no alarm handler) due before the start is *held*: its due time
moves to the end of the grace period (``alarm_notice_grace_s`` after the
start) and its first due time (``scheduled_ms``, which the notice carries)
stays. A held alarm fires

* as soon as a subscriber subscribes to a prefix of its topic (the server
  learns subscriptions from its XPUB socket and calls :func:`release`), or
* when the grace period ends, like any alarm due then.

Held alarms stay stored, in the same records and index as any alarm: a
crash while they are held loses nothing, and the next start holds them
again. Each step is its own small write transaction between cycles.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from daemon.model import AlarmRecord, ObjectRef
from daemon.runtime.classes import ObjectClass
from daemon.storage import CycleTransaction, Store

log = logging.getLogger(__name__)

_TOPIC = b"alarm."


@dataclass
class Hold:
    """The alarms held at this start: those due before ``started_ms`` now wait until ``release_ms``."""

    started_ms: int
    release_ms: int
    # Held and not released early yet (an upper bound: a client may delete a held alarm).
    remaining: int


class Host(Protocol):
    """What holding and releasing need of the runtime."""

    store: Store
    counters: Counter[str]

    @property
    def classes(self) -> Mapping[str, type[ObjectClass]]: ...


def hold_overdue(host: Host, started_ms: int, grace_ms: int, batch: int) -> Hold | None:
    """Hold the plain objects' alarms due before ``started_ms`` until ``started_ms + grace_ms``.

    Writes the new due times, ``batch`` alarms per commit. Returns the hold,
    or ``None`` if nothing was held (or ``grace_ms`` is 0).
    """
    if grace_ms <= 0:
        return None
    release_ms = started_ms + grace_ms
    held = 0
    after: tuple[int, bytes] = (0, b"")
    while True:
        txn = host.store.begin()
        try:
            due = txn.due_alarms(started_ms - 1, batch, after)
            for _, object_id in due:
                record = txn.alarm_by_id(object_id)
                if record is not None and _plain(host, record):
                    _move(txn, object_id, record, release_ms)
                    held += 1
            txn.commit()
        except BaseException:
            txn.abort()
            raise
        if len(due) < batch:
            break
        after = due[-1]
    if not held:
        return None
    host.counters["alarms.held"] += held
    log.info(
        "holding %d alarm notices of plain objects that came due while the daemon was down: each is "
        "published once a subscriber for it connects, or after alarm_notice_grace_s (%d s)", held, grace_ms // 1000,
    )
    return Hold(started_ms, release_ms, held)


def release(host: Host, hold: Hold, prefix: bytes, now_ms: int, batch: int) -> int:
    """Make the held alarms whose topic starts with ``prefix`` due at ``now_ms``; return how many.

    Called when a subscriber subscribes to ``prefix``; the caller then has
    the due alarms fired. Does nothing once the grace period is over.
    """
    if hold.remaining <= 0 or now_ms >= hold.release_ms:
        return 0
    if not (_TOPIC.startswith(prefix) or prefix.startswith(_TOPIC)):
        return 0
    released = 0
    after: tuple[int, bytes] = (hold.release_ms, b"")
    while True:
        txn = host.store.begin()
        try:
            due = txn.due_alarms(hold.release_ms, batch, after)
            moved = 0
            for _, object_id in due:
                record = txn.alarm_by_id(object_id)
                if (record is not None and record.scheduled_ms < hold.started_ms and _plain(host, record)
                        and _topic(record.class_name, object_id).startswith(prefix)):
                    _move(txn, object_id, record, now_ms)
                    moved += 1
            if moved:
                txn.commit()
            else:
                txn.abort()
        except BaseException:
            txn.abort()
            raise
        released += moved
        if len(due) < batch:
            break
        after = due[-1]
    hold.remaining -= released
    host.counters["alarms.released"] += released
    return released


def _plain(host: Host, record: AlarmRecord) -> bool:
    cls = host.classes.get(record.class_name)
    return cls is None or not cls.handles_alarms()


def _topic(class_name: str, object_id: bytes) -> bytes:
    return _TOPIC + f"{class_name}.{object_id.hex()}".encode()


def _move(txn: CycleTransaction, object_id: bytes, record: AlarmRecord, at_ms: int) -> None:
    ref = ObjectRef(record.class_name, object_id.hex(), record.name)
    txn.write_alarm(ref, record._replace(at_ms=at_ms), record)
