// The live map: the world's x/z plane seen from above (L.CRS.Simple, one
// unit = one block; north, -z, is up), one marker per agent (drawn on one
// canvas, agent-layer.js), a block grid. Markers move only in `update`, which
// the page calls once per animation frame with the agents changed since the
// last frame.
import * as L from "../vendor/leaflet/dist/leaflet-src.esm.js";
import { AgentLayer } from "./agent-layer.js";
import { esc, healthBucket, healthFraction } from "./format.js";

export const toLatLng = (x, z) => L.latLng(-z, x);

// Grid spacing (blocks) by how many pixels a block takes: lines at least ~40 px apart.
function gridStep(pixelsPerBlock) {
  for (const step of [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768]) {
    if (step * pixelsPerBlock >= 48) return step;
  }
  return 65536;
}

const BlockGrid = L.GridLayer.extend({
  createTile(coords) {
    const tile = document.createElement("canvas");
    const size = this.getTileSize();
    const ratio = window.devicePixelRatio || 1;
    tile.width = size.x * ratio;
    tile.height = size.y * ratio;
    const ctx = tile.getContext("2d");
    ctx.scale(ratio, ratio);
    const scale = 2 ** coords.z; // pixels per block
    const x0 = (coords.x * size.x) / scale;
    const z0 = (coords.y * size.y) / scale;
    const span = size.x / scale;
    const step = gridStep(scale);
    const major = step * 4;
    for (const axis of ["x", "z"]) {
      const from = axis === "x" ? x0 : z0;
      for (let v = Math.ceil(from / step) * step; v < from + span; v += step) {
        const p = Math.round((v - from) * scale) + 0.5;
        const isAxis = v === 0;
        ctx.strokeStyle = isAxis ? "rgba(120,170,255,0.5)" : v % major === 0 ? "rgba(255,255,255,0.12)" : "rgba(255,255,255,0.045)";
        ctx.lineWidth = isAxis ? 1.5 : 1;
        ctx.beginPath();
        if (axis === "x") {
          ctx.moveTo(p, 0);
          ctx.lineTo(p, size.y);
        } else {
          ctx.moveTo(0, p);
          ctx.lineTo(size.x, p);
        }
        ctx.stroke();
      }
    }
    return tile;
  },
});

export class WorldMap {
  constructor(element, store, { onSelect }) {
    this.store = store;
    this.onSelect = onSelect;
    this.markers = new Map(); // agent id -> {latlng, name, bucket, stale, x, z}: the layer draws these
    this.deathMarks = [];
    this.selected = null;
    this.following = null;
    this.fitted = false;
    this.activeWindowMs = 60_000;
    // Frames that moved markers, and markers moved: many changes to one agent in a frame move it once.
    this.stats = { frames: 0, moved: 0 };
    this.map = L.map(element, {
      crs: L.CRS.Simple,
      center: [0, 0],
      zoom: 1,
      minZoom: -6,
      maxZoom: 5,
      zoomSnap: 0.25,
      zoomDelta: 0.5,
      wheelPxPerZoomLevel: 90,
      attributionControl: false,
      preferCanvas: false,
    });
    new BlockGrid({ tileSize: 256, minZoom: -6, maxZoom: 5 }).addTo(this.map);
    this.layer = new AgentLayer({ onSelect: (id) => this.onSelect(id) });
    this.layer.agents = this.markers;
    this.layer.addTo(this.map);
    this.#controls();
    this.ruler = L.DomUtil.create("div", "map-ruler", this.map.getContainer());
    this.map.on("move zoom resize viewreset", () => this.#drawRuler());
    this.map.whenReady(() => this.#drawRuler());
    this.map.on("dragstart", () => this.follow(null));
    this.map.on("zoomend", () => this.#labels());
    this.#labels();
  }

  #controls() {
    const readout = L.control({ position: "bottomleft" });
    readout.onAdd = () => {
      const div = L.DomUtil.create("div", "map-readout");
      div.textContent = "x -, z -";
      this.map.on("mousemove", (e) => {
        div.textContent = `x ${Math.floor(e.latlng.lng)}, z ${Math.floor(-e.latlng.lat)}`;
      });
      return div;
    };
    readout.addTo(this.map);
    const tools = L.control({ position: "topright" });
    tools.onAdd = () => {
      const div = L.DomUtil.create("div", "map-tools");
      div.innerHTML = `<button type="button" data-act="fit" title="Show every agent">Fit all</button>` +
        `<span class="follow-chip" hidden></span>`;
      L.DomEvent.disableClickPropagation(div);
      div.querySelector("[data-act=fit]").addEventListener("click", () => this.fitAll());
      this.followChip = div.querySelector(".follow-chip");
      this.followChip.addEventListener("click", () => this.follow(null));
      return div;
    };
    tools.addTo(this.map);
  }

  /** Block coordinates of the major grid lines along the top (x) and left (z) edges. */
  #drawRuler() {
    const size = this.map.getSize();
    const scale = 2 ** this.map.getZoom();
    const major = gridStep(scale) * 4;
    const topLeft = this.map.containerPointToLatLng([0, 0]);
    const x0 = topLeft.lng;
    const z0 = -topLeft.lat;
    let html = "";
    for (let x = Math.ceil(x0 / major) * major; (x - x0) * scale < size.x; x += major) {
      const px = (x - x0) * scale;
      // Not under the zoom buttons (top left) nor the tools (top right).
      if (px > 50 && px < size.x - 120) html += `<span class="tick tick-x" style="left:${px.toFixed(0)}px">${x}</span>`;
    }
    for (let z = Math.ceil(z0 / major) * major; (z - z0) * scale < size.y; z += major) {
      const py = (z - z0) * scale;
      if (py > 90 && py < size.y - 40) html += `<span class="tick tick-z" style="top:${py.toFixed(0)}px">${z}</span>`;
    }
    html += `<span class="tick-corner">x → · z ↓</span>`;
    this.ruler.innerHTML = html;
  }

  #labels() {
    const zoom = this.map.getZoom();
    const many = this.markers.size > 60;
    const on = !(zoom < -2 || (many && zoom < 1));
    if (on !== this.layer.labels) {
      this.layer.labels = on;
      this.layer.redrawNow();
    }
  }

