"""The gateway's parts on their own: id splicing, the prefix index, JSON values, what a grant allows."""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pytest

from daemon.gateway.auth import Grant, bearer
from daemon.gateway.batching import Queued, Route, frames_of
from daemon.gateway.frames import (
    FIRST_GATEWAY_ID,
    batch_frame,
    error_frame,
    event_frame,
    is_array,
    pack,
    reply_gateway_id,
    split_array,
    with_client_id,
)
from daemon.gateway.jsonvalues import from_json, to_json
from daemon.gateway.stream import PrefixIndex
from schemas.wire import Encoded, encode, error_reply, ok_reply


@pytest.mark.parametrize("client_id", [0, 1, -1, 2**63, -(2**63), "", "x" * 256, "ключ"])
@pytest.mark.parametrize("gateway_id", [FIRST_GATEWAY_ID, FIRST_GATEWAY_ID + 12345, 2**64 - 1])
def test_the_clients_id_is_spliced_into_the_daemons_reply(client_id: Any, gateway_id: int) -> None:
    for reply in (ok_reply(gateway_id, Encoded(pack({"found": True, "value": [1, b"\x00"]}))),
                  ok_reply(gateway_id, {"entries": [["k", 1.5]]}),
                  error_reply(gateway_id, "CONFLICT", "no", False)):
        sent = encode(reply)
        assert reply_gateway_id(sent) == gateway_id
        spliced = with_client_id(sent, pack(client_id))
        assert msgpack.unpackb(spliced) == {**msgpack.unpackb(sent), "id": client_id}


def test_replies_in_another_form_still_route() -> None:
    odd = msgpack.packb({"ok": True, "id": FIRST_GATEWAY_ID + 1, "v": 1, "result": {}})
    assert reply_gateway_id(odd) == FIRST_GATEWAY_ID + 1
    assert msgpack.unpackb(with_client_id(odd, pack("mine")))["id"] == "mine"
    assert reply_gateway_id(b"\xc1") is None and reply_gateway_id(msgpack.packb({"id": None})) is None


def test_gateway_frames() -> None:
    assert msgpack.unpackb(error_frame(pack(7), "FORBIDDEN", "no")) == {
        "v": 1, "id": 7, "ok": False, "error": {"code": "FORBIDDEN", "message": "no", "retryable": False}}
    assert msgpack.unpackb(error_frame(None, "TOO_LARGE", "big", True))["id"] is None
    body = msgpack.packb({"v": 1, "changes": [{"key": "k", "value": b"\x01"}]})
    assert msgpack.unpackb(event_frame("change.A.x", body)) == {
        "ctl": "event", "topic": "change.A.x", "body": msgpack.unpackb(body)}
    assert msgpack.unpackb(batch_frame([pack(1), pack("two")])) == [1, "two"]


@pytest.mark.parametrize("count", [1, 15, 16, 70_000])
def test_a_reply_array_splits_into_each_replys_own_bytes(count: int) -> None:
    replies = [encode(ok_reply(FIRST_GATEWAY_ID + n, {"value": [n, b"\x90", {"k": "\x91"}]})) for n in range(count)]
    body = batch_frame(replies)
    assert is_array(body) and not is_array(replies[0])
    assert split_array(body) == replies
    for bad in (body[:-1], body + b"\x00", b"\x81\x00\x00", b""):
        with pytest.raises(ValueError):
            split_array(bad)


def test_queued_requests_are_cut_into_frames_of_one_kind_within_the_limits() -> None:
    route = Route(0)
    queue = [Queued(route, b"w" * 10, n, reads=n in (2, 3, 4), resendable=n in (2, 3, 4)) for n in range(8)]
    assert [[q.gateway_id for q in frame] for frame in frames_of(queue, 1000, 1000)] == [
        [0, 1], [2, 3, 4], [5, 6, 7]]
    assert [[q.gateway_id for q in frame] for frame in frames_of(queue, 1000, 2)] == [
        [0, 1], [2, 3], [4], [5, 6], [7]]
    # Two of ten bytes and the five of an array header fit in 25 bytes, three do not.
    assert [len(frame) for frame in frames_of(queue, 25, 1000)] == [2, 2, 1, 2, 1]


class Client:
    def __init__(self, name: str) -> None:
        self.name = name

    def offer_event(self, frame: bytes) -> None:
        raise AssertionError("not called here")


