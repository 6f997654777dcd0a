import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";

import { WebSocket as WsWebSocket } from "ws";

import {
  ClientClosedError,
  ConflictError,
  ForbiddenError,
  LodestoneClient,
  LodestoneTimeoutError,
  NotFoundError,
  TooLargeError,
  UnauthenticatedError,
  UnavailableError,
  connect,
  type WebSocketConstructor,
} from "@lodestone/client";

import { FakeGateway, fail, ok, until, type Message } from "../helpers/fake-gateway.js";

let gateway: FakeGateway;
let clients: LodestoneClient[] = [];

function client(options: Partial<ConstructorParameters<typeof LodestoneClient>[0]> = {}): LodestoneClient {
  const c = new LodestoneClient({ url: gateway.url, retryDelayMs: 5, reconnectDelayMs: 5, ...options });
  clients.push(c);
  return c;
}

const requestFrames = (): unknown[] =>
  gateway.frames.map((f) => f.value).filter((v) => Array.isArray(v) || typeof (v as Message).ctl !== "string");

beforeEach(async () => {
  gateway = await FakeGateway.start();
});

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await gateway.stop();
});

describe("automatic batching", () => {
  it("sends 200 calls made in one tick as one batch frame, in call order", async () => {
    gateway.handler = (r) => ok(r, { x: (r.args as { x: number }).x });
    const c = client();
    await c.ready();
    const agent = c.agent("steve");
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => agent.move(i, 64, 0)));
    assert.deepEqual(
      results.map((r) => (r as unknown as { x: number }).x),
      Array.from({ length: 200 }, (_, i) => i),
    );
    const frames = requestFrames();
    assert.equal(frames.length, 1);
    const batch = frames[0] as Message[];
    assert.ok(Array.isArray(batch));
    assert.equal(batch.length, 200);
    assert.deepEqual(
      batch.map((r) => (r.args as { x: number }).x),
      Array.from({ length: 200 }, (_, i) => i),
    );
    for (const r of batch) assert.equal(r.op, "Agent.move");
  });

  it("sends a lone call as a single map, and calls in different ticks as different frames", async () => {
    const c = client();
    await c.ready();
    await c.ping();
    await c.ping();
    const frames = requestFrames();
    assert.equal(frames.length, 2);
    for (const frame of frames) {
      assert.ok(!Array.isArray(frame));
      assert.equal((frame as Message).op, "ping");
    }
  });

  it("batches the calls made before the connection opened", async () => {
    const c = client();
    await Promise.all([c.ping(), c.ping(), c.ping()]);
    const frames = requestFrames();
    assert.equal(frames.length, 1);
    assert.equal((frames[0] as Message[]).length, 3);
  });

  it("sends one frame per call with batch: false", async () => {
    const c = client({ batch: false });
    await c.ready();
    await Promise.all([c.ping(), c.ping(), c.ping()]);
    const frames = requestFrames();
    assert.equal(frames.length, 3);
    for (const frame of frames) assert.ok(!Array.isArray(frame));
  });

  it("splits a large tick into frames of at most maxBatch", async () => {
    const c = client({ maxBatch: 50 });
    await c.ready();
    await Promise.all(Array.from({ length: 120 }, () => c.ping()));
    assert.deepEqual(
      requestFrames().map((f) => (f as Message[]).length),
      [50, 50, 20],
    );
  });
});

describe("flow control", () => {
  it("keeps at most maxInFlight requests unanswered, sending the rest as replies come", async () => {
    let unanswered = 0;
    let most = 0;
    gateway.handler = async (r) => {
      unanswered += 1;
      most = Math.max(most, unanswered);
      await new Promise((resolve) => setTimeout(resolve, 2));
      unanswered -= 1;
      return ok(r, r.id);
    };
    const c = client({ maxInFlight: 10 });
    await c.ready();
    const results = await Promise.all(Array.from({ length: 45 }, () => c.ping()));
    assert.equal(results.length, 45);
    assert.ok(requestFrames().length >= 5);
    const sizes = requestFrames().map((f) => (Array.isArray(f) ? f.length : 1));
    assert.ok(sizes.every((n) => n <= 10), String(sizes));
    assert.equal(sizes.reduce((a, b) => a + b, 0), 45);
    assert.equal(c.pendingCalls, 0);
  });
});

