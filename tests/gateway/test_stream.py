"""The change stream through the gateway: subscriptions, and what a slow or stuck subscriber gets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bridge import AsyncClient
from tests.gateway.conftest import Session, Stack, Ws, run, start_stack

BUFFER = 64 * 1024
VALUE = "v" * 16 * 1024
FLOOD = 2000  # 2000 events of 16 KiB: far more than the socket buffers between the gateway and a client


@pytest.fixture(scope="module")
def streams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from start_stack(tmp_path_factory.mktemp("stream"),
                           f"subscriber_buffer_bytes = {BUFFER}\nwrite_timeout_s = 60\nmax_prefixes = 4\n")


async def subscribe(ws: Ws, prefix: str) -> None:
    await ws.send({"ctl": "subscribe", "prefix": prefix})
    assert await ws.recv_reply() == {"ctl": "subscribed", "prefix": prefix}


async def until_event(ws: Ws, client: AsyncClient, class_name: str, key: str) -> dict[str, Any]:
    """Write ``key`` to an object of ``class_name`` until ``ws`` hears of it (subscriptions take a moment)."""
    for attempt in range(100):
        await client.call("storage.put", {"class": class_name, "name": "probe"}, {"key": key, "value": attempt})
        try:
            while True:
                frame = await ws.recv(0.1)
                if frame.get("ctl") == "event" and frame["body"]["changes"][0]["key"] == key:
                    return dict(frame)
        except TimeoutError:
            continue
    raise AssertionError(f"no event for {key} through the gateway")


def test_subscriptions_deliver_the_daemons_change_events(streams: Stack) -> None:
    async def body() -> None:
        async with Session(streams.gateway) as session, AsyncClient(streams.daemon.rpc) as client:
            ws = await session.ws(streams.tokens["reader"])
            await subscribe(ws, "change.Lamp.")
            event = await until_event(ws, client, "Lamp", "probe")
            assert event["topic"].startswith("change.Lamp.") and event["body"]["class"] == "Lamp"
            await client.call("storage.put", {"class": "Other", "name": "x"}, {"key": "unheard", "value": 1})
            await client.call("storage.put", {"class": "Lamp", "name": "hall"}, {"key": "on", "value": True})
            frame = await ws.recv()
            lamp_id = (await client.call("id.from_name", args={"class": "Lamp", "name": "hall"}))["id"]
            assert frame == {"ctl": "event", "topic": f"change.Lamp.{lamp_id}", "body": {
                "v": 1, "class": "Lamp", "id": lamp_id, "name": "hall", "commit": frame["body"]["commit"],
                "cleared": False, "changes": [{"key": "on", "value": True}]}}
            # A second client on the same prefix; the first lets it go and hears nothing more.
            other = await session.ws(streams.tokens["admin"])
            await subscribe(other, "change.Lamp.")
            await subscribe(other, "change.Lamp.")  # again: no change, no error
            await ws.send({"ctl": "unsubscribe", "prefix": "change.Lamp."})
            assert await ws.recv_reply() == {"ctl": "unsubscribed", "prefix": "change.Lamp."}
            await client.call("storage.put", {"class": "Lamp", "name": "hall"}, {"key": "on", "value": False})
            heard = await other.recv()
            assert heard["body"]["changes"] == [{"key": "on", "value": False}]
            assert (await ws.call("ping"))["ok"]  # no event came before this reply
            _, report = await session.health(streams.tokens["admin"])
            assert report["gateway"]["prefixes"] == 1

    run(body)


def test_prefixes_per_connection_are_limited(streams: Stack) -> None:
    async def body() -> None:
        async with Session(streams.gateway) as session:
            ws = await session.ws(streams.tokens["reader"])
            for n in range(4):
                await subscribe(ws, f"change.C{n}.")
            await ws.send({"ctl": "subscribe", "prefix": "change.C4."})
            refused = await ws.recv()
            assert refused["ctl"] == "error" and refused["code"] == "TOO_LARGE" and refused["prefix"] == "change.C4."
            assert "max_prefixes" in refused["message"]
            await ws.send({"ctl": "unsubscribe", "prefix": "change.C0."})
            assert await ws.recv() == {"ctl": "unsubscribed", "prefix": "change.C0."}
            await subscribe(ws, "change.C4.")
            await ws.send({"ctl": "subscribe", "prefix": "x" * 1025})
            assert (await ws.recv())["code"] == "TOO_LARGE"

    run(body)


def test_a_stuck_subscriber_loses_events_with_a_notice_and_the_gateway_stays_small(streams: Stack) -> None:
    async def body() -> None:
        async with Session(streams.gateway, slow=True) as session, AsyncClient(streams.daemon.rpc) as client:
            stuck = await session.ws(streams.tokens["reader"])
            await subscribe(stuck, "change.Flood.")
            await until_event(stuck, client, "Flood", "probe")
            await until_event(stuck, client, "Flood", "sync")  # every event before this one is read
            rss_before = streams.gateway.rss_kib()
            # The client reads nothing now; the daemon publishes far more than fits anywhere.
            for start in range(0, FLOOD, 200):
                await asyncio.gather(*(
                    client.call("storage.put", {"class": "Flood", "name": f"f{n % 7}"},
                                {"key": f"f{n}", "value": VALUE})
                    for n in range(start, start + 200)))
            _, report = await session.health(streams.tokens["admin"])
            gateway = report["gateway"]
            assert gateway["buffered_event_bytes"] <= BUFFER
            assert gateway["counters"]["events.dropped.buffer_full"] > 0
            grown_kib = streams.gateway.rss_kib() - rss_before
            assert grown_kib < 16 * 1024, f"the gateway grew by {grown_kib} KiB for {FLOOD * len(VALUE) >> 20} MiB"

            # Now it reads again: what it gets, plus what the dropped notices count, is every event published.
            frames: list[dict[str, Any]] = []
            finals = 0
            while not (frames and frames[-1].get("ctl") == "event"
                       and frames[-1]["body"]["changes"][0]["key"].startswith("final")):
                finals += 1
                await client.call("storage.put", {"class": "Flood", "name": "end"},
                                  {"key": f"final{finals}", "value": 0})
                try:
                    while True:
                        frames.append(await stuck.recv(0.5))
                except TimeoutError:
                    pass
            events = [frame for frame in frames if frame["ctl"] == "event"]
            notices = [frame for frame in frames if frame["ctl"] == "dropped"]
            assert set(frame["ctl"] for frame in frames) == {"event", "dropped"}
            assert notices and all(notice["count"] > 0 for notice in notices)
            for index, frame in enumerate(frames):
                if frame["ctl"] == "dropped":
                    assert frames[index + 1]["ctl"] == "event"  # a notice goes just before an event
            dropped = sum(notice["count"] for notice in notices)
            assert len(events) + dropped == FLOOD + finals
            keys = [event["body"]["changes"][0]["key"] for event in events]
            assert keys == sorted(keys, key=lambda key: (key.startswith("final"), int(key.lstrip("finals"))))
            _, report = await session.health(streams.tokens["admin"])
            assert report["gateway"]["counters"]["events.dropped.buffer_full"] >= dropped

    run(body, timeout=120)


def test_a_client_that_never_reads_is_cut_off(make_stack: Callable[..., Stack]) -> None:
    stack = make_stack(f"subscriber_buffer_bytes = {BUFFER}\nwrite_timeout_s = 1\n")

    async def body() -> None:
        async with Session(stack.gateway, slow=True) as session, AsyncClient(stack.daemon.rpc) as client:
            stuck = await session.ws(stack.tokens["reader"])
            await subscribe(stuck, "change.Flood.")
            await until_event(stuck, client, "Flood", "probe")
            # Events in bursts that fit the event buffer, so they are written, not dropped, until the
            # socket's buffers are full and a write waits; write_timeout_s later the client is cut off.
            for start in range(0, FLOOD, 3):
                await asyncio.gather(*(
                    client.call("storage.put", {"class": "Flood", "name": "f"}, {"key": f"f{n}", "value": VALUE})
                    for n in range(start, start + 3)))
                if start % 60 == 0:
                    _, report = await session.health(stack.tokens["admin"])
                    if report["gateway"]["connections"] == 0:
                        break
            # The last write may have started waiting just now: give it write_timeout_s, and some.
            for _ in range(100):
                _, report = await session.health(stack.tokens["admin"])
                if report["gateway"]["connections"] == 0:
                    break
                await asyncio.sleep(0.05)
            assert report["gateway"]["connections"] == 0
            assert report["gateway"]["counters"]["connections.closed.write_timeout"] == 1
            assert report["gateway"]["buffered_event_bytes"] == 0

    run(body, timeout=120)
