"""Importing the bureau's station lists into an empty city (the demo town's areas, grids and streets
loaded first): an Excel list in GCJ-02 (Amap) and a CSV in BD-09 (Baidu) with the Chinese type names
cities use land where the WGS84 truth is, get their community and service circles; a type that is
none of ours is refused naming the field; retiring a station takes it out of the finder."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from geoalchemy2.shape import to_shape
from shapely.geometry import Point
from sqlalchemy import select

from geo.crs import LocalProjection
from service.areas.models import Area
from service.stations.models import Station, StationCircle, StationType
from tests.support.cityfiles import EmptyCity, csv_bytes, empty_city, geojson_bytes, to_gcj02, xlsx_bytes
from tests.support.demotown import DEMO, demo_features, load_town

#: The demo's stations: the WGS84 truth the converted lists must land on.
TRUTH = {f"ZT-{f['properties']['key'][-2:]}": f for f in demo_features("stations")}
COMMUNITY = {"community-1": "350625100001", "community-2": "350625100002", "community-3": "350625100003"}
#: How cities write the types in their lists.
CHINESE = {
    "elderly_care_centre": "养老服务中心",
    "home_elderly_care_station": "日间照料中心",
    "childcare": "托育机构",
    "convenience_station": "便民服务站",
    "parcel_pickup": "菜鸟驿站",
    "volunteer_station": "志愿服务站",
    "red_service_station": "新业态红色服务站",
    "party_mass_centre": "党群服务中心",
}
XLSX_CODES = sorted(TRUTH)[:14]
CSV_CODES = sorted(TRUTH)[14:]


def to_bd09(p: Point) -> Point:
    """Baidu's BD-09 from GCJ-02: the published forward formula, written out on its own."""
    x, y = p.x, p.y
    k = math.pi * 3000.0 / 180.0
    z = math.sqrt(x * x + y * y) + 0.00002 * math.sin(y * k)
    theta = math.atan2(y, x) + 0.000003 * math.cos(x * k)
    return Point(z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006)


def truth_point(code: str) -> Point:
    return Point(TRUTH[code]["geometry"]["coordinates"])


def row(code: str, at: Point, **extra) -> dict:
    p = TRUTH[code]["properties"]
    return {
        "站点编号": code,
        "类型": CHINESE[p["type"]],
        "站点名称": p["name_zh"],
        "经度": at.x,
        "纬度": at.y,
        "营业时间": p.get("opening_hours"),
        "床位": p.get("capacity"),
        "地址": p.get("address_zh"),
        "联系电话": p.get("contact_phone"),
        **extra,
    }


XLSX = xlsx_bytes([row(c, to_gcj02(truth_point(c))) for c in XLSX_CODES])
CSV = csv_bytes([row(c, to_bd09(to_gcj02(truth_point(c)))) for c in CSV_CODES])


def metres(a: Point, b: Point) -> float:
    projection = LocalProjection.for_lonlat(a.x, a.y)
    return float(projection.to_metric(a).distance(projection.to_metric(b)))


@pytest.fixture(scope="module", params=["spatialite", "postgis"])
def city(request, tmp_path_factory) -> Iterator[EmptyCity]:
    with empty_city(request.param, tmp_path_factory.mktemp(request.param)) as c:
        load_town(c)
        r = c.import_file("stations", "养老托育站点.xlsx", XLSX, coord_type="gcj02")
        assert r.status_code == 200, r.text
        c.first = r.json()  # type: ignore[attr-defined]
        r = c.import_file("stations", "便民站点_baidu.csv", CSV, coord_type="bd09")
        assert r.status_code == 200, r.text
        c.second = r.json()  # type: ignore[attr-defined]
        yield c


def stations(city: EmptyCity) -> dict[str, Station]:
    with city.db.reader() as session:
        return {s.ref: s for s in session.scalars(select(Station))}


def test_both_lists_are_created_with_no_problem(city):
    assert city.first["counts"] == {"created": 14, "updated": 0, "unchanged": 0, "retired": 0}
    assert city.second["counts"] == {"created": 14, "updated": 0, "unchanged": 0, "retired": 0}
    assert city.first["source"]["crs"].lower().startswith("gcj")
    assert not [w for w in city.first["warnings"] + city.second["warnings"] if w["code"] != "encoding_guessed"]


