"""Blocking work off the server loop: a few daemon threads that run etcd calls and post their outcome.

The loop submits a function; a worker runs it and posts ``(tag, result or
exception)`` to the loop's inbox, then wakes the loop. Daemon threads, so a
call stuck on an unreachable etcd never holds the process at exit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Outcome = tuple[Any, Any]


class Workers:
    """``size`` threads running submitted calls; outcomes go to ``post``."""

    def __init__(self, post: Callable[[Outcome], None], size: int = 4) -> None:
        self._post = post
        self._queue: queue.SimpleQueue[tuple[Any, Callable[[], Any]] | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"lodestone-cluster-{i}", daemon=True)
                         for i in range(size)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, tag: Any, call: Callable[[], Any]) -> None:
        """Run ``call`` on a worker; post ``(tag, its result)``, or ``(tag, the exception)`` if it raised."""
        self._queue.put((tag, call))

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            tag, call = item
            try:
                result: Any = call()
            except Exception as exc:
                log.debug("cluster task %r failed: %s", tag, exc)
                result = exc
            self._post((tag, result))
