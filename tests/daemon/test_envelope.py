"""Request frames: what parses, and the precise error each malformed one earns."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.model import Request
from daemon.server.envelope import _refusal, parse

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
