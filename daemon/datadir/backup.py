"""``lodestone backup`` and ``lodestone restore``: a data directory copied out and back.

A backup is itself a data directory, laid out the same way::

    DEST/lmdb/data.mdb    LMDB's compacted copy, taken in one read transaction
    DEST/secret           the deployment secret that ids are derived from
    DEST/backup.json      what was copied: commit, objects, sizes, when, from where

The copy is consistent (one snapshot: every object's records as of one
commit) and may be taken while a daemon serves: LMDB's readers never block
its writer. It is written under a temporary name next to ``DEST`` and renamed
into place once complete and fsync'd, so a ``DEST`` that exists is whole.

Restore puts a backup into a data directory. It holds the directory's lock
(``lodestone.lock``, the one a running daemon holds) while it works, so it
refuses a directory a daemon is using, and a daemon cannot start on one that
is half restored. It checks the backup with :func:`daemon.verify.verify` first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import lmdb

from daemon import __version__
from daemon.datadir.progress import Progress
from daemon.datadir.verify import open_readonly, verify
from daemon.errors import DataDirLocked, LodestoneError
from daemon.ids import SECRET_FILE
from daemon.storage.environment import LOCK_FILE
from daemon.storage.meta import META_DB, commit_number, set_commit_base
from daemon.storage.registry import REGISTRY_DB

MANIFEST_FILE = "backup.json"
MANIFEST_VERSION = 1
_COPY_CHUNK = 8 << 20
_MIB = 1 << 20


class Refused(LodestoneError):
    """The operation would lose or mix up data; nothing was changed."""


@dataclass(frozen=True)
class BackupReport:
    """What :func:`backup` wrote; also stored as ``backup.json`` in the backup."""

    v: int
    lodestone: str
    created: str
    source: str
    commit_seq: int
    objects: int
    bytes: int
    source_bytes: int
    seconds: float


def backup(
    data_dir: Path, dest: Path, progress: Progress, open_env: lmdb.Environment | None = None
) -> BackupReport:
    """Copy ``data_dir`` (live or not) to the new directory ``dest``; see the module docstring.

    ``open_env`` is the caller's own open environment of ``data_dir``, for a
    process that already has it open (LMDB forbids opening it twice).

    Raises ``Refused`` if ``dest`` exists and is not an empty directory, and
    ``NotADataDirectory`` if ``data_dir`` holds no data. Writes nothing in
    ``data_dir`` (LMDB's lock table aside).
    """
    started = time.monotonic()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise Refused(f"{dest} already exists and is not an empty directory; choose a new path")
    try:
        secret = (data_dir / SECRET_FILE).read_bytes()
    except FileNotFoundError as exc:
        raise Refused(f"{data_dir} has no {SECRET_FILE} file; is it a Lodestone data directory?") from exc
    staging = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700, parents=True)
    (staging / "lmdb").mkdir(mode=0o700)
    try:
        source = contextlib.nullcontext(open_env) if open_env is not None else open_readonly(data_dir / "lmdb", 1)
        with source as env, env.begin() as snapshot:
            source_bytes = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
            progress.start("backup", source_bytes // _MIB, "MiB at most (compacting)")
            target = staging / "lmdb" / "data.mdb"
            number = commit_number(snapshot, env.open_db(META_DB, txn=snapshot, create=False))
            with _watch_size(target, progress):
                env.copy(str(staging / "lmdb"), compact=True, txn=snapshot)
        _keep_commit_number(staging / "lmdb", number)
        _write_file(staging / SECRET_FILE, secret, 0o600)
        commit_seq, objects = _summary(staging / "lmdb")
        report = BackupReport(
            v=MANIFEST_VERSION,
            lodestone=__version__,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            source=str(data_dir.resolve()),
            commit_seq=commit_seq,
            objects=objects,
            bytes=target.stat().st_size,
            source_bytes=source_bytes,
            seconds=round(time.monotonic() - started, 3),
        )
        _write_file(staging / MANIFEST_FILE, (json.dumps(asdict(report), indent=2) + "\n").encode(), 0o644)
        _fsync(target)
        _fsync(staging / "lmdb")
        _fsync(staging)
        if dest.exists():
            dest.rmdir()
        os.rename(staging, dest)
        _fsync(dest.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    progress.finish(
        f"{_mib(report.bytes)} (from {_mib(source_bytes)} in use), {objects} objects, "
        f"commit {commit_seq}, in {report.seconds:.2f} s"
    )
    return report


@dataclass(frozen=True)
class RestoreReport:
    """What :func:`restore` put in place."""

    commit_seq: int
    objects: int
    bytes: int
    replaced: bool


def restore(source: Path, data_dir: Path, progress: Progress, force: bool = False) -> RestoreReport:
    """Make ``data_dir`` hold the backup at ``source``.

    Raises ``DataDirLocked`` if a daemon (or another restore) holds
    ``data_dir``; ``Refused`` if ``data_dir`` already holds data and not
    ``force``, or if the backup does not verify. With ``force`` the data
    and secret there are replaced, and the old data is removed only once the
    new data is in place.
    """
    if not (source / SECRET_FILE).is_file():
        raise Refused(f"{source} is not a Lodestone backup: it has no {SECRET_FILE} file")
    checked = verify(source, progress)
    if not checked.ok:
        raise Refused(
            f"the backup {source} has {len(checked.problems)} problems (first: {checked.problems[0]}); "
            f"see lodestone verify --data-dir {source}"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    with _holding_lock(data_dir):
        lmdb_dir = data_dir / "lmdb"
        had_data = lmdb_dir.exists() or (data_dir / SECRET_FILE).exists()
        if had_data and not force:
            raise Refused(f"{data_dir} already holds data; pass --force to replace it with the backup")
        staging = data_dir / ".restore"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        (staging / "lmdb").mkdir(mode=0o700)
        copied = _copy_file(source / "lmdb" / "data.mdb", staging / "lmdb" / "data.mdb", progress)
        _write_file(staging / SECRET_FILE, (source / SECRET_FILE).read_bytes(), 0o600)
        _fsync(staging / "lmdb")
        _fsync(staging)
        old = data_dir / ".replaced"
        shutil.rmtree(old, ignore_errors=True)
        if lmdb_dir.exists():
            os.rename(lmdb_dir, old)
        os.rename(staging / "lmdb", lmdb_dir)
        os.replace(staging / SECRET_FILE, data_dir / SECRET_FILE)
        _fsync(data_dir)
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    progress.finish(f"restored commit {checked.commit_seq}, {checked.objects} objects, {_mib(copied)}")
    return RestoreReport(checked.commit_seq, checked.objects, copied, had_data)


@contextlib.contextmanager
def _holding_lock(data_dir: Path) -> Iterator[None]:
    """Hold ``data_dir``'s daemon lock (the one :class:`~daemon.storage.Store` takes)."""
    fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DataDirLocked(
                f"the data directory {data_dir} is in use by a running Lodestone; "
                "stop it (systemctl stop lodestone) before restoring into it"
            ) from exc
        yield
    finally:
        os.close(fd)


def _keep_commit_number(lmdb_dir: Path, number: int) -> None:
    """Make the copy in ``lmdb_dir`` number its commits on from ``number``, the source's when copied.

    A compacted copy restarts LMDB's transaction ids, which commit numbers count from.
    """
    room = (lmdb_dir / "data.mdb").stat().st_size + _MIB  # the copy is exactly full; one write needs a page more
    env = lmdb.open(str(lmdb_dir), map_size=room, max_dbs=1, subdir=True, create=False, readahead=False, lock=False)
    try:
        with env.begin(write=True) as txn:
            set_commit_base(txn, env.open_db(META_DB, txn=txn, create=False), number - txn.id())
    finally:
        env.close()


def _summary(lmdb_dir: Path) -> tuple[int, int]:
    """``(commit_seq, objects stored)`` of a copy that nothing else uses."""
    with open_readonly(lmdb_dir, 2, lock=False) as env, env.begin() as txn:
        number = commit_number(txn, env.open_db(META_DB, txn=txn, create=False))
        objects = txn.stat(env.open_db(REGISTRY_DB, txn=txn, create=False))["entries"]
    return number, int(objects)


@contextlib.contextmanager
def _watch_size(path: Path, progress: Progress) -> Iterator[None]:
    """Report the size of ``path`` while a copy into it runs in this thread."""
    done = threading.Event()

    def watch() -> None:
        while not done.wait(progress.every_s):
            with contextlib.suppress(OSError):
                progress.update(path.stat().st_size // _MIB)

    watcher = threading.Thread(target=watch, name="backup-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def _copy_file(source: Path, target: Path, progress: Progress) -> int:
    total = source.stat().st_size
    progress.start("restore", total // _MIB, "MiB")
    copied = 0
    with source.open("rb") as reader, target.open("wb") as writer:
        while chunk := reader.read(_COPY_CHUNK):
            writer.write(chunk)
            copied += len(chunk)
            progress.update(copied // _MIB)
        writer.flush()
        os.fsync(writer.fileno())
    return copied


def _mib(size: int) -> str:
    return f"{size / _MIB:.1f} MiB"


def _write_file(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["BackupReport", "Refused", "RestoreReport", "backup", "restore"]
