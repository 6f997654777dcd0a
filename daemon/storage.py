"""Durable storage: one LMDB environment, one named sub-database per object.

The server runs requests in *cycles*. A :class:`Cycle` holds the one LMDB write
transaction of its cycle; each request (a *turn*) gets an :class:`ObjectStorage`
view that buffers its writes in a change set and validates every argument
before anything is buffered. A turn that finishes has its change set applied
to the cycle's transaction; a turn that raises is dropped without a trace.
:meth:`Cycle.commit` commits and fsyncs every turn of the cycle at once (group
commit); only then may the server send their replies.

Sub-databases are opened when an object is first touched, never at start-up.
LMDB's per-transaction cost grows with ``max_dbs``, so the environment is
opened with room for the objects it holds plus headroom, and reopened with
twice the room between cycles when the headroom runs low.
"""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import lmdb
import msgpack

from daemon import _keyspace, alarms, idempotency
from daemon.errors import DataDirLocked, DataTooNew, Unavailable
from daemon.objects import UNCHANGED, ChangeEvent, ChangeSet, Limits, ObjectRef, ObjectStorage

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
LOCK_FILE = "lodestone.lock"
META_DB = b"_meta"
# A commit's number is LMDB's id of its write transaction plus this base (8 bytes, signed), so
# numbering costs no write per commit. The base changes only when the ids restart: in a compacted
# copy (a backup), and once for data that kept its own count under LEGACY_COMMIT_SEQ.
COMMIT_BASE = b"commit_base"
LEGACY_COMMIT_SEQ = b"commit_seq"
REGISTRY_DB = b"_objects"
OBJECT_DB_PREFIX = b"o/"
_SYSTEM_DBS = (META_DB, REGISTRY_DB, idempotency.IDEM_DB, idempotency.EXPIRY_DB, alarms.ALARMS_DB, alarms.DUE_DB)
_MIN_MAX_DBS = 1024


@dataclass(frozen=True)
class StoreOptions:
    """How the LMDB environment is opened; read once from the configuration."""

    map_size: int = 1 << 30
    max_map_size: int = 1 << 40
    max_open_objects: int = 16_384
    limits: Limits = field(default_factory=Limits)


