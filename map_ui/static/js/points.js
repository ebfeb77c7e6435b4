/* neighborgrid: a volunteer's points (/map/points, volunteers).
 *
 * The balance as the service derives it from the ledger (GET /points/me), the history newest first
 * with the balance after each entry, the community's catalogue with prices (GET /points/catalogue),
 * redeeming an item (POST /points/redeem; the service refuses more than the balance with 409) and the
 * community's honour roll (GET /points/leaderboard). The map shows where the volunteer last reported.
 */
(async function () {
  "use strict";
  const { t, fmt, el, api, toMap, name } = NG;

  const account = await NG.requireLogin(NG.config.roles);
  const body = NG.shell({ account });
  NG.drawBase();

  let points = null;       // GET /points/me
  let volunteer = null;    // GET /volunteers/me
  let catalogue = [];

  const balanceBox = el("div", { id: "ng-points-summary", class: "ng-points-summary" }, el("p", { class: "ng-muted" }, t("loading")));
  const catalogueBox = el("div", { id: "ng-catalogue-box" });
  const historyBox = el("div", { id: "ng-history-box" });
  const boardBox = el("div", { id: "ng-board-box" });
  body.append(NG.pageLinks("points"), balanceBox, catalogueBox, historyBox, boardBox);

  /* -- balance and history ----------------------------------------------------------------- */
  function entryLabel(e) {
    if (e.kind === "redeem") return fmt("points.entry.redeem", { item: name(e, "item_name") || `#${e.catalogue_item_id}`, n: e.quantity || 1 });
    if (e.kind === "correction") return t("points.entry.correction");
    return fmt("points.entry.earn", { source: t(`points.source.${e.source_type}`, e.source_type || ""), h: e.hours ?? "—" });
  }
  function renderPoints() {
    const p = points;
    NG.fill(balanceBox,
      el("div", { class: "ng-balance-line" },
        el("span", { class: "ng-muted" }, t("points.balance")),
        el("strong", { class: "ng-balance", id: "ng-balance", dataset: { balance: p.balance } }, String(p.balance)),
        el("span", { class: "ng-muted" }, t("points.unit"))),
      el("div", { class: "ng-row ng-muted ng-small" },
        el("span", { id: "ng-earned" }, fmt("points.earned", { n: p.earned })),
        el("span", { id: "ng-redeemed" }, fmt("points.redeemed", { n: p.redeemed }))));
    NG.fill(historyBox, el("h2", {}, t("points.history")),
      p.history.length ? el("ol", { class: "ng-list ng-points-history", id: "ng-history" }, p.history.slice(0, 50).map((e) =>
        el("li", { class: "ng-history-item", dataset: { id: e.id, kind: e.kind } },
          el("span", { class: "ng-history-main" }, el("span", {}, entryLabel(e)),
            el("span", { class: "ng-muted ng-small" }, NG.fmtTime(e.at), e.note ? ` · ${e.note}` : "")),
          el("span", { class: `ng-amount ${e.amount < 0 ? "ng-minus" : "ng-plus"}` }, `${e.amount > 0 ? "+" : ""}${e.amount}`,
            el("div", { class: "ng-muted ng-small" }, fmt("points.after", { n: e.balance_after }))))))
        : el("p", { class: "ng-muted" }, t("points.no_history")));
  }
  function renderCatalogue() {
    NG.fill(catalogueBox, el("h2", {}, t("points.catalogue")),
      catalogue.length ? el("ul", { class: "ng-list", id: "ng-catalogue" }, catalogue.map((item) => {
        const short = points && item.price > points.balance;
        return el("li", { class: "ng-catalogue-item", dataset: { id: item.id, price: item.price } },
          el("span", { class: "ng-history-main" }, el("strong", {}, name(item)),
            el("span", { class: "ng-muted ng-small" }, `${item.price} ${t("points.unit")} / ${name(item, "unit")}`,
              item.provider_zh ? ` · ${item.provider_zh}` : "")),
          el("button", { type: "button", class: "btn btn-outline-primary ng-redeem", id: `ng-redeem-${Number(item.id)}`,
            disabled: short, title: short ? t("points.short") : null, onclick: () => redeem(item) }, t("points.redeem")));
      })) : el("p", { class: "ng-muted" }, t("points.no_catalogue")));
  }
  async function renderBoard() {
    const r = await api("points/leaderboard", { params: { by: "volunteer", community_id: volunteer?.community_id, limit: 10 } });
    if (!r.ok) return;
    NG.fill(boardBox, el("h2", {}, t("points.leaderboard")), el("ol", { class: "ng-board", id: "ng-leaderboard" },
      r.data.items.map((row) => el("li", { class: row.volunteer_id === volunteer?.id ? "ng-active" : "" },
        el("span", {}, name(row)), el("span", { class: "ng-muted" }, ` ${row.points}`)))));
  }

  async function loadPoints() {
    const r = await api("points/me");
    if (!r.ok) { NG.fill(balanceBox, el("p", { class: "ng-error", id: "ng-points-error" }, r.data?.detail || t("error.load"))); return false; }
    points = r.data;
    renderPoints();
    return true;
  }

  /* -- redeeming --------------------------------------------------------------------------- */
  async function redeem(item) {
    document.querySelectorAll(".ng-redeem").forEach((b) => { b.disabled = true; });
    const r = await api("points/redeem", { method: "POST", body: { item: item.id } });
    if (r.ok) NG.toast(fmt("points.redeemed_item", { item: name(item), n: r.data.balance }), "ok");
    else if (r.status === 409) NG.toast(t("points.short"), "warn", 12000);
    else NG.toast(`${t("error.action")} ${r.data?.detail || r.status}`, "error", 12000);
    await loadPoints();
    renderCatalogue();
    return r;
  }

  /* -- start ------------------------------------------------------------------------------- */
  const me = await api("volunteers/me");
  volunteer = me.ok ? me.data : null;
  if (volunteer && volunteer.lon != null) {
    L.marker(toMap(volunteer.lon, volunteer.lat), { keyboard: false, title: name(volunteer),
      icon: L.divIcon({ className: "ng-me-icon", html: '<span class="ng-me"></span>', iconSize: [18, 18], iconAnchor: [9, 9] }) })
      .bindTooltip(() => `${t("volunteer.position")}: ${NG.fmtAgo(volunteer.position_at)}`, { direction: "top" }).addTo(NG.map);
  }
  const [, cat] = await Promise.all([loadPoints(),
    api("points/catalogue", { auth: false, params: { community_id: volunteer?.community_id } })]);
  catalogue = cat.ok ? cat.data : [];
  renderCatalogue();
  window.NGPoints = { ready: true, get balance() { return points?.balance; }, redeem };
  renderBoard();
})();
