"""The subscribed prefixes of the change stream, and whether a topic matches any of them.

The XPUB socket reports each distinct prefix when its first subscriber
subscribes and when its last one leaves, so the index holds the distinct
prefixes every subscriber together wants. Matching a topic looks up the
topic's own prefixes, one per distinct prefix length, in a set: its cost
grows with the topic's length (topics are short), never with the number of
prefixes, so one subscriber with a hundred thousand prefixes cannot slow
every writer down.

At most ``limit`` distinct prefixes are indexed. A prefix past the cap is
refused: it is counted (``subscriptions_refused``), logged (once a minute at
most), and the daemon builds no message for it alone. It is kept aside and
indexed as soon as an unsubscription makes room.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import Counter
from collections.abc import Callable

log = logging.getLogger(__name__)

_REPEAT_LOG_S = 60.0


class Subscriptions:
    """A capped set of byte prefixes with topic matching in ``O(len(topic))``."""

    def __init__(self, limit: int, counters: Counter[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.counters = counters
        self._clock = clock
        self._prefixes: set[bytes] = set()
        # Distinct prefix lengths, ascending, and how many prefixes have each.
        self._lengths: list[int] = []
        self._per_length: Counter[int] = Counter()
        # Refused prefixes, in arrival order (a dict keeps it), promoted as room frees up.
        self._waiting: dict[bytes, None] = {}
        self._next_log = 0.0

    def __len__(self) -> int:
        return len(self._prefixes)

    def __bool__(self) -> bool:
        return bool(self._prefixes)

    @property
    def refused(self) -> int:
        """How many subscribed prefixes are past the cap right now."""
        return len(self._waiting)

    def subscribe(self, prefix: bytes) -> bool:
        """Index ``prefix``; False (counted, logged) if the cap is reached and it waits for room."""
        if prefix in self._prefixes or prefix in self._waiting:
            return prefix in self._prefixes
        if len(self._prefixes) >= self.limit:
            self._waiting[prefix] = None
            self.counters["subscriptions_refused"] += 1
            now = self._clock()
            if now >= self._next_log:
                self._next_log = now + _REPEAT_LOG_S
                log.warning("the change stream has %d distinct subscribed prefixes, its max_subscriptions; "
                            "%d more are not served (counted in stats as subscriptions_refused)",
                            self.limit, len(self._waiting))
            return False
        self._add(prefix)
        return True

    def unsubscribe(self, prefix: bytes) -> None:
        """Forget ``prefix``; a refused prefix takes the room it leaves."""
        if prefix in self._waiting:
            del self._waiting[prefix]
            return
        if prefix not in self._prefixes:
            return
        self._prefixes.discard(prefix)
        length = len(prefix)
        self._per_length[length] -= 1
        if not self._per_length[length]:
            del self._per_length[length]
            del self._lengths[bisect.bisect_left(self._lengths, length)]
        if self._waiting:
            promoted = next(iter(self._waiting))
            del self._waiting[promoted]
            self._add(promoted)

    def wanted(self, topic: bytes) -> bool:
        """Whether any indexed prefix is a prefix of ``topic``."""
        prefixes = self._prefixes
        size = len(topic)
        for length in self._lengths:
            if length > size:
                return False
            if topic[:length] in prefixes:
                return True
        return False

    def _add(self, prefix: bytes) -> None:
        self._prefixes.add(prefix)
        length = len(prefix)
        if not self._per_length[length]:
            bisect.insort(self._lengths, length)
        self._per_length[length] += 1
