"""Done when: on an empty database a planner loads the district boundaries of Zhangzhou as Amap gives
them (GCJ-02, 6-digit statistical codes), through the API and through the CLI, on both backends,
and ``GET /api/v1/grids/locate`` with points sent in GCJ-02 answers the right district.

The districts are plausible, not surveyed: the Voronoi cells of the real seats of Zhangzhou's eleven
districts and counties, clipped to a box around the prefecture (116.9-118.2 E, 23.5-25.3 N) and
densified to a vertex every ~1 km, converted to GCJ-02 with the published forward formula. The exact
inverse of the file is therefore the WGS84 cell itself: what is stored must be within 1 cm of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack
from typing import Any

import pytest
import shapely
from geoalchemy2.shape import to_shape
from shapely.geometry import MultiPoint, Point, box
from sqlalchemy import select

from service.areas.models import Area
from tests.support.backends import BACKENDS
from tests.support.cityfiles import EmptyCity, geojson_bytes, max_offset_m, start_empty_city, to_gcj02

#: The seats (WGS84) of Zhangzhou's districts and counties, by their 6-digit statistical code.
SEATS: dict[str, tuple[str, str, float, float]] = {
    "350602": ("芗城区", "Xiangcheng", 117.6536, 24.5109),
    "350603": ("龙文区", "Longwen", 117.7096, 24.5032),
    "350604": ("龙海区", "Longhai", 117.8182, 24.4469),
    "350605": ("长泰区", "Changtai", 117.7594, 24.6253),
    "350622": ("云霄县", "Yunxiao", 117.3396, 23.9578),
    "350623": ("漳浦县", "Zhangpu", 117.6141, 24.1170),
    "350624": ("诏安县", "Zhao'an", 117.1752, 23.7113),
    "350626": ("东山县", "Dongshan", 117.4300, 23.7016),
    "350627": ("南靖县", "Nanjing", 117.3571, 24.5146),
    "350628": ("平和县", "Pinghe", 117.3153, 24.3634),
    "350629": ("华安县", "Hua'an", 117.5341, 25.0044),
}
FRAME = box(116.9, 23.5, 118.2, 25.3)
VERTEX_EVERY_DEG = 0.01


def district_cells() -> dict[str, Any]:
    """code -> the district's WGS84 polygon (its seat's Voronoi cell in the frame, densified)."""
    seats = {code: Point(lon, lat) for code, (_, _, lon, lat) in SEATS.items()}
    cells = shapely.voronoi_polygons(MultiPoint(list(seats.values())), extend_to=FRAME)
    out = {}
    for code, seat in seats.items():
        cell = next(c for c in cells.geoms if c.contains(seat))
        out[code] = shapely.segmentize(shapely.normalize(cell.intersection(FRAME)), VERTEX_EVERY_DEG)
    return out


CELLS = district_cells()


def amap_file() -> bytes:
    """The districts as a GeoJSON of GCJ-02 coordinates, the way an Amap-based office exports them."""
    rows = [{"adcode": code, "name": SEATS[code][0], "name_en": SEATS[code][1]} for code in SEATS]
    return geojson_bytes(rows, [to_gcj02(CELLS[code]) for code in SEATS])


AMAP = amap_file()


def probes() -> list[tuple[str, float, float]]:
    """(code, lon, lat) in GCJ-02: each district's seat and a point well inside its cell."""
    out = []
    for code, (_, _, lon, lat) in SEATS.items():
        inner = CELLS[code].buffer(-0.01).representative_point()
        for point in (Point(lon, lat), inner):
            g = to_gcj02(point)
            out.append((code, g.x, g.y))
    return out


