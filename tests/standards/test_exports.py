"""Exports for QGIS: a GeoPackage with one layer per table that ogrinfo and geopandas open."""

from __future__ import annotations

import io
import zipfile

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import shape

from tests.service.helpers import assert_problem
from tests.standards.clients import feature_count, gdal


def test_geopackage_opens_with_ogrinfo_and_geopandas_with_identical_geometries(backend, anon, tmp_path):
    with backend.client("planner") as planner:
        r = planner.get("/api/v1/export", params={"layers": "grids,buildings,stations,service_areas"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/geopackage+sqlite3"
    path = tmp_path / "export.gpkg"
    path.write_bytes(r.content)
    listing = gdal("ogrinfo", "-ro", "-q", str(path))
    for layer in ("grids", "buildings", "stations", "service_areas"):
        assert layer in listing
    info = gdal("ogrinfo", "-ro", "-so", str(path), "buildings")
    assert "households: Integer" in info and 'ID["EPSG",4326]' in info
    api = {f["id"]: shape(f["geometry"]) for f in anon.get("/api/v1/buildings").json()["features"]}
    assert feature_count(info) == len(api)
    frame = gpd.read_file(path, layer="buildings")
    assert frame.crs.to_epsg() == 4326
    for fid, geom in zip(frame["id"], frame.geometry, strict=True):
        assert shapely.equals_exact(geom, api[int(fid)], tolerance=1e-7)
    grids = gpd.read_file(path, layer="grids")
    assert len(grids) == 25 and pd.api.types.is_integer_dtype(grids["households"])


def test_geojson_and_csv_with_wkt(backend):
    with backend.client("dispatcher") as staff:
        one = staff.get("/api/v1/export", params={"layers": "stations", "format": "geojson"})
        assert one.headers["content-type"].startswith("application/geo+json")
        assert len(one.json()["features"]) >= 20
        both = staff.get("/api/v1/export", params={"layers": "stations,grids", "format": "csv"})
    names = zipfile.ZipFile(io.BytesIO(both.content)).namelist()
    assert sorted(names) == ["grids.csv", "stations.csv"]
    table = pd.read_csv(
        io.BytesIO(zipfile.ZipFile(io.BytesIO(both.content)).read("stations.csv")), encoding="utf-8-sig"
    )
    points = [shapely.from_wkt(w) for w in table["wkt"]]
    geo = {f["id"]: shape(f["geometry"]) for f in one.json()["features"]} if "id" in one.json()["features"][0] else {}
    assert all(p.geom_type == "Point" for p in points) and len(points) == len(one.json()["features"])
    assert set(table["name_zh"]) == {f["properties"]["name_zh"] for f in one.json()["features"]}
    assert geo == {} or len(geo) == len(points)


def test_exports_are_for_staff_and_check_their_parameters(backend, anon):
    assert_problem(anon.get("/api/v1/export"), 401)
    with backend.client("resident1") as resident:
        assert_problem(resident.get("/api/v1/export"), 403)
    with backend.client("planner") as planner:
        assert_problem(planner.get("/api/v1/export", params={"layers": "secrets"}), 422, "layers")
        assert_problem(planner.get("/api/v1/export", params={"format": "xlsx"}), 422, "format")
