"""The Python clients refuse an oversize request before sending it (its reply could not be matched)."""

from __future__ import annotations

import asyncio

import pytest

from bridge import AsyncClient, Client, TooLarge


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
