"""docs/grafana-lodestone.json asks only for metrics that a real daemon's /metrics serves.

A daemon started with ``metrics = "127.0.0.1:0"`` is made to do every kind of
work the dashboard charts (requests, an error, idempotent replays, published
changes, alarms fired, published as notices, retried and dropped, a broken
envelope); then every metric name in every panel's query must be among the
samples its endpoint serves.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import zmq

from bridge import BadRequest, Client, Subscriber
from tests.conftest import REPO, DaemonProcess, running_daemon

DASHBOARD = REPO / "docs" / "grafana-lodestone.json"
CONFIG = """
metrics = "127.0.0.1:0"
alarm_retry_base_ms = 1
alarm_max_retries = 1

[classes]
modules = ["tests.dashboard.faulty_classes"]
"""
METRIC = re.compile(r"\b(?:lodestone|process)_[a-z_]+\b")


def sample_names(address: str) -> set[str]:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def panel_queries(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def busy_daemon(daemon: DaemonProcess) -> None:
    """Make the daemon do each kind of work the dashboard charts."""
    with Client(daemon.rpc, retries=0) as client, Subscriber(daemon.pub) as stream:
        client.ping()
        with pytest.raises(BadRequest):
            client.call("storage.get", {"class": "Chest", "name": "c"}, {"key": 1})
        chest = client.object("Chest", "c")
        for _ in range(2):  # the second is answered from the idempotency record
            client.call("storage.put", {"class": "Chest", "name": "c"}, {"key": "k", "value": 1}, idem="same-key")
        chest.put("subscribed", True)  # published: the stream has a subscriber
        client.agent("steve").init()  # its heartbeat alarm fires at once
        client.call("alarm.set", {"class": "Chest", "name": "c"}, {"at_ms": 1})  # a plain object's notice
        client.call("alarm.set", {"class": "Faulty", "name": "f"}, {"at_ms": 1})  # retried once, then dropped
        stream.recv(timeout=10)
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 2000)  # close() waits for the frame to leave
    dealer.connect(daemon.rpc)
    dealer.send(b"no delimiter before this body")  # a broken envelope: dropped unanswered
    dealer.close()


def test_every_metric_the_grafana_dashboard_charts_is_served(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    wanted = {name for query in panel_queries(dashboard) for name in METRIC.findall(query)}
    assert {"lodestone_requests_total", "lodestone_errors_total", "lodestone_cycle_seconds_bucket",
            "lodestone_cycle_requests_bucket", "lodestone_commit_seq", "lodestone_objects_stored",
            "lodestone_alarms_stored", "lodestone_map_used_bytes", "lodestone_dropped_envelopes_total"} <= wanted
    daemons = running_daemon(tmp_path, CONFIG)
    daemon = next(daemons)
    try:
        address = daemon.announced["metrics"]
        busy_daemon(daemon)
        # Counters reach /metrics at most a second late, each when the loop turns; pings turn it.
        deadline = time.monotonic() + 15
        served = sample_names(address)
        with Client(daemon.rpc, retries=0) as client:
            while wanted - served and time.monotonic() < deadline:
                client.ping()
                time.sleep(0.2)
                served = sample_names(address)
    finally:
        for _ in daemons:
            pass
    assert not wanted - served, f"the dashboard charts metrics /metrics does not serve: {sorted(wanted - served)}"


def test_the_dashboard_is_importable_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "lodestone"
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource", "job"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["type"] == "row" or panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel.get("targets", []):
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