def test_gcj02_excel_and_bd09_csv_land_on_the_wgs84_truth_within_a_centimetre(city):
    stored = stations(city)
    offsets = {c: metres(to_shape(stored[c].geom), truth_point(c)) for c in TRUTH}
    assert max(offsets.values()) < 0.01, sorted(offsets.items(), key=lambda kv: -kv[1])[:3]


def test_chinese_type_names_become_our_types_and_fields_are_kept(city):
    stored = stations(city)
    for code, f in TRUTH.items():
        p = f["properties"]
        s = stored[code]
        assert s.type is StationType(p["type"]), code
        assert (s.name_zh, s.opening_hours, s.capacity) == (p["name_zh"], p.get("opening_hours"), p.get("capacity"))
        assert (s.address_zh, s.contact_phone) == (p.get("address_zh"), p.get("contact_phone"))
        assert s.version == 1 and s.retired_at is None


def test_each_station_belongs_to_the_community_holding_it(city):
    stored = stations(city)
    with city.db.reader() as session:
        codes = {a.id: a.code for a in session.scalars(select(Area))}
    assert {c: codes.get(s.community_id) for c, s in stored.items()} == {
        c: COMMUNITY[f["properties"]["community_key"]] for c, f in TRUTH.items()
    }


def test_every_imported_station_has_its_service_circles(city):
    with city.db.reader() as session:
        circles = session.execute(select(StationCircle.station_id, StationCircle.minutes)).all()
    ids = {s.id for s in stations(city).values()}
    minutes = tuple(sorted(city.settings.circle_minutes))
    assert {sid: tuple(sorted(m for s, m in circles if s == sid)) for sid in ids} == dict.fromkeys(ids, minutes)


def test_reimporting_the_excel_list_changes_nothing(city):
    r = city.import_file("stations", "养老托育站点.xlsx", XLSX, coord_type="gcj02")
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"created": 0, "updated": 0, "unchanged": 14, "retired": 0}
    assert {s.version for s in stations(city).values()} == {1}


def test_a_type_that_is_none_of_ours_is_refused_naming_the_field_and_nothing_is_saved(city):
    rows = [row(XLSX_CODES[0], to_gcj02(truth_point(XLSX_CODES[0])))]
    rows.append(rows[0] | {"站点编号": "ZT-99", "类型": "游乐场", "站点名称": "儿童乐园", "经度": 117.7601})
    r = city.import_file("stations", "bad.xlsx", xlsx_bytes(rows), coord_type="gcj02")
    assert r.status_code == 422, r.text
    problems = r.json()["report"]["problems"]
    assert [(p["feature"], p["field"], p["code"]) for p in problems] == [(1, "type", "bad_value")]
    assert "elderly_care_centre" in problems[0]["message"] and "党群服务中心" in problems[0]["message"]
    assert "ZT-99" not in stations(city)


def test_a_missing_type_column_is_refused_naming_the_field(city):
    rows = [{k: v for k, v in row(XLSX_CODES[0], truth_point(XLSX_CODES[0])).items() if k != "类型"}]
    r = city.import_file("stations", "no-type.csv", csv_bytes(rows), coord_type="wgs84")
    assert r.status_code == 422, r.text
    assert [(p["field"], p["code"]) for p in r.json()["report"]["problems"]] == [("type", "missing_column")]


def test_a_station_listed_twice_and_one_far_away_are_warned_in_a_dry_run(city):
    here = truth_point("ZT-07")
    near = Point(here.x + 0.00002, here.y)  # about 2 m east, a childcare station too
    rows = [
        {"code": "NEW-1", "type": "childcare", "name": "重复托育点", "lon": near.x, "lat": near.y},
        {"code": "NEW-2", "type": "parcel_pickup", "name": "远处驿站", "lon": 117.90, "lat": 24.70},
    ]
    r = city.import_file("stations", "extra.csv", csv_bytes(rows), coord_type="wgs84", dry_run=True)
    assert r.status_code == 200, r.text
    warned = {(w["feature"], w["code"]) for w in r.json()["warnings"]}
    assert (0, "duplicate_location") in warned and (1, "far_from_areas") in warned
    assert not {"NEW-1", "NEW-2"} & set(stations(city))


