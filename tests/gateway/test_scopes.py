"""Tokens and scopes: who gets in, and what each token may do (FORBIDDEN otherwise)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.gateway.conftest import Session, Stack, auth, code_of, run

CHEST = {"class": "Chest", "name": "scoped"}
STEVE = {"class": "Agent", "name": "steve-scoped"}


def test_a_read_token_cannot_write(shared: Stack) -> None:
    async def body() -> None:
        async with Session(shared.gateway) as session:
            admin = await session.ws(shared.tokens["admin"])
            assert (await admin.call("Agent.init", STEVE))["ok"]
            ws = await session.ws(shared.tokens["reader"])
            assert code_of(await ws.call("storage.put", CHEST, {"key": "k", "value": 1})) == "FORBIDDEN"
            assert code_of(await ws.call("Agent.damage", STEVE, {"amount": 1, "source": "x"})) == "FORBIDDEN"
            # A read token cannot unmark its requests.
            put = await ws.call("storage.put", CHEST, {"key": "k", "value": 1}, readonly=False)
            assert code_of(put) == "FORBIDDEN"
            status, reply = await session.call(shared.tokens["reader"], {
                "op": "storage.put", "target": CHEST, "args": {"key": "k", "value": 1}})
            assert status == 403 and code_of(reply) == "FORBIDDEN"
            assert (await admin.call("storage.get", CHEST, {"key": "k"}))["result"] == {"found": False}

    run(body)


def test_a_read_token_reads(shared: Stack) -> None:
    async def body() -> None:
        async with Session(shared.gateway) as session:
            writer = await session.ws(shared.tokens["writer"])
            assert (await writer.call("storage.put", CHEST, {"key": "shown", "value": "yes"}))["ok"]
            reader = await session.ws(shared.tokens["reader"])
            assert (await reader.call("storage.get", CHEST, {"key": "shown"}))["result"] == {
                "found": True, "value": "yes"}
            assert (await reader.call("storage.list", CHEST, {"prefix": "sh"}))["result"]["entries"] == [
                ["shown", "yes"]]
            assert code_of(await reader.call("stats")) == "FORBIDDEN"

    run(body)


def test_write_and_admin_only_ops(shared: Stack) -> None:
    async def body() -> None:
        async with Session(shared.gateway) as session:
            writer = await session.ws(shared.tokens["writer"])
            assert (await writer.call("storage.put", CHEST, {"key": "keep", "value": 1}))["ok"]
            refused = await writer.call("storage.delete_all", CHEST)
            assert code_of(refused) == "FORBIDDEN" and refused["error"]["retryable"] is False
            assert "admin" in refused["error"]["message"]
            assert code_of(await writer.call("stats")) == "FORBIDDEN"
            assert (await writer.call("storage.get", CHEST, {"key": "keep"}))["result"]["found"] is True
            status, reply = await session.call(shared.tokens["writer"], {"op": "storage.delete_all", "target": CHEST})
            assert status == 403 and code_of(reply) == "FORBIDDEN"
            admin = await session.ws(shared.tokens["admin"])
            assert (await admin.call("storage.delete_all", CHEST))["ok"]
            assert (await writer.call("storage.get", CHEST, {"key": "keep"}))["result"]["found"] is False

    run(body)


def test_a_class_limited_token_reaches_its_classes_only(shared: Stack) -> None:
    token = shared.tokens["agents"]

    async def body() -> None:
        async with Session(shared.gateway) as session:
            ws = await session.ws(token)
            assert (await ws.call("storage.put", {"class": "Agent", "name": "plain"}, {"key": "k", "value": 1}))["ok"]
            other = await ws.call("storage.put", CHEST, {"key": "k", "value": 1})
            assert code_of(other) == "FORBIDDEN" and "Chest" in other["error"]["message"]
            # The op's own class counts too, not only the target's.
            borrowed = await ws.call("Foreman.heartbeat", {"class": "Agent", "name": "x"},
                                     {"agent": "x", "health": 1, "position": {"x": 0, "y": 0, "z": 0}})
            assert code_of(borrowed) == "FORBIDDEN"
            assert code_of(await ws.call("storage.get", {"name": "no-class"}, {"key": "k"})) == "FORBIDDEN"
            # Without a target: ping, health, and the id and listing ops of its own classes.
            assert (await ws.call("ping"))["ok"]
            assert (await ws.call("health"))["ok"]
            assert (await ws.call("id.from_name", args={"class": "Agent", "name": "a"}))["ok"]
            assert code_of(await ws.call("id.from_name", args={"class": "Chest", "name": "a"})) == "FORBIDDEN"
            assert (await ws.call("objects.list", args={"class": "Agent"}))["ok"]
            assert code_of(await ws.call("objects.list", args={"class": "Chest"})) == "FORBIDDEN"
            # alarms.list spans every class, whatever target is sent along.
            assert code_of(await ws.call("alarms.list", {"class": "Agent", "name": "a"})) == "FORBIDDEN"
            status, reply = await session.call(token, {"op": "storage.get", "target": CHEST, "args": {"key": "k"}})
            assert status == 403 and code_of(reply) == "FORBIDDEN"

    run(body)


def test_subscriptions_stay_inside_a_tokens_classes(shared: Stack) -> None:
    async def body() -> None:
        async with Session(shared.gateway) as session:
            ws = await session.ws(shared.tokens["agent-reader"])
            for prefix in ("change.", "change.Agent", "change.Chest.", "telemetry.", "", "alarm."):
                await ws.send({"ctl": "subscribe", "prefix": prefix})
                refused = await ws.recv()
                assert refused["ctl"] == "error" and refused["code"] == "FORBIDDEN", refused
                assert refused["prefix"] == prefix
            for prefix in ("change.Agent.", "change.Agent.0123", "alarm.Agent.", "alarm_dropped.Agent.",
                           "agent.", "agent.damage.steve"):
                await ws.send({"ctl": "subscribe", "prefix": prefix})
                assert await ws.recv() == {"ctl": "subscribed", "prefix": prefix}
            everything = await session.ws(shared.tokens["reader"])
            await everything.send({"ctl": "subscribe", "prefix": ""})
            assert await everything.recv() == {"ctl": "subscribed", "prefix": ""}

    run(body)


def test_missing_and_unknown_tokens_get_401_before_anything(shared: Stack) -> None:
    async def body() -> None:
        async with Session(shared.gateway) as session:
            url = shared.gateway.url
            for headers in ({}, auth("lst_not-a-token"), {"Authorization": "Basic YWxhZGRpbjpvcGVu"}):
                async with session.http.get(f"{url}/v1/ws", headers=headers) as response:
                    assert response.status == 401
                    assert response.headers["WWW-Authenticate"].startswith("Bearer")
                    assert (await response.json())["error"]["code"] == "UNAUTHENTICATED"
                async with session.http.post(f"{url}/v1/call", json={"op": "ping"}, headers=headers) as response:
                    assert response.status == 401
                    assert (await response.json())["error"]["code"] == "UNAUTHENTICATED"
                async with session.http.get(f"{url}/v1/health", headers=headers) as response:
                    assert response.status == 401
                async with session.http.get(f"{url}/", headers=headers) as response:
                    assert response.status == 401
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws("lst_wrong")
            assert refused.value.status == 401
            # Browsers cannot set headers on a WebSocket: the token may come as a query parameter.
            ws = await session.http.ws_connect(f"{shared.gateway.ws_url}?access_token={shared.tokens['reader']}")
            await ws.send_bytes(b"\x84\xa1v\x01\xa2id\x01\xa2op\xa4ping\xa4args\x80")
            message = await ws.receive(10)
            assert message.type == aiohttp.WSMsgType.BINARY and b"protocol" in message.data
            await ws.close()

    run(body)


def test_static_files_need_a_token_and_stay_inside_their_folder(shared: Stack) -> None:
    async def body() -> None:
        async with Session(shared.gateway) as session:
            url, token = shared.gateway.url, shared.tokens["reader"]
            async with session.http.get(f"{url}/", headers=auth(token)) as response:
                assert response.status == 200 and '<script type="module" src="js/main.js">' in await response.text()
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:  # an IP host
                async with browser.get(f"{url}/?access_token={token}") as response:
                    assert response.status == 200
                    cookie = response.cookies["lodestone_access_token"]
                    assert cookie["httponly"] and cookie["samesite"] == "Strict"
                async with browser.get(f"{url}/index.html") as response:  # the cookie alone, as a page's assets
                    assert response.status == 200
                async with browser.post(f"{url}/v1/call", json={"op": "ping"}) as response:
                    assert response.status == 401  # the cookie is for files only, never for calls
            for path in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/nothing-here.js"):
                async with session.http.get(f"{url}{path}", headers=auth(token)) as response:
                    assert response.status == 404, path

    run(body)
