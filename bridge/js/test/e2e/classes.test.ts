import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { BadRequestError, ConflictError, NotFoundError, UnknownOpError, type LodestoneClient } from "@lodestone/client";

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

describe("Agent", () => {
  it("init, state, and CONFLICT on a second init", async () => {
    const name = unique("steve");
    const steve = client.agent(name);
    const state = await steve.init({ position: { x: 100, y: 64, z: -200 }, maxHealth: 30, health: 25, inventory: [{ type: "oak_log", count: 12 }] });
    assert.equal(state.name, name);
    assert.equal(state.health, 25);
    assert.equal(state.maxHealth, 30);
    assert.deepEqual(state.position, { x: 100, y: 64, z: -200 });
    assert.deepEqual(state.inventory.map((i) => [i.type, i.count]), [["oak_log", 12]]);
    assert.deepEqual(state.tasks, []);
    assert.equal(state.stats.deaths, 0);
    assert.deepEqual(await steve.state(), state);
    await assert.rejects(steve.init(), ConflictError);
    await assert.rejects(steve.init({ health: 50 }), (e: unknown) => e instanceof ConflictError || e instanceof BadRequestError);
  });

  it("damage, heal, death and respawn", async () => {
    const steve = client.agent(unique("steve"));
    await steve.init({ position: { x: 5, y: 70, z: 5 }, inventory: [{ type: "dirt", count: 3 }] });
    assert.deepEqual(await steve.damage(5, "zombie"), { health: 15, died: false });
    assert.equal(await steve.heal(2.5), 17.5);
    assert.equal(await steve.heal(100), 20);
    const death = await steve.damage(25, "lava");
    assert.equal(death.died, true);
    assert.equal(death.health, 20);
    if (death.died) {
      assert.equal(death.death.source, "lava");
      assert.deepEqual(death.death.inventory.map((i) => [i.type, i.count]), [["dirt", 3]]);
    }
    const after = await steve.state();
    assert.deepEqual(after.inventory, []);
    assert.equal(after.stats.deaths, 1);
    const deaths = await steve.deaths();
    assert.equal(deaths.length, 1);
    assert.equal(deaths[0]!.source, "lava");
    await assert.rejects(steve.damage(-3, "x"), BadRequestError);
  });

  it("move and blocks keep their stats", async () => {
    const steve = client.agent(unique("steve"));
    await steve.init({ position: { x: 0, y: 64, z: 0 } });
    const moved = await steve.move(3, 64, 4);
    assert.deepEqual(moved.position, { x: 3, y: 64, z: 4 });
    assert.equal(moved.distance, 5);
    assert.equal((await steve.move(3, 64, 14.5)).distanceTraveled, 15.5);
    const stats = await steve.blocks({ mined: 3, placed: 1 });
    assert.equal(stats.blocksMined, 3);
    assert.equal(stats.blocksPlaced, 1);
    assert.equal((await steve.blocks({ mined: 2 })).blocksMined, 5);
    await assert.rejects(steve.blocks({}), BadRequestError);
  });

  it("inventory add, remove, swap", async () => {
    const steve = client.agent(unique("steve"));
    await steve.init();
    assert.deepEqual(
      (await steve.inventory.add("oak_log", 10)).map((i) => [i.type, i.count]),
      [["oak_log", 10]],
    );
    const withSlot = await steve.inventory.add("torch", 4, { slot: 8 });
    assert.equal(withSlot.find((i) => i.type === "torch")?.slot, 8);
    await assert.rejects(steve.inventory.add("dirt", 1, { slot: 8 }), ConflictError);
    assert.deepEqual(
      (await steve.inventory.remove("oak_log", 4)).map((i) => [i.type, i.count]),
      [["oak_log", 6], ["torch", 4]],
    );
    await assert.rejects(steve.inventory.remove("oak_log", 7), ConflictError);
    const swapped = await steve.inventory.swap({ remove: [{ type: "oak_log", count: 6 }], add: [{ type: "planks", count: 24 }], note: "crafted" });
    assert.deepEqual(swapped.map((i) => [i.type, i.count]).sort(), [["planks", 24], ["torch", 4]]);
    await assert.rejects(steve.inventory.swap({ remove: [{ type: "diamond", count: 1 }] }), ConflictError);
  });

  it("trade moves items between two agents, both or neither", async () => {
    const [a, b] = [client.agent(unique("alex")), client.agent(unique("steve"))];
    await a.init({ inventory: [{ type: "emerald", count: 5 }] });
    await b.init({ inventory: [{ type: "bread", count: 3 }] });
    const mine = await a.trade(b.name, { give: [{ type: "emerald", count: 2 }], receive: [{ type: "bread", count: 1 }] });
    assert.deepEqual(mine.map((i) => [i.type, i.count]).sort(), [["bread", 1], ["emerald", 3]]);
    assert.deepEqual((await b.state()).inventory.map((i) => [i.type, i.count]).sort(), [["bread", 2], ["emerald", 2]]);
    await assert.rejects(a.trade(b.name, { receive: [{ type: "bread", count: 9 }] }), ConflictError);
    await assert.rejects(a.trade(unique("nobody"), { give: [{ type: "emerald", count: 1 }] }), NotFoundError);
    await assert.rejects(a.trade(a.name, { give: [{ type: "emerald", count: 1 }] }), BadRequestError);
  });

  it("tasks: assign, update, list, history; events", async () => {
    const steve = client.agent(unique("steve"));
    await steve.init();
    const task = await steve.task.assign("mine", { block: "diamond_ore" });
    assert.equal(task.status, "pending");
    assert.equal(task.id, "t1");
    await steve.task.assign("build", "house", { id: "house" });
    await assert.rejects(steve.task.assign("build", "house", { id: "house" }), ConflictError);
    assert.equal((await steve.task.update("t1", "in_progress")).status, "in_progress");
    assert.deepEqual((await steve.task.list()).map((t) => [t.id, t.status]), [["t1", "in_progress"], ["house", "pending"]]);
    await steve.task.update("t1", "completed");
    assert.deepEqual((await steve.task.list()).map((t) => t.id), ["house"]);
    assert.deepEqual((await steve.task.history()).map((t) => [t.id, t.status]), [["t1", "completed"]]);
    await assert.rejects(steve.task.update("t1", "failed"), NotFoundError);
    const events = await steve.events(3);
    assert.equal(events.length, 3);
    assert.equal(events[0]!.type, "task_updated");
    assert.ok((await steve.events()).some((e) => e.type === "spawn"));
  });

  it("UNKNOWN_OP for an op the class does not have", async () => {
    await assert.rejects(client.call("Agent.fly", { class: "Agent", name: "x" }, {}), UnknownOpError);
  });
});

