// The page: reads the token, opens the link, builds the views, runs the one
// per-frame loop that moves markers, and shows whether what you see is live.
import { AgentDetail } from "./agent-detail.js";
import { AgentList } from "./agents.js";
import { EventTail } from "./events.js";
import { bytes, clock, esc, num } from "./format.js";
import { Link } from "./link.js";
import { WorldMap } from "./map.js";
import { MissionList } from "./missions.js";
import { ObjectBrowser } from "./objects.js";
import { Store } from "./store.js";

const TOKEN_KEY = "lodestone.token";
const WINDOW_KEY = "lodestone.activeWindowS";
const RECOVERED_SHOWN_MS = 6000;

/** The token from ?access_token= (then taken out of the address bar), or the one this tab kept. */
function takeToken() {
  const url = new URL(location.href);
  const given = url.searchParams.get("access_token");
  if (given !== null) {
    sessionStorage.setItem(TOKEN_KEY, given);
    url.searchParams.delete("access_token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  }
  return given ?? sessionStorage.getItem(TOKEN_KEY) ?? "";
}

const token = takeToken();
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws` +
  (token ? `?access_token=${encodeURIComponent(token)}` : "");
const link = new Link(wsUrl);
const store = new Store(link);
let activeWindowS = Number(localStorage.getItem(WINDOW_KEY)) || 60;
const activeWindow = () => activeWindowS * 1000;

const $ = (selector) => document.querySelector(selector);
const layout = $("main.layout");
const agentListRoot = $("[data-role=agent-list]");
const detailRoot = $("[data-role=agent-detail]");

const map = new WorldMap($("#map"), store, { onSelect: (id) => openAgent(id) });
map.activeWindowMs = activeWindow();
const agentList = new AgentList(agentListRoot, store, { onOpen: (id) => openAgent(id), activeWindow });
const detail = new AgentDetail(detailRoot, store, {
  onClose: () => closeAgent(),
  onFollow: (id) => map.follow(id),
  onCenter: (id) => map.center(id),
  activeWindow,
});
const missions = new MissionList($("[data-view=missions]"), store);
const tail = new EventTail($("[data-view=events]"), store);
const objects = new ObjectBrowser($("[data-view=objects]"), store);

// The active window: the Foreman's active_window_s (60 s unless configured otherwise).
const windowInput = document.createElement("label");
windowInput.className = "window-setting";
windowInput.title = "An agent not seen for this long is stale (greyed): the Foreman's active_window_s";
windowInput.innerHTML = `stale after <input type="number" min="1" max="86400" value="${activeWindowS}" aria-label="Active window in seconds"> s`;
agentListRoot.querySelector(".toolbar").append(windowInput);
windowInput.querySelector("input").addEventListener("change", (e) => {
  activeWindowS = Math.max(1, Number(e.target.value) || 60);
  localStorage.setItem(WINDOW_KEY, String(activeWindowS));
  map.activeWindowMs = activeWindow();
  map.refreshStale();
  agentList.render(true);
});

$("#map").addEventListener("follow", (e) => detail.setFollowing(e.detail.id));

function openAgent(id) {
  const agent = store.agents.get(id);
  if (!agent) return;
  showTab("agents");
  agentListRoot.hidden = true;
  detailRoot.hidden = false;
  map.select(id);
  detail.setFollowing(map.following === id ? id : null);
  detail.open(id);
  if (location.hash !== `#agent/${encodeURIComponent(agent.name)}`) history.replaceState(null, "", `#agent/${encodeURIComponent(agent.name)}`);
}

function closeAgent() {
  detail.close();
  map.select(null);
  detailRoot.hidden = true;
  agentListRoot.hidden = false;
  agentList.render(true);
  history.replaceState(null, "", "#agents");
}

function showTab(tab) {
  layout.dataset.tab = tab;
  for (const button of document.querySelectorAll(".tabs [data-tab]")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === tab));
  }
  for (const view of document.querySelectorAll("[data-view]")) view.hidden = view.dataset.view !== tab;
  if (tab === "agents") agentList.render(true);
  if (tab === "missions") missions.render();
  if (tab === "events") tail.render(true);
  if (tab === "map") map.invalidate();
  if (!location.hash.startsWith("#agent/") || tab !== "agents") history.replaceState(null, "", `#${tab}`);
  requestAnimationFrame(() => map.invalidate());
}

