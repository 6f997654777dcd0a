"""Cluster mode end to end: membership, ownership, handoffs under load, alarms, forwarding, calls across nodes."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import zmq

from tests.cluster.support import Nodes, call
from tests.conftest import wait_for

STEVE = {"class": "Steve", "name": "steve-1"}


def etcd_get(endpoint: str, key: str) -> dict[str, Any] | None:
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    with urllib.request.urlopen(urllib.request.Request(endpoint + "/v3/kv/range", body), timeout=5) as response:
        kvs = json.loads(response.read()).get("kvs", [])
    if not kvs:
        return None
    value: dict[str, Any] = json.loads(base64.b64decode(kvs[0]["value"]))
    return {**value, "mod_revision": int(kvs[0]["mod_revision"]), "lease": int(kvs[0].get("lease", 0))}


def ok(reply: dict[str, Any]) -> Any:
    assert reply["ok"], reply
    return reply["result"]


def retry(endpoint: str, op: str, target: Any = None, args: dict[str, Any] | None = None,
          idem: str | None = None, timeout: float = 20.0) -> Any:
    """Send until the reply is not a retryable error (or no reply); the result."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            reply = call(endpoint, op, target, args, idem, timeout=3)
        except TimeoutError:
            reply = None
        if reply is not None and (reply["ok"] or not reply["error"]["retryable"]):
            return ok(reply)
        assert time.monotonic() < deadline, f"{op} at {endpoint} kept failing: {reply}"
        time.sleep(0.05)


def object_id(endpoint: str, target: dict[str, str]) -> str:
    result: str = ok(call(endpoint, "id.from_name", args=target))["id"]
    return result


def knows(endpoint: str, node: str, objects: int) -> bool:
    """Whether the node at ``endpoint`` has heard of ``node`` and of ``objects`` owner records."""
    cluster = ok(call(endpoint, "health"))["cluster"]
    return node in cluster["nodes_live"] and cluster["objects_known"] >= objects


def test_a_node_registers_its_endpoints_under_its_lease_and_reports_in_health(nodes: Nodes) -> None:
    a = nodes.start("a")
    record = etcd_get(nodes.etcd[0], f"/lodestone/{nodes.cluster}/nodes/a")
    assert record is not None and record["rpc"] == a.rpc and record["pub"] == a.pub and record["lease"] != 0
    cluster = ok(call(a.rpc, "health"))["cluster"]
    assert cluster["node"] == "a" and cluster["writable"] and cluster["nodes_live"] == ["a"]
    ok(call(a.rpc, "storage.put", STEVE, {"key": "k", "value": 1}))
    owner = etcd_get(nodes.etcd[1], f"/lodestone/{nodes.cluster}/owners/Steve/{object_id(a.rpc, STEVE)}")
    assert owner is not None and owner["node"] == "a" and owner["lease"] == 0  # never attached to a lease
    nodes.procs["a"].stop()
    assert etcd_get(nodes.etcd[0], f"/lodestone/{nodes.cluster}/nodes/a") is None  # revoked on a clean stop


def _writer(endpoint: str, side: str, stop: threading.Event, acked: list[str]) -> None:
    """Write keys side0, side1, ... to STEVE at ``endpoint``, each retried (same idem) until acknowledged."""
    context: zmq.Context[Any] = zmq.Context.instance()
    count = 0
    while not stop.is_set():
        key = f"{side}{count:05d}"
        deadline = time.monotonic() + 30
        while True:
            sock = context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(endpoint)
            from schemas.wire import decode, encode
            sock.send_multipart([b"", encode({"v": 1, "id": count, "op": "storage.put", "target": STEVE,
                                              "args": {"key": key, "value": count}, "idem": key})])
            reply = decode(sock.recv_multipart()[-1]) if sock.poll(3000) else None
            sock.close(0)
            if reply is not None and reply["ok"]:
                acked.append(key)
                break
            assert reply is None or reply["error"]["retryable"], reply
            assert time.monotonic() < deadline, f"{key} was never acknowledged: {reply}"
            time.sleep(0.01)
        count += 1


