/**
 * A subscription to the gateway's event stream, as an async iterator:
 *
 *     for await (const event of client.subscribe("change.Agent.")) { ... }
 *
 * Events are queued from the moment `subscribe` returns, in a bounded queue: when the consumer
 * falls behind by `queueSize` events the oldest is dropped. Nothing is lost silently: each event
 * carries `dropped`, how many events were lost just before it (dropped here, or by the gateway
 * under back-pressure), and `reconnected`, true on the first event after the connection was
 * re-established (events published while it was down are lost, their number unknown). Read the
 * objects again when either says something was missed.
 */

import type { LodestoneError } from "./errors.js";

/** One event of the stream. */
export interface LodestoneEvent<B = Record<string, unknown>> {
  /** The topic: `change.<class>.<id>`, `agent.<type>.<name>`, `mission.<event>.<id>`, ... */
  topic: string;
  /** The event's body (docs/protocol.md, "Change stream"). */
  body: B;
  /**
   * How many events were lost just before this one: dropped from this subscription's full
   * queue, or by the gateway for this connection (which counts across all its subscriptions).
   */
  dropped: number;
  /** True on the first event after a reconnection: events published during the outage are lost. */
  reconnected: boolean;
}

export interface SubscribeOptions {
  /** Most events kept for a slow consumer; beyond it the oldest are dropped and counted. Default: the client's (1000). */
  queueSize?: number;
}

interface Waiter<B> {
  resolve: (result: IteratorResult<LodestoneEvent<B>, undefined>) => void;
  reject: (error: unknown) => void;
}

export class Subscription<B = Record<string, unknown>> implements AsyncIterableIterator<LodestoneEvent<B>, undefined> {
  /** Resolves once the gateway confirmed the subscription; rejects if it refused it (e.g. `ForbiddenError`). */
  readonly ready: Promise<void>;
  /** Events lost in all (dropped by the gateway or from the full queue). */
  droppedTotal = 0;
  /** Whether the gateway has confirmed the subscription. */
  acknowledged = false;

  private readonly queue: LodestoneEvent<B>[] = [];
  private waiters: Waiter<B>[] = [];
  private pendingDropped = 0;
  private pendingReconnected = false;
  private finished = false;
  private error: unknown = undefined;
  private resolveReady!: () => void;
  private rejectReady!: (error: unknown) => void;

  /** @internal made by `LodestoneClient.subscribe` */
  constructor(
    readonly prefix: string,
    readonly queueSize: number,
    private readonly onClose: (subscription: Subscription<B>) => void,
  ) {
    if (!(queueSize >= 1)) throw new RangeError("queueSize must be at least 1");
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => undefined); // awaited or not, a refusal also ends the iteration
  }

  /** Events waiting to be taken. */
  get queued(): number {
    return this.queue.length;
  }

  /** Whether the iteration is over (closed, or failed). */
  get closed(): boolean {
    return this.finished;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<LodestoneEvent<B>, undefined>> {
    const event = this.queue.shift();
    if (event !== undefined) return Promise.resolve({ value: event, done: false });
    if (this.error !== undefined) {
      const error = this.error;
      this.error = undefined;
      return Promise.reject(error);
    }
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Called by `break` in a `for await` loop: unsubscribes. */
  return(): Promise<IteratorResult<LodestoneEvent<B>, undefined>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Stop: unsubscribe, drop what is queued, end the iteration. */
  close(): void {
    if (this.finished) return;
    this.onClose(this);
    this._end();
    this.queue.length = 0;
  }

  /** @internal */
  _push(topic: string, body: unknown): void {
    if (this.finished) return;
    const event: LodestoneEvent<B> = {
      topic,
      body: body as B,
      dropped: this.pendingDropped,
      reconnected: this.pendingReconnected,
    };
    this.pendingDropped = 0;
    this.pendingReconnected = false;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve({ value: event, done: false });
      return;
    }
    this.queue.push(event);
    if (this.queue.length > this.queueSize) {
      const lost = this.queue.shift()!;
      const next = this.queue[0]!;
      next.dropped += lost.dropped + 1;
      next.reconnected ||= lost.reconnected;
      this.droppedTotal += 1;
    }
  }

  /** @internal the gateway dropped `count` events for this connection */
  _dropped(count: number): void {
    if (this.finished || count <= 0) return;
    this.pendingDropped += count;
    this.droppedTotal += count;
  }

  /** @internal renewed on a new connection */
  _reconnected(): void {
    this.pendingReconnected = true;
  }

  /** @internal */
  _subscribed(): void {
    this.acknowledged = true;
    this.resolveReady();
  }

  /** @internal the subscription was refused, or the client can no longer connect */
  _fail(error: LodestoneError): void {
    if (this.finished) return;
    this.finished = true;
    this.rejectReady(error);
    const waiters = this.waiters;
    this.waiters = [];
    if (waiters.length > 0) {
      for (const waiter of waiters) waiter.reject(error);
    } else {
      this.error = error;
    }
  }

  /** @internal the client was closed */
  _end(): void {
    if (this.finished) return;
    this.finished = true;
    this.rejectReady(new Error("the subscription was closed"));
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.resolve({ value: undefined, done: true });
  }
}