for (const button of document.querySelectorAll(".tabs [data-tab]")) {
  button.addEventListener("click", () => {
    if (button.dataset.tab === "agents" && !detailRoot.hidden) closeAgent();
    showTab(button.dataset.tab);
  });
}

// One frame: every agent changed since the last frame is drawn once, however many changes it had.
function frame() {
  const changes = store.takeDirty();
  if (changes.dirty.size || changes.removed) {
    map.update(changes);
    agentList.dirty = true;
    if (detail.id && (changes.dirty.has(detail.id) || changes.removed)) detail.changed();
  }
  if (agentList.dirty) agentList.render();
  if (store.missionsDirty) {
    store.missionsDirty = false;
    missions.render();
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

setInterval(() => {
  map.refreshStale();
  if (!agentListRoot.hidden) agentList.render();
  if (detail.id) detail.render();
  drawBanner();
  drawFigures();
}, 1000);

store.onStream((topic, body) => {
  if (topic.startsWith("agent.death.")) map.death(body.agent, body.data?.position);
});
store.addEventListener("status", () => {
  drawBanner();
  drawFigures();
  objects.renderClasses();
});
store.addEventListener("health", drawFigures);
store.addEventListener("synced", () => {
  if (detail.id) detail.open(detail.id);
  routeFromHash();
});

const PILL = {
  connecting: ["connecting", "Connecting"],
  syncing: ["syncing", "Reading state"],
  live: ["live", "Live"],
  "daemon-down": ["down", "Daemon not answering"],
  "gateway-down": ["down", "Disconnected"],
};

async function tokenProblem() {
  // A refused WebSocket upgrade looks like any closed connection to the page: ask /v1/health why.
  try {
    const response = await fetch("/v1/health", { headers: token ? { Authorization: `Bearer ${token}` } : {} });
    if (response.status === 401) return "The gateway refused this page's token (401). Open the dashboard as /?access_token=<token>; lodestone gateway token NAME --scope read makes one.";
    if (response.status === 503 && store.linkStatus.attempt > 1) return "";
  } catch {
    return "";
  }
  return "";
}

let tokenNote = "";
link.addEventListener("status", async (e) => {
  if (e.detail.state === "closed" && e.detail.attempt === 2) tokenNote = await tokenProblem();
  if (e.detail.state === "open") tokenNote = "";
  drawBanner();
});

function drawBanner() {
  const banner = $("[data-role=banner]");
  const phase = store.phase;
  const [pillClass, pillText] = PILL[phase] || PILL.connecting;
  const pill = $("[data-role=status]");
  pill.className = `pill pill-${pillClass}`;
  pill.textContent = pillText;
  document.body.classList.toggle("offline", phase !== "live");
  const asOf = store.syncedAt ? ` What you see is the state as of ${clock(store.syncedAt)}, not live.` : "";
  let html = "";
  let kind = "";
  if (phase === "gateway-down") {
    const status = store.linkStatus;
    const wait = Math.max(0, Math.ceil(((status.retryAt || 0) - Date.now()) / 1000));
    kind = "down";
    html = `<b>Disconnected from the gateway</b> (${esc(status.reason || "no connection")}). Reconnecting in ${wait} s, attempt ${status.attempt}.${asOf}` +
      ` <button type="button" data-act="retry">Retry now</button>${tokenNote ? `<div>${esc(tokenNote)}</div>` : ""}`;
  } else if (phase === "daemon-down") {
    kind = "down";
    html = `<b>The daemon is not answering</b>; the gateway is up (${esc(store.lastError || "no reply")}). Asking again every 2 s.${asOf}`;
  } else if (phase === "connecting") {
    kind = "info";
    html = "Connecting to the gateway…";
  } else if (phase === "syncing" && store.everLive) {
    kind = "info";
    html = "Reading the state again…";
  } else if (store.recoveredAt && Date.now() - store.recoveredAt < RECOVERED_SHOWN_MS) {
    kind = "ok";
    html = `<b>Reconnected.</b> State read again at commit ${num(store.snapshotCommit)} (${esc(store.syncReason || "")}); live since ${clock(store.syncedAt)}.`;
  } else if (phase === "live" && (store.forbiddenClasses.size || store.forbiddenPrefixes.size)) {
    kind = "info";
    const classes = [...store.forbiddenClasses].join(", ");
    const topics = [...store.forbiddenPrefixes].map((p) => p || "(all)").join(", ");
    html = `This token is limited to some classes: ${classes ? `not shown: ${esc(classes)}` : ""}` +
      `${classes && topics ? "; " : ""}${topics ? `topics refused: ${esc(topics)}` : ""}.`;
  }
  banner.hidden = !html;
  banner.className = `banner banner-${kind}`;
  banner.dataset.phase = phase;
  if (banner.innerHTML !== html) banner.innerHTML = html;
}
$("[data-role=banner]").addEventListener("click", (e) => {
  if (e.target.closest("[data-act=retry]")) link.retryNow();
});

function drawFigures() {
  const h = store.health;
  const now = store.now();
  let active = 0;
  for (const agent of store.agents.values()) if (now - (agent.state.lastSeen || 0) <= activeWindow()) active += 1;
  const figures = [
    ["agents", `${num(active)} / ${num(store.agents.size)}`, "active / all agents"],
    ["commit", h ? num(store.lastCommit) : "-", "the newest commit the page has seen"],
    ["objects", h ? num(h.objects_stored) : "-", "objects with stored data"],
    ["alarms", h ? num(h.alarms_stored) : "-", "alarms set"],
    ["map", h ? `${bytes(h.map_used_bytes)} / ${bytes(h.map_size_bytes)}` : "-", "LMDB map in use / its size"],
    ["stream", `${num(tail.rate.perSecond)}/s`, "stream messages per second"],
  ];
  $("[data-role=figures]").innerHTML = figures.map(([k, v, title]) =>
    `<span class="figure" title="${esc(title)}" data-figure="${k}"><span class="k">${k}</span> <span class="v">${esc(v)}</span></span>`).join("") +
    (h?.status === "warning" ? `<span class="figure warn" title="${esc((h.warnings || []).join("; "))}">⚠ ${esc((h.warnings || [])[0] || "warning")}</span>` : "");
  $("[data-count=agents]").textContent = store.agents.size ? num(store.agents.size) : "";
  let open = 0;
  for (const m of store.missions.values()) if (m.mission.status === "active" || m.mission.status === "planned") open += 1;
  $("[data-count=missions]").textContent = open ? num(open) : "";
}

let routed = false;
function routeFromHash() {
  if (routed) return;
  routed = true;
  const hash = decodeURIComponent(location.hash.slice(1));
  if (hash.startsWith("agent/")) {
    const agent = store.agentByName(hash.slice("agent/".length));
    if (agent) openAgent(agent.id);
    return;
  }
  if (["map", "agents", "missions", "events", "objects"].includes(hash)) showTab(hash);
}

showTab(["map", "missions", "events", "objects"].includes(location.hash.slice(1)) ? location.hash.slice(1) : "agents");
link.start();

// For scripts and tests: the page's parts (read them; they are not an API).
window.lodestone = { link, store, map, tail, objects, missions, detail, openAgent, showTab };
