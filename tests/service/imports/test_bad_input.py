"""Bad input to ``POST /api/v1/imports/{kind}``, over real HTTP on both backends: every refusal names
the feature, the field and the rule, reports every problem, saves nothing, answers problem+json with
the whole report, and never repeats the file's content.

Each backend gets one empty city (a planner, a dispatcher, a resident; uploads capped at 1 MB) holding
district 350602 and its two townships; the files below add communities to the western township.
"""

from __future__ import annotations

import io
import json
import zipfile
from contextlib import ExitStack
from typing import Any

import pytest
import shapely
from shapely.geometry import Polygon, box, shape

from service.areas.models import Area
from tests.support.backends import BACKENDS
from tests.support.cityfiles import (
    DISPATCHER,
    PLANNER,
    RESIDENT,
    EmptyCity,
    csv_bytes,
    geojson_bytes,
    project,
    shapefile_zip,
    start_empty_city,
    to_gcj02,
)

UPLOAD_CAP = 1_000_000
#: Text put into the files' cells: no answer may repeat it.
MARKER = "LEAK-7f3c-文件内容"

DISTRICT = box(117.60, 24.48, 117.70, 24.56)
WEST, EAST = box(117.60, 24.48, 117.65, 24.56), box(117.65, 24.48, 117.70, 24.56)
BASE = [
    ({"code": "350602", "name": "芗城区"}, DISTRICT),
    ({"code": "350602001", "name": "西街道"}, WEST),
    ({"code": "350602002", "name": "东街道"}, EAST),
]


def cell(i: int) -> Polygon:
    """The i-th community-sized square in the western township (about 500 m a side)."""
    x, y = 117.601 + 0.006 * (i % 8), 24.481 + 0.006 * (i // 8)
    return box(x, y, x + 0.005, y + 0.005)


def community(i: int, **props: Any) -> tuple[dict[str, Any], Polygon]:
    return {"code": f"350602001{i + 1:03d}", "name": f"社区{i + 1}", **props}, cell(i)


def gj(features: list[tuple[dict[str, Any], Any]]) -> bytes:
    return geojson_bytes([p for p, _ in features], [g for _, g in features])


def bow_tie(i: int) -> Polygon:
    """A self-intersecting ring over cell i: the invalid ring a hand-digitised boundary often has."""
    x0, y0, x1, y1 = cell(i).bounds
    return Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1), (x0, y0)])


@pytest.fixture(scope="module", params=BACKENDS)
def city(request, tmp_path_factory) -> EmptyCity:
    with ExitStack() as stack:
        c = start_empty_city(
            request.param,
            stack,
            tmp_path_factory.mktemp(f"bad-input-{request.param}"),
            accounts=(PLANNER, DISPATCHER, RESIDENT),
            import_upload_max_bytes=UPLOAD_CAP,
        )
        r = c.import_file("areas", "base.geojson", gj(BASE), coord_type="wgs84")
        assert r.status_code == 200, r.text
        yield c


def codes(city: EmptyCity) -> set[str]:
    from sqlalchemy import select

    with city.db.transaction() as session:
        return set(session.scalars(select(Area.code)))


