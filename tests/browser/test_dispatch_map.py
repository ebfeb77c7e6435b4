"""The dispatcher's live map in a real browser: requests appear and recolour live, the stream
catches up after a dropped connection, and actions taken on the map are recorded by the service."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.browser import sign_in, wait_until
from tests.service.requests.api import body
from tests.support.backends import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def open_dispatch(page: Page, base_url: str, user: str = "dispatcher", lang: str = "zh") -> None:
    page.goto(f"{base_url}/map/dispatch?lang={lang}")
    sign_in(page, user, DEMO_PASSWORD)
    wait_until(page, "window.NGDispatch && NGDispatch.ready")
    expect(page.locator("#ng-live")).to_have_attribute("data-state", "open")


def marker(page: Page, request_id: int):
    """The request's own marker, zoomed out of any cluster first."""
    assert page.evaluate("(id) => NGDispatch.reveal(id)", request_id), f"request {request_id} is not on the map"
    return page.locator(f'.ng-req[data-id="{request_id}"]')


def select(page: Page, request_id: int) -> None:
    marker(page, request_id).click()
    expect(page.locator(".ng-detail-title")).to_contain_text(f"#{request_id}")


def test_a_posted_request_appears_within_2_s_and_recolours_after_an_escalation(backend, page, cases, town):
    open_dispatch(page, backend.base_url)
    point = town.inner_point(sorted(town.grids)[3], seed=501)
    req = cases.create(body("littering", point))  # severity 1: blue
    posted = time.monotonic()
    wait_until(page, "(id) => NGDispatch.has(id)", arg=req["id"], timeout_ms=2000)
    assert time.monotonic() - posted < 2.0
    m = marker(page, req["id"])
    expect(m).to_be_visible()
    expect(m).to_have_attribute("data-warning", "blue")
    expect(m).not_to_have_class(re.compile(r"\bng-breached\b"))

    # Nobody answers: past the 5-minute deadline the scheduler escalates it (grid -> compound) and
    # the colour climbs two steps; the marker recolours and flashes without a reload.
    backend.clock.advance(timedelta(minutes=6))
    expect(m).to_have_attribute("data-warning", "orange", timeout=5000)
    expect(m).to_have_class(re.compile(r"\bng-breached\b"))
    assert page.evaluate("(id) => NGDispatch.get(id).level", req["id"]) == "compound"
    assert cases.get(req["id"])["warning_level"] == "orange"
    expect(page.locator("#ng-count-late")).not_to_have_text(re.compile(r"^超时 0$"))


def test_the_live_map_catches_up_after_the_stream_drops(backend, page, cases, town, guard):
    """The connection fails (the browser cannot reach the stream for a while): requests raised
    meanwhile appear once it reconnects, from `since` = the last event id, with no reload."""
    open_dispatch(page, backend.base_url)
    seen = cases.create(body("noise", town.inner_point(sorted(town.grids)[4], seed=599)))["id"]
    wait_until(page, "(id) => NGDispatch.has(id)", arg=seen)  # the page now knows the last event id
    last_id = page.evaluate("NGDispatch.stream.lastId")
    assert last_id is not None
    guard.allow(r"ERR_FAILED|ERR_BLOCKED_BY_CLIENT")  # the stream requests we break on purpose
    broken = lambda route: route.abort("failed")  # noqa: E731
    page.route(re.compile(r"/api/v1/events\?"), broken)
    page.evaluate("NGDispatch.stream.drop()")
    expect(page.locator("#ng-live")).not_to_have_attribute("data-state", "open")
    missed = [cases.create(body("noise", town.inner_point(sorted(town.grids)[i], seed=600 + i)))["id"] for i in (5, 6)]
    time.sleep(1.0)
    assert not page.evaluate("(ids) => ids.some((id) => NGDispatch.has(id))", missed)
    reconnects = []
    page.on("request", lambda r: reconnects.append(r.url) if "/api/v1/events?" in r.url else None)
    page.unroute(re.compile(r"/api/v1/events\?"), broken)
    for rid in missed:
        wait_until(page, "(id) => NGDispatch.has(id)", arg=rid, timeout_ms=20_000)
    expect(page.locator("#ng-live")).to_have_attribute("data-state", "open")
    assert f"since={last_id}" in reconnects[-1], "it caught up from the last event id"

    # Paused by hand (as when a laptop sleeps) and resumed: the same catch-up.
    page.evaluate("NGDispatch.stream.pause()")
    expect(page.locator("#ng-live")).to_have_attribute("data-state", "paused")
    later = cases.create(body("noise", town.inner_point(sorted(town.grids)[7], seed=610)))["id"]
    time.sleep(0.8)
    assert not page.evaluate("(id) => NGDispatch.has(id)", later)
    page.evaluate("NGDispatch.stream.resume()")
    wait_until(page, "(id) => NGDispatch.has(id)", arg=later, timeout_ms=5000)


