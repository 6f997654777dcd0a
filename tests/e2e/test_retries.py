"""A request retried after a timeout is applied once, whatever op it is (an operator's own class op too)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import AsyncClient, Client, Timeout, Unavailable
from tests.conftest import DaemonProcess, running_daemon

CONFIG = '[classes]\nmodules = ["tests.support.slow_classes"]\n'
CTR = {"class": "Ctr", "name": "c"}


@pytest.fixture
def slow_daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    yield from running_daemon(tmp_path, CONFIG)


def test_a_custom_write_retried_by_the_sync_client_is_applied_once(slow_daemon: DaemonProcess) -> None:
    # A timeout on the last try is fine: what counts is how often the op was applied.
    with Client(slow_daemon.rpc, timeout=0.1, retries=2) as hasty, contextlib.suppress(Timeout):
        hasty.call("Ctr.incr", CTR, {"sleep_s": 0.3})
    with Client(slow_daemon.rpc, timeout=5) as client:
        assert client.call("Ctr.incr", CTR, {"sleep_s": 0}) == {"n": 2}
        assert client.call("Ctr.value", CTR) == {"n": 2}


def test_a_custom_write_retried_by_the_async_client_is_applied_once(slow_daemon: DaemonProcess) -> None:
    async def hurried() -> None:
        async with AsyncClient(slow_daemon.rpc, timeout=0.1, retries=2) as client:
            with contextlib.suppress(Timeout):
                await client.call("Ctr.incr", CTR, {"sleep_s": 0.3})

    asyncio.run(hurried())
    with Client(slow_daemon.rpc, timeout=5) as client:
        assert client.call("Ctr.incr", CTR, {"sleep_s": 0}) == {"n": 2}


def test_the_async_client_raises_the_last_retryable_error_not_a_timeout(tmp_path: Path) -> None:
    """A full map answers every try with UNAVAILABLE: the caller learns that, not "no reply"."""
    daemon = next(running_daemon(tmp_path, "map_size_mb = 1\nmax_map_size_mb = 1\n"))

    async def put_too_much() -> None:
        async with AsyncClient(daemon.rpc, timeout=5, retries=2) as client:
            await client.call("storage.put", {"class": "Chest", "name": "big"}, {"key": "k", "value": b"x" * 1_500_000})

    try:
        with pytest.raises(Unavailable, match="map is full"):
            asyncio.run(put_too_much())
    finally:
        daemon.kill()
