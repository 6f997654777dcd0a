"""Turn rules: a failed call leaves no trace even when caught; alarm handlers are on the call chain;
an abandoned cycle forgets the in-memory forms that saw it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.errors import Conflict
from daemon.ids import IdFactory
from daemon.model import ObjectRef, Request
from daemon.runtime import Runtime
from daemon.runtime.classes import AlarmInfo, ObjectClass, Turn, op
from daemon.storage import Store, StoreOptions
from tests.conftest import SECRET, call, ok


class Vault(ObjectClass):
    name = "Vault"
    made = 0

    def __init__(self, ref: ObjectRef, options: Any) -> None:
        super().__init__(ref, options)
        Vault.made += 1
        self.spent = 0

    @op()
    def spend(self, turn: Turn, args: dict[str, Any]) -> None:
        self.spent += 1
        turn.storage.put("half", "written")
        turn.publish("vault.spent", {"by": self.ref.name})
        turn.call("Vault", "third", "touch")
        raise Conflict("the vault is empty")

    @op()
    def touch(self, turn: Turn, args: dict[str, Any]) -> None:
        turn.storage.put("touched", True)

    @op()
    def try_spend(self, turn: Turn, args: dict[str, Any]) -> str:
        turn.storage.put("before", 1)
        try:
            turn.call("Vault", args["other"], "spend")
        except Conflict:
            turn.storage.put("tried", True)
            return "caught"
        return "spent"

    @op(writes=False)
    def peek(self, turn: Turn, args: dict[str, Any]) -> Any:
        return turn.storage.get("half")[1]

    @op(writes=False)
    def spent_in_memory(self, turn: Turn, args: dict[str, Any]) -> int:
        return self.spent

    def on_alarm(self, turn: Turn, alarm: AlarmInfo) -> None:
        turn.storage.put("half", "from the alarm")
        turn.call("Vault", "other", "call_back", origin=self.ref.name)

    @op()
    def call_back(self, turn: Turn, args: dict[str, Any]) -> Any:
        return turn.call("Vault", args["origin"], "peek")


class Tally(ObjectClass):
    """Counts in memory how often its op ran, and writes a value too big for a small map."""

    name = "Tally"

    def __init__(self, ref: ObjectRef, options: Any) -> None:
        super().__init__(ref, options)
        self.runs = 0

    @op()
    def big(self, turn: Turn, args: dict[str, Any]) -> int:
        self.runs += 1
        turn.storage.put("blob", b"x" * 400_000)
        return self.runs


class Clock:
    now = 1_000_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def vaults(tmp_path: Path) -> Iterator[Runtime]:
    store = Store(tmp_path / "data", StoreOptions(map_size=1 << 16))
    store.open()
    yield Runtime(store, IdFactory(SECRET), "test", classes={"Vault": Vault, "Tally": Tally}, clock=Clock())
    store.close()


def vault(name: str) -> dict[str, str]:
    return {"class": "Vault", "name": name}


def test_a_caller_that_catches_a_failed_call_keeps_none_of_the_calls_writes(vaults: Runtime) -> None:
    ok(call(vaults, "Vault.peek", {}, vault("other")))
    made = Vault.made
    result = vaults.run_cycle([Request(1, "Vault.try_spend", vault("me"), {"other": "other"}, None)])
    assert result.replies[0]["result"] == "caught" and result.notices == []
    assert ok(call(vaults, "storage.list", {}, vault("me")))["entries"] == [["before", 1], ["tried", True]]
    assert ok(call(vaults, "storage.list", {}, vault("other")))["entries"] == []
    assert ok(call(vaults, "storage.list", {}, vault("third")))["entries"] == []
    assert ok(call(vaults, "Vault.spent_in_memory", {}, vault("other"))) == 0  # its in-memory form was dropped
    assert Vault.made > made


def test_an_alarm_handler_is_on_the_call_chain(vaults: Runtime) -> None:
    ok(call(vaults, "alarm.set", {"at_ms": 1_000_000}, vault("a")))
    vaults.run_alarms()
    assert vaults.counters["alarms.retried"] == 1 and vaults.counters.get("alarms.fired", 0) == 0
    assert ok(call(vaults, "Vault.peek", {}, vault("a"))) is None


def test_an_abandoned_cycle_forgets_the_in_memory_forms_it_touched(vaults: Runtime) -> None:
    assert ok(call(vaults, "Tally.big", {}, {"class": "Tally", "name": "t"})) == 1  # after the map grew
    assert vaults.store.stats()["map_size"] > 1 << 16
