"""The ZeroMQ front: the ROUTER/XPUB loop, request envelopes, change-stream topics, the alarm clock.

The only part of the daemon (with the service that composes it) that imports
``zmq``; it knows nothing of LMDB.
"""

from __future__ import annotations

from daemon.server.alarm_clock import AlarmScheduler
from daemon.server.server import Server

__all__ = ["AlarmScheduler", "Server"]
