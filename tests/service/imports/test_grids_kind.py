"""Importing grids into an empty city on both backends: one-network grids into communities by code
prefix, community field and containment; department grids into a township; the 904 km² "grid" (a
district's boundary) refused; duplicate and malformed codes; idempotent re-import, new versions with
grid_versions history, revival and retirement."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from geoalchemy2.shape import to_shape
from shapely.geometry import box, mapping
from sqlalchemy import func, select

from service.grids.models import Grid, GridLayer, GridVersion
from service.imports.report import ImportRefused
from tests.support.emptydb import EmptyCity, empty_city

#: The south-west corner of the test district, near Zhangzhou; shapes are given in metres from it.
W, S = 117.60, 24.50
M_LON, M_LAT = 1 / 101_320.0, 1 / 110_790.0  # degrees per metre here (about)


def rect(x0: float, y0: float, x1: float, y1: float):
    """A rectangle given in metres east and north of (W, S)."""
    return box(W + x0 * M_LON, S + y0 * M_LAT, W + x1 * M_LON, S + y1 * M_LAT)


def collection(*features: tuple[dict, object]) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": p, "geometry": mapping(g)} for p, g in features],
        },
        ensure_ascii=False,
    ).encode()


DISTRICT = rect(0, 0, 30_067, 30_067)  # about 904 km²
AREAS = collection(
    ({"code": "350625", "name": "长泰区"}, DISTRICT),
    ({"code": "350625100", "name": "武安镇"}, rect(1000, 1000, 4000, 2000)),
    ({"code": "350625100001", "name": "东一社区"}, rect(1000, 1000, 2000, 2000)),
    ({"code": "350625100002", "name": "东二社区"}, rect(2000, 1000, 3000, 2000)),
    ({"code": "350625100003", "name": "东三社区"}, rect(3000, 1000, 4000, 2000)),
    ({"code": "XQ001", "name": "滨河小区", "level": "compound"}, rect(1100, 1100, 1400, 1400)),
)


def grids_file(split: float = 1500, *, with_third: bool = True, name2: str = "东一第2网格") -> bytes:
    features = [
        ({"网格编码": "350625100001001", "网格名称": "东一第1网格"}, rect(1000, 1000, split, 2000)),  # by code
        ({"网格编码": "350625100001002", "网格名称": name2}, rect(split, 1000, 2000, 2000)),  # by code
        ({"网格编码": "35062599000201", "网格名称": "东二网格"}, rect(2000, 1000, 3000, 2000)),  # containment
    ]
    if with_third:  # by the community field (its code names no community)
        features.append(
            (
                {"网格编码": "35062599000301", "网格名称": "东三网格", "社区代码": "350625100003"},
                rect(3000, 1000, 4000, 2000),
            )
        )
    return collection(*features)


def load_city(c: EmptyCity) -> None:
    report = c.load("areas", AREAS, "areas.geojson", coord_type="wgs84")
    assert report["counts"]["created"] == 6, report
    report = c.load("grids", grids_file(), "grids.geojson", coord_type="wgs84")
    assert report["counts"] == {"created": 4, "updated": 0, "unchanged": 0, "retired": 0}, report


@pytest.fixture(scope="module", params=["spatialite", "postgis"])
def city(request, tmp_path_factory) -> Iterator[EmptyCity]:
    with empty_city(request.param, tmp_path_factory.mktemp(f"grids-{request.param}")) as c:
        load_city(c)
        yield c


def grids(city: EmptyCity, layer: GridLayer = GridLayer.ONE_NETWORK) -> dict[str, dict]:
    """The layer's grids by code: community code, version, retired, geometry, name, history rows."""
    with city.db.reader() as s:
        out = {}
        for g in s.scalars(select(Grid).where(Grid.layer == layer)):
            history = s.scalars(select(GridVersion).where(GridVersion.grid_id == g.id).order_by(GridVersion.version))
            out[g.code] = {
                "community": g.community.code,
                "version": g.version,
                "retired": g.retired_at is not None,
                "geom": to_shape(g.geom),
                "name": g.name_zh,
                "history": [(v.version, v.change.value, v.valid_to is None) for v in history],
            }
        return out


