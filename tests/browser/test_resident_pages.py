"""The resident's pages in a real browser, on a phone-sized screen: find stations, see a circle,
raise a request, follow it on its status page, rate it and reopen it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.browser import PHONE, wait_until

pytestmark = pytest.mark.browser


def click_map_at(page: Page, lon: float, lat: float) -> None:
    """A real click on the map where (lon, lat) is drawn."""
    x, y = page.evaluate(
        "([lon, lat]) => { const p = NG.map.latLngToContainerPoint(NG.toMap(lon, lat));"
        " const r = NG.map.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }",
        [lon, lat],
    )
    page.mouse.click(x, y)


def test_a_resident_finds_stations_sees_a_circle_raises_a_request_and_follows_it(backend, open_page, cases, town):
    here = town.inner_point(sorted(town.grids)[6], seed=1201)
    page = open_page(viewport=PHONE, at=here, touch=True)
    page.goto(f"{backend.base_url}/map/stations")
    expect(page.locator("#ng-locate")).to_be_visible()
    assert page.locator("#ng-locate").bounding_box()["height"] >= 44  # a big touch target
    page.tap("#ng-locate")  # where am I: the browser's geolocation

    rows = page.locator("#ng-nearby .ng-station")
    expect(rows.first).to_be_visible()
    nearby = (
        cases.as_(None)
        .get("/api/v1/stations/nearby", params={"lon": here[0], "lat": here[1], "minutes": 15, "limit": 100})
        .json()["features"]
    )
    first_of_type: dict[str, int] = {}
    for f in nearby:
        first_of_type.setdefault(f["properties"]["type"], f["id"])
    shown = [int(x) for x in rows.evaluate_all("(els) => els.map((e) => e.dataset.id)")]
    assert shown == list(first_of_type.values()), "the nearest station of each type, nearest first"
    expect(rows.first).to_contain_text(re.compile(r"步行 \d+ 分钟"))

    rows.first.tap()  # its 5/10/15-minute circles and the walk to it
    for minutes in (5, 10, 15):
        expect(page.locator(f"path.ng-circle-{minutes}").first).to_be_attached()
    expect(page.locator("#ng-chosen")).to_have_attribute("data-id", str(shown[0]))
    expect(page.locator("path.ng-route")).to_have_count(1)

    page.tap("#ng-report-open")  # raise a request at this place
    expect(page.locator("#ng-location")).to_contain_text(f"{here[0]:.5f}")
    page.select_option("#ng-category", "street_lighting")
    page.fill("#ng-description", "3号楼门口路灯不亮 the lamp by building 3 is out")
    page.fill("#ng-name", "陈先生")
    page.fill("#ng-phone", "13900001111")
    expect(page.locator("#ng-public")).not_to_be_checked()  # publishing is the resident's choice
    page.tap("label[for=ng-public]")
    page.tap("#ng-submit")
    code = page.locator("#ng-tracking-code")
    expect(code).to_have_text(re.compile(r"^[A-Z0-9]{4,16}$"))
    tracking = code.inner_text()
    status = cases.track(tracking)
    cases.created.append(status["id"])
    stored = cases.get(status["id"])
    assert stored["category"] == "street_lighting" and stored["reporter_name"] == "陈先生"
    assert stored["lon"] == pytest.approx(here[0], abs=1e-6) and stored["lat"] == pytest.approx(here[1], abs=1e-6)
    published = cases.as_(None).get(f"/open311/v2/requests/{status['id']}.json")
    assert published.status_code == 200 and "路灯不亮" in published.json()[0]["description"]

    page.tap("#ng-track-link")  # its status page
    expect(page).to_have_url(re.compile(rf"/track/{tracking}\b"))
    expect(page.locator("#ng-status .ng-badge")).to_have_attribute("data-value", "reported")
    expect(page.locator("#ng-timeline")).to_contain_text("您提交了诉求")
    expect(page.locator('#ng-deadlines tr[data-deadline="response"]')).to_be_visible()
    expect(page.locator("#ng-rate")).to_have_count(0)  # nothing to rate yet

    cases.drive_from(stored, ("accept", "dispatch", "arrive", "resolve"))  # the community handles it
    page.reload()
    expect(page.locator("#ng-status .ng-badge")).to_have_attribute("data-value", "resolved")
    page.tap('.ng-star[data-score="2"]')
    page.fill("#ng-comment", "灯还是时好时坏")
    page.tap("#ng-rate-submit")
    expect(page.locator("#ng-rated")).to_contain_text("2")
    expect(page.locator("#ng-reopen")).to_be_visible()  # a low rating offers to reopen
    page.fill("#ng-reopen-reason", "晚上又不亮了 out again at night")
    page.tap("#ng-reopen-submit")
    expect(page.locator("#ng-status .ng-badge")).to_have_attribute("data-value", "reopened")
    final = cases.get(status["id"])
    assert final["status"] == "reopened" and final["reopen_count"] == 1
    assert [e["action"] for e in final["trail"]][-2:] == ["evaluate", "reopen"]


def test_a_click_on_the_map_is_where_i_am(backend, page, town):
    here = town.inner_point(sorted(town.grids)[15], seed=1301)
    page.goto(f"{backend.base_url}/map/stations")
    wait_until(page, "window.NGStations && document.querySelectorAll('.ng-st').length > 0")
    click_map_at(page, *here)
    expect(page.locator("#ng-nearby .ng-station").first).to_be_visible()
    clicked = page.evaluate("NGStations.me")
    assert clicked[0] == pytest.approx(here[0], abs=2e-5) and clicked[1] == pytest.approx(here[1], abs=2e-5)


def test_an_unknown_tracking_code_says_so(backend, page, guard):
    guard.allow(r"status of 404")  # the API's answer for an unknown code
    page.goto(f"{backend.base_url}/track/NOSUCHCODE1")
    expect(page.locator("#ng-track-error")).to_be_visible()
