"""POST /api/v1/grids/locate: many points at once (GeoJSON or CSV, WGS84 or GCJ-02), each answered as
``GET /api/v1/grids/locate`` answers it, in the request's order; limits and bad points named."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, shape

from geo.coords import from_wgs84
from tests.service.helpers import PROJ, assert_problem


@pytest.fixture(scope="module")
def staff(backend):
    with backend.client("dispatcher") as c:
        yield c


@pytest.fixture(scope="module")
def sample(backend) -> list[tuple[str, float, float]]:
    """(kind, lon, lat): inside grids, on shared grid boundaries (edges and vertices), outside
    coverage within reach, beyond reach, and far from every area."""
    with backend.client() as c:
        grids = {f["id"]: shape(f["geometry"]) for f in c.get("/api/v1/grids").json()["features"]}
    coverage = shapely.union_all(list(grids.values()))
    rng = np.random.default_rng(14)
    minx, miny, maxx, maxy = coverage.bounds
    points: list[tuple[str, float, float]] = []
    while len(points) < 40:
        lon, lat = float(rng.uniform(minx, maxx)), float(rng.uniform(miny, maxy))
        if coverage.contains(Point(lon, lat)):
            points.append(("inside", lon, lat))
    ids = sorted(grids)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            shared = grids[a].boundary.intersection(grids[b].boundary)
            if shared.length > 0 and sum(k == "boundary" for k, _, _ in points) < 30:
                mid = shared.interpolate(0.5, normalized=True)
                first = shapely.get_coordinates(shared)[0]
                points += [("boundary", mid.x, mid.y), ("boundary", float(first[0]), float(first[1]))]
    metric = PROJ.to_metric(coverage)
    _, my0, mx1, my1 = metric.bounds
    for metres, kind in ((60, "near"), (150, "near"), (400, "beyond"), (20000, "nowhere")):
        lon, lat = PROJ.inverse(mx1 + metres, (my0 + my1) / 2)
        points.append((kind, float(lon), float(lat)))
    rng.shuffle(points)  # the answer must follow the request's order, whatever it is
    return points


def single(client, lon: float, lat: float, **params) -> dict:
    r = client.get("/api/v1/grids/locate", params={"lon": lon, "lat": lat, **params})
    assert r.status_code == 200, r.text
    return r.json()


def expected_from_single(one: dict) -> dict:
    """What the bulk answer must say for a point, from the one-point answer."""
    grid = one["grid"]
    return {
        "lon": one["point"]["lon"],
        "lat": one["point"]["lat"],
        "grid_id": grid["id"] if grid else None,
        "grid_code": grid["properties"]["code"] if grid else None,
        "outside_coverage": one["outside_coverage"],
        "distance_m": one["distance_m"],
        "areas": {a["level"]: a["code"] for a in one["areas"]},
    }


def bulk(client, content, content_type: str, **params) -> list[dict]:
    r = client.post("/api/v1/grids/locate", content=content, headers={"Content-Type": content_type}, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == len(body["points"]) and body["layer"] == params.get("layer", "one_network")
    return body["points"]


def feature_collection(points, *, coord_type: str = "wgs84") -> bytes:
    features = []
    for i, (_kind, lon, lat) in enumerate(points):
        x, y = (lon, lat) if coord_type == "wgs84" else from_wgs84(lon, lat, coord_type)
        features.append(
            {"type": "Feature", "id": f"p{i}", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": {}}
        )
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def test_json_answers_equal_the_one_point_answers(staff, anon, sample):
    kinds = {k for k, _, _ in sample}
    assert kinds == {"inside", "boundary", "near", "beyond", "nowhere"}
    answers = bulk(staff, feature_collection(sample), "application/geo+json")
    assert [a["index"] for a in answers] == list(range(len(sample)))
    assert [a["id"] for a in answers] == [f"p{i}" for i in range(len(sample))]
    for (kind, lon, lat), answer in zip(sample, answers, strict=True):
        expected = expected_from_single(single(anon, lon, lat))
        assert {k: answer[k] for k in expected} == expected, (kind, lon, lat)
    by_kind = {k: [a for (kk, _, _), a in zip(sample, answers, strict=True) if kk == k] for k in kinds}
    assert all(a["grid_code"] and a["distance_m"] == 0 and not a["outside_coverage"] for a in by_kind["inside"])
    assert all(a["areas"].keys() == {"district", "township", "community", "compound"} for a in by_kind["inside"])
    assert all(a["outside_coverage"] and 0 < a["distance_m"] <= 200 for a in by_kind["near"])
    assert all(a["grid_code"] is None and a["distance_m"] is None for a in by_kind["beyond"])
    assert by_kind["nowhere"][0]["areas"] == {}


def test_csv_gives_the_same_answers_as_json(staff, sample):
    as_json = bulk(staff, feature_collection(sample), "application/json")
    rows = "\n".join(f"p{i},{lon!r},{lat!r}" for i, (_k, lon, lat) in enumerate(sample))
    as_csv = bulk(staff, f"id,lon,lat\n{rows}\n".encode(), "text/csv")
    assert as_csv == as_json
    xy = "\n".join(f"{lon!r};{lat!r}" for _k, lon, lat in sample)  # x,y columns, no id, semicolons
    plain = bulk(staff, ("\ufeffX;Y\n" + xy).encode(), "text/csv; charset=utf-8")
    assert [a | {"id": j["id"]} for a, j in zip(plain, as_json, strict=True)] == as_json
    assert all(a["id"] is None for a in plain)


def test_multipoint_gives_the_same_answers_as_json(staff, sample):
    as_json = bulk(staff, feature_collection(sample), "application/json")
    multi = {"type": "MultiPoint", "coordinates": [[lon, lat] for _k, lon, lat in sample]}
    answers = bulk(staff, json.dumps(multi), "application/json")
    assert [a | {"id": j["id"]} for a, j in zip(answers, as_json, strict=True)] == as_json


def test_gcj02_points_are_converted_before_locating(staff, anon, sample):
    away_from_edges = [p for p in sample if p[0] != "boundary"]
    answers = bulk(
        staff, feature_collection(away_from_edges, coord_type="gcj02"), "application/json", coord_type="gcj02"
    )
    for (kind, lon, lat), answer in zip(away_from_edges, answers, strict=True):
        x, y = from_wgs84(lon, lat, "gcj02")
        one = expected_from_single(single(anon, x, y, coord_type="gcj02"))
        assert answer["lon"] == pytest.approx(lon, abs=2e-8) and answer["lat"] == pytest.approx(lat, abs=2e-8)
        assert {k: answer[k] for k in ("grid_code", "outside_coverage", "areas")} == {
            k: one[k] for k in ("grid_code", "outside_coverage", "areas")
        }, kind
        if answer["distance_m"] is not None:
            assert answer["distance_m"] == pytest.approx(one["distance_m"], abs=0.01)
    raw = bulk(staff, feature_collection(away_from_edges, coord_type="gcj02"), "application/json")
    assert sum(a["grid_code"] != b["grid_code"] for a, b in zip(raw, answers, strict=True)) >= len(answers) // 3


def test_another_layer_answers_its_own_grids(staff, anon, sample):
    inside = [p for p in sample if p[0] == "inside"][:10]
    answers = bulk(staff, feature_collection(inside), "application/json", layer="health")
    for (_k, lon, lat), answer in zip(inside, answers, strict=True):
        assert answer["grid_code"] == expected_from_single(single(anon, lon, lat, layer="health"))["grid_code"]


def test_a_hundred_thousand_points_in_one_request(staff, anon):
    grids = {f["properties"]["code"]: shape(f["geometry"]) for f in anon.get("/api/v1/grids").json()["features"]}
    minx, miny, maxx, maxy = shapely.union_all(list(grids.values())).bounds
    rng = np.random.default_rng(1)
    lons, lats = rng.uniform(minx, maxx, 100_000), rng.uniform(miny, maxy, 100_000)
    body = "lon,lat\n" + "\n".join(f"{x:.7f},{y:.7f}" for x, y in zip(lons, lats, strict=True))
    answers = bulk(staff, body.encode(), "text/csv")
    assert len(answers) == 100_000 and [a["index"] for a in answers] == list(range(100_000))
    for i in rng.choice(100_000, 300, replace=False).tolist():  # checked against point-in-polygon here
        a = answers[i]
        here = Point(a["lon"], a["lat"])
        holders = {code for code, g in grids.items() if g.covers(here)}
        if holders:
            assert a["grid_code"] in holders and a["distance_m"] == 0, a
        else:
            assert a["outside_coverage"] is True, a


def test_more_points_than_allowed_is_413_naming_the_list(staff, backend):
    limit = backend.settings.locate_bulk_max_points
    csv_body = "lon,lat\n" + "117.75,24.62\n" * (limit + 1)
    assert_problem(
        staff.post("/api/v1/grids/locate", content=csv_body, headers={"Content-Type": "text/csv"}), 413, "points"
    )
    multi = {"type": "MultiPoint", "coordinates": [[117.75, 24.62]] * (limit + 1)}
    assert_problem(staff.post("/api/v1/grids/locate", json=multi), 413, "coordinates")
    fc = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": None, "properties": {}}] * (limit + 1),
    }
    assert_problem(staff.post("/api/v1/grids/locate", json=fc), 413, "features")


def test_a_body_over_the_byte_cap_is_413_before_parsing(staff, backend):
    too_big = b"lon,lat\n" + b"117.75,24.62\n" * (backend.settings.locate_bulk_max_bytes // 13 + 1)
    assert_problem(
        staff.post("/api/v1/grids/locate", content=too_big, headers={"Content-Type": "text/csv"}), 413, "body"
    )


def _fc(*geometries) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": g, "properties": {}} for g in geometries],
    }


GOOD = {"type": "Point", "coordinates": [117.75, 24.62]}


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        (
            _fc(GOOD, GOOD, GOOD, {"type": "Point", "coordinates": [117.75, 95.0]}),
            "application/json",
            "features[3].geometry",
        ),
        (_fc(GOOD, None), "application/json", "features[1].geometry"),
        (
            _fc(GOOD, {"type": "LineString", "coordinates": [[117.7, 24.6], [117.8, 24.7]]}),
            "application/json",
            "features[1].geometry",
        ),
        (_fc(GOOD, {"type": "Point", "coordinates": ["117.75", "24.62"]}), "application/json", "features[1].geometry"),
        (
            {"type": "MultiPoint", "coordinates": [[117.75, 24.62], [117.75, 24.62], [200, 24.62]]},
            "application/json",
            "coordinates[2]",
        ),
        ({"type": "MultiPoint", "coordinates": [[117.75, 24.62], [117.75]]}, "application/json", "coordinates[1]"),
        ({"type": "Polygon", "coordinates": []}, "application/json", "type"),
        ("lon,lat\n" + "117.75,24.62\n" * 12 + "east,24.62\n", "text/csv", "points[12].lon"),
        ("lon,lat\n117.75,24.62\n\n117.75,24.62\n117.75,-91\n", "text/csv", "points[2].lat"),
        ("lon,lat\n117.75,nan\n", "text/csv", "points[0].lat"),
        ("name,lat\nx,24.62\n", "text/csv", "lon"),
        ("<points/>", "application/xml", "Content-Type"),
        ("{not json", "application/json", "body"),
    ],
)
def test_a_bad_point_is_refused_naming_it(staff, body, content_type, field):
    content = body if isinstance(body, str) else json.dumps(body)
    r = staff.post("/api/v1/grids/locate", content=content, headers={"Content-Type": content_type})
    assert_problem(r, 415 if field == "Content-Type" else 422, field)


def test_bulk_locate_is_for_staff(backend, anon):
    body = {"type": "MultiPoint", "coordinates": [[117.75, 24.62]]}
    assert_problem(anon.post("/api/v1/grids/locate", json=body), 401)
    with backend.client("resident1") as resident:
        assert_problem(resident.post("/api/v1/grids/locate", json=body), 403)
