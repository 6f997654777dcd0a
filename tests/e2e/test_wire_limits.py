"""The wire's limits against a real daemon: a hostile request gets a precise error and the daemon serves on."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from bridge import AsyncClient, Client, Subscriber, Timeout, Unavailable
from daemon.server.depth import MAX_DEPTH
from schemas.wire import decode
from tests.conftest import DaemonProcess, running_daemon, write_secret

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


def test_integers_at_msgpack_s_edge_get_an_answer_not_internal(daemon: DaemonProcess) -> None:
    chest = {"class": "Chest", "name": "c"}
    with Client(daemon.rpc) as client:
        client.object("Chest", "c").put_many({"a": 1, "b": 2})
        for limit in (2**53 + 1, 2**63, 2**64 - 1):  # more than any object holds: no limit
            assert client.call("storage.list", chest, {"limit": limit}) == {"entries": [["a", 1], ["b", 2]]}
        reply = raw_call(daemon.rpc, msgpack.packb({"v": 1, "id": 1, "op": "storage.list", "target": chest,
                                                    "args": {"limit": -(2**63)}}))
        assert reply["error"]["code"] == "BAD_REQUEST"


def test_agent_counters_stop_at_2_to_the_53(daemon: DaemonProcess) -> None:
    spawned(daemon)

    async def mine() -> list[Any]:
        async with AsyncClient(daemon.rpc, timeout=60) as client:
            return await asyncio.gather(*(client.call("Agent.blocks", AGENT, {"mined": 2**53}) for _ in range(2100)))

    results = asyncio.run(mine())  # 2,048 of these pass 2^64 - 1, msgpack's largest integer
    assert results[-1]["blocksMined"] == 2**53
    with Client(daemon.rpc) as client:
        assert client.agent("steve").state()["stats"]["blocksMined"] == 2**53


def test_an_error_names_a_few_offenders_not_a_million(daemon: DaemonProcess) -> None:
    unknown = {f"arg{i}": i for i in range(1_000_000)}
    body = msgpack.packb({"v": 1, "id": 2, "op": "ping", "args": unknown})
    reply = raw_call(daemon.rpc, body)
    message = reply["error"]["message"]
    assert reply["error"]["code"] == "BAD_REQUEST" and "arg0, arg1, arg2, arg3, arg4 and 999995 more" in message
    assert len(message) < 300, message
    long_op = msgpack.packb({"v": 1, "id": 3, "op": "x" * 1_000_000})
    reply = raw_call(daemon.rpc, long_op)
    assert reply["error"]["code"] == "UNKNOWN_OP" and len(reply["error"]["message"]) <= 1024
    target = {"class": "C", "name": list(range(100_000))}
    huge_name = msgpack.packb({"v": 1, "id": 4, "op": "storage.get", "target": target, "args": {"key": "k"}})
    reply = raw_call(daemon.rpc, huge_name)
    assert reply["error"]["code"] == "BAD_REQUEST" and len(reply["error"]["message"]) < 200


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB tmpfs (needs root, as CI has); skipped where it cannot be mounted."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount_point)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small disk here: {done.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_is_reported_as_one_with_what_to_do(small_disk: Path) -> None:
    data_dir = small_disk / "data"
    data_dir.mkdir()
    write_secret(data_dir)
    daemon = DaemonProcess(data_dir, extra_args=["--config", "/dev/null"]).start()
    try:
        with Client(daemon.rpc, retries=0, timeout=20) as client:
            chest = client.object("Chest", "full")
            error = None
            for n in range(20):  # 20 MiB into a 6 MiB disk
                try:
                    chest.put(f"k{n}", "x" * (1 << 20))
                except Unavailable as exc:
                    error = exc
                    break
            assert error is not None, "the disk never filled"
            assert "disk" in str(error) and "full" in str(error) and "Input/output" not in str(error).split("(")[0]
            assert client.ping()["protocol"] == [1]
            assert chest.get("k0") == "x" * (1 << 20)
    finally:
        if daemon.process is not None:
            daemon.process.kill()
            daemon.process.wait(10)
