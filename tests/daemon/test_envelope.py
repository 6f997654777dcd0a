"""Request frames: what parses, and the precise error each malformed one earns."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from daemon.envelope import Request, parse

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
