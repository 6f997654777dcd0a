"""Batch frames at a cluster node: one reply array, each element routed as a single request would be."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import msgpack
import zmq

from schemas.wire import decode
from tests.cluster.support import EtcdCluster, Nodes, call
from tests.cluster.test_fencing import _lease_gone, _stopped
from tests.cluster.test_handoff import STEVE, etcd_get, knows, object_id, ok
from tests.conftest import wait_for

FOREMAN = {"class": "Foreman", "name": "global"}  # a home class


def element(request_id: int, op: str, target: Any = None, **args: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"v": 1, "id": request_id, "op": op, "args": args}
    if target is not None:
        message["target"] = target
    return message


def send_batch(endpoint: str, elements: list[Any]) -> zmq.Socket[bytes]:
    context: zmq.Context[Any] = zmq.Context.instance()
    sock: zmq.Socket[bytes] = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    sock.send_multipart([b"", msgpack.packb(elements, use_bin_type=True)])
    return sock


def batch(endpoint: str, elements: list[Any], timeout: float = 15.0) -> list[dict[str, Any]]:
    """One batch frame on a fresh DEALER; its one reply, which must be an array with a reply per element."""
    sock = send_batch(endpoint, elements)
    try:
        assert sock.poll(int(timeout * 1000)), f"no reply to the batch from {endpoint} in {timeout} s"
        frames = sock.recv_multipart()
        assert not sock.poll(200), "a batch frame got more than one reply frame"
    finally:
        sock.close(0)
    replies = decode(frames[-1])
    assert isinstance(replies, list) and len(replies) == len(elements), replies
    return replies


def owner_of(nodes: Nodes, endpoint: str, target: dict[str, str]) -> str | None:
    record = etcd_get(nodes.etcd[0], f"/lodestone/{nodes.cluster}/owners/{target['class']}/"
                                     f"{object_id(endpoint, target)}")
    return None if record is None else str(record["node"])


def test_a_batch_on_objects_owned_here_runs_in_one_cycle_as_on_one_node(nodes: Nodes) -> None:
    a = nodes.start("a")
    other = {"class": "Steve", "name": "steve-2"}
    ok(call(a.rpc, "storage.put", STEVE, {"key": "k", "value": 0}))
    ok(call(a.rpc, "storage.put", other, {"key": "k", "value": 0}))
    cycles = ok(call(a.rpc, "stats"))["counters"]["cycles"]
    replies = batch(a.rpc, [
        element(1, "storage.put", STEVE, key="k", value=1),
        element(2, "storage.get", STEVE, key="k"),
        element(3, "storage.put", other, key="k", value=2),
        element(4, "ping"),
        element(5, "storage.get", other, key="k"),
    ])
    assert [reply["id"] for reply in replies] == [1, 2, 3, 4, 5]
    assert replies[0]["result"] == {} and replies[2]["result"] == {}
    assert replies[1]["result"] == {"found": True, "value": 1}  # array order on one object
    assert replies[3]["ok"] and replies[4]["result"] == {"found": True, "value": 2}
    counters = ok(call(a.rpc, "stats"))["counters"]
    assert counters["cycles"] == cycles + 2  # the first stats' cycle, then the whole batch in one
    assert counters.get("cluster.forwards", 0) == 0 and counters.get("cluster.handoffs_in", 0) == 0
    assert (counters["cluster.batches_whole"], counters.get("cluster.batches_split", 0)) == (1, 0)


def test_a_batch_is_kept_whole_only_while_every_element_runs_here_without_a_route_of_its_own(nodes: Nodes) -> None:
    a = nodes.start("a")
    fresh = {"class": "Steve", "name": "not-yet-owned"}
    ok(call(a.rpc, "storage.put", STEVE, {"key": "k", "value": 0}))

    def kept_and_split() -> tuple[int, int]:
        counters = ok(call(a.rpc, "stats"))["counters"]
        return counters.get("cluster.batches_whole", 0), counters.get("cluster.batches_split", 0)

    # An object nobody owns yet: this node claims it, so the batch is split and its element waits for the claim.
    replies = batch(a.rpc, [element(1, "storage.put", STEVE, key="k", value=1),
                            element(2, "storage.put", fresh, key="k", value=1)])
    assert [reply["result"] for reply in replies] == [{}, {}]
    assert kept_and_split() == (0, 1)
    assert owner_of(nodes, a.rpc, fresh) == "a"
    # Owned here now, as is every other element's object (or it names none): kept whole.
    replies = batch(a.rpc, [element(3, "storage.get", fresh, key="k"), element(4, "id.from_name", None,
                            **{"class": "Steve", "name": "x"}), element(5, "storage.put", STEVE, key="k", value=2)])
    assert replies[0]["result"] == {"found": True, "value": 1} and replies[1]["ok"] and replies[2]["result"] == {}
    assert kept_and_split() == (1, 1)
    # health is answered by the node's gatekeeper, not the runtime: that batch takes the per-element route.
    replies = batch(a.rpc, [element(6, "health"), element(7, "storage.get", STEVE, key="k")])
    assert "cluster" in replies[0]["result"] and replies[1]["result"] == {"found": True, "value": 2}
    assert kept_and_split() == (1, 2)


def test_a_batch_mixing_local_moved_and_forwarded_objects_replies_in_array_order(nodes: Nodes) -> None:
    a, b = nodes.start("a"), nodes.start("b")
    local = {"class": "Steve", "name": "at-b"}
    ok(call(a.rpc, "storage.put", STEVE, {"key": "n", "value": 1}))  # follow, owned by a: moves to b
    ok(call(a.rpc, "storage.put", FOREMAN, {"key": "n", "value": 1}))  # home, owned by a: forwarded
    ok(call(b.rpc, "storage.put", local, {"key": "n", "value": 1}))
    wait_for(lambda: knows(b.rpc, "a", 3))
    replies = batch(b.rpc, [
        element(1, "storage.get", STEVE, key="n"),
        element(2, "storage.put", FOREMAN, key="n", value=2),
        {"v": 1, "id": 3},  # malformed: no op
        element(4, "storage.put", local, key="n", value=2),
        element(5, "storage.put", STEVE, key="n", value=2),
        element(6, "storage.get", FOREMAN, key="n"),
        "not a map",
        element(8, "storage.get", STEVE, key="n"),
        element(9, "storage.get", local, key="n"),
    ])
    assert [reply["id"] for reply in replies] == [1, 2, 3, 4, 5, 6, None, 8, 9]
    assert replies[0]["result"] == {"found": True, "value": 1}
    assert replies[1]["result"] == {} and replies[5]["result"] == {"found": True, "value": 2}
    assert replies[2]["error"]["code"] == "BAD_REQUEST" and replies[6]["error"]["code"] == "BAD_REQUEST"
    assert replies[3]["result"] == {} and replies[8]["result"] == {"found": True, "value": 2}
    assert replies[4]["result"] == {} and replies[7]["result"] == {"found": True, "value": 2}
    counters = ok(call(b.rpc, "stats"))["counters"]
    assert counters["cluster.handoffs_in"] == 1 and counters["cluster.forwards"] == 2
    assert counters.get("cluster.batches_whole", 0) == 0  # malformed elements: split before the gatekeeper
    assert (owner_of(nodes, a.rpc, STEVE), owner_of(nodes, a.rpc, FOREMAN)) == ("b", "a")
    assert ok(call(a.rpc, "storage.get", FOREMAN, {"key": "n"}))["value"] == 2
    # Well formed, one element here and one forwarded: split by the gatekeeper, each element on its route.
    replies = batch(b.rpc, [element(10, "storage.get", local, key="n"), element(11, "storage.put", FOREMAN, key="n",
                                                                                 value=3)])
    assert [reply["result"] for reply in replies] == [{"found": True, "value": 2}, {}]
    counters = ok(call(b.rpc, "stats"))["counters"]
    assert counters["cluster.forwards"] == 3
    assert (counters.get("cluster.batches_whole", 0), counters["cluster.batches_split"]) == (0, 1)
    assert ok(call(a.rpc, "storage.get", FOREMAN, {"key": "n"}))["value"] == 3


def test_a_well_formed_batch_forwards_its_puts_values_whole(nodes: Nodes, tmp_path: Path) -> None:
    """Every element well formed, so the frame is read in one pass with the puts' values encoded
    already; a forwarded put must still carry its value (nested, as stored) to the owner, and the
    node's audit log must still record it."""
    audit = tmp_path / "audit-b.jsonl"
    a, b = nodes.start("a"), nodes.start("b", {"LODESTONE_CLUSTER_AUDIT": str(audit)})
    ok(call(a.rpc, "storage.put", FOREMAN, {"key": "n", "value": 1}))  # home, owned by a: forwarded from b
    wait_for(lambda: knows(b.rpc, "a", 1))
    value = {"goal": "iron", "places": [[1, 64, -3], [2.5, 70, 9]], "note": "caf\u00e9"}
    replies = batch(b.rpc, [element(1, "storage.put", FOREMAN, key="plan", value=value), element(2, "ping"),
                            element(3, "storage.put", {"class": "Steve", "name": "b-local"}, key="k", value=value)])
    assert [reply["ok"] for reply in replies] == [True, True, True], replies
    assert ok(call(b.rpc, "stats"))["counters"]["cluster.forwards"] == 1
    assert ok(call(a.rpc, "storage.get", FOREMAN, {"key": "plan"})) == {"found": True, "value": value}
    assert ok(call(b.rpc, "ping"))  # the node is still serving
    logged = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [entry[4] for entry in logged if entry[4].get("key") == "k"] == [{"key": "k", "value": value}]