describe("requests", () => {
  it("carry the protocol's envelope, and a fresh idempotency key on every request, reads too", async () => {
    const c = client();
    await Promise.all([c.ping(), c.object("Chest", "c1").get("slots"), c.object("Chest", "c1").put("slots", { 0: "oak_log" })]);
    const [ping, get, put] = gateway.requests;
    assert.deepEqual(Object.keys(ping!), ["v", "id", "op", "args", "idem"]);
    assert.deepEqual(Object.keys(get!), ["v", "id", "op", "target", "args", "idem"]);
    assert.deepEqual(get!.target, { class: "Chest", name: "c1" });
    assert.deepEqual(put!.args, { key: "slots", value: { 0: "oak_log" } });
    const keys = gateway.requests.map((r) => r.idem as string);
    for (const key of keys) assert.match(key, /^[0-9a-f]{32}$/);
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(new Set(gateway.requests.map((r) => r.id)).size, 3);
  });

  it("use the caller's idempotency key when given", async () => {
    const c = client();
    await c.object("Chest", "c1").put("k", 1, { idem: "reward-quest-17" });
    assert.equal(gateway.requests[0]!.idem, "reward-quest-17");
  });

  it("leave out arguments that are not given", async () => {
    const c = client();
    await c.object("A", "a").list({ prefix: "task:" });
    await c.agent("a").task.history();
    assert.deepEqual(gateway.requests[0]!.args, { prefix: "task:" });
    assert.deepEqual(gateway.requests[1]!.args, {});
  });

  it("fail with TooLargeError before anything is sent when over the frame limit", async () => {
    const c = client({ maxFrameBytes: 1000 });
    await c.ready();
    await assert.rejects(c.object("A", "a").put("k", "x".repeat(2000)), TooLargeError);
    assert.equal(gateway.requests.length, 0);
  });
});

describe("errors", () => {
  it("reject with the error class of the reply's code, and keep the call's idem", async () => {
    gateway.handler = (r) => fail(r, r.op === "Agent.state" ? "NOT_FOUND" : "CONFLICT", "nope");
    const c = client();
    const state = c.agent("ghost").state();
    const remove = c.agent("ghost").inventory.remove("oak_log", 64, { idem: "k1" });
    await assert.rejects(state, (e: unknown) => e instanceof NotFoundError && e.code === "NOT_FOUND" && !e.retryable);
    await assert.rejects(remove, (e: unknown) => e instanceof ConflictError && e.idem === "k1" && e.op === "Agent.inventory.remove");
    assert.equal(gateway.requests.length, 2); // not retried
  });

  it("retry a retryable error with the same id and idem, then succeed", async () => {
    let failures = 2;
    gateway.handler = (r) => (failures-- > 0 ? fail(r, "UNAVAILABLE", "restarting", true) : ok(r, "done"));
    const c = client();
    assert.equal(await c.object("A", "a").put("k", 1), undefined);
    assert.equal(gateway.requests.length, 3);
    assert.equal(new Set(gateway.requests.map((r) => r.id)).size, 1);
    assert.equal(new Set(gateway.requests.map((r) => r.idem)).size, 1);
  });

  it("raise the last retryable error once the retries are spent", async () => {
    gateway.handler = (r) => fail(r, "UNAVAILABLE", "daemon down", true);
    const c = client({ retries: 2 });
    await assert.rejects(c.ping(), (e: unknown) => e instanceof UnavailableError && e.message === "daemon down");
    assert.equal(gateway.requests.length, 3);
  });

  it("time out a call without a reply, and ignore its late reply", async () => {
    const held: Message[] = [];
    gateway.handler = (r) => {
      held.push(r);
      return undefined;
    };
    const c = client({ timeoutMs: 100 });
    const started = Date.now();
    await assert.rejects(
      c.object("A", "a").put("k", 1),
      (e: unknown) => e instanceof LodestoneTimeoutError && e.code === "TIMEOUT" && e.retryable && e.idem === held[0]!.idem,
    );
    assert.ok(Date.now() - started >= 95);
    gateway.send(ok(held[0]!));
    gateway.handler = (r) => ok(r, "fresh");
    assert.equal(await c.call("ping", undefined, {}, { timeoutMs: 1000 }), "fresh");
  });

  it("take a per-call timeout", async () => {
    gateway.handler = () => undefined;
    const c = client({ timeoutMs: 60_000 });
    await assert.rejects(c.ping({ timeoutMs: 50 }), LodestoneTimeoutError);
  });
});

