"""Write ``schemas/vectors/wire_v1.json`` from a fresh daemon: ``python -m schemas.make_vectors``.

The vectors are the protocol's exact bytes, shared by the Python, Java and
TypeScript tests. Run this after a deliberate change to the protocol, read
the diff, and commit it; no test ever rewrites the file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgpack
import zmq

from schemas.wire import decode, encode

REPO = Path(__file__).resolve().parent.parent
VECTORS = Path(__file__).resolve().parent / "vectors" / "wire_v1.json"
SECRET = bytes(range(32))
AGENT = {"class": "Agent", "name": "steve-42"}
STEVE_ID = "steve-42's id, filled in below"

# (name, request, batch of requests or raw hex); requests are JSON-compatible so any language can build them.
CASES: list[tuple[str, dict[str, Any] | list[Any] | str]] = [
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
    ("batch in order", [
        {"v": 1, "id": 20, "op": "storage.put", "target": AGENT, "args": {"key": "hp", "value": 20}},
        {"v": 1, "id": 21, "op": "storage.get", "target": AGENT, "args": {"key": "hp"}},
        {"v": 1, "id": 22, "op": "storage.transaction", "target": AGENT,
         "args": {"checks": [{"key": "hp", "value": 20}], "ops": [{"op": "put", "key": "hp", "value": 19}]}},
        {"v": 1, "id": "req-23", "op": "storage.get", "target": AGENT, "args": {"key": "hp"}},
    ]),
    ("batch with bad elements", [
        {"v": 1, "id": 24, "op": "storage.get", "target": AGENT, "args": {"key": "hp"}},
        5,
        {"v": 2, "id": 25, "op": "storage.get", "target": AGENT, "args": {"key": "hp"}},
        {"v": 1, "id": 26, "op": "storage.fly", "target": AGENT, "args": {}},
    ]),
    ("empty batch", "90"),
    ("nested batch", [{"v": 1, "id": 27, "op": "ping", "args": {}}, [{"v": 1, "id": 28, "op": "ping", "args": {}}]]),
]




def encode_frame(request: Any) -> bytes:
    """A request frame's bytes: a request map as :func:`encode` makes it, a batch as the array of its elements."""
    if isinstance(request, dict):
        return encode(request)
    if isinstance(request, list):
        head: bytes = msgpack.Packer().pack_array_header(len(request))
        return head + b"".join(map(encode_frame, request))
    return msgpack.packb(request, use_bin_type=True)  # type: ignore[no-any-return]


def _exchange(endpoint: str, body: bytes) -> bytes:
    sock: zmq.Socket[bytes]
    with zmq.Context.instance().socket(zmq.REQ) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        sock.send(body)
        if not sock.poll(5000):
            raise TimeoutError("no reply from the daemon")
        return sock.recv()


def write_vectors(rpc: str) -> None:
    """Run every case against the daemon at ``rpc`` (fresh, with :data:`SECRET`) and write the file."""
    steve_id = decode(_exchange(rpc, encode(CASES[0][1])))  # type: ignore[arg-type]
    vectors = []
    for name, case in CASES:
        if isinstance(case, str):
            request_bytes, request = bytes.fromhex(case), None
        else:
            request = json.loads(json.dumps(case).replace(STEVE_ID, steve_id["result"]["id"]))
            request_bytes = encode_frame(request)
        reply_bytes = _exchange(rpc, request_bytes)
        vectors.append({"name": name, "request": request, "request_hex": request_bytes.hex(),
                        "reply": decode(reply_bytes), "reply_hex": reply_bytes.hex()})
    document = {
        "protocol": 1,
        "secret_hex": SECRET.hex(),
        "how": "Run in order against a fresh daemon whose data directory's 'secret' file holds secret_hex. "
               "Encode 'request' and compare with request_hex; send request_hex; an ok reply must equal "
               "reply_hex byte for byte, an error reply must have the same id and error code.",
        "how_batches": "A request that is a list is a batch frame, the array of its elements' bytes; a reply "
                       "that is a list is compared slot by slot by the rule above.",
        "vectors": vectors,
    }
    VECTORS.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        (data / "secret").write_bytes(SECRET)
        command = [sys.executable, "-m", "daemon", "serve", "--data-dir", str(data),
                   "--rpc", "tcp://127.0.0.1:*", "--pub", "tcp://127.0.0.1:*"]
        with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True) as daemon:
            try:
                assert daemon.stdout is not None
                line = daemon.stdout.readline()
                fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
                write_vectors(fields["rpc"])
            finally:
                daemon.terminate()
    print(f"wrote {VECTORS}")


if __name__ == "__main__":
    main()
