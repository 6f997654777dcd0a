"""Frames the gateway cannot take, batches, and the in-flight limit: precise errors, and the connection goes on."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import msgpack
import pytest

from tests.gateway.conftest import Session, Stack, Ws, code_of, run, start_stack

# The daemon takes frames up to 3000 bytes; the gateway up to 4096 (and closes at twice that).
LIMITS = "max_frame_bytes = 4096\nbatch_max_requests = 8\nmax_in_flight = 16\n"
CHEST = {"class": "Chest", "name": "frames"}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(tmp_path_factory.mktemp("small"), LIMITS, top_level="max_frame_bytes = 3000")


async def still_works(ws: Ws) -> None:
    reply = await ws.call("ping")
    assert reply["ok"] and reply["result"]["protocol"] == [1]


def error_of(frame: Any, code: str) -> str:
    """The message of an error reply with ``code`` and a nil id (the gateway could not read one)."""
    assert frame["ok"] is False and frame["id"] is None and frame["error"]["code"] == code, frame
    assert frame["v"] == 1 and frame["error"]["retryable"] is False
    message: str = frame["error"]["message"]
    return message


def test_malformed_frames_get_precise_errors_and_the_connection_goes_on(small: Stack) -> None:
    async def body() -> None:
        async with Session(small.gateway) as session:
            ws = await session.ws(small.tokens["writer"])
            await ws.ws.send_bytes(b"\xc1\x00")
            assert "not valid msgpack" in error_of(await ws.recv(), "BAD_REQUEST")
            await still_works(ws)
            await ws.ws.send_bytes(b"\x92\x01")  # an array of two that ends after one
            assert "not valid msgpack" in error_of(await ws.recv(), "BAD_REQUEST")
            for value in (42, "ping", None, b"bytes"):
                await ws.send(value)
                assert "a frame is a msgpack map" in error_of(await ws.recv(), "BAD_REQUEST")
            await ws.ws.send_str('{"v": 1, "id": 1, "op": "ping"}')
            assert "text frames" in error_of(await ws.recv(), "BAD_REQUEST")
            await still_works(ws)
            for bad_id in (1.5, [1], None, True, "x" * 257):
                await ws.send({"v": 1, "id": bad_id, "op": "ping"})
                assert "id" in error_of(await ws.recv(), "BAD_REQUEST")
            await ws.send({"v": 1, "id": 77, "args": {}})
            missing_op = await ws.recv()
            assert missing_op["id"] == 77 and code_of(missing_op) == "BAD_REQUEST"
            await ws.send({"v": 1, "id": 78, "op": "storage.get", "target": CHEST, "args": []})
            bad_args = await ws.recv()
            assert bad_args["id"] == 78 and code_of(bad_args) == "BAD_REQUEST"  # the daemon's own check
            await ws.send({"ctl": "dance"})
            assert (await ws.recv())["code"] == "BAD_REQUEST"
            await ws.send({"ctl": "subscribe", "prefix": 5})
            assert await ws.recv() == {"ctl": "error", "code": "BAD_REQUEST",
                                       "message": 'subscribe needs prefix, a string ("" for every topic)'}
            await still_works(ws)

    run(body)


def test_oversize_frames(small: Stack) -> None:
    async def body() -> None:
        async with Session(small.gateway) as session:
            ws = await session.ws(small.tokens["writer"])
            big: dict[str, Any] = {"v": 1, "id": 5, "op": "storage.put", "target": CHEST,
                                   "args": {"key": "k", "value": "x" * 5000}}
            await ws.send(big)
            message = error_of(await ws.recv(), "TOO_LARGE")
            assert "4096" in message and "not decoded" in message
            await still_works(ws)
            # Under the gateway's limit, over the daemon's: refused by the gateway, with the id.
            big["args"]["value"] = "x" * 3500
            await ws.send(big)
            reply = await ws.recv()
            assert reply["id"] == 5 and code_of(reply) == "TOO_LARGE" and "3000" in reply["error"]["message"]
            await still_works(ws)
            # Over twice the limit the WebSocket layer itself closes the connection (1009, message too big).
            await ws.ws.send_bytes(b"\x00" * 9000)
            closing = await ws.ws.receive(10)
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1009
            status, reply = await session.call(small.tokens["writer"], {"op": "storage.put", "target": CHEST,
                                                                         "args": {"key": "k", "value": "x" * 5000}})
            assert status == 413 and code_of(reply) == "TOO_LARGE"

    run(body)


def test_batches(small: Stack) -> None:
    async def body() -> None:
        async with Session(small.gateway) as session:
            ws = await session.ws(small.tokens["agents"])
            mine = {"class": "Agent", "name": "batched"}
            await ws.send([
                {"v": 1, "id": 1, "op": "storage.put", "target": mine, "args": {"key": "a", "value": 1}},
                "not a map",
                {"v": 1, "id": 3, "op": "storage.get", "target": mine, "args": {"key": "a"}},
                {"v": 1, "id": 4, "op": "storage.get", "target": CHEST, "args": {"key": "a"}},
                {"ctl": "subscribe", "prefix": "change.Agent."},
                {"v": 1, "id": "six", "op": "storage.get", "target": mine, "args": {"key": "zz"}},
            ])
            replies = await ws.recv()
            assert isinstance(replies, list) and len(replies) == 6
            assert replies[0] == {"v": 1, "id": 1, "ok": True, "result": {}}
            assert "batch element 1" in error_of(replies[1], "BAD_REQUEST")
            assert replies[2] == {"v": 1, "id": 3, "ok": True, "result": {"found": True, "value": 1}}
            assert replies[3]["id"] == 4 and code_of(replies[3]) == "FORBIDDEN"
            assert "control message" in error_of(replies[4], "BAD_REQUEST")
            assert replies[5] == {"v": 1, "id": "six", "ok": True, "result": {"found": False}}
            await ws.send([])
            assert "at least one" in error_of(await ws.recv(), "BAD_REQUEST")
            await ws.send([{"v": 1, "id": 1, "op": "ping"}, [{"v": 1, "id": 2, "op": "ping"}]])
            assert "not arrays" in error_of(await ws.recv(), "BAD_REQUEST")
            await ws.send([{"v": 1, "id": n, "op": "ping"} for n in range(9)])
            assert "batch_max_requests" in error_of(await ws.recv(), "TOO_LARGE")
            await ws.send([{"v": 1, "id": n, "op": "ping"} for n in range(8)])
            assert [reply["id"] for reply in await ws.recv()] == list(range(8))

    run(body)


def test_the_in_flight_limit(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(LIMITS)
    daemon = stack.daemon.process
    assert daemon is not None

    async def body() -> None:
        async with Session(stack.gateway) as session:
            ws = await session.ws(stack.tokens["writer"])
            await still_works(ws)
            daemon.send_signal(signal.SIGSTOP)  # the daemon takes no more requests until SIGCONT
            try:
                for n in range(16):
                    await ws.send({"v": 1, "id": n, "op": "ping"})
                await ws.send({"v": 1, "id": 16, "op": "ping"})
                refused = await ws.recv()
                assert refused["id"] == 16 and code_of(refused) == "UNAVAILABLE"
                assert refused["error"]["retryable"] is True and "max_in_flight" in refused["error"]["message"]
                await ws.send([{"v": 1, "id": 17, "op": "ping"}])
                assert code_of((await ws.recv())[0]) == "UNAVAILABLE"
            finally:
                daemon.send_signal(signal.SIGCONT)
            answered = sorted([(await ws.recv())["id"] for _ in range(16)])
            assert answered == list(range(16))
            await still_works(ws)
            status, report = await session.health(stack.tokens["admin"])
            assert status == 200 and report["gateway"]["counters"]["requests.over_in_flight"] == 2

    run(body)


def test_the_encoding_of_replies_is_the_daemons(small: Stack) -> None:
    """The reply bytes are the daemon's with only the id changed: stored values come back as stored."""

    async def body() -> None:
        async with Session(small.gateway) as session:
            ws = await session.ws(small.tokens["writer"])
            value = {"f": 1.5, "big": 2**63, "neg": -1, "bin": b"\x01", "nested": [{"a": None}]}
            await ws.call("storage.put", CHEST, {"key": "typed", "value": value})
            await ws.send({"v": 1, "id": "raw", "op": "storage.get", "target": CHEST, "args": {"key": "typed"}})
            raw = await ws.ws.receive(10)
            assert raw.data.startswith(b"\x84\xa1v\x01\xa2id\xa3raw\xa2ok\xc3")
            assert msgpack.unpackb(raw.data)["result"]["value"] == value

    run(body)
