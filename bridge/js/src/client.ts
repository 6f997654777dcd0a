/**
 * The client: one WebSocket to the Lodestone gateway, calls pipelined over it and matched to
 * their replies by id, calls made in one tick sent as one batch frame, reconnection with the
 * calls still waiting sent again, and subscriptions as async iterators.
 */

import {
  ClientClosedError,
  ForbiddenError,
  InternalError,
  LodestoneError,
  LodestoneTimeoutError,
  TooLargeError,
  BadRequestError,
  UnauthenticatedError,
  errorFromReply,
} from "./errors.js";
import { Subscription, type SubscribeOptions } from "./subscription.js";
import {
  gatewayUrl,
  handshakeStatus,
  loadWebSocket,
  type LoadedWebSocket,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./transport.js";
import type {
  AlarmEntry,
  Check,
  HealthResult,
  ListOptions,
  PingResult,
  StoredObject,
  TransactionOp,
} from "./types.js";
import { batchFrame, decode, encode, randomKey, request, type Target } from "./wire.js";
import { AgentHandle, ForemanHandle, MissionControlHandle, TelemetryHandle } from "./world.js";

export interface ClientOptions {
  /** The gateway: `ws://127.0.0.1:8080` (the path `/v1/ws` is added) or the full WebSocket URL. */
  url: string;
  /** The gateway's bearer token; none for a gateway serving loopback without tokens. */
  token?: string;
  /**
   * How long a call may take, resends and retries included, before it fails with
   * `LodestoneTimeoutError`. Default 30 s: longer than the gateway's own wait for the daemon
   * (10 s), so a request lost in a daemon restart comes back as a retryable TIMEOUT and is sent again.
   */
  timeoutMs?: number;
  /** How often a retryable error reply (`UNAVAILABLE`, `TIMEOUT`) is retried, with backoff. Default 10 (about 6 to 13 s of backoff, enough to ride out a daemon restart). */
  retries?: number;
  /** Send the calls made in one tick of the event loop as one batch frame. Default true. */
  batch?: boolean;
  /** Most requests in one batch frame. Default 1024, the gateway's `batch_max_requests`. */
  maxBatch?: number;
  /** Most requests sent and not yet answered; more wait in the client. Default 1024, the gateway's `max_in_flight`. */
  maxInFlight?: number;
  /** The gateway's frame limit: a larger request fails with `TooLargeError` before it is sent. Default 4 MiB, the gateway's `max_frame_bytes`. */
  maxFrameBytes?: number;
  /** First retry delay after a retryable error; it doubles per retry up to `maxRetryDelayMs`. Default 100 ms. */
  retryDelayMs?: number;
  /** Default 2 s. */
  maxRetryDelayMs?: number;
  /** First reconnection delay; it doubles per failed attempt up to `maxReconnectDelayMs`. Default 100 ms. */
  reconnectDelayMs?: number;
  /** Default 5 s. */
  maxReconnectDelayMs?: number;
  /**
   * How the token travels: as an `Authorization: Bearer` header, or as the `access_token` query
   * parameter (browsers cannot set headers on a WebSocket). Default: the header where the
   * WebSocket can send one (Node's `ws` package, Bun), else the query parameter.
   */
  auth?: "header" | "query";
  /** A WebSocket class to use instead of the platform's (or `ws`). */
  WebSocket?: WebSocketConstructor;
  /** Default queue bound of subscriptions (`subscribe(prefix, {queueSize})`). Default 1000. */
  subscriptionQueueSize?: number;
}

/** Per-call options. */
export interface CallOptions {
  /** The idempotency key; default a fresh random one per call, kept across its resends. */
  idem?: string;
  /** This call's timeout instead of the client's. */
  timeoutMs?: number;
  /** This call's retries of retryable errors instead of the client's. */
  retries?: number;
}

/** What the client tells its listeners (`client.on(...)`). */
export interface ClientEvents {
  /** The connection is open (again); subscriptions were renewed, waiting calls resent. */
  open: () => void;
  /** The connection closed; the client reconnects while calls wait or subscriptions are open. */
  close: (info: { code: number; reason: string }) => void;
  /** Something that no call or subscription owns went wrong (a reply without id, a bad frame). */
  error: (error: LodestoneError) => void;
}

interface Call {
  id: number;
  op: string;
  idem: string;
  bytes: Uint8Array;
  resolve: (result: unknown) => void;
  reject: (error: LodestoneError) => void;
  timer: ReturnType<typeof setTimeout>;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  retriesLeft: number;
  retried: number;
  inFlight: boolean;
  lastError: LodestoneError | undefined;
}

type Listener = (...args: never[]) => void;

/** The gateway's default `max_frame_bytes`. */
const GATEWAY_MAX_FRAME_BYTES = 4 * 1024 * 1024;

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function backoff(base: number, max: number, attempt: number): number {
  const delay = Math.min(max, base * 2 ** attempt);
  return delay / 2 + Math.random() * (delay / 2);
}

export class LodestoneClient {
  readonly url: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly batch: boolean;
  readonly maxBatch: number;
  readonly maxInFlight: number;
  readonly maxFrameBytes: number;
  readonly subscriptionQueueSize: number;

  private readonly token: string | undefined;
  private readonly auth: "header" | "query" | undefined;
  private readonly customWebSocket: WebSocketConstructor | undefined;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly reconnectDelayMs: number;
  private readonly maxReconnectDelayMs: number;

  private ws: WebSocketLike | null = null;
  private connecting = false;
  private isOpen = false;
  private closed = false;
  private connections = 0;
  private reconnectAttempts = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private lastSocketError: string | undefined;
  private nextId = 1;
  private inFlight = 0;
  private readonly pending = new Map<number, Call>();
  private outbox: Call[] = [];
  private flushScheduled = false;
  private readonly subscriptions = new Set<Subscription>();
  private readonly prefixes = new Map<string, number>();
  private openWaiters: { resolve: () => void; reject: (error: LodestoneError) => void }[] = [];
  private readonly listeners = new Map<keyof ClientEvents, Set<Listener>>();
  private closedPromise: Promise<void> | undefined;

  constructor(options: ClientOptions) {
    if (typeof options?.url !== "string") throw new TypeError("LodestoneClient needs a url");
    gatewayUrl(options.url); // throws on a malformed URL, here rather than on the first call
    this.url = options.url;
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 10;
    this.batch = options.batch ?? true;
    this.maxBatch = Math.max(1, options.maxBatch ?? 1024);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 1024);
    this.maxFrameBytes = options.maxFrameBytes ?? GATEWAY_MAX_FRAME_BYTES;
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 2_000;
    this.reconnectDelayMs = options.reconnectDelayMs ?? 100;
    this.maxReconnectDelayMs = options.maxReconnectDelayMs ?? 5_000;
    this.auth = options.auth;
    this.customWebSocket = options.WebSocket;
    this.subscriptionQueueSize = options.subscriptionQueueSize ?? 1000;
  }

  /** Whether the WebSocket is open now. */
  get connected(): boolean {
    return this.isOpen;
  }

  /** Calls sent or waiting to be, whose replies have not come. */
  get pendingCalls(): number {
    return this.pending.size;
  }

  /**
   * Open the connection (the first call does this too) and resolve once it is open. Rejects
   * with `UnauthenticatedError` or `ForbiddenError` if the gateway refuses the token, with
   * `LodestoneTimeoutError` if it is not open within `timeoutMs` (the client keeps trying).
   */
  ready(timeoutMs: number = this.timeoutMs): Promise<void> {
    if (this.closed) return Promise.reject(new ClientClosedError());
    if (this.isOpen) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error: LodestoneError) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.openWaiters = this.openWaiters.filter((w) => w !== waiter);
        reject(new LodestoneTimeoutError(`no connection to ${this.url} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.openWaiters.push(waiter);
      this.ensureConnection();
    });
  }

  /** Listen to the connection's events; returns a function that stops listening. */
  on<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener);
    return () => this.off(event, listener);
  }

  off<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): void {
    this.listeners.get(event)?.delete(listener as Listener);
  }

  private emit<E extends keyof ClientEvents>(event: E, ...args: Parameters<ClientEvents[E]>): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        (listener as (...a: Parameters<ClientEvents[E]>) => void)(...args);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  // calls ---------------------------------------------------------------------------------

  /**
   * Send one request and resolve with its result, or reject with its typed error.
   *
   * Every request carries an idempotency key (`options.idem`, else a fresh random one), the
   * same on every resend: after a reconnection, and on each retry of a retryable error reply,
   * so a write is applied once (the daemon ignores the key on reads).
   */
  call<T = unknown>(op: string, target?: Target, args?: Record<string, unknown>, options: CallOptions = {}): Promise<T> {
    if (this.closed) return Promise.reject(new ClientClosedError(`the client was closed; ${op} was not sent`, { op }));
    const id = this.nextId++;
    const idem = options.idem ?? randomKey();
    let bytes: Uint8Array;
    try {
      bytes = encode(request(id, op, target, args, idem));
    } catch (error) {
      return Promise.reject(new BadRequestError(`${op}: cannot encode the request: ${String(error)}`, { op, idem }));
    }
    if (bytes.length > this.maxFrameBytes) {
      return Promise.reject(
        new TooLargeError(
          `${op} request is ${bytes.length} bytes; the frame limit is ${this.maxFrameBytes}; nothing was sent`,
          { op, idem },
        ),
      );
    }
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const call: Call = {
        id,
        op,
        idem,
        bytes,
        resolve: resolve as (result: unknown) => void,
        reject,
        timer: setTimeout(() => this.expire(call, timeoutMs), timeoutMs),
        retryTimer: undefined,
        retriesLeft: options.retries ?? this.retries,
        retried: 0,
        inFlight: false,
        lastError: undefined,
      };
      this.pending.set(id, call);
      this.enqueue(call);
    });
  }

  private enqueue(call: Call): void {
    this.outbox.push(call);
    if (!this.isOpen) {
      this.ensureConnection();
    } else if (!this.batch && !this.flushScheduled) {
      this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Send what waits in the outbox, up to `maxInFlight`: one frame per call, or batch frames of up to `maxBatch`. */
  private flush(): void {
    this.flushScheduled = false;
    const ws = this.ws;
    if (!this.isOpen || ws === null) return;
    // Take calls from the front while there is room; settled or already sent ones are skipped.
    const calls: Call[] = [];
    let room = this.maxInFlight - this.inFlight;
    let taken = 0;
    for (; taken < this.outbox.length && room > 0; taken++) {
      const call = this.outbox[taken]!;
      if (this.pending.get(call.id) !== call || call.inFlight || call.retryTimer !== undefined) continue;
      calls.push(call);
      room -= 1;
    }
    this.outbox.splice(0, taken);
    const limit = this.batch ? this.maxBatch : 1;
    let chunk: Call[] = [];
    let size = 5;
    const send = (): void => {
      if (chunk.length === 0) return;
      const frame = chunk.length === 1 ? chunk[0]!.bytes : batchFrame(chunk.map((call) => call.bytes));
      for (const call of chunk) this.markInFlight(call, true);
      try {
        ws.send(frame);
      } catch {
        for (const call of chunk) this.markInFlight(call, false);
        this.outbox.unshift(...chunk);
      }
      chunk = [];
      size = 5;
    };
    for (const call of calls) {
      if (chunk.length >= limit || size + call.bytes.length > this.maxFrameBytes) send();
      chunk.push(call);
      size += call.bytes.length;
    }
    send();
  }

  private markInFlight(call: Call, inFlight: boolean): void {
    if (call.inFlight === inFlight) return;
    call.inFlight = inFlight;
    this.inFlight += inFlight ? 1 : -1;
  }

  /** After a reply: send what waited for room, in a microtask (so a batch of replies frees room once). */
  private scheduleFlush(): void {
    if (this.outbox.length === 0 || this.flushScheduled || !this.isOpen) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  private settle(call: Call, error: LodestoneError | undefined, result?: unknown): void {
    if (this.pending.get(call.id) !== call) return;
    this.pending.delete(call.id);
    this.markInFlight(call, false);
    clearTimeout(call.timer);
    if (call.retryTimer !== undefined) clearTimeout(call.retryTimer);
    if (error !== undefined) call.reject(error);
    else call.resolve(result);
  }

  private expire(call: Call, timeoutMs: number): void {
    const last = call.lastError;
    const message =
      `no reply to ${call.op} within ${timeoutMs} ms` + (last ? `; last error: ${last.code}: ${last.message}` : "");
    const error = new LodestoneTimeoutError(message, { op: call.op, idem: call.idem });
    if (last) (error as { cause?: unknown }).cause = last;
    this.settle(call, error);
  }

  private onReply(reply: Record<string, unknown>): void {
    const id = reply.id;
    const call = typeof id === "number" ? this.pending.get(id) : undefined;
    if (call === undefined) {
      if (id === null || id === undefined) {
        this.emit("error", errorFromReply(reply.error ?? { code: "INTERNAL", message: "a reply without an id" }));
      }
      return; // a late reply to a call that timed out, or a duplicate
    }
    this.markInFlight(call, false);
    this.scheduleFlush();
    if (reply.ok === true) {
      this.settle(call, undefined, reply.result);
      return;
    }
    const error = errorFromReply(reply.error, { op: call.op, idem: call.idem });
    if (error.retryable && call.retriesLeft > 0) {
      call.retriesLeft -= 1;
      call.lastError = error;
      const delay = backoff(this.retryDelayMs, this.maxRetryDelayMs, call.retried++);
      call.retryTimer = setTimeout(() => {
        call.retryTimer = undefined;
        if (this.pending.get(call.id) === call) this.enqueue(call);
      }, delay);
      return;
    }
    this.settle(call, error);
  }

  // the connection ------------------------------------------------------------------------

  private hasDemand(): boolean {
    return this.pending.size > 0 || this.subscriptions.size > 0 || this.openWaiters.length > 0;
  }

  private ensureConnection(): void {
    if (this.closed || this.ws !== null || this.connecting || this.reconnectTimer !== undefined) return;
    this.connecting = true;
    const opened = this.customWebSocket
      ? Promise.resolve<LoadedWebSocket>({ ctor: this.customWebSocket, takesHeaders: this.auth === "header" })
      : loadWebSocket();
    opened.then(
      (loaded) => {
        this.connecting = false;
        this.openSocket(loaded);
      },
      (error: unknown) => {
        this.connecting = false;
        this.failAll(new InternalError(`no WebSocket implementation: ${String(error)}; install the ws package`));
      },
    );
  }

  private openSocket({ ctor, takesHeaders }: LoadedWebSocket): void {
    if (this.closed) return;
    const header = this.token !== undefined && (this.auth ?? (takesHeaders ? "header" : "query")) === "header";
    const url = gatewayUrl(this.url, this.token !== undefined && !header ? this.token : undefined);
    let ws: WebSocketLike;
    try {
      ws = header ? new ctor(url, { headers: { Authorization: `Bearer ${this.token}` } }) : new ctor(url);
    } catch (error) {
      this.lastSocketError = String(error);
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.lastSocketError = undefined;
    ws.addEventListener("open", () => {
      if (this.ws === ws) this.onOpen();
    });
    ws.addEventListener("message", (event: { data: unknown }) => {
      if (this.ws === ws) this.onFrame(event.data);
    });
    ws.addEventListener("error", (event: { message?: string; error?: unknown }) => {
      if (this.ws === ws) this.lastSocketError = event.message ?? (event.error ? String(event.error) : undefined);
    });
    ws.addEventListener("close", (event: { code?: number; reason?: string }) => {
      if (this.ws === ws) this.onClose(event.code ?? 1006, event.reason ?? "");
    });
  }

  private onOpen(): void {
    this.isOpen = true;
    this.connections += 1;
    this.reconnectAttempts = 0;
    for (const prefix of this.prefixes.keys()) this.sendControl({ ctl: "subscribe", prefix });
    if (this.connections > 1) for (const subscription of this.subscriptions) subscription._reconnected();
    const waiters = this.openWaiters;
    this.openWaiters = [];
    for (const waiter of waiters) waiter.resolve();
    this.emit("open");
    this.flush();
  }

  private onClose(code: number, reason: string): void {
    const status = handshakeStatus(this.lastSocketError);
    this.ws = null;
    const wasOpen = this.isOpen;
    this.isOpen = false;
    if (this.closed) return;
    if (status === 401 || status === 403) {
      const message = `the gateway at ${this.url} refused the connection (HTTP ${status})`;
      this.failAll(status === 401 ? new UnauthenticatedError(message) : new ForbiddenError(message));
      return;
    }
    // Every call whose reply has not come goes out again on the next connection, in id order.
    this.outbox = [];
    for (const call of this.pending.values()) {
      this.markInFlight(call, false);
      if (call.retryTimer === undefined) this.outbox.push(call);
    }
    if (wasOpen) this.emit("close", { code, reason });
    if (this.hasDemand()) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    const delay = backoff(this.reconnectDelayMs, this.maxReconnectDelayMs, this.reconnectAttempts++);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.hasDemand()) this.ensureConnection();
    }, delay);
  }

  /** Fail every call, subscription and connection waiter with `error` (a refused token). */
  private failAll(error: LodestoneError): void {
    const calls = [...this.pending.values()];
    this.outbox = [];
    for (const call of calls) {
      const detailed = errorFromReply({ code: error.code, message: error.message, retryable: error.retryable }, {
        op: call.op,
        idem: call.idem,
      });
      this.settle(call, detailed);
    }
    for (const subscription of [...this.subscriptions]) {
      this.subscriptions.delete(subscription);
      subscription._fail(error);
    }
    this.prefixes.clear();
    const waiters = this.openWaiters;
    this.openWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  private sendControl(message: Record<string, unknown>): void {
    if (!this.isOpen || this.ws === null) return;
    try {
      this.ws.send(encode(message));
    } catch {
      // the close event follows; the subscription is renewed on the next connection
    }
  }

  private onFrame(data: unknown): void {
    let message: unknown;
    try {
      if (data instanceof ArrayBuffer) message = decode(data);
      else if (ArrayBuffer.isView(data)) message = decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      else throw new TypeError(`a ${typeof data} frame, not a binary one`);
    } catch (error) {
      this.emit("error", new InternalError(`undecodable frame from the gateway: ${String(error)}`));
      return;
    }
    if (Array.isArray(message)) {
      for (const reply of message) if (isMap(reply)) this.onReply(reply);
    } else if (isMap(message)) {
      if (typeof message.ctl === "string") this.onControl(message);
      else this.onReply(message);
    }
  }

  private onControl(message: Record<string, unknown>): void {
    const prefix = typeof message.prefix === "string" ? message.prefix : undefined;
    switch (message.ctl) {
      case "event": {
        const topic = typeof message.topic === "string" ? message.topic : "";
        for (const subscription of this.subscriptions) {
          if (topic.startsWith(subscription.prefix)) subscription._push(topic, message.body);
        }
        break;
      }
      case "dropped": {
        const count = typeof message.count === "number" ? message.count : 0;
        for (const subscription of this.subscriptions) subscription._dropped(count);
        break;
      }
      case "subscribed":
        for (const subscription of this.subscriptions) if (subscription.prefix === prefix) subscription._subscribed();
        break;
      case "unsubscribed":
        break;
      case "error": {
        const error = errorFromReply(message);
        if (prefix === undefined) {
          this.emit("error", error);
          break;
        }
        for (const subscription of [...this.subscriptions]) {
          if (subscription.prefix !== prefix) continue;
          this.subscriptions.delete(subscription);
          subscription._fail(error);
        }
        this.prefixes.delete(prefix);
        break;
      }
      default:
        break;
    }
  }

  // subscriptions -------------------------------------------------------------------------

  /**
   * Follow the events whose topic starts with `prefix` (`change.Agent.`, `agent.damage.`,
   * `mission.completed.`): `for await (const event of client.subscribe(prefix)) { ... }`.
   * Breaking out of the loop (or `close()`) unsubscribes. See `Subscription`.
   */
  subscribe<B = Record<string, unknown>>(prefix: string, options: SubscribeOptions = {}): Subscription<B> {
    const subscription = new Subscription<B>(prefix, options.queueSize ?? this.subscriptionQueueSize, (s) =>
      this.unsubscribe(s as Subscription),
    );
    if (this.closed) {
      subscription._fail(new ClientClosedError());
      return subscription;
    }
    this.subscriptions.add(subscription as Subscription);
    const count = this.prefixes.get(prefix) ?? 0;
    this.prefixes.set(prefix, count + 1);
    if (count === 0) this.sendControl({ ctl: "subscribe", prefix });
    else if ([...this.subscriptions].some((other) => other.prefix === prefix && other.acknowledged)) subscription._subscribed();
    this.ensureConnection();
    return subscription;
  }

  private unsubscribe(subscription: Subscription): void {
    if (!this.subscriptions.delete(subscription)) return;
    const count = (this.prefixes.get(subscription.prefix) ?? 1) - 1;
    if (count > 0) {
      this.prefixes.set(subscription.prefix, count);
      return;
    }
    this.prefixes.delete(subscription.prefix);
    this.sendControl({ ctl: "unsubscribe", prefix: subscription.prefix });
  }

  // closing -------------------------------------------------------------------------------

  /** Close the connection: waiting calls fail with `ClientClosedError`, subscriptions end. */
  close(): Promise<void> {
    if (this.closedPromise !== undefined) return this.closedPromise;
    this.closed = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const calls = [...this.pending.values()];
    for (const call of calls) this.settle(call, new ClientClosedError(`the client was closed; ${call.op} got no reply`, { op: call.op, idem: call.idem }));
    this.outbox = [];
    for (const subscription of [...this.subscriptions]) subscription._end();
    this.subscriptions.clear();
    this.prefixes.clear();
    const waiters = this.openWaiters;
    this.openWaiters = [];
    for (const waiter of waiters) waiter.reject(new ClientClosedError());
    const ws = this.ws;
    this.ws = null;
    this.isOpen = false;
    this.closedPromise = new Promise<void>((resolve) => {
      if (ws === null || ws.readyState === 3) {
        resolve();
        return;
      }
      // Wait for the closing handshake, but not for ever: a socket still connecting (some
      // implementations never report its close) or a gateway that does not answer is let go.
      const connecting = ws.readyState === 0;
      const timer = setTimeout(resolve, connecting ? 0 : 1000);
      ws.addEventListener("close", () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        ws.close(1000, "client closed");
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
    return this.closedPromise;
  }

  // ops without a target --------------------------------------------------------------------

  /** The daemon's protocol versions and software version. */
  ping(options?: CallOptions): Promise<PingResult> {
    return this.call<PingResult>("ping", undefined, {}, options);
  }

  /** The daemon's health (docs/protocol.md). */
  health(options?: CallOptions): Promise<HealthResult> {
    return this.call<HealthResult>("health", undefined, {}, options);
  }

  /** The daemon's counters and storage figures. */
  stats(options?: CallOptions): Promise<Record<string, unknown>> {
    return this.call<Record<string, unknown>>("stats", undefined, {}, options);
  }

  /** The deterministic id of `name` in `cls`. */
  idFromName(cls: string, name: string, options?: CallOptions): Promise<string> {
    return this.call<{ id: string }>("id.from_name", undefined, { class: cls, name }, options).then((r) => r.id);
  }

  /** A fresh random id for `cls`. */
  newUniqueId(cls: string, options?: CallOptions): Promise<string> {
    return this.call<{ id: string }>("id.new_unique", undefined, { class: cls }, options).then((r) => r.id);
  }

  /** `id` if this deployment made it for `cls`; else `InvalidIdError`. */
  idFromString(cls: string, id: string, options?: CallOptions): Promise<string> {
    return this.call<{ id: string }>("id.from_string", undefined, { class: cls, id }, options).then((r) => r.id);
  }

  /** Stored objects of `cls`, in id order. */
  objects(cls: string, list: { after?: string; limit?: number } = {}, options?: CallOptions): Promise<StoredObject[]> {
    return this.call<{ objects: StoredObject[] }>("objects.list", undefined, { class: cls, after: list.after, limit: list.limit }, options).then(
      (r) => r.objects,
    );
  }

  /** Alarms in due order; with `dueByMs`, only those due by then. */
  alarms(list: { dueByMs?: number; limit?: number } = {}, options?: CallOptions): Promise<AlarmEntry[]> {
    return this.call<{ alarms: AlarmEntry[] }>("alarms.list", undefined, { due_by_ms: list.dueByMs, limit: list.limit }, options).then(
      (r) => r.alarms,
    );
  }

  // handles ---------------------------------------------------------------------------------

  /** One object's storage, by name: `client.object("Chest", "spawn-chest")`. */
  object(cls: string, name: string): ObjectHandle {
    return new ObjectHandle(this, { class: cls, name });
  }

  /** One object's storage, by id (`idFromName`, `newUniqueId`). */
  objectById(cls: string, id: string): ObjectHandle {
    return new ObjectHandle(this, { class: cls, id });
  }

  /** The agent `name`: `Agent.*` ops. */
  agent(name: string): AgentHandle {
    return new AgentHandle(this, name);
  }

  /** A Foreman (agents send heartbeats to `global` by default): `Foreman.*` ops. */
  foreman(name = "global"): ForemanHandle {
    return new ForemanHandle(this, name);
  }

  /** A MissionControl: `MissionControl.*` ops. */
  missions(name = "global"): MissionControlHandle {
    return new MissionControlHandle(this, name);
  }

  /** A Telemetry log: `Telemetry.*` ops. */
  telemetry(name = "global"): TelemetryHandle {
    return new TelemetryHandle(this, name);
  }
}

/** Open a client and wait until its connection is open (see `LodestoneClient.ready`). */
export async function connect(options: ClientOptions): Promise<LodestoneClient> {
  const client = new LodestoneClient(options);
  try {
    await client.ready();
  } catch (error) {
    await client.close();
    throw error;
  }
  return client;
}

/** A transaction: every check is evaluated, then all ops apply, or none (`ConflictError`). */
export interface Transaction {
  checks?: Check[];
  ops: TransactionOp[];
}

/** One object's storage API (docs/protocol.md, "Storage"). */
export class ObjectHandle {
  readonly alarm: {
    /** The alarm's time (epoch ms), or null. */
    get(options?: CallOptions): Promise<number | null>;
    /** Set (replace) the object's alarm. */
    set(at: number | Date, options?: CallOptions): Promise<void>;
    delete(options?: CallOptions): Promise<void>;
  };

  constructor(
    readonly client: LodestoneClient,
    readonly target: Target,
  ) {
    this.alarm = {
      get: (options) =>
        this.call<{ at_ms: number | null }>("alarm.get", {}, options).then((r) => r.at_ms ?? null),
      set: (at, options) =>
        this.call("alarm.set", { at_ms: at instanceof Date ? at.getTime() : at }, options).then(() => undefined),
      delete: (options) => this.call("alarm.delete", {}, options).then(() => undefined),
    };
  }

  private call<T>(op: string, args: Record<string, unknown>, options?: CallOptions): Promise<T> {
    return this.client.call<T>(op, this.target, args, options);
  }

  /** The value of `key`, or `undefined` if it is not stored. */
  get<T = unknown>(key: string, options?: CallOptions): Promise<T | undefined> {
    return this.call<{ found: boolean; value?: T }>("storage.get", { key }, options).then((r) =>
      r.found ? (r.value as T) : undefined,
    );
  }

  /** The stored keys among `keys` (up to 128), in key byte order. */
  getMany<T = unknown>(keys: readonly string[], options?: CallOptions): Promise<Record<string, T>> {
    return this.call<{ values: Record<string, T> }>("storage.get", { keys: [...keys] }, options).then((r) => r.values);
  }

  /** Store `value` under `key`; resolves once it is durable. */
  put(key: string, value: unknown, options?: CallOptions): Promise<void> {
    return this.call("storage.put", { key, value }, options).then(() => undefined);
  }

  /** Store every pair (up to 128), all or none. A `Map` keeps its order; so does an object, but for integer-like keys. */
  putMany(entries: Record<string, unknown> | Map<string, unknown>, options?: CallOptions): Promise<void> {
    return this.call("storage.put", { entries }, options).then(() => undefined);
  }

  /** Delete `key`; whether it existed. */
  delete(key: string, options?: CallOptions): Promise<boolean> {
    return this.call<{ deleted: boolean }>("storage.delete", { key }, options).then((r) => r.deleted);
  }

  /** Delete `keys` (up to 128); how many existed. */
  deleteMany(keys: readonly string[], options?: CallOptions): Promise<number> {
    return this.call<{ deleted: number }>("storage.delete", { keys: [...keys] }, options).then((r) => r.deleted);
  }

  /** Entries in UTF-8 byte order of their keys, as `[key, value]` pairs. */
  list<T = unknown>(list: ListOptions = {}, options?: CallOptions): Promise<[string, T][]> {
    const args: Record<string, unknown> = {
      start: list.start,
      start_after: list.startAfter,
      end: list.end,
      prefix: list.prefix,
      limit: list.limit,
    };
    if (list.reverse) args.reverse = true;
    return this.call<{ entries: [string, T][] }>("storage.list", args, options).then((r) => r.entries);
  }

  /** Delete every key of the object, and its alarm. */
  deleteAll(options?: CallOptions): Promise<void> {
    return this.call("storage.delete_all", {}, options).then(() => undefined);
  }

  /** Apply `ops` if every check holds, in one turn; else `ConflictError` and nothing changes. */
  transaction(transaction: Transaction, options?: CallOptions): Promise<void> {
    return this.call("storage.transaction", { checks: transaction.checks ?? [], ops: transaction.ops }, options).then(
      () => undefined,
    );
  }
}
