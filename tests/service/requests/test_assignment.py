"""Intake assigns grid, building, grid worker and the nearest available volunteer by walking.

Every expectation is computed here independently: point-in-polygon with shapely over the grids
and buildings the API publishes, and walking distances with networkx over the fixture network.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shapely.geometry import Point

from geo.coords import from_wgs84
from tests.service.requests.api import Api, body
from tests.service.requests.geodata import PROJ, metres_between, metric
from tests.support.town import Town

TOLERANCE_M = 0.5  # walking distances closer than this count as a tie
RESPONSE_FIELDS = (
    "id",
    "status",
    "grid_id",
    "building_id",
    "volunteer_id",
    "grid_worker_id",
    "warning_level",
    "due_response_at",
    "due_onsite_at",
)


def sample_grids(town: Town, n: int = 6) -> list[int]:
    ids = sorted(town.grids)
    return ids[:: max(1, len(ids) // n)][:n]


def check_volunteer(api: Api, town: Town, req: dict, point: tuple[float, float], skill: str) -> dict[int, float]:
    """The request went to a qualifying volunteer at least as near on foot as every other one.

    Loads are read after the intake, so the chosen volunteer's new case is taken off again."""
    loads = api.open_loads()
    loads[req["volunteer_id"]] -= 1
    candidates = town.qualifying(skill, loads, api.backend.settings.volunteer_max_open_cases)
    walk = town.walking(point, candidates)
    assert req["volunteer_id"] in walk, "the chosen volunteer is not on duty, lacks the skill or is full"
    assert walk[req["volunteer_id"]] <= min(walk.values()) + TOLERANCE_M
    assert abs(req["volunteer_walk_m"] - walk[req["volunteer_id"]]) < 1.0
    assert req["assignment_method"] == "network"
    return walk


def test_a_point_goes_to_the_grid_and_building_holding_it_with_the_lead_worker_and_deadlines(api, town):
    """Grid by point-in-polygon, building by footprint, the grid's on-duty lead, 5/30-minute deadlines."""
    for gid in sample_grids(town):
        bid = next(b for b, p in sorted(town.building_props.items()) if p["grid_id"] == gid)
        p = town.buildings[bid].representative_point()
        req = api.create(body("littering", (p.x, p.y)))
        assert set(RESPONSE_FIELDS) <= set(req)
        assert req["status"] == "reported"
        assert town.grids_holding(p.x, p.y) == {gid} and req["grid_id"] == gid
        assert req["outside_coverage"] is False
        assert town.building_holding(p.x, p.y) == {bid} and req["building_id"] == bid
        assert req["community_id"] == town.grid_props[gid]["community_id"]
        worker = town.on_duty_worker(gid)
        assert worker["role"] == "lead" and req["grid_worker_id"] == worker["id"]
        reported = datetime.fromisoformat(req["reported_at"])
        assert datetime.fromisoformat(req["due_response_at"]) - reported == timedelta(minutes=5)
        assert datetime.fromisoformat(req["due_onsite_at"]) - reported == timedelta(minutes=30)
        assert abs(reported - api.backend.clock()) < timedelta(seconds=30)
        trail = api.get(req["id"])["trail"]
        assert [(e["action"], e["from"], e["to"]) for e in trail] == [("report", None, "reported")]


def test_a_point_off_every_footprint_has_no_building(api, town):
    """Only a footprint that contains the point names the building."""
    gid = sample_grids(town)[1]
    lon, lat = town.inner_point(gid, away_from_buildings=True)
    assert not town.building_holding(lon, lat)
    req = api.create(body("littering", (lon, lat)))
    assert req["grid_id"] == gid and req["building_id"] is None


def test_building_id_instead_of_a_location(api, town):
    """A request for a building lands in that building's grid, at a point by the building."""
    for bid in sorted(town.building_props)[::70]:
        req = api.create(body("pipe_leak", None, building_id=bid))
        assert req["building_id"] == bid
        assert req["grid_id"] == town.building_props[bid]["grid_id"]
        assert req["grid_id"] in town.grids_holding(req["lon"], req["lat"])
        footprint = PROJ.to_metric(town.buildings[bid])
        assert footprint.distance(metric(req["lon"], req["lat"])) < 30
        assert req["raw"]["lon"] is None and req["raw"]["lat"] is None