@pytest.mark.timeout(300)
def test_an_object_moved_back_and_forth_under_writes_from_both_sides_keeps_every_acknowledged_write(
        tmp_path: Path, nodes: Nodes) -> None:
    """1,000 handoffs (LODESTONE_CLUSTER_MOVES to change it) while both nodes write to the one object."""
    moves = int(os.environ.get("LODESTONE_CLUSTER_MOVES", "1000"))
    audit = {node: tmp_path / f"audit-{node}.jsonl" for node in ("a", "b")}
    a = nodes.start("a", {"LODESTONE_CLUSTER_AUDIT": str(audit["a"])})
    b = nodes.start("b", {"LODESTONE_CLUSTER_AUDIT": str(audit["b"])})
    stop = threading.Event()
    acked: dict[str, list[str]] = {"a": [], "b": []}
    writers = [threading.Thread(target=_writer, args=(proc.rpc, side, stop, acked[side]))
               for side, proc in (("a", a), ("b", b))]
    for writer in writers:
        writer.start()

    def handoffs() -> int:
        return sum(ok(call(p.rpc, "stats"))["counters"].get("cluster.handoffs_in", 0) for p in (a, b))

    try:
        wait_for(lambda: handoffs() >= moves, timeout=240)
    finally:
        stop.set()
        for writer in writers:
            writer.join(60)
    entries = dict(retry(a.rpc, "storage.list", STEVE)["entries"])
    expected = {key: int(key[1:]) for key in acked["a"] + acked["b"]}
    assert entries == expected  # every acknowledged write, and nothing else
    # Every acknowledged write, in the order the nodes acknowledged them, ran under an epoch no older
    # than the writes acknowledged before it; one epoch, one node.
    lines = [json.loads(line) for node in ("a", "b") for line in audit[node].read_text().splitlines()]
    lines.sort(key=lambda line: line[0])
    epochs_seen: dict[int, str] = {}
    highest = 0
    for _, node, _, epoch, _ in lines:
        assert epoch >= highest, f"a write was acknowledged by {node} under epoch {epoch} after epoch {highest}"
        assert epochs_seen.setdefault(epoch, node) == node, f"epoch {epoch} served by two nodes"
        highest = epoch
    assert len(lines) == len(expected) and len(epochs_seen) > moves // 2


def test_an_alarm_set_before_a_handoff_fires_once_at_the_new_owner(nodes: Nodes) -> None:
    a, b = nodes.start("a"), nodes.start("b")
    context: zmq.Context[Any] = zmq.Context.instance()
    subscribers = {}
    for name, proc in (("a", a), ("b", b)):
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"alarm.")
        sub.connect(proc.pub)
        subscribers[name] = sub
    time.sleep(0.3)  # let the subscriptions reach the publishers (PUB/SUB drops until then)
    try:
        at_ms = time.time_ns() // 1_000_000 + 2000
        ok(call(a.rpc, "storage.put", STEVE, {"key": "k", "value": 1}))
        ok(call(a.rpc, "alarm.set", STEVE, {"at_ms": at_ms}))
        assert retry(b.rpc, "alarm.get", STEVE) == {"at_ms": at_ms}  # it moved to b, with its alarm
        assert ok(call(a.rpc, "alarms.list"))["alarms"] == []
        heard: dict[str, int] = {"a": 0, "b": 0}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not heard["b"]:
            for name, sub in subscribers.items():
                while sub.poll(50):
                    sub.recv_multipart()
                    heard[name] += 1
        deadline = time.monotonic() + 1.5  # and no second firing, anywhere
        while time.monotonic() < deadline:
            for name, sub in subscribers.items():
                while sub.poll(50):
                    sub.recv_multipart()
                    heard[name] += 1
        assert heard == {"a": 0, "b": 1}
        assert ok(call(b.rpc, "alarm.get", STEVE)) == {"at_ms": None}
    finally:
        for sub in subscribers.values():
            sub.close(0)


def test_home_objects_stay_on_their_node_and_requests_elsewhere_are_forwarded(nodes: Nodes) -> None:
    a, b = nodes.start("a"), nodes.start("b")
    foreman = {"class": "Foreman", "name": "global"}
    ok(call(a.rpc, "storage.put", foreman, {"key": "x", "value": 1}))
    wait_for(lambda: knows(b.rpc, "a", 1))
    assert ok(call(b.rpc, "storage.put", foreman, {"key": "y", "value": 2})) == {}
    assert ok(call(b.rpc, "storage.list", foreman))["entries"] == [["x", 1], ["y", 2]]
    assert ok(call(b.rpc, "stats"))["counters"]["cluster.forwards"] == 2
    owner = etcd_get(nodes.etcd[0], f"/lodestone/{nodes.cluster}/owners/Foreman/{object_id(a.rpc, foreman)}")
    assert owner is not None and owner["node"] == "a"


