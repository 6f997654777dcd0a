"""The transaction of one cycle, shared by every turn of it (a read transaction when they all read).

Turns never see LMDB: the runtime reads through :meth:`CycleTransaction.read`
and :meth:`~CycleTransaction.scan`, applies a finished turn's change set with
:meth:`~CycleTransaction.apply`, and ends the cycle with
:meth:`~CycleTransaction.commit` (one fsync for every turn of the cycle) or
:meth:`~CycleTransaction.abort`. LMDB's errors leave this module as
:class:`~daemon.errors.StorageError` (``MapFull`` and ``HandlesFull`` when
more room would let the cycle run again), so no other layer imports ``lmdb``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lmdb

from daemon.errors import HandlesFull, MapFull, NeedsWrite, StorageError
from daemon.model import UNCHANGED, AlarmRecord, ChangeEvent, ChangeSet, Limits, ObjectRef
from daemon.storage import alarms, disk, idempotency, keyspace, meta, registry
from daemon.storage.snapshot import Queries


def storage_error(exc: lmdb.Error) -> StorageError:
    """The :class:`StorageError` that stands for an LMDB error."""
    if isinstance(exc, lmdb.MapFullError):
        return MapFull(str(exc))
    if isinstance(exc, lmdb.DbsFullError):
        return HandlesFull(str(exc))
    return StorageError(str(exc))


class CycleTransaction(Queries):
    """One LMDB transaction shared by every turn of a cycle; its queries see the cycle's writes.

    ``read_only``: a read transaction; every write method raises ``NeedsWrite``.
    """

    def __init__(
        self,
        env: lmdb.Environment,
        txn: lmdb.Transaction,
        system: dict[bytes, Any],
        handles: dict[str, lmdb._Database],
        limits: Limits,
        path: Path,
        read_only: bool = False,
    ) -> None:
        super().__init__(txn, system)
        self.read_only = read_only
        self._env = env
        # The environment's open object handles (shared with the Store, kept across cycles).
        self._handles = handles
        self.events: list[ChangeEvent] = []
        self.alarm_times: list[int] = []
        # Whether anything was written yet: until then, what a turn read was committed.
        self.wrote = False
        self.limits = limits
        # The data directory, whose disk a failed commit is checked against.
        self._path = path
        self._opened: list[str] = []
        # How many writes (change sets, alarms, idempotency records) this transaction took.
        self.writes = 0

    # reads (the narrow reader a turn's storage view uses) ------------------
    def _db(self, ref: ObjectRef, create: bool) -> lmdb._Database | None:
        """The sub-database of ``ref``; ``None`` if it does not exist and not ``create``."""
        handles = self._handles
        db = handles.get(ref.id)
        if db is not None:
            return db
        name = registry.object_db_name(ref.id)
        if self.read_only:
            # A handle opened in a read transaction closes with it: a write cycle opens it and keeps it.
            if self.txn.get(name) is None:  # the main database lists the sub-databases
                return None
            raise NeedsWrite(f"{ref.class_name} {ref.id}'s sub-database has no open handle yet")
        env = self._env
        try:
            db = env.open_db(name, txn=self.txn, create=False)
        except lmdb.NotFoundError:
            if not create:
                return None
            db = env.open_db(name, txn=self.txn, create=True)
            registry.register(self.txn, self._system[registry.REGISTRY_DB], ref)
        handles[ref.id] = db
        self._opened.append(ref.id)
        return db

    def read(self, ref: ObjectRef, key: bytes) -> bytes | None:
        """The msgpack bytes stored under ``key`` (UTF-8) in ``ref``, as of this cycle."""
        try:
            db = self._db(ref, create=False)
            if db is None:
                return None
            stored_key = keyspace.storage_key(key)
            record = self.txn.get(stored_key, db=db)
        except lmdb.Error as exc:
            raise storage_error(exc) from exc
        if record is None:
            return None
        found, packed = keyspace.unpack_record(stored_key, bytes(record))
        return packed if found == key else None

    def scan(
        self, ref: ObjectRef, low: bytes | None, low_inclusive: bool, high: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        """``(key, packed value)`` of ``ref``'s keys in the range, in UTF-8 byte order (see keyspace.scan)."""
        try:
            db = self._db(ref, create=False)
            if db is None:
                return
            yield from keyspace.scan(self.txn, db, low, low_inclusive, high, reverse)
        except lmdb.Error as exc:
            raise storage_error(exc) from exc

    def alarm_of(self, ref: ObjectRef) -> AlarmRecord | None:
        """``ref``'s stored alarm, as of this cycle."""
        return self.alarm_by_id(bytes.fromhex(ref.id))

    def alarm_by_id(self, object_id: bytes) -> AlarmRecord | None:
        """The stored alarm of the object with the 32-byte id ``object_id``."""
        try:
            return alarms.read(self.txn, self._system, object_id)
        except lmdb.Error as exc:
            raise storage_error(exc) from exc

    def due_alarms(
        self, now_ms: int, limit: int, after: tuple[int, bytes] = (0, b"")
    ) -> list[tuple[int, bytes]]:
        """Up to ``limit`` ``(at_ms, object_id)`` of alarms due by ``now_ms``, earliest first, after ``after``."""
        try:
            return alarms.due(self.txn, self._system, now_ms, limit, after)
        except lmdb.Error as exc:
            raise storage_error(exc) from exc

    def remembered(self, ref: ObjectRef, idem: str, now_ms: int) -> tuple[bool, Any]:
        """``(True, result)`` if a write with idempotency key ``idem`` on ``ref`` is remembered."""
        try:
            return idempotency.lookup(self.txn, self._system, ref.id, idem, now_ms)
        except lmdb.Error as exc:
            raise storage_error(exc) from exc

    # writes ---------------------------------------------------------------
    def _writing(self) -> None:
        self.wrote = True
        self.writes += 1
        if self.read_only:
            raise NeedsWrite("a turn of a read-only cycle wrote")

    def apply(self, changes: ChangeSet) -> None:
        """Write a finished turn's change set (keys and alarm) into the cycle's transaction."""
        if changes.alarm is not UNCHANGED or changes.cleared or changes.entries:
            self._writing()
        try:
            at_ms = changes.alarm
            if at_ms is not UNCHANGED:
                ref = changes.ref
                record = AlarmRecord(ref.class_name, ref.name, at_ms, at_ms) if isinstance(at_ms, int) else None
                old = alarms.UNREAD if changes.delivering is None else changes.delivering
                self._write_alarm(ref, record, old)
            if not changes.cleared and not changes.entries:
                return
            db = self._db(changes.ref, create=True)
            assert db is not None
            txn = self.txn
            if changes.cleared:
                txn.drop(db, delete=False)
            for key, change in changes.entries.items():
                stored_key = keyspace.storage_key(key)
                if change.packed is None:
                    txn.delete(stored_key, db=db)
                else:
                    txn.put(stored_key, keyspace.pack_record(key, change.packed), db=db)
        except lmdb.Error as exc:
            raise storage_error(exc) from exc
        self.events.append(changes.event())

    def write_alarm(self, ref: ObjectRef, record: AlarmRecord | None, old: AlarmRecord | None = alarms.UNREAD) -> None:
        """Replace or clear ``ref``'s alarm in this cycle (``old``: the stored one, if just read)."""
        try:
            self._write_alarm(ref, record, old)
        except lmdb.Error as exc:
            raise storage_error(exc) from exc

    def _write_alarm(self, ref: ObjectRef, record: AlarmRecord | None, old: AlarmRecord | None) -> None:
        self._writing()
        alarms.write(self.txn, self._system, bytes.fromhex(ref.id), record, old)
        if record is not None:
            self.alarm_times.append(record.at_ms)

    def remember(self, ref: ObjectRef, idem: str, result: Any, expires_ms: int) -> None:
        """Remember a write's ``result`` under ``idem`` on ``ref`` until ``expires_ms``, in this commit."""
        self._writing()
        try:
            idempotency.remember(self.txn, self._system, ref.id, idem, result, expires_ms)
        except lmdb.Error as exc:
            raise storage_error(exc) from exc

    def sweep_idempotency(self, now_ms: int, budget: int) -> int:
        """Forget up to ``budget`` idempotency records that expired before ``now_ms``."""
        if self.read_only:
            raise NeedsWrite("a read-only cycle cannot sweep")
        try:
            return idempotency.sweep(self.txn, self._system, now_ms, budget)
        except lmdb.Error as exc:
            raise storage_error(exc) from exc

    # end of cycle ----------------------------------------------------------
    def commit(self) -> list[ChangeEvent]:
        """Commit and fsync every applied turn; return their change events in order.

        Raises ``MapFull`` if the map has no room left, ``DiskFull`` if the
        disk has none (LMDB reports that as an I/O error), else ``StorageError``.
        A read transaction ends without writing (its commit only keeps the handles it opened).
        """
        if self.read_only:
            try:
                self.txn.commit()
            except lmdb.Error as exc:
                self._forget_opened()
                raise storage_error(exc) from exc
            return self.events
        number = meta.commit_number(self.txn, self._system[meta.META_DB])
        try:
            self.txn.commit()
        except lmdb.Error as exc:
            self._forget_opened()
            error = storage_error(exc)
            if type(error) is StorageError:
                error = disk.commit_failure(self._path, exc)
            raise error from exc
        except BaseException:
            self._forget_opened()
            raise
        for event in self.events:
            event.commit_seq = number
        return self.events

    def abort(self) -> None:
        """Abandon the cycle: nothing of it is written; handles it opened are dropped."""
        with contextlib.suppress(lmdb.Error):  # after a failed commit; the transaction is gone either way
            self.txn.abort()
        self._forget_opened()

    def _forget_opened(self) -> None:
        for object_id in self._opened:
            self._handles.pop(object_id, None)
        self._opened.clear()
