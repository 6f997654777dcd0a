// The mineflayer plugin with real Minecraft traffic: a flying-squid server (1.21.4) on 127.0.0.1,
// mineflayer bots with the plugin loaded, a real Lodestone daemon and gateway. The bots walk, take
// damage, heal and pick up items, while the daemon crashes (SIGKILL) and comes back; then every
// agent's stored state must be what the game shows.
//
// What flying-squid 1.12.0 can and cannot do here, and how the test keeps to what works:
// * damage: `player.takeDamage()` also sends a velocity and a hurt sound that mineflayer 4.25 parses
//   badly on 1.21.4, and the bot's position turns into NaN; `player.updateHealth()` sends the
//   health packet alone, which is what a hit does to a player's health.
// * death: the server cannot respawn a 1.21.4 client, so no bot dies here (the plugin's death
//   handling is covered with a stand-in bot in test/e2e/mineflayer-plugin.test.ts).
// * teleports drop nearby clients, so bots only ever walk.

import assert from "node:assert/strict";
import { once } from "node:events";
import { createRequire } from "node:module";
import { after, before, describe, it } from "node:test";

import mineflayer from "mineflayer";

import { lodestone } from "@lodestone/client/mineflayer";

import { Stack, unique } from "../../build/test/helpers/stack.js";

const require = createRequire(import.meta.url);
const squid = require("flying-squid");
const registry = require("prismarine-registry")("1.21.4");

const VERSION = "1.21.4";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let stack;
let server;
let port;
const bots = [];

