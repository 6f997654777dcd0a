/**
 * A mineflayer plugin that keeps a bot's `Agent` in Lodestone in step with the game:
 *
 *     import { lodestone } from "@lodestone/client/mineflayer";
 *     bot.loadPlugin(lodestone({ url: "ws://127.0.0.1:8765" }));
 *     bot.once("spawn", async () => {
 *       await bot.lodestone.ready;
 *       await bot.lodestone.agent.task.assign("mine", { block: "oak_log" });
 *     });
 *
 * On spawn it loads the bot's agent (named after the bot, or `agentName`), or creates it with
 * `Agent.init` on the first spawn ever. From then on it mirrors what the game shows into it:
 * the position (at most every `positionIntervalMs`, and only when the bot moved), the health
 * (`Agent.damage` when it drops, `Agent.heal` when it rises) and the inventory (the change of
 * each item type's count as `Agent.inventory.add` / `Agent.inventory.remove`).
 *
 * It works as a reconciler: it keeps what the daemon last said the agent holds, compares it with
 * the bot, and sends the difference. After an error (the daemon down for longer than the client's
 * retries, say) it reads the agent again and sends whatever differs, so it keeps working across a
 * daemon restart without double-counting anything.
 */

import { LodestoneClient, type ClientOptions } from "./client.js";
import { ConflictError, LodestoneError, NotFoundError } from "./errors.js";
import type { AgentState, Item, Position } from "./types.js";
import type { AgentHandle } from "./world.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- an EventEmitter's listener type
type AnyListener = (...args: any[]) => void;

/** The parts of a mineflayer `Bot` the plugin uses; a real `Bot` has them all. */
export interface MineflayerBotLike {
  username: string;
  health: number;
  entity: { position: { x: number; y: number; z: number } } | null | undefined;
  inventory: {
    items(): { name: string; count: number }[];
    on(event: "updateSlot", listener: AnyListener): unknown;
    removeListener(event: "updateSlot", listener: AnyListener): unknown;
  };
  on(event: "spawn" | "move" | "health" | "end", listener: AnyListener): unknown;
  removeListener(event: "spawn" | "move" | "health" | "end", listener: AnyListener): unknown;
  emit(event: "lodestone:error", error: Error): boolean;
  listenerCount(event: "lodestone:error"): number;
}

export interface LodestonePluginOptions {
  /** The gateway (as for `LodestoneClient`); not needed when `client` is given. */
  url?: string;
  token?: string;
  /** More options for the client the plugin makes. */
  clientOptions?: Omit<ClientOptions, "url" | "token">;
  /** A client to share between bots; the plugin then leaves closing it to you. */
  client?: LodestoneClient;
  /** The agent's name; default the bot's username. */
  agentName?: string;
  /** Send the position at most this often (ms). Default 250. */
  positionIntervalMs?: number;
  /** Moves of this distance (blocks) or less are not sent. Default 0.01; 0 sends every change. */
  minMoveDistance?: number;
  /** The agent's max health, given to `Agent.init`. Default 20, a player's. */
  maxHealth?: number;
  /** The `source` of the `Agent.damage` calls the plugin makes. Default "game". */
  damageSource?: string;
  /** Mirror the position, health and inventory (each true by default). */
  position?: boolean;
  health?: boolean;
  inventory?: boolean;
  /** After an error, wait this long (ms) before reading the agent again; doubles up to 10 s. Default 500. */
  retryDelayMs?: number;
  /** Called with each error; default: emitted as `lodestone:error` on the bot, or logged if nobody listens. */
  onError?: (error: Error) => void;
}

/** What the plugin puts on the bot as `bot.lodestone`. */
export interface LodestoneBot {
  /** The client the plugin talks through. */
  readonly client: LodestoneClient;
  /** The bot's agent; set at the first spawn (await `ready`). */
  readonly agent: AgentHandle;
  /** Resolves once the agent is loaded (or created) and in step with the bot after the first spawn. */
  readonly ready: Promise<void>;
  /** What the daemon last said about the agent's health, position and inventory. */
  readonly stored: Readonly<StoredView> | undefined;
  /** Resolves once everything the bot shows now is stored (position within `minMoveDistance`). */
  idle(): Promise<void>;
  /** Read the agent again and send whatever differs; resolves when in step. */
  sync(): Promise<void>;
  /** Stop mirroring (and close the client if the plugin made it). */
  stop(): Promise<void>;
}

/** The mirrored part of the agent, as the daemon last reported it. */
export interface StoredView {
  health: number;
  position: Position;
  /** Item type to count. */
  inventory: Map<string, number>;
}

const finite = (p: { x: number; y: number; z: number } | null | undefined): p is Position =>
  p != null && Number.isFinite(p.x) && Number.isFinite(p.y) && Number.isFinite(p.z);

function counts(items: readonly { type: string; count: number }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) out.set(item.type, (out.get(item.type) ?? 0) + item.count);
  return out;
}

