"""The stack's floor: the least a server on pyzmq, msgpack and py-lmdb can do for core.py's workload.

A ROUTER socket and an LMDB environment with one sub-database per object, like Lodestone's, and
nothing else: no validation, no ids, no turns, no change stream. Each loop takes every request
waiting (up to 1,024), runs them in one write transaction, commits with fsync, then replies, so a
write is acknowledged only once it is durable, as in Lodestone. It answers ``storage.put``,
``storage.get`` and ``ping`` in Lodestone's wire format, enough for core.py to drive it like the
daemon. What Lodestone adds to these figures is the price of everything it checks and offers.

Usage: python bench/floor.py ENDPOINT DATA_DIR
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import lmdb
import msgpack
import zmq

BATCH = 1024


def serve(endpoint: str, data_dir: str) -> None:
    env = lmdb.open(data_dir, map_size=1 << 32, max_dbs=1 << 14)
    dbs: dict[str, Any] = {}
    router: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.RCVHWM, 100_000)
    router.setsockopt(zmq.SNDHWM, 100_000)
    router.bind(endpoint)
    recv, send, more = router.recv, router.send, router.get
    while True:
        router.poll()
        batch: list[list[bytes]] = []
        while len(batch) < BATCH:
            try:
                frames = [recv(zmq.NOBLOCK)]
            except zmq.Again:
                break
            while more(zmq.RCVMORE):
                frames.append(recv(zmq.NOBLOCK))
            batch.append(frames)
        replies: list[bytes] = []
        with env.begin(write=True) as txn:
            for frames in batch:
                request = msgpack.unpackb(frames[-1], raw=False)
                op, args = request["op"], request.get("args", {})
                result: dict[str, Any] = {"version": "floor"}
                if op != "ping":
                    name = request["target"]["name"]
                    db = dbs.get(name)
                    if db is None:
                        db = dbs[name] = env.open_db(name.encode(), txn=txn)
                    if op == "storage.put":
                        txn.put(args["key"].encode(), msgpack.packb(args["value"]), db=db)
                        result = {}
                    else:
                        value = txn.get(args["key"].encode(), db=db)
                        result = {"found": False} if value is None else {"found": True, "value": msgpack.unpackb(value)}
                replies.append(msgpack.packb({"v": 1, "id": request["id"], "ok": True, "result": result}))
        for frames, reply in zip(batch, replies, strict=True):
            for frame in frames[:-1]:
                send(frame, zmq.SNDMORE)
            send(reply)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(sys.argv[1], sys.argv[2])
