/* neighborgrid: the grid layer, shared by the dispatcher's and the planner's maps.
 *
 *   const grids = new NG.GridLayer({ layer: "one_network", style: (feature) => ({...}),
 *                                     tooltip: (feature) => node|string, onClick: (feature, layer) => {} });
 *   await grids.load();            // GET /api/v1/grids?layer=…  (staff tokens add the grid workers)
 *   grids.setLayer("health");      // another department's grids
 *   grids.restyle();               // after the data behind `style` changed
 *   grids.addStyle((feature) => ({...}));  // a style laid over the page's and the highlight (editing)
 *   grids.get(id) -> {feature, layer}; grids.features(); grids.fit(id); grids.highlight(id)
 *   grids.on("loaded" | "click", fn)
 *
 * Every grid is one Leaflet polygon in `grids.group` (an L.FeatureGroup), keyed by grid id, so
 * boundary editing (grid-editor.js, Leaflet-Geoman) switches editing on for `grids.get(id).layer`
 * and calls `grids.load()` again after saving; `grid.changed` events trigger a reload on the pages.
 */
(function () {
  "use strict";
  const { map, api, el, geoToMap, fitTo } = NG;

  const pane = map.createPane("ngGrids");
  pane.style.zIndex = 350;  // above our base (250), below request markers and circles (400+)

  class GridLayer {
    constructor({ layer = "one_network", style, tooltip, onClick } = {}) {
      this.layerName = layer;
      this.styleFn = style || (() => ({}));
      this.tooltipFn = tooltip || ((f) => f.properties.code);
      this.group = L.featureGroup();
      this.byId = new Map();
      this.highlighted = null;
      this.listeners = { loaded: [], click: [] };
      this.overlays = [];
      if (onClick) this.on("click", onClick);
    }

    on(name, fn) { (this.listeners[name] || (this.listeners[name] = [])).push(fn); return this; }
    emit(name, ...args) { (this.listeners[name] || []).forEach((fn) => fn(...args)); }

    baseStyle(feature) {
      const selected = this.highlighted === feature.id;
      return Object.assign({ color: "#3b5b7a", weight: selected ? 4 : 1.5, opacity: 0.9, fillColor: "#7fa7cf",
        fillOpacity: 0.12, pane: "ngGrids" }, this.styleFn(feature), selected ? { color: "#0b2e59", weight: 4 } : {},
      ...this.overlays.map((fn) => fn(feature)));
    }
    addStyle(fn) { this.overlays.push(fn); return this; }

    async load() {
      const r = await api("grids", { params: { layer: this.layerName } });
      if (!r.ok) throw new Error(`grids: HTTP ${r.status}`);
      this.group.clearLayers();
      this.byId.clear();
      const self = this;
      L.geoJSON(geoToMap(r.data), {
        pane: "ngGrids",
        style: (f) => self.baseStyle(f),
        onEachFeature(feature, layer) {
          self.byId.set(feature.id, { feature, layer });
          layer.bindTooltip(() => self.tooltipFn(feature), { sticky: true, className: "ng-grid-tip", direction: "top" });
          layer.on("click", (ev) => self.emit("click", feature, layer, ev));
          self.group.addLayer(layer);
        },
      });
      this.emit("loaded", this);
      return this;
    }

    async setLayer(name) { this.layerName = name; this.highlighted = null; return this.load(); }
    features() { return [...this.byId.values()].map((x) => x.feature); }
    get(id) { return this.byId.get(Number(id)); }
    restyle() { for (const { feature, layer } of this.byId.values()) layer.setStyle(this.baseStyle(feature)); }
    setStyle(fn) { this.styleFn = fn; this.restyle(); }
    highlight(id) {
      this.highlighted = id === null || id === undefined ? null : Number(id);
      this.restyle();
      const hit = this.get(this.highlighted);
      if (hit) hit.layer.bringToFront();
    }
    fit(id) { const hit = this.get(id); if (hit) fitTo(hit.layer.getBounds(), { maxZoom: 18 }); }
    show() { if (!map.hasLayer(this.group)) this.group.addTo(map); return this; }
    hide() { map.removeLayer(this.group); return this; }
    visible() { return map.hasLayer(this.group); }

    /** A tooltip body: code, name, and the lines given (each [label, value]). */
    static tip(feature, lines = []) {
      const p = feature.properties;
      return el("div", { class: "ng-tip" },
        el("strong", {}, NG.name(p)), el("div", { class: "ng-muted ng-mono" }, p.code),
        lines.map(([label, value]) => el("div", {}, el("span", { class: "ng-muted" }, `${label}: `), value)));
    }
  }

  NG.GridLayer = GridLayer;
})();
