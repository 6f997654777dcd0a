"""The Prometheus endpoint of a real daemon, scraped over HTTP."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge import BadRequest, Client
from tests.conftest import DaemonProcess, running_daemon


def scrape(address: str) -> dict[str, float]:
    """Every sample at ``address``, keyed ``name`` or ``name{label=value,...}``."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


def test_metrics_are_off_unless_configured(daemon: DaemonProcess) -> None:
    assert "metrics" not in daemon.announced


def test_the_endpoint_serves_counters_cycles_and_storage_figures(daemon: DaemonProcess, tmp_path: Path) -> None:
    daemon.stop()
    config = tmp_path / "lodestone.toml"
    config.write_text('metrics = "127.0.0.1:0"\n')
    daemon.extra_args = ["--config", str(config)]
    daemon.rpc = daemon.pub = "tcp://127.0.0.1:*"
    daemon.start()
    address = daemon.announced["metrics"]
    assert address.startswith("127.0.0.1:")
    with Client(daemon.rpc, retries=0) as client:
        client.object("Agent", "m").put_many({f"k{i}": i for i in range(10)})
        with pytest.raises(BadRequest):
            client.call("storage.get", {"class": "Agent", "name": "m"}, {"key": 1})
        # The loop copies its counters at most once a second, when it turns: each request turns it.
        deadline = time.monotonic() + 10
        samples = scrape(address)
        while samples.get("lodestone_requests_total", 0) < 3 and time.monotonic() < deadline:
            client.ping()
            samples = scrape(address)
    assert daemon.stop() == 0
    assert samples["lodestone_requests_total"] >= 3
    assert samples["lodestone_errors_total{code=BAD_REQUEST}"] == 1
    assert samples["lodestone_cycle_requests_count"] >= 3
    assert samples["lodestone_cycle_seconds_sum"] > 0
    assert samples["lodestone_objects_stored"] == 1
    assert samples["lodestone_map_used_bytes"] > 0
    assert samples["lodestone_last_commit_timestamp_seconds"] > 1e9


def threads_of(pid: int) -> int:
    """How many threads the process ``pid`` runs, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


@pytest.fixture
def metrics_daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    # A long alarm horizon, so APScheduler starts no worker thread while a test counts threads.
    yield from running_daemon(tmp_path, 'metrics = "127.0.0.1:0"\nalarm_horizon_s = 3600\n')


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads thread counts from /proc")
def test_idle_connections_take_no_thread_each_and_the_endpoint_still_answers(metrics_daemon: DaemonProcess) -> None:
    daemon_proc = metrics_daemon
    assert daemon_proc.process is not None
    pid = daemon_proc.process.pid
    host, port = daemon_proc.announced["metrics"].rsplit(":", 1)
    assert scrape(daemon_proc.announced["metrics"])["lodestone_objects_stored"] == 0
    before = threads_of(pid)
    idle: list[socket.socket] = []
    try:
        for index in range(200):
            conn = socket.create_connection((host, int(port)), timeout=5)
            if index % 2:
                conn.sendall(b"GET /metrics HTTP/1.1\r\n")  # half a request, never finished
            idle.append(conn)
        # The listener accepts in order: once this answers, every idle connection was accepted.
        samples = scrape(daemon_proc.announced["metrics"])
        during = threads_of(pid)
    finally:
        for conn in idle:
            conn.close()
    assert samples["lodestone_objects_stored"] == 0
    assert during == before, f"{during - before} more threads with 200 idle connections open"
    assert daemon_proc.stop() == 0
