"""Areas, buildings, stations and streets: the public layers."""

from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import select

from service.grids.models import GridWorker
from service.stations.models import StationType
from tests.service.helpers import area_m2, assert_problem, shapes


def test_area_tree_is_district_township_communities_compounds(anon):
    tree = anon.get("/api/v1/areas/tree").json()
    assert [a["level"] for a in tree] == ["district"]
    townships = tree[0]["children"]
    assert [t["level"] for t in townships] == ["township"]
    communities = townships[0]["children"]
    assert len(communities) == 3 and {c["level"] for c in communities} == {"community"}
    for c in communities:
        assert c["name_zh"] and c["name_en"]
        assert c["children"] and {x["level"] for x in c["children"]} == {"compound"}


def test_every_area_lies_inside_its_parent(anon):
    def walk(node, parent_geom):
        geom = shape(node["geometry"])
        assert geom.is_valid
        if parent_geom is not None:
            assert area_m2(geom.difference(parent_geom)) < 0.01, node["code"]
        for child in node["children"]:
            walk(child, geom)

    for root in anon.get("/api/v1/areas/tree", params={"include_geometry": True}).json():
        walk(root, None)


def test_stations_cover_every_type_and_filter_by_type(anon):
    fc = anon.get("/api/v1/stations").json()
    assert len(fc["features"]) >= 20
    assert {f["properties"]["type"] for f in fc["features"]} == {t.value for t in StationType}
    only = anon.get("/api/v1/stations", params={"type": "childcare"}).json()["features"]
    assert only and {f["properties"]["type"] for f in only} == {"childcare"}
    assert len(only) == sum(1 for f in fc["features"] if f["properties"]["type"] == "childcare")


def test_unknown_station_type_names_the_field(anon):
    assert_problem(anon.get("/api/v1/stations", params={"type": "casino"}), 422, "type")


@pytest.mark.parametrize("layer", ["stations", "buildings", "streets"])
def test_bbox_returns_exactly_what_intersects_it(anon, layer):
    everything = shapes(anon.get(f"/api/v1/{layer}").json())
    bounds = shapely.union_all(list(everything.values())).bounds
    cx, cy = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    box = (cx - 0.003, cy - 0.002, cx + 0.002, cy + 0.003)
    expected = {i for i, g in everything.items() if g.intersects(shapely.box(*box))}
    got = anon.get(f"/api/v1/{layer}", params={"bbox": ",".join(map(str, box))}).json()
    assert {f["id"] for f in got["features"]} == expected
    assert 0 < len(expected) < len(everything)


@pytest.mark.parametrize("bbox", ["1,2,3", "a,b,c,d", "0,0,200,1", "2,0,1,1", "nan,0,1,1"])
def test_bad_bbox_names_the_field(anon, bbox):
    assert_problem(anon.get("/api/v1/buildings", params={"bbox": bbox}), 422, "bbox")


def test_public_layers_carry_no_personal_data(anon):
    """No phone numbers of people and no names of building chairs or workers in public JSON."""
    for path in ("/api/v1/grids", "/api/v1/buildings", "/api/v1/areas", "/api/v1/areas/tree", "/api/v1/streets"):
        body = anon.get(path).text
        for key in ("chair_phone", "chair_name", 'phone"', 'workers"'):
            assert key not in body, (path, key)
    buildings = anon.get("/api/v1/buildings").json()["features"]
    assert all("chair_phone" not in f["properties"] for f in buildings)


def test_building_chair_is_shown_to_staff(backend):
    with backend.client("dispatcher") as staff:
        features = staff.get("/api/v1/buildings", params={"limit": 5}).json()["features"]
    assert all(f["properties"]["chair_phone"] for f in features)


def test_people_endpoints_need_the_right_role(backend, anon):
    assert_problem(anon.get("/api/v1/volunteers"), 401)
    with backend.client("resident1") as resident:
        assert_problem(resident.get("/api/v1/volunteers"), 403)
        assert_problem(resident.get("/api/v1/grid-workers"), 403)
    with backend.client("dispatcher") as dispatcher:
        volunteers = dispatcher.get("/api/v1/volunteers").json()["features"]
        assert len(volunteers) >= 100
        on_duty = dispatcher.get("/api/v1/volunteers", params={"on_duty": True}).json()["features"]
        assert 0 < len(on_duty) < len(volunteers)
        workers = dispatcher.get("/api/v1/grid-workers").json()
    with backend.db.transaction() as s:  # all of them: the demo's 75 and any another test added
        assert sorted(w["id"] for w in workers) == sorted(s.scalars(select(GridWorker.id)))
    assert len(workers) >= 75


def test_departments_are_paired_with_communities(anon):
    deps = anon.get("/api/v1/departments").json()
    assert len(deps) >= 3
    assert all(d["communities"] for d in deps)
    paired = {c["id"] for d in deps for c in d["communities"]}
    assert len(paired) == 3


def test_party_orgs_are_8_branches_and_17_groups(anon):
    orgs = anon.get("/api/v1/party-orgs").json()
    assert sum(o["kind"] == "branch" for o in orgs) == 8
    groups = [o for o in orgs if o["kind"] == "group"]
    assert len(groups) == 17 and all(g["parent_id"] for g in groups)
    grids = anon.get("/api/v1/grids").json()["features"]
    assert len({f["properties"]["party_org"] for f in grids}) == 25


def test_geojson_numbers_are_rounded_to_7_decimals(anon):
    text = anon.get("/api/v1/stations").text
    coords = [c for f in json.loads(text)["features"] for c in f["geometry"]["coordinates"]]
    assert all(round(c, 7) == c for c in coords)
