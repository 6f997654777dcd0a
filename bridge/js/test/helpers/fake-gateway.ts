/**
 * A stand-in for the gateway in unit tests: a WebSocket server on 127.0.0.1 that records every
 * frame it gets and answers requests through a handler the test gives, so the client's own
 * behaviour (batching, resends, retries, subscriptions) can be watched frame by frame.
 */

import { once } from "node:events";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

import { WebSocketServer, type WebSocket } from "ws";

import { decode, encode } from "@lodestone/client/wire";

export type Message = Record<string, unknown>;

/** A frame as the gateway got it: one request, a batch, or a control map. */
export interface Frame {
  connection: number;
  value: unknown;
}

/** What the handler does with one request: a reply map, or `undefined` to leave it unanswered. */
export type Handler = (request: Message, connection: number) => Message | undefined | Promise<Message | undefined>;

export function ok(request: Message, result: unknown = {}): Message {
  return { v: 1, id: request.id, ok: true, result };
}

export function fail(request: Message, code: string, message = code.toLowerCase(), retryable = false): Message {
  return { v: 1, id: request.id, ok: false, error: { code, message, retryable } };
}

export class FakeGateway {
  readonly frames: Frame[] = [];
  readonly requests: Message[] = [];
  readonly upgrades: IncomingMessage[] = [];
  readonly sockets: WebSocket[] = [];
  handler: Handler = (request) => ok(request, { echo: request.op });
  /** Prefixes to refuse subscriptions to, with FORBIDDEN. */
  readonly forbiddenPrefixes = new Set<string>();
  /** HTTP status to refuse upgrades with (401, 403), or 0 to accept them. */
  refuseWith = 0;
  connections = 0;
  private readonly server: WebSocketServer;

  private constructor(server: WebSocketServer) {
    this.server = server;
    server.on("connection", (socket, upgrade) => this.onConnection(socket, upgrade));
  }

  static async start(): Promise<FakeGateway> {
    let gateway: FakeGateway | undefined;
    const server = new WebSocketServer({
      host: "127.0.0.1",
      port: 0,
      path: "/v1/ws",
      verifyClient: (_info, callback) => {
        const status = gateway?.refuseWith ?? 0;
        if (status) callback(false, status, status === 401 ? "Unauthorized" : "Forbidden");
        else callback(true);
      },
    });
    gateway = new FakeGateway(server);
    await once(server, "listening");
    return gateway;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The open sockets. */
  get open(): WebSocket[] {
    return this.sockets.filter((socket) => socket.readyState === socket.OPEN);
  }

  private onConnection(socket: WebSocket, upgrade: IncomingMessage): void {
    const connection = ++this.connections;
    this.sockets.push(socket);
    this.upgrades.push(upgrade);
    socket.on("message", (data: Buffer) => {
      const value = decode(data);
      this.frames.push({ connection, value });
      void this.onValue(socket, value, connection);
    });
  }

  private async onValue(socket: WebSocket, value: unknown, connection: number): Promise<void> {
    if (Array.isArray(value)) {
      const replies: Message[] = [];
      for (const request of value as Message[]) {
        this.requests.push(request);
        const reply = await this.handler(request, connection);
        if (reply !== undefined) replies.push(reply);
      }
      if (replies.length > 0 && socket.readyState === socket.OPEN) socket.send(encode(replies));
      return;
    }
    const message = value as Message;
    if (typeof message.ctl === "string") {
      if (message.ctl === "subscribe" && this.forbiddenPrefixes.has(message.prefix as string)) {
        this.send({ ctl: "error", code: "FORBIDDEN", message: `may not read ${String(message.prefix)}`, prefix: message.prefix }, socket);
      } else if (message.ctl === "subscribe") {
        this.send({ ctl: "subscribed", prefix: message.prefix }, socket);
      }
      if (message.ctl === "unsubscribe") this.send({ ctl: "unsubscribed", prefix: message.prefix }, socket);
      return;
    }
    this.requests.push(message);
    const reply = await this.handler(message, connection);
    if (reply !== undefined && socket.readyState === socket.OPEN) socket.send(encode(reply));
  }

  /** Send `message` on `socket`, or on every open socket. */
  send(message: unknown, socket?: WebSocket): void {
    for (const s of socket ? [socket] : this.open) s.send(encode(message));
  }

  /** Publish an event to every open connection. */
  event(topic: string, body: unknown): void {
    this.send({ ctl: "event", topic, body });
  }

  /** Control frames received, in order. */
  controls(): Message[] {
    return this.frames.map((f) => f.value).filter((v): v is Message => !Array.isArray(v) && typeof (v as Message).ctl === "string");
  }

  /** Drop every connection, as a gateway restart would. */
  dropConnections(): void {
    for (const socket of this.sockets) socket.terminate();
  }

  async stop(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Resolve once `check()` is true (polling every few ms), or fail after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 5000, what = "the condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
