"""Every op family through the gateway, over the WebSocket (msgpack) and over HTTP (JSON)."""

from __future__ import annotations

import time

from tests.gateway.conftest import Session, Stack, code_of, run


def test_storage_ops_over_the_websocket(shared: Stack) -> None:
    chest = {"class": "Chest", "name": "ws-storage"}

    async def body() -> None:
        async with Session(shared.gateway) as session:
            ws = await session.ws(shared.tokens["writer"])
            assert (await ws.call("storage.put", chest, {"key": "a", "value": {"n": 1}}))["result"] == {}
            await ws.call("storage.put", chest, {"entries": {"b": b"\x00\xff", "c": [1, 2]}})
            assert (await ws.call("storage.get", chest, {"key": "a"}))["result"] == {"found": True, "value": {"n": 1}}
            assert (await ws.call("storage.get", chest, {"key": "zz"}))["result"] == {"found": False}
            got = await ws.call("storage.get", chest, {"keys": ["b", "c", "zz"]})
            assert got["result"] == {"values": {"b": b"\x00\xff", "c": [1, 2]}}
            listed = await ws.call("storage.list", chest, {"start": "b"})
            assert listed["result"] == {"entries": [["b", b"\x00\xff"], ["c", [1, 2]]]}
            assert (await ws.call("storage.delete", chest, {"key": "c"}))["result"] == {"deleted": True}
            assert (await ws.call("storage.delete", chest, {"keys": ["c", "b"]}))["result"] == {"deleted": 1}
            conflict = await ws.call("storage.transaction", chest, {
                "checks": [{"key": "a", "absent": True}], "ops": [{"op": "put", "key": "x", "value": 1}]})
            assert code_of(conflict) == "CONFLICT"
            done = await ws.call("storage.transaction", chest, {
                "checks": [{"key": "a", "value": {"n": 1}}],
                "ops": [{"op": "put", "key": "x", "value": 1}, {"op": "delete", "key": "a"}]})
            assert done["ok"], done
            assert (await ws.call("storage.list", chest))["result"] == {"entries": [["x", 1]]}
            # Ids the client picks, of either type, come back as sent.
            await ws.send({"v": 1, "id": "my-own-id", "op": "ping"})
            assert (await ws.recv())["id"] == "my-own-id"
            await ws.send({"v": 1, "id": -(2**63), "op": "ping"})
            assert (await ws.recv())["id"] == -(2**63)

    run(body)


def test_storage_ops_over_http(shared: Stack) -> None:
    chest = {"class": "Chest", "name": "http-storage"}
    token = shared.tokens["writer"]

    async def body() -> None:
        async with Session(shared.gateway) as session:
            status, reply = await session.call(token, {"op": "storage.put", "target": chest, "args": {
                "entries": {"a": {"$bytes": "00ff"}, "b": {"deep": [1, "two"]}}}})
            assert (status, reply) == (200, {"v": 1, "id": None, "ok": True, "result": {}})
            status, reply = await session.call(token, {"id": "g1", "op": "storage.get", "target": chest,
                                                       "args": {"keys": ["a", "b"]}})
            assert status == 200 and reply["id"] == "g1"
            assert reply["result"] == {"values": {"a": {"$bytes": "00ff"}, "b": {"deep": [1, "two"]}}}
            status, reply = await session.call(token, {"id": 5, "op": "storage.list", "target": chest,
                                                       "args": {"reverse": True}})
            assert status == 200 and [key for key, _ in reply["result"]["entries"]] == ["b", "a"]
            status, reply = await session.call(token, {"op": "storage.transaction", "target": chest, "args": {
                "checks": [{"key": "a", "absent": True}], "ops": [{"op": "delete", "key": "b"}]}})
            assert status == 409 and code_of(reply) == "CONFLICT"
            status, reply = await session.call(token, {"op": "storage.delete", "target": chest, "args": {"key": "b"}})
            assert (status, reply["result"]) == (200, {"deleted": True})
            status, reply = await session.call(token, {"op": "storage.get", "target": chest,
                                                       "args": {"key": "b", "sauce": 1}})
            assert status == 400 and code_of(reply) == "BAD_REQUEST"
            status, reply = await session.call(token, {"op": "no.such.op", "target": chest})
            assert status == 400 and code_of(reply) == "UNKNOWN_OP"
            status, reply = await session.call(token, {"v": 9, "op": "ping"})
            assert status == 400 and code_of(reply) == "UNSUPPORTED_VERSION"
            status, reply = await session.call(token, {"op": "storage.get", "target": {"class": "Chest", "id": "ab"},
                                                       "args": {"key": "a"}})
            assert status == 400 and code_of(reply) == "INVALID_ID"

    run(body)


