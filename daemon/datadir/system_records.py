"""The system databases' records, checked one by one and against their indexes, for ``lodestone verify``.

The alarm and idempotency records carry no CRC; these cross-checks are what
catch a changed byte in their keys and times: an alarm must sit in the due
index at its time and name the class and name its object is registered
with, and an idempotency record must sit in the expiry index at its expiry.
A changed byte in an idempotency result, or in an alarm's scheduled time or
retry count, that still decodes, goes unseen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lmdb
import msgpack

from daemon.storage import alarms, idempotency

_ID_BYTES = 32
Registry = dict[str, tuple[str, str | None]]


def check_alarm_index(
    txn: lmdb.Transaction, env: lmdb.Environment, registry: Registry, problem: Callable[[str], None]
) -> None:
    """Each alarm is in the due index at its time, for its object's class and name; each index entry has its alarm.

    These cross-checks are what catch a changed time, class or name in an alarm record (which has no CRC).
    """
    index = {bytes(key) for key in txn.cursor(env.open_db(alarms.DUE_DB, txn=txn, create=False)).iternext(values=False)}
    for raw_key, raw in txn.cursor(env.open_db(alarms.ALARMS_DB, txn=txn, create=False)):
        object_id = bytes(raw_key)
        try:
            record = alarms.decode(bytes(raw))
            entry = record.at_ms.to_bytes(8, "big") + object_id
        except Exception:  # a record that does not decode is reported by check_alarm
            continue
        if entry not in index:
            problem(f"_alarms {object_id.hex()}: not in the due index at its time {record.at_ms} (a damaged time?)")
        index.discard(entry)
        registered = registry.get(object_id.hex())
        if registered is not None and registered != (record.class_name, record.name):
            problem(f"_alarms {object_id.hex()}: for {record.class_name}/{record.name!r}, but that object is "
                    f"{registered[0]}/{registered[1]!r}")
    for entry in sorted(index):
        problem(f"_alarm_due {entry.hex()}: no alarm of that object at that time")


def check_idem_index(txn: lmdb.Transaction, env: lmdb.Environment, problem: Callable[[str], None]) -> None:
    """Each idempotency record is in the expiry index at its expiry (which catches a changed key or expiry)."""
    index_db = env.open_db(idempotency.EXPIRY_DB, txn=txn, create=False)
    index = {bytes(key) for key in txn.cursor(index_db).iternext(values=False)}
    for raw_key, raw in txn.cursor(env.open_db(idempotency.IDEM_DB, txn=txn, create=False)):
        key = bytes(raw_key)
        try:
            entry = msgpack.unpackb(bytes(raw), raw=False, strict_map_key=False)[0].to_bytes(8, "big") + key
        except Exception:  # reported by check_idem
            continue
        if entry not in index:
            problem(f"_idem {key[:80].hex()}: not in the expiry index at its expiry (a damaged key or time?)")


def check_count(txn: lmdb.Transaction, db: Any, walked: int, who: str, problem: Callable[[str], None]) -> None:
    counted = int(txn.stat(db)["entries"])
    if counted != walked:
        problem(f"{who}: LMDB counts {counted} records but {walked} were found (a damaged page?)")


def check_each(
    txn: lmdb.Transaction, db: Any, db_name: str, check: Callable[[bytes, bytes], None],
    problem: Callable[[str], None],
) -> int:
    count = 0
    for raw_key, raw_value in txn.cursor(db):
        count += 1
        key = bytes(raw_key)
        try:
            check(key, bytes(raw_value))
        except Exception as exc:
            problem(f"{db_name} {key[:80].hex()}: {exc}")
    check_count(txn, db, count, db_name, problem)
    return count


def check_idem(key: bytes, value: bytes) -> None:
    if len(key) <= _ID_BYTES:
        raise ValueError("the key is not an object id and an idempotency key")
    expires, _ = msgpack.unpackb(value, raw=False, strict_map_key=False)
    if not isinstance(expires, int):
        raise ValueError(f"the expiry is {expires!r}, not epoch milliseconds")


def check_idem_expiry(key: bytes, value: bytes) -> None:
    if len(key) <= 8 + _ID_BYTES or value:
        raise ValueError("not an expiry index entry (8-byte time, id, key; empty value)")


def check_alarm(key: bytes, value: bytes) -> None:
    if len(key) != _ID_BYTES:
        raise ValueError(f"the key is {len(key)} bytes, not a 32-byte object id")
    alarms.decode(value)


def check_alarm_due(key: bytes, value: bytes) -> None:
    if len(key) != 8 + _ID_BYTES:
        raise ValueError("not a due-time index entry (8-byte time and a 32-byte id)")


# System databases: those checked record by record here, and those checked above
# (None). A system database not named here is listed as unchecked, not as a problem.
SYSTEM_CHECKS: dict[bytes, Callable[[bytes, bytes], None] | None] = {
    b"_meta": None,
    b"_objects": None,
    idempotency.IDEM_DB: check_idem,
    idempotency.EXPIRY_DB: check_idem_expiry,
    alarms.ALARMS_DB: check_alarm,
    alarms.DUE_DB: check_alarm_due,
}
