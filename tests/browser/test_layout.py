"""Every page at phone size (375×812) and desktop size (1440×900): no horizontal overflow, the map
fills the screen, the panel fits and is usable; English is one switch away. Screenshots go to
``NEIGHBORGRID_SCREENSHOTS`` when it is set (``docs/screenshots`` for the README).

Layout does not depend on the database, so these run on one backend."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.browser import DESKTOP, PHONE, screenshot, sign_in, wait_until
from tests.service.requests.api import body
from tests.support.backends import DEMO_PASSWORD

pytestmark = pytest.mark.browser
CJK = re.compile(r"[\u3400-\u9fff]")
#: A few cases of each colour, so the dispatcher's map looks like a working day.
SAMPLE = [
    "littering",
    "noise",
    "sanitation",
    "pipe_leak",
    "lift_failure",
    "street_lighting",
    "elderly_help",
    "medical_emergency",
    "illegal_parking",
    "water_outage",
    "fire_hazard",
    "neighbour_dispute",
]


def seed_cases(cases, town, *, first_seed: int) -> list[dict]:
    grids = sorted(town.grids)
    out = []
    for i, category in enumerate(SAMPLE):
        out.append(
            cases.create(
                body(
                    category,
                    town.inner_point(grids[(i * 2) % len(grids)], seed=first_seed + i),
                    reporter_name="王女士",
                    reporter_phone="13812345678",
                )
            )
        )
    cases.drive(out[1], "accepted")
    cases.drive(out[3], "dispatched")
    cases.drive(out[5], "resolved")
    return out


def check_layout(page: Page, size: tuple[int, int]) -> None:
    width, height = size
    overflow = page.evaluate("[document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]")
    assert max(overflow[:2]) <= overflow[2], f"horizontal overflow: {overflow}"
    box = page.locator(".folium-map").bounding_box()
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, width, height), "the map fills the screen"
    panel = page.locator("#ng-panel").bounding_box()
    assert panel["x"] >= 0 and panel["y"] >= 0, panel
    assert panel["x"] + panel["width"] <= width + 0.5 and panel["y"] + panel["height"] <= height + 0.5, panel
    if width <= 600:  # a bottom sheet that leaves most of the map visible
        assert panel["y"] >= height * 0.2 and panel["width"] == width, panel
    else:
        assert panel["width"] <= width * 0.45, panel
    targets = "#ng-panel button.btn:not(.btn-sm), #ng-panel .ng-big, #ng-panel select:not(.form-select-sm)"
    small = page.evaluate(
        """(sel) => [...document.querySelectorAll(sel)].filter((b) => b.offsetParent !== null)
             .map((b) => [b.id || b.textContent.trim(), b.getBoundingClientRect().height])
             .filter(([, h]) => h < 43.5)""",
        targets,
    )
    assert not small, f"touch targets under 44 px: {small}"


def collapse_and_expand(page: Page) -> None:
    before = page.locator("#ng-panel").bounding_box()["height"]
    page.click("#ng-collapse")
    assert page.locator("#ng-panel").bounding_box()["height"] < min(before, 90)
    page.click("#ng-collapse")
    expect(page.locator("#ng-body")).to_be_visible()


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_dispatch_map_layout(backend, open_page, cases, town, size, screenshot_dir):
    seeded = seed_cases(cases, town, first_seed=2000 + size[0])
    page = open_page(viewport=size)
    page.goto(f"{backend.base_url}/map/dispatch")
    check_layout(page, size)  # the sign-in form too
    sign_in(page, "dispatcher", DEMO_PASSWORD)
    wait_until(page, "window.NGDispatch && NGDispatch.ready")
    wait_until(page, "(id) => NGDispatch.has(id)", arg=seeded[-1]["id"])
    expect(page.locator("#ng-queue .ng-queue-item").first).to_be_visible()
    page.wait_for_timeout(400)
    check_layout(page, size)
    screenshot(page, f"dispatch-{size[0]}x{size[1]}", directory=screenshot_dir)
    page.locator(f'.ng-queue-item[data-id="{seeded[1]["id"]}"]').click()  # accepted: ready to dispatch
    expect(page.locator(".ng-detail-title")).to_contain_text(f"#{seeded[1]['id']}")
    if page.locator("#ng-act-dispatch").count():
        page.click("#ng-act-dispatch")  # the volunteers, by walking time
    page.wait_for_timeout(600)
    check_layout(page, size)
    screenshot(page, f"dispatch-detail-{size[0]}x{size[1]}", directory=screenshot_dir)
    if size == PHONE:
        collapse_and_expand(page)


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_station_finder_layout(backend, open_page, town, size, screenshot_dir):
    here = town.inner_point(sorted(town.grids)[12], seed=2100)
    page = open_page(viewport=size, at=here)
    page.goto(f"{backend.base_url}/map/stations")
    expect(page.locator("#ng-locate")).to_be_visible()
    check_layout(page, size)
    page.click("#ng-locate")
    page.locator("#ng-nearby .ng-station").nth(1).click()
    expect(page.locator("path.ng-circle-15").first).to_be_attached()
    page.wait_for_timeout(500)
    check_layout(page, size)
    expect(page.locator("#ng-chosen")).to_be_in_viewport()
    screenshot(page, f"stations-{size[0]}x{size[1]}", directory=screenshot_dir)
    page.click("#ng-report-open")
    expect(page.locator("#ng-report-form")).to_be_visible()
    check_layout(page, size)
    expect(page.locator("#ng-submit")).to_be_visible()
    screenshot(page, f"report-{size[0]}x{size[1]}", directory=screenshot_dir)
    if size == PHONE:
        collapse_and_expand(page)


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_track_page_layout(backend, open_page, cases, town, size, screenshot_dir):
    req = cases.create(body("lift_failure", town.inner_point(sorted(town.grids)[9], seed=2200 + size[0])))
    cases.drive_from(req, ("accept", "dispatch", "arrive", "resolve"))
    page = open_page(viewport=size)
    page.goto(f"{backend.base_url}/track/{req['tracking_code']}")
    expect(page.locator("#ng-rate")).to_be_visible()
    page.wait_for_timeout(300)
    check_layout(page, size)
    screenshot(page, f"track-{size[0]}x{size[1]}", directory=screenshot_dir)


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_planner_map_layout(backend, open_page, size, screenshot_dir):
    page = open_page(viewport=size)
    page.goto(f"{backend.base_url}/map/planner")
    sign_in(page, "planner", DEMO_PASSWORD)
    wait_until(page, "window.NGPlanner && NGPlanner.ready")
    page.check("#ng-buildings")
    page.check("#ng-gaps")
    expect(page.locator("path.ng-gap").first).to_be_attached()
    expect(page.locator("#ng-grid-table tbody tr").first).to_be_attached()
    page.wait_for_timeout(400)
    check_layout(page, size)
    wrap = page.evaluate(
        "(() => { const w = document.querySelector('.ng-table-wrap').getBoundingClientRect();"
        " return [w.left, w.right]; })()"
    )
    assert wrap[1] <= size[0], "the table scrolls inside the panel, not the page"
    screenshot(page, f"planner-{size[0]}x{size[1]}", directory=screenshot_dir)


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_english_is_one_switch_away(backend, page, town):
    page.goto(f"{backend.base_url}/map/stations")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#ng-locate")).to_contain_text("定位我的位置")
    page.click("#ng-lang")
    expect(page).to_have_url(re.compile(r"[?&]lang=en\b"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.title() == "Stations near me"
    expect(page.locator("#ng-locate")).to_have_text(re.compile(r"Find my location"))
    here = town.inner_point(sorted(town.grids)[3], seed=2300)
    page.evaluate("(p) => NGStations.setMe(p)", list(here))
    expect(page.locator("#ng-nearby .ng-station").first).to_contain_text(re.compile(r"\d+ min walk"))
    assert not CJK.search(page.locator("#ng-find").inner_text()), "no Chinese label left on the English page"

    page.goto(f"{backend.base_url}/map/dispatch?lang=en")  # the sign-in form and the panel, in English
    expect(page.locator("#ng-login h1")).to_have_text("Dispatch map")
    sign_in(page, "dispatcher", DEMO_PASSWORD)
    wait_until(page, "window.NGDispatch && NGDispatch.ready")
    expect(page.locator("#ng-live")).to_contain_text("Live")
    for selector in (".ng-head h1", "#ng-filters summary", "#ng-list-view h2", "#ng-legend"):
        assert not CJK.search(page.locator(selector).first.inner_text()), selector
    page.click("#ng-lang")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator(".ng-head h1")).to_have_text("调度地图")  # still signed in, back in Chinese
