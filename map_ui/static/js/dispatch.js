/* neighborgrid: the dispatcher's live map (/map/dispatch).
 *
 * Grids coloured by open load or worst warning; requests as coloured markers (clustered when
 * dense) with SLA countdowns, filters and a heatmap; on-duty volunteers with the age of their position
 * (greyed when too old to count); overdue key households by building and open wishes
 * (community-layers.js); live over SSE (new and
 * changed requests appear, move and recolour without a reload; after a dropped connection the
 * stream catches up from the last event id). Clicking a request shows its details, audit trail and
 * duplicate suggestions, and its actions are real API calls sent with the request's version.
 */
(async function () {
  "use strict";
  const { map, t, fmt, el, api, toMap, name, clock, WARNINGS } = NG;

  const ACTIVE = ["reported", "accepted", "dispatched", "on_site", "resolved", "verified", "reopened"];
  const OPEN = new Set(["reported", "accepted", "dispatched", "on_site", "reopened"]);  // shown as open work
  const LEVELS = ["grid", "compound", "community", "township", "department"];
  const CHANNELS = ["wechat", "mini_program", "phone", "walk_in", "patrol", "web", "open311"];
  const QUEUE_PAGE = 50;  // cases per queue page (GET /requests/queue, limit <= 200)
  const SORTS = ["urgency", "due", "created"];
  const SAFE = /^[a-z_]+$/;
  const rank = (w) => Math.max(0, WARNINGS.indexOf(w));

  const account = await NG.requireLogin(NG.config.roles);
  const body = NG.shell({ account });

  /* -- state ------------------------------------------------------------------------------- */
  const requests = new Map();          // id -> {data, marker, key, breached, shown}
  const categories = new Map();        // code -> kind (with group)
  const volunteers = new Map();        // id -> GeoJSON feature
  const volunteerMarkers = new Map();  // id -> its marker (with the position's age)
  const filters = { status: new Set(ACTIVE), warning: new Set(WARNINGS), category: "", channel: "", level: "" };
  let gridMode = "load";
  let selectedId = null;
  let detail = null;                   // the selected request as GET /requests/{id} returned it
  let listLoaded = false;

  /* -- layers ------------------------------------------------------------------------------ */
  const clusters = L.markerClusterGroup({
    maxClusterRadius: 36, disableClusteringAtZoom: 18, showCoverageOnHover: false, spiderfyOnMaxZoom: true,
    chunkedLoading: false,  // markers are on the map when addLayers returns (a few thousand take ~0.1 s)
    iconCreateFunction(cluster) {
      let worst = 0, breached = false;
      for (const m of cluster.getAllChildMarkers()) {
        const r = requests.get(m.ngId);
        if (!r) continue;
        worst = Math.max(worst, rank(r.data.warning_level));
        breached = breached || r.breached.length > 0;
      }
      return L.divIcon({ html: `<div><span>${cluster.getChildCount()}</span></div>`, iconSize: L.point(40, 40),
        className: `marker-cluster ng-cluster ng-cluster-${WARNINGS[worst]}${breached ? " ng-breached" : ""}` });
    },
  }).addTo(map);
  const volunteerLayer = L.layerGroup();
  let heat = null;
  const community = new NG.CommunityLayers();  // overdue key households (building level), open wishes

  const grids = new NG.GridLayer({
    style: gridStyle,
    tooltip: (f) => {
      const s = gridStats().get(f.id) || { open: 0, worst: -1 };
      const workers = (f.properties.workers || []).map((w) => name(w)).join("、") || "—";
      return NG.GridLayer.tip(f, [[t("grid.workers"), workers], [t("grid.open"), String(s.open)],
        [t("grid.worst"), s.worst >= 0 ? t(`warning.${WARNINGS[s.worst]}`) : "—"]]);
    },
  });
  grids.show();

  /* -- the panel --------------------------------------------------------------------------- */
  const live = el("div", { class: "ng-live", id: "ng-live", dataset: { state: "connecting" } },
    el("span", { class: "ng-dot", "aria-hidden": "true" }), el("span", { class: "ng-live-text" }, t("live.connecting")));
  const summary = el("div", { class: "ng-summary", id: "ng-summary" });
  const modeButtons = ["load", "warning"].map((mode) => el("button", { type: "button",
    class: "btn btn-sm btn-outline-secondary", dataset: { mode }, "aria-pressed": String(mode === gridMode),
    onclick: () => { gridMode = mode; modeButtons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.mode === mode))); grids.restyle(); renderLegend(); } },
  t(`grid.colour.${mode}`)));
  const heatToggle = el("input", { type: "checkbox", id: "ng-heat", onchange: () => toggleHeat(heatToggle.checked) });
  // Volunteers show from street level up (zoom 16): zoomed out, 70 icons would bury the requests.
  const VOLUNTEER_ZOOM = 16;
  const showVolunteers = () => {
    const on = volToggle.checked && map.getZoom() >= VOLUNTEER_ZOOM;
    if (on && !map.hasLayer(volunteerLayer)) volunteerLayer.addTo(map);
    if (!on && map.hasLayer(volunteerLayer)) map.removeLayer(volunteerLayer);
  };
  const volToggle = el("input", { type: "checkbox", id: "ng-volunteers", checked: true, onchange: showVolunteers });
  map.on("zoomend", showVolunteers);
  const legend = el("div", { class: "ng-legend", id: "ng-legend" });

  const chip = (group, value, label, extraClass = "") => el("button", { type: "button",
    class: `ng-chip ${extraClass}`, dataset: { filter: group, value }, "aria-pressed": "true",
    onclick: (ev) => {
      const set = filters[group];
      if (set.has(value)) set.delete(value); else set.add(value);
      ev.currentTarget.setAttribute("aria-pressed", String(set.has(value)));
      applyFilters();
    } }, label);
  const filterSelect = (id, label, options, key) => {
    const s = el("select", { id, class: "form-select form-select-sm", "aria-label": label,
      onchange: () => { filters[key] = s.value; applyFilters(); } },
    el("option", { value: "" }, `${label}: ${t("filter.all")}`), options);
    return s;
  };
  const categorySelect = filterSelect("ng-filter-category", t("filter.category"), [], "category");
  const filterBox = el("details", { class: "ng-filters", id: "ng-filters", open: window.innerWidth > 600 },
    el("summary", {}, el("i", { class: "fa-solid fa-filter", "aria-hidden": "true" }), " ", t("filter.title")),
    el("div", { class: "ng-chips", role: "group", "aria-label": t("filter.status") },
      ACTIVE.map((s) => chip("status", s, t(`status.${s}`)))),
    el("div", { class: "ng-chips", role: "group", "aria-label": t("filter.warning") },
      WARNINGS.map((w) => chip("warning", w, t(`warning.${w}`), `ng-chip-${w}`))),
    el("div", { class: "ng-grid2" }, categorySelect,
      filterSelect("ng-filter-channel", t("filter.channel"), CHANNELS.map((c) => el("option", { value: c }, t(`channel.${c}`))), "channel"),
      filterSelect("ng-filter-level", t("filter.level"), LEVELS.map((l) => el("option", { value: l }, t(`level.${l}`))), "level")));
  /* The triage queue (GET /requests/queue): first on the panel, counts per level over every match,
   * a sort, a search (id, tracking code, phone, address) and pages through all matches. */
  const queue = el("ol", { class: "ng-queue", id: "ng-queue", "aria-label": t("queue.title") });
  const queueState = { sort: "urgency", q: "", offset: 0, total: null, next: null, loaded: false, seq: 0 };
  const queueCounts = el("div", { class: "ng-queue-counts", id: "ng-queue-counts" });
  const sortSelect = el("select", { id: "ng-queue-sort", class: "form-select form-select-sm", "aria-label": t("queue.sort"),
    onchange: () => { queueState.sort = sortSelect.value; queueState.offset = 0; loadQueue(); } },
  SORTS.map((x) => el("option", { value: x }, `${t("queue.sort")}: ${t(`queue.sort.${x}`)}`)));
  const searchBox = el("input", { type: "search", id: "ng-queue-q", class: "form-control form-control-sm", maxlength: 200,
    placeholder: t("queue.search"), "aria-label": t("queue.search") });
  const searchForm = el("form", { class: "ng-queue-search", id: "ng-queue-search", role: "search" }, searchBox,
    el("button", { type: "submit", class: "btn btn-sm btn-outline-secondary", id: "ng-queue-go", "aria-label": t("queue.search") },
      el("i", { class: "fa-solid fa-magnifying-glass", "aria-hidden": "true" })));
  searchForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    queueState.q = searchBox.value.trim();
    queueState.offset = 0;
    loadQueue();
  });
  searchBox.addEventListener("search", () => { if (!searchBox.value && queueState.q) searchForm.requestSubmit(); });
  const pageText = el("span", { class: "ng-muted ng-small", id: "ng-queue-page" });
  const prevButton = el("button", { type: "button", class: "btn btn-sm btn-light", id: "ng-queue-prev", disabled: true,
    onclick: () => { queueState.offset = Math.max(0, queueState.offset - QUEUE_PAGE); loadQueue(); } }, t("queue.prev"));
  const nextButton = el("button", { type: "button", class: "btn btn-sm btn-light", id: "ng-queue-next", disabled: true,
    onclick: () => { if (queueState.next != null) { queueState.offset = queueState.next; loadQueue(); } } }, t("queue.next"));
  const queueBox = el("section", { class: "ng-queue-box", id: "ng-queue-box", "aria-label": t("queue.title") },
    el("div", { class: "ng-row ng-between" }, el("h2", {}, t("queue.title")), live),
    queueCounts, el("div", { class: "ng-grid2" }, sortSelect, searchForm), queue,
    el("div", { class: "ng-row ng-between ng-queue-pager" }, prevButton, pageText, nextButton));
  const listView = el("section", { id: "ng-list-view" },
    queueBox,
    el("div", { class: "ng-row ng-between" }, summary),
    el("div", { class: "ng-row" }, el("span", { class: "ng-muted" }, t("grid.colour")),
      el("div", { class: "btn-group", role: "group" }, modeButtons)),
    el("div", { class: "ng-row" },
      el("label", { class: "ng-check" }, heatToggle, " ", t("layer.heatmap")),
      el("label", { class: "ng-check" }, volToggle, " ", t("layer.volunteers"))),
    community.controls, legend, community.legend, filterBox);
  const detailView = el("section", { id: "ng-detail", class: "ng-detail", hidden: true });
  body.append(listView, detailView);

  /* -- deadlines against the service's clock ----------------------------------------------- */
  /** The response and on-site deadlines whose clock runs, as the service says (`running_deadlines`
   *  on list items, cases and events): [kind, due]. */
  const runs = (d, kind) => (d.running_deadlines || []).includes(kind);
  function running(d) {
    return ["response", "onsite"].filter((kind) => runs(d, kind) && d[`due_${kind}_at`])
      .map((kind) => [kind, d[`due_${kind}_at`]]);
  }
  /** The running deadlines that have passed: by the service's verdict (list items and events carry
   *  `breached`) or by the clock (between events). */
  function breachedOf(d) {
    const now = clock.now();
    const told = d.breached || [];
    return running(d).filter(([kind, due]) => told.includes(kind) || Date.parse(due) <= now).map(([k]) => k);
  }
  function countdown(kind, due) {
    return el("span", { class: "ng-countdown", dataset: { due, kind } }, "");
  }
  function paintCountdowns(root = document) {
    const now = clock.now();
    root.querySelectorAll(".ng-countdown").forEach((node) => {
      const left = (Date.parse(node.dataset.due) - now) / 1000;
      const late = left <= 0;
      node.textContent = `${t(`deadline.${node.dataset.kind}`)} ${late ? t("deadline.overdue") : ""}${NG.fmtCountdown(left)}`;
      node.classList.toggle("ng-late", late);
      node.classList.toggle("ng-breached", late);
    });
  }

  /* -- markers ----------------------------------------------------------------------------- */
  function icon(r) {
    const d = r.data;
    const w = SAFE.test(d.warning_level) ? d.warning_level : "blue";
    const s = SAFE.test(d.status) ? d.status : "reported";
    const cls = ["ng-req", `ng-${w}`, r.breached.length ? "ng-breached" : "", d.id === selectedId ? "ng-selected" : "",
      OPEN.has(s) ? "" : "ng-done"].filter(Boolean).join(" ");
    return L.divIcon({ className: "ng-req-icon", iconSize: [26, 26], iconAnchor: [13, 13],
      html: `<span class="${cls}" data-id="${Number(d.id)}" data-warning="${w}" data-status="${s}"></span>` });
  }
  function refreshMarker(r) {
    r.breached = breachedOf(r.data);
    const key = `${r.data.warning_level}|${r.data.status}|${r.breached.join(",")}|${r.data.id === selectedId}`;
    if (key === r.key) return false;
    r.key = key;
    r.marker.setIcon(icon(r));
    return true;
  }
  function matches(d) {
    return filters.status.has(d.status) && filters.warning.has(d.warning_level)
      && (!filters.category || d.category === filters.category) && (!filters.channel || d.channel === filters.channel)
      && (!filters.level || d.level === filters.level);
  }
  function placeMarkers(list) {
    const add = [], remove = [];
    for (const r of list) {
      const want = matches(r.data);
      if (want && !r.shown) add.push(r.marker);
      if (!want && r.shown) remove.push(r.marker);
      r.shown = want;
    }
    if (remove.length) clusters.removeLayers(remove);
    if (add.length) clusters.addLayers(add);
  }
  function applyFilters() { placeMarkers([...requests.values()]); render(); }

  /** Add or update a request from the list or an event; stale versions are ignored. With
   *  `place: false` the marker is only created (the caller places many at once). */
  function upsert(d, { place = true } = {}) {
    const cur = requests.get(d.id);
    if (cur && d.version != null && cur.data.version != null && d.version < cur.data.version) return;
    if (!ACTIVE.includes(d.status)) { if (cur) drop(d.id); return; }
    if (cur) {
      Object.assign(cur.data, d);
      cur.marker.setLatLng(toMap(d.lon, d.lat));
      const changed = refreshMarker(cur);
      placeMarkers([cur]);
      if (changed && cur.shown) clusters.refreshClusters(cur.marker);
    } else {
      const r = { data: { ...d }, breached: [], key: null, shown: false };
      r.marker = L.marker(toMap(d.lon, d.lat), { keyboard: true, title: `#${d.id}`, riseOnHover: true });
      r.marker.ngId = d.id;
      r.marker.on("click", () => select(d.id));
      refreshMarker(r);
      requests.set(d.id, r);
      if (place) placeMarkers([r]);
      if (listLoaded) requestAnimationFrame(() => requestAnimationFrame(() => noteDrawn(d.id)));  // painted
    }
  }
  function drop(id) {
    const r = requests.get(id);
    if (!r) return;
    if (r.shown) clusters.removeLayer(r.marker);
    requests.delete(id);
  }

  /** When live markers reached the screen (epoch ms; the latency benchmark reads it). */
  const drawnAt = new Map();
  function noteDrawn(id) {
    drawnAt.set(id, performance.timeOrigin + performance.now());
    if (drawnAt.size > 500) drawnAt.delete(drawnAt.keys().next().value);
  }

  /* -- grids: open load or worst warning --------------------------------------------------- */
  let statsCache = null;
  function gridStats() {
    if (statsCache) return statsCache;
    statsCache = new Map();
    for (const r of requests.values()) {
      if (!r.shown || !OPEN.has(r.data.status) || r.data.grid_id == null) continue;
      const s = statsCache.get(r.data.grid_id) || { open: 0, worst: -1 };
      s.open += 1;
      s.worst = Math.max(s.worst, rank(r.data.warning_level));
      statsCache.set(r.data.grid_id, s);
    }
    return statsCache;
  }
  const LOAD_STEPS = [[0, "#eef3f8", 0.15], [1, "#c6dbef", 0.4], [2, "#6baed6", 0.45], [4, "#2171b5", 0.45],
    [7, "#08306b", 0.5]];
  const WARN_FILL = { blue: "#1e6fd9", yellow: "#e6b800", orange: "#f07c00", red: "#d62828" };
  function gridStyle(f) {
    const s = gridStats().get(f.id) || { open: 0, worst: -1 };
    if (gridMode === "warning") {
      if (s.worst < 0) return { fillColor: "#ffffff", fillOpacity: 0.05 };
      return { fillColor: WARN_FILL[WARNINGS[s.worst]], fillOpacity: 0.35 };
    }
    let step = LOAD_STEPS[0];
    for (const x of LOAD_STEPS) if (s.open >= x[0]) step = x;
    return { fillColor: step[1], fillOpacity: step[2] };
  }
  function renderLegend() {
    const items = gridMode === "warning"
      ? WARNINGS.map((w) => [WARN_FILL[w], t(`warning.${w}`)])
      : LOAD_STEPS.map(([n, c], i) => [c, i === LOAD_STEPS.length - 1 ? `≥${n}` : (LOAD_STEPS[i + 1][0] - 1 > n
        ? `${n}–${LOAD_STEPS[i + 1][0] - 1}` : String(n))]);
    legend.replaceChildren(el("span", { class: "ng-muted" }, t(`grid.legend.${gridMode}`)),
      ...items.map(([c, label]) => el("span", { class: "ng-legend-item" },
        el("i", { class: "ng-swatch", style: { background: c } }), label)));
  }

  /* -- heatmap ------------------------------------------------------------------------------ */
  function heatPoints() {
    const out = [];
    for (const r of requests.values()) {
      if (!r.shown) continue;
      const p = toMap(r.data.lon, r.data.lat);
      out.push([p.lat, p.lng, 0.4 + 0.2 * rank(r.data.warning_level)]);
    }
    return out;
  }
  function toggleHeat(on) {
    if (on) {
      if (!heat) heat = L.heatLayer([], { radius: 28, blur: 22, maxZoom: 17, minOpacity: 0.25 });
      heat.setLatLngs(heatPoints());
      heat.addTo(map);
    } else if (heat) {
      map.removeLayer(heat);
    }
  }

  /* -- the queue and summary: rendered at most once a frame -------------------------------- */
  let frame = null;
  function render() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = null;
      statsCache = null;
      grids.restyle();
      if (heat && map.hasLayer(heat)) heat.setLatLngs(heatPoints());
      renderQueue();
    });
  }
  function catName(code) { const c = categories.get(code); return c ? name(c) : code; }
  function renderQueue() {
    const shown = [...requests.values()].filter((r) => r.shown);
    const open = shown.filter((r) => OPEN.has(r.data.status));
    const late = shown.filter((r) => r.breached.length);
    summary.replaceChildren(
      el("span", { class: "ng-stat", id: "ng-count-open" }, fmt("summary.open", { n: open.length })),
      el("span", { class: `ng-stat ${late.length ? "ng-stat-late" : ""}`, id: "ng-count-late" },
        fmt("summary.late", { n: late.length })));
    queue.querySelectorAll(".ng-queue-item").forEach((b) => b.classList.toggle("ng-active", Number(b.dataset.id) === selectedId));
  }

  /** The deadline a queue item is ranked against (the service's `due_at`): [kind, due ISO]. */
  function queueDue(d, now) {
    const due = running(d);
    if (due.length) return due.reduce((a, b) => (Date.parse(b[1]) < Date.parse(a[1]) ? b : a));
    if (typeof d.overdue_minutes === "number") return ["resolve", new Date(now - d.overdue_minutes * 60000).toISOString()];
    return null;
  }
  /** One page of the queue as the service orders it; counts are over every match. */
  async function loadQueue() {
    const seq = ++queueState.seq;
    const { sort, q, offset } = queueState;
    const sent = Date.now();
    const r = await api("requests/queue", { params: { sort, q: q || undefined, limit: QUEUE_PAGE, offset } });
    if (seq !== queueState.seq) return;
    if (!r.ok) {
      queue.replaceChildren(el("li", { class: "ng-error ng-empty" }, t("error.load")));
      return;
    }
    const page = r.data;
    clock.sync(page.now, (sent + Date.now()) / 2);
    if (!page.items.length && offset > 0 && page.total > 0) {  // the page emptied under us: back to the last one
      queueState.offset = Math.max(0, Math.floor((page.total - 1) / QUEUE_PAGE) * QUEUE_PAGE);
      loadQueue();
      return;
    }
    const now = Date.parse(page.now);
    queueState.total = page.total;
    queueState.next = page.next_offset;
    const counts = page.counts || {};
    queueCounts.replaceChildren(...[...WARNINGS.slice().reverse(), "overdue", "unassigned"].map((k) =>
      el("span", { class: `ng-qcount ng-qcount-${SAFE.test(k) ? k : "x"}`, id: `ng-qcount-${k}`, dataset: { n: Number(counts[k] || 0) } },
        WARNINGS.includes(k) ? el("span", { class: `ng-dot-w ng-${k}`, "aria-hidden": "true" }) : null,
        `${WARNINGS.includes(k) ? t(`warning.${k}`) : t(`queue.count.${k}`)} `, el("strong", {}, String(Number(counts[k] || 0))))));
    const items = page.items.map((d) => {
      const due = queueDue(d, now);
      const w = SAFE.test(d.warning_level) ? d.warning_level : "blue";
      const late = typeof d.overdue_minutes === "number" && d.overdue_minutes >= 0;
      return el("li", {},
        el("button", { type: "button", class: `ng-queue-item ${d.id === selectedId ? "ng-active" : ""}`,
          dataset: { id: d.id, warning: w, overdueMinutes: d.overdue_minutes }, onclick: () => select(d.id, { reveal: true }) },
        el("span", { class: `ng-dot-w ng-${w} ${late ? "ng-breached" : ""}`, title: t(`warning.${w}`) }),
        el("span", { class: "ng-queue-main" },
          el("span", { class: "ng-queue-title" }, `#${d.id} ${name(d, "category_name") || catName(d.category)}`),
          el("span", { class: "ng-muted" }, t(`warning.${w}`), " · ", t(`status.${d.status}`, d.status), " · ", t(`level.${d.level}`, d.level),
            d.grid_id == null ? ` · ${t("queue.count.unassigned")}` : "")),
        el("span", { class: "ng-queue-due" }, due ? countdown(due[0], due[1]) : "")));
    });
    queue.replaceChildren(...(items.length ? items : [el("li", { class: "ng-muted ng-empty" }, t("queue.empty"))]));
    pageText.textContent = page.total
      ? fmt("queue.page", { from: offset + 1, to: offset + page.items.length, total: page.total }) : "";
    prevButton.disabled = offset <= 0;
    nextButton.disabled = page.next_offset == null;
    queue.dataset.offset = String(offset);
    queue.dataset.total = String(page.total);
    queueState.loaded = true;
    paintCountdowns(queue);
  }
  const refreshQueue = NG.debounce(loadQueue, 300);

  /* -- loading ------------------------------------------------------------------------------ */
  async function loadRequests() {
    let offset = 0, total = Infinity;
    const items = [];
    while (offset < total) {
      const sent = Date.now();
      const r = await api("requests", { params: { status: ACTIVE, limit: 5000, offset } });
      if (!r.ok) { NG.toast(t("error.load"), "error"); return; }
      clock.sync(r.data.now, (sent + Date.now()) / 2);
      items.push(...r.data.items);
      total = r.data.total;
      offset += r.data.items.length;
      if (!r.data.items.length) break;
    }
    performance.mark("ng-list-received");
    items.forEach((d) => upsert(d, { place: false }));
    placeMarkers([...requests.values()]);  // one addLayers call: MarkerCluster clusters them in one pass
    listLoaded = true;
    render();
    requestAnimationFrame(() => requestAnimationFrame(() => {
      performance.mark("ng-requests-drawn");
      window.NGDispatch.ready = true;
    }));
  }
  async function loadCategories() {
    const r = await api("categories", { auth: false });
    if (!r.ok) return;
    for (const g of r.data) {
      const group = el("optgroup", { label: name(g) });
      for (const k of g.kinds) {
        categories.set(k.code, { ...k, group: g.group });
        group.append(el("option", { value: k.code }, name(k)));
      }
      categorySelect.append(group);
    }
    render();
  }
  async function loadVolunteers() {
    const r = await api("volunteers", { params: { on_duty: true } });
    if (!r.ok) return;
    volunteerLayer.clearLayers();
    volunteers.clear();
    volunteerMarkers.clear();
    for (const f of r.data.features) {
      volunteers.set(f.id, f);
      if (!f.geometry) continue;
      const [lon, lat] = f.geometry.coordinates;
      const p = f.properties;
      // The service says how old the position is and whether it still counts for the nearest-volunteer
      // choice (NEIGHBORGRID_VOLUNTEER_POSITION_MAX_AGE_MINUTES): stale ones are greyed.
      const stale = p.position_fresh === false;
      const age = p.position_age_minutes;
      const marker = L.marker(toMap(lon, lat), { keyboard: false, zIndexOffset: -500,
        icon: L.divIcon({ className: "ng-vol-icon", iconSize: [16, 16], iconAnchor: [8, 8],
          html: `<span class="ng-vol${stale ? " ng-stale" : ""}" data-id="${Number(f.id)}" data-age-minutes="${age == null ? "" : Number(age)}">`
            + '<i class="fa-solid fa-person" aria-hidden="true"></i></span>' }) })
        .bindTooltip(() => el("div", { class: "ng-tip" }, el("strong", {}, name(p)),
          el("div", {}, name(p, "team")), el("div", { class: "ng-muted" }, (p.skills || []).map((s) => t(`skill.${s}`, s)).join("、")),
          el("div", { class: `ng-vol-age${stale ? " ng-late" : ""}` }, `${t("volunteer.position")}: ${ageText(age)}`,
            stale ? ` · ${t("volunteer.stale")}` : "")), { direction: "top" })
        .addTo(volunteerLayer);
      volunteerMarkers.set(f.id, marker);
    }
  }
  /** "12 min ago" for an age in minutes as the service computed it. */
  function ageText(minutes) {
    if (minutes == null) return t("never");
    if (minutes < 1) return t("ago.now");
    if (minutes < 60) return fmt("ago.minutes", { n: Math.floor(minutes) });
    if (minutes < 1440) return fmt("ago.hours", { n: Math.floor(minutes / 60) });
    return fmt("ago.days", { n: Math.floor(minutes / 1440) });
  }
  async function syncClock() {
    const sent = Date.now();
    const r = await api("requests", { params: { limit: 1 } });
    if (r.ok) clock.sync(r.data.now, (sent + Date.now()) / 2);
  }

  /* -- live -------------------------------------------------------------------------------- */
  const resync = NG.debounce(syncClock, 500);
  function onEvent(topic, payload) {
    if (topic === "request.created" || topic === "request.updated") {
      if (payload.action === "breach") resync();  // the service's clock says a deadline passed
      upsert(payload);
      render();
      refreshQueue();  // the current page of the queue, re-read
      if (payload.id === selectedId) refreshDetail();
    } else if (topic === "grid.changed") {
      grids.load();
    } else {
      community.onEvent(topic, payload);
    }
  }
  function onState(state) {
    live.dataset.state = state;
    live.querySelector(".ng-live-text").textContent = t(`live.${state}`);
  }
  // The list is read once the stream is open, so nothing falls between the two; a reconnection
  // catches up from the last event id, or reloads when no event had arrived before it dropped.
  const stream = NG.events(onEvent, { onState, topics: NG.CommunityLayers.TOPICS, onOpen: ({ first, since }) => {
    if (first) performance.mark("ng-stream-open");
    if (first || since === null) { loadRequests(); loadQueue(); }
    if (!first && since === null) community.load();
  } });

  /* -- details and actions ----------------------------------------------------------------- */
  async function select(id, { reveal = false } = {}) {
    const previous = selectedId;
    selectedId = Number(id);
    for (const x of [previous, selectedId]) { const r = requests.get(x); if (r) refreshMarker(r); }
    const r = requests.get(selectedId);
    if (r && reveal && r.shown) clusters.zoomToShowLayer(r.marker);
    listView.hidden = true;
    detailView.hidden = false;
    NG.panel.classList.remove("ng-collapsed");
    if (detail?.id !== selectedId) detailView.replaceChildren(el("p", { class: "ng-muted" }, t("loading")));
    await refreshDetail();
  }
  function back() {
    const r = requests.get(selectedId);
    selectedId = null;
    detail = null;
    if (r) refreshMarker(r);
    detailView.hidden = true;
    listView.hidden = false;
    render();
  }
  let detailSeq = 0;
  async function refreshDetail() {
    if (selectedId === null) return;
    const seq = ++detailSeq;
    const r = await api(`requests/${selectedId}`);
    if (seq !== detailSeq || selectedId === null) return;
    if (!r.ok) { detailView.replaceChildren(backButton(), el("p", { class: "ng-error" }, t("error.load"))); return; }
    detail = r.data;
    upsert(detail);
    renderDetail(detail);
  }
  const backButton = () => el("button", { type: "button", class: "btn btn-light ng-back", id: "ng-back", onclick: back },
    el("i", { class: "fa-solid fa-arrow-left", "aria-hidden": "true" }), " ", t("detail.back"));

  function deadlineRow(kind, due, doneAt, runningNow) {
    let state;
    if (doneAt) state = el("span", { class: "ng-ok" }, fmt("deadline.met", { time: NG.fmtTime(doneAt) }));
    else if (runningNow && due) state = countdown(kind, due);
    else state = el("span", { class: "ng-muted" }, due ? NG.fmtTime(due) : "—");
    return el("tr", { dataset: { deadline: kind } }, el("th", {}, t(`deadline.${kind}.title`)),
      el("td", {}, due ? NG.fmtTime(due) : "—"), el("td", {}, state));
  }

  function renderDetail(d) {
    const vol = d.volunteer_id != null ? volunteers.get(d.volunteer_id) : null;
    const grid = d.grid_id != null ? grids.get(d.grid_id) : null;
    const facts = [
      [t("detail.reporter"), d.reporter_name || t("detail.anonymous"),
        d.reporter_phone ? el("a", { href: `tel:${d.reporter_phone}`, class: "ng-phone", id: "ng-reporter-phone" }, ` ${d.reporter_phone}`) : null],
      [t("detail.channel"), t(`channel.${d.channel}`)],
      [t("detail.reported"), NG.fmtTime(d.reported_at)],
      [t("detail.grid"), grid ? `${name(grid.feature.properties)} (${grid.feature.properties.code})`
        : (d.outside_coverage || d.grid_id == null ? t("detail.unassigned") : `#${d.grid_id}`)],
      [t("detail.volunteer"), vol ? name(vol.properties) : (d.volunteer_id != null ? `#${d.volunteer_id}` : "—"),
        d.volunteer_walk_m != null ? el("span", { class: "ng-muted" }, ` · ${fmt("walk.metres", { m: Math.round(d.volunteer_walk_m) })}`) : null],
      d.department_id != null ? [t("detail.department"), `#${d.department_id}`,
        d.department_status ? el("span", { class: "ng-muted" }, ` · ${t(`department.${d.department_status}`)}`) : null] : null,
      d.households_affected ? [t("detail.households"), String(d.households_affected)] : null,
    ].filter(Boolean);
    const actions = el("div", { class: "ng-actions", id: "ng-actions" }, actionButtons(d));
    const form = el("div", { id: "ng-action-form" });
    const dups = (d.duplicates || []).map((x) => el("li", {},
      el("span", {}, `#${x.request_id} `, el("span", { class: "ng-muted" }, t(`status.${x.status}`, x.status), " · ",
        fmt("walk.metres", { m: Math.round(x.distance_m) }), " · ", fmt("duplicate.hours", { h: Math.round(x.hours_apart * 10) / 10 }))),
      el("span", { class: "ng-row-tight" },
        el("button", { type: "button", class: "btn btn-sm btn-light", onclick: () => select(x.request_id, { reveal: true }) }, t("duplicate.view")),
        allowed(d, "merge") && !["merged", "rejected"].includes(x.status)
          ? el("button", { type: "button", class: "btn btn-sm btn-outline-secondary ng-merge", dataset: { target: x.request_id },
            onclick: () => act(d, "merge", { duplicate_of: x.request_id }) }, t("action.merge")) : null)));
    const trail = (d.trail || []).slice().reverse().map((e) => el("li", {},
      el("span", { class: "ng-trail-time" }, NG.fmtTime(e.at)),
      el("span", { class: "ng-trail-what" }, el("strong", {}, t(`action.${e.action}`, e.action)),
        e.from && e.to && e.from !== e.to ? el("span", { class: "ng-muted" }, ` ${t(`status.${e.from}`, e.from)} → ${t(`status.${e.to}`, e.to)}`) : null,
        el("span", { class: "ng-muted" }, ` · ${["system", "reporter"].includes(e.actor) ? t(`actor.${e.actor}`) : (e.actor || "")}`),
        e.note ? el("div", { class: "ng-trail-note" }, e.note) : null)));
    NG.fill(detailView,
      el("div", { class: "ng-row ng-between" }, backButton(), el("span", { class: "ng-muted ng-mono" }, d.tracking_code)),
      el("h2", { class: "ng-detail-title" }, `#${d.id} ${name(d, "category_name") || catName(d.category)}`),
      el("div", { class: "ng-row" }, NG.badge("warning", d.warning_level), NG.badge("status", d.status),
        NG.badge("level", d.level), d.breached?.length ? el("span", { class: "ng-badge ng-badge-late ng-breached" }, t("deadline.breached")) : null),
      el("p", { class: "ng-description" }, d.description),
      el("dl", { class: "ng-facts" }, facts.map(([k, ...v]) => [el("dt", {}, k), el("dd", {}, v)])),
      el("table", { class: "ng-deadlines" },
        deadlineRow("response", d.due_response_at, d.accepted_at, runs(d, "response")),
        deadlineRow("onsite", d.due_onsite_at, d.on_site_at, runs(d, "onsite")),
        deadlineRow("resolve", d.due_resolve_at, d.resolved_at, false)),
      actions, form,
      dups.length ? [el("h3", {}, t("detail.duplicates")), el("ul", { class: "ng-dups", id: "ng-duplicates" }, dups)] : null,
      el("h3", {}, t("detail.trail")), el("ol", { class: "ng-trail", id: "ng-trail" }, trail));
    paintCountdowns(detailView);
  }

  /** Whether the service offers this caller `action` on the case now (`allowed_actions`,
   *  service/requests/policy.py): the page keeps no transition table of its own. */
  const allowed = (d, action) => (d.allowed_actions || []).includes(action);
  /** The actions this page offers, in its order, with their look and what a click does. */
  const BUTTONS = [
    ["accept", "btn-primary", (d) => act(d, "accept")],
    ["dispatch", "btn-primary", (d) => showDispatch(d)],
    ["verify", "btn-success", (d) => act(d, "verify")],
    ["redispatch", "btn-outline-secondary", (d) => reasonForm(d, "redispatch")],
    ["close", "btn-success", (d) => act(d, "close")],
    ["escalate", "btn-warning", (d) => reasonForm(d, "escalate")],
    ["reject", "btn-outline-danger", (d) => reasonForm(d, "reject")],
  ];
  function actionButtons(d) {
    return BUTTONS.filter(([action]) => allowed(d, action)).map(([action, cls, onclick]) =>
      el("button", { type: "button", class: `btn ${cls}`, dataset: { action }, id: `ng-act-${action}`,
        onclick: () => onclick(d) }, t(`action.${action}`)));
  }

  function formBox(...children) {
    const box = document.getElementById("ng-action-form");
    box.replaceChildren(el("div", { class: "ng-form-box" }, children));
    box.scrollIntoView({ block: "nearest" });
    return box;
  }
  function reasonForm(d, action) {
    const reason = el("textarea", { id: "ng-reason", rows: 3, maxlength: 2000, required: true, class: "form-control" });
    let level = null;
    if (action === "escalate") {
      const higher = LEVELS.slice(LEVELS.indexOf(d.level) + 1);
      level = el("select", { id: "ng-escalate-level", class: "form-select" },
        higher.map((l) => el("option", { value: l }, t(`level.${l}`))));
    }
    const form = el("form", { id: `ng-form-${action}` },
      el("label", { for: "ng-reason" }, t(`form.${action}.reason`)), reason,
      level ? [el("label", { for: "ng-escalate-level" }, t("form.escalate.level")), level] : null,
      el("div", { class: "ng-row" },
        el("button", { type: "submit", class: "btn btn-primary", id: "ng-confirm" }, t(`action.${action}`)),
        el("button", { type: "button", class: "btn btn-light", onclick: () => formBox().replaceChildren() }, t("form.cancel"))));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (!reason.value.trim()) { reason.focus(); return; }
      act(d, action, { reason: reason.value.trim(), ...(level ? { level: level.value } : {}) });
    });
    formBox(form);
    reason.focus();
  }

  async function showDispatch(d, anySkill = false) {
    const list = el("ol", { class: "ng-candidates", id: "ng-candidates" }, el("li", { class: "ng-muted" }, t("loading")));
    const any = el("input", { type: "checkbox", id: "ng-any-skill", checked: anySkill, onchange: () => showDispatch(d, any.checked) });
    formBox(el("h3", {}, t("dispatch.title")),
      el("p", { class: "ng-muted" }, t("dispatch.hint")),
      el("label", { class: "ng-check" }, any, " ", t("dispatch.any_skill")), list,
      el("div", { class: "ng-row" },
        el("button", { type: "button", class: "btn btn-outline-primary", id: "ng-dispatch-department",
          onclick: () => act(d, "dispatch", { to_department: true }) }, t("dispatch.department")),
        el("button", { type: "button", class: "btn btn-light", onclick: () => formBox().replaceChildren() }, t("form.cancel"))));
    const r = await api(`requests/${d.id}/volunteers`, { params: { limit: 15, any_skill: anySkill || undefined } });
    if (!r.ok) { list.replaceChildren(el("li", { class: "ng-error" }, t("error.load"))); return; }
    if (!r.data.length) { list.replaceChildren(el("li", { class: "ng-muted" }, t("dispatch.none"))); return; }
    list.replaceChildren(...r.data.map((v, i) => {
      const f = volunteers.get(v.volunteer_id);
      return el("li", {}, el("button", { type: "button", class: `ng-candidate ${v.available ? "" : "ng-busy"}`,
        dataset: { volunteerId: v.volunteer_id, rank: i }, onclick: () => act(d, "dispatch", { volunteer_id: v.volunteer_id }) },
      el("span", { class: "ng-candidate-main" }, el("strong", {}, name(v)), el("span", { class: "ng-muted" }, f ? name(f.properties, "team") : v.team_zh || ""),
        el("span", { class: "ng-muted ng-small" }, (v.skills || []).map((s) => t(`skill.${s}`, s)).join("、"),
          f ? ` · ${t("volunteer.position")} ${NG.fmtAgo(f.properties.position_at)}` : "")),
      el("span", { class: "ng-candidate-walk" }, el("strong", {}, fmt("walk.minutes", { n: v.walk_minutes })),
        el("span", { class: "ng-muted ng-small" }, fmt("walk.metres", { m: Math.round(v.walk_m) })),
        el("span", { class: `ng-small ${v.available ? "ng-ok" : "ng-late"}` }, fmt("dispatch.load", { n: v.open_cases })))));
    }));
  }

  async function act(d, action, fields = {}) {
    document.querySelectorAll("#ng-detail button").forEach((b) => { b.disabled = true; });
    const r = await api(`requests/${d.id}/transitions`, { method: "POST", body: { action, version: d.version, ...fields } });
    if (r.ok) {
      upsert(r.data);
      render();
      refreshQueue();
      NG.toast(fmt("action.done", { action: t(`action.${action}`), id: d.id }), "ok");
    } else if (r.status === 409) {
      NG.toast(t("error.conflict"), "warn", 12000);
    } else {
      NG.toast(`${t("error.action")} ${r.data?.detail || r.status}`, "error", 12000);
    }
    if (selectedId === d.id) await refreshDetail();
    else document.querySelectorAll("#ng-detail button").forEach((b) => { b.disabled = false; });
    return r;
  }

  /* -- start ------------------------------------------------------------------------------- */
  window.NGDispatch = {
    ready: false, requests, select, queue: queueState, loadQueue, stream, grids, filters, applyFilters, drawnAt, community, volunteers, volunteerMarkers,
    has: (id) => requests.has(Number(id)),
    get: (id) => requests.get(Number(id))?.data,
    /** Zoom until the request's own marker is on screen (out of its cluster); resolves when it is. */
    reveal: (id) => new Promise((resolve) => {
      const r = requests.get(Number(id));
      if (!r || !r.shown) return resolve(false);
      clusters.zoomToShowLayer(r.marker, () => resolve(true));
    }),
  };
  renderLegend();
  render();
  // The base map is asked for after the stream's ticket (above), so the first render is not queued
  // behind the streets and buildings.
  NG.drawBase().then(() => { showVolunteers(); return grids.load(); }).catch(() => NG.toast(t("error.load"), "error"));
  loadCategories();
  loadVolunteers();
  community.load();
  setInterval(loadVolunteers, 60000);
  setInterval(syncClock, 120000);
  setInterval(() => {
    let changed = false;
    for (const r of requests.values()) {
      if (refreshMarker(r)) { changed = true; if (r.shown) clusters.refreshClusters(r.marker); }
    }
    paintCountdowns(listView.hidden ? detailView : queue);
    if (changed) render();
  }, 1000);
})();
