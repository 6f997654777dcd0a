"""The storage API of an object, as a turn sees it.

During a turn, :class:`ObjectStorage` offers the Durable Objects storage API
over the object's entries, read through the cycle's :class:`Reader`: every argument is
validated before anything is buffered, writes wait in the turn's
:class:`ChangeSet`, reads see the turn's own writes, and the cycle applies the
change set only if the turn finishes.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any, Protocol

import msgpack
import msgspec

from daemon.errors import BadData, BadRequest, Conflict, TooLarge, shown
from daemon.model import AlarmRecord, Change, ChangeSet, Limits, ObjectRef, _Unchanged, check_alarm_time
from schemas.plain import PLAIN_ENCODER
from schemas.records import RecordError, RecordType


class Reader(Protocol):
    """What a turn's storage view reads through: the cycle's transaction, as the storage layer offers it."""

    limits: Limits

    def read(self, ref: ObjectRef, key: bytes) -> bytes | None: ...

    def scan(
        self, ref: ObjectRef, low: bytes | None, low_inclusive: bool, high: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]: ...

    def alarm_of(self, ref: ObjectRef) -> AlarmRecord | None: ...


# A list limit above this is taken as no limit (docs/protocol.md).
UNLIMITED = 2**53


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))


def strictly_equal(a: Any, b: Any) -> bool:
    """Value equality that tells ``1``, ``1.0`` and ``True`` apart; maps ignore order."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(map(strictly_equal, a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strictly_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def unpack_value(packed: bytes) -> Any:
    """Decode a stored msgpack value."""
    return msgpack.unpackb(packed, raw=False, strict_map_key=False)


