"""The planner's map in a real browser: layer toggles and the table per grid."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.browser import sign_in, wait_until
from tests.support.backends import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def test_the_planner_toggles_layers_and_the_table_shows_every_grid(backend, page, cases):
    planner = cases.as_("planner")
    grids = planner.get("/api/v1/grids").json()["features"]
    buildings = planner.get("/api/v1/buildings").json()["features"]
    stations = planner.get("/api/v1/stations").json()["features"]
    page.goto(f"{backend.base_url}/map/planner")
    sign_in(page, "planner", DEMO_PASSWORD)
    wait_until(page, "window.NGPlanner && NGPlanner.ready")

    # the table: one row per grid of the merged layer, with households, buildings and workers
    rows = page.locator("#ng-grid-table tbody tr")
    expect(rows).to_have_count(len(grids))
    first = min(grids, key=lambda f: f["properties"]["code"])
    row = page.locator(f'#ng-grid-table tbody tr[data-id="{first["id"]}"]')
    cells = row.locator("td").all_inner_texts()
    assert first["properties"]["code"] in cells[0]
    assert cells[1:4] == [
        str(first["properties"]["households"]),
        str(first["properties"]["buildings"]),
        str(first["properties"]["workers_count"]),
    ]
    page.click('#ng-grid-table th[data-key="households"]')  # sorting by a column
    shown = [int(x) for x in rows.evaluate_all("(els) => els.map((e) => e.dataset.id)")]
    by_households = sorted(grids, key=lambda f: -f["properties"]["households"])
    assert [f["properties"]["households"] for f in by_households] == [
        next(g for g in grids if g["id"] == i)["properties"]["households"] for i in shown
    ]
    row.click()  # a row highlights its grid on the map
    assert page.evaluate("NGPlanner.grids.highlighted") == first["id"]

    # grids by department layer, and back to the merged one-network layer
    for layer in ("health", "one_network"):
        page.select_option("#ng-grid-layer", layer)
        expected = planner.get("/api/v1/grids", params={"layer": layer}).json()["features"]
        wait_until(page, "(layer) => NGPlanner.grids.layerName === layer", arg=layer)
        expect(rows).to_have_count(len(expected))
        assert page.evaluate("NGPlanner.grids.features().length") == len(expected)
    page.uncheck("#ng-show-grids")
    assert not page.evaluate("NGPlanner.grids.visible()")
    page.check("#ng-show-grids")

    # buildings shaded by households
    page.check("#ng-buildings")
    expect(page.locator("path.ng-building")).to_have_count(len(buildings))
    expect(page.locator("#ng-building-legend")).to_be_visible()
    page.uncheck("#ng-buildings")
    expect(page.locator("path.ng-building")).to_have_count(0)

    # stations and their circles
    expect(page.locator(".ng-st")).to_have_count(len(stations))
    page.select_option("#ng-station-type", "childcare")
    childcare = [s for s in stations if s["properties"]["type"] == "childcare"]
    expect(page.locator(".ng-st")).to_have_count(len(childcare))
    page.check("#ng-circles")
    expect(page.locator("path.ng-circle-10")).to_have_count(len(childcare))
    page.select_option("#ng-circle-minutes", "5")
    expect(page.locator("path.ng-circle-5")).to_have_count(len(childcare))
    page.uncheck("#ng-stations")
    expect(page.locator(".ng-st")).to_have_count(0)

    # coverage gaps for a station type: exactly the uncovered buildings the API reports
    page.select_option("#ng-gap-type", "elderly_care_centre")
    page.select_option("#ng-gap-minutes", "10")
    page.check("#ng-gaps")
    report = planner.get("/api/v1/coverage", params={"type": "elderly_care_centre", "minutes": 10}).json()
    expect(page.locator("path.ng-gap")).to_have_count(len(report["uncovered_buildings"]["features"]))
    share = f"{round(report['overall']['households_share'] * 1000) / 10:g}%"
    expect(page.locator("#ng-gap-summary")).to_contain_text(share)
    expect(page.locator('#ng-grid-table th[data-key="coverage"]')).to_be_visible()  # a coverage column per grid
    page.uncheck("#ng-gaps")
    expect(page.locator("path.ng-gap")).to_have_count(0)


def test_the_table_shows_open_cases_and_kpis_per_grid(backend, page, cases, town):
    from tests.service.requests.api import body

    grid = sorted(town.grids)[2]
    for i in range(2):
        cases.create(body("littering", town.inner_point(grid, seed=1400 + i)))
    stats = cases.as_("planner").get("/api/v1/stats", params={"group_by": "grid"}).json()
    mine = next(g for g in stats["groups"] if g["grid_id"] == grid)
    page.goto(f"{backend.base_url}/map/planner")
    sign_in(page, "planner", DEMO_PASSWORD)
    wait_until(page, "window.NGPlanner && NGPlanner.ready")
    cells = page.locator(f'#ng-grid-table tbody tr[data-id="{grid}"] td')
    expect(cells.nth(4)).to_have_text(str(mine["open"]))
    assert mine["open"] >= 2
    expect(page.locator("#ng-stats-period")).to_contain_text(re.compile(r"\d"))
