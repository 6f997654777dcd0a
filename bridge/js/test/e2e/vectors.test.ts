/**
 * The shared wire vectors through a real gateway and daemon: each request's bytes as the client
 * encodes them, and each ok reply byte for byte as the daemon wrote it (the gateway hands the
 * daemon's reply back with the client's own id spliced in, so the bytes survive the trip).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";

import { WebSocket } from "ws";

import { decode, encode, fromHex, toHex } from "@lodestone/client/wire";

import { vectorsPath } from "../helpers/paths.js";
import { Stack } from "../helpers/stack.js";

interface Reply {
  ok: boolean;
  id: unknown;
  error?: { code: string };
}

interface Vector {
  name: string;
  // A request map, an array of them (a batch frame), or null for raw bytes.
  request: Record<string, unknown> | Record<string, unknown>[] | null;
  request_hex: string;
  reply: Reply | Reply[];
  reply_hex: string;
}

const { vectors } = JSON.parse(readFileSync(vectorsPath, "utf8")) as { vectors: Vector[] };

let stack: Stack;
let ws: WebSocket;
const replies: Buffer[] = [];
const waiting: ((frame: Buffer) => void)[] = [];

before(async () => {
  stack = await Stack.start({ vectorSecret: true });
  ws = new WebSocket(`${stack.url.replace("http", "ws")}/v1/ws`);
  ws.on("message", (data: Buffer) => {
    const waiter = waiting.shift();
    if (waiter) waiter(data);
    else replies.push(data);
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
});

after(async () => {
  ws.close();
  await stack.stop();
});

function next(): Promise<Buffer> {
  const queued = replies.shift();
  return queued ? Promise.resolve(queued) : new Promise((resolve) => waiting.push(resolve));
}

describe("the wire vectors, in order, against a fresh daemon behind the gateway", () => {
  for (const vector of vectors) {
    it(vector.name, async () => {
      if (vector.request !== null) assert.equal(toHex(encode(vector.request)), vector.request_hex);
      ws.send(fromHex(vector.request_hex));
      const reply = await next();
      if (Array.isArray(vector.reply)) {
        // A batch: the reply array, slot by slot (ok replies equal, errors by id and code).
        const got = decode(reply) as Reply[];
        const expected = vector.reply;
        assert.equal(got.length, expected.length);
        expected.forEach((slot, index) => {
          const gotSlot = got[index]!;
          assert.equal(gotSlot.ok, slot.ok);
          assert.deepEqual(gotSlot.id, slot.id);
          if (slot.ok) assert.deepEqual(gotSlot, slot);
          else assert.equal(gotSlot.error?.code, slot.error?.code);
        });
      } else if (vector.reply.ok) {
        assert.equal(reply.toString("hex"), vector.reply_hex);
      } else {
        const got = decode(reply) as Reply;
        assert.equal(got.ok, false);
        assert.deepEqual(got.id, vector.reply.id);
        assert.equal(got.error?.code, vector.reply.error?.code);
      }
    });
  }
});
