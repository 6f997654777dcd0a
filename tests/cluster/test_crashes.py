"""A handoff killed at each of its steps, on either side: after restart, one owner, with the whole state."""

from __future__ import annotations

import contextlib
import signal
import time

import pytest

from tests.cluster.support import Nodes, call
from tests.cluster.test_handoff import STEVE, etcd_get, knows, object_id, ok, retry
from tests.conftest import wait_for

STEPS = [
    ("a", "export.marked"),      # the sender stopped the object and wrote its marker; the image not sent
    ("b", "import.stored"),      # the receiver stored the image as pending; the ownership txn not sent
    ("b", "import.committed"),   # the ownership txn committed; the image not installed
    ("b", "import.installed"),   # installed; the requests that waited not served
    ("a", "release.dropping"),   # the sender saw the move; its copy not dropped
]


@pytest.mark.parametrize(("victim", "step"), STEPS, ids=[step for _, step in STEPS])
def test_a_handoff_killed_at_a_step_leaves_one_owner_with_the_whole_state(nodes: Nodes, victim: str,
                                                                           step: str) -> None:
    hook = {"LODESTONE_CLUSTER_CRASH_AT": step}
    a = nodes.start("a", hook if victim == "a" else None)
    b = nodes.start("b", hook if victim == "b" else None)
    entries = {f"k{i}": i for i in range(10)}
    ok(call(a.rpc, "storage.put", STEVE, {"entries": entries}))
    ok(call(a.rpc, "storage.put", STEVE, {"key": "x", "value": 1}, idem="first-x"))
    ok(call(a.rpc, "storage.put", STEVE, {"key": "x", "value": 2}))
    at_ms = time.time_ns() // 1_000_000 + 3_600_000
    ok(call(a.rpc, "alarm.set", STEVE, {"at_ms": at_ms}))
    wait_for(lambda: knows(b.rpc, "a", 1))

    with contextlib.suppress(TimeoutError):  # the read at b starts the handoff; the victim dies at its step
        call(b.rpc, "storage.get", STEVE, {"key": "k0"}, timeout=2)
    assert nodes.wait_exit(victim) == -signal.SIGKILL, nodes.log(victim)[-2000:]
    nodes.start(victim)

    survivor = nodes.procs["b"]
    assert dict(retry(survivor.rpc, "storage.list", STEVE, timeout=30)["entries"]) == {**entries, "x": 2}
    assert retry(survivor.rpc, "alarm.get", STEVE) == {"at_ms": at_ms}
    # The idempotency record moved too: the first write sent again is not applied again.
    assert retry(survivor.rpc, "storage.put", STEVE, {"key": "x", "value": 1}, idem="first-x") == {}
    assert ok(call(survivor.rpc, "storage.get", STEVE, {"key": "x"}))["value"] == 2
    # One owner: the record names b, and only b holds a copy (a drops its own once it learns).
    steve_id = object_id(survivor.rpc, STEVE)
    owner = etcd_get(nodes.etcd[0], f"/lodestone/{nodes.cluster}/owners/Steve/{steve_id}")
    assert owner is not None and owner["node"] == "b"

    def holders() -> set[str]:
        return {name for name, proc in nodes.procs.items()
                if ok(call(proc.rpc, "objects.list", args={"class": "Steve"}))["objects"]}

    wait_for(lambda: holders() == {"b"}, timeout=15)
    assert ok(call(nodes.procs["a"].rpc, "alarms.list"))["alarms"] == []
