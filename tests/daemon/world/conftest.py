"""The built-in classes in-process: a real Runtime on real LMDB, a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgpack
import pytest

from daemon.ids import IdFactory
from daemon.model import Request
from daemon.runtime import Runtime, RuntimeOptions
from daemon.runtime.classes import load_classes
from daemon.storage import Store, StoreOptions
from tests.conftest import SECRET, as_sent

START_MS = 1_772_150_400_000


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class World:
    """Sends ops to the built-in classes and keeps what each cycle published."""

    def __init__(self, runtime: Runtime, clock: Clock) -> None:
        self.runtime = runtime
        self.clock = clock
        self.notices: list[tuple[str, Any]] = []

    def reply(self, op: str, name: str = "global", /, **args: Any) -> dict[str, Any]:
        """Run one op on the object ``name`` of the op's class, as its own cycle; the reply map."""
        result = self.runtime.run_cycle([Request(1, op, {"class": op.split(".")[0], "name": name}, args, None)])
        self.notices += [(topic.decode(), _body(body)) for topic, body in result.notices]
        return as_sent(result.replies[0])

    def ok(self, op: str, name: str = "global", /, **args: Any) -> Any:
        reply = self.reply(op, name, **args)
        assert reply["ok"], reply
        return reply["result"]

    def error(self, op: str, name: str = "global", /, **args: Any) -> tuple[str, str]:
        """``(code, message)`` of an op that must fail."""
        reply = self.reply(op, name, **args)
        assert not reply["ok"], reply
        return reply["error"]["code"], reply["error"]["message"]

    def raw(self, op: str, target: Mapping[str, str], **args: Any) -> Any:
        """A core op (storage.*, alarm.*) on any target."""
        reply = as_sent(self.runtime.run_cycle([Request(1, op, dict(target), args, None)]).replies[0])
        assert reply["ok"], reply
        return reply["result"]

    def keys(self, class_name: str, name: str, prefix: str = "") -> list[str]:
        entries = self.raw("storage.list", {"class": class_name, "name": name}, prefix=prefix)["entries"]
        return [key for key, _ in entries]

    def alarm(self, class_name: str, name: str) -> int | None:
        at_ms: int | None = self.raw("alarm.get", {"class": class_name, "name": name})["at_ms"]
        return at_ms

    def advance(self, ms: int) -> None:
        """Move the clock and fire every alarm due by then, as the server loop would."""
        self.clock.now += ms
        for _ in range(1000):
            result = self.runtime.run_alarms()
            self.notices += [(topic.decode(), _body(body)) for topic, body in result.notices]
            if not result.more_due and not self.runtime.alarm_due_times(-1, self.clock.now, 1):
                return
        raise AssertionError("alarms kept coming due at the same time")

    def spawn(self, name: str, /, **args: Any) -> dict[str, Any]:
        state: dict[str, Any] = self.ok("Agent.init", name, **args)
        return state

    def topics(self, prefix: str) -> list[str]:
        return [topic for topic, _ in self.notices if topic.startswith(prefix)]


def _body(body: Any) -> Any:
    return msgpack.unpackb(body) if isinstance(body, bytes) else body


def make_world(path: Path, options: Mapping[str, Mapping[str, Any]] | None = None,
               resident_limit: int = 10_000) -> Iterator[World]:
    store = Store(path, StoreOptions(map_size=1 << 26))
    store.open()
    clock = Clock(START_MS)
    runtime_options = RuntimeOptions(class_options=dict(options or {}), resident_limit=resident_limit)
    runtime = Runtime(store, IdFactory(SECRET), "test", runtime_options, load_classes(["daemon.world"]), clock)
    yield World(runtime, clock)
    store.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path / "data", {"Agent": {"heartbeat_s": 30}})
