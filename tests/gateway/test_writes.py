"""The gateway's writes to a client that reads, but more slowly than the gateway writes."""

from __future__ import annotations

import asyncio

from tests.gateway.conftest import Session, Stack, run

CHEST = {"class": "Chest", "name": "slow-reader"}
# Together well over what the gateway's kernel send buffer takes (Linux grows it to 4 MiB), so its
# writes wait for the client again and again.
VALUE_BYTES = 500_000
READS = 16


def test_a_slow_reader_of_pipelined_large_replies_gets_every_one(shared: Stack) -> None:
    """Replies that fill the client's socket again and again are all written, however slowly it reads."""

    async def body() -> None:
        async with Session(shared.gateway, slow=True) as session:
            ws = await session.ws(shared.tokens["writer"])
            for index in range(READS):
                put = await ws.call("storage.put", CHEST, {"key": f"k{index}", "value": bytes([index]) * VALUE_BYTES})
                assert put["ok"], put
            for attempt in range(3):
                for index in range(READS):  # pipelined: none waits for the one before
                    await ws.send({"v": 1, "id": index, "op": "storage.get", "target": CHEST,
                                   "args": {"key": f"k{index}"}})
                got: dict[int, bytes] = {}
                for _ in range(READS):
                    # Reading late keeps the gateway's writes waiting for the socket to drain each time.
                    await asyncio.sleep(0.05)
                    reply = await ws.recv_reply(timeout=10)
                    assert reply["ok"], reply
                    got[reply["id"]] = reply["result"]["value"]
                assert got == {index: bytes([index]) * VALUE_BYTES for index in range(READS)}, attempt
            await ws.ws.close()

    run(body)
