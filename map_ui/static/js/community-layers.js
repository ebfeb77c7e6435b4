/* neighborgrid: community life on the dispatcher's map (/map/dispatch).
 *
 * Two toggleable layers beside the requests:
 *   - key households (zhongdian jiating) overdue for their visit, one marker per BUILDING from the API's
 *     building-level layer (GET /key-households?format=geojson&overdue=true): counts and kinds only,
 *     never a flat, a name or the household list (the API audits every read and refuses other roles);
 *   - open micro-wishes and mutual-aid projects (GET /wishes?status=open&format=geojson), at their
 *     building's entrance.
 * Both refresh on the live stream (key_household.overdue / .visited, wish.updated).
 *
 * NG.CommunityLayers: new NG.CommunityLayers() -> { controls, legend, load(), onEvent(topic, payload),
 *   households, wishes, TOPICS }
 */
(function () {
  "use strict";
  const { map, t, fmt, el, api, toMap, name } = NG;
  const SAFE = /^[a-z_]+$/;
  const TOPICS = ["key_household.overdue", "key_household.visited", "wish.updated"];

  /** A checkbox that shows or hides `layer`. */
  function layerToggle(id, label, layer) {
    const box = el("input", { type: "checkbox", id, checked: true,
      onchange: () => { if (box.checked) layer.addTo(map); else map.removeLayer(layer); } });
    return { box, label: el("label", { class: "ng-check", for: id }, box, " ", label) };
  }

  class CommunityLayers {
    constructor() {
      this.households = L.layerGroup().addTo(map);
      this.wishes = L.layerGroup().addTo(map);
      this.buildings = new Map();  // building id -> {feature, marker}
      this.openWishes = new Map(); // wish id -> {feature, marker}
      this.loaded = { households: false, wishes: false };
      const kh = layerToggle("ng-layer-households", t("layer.key_households"), this.households);
      const wish = layerToggle("ng-layer-wishes", t("layer.wishes"), this.wishes);
      this.householdToggle = kh.label;
      this.count = { households: el("span", { class: "ng-muted ng-small", id: "ng-count-households" }),
        wishes: el("span", { class: "ng-muted ng-small", id: "ng-count-wishes" }) };
      kh.label.append(" ", this.count.households);
      wish.label.append(" ", this.count.wishes);
      this.controls = el("div", { class: "ng-row", id: "ng-community-layers" }, kh.label, wish.label);
      this.legend = el("div", { class: "ng-legend", id: "ng-community-legend" },
        el("span", { class: "ng-legend-item" }, el("span", { class: "ng-sample ng-sample-kh" }, "2"), t("legend.key_households")),
        el("span", { class: "ng-legend-item" }, el("span", { class: "ng-sample ng-sample-wish" },
          el("i", { class: "fa-solid fa-heart", "aria-hidden": "true" })), t("wish.kind.wish")),
        el("span", { class: "ng-legend-item" }, el("span", { class: "ng-sample ng-sample-wish ng-kind-project" },
          el("i", { class: "fa-solid fa-hand-holding-heart", "aria-hidden": "true" })), t("wish.kind.project")),
        el("span", { class: "ng-legend-item" }, el("span", { class: "ng-sample ng-sample-vol" }), t("legend.volunteer_fresh")),
        el("span", { class: "ng-legend-item" }, el("span", { class: "ng-sample ng-sample-vol ng-stale" }), t("legend.volunteer_stale")));
      this.reloadHouseholds = NG.debounce(() => this.loadHouseholds(), 300);
      this.reloadWishes = NG.debounce(() => this.loadWishes(), 300);
    }

    load() { return Promise.all([this.loadHouseholds(), this.loadWishes()]); }

    /* -- key households: building level only ------------------------------------------------ */
    async loadHouseholds() {
      const r = await api("key-households", { params: { overdue: true, format: "geojson" } });
      if (!r.ok) {
        // Only caretakers, the grid's workers, dispatchers and admins may see them: others get no layer.
        if (r.status === 403) this.householdToggle.hidden = true;
        return;
      }
      this.households.clearLayers();
      this.buildings.clear();
      let overdue = 0;
      for (const f of r.data.features) {
        if (!f.geometry) continue;
        const [lon, lat] = f.geometry.coordinates;
        const p = f.properties;
        overdue += p.overdue;
        const marker = L.marker(toMap(lon, lat), { keyboard: false, zIndexOffset: 300, title: name(p, "building_name"),
          icon: L.divIcon({ className: "ng-kh-icon", iconSize: [24, 24], iconAnchor: [12, 12],
            html: `<span class="ng-kh" data-building-id="${Number(p.building_id)}" data-overdue="${Number(p.overdue)}">`
              + `<i class="fa-solid fa-house-user" aria-hidden="true"></i><b>${Number(p.overdue)}</b></span>` }) })
          .bindTooltip(() => el("div", { class: "ng-tip" },
            el("strong", {}, name(p, "building_name") || `#${p.building_id}`),
            el("div", { class: "ng-late" }, fmt("kh.overdue", { n: p.overdue })),
            el("div", {}, p.kinds.map((k) => t(`kh.kind.${k}`, k)).join("、")),
            el("div", { class: "ng-muted" }, fmt("kh.due_since", { ago: NG.fmtAgo(p.oldest_due_at) }))), { direction: "top" })
          .addTo(this.households);
        this.buildings.set(p.building_id, { feature: f, marker });
      }
      this.count.households.textContent = `(${overdue})`;
      this.loaded.households = true;
    }

    /* -- open wishes ------------------------------------------------------------------------ */
    async loadWishes() {
      const r = await api("wishes", { params: { status: "open", format: "geojson", limit: 5000 } });
      if (!r.ok) return;
      this.wishes.clearLayers();
      this.openWishes.clear();
      for (const f of r.data.features) {
        if (!f.geometry) continue;
        const [lon, lat] = f.geometry.coordinates;
        const p = f.properties;
        const kind = SAFE.test(p.kind) ? p.kind : "wish";
        const glyph = kind === "project" ? "fa-hand-holding-heart" : "fa-heart";
        const marker = L.marker(toMap(lon, lat), { keyboard: false, zIndexOffset: 200, title: p.title,
          icon: L.divIcon({ className: "ng-wish-icon", iconSize: [18, 18], iconAnchor: [9, 9],
            html: `<span class="ng-wish ng-kind-${kind}" data-id="${Number(f.id)}" data-kind="${kind}">`
              + `<i class="fa-solid ${glyph}" aria-hidden="true"></i></span>` }) })
          .bindTooltip(() => el("div", { class: "ng-tip" }, el("strong", {}, p.title),
            el("div", {}, t(`wish.kind.${kind}`), " · ", name(p, "category_name")),
            el("div", { class: "ng-muted" }, fmt("wish.hours", { n: p.hours }), " · ", fmt("wish.posted", { ago: NG.fmtAgo(p.posted_at) }))),
          { direction: "top" })
          .addTo(this.wishes);
        this.openWishes.set(f.id, { feature: f, marker });
      }
      this.count.wishes.textContent = `(${this.openWishes.size})`;
      this.loaded.wishes = true;
    }

    /* -- live ------------------------------------------------------------------------------- */
    onEvent(topic, payload) {
      if (topic.startsWith("key_household.")) {
        // Events name the grid only (the stream is open to more roles): re-read the audited layer.
        this.reloadHouseholds();
      } else if (topic === "wish.updated") {
        const cur = this.openWishes.get(payload.id);
        if (payload.status !== "open" && cur) {  // claimed, cancelled...: off the open layer at once
          this.wishes.removeLayer(cur.marker);
          this.openWishes.delete(payload.id);
          this.count.wishes.textContent = `(${this.openWishes.size})`;
        } else if (payload.status === "open") {
          this.reloadWishes();  // a new or released wish: its title comes with the list
        }
      }
    }
  }
  CommunityLayers.TOPICS = TOPICS;
  NG.CommunityLayers = CommunityLayers;
})();
