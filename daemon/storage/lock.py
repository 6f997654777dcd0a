"""The exclusive lock a daemon (or a restore) holds on its data directory.

The lock is an ``flock`` on the data directory itself, opened read-only: a
second process cannot miss it, since it has to open that directory to use
the data, and nobody can delete it while the data is in it. The lock file
``lodestone.lock`` is locked as well, so that a Lodestone from before the
directory lock still sees the directory as in use; deleting that file no
longer lets a second daemon in.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from daemon.errors import DataDirLocked

LOCK_FILE = "lodestone.lock"


class DirectoryLock:
    """An exclusive, non-blocking lock on one data directory; released by :meth:`release` or at exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fds: list[int] = []

    def acquire(self, in_use: str) -> None:
        """Take the lock; raise ``DataDirLocked(in_use)`` if another process holds it.

        Creates ``lodestone.lock`` (mode 0600) if it is missing. Holds nothing
        if it raises.
        """
        try:
            self._take(os.open(self.path, os.O_RDONLY | os.O_DIRECTORY), in_use)
            self._take(os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600), in_use)
        except BaseException:
            self.release()
            raise

    def _take(self, fd: int, in_use: str) -> None:
        self._fds.append(fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise DataDirLocked(in_use) from exc

    def release(self) -> None:
        """Release the lock (closing its descriptors); a no-op if it is not held."""
        while self._fds:
            os.close(self._fds.pop())
