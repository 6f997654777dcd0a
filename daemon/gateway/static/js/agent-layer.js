// The agents drawn on one canvas: a dot coloured by health (grey when
// stale), its name beside it, a ring around the selected one. One canvas
// redrawn once per animation frame costs a few milliseconds for a thousand
// agents, where a thousand moving DOM markers cost the browser hundreds of
// milliseconds of style and paint a frame. Built on Leaflet's Canvas
// renderer, which keeps the canvas over the view through pans and zooms.
import * as L from "../vendor/leaflet/dist/leaflet-src.esm.js";

const COLOURS = {
  full: "#43c37a", good: "#9bd35a", hurt: "#f0b429", low: "#f08a29", critical: "#ef5350", stale: "#6b7686",
};
const RADIUS = 6;
const HIT_PX = 10;
// More agents than this in view and names would cover each other (and text is the dearest thing
// a canvas draws): then only the selected and hovered agents are named.
const MAX_LABELS = 150;

export const AgentLayer = L.Canvas.extend({
  options: { padding: 0.2 },

  initialize(options) {
    L.Canvas.prototype.initialize.call(this, options);
    this.agents = new Map(); // id -> {latlng, name, bucket, stale}
    this.selected = null;
    this.hovered = null;
    this.labels = true;
    this.onSelect = options.onSelect;
  },

  /** Draw now (the caller is the page's frame loop). */
  redrawNow() {
    if (!this._map || !this._bounds || this._map._animatingZoom) return;
    this._redrawBounds = null;
    this._clear();
    this._draw();
  },

  _update() {
    if (this._map._animatingZoom && this._bounds) return;
    L.Canvas.prototype._update.call(this);
    this._draw();
  },

  _draw() {
    const ctx = this._ctx;
    const map = this._map;
    if (!ctx || !map) return;
    const b = this._bounds;
    const placed = [];
    ctx.save();
    ctx.lineWidth = 2;
    for (const [id, a] of this.agents) {
      const p = map.latLngToLayerPoint(a.latlng);
      if (p.x < b.min.x - 40 || p.y < b.min.y - 20 || p.x > b.max.x + 200 || p.y > b.max.y + 20) continue;
      ctx.beginPath();
      ctx.arc(p.x, p.y, RADIUS, 0, Math.PI * 2);
      ctx.fillStyle = COLOURS[a.stale ? "stale" : a.bucket] || COLOURS.full;
      ctx.globalAlpha = a.stale ? 0.65 : 1;
      ctx.fill();
      ctx.strokeStyle = "#0b0f14";
      ctx.stroke();
      ctx.globalAlpha = 1;
      placed.push([id, a, p]);
    }
    ctx.font = "600 11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    ctx.textBaseline = "middle";
    ctx.lineJoin = "round";
    for (const [id, a, p] of placed) {
      const chosen = id === this.selected || id === this.hovered;
      if (chosen) {
        ctx.beginPath();
        ctx.arc(p.x, p.y, RADIUS + 4, 0, Math.PI * 2);
        ctx.strokeStyle = "#5fb3ff";
        ctx.lineWidth = 2.5;
        ctx.stroke();
      }
      if (!chosen && (!this.labels || placed.length > MAX_LABELS)) continue;
      ctx.lineWidth = 3;
      ctx.strokeStyle = "rgba(0,0,0,0.85)";
      ctx.strokeText(a.name, p.x + RADIUS + 5, p.y);
      ctx.fillStyle = a.stale ? "#8a96a6" : "#e8eef5";
      ctx.fillText(a.name, p.x + RADIUS + 5, p.y);
    }
    ctx.restore();
  },

  /** The agent id under a mouse event (within HIT_PX of its dot), or null. */
  _hit(e) {
    const point = this._map.mouseEventToLayerPoint(e);
    let best = null;
    let bestDistance = HIT_PX;
    for (const [id, a] of this.agents) {
      const distance = point.distanceTo(this._map.latLngToLayerPoint(a.latlng));
      if (distance <= bestDistance) {
        best = id;
        bestDistance = distance;
      }
    }
    return best;
  },

  _onClick(e) {
    if (e.type !== "click") return;
    const id = this._hit(e);
    if (id) {
      L.DomEvent.stop(e);
      this.onSelect(id);
    }
  },

  _onMouseMove(e) {
    if (!this._map || this._map.dragging.moving() || this._map._animatingZoom) return;
    const id = this._hit(e);
    if (id !== this.hovered) {
      this.hovered = id;
      this._container.style.cursor = id ? "pointer" : "";
      this.redrawNow();
    }
  },

  _handleMouseOut() {
    if (this.hovered) {
      this.hovered = null;
      this._container.style.cursor = "";
      this.redrawNow();
    }
  },
});
