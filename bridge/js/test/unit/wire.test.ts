import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";

import { batchFrame, decode, encode, fromHex, request, toHex } from "@lodestone/client/wire";

import { vectorsPath } from "../helpers/paths.js";

interface Vector {
  name: string;
  request: Record<string, unknown> | null;
  request_hex: string;
  reply: Record<string, unknown>;
  reply_hex: string;
}

const vectors = (JSON.parse(readFileSync(vectorsPath, "utf8")) as { vectors: Vector[] }).vectors;

describe("the shared wire vectors (schemas/vectors/wire_v1.json)", () => {
  it("has vectors to run", () => {
    assert.ok(vectors.length >= 20);
  });

  for (const vector of vectors) {
    it(`${vector.name}: encodes the request byte for byte`, (t) => {
      if (vector.request === null) {
        t.skip("the request is deliberately not msgpack; there is nothing to encode");
        return;
      }
      assert.equal(toHex(encode(vector.request)), vector.request_hex);
    });

    it(`${vector.name}: decodes the request and the reply`, () => {
      if (vector.request !== null) assert.deepEqual(decode(fromHex(vector.request_hex)), vector.request);
      assert.deepEqual(decode(fromHex(vector.reply_hex)), vector.reply);
    });

    it(`${vector.name}: re-encodes the reply byte for byte`, () => {
      assert.equal(toHex(encode(vector.reply)), vector.reply_hex);
    });
  }

  it("builds the envelope with its keys in the protocol's order", () => {
    for (const vector of vectors) {
      if (vector.request === null) continue;
      const r = vector.request as { id: number | string; op: string; target?: never; args?: Record<string, unknown>; idem?: string };
      const built = request(r.id, r.op, r.target, r.args, r.idem);
      const expected = { ...vector.request };
      if (vector.request.v !== 1) continue; // the unsupported-version vector sends v=2 on purpose
      assert.equal(toHex(encode(built)), toHex(encode(expected)), vector.name);
      assert.equal(toHex(encode(built)), vector.request_hex, vector.name);
    }
  });
});

describe("msgpack encoding", () => {
  it("writes integers in their shortest form and other numbers as float64", () => {
    const cases: [unknown, string][] = [
      [0, "00"],
      [127, "7f"],
      [128, "cc80"],
      [255, "ccff"],
      [256, "cd0100"],
      [65536, "ce00010000"],
      [2 ** 32, "cf0000000100000000"],
      [-1, "ff"],
      [-32, "e0"],
      [-33, "d0df"],
      [-129, "d1ff7f"],
      [-32769, "d2ffff7fff"],
      [-(2 ** 31) - 1, "d3ffffffff7fffffff"],
      [1.5, "cb3ff8000000000000"],
      [-0.25, "cbbfd0000000000000"],
      [0.1, "cb3fb999999999999a"],
    ];
    for (const [value, hex] of cases) assert.equal(toHex(encode(value)), hex, String(value));
  });

  it("writes a bigint in its shortest form, and reads 64-bit integers back exactly", () => {
    assert.equal(toHex(encode(5n)), "05");
    assert.equal(toHex(encode(-5n)), "fb");
    assert.equal(toHex(encode(2n ** 63n - 1n)), "cf7fffffffffffffff");
    assert.equal(toHex(encode(2n ** 64n - 1n)), "cfffffffffffffffff");
    assert.equal(toHex(encode(-(2n ** 63n))), "d38000000000000000");
    assert.throws(() => encode(2n ** 64n), RangeError);
    assert.equal(decode(fromHex("cfffffffffffffffff")), 2n ** 64n - 1n);
    assert.equal(decode(fromHex("d38000000000000000")), -(2n ** 63n));
    assert.equal(decode(fromHex("cf0020000000000001")), 2n ** 53n + 1n);
    // Safe integers come back as numbers whatever their width on the wire.
    assert.equal(decode(fromHex("cf0000000000000005")), 5);
    assert.equal(decode(fromHex("d3fffffffffffffffb")), -5);
    assert.equal(decode(fromHex("cf000001937ed97200")), 1733000000000);
    assert.equal(toHex(encode(1733000000000)), "cf000001937ed97200");
    assert.equal(toHex(encode(-(2 ** 40))), "d3ffffff0000000000");
  });

  it("writes strings as str, bytes as bin", () => {
    assert.equal(toHex(encode("é")), "a2c3a9");
    assert.equal(toHex(encode("x".repeat(32))), "d920" + "78".repeat(32));
    assert.equal(toHex(encode(Uint8Array.of(1, 2, 3))), "c403010203");
    assert.deepEqual(decode(fromHex("c403010203")), Uint8Array.of(1, 2, 3));
  });

  it("keeps map keys in order, for objects and Maps, and leaves undefined values out", () => {
    assert.equal(toHex(encode({ b: 1, a: 2 })), "82a16201a16102");
    assert.equal(toHex(encode(new Map<string, number>([["b", 1], ["a", 2]]))), "82a16201a16102");
    // Integer-like keys: an object puts them first, a Map keeps them where they were.
    assert.equal(toHex(encode(new Map<string, number>([["b", 1], ["7", 2]]))), "82a16201a13702");
    assert.equal(toHex(encode({ a: 1, skip: undefined })), "81a16101");
    assert.equal(toHex(encode(new Map<string, unknown>([["a", 1], ["skip", undefined]]))), "81a16101");
    assert.equal(toHex(encode({ a: null })), "81a161c0");
    const big = new Map<string, number>();
    for (let i = 0; i < 20; i++) big.set(`k${i}`, i);
    assert.deepEqual(decode(encode(big)), Object.fromEntries(big));
  });

  it("frames a batch exactly as the array of its requests", () => {
    for (const count of [2, 15, 16, 200]) {
      const requests = Array.from({ length: count }, (_, i) => request(i + 1, "Agent.move", { class: "Agent", name: "a" }, { x: i, y: 64, z: 0.5 }, `k${i}`));
      const framed = batchFrame(requests.map((r) => encode(r)));
      assert.deepEqual(framed, encode(requests), `count ${count}`);
    }
    for (const count of [65535, 65536]) {
      const values = Array.from({ length: count }, (_, i) => i % 100);
      assert.deepEqual(batchFrame(values.map((v) => encode(v))), encode(values), `count ${count}`);
    }
  });
});
