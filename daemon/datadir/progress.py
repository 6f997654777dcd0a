"""Progress of a long operator command, as lines on stderr.

A line at most every second (and one at the end), so a terminal shows that
the work moves and a log stays short.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO


class Progress:
    """Reports ``done of total`` for one operation at a time; ``stream=None`` is silent.

    :meth:`update` may be called from another thread than :meth:`start`.
    """

    def __init__(self, stream: TextIO | None, every_s: float = 1.0) -> None:
        self.stream = stream
        self.every_s = every_s
        self._what = ""
        self._total: int | None = None
        self._unit = ""
        self._next = 0.0
        self._lock = threading.Lock()

    def start(self, what: str, total: int | None, unit: str) -> None:
        """Begin reporting ``what``; ``total`` is ``None`` when it is not known."""
        with self._lock:
            self._what, self._total, self._unit = what, total, unit
            self._next = time.monotonic() + self.every_s

    def update(self, done: int) -> None:
        """Report ``done`` if a second has passed since the last line."""
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                return
            self._next = now + self.every_s
            of = f" of {self._total}" if self._total is not None else ""
            self._write(f"{self._what}: {done}{of} {self._unit}")

    def finish(self, summary: str) -> None:
        """The last line of the operation."""
        with self._lock:
            self._write(f"{self._what}: {summary}" if self._what else summary)

    def _write(self, line: str) -> None:
        if self.stream is not None:
            print(line, file=self.stream, flush=True)
