"""Issue 4 on the demo: the finder's order, circles, coverage against brute force, siting."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, shape

from service.config import Settings
from tests.service.helpers import PROJ, assert_problem
from tests.service.requests.geodata import offset, street_net

DEMO = Settings().demo_dir
SPEED = 1.2
HOME = (117.7552, 24.6221)


@pytest.fixture(scope="module")
def net():
    return street_net(DEMO)


def test_nearby_is_sorted_by_the_whole_walk_computed_independently(anon, net):
    r = anon.get("/api/v1/stations/nearby", params={"lon": HOME[0], "lat": HOME[1], "minutes": 15, "limit": 100})
    assert r.status_code == 200
    found = r.json()["features"]
    assert len(found) >= 5
    walks = [f["properties"]["walk_m"] for f in found]
    assert walks == sorted(walks)
    expected = net.walks_from(HOME, [tuple(f["geometry"]["coordinates"]) for f in found])
    assert walks == pytest.approx(expected, abs=0.2)
    for f in found:
        assert f["properties"]["walk_minutes"] == pytest.approx(f["properties"]["walk_m"] / SPEED / 60, abs=0.01)
    # Every station within 15 minutes is listed, and none beyond.
    everything = anon.get("/api/v1/stations").json()["features"]
    all_walks = net.walks_from(HOME, [tuple(f["geometry"]["coordinates"]) for f in everything])
    within = {f["id"] for f, w in zip(everything, all_walks, strict=True) if w <= 15 * 60 * SPEED - 0.5}
    assert (
        within
        <= {f["id"] for f in found}
        <= {f["id"] for f, w in zip(everything, all_walks, strict=True) if w <= 15 * 60 * SPEED + 0.5}
    )


def test_nearby_filters_by_type_and_draws_the_route(anon):
    r = anon.get(
        "/api/v1/stations/nearby",
        params={"lon": HOME[0], "lat": HOME[1], "type": "childcare", "minutes": 10, "route": True},
    )
    found = r.json()["features"]
    assert found and {f["properties"]["type"] for f in found} == {"childcare"}
    for f in found:
        route = shape(f["properties"]["route"])
        metres = PROJ.to_metric(route).length
        assert metres == pytest.approx(f["properties"]["walk_m"], rel=0.01)
        assert Point(route.coords[0]).distance(Point(HOME)) < 1e-6
        assert Point(route.coords[-1]).distance(shape(f["geometry"])) < 1e-6


def test_ten_minutes_really_means_ten_minutes_on_the_streets(anon, net):
    """The resident's question: which elderly care station can I walk to in 10 minutes?"""
    for point in (HOME, (117.7505, 24.6245), (117.7600, 24.6190)):
        r = anon.get(
            "/api/v1/stations/nearby",
            params={"lon": point[0], "lat": point[1], "type": "home_elderly_care_station", "minutes": 10},
        )
        for f in r.json()["features"]:
            assert net.walks_from(point, [tuple(f["geometry"]["coordinates"])])[0] <= 10 * 60 * SPEED + 0.5


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lon": 117.7552, "lat": 24.6221, "type": "casino"}, "type"),
        ({"lon": 117.7552, "lat": 24.6221, "minutes": 7}, "minutes"),
        ({"lon": 117.80, "lat": 24.66}, "lon"),  # 5 km from any street
        ({"lon": 117.7552, "lat": 124.6}, "lat"),
    ],
)
def test_bad_finder_input_names_the_field(anon, params, field):
    assert_problem(anon.get("/api/v1/stations/nearby", params=params), 422, field)


def circles(anon, station_id):
    return {
        m: shape(anon.get(f"/api/v1/stations/{station_id}/service-area", params={"minutes": m}).json()["geometry"])
        for m in (5, 10, 15)
    }


def test_every_demo_station_has_nested_circles_that_contain_it(anon):
    for f in anon.get("/api/v1/stations").json()["features"]:
        c = circles(anon, f["id"])
        assert all(g.is_valid and not g.is_empty for g in c.values())
        assert c[5].area < c[10].area < c[15].area
        for small, big in ((5, 10), (10, 15)):
            assert PROJ.to_metric(c[small].difference(c[big])).area < 0.01
        assert c[5].buffer(1e-4).contains(Point(f["geometry"]["coordinates"]))


def test_circles_hold_the_homes_that_are_within_the_walk(anon, net):
    """A building entrance within the walk is inside the circle (up to the corridor's width)."""
    buildings = anon.get("/api/v1/buildings").json()["features"]
    entrances = [shape(b["geometry"]).geoms[0].exterior.coords[0] for b in buildings]  # a wall point
    for f in anon.get("/api/v1/stations", params={"type": "party_mass_centre"}).json()["features"]:
        c = circles(anon, f["id"])
        walks = net.walks_from(tuple(f["geometry"]["coordinates"]), entrances)
        for minutes, area in c.items():
            limit = minutes * 60 * SPEED
            inside = [e for e, w in zip(entrances, walks, strict=True) if w <= limit - 40]
            far = [e for e, w in zip(entrances, walks, strict=True) if w > limit * 1.6]
            assert inside and all(area.buffer(0.0002).contains(Point(e)) for e in inside)
            assert sum(area.contains(Point(e)) for e in far) < 0.1 * max(len(far), 1)