def refused(city: EmptyCity, data: bytes, **options) -> dict:
    with pytest.raises(ImportRefused) as caught:
        city.load("grids", data, "grids.geojson", coord_type="wgs84", **options)
    return caught.value.extra["report"]


def test_one_network_grids_find_their_community_by_code_field_and_containment(city):
    got = grids(city)
    assert {c: g["community"] for c, g in got.items()} == {
        "350625100001001": "350625100001",
        "350625100001002": "350625100001",
        "35062599000201": "350625100002",
        "35062599000301": "350625100003",
    }
    assert got["350625100001001"]["name"] == "东一第1网格"
    assert all(g["version"] == 1 and g["history"] == [(1, "create", True)] for g in got.values())


def test_department_grids_belong_to_a_township_by_containment_or_code(city):
    data = collection(
        ({"code": "20000000100001"}, rect(1200, 1000, 3800, 2000)),  # across three communities
        ({"code": "350625100900001"}, rect(1000, 1000, 1200, 2000)),  # inside one, but its code names the township
    )
    report = city.load("grids", data, "dept.geojson", coord_type="wgs84", layer="comprehensive_governance")
    assert report["counts"]["created"] == 2, report
    got = grids(city, GridLayer.COMPREHENSIVE_GOVERNANCE)
    assert {c: g["community"] for c, g in got.items()} == {
        "20000000100001": "350625100",
        "350625100900001": "350625100",
    }
    assert got["20000000100001"]["name"] == "20000000100001"  # no name column: named by its code
    assert not [w for w in report["warnings"] if w["code"] == "gap"]  # gaps are a one-network rule


def test_a_district_boundary_sent_as_a_grid_is_refused_and_flagged_oversized(city):
    before = grids(city)
    report = refused(city, collection(({"code": "35062599099901", "name": "长泰区"}, DISTRICT)))
    assert [p["code"] for p in report["problems"]] == ["no_parent"], report["problems"]
    message = report["problems"][0]["message"]
    assert "mostly outside every community" in message
    assert "holds 3 whole community" in message and "district or township" in message
    assert "km²" in message
    oversized = [w for w in report["warnings"] if w["code"] == "oversized"]
    assert len(oversized) == 1 and "km²" in oversized[0]["message"], report["warnings"]
    assert grids(city) == before


def test_a_grid_whose_code_names_a_community_it_lies_outside_is_refused(city):
    report = refused(city, collection(({"code": "350625100001009"}, rect(2100, 1100, 2900, 1900))))
    assert [(p["code"], p["feature_code"]) for p in report["problems"]] == [("outside_parent", "350625100001009")]


def test_duplicate_codes_and_bad_codes_are_refused_every_one_named(city):
    data = collection(
        ({"code": "350625100001001"}, rect(1000, 1000, 1500, 2000)),
        ({"code": "350625100001001"}, rect(1500, 1000, 2000, 2000)),
        ({"code": "<b>G-01</b>"}, rect(2000, 1000, 3000, 2000)),
        ({"code": "12"}, rect(3000, 1000, 4000, 2000)),
    )
    report = refused(city, data)
    problems = [(p["feature"], p["code"]) for p in report["problems"]]
    assert problems == [(1, "duplicate_code"), (2, "bad_code"), (3, "bad_code")]
    assert "G-01" not in json.dumps(report) and report["problems"][1]["feature_code"] is None
    assert "pattern" in report["problems"][1]["message"]


def test_an_unknown_community_field_is_refused(city):
    data = collection(({"code": "35062599000401", "community_code": "350625100099"}, rect(3000, 1000, 4000, 2000)))
    report = refused(city, data)
    assert [(p["field"], p["code"]) for p in report["problems"]] == [("community", "unknown_parent")]