def east_of_coverage(town: Town, metres: float) -> tuple[float, float]:
    """A point ``metres`` due east of the easternmost point of all grids (so exactly that far out)."""
    cover = PROJ.to_metric(town.coverage())
    coords = [c for g in getattr(cover, "geoms", [cover]) for c in g.exterior.coords]
    x, y = max(coords)
    lon, lat = PROJ.inverse(x + metres, y)
    return float(lon), float(lat)


def test_outside_coverage_goes_to_the_nearest_grid_within_200_m_else_to_the_unassigned_queue(api, town):
    """Within 200 m: the nearest grid, flagged; beyond: no grid, listed with ``unassigned=true``."""
    assigned = []
    for metres in (100.0, 190.0):
        lon, lat = east_of_coverage(town, metres)
        distances = town.grid_distances_m(lon, lat)
        nearest = min(distances.values())
        assert abs(nearest - metres) < 0.5
        req = api.create(body("littering", (lon, lat)))
        assert req["outside_coverage"] is True
        assert distances[req["grid_id"]] <= nearest + 0.01
        assert abs(req["grid_distance_m"] - nearest) < 0.5
        assigned.append(req["id"])
    unassigned = []
    for metres in (210.0, 600.0):
        req = api.create(body("littering", east_of_coverage(town, metres)))
        assert req["grid_id"] is None and req["grid_worker_id"] is None
        unassigned.append(req["id"])
    queue = {i["id"] for i in api.listing(unassigned="true")["items"]}
    assert set(unassigned) <= queue
    assert not set(assigned) & queue
    assert all(i["grid_id"] is None for i in api.listing(unassigned="true")["items"])


def test_gcj02_and_bd09_input_lands_in_the_same_grid_and_the_raw_input_is_kept(api, town):
    """Shifted coordinates are converted to WGS84 before locating; the raw input is stored as sent."""
    for gid in sample_grids(town, 4):
        wgs = town.inner_point(gid)
        plain = api.create(body("littering", wgs))
        assert plain["grid_id"] == gid
        assert plain["raw"] == {"lon": wgs[0], "lat": wgs[1], "coord_type": "wgs84"}
        for coord_type in ("gcj02", "bd09"):
            lon, lat = from_wgs84(*wgs, coord_type)
            assert metres_between((lon, lat), wgs) > 300  # the shift matters: read as WGS84 it lands elsewhere
            req = api.create(body("littering", (lon, lat), coord_type=coord_type))
            assert req["grid_id"] == plain["grid_id"] == gid
            assert metres_between((req["lon"], req["lat"]), wgs) < 0.05
            assert req["raw"] == {"lon": lon, "lat": lat, "coord_type": coord_type}


def test_the_nearest_available_volunteer_by_walking_gets_the_case(api, town):
    """Across the town, the chosen volunteer is the walking-nearest qualifying one (independent Dijkstra)."""
    for category in ("elderly_help", "noise", "littering"):
        skill = town.categories[category]["skill"]
        for gid in sample_grids(town, 4):
            point = town.inner_point(gid, seed=7)
            req = api.create(body(category, point))
            assert req["volunteer_id"] is not None
            volunteer = town.volunteer(req["volunteer_id"])
            assert volunteer["on_duty"] and skill in volunteer["skills"]
            check_volunteer(api, town, req, point, skill)


def test_walking_distance_not_straight_line_decides(api, town):
    """At a point where the straight-line nearest volunteer is not the walking-nearest, walking wins."""
    category = "elderly_help"
    skill = town.categories[category]["skill"]
    candidates = town.qualifying(skill, api.open_loads(), api.backend.settings.volunteer_max_open_cases)
    found = None
    for bid in sorted(town.buildings):
        p = town.buildings[bid].representative_point()
        point = (p.x, p.y)
        walk, line = town.walking(point, candidates), town.straight(point, candidates)
        by_walk, by_line = min(walk, key=walk.get), min(line, key=line.get)
        runner_up = sorted(walk.values())[1]
        clear = runner_up - walk[by_walk] > 5  # no near-tie on foot
        if by_walk != by_line and clear and walk[by_line] - walk[by_walk] > 30 and line[by_walk] - line[by_line] > 10:
            found = point, by_walk, by_line
            break
    assert found, "no point where straight-line and walking nearest differ"
    point, by_walk, by_line = found
    req = api.create(body(category, point))
    assert req["volunteer_id"] == by_walk != by_line
    check_volunteer(api, town, req, point, skill)


