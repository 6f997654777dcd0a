"""Per-object alarms as they are stored: one record per object, an index by due time.

``_alarms`` maps an object id (32 bytes) to its :class:`AlarmRecord`;
``_alarm_due`` holds ``due time (8 bytes, big-endian ms) + object id`` so the
due alarms, and the next due times, are a range scan: start-up never walks
every object. Both are written in the same transaction as the turn that set,
replaced or cleared the alarm. The timer that wakes the server at due times
is :mod:`daemon.server.alarm_clock`; it holds no truth of its own.
"""

from __future__ import annotations

from typing import Any

import lmdb
import msgpack

from daemon.errors import BadData
from daemon.model import AlarmRecord

ALARMS_DB = b"_alarms"
DUE_DB = b"_alarm_due"
RECORD_VERSION = 1
_pack = msgpack.Packer(use_bin_type=True).pack


def encode(record: AlarmRecord) -> bytes:
    """A record as stored: the msgpack array ``[version, class, name, at, scheduled, retry]``.

    Alarms are read and written once per firing, so the compact form pays.
    """
    packed: bytes = _pack((RECORD_VERSION, *record))
    return packed


def decode(raw: bytes) -> AlarmRecord:
    """A stored record; raises ``BadData`` for a version newer than this code."""
    fields = msgpack.unpackb(raw, raw=False)
    if fields[0] > RECORD_VERSION:
        raise BadData(
            f"alarm record version {fields[0]} is newer than this Lodestone's "
            f"{RECORD_VERSION}; upgrade Lodestone to read this data directory"
        )
    return AlarmRecord(*fields[1:])


def _due_key(at_ms: int, object_id: bytes) -> bytes:
    return at_ms.to_bytes(8, "big") + object_id


def read(txn: lmdb.Transaction, dbs: dict[bytes, Any], object_id: bytes) -> AlarmRecord | None:
    """The alarm of ``object_id``, if it has one."""
    raw = txn.get(object_id, db=dbs[ALARMS_DB])
    return None if raw is None else decode(bytes(raw))


UNREAD: Any = object()


def write(
    txn: lmdb.Transaction,
    dbs: dict[bytes, Any],
    object_id: bytes,
    record: AlarmRecord | None,
    old: AlarmRecord | None = UNREAD,
) -> None:
    """Replace the alarm of ``object_id`` with ``record`` (``None`` clears it), with its index entry.

    ``old`` is the stored alarm when the caller has just read it.
    """
    if old is UNREAD:
        old = read(txn, dbs, object_id)
    if old is not None:
        txn.delete(_due_key(old.at_ms, object_id), db=dbs[DUE_DB])
    if record is None:
        if old is not None:
            txn.delete(object_id, db=dbs[ALARMS_DB])
        return
    txn.put(object_id, encode(record), db=dbs[ALARMS_DB])
    txn.put(_due_key(record.at_ms, object_id), b"", db=dbs[DUE_DB])


def due(
    txn: lmdb.Transaction, dbs: dict[bytes, Any], until_ms: int, limit: int
) -> list[tuple[int, bytes]]:
    """Up to ``limit`` ``(at_ms, object_id)`` of alarms due at or before ``until_ms``, earliest first."""
    found: list[tuple[int, bytes]] = []
    cursor = txn.cursor(dbs[DUE_DB])
    if not cursor.first():
        return found
    for key in cursor.iternext(keys=True, values=False):
        at_ms = int.from_bytes(key[:8], "big")
        if at_ms > until_ms or len(found) >= limit:
            break
        found.append((at_ms, bytes(key[8:])))
    return found


def due_times(
    txn: lmdb.Transaction, dbs: dict[bytes, Any], after_ms: int, until_ms: int, limit: int
) -> list[int]:
    """Up to ``limit`` distinct due times in ``(after_ms, until_ms]``, earliest first."""
    times: list[int] = []
    cursor = txn.cursor(dbs[DUE_DB])
    if not cursor.set_range((after_ms + 1).to_bytes(8, "big")):
        return times
    for key in cursor.iternext(keys=True, values=False):
        at_ms = int.from_bytes(key[:8], "big")
        if at_ms > until_ms or len(times) >= limit:
            break
        if not times or times[-1] != at_ms:
            times.append(at_ms)
    return times


def count(txn: lmdb.Transaction, dbs: dict[bytes, Any]) -> int:
    """How many alarms are stored."""
    return int(txn.stat(dbs[ALARMS_DB])["entries"])
