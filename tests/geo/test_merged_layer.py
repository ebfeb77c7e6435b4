"""A merged layer from department layers (geo.topology.merged_layer) on a 200 m square community."""

from __future__ import annotations

import shapely
from shapely.geometry import Point, Polygon

from geo.crs import LocalProjection
from geo.topology import OVERLAY_GRID_DEG, clip_to_region, merged_layer, overlay

PROJ = LocalProjection.for_lonlat(117.755, 24.622)
X0, Y0 = (float(v) for v in PROJ.forward(117.755, 24.622))


def ll(x: float, y: float) -> tuple[float, float]:
    lon, lat = PROJ.inverse(X0 + x, Y0 + y)
    return float(lon), float(lat)


def square(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    """A rectangle given in metres from the origin, in lon/lat."""
    return Polygon([ll(x0, y0), ll(x1, y0), ll(x1, y1), ll(x0, y1)])


REGION = shapely.set_precision(square(0, 0, 200, 200), OVERLAY_GRID_DEG)
#: One department cuts the community west | east, the other south | north.
WEST_EAST = [square(0, 0, 100, 200), square(100, 0, 200, 200)]
SOUTH_NORTH = [square(0, 0, 200, 100), square(0, 100, 200, 200)]


def at(x: float, y: float) -> Point:
    return Point(*ll(x, y))


def quadrant_homes(nw: int, ne: int, sw: int, se: int) -> list[tuple[int, Point]]:
    return [(nw, at(50, 150)), (ne, at(150, 150)), (sw, at(50, 50)), (se, at(150, 50))]


def m2(geom) -> float:
    return PROJ.to_metric(geom).area


def test_clip_keeps_what_lies_inside_and_drops_specks():
    outside = square(300, 0, 400, 100)
    touching = square(200, 0, 300, 100)  # shares only an edge: nothing inside
    clipped = clip_to_region([*WEST_EAST, outside, touching], REGION, PROJ)
    assert len(clipped) == 2
    assert abs(sum(m2(g) for g in clipped) - m2(REGION)) < 1


def test_overlay_cuts_the_region_by_every_layer():
    layers = [clip_to_region(WEST_EAST, REGION, PROJ), clip_to_region(SOUTH_NORTH, REGION, PROJ)]
    pieces = overlay(REGION, layers)
    assert len(pieces) == 4
    assert all(abs(m2(p) - 10_000) < 5 for p in pieces)


def test_a_part_no_grid_of_a_layer_covers_stays_a_piece():
    pieces = overlay(REGION, [clip_to_region([square(0, 0, 100, 200)], REGION, PROJ)])
    assert sorted(round(m2(p) / 1000) for p in pieces) == [20, 20]


def test_pieces_come_north_to_south_then_west_to_east_with_their_households():
    layers = [clip_to_region(WEST_EAST, REGION, PROJ), clip_to_region(SOUTH_NORTH, REGION, PROJ)]
    pieces = merged_layer(
        REGION, layers, quadrant_homes(301, 302, 303, 304), projection=PROJ, sliver_m2=100, households_min=300
    )
    assert [h for _, h in pieces] == [301, 302, 303, 304]


def test_slivers_join_the_neighbour_they_share_most_boundary_with():
    # the second department draws its west | east line 2 m further east: a 2 m × 200 m strip
    shifted = [square(0, 0, 102, 200), square(102, 0, 200, 200)]
    layers = [clip_to_region(WEST_EAST, REGION, PROJ), clip_to_region(shifted, REGION, PROJ)]
    strips = [p for p in overlay(REGION, layers) if m2(p) > 1]  # (and a speck of rounding on the 1e-7° grid)
    assert sorted(round(m2(p)) for p in strips) == [400, 19599, 20001]
    pieces = merged_layer(REGION, layers, quadrant_homes(0, 0, 0, 0), projection=PROJ, sliver_m2=1000, households_min=0)
    assert len(pieces) == 2
    assert abs(sum(m2(p) for p, _ in pieces) - m2(REGION)) < 1


def test_pieces_short_of_households_join_their_smallest_neighbour():
    layers = [clip_to_region(WEST_EAST, REGION, PROJ), clip_to_region(SOUTH_NORTH, REGION, PROJ)]
    # south-west has 100: its neighbours are north-west (350) and south-east (400); north-west takes it
    pieces = merged_layer(
        REGION, layers, quadrant_homes(350, 420, 100, 400), projection=PROJ, sliver_m2=100, households_min=300
    )
    assert sorted(h for _, h in pieces) == [400, 420, 450]
    west = next(p for p, h in pieces if h == 450)
    assert abs(m2(west) - 20_000) < 10


def test_a_piece_with_no_neighbour_to_join_stays():
    layers = [clip_to_region(WEST_EAST, REGION, PROJ)]
    pieces = merged_layer(REGION, layers, [], projection=PROJ, sliver_m2=100, households_min=300)
    assert len(pieces) == 1 and pieces[0][1] == 0
