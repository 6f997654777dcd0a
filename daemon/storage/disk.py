"""The disk under the data: is there room to start, to grow the map, to commit?

Opening an environment maps LMDB's lock table, and a write into a mapped
page the disk has no room for kills the process with SIGBUS. So start-up
asks the file system (``statvfs``) for :data:`START_FREE_BYTES` first. The
data file is written with ordinary writes, so a full disk there fails a
commit (LMDB reports it as an I/O error); :func:`commit_failure` tells the
runtime it was the disk, and the map is never grown past what the disk can
hold (:func:`map_room`).
"""

from __future__ import annotations

import os
from pathlib import Path

from daemon.errors import DiskFull, NoSpaceToStart, StorageError

# Room to open the data: LMDB's lock table (8 KiB), the first commits, and a margin.
START_FREE_BYTES = 1 << 20
# Below this much free space, a failed write is taken for a full disk.
FULL_BELOW_BYTES = 16 << 20
_MAP_STEP = 64 << 10  # map sizes are kept a multiple of this (of any page size)


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged process may still write on the file system holding ``path``."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def check_room_to_start(path: Path) -> None:
    """Raise ``NoSpaceToStart`` (an ``OSError``) with a sentence if the disk holding ``path`` is too full to open."""
    free = free_bytes(path)
    if free < START_FREE_BYTES:
        raise NoSpaceToStart(
            f"the disk holding {path} is full: {free >> 10} KiB free, and opening the data needs at least "
            f"{START_FREE_BYTES >> 10} KiB; free some space (or move the data directory) and start again"
        )


def map_room(path: Path, data_file: Path, map_size: int, wanted: int) -> int:
    """The map size to grow to, at most ``wanted``: no larger than the data file plus the free space.

    Raises ``DiskFull`` if the disk cannot hold more than the ``map_size`` already mapped.
    """
    try:
        used = data_file.stat().st_size
    except FileNotFoundError:
        used = 0
    free = free_bytes(path)
    room = (used + free) // _MAP_STEP * _MAP_STEP
    if room <= map_size:
        raise DiskFull(disk_full_sentence(path, free))
    return min(wanted, room)


def commit_failure(path: Path, exc: Exception) -> StorageError:
    """The error a failed write stands for: ``DiskFull`` when the disk holding ``path`` is (nearly) full."""
    free = free_bytes(path)
    if free < FULL_BELOW_BYTES or "No space left" in str(exc):
        return DiskFull(disk_full_sentence(path, free))
    return StorageError(str(exc))


def disk_full_sentence(path: Path, free: int) -> str:
    """What a write refused for lack of disk space says."""
    return (
        f"the disk holding the data ({path}) is full: {free >> 10} KiB free, too little for the data to grow; "
        "nothing was written: free some space on it and retry"
    )
