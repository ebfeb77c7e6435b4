"""GET /api/v1/grids/locate agrees with point-in-polygon, handles boundaries, GCJ-02/BD-09 and misses."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, shape

from geo.coords import from_wgs84
from geo.locate import PolygonIndex
from tests.service.helpers import PROJ, assert_problem, shapes


@pytest.fixture(scope="module")
def grid_shapes(backend):
    with backend.client() as c:
        return shapes(c.get("/api/v1/grids").json())


def locate(client, lon, lat, **params):
    r = client.get("/api/v1/grids/locate", params={"lon": lon, "lat": lat, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_random_points_agree_with_point_in_polygon(anon, grid_shapes):
    coverage = shapely.union_all(list(grid_shapes.values()))
    minx, miny, maxx, maxy = coverage.bounds
    rng = np.random.default_rng(42)
    checked = 0
    while checked < 60:
        lon, lat = float(rng.uniform(minx, maxx)), float(rng.uniform(miny, maxy))
        if not coverage.contains(Point(lon, lat)):
            continue
        holders = {gid for gid, g in grid_shapes.items() if g.covers(Point(lon, lat))}
        out = locate(anon, lon, lat)
        assert out["grid"]["id"] in holders
        assert out["outside_coverage"] is False and out["distance_m"] == 0
        assert out["community"]["id"] == out["grid"]["properties"]["community_id"]
        checked += 1


def shared_boundary_points(grid_shapes, per_pair=2):
    """Points on the boundary shared by two neighbouring grids, including a vertex."""
    ids = sorted(grid_shapes)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            shared = grid_shapes[a].boundary.intersection(grid_shapes[b].boundary)
            if shared.length == 0:
                continue
            for t in np.linspace(0.2, 0.8, per_pair):
                p = shared.interpolate(t, normalized=True)
                yield p.x, p.y, {a, b}
            first = shapely.get_coordinates(shared)[0]
            yield (
                float(first[0]),
                float(first[1]),
                {gid for gid, g in grid_shapes.items() if g.distance(Point(first)) < 1e-9},
            )


def test_boundary_points_go_to_one_neighbour_by_the_shared_rule(anon, grid_shapes):
    index = PolygonIndex(sorted(grid_shapes), [grid_shapes[k] for k in sorted(grid_shapes)])
    points = list(shared_boundary_points(grid_shapes))
    assert len(points) > 40
    for lon, lat, neighbours in points[:80]:
        first = locate(anon, lon, lat)
        again = locate(anon, lon, lat)
        assert first["grid"]["id"] == again["grid"]["id"]
        assert first["grid"]["id"] in neighbours
        assert first["grid"]["id"] == index.locate(lon, lat).key  # same rule as geo.locate


@pytest.mark.parametrize("coord_type", ["gcj02", "bd09"])
def test_shifted_input_is_converted_before_locating(anon, grid_shapes, coord_type):
    for gid, g in list(grid_shapes.items())[:8]:
        p = g.representative_point()
        slon, slat = from_wgs84(p.x, p.y, coord_type)
        out = locate(anon, slon, slat, coord_type=coord_type)
        assert out["grid"]["id"] == gid
        x1, y1 = PROJ.forward(p.x, p.y)
        x2, y2 = PROJ.forward(out["point"]["lon"], out["point"]["lat"])
        assert np.hypot(x1 - x2, y1 - y2) < 0.01
        # Sent unconverted, the ~590 m shift usually lands somewhere else.
        assert locate(anon, slon, slat)["point"]["lon"] == pytest.approx(slon)


def offset_point(grid_shapes, metres):
    coverage = shapely.union_all(list(grid_shapes.values()))
    metric = PROJ.to_metric(coverage)
    _minx, miny, maxx, maxy = metric.bounds
    x, y = maxx + metres, (miny + maxy) / 2
    # distance from this point to the coverage, measured independently
    lon, lat = PROJ.inverse(x, y)
    return float(lon), float(lat), metric.distance(Point(x, y))


def test_point_outside_within_limit_gets_nearest_grid_flagged(anon, grid_shapes):
    lon, lat, dist = offset_point(grid_shapes, 120)
    out = locate(anon, lon, lat)
    assert out["outside_coverage"] is True
    assert out["grid"] is not None
    assert out["distance_m"] == pytest.approx(dist, abs=0.5)
    nearest = min(
        grid_shapes, key=lambda gid: PROJ.to_metric(grid_shapes[gid]).distance(Point(*PROJ.forward(lon, lat)))
    )
    assert out["grid"]["id"] == nearest


def test_point_beyond_limit_gets_no_grid(anon, grid_shapes):
    lon, lat, _ = offset_point(grid_shapes, 400)
    out = locate(anon, lon, lat)
    assert out == out | {"grid": None, "outside_coverage": True, "distance_m": None}


def test_building_and_compound_are_found(anon):
    buildings = anon.get("/api/v1/buildings", params={"limit": 20}).json()["features"]
    for b in buildings:
        p = shape(b["geometry"]).representative_point()
        out = locate(anon, p.x, p.y)
        assert out["building"]["id"] == b["id"]
        assert out["compound"]["id"] == b["properties"]["compound_id"]
        assert out["grid"]["id"] == b["properties"]["grid_id"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lon": 200, "lat": 24.6}, "lon"),
        ({"lon": 117.7, "lat": -95}, "lat"),
        ({"lon": "nan", "lat": 24.6}, "lon"),
        ({"lon": 117.7, "lat": "Infinity"}, "lat"),
        ({"lon": "east", "lat": 24.6}, "lon"),
        ({"lat": 24.6}, "lon"),
        ({"lon": 117.7, "lat": 24.6, "coord_type": "utm"}, "coord_type"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(anon, params, field):
    assert_problem(anon.get("/api/v1/grids/locate", params=params), 422, field)
