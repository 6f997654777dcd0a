"""Requests reach the daemon in batch frames: a client's batch whole, single frames of one loop pass together.

What the daemon received is read from its own ``stats`` counters (``frames``,
a batch frame counting once, and ``batches``), through an admin token.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from tests.gateway.conftest import Session, Stack, Ws, code_of, run

AGENT = {"class": "Agent", "name": "batching"}
CHEST = {"class": "Chest", "name": "batching"}


def request(request_id: Any, op: str, target: dict[str, str] | None = None, **args: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"v": 1, "id": request_id, "op": op, "args": args}
    if target is not None:
        message["target"] = target
    return message


async def daemon_frames(admin: Ws) -> tuple[int, int]:
    """The daemon's (frames, batches) counters; the stats request itself is one more frame."""
    reply = await admin.call("stats")
    counters = reply["result"]["counters"]
    return counters.get("frames", 0), counters.get("batches", 0)


def test_a_batch_goes_to_the_daemon_as_one_frame_with_refusals_in_their_slots(
        make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()

    async def body() -> None:
        async with Session(stack.gateway) as session:
            admin = await session.ws(stack.tokens["admin"])
            agents = await session.ws(stack.tokens["agents"])
            frames, batches = await daemon_frames(admin)
            await agents.send([
                request(1, "Agent.init", AGENT),
                request(2, "storage.put", CHEST, key="k", value=1),  # outside the token's classes
                request(3, "storage.put", AGENT, key="k", value=3),
                request("four", "Agent.move", AGENT, x=1, y=2, z=3),
            ])
            replies = await agents.recv()
            assert [reply["id"] for reply in replies] == [1, 2, 3, "four"]
            assert code_of(replies[1]) == "FORBIDDEN" and "Chest" in replies[1]["error"]["message"]
            assert all(replies[slot]["ok"] for slot in (0, 2, 3)), replies
            after = await daemon_frames(admin)
            # The three allowed elements travelled in one batch frame (and the second stats call is one more).
            assert after == (frames + 2, batches + 1)
            stored = await agents.call("storage.get", AGENT, {"key": "k"})
            assert stored["result"] == {"found": True, "value": 3}

    run(body)


def test_reads_and_writes_of_a_batch_travel_in_frames_of_their_own_kind(make_stack: Callable[..., Stack]) -> None:
    """A batch frame is answered when all of it may be: reads kept apart from writes do not wait for a commit."""
    stack = make_stack()

    async def body() -> None:
        async with Session(stack.gateway) as session:
            admin = await session.ws(stack.tokens["admin"])
            writer = await session.ws(stack.tokens["writer"])
            frames, batches = await daemon_frames(admin)
            await writer.send([
                request(1, "storage.put", CHEST, key="a", value=1),
                request(2, "storage.put", CHEST, key="b", value=2),
                request(3, "storage.get", CHEST, key="a"),
                request(4, "storage.get", CHEST, key="b"),
                request(5, "storage.delete", CHEST, key="a"),
            ])
            replies = await writer.recv()
            assert [reply["id"] for reply in replies] == [1, 2, 3, 4, 5]
            assert replies[2]["result"] == {"found": True, "value": 1}
            assert replies[3]["result"] == {"found": True, "value": 2}
            assert replies[4]["result"] == {"deleted": True}
            # [put, put] [get, get] delete: two batch frames and a single one, in the order sent.
            assert await daemon_frames(admin) == (frames + 4, batches + 2)

    run(body)


def test_single_frames_of_many_connections_travel_together_and_come_back_one_by_one(
        make_stack: Callable[..., Stack]) -> None:
    stack = make_stack()
    gateway = stack.gateway.process
    assert gateway is not None

    async def body() -> None:
        async with Session(stack.gateway) as session:
            admin = await session.ws(stack.tokens["admin"])
            clients = [await session.ws(stack.tokens["writer"]) for _ in range(3)]
            frames, batches = await daemon_frames(admin)
            gateway.send_signal(signal.SIGSTOP)  # every frame below waits in the kernel, read in one pass
            try:
                for number, client in enumerate(clients):
                    target = {"class": "Chest", "name": f"coalesced-{number}"}
                    for value in range(10):
                        await client.send(request(value, "storage.put", target, key="k", value=value))
                    await client.send(request("last", "storage.get", target, key="k"))
                # On loopback a send that returned has put its bytes in the gateway's kernel buffer already.
            finally:
                gateway.send_signal(signal.SIGCONT)
            for client in clients:
                replies = [await client.recv() for _ in range(11)]
                assert all(isinstance(reply, dict) for reply in replies)  # one reply frame per request frame
                assert [reply["id"] for reply in replies] == [*range(10), "last"]
                assert all(reply["ok"] for reply in replies), replies
                assert replies[-1]["result"] == {"found": True, "value": 9}  # in the order sent
            after_frames, after_batches = await daemon_frames(admin)
            assert after_batches > batches
            assert after_frames - frames - 1 < 33  # fewer frames than the 33 requests
            status, report = await session.health(stack.tokens["admin"])
            assert status == 200 and report["gateway"]["counters"]["upstream.batch_frames"] >= 1

    run(body)


def test_reads_crowded_out_of_a_batch_frames_reply_are_sent_again_alone(make_stack: Callable[..., Stack]) -> None:
    """The daemon holds a batch frame's replies to its max_frame_bytes together; a client that sent two
    reads of 2,000-byte values still gets both, as it would have sending them one by one."""
    stack = make_stack(top_level="max_frame_bytes = 3000")

    async def body() -> None:
        async with Session(stack.gateway) as session:
            writer = await session.ws(stack.tokens["writer"])
            for key in ("a", "b"):
                assert (await writer.call("storage.put", CHEST, {"key": key, "value": key * 2000}))["ok"]
            await writer.send([request(1, "storage.get", CHEST, key="a"), request(2, "storage.get", CHEST, key="b")])
            replies = await writer.recv()
            assert [reply["result"] for reply in replies] == [{"found": True, "value": "a" * 2000},
                                                               {"found": True, "value": "b" * 2000}], replies
            status, report = await session.health(stack.tokens["admin"])
            assert status == 200 and report["gateway"]["counters"]["requests.resent_alone"] == 1

    run(body)


def test_writes_under_idem_keys_crowded_out_get_their_recorded_results(make_stack: Callable[..., Stack]) -> None:
    """A write crowded out of a shared reply is sent again alone only under an ``idem`` key: the daemon
    answers that second send with the result it recorded, so the write is applied once, and the client
    gets the result it would have got alone."""
    stack = make_stack(top_level="max_frame_bytes = 3000")
    inventory = [{"type": f"enchanted_netherite_item_{n:02d}", "count": 1} for n in range(40)]

    async def body() -> None:
        async with Session(stack.gateway) as session:
            writer = await session.ws(stack.tokens["writer"])
            agents = [{"class": "Agent", "name": f"crowded-{n}"} for n in range(4)]
            for agent in agents:
                assert (await writer.call("Agent.init", agent, {"inventory": inventory}))["ok"]
            # Small requests, large replies (each the agent's whole inventory): together over 3,000 bytes.
            await writer.send([{**request(n, "Agent.inventory.add", agents[n], type="bread", count=1),
                                "idem": f"bread-{n}"} for n in range(2)])
            replies = await writer.recv()
            assert [reply["ok"] for reply in replies] == [True, True], replies
            for reply in replies:
                last = reply["result"]["inventory"][-1]
                assert (last["type"], last["count"]) == ("bread", 1)
            status, report = await session.health(stack.tokens["admin"])
            assert status == 200 and report["gateway"]["counters"]["requests.resent_alone"] == 1
            for agent in agents[:2]:  # applied once: one bread each, though one was sent twice
                state = (await writer.call("Agent.state", agent, {}))["result"]
                assert [item["count"] for item in state["inventory"] if item["type"] == "bread"] == [1]
            # Without a key the gateway cannot tell a second send from a second write, so it does not send one.
            await writer.send([request(n, "Agent.inventory.add", agents[n], type="bread", count=1)
                               for n in range(2, 4)])
            replies = await writer.recv()
            assert sorted(reply["ok"] for reply in replies) == [False, True], replies
            assert code_of(next(reply for reply in replies if not reply["ok"])) == "TOO_LARGE"

    run(body)


def test_a_read_crowded_out_is_not_sent_again_past_its_clients_later_write(make_stack: Callable[..., Stack]) -> None:
    """Sent again alone, a crowded-out read would run after the write its client sent later on the same
    object (reading what that wrote, its reply after that one's): it gets a retryable TOO_LARGE instead."""
    stack = make_stack(top_level="max_frame_bytes = 3000")

    async def body() -> None:
        async with Session(stack.gateway) as session:
            writer = await session.ws(stack.tokens["writer"])
            for key in ("a", "b"):
                assert (await writer.call("storage.put", CHEST, {"key": key, "value": key * 2000}))["ok"]
            # [get a, get b] travel as one batch frame whose reply is over 3,000 bytes; the put as another frame.
            await writer.send([request(1, "storage.get", CHEST, key="a"), request(2, "storage.get", CHEST, key="b"),
                               request(3, "storage.put", CHEST, key="a", value="later")])
            replies = await writer.recv()
            assert not all(reply["ok"] for reply in replies[:2]), replies  # sent again, get a read "later"
            crowded = next(reply for reply in replies[:2] if not reply["ok"])
            assert code_of(crowded) == "TOO_LARGE" and crowded["error"]["retryable"] is True, replies
            assert "was not sent again alone" in crowded["error"]["message"]
            fitted = next(reply for reply in replies[:2] if reply["ok"])
            assert fitted["result"]["value"] in ("a" * 2000, "b" * 2000)  # what it held before the put
            assert replies[2]["ok"], replies
            status, report = await session.health(stack.tokens["admin"])
            counters = report["gateway"]["counters"]
            assert status == 200 and counters.get("requests.resent_alone", 0) == 0
            assert counters["requests.crowded_out"] == 1

    run(body)