describe("Foreman", () => {
  it("heartbeat, agent, active, nearest, assign, assignments", async () => {
    const foreman = client.foreman(unique("foreman"));
    const [near, far] = [unique("near"), unique("far")];
    await foreman.heartbeat(near, 20, { x: 1, y: 64, z: 1 });
    await foreman.heartbeat(far, 15, { x: 100, y: 64, z: 100 }, { status: "idle" });
    const entry = await foreman.agent(near);
    assert.equal(entry.name, near);
    assert.equal(entry.active, true);
    assert.deepEqual(entry.position, { x: 1, y: 64, z: 1 });
    await assert.rejects(foreman.agent(unique("never")), NotFoundError);
    assert.deepEqual((await foreman.active()).map((a) => a.name).sort(), [far, near].sort());
    const nearest = await foreman.nearest(0, 64, 0, { k: 2 });
    assert.deepEqual(nearest.map((a) => a.name), [near, far]);
    assert.ok(Math.abs(nearest[0]!.distance - Math.SQRT2) < 1e-9);
    assert.deepEqual((await foreman.nearest(0, 64, 0, { k: 5, maxDistance: 10 })).map((a) => a.name), [near]);

    const steve = client.agent(unique("steve"));
    await steve.init();
    const assignment = await foreman.assign(steve.name, "mine", { block: "diamond_ore" }, { id: "dig" });
    assert.equal(assignment.agent, steve.name);
    assert.equal(assignment.task.id, "dig");
    assert.deepEqual((await steve.task.list()).map((t) => t.id), ["dig"]);
    await assert.rejects(foreman.assign(unique("ghost"), "mine", "x"), NotFoundError);
    assert.equal((await foreman.assignments({ agent: steve.name })).length, 1);
    assert.equal((await foreman.assignments()).length, 1);
  });
});

describe("MissionControl", () => {
  it("create, get, list, assign, updateObjective to completion, fail", async () => {
    const missions = client.missions(unique("missions"));
    const steve = client.agent(unique("steve"));
    await steve.init();
    const mission = await missions.create("Outpost", [{ type: "build", target: "outpost" }, { type: "defend", target: { radius: 16 } }], {
      description: "a base by the river",
    });
    assert.equal(mission.status, "planned");
    assert.deepEqual(mission.objectives.map((o) => o.id), ["o1", "o2"]);
    assert.deepEqual(await missions.get(mission.id), mission);
    await assert.rejects(missions.get("m999"), NotFoundError);
    assert.deepEqual((await missions.list("planned")).map((m) => m.id), [mission.id]);
    const assigned = await missions.assign(mission.id, steve.name);
    assert.equal(assigned.status, "active");
    assert.deepEqual(assigned.assignedAgents, [steve.name]);
    await assert.rejects(missions.assign(mission.id, unique("ghost")), NotFoundError);
    await missions.updateObjective(mission.id, "o1", "completed", { assignedTo: steve.name });
    await assert.rejects(missions.updateObjective(mission.id, "o2", "in_progress", { assignedTo: unique("stranger") }), ConflictError);
    const done = await missions.updateObjective(mission.id, "o2", "completed");
    assert.equal(done.status, "completed");
    await assert.rejects(missions.fail(mission.id), ConflictError);
    const other = await missions.create("Scout", [{ type: "explore", target: "north" }]);
    assert.equal((await missions.fail(other.id)).status, "failed");
    assert.deepEqual((await missions.list("failed")).map((m) => m.id), [other.id]);
  });
});

describe("Telemetry", () => {
  it("log, logMany, latest, byType, stats", async () => {
    const telemetry = client.telemetry(unique("telemetry"));
    const agent = unique("steve");
    const event = await telemetry.log(agent, "chat", { text: "hello" });
    assert.equal(event.agent, agent);
    assert.deepEqual(event.data, { text: "hello" });
    assert.equal(
      await telemetry.logMany([
        { agent, type: "damage", data: { amount: 3 } },
        { agent, type: "damage", data: { amount: 4 } },
        { agent: unique("alex"), type: "chat" },
      ]),
      3,
    );
    assert.deepEqual((await telemetry.latest(agent)).map((e) => e.type), ["damage", "damage", "chat"]);
    assert.equal((await telemetry.latest(agent, 1)).length, 1);
    assert.equal((await telemetry.byType("chat")).length, 2);
    assert.equal((await telemetry.byType("damage", { startMs: event.at, endMs: Date.now() + 60_000, limit: 1 })).length, 1);
    const stats = await telemetry.stats(agent);
    assert.equal(stats.damage?.count, 2);
    assert.equal(stats.chat?.count, 1);
    await assert.rejects(telemetry.log(agent, "not a type!"), BadRequestError);
  });
});
