/**
 * The records the built-in classes return (docs/protocol.md, "Built-in classes"; their schemas
 * are in schemas/agent.py and schemas/world.py). Field names are the daemon's camelCase ones;
 * times are epoch milliseconds of the daemon's clock.
 */

/** A point in the world. */
export interface Position {
  x: number;
  y: number;
  z: number;
}

/** A stack of items to add or remove: `{type: "oak_log", count: 12}`. */
export interface ItemCount {
  type: string;
  count: number;
}

/** A stack an agent holds; `slot` is the daemon's slot number (null in records from before slots). */
export interface Item extends ItemCount {
  slot: number | null;
}

export interface AgentStats {
  blocksMined: number;
  blocksPlaced: number;
  distanceTraveled: number;
  deaths: number;
  tasksAssigned: number;
}

export type TaskType = "mine" | "build" | "move" | "attack";
export type TaskStatus = "pending" | "in_progress" | "completed" | "failed";

/** A task of an agent; the agent's `tasks` holds the open ones (pending, in progress). */
export interface AgentTask {
  id: string;
  type: TaskType;
  target: unknown;
  status: TaskStatus;
  createdAt: number;
  updatedAt: number;
}

/** `AgentState` v4: one Steve. `lastSeen` is the time of its last write. */
export interface AgentState {
  name: string;
  health: number;
  maxHealth: number;
  position: Position;
  inventory: Item[];
  stats: AgentStats;
  tasks: AgentTask[];
  createdAt: number;
  lastSeen: number;
}

/** A death: where, what the agent held, what killed it, when. */
export interface AgentDeath {
  position: Position;
  inventory: Item[];
  source: string;
  at: number;
}

/** `Agent.damage`'s result: at 0 health the agent died, and has respawned with full health. */
export type DamageResult = { health: number; died: false } | { health: number; died: true; death: AgentDeath };

/** `Agent.move`'s result: `distance` is this move's, `distanceTraveled` the running total. */
export interface MoveResult {
  position: Position;
  distance: number;
  distanceTraveled: number;
}

/** The event types of an agent's log and of its `agent.<type>.<name>` notices. */
export type AgentEventType =
  | "spawn"
  | "damage"
  | "death"
  | "heal"
  | "move"
  | "blocks"
  | "inventory_add"
  | "inventory_remove"
  | "inventory_swap"
  | "trade"
  | "task_assigned"
  | "task_updated";

/** An entry of an agent's own event log. */
export interface AgentEvent {
  type: AgentEventType;
  data: unknown;
  at: number;
}

/** The body of an `agent.<type>.<name>` notice. */
export interface AgentNotice extends AgentEvent {
  agent: string;
}

/** A Foreman registry entry; `active` is added by `Foreman.agent`. */
export interface ForemanEntry {
  name: string;
  health: number;
  position: Position;
  currentTask: AgentTask | null;
  /** `working` (a task in progress) or `idle`. */
  status: string;
  lastSeen: number;
  heartbeatAt: number;
  active?: boolean;
}

/** An entry of `Foreman.nearest`: a registry entry with its 3-D distance. */
export interface NearbyAgent extends ForemanEntry {
  distance: number;
}

/** A task assignment the Foreman recorded. */
export interface Assignment {
  seq: number;
  agent: string;
  task: AgentTask;
  at: number;
}

export type ObjectiveType = "mine" | "build" | "explore" | "defend";
export type ObjectiveStatus = "pending" | "in_progress" | "completed";
export type MissionStatus = "planned" | "active" | "completed" | "failed";

export interface Objective {
  id: string;
  type: ObjectiveType;
  target: unknown;
  status: ObjectiveStatus;
  assignedTo: string | null;
}

/** An objective to create: ids default to `o1`, `o2`, ... */
export interface NewObjective {
  type: ObjectiveType;
  target: unknown;
  id?: string;
}

export interface Mission {
  id: string;
  name: string;
  description: string;
  status: MissionStatus;
  objectives: Objective[];
  assignedAgents: string[];
  createdAt: number;
  updatedAt: number;
}

/** A telemetry event; `at` is the daemon's time. */
export interface TelemetryEvent {
  agent: string;
  type: string;
  data: unknown;
  at: number;
}

/** An event to log: `{agent, type, data?}`. */
export interface NewTelemetryEvent {
  agent: string;
  type: string;
  data?: unknown;
}

/** Per type, over an agent's retained events. */
export interface TelemetryTypeStats {
  count: number;
  firstSeen: number;
  lastSeen: number;
}

/** A `storage.transaction` check: the key holds `value`, or the key is absent. */
export type Check = { key: string; value: unknown } | { key: string; absent: true };

/** A `storage.transaction` write. */
export type TransactionOp = { op: "put"; key: string; value: unknown } | { op: "delete"; key: string };

/** `storage.list` options (docs/protocol.md, "list"). */
export interface ListOptions {
  start?: string;
  startAfter?: string;
  end?: string;
  prefix?: string;
  reverse?: boolean;
  limit?: number;
}

/** An object of a class, from `objects.list`; `name` is null for unique ids. */
export interface StoredObject {
  id: string;
  name: string | null;
}

/** An alarm, from `alarms.list`. */
export interface AlarmEntry {
  class: string;
  id: string;
  name: string | null;
  at_ms: number;
  scheduled_ms: number;
  retry_count: number;
}

/** `ping`'s result. */
export interface PingResult {
  protocol: number[];
  version: string;
}

/** `health`'s result (docs/protocol.md). */
export interface HealthResult {
  status: "ok" | "warning";
  warnings: string[];
  version: string;
  storage_open: boolean;
  commit_seq: number;
  last_commit_ms: number;
  last_commit_age_ms: number | null;
  objects_stored: number;
  objects_resident: number;
  alarms_stored: number;
  map_used_bytes: number;
  map_size_bytes: number;
  requests: number;
  cycles: number;
  [key: string]: unknown;
}

/** One change in a change event: a put, or a delete. */
export type Change = { key: string; value: unknown } | { key: string; deleted: true };

/** The body of a `change.<class>.<id>` event. */
export interface ChangeBody {
  v: number;
  class: string;
  id: string;
  name: string | null;
  commit: number;
  cleared: boolean;
  changes: Change[];
}
