/**
 * A real daemon and a real gateway for the end-to-end tests: `lodestone serve` on a fresh data
 * directory and `lodestone gateway` in front of it, each on ports the OS picks, both from the
 * repository's virtualenv (or `$LODESTONE_BIN`).
 */

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { LodestoneClient, type ClientOptions } from "@lodestone/client";

import { repoRoot, vectorsPath } from "./paths.js";

/** The `lodestone` command: `$LODESTONE_BIN`, else `.venv/bin/lodestone` at the repository root. */
export const lodestoneBin = process.env.LODESTONE_BIN ?? join(repoRoot, ".venv", "bin", "lodestone");

export interface StackOptions {
  /** Lines of the `[gateway]` table (tokens, upstream_timeout_s, ...). */
  gateway?: string;
  /** Write the wire vectors' deployment secret, so ids match theirs. */
  vectorSecret?: boolean;
}

interface Started {
  process: ChildProcess;
  fields: Record<string, string>;
}

function startProcess(args: string[], what: string, log: string[]): Promise<Started> {
  if (!existsSync(lodestoneBin)) {
    throw new Error(`${lodestoneBin} does not exist: run \`make setup-dev\` at the repository root, or set LODESTONE_BIN`);
  }
  const child = spawn(lodestoneBin, args, {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    log.push(chunk.toString());
    if (log.length > 200) log.shift();
  });
  return new Promise<Started>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${what} did not report ready within 30 s:\n${log.join("")}`));
    }, 30_000);
    const lines = createInterface({ input: child.stdout! });
    lines.once("line", (line) => {
      clearTimeout(timer);
      if (!line.includes("serving")) {
        reject(new Error(`${what} did not start: ${line}\n${log.join("")}`));
        return;
      }
      const fields = Object.fromEntries(
        line
          .split(/\s+/)
          .filter((part) => part.includes("="))
          .map((part) => [part.slice(0, part.indexOf("=")), part.slice(part.indexOf("=") + 1)]),
      );
      resolve({ process: child, fields });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${log.join("")}`));
    });
  });
}

function splitTokens(text: string): [string, string] {
  const at = text.indexOf("[[gateway.tokens]]");
  return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at)];
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

export class Stack {
  readonly dir: string;
  readonly log: string[] = [];
  rpc = "tcp://127.0.0.1:*";
  pub = "tcp://127.0.0.1:*";
  listen = "127.0.0.1:0";
  /** The gateway's base URL (http://127.0.0.1:PORT); the client adds /v1/ws. */
  url = "";
  daemon: ChildProcess | undefined;
  gateway: ChildProcess | undefined;
  private readonly clients: LodestoneClient[] = [];
  private readonly configPath: string;

  private constructor(options: StackOptions) {
    this.dir = mkdtempSync(join(tmpdir(), "lodestone-js-"));
    mkdirSync(join(this.dir, "data"));
    if (options.vectorSecret) {
      const { secret_hex } = JSON.parse(readFileSync(vectorsPath, "utf8")) as { secret_hex: string };
      // The daemon refuses a secret that others may read.
      writeFileSync(join(this.dir, "data", "secret"), Buffer.from(secret_hex, "hex"), { mode: 0o600 });
    }
    this.configPath = join(this.dir, "lodestone.toml");
    // Tokens go in [[gateway.tokens]] tables, after the [gateway] table's own keys.
    const [keys, tokens] = splitTokens(options.gateway ?? "");
    writeFileSync(this.configPath, `[gateway]\n${keys}\n${tokens}\n`);
  }

  static async start(options: StackOptions = {}): Promise<Stack> {
    const stack = new Stack(options);
    try {
      await stack.startDaemon();
      await stack.startGateway();
    } catch (error) {
      await stack.stop();
      throw error;
    }
    return stack;
  }

  /** Start the daemon; after the first start, on the same endpoints. */
  async startDaemon(): Promise<void> {
    const { process: child, fields } = await startProcess(
      ["serve", "--data-dir", join(this.dir, "data"), "--rpc", this.rpc, "--pub", this.pub, "--log-level", "warning"],
      "lodestone serve",
      this.log,
    );
    this.daemon = child;
    this.rpc = fields.rpc!;
    this.pub = fields.pub!;
  }

  /** Start the gateway; after the first start, on the same port. */
  async startGateway(): Promise<void> {
    const { process: child, fields } = await startProcess(
      ["gateway", "--config", this.configPath, "--listen", this.listen, "--rpc", this.rpc, "--pub", this.pub, "--log-level", "warning"],
      "lodestone gateway",
      this.log,
    );
    this.gateway = child;
    this.url = fields.listen!;
    this.listen = new URL(this.url).host;
  }

  /** Stop the daemon: SIGKILL (a crash) or SIGTERM (a clean stop). */
  async stopDaemon(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.daemon;
    this.daemon = undefined;
    if (child === undefined) return;
    child.kill(signal);
    await exited(child);
  }

  async stopGateway(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.gateway;
    this.gateway = undefined;
    if (child === undefined) return;
    child.kill(signal);
    await exited(child);
  }

  /** A client of this stack's gateway, closed by `stop()`. */
  client(options: Partial<ClientOptions> = {}): LodestoneClient {
    const client = new LodestoneClient({ url: this.url, ...options });
    this.clients.push(client);
    return client;
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close()));
    await this.stopGateway();
    await this.stopDaemon();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A new gateway token: the token itself, and the `[[gateway.tokens]]` lines that admit it. */
export function makeToken(name: string, scope: "read" | "write" | "admin", classes: string[] = []): { token: string; config: string } {
  const args = ["gateway", "token", name, "--scope", scope, ...classes.flatMap((c) => ["--class", c])];
  const out = execFileSync(lodestoneBin, args, { cwd: repoRoot, encoding: "utf8" });
  const token = /^token: (\S+)$/m.exec(out)?.[1];
  if (token === undefined) throw new Error(`no token in: ${out}`);
  const config = out.slice(out.indexOf("[[gateway.tokens]]"));
  return { token, config };
}

/** A name no other test uses. */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
