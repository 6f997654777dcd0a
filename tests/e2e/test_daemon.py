"""End to end: a real daemon process, real sockets, real crashes."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from bridge import AsyncClient, Client, Conflict, Subscriber, Timeout
from daemon.cli import main
from schemas.wire import decode, encode, request
from tests.conftest import REPO, SECRET, DaemonProcess


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raw_call(endpoint: str, body: bytes, timeout_ms: int = 5000) -> dict[str, Any]:
    sock: zmq.Socket[bytes]
    with zmq.Context.instance().socket(zmq.REQ) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        sock.send(body)
        assert sock.poll(timeout_ms), "no reply"
        reply: dict[str, Any] = decode(sock.recv())
        return reply


def test_two_clients_racing_read_modify_write_lose_no_update(daemon: DaemonProcess) -> None:
    rounds = 150
    conflicts = [0, 0]

    def increment(worker: int) -> None:
        with Client(daemon.rpc) as client:
            counter = client.object("Counter", "shared")
            for _ in range(rounds):
                while True:
                    current = counter.get("n")
                    check = {"key": "n", "absent": True} if current is None else {"key": "n", "value": current}
                    try:
                        counter.transaction([{"op": "put", "key": "n", "value": (current or 0) + 1}], [check])
                        break
                    except Conflict:
                        conflicts[worker] += 1

    workers = [threading.Thread(target=increment, args=(i,)) for i in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    with Client(daemon.rpc) as client:
        assert client.object("Counter", "shared").get("n") == 2 * rounds


def test_sigkill_right_after_acknowledged_writes_loses_none(daemon: DaemonProcess) -> None:
    async def burst() -> int:
        async with AsyncClient(daemon.rpc, timeout=10) as client:
            calls = [
                client.call("storage.put", {"class": "Agent", "name": f"steve-{i % 25}"},
                            {"key": f"k{i}", "value": {"n": i, "pad": "x" * 200}})
                for i in range(2000)
            ]
            results = await asyncio.gather(*calls)
        return sum(1 for result in results if result == {})

    assert asyncio.run(burst()) == 2000
    daemon.kill()
    daemon.start()
    with Client(daemon.rpc) as client:
        found = 0
        for agent in range(25):
            entries = client.object("Agent", f"steve-{agent}").list()
            found += len(entries)
            assert all(value["n"] % 25 == agent for _, value in entries)
    assert found == 2000


def test_garbage_gets_errors_while_another_client_keeps_being_served(daemon: DaemonProcess) -> None:
    good = Client(daemon.rpc)
    agent = good.object("Agent", "steady")
    bad_bodies = [
        (b"\xc1\xc1", "BAD_REQUEST"),
        (msgpack.packb("just a string"), "BAD_REQUEST"),
        (encode(request(5, "storage.put", {"class": "Agent", "name": "x"}, {"key": 1, "value": 2})), "BAD_REQUEST"),
        (encode(request(6, "storage.put", {"class": "Agent", "name": "x"}, {"key": "k", "value": "v" * (3 << 20)})),
         "TOO_LARGE"),
        (encode(request(7, "no.such.op")), "UNKNOWN_OP"),
        (encode(request(8, "storage.get", {"class": "Agent", "id": "f" * 64}, {"key": "k"})), "INVALID_ID"),
        (b"\x00" * (17 << 20), "TOO_LARGE"),
    ]
    for index, (body, code) in enumerate(bad_bodies):
        reply = raw_call(daemon.rpc, body)
        assert reply["ok"] is False and reply["error"]["code"] == code, (index, reply)
        agent.put("i", index)
        assert agent.get("i") == index

    # A DEALER that forgets the empty delimiter: dropped and counted, not answered.
    dealer: zmq.Socket[bytes]
    vanishing: zmq.Socket[bytes]
    with zmq.Context.instance().socket(zmq.DEALER) as dealer:
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(daemon.rpc)
        dealer.send(encode(request(9, "ping")))
        # A client that vanishes with a request in flight.
        with zmq.Context.instance().socket(zmq.DEALER) as vanishing:
            vanishing.setsockopt(zmq.LINGER, 0)
            vanishing.connect(daemon.rpc)
            vanishing.send_multipart([b"", encode(request(10, "storage.put", {"class": "Agent", "name": "v"},
                                                            {"key": "k", "value": 1}))])
        assert agent.get("i") == len(bad_bodies) - 1
        assert not dealer.poll(200)
    assert good.stats()["counters"]["dropped_envelopes"] == 1
    assert good.object("Agent", "x").list() == []
    good.close()


def test_retried_request_with_the_same_idempotency_key_is_applied_once(daemon: DaemonProcess) -> None:
    target = {"class": "Agent", "name": "idem"}
    with Client(daemon.rpc) as client:
        client.object("Agent", "idem").put("hp", 20)
        damage = {"checks": [{"key": "hp", "value": 20}], "ops": [{"op": "put", "key": "hp", "value": 15}]}
        first = raw_call(daemon.rpc, encode(request(1, "storage.transaction", target, damage, idem="dmg-1")))
        retry = raw_call(daemon.rpc, encode(request(2, "storage.transaction", target, damage, idem="dmg-1")))
        assert first["ok"] and retry["ok"] and retry["id"] == 2
        other = raw_call(daemon.rpc, encode(request(3, "storage.transaction", target, damage, idem="dmg-2")))
        assert other["error"]["code"] == "CONFLICT"
        assert client.object("Agent", "idem").get("hp") == 15


def test_a_lockstep_client_survives_a_daemon_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "secret").write_bytes(SECRET)
    port = free_port()
    proc = DaemonProcess(data_dir, rpc=f"tcp://127.0.0.1:{port}").start()
    client = Client(proc.rpc, timeout=0.5, retries=20)
    client.object("Agent", "phoenix").put("hp", 7)
    proc.kill()
    outcome: dict[str, Any] = {}

    def read_while_down() -> None:
        outcome["hp"] = client.object("Agent", "phoenix").get("hp")

    reader = threading.Thread(target=read_while_down)
    reader.start()
    reader.join(1.0)
    assert reader.is_alive(), "the read should still be retrying while the daemon is down"
    proc.rpc = f"tcp://127.0.0.1:{port}"
    proc.start()
    reader.join(15)
    try:
        assert outcome == {"hp": 7}
        with pytest.raises(Timeout):
            Client("tcp://127.0.0.1:1", timeout=0.1, retries=1).ping()
    finally:
        client.close()
        proc.stop()


def test_pipelined_requests_share_commits(daemon: DaemonProcess) -> None:
    dealer: zmq.Socket[bytes]
    with zmq.Context.instance().socket(zmq.DEALER) as dealer:
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(daemon.rpc)
        before = Client(daemon.rpc).stats()["storage"]["commit_seq"]
        for i in range(256):
            dealer.send_multipart([b"", encode(request(i, "storage.put", {"class": "Agent", "name": f"p{i % 8}"},
                                                       {"key": "state", "value": i}))])
        replies: list[dict[str, Any]] = []
        while len(replies) < 256:
            assert dealer.poll(5000)
            replies.append(decode(dealer.recv_multipart()[-1]))
    assert sorted(reply["id"] for reply in replies) == list(range(256))
    assert all(reply["ok"] for reply in replies)
    commits = Client(daemon.rpc).stats()["storage"]["commit_seq"] - before
    assert 1 <= commits < 256


def test_changes_are_published_after_commit_by_topic(daemon: DaemonProcess) -> None:
    with Client(daemon.rpc) as client, Subscriber(daemon.pub, topics=("change.Agent.",)) as subscriber:
        agent = client.object("Agent", "watched")
        agent_id = client.id_from_name("Agent", "watched")
        # Subscriptions reach the publisher asynchronously: probe until one arrives.
        for attempt in range(50):
            agent.put("probe", attempt)
            try:
                subscriber.recv(timeout=0.1)
                break
            except Timeout:
                continue
        client.object("Horse", "ignored").put("x", 1)
        agent.put_many({"hp": 19, "pos": {"x": 1}})
        agent.delete("probe")
        event = subscriber.recv(timeout=5)
        while event.body["changes"][0]["key"] == "probe" and "deleted" not in event.body["changes"][0]:
            event = subscriber.recv(timeout=5)
        assert event.topic == f"change.Agent.{agent_id}"
        assert event.body["name"] == "watched" and event.body["commit"] > 0
        assert event.body["changes"] == [{"key": "hp", "value": 19}, {"key": "pos", "value": {"x": 1}}]
        deleted = subscriber.recv(timeout=5)
        assert deleted.body["changes"] == [{"key": "probe", "deleted": True}]


def test_sigterm_exits_zero_and_keeps_acknowledged_writes(daemon: DaemonProcess) -> None:
    with Client(daemon.rpc) as client:
        client.object("Agent", "calm").put_many({f"k{i}": i for i in range(100)})
    assert daemon.stop() == 0
    daemon.start()
    with Client(daemon.rpc) as client:
        assert len(client.object("Agent", "calm").list()) == 100


def test_a_second_daemon_on_the_same_data_dir_is_refused(daemon: DaemonProcess) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "daemon", "serve", "--data-dir", str(daemon.data_dir),
         "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*"],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )
    assert second.returncode == 75 and "in use by another Lodestone process" in second.stderr


def test_sigint_also_stops_cleanly(daemon: DaemonProcess) -> None:
    assert daemon.signal(signal.SIGINT) == 0


def test_inspect_prints_an_objects_id_alarm_and_entries(
    daemon: DaemonProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    with Client(daemon.rpc) as client:
        client.object("Horse", "bolt").put_many({"speed": 9, "name": "Bolt"})
        client.call("alarm.set", {"class": "Horse", "name": "bolt"}, {"at_ms": 9_000_000_000_000})
        object_id = client.id_from_name("Horse", "bolt")
    assert main(["inspect", "Horse", "bolt", "--endpoint", daemon.rpc, "--limit", "1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown == {"class": "Horse", "name": "bolt", "id": object_id, "alarm_at_ms": 9_000_000_000_000,
                     "entries": {"name": "Bolt"}, "truncated": True}


def test_a_readonly_request_may_read_but_any_op_that_writes_is_forbidden(daemon: DaemonProcess) -> None:
    """What the gateway sends for a read-scoped token: the daemon, which knows which ops write, refuses."""
    sock: zmq.Socket[bytes]
    with zmq.Context.instance().socket(zmq.REQ) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(daemon.rpc)

        def send(op: str, args: dict[str, object], target: dict[str, str] | None = None) -> dict[str, object]:
            message = {"v": 1, "id": 1, "op": op, "args": args, "readonly": True}
            if target is not None:
                message["target"] = target
            sock.send(encode(message))
            assert sock.poll(5000)
            reply: dict[str, object] = decode(sock.recv())
            return reply

        chest = {"class": "Chest", "name": "c"}
        refused = send("storage.put", {"key": "k", "value": 1}, chest)
        assert refused["ok"] is False and refused["error"]["code"] == "FORBIDDEN"  # type: ignore[index]
        refused = send("Agent.init", {}, {"class": "Agent", "name": "steve"})
        assert refused["error"]["code"] == "FORBIDDEN"  # type: ignore[index]
        assert send("storage.get", {"key": "k"}, chest) == {"v": 1, "id": 1, "ok": True, "result": {"found": False}}
        assert send("objects.list", {"class": "Agent"})["result"] == {"objects": []}
        sock.send(encode({"v": 1, "id": 2, "op": "ping", "args": {}, "readonly": 1}))
        assert sock.poll(5000)
        assert decode(sock.recv())["error"]["code"] == "BAD_REQUEST"