describe("the connection", () => {
  it("resends the calls waiting for replies after a reconnection, with the same id and idem", async () => {
    gateway.handler = (r, connection) => (connection === 1 ? undefined : ok(r, connection));
    const c = client();
    const results = Promise.all([c.object("A", "a").put("k", 1), c.agent("a").move(1, 2, 3)]);
    await until(() => gateway.requests.length === 2, 2000, "the first sends");
    gateway.dropConnections();
    await results;
    assert.equal(gateway.requests.length, 4);
    const [first, second] = [gateway.requests.slice(0, 2), gateway.requests.slice(2)];
    assert.deepEqual(
      second.map((r) => [r.id, r.idem, r.op]),
      first.map((r) => [r.id, r.idem, r.op]),
    );
    assert.equal(gateway.connections, 2);
  });

  it("queues calls while disconnected and sends them once it is back", async () => {
    const c = client();
    await c.ready();
    gateway.dropConnections();
    await until(() => !c.connected, 2000, "the close");
    assert.deepEqual(await c.call("ping"), { echo: "ping" });
    assert.equal(gateway.connections, 2);
  });

  it("sends the token as a Bearer header on Node's ws", { skip: typeof (globalThis as { WebSocket?: unknown }).WebSocket === "function" ? "this runtime has a global WebSocket; the client uses it (test/global-ws)" : false }, async () => {
    const c = client({ token: "s3cret" });
    await c.ping();
    assert.equal(gateway.upgrades[0]!.headers.authorization, "Bearer s3cret");
    assert.ok(!gateway.upgrades[0]!.url!.includes("access_token"));
    assert.equal(new URL(gateway.upgrades[0]!.url!, "ws://x").pathname, "/v1/ws");
  });

  it("sends the token as access_token where a WebSocket cannot set headers", async () => {
    // A standard-API WebSocket given by the caller: the client assumes it cannot send headers.
    const c = client({ token: "s3cret", WebSocket: WsWebSocket as unknown as WebSocketConstructor });
    await c.ping();
    assert.equal(gateway.upgrades[0]!.headers.authorization, undefined);
    assert.equal(new URL(gateway.upgrades[0]!.url!, "ws://x").searchParams.get("access_token"), "s3cret");
  });

  // The ws package reports the refused upgrade's status; a browser's WebSocket does not (test/global-ws).
  const nodeWs = { WebSocket: WsWebSocket as unknown as WebSocketConstructor, auth: "header" } as const;

  it("fails calls with UnauthenticatedError when the gateway answers 401", async () => {
    gateway.refuseWith = 401;
    const c = client({ token: "wrong", ...nodeWs });
    await assert.rejects(c.ping(), UnauthenticatedError);
    await assert.rejects(connect({ url: gateway.url, token: "wrong", ...nodeWs }), UnauthenticatedError);
  });

  it("takes the 401 from Bun's WebSocket, whose refusal reads 'Expected 101 status code: 401'", async () => {
    // Bun's WebSocket as it fails a refused upgrade: an error event with this message, then a close.
    class BunRefused {
      readyState = 0;
      binaryType = "blob";
      private readonly listeners = new Map<string, ((event: unknown) => void)[]>();
      constructor(url: string) {
        setTimeout(() => {
          this.dispatch("error", { message: `WebSocket connection to '${url}' failed: Expected 101 status code: 401` });
          this.readyState = 3;
          this.dispatch("close", { code: 1006, reason: "" });
        }, 1);
      }
      addEventListener(type: string, listener: (event: never) => void): void {
        this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener as (event: unknown) => void]);
      }
      send(): void {}
      close(): void {}
      private dispatch(type: string, event: unknown): void {
        for (const listener of this.listeners.get(type) ?? []) listener(event);
      }
    }
    const c = client({ token: "wrong", WebSocket: BunRefused as unknown as WebSocketConstructor, auth: "header", timeoutMs: 5000 });
    await assert.rejects(c.ping(), UnauthenticatedError);
  });

  it("fails calls with ForbiddenError when the gateway answers 403", async () => {
    gateway.refuseWith = 403;
    await assert.rejects(client({ token: "t", ...nodeWs }).ping(), ForbiddenError);
  });

  it("connect() resolves once the connection is open", async () => {
    const c = await connect({ url: gateway.url });
    clients.push(c);
    assert.ok(c.connected);
  });

  it("fails waiting calls with ClientClosedError on close, and every call after", async () => {
    gateway.handler = () => undefined;
    const c = client();
    const pending = assert.rejects(c.ping(), ClientClosedError);
    await until(() => gateway.requests.length === 1, 2000, "the send");
    await c.close();
    await pending;
    await assert.rejects(c.ping(), ClientClosedError);
  });
});

