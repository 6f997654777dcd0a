/**
 * The mineflayer plugin against a real daemon and gateway, driven by a stand-in bot: an event
 * emitter with the fields mineflayer's Bot has (the game test in test/game runs it on real bots).
 */

import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { after, before, describe, it } from "node:test";

import { WebSocket } from "ws";

import type { LodestoneClient, WebSocketConstructor } from "@lodestone/client";
import { decode } from "@lodestone/client/wire";
import { lodestone, lodestoneOf, type LodestoneBot, type MineflayerBotLike } from "@lodestone/client/mineflayer";

import { Stack, unique } from "../helpers/stack.js";

class FakeInventory extends EventEmitter {
  readonly slots = new Map<number, { name: string; count: number }>();

  items(): { name: string; count: number }[] {
    return [...this.slots.values()];
  }

  set(slot: number, name: string | null, count = 0): void {
    const old = this.slots.get(slot) ?? null;
    if (name === null || count === 0) this.slots.delete(slot);
    else this.slots.set(slot, { name, count });
    this.emit("updateSlot", slot, old, this.slots.get(slot) ?? null);
  }
}

class FakeBot extends EventEmitter {
  health = 20;
  entity: { position: { x: number; y: number; z: number } } = { position: { x: 0.5, y: 64, z: 0.5 } };
  readonly inventory = new FakeInventory();
  lodestone?: LodestoneBot;

  constructor(readonly username: string) {
    super();
  }

  loadPlugin(plugin: (bot: MineflayerBotLike) => void): void {
    plugin(this);
  }

  moveTo(x: number, y: number, z: number): void {
    this.entity.position = { x, y, z };
    this.emit("move");
  }

  setHealth(health: number): void {
    this.health = health;
    this.emit("health");
  }
}

/** The `ws` WebSocket, keeping every request the client sends. */
class RecordingWebSocket extends WebSocket {
  static sent: unknown[] = [];

  override send(data: Uint8Array): void {
    RecordingWebSocket.sent.push(decode(data));
    super.send(data);
  }
}

let stack: Stack;
let client: LodestoneClient;
let recorded: LodestoneClient;
const bots: FakeBot[] = [];

function bot(options: Parameters<typeof lodestone>[0] = {}): FakeBot {
  const b = new FakeBot(unique("bot"));
  b.loadPlugin(lodestone({ client, positionIntervalMs: 50, ...options }));
  bots.push(b);
  return b;
}

