import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import type { AgentNotice, ChangeBody, LodestoneClient, Subscription } from "@lodestone/client";

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

/**
 * Wait until `subscription` hears what `probe` writes. `subscribed` means the gateway has asked
 * the daemon for the prefix; ZeroMQ passes that on asynchronously, so events follow within
 * milliseconds of it, not from that exact moment. The probes' events are consumed here.
 */
async function warmUp(subscription: Subscription<ChangeBody>, probe: () => Promise<unknown>, isProbe: (body: ChangeBody) => boolean): Promise<void> {
  await subscription.ready;
  for (;;) {
    await probe();
    const next = subscription.next();
    const heard = await Promise.race([next, new Promise<undefined>((resolve) => setTimeout(resolve, 50))]);
    if (heard === undefined) {
      // Nothing yet: the pending next() keeps its place in the queue; take what it gets.
      const event = (await next).value!;
      if (isProbe(event.body)) return;
      throw new Error(`an event before the probe's: ${event.topic}`);
    }
    if (heard.value && isProbe(heard.value.body)) {
      while (subscription.queued > 0) await subscription.next(); // later probes
      return;
    }
  }
}

describe("subscriptions through the real gateway", () => {
  it("receive the change events of the writes, for one class", async () => {
    const changes = client.subscribe<ChangeBody>("change.Chest.");
    const probe = unique("probe");
    await warmUp(changes, () => client.object("Chest", probe).put("probe", 1), (b) => b.name === probe);
    const name = unique("chest");
    const chest = client.object("Chest", name);
    await chest.put("a", 1);
    await chest.putMany({ b: 2, c: 3 });
    await chest.delete("a");
    await client.object("Horse", unique("horse")).put("x", 1); // another class: not heard
    const got: ChangeBody[] = [];
    for await (const event of changes) {
      assert.equal(event.topic, `change.Chest.${event.body.id}`);
      assert.equal(event.dropped, 0);
      got.push(event.body);
      if (got.length === 3) break;
    }
    assert.deepEqual(
      got.map((b) => [b.name, b.changes]),
      [
        [name, [{ key: "a", value: 1 }]],
        [name, [{ key: "b", value: 2 }, { key: "c", value: 3 }]],
        [name, [{ key: "a", deleted: true }]],
      ],
    );
    assert.ok(got[0]!.commit < got[2]!.commit);
    assert.ok(changes.closed);
  });

  it("hear the built-in classes' notices, and one object by its full topic", async () => {
    const name = unique("steve");
    const damage = client.subscribe<AgentNotice>(`agent.damage.${name}`);
    const id = await client.idFromName("Agent", name);
    const mine = client.subscribe<ChangeBody>(`change.Agent.${id}`);
    const steve = client.agent(name);
    // The agent's own storage is the probe (a raw write, before it spawns), then emptied.
    await warmUp(mine, () => client.object("Agent", name).put("probe", 1), (b) => b.changes[0]?.key === "probe");
    await client.object("Agent", name).deleteAll();
    await mine.next();
    await damage.ready;
    await steve.init();
    await steve.move(1, 64, 1);
    await steve.damage(4, "creeper");
    const notice = (await damage.next()).value!;
    assert.equal(notice.topic, `agent.damage.${name}`);
    assert.equal(notice.body.agent, name);
    assert.equal(notice.body.type, "damage");
    const changes = [];
    for (let i = 0; i < 3; i++) changes.push((await mine.next()).value!);
    assert.ok(changes.every((c) => c.body.id === id && c.body.name === name));
    damage.close();
    mine.close();
  });

  it("a break ends the iteration; a new subscription hears what comes after it", async () => {
    const prefix = `change.Lamp.`;
    const first = client.subscribe<ChangeBody>(prefix);
    const lamp = client.object("Lamp", unique("lamp"));
    await warmUp(first, () => lamp.put("on", true), () => true);
    await lamp.put("on", 1);
    for await (const event of first) {
      assert.deepEqual(event.body.changes, [{ key: "on", value: 1 }]);
      break;
    }
    assert.ok(first.closed);
    assert.deepEqual(await first.next(), { value: undefined, done: true });
    const second = client.subscribe<ChangeBody>(prefix);
    await warmUp(second, () => lamp.put("on", false), () => true);
    await lamp.put("on", "again");
    const event = (await second.next()).value!;
    assert.deepEqual(event.body.changes, [{ key: "on", value: "again" }]);
    second.close();
  });
});
