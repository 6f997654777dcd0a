"""Batch frames: reading their slots, and the reply array within the frame limit."""

from __future__ import annotations

from typing import Any, cast

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.model import Request
from daemon.runtime import Runtime
from daemon.server.batches import Inbox, encode_batch, is_batch, read_batch
from daemon.server.envelope import parse
from daemon.server.typed_envelope import typed_batch
from schemas.wire import Encoded, decode, error_reply, ok_reply, request
from tests.conftest import call, error_code, ok
from tests.daemon.test_envelope import _ENVELOPES, _pack

LIMIT = 1 << 20


def test_only_arrays_are_batches() -> None:
    assert is_batch(msgpack.packb([]))
    assert is_batch(msgpack.packb(list(range(20))))
    assert is_batch(msgpack.packb(list(range(70000))))
    assert not is_batch(msgpack.packb({"v": 1}))
    assert not is_batch(b"")
    assert not is_batch(b"\xc1")


def test_each_element_is_parsed_on_its_own() -> None:
    body = msgpack.packb([request(1, "ping"), "nope", {"v": 1, "op": "ping"}, request("x", "storage.get")])
    slots = read_batch(body, LIMIT, 8)
    assert isinstance(slots, list)
    assert slots[0] == Request(1, "ping", None, {}, None)
    assert isinstance(slots[1], dict) and slots[1]["id"] is None and "got str" in slots[1]["error"]["message"]
    assert isinstance(slots[2], dict) and "needs an id" in slots[2]["error"]["message"]
    assert slots[3] == Request("x", "storage.get", None, {}, None)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(st.lists(_ENVELOPES, min_size=1, max_size=4), st.booleans())
def test_a_frame_read_in_one_call_gives_what_its_elements_give_one_by_one(
        elements: list[list[tuple[Any, Any]]], usual_first: bool) -> None:
    """The usual frame is decoded in one call; every frame answers as each element parsed alone would."""
    packer = msgpack.Packer(use_bin_type=True)
    packed = [packer.pack_map_header(len(pairs)) + b"".join(_pack(k, packer) + _pack(v, packer) for k, v in pairs)
              for pairs in elements]
    if usual_first:  # a frame of usual requests only, as clients send them, takes the one-call path
        packed = [msgpack.packb(request(i, "storage.put", {"class": "C", "name": "n"}, {"key": "k", "value": [i]}))
                  for i in range(len(packed))]
    body = packer.pack_array_header(len(packed)) + b"".join(packed)
    if usual_first:
        assert typed_batch(body) is not None
    slots = read_batch(body, LIMIT, 8)
    alone = [parse(element, LIMIT, fast=False) for element in packed]
    assert isinstance(slots, list)
    if usual_first:  # each put's value comes as the bytes the put stores (see the test below)
        assert all(type(slot) is Request and type(slot.args["value"]) is Encoded for slot in slots)
    slots = [_value_decoded(slot) for slot in slots]
    assert [type(slot) for slot in slots] == [type(slot) for slot in alone]
    # Compared as msgpack, where a NaN argument equals itself.
    assert msgpack.packb(slots, use_bin_type=True) == msgpack.packb(alone, use_bin_type=True)


def _value_decoded(slot: Any) -> Any:
    value = slot.args.get("value") if type(slot) is Request else None
    if type(value) is not Encoded:
        return slot
    return slot._replace(args={**slot.args, "value": msgpack.unpackb(value.data)})


VALUES = [{"position": {"x": 1.5, "y": -64, "z": 0.1}, "inventory": [{"type": "oak_log", "count": 12}]},
          [1, [2, [3, [4, None]]]], "é✓", 2**64 - 1, -(2**63), 0.1, True, None, {}, [], "x" * 70_000]


