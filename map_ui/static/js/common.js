/* neighborgrid: what every page shares. Talks to the service only through its HTTP API.
 *
 * window.NG = { config, map, t, api, login, logout, me, requireLogin, toMap, fromMap, geoToMap,
 *               drawBase, events, el, fmtMinutes, warningClass }
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("ng-config").textContent);
  const map = window[config.map];
  const panel = document.getElementById("ng-panel");
  const TOKEN = "ng.token";
  const ROLE = "ng.role";

  /* -- messages ------------------------------------------------------------------------- */
  function t(key, fallback) {
    const v = config.messages[key];
    return v === undefined ? (fallback === undefined ? key : fallback) : v;
  }

  /* -- tiny DOM helper: el("div", {class: "x", onclick: fn}, "text", child) ---------- */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
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
    const response = await fetch(url, { method, headers: h, body: payload });
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
      const user = el("input", { id: "ng-username", name: "username", autocomplete: "username", required: true });
      const pass = el("input", { id: "ng-password", name: "password", type: "password",
        autocomplete: "current-password", required: true });
      const msg = el("div", { class: "ng-muted", id: "ng-login-message", role: "alert" });
      const form = el("form", { id: "ng-login", class: "ng-login" },
        el("h1", {}, t("login.title")),
        el("label", { for: "ng-username" }, t("login.username")), user,
        el("label", { for: "ng-password" }, t("login.password")), pass,
        el("div", { class: "ng-row" }, el("button", { type: "submit", class: "btn btn-primary" }, t("login.submit"))),
        msg);
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const ok = await login(user.value, pass.value);
        const account = ok && (await me());
        if (!account || (roles.length && !roles.includes(account.role))) {
          msg.textContent = t("login.failed");
          sessionStorage.removeItem(TOKEN);
          return;
        }
        panel.replaceChildren();
        resolve(account);
      });
      panel.replaceChildren(form);
    });
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

  /* -- our own base map (used when basemap is "none") ----------------------------------- */
  async function drawBase({ streets = true, buildings = true, grids = true } = {}) {
    const layers = {};
    const [areas, gridFc, streetFc, buildingFc] = await Promise.all([
      api("areas", { params: { include_geometry: true, max_level: "community" }, auth: false }),
      grids ? api("grids", { auth: false }) : null,
      streets ? api("streets", { auth: false }) : null,
      buildings ? api("buildings", { auth: false }) : null,
    ]);
    const communities = [];
    const collect = (n) => { if (n.level === "community") communities.push(n); (n.children || []).forEach(collect); };
    (areas?.data || []).forEach(collect);
    if (streetFc?.ok) {
      layers.streets = L.geoJSON(geoToMap(streetFc.data), {
        style: (f) => ({ color: f.properties.kind === "arterial" ? "#b9b2a5" : "#d8d2c6",
          weight: f.properties.kind === "arterial" ? 5 : (f.properties.kind === "connector" ? 1 : 3), opacity: 1 }),
        interactive: false,
      }).addTo(map);
    }
    if (buildingFc?.ok) {
      layers.buildings = L.geoJSON(geoToMap(buildingFc.data), {
        style: () => ({ color: "#8d7f70", weight: 0.5, fillColor: "#cbbfae", fillOpacity: 0.8 }),
      }).addTo(map);
    }
    layers.communities = L.geoJSON(geoToMap({ type: "FeatureCollection", features: communities.map((c) => (
      { type: "Feature", id: c.id, geometry: c.geometry, properties: { name: c.name_zh, name_en: c.name_en } })) }), {
      style: () => ({ color: "#333", weight: 3, fill: false, dashArray: "6 4" }), interactive: false,
    }).addTo(map);
    if (gridFc?.ok) layers.gridData = gridFc.data;
    const bounds = layers.communities.getBounds();
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [10, 10] });
    return layers;
  }

  /* -- live events: SSE with a short-lived ticket, catching up with the last id ------------ */
  function events(onEvent, { onState } = {}) {
    let lastId = null, source = null, stopped = false, retry = 1000;
    async function open() {
      if (stopped) return;
      const r = await api("events/ticket", { method: "POST" });
      if (!r.ok) { onState && onState("error"); setTimeout(open, retry = Math.min(retry * 2, 15000)); return; }
      const params = new URLSearchParams({ ticket: r.data.ticket });
      if (lastId !== null) params.set("since", lastId);
      source = new EventSource(`${config.api}/events?${params}`);
      source.onopen = () => { retry = 1000; onState && onState("open"); };
      const handle = (ev) => {
        if (ev.lastEventId) lastId = ev.lastEventId;
        try { onEvent(ev.type, JSON.parse(ev.data)); } catch (e) { console.warn("bad event", e); }
      };
      ["request.created", "request.updated", "station.changed", "grid.changed", "message"].forEach(
        (name) => source.addEventListener(name, handle));
      source.onerror = () => {
        onState && onState("reconnecting");
        source.close();  // the ticket may have expired: reconnect with a new one and `since`
        setTimeout(open, retry = Math.min(retry * 2, 15000));
      };
    }
    open();
    return { close() { stopped = true; if (source) source.close(); }, get lastId() { return lastId; } };
  }

  /* -- small formatting helpers ------------------------------------------------------------- */
  function fmtMinutes(seconds) {
    const s = Math.max(0, Math.round(Math.abs(seconds)));
    const m = Math.floor(s / 60), r = s % 60;
    return `${seconds < 0 ? "-" : ""}${m}:${String(r).padStart(2, "0")}`;
  }
  function warningClass(level) { return `ng-${level}`; }

  /* -- page chrome: attribution and the language switch ------------------------------------ */
  if (config.osm_attribution) map.attributionControl.addAttribution(t("attribution.osm"));
  const other = config.lang === "zh" ? "en" : "zh";
  const switcher = L.control({ position: "bottomleft" });
  switcher.onAdd = () => el("a", { class: "ng-lang btn btn-light btn-sm", id: "ng-lang",
    href: `?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(location.search)), lang: other })}` },
  t("lang.switch"));
  switcher.addTo(map);

  window.NG = { config, map, panel, t, el, api, login, logout, me, requireLogin, toMap, fromMap, geoToMap,
    wgsToGcj, gcjToWgs, drawBase, events, fmtMinutes, warningClass };
})();
