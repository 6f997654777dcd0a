// A live tail of the change stream and the classes' notices: filtered by
// family, class, object and event type; pausable. It keeps the newest
// KEEP messages and re-renders at most every RENDER_MS. Paused, it keeps
// collecting but leaves the list as it is until resumed.
import { clock, compact, esc, eventSummary, pretty } from "./format.js";

const KEEP = 2000;
const SHOWN = 300;
const RENDER_MS = 200;
const FAMILIES = ["change", "agent", "mission", "telemetry", "foreman", "alarm"];

/** {family, cls, object, type, summary} of one stream message. */
export function describe(topic, body) {
  const [head, second] = topic.split(".");
  const b = body && typeof body === "object" ? body : {};
  switch (head) {
    case "change": {
      const keys = (b.changes || []).map((c) => (c.deleted ? `-${c.key}` : c.key));
      const deletes = (b.changes || []).filter((c) => c.deleted).length;
      const type = b.cleared ? "cleared" : deletes === 0 ? "put" : deletes === keys.length ? "delete" : "put+delete";
      return { family: "change", cls: b.class, object: b.name || short(b.id), type,
        summary: `commit ${b.commit}: ${keys.slice(0, 6).join(", ")}${keys.length > 6 ? ` +${keys.length - 6}` : ""}` };
    }
    case "agent":
      return { family: "agent", cls: "Agent", object: b.agent, type: b.type || second, summary: eventSummary(b.type, b.data) };
    case "mission": {
      const done = (b.objectives || []).filter((o) => o.status === "completed").length;
      return { family: "mission", cls: "MissionControl", object: b.id, type: second,
        summary: `${b.name} · ${b.status} · ${done}/${(b.objectives || []).length} objectives` };
    }
    case "telemetry":
      return { family: "telemetry", cls: "Telemetry", object: b.agent, type: b.type || second, summary: eventSummary(b.type, b.data) };
    case "foreman":
      return { family: "foreman", cls: "Foreman", object: b.agent, type: second, summary: compact(b.task) };
    case "alarm":
    case "alarm_dropped":
      return { family: "alarm", cls: b.class, object: b.name || short(b.id), type: head,
        summary: head === "alarm" ? `scheduled ${clock(b.scheduled_ms)}, fired ${clock(b.fired_ms)}` : `after ${b.retries} retries: ${b.error}` };
    default:
      return { family: head, cls: "", object: "", type: second || "", summary: compact(b) };
  }
}

function short(id) {
  return typeof id === "string" ? id.slice(0, 12) : "";
}

export class EventTail {
  constructor(root, store) {
    this.root = root;
    this.entries = [];
    this.seq = 0;
    this.paused = false;
    this.newWhilePaused = 0;
    this.expanded = new Set();
    this.families = new Set(FAMILIES);
    this.filters = { cls: "", object: "", type: "" };
    this.renderTimer = null;
    this.rate = { count: 0, since: Date.now(), perSecond: 0 };
    root.innerHTML = `
      <div class="toolbar wrap">
        ${FAMILIES.map((f) => `<label class="toggle fam-${f}"><input type="checkbox" data-family="${f}" checked>${f}</label>`).join("")}
      </div>
      <div class="toolbar">
        <input name="event-class" list="class-options" placeholder="Class" aria-label="Class" size="10">
        <input name="event-object" placeholder="Object (name or id)" aria-label="Object" class="grow">
        <input name="event-type" placeholder="Type" aria-label="Event type" size="10">
        <button type="button" data-act="pause" class="pause">Pause</button>
        <button type="button" data-act="clear">Clear</button>
      </div>
      <div class="summary" data-role="summary"></div>
      <ol class="tail" data-role="tail"></ol>`;
    this.list = root.querySelector("[data-role=tail]");
    this.summary = root.querySelector("[data-role=summary]");
    for (const box of root.querySelectorAll("[data-family]")) {
      box.addEventListener("change", () => {
        if (box.checked) this.families.add(box.dataset.family);
        else this.families.delete(box.dataset.family);
        this.render(true);
      });
    }
    for (const [name, key] of [["event-class", "cls"], ["event-object", "object"], ["event-type", "type"]]) {
      root.querySelector(`[name=${name}]`).addEventListener("input", (e) => {
        this.filters[key] = e.target.value.trim().toLowerCase();
        this.render(true);
      });
    }
    root.querySelector("[data-act=pause]").addEventListener("click", () => this.setPaused(!this.paused));
    root.querySelector("[data-act=clear]").addEventListener("click", () => {
      this.entries = [];
      this.expanded.clear();
      this.render(true);
    });
    this.list.addEventListener("click", (e) => {
      const row = e.target.closest("li[data-seq]");
      if (!row) return;
      const seq = Number(row.dataset.seq);
      if (this.expanded.has(seq)) this.expanded.delete(seq);
      else this.expanded.add(seq);
      this.render(true);
    });
    store.onStream((topic, body) => this.add(topic, body));
  }

