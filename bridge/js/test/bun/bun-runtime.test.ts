/**
 * The client under Bun, against a real daemon and gateway, on Bun's own WebSocket: `npm run
 * test:bun` runs this file with `bun test` in a process of its own, so the counting WebSocket
 * below is in place before any client loads one. (The unit and e2e directories run under Bun too.)
 * The script passes `--tsconfig-override ./tsconfig.build.json`: else Bun would follow
 * tsconfig.json's `paths` and run src/*.ts, where Node runs dist/*.js, what a user gets.
 *
 * The global WebSocket is replaced by `CountingWebSocket`, a subclass that counts sockets and
 * frames, and the tests check that the socket the client holds (a private field) is one of
 * them: a client that loaded the `ws` package (in Bun, Bun's own module of that name) fails them.
 */

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import {
  BadRequestError,
  LodestoneClient,
  NotFoundError,
  UnauthenticatedError,
  type ChangeBody,
  type LodestoneEvent,
  type Subscription,
} from "@lodestone/client";

import { FakeGateway } from "../helpers/fake-gateway.js";
import { Stack, makeToken, unique } from "../helpers/stack.js";

type Ctor = new (url: string, options?: unknown) => { send(data: Uint8Array): void };
const platform = globalThis as { WebSocket?: Ctor; Bun?: { version: string } };
const isBun = platform.Bun !== undefined && typeof platform.WebSocket === "function";

/** Sockets made through the global WebSocket, and the frames sent on them. */
const counted = { sockets: 0, frames: 0 };
let Counting: Ctor | undefined;

if (isBun) {
  const Native = platform.WebSocket!;
  Counting = class CountingWebSocket extends Native {
    constructor(url: string, options?: unknown) {
      super(url, options);
      counted.sockets += 1;
    }

    override send(data: Uint8Array): void {
      counted.frames += 1;
      super.send(data);
    }
  };
  platform.WebSocket = Counting;
}

/** Whether `client`'s socket is one the client made with the global WebSocket itself. */
function onGlobalWebSocket(c: LodestoneClient): boolean {
  return (c as unknown as { ws: unknown }).ws instanceof Counting!;
}

let stack: Stack;
let client: LodestoneClient;
const writer = makeToken("bun-writer", "write");

before(async () => {
  if (!isBun) return;
  stack = await Stack.start({ gateway: writer.config });
  client = stack.client({ token: writer.token });
  await client.ready();
});

after(async () => {
  await stack?.stop();
});

/**
 * Write `key` on the Chest `name` until `subscription` hears a change (a subscription reaches the
 * daemon asynchronously, so the first writes may go unheard); the first event heard, with any
 * queued behind it dropped.
 */
async function hearWrite(subscription: Subscription<ChangeBody>, name: string, key: string): Promise<LodestoneEvent<ChangeBody>> {
  await subscription.ready;
  const next = subscription.next();
  for (let i = 0; ; i++) {
    await client.object("Chest", name).put(key, i);
    const heard = await Promise.race([next, new Promise<undefined>((resolve) => setTimeout(resolve, 100))]);
    if (heard !== undefined) {
      while (subscription.queued > 0) await subscription.next();
      return heard.value!;
    }
    assert.ok(i < 50, "no change event within 5 s");
  }
}

