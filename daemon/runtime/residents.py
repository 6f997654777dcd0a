"""The in-memory forms of objects with behaviour (class instances), bounded in number and idle time.

Keep in an instance only what storage can rebuild: it is dropped when idle,
when the bound is reached (least recently used first), when a turn on it
fails, and when a cycle is abandoned.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from daemon.model import ObjectRef
from daemon.runtime.classes import ObjectClass


class Residents:
    """The in-memory forms of objects with behaviour, bounded in number and idle time."""

    def __init__(
        self,
        options: Mapping[str, Mapping[str, Any]],
        limit: int = 10_000,
        idle_s: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._options = options
        self._limit = limit
        self._idle_s = idle_s
        self._monotonic = monotonic
        self._instances: OrderedDict[str, tuple[ObjectClass, float]] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._instances)

    def get(self, ref: ObjectRef, cls: type[ObjectClass]) -> ObjectClass:
        """The object's instance, made on first use."""
        instances = self._instances
        entry = instances.get(ref.id)
        if entry is not None:
            instances[ref.id] = (entry[0], self._monotonic())
            instances.move_to_end(ref.id)  # most recently used last
            return entry[0]
        instance = cls(ref, self._options.get(cls.name, {}))
        instances[ref.id] = (instance, self._monotonic())
        while len(self._instances) > self._limit:
            self._instances.popitem(last=False)
            self.evicted += 1
        return instance

    def drop(self, object_id: str) -> None:
        """Forget an object's in-memory form (its storage changed under it, or a turn failed)."""
        if self._instances.pop(object_id, None) is not None:
            self.evicted += 1

    def clear(self) -> None:
        """Forget every in-memory form: a cycle was abandoned, and they may hold what it did not keep."""
        self.evicted += len(self._instances)
        self._instances.clear()

    def evict_idle(self) -> None:
        """Drop the instances not used for ``idle_s`` seconds."""
        cutoff = self._monotonic() - self._idle_s
        while self._instances:
            object_id, (_, used) = next(iter(self._instances.items()))
            if used > cutoff:
                break
            del self._instances[object_id]
            self.evicted += 1
