"""How an object's keys and values sit in its LMDB sub-database.

LMDB keys are 1 to 511 bytes, but Lodestone keys may be empty or up to 2048
bytes (the Durable Objects limits). Every stored key starts with one marker
byte (so the empty key has a place). A key of at most :data:`SHORT_KEY_BYTES`
follows it as its own UTF-8 bytes. A longer key is stored as its first
``SHORT_KEY_BYTES`` bytes plus a 16-byte BLAKE2b digest of the whole key, and
its record carries the whole key. That keeps byte order between any two keys
except among long keys that share their first ``SHORT_KEY_BYTES`` bytes; those
sit next to each other in LMDB (a "bucket") and :func:`scan` sorts each bucket
by the whole key before yielding it, so readers always see UTF-8 byte order.

A record is one format byte, then (for a long key) the 2-byte length and bytes
of the whole key, then the msgpack value exactly as the limits measured it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import lmdb

from daemon.errors import LodestoneError

SHORT_KEY_BYTES = 479
_MARK = b"k"
_SHORT_STORED = SHORT_KEY_BYTES + len(_MARK)
_DIGEST_BYTES = 16
_SHORT_RECORD = 1
_LONG_RECORD = 2
_SHORT_PREFIX = bytes((_SHORT_RECORD,))
# Greater than any digest: seeks past the end of a bucket.
_PAST_BUCKET = b"\xff" * (_DIGEST_BYTES + 1)


class RecordFormatError(LodestoneError):
    """A stored record has a format byte this code does not know."""


def storage_key(key: bytes) -> bytes:
    """The LMDB key under which the Lodestone key ``key`` (UTF-8 bytes) is stored."""
    if len(key) <= SHORT_KEY_BYTES:
        return _MARK + key
    return _MARK + key[:SHORT_KEY_BYTES] + hashlib.blake2b(key, digest_size=_DIGEST_BYTES).digest()


def pack_record(key: bytes, packed_value: bytes) -> bytes:
    """The stored record for ``key`` holding the msgpack bytes ``packed_value``."""
    if len(key) <= SHORT_KEY_BYTES:
        return _SHORT_PREFIX + packed_value
    return bytes((_LONG_RECORD,)) + len(key).to_bytes(2, "big") + key + packed_value


def unpack_record(stored_key: bytes, record: bytes) -> tuple[bytes, bytes]:
    """Return ``(key, packed_value)`` from a stored key and its record."""
    kind = record[0]
    if kind == _SHORT_RECORD:
        return stored_key[len(_MARK) :], record[1:]
    if kind == _LONG_RECORD:
        size = int.from_bytes(record[1:3], "big")
        return record[3 : 3 + size], record[3 + size :]
    raise RecordFormatError(
        f"record format {kind} is newer than this Lodestone understands; "
        "upgrade Lodestone to read this data directory"
    )


def _seek_low(key: bytes) -> bytes:
    return _MARK + (key if len(key) <= SHORT_KEY_BYTES else key[:SHORT_KEY_BYTES])


def _seek_high(key: bytes) -> bytes:
    if len(key) <= SHORT_KEY_BYTES:
        return _MARK + key
    return _MARK + key[:SHORT_KEY_BYTES] + _PAST_BUCKET


def _in_order(raw: Iterator[tuple[Any, Any]], reverse: bool) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(key, packed_value)`` in true key order from LMDB cursor order."""
    bucket: list[tuple[bytes, bytes]] = []
    bucket_prefix = b""
    for stored_key, record in raw:
        if len(stored_key) <= _SHORT_STORED:
            if bucket:
                yield from sorted(bucket, reverse=reverse)
                bucket = []
            yield unpack_record(stored_key, record)
            continue
        prefix = stored_key[:_SHORT_STORED]
        if bucket and prefix != bucket_prefix:
            yield from sorted(bucket, reverse=reverse)
            bucket = []
        bucket_prefix = prefix
        bucket.append(unpack_record(stored_key, record))
    if bucket:
        yield from sorted(bucket, reverse=reverse)


def scan(
    txn: lmdb.Transaction,
    db: lmdb._Database,
    low: bytes | None,
    low_inclusive: bool,
    high: bytes | None,
    reverse: bool,
) -> Iterator[tuple[bytes, bytes]]:
    """Yield ``(key, packed_value)`` for keys in the range, in UTF-8 byte order.

    ``low`` is the lower bound (inclusive or not), ``high`` the exclusive upper
    bound; ``None`` leaves that side open. ``reverse`` yields descending.
    """
    cursor = txn.cursor(db)
    if not reverse:
        found = cursor.set_range(_seek_low(low)) if low is not None else cursor.first()
        if not found:
            return
        for key, packed in _in_order(cursor.iternext(), reverse=False):
            if low is not None and (key < low or (key == low and not low_inclusive)):
                continue
            if high is not None and key >= high:
                return
            yield key, packed
        return
    found = cursor.last() if high is None else cursor.set_range(_seek_high(high)) or cursor.last()
    if not found:
        return
    for key, packed in _in_order(cursor.iterprev(), reverse=True):
        if high is not None and key >= high:
            continue
        if low is not None and (key < low or (key == low and not low_inclusive)):
            return
        yield key, packed
