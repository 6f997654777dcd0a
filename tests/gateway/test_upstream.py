"""The upstream pool against a ROUTER of the test's own, where the daemon's answers can be chosen.

A daemon that does not serve batch frames refuses each with one error for
the whole frame (cluster nodes did, before they served them); today's daemon
does not, so this ROUTER answers as such a daemon would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import msgpack
import zmq

from daemon.gateway.auth import Grant
from daemon.gateway.batching import Route
from daemon.gateway.frames import decode_reply
from daemon.gateway.upstream import Upstream
from schemas.wire import encode, error_reply, ok_reply
from tests.gateway.conftest import run

WRITER = Grant("t", "write")
CHEST = {"class": "Chest", "name": "u"}
REFUSAL = "batch frames are not served here; send the requests one by one"


class Replies:
    """A waiter that keeps each reply it is given, decoded, by slot."""

    def __init__(self) -> None:
        self.got: dict[int, dict[str, Any]] = {}
        self.arrived = asyncio.Event()

    @property
    def gone(self) -> bool:
        return False

    def settle(self, slot: int, reply: bytes) -> None:
        self.got[slot] = decode_reply(reply)
        self.arrived.set()

    async def wait_for(self, count: int) -> None:
        while len(self.got) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 10)


async def take(router: zmq.Socket[bytes]) -> tuple[list[bytes], Any]:
    """The next frame the ROUTER gets: its envelope and its body, decoded."""
    frames: list[bytes] = await asyncio.to_thread(router.recv_multipart)
    return frames[:-1], msgpack.unpackb(frames[-1], raw=False)


@contextlib.asynccontextmanager
async def pool_and_router() -> AsyncIterator[tuple[Upstream, zmq.Socket[bytes], Counter[str]]]:
    """A pool of one socket, connected to a ROUTER of the test's own, and the pool's counters."""
    context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.RCVTIMEO, 10_000)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    counters: Counter[str] = Counter()
    upstream = Upstream(f"tcp://127.0.0.1:{port}", 1, 10.0, 1 << 20, counters)
    upstream.start(context)
    try:
        assert await upstream.connected(10)
        yield upstream, router, counters
    finally:
        await upstream.close()
        router.close(linger=0)
        context.term()


def test_a_daemon_that_refuses_batch_frames_gets_one_frame_per_request_after_the_first() -> None:
    async def body() -> None:
        async with pool_and_router() as (upstream, router, counters):
            waiter, route = Replies(), Route(0)
            for slot in range(3):
                message = {"v": 1, "id": slot, "op": "storage.put", "target": CHEST,
                           "args": {"key": "k", "value": slot}}
                assert upstream.forward(message, WRITER, waiter, slot, route, True) is None
            upstream.send_soon()
            envelope, sent = await take(router)
            assert isinstance(sent, list) and [request["args"]["value"] for request in sent] == [0, 1, 2]
            router.send_multipart([*envelope, encode(error_reply(None, "BAD_REQUEST", REFUSAL))])
            await waiter.wait_for(3)
            for slot in range(3):  # none of them ran: retryable, with the client's own id
                reply = waiter.got[slot]
                assert reply["id"] == slot and reply["error"]["code"] == "UNAVAILABLE", reply
                assert reply["error"]["retryable"] is True and "not served here" in reply["error"]["message"]
            assert upstream.batching is False and counters["upstream.batch_frames_refused"] == 1
            after = Replies()
            for slot in range(2):
                message = {"v": 1, "id": f"again-{slot}", "op": "storage.get", "target": CHEST, "args": {"key": "k"}}
                assert upstream.forward(message, WRITER, after, slot, route, True) is None
            upstream.send_soon()
            for _ in range(2):
                envelope, sent = await take(router)
                assert isinstance(sent, dict)  # one frame per request now
                router.send_multipart([*envelope, encode(ok_reply(sent["id"], {"found": False}))])
            await after.wait_for(2)
            assert [after.got[slot]["id"] for slot in range(2)] == ["again-0", "again-1"]
            assert all(reply["ok"] for reply in after.got.values())

    run(body)


def test_a_refusal_with_two_batch_frames_outstanding_is_charged_to_neither() -> None:
    """The daemon refuses a frame at once but answers the frames it accepted after their commit: with
    B1 accepted (not answered yet) and B2 refused, the refusal cannot say which frame it was for."""

    async def body() -> None:
        async with pool_and_router() as (upstream, router, counters):
            waiter, route = Replies(), Route(0)
            frames: list[tuple[list[bytes], Any]] = []
            for first, count in ((0, 3), (3, 2)):  # B1: slots 0-2, B2: slots 3-4, each a batch frame
                for slot in range(first, first + count):
                    message = {"v": 1, "id": slot, "op": "storage.put", "target": CHEST,
                               "args": {"key": "k", "value": slot}}
                    assert upstream.forward(message, WRITER, waiter, slot, route, True) is None
                upstream.send_soon()
                frames.append(await take(router))
            (b1_envelope, b1), (b2_envelope, b2) = frames
            assert [request["args"]["value"] for request in b1] == [0, 1, 2]
            assert [request["args"]["value"] for request in b2] == [3, 4]
            router.send_multipart([*b2_envelope, encode(error_reply(None, "TOO_LARGE", "a batch of 2 requests"))])
            await waiter.wait_for(5)
            for slot in range(5):  # B1 may commit yet: nobody may be told that nothing ran
                reply = waiter.got[slot]
                assert reply["id"] == slot and reply["error"]["code"] == "INTERNAL", reply
                assert reply["error"]["retryable"] is False, reply
                assert "may or may not have run" in reply["error"]["message"], reply
            assert counters["upstream.batch_frames_refused"] == 1
            router.send_multipart([*b1_envelope, msgpack.packb([ok_reply(request["id"], None) for request in b1])])
            while counters["replies.late"] < 3:  # B1's replies, after their requests were answered
                await asyncio.sleep(0.01)  # bounded by run()'s timeout
            assert len(waiter.got) == 5 and upstream.in_flight == 0

    run(body, timeout=30)
