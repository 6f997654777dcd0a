"""Fencing: a stalled owner, an evicted owner that comes back, and etcd losing members."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import zmq

from schemas.wire import decode, encode
from tests.cluster.support import EtcdCluster, Nodes, call
from tests.cluster.test_handoff import STEVE, etcd_get, knows, ok, retry
from tests.conftest import REPO, wait_for


def _send(endpoint: str, request: dict[str, Any]) -> zmq.Socket[bytes]:
    context: zmq.Context[Any] = zmq.Context.instance()
    sock: zmq.Socket[bytes] = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sock.send_multipart([b"", encode({"v": 1, "id": 1, **request})])
    return sock


def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "T"


def _lease_gone(nodes: Nodes, node: str) -> bool:
    return etcd_get(nodes.etcd[0], f"/lodestone/{nodes.cluster}/nodes/{node}") is None


def test_a_node_stopped_after_a_commit_past_its_lease_never_sends_that_reply(nodes: Nodes) -> None:
    a = nodes.start("a", {"LODESTONE_CLUSTER_CRASH_AT": "stop:cycle.committed"})
    assert a.process is not None
    sock = _send(a.rpc, {"op": "storage.put", "target": STEVE, "args": {"key": "k", "value": 1}})
    try:
        wait_for(lambda: _stopped(a.process.pid) if a.process else False)  # right after the commit
        wait_for(lambda: _lease_gone(nodes, "a"), timeout=15)
        a.process.send_signal(signal.SIGCONT)
        assert not sock.poll(3000), "a reply left a node whose lease had expired before it was sent"
    finally:
        sock.close(0)
    assert retry(a.rpc, "storage.put", STEVE, {"key": "k", "value": 2}) == {}  # back, after re-checking
    assert ok(call(a.rpc, "stats"))["counters"]["cluster.gated_cycles"] == 1


def test_an_owner_stalled_past_its_lease_is_evicted_and_acknowledges_no_write_under_its_old_epoch(
        tmp_path: Path, nodes: Nodes) -> None:
    audit = tmp_path / "audit-a.jsonl"
    a = nodes.start("a", {"LODESTONE_CLUSTER_AUDIT": str(audit)})
    b = nodes.start("b")
    ok(call(a.rpc, "storage.put", STEVE, {"key": "before", "value": 1}))
    wait_for(lambda: knows(b.rpc, "a", 1))
    nodes.signal("a", signal.SIGSTOP)
    wait_for(lambda: _lease_gone(nodes, "a"), timeout=15)

    refused = call(b.rpc, "storage.get", STEVE, {"key": "before"})
    assert not refused["ok"] and refused["error"]["code"] == "UNAVAILABLE" and refused["error"]["retryable"]
    assert "node a" in refused["error"]["message"] and "lodestone cluster evict a" in refused["error"]["message"]

    evict = subprocess.run([sys.executable, "-m", "daemon", "cluster", "evict", "a", "--accept-loss",
                            "--config", str(tmp_path / "b" / "lodestone.toml")],
                           cwd=REPO, capture_output=True, text=True, timeout=30)
    assert evict.returncode == 0, evict.stderr
    evicted = [json.loads(line) for line in evict.stdout.splitlines()]
    assert [(entry["class"], entry["name"]) for entry in evicted] == [("Steve", "steve-1")]
    old_epoch = evicted[0]["epoch"]

    assert retry(b.rpc, "storage.put", STEVE, {"key": "after", "value": 2}) == {}  # b claims it, empty
    frozen = _send(a.rpc, {"op": "storage.put", "target": STEVE, "args": {"key": "frozen", "value": 3}})
    try:
        nodes.signal("a", signal.SIGCONT)
        frozen_reply = decode(frozen.recv_multipart()[-1]) if frozen.poll(8000) else None
    finally:
        frozen.close(0)

    wait_for(lambda: ok(call(a.rpc, "stats"))["counters"].get("cluster.quarantined", 0) == 1)
    entries = dict(retry(b.rpc, "storage.list", STEVE)["entries"])
    assert "before" not in entries and entries["after"] == 2  # a's stale state never came back
    assert ("frozen" in entries) == bool(frozen_reply and frozen_reply["ok"])
    # Whatever a acknowledged after it came back, it acknowledged under a newer epoch than the one evicted.
    for line in audit.read_text().splitlines():
        _, _, _, epoch, args = json.loads(line)
        assert args["key"] == "before" or epoch > old_epoch, line


def test_losing_one_etcd_member_changes_nothing_and_losing_two_stops_writes_until_quorum_returns(
        tmp_path: Path, own_etcd: EtcdCluster) -> None:
    nodes = Nodes(tmp_path, f"q{uuid.uuid4().hex[:8]}", own_etcd.clients)
    try:
        a, b = nodes.start("a"), nodes.start("b")
        ok(call(a.rpc, "storage.put", STEVE, {"key": "n", "value": 0}))
        own_etcd.stop(0)
        for move in range(1, 7):  # handoffs and writes go on with two members of three
            proc = b if move % 2 else a
            assert retry(proc.rpc, "storage.put", STEVE, {"key": "n", "value": move}, idem=f"m{move}") == {}
        owner = a if move % 2 == 0 else b
        own_etcd.stop(1)
        wait_for(lambda: not ok(call(owner.rpc, "health"))["cluster"]["writable"], timeout=10)
        refused = call(owner.rpc, "storage.put", STEVE, {"key": "n", "value": 99})
        assert not refused["ok"] and refused["error"]["code"] == "UNAVAILABLE" and refused["error"]["retryable"]
        assert "lease" in refused["error"]["message"]
        other = b if owner is a else a
        moved = call(other.rpc, "storage.put", STEVE, {"key": "n", "value": 98})
        assert not moved["ok"] and moved["error"]["code"] == "UNAVAILABLE"  # no handoff without quorum
        fresh = call(owner.rpc, "storage.put", {"class": "Steve", "name": "fresh"}, {"key": "n", "value": 1})
        assert not fresh["ok"] and fresh["error"]["code"] == "UNAVAILABLE"  # nor a new owner
        time.sleep(0.5)
        own_etcd.start(1)
        assert retry(owner.rpc, "storage.put", STEVE, {"key": "n", "value": 100}, timeout=30) == {}
        assert ok(call(owner.rpc, "storage.get", STEVE, {"key": "n"}))["value"] == 100
    finally:
        nodes.close()


def test_a_request_whose_object_cannot_come_is_refused_after_the_hold_limit(nodes: Nodes) -> None:
    nodes.ttl_s = 10  # the owner stays live (its lease held) while it does not answer
    a, b = nodes.start("a"), nodes.start("b")
    ok(call(a.rpc, "storage.put", STEVE, {"key": "k", "value": 1}))
    wait_for(lambda: knows(b.rpc, "a", 1))
    nodes.signal("a", signal.SIGSTOP)
    try:
        started = time.monotonic()
        reply = call(b.rpc, "storage.get", STEVE, {"key": "k"}, timeout=15)
        waited = time.monotonic() - started
    finally:
        nodes.signal("a", signal.SIGCONT)
    assert not reply["ok"] and reply["error"]["code"] == "UNAVAILABLE" and reply["error"]["retryable"]
    assert "did not become available on node b" in reply["error"]["message"]
    assert 4.5 < waited < 10
    assert retry(b.rpc, "storage.get", STEVE, {"key": "k"}) == {"found": True, "value": 1}


def test_calls_queued_by_a_cycle_the_gate_withheld_are_discarded_not_sent(nodes: Nodes) -> None:
    nodes.extra = '[classes.options.Agent]\ntelemetry = "global"\n'
    a = nodes.start("a")
    b = nodes.start("b", {"LODESTONE_CLUSTER_CRASH_AT": "stop:cycle.committed"})
    assert b.process is not None
    ok(call(a.rpc, "Telemetry.log", {"class": "Telemetry", "name": "global"}, {"agent": "x", "type": "boot"}))
    wait_for(lambda: knows(b.rpc, "a", 1))
    sock = _send(b.rpc, {"op": "Agent.init", "target": {"class": "Agent", "name": "steve"}})
    try:
        wait_for(lambda: _stopped(b.process.pid) if b.process else False)
        wait_for(lambda: _lease_gone(nodes, "b"), timeout=15)
        b.process.send_signal(signal.SIGCONT)
        assert not sock.poll(3000)
    finally:
        sock.close(0)
    wait_for(lambda: ok(call(b.rpc, "stats"))["counters"].get("cluster.outbox_discarded", 0) == 1)
    events = ok(call(a.rpc, "Telemetry.latest", {"class": "Telemetry", "name": "global"}, {"agent": "steve"}))
    assert events["events"] == []
