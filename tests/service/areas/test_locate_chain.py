"""GET /api/v1/grids/locate answers the whole chain of areas holding a point (top first), and
``fields=`` leaves out what a caller does not want (the grid's geometry first of all)."""

from __future__ import annotations

import itertools

import pytest
from shapely.geometry import Point, shape

from geo.coords import from_wgs84
from tests.service.helpers import assert_problem

LEVELS = ["city", "district", "township", "community", "compound"]


@pytest.fixture(scope="module")
def areas(backend) -> list[dict]:
    with backend.client() as c:
        return c.get("/api/v1/areas").json()["features"]


def locate(client, lon, lat, **params) -> dict:
    r = client.get("/api/v1/grids/locate", params={"lon": lon, "lat": lat, **params})
    assert r.status_code == 200, r.text
    return r.json()


def holders(areas: list[dict], lon: float, lat: float) -> list[str]:
    """The codes of the areas whose boundary covers the point, top level first (computed here)."""
    found = [a for a in areas if shape(a["geometry"]).covers(Point(lon, lat))]
    return [a["properties"]["code"] for a in sorted(found, key=lambda a: LEVELS.index(a["properties"]["level"]))]


def test_a_point_in_a_compound_gets_district_township_community_compound(anon, areas):
    compounds = [a for a in areas if a["properties"]["level"] == "compound"]
    for compound in compounds[::9]:
        p = shape(compound["geometry"]).representative_point()
        out = locate(anon, p.x, p.y)
        chain = out["areas"]
        assert [a["level"] for a in chain] == ["district", "township", "community", "compound"]
        assert [a["code"] for a in chain] == holders(areas, p.x, p.y)
        assert chain[0]["code"] == "350625" and chain[0]["name_zh"] == "长泰区"
        assert chain[-1]["id"] == compound["id"] == out["compound"]["id"]
        assert chain[2] == out["community"]  # the old members stay, and agree
        for upper, lower in itertools.pairwise(chain):
            assert lower["code"].startswith(upper["code"])  # statistical codes nest
        assert set(chain[0]) == {"id", "level", "code", "name_zh", "name_en"}


def test_a_point_in_no_area_has_an_empty_chain(anon, areas):
    out = locate(anon, 117.9, 24.9)  # well east of the demo district
    assert out["areas"] == [] and out["grid"] is None and out["community"] is None


def test_gcj02_points_find_the_same_chain(anon, areas):
    compound = next(a for a in areas if a["properties"]["level"] == "compound")
    p = shape(compound["geometry"]).representative_point()
    glon, glat = from_wgs84(p.x, p.y, "gcj02")
    assert locate(anon, glon, glat, coord_type="gcj02")["areas"] == locate(anon, p.x, p.y)["areas"]


def test_fields_leave_the_grid_geometry_out(anon, areas):
    compound = next(a for a in areas if a["properties"]["level"] == "compound")
    p = shape(compound["geometry"]).representative_point()
    full = locate(anon, p.x, p.y)
    assert full["grid"]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    slim = locate(anon, p.x, p.y, fields="grid,areas")
    assert set(slim) == {"grid", "areas", "outside_coverage", "distance_m", "point"}
    assert slim["grid"]["geometry"] is None
    assert slim["grid"]["properties"] == full["grid"]["properties"] and slim["grid"]["id"] == full["grid"]["id"]
    assert slim["areas"] == full["areas"]
    only_areas = locate(anon, p.x, p.y, fields="areas")
    assert set(only_areas) == {"areas", "outside_coverage", "distance_m", "point"}
    with_geometry = locate(anon, p.x, p.y, fields="geometry,building")
    assert with_geometry["grid"] == full["grid"] and with_geometry["building"] == full["building"]
    assert "areas" not in with_geometry


def test_fields_with_at_apply_to_the_grid_of_that_day(anon, areas):
    compound = next(a for a in areas if a["properties"]["level"] == "compound")
    p = shape(compound["geometry"]).representative_point()
    out = locate(anon, p.x, p.y, at="2100-01-01", fields="grid")
    assert out["grid"]["geometry"] is None and out["grid"]["properties"]["code"]
    assert "areas" not in out


def test_unknown_fields_name_the_parameter(anon):
    assert_problem(
        anon.get("/api/v1/grids/locate", params={"lon": 117.75, "lat": 24.62, "fields": "grid,x"}), 422, "fields"
    )
