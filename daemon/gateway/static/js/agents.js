// The agents list: every agent, sortable by any column, filtered by text and
// by active/stale. It re-renders at most a few times a second, and only the
// first MAX_ROWS rows (the count says how many more there are).
import { ago, esc, healthBar, healthFraction, inventorySummary, num, position, taskText, currentTask } from "./format.js";

const MAX_ROWS = 150;
// steve-2 before steve-10.
const NAMES = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
// A list of many agents changing at 20 Hz is read by a person, not followed frame by frame.
const renderEvery = (agents) => (agents > 200 ? 1000 : 250);

const COLUMNS = [
  { key: "name", label: "Agent", value: (a) => a.name.toLowerCase() },
  { key: "health", label: "Health", value: (a) => healthFraction(a.state) },
  { key: "position", label: "Position", value: (a) => Math.hypot(a.state.position?.x || 0, a.state.position?.z || 0) },
  { key: "items", label: "Items", value: (a) => (a.state.inventory || []).reduce((s, i) => s + i.count, 0) },
  { key: "stats", label: "Mined · placed", value: (a) => a.state.stats?.blocksMined || 0 },
  { key: "deaths", label: "Deaths", value: (a) => a.state.stats?.deaths || 0 },
  { key: "seen", label: "Last seen", value: (a) => a.state.lastSeen || 0 },
];

export class AgentList {
  constructor(root, store, { onOpen, activeWindow }) {
    this.root = root;
    this.store = store;
    this.onOpen = onOpen;
    this.activeWindow = activeWindow;
    this.sortKey = "name";
    this.descending = false;
    this.filter = "";
    this.show = "all";
    this.dirty = true;
    this.lastRender = 0;
    root.innerHTML = `
      <div class="toolbar">
        <input type="search" class="grow" name="agent-filter" placeholder="Filter by name, task or item" aria-label="Filter agents">
        <select name="agent-show" aria-label="Which agents">
          <option value="all">All</option><option value="active">Active</option><option value="stale">Stale</option>
        </select>
      </div>
      <div class="summary" data-role="summary"></div>
      <div class="table-wrap"><table class="agents">
        <thead><tr>${COLUMNS.map((c) => `<th data-sort="${c.key}" tabindex="0">${c.label}<span class="arrow"></span></th>`).join("")}</tr></thead>
        <tbody></tbody>
      </table></div>
      <div class="empty" hidden>No agent has spawned yet. <code>Agent.init</code> makes one.</div>`;
    this.body = root.querySelector("tbody");
    this.summary = root.querySelector("[data-role=summary]");
    this.emptyNote = root.querySelector(".empty");
    root.querySelector("input").addEventListener("input", (e) => {
      this.filter = e.target.value.trim().toLowerCase();
      this.render(true);
    });
    root.querySelector("select").addEventListener("change", (e) => {
      this.show = e.target.value;
      this.render(true);
    });
    for (const th of root.querySelectorAll("th")) {
      const sort = () => {
        const key = th.dataset.sort;
        this.descending = this.sortKey === key ? !this.descending : key === "seen" || key === "deaths";
        this.sortKey = key;
        this.render(true);
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (e) => e.key === "Enter" && sort());
    }
    this.body.addEventListener("click", (e) => {
      const row = e.target.closest("tr[data-id]");
      if (row) this.onOpen(row.dataset.id);
    });
  }

  /** Note changes; render if visible and the last render is old enough (or `force`). */
  render(force = false) {
    this.dirty = true;
    if (!force && (this.root.hidden || Date.now() - this.lastRender < renderEvery(this.store.agents.size))) return;
    this.dirty = false;
    this.lastRender = Date.now();
    const now = this.store.now();
    const windowMs = this.activeWindow();
    const column = COLUMNS.find((c) => c.key === this.sortKey);
    const all = [...this.store.agents.values()];
    let active = 0;
    const rows = [];
    for (const agent of all) {
      const stale = now - (agent.state.lastSeen || 0) > windowMs;
      if (!stale) active += 1;
      if (this.show === "active" && stale) continue;
      if (this.show === "stale" && !stale) continue;
      if (this.filter && !this.#matches(agent)) continue;
      rows.push({ agent, stale, key: column.value(agent) });
    }
    const sign = this.descending ? -1 : 1;
    const byName = (a, b) => NAMES.compare(a.agent.name, b.agent.name);
    rows.sort(this.sortKey === "name" ? (a, b) => sign * byName(a, b)
      : (a, b) => (a.key < b.key ? -sign : a.key > b.key ? sign : byName(a, b)));
    this.body.innerHTML = rows.slice(0, MAX_ROWS).map(({ agent, stale }) => this.#row(agent, stale, now)).join("");
    const more = rows.length > MAX_ROWS ? ` · first ${MAX_ROWS} shown: filter to see the rest` : "";
    this.summary.textContent = `${all.length} agents · ${active} active · ${all.length - active} stale` +
      (rows.length !== all.length ? ` · ${rows.length} match` : "") + more;
    this.emptyNote.hidden = all.length > 0;
    for (const th of this.root.querySelectorAll("th")) {
      th.classList.toggle("sorted", th.dataset.sort === this.sortKey);
      th.querySelector(".arrow").textContent = th.dataset.sort === this.sortKey ? (this.descending ? " ▼" : " ▲") : "";
    }
  }

  #matches(agent) {
    const f = this.filter;
    if (agent.name.toLowerCase().includes(f)) return true;
    if ((agent.state.tasks || []).some((t) => taskText(t).toLowerCase().includes(f))) return true;
    return (agent.state.inventory || []).some((i) => i.type.toLowerCase().includes(f));
  }

  #row(agent, stale, now) {
    const s = agent.state;
    const task = currentTask(s);
    const stats = s.stats || {};
    const taskLine = task ? `<span class="task task-${esc(task.status)}">${esc(taskText(task))}</span>` : `<span class="muted">idle</span>`;
    return `<tr data-id="${esc(agent.id)}" data-name="${esc(agent.name)}" class="${stale ? "stale" : ""}">` +
      `<td class="name"><span class="status-dot ${stale ? "off" : "on"}" title="${stale ? "stale" : "active"}"></span>${esc(agent.name)}<div class="sub">${taskLine}</div></td>` +
      `<td class="health">${healthBar(s)}</td>` +
      `<td class="pos mono">${esc(position(s.position))}</td>` +
      `<td class="items" title="${esc(inventorySummary(s.inventory, 50))}">${esc(inventorySummary(s.inventory, 2))}</td>` +
      `<td class="stats mono" title="walked ${num(stats.distanceTraveled)} blocks">${num(stats.blocksMined)} · ${num(stats.blocksPlaced)}</td>` +
      `<td class="deaths mono">${num(stats.deaths)}</td>` +
      `<td class="seen">${esc(ago(s.lastSeen, now))}</td></tr>`;
  }
}