def nearest_by_walking(town: Town, point: tuple[float, float], volunteers: list[dict]) -> tuple[int, float]:
    """(id, margin): the walking-nearest of ``volunteers`` and how much nearer it is than the next."""
    walk = sorted((d, vid) for vid, d in town.walking(point, volunteers).items())
    return walk[0][1], walk[1][0] - walk[0][0]


def test_off_duty_volunteers_and_volunteers_without_the_skill_do_not_qualify(api, town):
    """A request right where an off-duty (or unskilled) volunteer stands still goes to a qualifying one."""
    category = "elderly_help"
    skill = town.categories[category]["skill"]
    skilled = [v for v in town.volunteers if skill in v["skills"]]
    everyone_on_duty = [v for v in town.volunteers if v["on_duty"]]
    cases = []
    for v in town.volunteers:  # off duty but skilled, and walking-nearest of the skilled
        if not v["on_duty"] and v in skilled:
            nearest, margin = nearest_by_walking(town, v["lonlat"], skilled)
            if nearest == v["id"] and margin > 5:
                cases.append(v)
                break
    for v in town.volunteers:  # on duty but unskilled, and walking-nearest of those on duty
        if v["on_duty"] and skill not in v["skills"]:
            nearest, margin = nearest_by_walking(town, v["lonlat"], everyone_on_duty)
            if nearest == v["id"] and margin > 5:
                cases.append(v)
                break
    assert len(cases) == 2, "the demo should have both kinds of volunteer"
    for excluded in cases:
        req = api.create(body(category, excluded["lonlat"]))
        assert req["volunteer_id"] != excluded["id"]
        chosen = town.volunteer(req["volunteer_id"])
        assert chosen["on_duty"] and skill in chosen["skills"]
        check_volunteer(api, town, req, excluded["lonlat"], skill)


def test_a_volunteer_at_the_open_case_limit_is_passed_over(api, town):
    """Once the nearest volunteer holds the maximum of open cases, the next case goes to the next one."""
    category = "noise"
    skill = town.categories[category]["skill"]
    limit = api.backend.settings.volunteer_max_open_cases
    loads = api.open_loads()
    pool = town.qualifying(skill, loads, limit)
    point, target = None, None
    for v in pool:
        nearest, margin = nearest_by_walking(town, v["lonlat"], pool)
        if nearest == v["id"] and margin > 5:
            point, target = v["lonlat"], v["id"]
            break
    assert target is not None
    mine = []
    for _ in range(limit - loads.get(target, 0)):
        req = api.create(body(category, point))
        assert req["volunteer_id"] == target
        mine.append(req["id"])
    assert api.open_loads()[target] == limit
    overflow = api.create(body(category, point))
    assert overflow["volunteer_id"] not in (None, target)
    check_volunteer(api, town, overflow, point, skill)
    # Closing one of the target's cases (here: rejecting it) frees a slot for the next case.
    api.act(mine[0], "reject", reason="not a real case")
    again = api.create(body(category, point))
    assert again["volunteer_id"] == target


def test_on_a_shared_boundary_a_request_goes_to_one_of_the_neighbours(api, town):
    """A point on the edge between two grids goes to one of them, the same one every time."""
    ids = sorted(town.grids)
    for a in ids:
        for b in ids:
            if a < b and town.grids[a].boundary.intersection(town.grids[b].boundary).length > 0:
                shared = town.grids[a].boundary.intersection(town.grids[b].boundary)
                p = shared.interpolate(0.5, normalized=True)
                first = api.create(body("littering", (p.x, p.y)))
                second = api.create(body("littering", (p.x, p.y)))
                assert first["grid_id"] in {a, b}
                assert second["grid_id"] == first["grid_id"]
                assert Point(p.x, p.y).distance(town.grids[first["grid_id"]]) < 1e-9
                return
