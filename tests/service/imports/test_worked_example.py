"""The worked example of onboarding: a small real city, brought as a city brings its files, in four
copies, each imported into an empty database on both backends, must give the same city.

Data © OpenStreetMap contributors, under the Open Database License (ODbL) 1.0: the city is built
from ``fixtures/osm/helsinki_centre.osm.pbf`` (tests/support/helsinki_city.py; a 2019 snapshot, see
fixtures/osm/README.md). Communities are the Voronoi cells of the extract's ``place=suburb`` nodes
(Kaartinkaupunki, Kluuvi, Kaisaniemi, Hakaniemi, Siltasaari) clipped to the extract, the district
their union, grids the street blocks of each community grouped by position, buildings the OSM
footprints with households estimated from area and levels, stations the OSM amenities the project
maps to station types.

The copies: WGS84 (GeoJSON areas, GeoPackage grids, GeoJSON buildings, an .xlsx station list with
lon/lat), GCJ-02 (GeoJSON, and a CSV station list; outside China GCJ-02 coordinates are WGS84 ones,
in Amap's data and in every converter, the importer's included, so this copy checks the declared
path end to end while the conversion itself is proved in test_zhangzhou_districts), CGCS2000
projected (zipped Shapefiles whose .prj is a Transverse Mercator on 25°E: no coord_type sent) and
GBK (zipped Shapefiles without a .cpg, Chinese column names and levels: areas and grids). Every
copy must store the same geometries within 1 cm and the same names; re-importing a copy changes
nothing; buildings find their grids and stations their communities; locate finds each suburb.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import pytest
from geoalchemy2.shape import to_shape
from sqlalchemy import select

from service.areas.models import Area
from service.buildings.models import Building
from service.grids.models import Grid
from service.stations.models import Station
from tests.support.backends import BACKENDS
from tests.support.cityfiles import EmptyCity, max_offset_m, start_empty_city
from tests.support.helsinki_city import City, Edition, build_city

KINDS = ("areas", "grids", "buildings", "stations")
EDITIONS = ("wgs84", "gcj02", "cgcs2000", "gbk")
COMMENT = "onboarding the worked example (Helsinki centre, © OpenStreetMap contributors)"


@pytest.fixture(scope="session")
def helsinki(tmp_path_factory) -> tuple[City, dict[str, Edition]]:
    """The city and its four copies, built once per session; the files also land in a tmp folder."""
    city = build_city()
    editions = {e.name: e for e in city.editions()}
    folder = tmp_path_factory.mktemp("helsinki-city")
    for e in editions.values():
        for filename, data, _ in e.files.values():
            (folder / f"{e.name}-{filename}").write_bytes(data)
    return city, editions


class Imported:
    """One backend: per copy an empty city it was imported into, and each import's answer."""

    def __init__(self) -> None:
        self.cities: dict[str, EmptyCity] = {}
        self.answers: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}


@pytest.fixture(scope="module", params=BACKENDS)
def imported(request, helsinki, tmp_path_factory):
    _, editions = helsinki
    out = Imported()
    with ExitStack() as stack:
        tmp = tmp_path_factory.mktemp(f"worked-{request.param}")
        for name in EDITIONS:
            city = out.cities[name] = start_empty_city(request.param, stack, tmp / name)
            for kind in KINDS:
                if kind not in editions[name].files:
                    continue
                filename, data, options = editions[name].files[kind]
                r = city.import_file(kind, filename, data, comment=COMMENT, **options)
                out.answers[name, kind] = (r.status_code, r.json())
        yield out


def stored(city: EmptyCity, kind: str) -> dict[str, tuple[tuple[Any, ...], Any]]:
    """code -> ((names...), WGS84 geometry) as the database holds them."""
    model, key = {"areas": (Area, "code"), "grids": (Grid, "code"), "buildings": (Building, "ref")}.get(
        kind, (Station, "ref")
    )
    with city.db.transaction() as session:
        rows = session.scalars(select(model).where(model.retired_at.is_(None)))
        return {
            getattr(r, key): ((r.name_zh, r.name_en) if kind != "buildings" else (r.name_zh,), to_shape(r.geom))
            for r in rows
        }


def expected(city: City, kind: str) -> dict[str, tuple[tuple[Any, ...], Any]]:
    layer = getattr(city, kind)
    out = {}
    for row, geom in zip(layer.rows, layer.geoms, strict=True):
        zh = row.get("name_zh", row.get("name"))
        names = (zh,) if kind == "buildings" else (zh, row.get("name_en"))
        out[row["code"]] = (names, geom)
    return out


CASES = [(e, k) for e in EDITIONS for k in KINDS if not (e == "gbk" and k in ("buildings", "stations"))]


def test_the_city_is_real_and_small(helsinki):
    city, _ = helsinki
    assert set(city.suburbs) >= {"Kaartinkaupunki", "Kluuvi", "Kaisaniemi", "Hakaniemi", "Siltasaari"}
    assert len(city.areas.rows) == 1 + len(city.suburbs)
    assert len(city.grids.rows) >= 2 * len(city.suburbs)
    assert len(city.buildings.rows) > 400 and len(city.stations.rows) >= 10


