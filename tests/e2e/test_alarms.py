"""Alarms across crashes, with a real daemon process and real time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import Client, Subscriber, Timeout
from tests.conftest import DaemonProcess, running_daemon, wait_for

CONFIG = """
alarm_retry_base_ms = 100
alarm_horizon_s = 2
[classes]
modules = ["tests.support.alarm_classes"]
"""


@pytest.fixture
def alarm_daemon(tmp_path: Path) -> Iterator[DaemonProcess]:
    yield from running_daemon(tmp_path, CONFIG)


def now_ms() -> int:
    return time.time_ns() // 1_000_000



def test_an_alarm_fires_once_after_sigkill_before_its_due_time(alarm_daemon: DaemonProcess) -> None:
    with Client(alarm_daemon.rpc) as client:
        due = now_ms() + 1500
        client.call("alarm.set", {"class": "Counter", "name": "c"}, {"at_ms": due})
    alarm_daemon.kill()
    wait_for(lambda: now_ms() > due + 200, timeout=5)
    alarm_daemon.start()
    with Client(alarm_daemon.rpc) as client:
        counter = client.object("Counter", "c")
        assert wait_for(lambda: counter.get("fires")) == 1
        seen = counter.get("seen")
        assert seen["scheduled_ms"] == due and seen["retry_count"] == 0 and seen["alarm_get"] is None
    # After a successful fire and a restart it does not fire again: no alarm is stored.
    alarm_daemon.kill()
    alarm_daemon.start()
    with Client(alarm_daemon.rpc) as client:
        assert client.call("alarms.list") == {"alarms": []}
        assert client.call("alarm.get", {"class": "Counter", "name": "c"}) == {"at_ms": None}
        assert client.object("Counter", "c").get("fires") == 1


def test_sigkill_during_the_handler_delivers_again(alarm_daemon: DaemonProcess, tmp_path: Path) -> None:
    block = tmp_path / "block"
    block.write_text("")
    entered = Path(str(block) + ".entered")
    with Client(alarm_daemon.rpc) as client:
        blocker = client.object("Blocking", "b")
        blocker.put("block_file", str(block))
        client.call("alarm.set", {"class": "Blocking", "name": "b"}, {"at_ms": now_ms()})
    wait_for(entered.exists)
    alarm_daemon.kill()
    block.unlink()
    alarm_daemon.start()
    with Client(alarm_daemon.rpc) as client:
        assert wait_for(lambda: client.object("Blocking", "b").get("fires")) == 1
        assert client.call("alarms.list") == {"alarms": []}
    assert entered.read_text().splitlines() == ["0", "0"]


def test_a_plain_object_alarm_is_published(alarm_daemon: DaemonProcess) -> None:
    with Client(alarm_daemon.rpc) as client, Subscriber(alarm_daemon.pub, topics=("alarm.", "change.")) as sub:
        object_id = client.id_from_name("Horse", "h1")
        for attempt in range(50):  # wait until the subscription reaches the publisher
            client.object("Probe", "p").put("n", attempt)
            try:
                sub.recv(timeout=0.1)
                break
            except Timeout:
                continue
        sub.unsubscribe("change.")
        due = now_ms() + 300
        client.call("alarm.set", {"class": "Horse", "name": "h1"}, {"at_ms": due})
        event = sub.recv(timeout=10)
        while not event.topic.startswith("alarm."):
            event = sub.recv(timeout=10)
        assert event.topic == f"alarm.Horse.{object_id}"
        assert event.body["name"] == "h1" and event.body["scheduled_ms"] == due
        assert event.body["fired_ms"] >= due
        assert client.call("alarm.get", {"class": "Horse", "name": "h1"}) == {"at_ms": None}


def set_plain_alarms(daemon: DaemonProcess, count: int, due: int) -> set[str]:
    """Set ``count`` plain objects' alarms due at ``due``; return their ids."""
    with Client(daemon.rpc) as client:
        for index in range(count):
            client.call("alarm.set", {"class": "Horse", "name": f"h{index}"}, {"at_ms": due})
        return {client.id_from_name("Horse", f"h{index}") for index in range(count)}


def test_plain_alarms_due_while_the_daemon_was_down_wait_for_a_subscriber(tmp_path: Path) -> None:
    daemon = next(running_daemon(tmp_path, "alarm_notice_grace_s = 60\n" + CONFIG))
    try:
        due = now_ms() + 1500
        ids = set_plain_alarms(daemon, 100, due)
        assert daemon.stop() == 0
        wait_for(lambda: now_ms() > due + 200, timeout=5)
        daemon.start()
        started = now_ms()
        wait_for(lambda: now_ms() > started + 1000, timeout=5)  # the plugin reconnects a second later
        heard: dict[str, dict[str, object]] = {}
        with Subscriber(daemon.pub, topics=("alarm.Horse.",)) as subscriber:
            while len(heard) < 100:
                event = subscriber.recv(timeout=10)
                heard[event.topic.removeprefix("alarm.Horse.")] = event.body
        assert set(heard) == ids
        assert {body["scheduled_ms"] for body in heard.values()} == {due}
        assert all(int(str(body["fired_ms"])) >= started + 1000 for body in heard.values())
        with Client(daemon.rpc) as client:
            assert client.call("alarms.list") == {"alarms": []}
            counters = client.stats()["counters"]
        assert counters["alarms.held"] == 100 and counters["alarms.released"] == 100
    finally:
        daemon.stop()


def test_held_notices_survive_a_crash_and_fire_after_the_grace_period(tmp_path: Path) -> None:
    daemon = next(running_daemon(tmp_path, "alarm_notice_grace_s = 3\n" + CONFIG))
    try:
        due = now_ms() + 1000
        set_plain_alarms(daemon, 100, due)
        daemon.kill()
        wait_for(lambda: now_ms() > due + 200, timeout=5)
        before_start = now_ms()
        daemon.start()
        with Client(daemon.rpc) as client:
            held = client.call("alarms.list")["alarms"]
            assert len(held) == 100 and {alarm["scheduled_ms"] for alarm in held} == {due}
            assert all(alarm["at_ms"] > now_ms() for alarm in held)  # waiting for the grace period
        daemon.kill()  # a crash while they are held loses none
        daemon.start()
        with Client(daemon.rpc) as client:
            assert len(client.call("alarms.list")["alarms"]) == 100
            wait_for(lambda: client.call("alarms.list")["alarms"] == [], timeout=15)
            assert now_ms() >= before_start + 3000  # not before the grace period (from the first start) ended
            assert client.stats()["counters"]["alarms.published"] == 100
    finally:
        daemon.stop()
