// What the page knows: agents and missions, read once (the snapshot) and then
// kept current from the change stream. A change whose commit number is not
// newer than the snapshot's is already in the snapshot and is dropped; the
// snapshot's number is the daemon's commit_seq read (with `health`) before
// the snapshot's reads, after the subscriptions are in place.
//
// Views never re-render per event: the store marks what changed and a view
// reads the marks once per animation frame (see `takeDirty`).

const STATUSES = ["active", "planned", "completed", "failed"];
const POLL_MS = 2000;
const PAGE = 10000;
export const NOTICE_PREFIXES = [
  "change.", "mission.", "telemetry.", "foreman.", "alarm.", "alarm_dropped.",
  // agent.move is left out: 20 Hz per agent, and change.Agent.<id> carries every move already.
  ...["spawn", "damage", "death", "heal", "blocks", "inventory_add", "inventory_remove", "inventory_swap",
    "trade", "task_assigned", "task_updated"].map((type) => `agent.${type}.`),
];

/**
 * Events: "status" (the connection's and the daemon's state changed), "synced" ({commit}),
 * "health" (new figures), "classes" (a class was seen on the change stream). Every stream
 * message goes to the listeners given to `onStream`.
 */
export class Store extends EventTarget {
  constructor(link) {
    super();
    this.link = link;
    this.agents = new Map(); // object id -> {id, name, state, commit}
    this.missions = new Map(); // `${control id}/${mission id}` -> {key, control, mission, commit}
    this.controls = new Map(); // MissionControl object id -> name
    this.classesSeen = new Set(["Agent", "Foreman", "MissionControl", "Telemetry"]);
    this.snapshotCommit = null;
    this.lastCommit = null;
    this.health = null;
    this.clockOffsetMs = 0;
    this.isAdmin = null;
    this.adminNote = "";
    this.phase = "connecting"; // connecting, syncing, live, daemon-down, gateway-down
    this.syncedAt = null;
    this.recoveredAt = null;
    this.counts = { applied: 0, olderThanSnapshot: 0, droppedByGateway: 0, resyncs: 0, received: 0 };
    this.dirtyAgents = new Set();
    this.agentsRemoved = false;
    this.missionsDirty = false;
    this.buffer = null;
    this.syncing = null;
    this.pollTimer = null;
    this.everLive = false;
    this.linkStatus = { state: "connecting" };
    this.forbiddenPrefixes = new Set();
    this.streamListeners = [];
    this.forbiddenClasses = new Set();

    link.addEventListener("status", (e) => this.#onLinkStatus(e.detail));
    link.addEventListener("open", () => this.sync("connected"));
    link.onEvent = (topic, body) => this.#onEvent(topic, body);
    link.addEventListener("dropped", (e) => {
      this.counts.droppedByGateway += e.detail.count;
      this.sync(`the gateway dropped ${e.detail.count} events`);
    });
    link.addEventListener("ctl-error", (e) => {
      if (e.detail.prefix !== undefined) this.forbiddenPrefixes.add(e.detail.prefix);
    });
    for (const prefix of NOTICE_PREFIXES) link.subscribe(prefix);
  }

  /** The daemon's clock now (ms), as its last health reply showed it. */
  now() {
    return Date.now() + this.clockOffsetMs;
  }

  #setPhase(phase) {
    const was = this.phase;
    this.phase = phase;
    if (phase === "live" && was !== "live" && this.everLive) this.recoveredAt = Date.now();
    if (phase === "live") this.everLive = true;
    this.dispatchEvent(new Event("status"));
  }