def test_the_prefix_index_counts_holders_and_matches_each_client_once() -> None:
    index = PrefixIndex()
    a, b = Client("a"), Client("b")
    assert index.add(b"change.", a) is True
    assert index.add(b"change.Agent.", a) is True
    assert index.add(b"change.Agent.", b) is False  # already subscribed upstream
    assert index.add(b"", b) is True
    assert set(index.match(b"change.Agent.123")) == {a, b} and len(list(index.match(b"change.Agent.123"))) == 2
    assert set(index.match(b"change.Chest.1")) == {a, b}
    assert set(index.match(b"agent.damage.x")) == {b}
    assert index.remove(b"", b) is True
    assert set(index.match(b"agent.damage.x")) == set()
    assert index.remove(b"change.Agent.", a) is False  # b still holds it
    assert set(index.match(b"change.Agent.1")) == {a, b}
    assert index.remove(b"change.Agent.", b) is True and index.remove(b"change.Agent.", b) is False
    assert set(index.match(b"change.Agent.1")) == {a} and len(index) == 1
    assert index.remove(b"change.", a) is True and len(index) == 0 and not index.match(b"change.")


def test_json_values_round_trip() -> None:
    value = {"b": b"\x00\xff", "n": [1, 2.5, None, True, "s"], "x": msgpack.ExtType(5, b"\x01"),
             "nan": math.inf, "ts": msgpack.Timestamp(1, 2)}
    as_json = to_json(value)
    assert as_json["b"] == {"$bytes": "00ff"} and as_json["nan"] == {"$float": "Infinity"}
    assert as_json["x"] == {"$ext": {"type": 5, "data": "01"}}
    assert from_json(as_json) == value
    assert to_json({b"\x01": 1}) == {"01": 1}
    for bad in ({"$bytes": "zz"}, {"$bytes": 1}, {"$ext": {"type": 200, "data": ""}}, {"$float": "inf"}):
        with pytest.raises(ValueError):
            from_json(bad)
    assert from_json({"$bytes": "00", "other": 1}) == {"$bytes": "00", "other": 1}  # not the one-key form


AGENT = {"class": "Agent", "name": "s"}
CHEST = {"class": "Chest", "name": "c"}


@pytest.mark.parametrize(("scope", "classes", "op", "target", "args", "allowed"), [
    ("read", None, "storage.put", CHEST, {}, True),  # the daemon refuses it (readonly), not the gateway
    ("read", None, "stats", None, {}, False),
    ("write", None, "storage.delete_all", CHEST, {}, False),
    ("write", None, "alarms.list", None, {}, True),
    ("admin", None, "storage.delete_all", CHEST, {}, True),
    ("write", {"Agent"}, "storage.put", AGENT, {}, True),
    ("write", {"Agent"}, "Agent.damage", AGENT, {}, True),
    ("write", {"Agent"}, "storage.put", CHEST, {}, False),
    ("write", {"Agent"}, "Chest.open", AGENT, {}, False),
    ("write", {"Agent"}, "storage.put", {"name": "s"}, {}, False),
    ("write", {"Agent"}, "storage.put", "Agent", {}, False),
    ("write", {"Agent"}, "ping", None, {}, True),
    ("write", {"Agent"}, "health", CHEST, {}, True),
    ("write", {"Agent"}, "objects.list", None, {"class": "Agent"}, True),
    ("write", {"Agent"}, "objects.list", AGENT, {"class": "Chest"}, False),
    ("write", {"Agent"}, "id.new_unique", None, {"class": "Agent"}, True),
    ("write", {"Agent"}, "id.from_string", None, [], False),
    ("write", {"Agent"}, "alarms.list", AGENT, {}, False),
    ("write", {"Agent"}, "stats", AGENT, {}, False),
    ("write", {"Agent"}, "alarm.set", AGENT, {}, True),
    ("write", {"Agent"}, "no_dot_op", AGENT, {}, True),  # the daemon answers UNKNOWN_OP
])
def test_what_a_grant_allows(scope: str, classes: set[str] | None, op: str, target: Any, args: Any,
                             allowed: bool) -> None:
    grant = Grant("t", scope, frozenset(classes) if classes is not None else None)
    refusal = grant.refusal(op, target, args)
    assert (refusal is None) == allowed, refusal
    if refusal is not None:
        assert "'t'" in refusal


def test_topic_prefixes_of_a_class_limited_grant() -> None:
    grant = Grant("t", "read", frozenset({"Agent", "Telemetry"}))
    assert set(grant.topic_prefixes()) == {
        "change.Agent.", "change.Telemetry.", "alarm.Agent.", "alarm.Telemetry.", "alarm_dropped.Agent.",
        "alarm_dropped.Telemetry.", "agent.", "telemetry.", "telemetry_by_agent."}
    assert grant.prefix_refusal("telemetry_by_agent.steve.") is None
    assert grant.prefix_refusal("mission.") is not None and grant.prefix_refusal("change.Agen") is not None
    assert Grant("t", "read").prefix_refusal("") is None
    assert Grant("t", "read").readonly and not Grant("t", "write").readonly


def test_bearer_headers() -> None:
    assert bearer("Bearer abc") == "abc" and bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None and bearer("Bearer") is None and bearer(None) is None