def test_a_put_in_a_batch_stores_and_publishes_what_it_would_alone(runtime: Runtime) -> None:
    """A batch's put carries its value encoded: the stored bytes and the change event are the same."""
    def run(name: str, value: Any, batch: bool) -> tuple[Any, bytes | None]:
        put = request(1, "storage.put", {"class": "Chest", "name": name}, {"key": "k", "value": value})
        slots = read_batch(msgpack.packb([put]), LIMIT, 8) if batch else [parse(msgpack.packb(put), LIMIT)]
        assert isinstance(slots, list) and type(slots[0]) is Request
        assert (type(slots[0].args["value"]) is Encoded) == batch
        result = runtime.run_cycle(cast(list[Request], slots))
        assert result.replies[0]["ok"], result.replies[0]
        read = ok(call(runtime, "storage.get", {"key": "k"}, {"class": "Chest", "name": name}))
        return read, result.events[0].changes[0].packed

    for index, value in enumerate(VALUES):
        assert run(f"batch-{index}", value, True) == run(f"alone-{index}", value, False), value


def test_a_put_in_a_batch_over_the_limit_is_refused_and_writes_nothing(runtime: Runtime) -> None:
    target = {"class": "Chest", "name": "big"}
    put = request(1, "storage.put", target, {"key": "k", "value": "x" * (2 << 20)})
    slots = read_batch(msgpack.packb([put]), 4 << 20, 8)
    assert isinstance(slots, list)
    reply = runtime.run_cycle(cast(list[Request], slots)).replies[0]
    assert error_code(reply) == "TOO_LARGE" and "nothing was written" in reply["error"]["message"]
    assert ok(call(runtime, "storage.get", {"key": "k"}, target)) == {"found": False}


@pytest.mark.parametrize("odd", [{"v": 2}, {"op": ""}, {"id": "x" * 257}, {"idem": ""}, {"idem": "k" * 257}])
def test_one_odd_request_among_usual_ones_gets_its_own_answer(odd: dict[str, Any]) -> None:
    """An element the typed envelope decodes but the checks refuse sends the frame element by element."""
    elements = [request(i, "storage.put", {"class": "C", "name": "n"}, {"key": "k", "value": i}) for i in range(3)]
    elements[1] = {**elements[1], **odd}
    body = msgpack.packb(elements)
    slots = read_batch(body, LIMIT, 8)
    assert isinstance(slots, list)
    assert slots == [parse(msgpack.packb(element), LIMIT, fast=False) for element in elements]
    assert type(slots[1]) is dict and type(slots[0]) is Request


def test_a_frame_over_the_limit_is_refused_before_it_is_decoded() -> None:
    body = msgpack.packb([request(1, "ping")] * 10)
    refused = read_batch(body, len(body) - 1, 1024)
    assert isinstance(refused, dict) and refused["error"]["code"] == "TOO_LARGE"
    assert "was not decoded" in refused["error"]["message"]


def test_the_inbox_sends_a_batch_only_when_all_its_replies_may_go() -> None:
    inbox = Inbox(LIMIT)
    inbox.add([b"a"], Request(1, "ping", None, {}, None))
    inbox.add([b"b"], [Request(2, "ping", None, {}, None), error_reply(None, "BAD_REQUEST", "no"),
                       Request(3, "ping", None, {}, None)])
    replies = [ok_reply(i, i) for i in (1, 2, 3)]
    early = list(inbox.ready({0, 1}, replies.__getitem__))
    assert [envelope for envelope, _ in early] == [[b"a"]]
    rest = list(inbox.rest(replies))
    assert [envelope for envelope, _ in rest] == [[b"b"]]
    batch = decode(rest[0][1])
    assert [reply["id"] for reply in batch] == [2, None, 3]
    assert list(inbox.rest(replies)) == []


def test_the_largest_replies_give_way_until_the_array_fits() -> None:
    replies: list[dict[str, Any]] = [ok_reply(1, "x" * 5000), ok_reply(2, {}), ok_reply(3, "y" * 3000)]
    body = encode_batch(replies, 4000)
    assert len(body) <= 4000
    decoded = decode(body)
    assert decoded[0]["error"]["code"] == "TOO_LARGE" and decoded[0]["id"] == 1
    assert decoded[1] == ok_reply(2, {})
    assert decoded[2] == ok_reply(3, "y" * 3000)
