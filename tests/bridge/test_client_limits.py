"""The Python clients' limits: an oversize request is refused before it is sent (its reply could not
be matched), and a call that no daemon takes times out."""

from __future__ import annotations

import asyncio
import time

import pytest

from bridge import AsyncClient, Client, Timeout, TooLarge


def test_the_sync_client_refuses_an_oversize_frame_without_sending() -> None:
    with (
        Client("tcp://127.0.0.1:1", timeout=0.1, retries=0, max_frame_bytes=1024) as client,
        pytest.raises(TooLarge, match="frame limit is 1024; nothing was sent"),
    ):
        client.object("Agent", "a").put("k", "x" * 2000)


def test_the_async_client_refuses_an_oversize_frame_without_sending() -> None:
    async def put() -> None:
        async with AsyncClient("tcp://127.0.0.1:1", timeout=0.1, retries=0, max_frame_bytes=1024) as client:
            await client.call("storage.put", {"class": "Agent", "name": "a"}, {"key": "k", "value": "x" * 2000})

    with pytest.raises(TooLarge):
        asyncio.run(put())


@pytest.mark.parametrize("retries", [0, 1])
def test_the_async_client_times_out_when_no_daemon_takes_the_request(retries: int) -> None:
    """Its socket queues nothing until a connection is up, so the send waits: the timeout must cover it."""
    async def ping() -> None:
        async with AsyncClient("tcp://127.0.0.1:1", timeout=0.2, retries=retries) as client:
            await client.ping()

    started = time.monotonic()
    with pytest.raises(Timeout, match=r"within 0\.2 s"):
        asyncio.run(asyncio.wait_for(ping(), 10))
    assert time.monotonic() - started < 0.2 * (retries + 1) + 2
