"""Queries over a transaction: objects of a class, alarms by due time; and a read-only snapshot."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import lmdb

from daemon.model import AlarmRecord
from daemon.storage import alarms, meta, registry


class Queries:
    """The queries that read across objects, over a read or write transaction."""

    def __init__(self, txn: lmdb.Transaction, system: dict[bytes, Any]) -> None:
        self.txn = txn
        self._system = system

    def list_objects(self, class_name: str, after: str | None, limit: int) -> list[tuple[str, str | None]]:
        """``(id, name)`` of stored objects of ``class_name`` in id order, after ``after``."""
        return registry.list_objects(self.txn, self._system[registry.REGISTRY_DB], class_name, after, limit)

    def alarm_due_times(self, after_ms: int, until_ms: int, limit: int) -> list[int]:
        """Distinct due times in ``(after_ms, until_ms]``, earliest first, at most ``limit``."""
        return alarms.due_times(self.txn, self._system, after_ms, until_ms, limit)

    def alarms(self, until_ms: int, limit: int) -> list[tuple[bytes, AlarmRecord]]:
        """Up to ``limit`` ``(object_id, record)`` of alarms due by ``until_ms``, in due order."""
        found = []
        for _, object_id in alarms.due(self.txn, self._system, until_ms, limit):
            record = alarms.read(self.txn, self._system, object_id)
            if record is not None:
                found.append((object_id, record))
        return found


class Snapshot(Queries):
    """The data as of the last commit; a context manager that ends the read transaction."""

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.txn.abort()

    @property
    def commit_number(self) -> int:
        """The number of the commit this snapshot sees."""
        return meta.commit_number(self.txn, self._system[meta.META_DB])