def refused(r, status: int = 422) -> dict[str, Any]:
    """The refusal as problem+json, checked to repeat nothing of the file; its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    assert MARKER not in r.text
    assert "LEAK-7f3c" not in r.text
    body = r.json()
    assert body["status"] == status and body["detail"]
    return body


def problems(body: dict[str, Any]) -> list[dict[str, Any]]:
    report = body["report"]
    assert report["saved"] is False
    return report["problems"]


# -- coordinates ----------------------------------------------------------------------------------


def test_a_projected_file_declared_gcj02_is_refused_naming_coord_type_and_both_crs(city):
    features = [community(0, note=MARKER), community(1)]
    data = shapefile_zip([p for p, _ in features], [project(g, "EPSG:4548") for _, g in features], crs="EPSG:4548")
    body = refused(city.import_file("areas", "communities_4548.zip", data, coord_type="gcj02"))
    assert body["errors"] == [{"field": "coord_type", "message": body["errors"][0]["message"]}]
    message = body["errors"][0]["message"]
    assert "EPSG:4548" in message and "gcj02" in message.lower()
    assert codes(city) == {"350602", "350602001", "350602002"}
    # Undeclared, the file's own CRS is used: the same file checks clean.
    r = city.import_file("areas", "communities_4548.zip", data, dry_run=True)
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["created"] == 2 and r.json()["source"]["crs"] == "EPSG:4548"


# -- fields and values ---------------------------------------------------------------------------


def test_a_file_without_a_code_column_is_refused_naming_the_field(city):
    features = [({"name": MARKER, "level": "community"}, cell(0)), ({"name": "b", "level": "community"}, cell(1))]
    body = refused(city.import_file("areas", "no_code.geojson", gj(features), coord_type="wgs84"))
    found = problems(body)
    assert [(p["field"], p["code"]) for p in found] == [("code", "missing_column")]
    assert found[0]["feature"] is None
    assert "mapping.code" in found[0]["message"]


def test_a_duplicate_code_is_refused_naming_both_features(city):
    features = [community(0), community(1), ({"code": "350602001001", "name": MARKER}, cell(2))]
    body = refused(city.import_file("areas", "duplicate.geojson", gj(features), coord_type="wgs84"))
    found = problems(body)
    assert [(p["feature"], p["field"], p["code"]) for p in found] == [(2, "code", "duplicate_code")]
    assert "feature 0" in found[0]["message"]
    assert found[0]["at"]["wgs84"] is not None


def test_an_unknown_parent_is_refused_naming_the_parent_field(city):
    features = [({"code": "T-1", "name": MARKER, "level": "community", "parent_code": "350699001"}, cell(0))]
    body = refused(city.import_file("areas", "orphan.geojson", gj(features), coord_type="wgs84"))
    found = problems(body)
    assert [(p["feature"], p["field"], p["code"]) for p in found] == [(0, "parent", "unknown_parent")]
    assert "350699001" in found[0]["message"]  # the parent it looked for, not the feature's content


def test_an_undecodable_text_is_refused_naming_encoding(city):
    rows = [{"code": "350602001001", "name": f"{MARKER}芗城", "wkt": cell(0).wkt}]
    data = csv_bytes(rows, encoding="gbk")
    body = refused(city.import_file("areas", "gbk.csv", data, coord_type="wgs84", encoding="utf-8"))
    assert body["errors"][0]["field"] == "encoding"
    # Without the option it is detected (and said so): the same file checks clean, names intact.
    r = city.import_file("areas", "gbk.csv", data, coord_type="wgs84", dry_run=True)
    assert r.status_code == 200, r.text
    assert [w["code"] for w in r.json()["warnings"] if w["field"] == "encoding"] == ["encoding_guessed"]


def test_an_undecodable_shapefile_is_refused_naming_encoding(city):
    rows = [{"code": "350602001001", "name": f"{MARKER}芗城"}]
    data = shapefile_zip(rows, [cell(0)], crs="EPSG:4326", encoding="GBK", cpg=False)
    body = refused(city.import_file("areas", "gbk.zip", data, coord_type="wgs84", encoding="utf-8"))
    assert body["errors"][0]["field"] == "encoding"


# -- geometry -------------------------------------------------------------------------------------


def test_an_invalid_ring_is_refused_with_make_valids_repair_offered(city):
    features = [community(0), ({"code": "350602001002", "name": MARKER}, bow_tie(1))]
    body = refused(city.import_file("areas", "bowtie.geojson", gj(features), coord_type="wgs84"))
    found = problems(body)
    assert [(p["feature"], p["field"], p["code"]) for p in found] == [(1, "geometry", "invalid_geometry")]
    repair = shape(found[0]["repair"])
    assert repair.is_valid and repair.geom_type == "MultiPolygon" and len(repair.geoms) == 2
    assert repair.area == pytest.approx(cell(1).area / 2, rel=1e-6)  # the two triangles of the bow-tie
    assert found[0]["at"]["wgs84"] is not None
    assert "350602001002" not in codes(city)


def test_a_problem_in_a_gcj02_file_is_located_in_gcj02_and_in_wgs84(city):
    bad = bow_tie(3)
    features = [({"code": "350602001004", "name": MARKER}, to_gcj02(bad))]
    body = refused(city.import_file("areas", "bowtie_gcj02.geojson", gj(features), coord_type="gcj02"))
    (p,) = problems(body)
    assert p["code"] == "invalid_geometry" and p["at"]["crs"] == "gcj02"
    file_xy, wgs_xy = shapely.Point(p["at"]["file"]), shapely.Point(p["at"]["wgs84"])
    assert file_xy.within(to_gcj02(bad).envelope.buffer(1e-9))
    assert wgs_xy.within(bad.envelope.buffer(1e-9))
    assert to_gcj02(wgs_xy).distance(file_xy) < 1e-7  # the same place, in both systems
    assert file_xy.distance(wgs_xy) > 0.003  # some 500 m apart near Zhangzhou


def test_with_repair_the_invalid_ring_is_saved_repaired_and_warned(city):
    features = [({"code": "350602001020", "name": "修复社区"}, bow_tie(20))]
    r = city.import_file("areas", "bowtie.geojson", gj(features), coord_type="wgs84", repair=True)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["counts"]["created"] == 1
    assert [(w["feature"], w["code"]) for w in report["warnings"] if w["code"] == "repaired"] == [(0, "repaired")]
    assert "350602001020" in codes(city)


# -- the upload itself ----------------------------------------------------------------------------

VRT = (
    '<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/etc/passwd</SrcDataSource>'
    f"<!-- {MARKER} --></OGRVRTLayer></OGRVRTDataSource>"
).encode()


def zipped(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name.replace("_", "."), data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "filename, data",
    [
        ("layer.vrt", VRT),
        ("layer.geojson", VRT),
        ("layer.gpkg", VRT),
        ("layer.zip", zipped(layer_vrt=VRT)),
        ("layer.kml", f"<kml><Placemark><name>{MARKER}</name></Placemark></kml>".encode()),
        ("layer.sqlite", b"SQLite format 3\x00" + b"\x00" * 200),
    ],
    ids=["vrt", "vrt-as-geojson", "vrt-as-gpkg", "vrt-in-zip", "kml", "sqlite"],
)
def test_other_drivers_and_vrt_are_refused(city, filename, data):
    body = refused(city.import_file("areas", filename, data, coord_type="wgs84"))
    assert "root:" not in json.dumps(body)  # nothing of /etc/passwd either
    assert codes(city) >= {"350602"} and "x" not in codes(city)


def test_an_upload_over_the_cap_is_413(city):
    features = [community(0, note="x" * (UPLOAD_CAP + 10))]
    data = gj(features)
    assert len(data) > UPLOAD_CAP
    body = refused(city.import_file("areas", "big.geojson", data, coord_type="wgs84"), status=413)
    assert str(UPLOAD_CAP) in body["detail"]


# -- every problem, all or nothing ------------------------------------------------------------------


def test_every_problem_is_reported_not_the_first_five(city):
    bad = {1, 2, 4, 5, 7, 8, 9}
    features = [community(i, level=MARKER if i in bad else "community") for i in range(10)]
    body = refused(city.import_file("areas", "seven_bad.geojson", gj(features), coord_type="wgs84"))
    found = problems(body)
    assert len(found) == 7
    assert sorted(p["feature"] for p in found) == sorted(bad)
    assert {(p["field"], p["code"]) for p in found} == {("level", "bad_value")}
    assert body["detail"].startswith("7 problem")


def test_one_bad_feature_saves_none_of_the_file(city):
    before = city.count(Area)
    features = [community(i) for i in range(30, 35)] + [({"code": "350602001036", "name": None}, cell(35))]
    body = refused(city.import_file("areas", "one_bad.geojson", gj(features), coord_type="wgs84"))
    assert [(p["feature"], p["field"], p["code"]) for p in problems(body)] == [(5, "name", "missing")]
    assert body["report"]["counts"] == {"created": 0, "updated": 0, "unchanged": 0, "retired": 0}
    assert city.count(Area) == before
    assert not {f"350602001{i + 1:03d}" for i in range(30, 36)} & codes(city)


def test_a_dry_run_saves_nothing_and_reports_exact_counts(city):
    setup = [community(i) for i in range(40, 43)]
    assert city.import_file("areas", "three.geojson", gj(setup), coord_type="wgs84").status_code == 200
    before, stored = city.count(Area), codes(city)
    renamed = ({**setup[2][0], "name": "改名社区"}, setup[2][1])
    features = [setup[0], setup[1], renamed, community(43), community(44)]
    r = city.import_file("areas", "dry.geojson", gj(features), coord_type="wgs84", dry_run=True, comment=None)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["counts"] == {"created": 2, "updated": 1, "unchanged": 2, "retired": 0}
    assert report["dry_run"] is True and report["saved"] is False
    assert city.count(Area) == before and codes(city) == stored
    with city.client() as c:
        names = {
            f["properties"]["code"]: f["properties"]["name_zh"]
            for f in c.get("/api/v1/areas", params={"level": "community", "fields": "code,name_zh"}).json()["features"]
        }
    assert names[setup[2][0]["code"]] == setup[2][0]["name"]


def test_saving_needs_a_comment(city):
    features = [community(50)]
    body = refused(city.import_file("areas", "no_comment.geojson", gj(features), coord_type="wgs84", comment=None))
    assert body["errors"][0]["field"] == "comment"
    body = refused(city.import_file("areas", "no_comment.geojson", gj(features), coord_type="wgs84", comment="  "))
    assert body["errors"][0]["field"] == "comment"
    assert "350602001051" not in codes(city)


def test_a_refusal_is_problem_json_carrying_the_whole_report(city):
    features = [community(60, level=MARKER), community(61)]
    body = refused(city.import_file("areas", "report.geojson", gj(features), coord_type="wgs84"))
    report = body["report"]
    assert set(report) >= {"kind", "dry_run", "saved", "source", "counts", "problems", "warnings"}
    assert report["kind"] == "areas" and report["source"]["features"] == 2
    assert set(report["counts"]) == {"created", "updated", "unchanged", "retired"}
    (p,) = report["problems"]
    assert set(p) >= {"feature", "field", "code", "message", "at"}
    assert p["at"]["crs"] == "wgs84" and len(p["at"]["file"]) == 2 and len(p["at"]["wgs84"]) == 2
    assert shapely.Point(p["at"]["wgs84"]).within(cell(60).buffer(1e-9))


# -- who may import ---------------------------------------------------------------------------------


@pytest.mark.parametrize("username, status", [(RESIDENT, 403), (DISPATCHER, 403), (None, 401)])
def test_only_planners_and_admins_may_import(city, username, status):
    features = [community(70)]
    r = city.import_file("areas", "c.geojson", gj(features), coord_type="wgs84", username=username)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "350602001071" not in codes(city)
    r = city.import_file("areas", "c.geojson", gj(features), coord_type="wgs84", dry_run=True)
    assert r.status_code == 200, r.text


# -- every kind ---------------------------------------------------------------------------------------

ALL_KINDS = ("areas", "grids", "buildings", "stations", "grid-workers", "volunteers", "teams")
PHONE = "13800138000"


def _roster(**row: Any) -> bytes:
    return csv_bytes([row], encoding="utf-8")


#: Per kind: a file with one cell (holding MARKER) that breaks a rule, and the field it must name.
BROKEN_CELL = {
    "areas": ("a.geojson", lambda: gj([community(80, level=MARKER)]), "level"),
    "grids": ("g.geojson", lambda: gj([({"code": MARKER, "community": "350602001"}, cell(81))]), "code"),
    "buildings": ("b.geojson", lambda: gj([({"code": "way/1", "floors": MARKER}, cell(82))]), "floors"),
    "stations": (
        "s.csv",
        lambda: _roster(code="s-1", type=MARKER, name="站", lon=117.61, lat=24.49),
        "type",
    ),
    "grid-workers": ("w.csv", lambda: _roster(code="w-1", name="张三", phone=PHONE, role=MARKER), "role"),
    "volunteers": ("v.csv", lambda: _roster(code="v-1", name="李四", phone=PHONE, on_duty=MARKER), "on_duty"),
    "teams": ("t.csv", lambda: _roster(code=MARKER * 6, name="队", community="350602001001"), "code"),
}


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_kind_names_the_broken_cell_without_repeating_it(city, kind):
    filename, make, field = BROKEN_CELL[kind]
    body = refused(city.import_file(kind, filename, make(), coord_type="wgs84"))
    assert field in {p["field"] for p in problems(body)}, problems(body)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_kind_refuses_vrt_and_oversized_uploads(city, kind):
    refused(city.import_file(kind, "layer.geojson", VRT, coord_type="wgs84"))
    refused(city.import_file(kind, "layer.vrt", VRT, coord_type="wgs84"))
    big = b"code,name,lon,lat\r\n" + b"x,y,117.6,24.5\r\n" * (UPLOAD_CAP // 15)
    assert len(big) > UPLOAD_CAP
    refused(city.import_file(kind, "big.csv", big, coord_type="wgs84"), status=413)
