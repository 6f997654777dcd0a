"""Request frames: what parses, and the precise error each malformed one earns."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.model import Request
from daemon.server.envelope import _refusal, parse
from daemon.server.typed_envelope import typed_request

LIMIT = 1024


def reply_of(body: bytes) -> dict[str, Any]:
    parsed = parse(body, LIMIT)
    assert isinstance(parsed, dict), parsed
    return parsed


def test_a_good_request_parses() -> None:
    body = msgpack.packb({"v": 1, "id": 7, "op": "ping", "args": {}, "idem": "k"})
    assert parse(body, LIMIT) == Request(7, "ping", None, {}, "k")


@pytest.mark.parametrize(
    ("body", "code", "request_id", "words"),
    [
        (b"\xc1", "BAD_REQUEST", None, "not valid msgpack"),
        (b"\x92\x01", "BAD_REQUEST", None, "not valid msgpack"),
        (msgpack.packb([1, 2]), "BAD_REQUEST", None, "must be a msgpack map"),
        (msgpack.packb({"v": 1, "op": "ping"}), "BAD_REQUEST", None, "needs an id"),
        (msgpack.packb({"v": 1, "id": True, "op": "ping"}), "BAD_REQUEST", None, "needs an id"),
        (msgpack.packb({"id": 3, "op": "ping"}), "BAD_REQUEST", 3, "needs v"),
        (msgpack.packb({"v": 9, "id": 3, "op": "ping"}), "UNSUPPORTED_VERSION", 3, "speaks version 1"),
        (msgpack.packb({"v": 1, "id": "r", "op": 5}), "BAD_REQUEST", "r", "needs op"),
        (msgpack.packb({"v": 1, "id": 3, "op": "ping", "args": [1]}), "BAD_REQUEST", 3, "args must be a map"),
        (msgpack.packb({"v": 1, "id": 3, "op": "ping", "idem": 5}), "BAD_REQUEST", 3, "idem"),
        (b"\x00" * (LIMIT + 1), "TOO_LARGE", None, "was not decoded"),
    ],
)
def test_malformed_requests(body: bytes, code: str, request_id: Any, words: str) -> None:
    reply = reply_of(body)
    assert reply["ok"] is False and reply["id"] == request_id
    assert reply["error"]["code"] == code and words in reply["error"]["message"]


_INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what msgpack can carry
_FIELD_VALUES = st.one_of(
    st.none(), st.booleans(), _INTS, st.floats(allow_nan=False), st.text(max_size=300), st.binary(max_size=8),
    st.lists(_INTS, max_size=2),
    st.dictionaries(st.one_of(st.text(max_size=4), st.binary(max_size=4)), _INTS, max_size=3),
)


# too_slow: the first test to draw text pays for Hypothesis building its Unicode tables (~1 s, once a clone).
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["v", "id", "op", "args", "idem", "target"]), _FIELD_VALUES)
       | st.fixed_dictionaries({"v": st.sampled_from([1, 2, True]), "id": _FIELD_VALUES,
                                "op": st.sampled_from(["ping", "", "storage.get"]), "args": _FIELD_VALUES,
                                "idem": st.one_of(st.none(), st.text(max_size=300))}))
def test_the_quick_check_agrees_with_the_check_by_check_refusal(message: dict[str, Any]) -> None:
    """parse accepts exactly the envelopes _refusal finds nothing wrong with, and refuses the others alike."""
    parsed = parse(msgpack.packb(message, use_bin_type=True), 1 << 20)
    decoded = msgpack.unpackb(msgpack.packb(message, use_bin_type=True), raw=False)
    refusal = _refusal(decoded)
    if refusal is None:
        assert parsed == Request(decoded["id"], decoded["op"], decoded.get("target"), decoded.get("args", {}),
                                 decoded.get("idem"))
    else:
        assert parsed == refusal


# The typed (msgspec, in C) path against the check-by-check path -------------------------------------
_KEYS = st.sampled_from(["v", "id", "op", "args", "idem", "target", "readonly", "junk", "x", "key", "value"])
_SCALARS = st.one_of(
    st.none(), st.booleans(), _INTS, st.floats(), st.text(max_size=20), st.binary(max_size=8),
    st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=4)),
    st.builds(msgpack.Timestamp, st.integers(0, 2**32 - 1), st.integers(0, 999_999_999)),
)
_MAP_KEYS = st.one_of(_KEYS, st.text(max_size=4), st.binary(max_size=3), st.integers(-3, 3))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.lists(st.tuples(_MAP_KEYS, inner), max_size=3),
    max_leaves=12,
)


def _pack(value: Any, packer: msgpack.Packer) -> bytes:
    """msgpack bytes of a generated value; a list of pairs is a map, duplicate keys kept."""
    if isinstance(value, list) and value and all(isinstance(item, tuple) for item in value):
        head: bytes = packer.pack_map_header(len(value))
        return head + b"".join(_pack(k, packer) + _pack(v, packer) for k, v in value)
    if isinstance(value, list):
        head = packer.pack_array_header(len(value))
        return head + b"".join(_pack(item, packer) for item in value)
    packed: bytes = packer.pack(value)
    return packed


_GOOD_ARGS = st.lists(st.tuples(st.text(max_size=5), _VALUES), max_size=4)
_FIELDS = st.one_of(
    st.tuples(st.just("v"), st.sampled_from([1, 1, 2, True, 1.0])),
    st.tuples(st.just("id"), st.one_of(_INTS, st.text(max_size=300), st.booleans(), st.none())),
    st.tuples(st.just("op"), st.sampled_from(["ping", "", "storage.put", "Agent.move"])),
    st.tuples(st.just("target"), st.one_of(st.none(), st.lists(st.tuples(_MAP_KEYS, _VALUES), max_size=3))),
    st.tuples(st.just("args"), st.one_of(_GOOD_ARGS, _VALUES)),
    st.tuples(st.just("idem"), st.one_of(st.none(), st.text(max_size=300), _INTS)),
    st.tuples(st.just("readonly"), st.one_of(st.booleans(), st.none(), _INTS)),
    st.tuples(_MAP_KEYS, _VALUES),
)


def _usual(extra: list[tuple[Any, Any]], args: list[tuple[Any, Any]], at: int) -> list[tuple[Any, Any]]:
    """A well-formed envelope's fields with ``extra`` fields added (or repeated), rotated by ``at``."""
    pairs = [("v", 1), ("id", 1), ("op", "storage.put"), ("args", args), *extra]
    return pairs[at % len(pairs):] + pairs[:at % len(pairs)]


