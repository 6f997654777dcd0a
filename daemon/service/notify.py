"""Telling systemd how the daemon is doing: the ``sd_notify`` protocol, implemented directly.

The protocol is one datagram of ``KEY=VALUE`` lines sent to the AF_UNIX socket
named by ``$NOTIFY_SOCKET`` (a path, or an abstract-namespace name written
with a leading ``@``). Without ``$NOTIFY_SOCKET`` every call here is a no-op,
so the daemon runs the same in a terminal, under a test, or under systemd.

What the daemon says, and when (see ``app.py``):

* ``STATUS=...`` as start-up moves on, and whenever there is news;
* ``READY=1`` once storage is open and the sockets are bound;
* ``WATCHDOG=1`` from the server loop itself, every half ``$WATCHDOG_USEC``,
  so a loop that is stuck stops pinging and systemd restarts the service;
* ``RELOADING=1`` with ``MONOTONIC_USEC=`` on SIGHUP, then ``READY=1`` again;
* ``STOPPING=1`` once SIGTERM has been seen.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)

# An essential message (READY, RELOADING, STOPPING) may wait this long for room in
# the receiver's queue; a status line or a watchdog ping never waits.
_ESSENTIAL_SEND_TIMEOUT_S = 1.0


class Notifier:
    """Sends notify messages to one socket address; ``address=None`` disables it.

    Sending never raises: a message that cannot be sent is logged (once per
    kind of failure) and dropped, because the daemon's work matters more than
    its report on it.
    """

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._socket: socket.socket | None = None
        self._failed: set[str] = set()
        if address:
            self._target = "\0" + address[1:] if address.startswith("@") else address
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Notifier:
        """The notifier ``$NOTIFY_SOCKET`` asks for (disabled if it is unset or empty)."""
        return cls(environ.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        """Whether messages go anywhere."""
        return self._socket is not None

    def send(self, *lines: str, essential: bool = False) -> bool:
        """Send ``lines`` as one datagram; return whether it was sent.

        ``essential`` messages wait up to a second for room in the receiver's
        queue; others are dropped at once if it is full.
        """
        if self._socket is None:
            return False
        message = "\n".join(lines).encode()
        try:
            self._socket.settimeout(_ESSENTIAL_SEND_TIMEOUT_S if essential else 0.0)
            self._socket.sendto(message, self._target)
        except OSError as exc:
            kind = type(exc).__name__
            if kind not in self._failed:
                self._failed.add(kind)
                log.warning("cannot notify %s (%s); dropping %s", self.address, exc, lines[0])
            return False
        return True

    def status(self, text: str) -> bool:
        """``STATUS=text``: a one-line description of what the daemon is doing."""
        return self.send(f"STATUS={_one_line(text)}")

    def ready(self, status: str) -> bool:
        """``READY=1``: start-up (or a reload) is complete and requests are served."""
        return self.send("READY=1", f"STATUS={_one_line(status)}", essential=True)

    def reloading(self) -> bool:
        """``RELOADING=1`` stamped with ``CLOCK_MONOTONIC`` in microseconds."""
        now_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={now_us}", "STATUS=reloading the configuration",
                         essential=True)

    def stopping(self) -> bool:
        """``STOPPING=1``: shutdown has begun."""
        return self.send("STOPPING=1", "STATUS=stopping: finishing turns in flight", essential=True)

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the loop is alive."""
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        """Close the socket; later sends are no-ops."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval(environ: Mapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between watchdog pings (half ``$WATCHDOG_USEC``), or ``None`` if not asked for.

    Like ``sd_watchdog_enabled(3)``: ``$WATCHDOG_PID``, when set, must be this
    process's pid, so a child that inherited the environment does not ping.
    """
    raw = environ.get("WATCHDOG_USEC", "")
    if not raw:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", raw)
        return None
    return usec / 2 / 1_000_000 if usec > 0 else None


class Watchdog:
    """Pings every ``interval`` seconds when :meth:`tick` is called often enough.

    The server loop calls :meth:`tick` once per iteration; its poll timeout
    must be shorter than ``interval`` (:attr:`poll_ms` is a fitting one).
    """

    def __init__(self, notifier: Notifier, interval: float) -> None:
        self.notifier = notifier
        self.interval = interval
        self._next = 0.0

    @property
    def poll_ms(self) -> int:
        """A loop poll timeout that keeps pings on time: half the interval, 10 ms to 1 s."""
        return max(10, min(1000, int(self.interval * 500)))

    def tick(self) -> None:
        """Ping if the interval has passed since the last ping."""
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            self.notifier.watchdog()


def _one_line(text: str) -> str:
    return " ".join(text.split())
