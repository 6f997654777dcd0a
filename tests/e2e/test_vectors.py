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

import zmq

from schemas.wire import decode, encode
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


def test_wire_vectors(daemon: DaemonProcess) -> None:
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