# Mostly a well-formed envelope with a few fields added or replaced (so most cases get past the envelope
# and the arguments decide), sometimes anything at all.
_ENVELOPES = st.one_of(st.builds(_usual, st.lists(_FIELDS, max_size=3), _GOOD_ARGS, st.integers(0, 6)),
                       st.lists(_FIELDS, max_size=9))


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=400)
@given(_ENVELOPES, st.one_of(st.none(), st.tuples(st.integers(0, 10_000), st.integers(0, 255))))
def test_the_typed_path_gives_the_check_by_check_paths_answer(pairs: list[tuple[Any, Any]],
                                                              flip: tuple[int, int] | None) -> None:
    """Whatever the bytes, parse answers as the check-by-check path alone would (request or refusal)."""
    packer = msgpack.Packer(use_bin_type=True)
    body = bytearray(packer.pack_map_header(len(pairs)) + b"".join(_pack(k, packer) + _pack(v, packer)
                                                                    for k, v in pairs))
    if flip is not None and body:
        body[flip[0] % len(body)] = flip[1]
    both = parse(bytes(body), 1 << 20), parse(bytes(body), 1 << 20, fast=False)
    # Compared as msgpack, where a NaN argument equals itself.
    assert msgpack.packb(both[0], use_bin_type=True) == msgpack.packb(both[1], use_bin_type=True)
    assert type(both[0]) is type(both[1])


@pytest.mark.parametrize("message", [
    {"v": 1, "id": 7, "op": "ping", "args": {}},
    {"v": 1, "id": "r-1", "op": "Agent.move", "target": {"class": "Agent", "name": "steve"},
     "args": {"x": 1.5, "y": 64, "z": -3.25}, "idem": "k1"},
    {"v": 1, "id": 2**64 - 1, "op": "storage.put", "target": {"class": "Chest", "id": "ab" * 32},
     "args": {"key": "state", "value": {"position": {"x": 1}, "inventory": [{"type": "oak_log", "count": 12}],
                                        "tasks": [[{"deep": [None, True]}]]}}, "readonly": False},
])
def test_the_usual_requests_take_the_typed_path(message: dict[str, Any]) -> None:
    body = msgpack.packb(message, use_bin_type=True)
    typed = typed_request(body)
    assert typed is not None
    assert typed == parse(body, LIMIT * 4, fast=False)
