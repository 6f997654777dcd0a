"""How many clients may be connected at once: ``max_connections``, over the rpc and pub sockets together.

Each connection costs a file descriptor and some memory; a process that runs
out of descriptors cannot accept (libzmq then retries the accept in a busy
loop) and cannot open its own files. So the daemon watches its sockets
through ZeroMQ socket monitors, which report every connection accepted and
every one that ends, and shuts down a connection as soon as it is accepted
if ``max_connections`` are already open: counted as ``connections_refused``
and logged (once a minute at most). The client sees its connection drop.

At start, :func:`ensure_open_files` makes sure the process may open enough
files for ``max_connections`` plus its own.
"""

from __future__ import annotations

import logging
import os
import resource
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from itertools import count
from typing import Any

import zmq

from daemon.errors import ConfigError

log = logging.getLogger(__name__)

# Files the daemon needs besides its connections: LMDB, the lock, ZeroMQ's own, the metrics endpoint, logs.
FILES_HEADROOM = 128
_EVENTS = int(zmq.EVENT_ACCEPTED) | int(zmq.EVENT_DISCONNECTED)
_ACCEPTED = int(zmq.EVENT_ACCEPTED)
_DISCONNECTED = int(zmq.EVENT_DISCONNECTED)
_REPEAT_LOG_S = 60.0
_monitor_numbers = count()


def ensure_open_files(max_connections: int) -> None:
    """Raise the soft RLIMIT_NOFILE to what ``max_connections`` needs (up to the hard limit).

    Raises ``ConfigError`` with what to do if even the hard limit is too low.
    """
    needed = max_connections + FILES_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise ConfigError(
            f"max_connections = {max_connections} needs {needed} open files (with {FILES_HEADROOM} for the "
            f"daemon's own), but this process may open at most {hard}: raise the limit (LimitNOFILE= in "
            "the systemd unit, ulimit -n) or lower max_connections"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else hard, hard))


class Connections:
    """Counts the connections of the sockets it watches and shuts down those past ``limit``."""

    def __init__(self, limit: int, counters: Counter[str], context: zmq.Context[Any],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.counters = counters
        self._context = context
        self._clock = clock
        self._open: set[int] = set()
        self._refused: set[int] = set()
        self._monitors: list[tuple[zmq.Socket[bytes], zmq.Socket[bytes]]] = []
        self._next_log = 0.0

    def __len__(self) -> int:
        return len(self._open)

    def watch(self, sock: zmq.Socket[bytes]) -> zmq.Socket[bytes]:
        """Monitor ``sock``; return the monitor socket, for the loop to poll and hand to :meth:`handle`."""
        address = f"inproc://lodestone-connections-{os.getpid()}-{next(_monitor_numbers)}"
        sock.monitor(address, _EVENTS)
        monitor: zmq.Socket[bytes] = self._context.socket(zmq.PAIR)
        monitor.setsockopt(zmq.RCVHWM, 0)  # never lose an event: a lost "disconnected" would leak a place
        monitor.setsockopt(zmq.LINGER, 0)
        monitor.connect(address)
        self._monitors.append((sock, monitor))
        return monitor

    def handle(self, monitor: zmq.Socket[bytes]) -> None:
        """Read the events waiting on ``monitor``: count connections, shut down those past the limit."""
        events: list[tuple[int, int]] = []
        while True:
            try:
                frames = monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            event, value = struct.unpack("=HI", frames[0][:6])
            events.append((event, value))
        for index, (event, fd) in enumerate(events):
            if event == _ACCEPTED:
                self._accepted(fd, ended_later=(_DISCONNECTED, fd) in events[index + 1:])
            elif event == _DISCONNECTED:
                if fd in self._refused:
                    self._refused.discard(fd)
                else:
                    self._open.discard(fd)

    def close(self) -> None:
        """Stop monitoring; close the monitor sockets."""
        for sock, monitor in self._monitors:
            if not sock.closed:
                sock.disable_monitor()
            monitor.close(0)
        self._monitors.clear()

    def _accepted(self, fd: int, *, ended_later: bool) -> None:
        if len(self._open) < self.limit:
            self._open.add(fd)
            return
        self.counters["connections_refused"] += 1
        self._refused.add(fd)
        if not ended_later:  # a connection already gone may have handed its number to a newer one
            _shut_down(fd)
        now = self._clock()
        if now >= self._next_log:
            self._next_log = now + _REPEAT_LOG_S
            log.warning("%d connections are open, max_connections; new ones are closed as they come "
                        "(counted in stats as connections_refused)", self.limit)


def _shut_down(fd: int) -> None:
    """Shut down the connection on ``fd`` (libzmq's own descriptor: it sees the end and closes it)."""
    try:
        number = os.dup(fd)
    except OSError:
        return  # already closed
    try:
        duplicate = socket.socket(fileno=number)
    except OSError:
        os.close(number)  # no longer a socket
        return
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        duplicate.close()