def test_a_dispatcher_accepts_and_dispatches_to_a_volunteer_picked_by_walking_time(backend, page, cases, town):
    req = cases.create(
        body(
            "pipe_leak",
            town.inner_point(sorted(town.grids)[8], seed=701),
            reporter_name="林阿姨",
            reporter_phone="13812345678",
        )
    )
    open_dispatch(page, backend.base_url)
    wait_until(page, "(id) => NGDispatch.has(id)", arg=req["id"])
    select(page, req["id"])
    # the reporter is shown unmasked to the dispatcher (and only on this page)
    expect(page.locator(".ng-facts")).to_contain_text("林阿姨")
    expect(page.locator("#ng-reporter-phone")).to_have_text(re.compile(r"13812345678"))
    expect(page.locator("#ng-trail")).to_contain_text("上报")

    page.click("#ng-act-accept")
    expect(page.locator(".ng-badge-status")).to_have_attribute("data-value", "accepted")
    page.click("#ng-act-dispatch")
    rows = page.locator("#ng-candidates .ng-candidate")
    expect(rows.first).to_be_visible()
    shown = [int(x) for x in rows.evaluate_all("(els) => els.map((e) => e.dataset.volunteerId)")]
    ranked = cases.as_("dispatcher").get(f"/api/v1/requests/{req['id']}/volunteers", params={"limit": 15}).json()
    assert shown == [v["volunteer_id"] for v in ranked], "the list is the service's walking-time order"
    walks = [v["walk_m"] for v in ranked]
    assert walks == sorted(walks)
    pick = rows.nth(1 if len(shown) > 1 else 0)  # not simply the first: the one the dispatcher picks
    chosen = int(pick.get_attribute("data-volunteer-id"))
    pick.click()
    expect(page.locator(".ng-badge-status")).to_have_attribute("data-value", "dispatched")

    stored = cases.get(req["id"])
    assert stored["status"] == "dispatched" and stored["volunteer_id"] == chosen
    last = stored["trail"][-1]
    assert last["action"] == "dispatch" and last["actor"] == "dispatcher" and last["data"]["volunteer_id"] == chosen


def test_escalate_reject_verify_and_department_dispatch_from_the_map(backend, page, cases, town):
    grids = sorted(town.grids)
    a = cases.create(body("noise", town.inner_point(grids[10], seed=801)))
    b = cases.create(body("littering", town.inner_point(grids[11], seed=802)))
    c = cases.drive(cases.create(body("street_lighting", town.inner_point(grids[12], seed=803))), "resolved")
    d = cases.drive(cases.create(body("illegal_construction", town.inner_point(grids[13], seed=804))), "accepted")
    open_dispatch(page, backend.base_url)
    for r in (a, b, c, d):
        wait_until(page, "(id) => NGDispatch.has(id)", arg=r["id"])

    select(page, a["id"])  # escalate with a reason, one level up by default
    page.click("#ng-act-escalate")
    page.fill("#ng-reason", "需要社区协调 needs the community")
    page.click("#ng-confirm")
    expect(page.locator(".ng-badge-level")).to_have_attribute("data-value", "compound")
    stored = cases.get(a["id"])
    assert stored["level"] == "compound" and stored["trail"][-1]["note"] == "需要社区协调 needs the community"

    page.click("#ng-back")
    select(page, b["id"])  # reject with a reason: it leaves the map
    page.click("#ng-act-reject")
    page.fill("#ng-reason", "不属于本社区 not ours")
    page.click("#ng-confirm")
    expect(page.locator(".ng-badge-status")).to_have_attribute("data-value", "rejected")
    wait_until(page, "(id) => !NGDispatch.has(id)", arg=b["id"])
    assert cases.get(b["id"])["status"] == "rejected"

    page.click("#ng-back")
    select(page, c["id"])  # verify a resolved case
    page.click("#ng-act-verify")
    expect(page.locator(".ng-badge-status")).to_have_attribute("data-value", "verified")
    assert cases.get(c["id"])["status"] == "verified"

    page.click("#ng-back")
    select(page, d["id"])  # dispatch to the department paired with the community
    page.click("#ng-act-dispatch")
    page.click("#ng-dispatch-department")
    expect(page.locator(".ng-badge-status")).to_have_attribute("data-value", "dispatched")
    stored = cases.get(d["id"])
    assert stored["department_id"] is not None and stored["department_status"] == "pending"


