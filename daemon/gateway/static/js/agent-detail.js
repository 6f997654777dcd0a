// One agent in full: its state (live from the change stream), its recent
// events (Agent.events, then its notices as they come), task history, deaths
// and alarm (re-read, at most once a second, after its state changes).
import { ago, clock, esc, eventSummary, healthBar, inventorySummary, num, position, taskText, when } from "./format.js";

const REREAD_MS = 1000;
const EVENTS_SHOWN = 60;
const RENDER_MS = 200;

export class AgentDetail {
  constructor(root, store, { onClose, onFollow, onCenter, activeWindow }) {
    this.root = root;
    this.store = store;
    this.link = store.link;
    this.onFollow = onFollow;
    this.onCenter = onCenter;
    this.activeWindow = activeWindow;
    this.id = null;
    this.events = [];
    this.extra = { history: [], deaths: [], alarm: null, error: "" };
    this.rereadTimer = null;
    this.following = false;
    this.renderTimer = null;
    this.lastRender = 0;
    this.drawn = null;
    root.addEventListener("click", (e) => {
      const act = e.target.closest("[data-act]")?.dataset.act;
      if (act === "close") onClose();
      else if (act === "center") this.onCenter(this.id);
      else if (act === "follow") this.onFollow(this.following ? null : this.id);
    });
    store.onStream((topic, body) => this.#notice(topic, body));
  }

  get agent() {
    return this.id ? this.store.agents.get(this.id) : null;
  }

  async open(id) {
    this.id = id;
    this.events = [];
    this.extra = { history: [], deaths: [], alarm: null, error: "" };
    this.render();
    await this.#readAll();
  }

  close() {
    this.id = null;
    clearTimeout(this.rereadTimer);
    this.rereadTimer = null;
    this.render();
  }

  setFollowing(id) {
    this.following = Boolean(id) && id === this.id;
    const button = this.root.querySelector("[data-act=follow]");
    if (button) {
      button.textContent = this.following ? "Stop following" : "Follow";
      button.classList.toggle("on", this.following);
    }
  }

  async #readAll() {
    const id = this.id;
    if (!id) return;
    const target = { class: "Agent", id };
    try {
      const [events, history, deaths, alarm] = await this.link.batch([
        ["Agent.events", target, { limit: EVENTS_SHOWN }],
        ["Agent.task.history", target, { limit: 20 }],
        ["Agent.deaths", target, { limit: 10 }],
        ["alarm.get", target, {}],
      ]);
      if (id !== this.id) return;
      if (events.ok) this.events = events.result.events.map((e) => ({ ...e, source: "log" }));
      this.extra = {
        history: history.ok ? history.result.tasks : [],
        deaths: deaths.ok ? deaths.result.deaths : [],
        alarm: alarm.ok ? alarm.result.at_ms : null,
        error: [events, history, deaths, alarm].filter((r) => !r.ok).map((r) => r.error.message).join("; "),
      };
    } catch (error) {
      this.extra.error = String(error.message || error);
    }
    this.render();
  }

  /** The agent changed: show it now, re-read its history, deaths and alarm soon. */
  changed() {
    if (!this.id) return;
    this.render();
    if (!this.rereadTimer) {
      this.rereadTimer = setTimeout(() => {
        this.rereadTimer = null;
        this.#readExtras();
      }, REREAD_MS);
    }
  }

