"""The Python clients batch for their users: counted on the wire by the daemon's frames and batches counters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge import AsyncClient, BadRequest, Client, Conflict, NotFound, Timeout
from tests.conftest import DaemonProcess, running_daemon

AGENTS = 200


def agent(name: str) -> dict[str, str]:
    return {"class": "Agent", "name": name}


def wire_counts(client: Client) -> tuple[int, int]:
    """``(frames, batches)`` the daemon has received, this stats call's own frame included."""
    counters = client.stats()["counters"]
    return counters.get("frames", 0), counters.get("batches", 0)


def test_a_sync_batch_is_one_frame_with_each_result_in_its_place(daemon: DaemonProcess) -> None:
    with Client(daemon.rpc) as client:
        frames, batches = wire_counts(client)
        with client.batch() as batch:
            spawned = [batch.call("Agent.init", agent(f"steve-{i}"), {"position": {"x": i, "y": 64, "z": 0}})
                       for i in range(AGENTS)]
            again = batch.call("Agent.init", agent("steve-0"))
            moved = batch.call("Agent.move", agent("steve-1"), {"x": 4, "y": 64, "z": 0})
            ghost = batch.call("Agent.move", agent("nobody"), {"x": 0, "y": 0, "z": 0})
            with pytest.raises(BadRequest, match="not been sent yet"):
                moved.result()
        assert (frames + 2, batches + 1) == wire_counts(client)
        assert [call.result()["position"]["x"] for call in spawned] == list(range(AGENTS))
        with pytest.raises(Conflict, match="already spawned"):
            again.result()
        assert moved.result()["distance"] == 3
        with pytest.raises(NotFound):
            ghost.result()


def test_the_async_client_sends_one_loop_iterations_calls_as_one_frame(daemon: DaemonProcess) -> None:
    """A plugin moving 200 agents in one tick sends one frame."""
    with Client(daemon.rpc) as client:
        with client.batch() as batch:
            for i in range(AGENTS):
                batch.call("Agent.init", agent(f"steve-{i}"), {"position": {"x": 0, "y": 64, "z": 0}})
        frames, batches = wire_counts(client)

        async def tick() -> list[Any]:
            async with AsyncClient(daemon.rpc) as aio:
                return list(await asyncio.gather(*(
                    aio.call("Agent.move", agent(f"steve-{i}"), {"x": i, "y": 64, "z": 0}) for i in range(AGENTS))))

        results = asyncio.run(tick())
        assert (frames + 2, batches + 1) == wire_counts(client)
        assert [result["distance"] for result in results] == list(range(AGENTS))


def test_a_batch_over_the_clients_limit_goes_in_several_frames(daemon: DaemonProcess) -> None:
    with Client(daemon.rpc, batch_max_requests=64) as client:
        frames, batches = wire_counts(client)
        with client.batch() as batch:
            calls = [batch.call("storage.put", {"class": "Chest", "name": "c"}, {"key": f"k{i}", "value": i})
                     for i in range(150)]
        assert (frames + 4, batches + 3) == wire_counts(client)
        assert all(call.result() == {} for call in calls)
        assert client.object("Chest", "c").get("k149") == 149


@pytest.fixture
def slow_daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    yield from running_daemon(tmp_path, '[classes]\nmodules = ["tests.support.slow_classes"]\n')


def test_a_timed_out_batch_is_sent_again_and_each_write_applied_once(slow_daemon: DaemonProcess) -> None:
    counters = [{"class": "Ctr", "name": f"c{i}"} for i in range(3)]
    with Client(slow_daemon.rpc, timeout=0.2, retries=2) as hasty, contextlib.suppress(Timeout):
        with hasty.batch() as batch:
            calls = [batch.call("Ctr.incr", target, {"sleep_s": 0.1}) for target in counters]
        for call in calls:
            with contextlib.suppress(Timeout):
                call.result()
    with Client(slow_daemon.rpc, timeout=5) as client:
        assert [client.call("Ctr.value", target) for target in counters] == [{"n": 1}] * 3