  /** Create, move, recolour and remove markers for the agents changed since the last frame; draw once. */
  update({ dirty, removed }) {
    const agents = this.store.agents;
    if (removed) {
      for (const id of this.markers.keys()) if (!agents.has(id)) this.markers.delete(id);
    }
    const now = this.store.now();
    if (dirty.size) this.stats.frames += 1;
    for (const id of dirty) {
      const agent = agents.get(id);
      if (agent) this.#place(agent, now);
    }
    if (this.following && dirty.has(this.following)) this.#pan(this.following);
    if (!this.fitted && this.store.phase === "live") {
      this.fitted = true;
      if (agents.size) this.fitAll();
    }
    if (dirty.size || removed) {
      this.#labels();
      this.layer.redrawNow();
    }
  }

  #place(agent, now) {
    const p = agent.state.position || { x: 0, z: 0 };
    let entry = this.markers.get(agent.id);
    if (!entry) {
      entry = { latlng: toLatLng(p.x, p.z), name: agent.name, bucket: null, stale: false, x: p.x, z: p.z };
      this.markers.set(agent.id, entry);
    } else if (entry.x !== p.x || entry.z !== p.z) {
      entry.latlng = toLatLng(p.x, p.z);
      entry.x = p.x;
      entry.z = p.z;
      this.stats.moved += 1;
    }
    entry.name = agent.name;
    entry.bucket = healthBucket(healthFraction(agent.state));
    entry.stale = now - (agent.state.lastSeen || 0) > this.activeWindowMs;
  }

  /** Grey the agents whose lastSeen has left the active window (called every second). */
  refreshStale() {
    const now = this.store.now();
    let changed = false;
    for (const [id, entry] of this.markers) {
      const agent = this.store.agents.get(id);
      const stale = agent ? now - (agent.state.lastSeen || 0) > this.activeWindowMs : entry.stale;
      if (stale !== entry.stale) {
        entry.stale = stale;
        changed = true;
      }
    }
    if (changed) this.layer.redrawNow();
    for (const mark of this.deathMarks.splice(0)) {
      if (Date.now() - mark.at < 60_000) this.deathMarks.push(mark);
      else mark.marker.remove();
    }
  }

  /** Mark where an agent died, for a minute. */
  death(name, position) {
    if (!position) return;
    const icon = L.divIcon({ className: "death-mark", html: `<span title="${esc(name)} died here">✕</span>`, iconSize: [16, 16] });
    const marker = L.marker(toLatLng(position.x, position.z), { icon, keyboard: false, interactive: false }).addTo(this.map);
    this.deathMarks.push({ marker, at: Date.now() });
  }

  select(id) {
    this.selected = id;
    this.layer.selected = id;
    this.layer.redrawNow();
  }

  center(id) {
    const entry = this.markers.get(id);
    if (entry) this.map.setView(entry.latlng, Math.max(this.map.getZoom(), 2), { animate: false });
  }

  follow(id) {
    this.following = id;
    const agent = id && this.store.agents.get(id);
    this.followChip.hidden = !agent;
    this.followChip.textContent = agent ? `Following ${agent.name} ✕` : "";
    if (agent) this.center(id);
    this.map.getContainer().dispatchEvent(new CustomEvent("follow", { detail: { id } }));
  }

  #pan(id) {
    const entry = this.markers.get(id);
    if (entry) this.map.panTo(entry.latlng, { animate: false });
  }

  fitAll() {
    const points = [...this.markers.values()].map((e) => e.latlng);
    if (!points.length) return;
    const bounds = L.latLngBounds(points).pad(0.15);
    this.map.fitBounds(bounds, { maxZoom: 3, animate: false });
  }

  invalidate() {
    this.map.invalidateSize();
  }

  /** Where the marker of the agent named `name` is, in blocks and in page pixels; null without one (tests use it). */
  markerOf(name) {
    for (const entry of this.markers.values()) {
      if (entry.name === name) {
        const point = this.map.latLngToContainerPoint(entry.latlng);
        const box = this.map.getContainer().getBoundingClientRect();
        return { x: entry.latlng.lng, z: -entry.latlng.lat, health: entry.bucket, stale: entry.stale,
          pageX: box.left + point.x, pageY: box.top + point.y };
      }
    }
    return null;
  }
}
