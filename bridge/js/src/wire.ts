/**
 * Wire protocol v1 in msgpack, byte for byte as the daemon and the Python and Java clients write it
 * (docs/protocol.md; the vectors in schemas/vectors/wire_v1.json pin the bytes).
 *
 * - integers in their shortest form; a `bigint` too (so 64-bit values round-trip), and a 64-bit
 *   integer on the wire decodes to a `number` when it is safe, else to a `bigint`;
 * - every other number as float64;
 * - strings as str, `Uint8Array` (any typed array view) as bin;
 * - maps in the order given: a plain object's own keys in insertion order (JavaScript puts
 *   integer-like keys such as "7" first), a `Map` in its iteration order;
 * - `undefined` map values are left out, as if absent (the daemon treats nil as absent too).
 */

import { Decoder, Encoder } from "@msgpack/msgpack";

export const PROTOCOL_VERSION = 1;

/** The daemon's default frame limit; a larger request would get a reply without an id. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** A wire target: an object by name, or by id. */
export type Target = { class: string; name: string } | { class: string; id: string };

/** A request envelope, keys in the order the protocol lists them. */
export interface Request {
  v: number;
  id: number | string;
  op: string;
  target?: Target;
  args: Record<string, unknown>;
  idem?: string;
}

export interface ErrorBody {
  code: string;
  message: string;
  retryable: boolean;
}

export type Reply =
  | { v: number; id: number | string | null; ok: true; result: unknown }
  | { v: number; id: number | string | null; ok: false; error: ErrorBody };

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

// The few encoder and decoder internals changed below (method names of @msgpack/msgpack 3.x);
// test/unit/wire.test.ts pins the behaviour, so an upgrade that moves them fails there.
interface EncoderInternals {
  encodeObject(object: unknown, depth: number): void;
  encodeNumber(object: number): void;
  doEncode(object: unknown, depth: number): void;
  writeU8(value: number): void;
  writeU16(value: number): void;
  writeU32(value: number): void;
  writeBigUint64(value: bigint): void;
  writeBigInt64(value: bigint): void;
}

interface DecoderInternals {
  readU64(): number | bigint;
  readI64(): number | bigint;
  view: DataView;
  pos: number;
}

function makeEncoder(): Encoder {
  // useBigInt64 stays off: with it on, the library writes safe integers beyond 32 bits as floats.
  const encoder = new Encoder({ ignoreUndefined: true });
  const self = encoder as unknown as EncoderInternals;
  const encodeObject = self.encodeObject.bind(encoder);
  const encodeBigInt = (value: bigint): void => {
    if (value >= MIN_SAFE && value <= MAX_SAFE) {
      self.encodeNumber(Number(value));
    } else if (value > 0n && value <= U64_MAX) {
      self.writeU8(0xcf);
      self.writeBigUint64(value);
    } else if (value < 0n && value >= I64_MIN) {
      self.writeU8(0xd3);
      self.writeBigInt64(value);
    } else {
      throw new RangeError(`${value} does not fit in 64 bits`);
    }
  };
  const encodeMap = (map: Map<unknown, unknown>, depth: number): void => {
    const entries = [...map].filter(([, value]) => value !== undefined);
    const size = entries.length;
    if (size < 16) {
      self.writeU8(0x80 + size);
    } else if (size < 0x10000) {
      self.writeU8(0xde);
      self.writeU16(size);
    } else {
      self.writeU8(0xdf);
      self.writeU32(size);
    }
    for (const [key, value] of entries) {
      self.doEncode(key, depth + 1);
      self.doEncode(value, depth + 1);
    }
  };
  self.encodeObject = function (object: unknown, depth: number): void {
    if (typeof object === "bigint") encodeBigInt(object);
    else if (object instanceof Map) encodeMap(object, depth);
    else encodeObject(object, depth);
  };
  return encoder;
}

function makeDecoder(): Decoder {
  const decoder = new Decoder();
  const self = decoder as unknown as DecoderInternals;
  self.readU64 = function (): number | bigint {
    const value = self.view.getBigUint64(self.pos);
    self.pos += 8;
    return value <= MAX_SAFE ? Number(value) : value;
  };
  self.readI64 = function (): number | bigint {
    const value = self.view.getBigInt64(self.pos);
    self.pos += 8;
    return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
  };
  return decoder;
}

const encoder = makeEncoder();
const decoder = makeDecoder();

/** `value` in msgpack (a fresh copy of the bytes). */
export function encode(value: unknown): Uint8Array {
  return encoder.encode(value);
}

/** One msgpack value from `bytes`; throws if they hold anything else or anything more. */
export function decode(bytes: Uint8Array | ArrayBuffer): unknown {
  return decoder.decode(bytes);
}

/** A request envelope; `target` and `idem` are left out when not given. */
export function request(
  id: number | string,
  op: string,
  target?: Target,
  args?: Record<string, unknown>,
  idem?: string,
): Request {
  // Built key by key: a map's keys go on the wire in insertion order.
  const message: Partial<Request> = { v: PROTOCOL_VERSION, id, op };
  if (target !== undefined) message.target = target;
  message.args = args ?? {};
  if (idem !== undefined) message.idem = idem;
  return message as Request;
}

/** The msgpack array header for `count` elements. */
export function arrayHeader(count: number): Uint8Array {
  if (count < 16) return Uint8Array.of(0x90 | count);
  if (count < 0x10000) return Uint8Array.of(0xdc, count >>> 8, count & 0xff);
  return Uint8Array.of(0xdd, count >>> 24, (count >>> 16) & 0xff, (count >>> 8) & 0xff, count & 0xff);
}

/** A batch frame: the msgpack array of requests already encoded one by one. */
export function batchFrame(encoded: readonly Uint8Array[]): Uint8Array {
  const header = arrayHeader(encoded.length);
  let size = header.length;
  for (const part of encoded) size += part.length;
  const frame = new Uint8Array(size);
  frame.set(header, 0);
  let offset = header.length;
  for (const part of encoded) {
    frame.set(part, offset);
    offset += part.length;
  }
  return frame;
}

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

/** The bytes of a hex string. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || /[^0-9a-fA-F]/.test(hex)) throw new TypeError("not a hex string");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A fresh random idempotency key: 32 hex characters (128 random bits). */
export function randomKey(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return toHex(bytes);
}