async function stored(b: FakeBot): Promise<{ health: number; position: unknown; inventory: [string, number][] }> {
  const state = await lodestoneOf(b).agent.state();
  return {
    health: state.health,
    position: state.position,
    inventory: state.inventory.map((i): [string, number] => [i.type, i.count]).sort(),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

before(async () => {
  stack = await Stack.start({ gateway: "upstream_timeout_s = 2" });
  client = stack.client();
  recorded = stack.client({ WebSocket: RecordingWebSocket as unknown as WebSocketConstructor });
});

after(async () => {
  for (const b of bots) await b.lodestone?.stop();
  await stack.stop();
});

describe("the mineflayer plugin", () => {
  it("creates the agent on the first spawn with what the bot has", async () => {
    const b = bot();
    b.inventory.set(36, "oak_log", 5);
    b.health = 18;
    b.emit("spawn");
    await b.lodestone!.ready;
    assert.equal(b.lodestone!.agent.name, b.username);
    assert.deepEqual(await stored(b), { health: 18, position: { x: 0.5, y: 64, z: 0.5 }, inventory: [["oak_log", 5]] });
    const state = await b.lodestone!.agent.state();
    assert.equal(state.maxHealth, 20);
  });

  it("loads an agent that exists and sends what differs", async () => {
    const name = unique("steve");
    await client.agent(name).init({ position: { x: 9, y: 70, z: 9 }, inventory: [{ type: "dirt", count: 3 }], health: 10 });
    const b = bot({ agentName: name });
    b.inventory.set(36, "dirt", 1);
    b.inventory.set(37, "torch", 2);
    b.emit("spawn");
    await b.lodestone!.ready;
    await b.lodestone!.idle();
    assert.deepEqual(await stored(b), { health: 20, position: { x: 0.5, y: 64, z: 0.5 }, inventory: [["dirt", 1], ["torch", 2]] });
  });

  it("takes CONFLICT from Agent.init as 'it exists' when two bots of one agent spawn at once", async () => {
    const name = unique("twin");
    const [a, b] = [bot({ agentName: name }), bot({ agentName: name })];
    a.emit("spawn");
    b.emit("spawn");
    await Promise.all([a.lodestone!.ready, b.lodestone!.ready]);
    const events = await a.lodestone!.agent.events();
    assert.equal(events.filter((e) => e.type === "spawn").length, 1);
  });

  it("mirrors health: damage when it drops, heal when it rises", async () => {
    const b = bot();
    b.emit("spawn");
    await b.lodestone!.ready;
    b.setHealth(13.5);
    await b.lodestone!.idle();
    assert.equal((await stored(b)).health, 13.5);
    b.setHealth(17);
    await b.lodestone!.idle();
    assert.equal((await stored(b)).health, 17);
    const events = (await b.lodestone!.agent.events()).map((e) => e.type);
    assert.deepEqual(events.slice(0, 2), ["heal", "damage"]);
  });

  it("records a death once, and goes on after the respawn", async () => {
    const b = bot();
    b.inventory.set(36, "bread", 2);
    b.emit("spawn");
    await b.lodestone!.ready;
    b.setHealth(0);
    await b.lodestone!.idle();
    await sleep(100);
    b.setHealth(0); // mineflayer may say it again; the death is not recorded twice
    await b.lodestone!.idle();
    const deaths = await b.lodestone!.agent.deaths();
    assert.equal(deaths.length, 1);
    assert.equal(deaths[0]!.source, "game");
    // The game respawns the bot with full health and an empty inventory.
    b.inventory.set(36, null);
    b.health = 20;
    b.moveTo(0, 64, 0);
    b.emit("spawn");
    await b.lodestone!.idle();
    assert.deepEqual(await stored(b), { health: 20, position: { x: 0, y: 64, z: 0 }, inventory: [] });
    assert.equal((await b.lodestone!.agent.state()).stats.deaths, 1);
  });

  it("mirrors the inventory as adds and removes per item type", async () => {
    const b = bot();
    b.emit("spawn");
    await b.lodestone!.ready;
    b.inventory.set(36, "oak_log", 1);
    b.inventory.set(36, "oak_log", 4);
    b.inventory.set(40, "oak_log", 64);
    b.inventory.set(41, "cobblestone", 12);
    await b.lodestone!.idle();
    assert.deepEqual((await stored(b)).inventory, [["cobblestone", 12], ["oak_log", 68]]);
    b.inventory.set(40, null);
    b.inventory.set(41, "cobblestone", 2);
    await b.lodestone!.idle();
    assert.deepEqual((await stored(b)).inventory, [["cobblestone", 2], ["oak_log", 4]]);
    const types = (await b.lodestone!.agent.events(10)).map((e) => e.type);
    assert.ok(types.includes("inventory_add") && types.includes("inventory_remove"));
  });

  it("sends the position at most every positionIntervalMs, and only when the bot moved", async () => {
    RecordingWebSocket.sent = [];
    const b = bot({ positionIntervalMs: 200, client: recorded });
    b.emit("spawn");
    await b.lodestone!.ready;
    const moveCount = (): number =>
      RecordingWebSocket.sent.flat().filter((r) => (r as { op?: string }).op === "Agent.move").length;
    const started = Date.now();
    for (let i = 1; i <= 50; i++) {
      b.moveTo(i / 10, 64, 0);
      await sleep(10);
    }
    await b.lodestone!.idle();
    const elapsed = Date.now() - started;
    assert.deepEqual((await stored(b)).position, { x: 5, y: 64, z: 0 });
    // Looking around (a move event without moving) sends nothing.
    for (let i = 0; i < 10; i++) b.emit("move");
    await sleep(300);
    await b.lodestone!.idle();
    const heard = moveCount();
    assert.ok(heard >= 2, `${heard} moves`);
    assert.ok(heard <= Math.ceil(elapsed / 200) + 1, `${heard} moves in ${elapsed} ms`);
  });

  it("skips positions that are not numbers (knockback can make NaN)", async () => {
    const b = bot();
    b.emit("spawn");
    await b.lodestone!.ready;
    b.moveTo(Number.NaN, 64, Number.NaN);
    b.setHealth(19);
    await b.lodestone!.idle();
    assert.deepEqual(await stored(b), { health: 19, position: { x: 0.5, y: 64, z: 0.5 }, inventory: [] });
  });

  it("keeps working across a daemon restart, without counting anything twice", async () => {
    const b = bot({ retryDelayMs: 100 });
    const errors: Error[] = [];
    b.on("lodestone:error", (error: Error) => errors.push(error));
    b.emit("spawn");
    await b.lodestone!.ready;
    b.inventory.set(36, "wheat", 3);
    await b.lodestone!.idle();
    await stack.stopDaemon("SIGKILL");
    b.setHealth(12);
    b.inventory.set(36, "wheat", 10);
    b.inventory.set(37, "seeds", 4);
    b.moveTo(30, 65, -4);
    await sleep(500);
    await stack.startDaemon();
    await b.lodestone!.idle();
    assert.deepEqual(await stored(b), { health: 12, position: { x: 30, y: 65, z: -4 }, inventory: [["seeds", 4], ["wheat", 10]] });
    b.setHealth(15);
    await b.lodestone!.idle();
    assert.equal((await stored(b)).health, 15);
  });

  it("makes its own client from url and token, and closes it on stop", async () => {
    const b = new FakeBot(unique("own"));
    b.loadPlugin(lodestone({ url: stack.url }));
    b.emit("spawn");
    await b.lodestone!.ready;
    assert.ok(b.lodestone!.client.connected);
    await b.lodestone!.stop();
    assert.equal(b.lodestone!.client.connected, false);
    assert.equal(b.listenerCount("move"), 0);
  });
});
