/**
 * Typed handles on the built-in classes' ops (docs/protocol.md, "Built-in classes"), the same
 * coverage as the Python (`bridge/world.py`) and Java handles. Each method names its op, builds
 * its arguments (leaving out those not given) and resolves with the op's result. Each method
 * sends its request in the same tick it is called, so calls made together are batched together.
 */

import type { CallOptions, LodestoneClient } from "./client.js";
import type {
  AgentDeath,
  AgentEvent,
  AgentState,
  AgentStats,
  AgentTask,
  Assignment,
  DamageResult,
  ForemanEntry,
  Item,
  ItemCount,
  Mission,
  MissionStatus,
  MoveResult,
  NearbyAgent,
  NewObjective,
  NewTelemetryEvent,
  ObjectiveStatus,
  Position,
  TaskStatus,
  TaskType,
  TelemetryEvent,
  TelemetryTypeStats,
} from "./types.js";
import type { Target } from "./wire.js";

abstract class Handle {
  /** The object this handle addresses, by name. */
  readonly target: Target;

  protected constructor(
    readonly client: LodestoneClient,
    readonly className: string,
    readonly name: string,
  ) {
    this.target = { class: className, name };
  }

  protected op<T>(method: string, args: Record<string, unknown>, options?: CallOptions): Promise<T> {
    return this.client.call<T>(`${this.className}.${method}`, this.target, args, options);
  }
}

function items(list: readonly ItemCount[] | undefined): ItemCount[] | undefined {
  return list === undefined ? undefined : list.map((item) => ({ type: item.type, count: item.count }));
}

function position(point: Position): Position {
  return { x: point.x, y: point.y, z: point.z };
}

export interface InitOptions {
  /** Where it spawns (default: the `spawn` option, `{x: 0, y: 64, z: 0}`). */
  position?: Position;
  /** Default: max health. */
  health?: number;
  /** Default: the `max_health` option (20). */
  maxHealth?: number;
  inventory?: readonly ItemCount[];
}

/** One agent: `Agent.*` ops. */
export class AgentHandle extends Handle {
  readonly inventory: {
    /** Add items (a type held already grows its stack); resolves with the inventory. */
    add(type: string, count: number, options?: CallOptions & { slot?: number }): Promise<Item[]>;
    /** Remove items; `ConflictError` (and nothing changes) if fewer are held. */
    remove(type: string, count: number, options?: CallOptions): Promise<Item[]>;
    /** Remove some items and add others, all or nothing. */
    swap(swap: { remove?: readonly ItemCount[]; add?: readonly ItemCount[]; note?: string }, options?: CallOptions): Promise<Item[]>;
  };
  readonly task: {
    /** Give the agent a task (`pending`); `id` defaults to `t<n>`. */
    assign(type: TaskType, target: unknown, options?: CallOptions & { id?: string }): Promise<AgentTask>;
    /** A completed or failed task moves to the history. */
    update(id: string, status: TaskStatus, options?: CallOptions): Promise<AgentTask>;
    /** The open tasks (pending, in progress). */
    list(options?: CallOptions): Promise<AgentTask[]>;
    /** Finished tasks, newest first. */
    history(limit?: number, options?: CallOptions): Promise<AgentTask[]>;
  };

  constructor(client: LodestoneClient, name: string) {
    super(client, "Agent", name);
    this.inventory = {
      add: (type, count, options) =>
        this.op<{ inventory: Item[] }>("inventory.add", { type, count, slot: options?.slot }, options).then((r) => r.inventory),
      remove: (type, count, options) =>
        this.op<{ inventory: Item[] }>("inventory.remove", { type, count }, options).then((r) => r.inventory),
      swap: (swap, options) =>
        this.op<{ inventory: Item[] }>(
          "inventory.swap",
          { remove: items(swap.remove), add: items(swap.add), note: swap.note },
          options,
        ).then((r) => r.inventory),
    };
    this.task = {
      assign: (type, target, options) => this.op<AgentTask>("task.assign", { type, target, id: options?.id }, options),
      update: (id, status, options) => this.op<AgentTask>("task.update", { id, status }, options),
      list: (options) => this.op<{ tasks: AgentTask[] }>("task.list", {}, options).then((r) => r.tasks),
      history: (limit, options) => this.op<{ tasks: AgentTask[] }>("task.history", { limit }, options).then((r) => r.tasks),
    };
  }