  async #readExtras() {
    const id = this.id;
    if (!id) return;
    const target = { class: "Agent", id };
    try {
      const [history, deaths, alarm] = await this.link.batch([
        ["Agent.task.history", target, { limit: 20 }],
        ["Agent.deaths", target, { limit: 10 }],
        ["alarm.get", target, {}],
      ]);
      if (id !== this.id) return;
      if (history.ok) this.extra.history = history.result.tasks;
      if (deaths.ok) this.extra.deaths = deaths.result.deaths;
      if (alarm.ok) this.extra.alarm = alarm.result.at_ms;
      this.render();
    } catch {
      // disconnected: the banner says so, and the next change reads again
    }
  }

  #notice(topic, body) {
    const agent = this.agent;
    if (!agent || !body || typeof body !== "object" || body.agent !== agent.name) return;
    const family = topic.split(".", 1)[0];
    if (family !== "agent" && family !== "telemetry") return;
    // An agent with a Telemetry object logs each event there too: show it once.
    if (this.events.some((e) => e.at === body.at && e.type === body.type)) return;
    this.events.unshift({ type: body.type, data: body.data, at: body.at, source: family });
    this.events.length = Math.min(this.events.length, EVENTS_SHOWN * 2);
    this.render();
  }

  /** Show the agent; the body is re-rendered at most every RENDER_MS (its buttons stay put). */
  render() {
    if (this.renderTimer) return;
    const wait = Math.max(0, this.lastRender + RENDER_MS - Date.now());
    this.renderTimer = setTimeout(() => {
      this.renderTimer = null;
      this.lastRender = Date.now();
      this.#draw();
    }, wait);
  }

  #draw() {
    const agent = this.agent;
    if (!this.id) {
      this.root.innerHTML = "";
      this.drawn = null;
      return;
    }
    if (this.drawn !== this.id) {
      this.drawn = this.id;
      this.root.innerHTML = `
        <div class="detail-head">
          <button type="button" class="back" data-act="close" title="Back to the list">← Agents</button>
          <h2 data-role="agent-name"></h2>
          <span class="badge"></span>
          <span class="grow"></span>
          <button type="button" data-act="center">Center</button>
          <button type="button" data-act="follow"></button>
        </div>
        <div class="detail-body"></div>`;
      this.setFollowing(this.following ? this.id : null);
    }
    const body = this.root.querySelector(".detail-body");
    const badge = this.root.querySelector(".badge");
    if (!agent) {
      this.root.querySelector("h2").textContent = "Agent gone";
      badge.hidden = true;
      body.innerHTML = `<p class="muted">This agent's state was deleted.</p>`;
      return;
    }
    const s = agent.state;
    const now = this.store.now();
    const stale = now - (s.lastSeen || 0) > this.activeWindow();
    this.root.querySelector("h2").textContent = agent.name;
    badge.hidden = false;
    badge.className = `badge ${stale ? "badge-stale" : "badge-active"}`;
    badge.textContent = stale ? "stale" : "active";
    const stats = s.stats || {};
    const alarm = this.extra.alarm;
    body.innerHTML = `
        <div class="big-health">${healthBar(s)}</div>
        <dl class="facts">
          <dt>Position</dt><dd class="mono" data-role="position">${esc(position(s.position))}</dd>
          <dt>Last seen</dt><dd title="${esc(when(s.lastSeen))}">${esc(ago(s.lastSeen, now))}</dd>
          <dt>Spawned</dt><dd>${esc(when(s.createdAt))}</dd>
          <dt>Alarm</dt><dd data-role="alarm" title="the heartbeat to the Foreman">${alarm ? `${esc(when(alarm))} (${alarm > now ? "in " + Math.round((alarm - now) / 1000) + " s" : "due"})` : "none: asleep until its next write"}</dd>
          <dt>Object id</dt><dd class="mono small">${esc(agent.id)}</dd>
        </dl>
        <div class="stat-grid">
          ${stat("Mined", stats.blocksMined)}${stat("Placed", stats.blocksPlaced)}
          ${stat("Walked", stats.distanceTraveled, " m")}${stat("Deaths", stats.deaths, "", "deaths")}
          ${stat("Tasks", stats.tasksAssigned)}
        </div>
        <h3>Inventory <span class="muted">${(s.inventory || []).length} stacks</span></h3>
        <div class="chips">${(s.inventory || []).map((i) => `<span class="chip" title="slot ${esc(i.slot)}"><b>${num(i.count)}</b> ${esc(i.type)}</span>`).join("") || `<span class="muted">nothing held</span>`}</div>
        <h3>Open tasks</h3>
        ${taskTable(s.tasks, "no open task")}
        <h3>Recent events</h3>
        <ol class="event-list" data-role="agent-events">${this.events.slice(0, EVENTS_SHOWN).map((e) => eventRow(e)).join("") || `<li class="muted">none logged</li>`}</ol>
        <h3>Task history</h3>
        ${taskTable(this.extra.history, "no finished task")}
        <h3>Deaths</h3>
        <ol class="event-list" data-role="deaths">${this.extra.deaths.map((d) => `<li><span class="time">${esc(clock(d.at))}</span><span class="type type-death">death</span> ${esc(d.source)} at ${esc(position(d.position))}, lost ${esc(inventorySummary(d.inventory, 4))}</li>`).join("") || `<li class="muted">never died</li>`}</ol>
        ${this.extra.error ? `<p class="error">${esc(this.extra.error)}</p>` : ""}`;
  }
}

function stat(label, value, unit = "", role = "") {
  return `<div class="stat"${role ? ` data-role="stat-${role}"` : ""}><span class="stat-value">${num(value)}${unit}</span><span class="stat-label">${label}</span></div>`;
}

function taskTable(tasks, empty) {
  if (!tasks || !tasks.length) return `<p class="muted">${empty}</p>`;
  return `<table class="tasks"><thead><tr><th>Id</th><th>Task</th><th>Status</th><th>Updated</th></tr></thead><tbody>${tasks.map((t) =>
    `<tr><td class="mono">${esc(t.id)}</td><td>${esc(taskText(t))}</td><td><span class="task task-${esc(t.status)}">${esc(t.status.replace("_", " "))}</span></td><td>${esc(clock(t.updatedAt))}</td></tr>`).join("")}</tbody></table>`;
}

function eventRow(e) {
  return `<li><span class="time">${esc(clock(e.at))}</span><span class="type type-${esc(e.type)}">${esc(e.type)}</span> <span class="data" title="${esc(JSON.stringify(e.data))}">${esc(eventSummary(e.type, e.data))}</span></li>`;
}