def nearby(city: EmptyCity, at: Point, type_: str) -> list[int]:
    with city.client(None) as c:
        r = c.get("/api/v1/stations/nearby", params={"lon": at.x, "lat": at.y, "minutes": 5, "type": type_})
    assert r.status_code == 200, r.text
    return [f["id"] for f in r.json()["features"]]


def test_retire_missing_takes_a_station_out_of_the_finder_the_list_and_its_circles(city):
    gone = "ZT-22"
    gone_id = stations(city)[gone].id
    at = truth_point(gone)
    assert gone_id in nearby(city, at, "volunteer_station")
    kept = [c for c in sorted(TRUTH) if c != gone]
    rows = [
        {"code": c, "type": TRUTH[c]["properties"]["type"], "name": TRUTH[c]["properties"]["name_zh"]} for c in kept
    ]
    rows = [
        r | {k: TRUTH[c]["properties"].get(v) for k, v in FIELD_COLUMNS.items()}
        for c, r in zip(kept, rows, strict=True)
    ]
    data = geojson_bytes(rows, [truth_point(c) for c in kept])
    r = city.import_file("stations", "stations.geojson", data, coord_type="wgs84", retire_missing=True)
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["retired"] == 1 and r.json()["counts"]["created"] == 0
    assert gone_id not in nearby(city, at, "volunteer_station")
    with city.client(None) as c:
        listed = [f["id"] for f in c.get("/api/v1/stations").json()["features"]]
        one = c.get(f"/api/v1/stations/{gone_id}")
    assert gone_id not in listed and len(listed) == 27
    assert one.status_code == 404
    with city.db.reader() as session:
        assert session.scalars(select(StationCircle).where(StationCircle.station_id == gone_id)).all() == []
        assert session.get(Station, gone_id).retired_at is not None


FIELD_COLUMNS = {
    "opening_hours": "opening_hours",
    "capacity": "capacity",
    "address": "address_zh",
    "phone": "contact_phone",
}


def test_bd09_and_gcj02_really_are_hundreds_of_metres_off_the_truth():
    # the test data itself: the lists would land far off if read as WGS84
    offsets = [metres(to_bd09(to_gcj02(truth_point(c))), truth_point(c)) for c in CSV_CODES]
    assert np.min(offsets) > 100


def test_a_community_code_names_the_community_and_one_outside_it_is_warned(city):
    inside, outside = truth_point("ZT-01"), truth_point("ZT-03")  # in 龙津 (…001) and in 珪后 (…002)
    rows = [
        {
            "code": "CC-1",
            "type": "便民服务站",
            "name": "龙津便民点",
            "社区代码": "350625100001",
            "lon": inside.x,
            "lat": inside.y,
        },
        {
            "code": "CC-2",
            "type": "便民服务站",
            "name": "跨社区便民点",
            "社区代码": "350625100001",
            "lon": outside.x,
            "lat": outside.y,
        },
        {
            "code": "CC-3",
            "type": "便民服务站",
            "name": "无名社区",
            "社区代码": "350625100099",
            "lon": inside.x,
            "lat": inside.y,
        },
    ]
    r = city.import_file("stations", "cc.csv", csv_bytes(rows), coord_type="wgs84", dry_run=True)
    assert r.status_code == 422, r.text
    report = r.json()["report"]
    assert [(p["feature"], p["field"], p["code"]) for p in report["problems"]] == [
        (2, "community", "unknown_community")
    ]
    r = city.import_file("stations", "cc.csv", csv_bytes(rows[:2]), coord_type="wgs84", dry_run=True)
    assert r.status_code == 200, r.text
    outside_warnings = [w for w in r.json()["warnings"] if w["code"] == "outside_parent"]
    assert [(w["feature"], w["field"]) for w in outside_warnings] == [(1, "geometry")]
    assert "350625100001" in outside_warnings[0]["message"]


def test_the_demo_station_file_imports_through_this_kind(city):
    data = (DEMO / "import" / "stations.geojson").read_bytes()
    r = city.import_file("stations", "stations.geojson", data, coord_type="wgs84", dry_run=True)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["counts"]["created"] == 28
    assert {w["code"] for w in report["warnings"]} <= {"duplicate_location"}  # the ZT- copies stand there