describe("subscriptions", () => {
  it("subscribe, deliver matching events in order, and unsubscribe on break", async () => {
    const c = client();
    const sub = c.subscribe("change.Agent.");
    await sub.ready;
    assert.deepEqual(gateway.controls()[0], { ctl: "subscribe", prefix: "change.Agent." });
    gateway.event("change.Horse.1", { n: 0 });
    for (let n = 1; n <= 3; n++) gateway.event(`change.Agent.${n}`, { n });
    const got: unknown[] = [];
    for await (const event of sub) {
      got.push(event.body);
      assert.equal(event.dropped, 0);
      assert.equal(event.reconnected, false);
      if (got.length === 3) break;
    }
    assert.deepEqual(got, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await until(() => gateway.controls().some((m) => m.ctl === "unsubscribe"), 2000, "the unsubscribe");
    assert.deepEqual(gateway.controls().at(-1), { ctl: "unsubscribe", prefix: "change.Agent." });
    assert.ok(sub.closed);
  });

  it("share one gateway subscription between iterators of one prefix, and route nested prefixes", async () => {
    const c = client();
    const a = c.subscribe("agent.");
    const b = c.subscribe("agent.");
    const damage = c.subscribe("agent.damage.");
    await Promise.all([a.ready, b.ready, damage.ready]);
    assert.equal(gateway.controls().filter((m) => m.ctl === "subscribe" && m.prefix === "agent.").length, 1);
    gateway.event("agent.move.steve", { i: 1 });
    gateway.event("agent.damage.steve", { i: 2 });
    assert.deepEqual((await a.next()).value?.body, { i: 1 });
    assert.deepEqual((await b.next()).value?.body, { i: 1 });
    assert.deepEqual((await damage.next()).value?.body, { i: 2 });
    a.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(!gateway.controls().some((m) => m.ctl === "unsubscribe"));
    b.close();
    await until(() => gateway.controls().some((m) => m.ctl === "unsubscribe" && m.prefix === "agent."), 2000, "unsubscribe");
    damage.close();
  });

  it("tell the next event how many the gateway dropped", async () => {
    const c = client();
    const sub = c.subscribe("t.");
    await sub.ready;
    gateway.event("t.1", {});
    gateway.send({ ctl: "dropped", count: 5 });
    gateway.event("t.7", {});
    assert.equal((await sub.next()).value?.dropped, 0);
    const after = (await sub.next()).value!;
    assert.equal(after.topic, "t.7");
    assert.equal(after.dropped, 5);
    assert.equal(sub.droppedTotal, 5);
    sub.close();
  });

  it("keep at most queueSize events for a slow consumer, dropping the oldest and counting them", async () => {
    const c = client();
    const sub = c.subscribe("t.", { queueSize: 3 });
    await sub.ready;
    for (let n = 0; n < 10; n++) gateway.event(`t.${n}`, { n });
    await until(() => sub.droppedTotal === 7, 2000, "the drops");
    assert.equal(sub.queued, 3);
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await sub.next()).value!);
    assert.deepEqual(
      got.map((e) => [e.topic, e.dropped]),
      [
        ["t.7", 7],
        ["t.8", 0],
        ["t.9", 0],
      ],
    );
    sub.close();
  });

  it("subscribe again after a reconnection, and mark the first event after it", async () => {
    const c = client();
    const sub = c.subscribe("t.");
    await sub.ready;
    gateway.dropConnections();
    await until(() => gateway.open.length === 1 && gateway.controls().filter((m) => m.ctl === "subscribe").length === 2, 3000, "the renewal");
    await new Promise((resolve) => setTimeout(resolve, 20));
    gateway.event("t.1", {});
    gateway.event("t.2", {});
    const first = (await sub.next()).value!;
    const second = (await sub.next()).value!;
    assert.equal(first.reconnected, true);
    assert.equal(second.reconnected, false);
    sub.close();
  });

  it("throw the gateway's refusal from the iterator", async () => {
    gateway.forbiddenPrefixes.add("secret.");
    const c = client();
    const sub = c.subscribe("secret.");
    await assert.rejects(sub.ready, ForbiddenError);
    await assert.rejects(
      (async () => {
        for await (const _ of sub) assert.fail("no event expected");
      })(),
      (e: unknown) => e instanceof ForbiddenError && e.message === "may not read secret.",
    );
  });

  it("end the iteration when the client closes", async () => {
    const c = client();
    const sub = c.subscribe("t.");
    await sub.ready;
    const waiting = sub.next();
    await c.close();
    assert.deepEqual(await waiting, { value: undefined, done: true });
  });
});

describe("the URL", () => {
  it("refuses a malformed URL at once", () => {
    assert.throws(() => new LodestoneClient({ url: "not a url" }));
  });

  it("adds /v1/ws to a bare gateway address", async () => {
    const c = client({ url: gateway.url + "/" });
    await c.ping();
    const bare = client({ url: gateway.url.replace("ws://", "http://") });
    await bare.ping();
    assert.equal(gateway.connections, 2);
  });
});