  #onLinkStatus(status) {
    this.linkStatus = status;
    if (status.state !== "open") {
      this.buffer = null;
      this.#setPhase(status.state === "closed" ? "gateway-down" : "connecting");
    } else {
      this.dispatchEvent(new Event("status"));
    }
  }

  /** Read everything again (after a connection, a restart, or dropped events); one read at a time. */
  sync(reason) {
    if (this.syncing) {
      this.syncing.again = reason;
      return this.syncing.promise;
    }
    const run = { again: null, promise: null };
    this.syncing = run;
    run.promise = (async () => {
      let why = reason;
      while (why) {
        run.again = null;
        try {
          await this.#syncOnce(why);
        } catch (error) {
          this.buffer = null;
          if (this.link.state === "open") this.#setPhase("daemon-down");
          this.lastError = String(error.message || error);
        }
        why = run.again;
      }
      this.syncing = null;
      this.#schedulePoll();
    })();
    return run.promise;
  }

  async #syncOnce(reason) {
    this.#setPhase("syncing");
    this.buffer = [];
    await this.link.subscribed();
    const health = await this.link.call("health");
    this.#takeHealth(health);
    const commit = health.commit_seq;
    const [agents, missions] = await Promise.all([this.#readAgents(), this.#readMissions()]);
    if (this.isAdmin === null) await this.#probeAdmin();
    const buffered = this.buffer || [];
    this.buffer = null;
    this.snapshotCommit = commit;
    this.agents = agents;
    this.missions = missions;
    this.agentsRemoved = true;
    for (const id of agents.keys()) this.dirtyAgents.add(id);
    this.missionsDirty = true;
    for (const body of buffered) this.#apply(body);
    this.counts.resyncs += 1;
    this.syncedAt = Date.now();
    this.syncReason = reason;
    this.#setPhase("live");
    this.dispatchEvent(new CustomEvent("synced", { detail: { commit, reason } }));
  }

  async #listObjects(className) {
    const objects = [];
    let after;
    for (;;) {
      const args = { class: className, limit: PAGE };
      if (after) args.after = after;
      let page;
      try {
        page = (await this.link.call("objects.list", null, args)).objects;
      } catch (error) {
        // A token limited to other classes: the page shows what it may, and says what it may not.
        if (error.code !== "FORBIDDEN") throw error;
        this.forbiddenClasses.add(className);
        return objects;
      }
      objects.push(...page);
      if (page.length < PAGE) return objects;
      after = page[page.length - 1].id;
    }
  }

  async #readAgents() {
    const objects = await this.#listObjects("Agent");
    const replies = await this.link.batch(objects.map((o) => ["Agent.state", { class: "Agent", id: o.id }, {}]));
    const agents = new Map();
    replies.forEach((reply, index) => {
      const { id, name } = objects[index];
      if (reply.ok) agents.set(id, { id, name: reply.result.name || name || id.slice(0, 12), state: reply.result, commit: 0 });
      else if (reply.error?.code !== "NOT_FOUND") throw new Error(`Agent.state of ${name || id}: ${reply.error?.code}`);
    });
    return agents;
  }

  async #readMissions() {
    const controls = await this.#listObjects("MissionControl");
    const requests = [];
    for (const control of controls) {
      for (const status of STATUSES) requests.push(["MissionControl.list", { class: "MissionControl", id: control.id }, { status, limit: 1000 }]);
    }
    const replies = requests.length ? await this.link.batch(requests) : [];
    const missions = new Map();
    this.controls = new Map(controls.map((c) => [c.id, c.name || c.id.slice(0, 12)]));
    replies.forEach((reply, index) => {
      const control = controls[Math.floor(index / STATUSES.length)];
      if (!reply.ok) return; // a MissionControl object with no missions yet
      for (const mission of reply.result.missions) {
        const key = `${control.id}/${mission.id}`;
        missions.set(key, { key, control: control.id, mission, commit: 0 });
      }
    });
    return missions;
  }

  async #probeAdmin() {
    // The gateway says what a token may do only by refusing: `stats` is for admin tokens alone.
    try {
      await this.link.call("stats");
      this.isAdmin = true;
      this.adminNote = "";
    } catch (error) {
      if (error.code !== "FORBIDDEN") throw error;
      this.isAdmin = false;
      this.adminNote = "This token is not an admin token: the page is read-only. Editing needs a token with scope admin.";
    }
  }

  #takeHealth(health) {
    const previous = this.health;
    this.health = health;
    this.lastCommit = Math.max(this.lastCommit ?? 0, health.commit_seq);
    if (health.last_commit_ms != null && health.last_commit_age_ms != null) {
      this.clockOffsetMs = health.last_commit_ms + health.last_commit_age_ms - Date.now();
    }
    this.dispatchEvent(new Event("health"));
    return previous;
  }

  #schedulePoll() {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => this.#poll(), POLL_MS);
  }

  async #poll() {
    if (this.syncing) return;
    if (this.link.state !== "open") {
      this.#schedulePoll();
      return;
    }
    try {
      const health = await this.link.call("health");
      const previous = this.#takeHealth(health);
      const restarted = previous && health.cycles < previous.cycles;
      if (this.phase !== "live" || restarted) {
        this.sync(restarted ? "the daemon restarted" : "the daemon answers again");
        return;
      }
    } catch (error) {
      if (this.link.state === "open" && this.phase !== "syncing") this.#setPhase("daemon-down");
      this.lastError = String(error.message || error);
    }
    this.#schedulePoll();
  }

  #onEvent(topic, body) {
    this.counts.received += 1;
    if (topic.startsWith("change.") && body && typeof body === "object") {
      if (!this.classesSeen.has(body.class)) {
        this.classesSeen.add(body.class);
        this.dispatchEvent(new Event("classes"));
      }
      if (this.buffer) this.buffer.push(body);
      else if (this.phase === "live") this.#apply(body);
    }
    for (const listener of this.streamListeners) listener(topic, body);
  }

  /** Apply one change body unless the snapshot (or a later change) has it already. */
  #apply(body) {
    if (this.snapshotCommit !== null && body.commit <= this.snapshotCommit) {
      this.counts.olderThanSnapshot += 1;
      return;
    }
    this.lastCommit = Math.max(this.lastCommit ?? 0, body.commit);
    if (body.class === "Agent") this.#applyAgent(body);
    else if (body.class === "MissionControl") this.#applyMissions(body);
    else return;
    this.counts.applied += 1;
  }

  #applyAgent(body) {
    const known = this.agents.get(body.id);
    if (known && body.commit < known.commit) return;
    let state = known?.state;
    if (body.cleared) state = undefined;
    for (const change of body.changes) {
      if (change.key !== "state") continue;
      state = change.deleted ? undefined : change.value;
    }
    if (state === undefined) {
      if (known) {
        this.agents.delete(body.id);
        this.agentsRemoved = true;
      }
      return;
    }
    if (known && state === known.state) {
      known.commit = body.commit;
      return;
    }
    const name = state.name || body.name || known?.name || body.id.slice(0, 12);
    this.agents.set(body.id, { id: body.id, name, state, commit: body.commit });
    this.dirtyAgents.add(body.id);
  }

  #applyMissions(body) {
    if (!this.controls.has(body.id)) this.controls.set(body.id, body.name || body.id.slice(0, 12));
    if (body.cleared) {
      for (const [key, entry] of this.missions) if (entry.control === body.id) this.missions.delete(key);
    }
    for (const change of body.changes) {
      if (!change.key.startsWith("mission/")) continue;
      const key = `${body.id}/${change.key.slice("mission/".length)}`;
      const known = this.missions.get(key);
      if (known && body.commit < known.commit) continue;
      if (change.deleted) this.missions.delete(key);
      else this.missions.set(key, { key, control: body.id, mission: change.value, commit: body.commit });
    }
    this.missionsDirty = true;
  }

  /** The agent ids changed since the last call (and whether any went away); clears the marks. */
  takeDirty() {
    const dirty = this.dirtyAgents;
    const removed = this.agentsRemoved;
    this.dirtyAgents = new Set();
    this.agentsRemoved = false;
    return { dirty, removed };
  }

  /** Call `listener(topic, body)` for every stream message (the tail, the open detail, ...). */
  onStream(listener) {
    this.streamListeners.push(listener);
  }

  agentByName(name) {
    for (const agent of this.agents.values()) if (agent.name === name) return agent;
    return null;
  }
}
