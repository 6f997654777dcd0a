"""The stack's floor: the least a server on pyzmq, msgpack and py-lmdb can do for the benchmarks' workloads.

A ROUTER socket and an LMDB environment with one sub-database per object, like Lodestone's, and
nothing else: no validation, no ids, no turns, no change stream. Each loop takes every request
waiting (up to 1,024), runs them in one write transaction, commits with fsync, then replies, so a
write is acknowledged only once it is durable, as in Lodestone. It answers ``storage.put``,
``storage.get``, ``Agent.move`` (the state's msgpack read, its coordinates checked to be numbers,
position, ``stats.distanceTraveled`` and ``lastSeen`` updated, stored) and ``ping`` in Lodestone's
wire format, batch frames (an array of requests, an array of replies) included, enough for core.py
and peer.py to drive it like the daemon. What Lodestone adds to these figures is the price of
everything it checks and offers.

Usage: python bench/floor.py ENDPOINT DATA_DIR
"""

from __future__ import annotations

import math
import signal
import sys
import time
from typing import Any

import lmdb
import msgpack
import zmq

BATCH = 1024


def answer(txn: lmdb.Transaction, env: lmdb.Environment, dbs: dict[str, Any], request: dict[str, Any]) -> bytes:
    """The reply to one request, run in ``txn``."""
    op, args = request["op"], request.get("args", {})
    result: Any = {"version": "floor"}
    if op != "ping":
        name = request["target"]["name"]
        db = dbs.get(name)
        if db is None:
            db = dbs[name] = env.open_db(name.encode(), txn=txn)
        if op == "storage.put":
            txn.put(args["key"].encode(), msgpack.packb(args["value"]), db=db)
            result = {}
        elif op == "storage.get":
            value = txn.get(args["key"].encode(), db=db)
            result = {"found": False} if value is None else {"found": True, "value": msgpack.unpackb(value)}
        else:
            result = move(txn, db, args)
    reply: bytes = msgpack.packb({"v": 1, "id": request["id"], "ok": True, "result": result})
    return reply


def move(txn: lmdb.Transaction, db: Any, args: dict[str, Any]) -> dict[str, Any]:
    """Agent.move, bare: the stored state's position, distance travelled and last-seen time."""
    x, y, z = args["x"], args["y"], args["z"]
    if not all(type(v) in (int, float) for v in (x, y, z)):
        raise ValueError("coordinates must be numbers")
    state = msgpack.unpackb(txn.get(b"state", db=db))
    old = state["position"]
    distance = math.dist((old["x"], old["y"], old["z"]), (x, y, z))
    state["position"] = position = {"x": x, "y": y, "z": z}
    state["stats"]["distanceTraveled"] += distance
    state["lastSeen"] = time.time_ns() // 1_000_000
    txn.put(b"state", msgpack.packb(state), db=db)
    return {"position": position, "distance": distance, "distanceTraveled": state["stats"]["distanceTraveled"]}


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
        frames_in: list[list[bytes]] = []
        taken = 0
        while taken < BATCH:
            try:
                frames = [recv(zmq.NOBLOCK)]
            except zmq.Again:
                break
            while more(zmq.RCVMORE):
                frames.append(recv(zmq.NOBLOCK))
            frames_in.append(frames)
            taken += 1
        replies: list[bytes] = []
        with env.begin(write=True) as txn:
            for frames in frames_in:
                body = msgpack.unpackb(frames[-1], raw=False)
                if type(body) is list:  # a batch frame: the array of the replies, in order
                    answers = [answer(txn, env, dbs, request) for request in body]
                    replies.append(msgpack.Packer().pack_array_header(len(answers)) + b"".join(answers))
                else:
                    replies.append(answer(txn, env, dbs, body))
        for frames, reply in zip(frames_in, replies, strict=True):
            for frame in frames[:-1]:
                send(frame, zmq.SNDMORE)
            send(reply)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(sys.argv[1], sys.argv[2])
