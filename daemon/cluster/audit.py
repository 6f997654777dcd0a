"""A test hook: one line per acknowledged ``storage.put``, with the epoch of the owner record it ran under.

Set by ``LODESTONE_CLUSTER_AUDIT=FILE``. The cluster tests merge the files
of every node and check that no write was acknowledged under an epoch
older than one already seen, and that no epoch had two nodes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from daemon.cluster.directory import Directory
from daemon.errors import LodestoneError
from daemon.model import ObjectRef, Request
from daemon.runtime import CycleResult
from schemas.wire import Encoded, decode


class Audit:
    """Tags the requests a cycle runs with their epoch, and writes the acknowledged ones out."""

    def __init__(self, path: str, node: str, directory: Directory, resolve: Callable[[Any], ObjectRef]) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the process's life)
        self._node = node
        self._directory = directory
        self._resolve = resolve
        self._tagged: list[tuple[Request, str, int]] = []

    def tag(self, run: list[Request | list[Request]]) -> None:
        """Note the epoch each ``storage.put`` of this cycle runs under (``run``: requests, and batches kept whole)."""
        self._tagged = [self._tag(request) for entry in run
                        for request in (entry if isinstance(entry, list) else (entry,))]

    def _tag(self, request: Request) -> tuple[Request, str, int]:
        try:
            object_id = "" if request.target is None or request.op != "storage.put" else \
                self._resolve(request.target).id
        except LodestoneError:
            object_id = ""
        owner = self._directory.owners.get(object_id)
        return request, object_id, owner.epoch if owner is not None else 0

    def write(self, result: CycleResult) -> None:
        """Write a line per acknowledged ``storage.put`` of the cycle (called when its replies go out)."""
        for index, (request, object_id, epoch) in enumerate(self._tagged):
            if object_id and result.replies[index].get("ok"):
                line = [time.time_ns(), self._node, object_id, epoch, request.args]
                self._file.write(json.dumps(line, default=_plain) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _plain(value: object) -> Any:
    """A put's value that came encoded (a batch frame's), decoded for the log."""
    if type(value) is Encoded:
        return decode(value.data)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