async function until(check, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function counts(items) {
  const out = {};
  for (const item of items) out[item.name ?? item.type] = (out[item.name ?? item.type] ?? 0) + item.count;
  return out;
}

function player(bot) {
  const p = server.players.find((candidate) => candidate.username === bot.username);
  assert.ok(p, `the server knows ${bot.username}`);
  return p;
}

async function joinBot() {
  const username = unique("bot").slice(0, 16); // Minecraft names are at most 16 characters
  const bot = mineflayer.createBot({ host: "127.0.0.1", port, username, version: VERSION, auth: "offline", hideErrors: true });
  bot.errors = [];
  bot.lodestoneErrors = [];
  bot.on("error", (error) => bot.errors.push(error));
  // Reported while the daemon is down longer than the client's retries; the plugin then reads
  // the agent again and sends what differs.
  bot.on("lodestone:error", (error) => bot.lodestoneErrors.push(error));
  bot.loadPlugin(lodestone({ url: stack.url, positionIntervalMs: 100, minMoveDistance: 0 }));
  await once(bot, "spawn");
  await bot.lodestone.ready;
  bots.push(bot);
  return bot;
}

async function settle(bot) {
  // On the ground and not moving, for a few physics ticks.
  let last = bot.entity.position.clone();
  let still = 0;
  await until(() => {
    const now = bot.entity.position;
    still = bot.entity.onGround && now.distanceTo(last) < 1e-6 ? still + 1 : 0;
    last = now.clone();
    return still >= 5;
  }, `${bot.username} to stand still`);
}

before(async () => {
  stack = await Stack.start();
  server = squid.createMCServer({
    motd: "lodestone game test",
    port: 0,
    "max-players": 10,
    "online-mode": false,
    logging: false,
    gameMode: 0,
    difficulty: 0,
    worldFolder: undefined,
    generation: { name: "superflat", options: {} },
    kickTimeout: 30_000,
    plugins: {},
    modpe: false,
    "view-distance": 2,
    "player-list-text": { header: "lodestone", footer: "game test" },
    "everybody-op": true,
    "max-entities": 100,
    version: VERSION,
  });
  [port] = await once(server, "listening");
  await server.waitForReady?.();
});

after(async () => {
  for (const bot of bots) {
    await bot.lodestone?.stop();
    bot.quit();
  }
  await sleep(300);
  await server?.quit();
  await stack?.stop();
});

describe("mineflayer bots on a flying-squid server, mirrored into Lodestone", () => {
  it("walk, take damage, heal and pick up items, across a daemon crash; the stored agents match the game", async () => {
    const [a, b, c] = [await joinBot(), await joinBot(), await joinBot()];
    for (const bot of [a, b, c]) await settle(bot);
    const spawnedAt = new Map([a, b, c].map((bot) => [bot, bot.entity.position.clone()]));

    // Walk: each bot a different way, for a moment.
    const walks = [
      [a, "forward", 700],
      [b, "back", 500],
      [c, "left", 900],
    ];
    for (const [bot, control, ms] of walks) bot.setControlState(control, true);
    await Promise.all(
      walks.map(async ([bot, control, ms]) => {
        await sleep(ms);
        bot.setControlState(control, false);
      }),
    );
    for (const bot of [a, b, c]) await settle(bot);
    for (const bot of [a, b, c]) {
      assert.ok(bot.entity.position.distanceTo(spawnedAt.get(bot)) > 1, `${bot.username} walked`);
    }

    // The daemon crashes; the game goes on, and the plugin catches up once the daemon is back.
    await stack.stopDaemon("SIGKILL");
    setTimeout(() => void stack.startDaemon(), 1500);

    // Damage and healing, as the server's health packets.
    player(a).updateHealth(20 - 3);
    player(b).updateHealth(20 - 7.5);
    player(c).updateHealth(20 - 12);
    await until(() => a.health === 17 && b.health === 12.5 && c.health === 8, "the health packets");

    // Items: dropped item entities at the bots' feet, picked up by walking over them (one each),
    // and /give (a stack straight into the inventory).
    const drop = (bot, item) =>
      server.spawnObject(registry.entitiesByName.item.id, player(bot).world, player(bot).position, {
        itemId: registry.itemsByName[item].id,
        pickupTime: 200,
      });
    for (let i = 0; i < 3; i++) drop(a, "oak_log");
    drop(b, "cobblestone");
    drop(b, "wheat_seeds");
    a.chat(`/give ${c.username} diamond 5`);
    a.chat(`/give ${b.username} bread 2`);
    const want = {
      [a.username]: { oak_log: 3 },
      [b.username]: { cobblestone: 1, wheat_seeds: 1, bread: 2 },
      [c.username]: { diamond: 5 },
    };
    for (const bot of [a, b, c]) {
      await until(() => JSON.stringify(sortKeys(counts(bot.inventory.items()))) === JSON.stringify(sortKeys(want[bot.username])), `${bot.username}'s items`);
    }

    // Healing once the daemon is back and the damage is stored: a heal the plugin saw only while the
    // daemon was down would reach it as part of one net change of health, which may be no heal at all.
    await until(() => stack.daemon !== undefined, "the daemon to be back");
    await c.lodestone.idle();
    player(c).updateHealth(8 + 4);
    await until(() => c.health === 12, "the heal");

    // Every agent, as stored, is what the game shows.
    for (const bot of [a, b, c]) {
      await bot.lodestone.idle();
      const state = await bot.lodestone.agent.state();
      const position = bot.entity.position;
      assert.ok(Number.isFinite(position.x) && Number.isFinite(position.z), `${bot.username}'s position is a number`);
      assert.deepEqual(state.position, { x: position.x, y: position.y, z: position.z }, `${bot.username}'s position`);
      assert.equal(state.health, bot.health, `${bot.username}'s health`);
      assert.deepEqual(sortKeys(counts(state.inventory)), sortKeys(counts(bot.inventory.items())), `${bot.username}'s inventory`);
      assert.ok(state.stats.distanceTraveled > 1, `${bot.username} travelled`);
      assert.deepEqual(bot.errors, [], `${bot.username} had no errors`);
      if (bot.lodestoneErrors.length) console.log(`${bot.username}: ${bot.lodestoneErrors.length} Lodestone errors while the daemon was down`);
    }
    const kinds = (await a.lodestone.agent.events(50)).map((e) => e.type);
    assert.ok(kinds.includes("damage") && kinds.includes("inventory_add"), kinds.join(","));
    assert.ok((await c.lodestone.agent.events(50)).some((e) => e.type === "heal"));
  });
});

function sortKeys(object) {
  return Object.fromEntries(Object.entries(object).sort(([x], [y]) => (x < y ? -1 : 1)));
}