def test_reimporting_the_same_file_changes_nothing(city):
    before = grids(city)
    report = city.load("grids", grids_file(), "grids.geojson", coord_type="wgs84")
    assert report["counts"] == {"created": 0, "updated": 0, "unchanged": 4, "retired": 0}, report
    assert grids(city) == before


def test_a_moved_boundary_gives_both_grids_a_new_version_with_history(city):
    report = city.load("grids", grids_file(split=1600), "grids.geojson", coord_type="wgs84")
    assert report["counts"] == {"created": 0, "updated": 2, "unchanged": 2, "retired": 0}, report
    got = grids(city)
    for code in ("350625100001001", "350625100001002"):
        assert got[code]["version"] == 2
        assert got[code]["history"] == [(1, "create", False), (2, "edit", True)]
    assert got["350625100001001"]["geom"].geoms[0].equals_exact(rect(1000, 1000, 1600, 2000), 1e-9)
    assert got["35062599000201"]["version"] == 1
    # only the name changes: a new version too
    report = city.load("grids", grids_file(split=1600, name2="滨河网格"), "grids.geojson", coord_type="wgs84")
    assert report["counts"]["updated"] == 1, report
    assert grids(city)["350625100001002"]["name"] == "滨河网格"
    assert grids(city)["350625100001002"]["version"] == 3


def test_overlapping_siblings_and_gaps_are_warned(city):
    data = collection(
        ({"code": "350625100001001"}, rect(1000, 1000, 1700, 2000)),  # overlaps 002 by 100 m x 1 km
        ({"code": "350625100001002"}, rect(1600, 1000, 2000, 1900)),  # leaves 400 x 100 m of the community
    )
    report = city.load("grids", data, "grids.geojson", coord_type="wgs84", dry_run=True)
    codes = sorted(w["code"] for w in report["warnings"])
    assert codes == ["gap", "overlap"], report["warnings"]


def test_missing_grids_are_retired_only_when_asked_and_come_back_revived(city):
    report = city.load("grids", grids_file(split=1600, with_third=False), "grids.geojson", coord_type="wgs84")
    assert report["counts"]["retired"] == 0 and not grids(city)["35062599000301"]["retired"]
    report = city.load(
        "grids", grids_file(split=1600, with_third=False), "grids.geojson", coord_type="wgs84", retire_missing=True
    )
    assert report["counts"]["retired"] == 1, report
    gone = grids(city)["35062599000301"]
    assert gone["retired"] and gone["history"] == [(1, "create", False)]
    with city.db.reader() as s:  # the department layer is another layer: untouched
        assert s.scalar(select(func.count()).select_from(Grid).where(Grid.retired_at.is_not(None))) == 1
    report = city.load("grids", grids_file(split=1600), "grids.geojson", coord_type="wgs84")
    assert report["counts"]["created"] == 1, report
    back = grids(city)["35062599000301"]
    assert not back["retired"] and back["version"] == 2
    assert back["history"] == [(1, "create", False), (2, "create", True)]


def test_households_from_the_file_are_judged_while_no_buildings_are_stored(city):
    data = collection(
        ({"code": "350625100001001", "户数": 4000}, rect(1000, 1000, 1600, 2000)),
        ({"code": "350625100001002", "户数": 420}, rect(1600, 1000, 2000, 2000)),
    )
    report = city.load("grids", data, "grids.geojson", coord_type="wgs84", dry_run=True)
    sized = [(w["feature_code"], w["field"], w["code"]) for w in report["warnings"] if w["field"] == "households"]
    assert sized == [("350625100001001", "households", "oversized")], report["warnings"]
    assert "usual households of a grid is 100-1,500" in next(
        w["message"] for w in report["warnings"] if w["field"] == "households"
    )
