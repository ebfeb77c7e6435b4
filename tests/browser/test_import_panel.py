"""The planner's Import panel in a real browser: check a file (a dry run), see its problems and
warnings listed and drawn on the map, then save it with a comment; checked through the HTTP API.

The files are the GeoJSON a city would bring: compounds inside a demo community, their coordinates
in GCJ-02 as Amap gives them. Saving changes the database, so these tests share a database of their
own per backend (``import_backend``), not the session's demo.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import numpy as np
import pytest
import shapely
from playwright.sync_api import Page, expect
from shapely.geometry import box, mapping, shape
from shapely.geometry.base import BaseGeometry

from geo.coords import wgs84_to_bd09, wgs84_to_gcj02
from tests.browser.browser import PHONE, sign_in, wait_until
from tests.support.backends import BACKENDS, DEMO_PASSWORD, Backend, start_backend

pytestmark = pytest.mark.browser
#: The browser logs every 422 answer; the refused checks here expect them.
REFUSED = r"status of 422 \(Unprocessable"
HALF = (0.0003, 0.00025)  # half the size of a test compound in degrees: about 60 m × 55 m


@pytest.fixture(scope="module", params=BACKENDS)
def import_backend(request, tmp_path_factory) -> Iterator[Backend]:
    """The demo on each backend, in a database these tests may change."""
    with ExitStack() as stack:
        yield start_backend(request.param, stack, tmp_path_factory.mktemp(f"import-{request.param}"))


@pytest.fixture
def planner(import_backend) -> Iterator[httpx.Client]:
    with import_backend.client("planner") as c:
        yield c


def to_gcj02(geom: BaseGeometry) -> BaseGeometry:
    """The geometry as Amap would give it (WGS84 → GCJ-02)."""
    return shapely.transform(geom, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))


def free_spots(planner: httpx.Client, n: int) -> list[tuple[str, BaseGeometry]]:
    """``n`` places (WGS84 rectangles, apart from each other) well inside demo communities, with the
    community's code. The demo's compounds cover its communities, so each overlaps stored compounds
    (a warning, not a problem)."""
    communities = planner.get("/api/v1/areas", params={"level": "community"}).json()["features"]
    out: list[tuple[str, BaseGeometry]] = []
    for community in communities:
        room = shape(community["geometry"]).buffer(-0.0004)
        while not room.is_empty and len(out) < n:
            p = room.representative_point()
            spot = box(p.x - HALF[0], p.y - HALF[1], p.x + HALF[0], p.y + HALF[1])
            out.append((community["properties"]["code"], spot))
            room = room.difference(spot.buffer(0.0006))
        if len(out) == n:
            return out
    raise AssertionError("the demo has no room for new compounds")


def feature(code: str, name: str | None, geom, **props) -> dict:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, "level": "compound", **props},
        "geometry": geom if isinstance(geom, dict) else mapping(geom),
    }


def geojson(*features: dict) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False).encode()


def bowtie(spot: BaseGeometry) -> dict:
    """A self-intersecting ring over ``spot`` (GCJ-02): an invalid polygon make_valid splits in two."""
    x0, y0, x1, y1 = to_gcj02(spot).bounds
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]]}


def dry_run(planner: httpx.Client, data: bytes) -> dict:
    """What the API answers the same upload (the panel must show exactly this)."""
    r = planner.post(
        "/api/v1/imports/areas",
        files={"file": ("compounds.geojson", data, "application/geo+json")},
        data={"coord_type": "gcj02", "dry_run": "true"},
    )
    assert r.status_code in (200, 422), r.text
    return r.json().get("report") or r.json()


def open_panel(page: Page, backend: Backend, who: str = "planner") -> None:
    page.goto(f"{backend.base_url}/map/planner?lang=en")
    sign_in(page, who, DEMO_PASSWORD)
    wait_until(page, "window.NGPlanner && NGPlanner.ready && NGPlanner.importer && NGPlanner.importer.kinds.length")
    page.click("#ng-import-toggle")
    expect(page.locator("#ng-import-form")).to_be_visible()


def choose(page: Page, data: bytes, *, coord: str = "gcj02", name: str = "compounds.geojson") -> None:
    page.select_option("#ng-import-kind", "areas")
    page.set_input_files("#ng-import-file", files=[{"name": name, "mimeType": "application/geo+json", "buffer": data}])
    page.select_option("#ng-import-coord", coord)


def check(page: Page) -> None:
    page.click("#ng-import-check")
    expect(page.locator("#ng-import-source")).to_be_visible()


def centre(page: Page) -> tuple[float, float]:
    return tuple(page.evaluate("NG.fromMap(NG.map.getCenter())"))


def marks(page: Page, kind: str) -> list[list[float]]:
    """Where the panel drew the marks of one kind (problem or warning), in WGS84."""
    return page.evaluate(
        """(kind) => NGPlanner.importer.items.filter((i) => i.kind === kind && i.marker && NG.map.hasLayer(i.marker))
             .map((i) => NG.fromMap(i.marker.getLatLng()))""",
        kind,
    )


# -- a file with problems ------------------------------------------------------------------------


@pytest.fixture
def bad_file(planner) -> tuple[bytes, dict]:
    """An invalid ring, a compound without a name whose code looks like HTML, a duplicate code, and a
    good compound overlapping the first one (a warning)."""
    (_, a), (_, b), (_, c) = free_spots(planner, 3)
    data = geojson(
        feature("T-BOW", "蝴蝶小区", bowtie(a)),
        feature("<img src=x>", None, to_gcj02(b)),
        feature("T-DUP", "重复一", to_gcj02(c)),
        feature("T-DUP", "重复二", to_gcj02(c.buffer(-0.00005))),
    )
    return data, dry_run(planner, data)


def test_a_file_with_problems_is_listed_and_drawn_and_cannot_be_saved(import_backend, page, guard, planner, bad_file):
    guard.allow(REFUSED)
    data, expected = bad_file
    assert {p["code"] for p in expected["problems"]} >= {"invalid_geometry", "missing", "duplicate_code"}
    open_panel(page, import_backend)
    save = page.locator("#ng-import-save")
    expect(save).to_be_disabled()
    choose(page, data)
    check(page)

    expect(page.locator("#ng-import-refused")).to_contain_text(f"{len(expected['problems'])} problem")
    items = page.locator("#ng-import-problems > li")
    expect(items).to_have_count(len(expected["problems"]))
    shown = items.evaluate_all("(els) => els.map((e) => [e.dataset.code, e.dataset.feature, e.dataset.field])")
    assert shown == [[p["code"], str(p["feature"]), p["field"] or ""] for p in expected["problems"]]
    for item, problem in zip(items.all(), expected["problems"], strict=True):
        text = item.inner_text()
        assert problem["message"] in text and problem["code"] in text and f"feature #{problem['feature']}" in text
        if problem["field"]:
            assert problem["field"] in text
    # what comes from the file is text, never markup
    nameless = page.locator('#ng-import-problems > li[data-code="missing"]')
    expect(nameless).to_contain_text("<img src=x>")
    assert page.locator("#ng-import-result img").count() == 0

    # every located problem drawn in red where the report says (WGS84), the repair drawn dashed
    located = [p["at"]["wgs84"] for p in expected["problems"] if p["at"]]
    drawn = marks(page, "problem")
    assert len(drawn) == len(located)
    for (x, y), (lon, lat) in zip(sorted(drawn), sorted(located), strict=True):
        assert abs(x - lon) < 1e-6 and abs(y - lat) < 1e-6
    expect(page.locator("path.ng-import-mark-problem")).to_have_count(len(located))
    expect(page.locator("path.ng-import-repair")).to_have_count(1)
    expect(page.locator("#ng-import-repair-hint")).to_be_visible()
    assert len(marks(page, "warning")) == len([w for w in expected["warnings"] if w["at"]])

    # the list goes to the map: a click, or Enter on the focused item, pans there
    for i, how in ((0, "click"), (len(located) - 1, "keyboard")):
        target = [p for p in expected["problems"] if p["at"]][i]
        button = page.locator("#ng-import-problems > li button.ng-import-go").nth(i)
        if how == "click":
            button.click()
        else:
            button.focus()
            page.keyboard.press("Enter")
        lon, lat = target["at"]["wgs84"]
        wait_until(
            page,
            """([lon, lat]) => { const p = NG.map.latLngToContainerPoint(NG.toMap(lon, lat));
                 const s = NG.map.getSize(); return p.x > 0 && p.y > 0 && p.x < s.x && p.y < s.y; }""",
            arg=[lon, lat],
        )
        page.wait_for_timeout(300)
        assert "ng-active" in (button.locator("xpath=..").get_attribute("class") or "")

    # saving stays impossible, with a comment or not, and nothing was saved
    page.fill("#ng-import-comment", "should never be saved")
    expect(save).to_be_disabled()
    codes = {
        f["properties"]["code"] for f in planner.get("/api/v1/areas", params={"level": "compound"}).json()["features"]
    }
    assert "T-BOW" not in codes and "T-DUP" not in codes


def test_a_file_that_cannot_say_its_coordinate_system_needs_one(import_backend, page, guard, planner):
    """An EPSG choice needs its code; "as the file states it" for a GeoJSON that states nothing is
    refused by the API naming coord_type: the panel shows the reason and marks the input."""
    ((_, spot),) = free_spots(planner, 1)
    data = geojson(feature("T-CRS", "坐标小区", to_gcj02(spot)))
    guard.allow(REFUSED)
    open_panel(page, import_backend)
    choose(page, data, coord="epsg")
    page.click("#ng-import-check")
    expect(page.locator("#ng-import-error")).to_contain_text("EPSG")
    expect(page.locator("#ng-import-epsg")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#ng-import-epsg")).to_be_focused()
    page.select_option("#ng-import-coord", "file")
    page.click("#ng-import-check")
    r = planner.post(
        "/api/v1/imports/areas",
        files={"file": ("c.geojson", data, "application/geo+json")},
        data={"dry_run": "true"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "coord_type"
    expect(page.locator("#ng-import-error")).to_have_text(r.json()["detail"])
    expect(page.locator("#ng-import-coord")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#ng-import-save")).to_be_disabled()


def test_accepting_the_offered_repair_makes_the_file_saveable(import_backend, page, guard, planner):
    ((community, spot),) = free_spots(planner, 1)
    guard.allow(REFUSED)
    data = geojson(feature(f"{community}902", "蝴蝶小区", bowtie(spot)))
    open_panel(page, import_backend)
    choose(page, data)
    check(page)
    expect(page.locator('#ng-import-problems > li[data-code="invalid_geometry"]')).to_have_count(1)
    expect(page.locator("path.ng-import-repair")).to_have_count(1)
    expect(page.locator("#ng-import-save")).to_be_disabled()
    page.check("#ng-import-repair")
    expect(page.locator("#ng-import-outdated")).to_be_visible()
    check(page)
    expect(page.locator("#ng-import-ready")).to_be_visible()
    expect(page.locator('#ng-import-warnings > li[data-code="repaired"]')).to_have_count(1)
    expect(page.locator("#ng-import-save")).to_be_enabled()


# -- a good file: check, then save -----------------------------------------------------------------


def test_a_good_file_is_checked_then_saved_with_a_comment_and_the_map_reloads(import_backend, page, planner):
    ((community, spot),) = free_spots(planner, 1)
    code = f"{community}901"
    data = geojson(feature(code, "新建小区", to_gcj02(spot), name_en="New Compound"))
    expected = dry_run(planner, data)
    assert not expected["problems"] and expected["counts"]["created"] == 1
    open_panel(page, import_backend)
    choose(page, data)
    save = page.locator("#ng-import-save")
    expect(save).to_be_disabled()  # not before a check
    check(page)

    expect(page.locator("#ng-import-ready")).to_be_visible()
    expect(page.locator("#ng-import-source")).to_contain_text("compounds.geojson")
    expect(page.locator("#ng-import-source")).to_contain_text("gcj02")
    counts = page.locator("#ng-import-counts tr").evaluate_all(
        "(rows) => Object.fromEntries(rows.map((r) => [r.dataset.count, Number(r.querySelector('td').textContent)]))"
    )
    assert counts == expected["counts"]
    expect(page.locator("#ng-import-problems")).to_have_count(0)
    # its warnings (overlaps with the demo's compounds) are listed and drawn in orange; they do not stop saving
    located = [w["at"]["wgs84"] for w in expected["warnings"] if w["at"]]
    expect(page.locator("#ng-import-warnings > li")).to_have_count(len(expected["warnings"]))
    expect(page.locator("path.ng-import-mark-warning")).to_have_count(len(located))
    drawn = marks(page, "warning")
    assert len(drawn) == len(located) and np.allclose(sorted(drawn), sorted(located), atol=1e-6)
    expect(save).to_be_enabled()

    # a changed input needs a new check; then saving needs a comment
    page.select_option("#ng-import-coord", "wgs84")
    expect(page.locator("#ng-import-outdated")).to_be_visible()
    expect(save).to_be_disabled()
    page.select_option("#ng-import-coord", "gcj02")
    check(page)
    expect(save).to_be_enabled()
    save.click()
    expect(page.locator("#ng-import-error")).to_contain_text("comment")
    expect(page.locator("#ng-import-comment")).to_be_focused()
    page.fill("#ng-import-comment", "compound handed over by the developer, 2026")
    with (
        page.expect_response(lambda r: "/api/v1/imports/areas" in r.url and r.request.method == "POST") as answer,
        page.expect_response(lambda r: "/api/v1/areas?level=community" in r.url),
        page.expect_response(lambda r: "/api/v1/grids" in r.url),
    ):
        save.click()
    assert answer.value.status == 200
    expect(page.locator("#ng-import-saved")).to_contain_text(f"#{answer.value.json()['run_id']}")
    expect(page.locator("#ng-toast")).to_contain_text("1 created")
    expect(save).to_be_disabled()  # saved once: a new check before any other save
    assert page.locator("#ng-import-comment").input_value() == ""

    # the API now has the compound, in WGS84 where the GCJ-02 file put it, and the run with its comment
    saved = {
        f["properties"]["code"]: f
        for f in planner.get("/api/v1/areas", params={"level": "compound"}).json()["features"]
    }
    assert code in saved
    got = saved[code]
    assert got["properties"]["name_zh"] == "新建小区" and got["properties"]["parent_code"] == community
    assert shape(got["geometry"]).hausdorff_distance(spot) < 2e-7  # within 2 cm (the API keeps 7 decimals)
    runs = planner.get("/api/v1/imports", params={"kind": "areas"}).json()
    assert runs[0]["comment"] == "compound handed over by the developer, 2026" and runs[0]["counts"]["created"] == 1

    # the same file again: nothing to create, it is unchanged
    check(page)
    counts = page.locator("#ng-import-counts tr").evaluate_all(
        "(rows) => Object.fromEntries(rows.map((r) => [r.dataset.count, Number(r.querySelector('td').textContent)]))"
    )
    assert counts == {"created": 0, "updated": 0, "unchanged": 1, "retired": 0}


def test_the_panel_works_at_phone_width(import_backend, open_page, guard, planner, bad_file):
    guard.allow(REFUSED)
    data, expected = bad_file
    page = open_page(viewport=PHONE)
    open_panel(page, import_backend)
    choose(page, data)
    check(page)
    expect(page.locator("#ng-import-problems > li")).to_have_count(len(expected["problems"]))
    overflow = page.evaluate(
        "[document.documentElement.scrollWidth, innerWidth, document.getElementById('ng-body').scrollWidth,"
        " document.getElementById('ng-body').clientWidth]"
    )
    assert overflow[0] <= overflow[1] and overflow[2] <= overflow[3], f"horizontal overflow: {overflow}"
    first = page.locator("#ng-import-problems > li button.ng-import-go").first
    first.scroll_into_view_if_needed()
    box_ = first.bounding_box()
    assert box_["height"] >= 43.5 and box_["x"] >= 0 and box_["x"] + box_["width"] <= PHONE[0]
    first.click()
    expect(first.locator("xpath=..")).to_have_class("ng-import-issue ng-import-problem ng-active")


def test_a_station_list_from_baidu_with_a_mapped_column_is_saved_and_drawn(import_backend, page, guard, planner):
    """A CSV station list with BD-09 coordinates (Baidu) and a name column the engine does not know:
    the planner maps the column, checks, saves; the station is on the planner's map and in the API."""
    ((_, spot),) = free_spots(planner, 1)
    lon, lat = spot.centroid.x, spot.centroid.y
    bx, by = wgs84_to_bd09(lon, lat)
    code = "T-ST-BAIDU-1"
    guard.allow(REFUSED)
    data = f"站点编号,站点名字,类型,经度,纬度\n{code},百度取点养老站,养老服务中心,{bx:.7f},{by:.7f}\n".encode()
    open_panel(page, import_backend)
    # the options follow the kind: a roster has no coordinates, grids have a layer, areas a level
    page.select_option("#ng-import-kind", "teams")
    expect(page.locator("#ng-import-coord")).to_be_hidden()
    page.select_option("#ng-import-kind", "grids")
    expect(page.locator("#ng-import-layer")).to_be_visible()
    expect(page.locator("#ng-import-level")).to_be_hidden()
    page.select_option("#ng-import-kind", "stations")
    expect(page.locator("#ng-import-coord")).to_be_visible()
    expect(page.locator("#ng-import-layer")).to_be_hidden()
    expect(page.locator("#ng-import-map-capacity")).to_be_attached()
    page.set_input_files("#ng-import-file", files=[{"name": "stations.csv", "mimeType": "text/csv", "buffer": data}])
    page.select_option("#ng-import-coord", "bd09")
    page.fill("#ng-import-encoding", "utf-8")
    check(page)  # no column the engine knows holds the name: a problem of the whole file, listed, not drawn
    missing = page.locator('#ng-import-problems > li[data-code="missing_column"]')
    expect(missing).to_contain_text("the whole file")
    expect(missing.locator("button")).to_have_count(0)
    expect(page.locator("#ng-import-save")).to_be_disabled()
    page.click("#ng-import-mapping > summary")
    page.fill("#ng-import-map-name", "站点名字")
    check(page)
    expect(page.locator("#ng-import-ready")).to_be_visible()
    expect(page.locator('#ng-import-counts tr[data-count="created"] td')).to_have_text("1")
    page.fill("#ng-import-comment", "station list from the civil-affairs bureau (Baidu coordinates)")
    page.click("#ng-import-save")
    expect(page.locator("#ng-import-saved")).to_be_visible()

    stations = planner.get("/api/v1/stations").json()["features"]
    (saved,) = [f for f in stations if f["properties"].get("name_zh") == "百度取点养老站"]
    assert saved["properties"]["type"] == "elderly_care_centre"
    x, y = saved["geometry"]["coordinates"]
    assert abs(x - lon) < 2e-6 and abs(y - lat) < 2e-6  # BD-09 → WGS84 within about 20 cm
    expect(page.locator('.leaflet-marker-icon[title="百度取点养老站"]')).to_have_count(1)


# -- who may import ------------------------------------------------------------------------------


def test_a_dispatcher_gets_no_import_panel_and_the_api_refuses(import_backend, page):
    page.goto(f"{import_backend.base_url}/map/planner?lang=en")
    page.wait_for_selector("#ng-login")
    page.fill("#ng-username", "dispatcher")
    page.fill("#ng-password", DEMO_PASSWORD)
    page.click("#ng-login button[type=submit]")
    expect(page.locator("#ng-login-message")).not_to_be_empty()
    expect(page.locator("#ng-import")).to_have_count(0)
    with import_backend.client("dispatcher") as dispatcher:
        assert dispatcher.get("/api/v1/imports/kinds").status_code == 403
        r = dispatcher.post(
            "/api/v1/imports/areas",
            files={"file": ("c.geojson", geojson(), "application/geo+json")},
            data={"coord_type": "gcj02", "dry_run": "true"},
        )
        assert r.status_code == 403
