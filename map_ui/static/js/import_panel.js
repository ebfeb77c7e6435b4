/* neighborgrid: the planner's Import panel (/map/planner): a city's own files, through the HTTP API.
 *
 *   const importer = new NG.ImportPanel({ onSaved: async (report) => { ... } });
 *   panelBody.append(importer.node);
 *
 * The planner picks what the file holds (a kind, from GET /imports/kinds), the file, its coordinate
 * system (coord_type: required where the file cannot say it, since GCJ-02 read as WGS84 lands hundreds
 * of metres off), and optionally the encoding, the level (areas), the layer (grids), the sheet (Excel)
 * and which column holds each of the kind's fields. "Check" sends it as a dry run
 * (POST /imports/{kind} with dry_run): the report's counts, and every problem (red) and warning
 * (orange) in a list and on the map where it is (at.wgs84); an invalid polygon's make_valid repair is
 * drawn dashed. Only a check without problems, of exactly these inputs, lets "Save" send the same
 * upload again without dry_run, with a comment; then `onSaved(report)` lets the page redraw its layers.
 *
 * What comes from the file (names, codes, the report's messages) only ever becomes text nodes.
 */
(function () {
  "use strict";
  const { map, t, fmt, el, api, fill, toMap, geoToMap } = NG;
  const COORD_TYPES = ["wgs84", "gcj02", "bd09", "cgcs2000"];
  const LEVELS = ["city", "district", "township", "community", "compound"];
  const GRID_LAYERS = ["one_network", "party_building", "comprehensive_governance", "health", "urban_management"];
  const ENCODINGS = ["utf-8", "gbk", "gb18030", "big5"];
  const COUNTS = ["created", "updated", "unchanged", "retired"];
  const COLOUR = { problem: "#c81e1e", warning: "#e67700", repair: "#6d28d9" };
  const MANY = 400;  // more issues than this are drawn on a canvas (thousands of SVG circles are slow)

  /** A coordinate pair for people: degrees with 6 decimals, metres with 2. */
  function pair(xy) {
    const d = Math.abs(xy[0]) > 1000 || Math.abs(xy[1]) > 1000 ? 2 : 6;
    return `${Number(xy[0]).toFixed(d)}, ${Number(xy[1]).toFixed(d)}`;
  }

  class ImportPanel {
    constructor({ onSaved } = {}) {
      this.onSaved = onSaved;
      this.kinds = [];
      this.stamp = 0;        // bumped by every change of the inputs; a check answers one stamp
      this.checked = null;   // {stamp, report}: the last dry run
      this.busy = false;
      this.items = [];       // [{issue, kind: "problem"|"warning", marker, repair, node}]
      this.overlay = L.featureGroup();
      this.build();
      this.ready = this.loadKinds();
    }

    /* -- the section ------------------------------------------------------------------------- */
    build() {
      const id = (x) => `ng-import-${x}`;
      const label = (x, key) => el("label", { for: id(x) }, t(key));
      this.kindSelect = el("select", { id: id("kind"), class: "form-select", required: true,
        onchange: () => { this.kindChanged(); this.invalidate(); } });
      this.kindNote = el("p", { class: "ng-muted", id: id("kind-summary") });
      this.file = el("input", { type: "file", id: id("file"), class: "form-control", required: true,
        accept: ".geojson,.json,.gpkg,.zip,.csv,.txt,.xlsx", onchange: () => { this.fileChanged(); this.invalidate(); } });
      this.coord = el("select", { id: id("coord"), class: "form-select", "aria-describedby": id("coord-hint"),
        onchange: () => { this.epsgBox.hidden = this.coord.value !== "epsg"; this.invalidate(); } },
      el("option", { value: "" }, t("import.coord.choose")),
      COORD_TYPES.map((c) => el("option", { value: c }, t(`import.coord.${c}`))),
      el("option", { value: "epsg" }, t("import.coord.epsg")),
      el("option", { value: "file" }, t("import.coord.file")));
      this.epsg = el("input", { id: id("epsg"), inputmode: "numeric", pattern: "[0-9]{4,6}", maxlength: 6,
        class: "form-control", placeholder: "4549", oninput: () => this.invalidate() });
      this.epsgBox = el("div", { hidden: true }, label("epsg", "import.epsg"), this.epsg);
      this.coordBox = el("div", { id: id("coord-box") }, label("coord", "import.coord_type"), this.coord,
        el("p", { class: "ng-hint", id: id("coord-hint") }, t("import.coord_hint")), this.epsgBox);
      this.encoding = el("input", { id: id("encoding"), class: "form-control", list: id("encodings"), maxlength: 40,
        autocomplete: "off", placeholder: t("import.encoding_hint"), oninput: () => this.invalidate() });
      this.level = el("select", { id: id("level"), class: "form-select", onchange: () => this.invalidate() },
        el("option", { value: "" }, t("import.level.from_file")),
        LEVELS.map((l) => el("option", { value: l }, t(`import.level.${l}`))));
      this.levelBox = el("div", { hidden: true }, label("level", "import.level"), this.level);
      this.layer = el("select", { id: id("layer"), class: "form-select", onchange: () => this.invalidate() },
        GRID_LAYERS.map((l) => el("option", { value: l }, t(`gridlayer.${l}`))));
      this.layerBox = el("div", { hidden: true }, label("layer", "import.layer"), this.layer);
      this.sheet = el("input", { id: id("sheet"), class: "form-control", maxlength: 100, oninput: () => this.invalidate() });
      this.sheetBox = el("div", { hidden: true }, label("sheet", "import.sheet"), this.sheet);
      this.mapInputs = {};
      this.mappingFields = el("div", { id: id("mapping-fields") });
      this.mapping = el("details", { id: id("mapping"), class: "ng-import-mapping" },
        el("summary", {}, t("import.mapping")), el("p", { class: "ng-muted" }, t("import.mapping_hint")), this.mappingFields);
      const check = (x, key) => {
        const box = el("input", { type: "checkbox", id: id(x), onchange: () => this.invalidate() });
        return [box, el("label", { class: "ng-check", for: id(x) }, box, " ", t(key))];
      };
      const [repair, repairLabel] = check("repair", "import.repair");
      const [retire, retireLabel] = check("retire", "import.retire");
      this.repair = repair;
      this.retire = retire;
      this.checkBtn = el("button", { type: "submit", class: "btn btn-primary", id: id("check") },
        el("i", { class: "fa-solid fa-magnifying-glass", "aria-hidden": "true" }), " ", t("import.check"));
      this.clearBtn = el("button", { type: "button", class: "btn btn-outline-secondary", id: id("clear"),
        onclick: () => this.clear() }, t("import.clear"));
      this.form = el("form", { id: id("form"), novalidate: true },
        label("kind", "import.kind"), this.kindSelect, this.kindNote,
        label("file", "import.file"), this.file,
        this.coordBox,
        label("encoding", "import.encoding"), this.encoding,
        el("datalist", { id: id("encodings") }, ENCODINGS.map((e) => el("option", { value: e }))),
        this.levelBox, this.layerBox, this.sheetBox, this.mapping,
        el("div", {}, repairLabel), el("div", {}, retireLabel),
        el("div", { class: "ng-row" }, this.checkBtn, this.clearBtn));
      this.form.addEventListener("submit", (ev) => { ev.preventDefault(); this.check(); });
      this.result = el("div", { id: id("result"), class: "ng-import-result", "aria-live": "polite" });
      this.comment = el("textarea", { id: id("comment"), rows: 2, maxlength: 1000, class: "form-control",
        placeholder: t("import.comment_hint") });
      this.saveBtn = el("button", { type: "button", class: "btn btn-success ng-wide", id: id("save"), disabled: true,
        "aria-describedby": id("save-hint"), onclick: () => this.save() },
      el("i", { class: "fa-solid fa-floppy-disk", "aria-hidden": "true" }), " ", t("import.save"));
      this.saveHint = el("p", { class: "ng-muted", id: id("save-hint") }, t("import.save_hint"));
      this.saveBox = el("div", { id: id("savebox"), class: "ng-import-save" },
        label("comment", "import.comment"), this.comment, el("div", { class: "ng-row" }, this.saveBtn), this.saveHint);
      this.node = el("details", { id: "ng-import", class: "ng-import" },
        el("summary", { id: id("toggle") }, el("i", { class: "fa-solid fa-file-import", "aria-hidden": "true" }), " ",
          t("import.title")),
        el("p", { class: "ng-muted" }, t("import.intro")),
        this.form, this.result, this.saveBox);
    }

    async loadKinds() {
      const r = await api("imports/kinds");
      if (!r.ok) {
        this.form.hidden = true;
        this.saveBox.hidden = true;
        fill(this.result, el("p", { class: "ng-error", role: "alert", id: "ng-import-error" },
          r.status === 403 ? t("import.forbidden") : `${t("import.no_kinds")} (${r.data?.detail || r.status})`));
        return;
      }
      this.kinds = r.data;
      fill(this.kindSelect, this.kinds.map((k) => el("option", { value: k.name }, t(`import.kind.${k.name}`, k.name))));
      this.kindChanged();
      this.render();
    }
    kind() { return this.kinds.find((k) => k.name === this.kindSelect.value) || null; }

    /** The options that depend on the kind: the coordinate system, level, layer, and the mapping fields. */
    kindChanged() {
      const kind = this.kind();
      if (!kind) return;
      fill(this.kindNote, kind.summary);
      this.coordBox.hidden = kind.geometry === "none";
      this.coord.required = kind.geometry === "polygon" || kind.geometry === "point";
      this.coord.options[0].textContent = t(this.coord.required ? "import.coord.choose" : "import.coord.none");
      this.levelBox.hidden = kind.name !== "areas";
      this.layerBox.hidden = kind.name !== "grids";
      this.mapInputs = {};
      fill(this.mappingFields, kind.fields.map((f) => {
        const input = el("input", { id: `ng-import-map-${f.name}`, class: "form-control", maxlength: 100, autocomplete: "off",
          dataset: { field: f.name }, placeholder: (f.aliases || []).slice(0, 3).join(" / "), oninput: () => this.invalidate() });
        this.mapInputs[f.name] = input;
        return el("div", { class: "ng-import-field" },
          el("label", { for: input.id }, el("span", { class: "ng-mono" }, f.name),
            f.required ? el("span", { class: "ng-muted" }, ` (${t("import.required")})`) : null),
          input,
          el("div", { class: "ng-muted" }, f.description ? `${f.description}. ` : "",
            fmt("import.mapping_tried", { aliases: (f.aliases || []).join(", ") })));
      }));
    }
    fileChanged() {
      const name = this.file.files[0]?.name || "";
      this.sheetBox.hidden = !/\.xlsx$/i.test(name);
    }

    /** The inputs changed: a check done before says nothing about them any more. */
    invalidate() {
      this.stamp += 1;
      for (const x of this.form.querySelectorAll("[aria-invalid]")) x.removeAttribute("aria-invalid");
      if (this.checked && !this.result.querySelector("#ng-import-outdated")) {
        this.result.prepend(el("p", { class: "ng-late", id: "ng-import-outdated" }, t("import.outdated")));
      }
      this.render();
    }

    /* -- the upload ----------------------------------------------------------------------------- */
    /** What is missing before anything can be sent: [message key, input] or null. */
    missing() {
      if (!this.kind()) return ["import.no_kinds", this.kindSelect];
      if (!this.file.files.length) return ["import.need_file", this.file];
      if (!this.coordBox.hidden && this.coord.required && !this.coord.value) return ["import.need_coord", this.coord];
      if (this.coord.value === "epsg" && !/^[0-9]{4,6}$/.test(this.epsg.value.trim())) return ["import.need_epsg", this.epsg];
      return null;
    }
    formData({ dryRun, comment = null }) {
      const kind = this.kind();
      const form = new FormData();
      form.append("file", this.file.files[0]);
      const coord = this.coord.value;
      if (!this.coordBox.hidden && coord && coord !== "file") {
        form.append("coord_type", coord === "epsg" ? `epsg:${this.epsg.value.trim()}` : coord);
      }
      if (this.encoding.value.trim()) form.append("encoding", this.encoding.value.trim());
      if (kind.name === "areas" && this.level.value) form.append("level", this.level.value);
      if (kind.name === "grids") form.append("layer", this.layer.value);
      if (!this.sheetBox.hidden && this.sheet.value.trim()) form.append("sheet", this.sheet.value.trim());
      const mapping = {};
      for (const [name, input] of Object.entries(this.mapInputs)) if (input.value.trim()) mapping[name] = input.value.trim();
      if (Object.keys(mapping).length) form.append("mapping", JSON.stringify(mapping));
      if (this.repair.checked) form.append("repair", "true");
      if (this.retire.checked) form.append("retire_missing", "true");
      form.append("dry_run", dryRun ? "true" : "false");
      if (comment) form.append("comment", comment);
      return form;
    }
    send(options) {
      return api(`imports/${encodeURIComponent(this.kind().name)}`, { method: "POST", form: this.formData(options) });
    }

    async check() {
      const missing = this.missing();
      if (missing) { this.refuseInput(missing); return; }
      const stamp = this.stamp;
      this.busy = true;
      this.render();
      fill(this.result, el("p", { class: "ng-muted", id: "ng-import-busy" }, t("import.checking")));
      const r = await this.send({ dryRun: true });
      this.busy = false;
      if (stamp !== this.stamp) { fill(this.result); this.render(); return; }  // the inputs changed meanwhile
      const report = r.data && r.data.report ? r.data.report : r.ok ? r.data : null;
      if (report) {
        this.checked = { stamp, report };
        this.show(report);
      } else {
        this.checked = null;
        this.showError(r);
      }
      this.render();
    }

    canSave() {
      const c = this.checked;
      return !this.busy && !!c && c.stamp === this.stamp && c.report.dry_run && !c.report.problems.length;
    }
    async save() {
      const comment = this.comment.value.trim();
      if (!comment) {
        this.refuseInput(["import.comment_required", this.comment], { keep: true });
        return;
      }
      if (!this.canSave()) return;
      this.busy = true;
      this.render();
      const r = await this.send({ dryRun: false, comment });
      this.busy = false;
      this.checked = null;  // saved or refused: a new check before the next save
      const report = r.data && r.data.report ? r.data.report : r.ok ? r.data : null;
      if (r.ok && report) {
        this.comment.value = "";
        this.show(report);
        const c = report.counts;
        NG.toast(fmt("import.saved_toast", { created: c.created, updated: c.updated, retired: c.retired }), "ok");
        this.render();
        if (this.onSaved) await this.onSaved(report);
        return;
      }
      if (report) this.show(report);
      else this.showError(r);
      this.render();
    }

    /* -- what the section shows ----------------------------------------------------------------- */
    /** An input the check or the save needs: say so at the result, mark the input and focus it. */
    refuseInput([key, input], { keep = false } = {}) {
      const message = el("p", { class: "ng-error", role: "alert", id: "ng-import-error" }, t(key));
      if (keep) { this.result.querySelector("#ng-import-error")?.remove(); this.result.prepend(message); }
      else fill(this.result, message);
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    /** A refusal without a report (the coordinate system, the encoding, the size, the role...). */
    showError(r) {
      this.overlay.clearLayers();
      this.items = [];
      const d = r.data || {};
      const text = r.status === 403 ? t("import.forbidden") : r.status === 413 ? `${t("import.too_large")} ${d.detail || ""}`
        : d.detail || `${t("error.load")} (HTTP ${r.status})`;
      fill(this.result, el("p", { class: "ng-error", role: "alert", id: "ng-import-error" }, text));
      const inputs = { coord_type: this.coord, encoding: this.encoding, sheet: this.sheet, file: this.file,
        level: this.level, layer: this.layer, comment: this.comment };
      for (const e of d.errors || []) {
        const field = String(e.field || "");
        const input = inputs[field] || (field.startsWith("mapping.") ? this.mapInputs[field.slice(8)] : null);
        if (input) input.setAttribute("aria-invalid", "true");
      }
    }

    /** The report: its verdict, the source, the counts, every problem and warning (listed and drawn). */
    show(report) {
      this.overlay.clearLayers();
      this.items = [];
      const problems = report.problems || [], warnings = report.warnings || [];
      const s = report.source || {};
      const verdict = problems.length
        ? el("p", { class: "ng-error", role: "alert", id: "ng-import-refused" },
          fmt(report.dry_run ? "import.refused" : "import.refused_save", { n: problems.length }))
        : report.saved ? el("p", { class: "ng-ok", id: "ng-import-saved" }, fmt("import.saved", { id: report.run_id ?? "—" }))
          : el("p", { class: "ng-ok", id: "ng-import-ready" }, t("import.ready"));
      const source = el("p", { class: "ng-muted", id: "ng-import-source" },
        fmt("import.source", { filename: s.filename || "—", format: s.format || "—", features: s.features ?? "—", crs: s.crs || "—" }),
        s.encoding ? ` · ${fmt("import.source_encoding", { encoding: s.encoding })}` : "");
      const counts = el("table", { class: "ng-table ng-import-counts", id: "ng-import-counts",
        "aria-labelledby": "ng-import-counts-title" },
      el("tbody", {}, COUNTS.map((c) => el("tr", { dataset: { count: c } },
          el("th", { scope: "row" }, t(`import.count.${c}`)), el("td", {}, String(report.counts?.[c] ?? 0))))));
      const renderer = problems.length + warnings.length > MANY ? L.canvas({ padding: 0.3 }) : undefined;
      const list = (issues, kind, key) => (issues.length ? [
        el("h3", {}, fmt(key, { n: issues.length })),
        el("ol", { class: `ng-import-issues ng-import-${kind}s`, id: `ng-import-${kind}s`, start: 1 },
          issues.map((issue) => this.item(issue, kind, renderer))),
      ] : null);
      fill(this.result, verdict, source,
        el("h3", { id: "ng-import-counts-title" }, t(report.saved ? "import.counts_saved" : "import.counts")),
        el("div", { class: "ng-table-wrap" }, counts),
        list(problems, "problem", "import.problems"), list(warnings, "warning", "import.warnings"),
        problems.some((p) => p.repair) ? el("p", { class: "ng-hint", id: "ng-import-repair-hint" }, t("import.repair_drawn")) : null);
      if (this.items.length) {
        this.overlay.addTo(map);
        NG.fitTo(this.overlay.getBounds(), { maxZoom: 17 });
      }
    }
    /** One issue: a list item (a button that goes to it when it has a place) and its mark on the map. */
    item(issue, kind, renderer) {
      const who = issue.feature === null || issue.feature === undefined ? t("import.whole_file")
        : fmt("import.feature", { n: issue.feature });
      const at = issue.at && Array.isArray(issue.at.wgs84) ? issue.at : null;
      let where = null;
      if (at) {
        where = at.crs && at.crs !== "wgs84" && Array.isArray(at.file)
          ? `${pair(at.file)} (${at.crs}) · WGS84 ${pair(at.wgs84)}` : `${pair(at.wgs84)} (WGS84)`;
      }
      const parts = [
        el("span", { class: "ng-import-code ng-mono" }, issue.code), " ",
        el("strong", {}, who), issue.feature_code ? el("span", { class: "ng-mono" }, ` · ${issue.feature_code}`) : null,
        issue.field ? el("span", { class: "ng-muted" }, ` · ${t("import.field")} `, el("span", { class: "ng-mono" }, issue.field)) : null,
        el("div", { class: "ng-import-message" }, issue.message),
        where ? el("div", { class: "ng-muted ng-mono" }, fmt("import.at", { where })) : null,
      ];
      const entry = { issue, kind, marker: null, repair: null, node: null };
      const node = el("li", { class: `ng-import-issue ng-import-${kind}`,
        dataset: { code: issue.code, feature: issue.feature ?? "", field: issue.field ?? "" } });
      entry.node = node;
      if (at) {
        const [lon, lat] = at.wgs84;
        const tip = () => el("div", { class: "ng-tip" }, el("strong", {}, `${t(`import.kind_of.${kind}`)}: ${issue.code}`),
          el("div", {}, who, issue.feature_code ? ` · ${issue.feature_code}` : ""), el("div", {}, issue.message));
        entry.marker = L.circleMarker(toMap(lon, lat), { radius: kind === "problem" ? 9 : 7, color: COLOUR[kind], weight: 3,
          fillColor: COLOUR[kind], fillOpacity: 0.35, renderer, pmIgnore: true, snapIgnore: true,
          className: `ng-import-mark ng-import-mark-${kind}` })
          .bindTooltip(tip, { direction: "top" })
          .on("click", () => this.reveal(entry))
          .addTo(this.overlay);
        node.append(el("button", { type: "button", class: "ng-import-go", title: t("import.go"),
          onclick: () => this.goTo(entry) }, parts));
      } else {
        node.append(el("div", { class: "ng-import-go ng-import-nowhere" }, parts));
      }
      if (issue.repair) {
        entry.repair = L.geoJSON(geoToMap(issue.repair), { interactive: false, pmIgnore: true, snapIgnore: true,
          style: () => ({ color: COLOUR.repair, weight: 2.5, dashArray: "6 4", fillColor: COLOUR.repair, fillOpacity: 0.12,
            className: "ng-import-repair" }) }).addTo(this.overlay);
      }
      this.items.push(entry);
      return node;
    }
    /** The map goes to an issue (a list item was chosen). */
    goTo(entry) {
      this.activate(entry);
      const bounds = entry.repair ? entry.repair.getBounds() : L.latLngBounds([entry.marker.getLatLng(), entry.marker.getLatLng()]);
      NG.fitTo(bounds, { maxZoom: Math.max(map.getZoom(), 17) });
      entry.marker.openTooltip();
    }
    /** The list goes to an issue (its mark on the map was clicked). */
    reveal(entry) {
      NG.panel.classList.remove("ng-collapsed");
      this.node.open = true;
      this.activate(entry);
      entry.node.scrollIntoView({ block: "nearest" });
      entry.node.querySelector("button")?.focus({ preventScroll: true });
    }
    activate(entry) {
      for (const x of this.items) x.node.classList.toggle("ng-active", x === entry);
    }
    clear() {
      this.overlay.clearLayers();
      map.removeLayer(this.overlay);
      this.items = [];
      this.checked = null;
      fill(this.result);
      this.render();
    }
    render() {
      this.checkBtn.disabled = this.busy || !this.kinds.length;
      this.saveBtn.disabled = !this.canSave();
      this.saveHint.hidden = this.canSave();
      this.node.classList.toggle("ng-busy", this.busy);
    }
  }

  NG.ImportPanel = ImportPanel;
})();