def run_cli(url: str, *args: str) -> subprocess.CompletedProcess:
    env = os.environ | {"NEIGHBORGRID_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


class Loaded:
    """One backend: a city loaded through the API, another through the CLI, and what each answered."""

    def __init__(self, api: EmptyCity, cli: EmptyCity) -> None:
        self.cities = {"api": api, "cli": cli}
        self.answers: dict[str, Any] = {}


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(request, tmp_path_factory):
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp(f"zhangzhou-{request.param}")
        api = start_empty_city(request.param, stack, tmp / "api")
        cli = start_empty_city(request.param, stack, tmp / "cli")
        out = Loaded(api, cli)
        r = api.import_file("areas", "zhangzhou_districts_gcj02.geojson", AMAP, coord_type="gcj02")
        out.answers["api"] = (r.status_code, r.json())
        path = tmp / "zhangzhou_districts_gcj02.geojson"
        path.write_bytes(AMAP)
        done = run_cli(
            cli.url,
            "import",
            "areas",
            str(path),
            "--coord-type",
            "gcj02",
            "--comment",
            "districts from the civil-affairs bureau (Amap export)",
            "--json",
        )
        out.answers["cli"] = (done.returncode, done.stdout, done.stderr)
        yield out


def test_api_import_creates_the_eleven_districts(loaded):
    status, report = loaded.answers["api"]
    assert status == 200, report
    assert report["saved"] is True
    assert report["counts"] == {"created": 11, "updated": 0, "unchanged": 0, "retired": 0}
    assert report["problems"] == []
    assert report["source"]["crs"] and "GCJ" in report["source"]["crs"].upper()


def test_cli_import_creates_the_eleven_districts(loaded):
    code, stdout, stderr = loaded.answers["cli"]
    assert code == 0, stderr + stdout
    report = json.loads(stdout)
    assert report["counts"]["created"] == 11
    assert report["problems"] == []


@pytest.mark.parametrize("path", ["api", "cli"])
def test_areas_list_the_districts_with_codes_and_names(loaded, path):
    with loaded.cities[path].client(None) as c:
        r = c.get("/api/v1/areas", params={"level": "district"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "FeatureCollection"
    got = {f["properties"]["code"]: f["properties"] for f in body["features"]}
    assert set(got) == set(SEATS)
    for code, (zh, en, _, _) in SEATS.items():
        assert got[code]["name_zh"] == zh
        assert got[code]["name_en"] == en
        assert got[code]["level"] == "district"


@pytest.mark.parametrize("path", ["api", "cli"])
def test_locate_answers_the_district_for_points_sent_in_gcj02(loaded, path):
    wrong = []
    with loaded.cities[path].client(None) as c:
        for code, lon, lat in probes():
            r = c.get("/api/v1/grids/locate", params={"lon": lon, "lat": lat, "coord_type": "gcj02"})
            assert r.status_code == 200, r.text
            chain = {a["level"]: a["code"] for a in r.json()["areas"]}
            if chain.get("district") != code:
                wrong.append((code, lon, lat, chain))
    assert wrong == []


@pytest.mark.parametrize("path", ["api", "cli"])
def test_stored_boundaries_are_within_1cm_of_the_exact_gcj02_inverse(loaded, path):
    with loaded.cities[path].db.transaction() as session:
        stored = {a.code: to_shape(a.geom) for a in session.scalars(select(Area))}
    assert set(stored) == set(SEATS)
    offsets = {code: max_offset_m(stored[code], CELLS[code]) for code in SEATS}
    assert max(offsets.values()) < 0.01, offsets
    # The file itself sits hundreds of metres off: the conversion is what put them right.
    assert min(max_offset_m(to_gcj02(CELLS[c]), CELLS[c]) for c in SEATS) > 100


def test_the_same_file_without_coord_type_is_refused_naming_coord_type(loaded):
    city = loaded.cities["api"]
    r = city.import_file("areas", "zhangzhou_districts_gcj02.geojson", AMAP)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert "coord_type" in problem["detail"]
    assert [e["field"] for e in problem["errors"]] == ["coord_type"]
    assert city.count(Area) == 11


def test_the_same_file_declared_wgs84_is_warned_crs_offset_suggesting_gcj02(loaded):
    city = loaded.cities["api"]
    r = city.import_file("areas", "zhangzhou_districts_gcj02.geojson", AMAP, coord_type="wgs84", dry_run=True)
    assert r.status_code == 200, r.text
    report = r.json()
    offsets = [w for w in report["warnings"] if w["code"] == "crs_offset"]
    assert len(offsets) == 1, report["warnings"]
    assert offsets[0]["field"] == "coord_type"
    assert "gcj02" in offsets[0]["message"].lower()
    assert report["saved"] is False
    with city.db.transaction() as session:
        stored = {a.code: to_shape(a.geom) for a in session.scalars(select(Area))}
    assert max(max_offset_m(stored[c], CELLS[c]) for c in SEATS) < 0.01  # the dry run changed nothing


def test_reimporting_the_file_changes_nothing(loaded):
    city = loaded.cities["api"]
    r = city.import_file("areas", "zhangzhou_districts_gcj02.geojson", AMAP, coord_type="gcj02")
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"created": 0, "updated": 0, "unchanged": 11, "retired": 0}
    with city.db.transaction() as session:
        assert {a.version for a in session.scalars(select(Area))} == {1}
