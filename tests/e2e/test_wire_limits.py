"""The wire's limits against a real daemon: a hostile request gets a precise error and the daemon serves on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from bridge import Client, Subscriber, Timeout
from daemon.server.depth import MAX_DEPTH
from schemas.wire import decode
from tests.conftest import DaemonProcess, running_daemon

CONFIG = '[classes]\nmodules = ["tests.support.unencodable_classes"]\n'
AGENT = {"class": "Agent", "name": "steve"}


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    yield from running_daemon(tmp_path, CONFIG)


def raw_call(endpoint: str, body: bytes, timeout_ms: int = 10_000) -> dict[str, Any]:
    """Send one frame on a REQ socket; return the decoded reply (fail if none comes)."""
    sock: zmq.Socket[bytes]
    with zmq.Context.instance().socket(zmq.REQ) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        sock.send(body)
        assert sock.poll(timeout_ms), "no reply: the daemon stopped serving"
        reply: dict[str, Any] = decode(sock.recv())
        return reply


def nested(levels: int) -> bytes:
    """A msgpack value of ``levels`` nested one-element arrays around an empty one (``levels + 1`` deep)."""
    return b"\x91" * levels + b"\x90"


def packed_map(items: dict[str, Any]) -> bytes:
    """A msgpack map (under 16 entries) whose ``bytes`` values go in as they are: already-packed msgpack."""
    parts = [bytes([0x80 | len(items)])]
    for key, value in items.items():
        parts.append(msgpack.packb(key))
        parts.append(value if isinstance(value, bytes) else msgpack.packb(value))
    return b"".join(parts)


def request_with(op: str, target: dict[str, str], arg: str, packed_value: bytes, others: dict[str, Any]) -> bytes:
    """A request frame whose argument ``arg`` is ``packed_value`` (msgpack bytes, however deep)."""
    args = packed_map({**others, arg: packed_value})
    return packed_map({"v": 1, "id": 9, "op": op, "target": target, "args": args})


def spawned(daemon: DaemonProcess) -> None:
    with Client(daemon.rpc) as client:
        client.agent("steve").init()


def test_a_request_nested_past_the_limit_is_refused_and_nothing_is_stored(daemon: DaemonProcess) -> None:
    spawned(daemon)
    # The review's attack: a task target nested 1,021 deep, then a read that wraps it in more levels.
    reply = raw_call(daemon.rpc, request_with("Agent.task.assign", AGENT, "target", nested(1020), {"type": "mine"}))
    assert reply["id"] == 9 and reply["ok"] is False
    assert reply["error"]["code"] == "BAD_REQUEST" and f"{MAX_DEPTH} levels" in reply["error"]["message"]
    with Client(daemon.rpc) as client:
        assert client.agent("steve").tasks() == []
        # At the limit it is taken: request map (1), args (2), then 62 levels of value.
        client.call("Agent.task.assign", AGENT, {"type": "mine", "target": _value(MAX_DEPTH - 2)})
        assert len(client.agent("steve").tasks()) == 1
    one_more = request_with("Agent.task.assign", AGENT, "target", nested(MAX_DEPTH - 2), {"type": "mine"})
    assert raw_call(daemon.rpc, one_more)["error"]["code"] == "BAD_REQUEST"
    for op, target in (("Telemetry.log", {"class": "Telemetry", "name": "global"}),
                       ("storage.put", {"class": "Chest", "name": "c"})):
        arg, extra = ("data", {"agent": "steve", "type": "x"}) if op == "Telemetry.log" else ("value", {"key": "k"})
        reply = raw_call(daemon.rpc, request_with(op, target, arg, nested(1020), extra))
        assert reply["error"]["code"] == "BAD_REQUEST", reply
    assert daemon.process is not None and daemon.process.poll() is None


def _value(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_a_reply_that_cannot_be_encoded_is_internal_and_the_daemon_serves_on(daemon: DaemonProcess) -> None:
    broken = {"class": "Broken", "name": "b"}
    with Client(daemon.rpc) as client:
        for _ in range(3):
            reply = raw_call(daemon.rpc, msgpack.packb({"v": 1, "id": 4, "op": "Broken.reply", "target": broken}))
            assert reply["id"] == 4 and reply["error"]["code"] == "INTERNAL"
            assert "could not be encoded" in reply["error"]["message"]
        assert client.ping()["protocol"] == [1]
        counters = client.stats()["counters"]
        assert counters["errors.INTERNAL"] == 3


def test_a_notice_that_cannot_be_encoded_is_dropped_and_counted(daemon: DaemonProcess) -> None:
    broken = {"class": "Broken", "name": "b"}
    with Client(daemon.rpc) as client, Subscriber(daemon.pub, topics=("broken.",)) as sub:
        heard = None
        for _ in range(100):  # until the subscription reaches the daemon
            assert client.call("Broken.notice", broken) == {}
            try:
                heard = sub.recv(timeout=0.1)
                break
            except Timeout:
                continue
        assert heard is not None and heard.topic == "broken.fine"
        counters = client.stats()["counters"]
        assert counters["pub_dropped.encode_failed"] >= 1
        assert client.ping()["protocol"] == [1]