  setPaused(paused) {
    this.paused = paused;
    this.newWhilePaused = 0;
    const button = this.root.querySelector("[data-act=pause]");
    button.textContent = paused ? "Resume" : "Pause";
    button.classList.toggle("on", paused);
    this.render(true);
  }

  add(topic, body) {
    this.rate.count += 1;
    if (this.paused) this.newWhilePaused += 1;
    this.entries.push({ seq: ++this.seq, received: Date.now(), topic, body, ...describe(topic, body) });
    if (this.entries.length > KEEP * 1.25) this.entries.splice(0, this.entries.length - KEEP);
    this.render();
  }

  #matches(e) {
    const f = this.filters;
    return this.families.has(e.family) &&
      (!f.cls || String(e.cls).toLowerCase().includes(f.cls)) &&
      (!f.object || String(e.object).toLowerCase().includes(f.object) || e.topic.toLowerCase().includes(f.object)) &&
      (!f.type || String(e.type).toLowerCase().includes(f.type));
  }

  render(now = false) {
    if (now) {
      clearTimeout(this.renderTimer);
      this.renderTimer = null;
      this.#draw(true);
      return;
    }
    if (this.renderTimer) return;
    this.renderTimer = setTimeout(() => {
      this.renderTimer = null;
      this.#draw(false);
    }, RENDER_MS);
  }

  #draw(forced) {
    const elapsed = (Date.now() - this.rate.since) / 1000;
    if (elapsed >= 1) {
      this.rate.perSecond = this.rate.count / elapsed;
      this.rate = { count: 0, since: Date.now(), perSecond: this.rate.perSecond };
    }
    const paused = this.paused ? ` · paused: ${this.newWhilePaused} new not shown` : "";
    this.summary.textContent = `${Math.round(this.rate.perSecond)} messages/s · ${this.entries.length} kept${paused}`;
    if (this.root.hidden || (this.paused && !forced)) return;
    const rows = [];
    for (let i = this.entries.length - 1; i >= 0 && rows.length < SHOWN; i -= 1) {
      const e = this.entries[i];
      if (this.#matches(e)) rows.push(e);
    }
    this.list.innerHTML = rows.map((e) => `<li data-seq="${e.seq}" class="fam-${esc(e.family)}">
      <span class="time">${esc(clock(e.received))}</span><span class="fam">${esc(e.family)}</span>
      <span class="type type-${esc(e.type)}">${esc(e.type)}</span><span class="obj">${esc(e.cls)} ${esc(e.object)}</span>
      <span class="data">${esc(e.summary)}</span>
      ${this.expanded.has(e.seq) ? `<pre class="json">${esc(e.topic)}\n${esc(pretty(e.body))}</pre>` : ""}</li>`).join("") ||
      `<li class="muted">No message matches${this.entries.length ? " the filters" : " yet"}.</li>`;
  }
}
