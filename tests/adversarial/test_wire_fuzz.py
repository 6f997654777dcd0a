"""Fuzzing the wire of a real daemon: whatever a client sends, a well-formed answer (or the documented
silence), and the daemon stays up with its data intact (the session fixture checks a canary at the end).

Each test draws frames of one kind: random bytes, random msgpack values, request maps with every
envelope field of any type, every op with arguments of every shape, nesting around the depth limit,
integers at msgpack's edges, oversize keys and values, and arrays of requests (batches, which a
daemon without batch frames refuses like any non-map).
"""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.server.depth import MAX_DEPTH
from tests.adversarial.conftest import DERANDOMIZE, EXAMPLES, Wire, check_reply, names_avoiding_canary

FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=DERANDOMIZE, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])

EDGE_INTS = st.sampled_from([0, 1, -1, 2**31, 2**32, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, -(2**63),
                             -(2**31), 10**13, -(10**13)])
INTS = st.one_of(EDGE_INTS, st.integers(min_value=-(2**63), max_value=2**64 - 1))
SCALARS = st.one_of(
    st.none(), st.booleans(), INTS, st.floats(), st.text(max_size=40), st.binary(max_size=40),
    st.sampled_from(["", "steve", "global", "m1", "o1", "t1", "mine", "idle", "pending", "completed", "Chest",
                     "\x00", "a" * 600, "é" * 300]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
PLAUSIBLE = st.one_of(
    VALUES,
    st.fixed_dictionaries({"x": st.floats(), "y": st.floats(), "z": st.floats()}),
    st.lists(st.fixed_dictionaries({"type": st.sampled_from(["oak_log", "", "x" * 200]), "count": INTS}),
             max_size=3),
    st.lists(st.fixed_dictionaries({"op": st.sampled_from(["put", "delete", "x"]), "key": st.text(max_size=8),
                                    "value": VALUES}), max_size=3),
)
NAMES = st.one_of(st.sampled_from(["steve", "alex", "global", "probe"]), st.text(max_size=20)).filter(
    names_avoiding_canary)
CLASS_NAMES = st.one_of(st.sampled_from(["Chest", "Agent", "Foreman", "MissionControl", "Telemetry", "Canary"]),
                        st.text(max_size=10))


def packed(message: Any) -> bytes:
    return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]


def answered(wire: Wire, body: bytes) -> Any:
    reply = wire.exchange([body])
    if isinstance(reply, list):  # a batch frame's replies, where the daemon takes batches
        for item in reply:
            check_reply(item)
    else:
        check_reply(reply)
    assert wire.alive()
    return reply


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(wire: Wire, body: bytes) -> None:
    answered(wire, body)


@FUZZ
@given(VALUES)
def test_random_msgpack_values(wire: Wire, value: Any) -> None:
    answered(wire, packed(value))


ENVELOPE_FIELDS = st.fixed_dictionaries({}, optional={
    "v": st.one_of(st.just(1), VALUES), "id": st.one_of(INTS, st.text(max_size=300), VALUES),
    "op": st.one_of(st.sampled_from(["ping", "storage.get", "Agent.state", "stats"]), VALUES),
    "target": st.one_of(st.fixed_dictionaries({"class": CLASS_NAMES, "name": NAMES}), VALUES),
    "args": st.one_of(st.dictionaries(st.text(max_size=8), VALUES, max_size=3), VALUES),
    "idem": st.one_of(st.text(max_size=300), VALUES), "readonly": st.one_of(st.booleans(), VALUES),
    "extra": VALUES,
})


@FUZZ
@given(ENVELOPE_FIELDS)
def test_every_envelope_field_of_any_type(wire: Wire, message: dict[str, Any]) -> None:
    if message.get("target") == {"class": "Canary", "name": "canary"}:
        return
    answered(wire, packed(message))


@st.composite
def op_requests(draw: st.DrawFn, wire: Wire) -> dict[str, Any]:
    op = draw(st.sampled_from(sorted(wire.ops)))
    class_name, takes = wire.ops[op]
    names = draw(st.lists(st.sampled_from(takes), unique=True)) if takes else []
    if draw(st.booleans()):
        names.append(draw(st.text(max_size=8)))
    args = {name: draw(PLAUSIBLE) for name in names}
    message: dict[str, Any] = {"v": 1, "id": draw(INTS), "op": op, "args": args}
    if class_name is not None:
        target_class = class_name or draw(CLASS_NAMES.filter(lambda name: name != "Canary"))
        message["target"] = {"class": target_class, "name": draw(NAMES)}
    if draw(st.booleans()):
        message["idem"] = draw(st.text(min_size=1, max_size=16))
    if draw(st.booleans()):
        message["readonly"] = draw(st.booleans())
    return message


@FUZZ
@given(st.data())
def test_every_op_with_arguments_of_every_shape(wire: Wire, data: st.DataObject) -> None:
    answered(wire, packed(data.draw(op_requests(wire))))


@FUZZ
@given(st.one_of(st.integers(MAX_DEPTH - 5, MAX_DEPTH + 2), st.integers(1015, 1025), st.integers(MAX_DEPTH, 1100)),
       st.sampled_from([b"\x91", b"\x81\xa1k"]),
       st.sampled_from(["storage.put", "Agent.task.assign", "Telemetry.log", "ping"]))
def test_nesting_around_and_past_the_limit(wire: Wire, levels: int, wrapper: bytes, op: str) -> None:
    value = wrapper * levels + b"\x90"
    target = {"storage.put": {"class": "Chest", "name": "deep"}, "Agent.task.assign": {"class": "Agent",
                                                                                       "name": "steve"},
              "Telemetry.log": {"class": "Telemetry", "name": "global"}, "ping": None}[op]
    arg = {"storage.put": "value", "Agent.task.assign": "target", "Telemetry.log": "data", "ping": "x"}[op]
    others = {"storage.put": {"key": "k"}, "Agent.task.assign": {"type": "mine"},
              "Telemetry.log": {"agent": "steve", "type": "deep"}, "ping": {}}[op]
    args = b"".join([bytes([0x80 | (len(others) + 1)]), *(packed(k) + packed(v) for k, v in others.items()),
                     packed(arg), value])
    head = {"v": 1, "id": 7, "op": op, **({"target": target} if target else {})}
    body = bytes([0x80 | (len(head) + 1)]) + b"".join(packed(k) + packed(v) for k, v in head.items())
    reply = answered(wire, body + packed("args") + args)
    if levels + 3 > MAX_DEPTH:  # the value's levels, the innermost array, args and the request map
        assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST", reply
    # What was stored reads back: every read of it can be encoded.
    for read, read_target, read_args in (("storage.list", {"class": "Chest", "name": "deep"}, {}),
                                         ("Agent.task.list", {"class": "Agent", "name": "steve"}, {}),
                                         ("Telemetry.latest", {"class": "Telemetry", "name": "global"},
                                          {"agent": "steve"})):
        answered(wire, packed({"v": 1, "id": 8, "op": read, "target": read_target, "args": read_args}))


@FUZZ
@given(st.sampled_from(["key", "value", "name", "keys", "entries"]), st.integers(min_value=2000, max_value=2200),
       st.sampled_from([1, 2**20, 2**21 + 10]))
def test_oversize_keys_names_and_values(wire: Wire, which: str, key_bytes: int, value_bytes: int) -> None:
    key, value = "k" * key_bytes, "v" * value_bytes
    target = {"class": "Chest", "name": "n" * key_bytes if which == "name" else "big"}
    args: dict[str, Any] = {"key": key if which == "key" else "k", "value": value}
    if which == "keys":
        args = {"keys": [str(i) for i in range(130)]}
    if which == "entries":
        args = {"entries": {str(i): value for i in range(3)}}
    op = "storage.get" if which == "keys" else "storage.put"
    answered(wire, packed({"v": 1, "id": 5, "op": op, "target": target, "args": args}))


@FUZZ
@given(st.lists(st.one_of(st.builds(lambda n: {"v": 1, "id": n, "op": "ping"}, INTS), VALUES), max_size=6))
def test_arrays_of_requests(wire: Wire, batch: list[Any]) -> None:
    answered(wire, packed(batch))


@FUZZ
@given(st.lists(st.binary(max_size=20), max_size=4))
def test_broken_envelopes_are_dropped_without_a_reply(wire: Wire, frames: list[bytes]) -> None:
    if not frames or (len(frames) >= 2 and frames[-2] == b""):
        return  # a well-formed envelope: not this test's case
    assert wire.silent(frames, wait_ms=20)
    assert wire.alive()
