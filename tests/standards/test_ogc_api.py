"""OGC API - Features, read by real clients: GDAL's OAPIF driver and OWSLib, plus the protocol rules."""

from __future__ import annotations

import re

import pytest
import shapely
from owslib.ogcapi.features import Features
from shapely.geometry import box, shape

from tests.standards.clients import extent, feature_count, gdal

GEOJSON = "application/geo+json"


def oapif(backend) -> str:
    return f"OAPIF:{backend.base_url}/ogc/"


def test_ogrinfo_lists_every_collection(backend, anon):
    ids = [c["id"] for c in anon.get("/ogc/collections").json()["collections"]]
    assert {"communities", "compounds", "grids", "buildings", "stations", "service_areas", "requests"} <= set(ids)
    listing = gdal("ogrinfo", "-ro", "-q", oapif(backend))
    listed = re.findall(r"^\d+: (\w+)", listing, flags=re.M)
    assert listed == ids


def test_ogrinfo_reports_the_grid_count_and_extent(backend, anon):
    grids = anon.get("/api/v1/grids").json()["features"]
    info = gdal("ogrinfo", "-ro", "-al", "-so", oapif(backend), "grids")
    assert feature_count(info) == len(grids) == 25
    minx, miny, maxx, maxy = shapely.union_all([shape(g["geometry"]) for g in grids]).bounds
    assert extent(info) == pytest.approx((minx, miny, maxx, maxy), abs=1e-6)


def test_ogrinfo_spatial_filter_returns_exactly_the_intersecting_grids(backend, anon):
    grids = anon.get("/api/v1/grids").json()["features"]
    frame = (117.752, 24.619, 117.756, 24.623)
    expected = {g["properties"]["code"] for g in grids if shape(g["geometry"]).intersects(box(*frame))}
    out = gdal("ogrinfo", "-ro", "-al", "-q", "-spat", *map(str, frame), oapif(backend), "grids")
    got = set(re.findall(r"^\s+code \(String\) = (\d+)", out, flags=re.M))
    assert got == expected and 0 < len(expected) < 25


def test_ogr2ogr_copies_buildings_to_a_geopackage(backend, anon, tmp_path):
    target = tmp_path / "buildings.gpkg"
    gdal("ogr2ogr", "-f", "GPKG", str(target), oapif(backend), "buildings")
    count = len(anon.get("/api/v1/buildings").json()["features"])
    assert feature_count(gdal("ogrinfo", "-ro", "-so", str(target), "buildings")) == count


def test_owslib_reads_everything_and_pages_cover_each_feature_once(backend):
    api = Features(f"{backend.base_url}/ogc")
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
    assert {c["id"] for c in api.collections()["collections"]} >= {"grids", "buildings", "stations"}
    assert api.api()["openapi"].startswith("3.0")
    some = api.collection_items("buildings", bbox=[117.752, 24.619, 117.756, 24.623], limit=7)
    assert some["numberReturned"] == len(some["features"]) <= 7 and some["numberMatched"] >= some["numberReturned"]
    station = api.collection_items("stations", limit=1)["features"][0]
    assert api.collection_item("stations", str(station["id"]))["properties"]["name_zh"]
    seen: list[int] = []
    total = api.collection_items("buildings", limit=1)["numberMatched"]
    for offset in range(0, total, 50):
        page = api.collection_items("buildings", limit=50, offset=offset)
        seen += [f["id"] for f in page["features"]]
    assert len(seen) == len(set(seen)) == total


def test_items_follow_the_protocol_rules(anon):
    r = anon.get("/ogc/collections/buildings/items", params={"limit": 10, "offset": 20})
    assert r.status_code == 200 and r.headers["content-type"].startswith(GEOJSON)
    body = r.json()
    rels = {link["rel"] for link in body["links"]}
    assert {"self", "next", "prev", "collection"} <= rels
    assert all(link.get("rel") and link.get("type") for link in body["links"])
    assert body["numberReturned"] == 10
    last = anon.get("/ogc/collections/buildings/items", params={"limit": 10, "offset": body["numberMatched"] - 5})
    assert "next" not in {link["rel"] for link in last.json()["links"]} and last.json()["numberReturned"] == 5
    assert anon.get("/ogc/collections/stations").json()["extent"]["spatial"]["crs"].endswith("CRS84")
    for params in (
        {"colour": "red"},
        {"limit": "0"},
        {"limit": "x"},
        {"bbox": "1,2,3"},
        {"datetime": "yesterday"},
        {"type": "casino"},
    ):
        bad = anon.get("/ogc/collections/stations/items", params=params)
        assert bad.status_code == 400, params
        assert bad.json()["code"] and bad.json()["description"]
    assert anon.get("/ogc/collections/nowhere/items").status_code == 404
    assert anon.get("/ogc/collections/stations/items/99999999").status_code == 404
    landing = anon.get("/ogc/").json()
    links = {link["rel"]: link for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(links)
    assert links["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert anon.get(links["service-desc"]["href"]).json()["openapi"] == "3.0.3"


def test_property_filters_and_grid_history_by_datetime(anon):
    childcare = anon.get("/ogc/collections/stations/items", params={"type": "childcare"}).json()
    assert childcare["features"] and {f["properties"]["type"] for f in childcare["features"]} == {"childcare"}
    past = anon.get("/ogc/collections/grids/items", params={"datetime": "2020-01-01T00:00:00Z"}).json()
    now = anon.get("/ogc/collections/grids/items", params={"datetime": "2199-01-01T00:00:00Z"}).json()
    assert past["numberMatched"] == 0 and now["numberMatched"] == 25


def test_open_requests_are_public_only_in_a_privacy_safe_form(backend, anon):
    point = (117.75531, 24.62113)
    created = anon.post(
        "/api/v1/requests",
        json={
            "category": "littering",
            "description": "ogc privacy",
            "lon": point[0],
            "lat": point[1],
            "channel": "web",
            "reporter_name": "王五",
            "reporter_phone": "13912345678",
            "public": True,  # published by the reporter; unpublished ones: tests/security/test_public_feeds.py
        },
    ).json()
    public = anon.get(f"/ogc/collections/requests/items/{created['id']}").json()
    text = str(public)
    assert "13912345678" not in text and "王五" not in text and "reporter" not in text
    lon, lat = public["geometry"]["coordinates"]
    assert (lon, lat) != pytest.approx(point, abs=1e-7)
    from tests.service.helpers import PROJ

    x1, y1 = PROJ.forward(*point)
    x2, y2 = PROJ.forward(lon, lat)
    assert ((x1 - x2) ** 2 + (y1 - y2) ** 2) ** 0.5 < 60  # rounded to the building or a 50 m grid
    with backend.client("dispatcher") as staff:
        exact = staff.get(f"/ogc/collections/requests/items/{created['id']}").json()
    assert exact["geometry"]["coordinates"] == pytest.approx(list(point), abs=1e-7)
