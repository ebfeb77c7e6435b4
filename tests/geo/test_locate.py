"""The point-location rules of geo.locate, on polygons whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Point, box

from geo.crs import LocalProjection
from geo.locate import PolygonIndex

# Four 0.001° squares (about 100 m) meeting at (117.756, 24.623), plus one far away.
X0, Y0, D = 117.755, 24.622, 0.001
SQUARES = {
    "sw": box(X0, Y0, X0 + D, Y0 + D),
    "se": box(X0 + D, Y0, X0 + 2 * D, Y0 + D),
    "nw": box(X0, Y0 + D, X0 + D, Y0 + 2 * D),
    "ne": box(X0 + D, Y0 + D, X0 + 2 * D, Y0 + 2 * D),
}


@pytest.fixture(scope="module")
def index() -> PolygonIndex:
    return PolygonIndex(list(SQUARES), list(SQUARES.values()))


def test_inside_point_belongs_to_its_polygon(index):
    found = index.locate(X0 + 0.3 * D, Y0 + 0.6 * D)
    assert (found.key, found.outside_coverage, found.distance_m) == ("sw", False, 0.0)


def test_shared_edge_point_goes_to_exactly_one_neighbour_deterministically(index):
    on_edge = (X0 + D, Y0 + 0.5 * D)  # between sw and se
    answers = {index.locate(*on_edge).key for _ in range(5)}
    assert len(answers) == 1
    assert answers <= {"sw", "se"}
    # The rule nudges north-east, so the eastern neighbour wins on a vertical edge.
    assert answers == {"se"}


def test_shared_vertex_of_four_goes_to_one(index):
    found = index.locate(X0 + D, Y0 + D)
    assert found.key == "ne" and not found.outside_coverage


def test_answer_does_not_depend_on_input_order():
    keys = list(SQUARES)[::-1]
    reversed_index = PolygonIndex(keys, [SQUARES[k] for k in keys])
    assert reversed_index.locate(X0 + D, Y0 + 0.5 * D).key == "se"


def test_outside_within_limit_gets_nearest_flagged(index):
    proj = LocalProjection.for_lonlat(X0, Y0)
    x, y = proj.forward(X0 + 2 * D, Y0 + 0.5 * D)
    lon, lat = proj.inverse(x + 100.0, y)  # 100 m east of "se"
    found = index.locate(float(lon), float(lat), max_distance_m=200)
    assert found.key == "se" and found.outside_coverage
    assert found.distance_m == pytest.approx(100.0, abs=0.5)


def test_outside_beyond_limit_gets_none(index):
    proj = LocalProjection.for_lonlat(X0, Y0)
    x, y = proj.forward(X0 + 2 * D, Y0 + 0.5 * D)
    lon, lat = proj.inverse(x + 250.0, y)
    found = index.locate(float(lon), float(lat), max_distance_m=200)
    assert found.key is None and found.outside_coverage and found.distance_m is None


def test_bulk_agrees_with_single_lookups(index):
    rng = np.random.default_rng(5)
    lons = rng.uniform(X0 - D, X0 + 3 * D, 3000)
    lats = rng.uniform(Y0 - D, Y0 + 3 * D, 3000)
    # add boundary points: edges and vertices
    lons = np.concatenate([lons, [X0 + D, X0 + D, X0, X0 + 2 * D, X0 + 0.5 * D]])
    lats = np.concatenate([lats, [Y0 + 0.5 * D, Y0 + D, Y0, Y0 + 2 * D, Y0 + D]])
    bulk = index.locate_many(lons, lats, max_distance_m=50)
    for i, (lon, lat) in enumerate(zip(lons, lats, strict=True)):
        single = index.locate(float(lon), float(lat), max_distance_m=50)
        expected = -1 if single.key is None else index.keys.index(single.key)
        assert bulk[i] == expected, (lon, lat)


def test_bulk_with_flags_and_distances_agrees_with_single_lookups(index):
    """``locate_many_located`` answers each point's whole ``Located``: key, outside flag, distance."""
    rng = np.random.default_rng(6)
    lons = np.concatenate([rng.uniform(X0 - D, X0 + 3 * D, 2000), [X0 + D, X0 + D, X0 + 2 * D]])
    lats = np.concatenate([rng.uniform(Y0 - D, Y0 + 3 * D, 2000), [Y0 + 0.5 * D, Y0 + D, Y0 + 2 * D]])
    found, outside, distance = index.locate_many_located(lons, lats, max_distance_m=50)
    assert np.isnan(distance).any() and (distance > 0).any() and (distance == 0).any()
    for i, (lon, lat) in enumerate(zip(lons, lats, strict=True)):
        single = index.locate(float(lon), float(lat), max_distance_m=50)
        assert (-1 if single.key is None else index.keys.index(single.key)) == found[i], (lon, lat)
        assert single.outside_coverage == outside[i]
        assert (single.distance_m is None and np.isnan(distance[i])) or single.distance_m == distance[i], (lon, lat)


def test_inside_answers_agree_with_point_in_polygon(index):
    rng = np.random.default_rng(9)
    for lon, lat in zip(rng.uniform(X0, X0 + 2 * D, 500), rng.uniform(Y0, Y0 + 2 * D, 500), strict=True):
        holders = [k for k, poly in SQUARES.items() if poly.covers(Point(lon, lat))]
        found = index.locate(lon, lat)
        assert found.key in holders


def test_empty_index_locates_nothing():
    assert PolygonIndex([], []).locate(X0, Y0).key is None
