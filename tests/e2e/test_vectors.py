"""The language-neutral wire vectors in schemas/vectors/ against the real daemon.

Each vector is a request (as data and as exact bytes) and the reply it must
produce, run in order against a fresh daemon whose deployment secret is the
one in the file. Success replies must match byte for byte; error replies must
match in id and code (messages are for people and may be reworded).
The file is written by ``python -m schemas.make_vectors``, never by a test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
import zmq

from schemas.make_vectors import encode_frame
from schemas.wire import decode
from tests.conftest import REPO, DaemonProcess

VECTORS = REPO / "schemas" / "vectors" / "wire_v1.json"


def _exchange(endpoint: str, body: bytes) -> bytes:
    sock: zmq.Socket[bytes]
    with zmq.Context.instance().socket(zmq.REQ) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        sock.send(body)
        assert sock.poll(5000), "no reply"
        return sock.recv()


def _slots(reply_bytes: bytes) -> list[bytes]:
    """The bytes of each reply in a batch's reply array."""
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(reply_bytes)
    count = unpacker.read_array_header()
    slots, start = [], unpacker.tell()
    for _ in range(count):
        unpacker.skip()
        slots.append(reply_bytes[start:unpacker.tell()])
        start = unpacker.tell()
    return slots


def _check(name: str, reply_bytes: bytes, expected: Any, expected_hex: str) -> None:
    """An ok reply equals the recorded bytes; an error reply has the recorded id and code; a batch's, slot by slot."""
    reply = decode(reply_bytes)
    if isinstance(expected, list):
        assert isinstance(reply, list) and len(reply) == len(expected), name
        for slot, (got, recorded, recorded_bytes) in enumerate(
                zip(_slots(reply_bytes), expected, _slots(bytes.fromhex(expected_hex)), strict=True)):
            _check(f"{name}[{slot}]", got, recorded, recorded_bytes.hex())
    elif expected["ok"]:
        assert reply_bytes.hex() == expected_hex, name
    else:
        assert (reply["id"], reply["error"]["code"]) == (expected["id"], expected["error"]["code"]), name


def test_wire_vectors(daemon: DaemonProcess) -> None:
    document = json.loads(Path(VECTORS).read_text())
    assert document["secret_hex"] == bytes(range(32)).hex()
    assert any(isinstance(vector["request"], list) for vector in document["vectors"]), "the batch vectors"
    for vector in document["vectors"]:
        if vector["request"] is not None:
            assert encode_frame(vector["request"]).hex() == vector["request_hex"], vector["name"]
        reply_bytes = _exchange(daemon.rpc, bytes.fromhex(vector["request_hex"]))
        _check(vector["name"], reply_bytes, vector["reply"], vector["reply_hex"])
