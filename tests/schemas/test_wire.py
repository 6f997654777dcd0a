"""The envelope's encoding, with values embedded as the bytes they were stored as."""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import given
from hypothesis import strategies as st

from schemas.wire import Encoded, decode, encode, encode_value, error_reply, ok_reply

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=20) | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(_VALUES, st.one_of(st.integers(min_value=0, max_value=2**64 - 1), st.text(max_size=40)))
def test_a_reply_with_encoded_values_is_byte_for_byte_the_reply_with_the_values(value: Any, request_id: Any) -> None:
    """Embedding stored bytes gives exactly what encoding the decoded value would, byte for byte."""
    stored = msgpack.packb(value, use_bin_type=True)
    shaped = {"entries": [["k", Encoded(stored)], ("j", Encoded(stored))], "found": True,
              "values": {"a": Encoded(stored)}}
    plain = {"entries": [["k", value], ["j", value]], "found": True, "values": {"a": value}}
    assert encode(ok_reply(request_id, encode_value(shaped))) == encode(ok_reply(request_id, plain))


def test_an_encoded_value_alone_and_replies_without_one() -> None:
    assert encode_value(Encoded(b"\xc3")) == Encoded(b"\xc3")
    assert decode(encode(ok_reply(1, Encoded(msgpack.packb([1, "two"]))))) == {
        "v": 1, "id": 1, "ok": True, "result": [1, "two"]}
    assert decode(encode({"result": Encoded(b"\x01"), "v": 1})) == {"result": 1, "v": 1}
    assert decode(encode(error_reply(2, "NOT_FOUND", "no"))) == {
        "v": 1, "id": 2, "ok": False, "error": {"code": "NOT_FOUND", "message": "no", "retryable": False}}
