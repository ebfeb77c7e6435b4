/* neighborgrid: boundary editing on the planner's map, with Leaflet-Geoman (served locally).
 *
 *   const editor = new NG.GridEditor({ grids });   // grids: an NG.GridLayer on the map
 *   panelBody.append(editor.node);
 *   editor.select(gridId);                         // the planner clicked a grid (map or table)
 *
 * Tools: reshape the selected grid (drag, add or remove vertices), draw a new grid, split the
 * selected grid along a line, merge two neighbouring grids; the history of a grid with revert.
 *   - Shared boundaries stay shared: a vertex that other grids have at the same place moves (or is
 *     added, or removed) in all of them, so two neighbours never drift apart.
 *   - Snapping (on by default) pulls a dragged vertex onto the neighbours and the community outline.
 *   - Nothing is saved before a preview (POST /grids/preview; a split or merge: its own endpoint
 *     with dry_run, run as soon as the cut is drawn or the two grids picked) has shown the validation (where a polygon is
 *     invalid, with the make_valid repair on offer; outside the community; overlaps; gaps) and the
 *     impact (buildings and households changing grid, open requests reassigned, households per grid
 *     before and after against the band). Saving needs a comment and sends the versions edited
 *     (POST /grids/apply, /grids/split, /grids/merge, /grids/{id}/revert); a stale version (412/409)
 *     says so and reloads the grids.
 */
