/* neighborgrid: what every page shares. Talks to the service only through its HTTP API.
 *
 * window.NG = { config, map, panel, t, fmt, el, api, login, logout, me, requireLogin, shell, toast, pageLinks,
 *               toMap, fromMap, geoToMap, wgsToGcj, gcjToWgs, drawBase, fitTo, events, clock,
 *               fmtMinutes, fmtCountdown, fmtAgo, fmtTime, name, warningClass, badge, WARNINGS,
 *               uuid, debounce, locationHint }
 *
 * No inline event handlers and no eval: every listener is attached here with addEventListener,
 * so a Content-Security-Policy can forbid inline script except folium's own (nonced) block.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("ng-config").textContent);
  const map = window[config.map];
  const panel = document.getElementById("ng-panel");
  const TOKEN = "ng.token";
  const ROLE = "ng.role";
  const WARNINGS = ["blue", "yellow", "orange", "red"];

  // folium sets no maxZoom without tiles; MarkerCluster and fitBounds need one.
  if (!map.options.maxZoom) map.setMaxZoom(20);
  map.setMinZoom(12);
  map.options.zoomSnap = 0.25;  // fit the community snugly on any screen
  map.options.zoomDelta = 0.5;
  map.getContainer().classList.add(`ng-basemap-${config.basemap}`);
  document.body.classList.add(`ng-page-${config.page}`);

  /* -- messages ------------------------------------------------------------------------- */
  function t(key, fallback) {
    const v = config.messages[key];
    return v === undefined ? (fallback === undefined ? key : fallback) : v;
  }
  /** A catalogue message with {placeholders} filled in: fmt("ago.minutes", {n: 3}). */
  function fmt(key, vars) {
    return t(key).replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] !== undefined ? vars[k] : m));
  }
  /** The name of a record in the page's language: name(station) -> name_en or name_zh. */
  function name(obj, base = "name") {
    if (!obj) return "";
    const local = obj[`${base}_${config.lang}`];
    return local || obj[`${base}_zh`] || obj[base] || "";
  }

  /* -- tiny DOM helper: el("div", {class: "x", onclick: fn}, "text", child) ---------- */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k === "style" && typeof v === "object") Object.assign(node.style, v);  // CSSOM: fine under a CSP
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  /** node.replaceChildren, skipping null/undefined/false and flattening arrays (as el() does). */
  function fill(node, ...children) {
    node.replaceChildren(...children.flat(Infinity).filter((c) => c !== undefined && c !== null && c !== false));
    return node;
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  }
  function debounce(fn, ms) {
    let timer = null;
    return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  }

  /* -- HTTP ------------------------------------------------------------------------------ */
  function token() { return sessionStorage.getItem(TOKEN); }

  async function api(path, { method = "GET", body, form, headers = {}, auth = true, params } = {}) {
    let url = path.startsWith("/") ? path : `${config.api}/${path}`;
    if (params) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) {
        if (v === undefined || v === null || v === "") continue;
        (Array.isArray(v) ? v : [v]).forEach((x) => q.append(k, x));
      }
      const s = q.toString();
      if (s) url += (url.includes("?") ? "&" : "?") + s;
    }
    const h = Object.assign({ Accept: "application/json" }, headers);
    if (auth && token()) h.Authorization = `Bearer ${token()}`;
    let payload;
    if (form) payload = form;
    else if (body !== undefined) { h["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
    let response;
    try {
      response = await fetch(url, { method, headers: h, body: payload });
    } catch (e) {
      return { ok: false, status: 0, data: { detail: t("error.network") }, headers: new Headers() };
    }
    let data = null;
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) data = await response.json();
    if (response.status === 401 && auth && token()) {
      sessionStorage.removeItem(TOKEN);
    }
    return { ok: response.ok, status: response.status, data, headers: response.headers };
  }

  async function login(username, password) {
    const form = new URLSearchParams({ username, password });
    const r = await fetch(`${config.api}/auth/token`, {
      method: "POST", body: form, headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    if (!r.ok) return null;
    const data = await r.json();
    sessionStorage.setItem(TOKEN, data.access_token);
    sessionStorage.setItem(ROLE, data.role);
    return data;
  }

  function logout() {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(ROLE);
    location.reload();
  }

  async function me() {
    if (!token()) return null;
    const r = await api("auth/me");
    return r.ok ? r.data : null;
  }

  /** Resolve with the signed-in account once its role is one of `roles` (asks to sign in). */
  function requireLogin(roles) {
    return new Promise(async (resolve) => {
      const current = await me();
      if (current && (!roles.length || roles.includes(current.role))) return resolve(current);
      const user = el("input", { id: "ng-username", name: "username", autocomplete: "username", required: true,
        autocapitalize: "none" });
      const pass = el("input", { id: "ng-password", name: "password", type: "password",
        autocomplete: "current-password", required: true });
      const msg = el("div", { class: "ng-muted", id: "ng-login-message", role: "alert" });
      const form = el("form", { id: "ng-login", class: "ng-login" },
        el("h1", {}, t(`page.${config.page}`)),
        el("p", { class: "ng-muted" }, fmt("login.hint", { roles: roles.map((r) => t(`role.${r}`)).join(" / ") })),
        el("label", { for: "ng-username" }, t("login.username")), user,
        el("label", { for: "ng-password" }, t("login.password")), pass,
        el("div", { class: "ng-row" }, el("button", { type: "submit", class: "btn btn-primary ng-wide" },
          t("login.submit"))),
        msg);
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const ok = await login(user.value.trim(), pass.value);
        const account = ok && (await me());
        if (!account || (roles.length && !roles.includes(account.role))) {
          msg.textContent = ok ? t("login.wrong_role") : t("login.failed");
          sessionStorage.removeItem(TOKEN);
          return;
        }
        panel.replaceChildren();
        resolve(account);
      });
      panel.classList.add("ng-panel-login");
      panel.replaceChildren(form);
      user.focus();
    }).then((account) => { panel.classList.remove("ng-panel-login"); return account; });
  }

  /* -- panel chrome: title bar (account, sign out, collapse), a status line, a body ------------ */
  let toastBox = null;
  function shell({ account = null, subtitle = null } = {}) {
    const body = el("div", { class: "ng-body", id: "ng-body" });
    toastBox = el("div", { class: "ng-toast", id: "ng-toast", role: "status", "aria-live": "polite" });
    const collapse = el("button", { type: "button", class: "ng-icon-btn ng-collapse", id: "ng-collapse",
      "aria-expanded": "true", title: t("panel.collapse"), "aria-label": t("panel.collapse") },
    el("i", { class: "fa-solid fa-chevron-down", "aria-hidden": "true" }));
    collapse.addEventListener("click", () => {
      const collapsed = panel.classList.toggle("ng-collapsed");
      collapse.setAttribute("aria-expanded", String(!collapsed));
    });
    const who = account ? el("span", { class: "ng-account", id: "ng-account", title: t(`role.${account.role}`) },
      el("i", { class: "fa-solid fa-user", "aria-hidden": "true" }), " ", account.display_name || account.username) : null;
    const out = account ? el("button", { type: "button", class: "btn btn-link btn-sm ng-logout", id: "ng-logout",
      onclick: logout }, t("logout")) : null;
    const head = el("header", { class: "ng-head" },
      el("div", { class: "ng-title" }, el("h1", {}, t(`page.${config.page}`)),
        subtitle ? el("div", { class: "ng-muted ng-subtitle" }, subtitle) : null),
      el("div", { class: "ng-head-tools" }, who, out, collapse));
    panel.replaceChildren(head, toastBox, body);
    return body;
  }
  /** A short message at the top of the panel: kind is "info", "ok", "warn" or "error". */
  function toast(message, kind = "info", ms = 6000) {
    if (!toastBox) return;
    const item = el("div", { class: `ng-toast-item ng-toast-${kind}` }, message);
    toastBox.replaceChildren(item);
    panel.classList.remove("ng-collapsed");
    if (ms) setTimeout(() => { if (item.parentNode) item.remove(); }, ms);
  }

  /** Links between the resident's pages (stations, wishes near me, my points); `current` is marked. */
  const RESIDENT_PAGES = [["stations", "/map/stations", "fa-location-dot"], ["wishes", "/map/wishes", "fa-heart"],
    ["points", "/map/points", "fa-coins"]];
  function pageLinks(current) {
    return el("nav", { class: "ng-page-links", id: "ng-page-links", "aria-label": t("nav.pages") },
      RESIDENT_PAGES.map(([page, href, glyph]) => el("a", { href: `${href}?lang=${config.lang}`, dataset: { page },
        class: `ng-page-link${page === current ? " ng-active" : ""}`, "aria-current": page === current ? "page" : null },
      el("i", { class: `fa-solid ${glyph}`, "aria-hidden": "true" }), " ", t(`nav.${page}`))));
  }

  /* -- coordinates: overlays are WGS84; Amap tiles are GCJ-02 --------------------------- */
  const A = 6378245.0, EE = 0.00669342162296594323;
  function inChina(lon, lat) { return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271; }
  function delta(lon, lat) {
    const x = lon - 105.0, y = lat - 35.0, s = Math.sqrt(Math.abs(x)), PI = Math.PI;
    let dLat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * s;
    dLat += (20 * Math.sin(6 * x * PI) + 20 * Math.sin(2 * x * PI)) * 2 / 3;
    dLat += (20 * Math.sin(y * PI) + 40 * Math.sin(y / 3 * PI)) * 2 / 3;
    dLat += (160 * Math.sin(y / 12 * PI) + 320 * Math.sin(y * PI / 30)) * 2 / 3;
    let dLon = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * s;
    dLon += (20 * Math.sin(6 * x * PI) + 20 * Math.sin(2 * x * PI)) * 2 / 3;
    dLon += (20 * Math.sin(x * PI) + 40 * Math.sin(x / 3 * PI)) * 2 / 3;
    dLon += (150 * Math.sin(x / 12 * PI) + 300 * Math.sin(x / 30 * PI)) * 2 / 3;
    const rad = lat / 180 * PI, magic = 1 - EE * Math.sin(rad) ** 2, sm = Math.sqrt(magic);
    return [dLon * 180 / (A / sm * Math.cos(rad) * PI), dLat * 180 / ((A * (1 - EE)) / (magic * sm) * PI)];
  }
  function wgsToGcj(lon, lat) {
    if (!inChina(lon, lat)) return [lon, lat];
    const [dx, dy] = delta(lon, lat);
    return [lon + dx, lat + dy];
  }
  function gcjToWgs(lon, lat) { // iterative inverse, ~1e-9 degrees
    let gx = lon, gy = lat;
    for (let i = 0; i < 30; i++) {
      const [fx, fy] = wgsToGcj(gx, gy);
      const ex = fx - lon, ey = fy - lat;
      gx -= ex; gy -= ey;
      if (Math.abs(ex) < 1e-9 && Math.abs(ey) < 1e-9) break;
    }
    return [gx, gy];
  }
  const shifted = config.shift === "gcj02";
  /** A WGS84 lon/lat as a Leaflet LatLng on this page's base map. */
  function toMap(lon, lat) {
    const [x, y] = shifted ? wgsToGcj(lon, lat) : [lon, lat];
    return L.latLng(y, x);
  }
  /** A Leaflet LatLng on this map back to WGS84 [lon, lat]. */
  function fromMap(latlng) {
    return shifted ? gcjToWgs(latlng.lng, latlng.lat) : [latlng.lng, latlng.lat];
  }
  function mapCoords(coords) {
    if (typeof coords[0] === "number") return shifted ? wgsToGcj(coords[0], coords[1]) : coords;
    return coords.map(mapCoords);
  }
  /** GeoJSON in WGS84 to GeoJSON in the base map's system (a copy when shifting). */
  function geoToMap(geojson) {
    if (!shifted) return geojson;
    const copy = JSON.parse(JSON.stringify(geojson));
    const walk = (g) => {
      if (!g) return;
      if (g.type === "FeatureCollection") g.features.forEach((f) => walk(f.geometry));
      else if (g.type === "Feature") walk(g.geometry);
      else if (g.type === "GeometryCollection") g.geometries.forEach(walk);
      else g.coordinates = mapCoords(g.coordinates);
    };
    walk(copy);
    return copy;
  }

  /* -- our own base map (drawn on every page; alone when basemap is "none") -------------- */
  const basePane = map.createPane("ngBase");
  basePane.style.zIndex = 250;  // under overlays (400) and markers (600)
  const baseRenderer = L.canvas({ pane: "ngBase", padding: 0.3 });
  let baseBounds = null;

  /** Streets, buildings and community outlines from the API. With tiles, only the outlines. */
  async function drawBase({ streets = true, buildings = true } = {}) {
    const own = config.basemap === "none";
    const layers = {};
    const [areas, streetFc, buildingFc] = await Promise.all([
      api("areas", { params: { level: "community" }, auth: false }),
      own && streets ? api("streets", { auth: false }) : null,
      own && buildings ? api("buildings", { auth: false }) : null,
    ]);
    const communities = areas?.ok ? areas.data.features : [];
    if (streetFc?.ok) {
      const width = (f) => ({ arterial: 7, street: 4.5, lane: 3, connector: 1.5 })[f.properties.kind] || 3.5;
      layers.streetCasing = L.geoJSON(geoToMap(streetFc.data), {
        style: (f) => ({ color: "#c8c0b2", weight: width(f) + 2, opacity: 1, lineCap: "round" }),
        renderer: baseRenderer, interactive: false, pane: "ngBase",
      }).addTo(map);
      layers.streets = L.geoJSON(geoToMap(streetFc.data), {
        style: (f) => ({ color: f.properties.kind === "arterial" ? "#fdf6e3" : "#ffffff", weight: width(f),
          opacity: 1, lineCap: "round" }),
        renderer: baseRenderer, interactive: false, pane: "ngBase",
      }).addTo(map);
    }
    if (buildingFc?.ok) {
      layers.buildings = L.geoJSON(geoToMap(buildingFc.data), {
        style: () => ({ color: "#b3a692", weight: 0.6, fillColor: "#ddd3c4", fillOpacity: 1 }),
        renderer: baseRenderer, interactive: false, pane: "ngBase",
      }).addTo(map);
    }
    layers.communities = L.geoJSON(geoToMap({ type: "FeatureCollection", features: communities }), {
      style: () => ({ color: "#5b5247", weight: 2.5, fill: false, dashArray: "8 5", opacity: 0.8 }),
      renderer: baseRenderer, interactive: false, pane: "ngBase",
    }).addTo(map);
    for (const layer of [layers.communities, layers.buildings, layers.streets]) {
      const b = layer && layer.getBounds();
      if (b && b.isValid()) { baseBounds = b; break; }
    }
    if (baseBounds) fitTo(baseBounds);
    return layers;
  }
  /** Fit the view to bounds, leaving room for the panel (right on desktop, bottom on phones). */
  function fitTo(bounds, { maxZoom = 18 } = {}) {
    if (!bounds || !bounds.isValid()) return;
    const phone = window.innerWidth <= 600;
    const side = panel && panel.offsetWidth && !phone ? panel.offsetWidth + 20 : 10;
    const bottom = phone && panel && !panel.classList.contains("ng-collapsed")
      ? Math.min(panel.offsetHeight, window.innerHeight * 0.45) : 10;
    map.fitBounds(bounds, { paddingTopLeft: [10, 10], paddingBottomRight: [side, bottom], maxZoom });
  }

  /* -- live events: SSE with a short-lived ticket, catching up from the last id -------------- */
  /** Subscribe to the event stream. After a dropped connection it reconnects with a fresh ticket
   *  and `since` = the last event id it saw, so nothing is missed. `onOpen({first, since})` runs on
   *  each (re)connection; `topics` adds event names to the usual ones. Returns {close, pause, resume,
   *  drop, state, lastId}. */
  function events(onEvent, { onState, onOpen, topics = [] } = {}) {
    let lastId = null, source = null, stopped = false, paused = false, retry = 1000, timer = null, opened = 0;
    let state = "connecting";
    const setState = (s) => { state = s; if (onState) onState(s); };
    function schedule() {
      clearTimeout(timer);
      if (stopped || paused) return;
      timer = setTimeout(open, retry);
      retry = Math.min(retry * 2, 15000);
    }
    async function open() {
      if (stopped || paused) return;
      setState(opened ? "reconnecting" : "connecting");
      const r = await api("events/ticket", { method: "POST" });
      if (stopped || paused) return;
      if (!r.ok) { setState("error"); schedule(); return; }
      const params = new URLSearchParams({ ticket: r.data.ticket });
      const since = lastId;
      if (since !== null) params.set("since", since);
      const es = new EventSource(`${config.api}/events?${params}`);
      source = es;
      es.onopen = () => {
        if (source !== es) return;
        retry = 1000;
        opened += 1;
        setState("open");
        // `since` null on a reconnection: no event had arrived yet, so the page must reload its data
        if (onOpen) onOpen({ first: opened === 1, since });
      };
      const handle = (ev) => {
        if (source !== es) return;
        if (ev.lastEventId) lastId = ev.lastEventId;
        let payload;
        try { payload = JSON.parse(ev.data); } catch (e) { console.warn("bad event", e); return; }
        onEvent(ev.type, payload, ev.lastEventId);
      };
      ["request.created", "request.updated", "station.changed", "grid.changed", "message", ...topics].forEach(
        (topic) => es.addEventListener(topic, handle));
      es.onerror = () => {
        if (source !== es) return;
        es.close();  // the ticket may have expired: reconnect with a new one and `since`
        source = null;
        setState("reconnecting");
        schedule();
      };
    }
    open();
    return {
      close() { stopped = true; clearTimeout(timer); if (source) source.close(); source = null; setState("closed"); },
      /** Close the connection and stay away until resume() (as if the network dropped). */
      pause() { paused = true; clearTimeout(timer); if (source) source.close(); source = null; setState("paused"); },
      resume() { if (!paused) return; paused = false; retry = 1000; open(); },
      /** Drop the connection the way a network error does: it reconnects by itself. */
      drop() { if (source) source.onerror(new Event("error")); },
      get state() { return state; },
      get lastId() { return lastId; },
    };
  }

  /* -- the service's clock: deadlines count down against it, not the browser's ---------------- */
  const clock = {
    offset: 0,
    /** Record the service's `now` (ISO) as seen at `receivedAt` (ms, browser time). */
    sync(iso, receivedAt = Date.now()) {
      const server = Date.parse(iso);
      if (!Number.isNaN(server)) this.offset = server - receivedAt;
    },
    now() { return Date.now() + this.offset; },
  };

  /* -- small formatting helpers ------------------------------------------------------------- */
  function fmtMinutes(seconds) {
    const s = Math.max(0, Math.round(Math.abs(seconds)));
    const m = Math.floor(s / 60), r = s % 60;
    return `${seconds < 0 ? "-" : ""}${m}:${String(r).padStart(2, "0")}`;
  }
  /** Seconds left as m:ss (under an hour), h:mm:ss (under a day) or days and hours. */
  function fmtCountdown(seconds) {
    const s = Math.round(Math.abs(seconds));
    if (s < 3600) return fmtMinutes(s);
    if (s < 86400) {
      const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
      return `${h}:${String(m).padStart(2, "0")}:${String(r).padStart(2, "0")}`;
    }
    return fmt("duration.days_hours", { d: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600) });
  }
  /** "3 minutes ago" for an ISO time, against the service's clock. */
  function fmtAgo(iso) {
    if (!iso) return t("never");
    const s = Math.max(0, (clock.now() - Date.parse(iso)) / 1000);
    if (s < 60) return t("ago.now");
    if (s < 3600) return fmt("ago.minutes", { n: Math.floor(s / 60) });
    if (s < 86400) return fmt("ago.hours", { n: Math.floor(s / 3600) });
    return fmt("ago.days", { n: Math.floor(s / 86400) });
  }
  const timeFormat = new Intl.DateTimeFormat(config.lang === "zh" ? "zh-CN" : "en-GB",
    { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
  function fmtTime(iso) { return iso ? timeFormat.format(new Date(iso)) : "—"; }
  function warningClass(level) { return `ng-${level}`; }
  function badge(kind, value, extra = "") {
    return el("span", { class: `ng-badge ng-badge-${kind} ${kind === "warning" ? warningClass(value) : ""} ${extra}`,
      dataset: { value } }, t(`${kind}.${value}`));
  }

  /* -- station types: a colour (CSS class ng-type-<type>) and a Font Awesome glyph ------------- */
  const STATION_GLYPHS = {
    elderly_care_centre: "fa-house-medical", home_elderly_care_station: "fa-person-cane", childcare: "fa-baby",
    convenience_station: "fa-store", parcel_pickup: "fa-box", volunteer_station: "fa-hand-holding-heart",
    red_service_station: "fa-motorcycle", party_mass_centre: "fa-landmark",
  };
  function stationGlyph(type) { return STATION_GLYPHS[type] || "fa-location-dot"; }
  function stationIcon(type, { active = false, size = 26 } = {}) {
    const safe = /^[a-z_]+$/.test(type) ? type : "other";
    const px = active ? size + 8 : size;
    return L.divIcon({ className: "ng-st-icon", iconSize: [px, px], iconAnchor: [px / 2, px / 2],
      html: `<span class="ng-st ng-type-${safe}${active ? " ng-active" : ""}" data-type="${safe}">`
        + `<i class="fa-solid ${stationGlyph(safe)}" aria-hidden="true"></i></span>` });
  }

  /** The "your location" line of a form (`prefix.location` / `prefix.need_location` messages) in `#boxId`. */
  function locationHint(boxId, prefix, lonLat) {
    const box = document.getElementById(boxId);
    if (!box) return;
    box.replaceChildren(el("p", { class: lonLat ? "ng-hint" : "ng-hint ng-late" },
      el("i", { class: "fa-solid fa-location-dot", "aria-hidden": "true" }), " ",
      lonLat ? fmt(`${prefix}.location`, { lon: lonLat[0].toFixed(5), lat: lonLat[1].toFixed(5) })
        : t(`${prefix}.need_location`)));
  }

  /* -- page chrome: attribution and the language switch ------------------------------------ */
  function addOsmAttribution() {
    if (addOsmAttribution.done || !map.attributionControl) return;
    addOsmAttribution.done = true;
    map.attributionControl.addAttribution(
      `<a href="https://www.openstreetmap.org/copyright" rel="noopener" target="_blank">${t("attribution.osm")}</a>`);
  }
  if (map.attributionControl) map.attributionControl.setPrefix(false);
  if (config.osm_attribution) addOsmAttribution();
  // Our own layers may hold OpenStreetMap data (an import): credit it whenever it is on the map.
  api("attribution", { auth: false }).then((r) => {
    if (r.ok && (r.data.sources || []).some((s) => s.name === "OpenStreetMap")) addOsmAttribution();
  });
  const other = config.lang === "zh" ? "en" : "zh";
  const switcher = L.control({ position: "bottomleft" });
  switcher.onAdd = () => el("a", { class: "ng-lang btn btn-light", id: "ng-lang", lang: other,
    href: `?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(location.search)), lang: other })}` },
  el("i", { class: "fa-solid fa-language", "aria-hidden": "true" }), " ", t("lang.switch"));
  switcher.addTo(map);

  window.NG = { config, map, panel, t, fmt, name, el, fill, api, login, logout, me, requireLogin, shell, toast, pageLinks, toMap,
    fromMap, geoToMap, wgsToGcj, gcjToWgs, drawBase, fitTo, events, clock, fmtMinutes, fmtCountdown, fmtAgo,
    fmtTime, warningClass, badge, locationHint, WARNINGS, uuid, debounce, stationGlyph, stationIcon, get baseBounds() { return baseBounds; } };
})();
