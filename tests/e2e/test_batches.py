"""Batch frames against a real daemon: order, per-slot errors, whole-frame errors, one commit, durability."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from bridge import Client, Subscriber, Timeout
from schemas.wire import decode, request
from tests.conftest import DaemonProcess, running_daemon

CHEST = {"class": "Chest", "name": "spawn-chest"}


def batch_body(*elements: Any) -> bytes:
    """A batch frame's body: the array of ``elements``, each a request map (or anything else, to test)."""
    body: bytes = msgpack.packb(list(elements), use_bin_type=True)
    return body


def exchange(endpoint: str, body: bytes) -> Any:
    """Send ``body`` on a DEALER; return the decoded reply frame."""
    sock: zmq.Socket[bytes]
    with zmq.Context.instance().socket(zmq.DEALER) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        sock.send_multipart([b"", body])
        assert sock.poll(10_000), "no reply"
        frames = sock.recv_multipart()
        assert frames[0] == b""
        return decode(frames[-1])


def counters(endpoint: str) -> dict[str, int]:
    with Client(endpoint) as client:
        found: dict[str, int] = client.stats()["counters"]
        return found


@pytest.fixture
def small_daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    """Batches of at most 4 requests; cycles of at most 3."""
    yield from running_daemon(tmp_path, "batch_max_requests = 4\ncycle_max_requests = 3\n")


def test_a_batch_runs_its_elements_in_order_and_replies_in_their_slots(daemon: DaemonProcess) -> None:
    replies = exchange(daemon.rpc, batch_body(
        request(1, "storage.put", CHEST, {"key": "n", "value": 1}),
        request(2, "storage.get", CHEST, {"key": "n"}),
        request("three", "storage.put", CHEST, {"key": "n", "value": 2}),
        request(4, "storage.transaction", CHEST, {"checks": [{"key": "n", "value": 2}],
                                                  "ops": [{"op": "put", "key": "n", "value": 3}]}),
        request(5, "storage.get", CHEST, {"key": "n"}),
        request(6, "ping"),
    ))
    assert [reply["id"] for reply in replies] == [1, 2, "three", 4, 5, 6]
    assert all(reply["ok"] for reply in replies), replies
    assert replies[1]["result"] == {"found": True, "value": 1}
    assert replies[4]["result"] == {"found": True, "value": 3}
    with Client(daemon.rpc) as client:
        assert client.object("Chest", "spawn-chest").get("n") == 3


def test_a_malformed_element_gets_its_own_error_and_the_others_run(daemon: DaemonProcess) -> None:
    replies = exchange(daemon.rpc, batch_body(
        request(1, "storage.put", CHEST, {"key": "a", "value": "x"}),
        5,
        {"v": 1, "id": 3, "op": ""},
        {"v": 2, "id": 4, "op": "ping"},
        request(5, "storage.put", CHEST, {"key": 7, "value": 1}),
        request(6, "storage.get", CHEST, {"key": "a"}),
    ))
    assert len(replies) == 6
    assert replies[0] == {"v": 1, "id": 1, "ok": True, "result": {}}
    assert (replies[1]["id"], replies[1]["error"]["code"]) == (None, "BAD_REQUEST")
    assert "must be a msgpack map" in replies[1]["error"]["message"]
    assert (replies[2]["id"], replies[2]["error"]["code"]) == (3, "BAD_REQUEST")
    assert (replies[3]["id"], replies[3]["error"]["code"]) == (4, "UNSUPPORTED_VERSION")
    assert (replies[4]["id"], replies[4]["error"]["code"]) == (5, "BAD_REQUEST")
    assert replies[5]["result"] == {"found": True, "value": "x"}


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (batch_body(), "BAD_REQUEST", "at least one request"),
        (batch_body(request(1, "ping"), [request(2, "ping")]), "BAD_REQUEST", "element 1 is an array"),
        (batch_body(*(request(i, "ping") for i in range(5))), "TOO_LARGE", "the limit is 4 (batch_max_requests)"),
        (b"\x92\x80", "BAD_REQUEST", "not valid msgpack"),
    ],
    ids=["empty", "nested", "oversize", "truncated"],
)
def test_a_batch_that_cannot_run_gets_one_error_map(small_daemon: DaemonProcess, body: bytes, code: str,
                                                    words: str) -> None:
    reply = exchange(small_daemon.rpc, body)
    assert isinstance(reply, dict), reply
    assert (reply["id"], reply["ok"], reply["error"]["code"]) == (None, False, code)
    assert words in reply["error"]["message"]


def test_a_batch_larger_than_a_cycle_commits_whole_in_one_cycle(small_daemon: DaemonProcess) -> None:
    """cycle_max_requests is 3: the batch of 4 writes is still one cycle, one commit."""
    with Client(small_daemon.rpc) as client, Subscriber(small_daemon.pub, topics=("change.Chest.",)) as subscriber:
        probe = client.object("Probe", "probe")
        subscriber.subscribe("change.Probe.")
        # Subscriptions reach the publisher asynchronously: probe until one arrives.
        for attempt in range(50):
            probe.put("n", attempt)
            try:
                subscriber.recv(timeout=0.1)
                break
            except Timeout:
                continue
        subscriber.unsubscribe("change.Probe.")
        replies = exchange(small_daemon.rpc, batch_body(
            *(request(i, "storage.put", {"class": "Chest", "name": f"c{i}"}, {"key": "k", "value": i})
              for i in range(4))))
        assert [reply["ok"] for reply in replies] == [True] * 4
        events = [subscriber.recv(timeout=5) for _ in range(4)]
    assert {event.body["name"] for event in events} == {"c0", "c1", "c2", "c3"}
    assert len({event.body["commit"] for event in events}) == 1


def test_the_frames_and_batches_counters_count_what_came_on_the_wire(daemon: DaemonProcess) -> None:
    before = counters(daemon.rpc)
    exchange(daemon.rpc, batch_body(*(request(i, "ping") for i in range(10))))
    exchange(daemon.rpc, msgpack.packb(request(99, "ping")))
    after = counters(daemon.rpc)
    # The stats call that read `before` is one frame more.
    assert after["frames"] - before["frames"] == 3
    assert after["batches"] - before.get("batches", 0) == 1
    assert after["requests"] - before.get("requests", 0) == 12


def test_every_write_of_an_acknowledged_batch_survives_sigkill(daemon: DaemonProcess) -> None:
    elements = [request(i, "storage.put", {"class": "Chest", "name": f"c{i % 7}"},
                        {"key": f"k{i}", "value": {"n": i, "pad": "x" * 100}}) for i in range(500)]
    replies = exchange(daemon.rpc, batch_body(*elements))
    assert [reply["id"] for reply in replies if reply["ok"]] == list(range(500))
    daemon.kill()
    daemon.start()
    with Client(daemon.rpc) as client:
        for i in range(500):
            assert client.object("Chest", f"c{i % 7}").get(f"k{i}") == {"n": i, "pad": "x" * 100}


def test_a_batch_whose_every_element_is_refused_still_gets_its_reply_array(daemon: DaemonProcess) -> None:
    """Found by the wire fuzzer: with no request left to run, the cycle ended before the reply went out."""
    sock: zmq.Socket[bytes]
    with zmq.Context.instance().socket(zmq.DEALER) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(daemon.rpc)
        sock.send_multipart([b"", msgpack.packb(["not a request", 7])])
        assert sock.poll(5000), "no reply to a batch of refused elements"
        replies = msgpack.unpackb(sock.recv_multipart()[-1], raw=False)
        assert [reply["error"]["code"] for reply in replies] == ["BAD_REQUEST", "BAD_REQUEST"]