def test_coverage_matches_a_brute_force_count(backend, anon, net):
    with backend.client("planner") as planner:
        # building entrances: the API does not publish them, so read them from the demo file
        import json

        demo = {
            f["properties"]["key"]: f["properties"]["entrance"]
            for f in json.loads((DEMO / "buildings.geojson").read_text())["features"]
        }
        with backend.db.reader() as s:
            from sqlalchemy import select

            from service.buildings.models import Building

            entrance_of = {bid: demo[ref] for bid, ref in s.execute(select(Building.id, Building.ref))}
        for type_, minutes in (("elderly_care_centre", 10), ("childcare", 5), ("party_mass_centre", 15)):
            report = planner.get("/api/v1/coverage", params={"type": type_, "minutes": minutes}).json()
            buildings = anon.get("/api/v1/buildings").json()["features"]
            stations = anon.get("/api/v1/stations", params={"type": type_}).json()["features"]
            entrances = [tuple(entrance_of[b["id"]]) for b in buildings]
            best = np.full(len(buildings), np.inf)
            for st in stations:
                best = np.minimum(best, net.walks_from(tuple(st["geometry"]["coordinates"]), entrances))
            covered = best <= minutes * 60 * SPEED
            households = np.array([b["properties"]["households"] for b in buildings])
            assert report["overall"]["buildings_covered"] == int(covered.sum())
            assert report["overall"]["households_covered"] == int(households[covered].sum())
            for g in report["grids"]:
                idx = [i for i, b in enumerate(buildings) if b["properties"]["grid_id"] == g["grid_id"]]
                assert g["buildings_covered"] == int(covered[idx].sum())
                assert g["households_covered"] == int(households[idx][covered[idx]].sum())
            uncovered_ids = {f["id"] for f in report["uncovered_buildings"]["features"]}
            assert uncovered_ids == {b["id"] for b, c in zip(buildings, covered, strict=True) if not c}
            assert sum(c["households"] for c in report["communities"]) == int(households.sum())


def test_coverage_is_for_planners(backend, anon):
    assert_problem(anon.get("/api/v1/coverage", params={"type": "childcare"}), 401)
    with backend.client("resident1") as resident:
        assert_problem(resident.get("/api/v1/coverage", params={"type": "childcare"}), 403)
    with backend.client("planner") as planner:
        assert_problem(planner.get("/api/v1/coverage", params={"type": "childcare", "minutes": 20}), 422, "minutes")


def test_suggested_sites_really_improve_coverage(private_backend):
    """Building stations where the solver says covers exactly the households it promised."""
    b = private_backend
    with b.client("planner") as planner:
        before = planner.get("/api/v1/coverage", params={"type": "childcare", "minutes": 5}).json()["overall"]
        plan = planner.get("/api/v1/coverage/suggest", params={"type": "childcare", "minutes": 5, "k": 2}).json()
        assert plan["optimal"] and len(plan["sites"]) == 2
        assert plan["households_covered_before"] == before["households_covered"]
        assert plan["greedy_newly_covered"] <= plan["households_covered_after"] - plan["households_covered_before"]
        for i, site in enumerate(plan["sites"]):
            r = planner.post(
                "/api/v1/stations",
                json={"type": "childcare", "name_zh": f"新托育点{i}", "lon": site["lon"], "lat": site["lat"]},
            )
            assert r.status_code == 201, r.text
        after = planner.get("/api/v1/coverage", params={"type": "childcare", "minutes": 5}).json()["overall"]
    assert after["households_covered"] == plan["households_covered_after"]
    assert after["households_covered"] > before["households_covered"]


def test_circles_follow_station_edits(backend, anon):
    with backend.client("planner") as planner:
        made = planner.post(
            "/api/v1/stations",
            json={"type": "parcel_pickup", "name_zh": f"驿站{uuid.uuid4().hex[:4]}", "lon": HOME[0], "lat": HOME[1]},
        ).json()
        first = circles(anon, made["id"])[10]
        moved_to = offset(*HOME, east_m=400)
        r = planner.patch(f"/api/v1/stations/{made['id']}", json={"lon": moved_to[0], "lat": moved_to[1]})
        assert r.status_code == 200
        second = circles(anon, made["id"])[10]
        shift = PROJ.to_metric(second).centroid.distance(PROJ.to_metric(first).centroid)
        assert shift > 150
        assert second.buffer(1e-4).contains(Point(moved_to))
        assert planner.delete(f"/api/v1/stations/{made['id']}").status_code == 204
    assert_problem(anon.get(f"/api/v1/stations/{made['id']}/service-area"), 404)
    with backend.client("resident1") as resident:
        assert_problem(
            resident.post("/api/v1/stations", json={"type": "childcare", "name_zh": "x", "lon": 1, "lat": 1}), 403
        )


def test_circles_are_rebuilt_when_the_network_changes(backend, anon):
    """Bump the network revision as an import would; the scheduler rebuilds every circle."""
    import time

    from service.common.revisions import bump_revision, get_revision
    from service.network.graph import NETWORK_REVISION

    station = anon.get("/api/v1/stations").json()["features"][0]["id"]
    with backend.db.transaction() as s:
        revision = bump_revision(s, NETWORK_REVISION)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = anon.get(f"/api/v1/stations/{station}/service-area", params={"minutes": 5}).json()
        if got["properties"]["network_revision"] == revision:
            break
        time.sleep(0.2)
    assert got["properties"]["network_revision"] == revision
    with backend.db.reader() as s:
        assert get_revision(s, NETWORK_REVISION) == revision
    assert shapely.is_valid(shape(got["geometry"]))
