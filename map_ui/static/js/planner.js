/* neighborgrid: the planner's map (/map/planner).
 *
 * Layer toggles: the grids of each department layer and the merged one-network layer; buildings
 * shaded by households; stations and their 5/10/15-minute circles; coverage gaps per station type
 * (buildings no station of the type reaches within the walk). A side table per grid: households,
 * buildings, grid workers, open cases and KPIs (GET /stats?group_by=grid).
 *
 * The grid layer is NG.GridLayer (grid-layer.js); planners and admins edit its boundaries with
 * NG.GridEditor (grid-editor.js: reshape with shared vertices, draw, split, merge, preview, save,
 * history and revert), whose section sits between the layer toggles and the table. Below it, the
 * Import panel (NG.ImportPanel, import_panel.js) checks and saves a city's own files; after a save
 * the page draws its layers again (afterImport).
 */
(async function () {
  "use strict";
  const { map, t, fmt, el, api, toMap, name } = NG;
  const EDITORS = ["planner", "admin"];
  const GRID_LAYERS = ["one_network", "party_building", "comprehensive_governance", "health", "urban_management"];
  const HOUSEHOLD_STEPS = [[0, "#f6eee3"], [10, "#f3d9b1"], [30, "#eab46a"], [60, "#d4822a"], [100, "#9c4d0e"]];
  const CIRCLE_COLOUR = { 5: "#1f8a5a", 10: "#3fa574", 15: "#7cc79f" };

  const account = await NG.requireLogin(NG.config.roles);
  const body = NG.shell({ account });

  /* -- state and layers -------------------------------------------------------------------- */
  let stats = new Map();          // grid id -> KPIs
  let coverage = null;            // the last /coverage report
  let selected = null;
  let sort = { key: "code", dir: 1 };
  let stationTypes = [];
  const base = NG.drawBase({ buildings: false });
  const buildingLayer = L.geoJSON(null, { snapIgnore: true, style: buildingStyle, onEachFeature: (f, layer) => layer.bindTooltip(() =>
    el("div", { class: "ng-tip" }, el("strong", {}, name(f.properties) || f.properties.number || `#${f.id}`),
      el("div", {}, fmt("planner.households_n", { n: f.properties.households })),
      f.properties.floors ? el("div", { class: "ng-muted" }, fmt("planner.floors_n", { n: f.properties.floors })) : null),
  { sticky: true }) });
  const stationLayer = L.layerGroup();
  const circleLayer = L.layerGroup();
  // snapIgnore: a vertex being edited snaps to grids and community outlines, not to these
  const gapLayer = L.geoJSON(null, { snapIgnore: true, style: () => ({ color: "#b00020", weight: 2, fillColor: "#ff1744", fillOpacity: 0.65,
    className: "ng-gap" }) });

  const grids = new NG.GridLayer({
    style: (f) => ({ color: f.properties.layer === "one_network" ? "#1d4f91" : "#6a3d9a",
      fillColor: f.properties.layer === "one_network" ? "#7fa7cf" : "#b39ddb", fillOpacity: 0.1, weight: 2 }),
    tooltip: (f) => {
      const p = f.properties;
      const s = stats.get(f.id);
      return NG.GridLayer.tip(f, [[t("planner.col.households"), String(p.households ?? "—")],
        [t("planner.col.buildings"), String(p.buildings ?? "—")], [t("planner.col.workers"), String(p.workers_count ?? "—")],
        [t("planner.col.open"), s ? String(s.open) : "0"]]);
    },
    onClick: (f) => { if (!editor || !editor.drawing()) selectGrid(f.id, { fromMap: true }); },  // clicks that draw stay
  });
  grids.on("loaded", () => renderTable());
  grids.show();
  const editor = EDITORS.includes(account.role) && NG.GridEditor ? new NG.GridEditor({ grids }) : null;
  const importer = EDITORS.includes(account.role) && NG.ImportPanel ? new NG.ImportPanel({ onSaved: afterImport }) : null;

  /* -- the panel: layer toggles, then the table --------------------------------------------- */
  const checkLabel = (id, label, checked, onchange) => {
    const box = el("input", { type: "checkbox", id, checked, onchange: () => onchange(box.checked) });
    return el("label", { class: "ng-check" }, box, " ", label);
  };
  const layerSelect = el("select", { id: "ng-grid-layer", class: "form-select form-select-sm", "aria-label": t("planner.grid_layer"),
    onchange: async () => { await grids.setLayer(layerSelect.value); renderTable(); } },
  GRID_LAYERS.map((l) => el("option", { value: l }, t(`gridlayer.${l}`))));
  const stationType = el("select", { id: "ng-station-type", class: "form-select form-select-sm", "aria-label": t("planner.station_type"),
    onchange: () => { drawStations(); if (circleToggle.checked) drawCircles(); } }, el("option", { value: "" }, t("filter.all")));
  const circleMinutes = el("select", { id: "ng-circle-minutes", class: "form-select form-select-sm", "aria-label": t("planner.minutes"),
    onchange: () => { if (circleToggle.checked) drawCircles(); } }, [5, 10, 15].map((m) => el("option", { value: m, selected: m === 10 }, fmt("find.circle_minutes", { n: m }))));
  const circleToggle = el("input", { type: "checkbox", id: "ng-circles", onchange: () => (circleToggle.checked ? drawCircles() : map.removeLayer(circleLayer)) });
  const gapType = el("select", { id: "ng-gap-type", class: "form-select form-select-sm", "aria-label": t("planner.station_type"),
    onchange: () => { if (gapToggle.checked) drawGaps(); } });
  const gapMinutes = el("select", { id: "ng-gap-minutes", class: "form-select form-select-sm", "aria-label": t("planner.minutes"),
    onchange: () => { if (gapToggle.checked) drawGaps(); } }, [5, 10, 15].map((m) => el("option", { value: m, selected: m === 10 }, fmt("find.circle_minutes", { n: m }))));
  const gapToggle = el("input", { type: "checkbox", id: "ng-gaps", onchange: () => (gapToggle.checked ? drawGaps() : hideGaps()) });
  const gapSummary = el("div", { class: "ng-coverage-summary", id: "ng-gap-summary", "aria-live": "polite" });
  const buildingLegend = el("div", { class: "ng-legend", id: "ng-building-legend", hidden: true },
    el("span", { class: "ng-muted" }, t("planner.households_legend")),
    HOUSEHOLD_STEPS.map(([n, c], i) => el("span", { class: "ng-legend-item" }, el("i", { class: "ng-swatch", style: { background: c } }),
      i === HOUSEHOLD_STEPS.length - 1 ? `≥${n}` : `${n}–${HOUSEHOLD_STEPS[i + 1][0] - 1}`)));

  const table = el("table", { class: "ng-table", id: "ng-grid-table" });
  body.append(
    el("div", { class: "ng-layers" },
      el("fieldset", {}, el("legend", {}, t("layer.grids")),
        el("div", { class: "ng-row" }, checkLabel("ng-show-grids", t("planner.show"), true, (on) => (on ? grids.show() : grids.hide())),
          layerSelect)),
      el("fieldset", {}, el("legend", {}, t("layer.buildings")),
        checkLabel("ng-buildings", t("planner.buildings_by_households"), false, toggleBuildings), buildingLegend),
      el("fieldset", {}, el("legend", {}, t("layer.stations")),
        el("div", { class: "ng-row" }, checkLabel("ng-stations", t("planner.show"), true, (on) => (on ? stationLayer.addTo(map) : map.removeLayer(stationLayer))),
          stationType),
        el("div", { class: "ng-row" }, el("label", { class: "ng-check" }, circleToggle, " ", t("layer.circles")), circleMinutes)),
      el("fieldset", {}, el("legend", {}, t("layer.coverage_gaps")),
        el("div", { class: "ng-row" }, el("label", { class: "ng-check" }, gapToggle, " ", t("planner.show")), gapType, gapMinutes),
        gapSummary)),
    editor ? editor.node : null,
    importer ? importer.node : null,
    el("h2", {}, t("planner.table")),
    el("div", { class: "ng-table-wrap" }, table),
    el("p", { class: "ng-muted", id: "ng-stats-period" }));

  /* -- buildings shaded by households ------------------------------------------------------- */
  function householdColour(n) {
    let c = HOUSEHOLD_STEPS[0][1];
    for (const [min, colour] of HOUSEHOLD_STEPS) if (n >= min) c = colour;
    return c;
  }
  function buildingStyle(f) {
    return { color: "#7a6a58", weight: 0.6, fillColor: householdColour(f.properties.households || 0), fillOpacity: 0.95,
      className: "ng-building" };
  }
  let buildingsLoaded = false;
  async function toggleBuildings(on) {
    buildingLegend.hidden = !on;
    if (!on) { map.removeLayer(buildingLayer); return; }
    if (!buildingsLoaded) {
      const r = await api("buildings");
      if (!r.ok) { NG.toast(t("error.load"), "error"); return; }
      buildingLayer.addData(NG.geoToMap(r.data));
      buildingsLoaded = true;
    }
    buildingLayer.addTo(map);
  }

  /* -- stations and circles ------------------------------------------------------------------ */
  let stations = [];
  async function loadStations() {
    const [all, typeList] = await Promise.all([api("stations"), api("stations/types", { auth: false })]);
    if (typeList.ok) {
      stationTypes = typeList.data;
      for (const x of stationTypes) {
        stationType.append(el("option", { value: x.type }, name(x)));
        gapType.append(el("option", { value: x.type }, name(x)));
      }
      gapType.value = stationTypes.some((x) => x.type === "elderly_care_centre") ? "elderly_care_centre" : stationTypes[0]?.type;
    }
    stations = all.ok ? all.data.features : [];
    drawStations();
  }
  function drawStations() {
    stationLayer.clearLayers();
    for (const f of stations) {
      if (stationType.value && f.properties.type !== stationType.value) continue;
      const [lon, lat] = f.geometry.coordinates;
      L.marker(toMap(lon, lat), { icon: NG.stationIcon(f.properties.type, { size: 22 }), title: name(f.properties),
        snapIgnore: true })
        .bindTooltip(() => el("div", { class: "ng-tip" }, el("strong", {}, name(f.properties)),
          el("div", { class: "ng-muted" }, name(f.properties, "type")),
          f.properties.capacity ? el("div", {}, fmt("planner.capacity", { n: f.properties.capacity })) : null), { direction: "top" })
        .addTo(stationLayer);
    }
    if (!map.hasLayer(stationLayer) && document.getElementById("ng-stations")?.checked !== false) stationLayer.addTo(map);
  }
  let circleSeq = 0;
  async function drawCircles() {
    const seq = ++circleSeq;
    const minutes = Number(circleMinutes.value);
    const chosen = stations.filter((f) => !stationType.value || f.properties.type === stationType.value);
    const areas = await Promise.all(chosen.map((f) => api(`stations/${f.id}/service-area`, { params: { minutes }, auth: false })));
    if (seq !== circleSeq) return;
    circleLayer.clearLayers();
    const colour = CIRCLE_COLOUR[minutes];
    for (const a of areas) {
      if (!a.ok) continue;
      L.geoJSON(NG.geoToMap(a.data), { interactive: false, snapIgnore: true, style: () => ({ color: colour, weight: 1, fillColor: colour,
        fillOpacity: 0.18, className: `ng-circle ng-circle-${minutes}` }) }).addTo(circleLayer);
    }
    circleLayer.addTo(map);
  }

  /* -- coverage gaps -------------------------------------------------------------------------- */
  let gapSeq = 0;
  async function drawGaps() {
    const seq = ++gapSeq;
    gapSummary.textContent = t("loading");
    const r = await api("coverage", { params: { type: gapType.value, minutes: gapMinutes.value } });
    if (seq !== gapSeq || !gapToggle.checked) return;
    if (!r.ok) { gapSummary.textContent = `${t("error.load")} (${r.data?.detail || r.status})`; return; }
    coverage = r.data;
    gapLayer.clearLayers();
    gapLayer.addData(NG.geoToMap(r.data.uncovered_buildings));
    gapLayer.addTo(map);
    const o = r.data.overall;
    gapSummary.replaceChildren(
      el("div", {}, fmt("planner.coverage", { share: pct(o.households_share), covered: o.households_covered, total: o.households })),
      el("div", { class: o.buildings - o.buildings_covered ? "ng-late" : "ng-ok" },
        fmt("planner.uncovered", { n: o.buildings - o.buildings_covered })));
    renderTable();
  }
  function hideGaps() { gapSeq += 1; coverage = null; map.removeLayer(gapLayer); gapSummary.replaceChildren(); renderTable(); }

  /* -- the table per grid --------------------------------------------------------------------- */
  function pct(x) { return x == null ? "—" : `${Math.round(x * 1000) / 10}%`; }
  function num(x, digits = 1) { return x == null ? "—" : String(Math.round(x * 10 ** digits) / 10 ** digits); }
  function columns() {
    const cov = coverage ? new Map(coverage.grids.map((g) => [g.grid_id, g])) : null;
    const cols = [
      ["code", (f) => f.properties.code, (f) => el("span", {}, name(f.properties), el("div", { class: "ng-muted ng-mono" }, f.properties.code))],
      ["households", (f) => f.properties.households ?? -1, (f) => String(f.properties.households ?? "—")],
      ["buildings", (f) => f.properties.buildings ?? -1, (f) => String(f.properties.buildings ?? "—")],
      ["workers", (f) => f.properties.workers_count ?? -1, (f) => String(f.properties.workers_count ?? "—")],
      ["open", (f) => stats.get(f.id)?.open ?? 0, (f) => String(stats.get(f.id)?.open ?? 0)],
      ["closure", (f) => stats.get(f.id)?.closure_rate ?? -1, (f) => pct(stats.get(f.id)?.closure_rate)],
      ["on_time", (f) => stats.get(f.id)?.on_time_rate ?? -1, (f) => pct(stats.get(f.id)?.on_time_rate)],
      ["response", (f) => stats.get(f.id)?.mean_response_minutes ?? Infinity, (f) => num(stats.get(f.id)?.mean_response_minutes)],
      ["satisfaction", (f) => stats.get(f.id)?.satisfaction_rate ?? -1, (f) => pct(stats.get(f.id)?.satisfaction_rate)],
    ];
    if (cov) cols.push(["coverage", (f) => cov.get(f.id)?.households_share ?? -1, (f) => pct(cov.get(f.id)?.households_share)]);
    return cols;
  }
  function renderTable() {
    const cols = columns();
    const rows = grids.features();
    const col = cols.find((c) => c[0] === sort.key) || cols[0];
    rows.sort((a, b) => { const x = col[1](a), y = col[1](b); return (x < y ? -1 : x > y ? 1 : 0) * sort.dir; });
    const head = el("tr", {}, cols.map(([key]) => el("th", { scope: "col", dataset: { key }, tabindex: 0,
      "aria-sort": sort.key === key ? (sort.dir > 0 ? "ascending" : "descending") : "none",
      title: t(`planner.col.${key}.title`, t(`planner.col.${key}`)),
      onclick: () => { sort = { key, dir: sort.key === key ? -sort.dir : (key === "code" ? 1 : -1) }; renderTable(); },
      onkeydown: (ev) => { if (ev.key === "Enter") ev.currentTarget.click(); } }, t(`planner.col.${key}`))));
    const bodyRows = rows.map((f) => el("tr", { dataset: { id: f.id }, class: f.id === selected ? "ng-active" : "",
      onclick: () => selectGrid(f.id) }, cols.map(([, , cell]) => el("td", {}, cell(f)))));
    NG.fill(table, rows.length ? null : el("caption", { class: "ng-muted", id: "ng-table-empty" }, t("planner.no_grids")),
      el("thead", {}, head), el("tbody", {}, bodyRows));
  }
  function selectGrid(id, { fromMap = false } = {}) {
    selected = Number(id);
    grids.highlight(selected);
    if (!fromMap) grids.fit(selected);
    renderTable();
    const row = table.querySelector(`tr[data-id="${selected}"]`);
    if (row && fromMap) row.scrollIntoView({ block: "nearest" });
    if (editor) editor.select(selected);
  }
  async function loadStats() {
    const r = await api("stats", { params: { group_by: "grid" } });
    if (!r.ok) return;
    stats = new Map((r.data.groups || []).map((g) => [g.grid_id, g]));
    document.getElementById("ng-stats-period").textContent = fmt("planner.period",
      { start: NG.fmtTime(r.data.period.start), end: NG.fmtTime(r.data.period.end) });
    renderTable();
    grids.restyle();
  }

  /* -- live: KPIs follow new and changed requests; edited grids and stations redraw ---------- */
  const refreshStats = NG.debounce(loadStats, 3000);
  const stream = NG.events((topic) => {
    if (topic.startsWith("request.")) refreshStats();
    else if (topic === "grid.changed") reloadGrids();
    else if (topic === "station.changed") { loadStations(); if (circleToggle.checked) drawCircles(); if (gapToggle.checked) drawGaps(); }
  });

  /** Grids changed on the server: redraw, unless the planner has unsaved edits (saving them will
   *  then meet the new version and say so). */
  const reloadGrids = NG.debounce(() => {
    if (editor && (editor.dirty() || editor.busy)) NG.toast(t("edit.changed_elsewhere"), "warn");
    else grids.load();
  }, 300);

  /** An import was saved: what the page shows is drawn again from the API (community outlines,
   *  grids unless the planner has unsaved edits, stations, buildings when loaded, KPIs). */
  async function afterImport(report) {
    const [layers, areas] = await Promise.all([base, api("areas", { params: { level: "community" }, auth: false })]);
    if (areas.ok && areas.data?.type === "FeatureCollection" && layers.communities) {
      layers.communities.clearLayers().addData(NG.geoToMap(areas.data));
      if (editor) editor.communities = areas.data.features.map((f) => ({ id: f.id, geometry: f.geometry }));
    }
    if (editor && (editor.dirty() || editor.busy)) NG.toast(t("edit.changed_elsewhere"), "warn");
    else await grids.load();
    if (report.kind === "stations") {
      const r = await api("stations");
      if (r.ok) { stations = r.data.features; drawStations(); }
    }
    if (report.kind === "buildings" && buildingsLoaded) {
      buildingsLoaded = false;
      buildingLayer.clearLayers();
      if (map.hasLayer(buildingLayer)) await toggleBuildings(true);
    }
    loadStats();
  }

  window.NGPlanner = { grids, editor, importer, stream, selectGrid, get stats() { return stats; }, get coverage() { return coverage; } };
  renderTable();
  const baseLayers = await base;
  for (const layer of [baseLayers.streets, baseLayers.streetCasing, baseLayers.buildings]) {
    if (layer) layer.eachLayer((l) => { l.options.snapIgnore = true; });
  }
  if (editor) editor.communities = baseLayers.communities.getLayers().map((l) => ({ id: l.feature.id,
    geometry: l.feature.geometry }));
  await Promise.all([grids.load(), loadStations(), loadStats()]);
  const b = grids.group.getBounds();
  if (b.isValid()) NG.fitTo(b);
  window.NGPlanner.ready = true;
})();