  /** First spawn; `ConflictError` if it has spawned before. Resolves with the state. */
  init(init: InitOptions = {}, options?: CallOptions): Promise<AgentState> {
    return this.op<AgentState>(
      "init",
      {
        position: init.position && position(init.position),
        max_health: init.maxHealth,
        health: init.health,
        inventory: items(init.inventory),
      },
      options,
    );
  }

  /** The agent's state; `NotFoundError` if it never spawned. */
  state(options?: CallOptions): Promise<AgentState> {
    return this.op<AgentState>("state", {}, options);
  }

  /** `{health, died}`; at 0 health it died (`death` says how) and respawned with full health. */
  damage(amount: number, source: string, options?: CallOptions): Promise<DamageResult> {
    return this.op<DamageResult>("damage", { amount, source }, options);
  }

  /** Resolves with the new health, capped at max health. */
  heal(amount: number, options?: CallOptions): Promise<number> {
    return this.op<{ health: number }>("heal", { amount }, options).then((r) => r.health);
  }

  /** `{position, distance, distanceTraveled}`. */
  move(x: number, y: number, z: number, options?: CallOptions): Promise<MoveResult> {
    return this.op<MoveResult>("move", { x, y, z }, options);
  }

  /** Count blocks mined and placed (not both 0); resolves with the stats. */
  blocks(counts: { mined?: number; placed?: number }, options?: CallOptions): Promise<AgentStats> {
    return this.op<AgentStats>("blocks", { mined: counts.mined || undefined, placed: counts.placed || undefined }, options);
  }

  /** Give items to `partner` and take others from it, both or neither; resolves with this agent's inventory. */
  trade(
    partner: string,
    trade: { give?: readonly ItemCount[]; receive?: readonly ItemCount[] },
    options?: CallOptions,
  ): Promise<Item[]> {
    return this.op<{ inventory: Item[] }>(
      "trade",
      { partner, give: items(trade.give), receive: items(trade.receive) },
      options,
    ).then((r) => r.inventory);
  }

  /** The agent's own event log, newest first. */
  events(limit?: number, options?: CallOptions): Promise<AgentEvent[]> {
    return this.op<{ events: AgentEvent[] }>("events", { limit }, options).then((r) => r.events);
  }

  /** Its deaths, newest first. */
  deaths(limit?: number, options?: CallOptions): Promise<AgentDeath[]> {
    return this.op<{ deaths: AgentDeath[] }>("deaths", { limit }, options).then((r) => r.deaths);
  }
}

/** A Foreman: `Foreman.*` ops. */
export class ForemanHandle extends Handle {
  constructor(client: LodestoneClient, name = "global") {
    super(client, "Foreman", name);
  }

  /** Record an agent's heartbeat (agents' alarms send these by themselves). */
  heartbeat(
    agent: string,
    health: number,
    at: Position,
    beat: { currentTask?: AgentTask; status?: string; lastSeen?: number } = {},
    options?: CallOptions,
  ): Promise<void> {
    return this.op(
      "heartbeat",
      {
        agent,
        health,
        position: position(at),
        current_task: beat.currentTask,
        status: beat.status,
        last_seen: beat.lastSeen,
      },
      options,
    ).then(() => undefined);
  }

  /** The registry entry of `agent`, with `active`; `NotFoundError` if it never sent a heartbeat. */
  agent(agent: string, options?: CallOptions): Promise<ForemanEntry & { active: boolean }> {
    return this.op<ForemanEntry & { active: boolean }>("agent", { agent }, options);
  }

  /** Agents seen within the active window, most recently seen first. */
  active(limit?: number, options?: CallOptions): Promise<ForemanEntry[]> {
    return this.op<{ agents: ForemanEntry[] }>("active", { limit }, options).then((r) => r.agents);
  }

  /** The `k` nearest active agents, nearest first, each with its `distance`. */
  nearest(
    x: number,
    y: number,
    z: number,
    near: { k?: number; maxDistance?: number } = {},
    options?: CallOptions,
  ): Promise<NearbyAgent[]> {
    return this.op<{ agents: NearbyAgent[] }>(
      "nearest",
      { x, y, z, k: near.k, max_distance: near.maxDistance },
      options,
    ).then((r) => r.agents);
  }