def telemetry_events(endpoint: str, kind: str) -> list[dict[str, Any]]:
    events = ok(call(endpoint, "Telemetry.latest", {"class": "Telemetry", "name": "global"}, {"agent": "steve"}))
    return [event for event in events["events"] if event["type"] == kind]


def test_a_call_to_a_home_object_on_another_node_goes_out_after_the_commit_and_applies_once(nodes: Nodes) -> None:
    nodes.extra = '[classes.options.Agent]\ntelemetry = "global"\n'
    a = nodes.start("a")
    b = nodes.start("b", {"LODESTONE_CLUSTER_CRASH_AT": "outbox.delivered"})
    ok(call(a.rpc, "Telemetry.log", {"class": "Telemetry", "name": "global"}, {"agent": "x", "type": "boot"}))
    wait_for(lambda: knows(b.rpc, "a", 1))
    # The agent's turn at b logs to the Telemetry object at a: the call is queued in b's commit and
    # delivered after it. b dies once the owner answered, before it forgets the entry; at its
    # restart it sends the entry again, and the idempotency key it carries makes it apply once.
    ok(call(b.rpc, "Agent.init", {"class": "Agent", "name": "steve"}))
    assert nodes.wait_exit("b") == -9
    nodes.start("b")
    wait_for(lambda: ok(call(nodes.procs["b"].rpc, "stats"))["counters"].get("cluster.outbox_delivered", 0) == 1)
    assert len(telemetry_events(a.rpc, "spawn")) == 1
    ok(call(nodes.procs["b"].rpc, "Agent.damage", {"class": "Agent", "name": "steve"}, {"amount": 2, "source": "x"}))
    wait_for(lambda: len(telemetry_events(a.rpc, "damage")) == 1)
    assert ok(call(a.rpc, "stats"))["counters"].get("idempotent_replays", 0) == 1
    outbox = {"class": "LodestoneOutbox", "name": "b"}
    wait_for(lambda: ok(call(nodes.procs["b"].rpc, "storage.list", outbox))["entries"] == [])
    outbox_id = object_id(a.rpc, outbox)
    assert etcd_get(nodes.etcd[0], f"/lodestone/{nodes.cluster}/owners/LodestoneOutbox/{outbox_id}") is None


def test_a_turn_that_reads_a_home_object_on_another_node_is_refused_naming_both(nodes: Nodes) -> None:
    nodes.extra = '[classes]\nmodules = ["tests.support.cluster_classes"]\n'
    a, b = nodes.start("a"), nodes.start("b")
    ok(call(a.rpc, "Foreman.heartbeat", {"class": "Foreman", "name": "global"},
            {"agent": "steve", "health": 20, "position": {"x": 0, "y": 64, "z": 0}}))
    wait_for(lambda: knows(b.rpc, "a", 1))
    reply = call(b.rpc, "Scout.look", {"class": "Scout", "name": "s"})
    assert not reply["ok"] and reply["error"]["code"] == "CONFLICT"
    message = reply["error"]["message"]
    assert "node b" in message and "node a" in message and "Foreman global" in message
    assert ok(call(a.rpc, "Scout.look", {"class": "Scout", "name": "s2"}))["name"] == "steve"


def test_a_call_to_a_follow_object_elsewhere_brings_it_here_and_the_retry_succeeds(nodes: Nodes) -> None:
    a, b = nodes.start("a"), nodes.start("b")
    ok(call(b.rpc, "Agent.init", {"class": "Agent", "name": "steve"}))
    foreman = {"class": "Foreman", "name": "global"}
    first = call(a.rpc, "Foreman.assign", foreman, {"agent": "steve", "type": "mine", "target": "ore"},
                 idem="assign-1")
    assert not first["ok"] and first["error"]["retryable"] and "node a" in first["error"]["message"]
    result = retry(a.rpc, "Foreman.assign", foreman, {"agent": "steve", "type": "mine", "target": "ore"},
                   idem="assign-1")
    assert result["agent"] == "steve"
    tasks = ok(call(a.rpc, "Agent.task.list", {"class": "Agent", "name": "steve"}))["tasks"]
    assert [task["type"] for task in tasks] == ["mine"]
