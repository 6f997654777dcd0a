"""Encoding what the server sends, so that no reply or message can stop the loop.

A reply that cannot be encoded (a value msgpack refuses: nested past its
limit, an integer past 64 bits, a type it does not know) becomes an
``INTERNAL`` error reply to that request alone; a change-stream message that
cannot be encoded is dropped and counted. Either way the daemon serves on,
and the log says so once with the traceback, then at most once a minute with
a count, so a client that asks again and again cannot flood the log.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from schemas.wire import ErrorCode, encode, error_reply

log = logging.getLogger(__name__)

_REPEAT_LOG_S = 60.0
_T = TypeVar("_T")


class Encoder:
    """Encodes replies (capped at ``max_frame_bytes``) and notice bodies; counts what it had to replace."""

    def __init__(self, max_frame_bytes: int, counters: Counter[str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.counters = counters
        self._clock = clock
        self._logged: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()

    def reply(self, reply: dict[str, Any]) -> bytes:
        """``reply`` in msgpack; ``TOO_LARGE`` over ``max_frame_bytes``, ``INTERNAL`` if it cannot be encoded."""
        try:
            body = encode(reply)
        except Exception as exc:  # msgpack raises ValueError, OverflowError, TypeError
            self._failed("reply", exc)
            self.counters["errors.INTERNAL"] += 1
            return encode(error_reply(
                reply.get("id"), ErrorCode.INTERNAL,
                f"the reply could not be encoded ({type(exc).__name__}); the daemon log has the details",
            ))
        if len(body) > self.max_frame_bytes:
            body = encode(
                error_reply(
                    reply["id"],
                    ErrorCode.TOO_LARGE,
                    f"the reply would be {len(body)} bytes, over max_frame_bytes "
                    f"({self.max_frame_bytes}); ask for less (list with limit and start_after)",
                )
            )
        return body

    def message(self, encode_body: Callable[[_T], bytes], value: _T) -> bytes | None:
        """A change-stream body, ``encode_body(value)``, or ``None`` (counted, logged) if it cannot be encoded."""
        try:
            return encode_body(value)
        except Exception as exc:
            self._failed("change-stream message", exc)
            self.counters["pub_dropped.encode_failed"] += 1
            return None

    def _failed(self, what: str, exc: Exception) -> None:
        """Log the first failure of ``what`` with its traceback; later ones at most once a minute, as a count."""
        now = self._clock()
        last = self._logged.get(what)
        if last is None:
            self._logged[what] = now
            log.error("a %s could not be encoded; it was replaced and the daemon serves on", what, exc_info=exc)
        elif now - last >= _REPEAT_LOG_S:
            self._logged[what] = now
            count, self._unlogged[what] = self._unlogged[what] + 1, 0
            log.error("%d more %s(s) could not be encoded since the last report (latest: %s: %.200s)",
                      count, what, type(exc).__name__, exc)
        else:
            self._unlogged[what] += 1
