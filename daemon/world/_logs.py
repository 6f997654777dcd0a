"""Bounded logs under a key prefix: ``<prefix><seq>`` (12 digits), newest ``keep`` kept.

The next sequence number comes from the last key (one cursor step), so a log
needs no counter of its own; appending past ``keep`` deletes the entry that
falls off, so a log never grows past it.
"""

from __future__ import annotations

from typing import Any

from daemon import ObjectStorage
from schemas.records import RecordType


def seq_key(prefix: str, seq: int) -> str:
    return f"{prefix}{seq:012d}"


def append(storage: ObjectStorage, prefix: str, record_type: RecordType, value: dict[str, Any], keep: int) -> int:
    """Append ``value`` as a ``record_type`` record; return its sequence number (from 1)."""
    last = storage.list(prefix=prefix, reverse=True, limit=1)
    seq = int(last[0][0][len(prefix):]) + 1 if last else 1
    storage.put_record(seq_key(prefix, seq), record_type, value)
    if seq > keep:
        storage.delete(seq_key(prefix, seq - keep))
    return seq


def newest(storage: ObjectStorage, prefix: str, record_type: RecordType, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` entries, newest first, at their type's current version."""
    return [record_type.from_value(value) for _, value in storage.list(prefix=prefix, reverse=True, limit=limit)]