(function () {
  "use strict";
  const { map, t, fmt, el, api, fromMap, geoToMap, fill } = NG;
  const SAME = 1e-9;  // degrees: vertices closer than this are one vertex (the API stores 7 decimals)
  const EDIT_OPTIONS = { allowSelfIntersection: true, draggable: false, removeVertexOn: "contextmenu",
    snapDistance: 15 };
  const EDIT_STYLE = { color: "#c2410c", weight: 3, fillColor: "#fdba74", fillOpacity: 0.25 };
  const MERGE_STYLE = { color: "#7c2d12", weight: 4, fillColor: "#fb923c", fillOpacity: 0.3 };

  const sameLL = (a, b) => Math.abs(a.lat - b.lat) < SAME && Math.abs(a.lng - b.lng) < SAME;

  /** Every ring of a polygon layer: {path, ring}, path being the ring's place in getLatLngs(). */
  function rings(latlngs, path = []) {
    if (!latlngs.length) return [];
    if (!Array.isArray(latlngs[0])) return [{ path, ring: latlngs }];
    return latlngs.flatMap((x, i) => rings(x, [...path, i]));
  }
  function ringAt(layer, path) {
    let x = layer.getLatLngs();
    for (const i of path) x = x[i];
    return x;
  }
  /** A polygon layer as WGS84 GeoJSON at full precision (Leaflet's toGeoJSON rounds to ~10 cm). */
  function geometryOf(layer) {
    const ll = layer.getLatLngs();
    const ring = (r) => { const c = r.map((p) => fromMap(p)); if (c.length) c.push([...c[0]]); return c; };
    if (!Array.isArray(ll[0])) return { type: "Polygon", coordinates: [ring(ll)] };
    if (!Array.isArray(ll[0][0])) return { type: "Polygon", coordinates: ll.map(ring) };
    return { type: "MultiPolygon", coordinates: ll.map((poly) => poly.map(ring)) };
  }
  function lineOf(layer) {
    return { type: "LineString", coordinates: layer.getLatLngs().map((p) => fromMap(p)) };
  }
  /** Is [lon, lat] inside a GeoJSON (Multi)Polygon? (even-odd rule) */
  function contains(geometry, [x, y]) {
    const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    let inside = false;
    for (const poly of polys) for (const ring of poly) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [xi, yi] = ring[i], [xj, yj] = ring[j];
        if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
      }
    }
    return inside;
  }

  class GridEditor {
    constructor({ grids, communities = [] }) {
      this.grids = grids;
      this.communities = communities;  // [{id, geometry}] in WGS84, for a new grid's community
      this.mode = null;                // "reshape" | "draw" | "split" | "merge" | null
      this.selected = null;            // the grid the planner picked last
      this.editing = null;             // the grid whose vertices are shown
      this.changed = new Map();        // grid id -> the version it had when its outline changed here
      this.drawn = [];                 // new grids: {layer, community_id}
      this.cut = null;                 // the split line
      this.mergeIds = [];
      this.stamp = 0;                  // bumped by every change; a preview answers one stamp
      this.preview = null;             // {stamp, data}
      this.drag = null;                // {layer, refs}: the coincident vertices moving with a dragged one
      this.busy = false;
      this.overlay = L.featureGroup().addTo(map);  // issues found by the preview
      map.pm.setLang(NG.config.lang === "zh" ? "zh" : "en");
      map.pm.setGlobalOptions({ snappable: true, snapDistance: 15, allowSelfIntersection: true,
        pathOptions: { color: "#c2410c", weight: 3, fillOpacity: 0.15 } });
      map.on("pm:create", (e) => this.created(e));
      this.build();
      this.grids.on("loaded", () => this.reloaded());
      this.grids.addStyle((f) => this.styleFor(f.id));
    }

    /* -- the panel section ------------------------------------------------------------------- */
    build() {
      const tool = (mode, icon) => el("button", { type: "button", class: "btn btn-outline-primary btn-sm ng-tool",
        id: `ng-edit-${mode}`, "aria-pressed": "false", onclick: () => this.setMode(this.mode === mode ? null : mode) },
      el("i", { class: `fa-solid ${icon}`, "aria-hidden": "true" }), " ", t(`edit.tool.${mode}`));
      this.buttons = { reshape: tool("reshape", "fa-draw-polygon"), draw: tool("draw", "fa-pen"),
        split: tool("split", "fa-scissors"), merge: tool("merge", "fa-object-group") };
      this.snapBox = el("input", { type: "checkbox", id: "ng-edit-snap", checked: true, onchange: () => this.setSnap() });
      this.hint = el("p", { class: "ng-hint", id: "ng-edit-hint", hidden: true });
      this.pending = el("div", { id: "ng-edit-pending", class: "ng-edit-pending" });
      this.previewBtn = el("button", { type: "button", class: "btn btn-primary btn-sm", id: "ng-edit-preview",
        onclick: () => this.runPreview() }, t("edit.preview"));
      this.discardBtn = el("button", { type: "button", class: "btn btn-outline-secondary btn-sm", id: "ng-edit-discard",
        onclick: () => this.discard() }, t("edit.discard"));
      this.result = el("div", { id: "ng-edit-result", class: "ng-edit-result", "aria-live": "polite" });
      this.comment = el("textarea", { id: "ng-edit-comment", rows: 2, maxlength: 1000, class: "form-control",
        placeholder: t("edit.comment_hint") });
      this.saveBtn = el("button", { type: "button", class: "btn btn-success ng-wide", id: "ng-edit-save", disabled: true,
        onclick: () => this.save() }, t("edit.save"));
      this.saveBox = el("div", { id: "ng-edit-savebox", hidden: true },
        el("label", { for: "ng-edit-comment" }, t("edit.comment")), this.comment, el("div", { class: "ng-row" }, this.saveBtn));
      this.work = el("div", { id: "ng-edit-work", hidden: true }, this.pending,
        el("div", { class: "ng-row" }, this.previewBtn, this.discardBtn), this.result, this.saveBox);
      this.historyBox = el("div", { id: "ng-edit-history", class: "ng-edit-history" });
      this.node = el("fieldset", { id: "ng-edit", class: "ng-edit" }, el("legend", {}, t("edit.title")),
        el("div", { class: "ng-row ng-edit-tools" }, Object.values(this.buttons)),
        el("label", { class: "ng-check" }, this.snapBox, " ", t("edit.snap")),
        this.hint, this.work, this.historyBox);
    }

    setHint(key, vars) {
      this.hint.hidden = !key;
      this.hint.textContent = key ? fmt(key, vars) : "";
    }

    /** A shape is being drawn: map clicks place its points (they do not pick grids). */
    drawing() { return !!map.pm.globalDrawModeEnabled(); }

    /** Something to preview or save (the grids must not reload under it). */
    dirty() { return this.changed.size > 0 || this.drawn.length > 0 || !!this.cut || this.mergeIds.length > 0; }

    code(id) {
      const hit = this.grids.get(id);
      return hit ? hit.feature.properties.code : String(id);
    }
    label(key) {
      if (key === null || key === undefined) return t("edit.no_grid");
      if (typeof key === "string" && key.startsWith("new")) return t("edit.new_grid");
      return this.code(key);
    }

    /** How the edited, changed and picked grids stand out (over the page's own grid style). */
    styleFor(id) {
      if (id === this.editing) return EDIT_STYLE;
      if (this.changed.has(id)) return { ...EDIT_STYLE, weight: 2 };
      if (this.mode === "merge" && this.mergeIds.includes(id)) return MERGE_STYLE;
      if (this.mode === "split" && id === this.selected) return MERGE_STYLE;
      return {};
    }

    /* -- modes ----------------------------------------------------------------------------- */
    setMode(mode) {
      if (this.mode === "draw" || this.mode === "split") map.pm.disableDraw();
      if (mode !== "reshape") this.stopReshape();
      if (this.cut && mode !== "split") { map.removeLayer(this.cut); this.cut = null; }
      if (mode !== "merge") this.mergeIds = [];
      if (mode) { fill(this.result); this.overlay.clearLayers(); }  // a new tool: the last answer is done with
      if (mode !== this.mode) { this.stamp += 1; this.preview = null; }
      this.mode = mode;
      for (const [m, b] of Object.entries(this.buttons)) {
        b.setAttribute("aria-pressed", String(m === mode));
        b.classList.toggle("active", m === mode);
      }
      if (mode === "reshape") {
        if (this.selected !== null) this.startReshape(this.selected);
        else this.setHint("edit.hint.pick");
      } else if (mode === "draw") {
        map.pm.enableDraw("Polygon", { snappable: this.snapBox.checked, allowSelfIntersection: true });
        this.setHint("edit.hint.draw");
      } else if (mode === "split") {
        this.startSplit();
      } else if (mode === "merge") {
        this.mergeIds = this.selected !== null ? [this.selected] : [];
        this.setHint("edit.hint.merge");
      } else {
        this.setHint(null);
      }
      this.render();
    }

    /** The planner picked a grid (on the map or in the table). */
    select(id) {
      this.selected = id;
      if (this.mode === "reshape") this.startReshape(id);
      else if (this.mode === "merge") {
        if (!this.mergeIds.includes(id)) this.mergeIds = [...this.mergeIds.slice(0, 1), id].slice(-2);
        this.invalidate();
        if (this.mergeIds.length === 2) this.runPreview();
      } else if (this.mode === "split" && !this.cut) this.startSplit();
      this.showHistory();
      this.render();
    }

    setSnap() {
      const snappable = this.snapBox.checked;
      if (this.editing !== null) { const hit = this.grids.get(this.editing); if (hit) hit.layer.pm.enable({ ...EDIT_OPTIONS, snappable }); }
      map.pm.setGlobalOptions({ snappable });
    }

    /* -- reshape: the selected grid's vertices; coincident vertices of the others follow ---- */
    startReshape(id) {
      if (id === this.editing) { this.grids.restyle(); return; }
      this.stopReshape();
      const hit = this.grids.get(id);
      if (!hit) return;
      const layer = hit.layer;
      this.editing = id;
      if (!layer._ngEditor) {
        layer._ngEditor = true;
        layer.on("pm:markerdragstart", (e) => this.dragStart(e));
        layer.on("pm:markerdrag", (e) => this.dragMove(e));
        layer.on("pm:markerdragend", (e) => this.dragEnd(e));
        layer.on("pm:vertexadded", (e) => this.vertexAdded(e));
        layer.on("pm:vertexremoved", (e) => this.vertexRemoved(e));
      }
      this.grids.restyle();
      layer.bringToFront();
      layer.pm.enable({ ...EDIT_OPTIONS, snappable: this.snapBox.checked });
      this.setHint("edit.hint.reshape", { code: this.code(id) });
    }
    stopReshape() {
      if (this.editing === null) return;
      const hit = this.grids.get(this.editing);
      this.editing = null;
      if (hit && hit.layer.pm.enabled()) hit.layer.pm.disable();
      this.grids.restyle();
    }
    /** The grid layers (and drawn grids) other than `layer`. */
    others(layer) {
      return [...[...this.grids.byId.values()].map((x) => x.layer), ...this.drawn.map((d) => d.layer)]
        .filter((l) => l !== layer);
    }
    /** Where the other grids have a vertex at `latlng`: [{layer, path, index}]. */
    coincident(layer, latlng) {
      const refs = [];
      for (const other of this.others(layer)) {
        for (const { path, ring } of rings(other.getLatLngs())) {
          ring.forEach((p, index) => { if (sameLL(p, latlng)) refs.push({ layer: other, path, index }); });
        }
      }
      return refs;
    }
    dragStart(e) {
      const path = e.indexPath;
      const latlng = ringAt(e.layer, path.slice(0, -1))[path[path.length - 1]];
      const refs = this.coincident(e.layer, latlng);
      for (const r of refs) { r.snapIgnore = r.layer.options.snapIgnore; r.layer.options.snapIgnore = true; }
      this.drag = { layer: e.layer, refs };
    }
    dragMove(e) {
      if (!this.drag || this.drag.layer !== e.layer) return;
      const to = e.markerEvent.target.getLatLng();
      for (const r of this.drag.refs) {
        ringAt(r.layer, r.path)[r.index] = L.latLng(to.lat, to.lng);
        r.layer.setLatLngs(r.layer.getLatLngs());
      }
    }
    dragEnd(e) {
      const drag = this.drag;
      this.drag = null;
      this.touch(e.layer);
      if (!drag || drag.layer !== e.layer) return;
      for (const r of drag.refs) { r.layer.options.snapIgnore = r.snapIgnore; this.touch(r.layer); }
    }
    /** A vertex added on an edge that other grids share gets added to theirs too. */
    vertexAdded(e) {
      const path = e.indexPath;
      const ring = ringAt(e.layer, path.slice(0, -1));
      const i = path[path.length - 1], n = ring.length;
      const prev = ring[(i - 1 + n) % n], next = ring[(i + 1) % n];
      for (const other of this.others(e.layer)) {
        for (const { path: p, ring: r } of rings(other.getLatLngs())) {
          for (let j = 0; j < r.length; j++) {
            const a = r[j], b = r[(j + 1) % r.length];
            if ((sameLL(a, prev) && sameLL(b, next)) || (sameLL(a, next) && sameLL(b, prev))) {
              ringAt(other, p).splice(j + 1, 0, L.latLng(e.latlng.lat, e.latlng.lng));
              other.setLatLngs(other.getLatLngs());
              this.touch(other);
              break;
            }
          }
        }
      }
      this.touch(e.layer);
    }
    /** A vertex removed from a shared boundary is removed from the neighbours too. */
    vertexRemoved(e) {
      const gone = e.marker.getLatLng();
      for (const r of this.coincident(e.layer, gone).reverse()) {
        const ring = ringAt(r.layer, r.path);
        if (ring.length <= 3) continue;
        ring.splice(r.index, 1);
        r.layer.setLatLngs(r.layer.getLatLngs());
        this.touch(r.layer);
      }
      this.touch(e.layer);
    }
    /** `layer`'s outline changed on the map. */
    touch(layer) {
      const id = layer.feature ? layer.feature.id : null;
      if (id !== null && id !== undefined && !this.changed.has(id)) {
        this.changed.set(id, layer.feature.properties.version);
      }
      this.invalidate();
    }
    invalidate() {
      this.stamp += 1;
      this.overlay.clearLayers();
      if (this.preview) fill(this.result, el("p", { class: "ng-muted", id: "ng-edit-outdated" }, t("edit.outdated")));
      this.preview = null;
      this.render();
    }

    /* -- draw a new grid, split, merge ---------------------------------------------------- */
    created(e) {
      if (e.shape === "Polygon" && this.mode === "draw") {
        const layer = e.layer;
        const centre = fromMap(layer.getBounds().getCenter());
        const home = this.communities.find((c) => contains(c.geometry, centre))
          || (this.selected !== null && { id: this.grids.get(this.selected)?.feature.properties.community_id });
        this.drawn.push({ layer, community_id: home ? home.id : null });
        layer.on("pm:edit", () => this.invalidate());
        this.setMode(null);
        this.invalidate();
      } else if (e.shape === "Line" && this.mode === "split") {
        this.cut = e.layer;
        this.cut.setStyle({ color: "#b00020", weight: 3, dashArray: "6 4" });
        this.setHint("edit.hint.split_ready", { code: this.code(this.selected) });
        this.invalidate();
        this.runPreview();  // what the cut would do, before anything is saved
      } else {
        map.removeLayer(e.layer);
      }
    }
    startSplit() {
      if (this.selected === null) { this.setHint("edit.hint.pick"); return; }
      map.pm.enableDraw("Line", { snappable: this.snapBox.checked });
      this.setHint("edit.hint.split", { code: this.code(this.selected) });
    }

    /* -- preview --------------------------------------------------------------------------- */
    proposals() {
      const out = [];
      for (const [id, version] of this.changed) {
        const hit = this.grids.get(id);
        if (hit) out.push({ id, version, geometry: geometryOf(hit.layer) });
      }
      for (const d of this.drawn) out.push({ geometry: geometryOf(d.layer), community_id: d.community_id, layer: this.grids.layerName });
      return out;
    }
    /** What the save would send: the split, the merge or the edited grids (null: nothing to save). */
    request() {
      if (this.mode === "split") {
        if (!this.cut || this.selected === null) return null;
        const grid = this.grids.get(this.selected).feature;
        return { path: "grids/split", body: { grid_id: grid.id, version: grid.properties.version, line: lineOf(this.cut) } };
      }
      if (this.mode === "merge") {
        if (this.mergeIds.length !== 2) return null;
        return { path: "grids/merge", body: { grid_ids: this.mergeIds,
          versions: this.mergeIds.map((id) => this.grids.get(id).feature.properties.version) } };
      }
      const grids = this.proposals();
      return grids.length ? { path: "grids/apply", body: { grids } } : null;
    }
    async runPreview() {
      const req = this.request();
      if (!req) return;
      const stamp = this.stamp;
      this.previewBtn.disabled = true;
      fill(this.result, el("p", { class: "ng-muted" }, t("loading")));
      // a split or merge is previewed by its own endpoint with dry_run; other edits by /grids/preview
      const r = req.path === "grids/apply"
        ? await api("grids/preview", { method: "POST", body: req.body })
        : await api(req.path, { method: "POST", body: { ...req.body, dry_run: true } });
      this.previewBtn.disabled = false;
      if (stamp !== this.stamp) return;
      if (!r.ok) { this.showProblem(r); return; }
      this.preview = { stamp, data: r.data };
      this.showResult(r.data);
      this.render();
    }
    showProblem(r) {
      const d = r.data || {};
      if (d.validation || d.impact) { this.showResult(d, { rejected: true }); return; }
      fill(this.result, el("p", { class: "ng-error", id: "ng-edit-error", role: "alert" },
        d.detail || `${t("error.load")} (HTTP ${r.status})`));
    }
    /** The validation (each issue where it is, with the make_valid repair) and the impact. */
    showResult(data, { rejected = false, applied = false } = {}) {
      this.overlay.clearLayers();
      const issues = data.validation || [];
      const nodes = [];
      if (rejected) nodes.push(el("p", { class: "ng-error", role: "alert" }, t("edit.rejected")));
      if (applied) nodes.push(el("p", { class: "ng-ok", id: "ng-edit-applied" }, t("edit.applied")));
      if (issues.length) {
        nodes.push(el("h3", {}, fmt("edit.issues", { n: issues.length })),
          el("ul", { class: "ng-issues", id: "ng-edit-issues" }, issues.map((i) => this.issueItem(i))));
      } else if (!applied) {
        nodes.push(el("p", { class: "ng-ok", id: "ng-edit-valid" }, t("edit.valid")));
      }
      for (const effect of data.impact || []) nodes.push(this.impactNode(effect));
      fill(this.result, nodes);
      this.render();
    }
    issueItem(issue) {
      const where = issue.location ? `${issue.location[0].toFixed(6)}, ${issue.location[1].toFixed(6)}` : null;
      const item = el("li", { class: "ng-issue", dataset: { rule: issue.rule } },
        el("strong", {}, t(`edit.rule.${issue.rule}`, issue.rule)),
        issue.grid !== null && issue.grid !== undefined ? ` · ${this.label(issue.grid)}` : null,
        issue.other !== null && issue.other !== undefined ? ` / ${this.label(issue.other)}` : null,
        issue.area_m2 ? ` · ${fmt("edit.area", { n: Math.round(issue.area_m2 * 10) / 10 })}` : null,
        el("div", { class: "ng-muted" }, issue.message),
        where ? el("div", { class: "ng-muted ng-mono" }, fmt("edit.at", { where })) : null);
      if (issue.geometry) {
        L.geoJSON(geoToMap(issue.geometry), { interactive: false, snapIgnore: true, pmIgnore: true,
          style: () => ({ color: "#b00020", weight: 3, fillColor: "#ff1744", fillOpacity: 0.45, className: "ng-issue-shape" }),
          pointToLayer: (f, ll) => L.circleMarker(ll, { radius: 8, color: "#b00020", className: "ng-issue-shape" }),
        }).addTo(this.overlay);
      } else if (issue.location) {
        L.circleMarker(NG.toMap(issue.location[0], issue.location[1]), { radius: 9, color: "#b00020", weight: 3,
          interactive: false, snapIgnore: true, pmIgnore: true, className: "ng-issue-shape" }).addTo(this.overlay);
      }
      const id = Number(issue.grid);
      if (issue.make_valid && this.changed.has(id)) {
        item.append(el("button", { type: "button", class: "btn btn-outline-primary btn-sm ng-make-valid",
          onclick: () => this.useRepair(id, issue.make_valid) }, t("edit.make_valid")));
      }
      return item;
    }
    useRepair(id, geometry) {
      const hit = this.grids.get(id);
      if (!hit) return;
      const editing = this.editing === id;
      if (editing) hit.layer.pm.disable();
      const layer = L.geoJSON(geoToMap(geometry)).getLayers()[0];
      hit.layer.setLatLngs(layer.getLatLngs());
      if (editing) hit.layer.pm.enable({ ...EDIT_OPTIONS, snappable: this.snapBox.checked });
      this.touch(hit.layer);
      this.runPreview();
    }
    impactNode(effect) {
      const moved = effect.buildings_moved || [];
      const requests = effect.requests_reassigned || [];
      const rows = (effect.households || []).map((h) => el("tr", { dataset: { grid: h.grid }, class: h.warning ? "ng-warn-row" : "" },
        el("td", {}, this.label(h.grid)), el("td", {}, h.households_before ?? "—"), el("td", {}, h.households_after ?? "—"),
        el("td", { class: h.warning ? "ng-late" : "ng-muted" }, h.warning ? t("edit.out_of_band") : "")));
      return el("div", { class: "ng-impact", dataset: { community: effect.community_id } },
        el("h3", {}, t("edit.impact")),
        el("p", { id: "ng-edit-moved" }, fmt("edit.moved", { n: moved.length, households: effect.households_moved || 0 })),
        moved.length ? el("ul", { class: "ng-moves", id: "ng-edit-moves" }, moved.map((m) => el("li", { dataset: { building: m.item } },
          fmt("edit.move", { building: m.item, from: this.label(m.before), to: this.label(m.after), households: m.weight })))) : null,
        el("p", { id: "ng-edit-requests" }, fmt("edit.requests", { n: requests.length })),
        requests.length ? el("ul", { class: "ng-moves" }, requests.map((m) => el("li", {},
          fmt("edit.request_move", { id: m.item, from: this.label(m.before), to: this.label(m.after) })))) : null,
        (effect.homeless_buildings || []).length ? el("p", { class: "ng-late" },
          fmt("edit.homeless", { n: effect.homeless_buildings.length })) : null,
        el("div", { class: "ng-table-wrap" }, el("table", { class: "ng-table", id: "ng-edit-households" },
          el("thead", {}, el("tr", {}, [t("planner.col.code"), t("edit.before"), t("edit.after"), ""].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, rows))));
    }

    /* -- save ------------------------------------------------------------------------------ */
    canSave() {
      if (this.busy || !this.request()) return false;  // and only after a valid preview of exactly this
      return !!this.preview && this.preview.stamp === this.stamp && this.preview.data.valid;
    }
    async save() {
      const comment = this.comment.value.trim();
      if (!comment) {
        fill(this.result, el("p", { class: "ng-error", role: "alert", id: "ng-edit-error" }, t("edit.comment_required")));
        this.comment.focus();
        return;
      }
      if (!this.canSave()) return;
      this.busy = true;
      this.render();
      const req = this.request();
      const r = await api(req.path, { method: "POST", body: { ...req.body, comment } });
      this.busy = false;
      if (r.status === 412 || r.status === 409) { await this.stale(r); return; }
      if (!r.ok) { this.showProblem(r); this.render(); return; }
      await this.saved(r.data);
    }
    async saved(data) {
      const codes = (data.grids || []).map((g) => `${g.code} v${g.version}`).join(", ");
      NG.toast(fmt("edit.saved", { grids: codes }), "ok");
      this.comment.value = "";
      this.reset();
      await this.grids.load();
      this.showResult(data, { applied: true });
      this.showHistory();
    }
    async stale(r) {
      const d = r.data || {};
      NG.toast(fmt("edit.stale", { code: d.grid_id ? this.code(d.grid_id) : "", version: d.current_version ?? "?" }), "error", 12000);
      fill(this.result, el("p", { class: "ng-error", role: "alert", id: "ng-edit-stale" },
        fmt("edit.stale", { code: d.grid_id ? this.code(d.grid_id) : "", version: d.current_version ?? "?" })));
      this.reset();
      await this.grids.load();
      this.showHistory();
    }
    discard() {
      this.reset();
      fill(this.result);
      this.grids.load();
    }
    /** Forget every pending edit (the grids are reloaded by the caller). */
    reset() {
      this.setMode(null);
      for (const d of this.drawn) map.removeLayer(d.layer);
      this.drawn = [];
      this.changed.clear();
      this.overlay.clearLayers();
      this.preview = null;
      this.stamp += 1;
      this.render();
    }
    /** The grids were loaded again (new Leaflet layers): edits on the old ones are gone. */
    reloaded() {
      this.editing = null;
      this.changed.clear();
      if (this.mode === "reshape" && this.selected !== null) this.startReshape(this.selected);
      this.render();
    }

    /* -- history and revert ------------------------------------------------------------------ */
    async showHistory() {
      const id = this.selected;
      if (id === null || this.dirty()) { fill(this.historyBox); return; }
      const hit = this.grids.get(id);
      const r = await api(`grids/${id}/history`);
      if (id !== this.selected || !r.ok || !hit || this.dirty()) return;
      const current = hit.feature.properties.version;
      const versions = r.data.features.map((f) => f.properties).reverse();
      const why = el("input", { id: "ng-revert-comment", class: "form-control", maxlength: 1000,
        placeholder: t("edit.comment_hint"), "aria-label": t("edit.comment") });
      const message = el("div", { id: "ng-revert-message", role: "alert" });
      fill(this.historyBox, el("h3", {}, fmt("edit.history", { code: this.code(id) })),
        el("ol", { class: "ng-history", id: "ng-edit-versions", reversed: true }, versions.map((v) => el("li", { dataset: { version: v.version } },
          el("strong", {}, `v${v.version}`), " ", t(`edit.change.${v.change}`, v.change), " · ", v.changed_by || "—",
          " · ", NG.fmtTime(v.valid_from), v.comment ? el("div", { class: "ng-muted" }, v.comment) : null,
          v.version !== current ? el("button", { type: "button", class: "btn btn-link btn-sm ng-revert",
            onclick: () => this.revert(id, v.version, current, why, message) }, fmt("edit.revert", { version: v.version })) : null))),
        versions.length > 1 ? el("label", { for: "ng-revert-comment" }, t("edit.revert_comment")) : null,
        versions.length > 1 ? why : null, message);
    }
    async revert(id, toVersion, current, why, message) {
      const comment = why.value.trim();
      if (!comment) { fill(message, el("p", { class: "ng-error" }, t("edit.comment_required"))); why.focus(); return; }
      const r = await api(`grids/${id}/revert`, { method: "POST", headers: { "If-Match": `"${current}"` },
        body: { to_version: toVersion, comment } });
      if (r.status === 412 || r.status === 409) { await this.stale(r); return; }
      if (!r.ok) { this.work.hidden = false; this.showProblem(r); return; }
      await this.saved(r.data);
    }

    /* -- what the section shows ----------------------------------------------------------------- */
    render() {
      const names = [...this.changed.keys()].map((id) => this.code(id));
      if (this.drawn.length) names.push(fmt("edit.new_n", { n: this.drawn.length }));
      const lines = [];
      if (names.length) lines.push(el("div", {}, fmt("edit.pending", { grids: names.join(", ") })));
      if (this.mode === "merge") {
        lines.push(el("div", { id: "ng-edit-merge-list" }, fmt("edit.merge_pick", {
          grids: this.mergeIds.map((id) => this.code(id)).join(" + ") || "—" })));
      }
      if (this.mode === "split" && this.cut) lines.push(el("div", {}, fmt("edit.split_pick", { code: this.code(this.selected) })));
      fill(this.pending, lines);
      const structural = this.mode === "split" || this.mode === "merge";
      const active = this.dirty() || (structural && this.selected !== null) || !!this.result.firstChild;
      this.work.hidden = !active;
      this.previewBtn.disabled = this.busy || !this.request();
      this.discardBtn.disabled = this.busy || !this.dirty();
      this.saveBox.hidden = !(this.dirty() || structural);
      this.saveBtn.disabled = !this.canSave();
      this.saveBtn.textContent = t(this.mode === "split" ? "edit.save_split" : this.mode === "merge" ? "edit.save_merge" : "edit.save");
      if (this.dirty()) fill(this.historyBox);
      this.grids.restyle();
    }
  }

  NG.GridEditor = GridEditor;
})();
