"""Every row of DESIGN.md's storage table, through the op layer, on real LMDB."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.model import Limits, ObjectRef, PlainArgs, Request
from daemon.runtime import Runtime
from daemon.runtime.object_storage import ObjectStorage
from daemon.server.envelope import parse
from schemas.wire import request
from tests.conftest import as_sent, call, error_code, ok

AGENT = {"class": "Agent", "name": "steve-42"}


def op(runtime: Runtime, name: str, **args: Any) -> dict[str, Any]:
    return call(runtime, name, args, AGENT)


def entries(runtime: Runtime, **options: Any) -> list[str]:
    return [key for key, _ in ok(op(runtime, "storage.list", **options))["entries"]]


def test_get_of_a_missing_key_is_absent_not_an_error(runtime: Runtime) -> None:
    assert ok(op(runtime, "storage.get", key="hp")) == {"found": False}


def test_put_then_get_returns_the_value(runtime: Runtime) -> None:
    state = {"health": 20, "position": {"x": 1.5, "y": 64, "z": -3}, "tags": ["a", None, True]}
    assert ok(op(runtime, "storage.put", key="state", value=state)) == {}
    assert ok(op(runtime, "storage.get", key="state")) == {"found": True, "value": state}


def test_multi_get_returns_found_keys_only_sorted_by_bytes(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", entries={"b": 2, "a": 1, "é": 3, "Z": 0}))
    values = ok(op(runtime, "storage.get", keys=["é", "missing", "b", "a", "Z"]))["values"]
    assert list(values.items()) == [("Z", 0), ("a", 1), ("b", 2), ("é", 3)]


def test_batches_over_128_keys_are_refused_and_write_nothing(runtime: Runtime) -> None:
    too_many = {f"k{i:03}": i for i in range(129)}
    reply = op(runtime, "storage.put", entries=too_many)
    assert error_code(reply) == "TOO_LARGE" and "128" in reply["error"]["message"]
    assert entries(runtime) == []
    assert error_code(op(runtime, "storage.get", keys=list(too_many))) == "TOO_LARGE"
    assert error_code(op(runtime, "storage.delete", keys=list(too_many))) == "TOO_LARGE"
    ok(op(runtime, "storage.put", entries=dict(list(too_many.items())[:128])))
    assert len(entries(runtime)) == 128


def test_one_bad_pair_fails_the_whole_put(runtime: Runtime) -> None:
    reply = op(runtime, "storage.put", entries={"good": 1, "bad": "x" * (2 * 1024 * 1024)})
    assert error_code(reply) == "TOO_LARGE"
    assert "'bad'" in reply["error"]["message"] and str(2 * 1024 * 1024) in reply["error"]["message"]
    assert ok(op(runtime, "storage.get", key="good")) == {"found": False}


def test_key_limit_is_2048_bytes_and_named_in_the_error(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", key="k" * 2048, value=1))
    reply = op(runtime, "storage.put", key="k" * 2049, value=1)
    assert error_code(reply) == "TOO_LARGE" and "2048" in reply["error"]["message"]
    assert ok(op(runtime, "storage.get", key="k" * 2048)) == {"found": True, "value": 1}


def test_entry_limit_counts_key_plus_encoded_value(runtime: Runtime) -> None:
    limit = 2 * 1024 * 1024
    # a msgpack str of n >= 65536 bytes is a 5-byte header plus n bytes
    fits = "v" * (limit - 1 - 5)
    ok(op(runtime, "storage.put", key="k", value=fits))
    assert error_code(op(runtime, "storage.put", key="k", value=fits + "v")) == "TOO_LARGE"
    assert ok(op(runtime, "storage.get", key="k"))["value"] == fits


def test_single_delete_reports_existence(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", key="a", value=1))
    assert ok(op(runtime, "storage.delete", key="a")) == {"deleted": True}
    assert ok(op(runtime, "storage.delete", key="a")) == {"deleted": False}


def test_multi_delete_counts_keys_that_existed(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", entries={"a": 1, "b": 2, "c": 3}))
    assert ok(op(runtime, "storage.delete", keys=["a", "b", "zz", "a"])) == {"deleted": 2}
    assert entries(runtime) == ["c"]


def test_list_is_in_utf8_byte_order_not_code_point_or_locale(runtime: Runtime) -> None:
    keys = ["b", "a", "B", "\u00e9", "\uffff", "\U0001f600", "a\x00", ""]
    ok(op(runtime, "storage.put", entries={key: i for i, key in enumerate(keys)}))
    assert entries(runtime) == sorted(keys, key=lambda key: key.encode())


def test_list_bounds_start_inclusive_end_exclusive(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", entries={k: 0 for k in "abcdef"}))
    assert entries(runtime, start="b", end="e") == ["b", "c", "d"]
    assert entries(runtime, start_after="b", end="e") == ["c", "d"]
    assert entries(runtime, start="b", end="e", reverse=True) == ["d", "c", "b"]
    assert entries(runtime, reverse=True, limit=2) == ["f", "e"]
    assert entries(runtime, limit=2) == ["a", "b"]


def test_list_end_at_or_before_start_is_empty_not_an_error(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", entries={k: 0 for k in "abc"}))
    assert entries(runtime, start="c", end="a") == []
    assert entries(runtime, start="b", end="b") == []


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"start": "a", "start_after": "b"}, "not both"),
        ({"limit": 0}, "positive"),
        ({"limit": -1}, "positive"),
        ({"limit": "3"}, "positive"),
        ({"reverse": "yes"}, "true or false"),
        ({"prefx": "a"}, "does not take prefx"),
        ({"start": 7}, "must be a string"),
    ],
)
def test_list_option_errors(runtime: Runtime, options: dict[str, Any], words: str) -> None:
    reply = op(runtime, "storage.list", **options)
    assert error_code(reply) == "BAD_REQUEST" and words in reply["error"]["message"]


def test_list_prefix_clamps_the_range(runtime: Runtime) -> None:
    keys = ["task:1", "task:2", "task:3", "taskz", "tas", "inv:1"]
    ok(op(runtime, "storage.put", entries={k: 0 for k in keys}))
    assert entries(runtime, prefix="task:") == ["task:1", "task:2", "task:3"]
    assert entries(runtime, prefix="task:", start="task:2") == ["task:2", "task:3"]
    assert entries(runtime, prefix="task:", start="a") == ["task:1", "task:2", "task:3"]
    assert entries(runtime, prefix="task:", end="task:3", reverse=True) == ["task:2", "task:1"]
    assert entries(runtime, prefix="zzz") == []


def test_delete_all_removes_every_key(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", entries={f"k{i}": i for i in range(50)}))
    assert ok(op(runtime, "storage.delete_all")) == {}
    assert entries(runtime) == []
    ok(op(runtime, "storage.put", key="after", value=1))
    assert entries(runtime) == ["after"]


def test_objects_are_isolated_from_each_other(runtime: Runtime) -> None:
    ok(call(runtime, "storage.put", {"key": "hp", "value": 1}, {"class": "Agent", "name": "a"}))
    ok(call(runtime, "storage.put", {"key": "hp", "value": 2}, {"class": "Agent", "name": "b"}))
    ok(call(runtime, "storage.put", {"key": "hp", "value": 3}, {"class": "Horse", "name": "a"}))
    got = [ok(call(runtime, "storage.get", {"key": "hp"}, {"class": c, "name": n}))["value"]
           for c, n in (("Agent", "a"), ("Agent", "b"), ("Horse", "a"))]
    assert got == [1, 2, 3]


def test_transaction_applies_all_when_checks_hold(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", entries={"hp": 20, "gold": 5}))
    ok(op(runtime, "storage.transaction",
          checks=[{"key": "hp", "value": 20}, {"key": "dead", "absent": True}],
          ops=[{"op": "put", "key": "hp", "value": 19}, {"op": "delete", "key": "gold"}]))
    assert dict(ok(op(runtime, "storage.list"))["entries"]) == {"hp": 19}


def test_transaction_failed_check_is_conflict_and_writes_nothing(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", key="hp", value=20))
    reply = op(runtime, "storage.transaction",
               checks=[{"key": "hp", "value": 20}, {"key": "hp", "value": 19}],
               ops=[{"op": "put", "key": "hp", "value": 0}, {"op": "put", "key": "x", "value": 1}])
    assert error_code(reply) == "CONFLICT" and "check 1" in reply["error"]["message"]
    assert dict(ok(op(runtime, "storage.list"))["entries"]) == {"hp": 20}


def test_transaction_checks_tell_int_float_and_bool_apart(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", entries={"n": 1, "m": {"a": 1, "b": [1, 2]}}))
    for wrong in (1.0, True, "1"):
        reply = op(runtime, "storage.transaction", checks=[{"key": "n", "value": wrong}], ops=[])
        assert error_code(reply) == "CONFLICT"
    ok(op(runtime, "storage.transaction", checks=[{"key": "m", "value": {"b": [1, 2], "a": 1}}],
          ops=[{"op": "put", "key": "n", "value": 2}]))


def test_transaction_with_a_bad_op_writes_nothing(runtime: Runtime) -> None:
    reply = op(runtime, "storage.transaction", checks=[],
               ops=[{"op": "put", "key": "a", "value": 1}, {"op": "explode", "key": "b"}])
    assert error_code(reply) == "BAD_REQUEST" and "op 1" in reply["error"]["message"]
    assert entries(runtime) == []


def test_a_failed_turn_leaves_no_trace_while_others_in_the_cycle_commit(runtime: Runtime) -> None:
    requests = [
        Request(1, "storage.put", AGENT, {"key": "a", "value": 1}, None),
        Request(2, "storage.put", AGENT, {"entries": {"b": 1, "c": "x" * (3 << 20)}}, None),
        Request(3, "storage.put", AGENT, {"key": "d", "value": 1}, None),
    ]
    replies = runtime.run_cycle(requests).replies
    assert [reply["ok"] for reply in replies] == [True, False, True]
    assert entries(runtime) == ["a", "d"]


def test_later_turns_in_a_cycle_see_earlier_turns_writes(runtime: Runtime) -> None:
    requests = [
        Request(1, "storage.put", AGENT, {"key": "a", "value": 1}, None),
        Request(2, "storage.get", AGENT, {"key": "a"}, None),
        Request(3, "storage.transaction", AGENT,
                {"checks": [{"key": "a", "value": 1}], "ops": [{"op": "delete", "key": "a"}]}, None),
        Request(4, "storage.list", AGENT, {}, None),
    ]
    replies = runtime.run_cycle(requests).replies
    assert [as_sent(reply)["result"] for reply in replies] == [{}, {"found": True, "value": 1}, {}, {"entries": []}]


def test_idempotency_key_replays_the_first_result(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", key="a", value=1))
    first = call(runtime, "storage.delete", {"key": "a"}, AGENT, idem="retry-1")
    again = call(runtime, "storage.delete", {"key": "a"}, AGENT, idem="retry-1")
    fresh = call(runtime, "storage.delete", {"key": "a"}, AGENT, idem="retry-2")
    assert ok(first) == {"deleted": True} and ok(again) == {"deleted": True}
    assert ok(fresh) == {"deleted": False}
    assert runtime.counters["idempotent_replays"] == 1


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (Request(1, "storage.get", None, {"key": "a"}, None), "BAD_REQUEST"),
        (Request(1, "storage.get", {"class": "Agent"}, {"key": "a"}, None), "BAD_REQUEST"),
        (Request(1, "storage.get", {"class": "9bad", "name": "x"}, {"key": "a"}, None), "BAD_REQUEST"),
        (Request(1, "storage.get", {"class": "Agent", "id": "zz"}, {"key": "a"}, None), "INVALID_ID"),
        (Request(1, "storage.get", AGENT, {}, None), "BAD_REQUEST"),
        (Request(1, "storage.get", AGENT, {"key": "a", "keys": ["a"]}, None), "BAD_REQUEST"),
        (Request(1, "storage.put", AGENT, {"key": 5, "value": 1}, None), "BAD_REQUEST"),
        (Request(1, "storage.put", AGENT, {"key": "a"}, None), "BAD_REQUEST"),
        (Request(1, "storage.fly", AGENT, {}, None), "UNKNOWN_OP"),
    ],
)
def test_wrong_shapes_get_precise_errors(runtime: Runtime, request_: Request, code: str) -> None:
    assert error_code(runtime.run_cycle([request_]).replies[0]) == code


def test_a_target_by_id_reaches_the_same_object_as_by_name(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", key="a", value=1))
    object_id = ok(call(runtime, "id.from_name", {"class": "Agent", "name": "steve-42"}))["id"]
    by_id = call(runtime, "storage.get", {"key": "a"}, {"class": "Agent", "id": object_id})
    assert ok(by_id) == {"found": True, "value": 1}
    listed = ok(call(runtime, "objects.list", {"class": "Agent"}))["objects"]
    assert listed == [{"id": object_id, "name": "steve-42"}]


def test_only_reads_of_committed_data_are_answered_before_the_commit(runtime: Runtime) -> None:
    ok(op(runtime, "storage.put", key="a", value=1))
    cycle = runtime.cycle([
        Request(1, "storage.get", AGENT, {"key": "a"}, None),
        Request(2, "storage.list", AGENT, {}, None),
        Request(3, "storage.put", AGENT, {"key": "a", "value": 2}, None),
        Request(4, "storage.get", AGENT, {"key": "a"}, None),
    ])
    early = cycle.run_turns()
    result = cycle.commit()
    assert early == [0, 1] and result.sent_early == {0, 1}
    assert as_sent(result.replies[3])["result"] == {"found": True, "value": 2}


_PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@given(_PLAIN)
def test_a_plain_value_is_stored_as_the_bytes_msgpack_makes(value: Any) -> None:
    """put_plain encodes with msgspec: the same bytes as put."""
    view, plain = (ObjectStorage(_NO_READS, ObjectRef("Chest", "ab" * 32, "c")) for _ in range(2))
    view.put("k", value)
    plain.put_plain("k", value)
    assert plain.changes.entries[b"k"].packed == view.changes.entries[b"k"].packed


def test_a_put_over_the_wire_decoded_the_slow_way_keeps_its_extension_types(runtime: Runtime) -> None:
    """A value with an extension type comes by the check-by-check path, and msgpack encodes it."""
    body = msgpack.packb(request(1, "storage.put", AGENT, {"key": "e", "value": [msgpack.ExtType(5, b"ab")]}))
    parsed = parse(body, 1 << 20)
    assert isinstance(parsed, Request) and type(parsed.args) is not PlainArgs
    ok(as_sent(runtime.run_cycle([parsed]).replies[0]))
    assert ok(op(runtime, "storage.get", key="e")) == {"found": True, "value": [msgpack.ExtType(5, b"ab")]}


_NO_READS: Any = type("NoReads", (), {"limits": Limits()})()