class Store:
    """Owns the LMDB environment of one data directory.

    Not thread-safe: one thread (the server loop) begins and ends every cycle.
    """

    def __init__(self, path: Path, options: StoreOptions) -> None:
        self.path = path
        self.options = options
        self._env: lmdb.Environment | None = None
        self._max_dbs = _MIN_MAX_DBS
        self._map_size = options.map_size
        self._handles: dict[str, lmdb._Database] = {}
        self.system: dict[bytes, lmdb._Database] = {}
        self._lock_fd: int | None = None
        self.commit_base = 0

    # lifecycle -----------------------------------------------------------
    def open(self) -> None:
        """Open (creating if needed) the environment and its system databases.

        Takes an exclusive lock on the directory first: raises ``DataDirLocked``
        if another process holds it. Raises ``DataTooNew`` if the data was
        written by a newer storage format.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        self._open_env(self._max_dbs)
        with self.env.begin(write=True) as txn:
            meta = self.system[META_DB]
            raw = txn.get(b"format", db=meta)
            if raw is None:
                txn.put(b"format", msgpack.packb({"v": FORMAT_VERSION}), db=meta)
            else:
                version = msgpack.unpackb(raw)["v"]
                if version > FORMAT_VERSION:
                    raise DataTooNew(
                        f"the data directory {self.path} has storage format {version}, newer "
                        f"than this Lodestone's {FORMAT_VERSION}; upgrade Lodestone"
                    )
            legacy = txn.get(LEGACY_COMMIT_SEQ, db=meta)
            if legacy is not None:  # numbered by a count of its own: go on from where it got to
                set_commit_base(txn, meta, int.from_bytes(legacy, "big") - txn.id())
                txn.delete(LEGACY_COMMIT_SEQ, db=meta)
            self.commit_base = commit_base(txn, meta)

    def close(self) -> None:
        """Close the environment and release the directory lock."""
        self._close_env()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _lock(self) -> None:
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise DataDirLocked(
                f"the data directory {self.path} is in use by another Lodestone process; "
                "stop it first, or use another --data-dir"
            ) from exc
        self._lock_fd = fd

    def _close_env(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
            self._handles.clear()
            self.system.clear()

    @property
    def commit_seq(self) -> int:
        """The number of the last commit that wrote (see :data:`COMMIT_BASE`)."""
        return self.commit_base + int(self.env.info()["last_txnid"])

    @property
    def env(self) -> lmdb.Environment:
        if self._env is None:
            raise Unavailable("storage is closed")
        return self._env

    def _open_env(self, max_dbs: int) -> None:
        self._close_env()
        self._env = lmdb.open(
            str(self.path / "lmdb"),
            map_size=self._map_size,
            max_dbs=max_dbs,
            subdir=True,
            sync=True,
            metasync=True,
            readahead=False,
            meminit=False,
        )
        self._max_dbs = max_dbs
        with self._env.begin(write=True) as txn:
            for name in _SYSTEM_DBS:
                self.system[name] = self._env.open_db(name, txn=txn, create=True)

    def ensure_capacity(self, headroom: int) -> None:
        """Make room for ``headroom`` more object handles; call between cycles.

        ``max_dbs`` follows the number of handles open (not of objects
        stored), because every LMDB transaction pays for it: when more room is
        needed the environment is reopened with about 5/4 of it, rounded up to
        a power of two. When the handles would pass ``max_open_objects``,
        they are all dropped instead (LMDB's handle lookup is linear, so a
        huge handle table makes every first touch slow); objects reopen their
        handle on their next touch.
        """
        handles = len(self._handles)
        if handles + len(_SYSTEM_DBS) + headroom <= self._max_dbs:
            return
        if handles + headroom > self.options.max_open_objects:
            log.info("dropping %d object handles (max_open_objects is %d)", handles, self.options.max_open_objects)
            handles = 0
        target = _room_for(handles + len(_SYSTEM_DBS) + headroom)
        log.info("reopening storage with room for %d object databases", target)
        self._open_env(target)

    def grow_map(self) -> None:
        """Double the map size after ``MapFullError``; raise ``Unavailable`` at the cap."""
        if self._map_size >= self.options.max_map_size:
            raise Unavailable(
                f"the data map is full at {self._map_size >> 20} MiB (max_map_size_mb); "
                "raise max_map_size_mb or free disk space"
            )
        self._map_size = min(self._map_size * 2, self.options.max_map_size)
        self.env.set_mapsize(self._map_size)
        log.info("grew the data map to %d MiB", self._map_size >> 20)

    # cycles --------------------------------------------------------------
    def begin(self, headroom: int = 1) -> Cycle:
        """Begin a cycle: one write transaction for turns that touch up to ``headroom`` new objects."""
        self.ensure_capacity(headroom)
        return Cycle(self, self.env.begin(write=True))

    def stats(self) -> dict[str, int]:
        """Counts for health and metrics: objects stored, handles open, map use."""
        info = self.env.info()
        with self.env.begin() as txn:
            objects = txn.stat(self.system[REGISTRY_DB])["entries"]
            alarm_count = alarms.count(txn, self.system)
        return {
            "objects_stored": objects,
            "alarms_stored": alarm_count,
            "object_handles": len(self._handles),
            "max_dbs": self._max_dbs,
            "map_size": info["map_size"],
            "map_used": (info["last_pgno"] + 1) * self.env.stat()["psize"],
            "commit_seq": self.commit_seq,
        }


class Cycle:
    """One LMDB write transaction shared by every turn of a server cycle."""

    def __init__(self, store: Store, txn: lmdb.Transaction) -> None:
        self.store = store
        self.txn = txn
        self.events: list[ChangeEvent] = []
        self.alarm_times: list[int] = []
        # Whether anything was written yet: until then, what a turn read was committed.
        self.wrote = False
        self.system = store.system
        self._opened: list[str] = []

    def storage(self, ref: ObjectRef) -> ObjectStorage:
        """A turn's view of ``ref``'s storage; its writes wait in a change set."""
        return ObjectStorage(self, ref)

    def db(self, ref: ObjectRef, create: bool) -> lmdb._Database | None:
        """The sub-database of ``ref``; ``None`` if it does not exist and not ``create``."""
        handles = self.store._handles
        db = handles.get(ref.id)
        if db is not None:
            return db
        name = OBJECT_DB_PREFIX + ref.id.encode()
        env = self.store.env
        try:
            db = env.open_db(name, txn=self.txn, create=False)
        except lmdb.NotFoundError:
            if not create:
                return None
            db = env.open_db(name, txn=self.txn, create=True)
            self.txn.put(
                _registry_key(ref.class_name, ref.id),
                msgpack.packb({"v": 1, "name": ref.name}),
                db=self.system[REGISTRY_DB],
            )
        handles[ref.id] = db
        self._opened.append(ref.id)
        return db

    def apply(self, changes: ChangeSet) -> None:
        """Write a finished turn's change set (keys and alarm) into the cycle's transaction."""
        if changes.alarm is not UNCHANGED or changes.cleared or changes.entries:
            self.wrote = True
        at_ms = changes.alarm
        if at_ms is not UNCHANGED:
            ref = changes.ref
            record = alarms.AlarmRecord(ref.class_name, ref.name, at_ms, at_ms) if isinstance(at_ms, int) else None
            self.write_alarm(ref, record, alarms.UNREAD if changes.delivering is None else changes.delivering)
        if not changes.cleared and not changes.entries:
            return
        db = self.db(changes.ref, create=True)
        assert db is not None
        txn = self.txn
        if changes.cleared:
            txn.drop(db, delete=False)
        for key, change in changes.entries.items():
            stored_key = _keyspace.storage_key(key)
            if change.packed is None:
                txn.delete(stored_key, db=db)
            else:
                txn.put(stored_key, _keyspace.pack_record(key, change.packed), db=db)
        self.events.append(changes.event())

    def write_alarm(
        self, ref: ObjectRef, record: alarms.AlarmRecord | None, old: alarms.AlarmRecord | None = alarms.UNREAD
    ) -> None:
        """Replace or clear ``ref``'s alarm in this cycle (``old``: the stored one, if just read)."""
        self.wrote = True
        alarms.write(self.txn, self.system, bytes.fromhex(ref.id), record, old)
        if record is not None:
            self.alarm_times.append(record.at_ms)

    def alarm_of(self, ref: ObjectRef) -> alarms.AlarmRecord | None:
        """``ref``'s stored alarm, as of this cycle."""
        return alarms.read(self.txn, self.system, bytes.fromhex(ref.id))

    # end of cycle ----------------------------------------------------------
    def commit(self) -> list[ChangeEvent]:
        """Commit and fsync every applied turn; return their change events in order."""
        number = self.store.commit_base + self.txn.id()
        try:
            self.txn.commit()
        except BaseException:
            self._forget_opened()
            raise
        for event in self.events:
            event.commit_seq = number
        return self.events

    def abort(self) -> None:
        """Abandon the cycle: nothing of it is written; handles it opened are dropped."""
        self.txn.abort()
        self._forget_opened()

    def _forget_opened(self) -> None:
        for object_id in self._opened:
            self.store._handles.pop(object_id, None)
        self._opened.clear()


