/**
 * The client on the platform's own WebSocket (browsers, Bun, Deno, Node >= 22; Node 20 with
 * --experimental-websocket, which `npm test` passes to this file): the token travels as
 * access_token, and a refused upgrade, which such a WebSocket does not report, ends in timeouts.
 */

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";

import { LodestoneClient, LodestoneTimeoutError } from "@lodestone/client";

import { FakeGateway } from "../helpers/fake-gateway.js";

const hasGlobal = typeof (globalThis as { WebSocket?: unknown }).WebSocket === "function";
let gateway: FakeGateway;

beforeEach(async () => {
  gateway = await FakeGateway.start();
});

afterEach(async () => {
  await gateway.stop();
});

describe("on the platform's WebSocket", { skip: hasGlobal ? false : "no global WebSocket in this runtime" }, () => {
  it("sends the token as access_token, and calls, batches and closes", async () => {
    const client = new LodestoneClient({ url: gateway.url, token: "s3cret" });
    assert.deepEqual(await client.ping(), { echo: "ping" });
    assert.equal((await Promise.all([client.ping(), client.ping()])).length, 2);
    const upgrade = gateway.upgrades[0]!;
    assert.equal(upgrade.headers.authorization, undefined);
    assert.equal(new URL(upgrade.url!, "ws://x").searchParams.get("access_token"), "s3cret");
    assert.ok(Array.isArray(gateway.frames.at(-1)!.value));
    await client.close();
  });

  it("cannot see a 401: calls time out, and close() does not wait for a socket still connecting", async () => {
    gateway.refuseWith = 401;
    const client = new LodestoneClient({ url: gateway.url, token: "wrong", timeoutMs: 300 });
    await assert.rejects(client.ping(), LodestoneTimeoutError);
    const started = Date.now();
    await client.close();
    assert.ok(Date.now() - started < 1500);
  });
});
