/* neighborgrid: the resident's station finder and request form (/map/stations, no login).
 *
 * "Where am I" from the browser's geolocation or a click on the map; the nearest stations by type
 * with walking minutes (along the streets); the chosen station's 5/10/15-minute circles and the
 * walk to it; and raising a request, which answers with a tracking code and a link to /track/{code}.
 */
(async function () {
  "use strict";
  const { map, t, fmt, el, api, toMap, fromMap, name } = NG;
  const MY_CODES = "ng.my_codes";

  const CIRCLE_STYLE = { 15: ["#a6dcc0", 0.35], 10: ["#5cbf91", 0.35], 5: ["#1f8a5a", 0.4] };
  const { stationGlyph } = NG;

  const body = NG.shell();
  NG.drawBase();

  /* -- state ------------------------------------------------------------------------------- */
  let me = null;                 // [lon, lat] WGS84
  let nearby = [];               // features from /stations/nearby, nearest first
  let typeFilter = "";
  let chosen = null;             // station id
  let mode = "find";             // "find" | "report"
  const stationMarkers = new Map();
  const stationLayer = L.layerGroup().addTo(map);
  const circleLayer = L.featureGroup().addTo(map);
  const routeLayer = L.layerGroup().addTo(map);
  let meMarker = null;
  let types = [];

  /* -- the panel --------------------------------------------------------------------------- */
  const findView = el("section", { id: "ng-find" });
  const reportView = el("section", { id: "ng-report", hidden: true });
  body.append(findView, reportView);
  const locateButton = el("button", { type: "button", class: "btn btn-primary ng-big ng-wide", id: "ng-locate",
    onclick: locate }, el("i", { class: "fa-solid fa-location-crosshairs", "aria-hidden": "true" }), " ", t("find.locate"));
  const reportButton = el("button", { type: "button", class: "btn btn-warning ng-big ng-wide", id: "ng-report-open",
    onclick: () => showReport() }, el("i", { class: "fa-solid fa-bullhorn", "aria-hidden": "true" }), " ", t("report.open"));
  const typeChips = el("div", { class: "ng-types", id: "ng-types", role: "group", "aria-label": t("find.types") });
  const results = el("div", { id: "ng-results", "aria-live": "polite" });
  const stationInfo = el("div", { id: "ng-station" });
  const mine = el("div", { id: "ng-mine" });
  findView.append(
    NG.pageLinks("stations"),
    el("p", { class: "ng-hint", id: "ng-hint" }, t("find.hint")),
    locateButton, typeChips, stationInfo, results, el("div", { class: "ng-row" }, reportButton), mine);

  function renderTypes() {
    const chip = (value, label) => el("button", { type: "button", class: "ng-chip", dataset: { type: value },
      "aria-pressed": String(typeFilter === value),
      onclick: () => { typeFilter = value; renderTypes(); renderResults(); } }, label);
    typeChips.replaceChildren(chip("", t("filter.all")), ...types.map((x) => chip(x.type, name(x))));
  }

  /* -- stations on the map ------------------------------------------------------------------- */
  const stationIcon = (type, active) => NG.stationIcon(type, { active });
  async function loadStations() {
    const [all, typeList] = await Promise.all([api("stations", { auth: false }), api("stations/types", { auth: false })]);
    if (typeList.ok) { types = typeList.data; renderTypes(); }
    if (!all.ok) { NG.toast(t("error.load"), "error"); return; }
    for (const f of all.data.features) {
      const [lon, lat] = f.geometry.coordinates;
      const m = L.marker(toMap(lon, lat), { icon: stationIcon(f.properties.type, false), title: name(f.properties),
        keyboard: true })
        .bindTooltip(() => el("div", { class: "ng-tip" }, el("strong", {}, name(f.properties)),
          el("div", { class: "ng-muted" }, name(f.properties, "type"))), { direction: "top", offset: [0, -12] })
        .on("click", () => choose(f.id, f))
        .addTo(stationLayer);
      m.ngFeature = f;
      stationMarkers.set(f.id, m);
    }
  }

  /* -- where am I -------------------------------------------------------------------------- */
  function setMe(lonlat, { find = true } = {}) {
    me = lonlat;
    const at = toMap(me[0], me[1]);
    if (!meMarker) {
      meMarker = L.marker(at, { icon: L.divIcon({ className: "ng-me-icon", html: '<span class="ng-me"></span>',
        iconSize: [18, 18], iconAnchor: [9, 9] }), zIndexOffset: 1000, keyboard: false, title: t("find.me") })
        .bindTooltip(t("find.me"), { direction: "top" }).addTo(map);
    } else meMarker.setLatLng(at);
    document.getElementById("ng-hint").textContent = t(mode === "report" ? "report.location_set" : "find.hint_again");
    if (mode === "report") renderLocation();
    if (find && mode === "find") findNearby();
  }
  function locate() {
    if (!navigator.geolocation) { NG.toast(t("find.no_geolocation"), "warn"); return; }
    locateButton.disabled = true;
    navigator.geolocation.getCurrentPosition((pos) => {
      locateButton.disabled = false;
      // The Geolocation API answers in WGS84 (raw GPS), the system our API takes by default.
      setMe([pos.coords.longitude, pos.coords.latitude]);
      map.setView(toMap(me[0], me[1]), Math.max(map.getZoom(), 16));
    }, () => {
      locateButton.disabled = false;
      NG.toast(t("find.no_geolocation"), "warn");
    }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  }
  map.on("click", (ev) => setMe(fromMap(ev.latlng)));

  async function findNearby() {
    results.replaceChildren(el("p", { class: "ng-muted" }, t("loading")));
    const r = await api("stations/nearby", { auth: false,
      params: { lon: me[0], lat: me[1], minutes: 15, limit: 100 } });
    if (!r.ok) {
      nearby = [];
      results.replaceChildren(el("p", { class: "ng-error", id: "ng-nearby-error" },
        r.status === 422 ? t("find.too_far") : t("error.load")));
      return;
    }
    nearby = r.data.features;
    renderResults();
  }

  function renderResults() {
    if (!me) { results.replaceChildren(); return; }
    let list;
    if (typeFilter) list = nearby.filter((f) => f.properties.type === typeFilter);
    else {
      const seen = new Set();
      list = nearby.filter((f) => !seen.has(f.properties.type) && seen.add(f.properties.type));
    }
    const heading = el("h2", {}, typeFilter ? fmt("find.of_type", { type: name(types.find((x) => x.type === typeFilter)) })
      : t("find.nearest_by_type"));
    if (!list.length) { results.replaceChildren(heading, el("p", { class: "ng-muted", id: "ng-none" }, t("find.none"))); return; }
    results.replaceChildren(heading, el("ol", { class: "ng-list", id: "ng-nearby" }, list.map((f) => {
      const p = f.properties;
      return el("li", {}, el("button", { type: "button", class: `ng-station ${f.id === chosen ? "ng-active" : ""}`,
        dataset: { id: f.id, type: p.type }, onclick: () => choose(f.id, f) },
      el("span", { class: `ng-station-icon ng-type-${p.type}` }, el("i", { class: `fa-solid ${stationGlyph(p.type)}`, "aria-hidden": "true" })),
      el("span", { class: "ng-station-main" }, el("span", { class: "ng-station-name" }, name(p)),
        el("span", { class: "ng-muted" }, name(p, "type"))),
      el("span", { class: "ng-station-walk" }, fmt("walk.minutes", { n: Math.max(1, Math.round(p.walk_minutes)) }),
        el("div", { class: "ng-muted ng-small" }, fmt("walk.metres", { m: Math.round(p.walk_m) })))));
    })));
  }

  /* -- one station: its circles and the walk to it ------------------------------------------- */
  async function choose(id, feature) {
    chosen = id;
    stationMarkers.forEach((m, sid) => m.setIcon(stationIcon(m.ngFeature.properties.type, sid === id)));
    renderResults();
    const found = nearby.find((f) => f.id === id);
    const p = (found || feature).properties;
    stationInfo.replaceChildren(el("div", { class: "ng-form-box", id: "ng-chosen", dataset: { id } },
      el("h2", {}, name(p)),
      el("div", { class: "ng-muted" }, name(p, "type")),
      found ? el("div", { class: "ng-station-walk" }, fmt("find.walk_from_you",
        { n: Math.max(1, Math.round(found.properties.walk_minutes)), m: Math.round(found.properties.walk_m) })) : null,
      p.address_zh ? el("div", {}, el("i", { class: "fa-solid fa-location-dot", "aria-hidden": "true" }), " ", p.address_zh) : null,
      p.opening_hours ? el("div", {}, el("i", { class: "fa-regular fa-clock", "aria-hidden": "true" }), " ", p.opening_hours) : null,
      p.contact_phone ? el("div", {}, el("i", { class: "fa-solid fa-phone", "aria-hidden": "true" }), " ",
        el("a", { href: `tel:${p.contact_phone}` }, p.contact_phone)) : null,
      el("div", { class: "ng-legend", id: "ng-circle-legend" }, el("span", { class: "ng-muted" }, t("find.circles")),
        [5, 10, 15].map((m) => el("span", { class: "ng-legend-item" },
          el("i", { class: "ng-swatch", style: { background: CIRCLE_STYLE[m][0] } }), fmt("find.circle_minutes", { n: m }))))));
    circleLayer.clearLayers();
    routeLayer.clearLayers();
    const areas = await Promise.all([15, 10, 5].map((m) => api(`stations/${id}/service-area`, { auth: false, params: { minutes: m } })));
    if (chosen !== id) return;
    for (const [i, m] of [15, 10, 5].entries()) {
      if (!areas[i].ok) continue;
      const [colour, opacity] = CIRCLE_STYLE[m];
      L.geoJSON(NG.geoToMap(areas[i].data), { interactive: false, style: () => ({ color: colour, weight: 1.5,
        fillColor: colour, fillOpacity: opacity, className: `ng-circle ng-circle-${m}` }) }).addTo(circleLayer);
    }
    if (!areas.some((a) => a.ok)) NG.toast(t("find.no_circle"), "info");
    const bounds = circleLayer.getBounds();
    if (me) bounds.extend(toMap(me[0], me[1]));
    NG.fitTo(bounds);
    if (me && found) drawRoute(id, found.properties.type);
  }
  async function drawRoute(id, type) {
    const r = await api("stations/nearby", { auth: false,
      params: { lon: me[0], lat: me[1], minutes: 15, limit: 100, type, route: true } });
    if (!r.ok || chosen !== id) return;
    const f = r.data.features.find((x) => x.id === id);
    if (!f || !f.properties.route) return;
    L.geoJSON(NG.geoToMap(f.properties.route), { interactive: false,
      style: () => ({ color: "#1a73e8", weight: 5, opacity: 0.85, dashArray: "2 8", lineCap: "round", className: "ng-route" }) })
      .addTo(routeLayer);
  }

  /* -- raising a request ------------------------------------------------------------------- */
  let categories = null;
  async function showReport() {
    mode = "report";
    findView.hidden = true;
    reportView.hidden = false;
    NG.panel.classList.add("ng-tall");
    if (!categories) {
      const r = await api("categories", { auth: false });
      categories = r.ok ? r.data : [];
    }
    const category = el("select", { id: "ng-category", class: "form-select", required: true },
      el("option", { value: "" }, t("report.choose_category")),
      categories.map((g) => el("optgroup", { label: name(g) }, g.kinds.map((k) => el("option", { value: k.code }, name(k))))));
    const description = el("textarea", { id: "ng-description", class: "form-control", rows: 4, maxlength: 2000, required: true,
      placeholder: t("report.description_hint") });
    const who = el("input", { id: "ng-name", class: "form-control", maxlength: 100, autocomplete: "name" });
    const phone = el("input", { id: "ng-phone", class: "form-control", type: "tel", maxlength: 32, autocomplete: "tel",
      inputmode: "tel" });
    // Publishing is the reporter's choice, off unless ticked (the public map shows the category, a
    // rounded place and, for some kinds, the text with phone and ID numbers masked).
    const publish = el("input", { type: "checkbox", id: "ng-public" });
    const key = NG.uuid();  // one key per form: a double tap or a retry never files the request twice
    const submit = el("button", { type: "submit", class: "btn btn-primary ng-big ng-wide", id: "ng-submit" }, t("report.submit"));
    const form = el("form", { id: "ng-report-form", novalidate: true },
      el("h2", {}, t("report.title")),
      el("div", { id: "ng-location" }),
      el("label", { for: "ng-category" }, t("report.category")), category,
      el("label", { for: "ng-description" }, t("report.description")), description,
      el("label", { for: "ng-name" }, t("report.name"), el("span", { class: "ng-muted" }, ` ${t("report.optional")}`)), who,
      el("label", { for: "ng-phone" }, t("report.phone"), el("span", { class: "ng-muted" }, ` ${t("report.optional")}`)), phone,
      el("label", { class: "ng-check", for: "ng-public" }, publish, " ", t("report.public")),
      el("p", { class: "ng-muted" }, t("report.privacy")),
      el("div", { class: "ng-error", id: "ng-report-error", role: "alert" }),
      submit,
      el("button", { type: "button", class: "btn btn-light ng-big ng-wide", id: "ng-report-cancel", onclick: closeReport },
        t("form.cancel")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const error = document.getElementById("ng-report-error");
      if (!me) { error.textContent = t("report.need_location"); return; }
      if (!category.value) { error.textContent = t("report.need_category"); category.focus(); return; }
      if (!description.value.trim()) { error.textContent = t("report.need_description"); description.focus(); return; }
      error.textContent = "";
      submit.disabled = true;
      const r = await api("requests", { method: "POST", auth: false, headers: { "Idempotency-Key": key }, body: {
        category: category.value, description: description.value.trim(), lon: me[0], lat: me[1], channel: "web",
        reporter_name: who.value.trim() || undefined, reporter_phone: phone.value.trim() || undefined,
        public: publish.checked } });
      submit.disabled = false;
      if (!r.ok) { error.textContent = `${t("error.action")} ${r.data?.detail || r.status}`; return; }
      remember(r.data.tracking_code);
      showDone(r.data);
    });
    reportView.replaceChildren(form);
    renderLocation();
  }
  function renderLocation() { NG.locationHint("ng-location", "report", me); }
  function closeReport() {
    mode = "find";
    reportView.hidden = true;
    findView.hidden = false;
    NG.panel.classList.remove("ng-tall");
    renderMine();
  }
  function showDone(req) {
    const href = `/track/${encodeURIComponent(req.tracking_code)}?lang=${NG.config.lang}`;
    reportView.replaceChildren(el("div", { id: "ng-done" },
      el("h2", {}, el("i", { class: "fa-solid fa-circle-check ng-ok", "aria-hidden": "true" }), " ", t("report.done")),
      el("p", {}, t("report.keep_code")),
      el("div", { class: "ng-code", id: "ng-tracking-code" }, req.tracking_code),
      el("a", { class: "btn btn-primary ng-big ng-wide", id: "ng-track-link", href }, t("report.track")),
      el("button", { type: "button", class: "btn btn-light ng-big ng-wide", onclick: closeReport }, t("report.back"))));
  }

  /* -- requests this browser raised (kept on this device only) -------------------------------- */
  function codes() { try { return JSON.parse(localStorage.getItem(MY_CODES) || "[]"); } catch (e) { return []; } }
  function remember(code) { localStorage.setItem(MY_CODES, JSON.stringify([code, ...codes().filter((c) => c !== code)].slice(0, 10))); }
  function renderMine() {
    const list = codes();
    mine.replaceChildren(...(list.length ? [el("h2", {}, t("report.mine")), el("ul", { class: "ng-list" },
      list.map((c) => el("li", {}, el("a", { href: `/track/${encodeURIComponent(c)}?lang=${NG.config.lang}`, class: "ng-mono" }, c))))] : []));
  }

  window.NGStations = { setMe, choose, get me() { return me; }, get nearby() { return nearby; } };
  renderMine();
  await loadStations();
})();