def test_a_stale_action_gets_a_clear_message_and_the_fresh_state(backend, page, cases, town, guard):
    guard.allow(r"status of 409")  # the conflict this test provokes
    req = cases.create(body("littering", town.inner_point(sorted(town.grids)[14], seed=901)))
    open_dispatch(page, backend.base_url)
    wait_until(page, "(id) => NGDispatch.has(id)", arg=req["id"])
    select(page, req["id"])
    page.evaluate("NGDispatch.stream.pause()")  # the page does not hear of the change below
    cases.act(req["id"], "accept")  # someone else accepts it meanwhile
    page.click("#ng-act-accept")  # sent with the version the page had
    expect(page.locator("#ng-toast")).to_contain_text("他人更新")
    expect(page.locator(".ng-badge-status")).to_have_attribute("data-value", "accepted")  # reloaded
    expect(page.locator("#ng-act-accept")).to_have_count(0)
    assert [e["action"] for e in cases.get(req["id"])["trail"]].count("accept") == 1


def test_filters_heatmap_grid_colouring_and_volunteers(backend, page, cases, town):
    grid = sorted(town.grids)[16]
    red = cases.create(body("medical_emergency", town.inner_point(grid, seed=1001)))  # severity 4: red
    # A phone call, entered by the dispatcher (the phone channel is staff's).
    blue = cases.create(
        body("littering", town.inner_point(sorted(town.grids)[17], seed=1002), channel="phone"), user="dispatcher"
    )
    open_dispatch(page, backend.base_url)
    for r in (red, blue):
        wait_until(page, "(id) => NGDispatch.has(id)", arg=r["id"])
    assert page.evaluate("(id) => NGDispatch.get(id).warning_level", red["id"]) == "red"
    shown = "(id) => NGDispatch.requests.get(id).shown"

    page.click('.ng-chip[data-filter="warning"][data-value="red"]')  # hide red cases
    wait_until(page, f"(id) => !({shown})(id)", arg=red["id"])
    assert page.evaluate(shown, blue["id"])
    page.click('.ng-chip[data-filter="warning"][data-value="red"]')
    page.select_option("#ng-filter-channel", "phone")
    wait_until(page, f"(id) => !({shown})(id)", arg=red["id"])
    assert page.evaluate(shown, blue["id"])
    page.select_option("#ng-filter-channel", "")
    page.select_option("#ng-filter-category", "medical_emergency")
    wait_until(page, f"(id) => !({shown})(id)", arg=blue["id"])
    assert page.evaluate(shown, red["id"])
    page.select_option("#ng-filter-category", "")
    page.select_option("#ng-filter-level", "township")  # nothing of ours is at township level
    wait_until(page, f"(ids) => ids.every((id) => !({shown})(id))", arg=[red["id"], blue["id"]])
    page.select_option("#ng-filter-level", "")

    page.check("#ng-heat")  # the heatmap
    expect(page.locator("canvas.leaflet-heatmap-layer")).to_have_count(1)
    page.uncheck("#ng-heat")
    expect(page.locator("canvas.leaflet-heatmap-layer")).to_have_count(0)

    fill = "(id) => NGDispatch.grids.get(id).layer.options.fillColor"
    page.click('button[data-mode="warning"]')  # grids by their worst warning: red here
    wait_until(page, f"([id, c]) => ({fill})(id) === c", arg=[grid, "#d62828"])
    page.click('button[data-mode="load"]')
    wait_until(page, f"([id, c]) => ({fill})(id) !== c", arg=[grid, "#d62828"])
    tip = page.evaluate(
        "(id) => { const l = NGDispatch.grids.get(id).layer; l.openTooltip(); "
        "return l.getTooltip().getElement().textContent; }",
        grid,
    )
    assert town.grid_props[grid]["code"] in tip and "在办诉求" in tip

    # on-duty volunteers show from street level, with the age of their position
    page.evaluate("() => { NG.map.setZoom(17); }")
    expect(page.locator(".ng-vol").first).to_be_attached()
    on_duty = cases.as_("dispatcher").get("/api/v1/volunteers", params={"on_duty": "true"}).json()["features"]
    expect(page.locator(".ng-vol")).to_have_count(len([v for v in on_duty if v["geometry"]]))


def test_osm_data_on_the_map_is_credited(backend, page):
    """When the stored layers hold OpenStreetMap data (an import), the page shows the credit."""
    page.route(
        "**/api/v1/attribution",
        lambda route: route.fulfill(
            json={
                "sources": [
                    {
                        "name": "OpenStreetMap",
                        "attribution": "© OpenStreetMap contributors",
                        "licence": "ODbL 1.0",
                        "url": "https://www.openstreetmap.org/copyright",
                        "layers": ["streets"],
                    }
                ]
            }
        ),
    )
    page.goto(f"{backend.base_url}/map/stations?lang=en")
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("OpenStreetMap contributors")
    page.unroute("**/api/v1/attribution")
    page.goto(f"{backend.base_url}/map/stations?lang=en")  # the demo is our own data: no credit needed
    expect(page.locator("#ng-locate")).to_be_visible()
    page.wait_for_timeout(300)
    assert "OpenStreetMap" not in page.locator(".leaflet-control-attribution").inner_text()
