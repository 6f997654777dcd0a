import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import {
  BadRequestError,
  ConflictError,
  InvalidIdError,
  NotFoundError,
  TooLargeError,
  UnknownOpError,
  UnsupportedVersionError,
  errorFromReply,
  type LodestoneClient,
  type ObjectHandle,
} from "@lodestone/client";

import { Stack, unique } from "../helpers/stack.js";

let stack: Stack;
let client: LodestoneClient;

before(async () => {
  stack = await Stack.start();
  client = stack.client();
});

after(async () => {
  await stack.stop();
});

function chest(): ObjectHandle {
  return client.object("Chest", unique("chest"));
}

describe("storage ops through the gateway", () => {
  it("put and get one key, any msgpack value", async () => {
    const c = chest();
    const value = { slots: { "0": "oak_log" }, weight: 1.5, count: 12, big: 2 ** 40, tags: ["a", "b"], raw: Uint8Array.of(1, 2), none: null };
    await c.put("state", value);
    assert.deepEqual(await c.get("state"), value);
    assert.equal(await c.get("missing"), undefined);
  });

  it("getMany and putMany", async () => {
    const c = chest();
    await c.putMany({ "task:2": "build", "task:1": "mine", hp: 20 });
    assert.deepEqual(await c.getMany(["task:2", "zzz", "hp", "task:1"]), { hp: 20, "task:1": "mine", "task:2": "build" });
    assert.deepEqual(Object.keys(await c.getMany(["task:2", "hp", "task:1"])), ["hp", "task:1", "task:2"]);
    await c.putMany(new Map([["m", 1]]));
    assert.equal(await c.get("m"), 1);
  });

  it("delete and deleteMany say what existed", async () => {
    const c = chest();
    await c.putMany({ a: 1, b: 2, c: 3 });
    assert.equal(await c.delete("a"), true);
    assert.equal(await c.delete("a"), false);
    assert.equal(await c.deleteMany(["b", "c", "d"]), 2);
    assert.deepEqual(await c.list(), []);
  });

  it("list with start, startAfter, end, prefix, reverse and limit, in UTF-8 byte order", async () => {
    const c = chest();
    await c.putMany({ "k1": 1, "k2": 2, "k3": 3, "k4": 4, "x": 0, "é": 5, "z": 6 });
    const keys = async (options: Parameters<ObjectHandle["list"]>[0]): Promise<string[]> => (await c.list(options)).map(([k]) => k);
    assert.deepEqual(await keys({}), ["k1", "k2", "k3", "k4", "x", "z", "é"]);
    assert.deepEqual(await keys({ start: "k2" }), ["k2", "k3", "k4", "x", "z", "é"]);
    assert.deepEqual(await keys({ startAfter: "k2", end: "k4" }), ["k3"]);
    assert.deepEqual(await keys({ prefix: "k", reverse: true, limit: 2 }), ["k4", "k3"]);
    assert.deepEqual(await keys({ start: "x", end: "k" }), []);
    assert.deepEqual((await c.list({ prefix: "k1" }))[0], ["k1", 1]);
    await assert.rejects(c.list({ start: "a", startAfter: "b" }), BadRequestError);
    await assert.rejects(c.list({ limit: 0 }), BadRequestError);
  });

  it("deleteAll empties the object and clears its alarm", async () => {
    const c = chest();
    await c.putMany({ a: 1, b: 2 });
    await c.alarm.set(Date.now() + 3_600_000);
    await c.deleteAll();
    assert.deepEqual(await c.list(), []);
    assert.equal(await c.alarm.get(), null);
  });

  it("transaction applies all ops when every check holds, and none otherwise", async () => {
    const c = chest();
    await c.putMany({ hp: 20, "task:1": "mine" });
    await assert.rejects(
      c.transaction({ checks: [{ key: "hp", value: 19 }], ops: [{ op: "put", key: "hp", value: 18 }] }),
      (e: unknown) => e instanceof ConflictError && /hp/.test(e.message),
    );
    assert.equal(await c.get("hp"), 20);
    await c.transaction({
      checks: [{ key: "hp", value: 20 }, { key: "dead", absent: true }],
      ops: [{ op: "put", key: "hp", value: 18 }, { op: "delete", key: "task:1" }],
    });
    assert.deepEqual(await c.list(), [["hp", 18]]);
  });

  it("alarm get, set (a number or a Date) and delete", async () => {
    const c = chest();
    assert.equal(await c.alarm.get(), null);
    const at = Date.now() + 3_600_000;
    await c.alarm.set(at);
    assert.equal(await c.alarm.get(), at);
    await c.alarm.set(new Date(at + 1000));
    assert.equal(await c.alarm.get(), at + 1000);
    const listed = await client.alarms({ limit: 10_000 });
    assert.ok(listed.some((a) => a.at_ms === at + 1000 && a.class === "Chest"));
    await c.alarm.delete();
    assert.equal(await c.alarm.get(), null);
    await assert.rejects(c.alarm.set(0), BadRequestError);
  });

  it("addresses an object by id as by name", async () => {
    const name = unique("chest");
    await client.object("Chest", name).put("k", "v");
    const id = await client.idFromName("Chest", name);
    assert.match(id, /^[0-9a-f]{64}$/);
    assert.equal(await client.objectById("Chest", id).get("k"), "v");
    assert.equal(await client.idFromString("Chest", id), id);
    await assert.rejects(client.idFromString("Horse", id), InvalidIdError);
    await assert.rejects(client.objectById("Chest", "abc").get("k"), InvalidIdError);
    const fresh = await client.newUniqueId("Chest");
    assert.notEqual(fresh, id);
    const objects = await client.objects("Chest", { limit: 10_000 });
    assert.ok(objects.some((o) => o.id === id && o.name === name));
  });

  it("ping, health and stats", async () => {
    assert.deepEqual((await client.ping()).protocol, [1]);
    const health = await client.health();
    assert.equal(health.storage_open, true);
    assert.ok(["ok", "warning"].includes(health.status));
    assert.equal(typeof (await client.stats()).storage, "object");
  });
});

