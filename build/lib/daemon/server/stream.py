"""The change stream: how committed changes become PUB messages.

Each message is two frames, a topic and a msgpack body. Topics read from the
general to the particular, so a subscriber filters by prefix:
``change.<class>.<id>`` (ids are 64 hex characters, so a full topic never
prefixes another object's). The server learns the subscribed prefixes from
its XPUB socket and builds a message only if someone would receive it.
"""

from __future__ import annotations

from typing import Any

from daemon.model import ChangeEvent
from schemas.wire import Encoded, encode_value

CHANGE_TOPIC = "change"


def change_topic(class_name: str, object_id: str) -> bytes:
    """The topic of ``object_id``'s changes."""
    return f"{CHANGE_TOPIC}.{class_name}.{object_id}".encode()


def change_body(event: ChangeEvent) -> Encoded:
    """The body of the message for one committed change event (the values as they were stored)."""
    changes: list[dict[str, Any]] = [
        {"key": change.key, "deleted": True}
        if change.packed is None
        else {"key": change.key, "value": Encoded(change.packed)}
        for change in event.changes
    ]
    return encode_value({
        "v": 1,
        "class": event.ref.class_name,
        "id": event.ref.id,
        "name": event.ref.name,
        "commit": event.commit_seq,
        "cleared": event.cleared,
        "changes": changes,
    })


def wanted(topic: bytes, subscriptions: set[bytes]) -> bool:
    """Whether any subscriber's prefix matches ``topic``."""
    return any(topic.startswith(prefix) for prefix in subscriptions)
