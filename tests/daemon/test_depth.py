"""The nesting limit on request frames: exact at the boundary, the same for maps and arrays."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from daemon.model import Request
from daemon.server.depth import MAX_DEPTH, too_deep
from daemon.server.envelope import parse


def arrays(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def maps(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"k": value, "flat": 1}
    return value


@pytest.mark.parametrize("build", [arrays, maps])
def test_the_limit_is_exact(build: Any) -> None:
    assert not too_deep(build(MAX_DEPTH))
    assert too_deep(build(MAX_DEPTH + 1))
    assert not too_deep(5) and not too_deep("text") and not too_deep(b"\x91" * 100)


def test_the_deepest_branch_counts_not_the_first() -> None:
    assert too_deep({"a": 1, "b": [1, 2, {"c": arrays(MAX_DEPTH)}]})
    assert not too_deep({"a": 1, "b": [1, 2, {"c": arrays(MAX_DEPTH - 3)}]})


def test_parse_refuses_a_deep_request_with_its_id() -> None:
    deep = msgpack.packb({"v": 1, "id": 12, "op": "storage.put", "args": {"key": "k", "value": arrays(MAX_DEPTH - 1)}})
    refused = parse(deep, 1 << 20)
    assert isinstance(refused, dict) and refused["id"] == 12
    assert refused["error"]["code"] == "BAD_REQUEST" and f"{MAX_DEPTH} levels" in refused["error"]["message"]
    fine = msgpack.packb({"v": 1, "id": 12, "op": "storage.put", "args": {"key": "k", "value": arrays(MAX_DEPTH - 2)}})
    assert isinstance(parse(fine, 1 << 20), Request)
    # Deeper than msgpack decodes: not valid msgpack, still an answer.
    undecodable = parse(b"\x91" * 2000 + b"\x90", 1 << 20)
    assert isinstance(undecodable, dict) and undecodable["error"]["code"] == "BAD_REQUEST"