def test_agent_ops_over_both(shared: Stack) -> None:
    async def body() -> None:
        async with Session(shared.gateway) as session:
            ws = await session.ws(shared.tokens["agents"])
            steve = {"class": "Agent", "name": "steve-ws"}
            init = await ws.call("Agent.init", steve, {"position": {"x": 0, "y": 64, "z": 0}})
            assert init["ok"] and init["result"]["health"] == init["result"]["maxHealth"]
            again = await ws.call("Agent.init", steve)
            assert code_of(again) == "CONFLICT"
            damage = await ws.call("Agent.damage", steve, {"amount": 5, "source": "zombie"}, idem="hit-1")
            assert damage["result"] == {"health": init["result"]["health"] - 5, "died": False}
            repeat = await ws.call("Agent.damage", steve, {"amount": 5, "source": "zombie"}, idem="hit-1")
            assert repeat["result"] == damage["result"]  # applied once
            moved = await ws.call("Agent.move", steve, {"x": 3, "y": 64, "z": 4})
            assert moved["result"]["distance"] == 5
            state = await ws.call("Agent.state", steve)
            assert state["result"]["position"] == {"x": 3, "y": 64, "z": 4}
            assert state["result"]["health"] == init["result"]["health"] - 5
            missing = await ws.call("Agent.state", {"class": "Agent", "name": "never-spawned"})
            assert code_of(missing) == "NOT_FOUND"

            token = shared.tokens["agents"]
            alex = {"class": "Agent", "name": "alex-http"}
            status, reply = await session.call(token, {"op": "Agent.init", "target": alex,
                                                       "args": {"position": {"x": 0, "y": 0, "z": 0}}})
            assert status == 200 and reply["result"]["name"] == "alex-http"
            status, reply = await session.call(token, {"op": "Agent.damage", "target": alex,
                                                       "args": {"amount": -3, "source": "x"}})
            assert status == 400 and "amount" in reply["error"]["message"]
            status, reply = await session.call(token, {"op": "Agent.move", "target": alex,
                                                       "args": {"x": 1, "y": 2, "z": 2}})
            assert status == 200 and reply["result"]["distance"] == 3
            status, reply = await session.call(token, {"op": "Agent.state", "target": alex})
            assert status == 200 and reply["result"]["position"] == {"x": 1, "y": 2, "z": 2}
            status, reply = await session.call(token, {"op": "Agent.state", "target": {"class": "Agent", "name": "no"}})
            assert status == 404 and code_of(reply) == "NOT_FOUND"

    run(body)


def test_alarms_over_both(shared: Stack) -> None:
    later = int(time.time() * 1000) + 3_600_000

    async def body() -> None:
        async with Session(shared.gateway) as session:
            ws = await session.ws(shared.tokens["writer"])
            bell = {"class": "Bell", "name": "ws"}
            assert (await ws.call("alarm.set", bell, {"at_ms": later}))["result"] == {}
            assert (await ws.call("alarm.get", bell))["result"] == {"at_ms": later}
            listed = await ws.call("alarms.list")
            assert any(entry["name"] == "ws" and entry["at_ms"] == later for entry in listed["result"]["alarms"])
            assert (await ws.call("alarm.delete", bell))["result"] == {}
            assert (await ws.call("alarm.get", bell))["result"] == {"at_ms": None}
            assert code_of(await ws.call("alarm.set", bell, {"at_ms": 0})) == "BAD_REQUEST"

            token = shared.tokens["writer"]
            http_bell = {"class": "Bell", "name": "http"}
            status, _ = await session.call(token, {"op": "alarm.set", "target": http_bell, "args": {"at_ms": later}})
            assert status == 200
            status, reply = await session.call(token, {"op": "alarm.get", "target": http_bell})
            assert (status, reply["result"]) == (200, {"at_ms": later})
            status, reply = await session.call(token, {"op": "alarms.list", "args": {"due_by_ms": later}})
            assert status == 200 and {"ws", "http"} & {e["name"] for e in reply["result"]["alarms"]} == {"http"}

    run(body)


def test_targetless_ops_and_ids(shared: Stack) -> None:
    async def body() -> None:
        async with Session(shared.gateway) as session:
            ws = await session.ws(shared.tokens["admin"])
            assert (await ws.call("ping"))["result"]["protocol"] == [1]
            made = await ws.call("id.from_name", args={"class": "Chest", "name": "ids"})
            again = await ws.call("id.from_string", args={"class": "Chest", "id": made["result"]["id"]})
            assert again["result"] == made["result"]
            await ws.call("storage.put", {"class": "Chest", "id": made["result"]["id"]}, {"key": "k", "value": 1})
            objects = await ws.call("objects.list", args={"class": "Chest"})
            assert made["result"]["id"] in [entry["id"] for entry in objects["result"]["objects"]]
            stats = await ws.call("stats")
            assert stats["ok"] and "counters" in stats["result"]
            status, report = await session.health(shared.tokens["reader"])
            assert status == 200 and report["daemon"]["reachable"] is True
            assert report["daemon"]["health"]["storage_open"] is True
            assert report["gateway"]["connections"] == 1

    run(body)

