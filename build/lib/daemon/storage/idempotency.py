"""Idempotency records: a write's result, remembered by (object, key) for a window.

``_idem`` maps object id + key to ``[expires_ms, result]``; ``_idem_exp`` orders
the same keys by expiry so old records are swept by a range scan. Records are
written in the same transaction as the write they remember.
"""

from __future__ import annotations

from typing import Any

import lmdb
import msgpack

IDEM_DB = b"_idem"
EXPIRY_DB = b"_idem_exp"


def _key(object_id: str, idem: str) -> bytes:
    return bytes.fromhex(object_id) + idem.encode()


def lookup(txn: lmdb.Transaction, dbs: dict[bytes, Any], object_id: str, idem: str, now_ms: int) -> tuple[bool, Any]:
    """``(True, result)`` if a write with this key on this object is remembered, else ``(False, None)``."""
    raw = txn.get(_key(object_id, idem), db=dbs[IDEM_DB])
    if raw is None:
        return False, None
    expires, result = msgpack.unpackb(raw, raw=False, strict_map_key=False)
    return (True, result) if expires >= now_ms else (False, None)


def remember(
    txn: lmdb.Transaction, dbs: dict[bytes, Any], object_id: str, idem: str, result: Any, expires_ms: int
) -> None:
    """Remember ``result`` for this key on this object until ``expires_ms``."""
    key = _key(object_id, idem)
    txn.put(key, msgpack.packb([expires_ms, result], use_bin_type=True), db=dbs[IDEM_DB])
    txn.put(expires_ms.to_bytes(8, "big") + key, b"", db=dbs[EXPIRY_DB])


def sweep(txn: lmdb.Transaction, dbs: dict[bytes, Any], now_ms: int, budget: int) -> int:
    """Forget up to ``budget`` records that expired before ``now_ms``; return how many."""
    removed = 0
    cursor = txn.cursor(dbs[EXPIRY_DB])
    if not cursor.first():
        return 0
    while removed < budget:
        entry = bytes(cursor.key())
        if int.from_bytes(entry[:8], "big") >= now_ms:
            break
        txn.delete(entry[8:], db=dbs[IDEM_DB])
        removed += 1
        if not cursor.delete():
            break
    return removed