describe("under Bun, on Bun's own WebSocket", { skip: isBun ? false : "not running under Bun" }, () => {
  it("connects through the global WebSocket, with the token, and calls", async () => {
    assert.ok(onGlobalWebSocket(client), "the client's socket is the global WebSocket's");
    const before = counted.frames;
    const pong = await client.ping();
    assert.deepEqual(pong.protocol, [1]);
    assert.equal(counted.frames, before + 1);
    assert.equal(typeof (await client.call("ping")), "object");
  });

  it("sends the token as a Bearer header, which Bun's WebSocket can", async () => {
    const fake = await FakeGateway.start();
    try {
      const c = new LodestoneClient({ url: fake.url, token: "s3cret" });
      await c.ping();
      await c.close();
      assert.equal(fake.upgrades[0]!.headers.authorization, "Bearer s3cret");
      assert.equal(new URL(fake.upgrades[0]!.url!, "ws://x").searchParams.get("access_token"), null);
    } finally {
      await fake.stop();
    }
  });

  it("the storage API", async () => {
    const chest = client.object("Chest", unique("chest"));
    await chest.putMany({ a: 1, b: "two", c: new Uint8Array([3]) });
    assert.equal(await chest.get("b"), "two");
    assert.deepEqual(await chest.get("c"), new Uint8Array([3]));
    assert.deepEqual(await chest.list({ prefix: "a" }), [["a", 1]]);
    await chest.transaction({ checks: [{ key: "a", value: 1 }], ops: [{ op: "put", key: "a", value: 2 }] });
    assert.equal(await chest.get("a"), 2);
    assert.equal(await chest.delete("a"), true);
    assert.equal(await chest.get("a"), undefined);
  });

  it("typed Agent handle ops", async () => {
    const steve = client.agent(unique("steve"));
    const state = await steve.init({ position: { x: 0, y: 64, z: 0 } });
    assert.equal(state.health, state.maxHealth);
    const hit = await steve.damage(5, "zombie");
    assert.equal(hit.health, state.maxHealth - 5);
    await steve.move(3, 64, 4);
    await steve.inventory.add("oak_log", 3);
    const after = await steve.state();
    assert.deepEqual(after.position, { x: 3, y: 64, z: 4 });
    assert.equal(after.stats.distanceTraveled, 5);
    assert.equal(after.inventory.find((item) => item.type === "oak_log")?.count, 3);
  });

  it("sends the calls made in one tick as one frame", async () => {
    const steve = client.agent(unique("steve"));
    await steve.init();
    const before = counted.frames;
    const moves = await Promise.all(Array.from({ length: 100 }, (_, i) => steve.move(i + 1, 64, 0)));
    assert.equal(counted.frames, before + 1);
    assert.equal(moves.length, 100);
    assert.deepEqual((await steve.state()).position, { x: 100, y: 64, z: 0 });
  });

  it("raises typed errors", async () => {
    await assert.rejects(client.agent(unique("never-spawned")).state(), NotFoundError);
    await assert.rejects(client.call("storage.put", { class: "Chest", name: "c" }, { key: 7 }), BadRequestError);
  });

  it("iterates a subscription and receives a change", async () => {
    const name = unique("chest");
    const changes = client.subscribe<ChangeBody>("change.Chest.");
    const { body } = await hearWrite(changes, name, "lid");
    assert.equal(body.name, name);
    assert.equal(body.changes[0]?.key, "lid");
    changes.close();
  });

  it("refuses a bad token with UnauthenticatedError (HTTP 401), which Bun's WebSocket reports", async () => {
    const refused = stack.client({ token: "lst_wrong", timeoutMs: 10_000 });
    await assert.rejects(refused.ping(), UnauthenticatedError);
  });

  it("reconnects after the gateway restarts, on a new global WebSocket, and resubscribes", async () => {
    const name = unique("chest");
    const changes = client.subscribe<ChangeBody>("change.Chest.");
    await hearWrite(changes, name, "before");
    const sockets = counted.sockets;
    await stack.stopGateway("SIGKILL");
    const during = client.object("Chest", name).put("during", true); // waits for the gateway
    await stack.startGateway();
    await during;
    assert.ok(counted.sockets > sockets, "a new socket was made");
    assert.ok(onGlobalWebSocket(client), "the client's new socket is the global WebSocket's");
    assert.equal(await client.object("Chest", name).get("during"), true);
    const event = await hearWrite(changes, name, "after");
    assert.equal(event.body.name, name);
    assert.equal(event.reconnected, true);
    changes.close();
  });
});
