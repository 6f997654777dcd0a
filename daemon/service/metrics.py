"""The Prometheus text endpoint: off unless ``metrics = "HOST:PORT"`` is configured.

It exposes what the runtime already counts, without adding work to the
request path: the server loop hands over each cycle's size and duration (one
histogram observation per cycle, not per request) and, at most once a
second, a copy of the runtime's counters and the storage figures. A scrape,
on the HTTP server's own thread, reads only those copies, never LMDB.

Names:

* ``lodestone_<counter>_total`` for every runtime counter (``requests``,
  ``cycles``, ``published``, ``alarms.fired`` as ``alarms_fired``, ...), and
  ``lodestone_errors_total{code}`` for error replies by code;
* ``lodestone_cycle_requests`` (requests per cycle: the group-commit batch)
  and ``lodestone_cycle_seconds`` (a cycle's turns, commit and fsync);
* gauges from storage: ``lodestone_objects_stored``, ``lodestone_objects_resident``
  (sub-database handles open), ``lodestone_alarms_stored``, ``lodestone_map_size_bytes``,
  ``lodestone_map_used_bytes``, ``lodestone_commit_seq``, and
  ``lodestone_last_commit_timestamp_seconds``;
* the process's own (``process_resident_memory_bytes``, ``process_open_fds``, ...).

Counters and storage figures are up to a second behind; the histograms are current.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.config import metrics_address

if TYPE_CHECKING:
    from daemon.runtime import Runtime

_REFRESH_S = 1.0
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, float("inf"))
_SECONDS_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, float("inf"))
_NOT_NAME = re.compile(r"[^a-zA-Z0-9_]")
_GAUGES = {
    "objects_stored": ("lodestone_objects_stored", "Objects with stored data."),
    "object_handles": ("lodestone_objects_resident", "Object sub-databases with an open handle."),
    "alarms_stored": ("lodestone_alarms_stored", "Alarms set."),
    "map_size": ("lodestone_map_size_bytes", "Size of the LMDB map."),
    "map_used": ("lodestone_map_used_bytes", "Bytes of the LMDB map in use."),
    "commit_seq": ("lodestone_commit_seq", "Sequence number of the last commit that wrote."),
}


@dataclass(frozen=True)
class _Snapshot:
    counters: dict[str, int] = field(default_factory=dict)
    storage: dict[str, int] = field(default_factory=dict)
    last_commit_ms: int = 0


class Metrics:
    """Collects from the server loop, serves on loopback; see the module docstring.

    :meth:`observe_batch` and :meth:`refresh` are called by the loop thread;
    scrapes run on the HTTP server's thread.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.registry = CollectorRegistry()
        self.cycle_requests = Histogram(
            "lodestone_cycle_requests", "Requests run in one cycle (one commit, one fsync).",
            buckets=_BATCH_BUCKETS, registry=self.registry,
        )
        self.cycle_seconds = Histogram(
            "lodestone_cycle_seconds", "Time to run one cycle: its turns, then commit and fsync.",
            buckets=_SECONDS_BUCKETS, registry=self.registry,
        )
        self._snapshot = _Snapshot()
        self._next_refresh = 0.0
        self.registry.register(_SnapshotCollector(self))
        ProcessCollector(registry=self.registry)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def observe_batch(self, requests: int, seconds: float) -> None:
        """Record one request cycle: how many requests, how long."""
        self.cycle_requests.observe(requests)
        self.cycle_seconds.observe(seconds)

    def refresh(self) -> None:
        """Copy the runtime's counters and storage figures, at most once a second."""
        now = time.monotonic()
        if now < self._next_refresh:
            return
        self._next_refresh = now + _REFRESH_S
        self._snapshot = _Snapshot(dict(self.runtime.counters), self.runtime.store.stats(),
                                   self.runtime.last_commit_ms)

    def serve(self, address: str) -> str:
        """Start the HTTP endpoint on ``HOST:PORT``; return the address bound (port resolved)."""
        self.refresh()
        host, port = metrics_address(address)
        self._server, self._thread = start_http_server(port, host, registry=self.registry)
        bound_port = self._server.server_address[1]
        return f"[{host}]:{bound_port}" if ":" in host else f"{host}:{bound_port}"

    def close(self) -> None:
        """Stop the HTTP endpoint."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    @property
    def snapshot(self) -> _Snapshot:
        return self._snapshot


class _SnapshotCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        snapshot = self._metrics.snapshot
        errors = CounterMetricFamily("lodestone_errors", "Error replies, by code.", labels=["code"])
        for name, value in sorted(snapshot.counters.items()):
            if name.startswith("errors."):
                errors.add_metric([name.removeprefix("errors.")], value)
            else:
                metric = "lodestone_" + _NOT_NAME.sub("_", name)
                yield CounterMetricFamily(metric, f"Runtime counter {name}.", value=value)
        yield errors
        for key, (metric, text) in _GAUGES.items():
            if key in snapshot.storage:
                yield GaugeMetricFamily(metric, text, value=snapshot.storage[key])
        yield GaugeMetricFamily(
            "lodestone_last_commit_timestamp_seconds", "When the last commit that wrote began (epoch).",
            value=snapshot.last_commit_ms / 1000,
        )