@pytest.mark.parametrize("edition, kind", CASES)
def test_each_copy_imports_cleanly_into_an_empty_city(imported, helsinki, edition, kind):
    city, _ = helsinki
    status, report = imported.answers[edition, kind]
    assert status == 200, report
    assert report["problems"] == []
    n = len(getattr(city, kind).rows)
    assert report["counts"] == {"created": n, "updated": 0, "unchanged": 0, "retired": 0}
    assert report["saved"] is True


@pytest.mark.parametrize("edition, kind", CASES)
def test_each_copy_stores_the_same_geometries_within_1cm_and_the_same_names(imported, helsinki, edition, kind):
    city, _ = helsinki
    want = expected(city, kind)
    got = stored(imported.cities[edition], kind)
    assert set(got) == set(want)
    wrong_names = {code: (got[code][0], want[code][0]) for code in want if got[code][0] != want[code][0]}
    assert wrong_names == {}
    offsets = {code: max_offset_m(got[code][1], want[code][1]) for code in want}
    worst = max(offsets, key=lambda c: offsets[c])
    assert offsets[worst] < 0.01, (worst, offsets[worst])


@pytest.mark.parametrize("kind", ["areas", "grids"])
def test_the_gbk_copy_without_cpg_is_guessed_and_says_so(imported, kind):
    _, report = imported.answers["gbk", kind]
    guessed = [w for w in report["warnings"] if w["code"] == "encoding_guessed"]
    assert len(guessed) == 1 and guessed[0]["field"] == "encoding"
    assert report["source"]["encoding"].lower().replace("-", "") in ("gb18030", "gbk", "cp936")


def test_the_gbk_names_are_stored_as_written_not_mojibake(imported, helsinki):
    city, _ = helsinki
    got = stored(imported.cities["gbk"], "areas")
    for row in city.areas.rows:
        zh = got[row["code"]][0][0]
        assert zh == row["name_zh"]
        assert all("\u4e00" <= ch <= "\u9fff" for ch in zh), zh  # only CJK ideographs, nothing else


def test_each_copy_warns_only_what_is_true_of_it(imported):
    """The district of 1.7 km² is small for a district (undersized); the GBK files do not say their
    encoding (encoding_guessed). Nothing else: no offset, overlap, gap, outlier or outside_parent."""
    for (edition, kind), (_, report) in imported.answers.items():
        codes = sorted((w["code"], w["feature_code"]) for w in report["warnings"])
        want = [("undersized", "091001")] if kind == "areas" else []
        if edition == "gbk":
            want = sorted([*want, ("encoding_guessed", None)], key=str)
        assert sorted(codes, key=str) == want, (edition, kind, report["warnings"])


@pytest.mark.parametrize("kind", KINDS)
def test_reimporting_a_copy_changes_nothing(imported, helsinki, kind):
    city, editions = helsinki
    filename, data, options = editions["gcj02"].files[kind]
    target = imported.cities["gcj02"]
    r = target.import_file(kind, filename, data, comment=COMMENT, **options)
    assert r.status_code == 200, r.text
    n = len(getattr(city, kind).rows)
    assert r.json()["counts"] == {"created": 0, "updated": 0, "unchanged": n, "retired": 0}


@pytest.mark.parametrize("edition", ["wgs84", "gcj02", "cgcs2000"])
def test_every_building_has_its_grid_and_every_station_its_community(imported, helsinki, edition):
    city, _ = helsinki
    target = imported.cities[edition]
    with target.db.transaction() as session:
        grid_codes = dict(session.execute(select(Grid.id, Grid.code)).all())
        buildings = {b.ref: b for b in session.scalars(select(Building))}
        homeless = sorted(ref for ref, b in buildings.items() if b.grid_id is None)
        per_grid: dict[str, int] = {}
        for b in buildings.values():
            if b.grid_id is not None:
                per_grid[grid_codes[b.grid_id]] = per_grid.get(grid_codes[b.grid_id], 0) + b.households
        stations = list(session.scalars(select(Station)))
        community_codes = {a.id: a.code for a in session.scalars(select(Area))}
        station_communities = {s.ref: community_codes.get(s.community_id) for s in stations}
    assert homeless == []
    assert sum(per_grid.values()) == sum(r["households"] for r in city.buildings.rows)
    assert len(per_grid) == len(city.grids.rows)  # every grid holds homes
    communities = {r["code"] for r in city.areas.rows if r["level"] == "community"}
    assert all(code in communities for code in station_communities.values()), station_communities


@pytest.mark.parametrize("edition", EDITIONS)
def test_locate_finds_each_suburb_in_its_community_and_a_grid_of_it(imported, helsinki, edition):
    city, _ = helsinki
    codes = {row["name_en"]: row["code"] for row in city.areas.rows if row["level"] == "community"}
    with imported.cities[edition].client(None) as c:
        for name, point in city.suburbs.items():
            r = c.get("/api/v1/grids/locate", params={"lon": point.x, "lat": point.y})
            assert r.status_code == 200, r.text
            body = r.json()
            chain = [(a["level"], a["code"]) for a in body["areas"]]
            assert chain == [("district", "091001"), ("community", codes[name])], (name, chain)
            assert body["grid"]["properties"]["code"].startswith(codes[name]), name