describe("typed errors from the daemon", () => {
  it("BAD_REQUEST, UNKNOWN_OP, UNSUPPORTED_VERSION, TOO_LARGE", async () => {
    const c = chest();
    await assert.rejects(client.call("storage.put", c.target, { key: 5, value: 1 }), BadRequestError);
    await assert.rejects(client.call("storage.fly", c.target, {}), UnknownOpError);
    await assert.rejects(c.getMany(Array.from({ length: 129 }, (_, i) => `k${i}`)), TooLargeError);
    await assert.rejects(c.put("k".repeat(2049), 1), TooLargeError);
    // The client always speaks version 1; a raw call shows the daemon's refusal of another.
    const raw = await rawCall({ v: 2, id: 1, op: "ping", args: {} });
    assert.ok(errorFromReply(raw.error) instanceof UnsupportedVersionError);
  });

  it("NOT_FOUND for an agent that never spawned, CONFLICT for an inventory underflow", async () => {
    await assert.rejects(client.agent(unique("ghost")).state(), (e: unknown) => e instanceof NotFoundError && /has not spawned/.test(e.message));
    const steve = client.agent(unique("steve"));
    await steve.init({ inventory: [{ type: "oak_log", count: 2 }] });
    await assert.rejects(steve.inventory.remove("oak_log", 3), ConflictError);
    assert.deepEqual((await steve.state()).inventory.map((i) => [i.type, i.count]), [["oak_log", 2]]);
  });
});

/** One request over a bare WebSocket, for what the client itself never sends. */
async function rawCall(message: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { WebSocket } = await import("ws");
  const { encode, decode } = await import("@lodestone/client/wire");
  const ws = new WebSocket(`${stack.url.replace("http", "ws")}/v1/ws`);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const reply = new Promise<Record<string, unknown>>((resolve) => ws.once("message", (data: Buffer) => resolve(decode(data) as Record<string, unknown>)));
  ws.send(encode(message));
  const result = await reply;
  ws.close();
  return result;
}