def test_a_node_that_cannot_renew_its_lease_refuses_each_element_of_a_write_batch(
        tmp_path: Path, own_etcd: EtcdCluster) -> None:
    nodes = Nodes(tmp_path, f"q{uuid.uuid4().hex[:8]}", own_etcd.clients)
    try:
        a = nodes.start("a")
        other = {"class": "Steve", "name": "steve-2"}
        ok(call(a.rpc, "storage.put", STEVE, {"key": "n", "value": 0}))
        ok(call(a.rpc, "storage.put", other, {"key": "n", "value": 0}))
        own_etcd.stop(0)
        own_etcd.stop(1)
        wait_for(lambda: not ok(call(a.rpc, "health"))["cluster"]["writable"], timeout=10)
        replies = batch(a.rpc, [element(1, "storage.put", STEVE, key="n", value=1), element(2, "ping"),
                                element(3, "storage.put", other, key="n", value=1)])
        assert [reply["id"] for reply in replies] == [1, 2, 3]
        for refused in (replies[0], replies[2]):
            assert not refused["ok"] and refused["error"]["code"] == "UNAVAILABLE", refused
            assert refused["error"]["retryable"] and "lease" in refused["error"]["message"]
        assert replies[1]["ok"]  # an element that touches no object is answered
        # Nor does a batch naming no object: it is kept whole, and its replies go out (no write to acknowledge).
        naming = element(5, "id.from_name", None, **{"class": "Steve", "name": "x"})
        replies = batch(a.rpc, [element(4, "ping"), naming])
        assert [reply["ok"] for reply in replies] == [True, True]
        counters = ok(call(a.rpc, "stats"))["counters"]
        assert (counters["cluster.batches_whole"], counters["cluster.batches_split"]) == (1, 1)
        own_etcd.start(1)
        wait_for(lambda: ok(call(a.rpc, "health"))["cluster"]["writable"], timeout=30)
        assert ok(call(a.rpc, "storage.get", STEVE, {"key": "n"}))["value"] == 0
        assert ok(call(a.rpc, "storage.get", other, {"key": "n"}))["value"] == 0
    finally:
        nodes.close()


