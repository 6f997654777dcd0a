/**
 * The WebSocket the client runs on: the platform's own (browsers, Bun, Deno, Node >= 22), else
 * the `ws` package, loaded only when `globalThis.WebSocket` is missing (Node 20).
 */

/** What the client needs of a WebSocket: the standard browser API. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "open" | "message" | "close" | "error", listener: (event: never) => void): void;
}

/** A WebSocket class: the standard one, or one that takes options (`ws`, Bun) as its second argument. */
export type WebSocketConstructor = new (url: string, protocolsOrOptions?: unknown) => WebSocketLike;

export interface LoadedWebSocket {
  ctor: WebSocketConstructor;
  /** Whether it takes `{headers}` as its second argument (the `ws` package, Bun). */
  takesHeaders: boolean;
}

let loaded: Promise<LoadedWebSocket> | undefined;

/** The WebSocket implementation to use, loaded once. */
export function loadWebSocket(): Promise<LoadedWebSocket> {
  loaded ??= (async () => {
    const global = (globalThis as { WebSocket?: unknown }).WebSocket;
    if (typeof global === "function") {
      const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
      return { ctor: global as WebSocketConstructor, takesHeaders: isBun };
    }
    const mod = (await import("ws")) as unknown as { WebSocket?: unknown; default?: unknown };
    const ctor = (mod.WebSocket ?? mod.default) as WebSocketConstructor;
    return { ctor, takesHeaders: true };
  })();
  return loaded;
}

/**
 * The gateway's WebSocket URL: `ws://host:port` (or `http://`) gets the path `/v1/ws`; a URL
 * with a path of its own is kept as it is. With `token` given, it goes in `access_token`.
 */
export function gatewayUrl(url: string, token?: string): string {
  const parsed = new URL(url);
  if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol === "https:") parsed.protocol = "wss:";
  if (parsed.pathname === "" || parsed.pathname === "/") parsed.pathname = "/v1/ws";
  if (token !== undefined) parsed.searchParams.set("access_token", token);
  return parsed.toString();
}

/**
 * The HTTP status in a failed handshake's error message: the `ws` package's "Unexpected server
 * response: 401", Bun's "Expected 101 status code: 401". A browser's WebSocket tells nothing.
 */
export function handshakeStatus(message: string | undefined): number | undefined {
  const match = /(?:Unexpected server response|Expected 101 status code): (\d{3})/.exec(message ?? "");
  return match ? Number(match[1]) : undefined;
}
