"""The change stream: how committed changes become PUB messages.

Each message is two frames, a topic and a msgpack body. Topics read from the
general to the particular, so a subscriber filters by prefix:
``change.<class>.<id>`` (ids are 64 hex characters, so a full topic never
prefixes another object's).
"""

from __future__ import annotations

from typing import Any

import msgpack

from daemon.objects import ChangeEvent

CHANGE_TOPIC = "change"


def change_topic(class_name: str, object_id: str) -> bytes:
    """The topic of ``object_id``'s changes."""
    return f"{CHANGE_TOPIC}.{class_name}.{object_id}".encode()


def encode_change(event: ChangeEvent) -> tuple[bytes, bytes]:
    """``(topic, body)`` for one committed change event."""
    changes: list[dict[str, Any]] = [
        {"key": change.key, "deleted": True}
        if change.packed is None
        else {"key": change.key, "value": change.value}
        for change in event.changes
    ]
    body = {
        "v": 1,
        "class": event.ref.class_name,
        "id": event.ref.id,
        "name": event.ref.name,
        "commit": event.commit_seq,
        "cleared": event.cleared,
        "changes": changes,
    }
    return change_topic(event.ref.class_name, event.ref.id), msgpack.packb(body, use_bin_type=True)


def alarm_topic(kind: str, class_name: str, object_id: str) -> bytes:
    """``alarm.<class>.<id>`` for a due alarm, ``alarm_dropped.<class>.<id>`` for a dropped one."""
    return f"{kind}.{class_name}.{object_id}".encode()


def encode_alarm(
    kind: str, class_name: str, object_id: str, name: str | None, scheduled_ms: int, **extra: Any
) -> tuple[bytes, bytes]:
    """``(topic, body)`` for an alarm notice (``kind`` is ``alarm`` or ``alarm_dropped``)."""
    body = {"v": 1, "class": class_name, "id": object_id, "name": name, "scheduled_ms": scheduled_ms, **extra}
    return alarm_topic(kind, class_name, object_id), msgpack.packb(body, use_bin_type=True)
