"""The operator's commands: lodestone cluster status, where, evict (refused for a live node)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.cluster.support import Nodes, call
from tests.cluster.test_handoff import STEVE, knows, ok, retry
from tests.conftest import REPO, wait_for


def lodestone(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=30)


def test_status_where_and_evict_read_the_cluster_from_etcd(tmp_path: Path, nodes: Nodes) -> None:
    nodes.top = 'metrics = "127.0.0.1:0"\n'
    a, b = nodes.start("a"), nodes.start("b")
    ok(call(a.rpc, "storage.put", STEVE, {"key": "k", "value": 1}))
    ok(call(a.rpc, "storage.put", {"class": "Steve", "name": "steve-2"}, {"key": "k", "value": 1}))
    wait_for(lambda: knows(b.rpc, "a", 2))
    retry(b.rpc, "storage.get", STEVE, {"key": "k"})  # steve-1 moves to b
    config = str(tmp_path / "a" / "lodestone.toml")

    status = lodestone("cluster", "status", "--config", config)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert {node: entry["objects"] for node, entry in report["nodes"].items()} == {"a": 1, "b": 1}
    assert all(entry["lease_ttl_s"] > 0 for entry in report["nodes"].values())

    where = lodestone("cluster", "where", "Steve", "steve-1", "--config", config)
    assert where.returncode == 0 and json.loads(where.stdout)["node"] == "b"
    assert lodestone("cluster", "where", "Steve", "nobody", "--config", config).returncode == 1

    refused = lodestone("cluster", "evict", "a", "--accept-loss", "--config", config)
    assert refused.returncode == 1 and "node a is live" in refused.stderr
    assert lodestone("cluster", "evict", "a", "--config", config).returncode == 2  # --accept-loss is required
    health = ok(call(b.rpc, "health"))
    assert health["cluster"]["objects_owned"] == 1 and health["cluster"]["writable"]
    assert ok(call(b.rpc, "stats"))["counters"]["cluster.handoffs_in"] == 1

    def scrape() -> str:
        with urllib.request.urlopen(f"http://{b.announced['metrics']}/metrics", timeout=5) as response:
            text: str = response.read().decode()
            return text

    wait_for(lambda: "lodestone_cluster_handoffs_in_total 1.0" in scrape())
    assert "lodestone_cluster_lease_renewals_total" in scrape()


def test_the_ops_between_nodes_need_the_cluster_token(nodes: Nodes) -> None:
    a = nodes.start("a")
    ok(call(a.rpc, "storage.put", STEVE, {"key": "k", "value": 1}))
    steve = ok(call(a.rpc, "id.from_name", args=STEVE))["id"]
    for args in ({}, {"token": "guess"}):
        export = call(a.rpc, "cluster.export", args={**args, "class": "Steve", "id": steve, "to": "x",
                                                      "expires_ms": 2**62})
        assert not export["ok"] and export["error"]["code"] == "FORBIDDEN"
        forward = call(a.rpc, "cluster.forward", args={**args, "request": {"op": "ping"}})
        assert not forward["ok"] and forward["error"]["code"] == "FORBIDDEN"
    assert ok(call(a.rpc, "storage.get", STEVE, {"key": "k"}))["value"] == 1  # still here, still served