function botCounts(bot: MineflayerBotLike): Map<string, number> {
  return counts(bot.inventory.items().map((item) => ({ type: item.name, count: item.count })));
}

function distance(a: Position, b: Position): number {
  return Math.hypot(a.x - b.x, a.y - b.y, a.z - b.z);
}

class Mirror implements LodestoneBot {
  readonly client: LodestoneClient;
  readonly ready: Promise<void>;
  stored: StoredView | undefined;

  private agentHandle: AgentHandle | undefined;
  private readonly ownsClient: boolean;
  private readonly interval: number;
  private readonly minMove: number;
  private running = false;
  private again = false;
  private stopped = false;
  private spawned = false;
  private lastMoveAt = -Infinity;
  private moveTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private failures = 0;
  /** The bot is dead (health 0) and its death is recorded: nothing to mirror until it respawns. */
  private deathRecorded = false;
  private idleWaiters: (() => void)[] = [];
  private resolveReady!: () => void;
  private readonly listeners: [string, AnyListener][] = [];
  private readonly slotListener = (): void => this.schedule();

  constructor(
    private readonly bot: MineflayerBotLike,
    private readonly options: LodestonePluginOptions,
  ) {
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      if (options.url === undefined) throw new TypeError("lodestone(): give url (the gateway) or client");
      this.client = new LodestoneClient({ ...options.clientOptions, url: options.url, token: options.token });
      this.ownsClient = true;
    }
    this.interval = options.positionIntervalMs ?? 250;
    this.minMove = options.minMoveDistance ?? 0.01;
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
    this.listen("spawn", () => this.onSpawn());
    this.listen("health", () => this.schedule());
    this.listen("move", () => this.onMove());
    this.listen("end", () => void this.stop());
  }

  get agent(): AgentHandle {
    if (this.agentHandle === undefined) throw new Error("bot.lodestone.agent is set at the first spawn; await bot.lodestone.ready");
    return this.agentHandle;
  }

  private listen(event: "spawn" | "move" | "health" | "end", listener: () => void): void {
    this.bot.on(event, listener);
    this.listeners.push([event, listener]);
  }

  private onSpawn(): void {
    if (this.stopped) return;
    if (!this.spawned) {
      this.spawned = true;
      this.agentHandle = this.client.agent(this.options.agentName ?? this.bot.username);
      if (this.options.inventory !== false) this.bot.inventory.on("updateSlot", this.slotListener);
    }
    this.schedule();
  }

  private onMove(): void {
    if (this.stopped || !this.spawned || this.options.position === false || this.moveTimer !== undefined) return;
    const wait = this.lastMoveAt + this.interval - Date.now();
    if (wait <= 0) {
      this.schedule();
      return;
    }
    this.moveTimer = setTimeout(() => {
      this.moveTimer = undefined;
      this.schedule();
    }, wait);
  }

  /** Run a pass now, or once the one running ends. */
  private schedule(): void {
    if (this.stopped || !this.spawned) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.pass();
  }

  private async pass(): Promise<void> {
    try {
      do {
        this.again = false;
        if (this.stored === undefined) await this.load();
        await this.reconcile();
      } while (this.again && !this.stopped);
      this.failures = 0;
      this.resolveReady();
    } catch (error) {
      this.stored = undefined; // read it again: a failed or timed-out write may or may not have landed
      if (this.stopped) return;
      this.report(error);
      if (!this.stopped) {
        const delay = Math.min(10_000, (this.options.retryDelayMs ?? 500) * 2 ** this.failures++);
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.schedule();
        }, delay);
      }
    } finally {
      this.running = false;
    }
    if (this.again && this.retryTimer === undefined) this.schedule();
    else this.wakeIdle();
  }

  /** Load the agent; create it on its first spawn ever (`CONFLICT`: someone else just did). */
  private async load(): Promise<void> {
    const agent = this.agent;
    let state: AgentState;
    try {
      state = await agent.state();
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      const position = this.bot.entity?.position;
      try {
        state = await agent.init({
          position: finite(position) ? { x: position.x, y: position.y, z: position.z } : undefined,
          maxHealth: this.options.maxHealth ?? 20,
          health: this.options.health !== false && this.bot.health > 0 ? this.bot.health : undefined,
          inventory:
            this.options.inventory !== false ? [...botCounts(this.bot)].map(([type, count]) => ({ type, count })) : undefined,
        });
      } catch (initError) {
        if (!(initError instanceof ConflictError)) throw initError;
        state = await agent.state();
      }
    }
    this.stored = { health: state.health, position: state.position, inventory: counts(state.inventory) };
  }

  /** Send what differs between the bot and the stored agent, in one tick (so in one batch frame). */
  private async reconcile(): Promise<void> {
    const stored = this.stored!;
    const agent = this.agent;
    const calls: Promise<unknown>[] = [];
    let reload = false;

    const health = this.bot.health;
    if (Number.isFinite(health) && health > 0) this.deathRecorded = false;
    if (this.deathRecorded) return; // dead in the game and in Lodestone: wait for the respawn
    if (this.options.health !== false && Number.isFinite(health) && health !== stored.health) {
      if (health < stored.health) {
        calls.push(
          agent.damage(stored.health - health, this.options.damageSource ?? "game").then((result) => {
            stored.health = result.health;
            // Dead: the daemon recorded the death and respawned the agent (full health, nothing held).
            if (result.died) {
              reload = true;
              this.deathRecorded = health <= 0;
            }
          }),
        );
      } else {
        calls.push(agent.heal(health - stored.health).then((h) => void (stored.health = h)));
      }
    }

    if (this.options.inventory !== false) {
      const have = botCounts(this.bot);
      let last: Promise<Item[]> | undefined;
      for (const type of new Set([...have.keys(), ...stored.inventory.keys()])) {
        const diff = (have.get(type) ?? 0) - (stored.inventory.get(type) ?? 0);
        if (diff > 0) last = agent.inventory.add(type, diff);
        else if (diff < 0) last = agent.inventory.remove(type, -diff);
        if (diff !== 0) calls.push(last!);
      }
      // Turns on one agent run in the order sent: the last reply holds the whole inventory.
      if (last !== undefined) calls.push(last.then((items) => void (stored.inventory = counts(items))));
    }

    const position = this.bot.entity?.position;
    if (this.options.position !== false && finite(position) && distance(position, stored.position) > this.minMove) {
      const wait = this.lastMoveAt + this.interval - Date.now();
      if (wait <= 0) {
        this.lastMoveAt = Date.now();
        calls.push(agent.move(position.x, position.y, position.z).then((moved) => void (stored.position = moved.position)));
      } else {
        this.onMove(); // not yet: the timer runs the next pass
      }
    }

    const results = await Promise.allSettled(calls);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    if (reload) {
      this.stored = undefined;
      this.again = true;
    }
  }

  private inStep(): boolean {
    const stored = this.stored;
    if (stored === undefined) return false;
    if (this.deathRecorded) return true;
    if (this.options.health !== false && Number.isFinite(this.bot.health) && this.bot.health !== stored.health) return false;
    if (this.options.inventory !== false) {
      const have = botCounts(this.bot);
      if (have.size !== stored.inventory.size) return false;
      for (const [type, count] of have) if (stored.inventory.get(type) !== count) return false;
    }
    const position = this.bot.entity?.position;
    if (this.options.position !== false && finite(position) && distance(position, stored.position) > this.minMove) return false;
    return true;
  }

  private wakeIdle(): void {
    if (this.running || !this.inStep()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  idle(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      if (!this.running && this.retryTimer === undefined && this.moveTimer === undefined) {
        if (this.inStep()) this.wakeIdle();
        else this.schedule();
      }
    });
  }

  sync(): Promise<void> {
    this.stored = undefined;
    this.schedule();
    return this.idle();
  }

  private report(error: unknown): void {
    const err = error instanceof Error ? error : new LodestoneError(String(error));
    if (this.options.onError) this.options.onError(err);
    else if (this.bot.listenerCount("lodestone:error") > 0) this.bot.emit("lodestone:error", err);
    else console.warn(`lodestone: ${err.message} (retrying)`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.moveTimer !== undefined) clearTimeout(this.moveTimer);
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    for (const [event, listener] of this.listeners) this.bot.removeListener(event as "spawn", listener);
    this.bot.inventory.removeListener("updateSlot", this.slotListener);
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
    if (this.ownsClient) await this.client.close();
  }
}

/**
 * The plugin: `bot.loadPlugin(lodestone({ url, token }))`. It sets `bot.lodestone`
 * (`LodestoneBot`): the client, the agent, `ready`, `idle()`, `sync()`, `stop()`.
 */
export function lodestone(options: LodestonePluginOptions): (bot: MineflayerBotLike) => void {
  return (bot) => {
    (bot as MineflayerBotLike & { lodestone: LodestoneBot }).lodestone = new Mirror(bot, options);
  };
}

/** `bot.lodestone`, typed, for code that does not augment mineflayer's `Bot` type. */
export function lodestoneOf(bot: object): LodestoneBot {
  const mirror = (bot as { lodestone?: LodestoneBot }).lodestone;
  if (mirror === undefined) throw new Error("the lodestone plugin is not loaded on this bot");
  return mirror;
}

declare module "mineflayer" {
  interface Bot {
    /** Set by the `@lodestone/client/mineflayer` plugin. */
    lodestone: LodestoneBot;
  }
  interface BotEvents {
    /** A Lodestone call of the plugin failed; it reads the agent again and retries. */
    "lodestone:error": (error: Error) => void;
  }
}
