"""Layer validation and edit impact on a hand-made community of four 100 m grids."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from geo.crs import LocalProjection
from geo.topology import (
    assignments,
    check_shape,
    impact,
    merge_neighbours,
    shared_boundary_m,
    split_by_line,
    validate_layer,
)

PROJ = LocalProjection.for_lonlat(117.755, 24.622)
X0, Y0 = (float(v) for v in PROJ.forward(117.755, 24.622))


def ll(x: float, y: float) -> tuple[float, float]:
    lon, lat = PROJ.inverse(X0 + x, Y0 + y)
    return float(lon), float(lat)


def square(x0, y0, x1, y1) -> Polygon:
    return Polygon([ll(x0, y0), ll(x1, y0), ll(x1, y1), ll(x0, y1)])


def poly(*xy) -> Polygon:
    return Polygon([ll(x, y) for x, y in xy])


COMMUNITY = square(0, 0, 200, 200)
GRIDS = {
    "a": square(0, 0, 100, 100),
    "b": square(100, 0, 200, 100),
    "c": square(0, 100, 100, 200),
    "d": square(100, 100, 200, 200),
}


def rules(report) -> list[tuple[str, object]]:
    return sorted((i.rule, i.grid) for i in report.issues)


def test_the_unchanged_layer_is_valid():
    assert validate_layer({}, GRIDS, COMMUNITY).ok
    assert validate_layer({"a": GRIDS["a"]}, GRIDS, COMMUNITY).ok


def test_moving_a_shared_vertex_for_both_neighbours_is_valid():
    # the a|b boundary moves 20 m east at its middle, in both grids
    a = poly((0, 0), (100, 0), (120, 50), (100, 100), (0, 100))
    b = poly((100, 0), (200, 0), (200, 100), (100, 100), (120, 50))
    assert validate_layer({"a": a, "b": b}, GRIDS, COMMUNITY).ok


def test_moving_a_vertex_for_one_grid_only_overlaps_its_neighbour():
    a = poly((0, 0), (100, 0), (120, 50), (100, 100), (0, 100))
    report = validate_layer({"a": a}, GRIDS, COMMUNITY)
    assert rules(report) == [("overlap", "a")]
    assert report.issues[0].other == "b"
    assert report.issues[0].area_m2 == pytest.approx(1000, rel=0.01)  # triangle 100 m × 20 m / 2


def test_pulling_a_boundary_back_leaves_a_gap_located():
    a = poly((0, 0), (100, 0), (80, 50), (100, 100), (0, 100))
    report = validate_layer({"a": a}, GRIDS, COMMUNITY)
    assert rules(report) == [("gap", None)]
    gap = report.issues[0]
    assert gap.area_m2 == pytest.approx(1000, rel=0.01)
    assert gap.geometry.contains(Point(*ll(95, 50)))


def test_tolerance_ignores_slivers_below_a_square_metre():
    a = poly((0, 0), (100, 0), (100.01, 50), (100, 100), (0, 100))  # 0.5 m² overlap
    assert validate_layer({"a": a}, GRIDS, COMMUNITY).ok
    assert not validate_layer({"a": a}, GRIDS, COMMUNITY, tolerance_m2=0.1).ok


def test_a_grid_reaching_outside_its_community():
    d = square(100, 100, 230, 200)
    assert ("outside_community", "d") in rules(validate_layer({"d": d}, GRIDS, COMMUNITY))


def test_self_intersection_is_located_and_a_fix_offered():
    bowtie = poly((0, 0), (100, 100), (100, 0), (0, 100))
    issues = check_shape("a", bowtie, max_vertices=100, region=COMMUNITY)
    assert [i.rule for i in issues] == ["invalid"]
    assert "Self-intersection" in issues[0].message
    assert Point(issues[0].location).distance(Point(*ll(50, 50))) < 1e-6
    assert issues[0].suggestion.is_valid and issues[0].suggestion.area > 0


def test_swapped_coordinates_empty_and_non_polygons_are_named():
    swapped = shapely.transform(GRIDS["a"], lambda c: c[:, ::-1])
    assert [i.rule for i in check_shape("a", swapped, max_vertices=100, region=COMMUNITY)] == ["swapped_coordinates"]
    assert [i.rule for i in check_shape("a", Polygon(), max_vertices=100, region=COMMUNITY)] == ["empty"]
    assert [i.rule for i in check_shape("a", LineString([ll(0, 0), ll(1, 1)]), max_vertices=100, region=COMMUNITY)] == [
        "not_polygon"
    ]
    ring = MultiPoint([ll(50 + 40 * i / 500, 50) for i in range(500)]).buffer(1e-5)
    assert [i.rule for i in check_shape("a", ring, max_vertices=100, region=COMMUNITY)] == ["too_many_vertices"]
    far = shapely.affinity.translate(GRIDS["a"], 3, 0)
    assert [i.rule for i in check_shape("a", far, max_vertices=100, region=COMMUNITY)] == ["wrong_place"]


def test_impact_lists_moved_buildings_and_households_against_the_band():
    buildings = [("b1", *ll(95, 50), 120), ("b2", *ll(50, 50), 200), ("b3", *ll(150, 50), 310)]
    requests = [("r1", *ll(96, 40))]
    a = poly((0, 0), (100, 0), (90, 50), (100, 100), (0, 100))
    b = poly((100, 0), (200, 0), (200, 100), (100, 100), (90, 50))
    after = GRIDS | {"a": a, "b": b}
    result = impact(GRIDS, after, buildings, requests, band=(300, 500))
    assert result["buildings_moved"] == [{"item": "b1", "before": "a", "after": "b", "weight": 120}]
    assert result["households_moved"] == 120
    assert result["requests_reassigned"] == [{"item": "r1", "before": "a", "after": "b"}]
    hh = {g["grid"]: g for g in result["households"]}
    assert (hh["a"]["households_before"], hh["a"]["households_after"]) == (320, 200)
    assert hh["a"]["warning"] and hh["b"]["warning"] is None  # b: 430


def test_assignments_use_the_locate_rules():
    on_edge = ("p", *ll(100, 50))
    assert assignments(GRIDS, [on_edge])["p"] == "b"  # the north-east nudge picks the eastern grid


def test_split_and_shared_boundary():
    parts = split_by_line(GRIDS["a"], LineString([ll(-5, 30), ll(105, 30)]))
    assert len(parts) == 2
    assert PROJ.to_metric(parts[0]).area == pytest.approx(7000, rel=1e-3)
    with pytest.raises(ValueError, match="edge to edge"):
        split_by_line(GRIDS["a"], LineString([ll(10, 30), ll(50, 30)]))
    assert shared_boundary_m(GRIDS["a"], GRIDS["b"], PROJ) == pytest.approx(100, rel=1e-3)
    assert shared_boundary_m(GRIDS["a"], GRIDS["d"], PROJ) == 0


def turns_back(geom) -> bool:
    """A ring that runs out and back along itself: a zero-width spike."""
    for ring in [r for p in shapely.get_parts(geom) for r in (p.exterior, *p.interiors)]:
        xy = np.asarray(ring.coords)[:-1]
        before, after = np.roll(xy, 1, axis=0) - xy, np.roll(xy, -1, axis=0) - xy
        cos = (before * after).sum(axis=1) / np.hypot(*before.T) / np.hypot(*after.T)
        if (cos > 0.9999).any():
            return True
    return False


def test_merging_the_halves_of_a_split_gives_the_grid_back_vertex_for_vertex():
    # the grids' coordinates are not on the 1e-7° grid (nor is a stored cut): a merge that rounds
    # onto it moves the outline the merged grid shares with b, c and the community
    halves = split_by_line(GRIDS["a"], LineString([ll(-5, 30), ll(105, 30)]))
    back = merge_neighbours(*halves)
    assert set(GRIDS["a"].exterior.coords) <= set(back.exterior.coords)
    assert PROJ.to_metric(back).area == pytest.approx(10_000, rel=1e-6)
    assert validate_layer({"a": back}, GRIDS, COMMUNITY).ok


@pytest.mark.parametrize("y0, y1", [(3.3, 5.5), (3.3, 47.7), (41.2, 96.1), (88.8, 5.5), (88.8, 96.1)])
def test_a_piece_merges_with_the_neighbour_its_cut_ends_on_without_a_spike(y0, y1):
    # the cut point lies on the a|b edge only up to rounding, and b keeps that edge whole
    for piece in split_by_line(GRIDS["a"], LineString([ll(-5, y0), ll(205, y1)])):
        merged = merge_neighbours(piece, GRIDS["b"])
        assert isinstance(merged, Polygon) and not merged.interiors and not turns_back(merged)
        assert PROJ.to_metric(merged).area == pytest.approx(PROJ.to_metric(piece).area + 10_000, rel=1e-6)
