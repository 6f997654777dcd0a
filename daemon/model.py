"""The value types every layer shares: refs, limits, requests, change sets and events, alarms, migration steps.

Nothing here does I/O or imports a library of the stack (LMDB, ZeroMQ): the
storage layer writes these, the runtime makes them, the server sends them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from daemon.errors import BadRequest

MAX_AT_MS = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    """The storage limits (Durable Objects', with the source document's 2 MiB)."""

    max_key_bytes: int = 2048
    max_entry_bytes: int = 2 * 1024 * 1024
    max_batch: int = 128


@dataclass(frozen=True)
class ObjectRef:
    """Which object: its class, its 64-hex id, and its name when addressed by one."""

    class_name: str
    id: str
    name: str | None = None


class Request(NamedTuple):
    """A well-formed request envelope; its op and args are checked later.

    ``readonly`` marks a request that must not write: an op that may write
    is refused with ``FORBIDDEN`` before it runs (the gateway sets it for
    read-scoped tokens).
    """

    id: int | str
    op: str
    target: Any
    args: dict[str, Any]
    idem: str | None
    readonly: bool = False


class PlainArgs(dict[str, Any]):
    """Arguments the typed envelope path decoded: plain values only (no binary data, no extension types).

    In a batch frame, a ``storage.put``'s ``value`` comes as its msgpack bytes, an ``Encoded``
    (daemon/server/typed_envelope.py).

    msgspec encodes a plain value into the bytes msgpack makes of it, faster;
    a value that may hold an extension type (msgpack's ``ExtType``, a tuple to
    msgspec) must go through msgpack.
    """


class AlarmRecord(NamedTuple):
    """A stored alarm: when it is due now, when it was first due, and retries so far."""

    class_name: str
    name: str | None
    at_ms: int
    scheduled_ms: int
    retry_count: int = 0


def check_alarm_time(at_ms: object) -> int:
    """Return ``at_ms`` if it is a valid alarm time (epoch ms > 0), else raise ``BadRequest``."""
    if isinstance(at_ms, bool) or not isinstance(at_ms, int) or not 0 < at_ms <= MAX_AT_MS:
        raise BadRequest(f"an alarm time is epoch milliseconds, an integer > 0; got {at_ms!r}")
    return at_ms


@dataclass(slots=True)
class Change:
    """One key's pending change: its new value's msgpack bytes, or ``None`` for a delete."""

    key: str
    packed: bytes | None


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()


@dataclass(slots=True)
class ChangeSet:
    """A turn's buffered writes to one object, keyed by UTF-8 key bytes.

    ``alarm`` is the alarm the turn set (epoch ms), ``None`` if it cleared it,
    or :data:`UNCHANGED`. ``delivering`` is the stored alarm an alarm handler
    is running for: it no longer counts as set, and the cycle need not read it
    again to replace or clear it.
    """

    ref: ObjectRef
    entries: dict[bytes, Change] = field(default_factory=dict)
    cleared: bool = False
    alarm: int | _Unchanged | None = UNCHANGED
    delivering: AlarmRecord | None = None

    def event(self) -> ChangeEvent:
        return ChangeEvent(self.ref, self.cleared, list(self.entries.values()))


@dataclass(slots=True)
class ChangeEvent:
    """What a committed turn changed in one object; published after commit."""

    ref: ObjectRef
    cleared: bool
    changes: list[Change]
    commit_seq: int = 0


@dataclass(frozen=True)
class Step:
    """One tagged class migration step, as the config lists it (``[[migrations]]``)."""

    tag: str
    new_classes: tuple[str, ...] = ()
    renamed_classes: tuple[tuple[str, str], ...] = ()
    deleted_classes: tuple[str, ...] = ()

    def digest(self) -> str:
        """A digest of the step's content: an edited step has another digest."""
        content = [self.tag, list(self.new_classes), [list(pair) for pair in self.renamed_classes],
                   list(self.deleted_classes)]
        return hashlib.sha256(json.dumps(content).encode()).hexdigest()[:16]
