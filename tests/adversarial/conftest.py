"""One real daemon for the whole wire-fuzzing suite, a canary written before it and checked after.

``LODESTONE_FUZZ_EXAMPLES`` sets the examples per test (a few hundred by default, so the suite runs in
about a minute; ``make fuzz`` runs many more, drawn afresh each run).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from bridge import Client
from daemon.runtime.ops import GLOBAL_OPS, OBJECT_OPS
from daemon.world import CLASSES
from schemas.wire import ERROR_CODES, decode
from tests.conftest import DaemonProcess
from tests.support.serving import serving

EXAMPLES = int(os.environ.get("LODESTONE_FUZZ_EXAMPLES", "300"))
# With many examples (make fuzz) each run draws new ones; by default the draws are the same every run.
DERANDOMIZE = "LODESTONE_FUZZ_EXAMPLES" not in os.environ
REPLY_TIMEOUT_MS = 10_000
CANARY = {"class": "Canary", "name": "canary"}
CANARY_ENTRIES: dict[str, Any] = {"alive": True, "n": 42, "nested": {"list": [1, 2.5, "three", None]}, "": b"\x00"}
_TAKES = re.compile(r"it takes (.*)$")


@dataclass
class Wire:
    """A DEALER on the daemon's rpc endpoint, and what the fuzzer needs to know of the daemon."""

    daemon: DaemonProcess
    sock: zmq.Socket[bytes]
    ops: dict[str, tuple[str | None, tuple[str, ...]]]  # op -> (class of its target, or None; its args)

    def alive(self) -> bool:
        return self.daemon.process is not None and self.daemon.process.poll() is None

    def exchange(self, frames: list[bytes]) -> Any:
        """Send ``frames`` (after the empty delimiter) and return the decoded reply; fail if none comes."""
        self.sock.send_multipart([b"", *frames])
        assert self.sock.poll(REPLY_TIMEOUT_MS), f"no reply to {frames[-1][:200]!r}"
        delimiter, body = self.sock.recv_multipart()
        assert delimiter == b""
        return decode(body)

    def silent(self, frames: list[bytes], wait_ms: int = 200) -> bool:
        """Send a message the protocol drops without a reply; True if none came."""
        self.sock.send_multipart(frames)
        return not self.sock.poll(wait_ms)


def check_reply(reply: Any) -> None:
    """A well-formed reply map: ok with a result, or an error with a known code that is not a bug."""
    assert isinstance(reply, dict), reply
    assert reply.get("v") == 1 and "id" in reply and isinstance(reply.get("ok"), bool), reply
    if reply["ok"]:
        assert "result" in reply, reply
        return
    error = reply["error"]
    assert error["code"] in ERROR_CODES and isinstance(error["message"], str), reply
    assert isinstance(error["retryable"], bool), reply
    assert error["code"] != "INTERNAL", reply
    assert len(error["message"]) <= 1024, reply


def _class_op_args(sock: zmq.Socket[bytes], op: str, class_name: str) -> tuple[str, ...]:
    """The arguments ``op`` takes, read from the refusal of an argument it does not take."""
    sock.send_multipart([b"", msgpack.packb({"v": 1, "id": 0, "op": op, "target": {"class": class_name,
                                                                                  "name": "probe"},
                                             "args": {"fuzz-probe": 1}})])
    assert sock.poll(REPLY_TIMEOUT_MS)
    message = decode(sock.recv_multipart()[1])["error"]["message"]
    found = _TAKES.search(message)
    assert found, message
    takes = found.group(1)
    return () if takes == "no arguments" else tuple(takes.split(", "))


@pytest.fixture(scope="session")
def wire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wire]:
    root = tmp_path_factory.mktemp("fuzz")
    log = root / "daemon.log"
    with serving(root, "", log) as daemon:
        with Client(daemon.rpc) as client:
            client.object(CANARY["class"], CANARY["name"]).put_many(CANARY_ENTRIES)
            client.agent("canary-steve").init()
            client.agent("steve").init()  # the agent the fuzzer writes to, so its ops run to the end
        context: zmq.Context[Any] = zmq.Context()
        sock: zmq.Socket[bytes] = context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(daemon.rpc)
        ops: dict[str, tuple[str | None, tuple[str, ...]]] = {op: (None, spec.args) for op, spec in GLOBAL_OPS.items()}
        ops.update({op: ("", spec.args) for op, spec in OBJECT_OPS.items()})
        for cls in CLASSES:
            for method in cls.ops:
                op = f"{cls.name}.{method}"
                ops[op] = (cls.name, _class_op_args(sock, op, cls.name))
        yield Wire(daemon, sock, ops)
        assert daemon.process is not None and daemon.process.poll() is None, "the daemon died"
        with Client(daemon.rpc) as client:
            canary = client.object(CANARY["class"], CANARY["name"])
            assert dict(canary.list()) == CANARY_ENTRIES, "the canary object changed"
            assert client.agent("canary-steve").state()["health"] > 0
        sock.close(0)
        context.destroy(0)
    text = Path(log).read_text()
    assert "Traceback" not in text, text[-5000:]


def names_avoiding_canary(name: str) -> bool:
    return name not in (CANARY["name"], "canary-steve")


__all__ = ["CANARY", "DERANDOMIZE", "EXAMPLES", "Wire", "check_reply", "names_avoiding_canary"]
