"""The LMDB environment of one data directory: its lock, its system databases, its size.

The runtime runs requests in *cycles*; :meth:`Store.begin` gives each cycle
its one write transaction (:class:`~daemon.storage.transaction.CycleTransaction`),
and :meth:`Store.snapshot` a read transaction for queries between cycles.

Sub-databases are opened when an object is first touched, never at start-up.
LMDB's per-transaction cost grows with ``max_dbs``, so the environment is
opened with room for the objects it holds plus headroom, and reopened with
twice the room between cycles when the headroom runs low.

Before LMDB maps anything, :meth:`Store.open` locks the directory, checks
the disk has room (:mod:`~daemon.storage.disk`) and that the data file is
whole (:mod:`~daemon.storage.datafile`): either fault would otherwise end
the process with SIGBUS. The directory is created 0700 and LMDB's files
0600, whatever the umask.

A process that dies inside a read transaction (a killed ``lodestone
backup``) leaves its reader slot behind, and LMDB keeps every page that
reader could see: under writes the data file then only grows. The store
clears such dead readers at open, before growing the map, and every
:data:`READER_CHECK_EVERY_S` seconds from :meth:`Store.tick`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import lmdb

from daemon.errors import DataDamaged, DataTooNew, StorageError, Unavailable
from daemon.model import Limits
from daemon.storage import alarms, datafile, disk, idempotency, meta
from daemon.storage.lock import DirectoryLock
from daemon.storage.registry import REGISTRY_DB
from daemon.storage.snapshot import Snapshot
from daemon.storage.transaction import CycleTransaction

log = logging.getLogger(__name__)

LMDB_DIR = "lmdb"
READER_CHECK_EVERY_S = 5.0
# LMDB's files and Lodestone's own: readable by the daemon's user only.
FILE_MODE = 0o600
DIR_MODE = 0o700
_SYSTEM_DBS = (meta.META_DB, REGISTRY_DB, idempotency.IDEM_DB, idempotency.EXPIRY_DB, alarms.ALARMS_DB, alarms.DUE_DB)
_MIN_MAX_DBS = 1024
# What LMDB or a record's decoding raises on damaged data (the rest of LMDB's errors are the system's).
_DAMAGE = (lmdb.CorruptedError, lmdb.InvalidError, lmdb.PageNotFoundError, lmdb.VersionMismatchError,
           lmdb.PanicError, ValueError, KeyError, TypeError)


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
        self.handles: dict[str, lmdb._Database] = {}
        self.system: dict[bytes, lmdb._Database] = {}
        self._lock = DirectoryLock(path)
        self.commit_base = 0
        self.stale_readers_cleared = 0
        self._next_reader_check = 0.0

    # lifecycle -----------------------------------------------------------
    def open(self) -> None:
        """Open (creating if needed) the environment and its system databases.

        Takes an exclusive lock on the directory first: raises ``DataDirLocked``
        if another process holds it. Raises ``NoSpaceToStart`` (an ``OSError``)
        if the disk is too full to open, ``DataDamaged`` if the data file is
        not whole or LMDB cannot read it, and ``DataTooNew`` if the data was
        written by a newer storage format. Holds nothing if it raises.
        """
        try:
            self.path.mkdir(mode=DIR_MODE, parents=True)
            os.chmod(self.path, DIR_MODE)  # whatever the umask
        except FileExistsError:
            pass
        try:
            self._lock.acquire(
                f"the data directory {self.path} is in use by another Lodestone process; "
                "stop it first, or use another --data-dir"
            )
            disk.check_room_to_start(self.path)
            lmdb_dir = self.path / LMDB_DIR
            lmdb_dir.mkdir(mode=DIR_MODE, exist_ok=True)
            datafile.check(lmdb_dir / datafile.DATA_FILE)
            datafile.probe(lmdb_dir, _SYSTEM_DBS, (meta.META_DB, alarms.DUE_DB))
            _keep_private(lmdb_dir)
            self._open_env(self._max_dbs)
            self.clear_stale_readers()
            self._check_format()
        except _DAMAGE as exc:
            self.close()
            raise DataDamaged(f"cannot read the data in {self.path}: {exc}; restore the latest backup") from exc
        except lmdb.Error as exc:
            self.close()
            raise OSError(f"cannot open the data in {self.path}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def _check_format(self) -> None:
        with self.env.begin(write=True) as txn:
            meta_db = self.system[meta.META_DB]
            stored = meta.read(txn, meta_db, meta.FORMAT)
            if stored is None or stored["v"] < meta.FORMAT_VERSION:
                meta.write(txn, meta_db, meta.FORMAT, {"v": meta.FORMAT_VERSION})
            elif stored["v"] > meta.FORMAT_VERSION:
                raise DataTooNew(
                    f"the data directory {self.path} has storage format {stored['v']}, newer "
                    f"than this Lodestone's {meta.FORMAT_VERSION}; upgrade Lodestone"
                )
            self.commit_base = meta.commit_base(txn, meta_db)

    def close(self) -> None:
        """Close the environment and release the directory lock."""
        self._close_env()
        self._lock.release()

    def _close_env(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
            self.handles.clear()
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
            str(self.path / LMDB_DIR),
            mode=FILE_MODE,
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
        handles = len(self.handles)
        if handles + len(_SYSTEM_DBS) + headroom <= self._max_dbs:
            return
        if handles + headroom > self.options.max_open_objects:
            log.info("dropping %d object handles (max_open_objects is %d)", handles, self.options.max_open_objects)
            handles = 0
        target = _room_for(handles + len(_SYSTEM_DBS) + headroom)
        log.info("reopening storage with room for %d object databases", target)
        self._open_env(target)

    def grow_map(self) -> None:
        """Make room after ``MapFull``: clear dead readers, or double the map size.

        If dead readers were pinning old pages, clearing them frees those
        pages and the map stays as it is. Otherwise the map doubles, up to
        ``max_map_size`` and up to what the disk can hold. Raises
        ``Unavailable`` at the cap and ``DiskFull`` when the disk has no room
        for a larger map.
        """
        if self.clear_stale_readers():
            return
        if self._map_size >= self.options.max_map_size:
            raise Unavailable(
                f"the data map is full at {self._map_size >> 20} MiB (max_map_size_mb); "
                "raise max_map_size_mb or free disk space"
            )
        wanted = min(self._map_size * 2, self.options.max_map_size)
        data_file = self.path / LMDB_DIR / datafile.DATA_FILE
        self._map_size = disk.map_room(self.path, data_file, self._map_size, wanted)
        self.env.set_mapsize(self._map_size)
        log.info("grew the data map to %d MiB", self._map_size >> 20)

    # readers -------------------------------------------------------------
    def clear_stale_readers(self) -> int:
        """Free the reader slots of processes that died inside a read transaction; return how many."""
        cleared = int(self.env.reader_check())
        if cleared:
            self.stale_readers_cleared += cleared
            log.warning(
                "cleared %d stale LMDB reader(s) left by a process that died reading (a killed backup or "
                "verify?); the pages they held are free again", cleared,
            )
        return cleared

    def tick(self) -> None:
        """Call between cycles: every :data:`READER_CHECK_EVERY_S` seconds, clear dead readers. Cheap otherwise."""
        now = time.monotonic()
        if now >= self._next_reader_check:
            self._next_reader_check = now + READER_CHECK_EVERY_S
            self.clear_stale_readers()

    def readers(self) -> int:
        """Read transactions other processes hold open now on this environment (a backup or verify holds one).

        The daemon's own are left out: a cycle whose requests all read runs on one.
        """
        own = str(os.getpid())
        lines = str(self.env.readers()).splitlines()[1:]
        return sum(1 for line in lines if len(fields := line.split()) == 3 and fields[2] != "-" and fields[0] != own)

    # cycles --------------------------------------------------------------
    def begin(self, headroom: int = 1, write: bool = True) -> CycleTransaction:
        """Begin a cycle: one transaction for turns that touch up to ``headroom`` new objects.

        ``write=False`` begins a read transaction, for a cycle whose every
        request reads: it takes no writer lock and commits nothing, and
        anything that tries to write in it raises ``NeedsWrite``. Raises
        ``StorageError`` if LMDB cannot begin it.
        """
        self.ensure_capacity(headroom)
        try:
            txn = self.env.begin(write=write)
        except lmdb.Error as exc:
            raise StorageError(str(exc)) from exc
        return CycleTransaction(self.env, txn, self.system, self.handles, self.options.limits, self.path,
                                read_only=not write)

    def snapshot(self) -> Snapshot:
        """A read transaction over the last commit, for queries between cycles (use it in a ``with``)."""
        return Snapshot(self.env.begin(), self.system)

    def stats(self) -> dict[str, int]:
        """Counts for health and metrics: objects stored, handles open, map use."""
        info = self.env.info()
        readers = self.readers()
        with self.env.begin() as txn:
            objects = txn.stat(self.system[REGISTRY_DB])["entries"]
            alarm_count = alarms.count(txn, self.system)
        return {
            "objects_stored": objects,
            "alarms_stored": alarm_count,
            "object_handles": len(self.handles),
            "max_dbs": self._max_dbs,
            "map_size": info["map_size"],
            "map_used": (info["last_pgno"] + 1) * self.env.stat()["psize"],
            "commit_seq": self.commit_seq,
            "readers": readers,
            "stale_readers_cleared": self.stale_readers_cleared,
        }


def _keep_private(lmdb_dir: Path) -> None:
    """Make LMDB's directory 0700 and its files 0600 (data written before they were made so)."""
    for path, mode in ((lmdb_dir, DIR_MODE), *((lmdb_dir / name, FILE_MODE) for name in ("data.mdb", "lock.mdb"))):
        try:
            current = path.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if current & 0o077:
            os.chmod(path, mode)
            log.info("made %s readable by its owner only (was %o)", path, current)


def _room_for(handles: int) -> int:
    """``max_dbs`` for ``handles`` open: a quarter more, rounded up to a power of two, at least 1024."""
    target = _MIN_MAX_DBS
    while target < handles * 5 // 4:
        target *= 2
    return target


