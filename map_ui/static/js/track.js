/* neighborgrid: a resident's request status page (/track/{code}, no login; the code is the key).
 *
 * Status, progress, deadlines and the timeline (GET /api/v1/track/{code}); once the case is
 * resolved or verified the resident rates it 1-5 with the tracking code, and a rating of 2 or less
 * offers to reopen it.
 */
(async function () {
  "use strict";
  const { map, t, fmt, el, api, toMap, name } = NG;
  const code = NG.config.tracking_code;
  const STEPS = ["reported", "accepted", "dispatched", "on_site", "resolved", "verified", "evaluated", "closed"];
  const body = NG.shell({ subtitle: code });
  NG.drawBase();
  let marker = null;
  let current = null;
  let busy = false;     // a form is being filled or sent: do not redraw under the resident's fingers

  async function load({ fit = false } = {}) {
    const r = await api(`track/${encodeURIComponent(code)}`, { auth: false });
    if (!r.ok) {
      body.replaceChildren(el("p", { class: "ng-error", id: "ng-track-error" },
        r.status === 404 ? t("track.unknown") : t("error.load")), backLink());
      return;
    }
    current = r.data;
    render(current);
    const at = toMap(current.lon, current.lat);
    if (!marker) {
      marker = L.marker(at, { icon: L.divIcon({ className: "ng-req-icon", iconSize: [26, 26], iconAnchor: [13, 13],
        html: `<span class="ng-req ng-${/^[a-z]+$/.test(current.warning_level) ? current.warning_level : "blue"} ng-selected"></span>` }),
      keyboard: false, title: code }).addTo(map);
    } else marker.setLatLng(at);
    if (fit) NG.fitTo(L.latLngBounds([at, at]), { maxZoom: 17 });  // centred beside the panel
  }
  const backLink = () => el("a", { class: "btn btn-light ng-big ng-wide", href: `/map/stations?lang=${NG.config.lang}` },
    t("report.back"));

  function deadline(kind, due, doneAt) {
    let state;
    if (doneAt) state = el("span", { class: "ng-ok" }, fmt("deadline.met", { time: NG.fmtTime(doneAt) }));
    else if (due && Date.parse(due) < Date.now()) state = el("span", { class: "ng-late" }, t("deadline.breached"));
    else state = el("span", { class: "ng-muted" }, t("deadline.pending"));
    return el("tr", { dataset: { deadline: kind } }, el("th", {}, t(`deadline.${kind}.title`)),
      el("td", {}, NG.fmtTime(due)), el("td", {}, state));
  }

  function render(d) {
    const at = STEPS.indexOf(d.status);
    const side = at < 0;  // rejected, merged, reopened: not on the straight line
    const steps = el("div", { class: "ng-steps", id: "ng-steps", "aria-label": t("track.progress") },
      STEPS.map((s, i) => el("span", { class: `ng-step ${!side && i < at ? "ng-done-step" : ""} ${s === d.status ? "ng-current" : ""}` },
        t(`status.${s}`))));
    const trail = el("ol", { class: "ng-timeline", id: "ng-timeline" }, (d.trail || []).map((e) => el("li", {},
      el("div", {}, el("strong", {}, t(`track.action.${e.action}`, t(`action.${e.action}`, e.action)))),
      el("div", { class: "ng-muted" }, NG.fmtTime(e.at), e.to && e.from !== e.to ? ` · ${t(`status.${e.to}`, e.to)}` : ""))));
    NG.fill(body,
      el("div", { class: "ng-code", id: "ng-code" }, d.tracking_code),
      el("h2", { id: "ng-category" }, name(d, "category_name") || d.category),
      el("div", { class: "ng-row" }, el("span", { id: "ng-status" }, NG.badge("status", d.status)),
        NG.badge("warning", d.warning_level)),
      side ? null : steps,
      el("p", { class: "ng-description" }, d.description),
      el("table", { class: "ng-deadlines", id: "ng-deadlines" },
        deadline("response", d.due_response_at, d.accepted_at),
        deadline("onsite", d.due_onsite_at, d.on_site_at || d.resolved_at),
        deadline("resolve", d.due_resolve_at, d.resolved_at)),
      rating(d), reopen(d),
      d.satisfaction ? el("p", { id: "ng-rated" }, fmt("track.rated", { n: d.satisfaction }), " ",
        el("span", { class: "ng-stars-text", "aria-hidden": "true" }, "★".repeat(d.satisfaction) + "☆".repeat(5 - d.satisfaction))) : null,
      el("h3", {}, t("track.timeline")), trail,
      backLink());
  }

  function rating(d) {
    if (!d.can_evaluate) return null;
    let score = 0;
    const stars = [1, 2, 3, 4, 5].map((n) => el("button", { type: "button", class: "ng-star", dataset: { score: n },
      "aria-label": fmt("track.stars", { n }), "aria-pressed": "false",
      onclick: () => { score = n; busy = true; stars.forEach((s, i) => { s.classList.toggle("ng-on", i < n); s.setAttribute("aria-pressed", String(i < n)); }); } },
    "★"));
    const comment = el("textarea", { id: "ng-comment", class: "form-control", rows: 2, maxlength: 2000,
      placeholder: t("track.comment_hint"), onfocus: () => { busy = true; } });
    const msg = el("div", { class: "ng-error", id: "ng-rate-error", role: "alert" });
    const form = el("form", { class: "ng-form-box", id: "ng-rate" },
      el("h3", {}, t("track.rate_title")), el("p", { class: "ng-muted" }, t("track.rate_hint")),
      el("div", { class: "ng-stars", role: "group", "aria-label": t("track.rate_title") }, stars),
      comment, msg,
      el("button", { type: "submit", class: "btn btn-primary ng-big ng-wide", id: "ng-rate-submit" }, t("track.rate_submit")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!score) { msg.textContent = t("track.need_score"); return; }
      const r = await transition({ action: "evaluate", satisfaction: score, comment: comment.value.trim() || undefined });
      if (!r.ok && r.status !== 409) msg.textContent = `${t("error.action")} ${r.data?.detail || r.status}`;
    });
    return form;
  }

  function reopen(d) {
    if (!d.can_reopen) return null;  // the service's rule (requests.policy.can_reopen), not a copy
    const reason = el("textarea", { id: "ng-reopen-reason", class: "form-control", rows: 3, maxlength: 2000, required: true,
      onfocus: () => { busy = true; } });
    const msg = el("div", { class: "ng-error", id: "ng-reopen-error", role: "alert" });
    const form = el("form", { class: "ng-form-box", id: "ng-reopen" },
      el("h3", {}, t("track.reopen_title")), el("p", { class: "ng-muted" }, t("track.reopen_hint")),
      el("label", { for: "ng-reopen-reason" }, t("track.reopen_reason")), reason, msg,
      el("button", { type: "submit", class: "btn btn-warning ng-big ng-wide", id: "ng-reopen-submit" }, t("track.reopen_submit")));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      if (!reason.value.trim()) { msg.textContent = t("track.need_reason"); reason.focus(); return; }
      const r = await transition({ action: "reopen", reason: reason.value.trim() });
      if (!r.ok && r.status !== 409) msg.textContent = `${t("error.action")} ${r.data?.detail || r.status}`;
    });
    return form;
  }

  async function transition(fields) {
    const r = await api(`requests/${current.id}/transitions`, { method: "POST", auth: false,
      body: { ...fields, tracking_code: code, version: current.version } });
    busy = false;
    if (r.ok) {
      NG.toast(t(fields.action === "evaluate" ? "track.thanks" : "track.reopened"), "ok");
      await load();
    } else if (r.status === 409) {
      await load();
      NG.toast(t("track.changed"), "warn", 12000);
    }
    return r;
  }

  window.NGTrack = { reload: () => load() };
  await load({ fit: true });
  setInterval(() => { if (!busy && document.visibilityState === "visible") load(); }, 30000);
})();
