"""Class ops: typed wire ops, calls between objects in one atomic turn, notices, in-memory forms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from daemon.errors import Conflict
from daemon.ids import IdFactory
from daemon.model import ObjectRef
from daemon.runtime import Runtime, RuntimeOptions
from daemon.runtime.classes import ObjectClass, Turn, op
from daemon.storage import Store, StoreOptions
from tests.conftest import SECRET, call, error_code, ok


class Wallet(ObjectClass):
    name = "Wallet"
    made = 0

    def __init__(self, ref: ObjectRef, options: Any) -> None:
        super().__init__(ref, options)
        Wallet.made += 1
        self.cached_reads = 0

    def _balance(self, turn: Turn) -> int:
        _, balance = turn.storage.get("balance")
        return int(balance or 0)

    @op()
    def deposit(self, turn: Turn, args: dict[str, Any]) -> int:
        balance = self._balance(turn) + int(args["amount"])
        turn.storage.put("balance", balance)
        turn.publish(f"wallet.{self.ref.name}", {"balance": balance})
        return balance

    @op()
    def withdraw(self, turn: Turn, args: dict[str, Any]) -> int:
        balance = self._balance(turn) - int(args["amount"])
        turn.storage.put("balance", balance)
        if balance < 0:
            raise Conflict(f"{self.ref.name} has only {balance + int(args['amount'])}")
        return balance

    @op(writes=False)
    def balance(self, turn: Turn, args: dict[str, Any]) -> int:
        self.cached_reads += 1
        return self._balance(turn)

    @op()
    def pay(self, turn: Turn, args: dict[str, Any]) -> int:
        """Deposit into the payee first, then withdraw here: a failed withdraw must undo the deposit."""
        turn.call("Wallet", args["to"], "deposit", amount=args["amount"])
        return int(self.withdraw(turn, {"amount": args["amount"]}))

    @op()
    def echo_back(self, turn: Turn, args: dict[str, Any]) -> Any:
        return turn.call("Wallet", args["via"], "call_back", origin=self.ref.name)

    @op()
    def call_back(self, turn: Turn, args: dict[str, Any]) -> Any:
        return turn.call("Wallet", args["origin"], "balance")


@pytest.fixture
def wallets(tmp_path: Path) -> Iterator[Runtime]:
    store = Store(tmp_path / "data", StoreOptions(map_size=1 << 24))
    store.open()
    yield Runtime(store, IdFactory(SECRET), "test", RuntimeOptions(resident_limit=2), {"Wallet": Wallet})
    store.close()


def wallet(name: str) -> dict[str, str]:
    return {"class": "Wallet", "name": name}


def balance(runtime: Runtime, name: str) -> Any:
    return ok(call(runtime, "Wallet.balance", {}, wallet(name)))


def test_class_ops_run_as_turns(wallets: Runtime) -> None:
    assert ok(call(wallets, "Wallet.deposit", {"amount": 5}, wallet("ann"))) == 5
    assert ok(call(wallets, "Wallet.deposit", {"amount": 2}, wallet("ann"))) == 7
    assert balance(wallets, "ann") == 7


def test_a_failing_op_leaves_no_trace(wallets: Runtime) -> None:
    ok(call(wallets, "Wallet.deposit", {"amount": 3}, wallet("ann")))
    assert error_code(call(wallets, "Wallet.withdraw", {"amount": 5}, wallet("ann"))) == "CONFLICT"
    assert balance(wallets, "ann") == 3


def test_a_call_between_objects_is_atomic(wallets: Runtime) -> None:
    ok(call(wallets, "Wallet.deposit", {"amount": 10}, wallet("ann")))
    assert ok(call(wallets, "Wallet.pay", {"to": "bob", "amount": 4}, wallet("ann"))) == 6
    assert (balance(wallets, "ann"), balance(wallets, "bob")) == (6, 4)
    reply = call(wallets, "Wallet.pay", {"to": "bob", "amount": 50}, wallet("ann"))
    assert error_code(reply) == "CONFLICT"
    assert (balance(wallets, "ann"), balance(wallets, "bob")) == (6, 4)


def test_re_entrant_calls_are_refused(wallets: Runtime) -> None:
    reply = call(wallets, "Wallet.echo_back", {"via": "bob"}, wallet("ann"))
    assert error_code(reply) == "BAD_REQUEST" and "re-entrant" in reply["error"]["message"]


def test_notices_are_published_only_for_turns_that_commit(wallets: Runtime) -> None:
    from daemon.model import Request

    result = wallets.run_cycle([
        Request(1, "Wallet.deposit", wallet("ann"), {"amount": 1}, None),
        Request(2, "Wallet.pay", wallet("ann"), {"to": "bob", "amount": 99}, None),
    ])
    assert [topic for topic, _ in result.notices] == [b"wallet.ann"]
    assert result.notices[0][1] == {"balance": 1}


def test_a_turn_keeps_only_the_notices_someone_would_be_sent(wallets: Runtime) -> None:
    """The server says which topics have a subscriber; the others are dropped as the turn publishes them."""
    from daemon.model import Request

    asked: list[bytes] = []

    def wanted(topic: bytes) -> bool:
        asked.append(topic)
        return topic.startswith(b"wallet.bo")

    wallets.notice_wanted = wanted
    result = wallets.run_cycle([Request(1, "Wallet.deposit", wallet("ann"), {"amount": 1}, None),
                                Request(2, "Wallet.deposit", wallet("bob"), {"amount": 2}, None)])
    assert asked == [b"wallet.ann", b"wallet.bob"]
    assert result.notices == [(b"wallet.bob", {"balance": 2})]
    wallets.notice_wanted = None  # no server: every notice is kept
    result = wallets.run_cycle([Request(3, "Wallet.deposit", wallet("ann"), {"amount": 1}, None)])
    assert result.notices == [(b"wallet.ann", {"balance": 2})]


@pytest.mark.parametrize(
    ("op_name", "target", "code"),
    [
        ("Wallet.steal", wallet("ann"), "UNKNOWN_OP"),
        ("Horse.deposit", {"class": "Horse", "name": "h"}, "UNKNOWN_OP"),
        ("Wallet.deposit", {"class": "Horse", "name": "h"}, "BAD_REQUEST"),
    ],
)
def test_op_errors(wallets: Runtime, op_name: str, target: dict[str, str], code: str) -> None:
    assert error_code(call(wallets, op_name, {"amount": 1}, target)) == code


def test_class_ops_take_idempotency_keys(wallets: Runtime) -> None:
    first = call(wallets, "Wallet.deposit", {"amount": 5}, wallet("ann"), idem="d-1")
    again = call(wallets, "Wallet.deposit", {"amount": 5}, wallet("ann"), idem="d-1")
    assert ok(first) == ok(again) == 5 and balance(wallets, "ann") == 5


def test_in_memory_forms_are_kept_bounded_and_dropped_when_storage_changes(wallets: Runtime) -> None:
    Wallet.made = 0
    for name in ("a", "b", "a", "b"):
        balance(wallets, name)
    assert Wallet.made == 2
    balance(wallets, "c")  # the limit is 2: "a" is evicted
    balance(wallets, "a")
    assert Wallet.made == 4
    ok(call(wallets, "storage.put", {"key": "balance", "value": 100}, wallet("a")))
    assert balance(wallets, "a") == 100 and Wallet.made == 5
    assert wallets.stats()["objects_evicted"] >= 2
