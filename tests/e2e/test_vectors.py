"""The language-neutral wire vectors in schemas/vectors/ against the real daemon.

Each vector is a request (as data and as exact bytes) and the reply it must
produce, run in order against a fresh daemon whose deployment secret is the
one in the file. Success replies must match byte for byte; error replies must
match in id and code (messages are for people and may be reworded).
Set LODESTONE_WRITE_VECTORS=1 to rewrite the file from the current daemon.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import zmq

from schemas.wire import decode, encode
from tests.conftest import REPO, DaemonProcess

VECTORS = REPO / "schemas" / "vectors" / "wire_v1.json"
AGENT = {"class": "Agent", "name": "steve-42"}
STEVE_ID = "steve-42's id, filled in below"

# (name, request or raw hex); requests are JSON-compatible so any language can build them.
CASES: list[tuple[str, dict[str, Any] | str]] = [
    ("id.from_name", {"v": 1, "id": 1, "op": "id.from_name", "args": {"class": "Agent", "name": "steve-42"}}),
    ("id.from_string of another class's id",
     {"v": 1, "id": 2, "op": "id.from_string", "args": {"class": "Foreman", "id": STEVE_ID}}),
    ("put one", {"v": 1, "id": 3, "op": "storage.put", "target": AGENT,
                 "args": {"key": "state", "value": {"health": 20, "position": {"x": 1.5, "y": 64, "z": -3},
                                                    "inventory": [{"type": "oak_log", "count": 12}]}}}),
    ("get one", {"v": 1, "id": 4, "op": "storage.get", "target": AGENT, "args": {"key": "state"}}),
    ("get missing", {"v": 1, "id": "req-5", "op": "storage.get", "target": AGENT, "args": {"key": "nope"}}),
    ("put many", {"v": 1, "id": 6, "op": "storage.put", "target": AGENT,
                  "args": {"entries": {"task:2": "build", "task:1": "mine", "hp": 20}}}),
    ("get many", {"v": 1, "id": 7, "op": "storage.get", "target": AGENT,
                  "args": {"keys": ["task:2", "zzz", "hp", "task:1"]}}),
    ("list prefix reverse", {"v": 1, "id": 8, "op": "storage.list", "target": AGENT,
                             "args": {"prefix": "task:", "reverse": True, "limit": 10}}),
    ("transaction conflict", {"v": 1, "id": 9, "op": "storage.transaction", "target": AGENT,
                              "args": {"checks": [{"key": "hp", "value": 19}],
                                       "ops": [{"op": "put", "key": "hp", "value": 18}]}}),
    ("transaction ok", {"v": 1, "id": 10, "op": "storage.transaction", "target": AGENT,
                        "args": {"checks": [{"key": "hp", "value": 20}, {"key": "dead", "absent": True}],
                                 "ops": [{"op": "put", "key": "hp", "value": 18},
                                         {"op": "delete", "key": "task:1"}]}}),
    ("delete one with idem", {"v": 1, "id": 11, "op": "storage.delete", "target": AGENT,
                              "args": {"key": "task:2"}, "idem": "retry-key-1"}),
    ("same idem replays", {"v": 1, "id": 12, "op": "storage.delete", "target": AGENT,
                           "args": {"key": "task:2"}, "idem": "retry-key-1"}),
    ("delete many", {"v": 1, "id": 13, "op": "storage.delete", "target": AGENT, "args": {"keys": ["hp", "x"]}}),
    ("target by id", {"v": 1, "id": 14, "op": "storage.list", "target": {"class": "Agent", "id": STEVE_ID},
                      "args": {}}),
    ("delete all", {"v": 1, "id": 15, "op": "storage.delete_all", "target": AGENT, "args": {}}),
    ("unknown op", {"v": 1, "id": 16, "op": "storage.fly", "target": AGENT, "args": {}}),
    ("unsupported version", {"v": 2, "id": 17, "op": "storage.get", "target": AGENT, "args": {"key": "a"}}),
    ("wrong type", {"v": 1, "id": 18, "op": "storage.put", "target": AGENT, "args": {"key": 5, "value": 1}}),
    ("malformed id", {"v": 1, "id": 19, "op": "storage.get", "target": {"class": "Agent", "id": "abc"},
                      "args": {"key": "a"}}),
    ("not msgpack", "c1"),
]


def _exchange(endpoint: str, body: bytes) -> bytes:
    sock: zmq.Socket[bytes]
    with zmq.Context.instance().socket(zmq.REQ) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        sock.send(body)
        assert sock.poll(5000), "no reply"
        return sock.recv()


def _write_vectors(daemon: DaemonProcess) -> None:
    steve_id = decode(_exchange(daemon.rpc, encode(CASES[0][1])))  # type: ignore[arg-type]
    vectors = []
    for name, case in CASES:
        if isinstance(case, str):
            request_bytes, request = bytes.fromhex(case), None
        else:
            request = json.loads(json.dumps(case).replace(STEVE_ID, steve_id["result"]["id"]))
            request_bytes = encode(request)
        reply_bytes = _exchange(daemon.rpc, request_bytes)
        vectors.append({"name": name, "request": request, "request_hex": request_bytes.hex(),
                        "reply": decode(reply_bytes), "reply_hex": reply_bytes.hex()})
    document = {
        "protocol": 1,
        "secret_hex": bytes(range(32)).hex(),
        "how": "Run in order against a fresh daemon whose data directory's 'secret' file holds secret_hex. "
               "Encode 'request' and compare with request_hex; send request_hex; an ok reply must equal "
               "reply_hex byte for byte, an error reply must have the same id and error code.",
        "vectors": vectors,
    }
    VECTORS.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def test_wire_vectors(daemon: DaemonProcess) -> None:
    if os.environ.get("LODESTONE_WRITE_VECTORS") == "1":
        _write_vectors(daemon)
        pytest.skip("vectors rewritten; run again to check them against a fresh daemon")
    document = json.loads(Path(VECTORS).read_text())
    assert document["secret_hex"] == bytes(range(32)).hex()
    for vector in document["vectors"]:
        if vector["request"] is not None:
            assert encode(vector["request"]).hex() == vector["request_hex"], vector["name"]
        reply_bytes = _exchange(daemon.rpc, bytes.fromhex(vector["request_hex"]))
        reply = decode(reply_bytes)
        expected = vector["reply"]
        if expected["ok"]:
            assert reply_bytes.hex() == vector["reply_hex"], vector["name"]
        else:
            assert (reply["id"], reply["error"]["code"]) == (expected["id"], expected["error"]["code"]), vector["name"]
