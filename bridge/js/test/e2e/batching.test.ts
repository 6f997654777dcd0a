import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import { WebSocket } from "ws";

import type { LodestoneClient, WebSocketConstructor } from "@lodestone/client";
import { decode } from "@lodestone/client/wire";

import { Stack, unique } from "../helpers/stack.js";

/** The `ws` WebSocket, keeping every frame the client sends. */
class RecordingWebSocket extends WebSocket {
  static sent: unknown[] = [];

  override send(data: Uint8Array): void {
    RecordingWebSocket.sent.push(decode(data));
    super.send(data);
  }
}

let stack: Stack;
let client: LodestoneClient;

before(async () => {
  stack = await Stack.start();
  client = stack.client({ WebSocket: RecordingWebSocket as unknown as WebSocketConstructor });
  await client.ready();
});

after(async () => {
  await stack.stop();
});

describe("automatic batching through the real gateway", () => {
  it("sends 200 Agent.move calls made in one tick as one frame, and every one succeeds", async () => {
    const steve = client.agent(unique("steve"));
    await steve.init({ position: { x: 0, y: 64, z: 0 } });
    RecordingWebSocket.sent = [];
    const moves = await Promise.all(Array.from({ length: 200 }, (_, i) => steve.move(i + 1, 64, 0)));
    assert.equal(RecordingWebSocket.sent.length, 1);
    const frame = RecordingWebSocket.sent[0] as { op: string; id: number; idem: string }[];
    assert.ok(Array.isArray(frame));
    assert.equal(frame.length, 200);
    assert.ok(frame.every((r) => r.op === "Agent.move" && typeof r.idem === "string"));
    // Replies came back matched to their calls, in the order the agent's turns ran.
    assert.deepEqual(
      moves.map((m) => m.position.x),
      Array.from({ length: 200 }, (_, i) => i + 1),
    );
    assert.equal(moves.at(-1)!.distanceTraveled, 200);
    const state = await steve.state();
    assert.deepEqual(state.position, { x: 200, y: 64, z: 0 });
    assert.equal(state.stats.distanceTraveled, 200);
  });

  it("splits more calls than the gateway's batch limit into several frames", async () => {
    const steve = client.agent(unique("steve"));
    await steve.init();
    RecordingWebSocket.sent = [];
    await Promise.all(Array.from({ length: 1500 }, (_, i) => steve.move(i, 64, 0)));
    const sizes = RecordingWebSocket.sent.map((f) => (Array.isArray(f) ? f.length : 1));
    assert.equal(sizes.reduce((a, b) => a + b, 0), 1500);
    assert.ok(sizes.every((n) => n <= 1024));
    assert.equal((await steve.state()).position.x, 1499);
  });
});
