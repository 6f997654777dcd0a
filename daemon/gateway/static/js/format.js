// Small pure helpers shared by the views: escaping, times, numbers, health
// colours, and values as JSON (bytes as {"$bytes": hex}, as the gateway's
// HTTP side and the lodestone command show them).

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** "3 s ago", "4 min ago", "2 h ago", "5 d ago"; "never" for 0 or nothing. */
export function ago(ms, now) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 5) return "now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function clock(ms) {
  if (!ms) return "-";
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

export function when(ms) {
  if (!ms) return "-";
  return new Date(ms).toLocaleString([], { hour12: false });
}

// One formatter per precision: toLocaleString with options builds a new one per call, which
// costs microseconds each, and a list of a thousand agents calls it thousands of times.
const FORMATS = new Map();

export function num(value, digits = 0) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "-";
  let format = FORMATS.get(digits);
  if (!format) {
    format = new Intl.NumberFormat(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
    FORMATS.set(digits, format);
  }
  return format.format(value);
}

export function bytes(n) {
  if (typeof n !== "number") return "-";
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function position(p) {
  if (!p) return "-";
  return `${Math.round(p.x)}, ${Math.round(p.y)}, ${Math.round(p.z)}`;
}

/** Health as a fraction of max, 0..1. */
export function healthFraction(state) {
  if (!state || !state.maxHealth) return 0;
  return Math.max(0, Math.min(1, state.health / state.maxHealth));
}

/** A bucket name for CSS: full, good, hurt, low, critical. */
export function healthBucket(fraction) {
  if (fraction >= 0.999) return "full";
  if (fraction >= 0.6) return "good";
  if (fraction >= 0.35) return "hurt";
  if (fraction >= 0.15) return "low";
  return "critical";
}

export function healthBar(state) {
  const fraction = healthFraction(state);
  const text = state ? `${num(state.health, 1)}/${num(state.maxHealth, 1)}` : "-";
  return `<span class="hp hp-${healthBucket(fraction)}" title="health ${esc(text)}">` +
    `<span class="hp-bar"><span class="hp-fill" style="width:${(fraction * 100).toFixed(1)}%"></span></span>` +
    `<span class="hp-text">${esc(text)}</span></span>`;
}

function hex(bytesValue) {
  return Array.from(bytesValue, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A decoded msgpack value as plain JSON data: bytes become {"$bytes": hex}. */
export function toJson(value) {
  if (value instanceof Uint8Array) return { $bytes: hex(value) };
  if (Array.isArray(value)) return value.map(toJson);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toJson(v)]));
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = toJson(v);
    return out;
  }
  if (typeof value === "number" && !Number.isFinite(value)) return { $float: String(value) };
  if (typeof value === "bigint") return Number(value);
  return value;
}

/** The reverse of toJson: {"$bytes": hex} becomes bytes again. Throws on a bad hex string. */
export function fromJson(value) {
  if (Array.isArray(value)) return value.map(fromJson);
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bytes" && typeof value.$bytes === "string") {
      const text = value.$bytes;
      if (text.length % 2 || /[^0-9a-fA-F]/.test(text)) throw new Error(`$bytes must be hex, got ${text.slice(0, 20)}`);
      return Uint8Array.from(text.match(/../g) || [], (pair) => parseInt(pair, 16));
    }
    if (keys.length === 1 && keys[0] === "$float") return Number(value.$float);
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromJson(v);
    return out;
  }
  return value;
}

export function pretty(value) {
  return JSON.stringify(toJson(value), null, 2);
}

export function compact(value, max = 160) {
  let text;
  try {
    text = JSON.stringify(toJson(value));
  } catch {
    text = String(value);
  }
  if (text === undefined) text = "null";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** "3 oak_log, 12 cobblestone …" from an inventory list. */
export function inventorySummary(inventory, max = 3) {
  if (!inventory || !inventory.length) return "empty";
  const total = inventory.reduce((sum, item) => sum + item.count, 0);
  const shown = inventory.slice(0, max).map((item) => `${item.count} ${item.type}`).join(", ");
  return inventory.length > max ? `${shown} +${inventory.length - max} more (${total})` : shown;
}

/** A task's or objective's target, short: a position as "x, y, z". */
export function targetText(target, max = 40) {
  if (target && typeof target === "object" && !Array.isArray(target) && "x" in target && "z" in target) {
    return "y" in target ? `${num(target.x)}, ${num(target.y)}, ${num(target.z)}` : `${num(target.x)}, ${num(target.z)}`;
  }
  return target && typeof target === "object" ? compact(target, max) : String(target ?? "");
}

export function taskText(task) {
  if (!task) return "";
  return `${task.type} ${targetText(task.target)}`.trim();
}

/** The first open task in progress, else the first pending one (as the heartbeat reports it). */
export function currentTask(state) {
  const tasks = state?.tasks || [];
  return tasks.find((t) => t.status === "in_progress") || tasks[0] || null;
}

function items(list) {
  return (list || []).map((i) => `${i.count} ${i.type}`).join(", ") || "nothing";
}

/** One line for an agent event's data (agent.<type> notices, Agent.events, Telemetry). */
export function eventSummary(type, data) {
  const d = data && typeof data === "object" ? data : {};
  switch (type) {
    case "spawn": return `at ${position(d.position)}, health ${num(d.health, 1)}`;
    case "damage": return `−${num(d.amount, 1)} from ${d.source} → ${num(d.health, 1)}`;
    case "death": return `killed by ${d.source} at ${position(d.position)}; lost ${items(d.inventory)}; respawned at ${position(d.respawn)}`;
    case "heal": return `+${num(d.amount, 1)} → ${num(d.health, 1)}`;
    case "move": return `to ${position(d.position)} (${num(d.distance, 1)} blocks)`;
    case "blocks": return `mined ${num(d.mined)}, placed ${num(d.placed)}`;
    case "inventory_add": return `+${num(d.count)} ${d.type} (holds ${num(d.held)})`;
    case "inventory_remove": return `−${num(d.count)} ${d.type} (holds ${num(d.held)})`;
    case "inventory_swap": return `gave ${items(d.removed)}, got ${items(d.added)}${d.note ? ` (${d.note})` : ""}`;
    case "trade": return `with ${d.partner}: gave ${items(d.gave)}, got ${items(d.received)}`;
    case "task_assigned":
    case "task_updated": return d.task ? `${d.task.id} ${taskText(d.task)} · ${String(d.task.status).replace("_", " ")}` : compact(data);
    default: return compact(data);
  }
}