def test_a_batch_whose_cycle_committed_past_the_lease_gets_no_reply(nodes: Nodes) -> None:
    counters = _batch_committed_past_the_lease(nodes, owned_first=False)
    assert counters["cluster.gated_cycles"] == 1


def test_a_batch_kept_whole_whose_cycle_committed_past_the_lease_gets_no_reply(nodes: Nodes) -> None:
    counters = _batch_committed_past_the_lease(nodes, owned_first=True)
    assert counters["cluster.gated_cycles"] == 1
    assert (counters["cluster.batches_whole"], counters.get("cluster.batches_split", 0)) == (1, 0)


def _batch_committed_past_the_lease(nodes: Nodes, owned_first: bool) -> dict[str, int]:
    """Stop node a right after a batch's commit until its lease is gone; no reply may leave. Its counters after.

    ``owned_first``: a read claims the object beforehand, so the batch is kept whole (else it is split,
    its put claiming the object).
    """
    a = nodes.start("a", {"LODESTONE_CLUSTER_CRASH_AT": "stop:cycle.committed"})
    assert a.process is not None
    if owned_first:
        assert ok(call(a.rpc, "storage.get", STEVE, {"key": "k"})) == {"found": False}  # a read: no commit stop
        assert owner_of(nodes, a.rpc, STEVE) == "a"
    sock = send_batch(a.rpc, [element(1, "ping"), element(2, "storage.put", STEVE, key="k", value=1)])
    try:
        wait_for(lambda: _stopped(a.process.pid) if a.process else False)  # right after the commit
        wait_for(lambda: _lease_gone(nodes, "a"), timeout=15)
        nodes.signal("a", signal.SIGCONT)
        assert not sock.poll(3000), "a batch's reply left a node whose lease had expired before it was sent"
    finally:
        sock.close(0)
    deadline = time.monotonic() + 20
    while not ok(call(a.rpc, "health"))["cluster"]["writable"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    counters: dict[str, int] = ok(call(a.rpc, "stats"))["counters"]
    return counters
