// The page's one WebSocket to the gateway: requests and batches matched to
// their replies by id, subscriptions, the change stream, and reconnection
// with backoff. It knows nothing of agents or missions.
import { decode, encode } from "../vendor/msgpack/dist.esm/index.mjs";

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const CALL_TIMEOUT_MS = 15_000;
// The gateway's default batch_max_requests is 1024; smaller batches keep a
// gateway configured lower working, and interleave with other requests.
const BATCH_SIZE = 256;

/** A refused request: `code` is the protocol's error code (FORBIDDEN, NOT_FOUND, ...). */
export class CallError extends Error {
  constructor(code, message, retryable = false) {
    super(`${code}: ${message}`);
    this.code = code;
    this.retryable = retryable;
  }
}

/**
 * Events: "status" ({state, attempt, retryInMs, reason}), "open", "dropped"
 * ({count}), "ctl-error" (the control answer); stream messages go to `onEvent`.
 * `state` is "connecting", "open" or "closed".
 */
export class Link extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.state = "closed";
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map();
    this.prefixes = new Set();
    this.retryTimer = null;
    this.stopped = false;
    // Called with (topic, body) for each stream message: a plain call, not a DOM event, since
    // there may be tens of thousands a second.
    this.onEvent = () => {};
    // Prefixes asked for on this connection and not yet answered, and who waits for them.
    this.awaiting = new Set();
    this.readyWaiters = [];
  }

  start() {
    this.stopped = false;
    this.#open();
  }

  #status(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("status", { detail: { state, attempt: this.attempt, ...extra } }));
  }

  #open() {
    clearTimeout(this.retryTimer);
    this.#status("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (error) {
      this.#retry(String(error));
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.#status("open");
      this.awaiting = new Set(this.prefixes);
      for (const prefix of this.prefixes) this.#send({ ctl: "subscribe", prefix });
      this.dispatchEvent(new Event("open"));
    };
    ws.onmessage = (message) => this.receive(message.data);
    ws.onclose = (close) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.#failPending(new CallError("UNAVAILABLE", "the connection to the gateway closed", true));
      this.awaiting.clear();
      this.#answered(null);
      const reason = close.code === 1001 ? "the gateway is stopping" : `connection closed (code ${close.code})`;
      this.#retry(reason);
    };
  }

  #retry(reason) {
    if (this.stopped) return;
    this.attempt += 1;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.attempt - 1));
    const wait = Math.round(base * (0.75 + Math.random() * 0.5));
    this.#status("closed", { retryInMs: wait, retryAt: Date.now() + wait, reason });
    this.retryTimer = setTimeout(() => this.#open(), wait);
  }

  /** Try again now instead of waiting out the backoff. */
  retryNow() {
    if (this.state === "closed" && !this.stopped) this.#open();
  }

  #failPending(error) {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
  }

  #send(value) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(encode(value));
    return true;
  }

  /** Handle one frame from the gateway (an ArrayBuffer of msgpack). */
  receive(data) {
    const frame = decode(new Uint8Array(data));
    if (Array.isArray(frame)) {
      this.#settle(frame.length ? frame[0] : null, frame);
      return;
    }
    if (frame && typeof frame === "object" && "ctl" in frame) {
      if (frame.ctl === "event") {
        this.onEvent(frame.topic, frame.body);
      } else if (frame.ctl === "dropped") {
        this.dispatchEvent(new CustomEvent("dropped", { detail: frame }));
      } else if (frame.ctl === "error") {
        this.dispatchEvent(new CustomEvent("ctl-error", { detail: frame }));
        this.#answered(frame.prefix);
      } else if (frame.ctl === "subscribed") {
        this.#answered(frame.prefix);
      }
      return;
    }
    this.#settle(frame, frame);
  }

  #settle(first, reply) {
    const id = first && typeof first === "object" ? first.id : null;
    const entry = this.pending.get(id);
    if (!entry) return; // a reply after its timeout, or a gateway error without an id
    this.pending.delete(id);
    clearTimeout(entry.timer);
    entry.resolve(reply);
  }

  #request(frame, id) {
    return new Promise((resolve, reject) => {
      if (!this.#send(frame)) {
        reject(new CallError("UNAVAILABLE", "not connected to the gateway", true));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CallError("TIMEOUT", "no reply from the gateway in time", true));
      }, CALL_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
    });
  }

  /** Send one request; resolve to its reply map (ok or not). */
  request(op, target = null, args = {}, extra = {}) {
    const id = this.nextId++;
    const message = { v: 1, id, op, args, ...extra };
    if (target) message.target = target;
    return this.#request(message, id);
  }

  /** Send one request; resolve to its result, or reject with a CallError. */
  async call(op, target = null, args = {}, extra = {}) {
    const reply = await this.request(op, target, args, extra);
    if (!reply.ok) {
      const error = reply.error || {};
      throw new CallError(error.code || "INTERNAL", error.message || "no message", Boolean(error.retryable));
    }
    return reply.result;
  }

  /** Send requests ([op, target, args] each) in batches; resolve to their replies, in order. */
  async batch(requests) {
    const replies = [];
    for (let start = 0; start < requests.length; start += BATCH_SIZE) {
      const chunk = requests.slice(start, start + BATCH_SIZE).map(([op, target, args]) => {
        const message = { v: 1, id: this.nextId++, op, args: args || {} };
        if (target) message.target = target;
        return message;
      });
      const reply = await this.#request(chunk, chunk[0].id);
      if (!Array.isArray(reply)) {
        const error = reply.error || {};
        throw new CallError(error.code || "INTERNAL", error.message || "the batch was refused");
      }
      replies.push(...reply);
    }
    return replies;
  }

  #answered(prefix) {
    this.awaiting.delete(prefix);
    if (this.awaiting.size) return;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Resolves once the gateway has answered every subscription asked for on this connection. */
  subscribed() {
    if (!this.awaiting.size) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Follow a topic prefix, now and after every reconnection. */
  subscribe(prefix) {
    this.prefixes.add(prefix);
    if (this.#send({ ctl: "subscribe", prefix })) this.awaiting.add(prefix);
  }

  unsubscribe(prefix) {
    this.prefixes.delete(prefix);
    this.#send({ ctl: "unsubscribe", prefix });
  }
}
