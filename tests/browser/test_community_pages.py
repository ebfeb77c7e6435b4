"""Community life in a real browser: the dispatcher's map shows key households overdue for their
visit at building level only, the open wishes (live) and the age of each volunteer's position
(stale ones greyed); a resident sees the wishes near them in walking order and posts one; a
volunteer sees the balance the ledger gives and redeeming an item lowers it; both pages fit a phone
and a desktop screen (screenshots to ``NEIGHBORGRID_SCREENSHOTS``)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from playwright.sync_api import Page, expect

from tests.browser.browser import DESKTOP, PHONE, screenshot, sign_in, wait_until
from tests.browser.test_dispatch_map import open_dispatch
from tests.browser.test_layout import check_layout, collapse_and_expand
from tests.support.backends import BACKENDS, DEMO_PASSWORD, Backend, start_backend

pytestmark = pytest.mark.browser
#: What a household record holds and a map must never receive (the flat, the person, a per-household point).
HOUSEHOLD_FIELDS = {"unit_label", "head_name", "phone", "notes", "members", "lon", "lat"}


@pytest.fixture(params=BACKENDS)
def aged_backend(request, tmp_path) -> Iterator[Backend]:
    """A database of the test's own where positions older than an hour no longer count (the demo's
    positions are up to three hours old), so some volunteers on duty are stale."""
    with ExitStack() as stack:
        yield start_backend(
            request.param, stack, tmp_path, scheduler_enabled=False, volunteer_position_max_age_minutes=60
        )


def marker_attrs(page: Page, selector: str, *attrs: str) -> list[tuple[str, ...]]:
    """Data attributes of the map's markers (the legend's samples are not markers)."""
    return page.locator(f".leaflet-marker-pane {selector}").evaluate_all(
        "(els, attrs) => els.map((e) => attrs.map((a) => e.getAttribute(a)))", list(attrs)
    )


def tooltip_of(page: Page, js_marker: str, arg) -> str:
    return page.evaluate(
        f"(arg) => {{ const m = {js_marker}; m.openTooltip(); const text = m.getTooltip().getElement().textContent;"
        " m.closeTooltip(); return text; }",
        arg,
    )


def age_text(minutes: float) -> str:
    """The page's Chinese wording of a position's age."""
    if minutes < 1:
        return "刚刚"
    if minutes < 60:
        return f"{int(minutes)} 分钟前"
    if minutes < 1440:
        return f"{int(minutes // 60)} 小时前"
    return f"{int(minutes // 1440)} 天前"


def test_the_dispatcher_sees_overdue_key_households_by_building_and_open_wishes_live(backend, page, cases):
    fetched: list[tuple[str, object]] = []

    def keep(response) -> None:
        if "/api/v1/key-households" in response.url:
            fetched.append((response.url, response.json() if response.ok else None))

    page.on("response", keep)
    open_dispatch(page, backend.base_url)
    wait_until(page, "NGDispatch.community.loaded.households && NGDispatch.community.loaded.wishes")

    dispatcher = cases.as_("dispatcher")
    layer = dispatcher.get("/api/v1/key-households", params={"overdue": "true", "format": "geojson"}).json()
    buildings = {f["id"]: f for f in layer["features"]}
    assert buildings, "the demo has key households overdue for their visit"
    shown = marker_attrs(page, ".ng-kh", "data-building-id", "data-overdue")
    assert len(shown) == len(buildings), "one marker per building with overdue households"
    assert {int(b): int(n) for b, n in shown} == {b: f["properties"]["overdue"] for b, f in buildings.items()}
    drawn = page.evaluate(
        "[...NGDispatch.community.buildings.entries()].map(([id, b]) => [id, b.marker.getLatLng().lng,"
        " b.marker.getLatLng().lat])"
    )
    for building_id, lon, lat in drawn:  # each at its building's point as the API gave it (no basemap shift)
        assert [lon, lat] == pytest.approx(buildings[building_id]["geometry"]["coordinates"], abs=1e-9)
    total = sum(f["properties"]["overdue"] for f in buildings.values())
    expect(page.locator("#ng-count-households")).to_have_text(f"({total})")

    # Privacy: the page asked only for the building-level layer; nothing about a flat or a person reached it.
    assert fetched and all("format=geojson" in url and "overdue=true" in url for url, _ in fetched), fetched
    for _url, body in fetched:
        for f in body["features"]:
            assert f["id"] == f["properties"]["building_id"]
            assert not HOUSEHOLD_FIELDS & set(f["properties"]), f["properties"]
    assert not re.search(r"unit_label|head_name", page.content())

    first = next(iter(sorted(buildings)))
    tip = tooltip_of(page, "NGDispatch.community.buildings.get(arg).marker", first)
    props = buildings[first]["properties"]
    assert f"{props['overdue']} 户逾期未走访" in tip and (props["building_name_zh"] or "") in tip

    page.uncheck("#ng-layer-households")  # the layer toggles
    expect(page.locator(".leaflet-marker-pane .ng-kh")).to_have_count(0)
    page.check("#ng-layer-households")
    expect(page.locator(".leaflet-marker-pane .ng-kh")).to_have_count(len(buildings))
    expect(page.locator("#ng-community-legend")).to_contain_text("重点家庭")

    # Open wishes: exactly the API's open list; a new wish appears live and leaves when withdrawn.
    open_wishes = dispatcher.get("/api/v1/wishes", params={"status": "open", "format": "geojson", "limit": 5000})
    ids = {f["id"] for f in open_wishes.json()["features"]}
    assert {int(i) for (i,) in marker_attrs(page, ".ng-wish", "data-id")} == ids
    resident = cases.as_("resident1")
    wish = resident.post(
        "/api/v1/wishes", json={"category": "repair", "title": "门锁坏了 door lock broken", "building_id": first}
    ).json()
    try:
        wait_until(page, "(id) => NGDispatch.community.openWishes.has(id)", arg=wish["id"])
        expect(page.locator(f'.leaflet-marker-pane .ng-wish[data-id="{wish["id"]}"]')).to_be_attached()
        tip = tooltip_of(page, "NGDispatch.community.openWishes.get(arg).marker", wish["id"])
        assert "门锁坏了" in tip and "维修帮忙" in tip
    finally:
        resident.post(f"/api/v1/wishes/{wish['id']}/cancel", json={})
    expect(page.locator(f'.leaflet-marker-pane .ng-wish[data-id="{wish["id"]}"]')).to_have_count(0)


def test_volunteers_show_the_age_of_their_position(backend, page, cases):
    open_dispatch(page, backend.base_url)
    page.evaluate("() => { NG.map.setZoom(17); }")  # volunteers show from street level
    on_duty = cases.as_("dispatcher").get("/api/v1/volunteers", params={"on_duty": "true"}).json()["features"]
    placed = {v["id"]: v["properties"] for v in on_duty if v["geometry"]}
    expect(page.locator(".leaflet-marker-pane .ng-vol")).to_have_count(len(placed))
    ages = {int(i): float(a) for i, a in marker_attrs(page, ".ng-vol", "data-id", "data-age-minutes")}
    assert ages.keys() == placed.keys()
    for vid, age in ages.items():  # the page's figure is the service's, read a moment earlier
        assert 0 <= placed[vid]["position_age_minutes"] - age < 1, vid
    assert len(set(ages.values())) > 1, "the demo's positions were reported at different times"
    for vid in (min(ages, key=ages.get), max(ages, key=ages.get)):
        tip = tooltip_of(page, "NGDispatch.volunteerMarkers.get(arg)", vid)
        assert f"位置更新: {age_text(ages[vid])}" in tip, (vid, tip)


def test_stale_positions_are_greyed(aged_backend, page):
    open_dispatch(page, aged_backend.base_url)
    page.evaluate("() => { NG.map.setZoom(17); }")
    with aged_backend.client("dispatcher") as c:
        on_duty = c.get("/api/v1/volunteers", params={"on_duty": "true"}).json()["features"]
    stale = {v["id"] for v in on_duty if v["geometry"] and not v["properties"]["position_fresh"]}
    fresh = {v["id"] for v in on_duty if v["geometry"] and v["properties"]["position_fresh"]}
    assert stale and fresh, "an hour's limit leaves some of the demo's positions stale"
    expect(page.locator(".leaflet-marker-pane .ng-vol")).to_have_count(len(stale | fresh))
    greyed = {int(i) for (i,) in marker_attrs(page, ".ng-vol.ng-stale", "data-id")}
    assert greyed == stale
    expect(page.locator("#ng-community-legend")).to_contain_text("位置已过时")


def test_a_resident_sees_wishes_near_them_in_walking_order_and_posts_one(backend, open_page, cases, town):
    here = town.inner_point(sorted(town.grids)[3], seed=5)
    page = open_page(viewport=PHONE, at=here, touch=True)
    page.goto(f"{backend.base_url}/map/stations")
    page.tap('#ng-page-links a[data-page="wishes"]')  # from the resident's page navigation
    sign_in(page, "resident1", DEMO_PASSWORD)
    page.tap("#ng-locate")
    rows = page.locator("#ng-wishes-nearby .ng-wish-item")
    expect(rows.first).to_be_visible()
    resident = cases.as_("resident1")
    nearby = resident.get(
        "/api/v1/wishes/nearby", params={"lon": here[0], "lat": here[1], "minutes": 15, "limit": 100}
    ).json()["items"]
    assert nearby, "the demo has open wishes within a 15-minute walk"
    shown = [int(x) for x in rows.evaluate_all("(els) => els.map((e) => e.dataset.id)")]
    assert shown == [w["id"] for w in nearby], "the API's walking order"
    walks = [float(x) for x in rows.evaluate_all("(els) => els.map((e) => e.dataset.walkM)")]
    assert walks == sorted(walks)
    expect(rows.first).to_contain_text(re.compile(r"步行 \d+ 分钟"))
    expect(page.locator(".leaflet-marker-pane .ng-wish")).to_have_count(len(nearby))
    expect(page.locator(".ng-claim")).to_have_count(0)  # residents post and confirm; volunteers claim

    page.tap("#ng-wish-post-open")
    expect(page.locator("#ng-wish-location")).to_contain_text(f"{here[0]:.5f}")
    page.select_option("#ng-wish-category", "shopping")
    page.fill("#ng-wish-title", "周三帮忙买菜 groceries on Wednesday")
    page.fill("#ng-wish-hours", "1.5")
    page.tap("#ng-wish-submit")
    mine = page.locator("#ng-my-wish-list .ng-my-wish").first
    expect(mine).to_contain_text("周三帮忙买菜")
    wish_id = int(mine.get_attribute("data-id"))
    try:
        stored = resident.get(f"/api/v1/wishes/{wish_id}").json()
        assert stored["category"] == "shopping" and stored["hours"] == 1.5 and stored["status"] == "open"
        assert stored["mine"]
        holding = town.building_holding(*here)  # inside a building it is shown at the entrance, never the flat
        if holding:
            assert stored["building_id"] in holding
        else:
            assert (stored["lon"], stored["lat"]) == pytest.approx(here, abs=1e-6)
        expect(mine).to_have_attribute("data-status", "open")
    finally:
        resident.post(f"/api/v1/wishes/{wish_id}/cancel", json={})


def test_a_volunteer_sees_their_balance_and_redeeming_lowers_it(private_backend, open_page):
    with private_backend.client("volunteer1") as api:
        before = api.get("/api/v1/points/me").json()
        community = api.get("/api/v1/volunteers/me").json()["community_id"]
        catalogue = api.get("/api/v1/points/catalogue", params={"community_id": community}).json()
    affordable = [i for i in catalogue if i["price"] <= before["balance"]]
    assert affordable, "volunteer1 has points enough for something in the demo catalogue"
    item = affordable[-1]  # the dearest it can afford

    page = open_page(viewport=PHONE, has_touch=True, is_mobile=True)
    page.goto(f"{private_backend.base_url}/map/points")
    sign_in(page, "volunteer1", DEMO_PASSWORD)
    wait_until(page, "window.NGPoints && NGPoints.ready")
    expect(page.locator("#ng-balance")).to_have_text(str(before["balance"]))
    history = page.locator("#ng-history .ng-history-item")
    expect(history).to_have_count(min(50, len(before["history"])))
    assert int(history.first.get_attribute("data-id")) == before["history"][0]["id"]  # newest first
    offered = page.locator("#ng-catalogue .ng-catalogue-item")
    expect(offered).to_have_count(len(catalogue))
    for other in catalogue:  # what the balance cannot pay for cannot be pressed
        button = page.locator(f"#ng-redeem-{other['id']}")
        (expect(button).to_be_disabled if other["price"] > before["balance"] else expect(button).to_be_enabled)()

    page.tap(f"#ng-redeem-{item['id']}")
    expect(page.locator("#ng-balance")).to_have_text(str(before["balance"] - item["price"]))
    with private_backend.client("volunteer1") as api:
        after = api.get("/api/v1/points/me").json()
    assert after["balance"] == before["balance"] - item["price"]
    newest = after["history"][0]
    assert newest["kind"] == "redeem" and newest["amount"] == -item["price"]
    assert newest["catalogue_item_id"] == item["id"]
    expect(history.first).to_have_attribute("data-kind", "redeem")
    expect(history.first).to_contain_text(json.dumps(-item["price"]))


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_wishes_and_points_pages_fit_phone_and_desktop(backend, open_page, town, size, screenshot_dir):
    here = town.inner_point(sorted(town.grids)[3], seed=5)
    page = open_page(viewport=size, at=here)
    page.goto(f"{backend.base_url}/map/wishes")
    check_layout(page, size)  # the sign-in form
    sign_in(page, "volunteer1", DEMO_PASSWORD)
    page.click("#ng-locate")
    expect(page.locator("#ng-wishes-nearby .ng-wish-item").first).to_be_visible()
    expect(page.locator(".ng-claim").first).to_be_visible()  # volunteers may claim
    page.wait_for_timeout(300)
    check_layout(page, size)
    screenshot(page, f"wishes-{size[0]}x{size[1]}", directory=screenshot_dir)
    page.click("#ng-wish-post-open")
    expect(page.locator("#ng-wish-submit")).to_be_visible()
    check_layout(page, size)

    page.goto(f"{backend.base_url}/map/points")  # same tab: still signed in
    wait_until(page, "window.NGPoints && NGPoints.ready")
    expect(page.locator("#ng-catalogue .ng-catalogue-item").first).to_be_visible()
    page.wait_for_timeout(300)
    check_layout(page, size)
    screenshot(page, f"points-{size[0]}x{size[1]}", directory=screenshot_dir)
    if size == PHONE:
        collapse_and_expand(page)
