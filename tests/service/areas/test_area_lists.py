"""GET /api/v1/areas as a GeoJSON FeatureCollection (level, parent code, fields) and the tree at
/api/v1/areas/tree, checked against the demo's own areas file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import shape

from tests.service.helpers import area_m2, assert_problem

PROPERTIES = {"id", "code", "name_zh", "name_en", "level", "parent_code", "parent_id", "version"}


@pytest.fixture(scope="module")
def demo_areas(backend) -> dict[str, dict]:
    """The demo's areas file, by code: what the database was loaded from. Its statistical codes nest
    (350625 → 350625100 → 350625100001 → ...), so each parent is the longest code that begins its own."""
    fc = json.loads((Path(backend.settings.demo_dir) / "areas.geojson").read_text())
    codes = [f["properties"]["code"] for f in fc["features"]]
    out = {}
    for f in fc["features"]:
        code = f["properties"]["code"]
        parents = [c for c in codes if c != code and code.startswith(c)]
        out[code] = {"feature": f, "parent_code": max(parents, key=len) if parents else None}
    return out


@pytest.fixture(scope="module")
def everything(backend) -> dict:
    with backend.client() as c:
        r = c.get("/api/v1/areas")
        assert r.status_code == 200, r.text
        return r.json()


def test_every_area_is_a_feature_with_its_parent_code_and_geometry(everything, demo_areas):
    assert everything["type"] == "FeatureCollection"
    features = everything["features"]
    assert {f["properties"]["code"] for f in features} == set(demo_areas)
    codes = [f["properties"]["code"] for f in features]
    assert codes == sorted(codes)
    by_id = {f["id"]: f for f in features}
    for f in features:
        p = f["properties"]
        assert set(p) == PROPERTIES
        assert f["id"] == p["id"] and p["version"] >= 1
        expected = demo_areas[p["code"]]
        assert p["level"] == expected["feature"]["properties"]["level"]
        assert p["name_zh"] == expected["feature"]["properties"]["name_zh"]
        assert p["parent_code"] == expected["parent_code"]
        if p["parent_id"] is not None:
            assert by_id[p["parent_id"]]["properties"]["code"] == p["parent_code"]
        # the stored boundary is the file's boundary (to the answer's 7 decimals, about a centimetre)
        source = shape(expected["feature"]["geometry"])
        assert area_m2(shape(f["geometry"]).symmetric_difference(source)) < 1.0, p["code"]


@pytest.mark.parametrize("level", ["district", "township", "community", "compound", "city"])
def test_level_keeps_only_that_level(anon, everything, level):
    fc = anon.get("/api/v1/areas", params={"level": level}).json()
    expected = [f for f in everything["features"] if f["properties"]["level"] == level]
    assert fc["features"] == expected
    assert (len(expected) == 0) == (level == "city")  # the demo has no city


def test_parent_code_keeps_the_areas_directly_under_it(anon, everything):
    communities = anon.get("/api/v1/areas", params={"parent": "350625100"}).json()["features"]
    assert len(communities) == 3
    assert {f["properties"]["level"] for f in communities} == {"community"}
    assert {f["properties"]["parent_code"] for f in communities} == {"350625100"}
    first = communities[0]["properties"]["code"]
    compounds = anon.get("/api/v1/areas", params={"parent": first, "level": "compound"}).json()["features"]
    expected = [f for f in everything["features"] if f["properties"]["parent_code"] == first]
    assert compounds == expected and compounds
    none = anon.get("/api/v1/areas", params={"parent": first, "level": "district"}).json()
    assert none == {"type": "FeatureCollection", "features": []}


def test_fields_keep_only_the_named_properties_and_no_geometry(anon, everything):
    fc = anon.get("/api/v1/areas", params={"level": "community", "fields": "code, name_zh,parent_code"}).json()
    assert len(fc["features"]) == 3
    expected = {f["id"]: f for f in everything["features"] if f["properties"]["level"] == "community"}
    for f in fc["features"]:
        assert f["geometry"] is None
        assert f["properties"] == {k: expected[f["id"]]["properties"][k] for k in ("code", "name_zh", "parent_code")}
    with_geometry = anon.get("/api/v1/areas", params={"level": "community", "fields": "code,geometry"}).json()
    for f in with_geometry["features"]:
        assert f["properties"] == {"code": expected[f["id"]]["properties"]["code"]}
        assert f["geometry"] == expected[f["id"]]["geometry"]


def test_without_geometry_the_answer_is_small(anon):
    full = anon.get("/api/v1/areas").content
    slim = anon.get("/api/v1/areas", params={"fields": "code,level,parent_code"}).content
    assert len(slim) * 5 < len(full)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"fields": "code,households"}, "fields"),
        ({"parent": "999999"}, "parent"),
        ({"level": "province"}, "level"),
    ],
)
def test_bad_filters_name_the_parameter(anon, params, field):
    assert_problem(anon.get("/api/v1/areas", params=params), 422, field)


def test_the_tree_moved_to_its_own_path(anon, everything):
    tree = anon.get("/api/v1/areas/tree").json()
    assert [a["level"] for a in tree] == ["district"] and tree[0]["code"] == "350625"
    assert "geometry" not in tree[0]

    def walk(nodes):
        for n in nodes:
            yield n
            yield from walk(n["children"])

    assert sorted(n["code"] for n in walk(tree)) == sorted(f["properties"]["code"] for f in everything["features"])
    capped = anon.get("/api/v1/areas/tree", params={"max_level": "community", "include_geometry": True}).json()
    nodes = list(walk(capped))
    assert {n["level"] for n in nodes} == {"district", "township", "community"}
    assert all(n["geometry"]["type"] == "MultiPolygon" for n in nodes)


def test_one_area_carries_its_parent_code_and_version(anon, everything):
    f = next(f for f in everything["features"] if f["properties"]["level"] == "compound")
    one = anon.get(f"/api/v1/areas/{f['id']}").json()
    assert one["properties"] == f["properties"]
    assert one["geometry"] == f["geometry"]