class ObjectStorage:
    """The storage API of one object during one turn (see DESIGN.md's table)."""

    def __init__(self, reader: Reader, ref: ObjectRef) -> None:
        self._reader = reader
        self._limits = reader.limits
        self.ref = ref
        self.changes = ChangeSet(ref)

    # validation ------------------------------------------------------------
    def _key(self, key: object) -> bytes:
        if not isinstance(key, str):
            raise BadRequest(f"a key must be a string, got {type(key).__name__} {shown(key)}")
        encoded = key.encode("utf-8", "strict")
        if len(encoded) > self._limits.max_key_bytes:
            raise TooLarge(
                f"key {key[:40]!r}... is {len(encoded)} bytes; the limit is "
                f"{self._limits.max_key_bytes} bytes; nothing was written"
            )
        return encoded

    def _pack(self, key: str, encoded_key: bytes, value: Any) -> bytes:
        try:
            packed: bytes = msgpack.packb(value, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            raise BadRequest(f"the value for key {key[:60]!r} is not msgpack-encodable: {exc}") from exc
        self._check_size(key, encoded_key, packed)
        return packed

    def _check_size(self, key: str, encoded_key: bytes, packed: bytes) -> None:
        size = len(encoded_key) + len(packed)
        if size > self._limits.max_entry_bytes:
            raise TooLarge(
                f"key {key[:60]!r} with its value is {size} bytes; the limit for key plus "
                f"encoded value is {self._limits.max_entry_bytes} bytes; nothing was written"
            )

    def _batch(self, what: str, count: int) -> None:
        if count > self._limits.max_batch:
            raise TooLarge(
                f"{count} {what} in one call; the limit is {self._limits.max_batch}; "
                "nothing was written"
            )

    # reads -----------------------------------------------------------------
    def _read(self, encoded_key: bytes) -> bytes | None:
        change = self.changes.entries.get(encoded_key)
        if change is not None:
            return change.packed
        if self.changes.cleared:
            return None
        return self._reader.read(self.ref, encoded_key)

    def get_packed(self, key: str) -> bytes | None:
        """The msgpack bytes stored under ``key``, or ``None``."""
        return self._read(self._key(key))

    def get(self, key: str) -> tuple[bool, Any]:
        """``(True, value)`` if ``key`` is stored, else ``(False, None)``."""
        packed = self._read(self._key(key))
        return (False, None) if packed is None else (True, unpack_value(packed))

    def get_many_packed(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The stored keys among ``keys`` (at most 128), sorted by UTF-8 bytes, as their msgpack bytes."""
        keys = list(keys)
        self._batch("keys", len(keys))
        encoded = sorted({self._key(key) for key in keys})
        found: dict[str, bytes] = {}
        for encoded_key in encoded:
            packed = self._read(encoded_key)
            if packed is not None:
                found[encoded_key.decode()] = packed
        return found

    def list(
        self,
        *,
        start: str | None = None,
        start_after: str | None = None,
        end: str | None = None,
        prefix: str | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> list[tuple[str, Any]]:
        """Entries in UTF-8 byte order of key (descending if ``reverse``).

        ``start`` is inclusive, ``start_after`` exclusive (not both), ``end``
        exclusive; ``prefix`` narrows the range; ``limit`` must be positive.
        """
        entries = self.list_packed(start=start, start_after=start_after, end=end, prefix=prefix, reverse=reverse,
                                   limit=limit)
        return [(key, unpack_value(packed)) for key, packed in entries]

    def list_packed(
        self,
        *,
        start: str | None = None,
        start_after: str | None = None,
        end: str | None = None,
        prefix: str | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> builtins.list[tuple[str, bytes]]:
        """:meth:`list`, the values as their stored msgpack bytes."""
        if start is not None and start_after is not None:
            raise BadRequest("list takes start or start_after, not both")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
            raise BadRequest(f"limit must be a positive integer, got {shown(limit)}")
        if limit is not None and limit > UNLIMITED:
            limit = None  # no object holds that many keys: the same as no limit, and no C integer overflows
        if not isinstance(reverse, bool):
            raise BadRequest(f"reverse must be true or false, got {shown(reverse)}")
        low = self._key(start if start is not None else start_after) if (
            start is not None or start_after is not None
        ) else None
        low_inclusive = start_after is None
        high = self._key(end) if end is not None else None
        if prefix is not None:
            wanted = self._key(prefix)
            if low is None or low < wanted:
                low, low_inclusive = wanted, True
            upper = _successor(wanted)
            if upper is not None and (high is None or upper < high):
                high = upper
        if low is not None and high is not None and high <= low:
            return []

        pending = [
            (encoded_key, change.packed)
            for encoded_key, change in self.changes.entries.items()
            if _in_range(encoded_key, low, low_inclusive, high)
        ]
        base: list[tuple[bytes, bytes]] = []
        if not self.changes.cleared:
            scanned = self._reader.scan(self.ref, low, low_inclusive, high, reverse)
            base = list(_take(scanned, None if limit is None else limit + len(pending)))
        items: list[tuple[bytes, bytes]] = base
        if pending:
            merged: dict[bytes, bytes] = dict(base)
            for encoded_key, packed in pending:
                if packed is None:
                    merged.pop(encoded_key, None)
                else:
                    merged[encoded_key] = packed
            items = sorted(merged.items(), reverse=reverse)
        if limit is not None:
            items = items[:limit]
        return [(encoded_key.decode(), packed) for encoded_key, packed in items]

    def get_record(self, key: str, record_type: RecordType) -> dict[str, Any] | None:
        """The record under ``key`` at ``record_type``'s current version (migrated if older).

        Raises ``BadData`` if the stored value is not such a record, or is newer
        than this code knows.
        """
        packed = self._read(self._key(key))
        if packed is None:
            return None
        try:
            return record_type.decode(packed)
        except RecordError as exc:
            raise BadData(f"{self.ref.class_name} {self.ref.name or self.ref.id}, key {key!r}: {exc}") from exc

    # writes ----------------------------------------------------------------
    def put_record(self, key: str, record_type: RecordType, value: Mapping[str, Any]) -> None:
        """Store ``value`` under ``key`` as a ``record_type`` record of the current version."""
        try:
            encoded_record = record_type.encode(value)
        except RecordError as exc:
            raise BadRequest(f"{record_type.name} for key {key!r}: {exc}") from exc
        encoded = self._key(key)
        self._check_size(key, encoded, encoded_record)
        self.changes.entries[encoded] = Change(key, encoded_record)

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` when the turn commits."""
        encoded = self._key(key)
        packed = self._pack(key, encoded, value)
        self.changes.entries[encoded] = Change(key, packed)

    def put_plain(self, key: str, value: Any) -> None:
        """:meth:`put` for a plain value (maps, lists, strings, numbers, booleans, nil): the same bytes, sooner.

        msgspec encodes it; only plain values come out as msgpack would make them.
        """
        encoded = self._key(key)
        try:
            packed = PLAIN_ENCODER.encode(value)
        except (TypeError, OverflowError, msgspec.EncodeError) as exc:
            raise BadRequest(f"the value for key {key[:60]!r} is not msgpack-encodable: {exc}") from exc
        self._check_size(key, encoded, packed)
        self.changes.entries[encoded] = Change(key, packed)

    def put_packed(self, key: str, packed: bytes) -> None:
        """:meth:`put` of a value given as its msgpack bytes (one whole plain value), stored as they are."""
        encoded = self._key(key)
        self._check_size(key, encoded, packed)
        self.changes.entries[encoded] = Change(key, packed)

    def put_many(self, entries: Mapping[str, Any]) -> None:
        """Store every pair (at most 128), or none if any pair is invalid."""
        if not isinstance(entries, Mapping):
            raise BadRequest("entries must be a map of key to value")
        self._batch("entries", len(entries))
        checked = [(key, encoded, self._pack(key, encoded, value))
                   for key, value in entries.items() for encoded in (self._key(key),)]
        for key, encoded, packed in checked:
            self.changes.entries[encoded] = Change(key, packed)

    def delete(self, key: str) -> bool:
        """Delete ``key``; return whether it existed."""
        encoded = self._key(key)
        existed = self._read(encoded) is not None
        self.changes.entries[encoded] = Change(key, None)
        return existed

    def delete_many(self, keys: Iterable[str]) -> int:
        """Delete every key (at most 128); return how many existed."""
        keys = list(keys)
        self._batch("keys", len(keys))
        encoded = [(key, self._key(key)) for key in keys]
        existed = 0
        for key, encoded_key in encoded:
            if self._read(encoded_key) is not None:
                existed += 1
            self.changes.entries[encoded_key] = Change(key, None)
        return existed

    def delete_all(self) -> None:
        """Delete every key of the object, and its alarm."""
        self.changes.entries.clear()
        self.changes.cleared = True
        self.changes.alarm = None

    # the alarm -------------------------------------------------------------
    def get_alarm(self) -> int | None:
        """The object's alarm time (epoch ms), or ``None``; sees this turn's changes."""
        alarm = self.changes.alarm
        if not isinstance(alarm, _Unchanged):
            return alarm
        if self.changes.delivering is not None:
            return None
        record = self._reader.alarm_of(self.ref)
        return None if record is None else record.at_ms

    def set_alarm(self, at_ms: int) -> None:
        """Set the object's one alarm to ``at_ms`` (epoch ms), replacing any other."""
        self.changes.alarm = check_alarm_time(at_ms)

    def delete_alarm(self) -> None:
        """Clear the object's alarm (inside an alarm handler: also stop its retries)."""
        self.changes.alarm = None

    def transaction(self, checks: builtins.list[Any], ops: builtins.list[Any]) -> None:
        """Apply ``ops`` if every check holds, all or nothing.

        A check is ``{"key", "value"}`` (the key holds exactly that value) or
        ``{"key", "absent": True}``. An op is ``{"op": "put", "key", "value"}`` or
        ``{"op": "delete", "key"}``. Raises ``Conflict`` naming the first check
        that failed; nothing is written then.
        """
        if not isinstance(checks, list) or not isinstance(ops, list):
            raise BadRequest("transaction takes a list of checks and a list of ops")
        self._batch("checks", len(checks))
        self._batch("ops", len(ops))
        parsed_checks = [_parse_check(index, check, self._key) for index, check in enumerate(checks)]
        parsed_ops: builtins.list[tuple[str, bytes, bytes | None]] = []
        for index, op in enumerate(ops):
            kind, key, value = _parse_op(index, op)
            encoded = self._key(key)
            packed = self._pack(key, encoded, value) if kind == "put" else None
            parsed_ops.append((key, encoded, packed))
        for index, (key, encoded, absent, expected) in enumerate(parsed_checks):
            packed = self._read(encoded)
            if absent and packed is not None:
                raise Conflict(f"check {index} failed: key {key!r} exists, expected absent")
            if not absent and (packed is None or not strictly_equal(unpack_value(packed), expected)):
                state = "is absent" if packed is None else "holds another value"
                raise Conflict(f"check {index} failed: key {key!r} {state}")
        for key, encoded, packed in parsed_ops:
            self.changes.entries[encoded] = Change(key, packed)


def _in_range(key: bytes, low: bytes | None, low_inclusive: bool, high: bytes | None) -> bool:
    if low is not None and (key < low or (key == low and not low_inclusive)):
        return False
    return high is None or key < high


def _take(items: Iterator[tuple[bytes, bytes]], count: int | None) -> Iterator[tuple[bytes, bytes]]:
    return items if count is None else islice(items, count)


def _parse_check(index: int, check: object, key_of: Any) -> tuple[str, bytes, bool, Any]:
    if not isinstance(check, dict) or "key" not in check:
        raise BadRequest(f"check {index} must be a map with a key")
    absent = check.get("absent", False)
    if absent is not True and absent is not False:
        raise BadRequest(f"check {index}: absent must be true or false")
    if absent == ("value" in check):
        raise BadRequest(f"check {index} must have either a value or absent: true")
    key = check["key"]
    return key, key_of(key), absent, check.get("value")


def _parse_op(index: int, op: object) -> tuple[str, str, Any]:
    if not isinstance(op, dict) or op.get("op") not in ("put", "delete") or "key" not in op:
        raise BadRequest(f"op {index} must be {{op: put, key, value}} or {{op: delete, key}}")
    if op["op"] == "put" and "value" not in op:
        raise BadRequest(f"op {index} puts key {shown(op['key'])} without a value")
    return op["op"], op["key"], op.get("value")