  /** Give `agent` a task and record the assignment, in one turn. */
  assign(agent: string, type: TaskType, target: unknown, options?: CallOptions & { id?: string }): Promise<Assignment> {
    return this.op<Assignment>("assign", { agent, type, target, id: options?.id }, options);
  }

  /** Assignments, newest first; of one agent if given. */
  assignments(query: { agent?: string; limit?: number } = {}, options?: CallOptions): Promise<Assignment[]> {
    return this.op<{ assignments: Assignment[] }>("assignments", { agent: query.agent, limit: query.limit }, options).then(
      (r) => r.assignments,
    );
  }
}

/** Mission control: `MissionControl.*` ops. */
export class MissionControlHandle extends Handle {
  constructor(client: LodestoneClient, name = "global") {
    super(client, "MissionControl", name);
  }

  /** A planned mission, id `m<n>`. */
  create(name: string, objectives: readonly NewObjective[], create: { description?: string } = {}, options?: CallOptions): Promise<Mission> {
    return this.op<Mission>(
      "create",
      { name, description: create.description, objectives: objectives.map((o) => ({ type: o.type, target: o.target, id: o.id })) },
      options,
    );
  }

  /** `NotFoundError` if there is no such mission. */
  get(mission: string, options?: CallOptions): Promise<Mission> {
    return this.op<Mission>("get", { mission }, options);
  }

  /** Missions with `status`, oldest first. */
  list(status: MissionStatus, limit?: number, options?: CallOptions): Promise<Mission[]> {
    return this.op<{ missions: Mission[] }>("list", { status, limit }, options).then((r) => r.missions);
  }

  /** Put an agent on the mission, which becomes `active`. */
  assign(mission: string, agent: string, options?: CallOptions): Promise<Mission> {
    return this.op<Mission>("assign", { mission, agent }, options);
  }

  /** The mission is `completed` in the same turn as its last objective. */
  updateObjective(
    mission: string,
    objective: string,
    status: ObjectiveStatus,
    update: { assignedTo?: string } = {},
    options?: CallOptions,
  ): Promise<Mission> {
    return this.op<Mission>(
      "objective.update",
      { mission, objective, status, assigned_to: update.assignedTo },
      options,
    );
  }

  /** `ConflictError` if the mission is final already. */
  fail(mission: string, options?: CallOptions): Promise<Mission> {
    return this.op<Mission>("fail", { mission }, options);
  }
}

/** The telemetry log: `Telemetry.*` ops. */
export class TelemetryHandle extends Handle {
  constructor(client: LodestoneClient, name = "global") {
    super(client, "Telemetry", name);
  }

  log(agent: string, type: string, data?: unknown, options?: CallOptions): Promise<TelemetryEvent> {
    return this.op<TelemetryEvent>("log", { agent, type, data }, options);
  }

  /** Log up to 128 events, all or none; resolves with how many. */
  logMany(events: readonly NewTelemetryEvent[], options?: CallOptions): Promise<number> {
    return this.op<{ logged: number }>(
      "log_many",
      { events: events.map((e) => ({ agent: e.agent, type: e.type, data: e.data })) },
      options,
    ).then((r) => r.logged);
  }

  /** The agent's newest events, newest first. */
  latest(agent: string, limit?: number, options?: CallOptions): Promise<TelemetryEvent[]> {
    return this.op<{ events: TelemetryEvent[] }>("latest", { agent, limit }, options).then((r) => r.events);
  }

  /** Events of `type` with `startMs <= at <= endMs`, newest first. */
  byType(
    type: string,
    range: { startMs?: number; endMs?: number; limit?: number } = {},
    options?: CallOptions,
  ): Promise<TelemetryEvent[]> {
    return this.op<{ events: TelemetryEvent[] }>(
      "by_type",
      { type, start_ms: range.startMs, end_ms: range.endMs, limit: range.limit },
      options,
    ).then((r) => r.events);
  }

  /** Per type: `{count, firstSeen, lastSeen}` of the agent's retained events. */
  stats(agent: string, options?: CallOptions): Promise<Record<string, TelemetryTypeStats>> {
    return this.op<{ types: Record<string, TelemetryTypeStats> }>("stats", { agent }, options).then((r) => r.types);
  }
}
