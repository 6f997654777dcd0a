"""The ZeroMQ front: the ROUTER/XPUB loop, request envelopes, change-stream topics, the alarm clock,
the limits on what clients may hold (connections, subscriptions, queued bytes).

The only part of the daemon (with the service that composes it) that imports
``zmq``; it knows nothing of LMDB.
"""

from __future__ import annotations

from daemon.server.alarm_clock import AlarmScheduler
from daemon.server.connections import ensure_open_files
from daemon.server.server import Server

__all__ = ["AlarmScheduler", "Server", "ensure_open_files"]
