"""Importing buildings into a city that has its areas and grids, on both backends: footprints by code,
households counted in their grid (by the building's anchor: its entrance, else a point inside), the
compound by containment or by code, a GCJ-02 file with GCJ-02 entrances, warnings on the numbers and
on buildings outside every grid, idempotent re-import, retirement out of the API and the grids'
households, and buildings following a grid boundary that an import moves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import numpy as np
import pytest
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import select

from geo.coords import from_wgs84
from geo.crs import LocalProjection
from service.areas.models import Area
from service.buildings.models import Building
from service.grids.models import Grid
from service.imports.models import FeatureVersion
from service.imports.report import ImportRefused
from service.requests.models import ServiceRequest
from tests.service.imports.test_grids_kind import M_LAT, M_LON, S, W, collection, grids_file, load_city, rect
from tests.support.backends import serve
from tests.support.clock import TestClock
from tests.support.emptydb import EmptyCity, empty_city

G1, G2, G3 = "350625100001001", "350625100001002", "35062599000201"


def gcj(geom):
    """A WGS84 shape as a GCJ-02 file has it."""
    return shapely.transform(geom, lambda c: np.column_stack(from_wgs84(c[:, 0], c[:, 1], "gcj02")))


def at(x: float, y: float) -> Point:
    return Point(W + x * M_LON, S + y * M_LAT)


#: The entrance of B5, in WGS84: 25 m east of its footprint, across the boundary into G2.
B5_ENTRANCE = at(1520, 1500)


def buildings_file(*, without: tuple[str, ...] = (), households_b1: int = 30) -> bytes:
    """Five buildings as a GCJ-02 file (footprints and entrance columns)."""
    ex, ey = from_wgs84(B5_ENTRANCE.x, B5_ENTRANCE.y, "gcj02")
    rows = [
        ({"楼栋编码": "B1", "楼号": "1", "户数": households_b1, "层数": 6, "人口": 80}, rect(1150, 1150, 1200, 1200)),
        ({"楼栋编码": "B2", "楼号": "2", "户数": 24, "层数": 0, "网格编码": G1}, rect(1700, 1700, 1750, 1750)),
        ({"楼栋编码": "B3", "楼号": "3", "户数": 500, "层数": 2}, rect(2500, 1500, 2550, 1550)),
        ({"楼栋编码": "B4", "楼号": "4", "户数": 10, "层数": 3}, rect(10_000, 10_000, 10_050, 10_050)),
        (
            {"楼栋编码": "B5", "楼号": "5", "户数": 40, "层数": 5, "入口经度": float(ex), "入口纬度": float(ey)},
            rect(1450, 1480, 1495, 1520),
        ),
    ]
    return collection(*[(p, gcj(g)) for p, g in rows if p["楼栋编码"] not in without])


@dataclass
class City:
    city: EmptyCity
    base_url: str
    first: dict

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def load(self, data: bytes, **options) -> dict:
        return self.city.load("buildings", data, "buildings.geojson", **({"coord_type": "gcj02"} | options))


@pytest.fixture(scope="module", params=["spatialite", "postgis"])
def town(request, tmp_path_factory) -> Iterator[City]:
    with ExitStack() as stack:
        c = stack.enter_context(empty_city(request.param, tmp_path_factory.mktemp(f"buildings-{request.param}")))
        load_city(c)
        first = c.load("buildings", buildings_file(), "buildings.geojson", coord_type="gcj02")
        yield City(c, serve(stack, c.settings, c.db, TestClock()), first)


def stored(town: City) -> dict[str, dict]:
    with town.city.db.reader() as s:
        grid_code = dict(s.execute(select(Grid.id, Grid.code)).all())
        area_code = dict(s.execute(select(Area.id, Area.code)).all())
        return {
            b.ref: {
                "id": b.id,
                "grid": grid_code.get(b.grid_id),
                "compound": area_code.get(b.compound_id),
                "households": b.households,
                "version": b.version,
                "retired": b.retired_at is not None,
                "geom": to_shape(b.geom),
                "entrance": to_shape(b.entrance) if b.entrance is not None else None,
            }
            for b in s.scalars(select(Building))
        }


def grid_households(town: City) -> dict[str, int]:
    with town.api() as c:
        r = c.get("/api/v1/grids")
        r.raise_for_status()
        return {f["properties"]["code"]: f["properties"]["households"] for f in r.json()["features"]}


def test_buildings_are_created_with_their_grid_by_anchor_and_compound_by_containment(town):
    assert town.first["counts"] == {"created": 5, "updated": 0, "unchanged": 0, "retired": 0}, town.first
    got = stored(town)
    assert {code: b["grid"] for code, b in got.items()} == {"B1": G1, "B2": G2, "B3": G3, "B4": None, "B5": G2}
    assert got["B1"]["compound"] == "XQ001" and got["B2"]["compound"] is None
    assert grid_households(town) == {G1: 30, G2: 24 + 40, G3: 500, "35062599000301": 0}


def test_a_gcj02_file_lands_within_a_centimetre_entrance_included(town):
    got = stored(town)
    projection = LocalProjection.for_geometry(got["B1"]["geom"])
    expected = rect(1150, 1150, 1200, 1200)
    assert projection.to_metric(got["B1"]["geom"]).symmetric_difference(projection.to_metric(expected)).area < 0.5
    assert projection.to_metric(got["B5"]["entrance"]).distance(projection.to_metric(B5_ENTRANCE)) < 0.01


def test_the_report_warns_about_numbers_and_buildings_outside_every_grid(town):
    warnings = {(w["feature_code"], w["field"], w["code"]) for w in town.first["warnings"]}
    assert ("B2", "floors", "undersized") in warnings  # households on 0 floors
    assert ("B3", "households", "oversized") in warnings  # 250 per floor
    assert ("B4", "geometry", "outside_grid") in warnings
    assert ("B2", "grid", "grid_mismatch") in warnings  # the survey says G1; its footprint lies in G2
    assert not {w for w in warnings if w[0] in ("B1", "B5")}, warnings
    outside = next(w for w in town.first["warnings"] if w["code"] == "outside_grid")
    assert outside["at"]["crs"] and outside["at"]["wgs84"][0] == pytest.approx(W + 10_025 * M_LON, abs=1e-4)


def test_reimporting_the_same_file_changes_nothing(town):
    before = stored(town)
    report = town.load(buildings_file())
    assert report["counts"] == {"created": 0, "updated": 0, "unchanged": 5, "retired": 0}, report
    assert stored(town) == before


def test_a_changed_building_gets_a_new_version_and_its_grid_the_households(town):
    report = town.load(buildings_file(households_b1=36))
    assert report["counts"] == {"created": 0, "updated": 1, "unchanged": 4, "retired": 0}, report
    got = stored(town)["B1"]
    assert got["version"] == 2 and got["households"] == 36
    with town.city.db.reader() as s:
        kept = s.scalars(select(FeatureVersion).where(FeatureVersion.kind == "buildings")).all()
        assert [(v.code, v.version, v.change, v.properties["households"]) for v in kept] == [("B1", 1, "edit", 30)]
    assert grid_households(town)[G1] == 36


def test_an_unknown_compound_and_a_half_entrance_are_refused(town):
    data = collection(
        ({"code": "B9", "compound_code": "XQ404"}, gcj(rect(1150, 1150, 1200, 1200))),
        ({"code": "B10", "entrance_lon": 117.61}, gcj(rect(1150, 1250, 1200, 1300))),
    )
    with pytest.raises(ImportRefused) as caught:
        town.load(data)
    problems = {(p["feature_code"], p["field"], p["code"]) for p in caught.value.extra["report"]["problems"]}
    assert problems == {("B9", "compound", "unknown_parent"), ("B10", "entrance_lat", "missing")}


def test_a_retired_building_leaves_the_api_and_its_grids_households(town):
    b2 = stored(town)["B2"]["id"]
    report = town.load(buildings_file(without=("B2",), households_b1=36), retire_missing=True)
    assert report["counts"]["retired"] == 1, report
    assert stored(town)["B2"]["retired"]
    with town.api() as c:
        listed = c.get("/api/v1/buildings", params={"limit": 100}).json()["features"]
        assert b2 not in {f["id"] for f in listed} and len(listed) == 4
        assert c.get(f"/api/v1/buildings/{b2}").status_code == 404
    assert grid_households(town)[G2] == 40  # B5 only


def test_buildings_and_open_requests_follow_a_grid_boundary_an_import_moves(town):
    # G1 | G2 boundary from 1500 m to 1100 m: B1 (at about 1175 m) now lies in G2; B5 keeps its
    # grid, which its entrance (at 1520 m) decides, not its footprint; an open request at 1300 m
    # moves to G2 as well
    spot = at(1300, 1800)
    with town.api() as c:
        category = c.get("/api/v1/categories").json()[0]["kinds"][0]["code"]
        body = {"category": category, "description": "路灯不亮", "lon": spot.x, "lat": spot.y}
        r = c.post("/api/v1/requests", json=body)
        assert r.status_code == 201, r.text
        request_id = r.json()["id"]
    with town.city.db.reader() as s:
        assert s.get(Grid, s.get(ServiceRequest, request_id).grid_id).code == G1
    report = town.city.load("grids", grids_file(split=1100), "grids.geojson", coord_type="wgs84")
    assert report["counts"]["updated"] == 2, report
    # households judged on the buildings stored inside the new shapes: 36 + 40 is far below 300-500
    warned = {(w["feature_code"], w["field"], w["code"]) for w in report["warnings"]}
    assert (G2, "households", "undersized") in warned, report["warnings"]
    got = stored(town)
    assert got["B1"]["grid"] == G2 and got["B5"]["grid"] == G2
    assert grid_households(town)[G1] == 0 and grid_households(town)[G2] == 36 + 40
    with town.city.db.reader() as s:
        assert s.get(Grid, s.get(ServiceRequest, request_id).grid_id).code == G2
