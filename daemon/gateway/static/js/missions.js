// Missions by status: objectives, who works on them, progress. Missions come
// from MissionControl.list per status (the snapshot) and then from the
// MissionControl objects' changes (mission/<id> keys), so a completion shows
// as it commits.
import { ago, compact, esc, targetText } from "./format.js";

const ORDER = ["active", "planned", "completed", "failed"];
const OBJECTIVE_MARK = { pending: "○", in_progress: "◐", completed: "●" };

export class MissionList {
  constructor(root, store) {
    this.root = root;
    this.store = store;
    this.filter = "";
    this.justCompleted = new Map();
    root.innerHTML = `
      <div class="toolbar"><input type="search" class="grow" placeholder="Filter missions by name, objective or agent" aria-label="Filter missions"></div>
      <div class="summary" data-role="summary"></div>
      <div class="missions" data-role="missions"></div>`;
    this.list = root.querySelector("[data-role=missions]");
    this.summary = root.querySelector("[data-role=summary]");
    root.querySelector("input").addEventListener("input", (e) => {
      this.filter = e.target.value.trim().toLowerCase();
      this.render();
    });
    store.onStream((topic, body) => {
      if (topic.startsWith("mission.completed.")) this.justCompleted.set(body.id, Date.now());
    });
  }

  render() {
    if (this.root.hidden) return;
    const groups = new Map(ORDER.map((s) => [s, []]));
    for (const entry of this.store.missions.values()) {
      if (this.filter && !this.#matches(entry.mission)) continue;
      (groups.get(entry.mission.status) || groups.get("active")).push(entry);
    }
    const counts = ORDER.map((s) => `${groups.get(s).length} ${s}`).join(" · ");
    this.summary.textContent = this.store.missions.size ? counts : "";
    const now = this.store.now();
    let html = "";
    for (const status of ORDER) {
      const entries = groups.get(status);
      if (!entries.length) continue;
      entries.sort((a, b) => (status === "completed" || status === "failed")
        ? b.mission.updatedAt - a.mission.updatedAt : a.mission.createdAt - b.mission.createdAt);
      html += `<h3 class="group group-${status}">${status} <span class="muted">${entries.length}</span></h3>`;
      html += entries.slice(0, 200).map((e) => this.#card(e, now)).join("");
    }
    this.list.innerHTML = html || `<div class="empty">No missions yet. <code>MissionControl.create</code> plans one.</div>`;
  }

  #matches(m) {
    const f = this.filter;
    return m.name.toLowerCase().includes(f) || m.id.toLowerCase().includes(f) ||
      m.assignedAgents.some((a) => a.toLowerCase().includes(f)) ||
      m.objectives.some((o) => `${o.type} ${compact(o.target)} ${o.assignedTo || ""}`.toLowerCase().includes(f));
  }

  #card(entry, now) {
    const m = entry.mission;
    const done = m.objectives.filter((o) => o.status === "completed").length;
    const total = m.objectives.length;
    const pct = total ? (done / total) * 100 : 0;
    const fresh = Date.now() - (this.justCompleted.get(m.id) || 0) < 4000;
    const control = this.store.controls.size > 1 ? ` <span class="muted">on ${esc(this.store.controls.get(entry.control))}</span>` : "";
    return `<article class="mission mission-${esc(m.status)}${fresh ? " flash" : ""}" data-mission="${esc(m.id)}" data-status="${esc(m.status)}">
      <header><span class="mission-id mono">${esc(m.id)}</span><b class="mission-name">${esc(m.name)}</b>${control}
        <span class="grow"></span><span class="badge badge-${esc(m.status)}" data-role="mission-status">${esc(m.status)}</span></header>
      ${m.description ? `<p class="desc">${esc(m.description)}</p>` : ""}
      <div class="progress" title="${done} of ${total} objectives completed"><span style="width:${pct.toFixed(1)}%"></span></div>
      <div class="progress-text"><span data-role="progress">${done}/${total} objectives</span> · updated ${esc(ago(m.updatedAt, now))}</div>
      <ul class="objectives">${m.objectives.map((o) => `<li class="objective obj-${esc(o.status)}" data-objective="${esc(o.id)}">
        <span class="mark" title="${esc(o.status)}">${OBJECTIVE_MARK[o.status] || "?"}</span>
        <span class="mono">${esc(o.id)}</span> ${esc(o.type)} <span class="target">${esc(targetText(o.target, 60))}</span>
        ${o.assignedTo ? `<span class="chip small">${esc(o.assignedTo)}</span>` : ""}</li>`).join("")}</ul>
      <footer>${m.assignedAgents.length ? m.assignedAgents.map((a) => `<span class="chip agent-chip" data-agent="${esc(a)}">${esc(a)}</span>`).join("") : `<span class="muted">no agent assigned</span>`}</footer>
    </article>`;
  }
}
