/* neighborgrid: micro-wishes near me (/map/wishes, residents and volunteers).
 *
 * "Where am I" from the browser's geolocation or a click on the map; the open wishes and mutual-aid
 * projects within a 15-minute walk, nearest first exactly as the API ranks them by walking along the
 * streets (GET /wishes/nearby); a volunteer claims one; anyone signed in posts a wish at that place
 * (shown at the building's entrance, never at a flat); "my wishes" with confirm (the poster) and
 * fulfil (the claimant).
 */
(async function () {
  "use strict";
  const { map, t, fmt, el, api, toMap, fromMap, name } = NG;
  const SAFE = /^[a-z_]+$/;

  const account = await NG.requireLogin(NG.config.roles);
  const body = NG.shell({ account });
  NG.drawBase();
  const isVolunteer = account.role === "volunteer";

  /* -- state ------------------------------------------------------------------------------- */
  let me = null;           // [lon, lat] WGS84
  let nearby = [];         // items from /wishes/nearby, nearest first
  let categories = null;
  let loadedOnce = false;
  const markerLayer = L.layerGroup().addTo(map);
  let meMarker = null;

  /* -- the panel --------------------------------------------------------------------------- */
  const locateButton = el("button", { type: "button", class: "btn btn-primary ng-big ng-wide", id: "ng-locate",
    onclick: locate }, el("i", { class: "fa-solid fa-location-crosshairs", "aria-hidden": "true" }), " ", t("find.locate"));
  const postButton = el("button", { type: "button", class: "btn btn-warning ng-big ng-wide", id: "ng-wish-post-open",
    onclick: () => showPost() }, el("i", { class: "fa-solid fa-heart", "aria-hidden": "true" }), " ", t("wishes.post"));
  const results = el("div", { id: "ng-results", "aria-live": "polite" });
  const mine = el("div", { id: "ng-my-wishes" });
  const findView = el("section", { id: "ng-find" },
    NG.pageLinks("wishes"),
    el("p", { class: "ng-hint", id: "ng-hint" }, t("wishes.hint")),
    locateButton, results, el("div", { class: "ng-row" }, postButton), mine);
  const postView = el("section", { id: "ng-post", hidden: true });
  body.append(findView, postView);

  /* -- where am I -------------------------------------------------------------------------- */
  function setMe(lonlat) {
    me = lonlat;
    const at = toMap(me[0], me[1]);
    if (!meMarker) {
      meMarker = L.marker(at, { icon: L.divIcon({ className: "ng-me-icon", html: '<span class="ng-me"></span>',
        iconSize: [18, 18], iconAnchor: [9, 9] }), zIndexOffset: 1000, keyboard: false, title: t("find.me") })
        .bindTooltip(t("find.me"), { direction: "top" }).addTo(map);
    } else meMarker.setLatLng(at);
    document.getElementById("ng-hint").textContent = t("find.hint_again");
    renderLocation();
    if (postView.hidden) findNearby();
  }
  function locate() {
    if (!navigator.geolocation) { NG.toast(t("find.no_geolocation"), "warn"); return; }
    locateButton.disabled = true;
    navigator.geolocation.getCurrentPosition((pos) => {
      locateButton.disabled = false;
      setMe([pos.coords.longitude, pos.coords.latitude]);  // the Geolocation API answers in WGS84
      map.setView(toMap(me[0], me[1]), Math.max(map.getZoom(), 16));
    }, () => {
      locateButton.disabled = false;
      NG.toast(t("find.no_geolocation"), "warn");
    }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  }
  map.on("click", (ev) => setMe(fromMap(ev.latlng)));

  /* -- wishes near me ---------------------------------------------------------------------- */
  let seq = 0;
  async function findNearby() {
    const mine_ = ++seq;
    results.replaceChildren(el("p", { class: "ng-muted" }, t("loading")));
    const r = await api("wishes/nearby", { params: { lon: me[0], lat: me[1], minutes: 15, limit: 100 } });
    if (mine_ !== seq) return;
    if (!r.ok) {
      nearby = [];
      markerLayer.clearLayers();
      results.replaceChildren(el("p", { class: "ng-error", id: "ng-nearby-error" },
        r.status === 422 ? t("find.too_far") : t("error.load")));
      return;
    }
    nearby = r.data.items;
    loadedOnce = true;
    renderNearby();
  }
  function wishGlyph(kind) { return kind === "project" ? "fa-hand-holding-heart" : "fa-heart"; }
  function renderNearby() {
    markerLayer.clearLayers();
    const heading = el("h2", {}, t("wishes.nearby"));
    if (!nearby.length) {
      results.replaceChildren(heading, el("p", { class: "ng-muted", id: "ng-none" }, t("wishes.none")));
      return;
    }
    nearby.forEach((w, i) => {
      const kind = SAFE.test(w.kind) ? w.kind : "wish";
      L.marker(toMap(w.lon, w.lat), { keyboard: false, title: w.title,
        icon: L.divIcon({ className: "ng-wish-icon", iconSize: [22, 22], iconAnchor: [11, 11],
          html: `<span class="ng-wish ng-kind-${kind} ng-numbered" data-id="${Number(w.id)}">${i + 1}</span>` }) })
        .bindTooltip(() => el("div", { class: "ng-tip" }, el("strong", {}, w.title),
          el("div", { class: "ng-muted" }, name(w, "category_name"))), { direction: "top" })
        .on("click", () => document.querySelector(`.ng-wish-item[data-id="${Number(w.id)}"]`)?.scrollIntoView({ block: "nearest" }))
        .addTo(markerLayer);
    });
    results.replaceChildren(heading, el("ol", { class: "ng-list", id: "ng-wishes-nearby" }, nearby.map((w, i) => {
      const kind = SAFE.test(w.kind) ? w.kind : "wish";
      return el("li", { class: "ng-wish-item", dataset: { id: w.id, walkM: w.walk_m } },
        el("div", { class: "ng-station" },
          el("span", { class: `ng-station-icon ng-wish-badge ng-kind-${kind}` }, el("i", { class: `fa-solid ${wishGlyph(kind)}`, "aria-hidden": "true" })),
          el("span", { class: "ng-station-main" },
            el("span", { class: "ng-station-name" }, `${i + 1}. ${w.title}`),
            el("span", { class: "ng-muted" }, t(`wish.kind.${kind}`), " · ", name(w, "category_name"), " · ", fmt("wish.hours", { n: w.hours })),
            w.description ? el("span", { class: "ng-small" }, w.description) : null),
          el("span", { class: "ng-station-walk" }, fmt("walk.minutes", { n: Math.max(1, Math.round(w.walk_minutes)) }),
            el("div", { class: "ng-muted ng-small" }, fmt("walk.metres", { m: Math.round(w.walk_m) })))),
        isVolunteer && !w.mine ? el("button", { type: "button", class: "btn btn-outline-primary ng-big ng-wide ng-claim",
          id: `ng-claim-${Number(w.id)}`, onclick: () => step(w, "claim") }, t("wishes.claim")) : null);
    })));
  }

  /* -- lifecycle steps --------------------------------------------------------------------- */
  async function step(w, action) {
    const r = await api(`wishes/${w.id}/${action}`, { method: "POST", body: { version: w.version } });
    if (r.ok) NG.toast(t(`wishes.done.${action}`), "ok");
    else if (r.status === 409) NG.toast(t("wishes.conflict"), "warn", 12000);
    else NG.toast(`${t("error.action")} ${r.data?.detail || r.status}`, "error", 12000);
    await Promise.all([me ? findNearby() : null, renderMine()]);
    return r;
  }

  /* -- my wishes (posted or claimed) ------------------------------------------------------- */
  async function renderMine() {
    const r = await api("wishes", { params: { mine: true, limit: 50 } });
    if (!r.ok) return;
    const items = r.data.items;
    NG.fill(mine, items.length ? [el("h2", {}, t("wishes.mine")), el("ul", { class: "ng-list", id: "ng-my-wish-list" },
      items.map((w) => el("li", { class: "ng-my-wish", dataset: { id: w.id, status: w.status } },
        el("div", { class: "ng-row ng-between" }, el("strong", {}, w.title),
          el("span", { class: "ng-badge", dataset: { value: w.status } }, t(`wish.status.${w.status}`, w.status))),
        el("div", { class: "ng-muted ng-small" }, name(w, "category_name"), " · ", fmt("wish.posted", { ago: NG.fmtAgo(w.posted_at) })),
        w.mine && w.status === "fulfilled" ? el("button", { type: "button", class: "btn btn-success ng-big ng-wide",
          id: `ng-confirm-${Number(w.id)}`, onclick: () => step(w, "confirm") }, t("wishes.confirm")) : null,
        !w.mine && w.status === "claimed" ? el("button", { type: "button", class: "btn btn-primary ng-big ng-wide",
          id: `ng-fulfil-${Number(w.id)}`, onclick: () => step(w, "fulfil") }, t("wishes.fulfil")) : null)))] : []);
  }

  /* -- posting a wish ---------------------------------------------------------------------- */
  function renderLocation() { NG.locationHint("ng-wish-location", "wishes", me); }
  function closePost() {
    postView.hidden = true;
    findView.hidden = false;
    NG.panel.classList.remove("ng-tall");
    if (me) findNearby();
  }
  async function showPost() {
    findView.hidden = true;
    postView.hidden = false;
    NG.panel.classList.add("ng-tall");
    if (!categories) {
      const r = await api("wishes/categories", { auth: false });
      categories = r.ok ? r.data : [];
    }
    const kind = el("select", { id: "ng-wish-kind", class: "form-select" },
      ["wish", "project"].map((k) => el("option", { value: k }, t(`wish.kind.${k}`))));
    const category = el("select", { id: "ng-wish-category", class: "form-select", required: true },
      el("option", { value: "" }, t("wishes.choose_category")),
      categories.map((c) => el("option", { value: c.code }, name(c))));
    const title = el("input", { id: "ng-wish-title", class: "form-control", maxlength: 200, required: true });
    const description = el("textarea", { id: "ng-wish-description", class: "form-control", rows: 3, maxlength: 2000,
      placeholder: t("wishes.description_hint") });
    const hours = el("input", { id: "ng-wish-hours", class: "form-control", type: "number", min: 0.5, max: 24, step: 0.5, value: 1 });
    const submit = el("button", { type: "submit", class: "btn btn-primary ng-big ng-wide", id: "ng-wish-submit" }, t("wishes.submit"));
    const error = el("div", { class: "ng-error", id: "ng-wish-error", role: "alert" });
    const form = el("form", { id: "ng-wish-form", novalidate: true },
      el("h2", {}, t("wishes.post")),
      el("div", { id: "ng-wish-location" }),
      el("label", { for: "ng-wish-kind" }, t("wishes.kind")), kind,
      el("label", { for: "ng-wish-category" }, t("wishes.category")), category,
      el("label", { for: "ng-wish-title" }, t("wishes.title")), title,
      el("label", { for: "ng-wish-description" }, t("wishes.description"), el("span", { class: "ng-muted" }, ` ${t("report.optional")}`)), description,
      el("label", { for: "ng-wish-hours" }, t("wishes.hours")), hours,
      el("p", { class: "ng-muted" }, t("wishes.privacy")),
      error, submit,
      el("button", { type: "button", class: "btn btn-light ng-big ng-wide", id: "ng-wish-cancel", onclick: closePost }, t("form.cancel")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!me) { error.textContent = t("wishes.need_location"); return; }
      if (!category.value) { error.textContent = t("wishes.need_category"); category.focus(); return; }
      if (!title.value.trim()) { error.textContent = t("wishes.need_title"); title.focus(); return; }
      error.textContent = "";
      submit.disabled = true;
      const r = await api("wishes", { method: "POST", body: { kind: kind.value, category: category.value,
        title: title.value.trim(), description: description.value.trim() || undefined,
        hours: Number(hours.value) || 1, lon: me[0], lat: me[1] } });
      submit.disabled = false;
      if (!r.ok) { error.textContent = `${t("error.action")} ${r.data?.detail || r.status}`; return; }
      NG.toast(t("wishes.posted"), "ok");
      closePost();
      renderMine();
    });
    postView.replaceChildren(form);
    renderLocation();
  }

  window.NGWishes = { setMe, get me() { return me; }, get nearby() { return nearby; }, get loaded() { return loadedOnce; } };
  renderMine();
})();