def commit_base(txn: lmdb.Transaction, meta: lmdb._Database) -> int:
    """The base that commit numbers are counted from (see :data:`COMMIT_BASE`)."""
    raw = txn.get(COMMIT_BASE, db=meta)
    return int.from_bytes(raw, "big", signed=True) if raw is not None else 0


def set_commit_base(txn: lmdb.Transaction, meta: lmdb._Database, base: int) -> None:
    """Store the base of commit numbers, in the write transaction ``txn``."""
    txn.put(COMMIT_BASE, base.to_bytes(8, "big", signed=True), db=meta)


def commit_number(txn: lmdb.Transaction, meta: lmdb._Database) -> int:
    """The number of the last commit a read transaction sees, or of the one a write transaction makes."""
    return commit_base(txn, meta) + txn.id()


def _room_for(handles: int) -> int:
    """``max_dbs`` for ``handles`` open: a quarter more, rounded up to a power of two, at least 1024."""
    target = _MIN_MAX_DBS
    while target < handles * 5 // 4:
        target *= 2
    return target


def _registry_key(class_name: str, object_id: str) -> bytes:
    return class_name.encode() + b"\x00" + bytes.fromhex(object_id)


def list_objects(
    txn: lmdb.Transaction, store: Store, class_name: str, after: str | None, limit: int
) -> list[tuple[str, str | None]]:
    """``(id, name)`` of stored objects of ``class_name`` in id order, after ``after``."""
    prefix = class_name.encode() + b"\x00"
    cursor = txn.cursor(store.system[REGISTRY_DB])
    start = prefix + bytes.fromhex(after) if after else prefix
    found: list[tuple[str, str | None]] = []
    if not cursor.set_range(start):
        return found
    for key, raw in cursor.iternext():
        key = bytes(key)
        if not key.startswith(prefix) or len(found) >= limit:
            break
        if key == start:
            continue
        found.append((key[len(prefix) :].hex(), msgpack.unpackb(raw, raw=False)["name"]))
    return found
